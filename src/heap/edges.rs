//! Layer 4: the pointers between heap objects. Every pointer word of every
//! object that lands inside an allocated object is resolved to that object
//! (an interior pointer to the object's start) and kept in a CSR table.
//!
//! The table is the largest part of the heap's data and only type
//! inference and the tree's breadth-first search read it, so it lives
//! apart from the object table and is dropped after them; the pointer
//! behind a printed link is found again by [`object_pointers`].

use rayon::prelude::*;

use super::{prefault, prefetch, Heap};
use crate::image::Memory;
use crate::runtime::{PointerFinder, Process, Span};

/// Objects whose pointers are resolved in one parallel step.
const GROUP_OBJECTS: u64 = 1 << 20;
/// Spans per parallel task.
const TASK_SPANS: usize = 16;

/// The edges of a few consecutive spans' objects.
#[derive(Default)]
struct Out {
    /// Edges per object.
    counts: Vec<u32>,
    /// (offset, target) of each edge, by object.
    edges: Vec<(u32, u32)>,
    /// Pointer words read.
    slots: u64,
    /// Spans whose pointers could not all be read, and the first reason.
    errors: u64,
    first_error: Option<String>,
}

/// The tables being built, in object order.
struct Tables {
    low: Vec<u32>,
    carries: Vec<u32>,
    targets: Vec<u32>,
    offsets: Vec<u32>,
    /// Edges so far.
    acc: u64,
    pointer_slots: u64,
    errors: u64,
    first_error: Option<String>,
}

impl Tables {
    fn new(objects: usize) -> Tables {
        let mut low = Vec::new();
        prefault(&mut low, objects + 1);
        low.push(0u32);
        let (carries, targets, offsets) = (Vec::new(), Vec::new(), Vec::new());
        Tables { low, carries, targets, offsets, acc: 0, pointer_slots: 0, errors: 0, first_error: None }
    }

    /// Appends the edges of the next objects.
    fn append(&mut self, outs: Vec<Out>) {
        for o in outs {
            self.pointer_slots += o.slots;
            for &c in &o.counts {
                let next = self.acc + u64::from(c);
                for _ in (self.acc >> 32)..(next >> 32) {
                    self.carries.push(self.low.len() as u32);
                }
                self.acc = next;
                self.low.push(next as u32);
            }
            self.offsets.extend(o.edges.iter().map(|&(off, _)| off));
            self.targets.extend(o.edges.iter().map(|&(_, t)| t));
            self.errors += o.errors;
            if self.first_error.is_none() {
                self.first_error = o.first_error;
            }
        }
    }
}

/// The pointers between heap objects, by source object.
pub struct Edges {
    /// CSR: the edges of object i run from its start to object i+1's
    /// ([`Edges::range`]). The low 32 bits of each start…
    low: Vec<u32>,
    /// …and the objects where the high bits step up by one (a start
    /// crosses a multiple of 2³²): 4 bytes an object instead of 8.
    carries: Vec<u32>,
    /// Target object of each edge.
    pub targets: Vec<u32>,
    /// Byte offset of each edge's pointer word within its source object
    /// (empty after [`Edges::drop_offsets`]).
    pub offsets: Vec<u32>,
    /// All pointer words of all objects (nil, heap and non-heap targets).
    pub pointer_slots: u64,
    /// Problems met and skipped.
    pub warnings: Vec<String>,
}

impl Edges {
    /// Reads the pointer words of all of `heap`'s objects, a group of spans
    /// at a time: each group's spans in parallel (a task a few spans),
    /// then appended to the tables in span order, which bounds what is held
    /// besides them. Appending a group (serial) overlaps with reading the
    /// next.
    pub fn build(p: &Process, heap: &Heap) -> Edges {
        let read = |spans: std::ops::Range<usize>| -> Vec<Out> {
            heap.index[spans.clone()]
                .par_chunks(TASK_SPANS)
                .zip(heap.span_info[spans].par_chunks(TASK_SPANS))
                .map_init(
                    || PointerFinder::new(p, &heap.arena_list),
                    |finder, (sos, infos)| {
                        let mut out = Out::default();
                        for (so, span) in sos.iter().zip(infos) {
                            let mut error = None;
                            for i in so.first..so.first + so.count {
                                let before = out.edges.len();
                                let (slots, e) = object_pointers(p, finder, heap, span, i, &mut out.edges);
                                out.slots += slots;
                                error = error.or(e);
                                out.counts.push((out.edges.len() - before) as u32);
                            }
                            if let Some(e) = error {
                                out.errors += 1;
                                out.first_error.get_or_insert(e);
                            }
                        }
                        out
                    },
                )
                .collect()
        };
        let mut tables = Tables::new(heap.len());
        let mut pending: Vec<Out> = Vec::new();
        let mut next = 0;
        while next < heap.index.len() {
            let mut end = next;
            let mut objects = 0u64;
            while end < heap.index.len() && objects < GROUP_OBJECTS {
                objects += u64::from(heap.index[end].count);
                end += 1;
            }
            let done = std::mem::take(&mut pending);
            ((), pending) = rayon::join(|| tables.append(done), || read(next..end));
            next = end;
        }
        tables.append(pending);
        let Tables { low, carries, mut targets, mut offsets, pointer_slots, errors, first_error, .. } = tables;
        targets.shrink_to_fit();
        offsets.shrink_to_fit();
        let mut warnings = Vec::new();
        if let Some(e) = first_error {
            warnings.push(format!("pointer maps of {errors} spans could not be read fully (first: {e})"));
        }
        Edges { low, carries, targets, offsets, pointer_slots, warnings }
    }

    /// Number of edges.
    pub fn len(&self) -> usize {
        self.targets.len()
    }

    /// Whether there are no edges.
    pub fn is_empty(&self) -> bool {
        self.targets.is_empty()
    }

    /// Frees the edges' offsets (what type inference reads, the tree not).
    pub fn drop_offsets(&mut self) {
        self.offsets = Vec::new();
    }

    /// Prefetches what [`Edges::range`] reads for object `i`.
    #[inline]
    pub fn prefetch_range(&self, i: u32) {
        prefetch(&self.low[i as usize]);
    }

    /// The indices of object `i`'s edges in [`Edges::targets`] and
    /// [`Edges::offsets`].
    #[inline]
    pub fn range(&self, i: u32) -> (usize, usize) {
        let at = |k: usize| -> usize {
            let high = if self.carries.is_empty() { 0 } else { self.carries.partition_point(|&c| c as usize <= k) };
            ((high as u64) << 32 | u64::from(self.low[k])) as usize
        };
        (at(i as usize), at(i as usize + 1))
    }
}

/// Appends object `i`'s (in `span`) pointers into the heap to `out`:
/// (byte offset of the pointer word, target object), in offset order.
/// Returns the number of pointer words (nil and non-heap ones included)
/// and, if the object's pointer map or memory could not be read fully,
/// why.
pub fn object_pointers(
    p: &Process,
    finder: &mut PointerFinder,
    heap: &Heap,
    span: &Span,
    i: u32,
    out: &mut Vec<(u32, u32)>,
) -> (u64, Option<String>) {
    let base = heap.addr(i);
    let bytes = p.image.slice(base, span.elemsize as usize).ok();
    let mut slots = 0u64;
    let mut unreadable = false;
    let r = finder.pointers(span, base, &mut |a| {
        slots += 1;
        let v = match bytes {
            Some(b) => u64::from_le_bytes(b[(a - base) as usize..][..8].try_into().unwrap()),
            None => match p.image.u64(a) {
                Ok(v) => v,
                Err(_) => {
                    unreadable = true;
                    return;
                }
            },
        };
        if v == 0 {
            return;
        }
        if let Some(t) = heap.find(v) {
            out.push(((a - base) as u32, t));
        }
    });
    let error = match r {
        Err(e) => Some(format!("object {base:#x}: {e}")),
        Ok(()) if unreadable => Some(format!("object {base:#x}: memory not in the core")),
        Ok(()) => None,
    };
    (slots, error)
}
