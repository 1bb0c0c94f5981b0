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
    /// at a time: each group's spans in parallel, then appended to the
    /// tables in span order (which bounds what is held besides them).
    pub fn build(p: &Process, heap: &Heap) -> Edges {
        struct Out {
            counts: Vec<u32>,
            edges: Vec<(u32, u32)>,
            slots: u64,
            error: Option<String>,
        }
        let mut low = Vec::new();
        prefault(&mut low, heap.len() + 1);
        low.push(0u32);
        let mut carries = Vec::new();
        let (mut targets, mut offsets) = (Vec::<u32>::new(), Vec::<u32>::new());
        let (mut acc, mut pointer_slots, mut errors) = (0u64, 0u64, 0u64);
        let mut first_error = None;
        let mut next = 0;
        while next < heap.index.len() {
            let mut end = next;
            let mut objects = 0u64;
            while end < heap.index.len() && objects < GROUP_OBJECTS {
                objects += u64::from(heap.index[end].count);
                end += 1;
            }
            let results: Vec<Out> = heap.index[next..end]
                .par_iter()
                .zip(&heap.span_info[next..end])
                .map_init(
                    || PointerFinder::new(p, &heap.arena_list),
                    |finder, (so, span)| {
                        let mut out = Out { counts: Vec::with_capacity(so.count as usize), edges: Vec::new(), slots: 0, error: None };
                        for i in so.first..so.first + so.count {
                            let before = out.edges.len();
                            let (slots, error) = object_pointers(p, finder, heap, span, i, &mut out.edges);
                            out.slots += slots;
                            if let Some(e) = error {
                                out.error.get_or_insert(e);
                            }
                            out.counts.push((out.edges.len() - before) as u32);
                        }
                        out
                    },
                )
                .collect();
            for o in results {
                pointer_slots += o.slots;
                for &c in &o.counts {
                    let next = acc + u64::from(c);
                    for _ in (acc >> 32)..(next >> 32) {
                        carries.push(low.len() as u32);
                    }
                    acc = next;
                    low.push(acc as u32);
                }
                offsets.extend(o.edges.iter().map(|&(off, _)| off));
                targets.extend(o.edges.iter().map(|&(_, t)| t));
                if let Some(e) = o.error {
                    errors += 1;
                    first_error.get_or_insert(e);
                }
            }
            next = end;
        }
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
