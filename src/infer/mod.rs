//! Layer 6: type inference — a Go type for every heap object it can be
//! known for, and a name for every pointer between objects.
//!
//! Facts come from:
//! - the exact types Go 1.22+ records itself (malloc headers of 513 B–32 KiB
//!   objects with pointers, span.largeType of large ones);
//! - typed roots: DWARF types of globals and stack variables, mapped to the
//!   runtime's type descriptors through DW_AT_go_runtime_type;
//! - propagation: a typed object types what its pointer words point at, by
//!   the runtime descriptors (pointer elements, slice backing arrays, string
//!   bytes, struct fields, arrays, map headers, buckets, groups, tables and
//!   directories, channel buffers, interface values through their type word
//!   or itab, closures through their code pointer and DWARF's layout of
//!   their captured variables: given by Go 1.23+, rebuilt for each closure
//!   object's size and pointer words before).
//!
//! Propagation is a worklist over objects, level by level, never recursion
//! over the heap. A large level is expanded in parallel, in batches; each
//! batch's proposals are merged in parallel too, each thread owning a range
//! of objects and applying the proposals for them in the batch's order, so
//! that the result never depends on thread timing. A narrow level (the
//! next nodes of a few linked lists) is taken one object at a time, first
//! in first out, on one thread, reading a few places ahead in its queue:
//! which object an update reaches first decides what it is expanded as,
//! so the order is kept rather than a list followed to its end. Each
//! object keeps one fact: a type, the offset in the object where a value of
//! it starts, and whether the object holds an array of it. A new fact
//! replaces the old one only if it is better, compared in this order: it
//! starts where the object's data starts; it fills the object (but for
//! size-class rounding); it is a single value rather than an array; it
//! covers more bytes; its type is larger; it is refgraph's model of a
//! runtime structure (map table, channel header) rather than the runtime's
//! plain descriptor of it; and finally a fixed order of type keys, so the
//! result never depends on thread timing. Facts that cannot be true are
//! dropped: a value that does not fit the object, or a type with pointers
//! in an object the allocator marked pointer-free (and the reverse).
//! Recorded types are replaced only by such a model of the same object (a
//! map directory recorded as `[]*maps.table`).
//!
//! Beyond the runtime's descriptors, a few runtime and standard-library
//! structures are modeled by hand: hash-trie maps (sync.Map, unique: a
//! `node` is an `entry` or an `indirect` by its first byte), atomic.Pointer
//! (its unsafe.Pointer is a `*T`), sync.Pool's per-P arrays, classic map
//! buckets' overflow pointer, and the runtime's own eface/iface structs.
//!
//! Names: an object holding one value is named by the type (`main.Entry`,
//! `map.group[string]*main.Entry`, `hchan<*main.Item>`, `closure for
//! main.main.func1`), one holding an array of them as a slice of it
//! (`[]uint8`, `[]main.Item`: the backing array of a slice, however long),
//! the bytes of strings `string.bytes`, and one holding a single slice
//! header (boxed in an interface, say) `[]T header`. An object with no
//! fact, or whose fact starts elsewhere than at its data, is `unk<size>`.
//! Long anonymous struct names are shortened (`struct{…5 fields}`).
//!
//! Links: the path from a typed object to the pointer word (`.Payload`,
//! `.A[3].Next`, `[7]` into an array, `.data` for an interface's data
//! word); in map buckets and groups `$key` and `$val`, except that in a
//! map of one bucket or group (at most 8 entries) a value whose key is an
//! integer or a short printable string is linked by it: `[7]`, `["id"]`.
//! Larger maps keep `$val`, so their entries add up in one frame rather
//! than a frame each.

mod state;
mod types;

use std::borrow::Cow;
use std::cmp::Reverse;
use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::ops::Range;
use std::sync::atomic::{AtomicU64, Ordering};

use rayon::prelude::*;

use crate::graph::Names;
use crate::heap::{prefetch, Edges, Heap};
use crate::image::Memory;
use crate::roots::Root;
use crate::runtime::{PointerFinder, PointerMaps, Process, Span};

use self::state::{States, StatesPart};
pub use self::types::{Field, FxHasher, Key, KeyKind, Leaf, MapKeys, Shape, Target, TypeId, TypeInfo, TypeTable};

/// Marks an array in a name key ([`name_key`]).
const NAME_ARRAY: u32 = 1 << 31;
/// Object flag: an 8-byte malloc header precedes the data.
const HEADER: u8 = 1;
/// Object flag: the allocator marked the object pointer-free.
const NOSCAN: u8 = 2;
/// Object flag: a 16-byte pointer-free object, possibly a tiny-allocator
/// block holding several small values.
const TINY: u8 = 4;
/// Object flag: a large object (its own span).
const LARGE: u8 = 8;
/// Levels at least this large are expanded in parallel.
const PAR_MIN: usize = 4096;
/// Edges per parallel work unit (a large array is split).
const BLOCK_EDGES: usize = 4096;
/// A narrow level's read-ahead keeps the edge ranges of this many queued
/// objects, by place in the queue ([`Inference::prefetch_queued`]).
const RANGES: usize = 8;
/// Per place in a narrow level's queue (modulo [`RANGES`]): the object
/// and its edge range.
type Ranges = [(u32, usize, usize); RANGES];
/// A work unit: an object and a range of its edges.
type Unit = (u32, usize, usize);
/// Work units a parallel task takes at once (it reads ahead in them).
const UNIT_CHUNK: usize = 32;
/// Edges expanded between two merges: bounds the proposals held at once.
const BATCH_EDGES: usize = 1 << 18;
/// A batch's proposals are merged in parallel by parts of at least
/// `1 << PART_MIN_SHIFT` objects…
const PART_MIN_SHIFT: u32 = 12;
/// …and at most about this many parts.
const PARTS: usize = 32;
/// Longest string map key that names its value (`["id"]`).
const SHORT_KEY: u64 = 16;
/// Closure objects larger than this keep their captures untyped before Go
/// 1.23 (a closure captures at most 128 bytes per variable by value).
const MAX_REBUILT_CLOSURE: u64 = 4096;
/// Names longer than this get their anonymous structs shortened.
const LONG_NAME: usize = 64;
/// Descents an expansion remembers ([`Memo`]; a power of two)…
const LEAF_MEMO: usize = 64;
/// …and key ids (a power of two).
const KEY_MEMO: usize = 16;

/// What is known about one object.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Fact {
    /// The type.
    pub ty: TypeId,
    /// Where in the object the (first) value starts.
    pub off: u64,
    /// The object holds an array of values from `off` on.
    pub array: bool,
}

/// A proposed fact for an object, from one pointer to it.
#[derive(Clone, Copy, Debug)]
enum Cand {
    /// A value (or array) of `key` at `off`.
    Fact { key: Key, off: u64, array: bool },
    /// The object is what a direct-interface value of descriptor
    /// `concrete` points at; the interface's data word is at `word`.
    Direct { concrete: u64, word: u64 },
    /// A fact of type `id` (interned), checked to fit the object, its
    /// offset normalized ([`Inference::prepare`]).
    Ready { id: TypeId, off: u64, array: bool },
}

#[derive(Clone, Copy, Debug)]
struct Proposal {
    obj: u32,
    cand: Cand,
}

/// A prepared proposal ([`Cand::Ready`]) as a parallel merge holds it, in
/// 12 bytes; `ty` 0 is one the merge drops.
#[derive(Clone, Copy, Debug)]
struct ReadyProp {
    obj: u32,
    /// The type id, [`NAME_ARRAY`] set for an array.
    ty: u32,
    off: u32,
}

impl ReadyProp {
    fn new(obj: u32, f: Fact) -> ReadyProp {
        ReadyProp { obj, ty: name_key(f), off: f.off as u32 }
    }

    fn fact(self) -> Fact {
        Fact { ty: self.ty & !NAME_ARRAY, off: u64::from(self.off), array: self.ty & NAME_ARRAY != 0 }
    }
}

/// The proposals one parallel piece of a batch made, in its order, by part
/// of the objects they are for ([`Inference::merge_pieces`]). Those the
/// expansion could not prepare hold a dropped placeholder and are listed
/// in `pending` (part, index, proposal), to be prepared in order before the
/// merge.
struct Piece {
    parts: Vec<Vec<ReadyProp>>,
    pending: Vec<(usize, usize, Proposal)>,
}

impl Piece {
    fn new(parts: usize) -> Piece {
        Piece { parts: vec![Vec::new(); parts], pending: Vec::new() }
    }

    fn push(&mut self, shift: u32, obj: u32, cand: Cand) {
        let part = (obj >> shift) as usize;
        let list = &mut self.parts[part];
        match cand {
            Cand::Ready { id, off, array } => list.push(ReadyProp::new(obj, Fact { ty: id, off, array })),
            cand => {
                self.pending.push((part, list.len(), Proposal { obj, cand }));
                list.push(ReadyProp { obj, ty: 0, off: 0 });
            }
        }
    }
}

/// What an expansion remembers of the type table's answers, in small
/// direct-mapped caches: where a type's pointer word leads
/// ([`TypeTable::resolve`], which never changes for an interned type) and
/// the ids of keys already interned (an interned id never changes, nor
/// does a failure; a key not tried yet is asked again). An object's
/// pointer words repeat with its type, so most descents and lookups are
/// answered here.
struct Memo {
    /// (type, offset in it, where its word there leads); type 0: empty.
    leaves: Box<[(TypeId, u64, Option<Leaf>); LEAF_MEMO]>,
    ids: Box<[Option<Known>; KEY_MEMO]>,
}

impl Memo {
    fn new() -> Memo {
        Memo { leaves: Box::new([(0, 0, None); LEAF_MEMO]), ids: Box::new([None; KEY_MEMO]) }
    }

    /// [`TypeTable::resolve`]`(ty, rel)`.
    #[inline]
    fn resolve(&mut self, types: &TypeTable, ty: TypeId, rel: u64) -> Option<Leaf> {
        let h = (u64::from(ty).wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ rel.wrapping_mul(0xc2b2_ae3d_27d4_eb4f))
            >> (64 - LEAF_MEMO.trailing_zeros());
        let e = &mut self.leaves[h as usize];
        if e.0 != ty || e.1 != rel {
            *e = (ty, rel, types.resolve(ty, rel));
        }
        e.2
    }

    /// [`TypeTable::lookup`]`(key)`, or None if the key was not tried.
    #[inline]
    fn lookup(&mut self, types: &TypeTable, key: Key) -> Option<Option<TypeId>> {
        let mut h = FxHasher::default();
        key.hash(&mut h);
        let e = &mut self.ids[(h.finish() >> (64 - KEY_MEMO.trailing_zeros())) as usize];
        match *e {
            Some((k, id)) if k == key => Some(id),
            _ => {
                let id = types.lookup(key)?;
                *e = Some((key, id));
                Some(id)
            }
        }
    }
}

/// A key the type table interned, and its id (None: its descriptor made
/// no sense).
type Known = (Key, Option<TypeId>);

/// How good a fact is; larger is better: starts at the object's data,
/// fills it (but for size-class rounding), one value rather than an array,
/// bytes covered, type size, refgraph's own model of a runtime structure
/// (a map table, a channel header) rather than the runtime's plain
/// descriptor of it, and a fixed order of keys.
type Score = (bool, bool, bool, u64, u64, bool, Reverse<Key>);

/// The typing of a heap.
pub struct Inference<'p, 'a> {
    p: &'p Process<'a>,
    heap: &'p Heap,
    /// The types facts refer to.
    pub types: TypeTable<'p, 'a>,
    /// Per object: its fact and its [`HEADER`], [`NOSCAN`], [`TINY`],
    /// [`LARGE`] flags.
    state: States,
    /// Per object: the type was recorded by the runtime (fixed).
    fixed: Vec<u64>,
    /// Propagation levels run.
    pub rounds: u64,
    /// Facts set or replaced.
    pub updates: u64,
    /// Objects expanded one at a time, in narrow levels.
    pub narrow: u64,
    /// Per type id, bit 0: the type is map machinery, bit 1: an array of
    /// it is ([`Names::machinery`]); made when first asked.
    machinery: std::sync::OnceLock<Vec<u8>>,
    /// A parallel merge's parts hold `1 << part_shift` objects.
    part_shift: u32,
}

impl<'p, 'a> Inference<'p, 'a> {
    /// Types the objects of `heap`, starting from recorded types and the
    /// typed slots of `roots`, along `edges`, keeping in `facts_set` the
    /// facts set so far (an object typed, or typed better), updated once
    /// per level (for a progress display).
    pub fn run(p: &'p Process<'a>, heap: &'p Heap, edges: &Edges, roots: &[Root], facts_set: &AtomicU64) -> Self {
        Self::run_with(p, heap, edges, roots, PAR_MIN, facts_set)
    }

    /// [`Inference::run`], with levels of at least `par_min`
    /// objects expanded and merged in parallel (tests give 1, so that a
    /// small heap takes the parallel way).
    pub fn run_with(p: &'p Process<'a>, heap: &'p Heap, edges: &Edges, roots: &[Root], par_min: usize, facts_set: &AtomicU64) -> Self {
        let n = heap.len();
        let mut inf = Inference {
            p,
            heap,
            types: TypeTable::new(p),
            state: object_flags(p, heap),
            fixed: vec![0; n.div_ceil(64)],
            rounds: 0,
            updates: 0,
            narrow: 0,
            machinery: Default::default(),
            part_shift: (usize::BITS - n.div_ceil(PARTS).leading_zeros()).max(PART_MIN_SHIFT),
        };
        let mut queued = vec![0u64; n.div_ceil(64)];
        let mut frontier = inf.seed_recorded();
        for &o in &frontier {
            set_bit(&mut queued, o);
        }
        let mut props = inf.root_proposals(roots);
        inf.merge(&mut props, Some(&mut frontier), &mut queued);
        // Every update strictly improves one object's fact, so this ends;
        // the budget guards against pathological inputs.
        let mut budget = 16 * n as u64 + (1 << 20);
        let mut props = Vec::new();
        // The level is `frontier` (in queue order), or, after a wide level,
        // exactly the objects queued (in object order), which are not
        // listed: on a big heap a level can hold most objects.
        let mut queued_only = false;
        while budget > 0 {
            let width = if queued_only { queued.par_iter().map(|w| w.count_ones() as usize).sum() } else { frontier.len() };
            if width == 0 {
                break;
            }
            let before = inf.updates;
            inf.rounds += 1;
            if width >= par_min {
                // A wide level: expand it in parallel against the facts as
                // they stand, merging in level order every batch of edges
                // (which bounds the proposals held at once). Its objects
                // may be queued again for the next level.
                if queued_only {
                    let level = std::mem::replace(&mut queued, vec![0u64; n.div_ceil(64)]);
                    inf.run_level(edges, bits(&level), &mut queued);
                } else {
                    for &o in &frontier {
                        clear_bit(&mut queued, o);
                    }
                    inf.run_level(edges, frontier.drain(..), &mut queued);
                }
                // The next level is exactly the queued objects: taken in
                // object (address) order, it reads the heap's tables and
                // memory mostly forward.
                queued_only = true;
            } else {
                if queued_only {
                    frontier = bits(&queued).collect();
                    queued_only = false;
                }
                // Narrow (a linked list, say): one object at a time, first
                // in first out, until the queue widens again.
                let mut head = 0;
                let mut memo = Memo::new();
                let mut ranges = [(u32::MAX, 0, 0); RANGES];
                while head < frontier.len() && frontier.len() - head < 4 * par_min && inf.updates - before < budget {
                    inf.prefetch_queued(edges, &frontier, head, &mut ranges);
                    let o = frontier[head];
                    let (mut a, b) = match ranges[head % RANGES] {
                        (k, a, b) if k == o => (a, b),
                        _ => edges.range(o),
                    };
                    head += 1;
                    inf.narrow += 1;
                    clear_bit(&mut queued, o);
                    while a < b {
                        let e = (a + BATCH_EDGES).min(b);
                        inf.expand(edges, o, a..e, false, &mut |obj, cand| props.push(Proposal { obj, cand }), &mut memo);
                        inf.merge(&mut props, Some(&mut frontier), &mut queued);
                        a = e;
                    }
                    if head >= 1 << 16 && head * 2 >= frontier.len() {
                        frontier.drain(..head);
                        head = 0;
                    }
                }
                frontier.drain(..head);
            }
            budget = budget.saturating_sub(inf.updates - before);
            facts_set.store(inf.updates, Ordering::Relaxed);
        }
        inf
    }

    /// Asks for what expanding the objects a few places down a narrow
    /// level's queue will read (the queue holds the next nodes of several
    /// lists, say), `at` being the place of the object expanded next: the
    /// edge counts eight places on; four places on, the edges (their
    /// range kept in `ranges`) and the object's first bytes; two places on,
    /// the state and size of the first targets.
    fn prefetch_queued(&self, edges: &Edges, queue: &[u32], at: usize, ranges: &mut Ranges) {
        if let Some(&o) = queue.get(at + 8) {
            edges.prefetch_range(o);
            self.heap.prefetch_addr(o);
        }
        if let Some(&o) = queue.get(at + 4) {
            let (a, b) = edges.range(o);
            ranges[(at + 4) % RANGES] = (o, a, b);
            if a < b {
                prefetch(&edges.targets(a, b)[0]);
            }
            if let Ok(w) = self.p.image.slice(self.heap.addr(o), 1) {
                prefetch(&w[0]);
            }
        }
        if let Some(&o) = queue.get(at + 2) {
            let (k, a, b) = ranges[(at + 2) % RANGES];
            if k == o {
                for &t in edges.targets(a, b.min(a + 4)) {
                    prefetch(self.state.word(t));
                    self.heap.prefetch_size(t);
                }
            }
        }
    }

    /// Expands a wide level's objects, in order, cut into work units of
    /// at most [`BLOCK_EDGES`] edges, a batch of [`BATCH_EDGES`] at a time
    /// ([`Inference::expand_units`]), each batch merged before the next is
    /// expanded. The next batch's units are listed while the pool expands
    /// the current one (they depend on the level alone).
    fn run_level(&mut self, edges: &Edges, mut level: impl Iterator<Item = u32> + Send, queued: &mut [u64]) {
        let mut carry = None;
        let mut units = Vec::new();
        next_batch(edges, &mut level, &mut carry, &mut units);
        while !units.is_empty() {
            let mut following = Vec::new();
            let this = &*self;
            let (mut pieces, ()) =
                rayon::join(|| this.expand_units(edges, &units), || next_batch(edges, &mut level, &mut carry, &mut following));
            self.merge_pieces(&mut pieces, queued);
            units = following;
        }
    }

    /// Expands the work units (object, edge range) in parallel: their
    /// proposals, to merge as if in unit order
    /// ([`Inference::merge_pieces`]).
    fn expand_units(&self, edges: &Edges, units: &[Unit]) -> Vec<Piece> {
        let this = self;
        let (shift, parts) = (self.part_shift, self.heap.len().div_ceil(1 << self.part_shift).max(1));
        // One piece per stretch of units rayon splits them into, in unit
        // order.
        units
            .par_chunks(UNIT_CHUNK)
            .fold(
                || (Piece::new(parts), Memo::new()),
                |(mut piece, mut memo), chunk| {
                    for (k, &(o, a, b)) in chunk.iter().enumerate() {
                        // The first pointer word of a unit a few ahead.
                        if let Some(&(o, a, _)) = chunk.get(k + 4) {
                            if let Ok(w) = this.p.image.slice(this.heap.addr(o) + edges.offset(a), 1) {
                                prefetch(&w[0]);
                            }
                        }
                        this.expand(edges, o, a..b, true, &mut |obj, cand| piece.push(shift, obj, cand), &mut memo);
                    }
                    (piece, memo)
                },
            )
            .map(|(piece, _)| piece)
            .collect()
    }

    /// Applies the proposals of `pieces` with the same result as applying
    /// them in order: first those the expansion could not prepare are
    /// prepared in order (which interns their types in that order), then
    /// each part of the objects takes its proposals, in order, in parallel
    /// with the other parts (an object's fact depends only on the
    /// proposals for it). Objects whose fact improved are marked in
    /// `queued`.
    fn merge_pieces(&mut self, pieces: &mut [Piece], queued: &mut [u64]) {
        for piece in pieces.iter_mut() {
            for (part, at, pr) in std::mem::take(&mut piece.pending) {
                if let Some(f) = self.ready(pr.obj, pr.cand) {
                    piece.parts[part][at] = ReadyProp::new(pr.obj, f);
                }
            }
        }
        let shift = self.part_shift;
        let (types, heap, fixed, pieces) = (&self.types, self.heap, &self.fixed[..], &*pieces);
        let states = self.state.parts(shift);
        let updates: u64 = states
            .into_par_iter()
            .zip(queued.par_chunks_mut(1 << (shift - 6)))
            .enumerate()
            .map(|(part, (mut st, queued))| {
                let base = (part << shift) as u32;
                let mut updates = 0;
                for list in pieces.iter().map(|p| &p.parts[part]) {
                    for (k, pr) in list.iter().enumerate() {
                        if let Some(ahead) = list.get(k + 16) {
                            prefetch(st.word(ahead.obj));
                        }
                        if pr.ty != 0 && improve(types, heap, fixed, &mut st, pr.obj, pr.fact()) {
                            updates += 1;
                            set_bit(queued, pr.obj - base);
                        }
                    }
                }
                updates
            })
            .sum();
        self.updates += updates;
    }

    /// Objects whose type the runtime recorded (Go 1.22+): fixed facts.
    fn seed_recorded(&mut self) -> Vec<u32> {
        if self.p.layout.pointer_maps != PointerMaps::AllocHeaders {
            return Vec::new();
        }
        let found: Vec<(u32, u64)> =
            (0..self.heap.len() as u32).into_par_iter().filter_map(|i| self.recorded_type(i).map(|t| (i, t))).collect();
        let mut descs: Vec<u64> = found.iter().map(|&(_, t)| t).collect();
        descs.sort_unstable();
        descs.dedup();
        let ids: HashMap<u64, Option<TypeId>> = descs.into_iter().map(|d| (d, self.types.intern(Key::Desc(d)))).collect();
        let mut seeded = Vec::new();
        for (i, t) in found {
            let Some(mut id) = ids[&t] else { continue };
            let start = self.data_start(i);
            // A closure's struct (`struct { F uintptr; X0 …}`): named for
            // the function its first word points into.
            if self.types.info(id).name.starts_with("struct { F uintptr") {
                let pc = self.p.ptr(self.heap.addr(i) + start).ok();
                if let Some(entry) = pc.and_then(|pc| self.types.func_entry(pc)) {
                    id = self.types.intern(Key::RecordedClosure(t, entry)).unwrap_or(id);
                }
            }
            let size = self.types.info(id).size;
            let room = self.heap.size(i).saturating_sub(start);
            if size == 0 || size > room {
                continue;
            }
            let array = room >= 2 * size;
            self.set(i, Fact { ty: id, off: start, array });
            set_bit(&mut self.fixed, i);
            seeded.push(i);
        }
        seeded
    }

    /// The type descriptor the runtime recorded for object `i`.
    fn recorded_type(&self, i: u32) -> Option<u64> {
        let flags = self.flags(i);
        if flags & NOSCAN != 0 {
            return None;
        }
        if flags & LARGE != 0 {
            let span = self.heap.span_of(i);
            return (span.large_type != 0).then_some(span.large_type);
        }
        if flags & HEADER != 0 {
            return self.p.ptr(self.heap.addr(i)).ok().filter(|&t| t != 0);
        }
        None
    }

    /// Where object `obj`'s data starts in its slot: after the 8-byte
    /// malloc header of 1.22+ objects with pointers of 513 B–32 KiB, else
    /// at 0.
    fn data_start(&self, obj: u32) -> u64 {
        data_offset(self.flags(obj))
    }

    /// Proposals from the roots' typed slots, in root order.
    fn root_proposals(&mut self, roots: &[Root]) -> Vec<Proposal> {
        let mut out = Vec::new();
        for t in roots.iter().flat_map(|r| &r.targets) {
            let Some(slot) = t.slot else { continue };
            let Some(id) = self.types.intern(types::slot_key(slot.ty)) else {
                continue;
            };
            let Some(leaf) = self.types.resolve(id, slot.off) else {
                continue;
            };
            if let Some(cand) = self.candidate(leaf, slot.base.wrapping_add(slot.off), t.obj) {
                out.push(Proposal { obj: t.obj, cand });
            }
        }
        out
    }

    /// What the pointer word at `word`, of kind `leaf`, says about object
    /// `obj` (which it points into).
    fn candidate(&self, leaf: Leaf, word: u64, obj: u32) -> Option<Cand> {
        self.candidate_in(leaf, word, obj, None, false)
    }

    /// [`Inference::candidate`], reading words of the object holding the
    /// pointer from `src` (its bytes and address) when it covers them.
    /// With `at_start` the pointer is known to be `obj`'s address (the
    /// edge table's mark), so neither it nor the address is read unless
    /// needed (a func value's code pointer at it).
    fn candidate_in(&self, leaf: Leaf, word: u64, obj: u32, src: Option<(&[u8], u64)>, at_start: bool) -> Option<Cand> {
        let mem = self.p.image;
        let read = |a: u64| -> Option<u64> {
            if let Some((bytes, base)) = src {
                let at = a.checked_sub(base).and_then(|o| usize::try_from(o).ok());
                if let Some(b) = at.and_then(|o| bytes.get(o..o.checked_add(8)?)) {
                    return Some(u64::from_le_bytes(b.try_into().unwrap()));
                }
            }
            mem.u64(a).ok()
        };
        // The pointer and where in `obj` it lands.
        let (v, off) = if at_start {
            (None, 0)
        } else {
            let v = read(word)?;
            (Some(v), v.checked_sub(self.heap.addr(obj))?)
        };
        let fact = |key, array| Some(Cand::Fact { key, off, array });
        match leaf {
            Leaf::Word(Target::Value(k)) => fact(k, false),
            Leaf::Word(Target::Elems(k)) => fact(k, true),
            Leaf::Word(Target::Func) => {
                let v = v.unwrap_or_else(|| self.heap.addr(obj));
                let entry = self.types.func_entry(mem.u64(v).ok()?)?;
                fact(self.closure_key(obj, off, entry), false)
            }
            Leaf::Word(Target::MapDir(m)) => {
                let l = &self.p.layout.types;
                let dir_len = read(word.wrapping_sub(l.smap_dir_ptr).wrapping_add(l.smap_dir_len))?;
                if dir_len == 0 {
                    fact(Key::Desc(self.types.map_bucket(m)?), false)
                } else {
                    fact(Key::TablePtr(m), true)
                }
            }
            Leaf::IfaceData { empty } => {
                let concrete = self.types.concrete(empty, read(word.checked_sub(8)?)?)?;
                if self.types.direct_iface(concrete)? {
                    Some(Cand::Direct { concrete, word })
                } else {
                    fact(Key::Desc(concrete), false)
                }
            }
        }
    }

    /// The type of object `obj` as the closure of the function at `entry`
    /// (its func value points at `off`): before Go 1.23, a layout rebuilt
    /// for this object's size and pointer words
    /// ([`TypeTable::closure_key`]); a closure whose type the runtime
    /// recorded keeps it.
    fn closure_key(&self, obj: u32, off: u64, entry: u64) -> Key {
        let slot = self.heap.size(obj);
        if self.p.layout.closure_offsets_in_dwarf || get_bit(&self.fixed, obj) || off != 0 || slot > MAX_REBUILT_CLOSURE {
            return Key::Closure(entry);
        }
        let base = self.heap.addr(obj);
        let mut ptrs = vec![false; (slot / 8) as usize];
        let span = self.heap.span_of(obj);
        let found = PointerFinder::new(self.p, &self.heap.arena_list).pointers(span, base, &mut |a| {
            if let Some(w) = ptrs.get_mut(((a - base) / 8) as usize) {
                *w = true;
            }
        });
        if found.is_err() {
            return Key::Closure(entry);
        }
        self.types.closure_key(entry, slot, &ptrs)
    }

    /// Proposals for what object `o`'s pointer words point at: its edges
    /// in `range` (indices into `edges`).
    /// With `ahead`, asks for the state and size of the targets of the
    /// edges eight on (not their addresses: an edge marked as pointing at
    /// its target's start needs none, and those are nearly all; a wide
    /// level's edges are expanded in order; a narrow level's queue reads
    /// ahead itself). `memo` caches the type table's answers (a key not interned
    /// yet is left to the merge). A proposal of the fact its object
    /// already has is left out: whatever a merge sets before it comes to
    /// it is better, so the merge would drop it.
    fn expand(&self, edges: &Edges, o: u32, range: Range<usize>, ahead: bool, out: &mut impl FnMut(u32, Cand), memo: &mut Memo) {
        let Some(f) = self.fact(o) else { return };
        let size = self.types.info(f.ty).size;
        if size == 0 {
            return;
        }
        let base = self.heap.addr(o);
        let bytes = self.p.image.slice(base, self.heap.size(o) as usize).ok();
        for i in range {
            if ahead && i + 8 < edges.len() {
                let ahead = edges.target(i + 8);
                self.heap.prefetch_size(ahead);
                prefetch(self.state.word(ahead));
                prefetch(&self.fixed[(ahead / 64) as usize]);
            }
            let ((e, at_start), t) = (edges.offset_marked(i), edges.target(i));
            let Some(mut rel) = e.checked_sub(f.off) else {
                continue;
            };
            if f.array {
                rel %= size;
            } else if rel >= size {
                continue;
            }
            let Some(leaf) = memo.resolve(&self.types, f.ty, rel) else {
                continue;
            };
            let cand = self.candidate_in(leaf, base + e, t, bytes.map(|b| (b, base)), at_start);
            match cand.and_then(|c| self.prepare(t, c, Some(memo))) {
                Some(Cand::Ready { id, off, array }) if self.fact(t) == Some(Fact { ty: id, off, array }) => {}
                Some(cand) => out(t, cand),
                None => {}
            }
        }
    }

    /// Does what of merging proposal `cand` for object `obj` reads only
    /// what merges leave alone (the recorded-type bits, type ids already
    /// interned, memory, the object's size and flags), so that it runs in
    /// the parallel expansion: a direct-interface value's target, the
    /// recorded-type check, the type id, a hash-trie node's downcast, and
    /// whether and where the fact fits the object. None: the merge would
    /// drop it. A key not interned yet is left to the merge.
    fn prepare(&self, obj: u32, cand: Cand, memo: Option<&mut Memo>) -> Option<Cand> {
        // A type that was interned, or that failed to intern (the merge
        // would drop the proposal), is settled here.
        let cand = match cand {
            Cand::Direct { concrete, word } => match self.types.lookup(Key::Desc(concrete)) {
                None => return Some(cand),
                Some(id) => self.candidate(self.types.resolve(id?, 0)?, word, obj)?,
            },
            cand => cand,
        };
        let Cand::Fact { key, off, array } = cand else { return Some(cand) };
        if get_bit(&self.fixed, obj) && !key.structural() {
            return None;
        }
        let id = match memo {
            Some(memo) => memo.lookup(&self.types, key),
            None => self.types.lookup(key),
        };
        let Some(id) = id else { return Some(cand) };
        let mut id = id?;
        if let Some(real) = self.downcast_key(obj, id, off, array) {
            match self.types.lookup(real?) {
                Some(real) => id = real?,
                None => return Some(cand),
            }
        }
        let off = fit(&self.types, self.heap, obj, self.flags(obj), id, off, array)?.off;
        Some(Cand::Ready { id, off, array })
    }

    /// For a hash-trie node type (one with a downcast), the key of what
    /// object `obj` holds at `off` by its first byte: Some(entry or
    /// indirect), or Some(None) if that byte is not in the core. None for
    /// other types and for arrays.
    fn downcast_key(&self, obj: u32, id: TypeId, off: u64, array: bool) -> Option<Option<Key>> {
        let (Some((entry, indirect)), false) = (self.types.info(id).downcast, array) else { return None };
        let at = self.heap.addr(obj).wrapping_add(off);
        Some(self.p.image.u8(at).ok().map(|flag| if flag != 0 { entry } else { indirect }))
    }

    /// Applies proposals in order; objects whose fact improved are marked
    /// in `queued` and, with `next`, listed there (once).
    fn merge(&mut self, props: &mut Vec<Proposal>, mut next: Option<&mut Vec<u32>>, queued: &mut [u64]) {
        for k in 0..props.len() {
            // The objects are scattered over the heap: ask for the state
            // of a later one while this one is merged.
            if let Some(ahead) = props.get(k + 24) {
                prefetch(self.state.word(ahead.obj));
                prefetch(&queued[(ahead.obj / 64) as usize]);
            }
            let pr = props[k];
            let new = match pr.cand {
                Cand::Ready { id, off, array } => Fact { ty: id, off, array },
                cand => match self.ready(pr.obj, cand) {
                    Some(f) => f,
                    None => continue,
                },
            };
            if !improve(&self.types, self.heap, &self.fixed, &mut self.state.whole(), pr.obj, new) {
                continue;
            }
            self.updates += 1;
            if !get_bit(queued, pr.obj) {
                set_bit(queued, pr.obj);
                if let Some(next) = next.as_deref_mut() {
                    next.push(pr.obj);
                }
            }
        }
        props.clear();
    }

    /// The fact `cand` proposes for object `obj`, if it can be true: the
    /// merge's share of a proposal the expansion could not prepare. It
    /// interns the types [`Inference::prepare`] looks up (the proposed one
    /// and a hash-trie node's downcast), then prepares it.
    fn ready(&mut self, obj: u32, cand: Cand) -> Option<Fact> {
        let cand = match cand {
            Cand::Direct { concrete, word } => {
                let id = self.types.intern(Key::Desc(concrete))?;
                let leaf = self.types.resolve(id, 0)?;
                self.candidate(leaf, word, obj)?
            }
            cand => cand,
        };
        // Nothing to intern for a proposal a recorded type turns away.
        if let Cand::Fact { key, off, array } = cand {
            if !get_bit(&self.fixed, obj) || key.structural() {
                let id = self.types.intern(key)?;
                if let Some(Some(real)) = self.downcast_key(obj, id, off, array) {
                    self.types.intern(real)?;
                }
            }
        }
        match self.prepare(obj, cand, None)? {
            Cand::Ready { id, off, array } => Some(Fact { ty: id, off, array }),
            _ => None,
        }
    }

    fn set(&mut self, obj: u32, f: Fact) {
        self.state.set(obj, f);
    }

    /// What is known about object `obj`.
    #[inline]
    pub fn fact(&self, obj: u32) -> Option<Fact> {
        self.state.get(obj)
    }

    /// Object `obj`'s [`HEADER`], [`NOSCAN`], [`TINY`], [`LARGE`] flags.
    #[inline]
    fn flags(&self, obj: u32) -> u8 {
        self.state.flags(obj)
    }

    /// The fact of `obj` if it types the object from the start of its data
    /// (anywhere in a 16-byte pointer-free block, which the tiny allocator
    /// shares between small values).
    pub fn typed_fact(&self, obj: u32) -> Option<Fact> {
        let f = self.fact(obj)?;
        (f.off == self.data_start(obj) || self.flags(obj) & TINY != 0).then_some(f)
    }

    /// Whether the runtime recorded the object's type.
    pub fn recorded(&self, obj: u32) -> bool {
        get_bit(&self.fixed, obj)
    }

    /// The name of object `obj`: its type's, or `unk<size>`.
    pub fn name(&self, obj: u32) -> Cow<'_, str> {
        match self.typed_fact(obj) {
            Some(f) => Cow::Owned(self.fact_name(f)),
            None => Cow::Owned(format!("unk<{}>", self.heap.size(obj))),
        }
    }

    /// The name of a (typed) fact.
    pub fn fact_name(&self, f: Fact) -> String {
        let info = self.types.info(f.ty);
        let name = if f.array { &info.array_name } else { &info.name };
        shorten(name).into_owned()
    }

    /// The link label of the pointer at byte `offset` of object `src`
    /// (`.Payload`, `[3]`, `$val`), if its type says.
    pub fn link(&self, src: u32, offset: u64) -> Option<String> {
        use std::fmt::Write;
        let f = self.fact(src)?;
        let info = self.types.info(f.ty);
        let mut rel = offset.checked_sub(f.off)?;
        let mut path = String::new();
        if f.array {
            if info.size == 0 {
                return None;
            }
            if !info.map_slots {
                let _ = write!(path, "[{}]", rel / info.size);
            }
            rel %= info.size;
        } else if rel >= info.size {
            return None;
        }
        let at = path.len();
        if !self.types.path(f.ty, rel, &mut path) {
            return None;
        }
        if info.map_slots {
            let (label, slot) = map_slot(&path[at..]);
            path = label;
            if let (Some(rest), Some(i), Some(keys)) = (path.strip_prefix("$val"), slot, info.map_keys) {
                if let Some(key) = self.small_map_key(src, f, keys, i) {
                    path = format!("[{key}]{rest}");
                }
            }
        }
        (!path.is_empty()).then_some(path)
    }

    /// Key `i` of a small map's only bucket or group (object `src`, typed
    /// `f`) as text, if it is short: an integer, or a string of at most
    /// [`SHORT_KEY`] printable characters, quoted. None for larger maps:
    /// naming each of their values would split their bytes into a frame
    /// per entry.
    fn small_map_key(&self, src: u32, f: Fact, keys: MapKeys, i: u64) -> Option<String> {
        let info = self.types.info(f.ty);
        let room = self.heap.size(src).checked_sub(f.off)?;
        // One bucket or group: a classic map's bucket array of one (B = 0;
        // an overflow bucket is a single value, not an array) or a Swiss
        // map's single group (no tables).
        let single = if f.array { room / info.size == 1 } else { !info.name.starts_with("map.bucket[") };
        if !single || i >= 8 {
            return None;
        }
        let at = self.heap.addr(src) + f.off + keys.base + i * keys.stride;
        let mem = self.p.image;
        match keys.kind {
            KeyKind::String => {
                let (ptr, len) = (mem.u64(at).ok()?, mem.u64(at + 8).ok()?);
                if len > SHORT_KEY {
                    return None;
                }
                string_key_text(mem.slice(ptr, len as usize).ok()?)
            }
            KeyKind::Int | KeyKind::Uint => int_key_text(mem.slice(at, keys.size as usize).ok()?, keys.kind == KeyKind::Int),
        }
    }

    /// Typed objects and their bytes, over all objects.
    pub fn typed_totals(&self) -> (u64, u64) {
        let n = self.heap.len();
        let mut all = vec![u64::MAX; n.div_ceil(64)];
        if let (Some(last), tail @ 1..) = (all.last_mut(), n % 64) {
            *last = (1 << tail) - 1;
        }
        self.typed_among(&all)
    }

    /// Typed objects and their bytes among the objects whose bit is set in
    /// `set` (bit i of word i / 64 for object i).
    pub fn typed_among(&self, set: &[u64]) -> (u64, u64) {
        set.par_iter()
            .enumerate()
            .map(|(w, &bits)| {
                let (mut n, mut bytes) = (0, 0);
                let mut b = bits;
                while b != 0 {
                    let i = (w * 64) as u32 + b.trailing_zeros();
                    b &= b - 1;
                    if self.typed_fact(i).is_some() {
                        n += 1;
                        bytes += self.heap.size(i);
                    }
                }
                (n, bytes)
            })
            .reduce(|| (0, 0), |a, b| (a.0 + b.0, a.1 + b.1))
    }

    /// Objects and bytes per name over all objects, largest total first
    /// (ties by name).
    pub fn histogram(&self) -> Vec<HistogramRow> {
        let n = self.heap.len() as u32;
        // Group by fact type (or size, untyped) first, names after.
        let groups: HashMap<(u32, u64), (u64, u64)> = (0..n)
            .into_par_iter()
            .fold(HashMap::new, |mut m: HashMap<(u32, u64), (u64, u64)>, i| {
                let size = self.heap.size(i);
                let k = match self.typed_fact(i) {
                    Some(f) => (name_key(f), 0),
                    None => (0, size),
                };
                let e = m.entry(k).or_default();
                e.0 += 1;
                e.1 += size;
                m
            })
            .reduce(HashMap::new, |mut a, b| {
                for (k, v) in b {
                    let e = a.entry(k).or_default();
                    e.0 += v.0;
                    e.1 += v.1;
                }
                a
            });
        let mut by_name: HashMap<String, (u64, u64)> = HashMap::new();
        for ((t, size), (count, bytes)) in groups {
            let name = if t == 0 {
                format!("unk<{size}>")
            } else {
                self.fact_name(Fact { ty: t & !NAME_ARRAY, off: 0, array: t & NAME_ARRAY != 0 })
            };
            let e = by_name.entry(name).or_default();
            e.0 += count;
            e.1 += bytes;
        }
        let mut rows: Vec<HistogramRow> = by_name.into_iter().map(|(name, (count, bytes))| HistogramRow { name, count, bytes }).collect();
        rows.sort_by(|a, b| b.bytes.cmp(&a.bytes).then_with(|| a.name.cmp(&b.name)));
        rows
    }
}

/// One line of [`Inference::histogram`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HistogramRow {
    /// Type name, or `unk<size>`.
    pub name: String,
    /// Objects.
    pub count: u64,
    /// Their bytes (slot sizes).
    pub bytes: u64,
}

impl Names for Inference<'_, '_> {
    fn object(&self, obj: u32) -> Cow<'_, str> {
        self.name(obj)
    }

    fn pointers(&self, src: u32) -> Vec<(u32, u64)> {
        let mut out = Vec::new();
        let mut finder = PointerFinder::new(self.p, &self.heap.arena_list);
        let span = self.heap.span_of(src);
        let base = self.heap.addr(src);
        let bytes = self.p.image.slice(base, span.elemsize as usize).ok();
        let _ = finder.pointers(span, base, &mut |a| {
            let v = match bytes {
                Some(b) => b.get((a - base) as usize..).and_then(|w| w.get(..8)).map_or(0, |w| u64::from_le_bytes(w.try_into().unwrap())),
                None => self.p.image.u64(a).unwrap_or(0),
            };
            if v != 0 {
                out.push(((a - base) as u32, v));
            }
        });
        out
    }

    fn size(&self, obj: u32) -> u64 {
        self.heap.size(obj)
    }

    fn link(&self, src: u32, offset: u32) -> Option<String> {
        Inference::link(self, src, u64::from(offset))
    }

    fn addr(&self, obj: u32) -> u64 {
        self.heap.addr(obj)
    }

    fn machinery(&self, obj: u32) -> bool {
        let Some(f) = self.typed_fact(obj) else { return false };
        let table = self.machinery.get_or_init(|| {
            let is = |name: &str| {
                let name = name.trim_start_matches("[]").trim_start_matches("noalg.");
                ["map.bucket[", "map.group[", "map.table[", "map.dir[", "map.extra["].iter().any(|m| name.starts_with(m))
            };
            (0..=self.types.len() as TypeId)
                .map(|t| {
                    let info = self.types.info(t);
                    u8::from(is(&info.name)) | u8::from(is(&info.array_name)) << 1
                })
                .collect()
        });
        table.get(f.ty as usize).is_some_and(|&bits| bits >> u8::from(f.array) & 1 != 0)
    }

    fn link_key(&self, src: u32, offset: u32) -> Option<u64> {
        // A field's name depends on the type and the offset from the
        // fact's start alone, and so does an index into an array of
        // values (`[3].Name`); a map slot does not (a small map's key is
        // read from the object).
        let f = self.fact(src)?;
        let info = self.types.info(f.ty);
        if info.map_slots || f.ty >= 1 << 31 {
            return None;
        }
        let rel = u64::from(offset).checked_sub(f.off).filter(|&r| f.array || r < info.size)?;
        Some(u64::from(f.ty) << 33 | u64::from(f.array) << 32 | rel)
    }

    fn link_index(&self, key: u64) -> Option<(u64, u64)> {
        // An index into an array of values: `[i]`, then the path within
        // the element (see `link`).
        let (ty, array, rel) = ((key >> 33) as TypeId, key >> 32 & 1, key & u64::from(u32::MAX));
        let info = self.types.info(ty);
        if array == 0 || info.size == 0 || info.map_slots {
            return None;
        }
        Some((rel / info.size, key - rel + rel % info.size))
    }

    fn prefetch(&self, obj: u32) {
        self.heap.prefetch_addr(obj);
        self.heap.prefetch_size(obj);
        prefetch(self.state.word(obj));
    }

    fn object_key(&self, obj: u32) -> u64 {
        match self.typed_fact(obj) {
            Some(f) => u64::from(f.ty) << 1 | u64::from(f.array),
            None => 1 << 63 | self.heap.size(obj),
        }
    }
}

/// `$key` / `$val` for a path inside a map bucket or group
/// (`.keys[3]`, `.elems[3]`, `.slots[3].key`, `.slots[3].elem`), keeping
/// what follows (`$val.Name`), and the slot index.
fn map_slot(path: &str) -> (String, Option<u64>) {
    // Splits `[i]rest` into i and rest.
    let index = |s: &str| -> (Option<u64>, String) {
        match s.strip_prefix('[').and_then(|s| s.split_once(']')) {
            Some((i, r)) => (i.parse().ok(), r.to_string()),
            None => (None, s.to_string()),
        }
    };
    if let Some(r) = path.strip_prefix(".keys") {
        let (i, r) = index(r);
        return (format!("$key{r}"), i);
    }
    if let Some(r) = path.strip_prefix(".elems") {
        let (i, r) = index(r);
        return (format!("$val{r}"), i);
    }
    if let Some(r) = path.strip_prefix(".slots") {
        let (i, r) = index(r);
        if let Some(k) = r.strip_prefix(".key") {
            return (format!("$key{k}"), i);
        }
        if let Some(v) = r.strip_prefix(".elem") {
            return (format!("$val{v}"), i);
        }
    }
    (path.to_string(), None)
}

/// A string map key as a link (`"id"`): at most [`SHORT_KEY`] printable
/// ASCII bytes, no quote or backslash; else None.
fn string_key_text(bytes: &[u8]) -> Option<String> {
    let ok = bytes.len() as u64 <= SHORT_KEY && bytes.iter().all(|&b| (0x20..0x7f).contains(&b) && b != b'"' && b != b'\\');
    ok.then(|| format!("\"{}\"", String::from_utf8_lossy(bytes)))
}

/// An integer map key (little-endian, 1 to 8 bytes) in decimal.
fn int_key_text(raw: &[u8], signed: bool) -> Option<String> {
    if raw.is_empty() || raw.len() > 8 {
        return None;
    }
    let mut w = [0u8; 8];
    w[..raw.len()].copy_from_slice(raw);
    let v = u64::from_le_bytes(w);
    let bits = 8 * raw.len() as u32;
    Some(if signed && bits < 64 && v >> (bits - 1) & 1 != 0 {
        ((v | !0u64 << bits) as i64).to_string()
    } else if signed {
        (v as i64).to_string()
    } else {
        v.to_string()
    })
}

/// What an object is named by: its fact's type and whether it is an array.
fn name_key(f: Fact) -> u32 {
    f.ty | if f.array { NAME_ARRAY } else { 0 }
}

/// The initial states: [`HEADER`], [`NOSCAN`], [`TINY`] and
/// [`LARGE`] of every object, from its span, and no fact.
fn object_flags(p: &Process, heap: &Heap) -> States {
    let l = &p.layout;
    let flags = |s: &Span| {
        let mut f = 0;
        if s.noscan() {
            f |= NOSCAN;
            if s.elemsize == 16 {
                f |= TINY;
            }
        } else if l.pointer_maps == PointerMaps::AllocHeaders && s.sizeclass() != 0 && s.elemsize > l.malloc_header_min {
            f |= HEADER;
        }
        if s.sizeclass() == 0 {
            f |= LARGE;
        }
        f
    };
    // Each span's objects are consecutive in the object table: its part
    // of the state is filled in parallel with the others'.
    let mut state = vec![0u32; heap.len()];
    let mut jobs = Vec::new();
    let (mut rest, mut at) = (&mut state[..], 0u32);
    for (s, objs) in heap.span_objects() {
        if objs.start != at {
            continue;
        }
        let (mine, r) = rest.split_at_mut(objs.len());
        (rest, at) = (r, objs.end);
        jobs.push((mine, flags(s)));
    }
    jobs.into_par_iter().for_each(|(s, f)| s.fill(States::flag_word(f)));
    States::new(state)
}

/// Lists in `units` the work units of a wide level's next batch: the
/// objects of `level` cut into units of at most [`BLOCK_EDGES`] edges,
/// until they hold [`BATCH_EDGES`] edges or more; an object cut there is
/// left in `carry` for the next batch.
fn next_batch(edges: &Edges, level: &mut impl Iterator<Item = u32>, carry: &mut Option<Unit>, units: &mut Vec<Unit>) {
    let mut pending = 0;
    loop {
        let (o, mut a, b) = match carry.take() {
            Some(c) => c,
            None => match level.next() {
                Some(o) => {
                    let (a, b) = edges.range(o);
                    (o, a, b)
                }
                None => return,
            },
        };
        while a < b {
            let e = (a + BLOCK_EDGES).min(b);
            units.push((o, a, e));
            pending += e - a;
            a = e;
            if pending >= BATCH_EDGES {
                if a < b {
                    *carry = Some((o, a, b));
                }
                return;
            }
        }
    }
}

/// Where the data of an object with `flags` starts in its slot: after the
/// 8-byte malloc header, if it has one.
fn data_offset(flags: u8) -> u64 {
    if flags & HEADER != 0 {
        8
    } else {
        0
    }
}

/// How a typing fits its object ([`fit`]).
struct Fit {
    /// Where the (first) value starts: an array's first element in the
    /// object's data.
    off: u64,
    /// Bytes covered.
    covered: u64,
    /// It starts where the object's data starts.
    at_start: bool,
    /// It fills the object, but for size-class rounding.
    fills: bool,
}

/// How typing object `obj` (with `flags`) as `ty` at `off` fits it; None
/// if that typing cannot be true.
fn fit(types: &TypeTable, heap: &Heap, obj: u32, flags: u8, ty: TypeId, off: u64, array: bool) -> Option<Fit> {
    let info = types.info(ty);
    if let Some(pointers) = info.pointers {
        if pointers == (flags & NOSCAN != 0) {
            return None;
        }
    }
    let slot = heap.size(obj);
    let start = data_offset(flags);
    let size = info.size;
    if size == 0 || off >= slot || off > u64::from(u32::MAX) {
        return None;
    }
    let (off, covered) = if array {
        let off = if off >= start && (off - start) % size == 0 { start } else { off };
        let n = (slot - off) / size;
        if n == 0 {
            return None;
        }
        (off, n * size)
    } else {
        if size > slot - off {
            return None;
        }
        (off, size)
    };
    let at_start = off == start || flags & TINY != 0;
    // Size classes round up by at most 12.5% or 16 bytes; large
    // objects by less than a page.
    let room = slot - start;
    let fills = at_start && covered <= room && room - covered <= (covered / 8 + 16).max(if flags & LARGE != 0 { 8191 } else { 0 });
    Some(Fit { off, covered, at_start, fills })
}

/// The score of typing object `obj` (with `flags`) as `f`; None if that
/// typing cannot be true.
fn score(types: &TypeTable, heap: &Heap, obj: u32, flags: u8, f: Fact) -> Option<Score> {
    let Fit { covered, at_start, fills, .. } = fit(types, heap, obj, flags, f.ty, f.off, f.array)?;
    let info = types.info(f.ty);
    Some((at_start, fills, !f.array, covered, info.size, info.key.structural(), Reverse(info.key)))
}

/// Sets object `obj`'s fact to `new` if `new` is better than its fact (see
/// the module's doc); true if it did.
fn improve(types: &TypeTable, heap: &Heap, fixed: &[u64], st: &mut StatesPart, obj: u32, new: Fact) -> bool {
    if let Some(cur) = st.get(obj) {
        // The commonest proposal: what the object already is.
        if cur == new {
            return false;
        }
        let flags = st.flags(obj);
        let Some(score_new) = score(types, heap, obj, flags, new) else { return false };
        match score(types, heap, obj, flags, cur) {
            Some(old) if old >= score_new => return false,
            // Only a modeled structure that fills the object replaces a
            // recorded type.
            Some(old) if get_bit(fixed, obj) && (!score_new.1 || old.5) => return false,
            _ => {}
        }
    }
    st.set(obj, new);
    true
}

/// Long names with anonymous structs shortened: each outermost
/// `struct { A int; B string }` becomes `struct{…2 fields}`.
pub fn shorten(name: &str) -> Cow<'_, str> {
    if name.len() <= LONG_NAME || !name.contains("struct {") {
        return Cow::Borrowed(name);
    }
    let mut out = String::with_capacity(LONG_NAME);
    let mut rest = name;
    while let Some(i) = rest.find("struct {") {
        out.push_str(&rest[..i]);
        let body = &rest[i + "struct {".len()..];
        let (mut depth, mut fields, mut end) = (1usize, 1usize, None);
        for (j, c) in body.char_indices() {
            match c {
                '{' | '[' | '(' => depth += 1,
                '}' | ']' | ')' => {
                    depth -= 1;
                    if depth == 0 {
                        end = Some(j);
                        break;
                    }
                }
                ';' if depth == 1 => fields += 1,
                _ => {}
            }
        }
        let Some(end) = end else {
            out.push_str(&rest[i..]);
            return Cow::Owned(out);
        };
        if body[..end].trim().is_empty() {
            fields = 0;
        }
        out.push_str(&format!("struct{{…{fields} field{}}}", if fields == 1 { "" } else { "s" }));
        rest = &body[end + 1..];
    }
    out.push_str(rest);
    Cow::Owned(out)
}

/// The indices of the set bits, ascending.
fn bits(bits: &[u64]) -> impl Iterator<Item = u32> + '_ {
    bits.iter().enumerate().flat_map(|(w, &word)| {
        let mut b = word;
        std::iter::from_fn(move || {
            (b != 0).then(|| {
                let i = (w * 64) as u32 + b.trailing_zeros();
                b &= b - 1;
                i
            })
        })
    })
}

fn get_bit(bits: &[u64], i: u32) -> bool {
    bits[(i / 64) as usize] >> (i % 64) & 1 != 0
}

fn set_bit(bits: &mut [u64], i: u32) {
    bits[(i / 64) as usize] |= 1 << (i % 64);
}

fn clear_bit(bits: &mut [u64], i: u32) {
    bits[(i / 64) as usize] &= !(1 << (i % 64));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn anonymous_structs_shorten() {
        assert_eq!(shorten("main.Entry"), "main.Entry");
        let long = "struct { A *int; B string; C []uint8; D map[string]struct { X int; Y int } }";
        assert_eq!(shorten(long), "struct{…4 fields}");
        let nested = "[]struct { Name string; Payload []uint8; Next *main.Entry; Extra int64 }";
        assert_eq!(shorten(nested), "[]struct{…4 fields}");
    }

    #[test]
    fn map_keys_as_links() {
        assert_eq!(string_key_text(b"id").as_deref(), Some("\"id\""));
        assert_eq!(string_key_text(b"").as_deref(), Some("\"\""));
        assert_eq!(string_key_text(b"exactly-16-bytes").as_deref(), Some("\"exactly-16-bytes\""));
        assert_eq!(string_key_text(b"seventeen-bytes!!"), None);
        assert_eq!(string_key_text(b"a\"b"), None);
        assert_eq!(string_key_text(b"tab\there"), None);
        assert_eq!(string_key_text("é".as_bytes()), None);
        assert_eq!(int_key_text(&7u64.to_le_bytes(), true).as_deref(), Some("7"));
        assert_eq!(int_key_text(&(-3i64).to_le_bytes(), true).as_deref(), Some("-3"));
        assert_eq!(int_key_text(&(-3i16).to_le_bytes(), true).as_deref(), Some("-3"));
        assert_eq!(int_key_text(&[0xff], false).as_deref(), Some("255"));
        assert_eq!(int_key_text(&[0xff], true).as_deref(), Some("-1"));
        assert_eq!(int_key_text(&u64::MAX.to_le_bytes(), false).as_deref(), Some("18446744073709551615"));
        assert_eq!(int_key_text(&[], true), None);
    }

    #[test]
    fn map_slots_name_keys_and_values() {
        assert_eq!(map_slot(".keys[3]"), ("$key".into(), Some(3)));
        assert_eq!(map_slot(".elems[7]"), ("$val".into(), Some(7)));
        assert_eq!(map_slot(".slots[2].key"), ("$key".into(), Some(2)));
        assert_eq!(map_slot(".slots[2].elem.Name"), ("$val.Name".into(), Some(2)));
        assert_eq!(map_slot(".overflow"), (".overflow".into(), None));
    }
}
