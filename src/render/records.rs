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

use std::collections::HashMap;

use crate::graph::{LinkCursor, Names, NodeKind, Tree};

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

/// A frame: tree nodes that print as one.
#[derive(Default)]
struct Frame {
    /// The link frame above it (sanitized), if known.
    link: Option<String>,
    /// Its name (sanitized).
    name: String,
    /// With `print_addr`: the address or tag appended to the name.
    extra: String,
    /// The nodes.
    members: Vec<u32>,
    /// Their subtree bytes.
    total: u64,
}

/// One frame on the path being printed, with its children to visit.
struct Level {
    kids: Vec<Frame>,
    next: usize,
    /// Bytes of the children visited.
    printed: u64,
    total: u64,
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
    let threshold = tree.grand_total() as f64 * opt.min_width / 100.0;
    let shown = |fr: &Frame| fr.total > 0 && fr.total as f64 >= threshold;
    let mut stack: Vec<Level> = Vec::new();
    let mut path: Vec<String> = Vec::new();
    let mut frames: Vec<String> = Vec::new();
    let enter = |fr: Frame, stack: &mut Vec<Level>, path: &mut Vec<String>| {
        let mark = path.len();
        let (label, mut kids) = expand(tree, names, opt, &fr);
        if let Some(l) = &fr.link {
            path.push(l.clone());
        }
        path.push(label);
        if stack.len() as u32 + 1 >= opt.max_depth.max(1) {
            kids.clear();
        }
        kids.retain(shown);
        stack.push(Level { kids, next: 0, printed: 0, total: fr.total, mark });
    };
    for top in tree.tops() {
        let fr = Frame { name: frame(&tree.name(top, names)).into_owned(), members: vec![top], total: tree.total(top), ..Frame::default() };
        // A root group is shown however small.
        if fr.total == 0 {
            continue;
        }
        enter(fr, &mut stack, &mut path);
        while let Some(level) = stack.last_mut() {
            if let Some(kid) = level.kids.get_mut(level.next) {
                level.next += 1;
                level.printed += kid.total;
                let kid = std::mem::take(kid);
                enter(kid, &mut stack, &mut path);
                continue;
            }
            let level = stack.pop().expect("stack is not empty");
            // Own bytes plus the children not printed.
            let count = level.total - level.printed;
            if count > 0 {
                frames.clear();
                frames.extend(path.iter().rev().cloned());
                f(&frames, count)?;
            }
            path.truncate(level.mark);
        }
    }
    Ok(())
}

/// Frame `fr`'s label and its children as frames, in the order of their
/// first members: map machinery looked through, a chain along one link
/// folded into the frame.
fn expand(tree: &Tree, names: &dyn Names, opt: RecordOptions, fr: &Frame) -> (String, Vec<Frame>) {
    let is_object = |n: u32| matches!(tree.kind(n), NodeKind::Object(_));
    let objects = fr.members.iter().filter(|&&n| is_object(n)).count() as u64;
    let mut work = fr.members.clone();
    // The chain's link (None: unknown), once a first link to an object of
    // the frame's type was found.
    let mut chain: Option<Option<String>> = None;
    let mut chained = 0u64;
    let mut kids: Vec<Frame> = Vec::new();
    let mut index: HashMap<(Option<String>, String, String), usize> = HashMap::new();
    let mut i = 0;
    while i < work.len() {
        let m = work[i];
        i += 1;
        let mut cursor = LinkCursor::default();
        for c in tree.children(m) {
            let link = tree.link(m, c, names, &mut cursor).map(|l| frame(&l).into_owned());
            let (name, extra) = match tree.kind(c) {
                NodeKind::Object(o) => {
                    if names.machinery(o) {
                        work.push(c);
                        continue;
                    }
                    let name = frame(&names.object(o)).into_owned();
                    if objects > 0 && name == fr.name && chain.as_ref().is_none_or(|l| *l == link) {
                        chain = Some(link);
                        chained += 1;
                        work.push(c);
                        continue;
                    }
                    let extra = if opt.print_addr { format!("{:#x}", names.addr(o)) } else { String::new() };
                    (name, extra)
                }
                _ => {
                    let tag = tree.tags.get(&c).filter(|_| opt.print_addr);
                    (frame(&tree.name(c, names)).into_owned(), tag.map_or_else(String::new, |&t| frame(tree.labels.get(t)).into_owned()))
                }
            };
            let total = tree.total(c);
            let key = (link, name, extra);
            match index.get(&key) {
                Some(&k) => {
                    kids[k].members.push(c);
                    kids[k].total += total;
                }
                None => {
                    index.insert(key.clone(), kids.len());
                    let (link, name, extra) = key;
                    kids.push(Frame { link, name, extra, members: vec![c], total });
                }
            }
        }
    }
    let mut label = fr.name.clone();
    match chain {
        Some(Some(l)) => label = format!("{label} ×{} ({l})", objects + chained),
        Some(None) => label = format!("{label} ×{}", objects + chained),
        None => {}
    }
    if !fr.extra.is_empty() {
        label = format!("{label} {}", fr.extra);
    }
    (label, kids)
}
