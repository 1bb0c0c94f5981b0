//! Layer 4: the pointers between heap objects. Every pointer word of every
//! object that lands inside an allocated object is resolved to that object
//! (an interior pointer to the object's start) and kept in a CSR table.
//!
//! The table is the largest part of the heap's data and only type
//! inference and the tree's breadth-first search read it, so it lives
//! apart from the object table and is dropped after them; the pointer
//! behind a printed link is found again by [`object_pointers`].

use std::sync::atomic::{AtomicU64, Ordering};

use rayon::prelude::*;

use super::offsets::Offsets;
use super::{Counts, Heap};
use crate::image::Memory;
use crate::runtime::{PointerFinder, Process, Span};

/// Objects whose pointers are resolved in one parallel step: two groups'
/// edges are held besides the tables (one being read, one appended), about
/// 14 bytes an object, so a group is kept to a few MiB.
const GROUP_OBJECTS: u64 = 1 << 18;
/// Spans per parallel task.
const TASK_SPANS: usize = 16;

/// The edges of a few consecutive spans' objects.
#[derive(Default)]
struct Out {
    /// Edges per object.
    counts: Vec<u32>,
    /// (offset, target, whether it points at the target's start) of each
    /// edge, by object.
    edges: Vec<(u32, u32, bool)>,
    /// Pointer words read.
    slots: u64,
    /// Spans whose pointers could not all be read, and the first reason.
    errors: u64,
    first_error: Option<String>,
}

/// The tables being built, in object order.
struct Tables {
    counts: Counts,
    targets: Vec<u32>,
    offsets: Offsets,
    pointer_slots: u64,
    errors: u64,
    first_error: Option<String>,
}

impl Tables {
    fn new(objects: usize) -> Tables {
        Tables {
            counts: Counts::with_capacity(objects),
            targets: Vec::new(),
            offsets: Offsets::default(),
            pointer_slots: 0,
            errors: 0,
            first_error: None,
        }
    }

    /// Appends the edges of the next objects.
    fn append(&mut self, outs: Vec<Out>) {
        for o in outs {
            self.pointer_slots += o.slots;
            self.errors += o.errors;
            if self.first_error.is_none() {
                self.first_error = o.first_error;
            }
            for &c in &o.counts {
                self.counts.push(u64::from(c));
            }
            for &(off, _, start) in &o.edges {
                self.offsets.push(off, start);
            }
            self.targets.extend(o.edges.iter().map(|&(_, t, _)| t));
        }
    }

    /// The finished table.
    fn finish(self) -> Edges {
        let Tables { mut counts, mut targets, mut offsets, pointer_slots, errors, first_error, .. } = self;
        counts.seal();
        targets.shrink_to_fit();
        offsets.finish();
        let mut warnings = Vec::new();
        if let Some(e) = first_error {
            warnings.push(format!("pointer maps of {errors} spans could not be read fully (first: {e})"));
        }
        Edges { counts, targets, offsets, pointer_slots, warnings }
    }
}

/// The pointers between heap objects, by source object: 1⅐ bytes an
/// object and about 5 an edge (4 once the offsets are dropped).
pub struct Edges {
    /// Each object's number of edges: its edges follow those of the
    /// objects before it.
    pub(super) counts: Counts,
    /// Target object of each edge.
    targets: Vec<u32>,
    /// Offset of each edge's pointer word within its source object;
    /// empty after [`Edges::drop_offsets`].
    offsets: Offsets,
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
        Edges::build_counted(p, heap, &AtomicU64::new(0))
    }

    /// [`Edges::build`], adding to `spans_done` the spans read, a group at
    /// a time (for a progress display).
    pub fn build_counted(p: &Process, heap: &Heap, spans_done: &AtomicU64) -> Edges {
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
                            for i in so.objects() {
                                let before = out.edges.len();
                                let (slots, e) =
                                    heap_pointers(p, finder, heap, span, i, &mut |off, t, start| out.edges.push((off, t, start)));
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
            spans_done.fetch_add((end - next) as u64, Ordering::Relaxed);
            next = end;
        }
        tables.append(pending);
        tables.finish()
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
        self.offsets = Offsets::default();
    }

    /// Prefetches what [`Edges::range`] reads for object `i`.
    #[inline]
    pub fn prefetch_range(&self, i: u32) {
        self.counts.prefetch(i as usize);
    }

    /// The indices of object `i`'s edges in [`Edges::targets`] and
    /// [`Edges::offset`].
    #[inline]
    pub fn range(&self, i: u32) -> (usize, usize) {
        self.counts.range(i as usize)
    }

    /// Target objects of edges `a..b`.
    #[inline]
    pub fn targets(&self, a: usize, b: usize) -> &[u32] {
        &self.targets[a..b]
    }

    /// Target object of edge `i`.
    #[inline]
    pub fn target(&self, i: usize) -> u32 {
        self.targets[i]
    }

    /// Byte offset of edge `i`'s pointer word within its source object
    /// (not after [`Edges::drop_offsets`]).
    #[inline]
    pub fn offset(&self, i: usize) -> u64 {
        self.offsets.get(i)
    }

    /// [`Edges::offset`], and whether edge `i`'s pointer is its target's
    /// address (points at its first byte) rather than inside it.
    #[inline]
    pub fn offset_marked(&self, i: usize) -> (u64, bool) {
        self.offsets.get_marked(i)
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
    heap_pointers(p, finder, heap, span, i, &mut |off, t, _| out.push((off, t)))
}

/// [`object_pointers`], passing each to `out`: (offset, target object,
/// whether the pointer is the target's address).
fn heap_pointers(
    p: &Process,
    finder: &mut PointerFinder,
    heap: &Heap,
    span: &Span,
    i: u32,
    out: &mut impl FnMut(u32, u32, bool),
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
        if let Some((t, start)) = heap.locate(v) {
            out((a - base) as u32, t, start);
        }
    });
    let error = match r {
        Err(e) => Some(format!("object {base:#x}: {e}")),
        Ok(()) if unreadable => Some(format!("object {base:#x}: memory not in the core")),
        Ok(()) => None,
    };
    (slots, error)
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;

    /// The table of the given targets, by object (all at offset 0).
    pub(in crate::heap) fn table(objects: &[Vec<u32>]) -> Edges {
        let mut tables = Tables::new(objects.len());
        let outs = objects
            .chunks(7)
            .map(|c| Out { counts: c.iter().map(|t| t.len() as u32).collect(), edges: c.iter().flatten().map(|&t| (0, t, true)).collect(), ..Out::default() })
            .collect();
        tables.append(outs);
        tables.finish()
    }

    /// Objects with every kind of count (none, few, exactly and far above
    /// the byte's mark) and offset (small, misaligned, beyond 512 KiB),
    /// some pointers inside their targets rather than at their start, over
    /// several blocks and appends: ranges, offsets and marks come back as
    /// given.
    #[test]
    fn ranges_and_offsets_round_trip() {
        let mut objects: Vec<Vec<(u32, u32, bool)>> = Vec::new();
        for i in 0..200u32 {
            let n = match i % 41 {
                7 => 255,
                8 => 254,
                9 => 1000,
                _ => i % 5,
            };
            let offset = |k: u32| match i % 13 {
                3 => k * 8 + 4,
                4 => (1 << 20) + k * 8,
                _ => k * 8,
            };
            objects.push((0..n).map(|k| (offset(k), i * 7 + k, (i + k) % 11 != 3)).collect());
        }
        let mut tables = Tables::new(objects.len());
        for chunk in objects.chunks(37) {
            let outs = chunk
                .chunks(5)
                .map(|c| Out {
                    counts: c.iter().map(|e| e.len() as u32).collect(),
                    edges: c.iter().flatten().copied().collect(),
                    ..Out::default()
                })
                .collect();
            tables.append(outs);
        }
        let edges = tables.finish();
        let mut next = 0;
        for (i, want) in objects.iter().enumerate() {
            let (a, b) = edges.range(i as u32);
            assert_eq!((a, b), (next, next + want.len()), "object {i}");
            next = b;
            assert_eq!(edges.targets(a, b), want.iter().map(|e| e.1).collect::<Vec<_>>().as_slice());
            for (k, e) in want.iter().enumerate() {
                assert_eq!(edges.offset_marked(a + k), (u64::from(e.0), e.2), "object {i} edge {k}");
            }
        }
        assert_eq!(edges.len(), next);
    }
}
