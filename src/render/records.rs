//! The records of a tree, as frames a person reads: depth first, children
//! before their parent, each record a path of frames and the bytes that
//! path keeps by itself.
//!
//! The tree has one node per object; a frame stands for a set of them:
//! - siblings with the same link and name are one frame (500 goroutines
//!   running the same function, a million map values of one type), so
//!   `minwidth` judges their sum, not each alone;
//! - a map's buckets, groups, tables and directories are bytes of the map's
//!   frame, and its keys and values hang below it by `$key`, `$val` or
//!   `[key]`;
//! - a chain of objects of the frame's type along one link (a linked list,
//!   a tree's spine) is one frame, `main.Node ×100000 (.Next)`, with what
//!   hangs off its nodes below it.
//!
//! Iterative throughout: a chain is a work list, the path a stack.
//!
//! Every object under a printed frame is looked at (it may merge with a
//! sibling), so that part is made cheap: the children of a frame's members
//! are found block by block in parallel, with the heap's tables read a few
//! nodes ahead; then merged one by one in order, each distinct pair of an
//! object's name key and link key resolved once.

use std::collections::hash_map::Entry;
use std::collections::HashMap;
use std::hash::BuildHasherDefault;
use std::ops::Range;
use std::rc::Rc;

use rayon::prelude::*;

use crate::graph::{Link, LinkCursor, Names, NodeKind, Tree};
use crate::infer::FxHasher;

/// Maps keyed by names, hashed fast.
type FxMap<K, V> = HashMap<K, V, BuildHasherDefault<FxHasher>>;

use super::sanitize::frame;

/// How records are cut and named.
#[derive(Clone, Copy, Debug)]
pub struct RecordOptions {
    /// Percent of the total below which a frame (with everything merged
    /// into it) is folded into its parent's record. Root groups are always
    /// shown.
    pub min_width: f64,
    /// Append ` 0x<addr>` to object frames and the goroutine id to
    /// goroutine frames; objects are then never merged with their
    /// siblings.
    pub print_addr: bool,
    /// Deepest frame printed, counted from the top (group = 1); deeper
    /// frames are counted in their ancestor at this depth.
    pub max_depth: u32,
}

/// Default [`RecordOptions::max_depth`]: chains fold, so real heaps stay
/// well above it; it only bounds the output of pathological shapes.
pub const DEFAULT_MAX_DEPTH: u32 = 100;

/// Default [`RecordOptions::min_width`], in percent.
pub const DEFAULT_MIN_WIDTH: f64 = 0.1;

impl Default for RecordOptions {
    fn default() -> Self {
        RecordOptions { min_width: DEFAULT_MIN_WIDTH, print_addr: false, max_depth: DEFAULT_MAX_DEPTH }
    }
}

/// Frame texts (sanitized) by number, so that frames compare and hash as
/// numbers; 0 is no text. Object names and field links are looked up by
/// their [`Names`] keys, so each is made once.
#[derive(Default)]
struct Texts {
    ids: FxMap<Rc<str>, u32>,
    texts: Vec<Rc<str>>,
    objects: FxMap<u64, u32>,
    links: FxMap<u64, u32>,
}

impl Texts {
    fn id(&mut self, s: &str) -> u32 {
        let s = frame(s);
        if let Some(&id) = self.ids.get(&*s) {
            return id;
        }
        if self.texts.is_empty() {
            self.texts.push("".into());
        }
        let id = self.texts.len() as u32;
        let rc: Rc<str> = s.into();
        self.texts.push(rc.clone());
        self.ids.insert(rc, id);
        id
    }

    fn get(&self, id: u32) -> &Rc<str> {
        &self.texts[id as usize]
    }

    /// The name of object `o`, whose [`Names::object_key`] is `key`.
    fn object(&mut self, names: &dyn Names, o: u32, key: u64) -> u32 {
        if let Some(&id) = self.objects.get(&key) {
            return id;
        }
        let id = self.id(&names.object(o));
        self.objects.insert(key, id);
        id
    }

    fn link(&mut self, names: &dyn Names, link: Option<Link>) -> u32 {
        match link {
            None => 0,
            Some(Link::Name(s)) => self.id(&s),
            Some(Link::Key(src, offset, key)) => {
                if let Some(&id) = self.links.get(&key) {
                    return id;
                }
                let id = names.link(src, offset).map_or(0, |s| self.id(&s));
                self.links.insert(key, id);
                id
            }
        }
    }
}

/// A frame: tree nodes that print as one.
#[derive(Default)]
struct Frame {
    /// The link frame above it ([`Texts`] id; 0 if unknown).
    link: u32,
    /// Its name ([`Texts`] id).
    name: u32,
    /// With `print_addr`: the address or tag appended to the name.
    extra: String,
    /// The nodes.
    members: Vec<u32>,
    /// Their subtree bytes.
    total: u64,
    /// Their subtree objects (when counted).
    objects: u64,
    /// No member has children: nothing to look at below it.
    leaf: bool,
}

/// One frame on the path being printed, with its children to visit.
struct Level {
    kids: Vec<Frame>,
    next: usize,
    /// Bytes and objects of the children visited.
    printed: u64,
    printed_objects: u64,
    total: u64,
    objects: u64,
    /// The path's length before this frame's entries.
    mark: usize,
}

/// Calls `f(frames, count)` for every record, frames leaf first, names
/// from `names`. Records with a count of 0 are skipped.
pub fn for_each_record(
    tree: &Tree,
    names: &dyn Names,
    opt: RecordOptions,
    f: &mut dyn FnMut(&[String], u64) -> std::io::Result<()>,
) -> std::io::Result<()> {
    walk(tree, names, opt, None, &mut |frames, bytes, _| f(frames, bytes))
}

/// Like [`for_each_record`], and also gives each record's number of
/// objects (those whose bytes it counts): `f(frames, bytes, objects)`.
pub fn for_each_record_counted(
    tree: &Tree,
    names: &dyn Names,
    opt: RecordOptions,
    f: &mut dyn FnMut(&[String], u64, u64) -> std::io::Result<()>,
) -> std::io::Result<()> {
    let objects = subtree_objects(tree);
    walk(tree, names, opt, Some(&objects), f)
}

/// Each node's number of objects in its subtree (itself included): one
/// reverse pass, children after their parents.
fn subtree_objects(tree: &Tree) -> Vec<u32> {
    let mut n = vec![0u32; tree.len()];
    for i in (0..tree.len() as u32).rev() {
        let own = u32::from(matches!(tree.kind(i), NodeKind::Object(_)));
        n[i as usize] = tree.children(i).fold(own, |t, c| t.saturating_add(n[c as usize]));
    }
    n
}

/// The records, with object counts from `objects` (per node, of its
/// subtree) if given, else 0.
fn walk(
    tree: &Tree,
    names: &dyn Names,
    opt: RecordOptions,
    objects: Option<&[u32]>,
    f: &mut dyn FnMut(&[String], u64, u64) -> std::io::Result<()>,
) -> std::io::Result<()> {
    let objs = |n: u32| objects.map_or(0, |o| u64::from(o[n as usize]));
    let threshold = tree.grand_total() as f64 * opt.min_width / 100.0;
    let shown = Shown(threshold);
    let mut stack: Vec<Level> = Vec::new();
    let mut path: Vec<String> = Vec::new();
    let mut frames: Vec<String> = Vec::new();
    let mut texts = Texts::default();
    let mut scratch = Scratch::default();
    let mut enter = |mut fr: Frame, stack: &mut Vec<Level>, path: &mut Vec<String>, texts: &mut Texts| {
        let mark = path.len();
        // At the deepest level, no child is printed.
        let deep = stack.len() as u32 + 1 >= opt.max_depth.max(1);
        let (label, kids) = expand(tree, names, opt, &objs, &mut fr, texts, &mut scratch, shown, !deep);
        if fr.link != 0 {
            path.push(texts.get(fr.link).to_string());
        }
        path.push(label);
        stack.push(Level { kids, next: 0, printed: 0, printed_objects: 0, total: fr.total, objects: fr.objects, mark });
    };
    for top in tree.tops() {
        let fr = Frame {
            name: texts.id(&tree.name(top, names)),
            members: vec![top],
            total: tree.total(top),
            objects: objs(top),
            ..Frame::default()
        };
        // A root group is shown however small.
        if fr.total == 0 {
            continue;
        }
        enter(fr, &mut stack, &mut path, &mut texts);
        while let Some(level) = stack.last_mut() {
            if let Some(kid) = level.kids.get_mut(level.next) {
                level.next += 1;
                level.printed += kid.total;
                level.printed_objects += kid.objects;
                let kid = std::mem::take(kid);
                enter(kid, &mut stack, &mut path, &mut texts);
                continue;
            }
            let level = stack.pop().expect("stack is not empty");
            // Own bytes plus the children not printed.
            let count = level.total - level.printed;
            if count > 0 {
                frames.clear();
                frames.extend(path.iter().rev().cloned());
                f(&frames, count, level.objects - level.printed_objects)?;
            }
            path.truncate(level.mark);
        }
    }
    Ok(())
}

/// What [`expand`] builds for a frame, kept from one frame to the next so
/// that a large frame's tables are not allocated (and their pages
/// faulted in) anew each time.
#[derive(Default)]
struct Scratch {
    protos: Vec<Proto>,
    /// Each child not in the chain: (proto, node).
    members: Vec<(u32, u32)>,
    /// The buffers of [`see`].
    seen: Vec<Vec<Seen>>,
    /// Without `print_addr`: the proto of each link, name, whether an
    /// object and index, so that children that would make equal protos
    /// (many children of one node under one named link) share one.
    same: FxMap<(Pending, u32, bool, Option<u64>), u32>,
    /// Where the object children with a pair of keys went.
    went: WentCache,
    /// Whether the links of a second key of [`Names::link_index`] have a
    /// name (for all frames).
    named: FxMap<u64, bool>,
    /// The bytes of the children of each name, and of each name and index.
    by_name: FxMap<u32, u64>,
    by_index: FxMap<(u32, Option<u64>), u64>,
    /// The kids by (link, name, address or tag).
    index: FxMap<(u32, u32, u64), usize>,
    /// The kid of each proto.
    kid_of: Vec<usize>,
}

/// Children of a frame whose tables [`Scratch`] keeps for the next, at
/// most.
const KEEP: usize = 1 << 16;

/// Whether a frame of some total bytes is printed: above the threshold
/// (and not empty).
#[derive(Clone, Copy)]
struct Shown(f64);

impl Shown {
    fn total(self, total: u64) -> bool {
        total > 0 && total as f64 >= self.0
    }
}

/// A child of a frame's member (or of a node looked through), as far as
/// it is known without the frame texts: found for many nodes at once, in
/// parallel.
enum Seen {
    /// Map machinery: its children are the frame's.
    Through(u32),
    /// An object: the node, the object, its [`Names::object_key`], the
    /// link to it, its subtree bytes and whether it has children.
    Object(u32, u32, u64, Option<Link>, u64, bool),
    /// Any other node: the node, the link to it, its subtree bytes and
    /// whether it has children.
    Other(u32, Option<Link>, u64, bool),
}

/// Where the object children with one pair of keys go
/// ([`expand`]).
#[derive(Clone, Copy)]
enum Went {
    /// Into the frame's chain.
    Chain,
    /// Into this [`Proto`].
    Proto(u32),
}

/// Slots of [`WentCache`].
const WENT_SLOTS: usize = 1 << 12;

/// Where the object children with a pair of keys (object key, link key)
/// went in the frame being expanded, for the pairs seen last: a pair
/// looked up again goes where it went, without its names being looked up
/// again. A table of fixed size where a pair takes the slot of its hash,
/// so that it neither grows nor is cleared for each frame (a slot is of
/// the frame whose number it holds). A pair whose slot another took is
/// resolved again, to a proto of its own with the same link and name,
/// which prints as the first does: what is forgotten costs time, not
/// output.
#[derive(Default)]
struct WentCache {
    slots: Vec<Option<((u64, Option<u64>), u32, Went)>>,
    frame: u32,
}

impl WentCache {
    /// Forgets the pairs of the frame before.
    fn next_frame(&mut self) {
        self.frame = self.frame.wrapping_add(1);
        if self.slots.is_empty() || self.frame == 0 {
            self.slots = vec![None; WENT_SLOTS];
            self.frame = 1;
        }
    }

    fn slot(pair: (u64, Option<u64>)) -> usize {
        let h = (pair.0 ^ pair.1.map_or(u64::MAX, |k| k.rotate_left(29))).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        (h >> (64 - WENT_SLOTS.trailing_zeros())) as usize
    }

    fn get(&self, pair: (u64, Option<u64>)) -> Option<Went> {
        let (p, frame, went) = self.slots[Self::slot(pair)]?;
        (frame == self.frame && p == pair).then_some(went)
    }

    fn insert(&mut self, pair: (u64, Option<u64>), went: Went) {
        self.slots[Self::slot(pair)] = Some((pair, self.frame, went));
    }
}

/// A link whose text may not be looked up yet.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
enum Pending {
    /// Its [`Texts`] id.
    Text(u32),
    /// A pointer (source object, offset) and its [`Names::link_key`].
    Key(u32, u32, u64),
}

/// The children of a frame that surely print as one (one pair of an
/// object key and a link key, or a single child), before their link
/// texts are known: those are looked up only where the children can
/// print ([`expand`]).
struct Proto {
    link: Pending,
    /// Name ([`Texts`] id).
    name: u32,
    /// With `print_addr`: the address or tag appended to the name.
    extra: u64,
    /// Whether the first child is an object.
    object: bool,
    /// The index its link surely begins with ([`Names::link_index`]).
    index: Option<u64>,
    /// Subtree bytes of its children.
    total: u64,
    /// None of its children has children.
    leaf: bool,
}

/// Nodes whose children are looked at in one parallel step: bounds the
/// [`Seen`] held at once.
const BLOCK: usize = 1 << 12;
/// Children a unit of [`see`]'s work holds at most: a node with many is
/// cut into several, so that its children are looked at in parallel and
/// read ahead a few at a time.
const UNIT: u32 = 8;
/// Units per parallel task, at least…
const TASK: usize = 1 << 8;
/// …and parallel tasks a thread, at most.
const PARTS: usize = 4;
/// Units between one prefetching step and the next ([`see`]).
const AHEAD: usize = 4;
/// Units seen in one parallel step: bounds the [`Seen`] held at once when
/// a node has many children (a slice of a million pointers).
const STEP: usize = 1 << 11;

/// The children of `nodes` as units of at most [`UNIT`] children, in
/// order: the nodes' in theirs, each node's children in tree order.
fn units(tree: &Tree, nodes: &[u32]) -> Vec<(u32, Range<u32>)> {
    // Each node's children, the place of the next ones asked for ahead.
    let ranges = |nodes: &[u32]| -> Vec<(u32, Range<u32>)> {
        let mut out = Vec::with_capacity(nodes.len());
        for (j, &m) in nodes.iter().enumerate() {
            if let Some(&ahead) = nodes.get(j + 2 * AHEAD) {
                tree.prefetch_children(ahead);
            }
            out.push((m, tree.children(m)));
        }
        out
    };
    let ranges: Vec<(u32, Range<u32>)> =
        if nodes.len() <= TASK { ranges(nodes) } else { nodes.par_chunks(TASK).flat_map_iter(ranges).collect() };
    let mut units: Vec<(u32, Range<u32>)> = Vec::with_capacity(ranges.len());
    for (m, kids) in ranges {
        let mut a = kids.start;
        while a < kids.end {
            let b = kids.end.min(a.saturating_add(UNIT));
            units.push((m, a..b));
            a = b;
        }
    }
    units
}

/// The children of `units` ([`units`]), in order, in parts: the first
/// buffers of `out` (added if too few), whose memory is kept from one
/// call to the next.
fn see<'a>(tree: &Tree, names: &dyn Names, units: &[(u32, Range<u32>)], out: &'a mut Vec<Vec<Seen>>) -> &'a mut [Vec<Seen>] {
    // What the units ahead need is asked for while these are seen, in
    // steps (each needs what the one before read): their children's tree
    // entries, then their objects' entries in the heap's tables.
    let far = |(_, kids): &(u32, Range<u32>)| {
        kids.clone().for_each(|c| tree.prefetch(c));
        tree.prefetch_children(kids.start);
    };
    let mid = |(m, kids): &(u32, Range<u32>)| {
        if let NodeKind::Object(o) = tree.kind(*m) {
            names.prefetch(o);
        }
        for c in kids.clone() {
            if let NodeKind::Object(o) = tree.kind(c) {
                names.prefetch(o);
            }
        }
    };
    let part = |part: &[(u32, Range<u32>)], out: &mut Vec<Seen>| {
        out.clear();
        out.reserve(part.iter().map(|(_, kids)| kids.len()).sum());
        // Where the links of the node whose children are seen are.
        let mut cursor = LinkCursor::default();
        for j in 0..part.len() + 2 * AHEAD {
            if let Some(u) = part.get(j) {
                far(u);
            }
            if let Some(u) = j.checked_sub(AHEAD).and_then(|k| part.get(k)) {
                mid(u);
            }
            let Some((m, kids)) = j.checked_sub(2 * AHEAD).and_then(|k| part.get(k)) else { continue };
            let m = *m;
            for c in kids.clone() {
                let link = tree.link_or_key(m, c, names, &mut cursor);
                let inner = tree.has_children(c);
                out.push(match tree.kind(c) {
                    NodeKind::Object(o) if names.machinery(o) => Seen::Through(c),
                    NodeKind::Object(o) => Seen::Object(c, o, names.object_key(o), link, tree.total(c), inner),
                    _ => Seen::Other(c, link, tree.total(c), inner),
                });
            }
        }
    };
    // A few parts a thread at most.
    let per = if units.len() <= TASK { units.len().max(1) } else { units.len().div_ceil(PARTS * rayon::current_num_threads()).max(TASK) };
    let parts = units.len().div_ceil(per);
    if out.len() < parts {
        out.resize_with(parts, Vec::new);
    }
    match &mut out[..parts] {
        [one] => part(units, one),
        many => many.par_iter_mut().zip(units.par_chunks(per)).for_each(|(out, units)| part(units, out)),
    }
    &mut out[..parts]
}

/// The label of frame `fr`: its name, the length and link of its chain
/// (`chain`: the chain's link, if it has one; `count`: its objects), its
/// address or tag.
fn label(texts: &Texts, fr: &Frame, chain: Option<u32>, count: u64) -> String {
    let mut label = texts.get(fr.name).to_string();
    match chain {
        Some(0) => label = format!("{label} ×{count}"),
        Some(l) => label = format!("{label} ×{count} ({})", texts.get(l)),
        None => {}
    }
    if !fr.extra.is_empty() {
        label = format!("{label} {}", fr.extra);
    }
    label
}

/// Frame `fr`'s label and, if `want` them, its children that print, as
/// frames in the order of their first members: map machinery looked
/// through, a chain along one link folded into the frame. Its members
/// are used up (they become the list of nodes to look into).
///
/// Every child is looked at, as its bytes may add to a sibling's; but the
/// text of its link only where the frame it would merge into can print:
/// its name's children together (or, for a link that surely names an
/// index, those with that index and those whose link names none) reach
/// the threshold.
#[allow(clippy::too_many_arguments)]
fn expand(
    tree: &Tree,
    names: &dyn Names,
    opt: RecordOptions,
    objs: &dyn Fn(u32) -> u64,
    fr: &mut Frame,
    texts: &mut Texts,
    scratch: &mut Scratch,
    shown: Shown,
    want: bool,
) -> (String, Vec<Frame>) {
    if fr.leaf {
        return (label(texts, fr, None, 0), Vec::new());
    }
    let is_object = |n: u32| matches!(tree.kind(n), NodeKind::Object(_));
    let objects = fr.members.iter().filter(|&&n| is_object(n)).count() as u64;
    // The members become the work list (they are not needed after).
    let mut work = std::mem::take(&mut fr.members);
    // The chain's link (None: unknown), once a first link to an object of
    // the frame's type was found.
    let mut chain: Option<u32> = None;
    let mut chained = 0u64;
    let Scratch { protos, members, seen, same, went, named, by_name, by_index, index, kid_of } = scratch;
    protos.clear();
    members.clear();
    same.clear();
    // Without addresses, where an object child goes depends on its
    // object key and link key alone: each pair is resolved once.
    went.next_frame();
    let add = |protos: &mut Vec<Proto>, members: &mut Vec<(u32, u32)>, p: u32, c: u32, total: u64, inner: bool| {
        let pr = &mut protos[p as usize];
        pr.total += total;
        pr.leaf &= !inner;
        members.push((p, c));
    };
    // The work list in blocks: what a block adds to it goes after it, so
    // the nodes are visited in the order of a one-by-one pass.
    let mut i = 0;
    while i < work.len() {
        let block = i..work.len().min(i + BLOCK);
        i = block.end;
        let units = units(tree, &work[block]);
        for step in units.chunks(STEP) {
            let parts = see(tree, names, step, seen);
            for seen in parts.iter_mut().flat_map(|b| b.drain(..)) {
                let (c, proto, total, inner, pair) = match seen {
                    Seen::Through(c) => {
                        work.push(c);
                        continue;
                    }
                    Seen::Object(c, o, key, link, total, inner) => {
                        let pair = match (&link, opt.print_addr) {
                            (None, false) => Some((key, None)),
                            (Some(Link::Key(_, _, k)), false) => Some((key, Some(*k))),
                            _ => None,
                        };
                        match pair.and_then(|p| went.get(p)) {
                            Some(Went::Chain) => {
                                chained += 1;
                                work.push(c);
                                continue;
                            }
                            Some(Went::Proto(p)) => {
                                add(protos, members, p, c, total, inner);
                                continue;
                            }
                            None => {}
                        }
                        let name = texts.object(names, o, key);
                        let link = if objects > 0 && name == fr.name {
                            let link = texts.link(names, link);
                            if chain.is_none_or(|l| l == link) {
                                chain = Some(link);
                                chained += 1;
                                work.push(c);
                                if let Some(p) = pair {
                                    went.insert(p, Went::Chain);
                                }
                                continue;
                            }
                            Pending::Text(link)
                        } else {
                            match link {
                                None => Pending::Text(0),
                                Some(Link::Name(s)) => Pending::Text(texts.id(&s)),
                                Some(Link::Key(src, offset, k)) => Pending::Key(src, offset, k),
                            }
                        };
                        let index = match link {
                            Pending::Key(src, offset, k) => names
                                .link_index(k)
                                .filter(|&(_, second)| *named.entry(second).or_insert_with(|| names.link(src, offset).is_some())),
                            Pending::Text(_) => None,
                        };
                        let extra = if opt.print_addr { names.addr(o) } else { 0 };
                        let proto = Proto { link, name, extra, object: true, index: index.map(|(i, _)| i), total: 0, leaf: true };
                        (c, proto, total, inner, pair)
                    }
                    Seen::Other(c, link, total, inner) => {
                        let tag = tree.tags.get(&c).filter(|_| opt.print_addr);
                        let proto = Proto {
                            link: Pending::Text(texts.link(names, link)),
                            name: texts.id(&tree.name(c, names)),
                            extra: tag.map_or(0, |&t| u64::from(t)),
                            object: false,
                            index: None,
                            total: 0,
                            leaf: true,
                        };
                        (c, proto, total, inner, None)
                    }
                };
                // Children that would make equal protos share one: they print
                // as one frame if either does. (Those with a pair of keys are
                // shared through `went`.)
                let p = if opt.print_addr || pair.is_some() {
                    protos.push(proto);
                    protos.len() as u32 - 1
                } else {
                    match same.entry((proto.link, proto.name, proto.object, proto.index)) {
                        Entry::Occupied(e) => *e.get(),
                        Entry::Vacant(e) => {
                            protos.push(proto);
                            *e.insert(protos.len() as u32 - 1)
                        }
                    }
                };
                if let Some(pair) = pair {
                    went.insert(pair, Went::Proto(p));
                }
                add(protos, members, p, c, total, inner);
            }
        }
    }
    let label = label(texts, fr, chain, objects + chained);
    if !want {
        return (label, Vec::new());
    }
    // The bytes of the children of each name, and of each name and index
    // (None: links that name no sure index).
    by_name.clear();
    by_index.clear();
    for pr in protos.iter() {
        *by_name.entry(pr.name).or_default() += pr.total;
        *by_index.entry((pr.name, pr.index)).or_default() += pr.total;
    }
    // The most a frame holding the proto's children can hold.
    let bound = |pr: &Proto| match pr.index {
        Some(_) => by_index[&(pr.name, pr.index)] + by_index.get(&(pr.name, None)).copied().unwrap_or(0),
        None => by_name[&pr.name],
    };
    let mut kids: Vec<Frame> = Vec::new();
    // By (link, name, address or tag: 0 unless print_addr).
    index.clear();
    // The kid of each proto, if it can print.
    kid_of.clear();
    kid_of.resize(protos.len(), usize::MAX);
    for (p, pr) in protos.iter().enumerate() {
        if !shown.total(bound(pr)) {
            continue;
        }
        let link = match pr.link {
            Pending::Text(t) => t,
            Pending::Key(src, offset, k) => texts.link(names, Some(Link::Key(src, offset, k))),
        };
        let k = *index.entry((link, pr.name, pr.extra)).or_insert_with(|| {
            let extra = match (pr.extra, pr.object) {
                (0, _) => String::new(),
                (a, true) => format!("{a:#x}"),
                (t, false) => frame(tree.labels.get(t as u32)).into_owned(),
            };
            kids.push(Frame { link, name: pr.name, extra, leaf: true, ..Frame::default() });
            kids.len() - 1
        });
        kids[k].total += pr.total;
        kids[k].leaf &= pr.leaf;
        kid_of[p] = k;
    }
    for &(p, c) in members.iter() {
        if let Some(kid) = kids.get_mut(kid_of[p as usize]).filter(|k| shown.total(k.total)) {
            kid.members.push(c);
            kid.objects += objs(c);
        }
    }
    kids.retain(|k| shown.total(k.total));
    // A large frame's tables are not kept for the next frames: they would
    // add to the peak of all that follows.
    if scratch.members.capacity() > KEEP || scratch.protos.capacity() > KEEP {
        *scratch = Scratch {
            named: std::mem::take(&mut scratch.named),
            went: std::mem::take(&mut scratch.went),
            seen: std::mem::take(&mut scratch.seen),
            ..Scratch::default()
        };
    }
    (label, kids)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::graph::{Labels, NO_LINK, NO_PARENT};
    use std::borrow::Cow;

    /// Slices of pointers and what they point to, sizes as built: a `[]*T`
    /// names its pointers `[i]` (the same name for the same offset in
    /// every slice, under one of two keys); a `[]U` says its links are
    /// indices but has no name for them.
    struct Slices {
        names: Vec<&'static str>,
        sizes: Vec<u64>,
        kids: Vec<Vec<u32>>,
    }

    impl Slices {
        fn named(&self, src: u32) -> bool {
            self.names[src as usize] == "[]*T"
        }
    }

    impl Names for Slices {
        fn object(&self, obj: u32) -> Cow<'_, str> {
            Cow::Borrowed(self.names[obj as usize])
        }
        fn pointers(&self, src: u32) -> Vec<(u32, u64)> {
            self.kids[src as usize].iter().enumerate().map(|(i, &k)| (8 * i as u32, self.addr(k))).collect()
        }
        fn size(&self, obj: u32) -> u64 {
            self.sizes[obj as usize]
        }
        fn link(&self, src: u32, offset: u32) -> Option<String> {
            self.named(src).then(|| format!("[{}]", offset / 8))
        }
        fn addr(&self, obj: u32) -> u64 {
            0x1000 * (u64::from(obj) + 1)
        }
        fn link_key(&self, src: u32, offset: u32) -> Option<u64> {
            // Two keys for each name `[i]`, as two source types may have.
            Some(u64::from(src >> 1 & 1) << 33 | u64::from(!self.named(src)) << 32 | u64::from(offset))
        }
        fn link_index(&self, key: u64) -> Option<(u64, u64)> {
            Some(((key & 0xffff_ffff) / 8, key >> 32))
        }
        fn object_key(&self, obj: u32) -> u64 {
            ["T", "U", "[]*T", "[]U"].iter().position(|&n| n == self.names[obj as usize]).expect("a known name") as u64
        }
    }

    /// Under `main.a`, a `[]*T` (80 B) of ten 100-B `T` at `[0]`…`[9]`;
    /// under `main.b`, two `[]*T` (8 B) each with a 200-B `T` at `[0]`;
    /// under `main.c`, a `[]U` (40 B) of five 100-B `U` whose links have
    /// no name. 2036 bytes in all.
    fn slices() -> (Tree, Slices) {
        let mut s = Slices { names: Vec::new(), sizes: Vec::new(), kids: Vec::new() };
        let mut object = |name, size, kids: Vec<u32>| {
            s.names.push(name);
            s.sizes.push(size);
            s.kids.push(kids);
            s.names.len() as u32 - 1
        };
        let a_kids: Vec<u32> = (0..10).map(|_| object("T", 100, vec![])).collect();
        let a = object("[]*T", 80, a_kids.clone());
        let b1_kid = object("T", 200, vec![]);
        let b1 = object("[]*T", 8, vec![b1_kid]);
        let b2_kid = object("T", 200, vec![]);
        let b2 = object("[]*T", 8, vec![b2_kid]);
        let c_kids: Vec<u32> = (0..5).map(|_| object("U", 100, vec![])).collect();
        let c = object("[]U", 40, c_kids.clone());
        let mut tree = Tree::new(Labels::new());
        let label = |tree: &mut Tree, s: &str| tree.labels.intern(s);
        let g = label(&mut tree, "globals");
        let g = tree.push_head(NodeKind::Group, NO_PARENT, g);
        let mut roots = Vec::new();
        for name in ["main.a", "main.b", "main.c"] {
            let l = label(&mut tree, name);
            roots.push(tree.push_head(NodeKind::Root, g, l));
        }
        let na = tree.push_root_target(roots[0], a, NO_LINK);
        let nb1 = tree.push_root_target(roots[1], b1, NO_LINK);
        let nb2 = tree.push_root_target(roots[1], b2, NO_LINK);
        let nc = tree.push_root_target(roots[2], c, NO_LINK);
        for (i, &k) in a_kids.iter().enumerate() {
            tree.push_object(na, k, 8 * i as u32);
        }
        tree.push_object(nb1, b1_kid, 0);
        tree.push_object(nb2, b2_kid, 0);
        for (i, &k) in c_kids.iter().enumerate() {
            tree.push_object(nc, k, 8 * i as u32);
        }
        tree.seal();
        tree.sum(|o| s.sizes[o as usize]);
        (tree, s)
    }

    /// The records as `root;…;leaf count` lines.
    fn records(tree: &Tree, names: &Slices, min_width: f64) -> Vec<String> {
        let mut out = Vec::new();
        let opt = RecordOptions { min_width, ..RecordOptions::default() };
        for_each_record(tree, names, opt, &mut |frames, count| {
            let stack: Vec<&str> = frames.iter().rev().map(|f| f.as_str()).collect();
            out.push(format!("{} {count}", stack.join(";")));
            Ok(())
        })
        .unwrap();
        out
    }

    /// A threshold of 285 bytes (14% of 2036): no single `T` or `U`
    /// reaches it, but the two `[0]` of `main.b` do together, and so do
    /// the five `U` whose links have no name (they merge into one frame
    /// without a link), while the ten indices of `main.a` stay apart.
    #[test]
    fn children_below_the_threshold_print_where_their_frame_does() {
        let (tree, names) = slices();
        assert_eq!(tree.grand_total(), 2036);
        assert_eq!(
            records(&tree, &names, 14.0),
            [
                "globals;main.a;[]*T 1080",
                "globals;main.b;[]*T;[0];T 400",
                "globals;main.b;[]*T 16",
                "globals;main.c;[]U;U 500",
                "globals;main.c;[]U 40",
            ]
        );
        // Without a threshold every index is a frame of its own.
        let all = records(&tree, &names, 0.0);
        assert_eq!(all.len(), 10 + 1 + 2 + 2);
        assert!(all.contains(&"globals;main.a;[]*T;[7];T 100".to_string()), "{all:?}");
    }
}
