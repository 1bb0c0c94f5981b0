//! The heap's spans: mheap_.allArenas → heapArena.spans → every in-use
//! mspan, read into plain values: what the walk after it reads of a span
//! ([`Span`], kept with the heap), and the allocation state only the
//! listing of its objects reads ([`SpanAlloc`], dropped after it).

use rayon::prelude::*;

use crate::image::Memory;

use super::process::Process;
use super::Error;

/// The most arenas a 64-bit Go heap can have (2^22 L2 entries); a larger
/// allArenas length is corrupt.
const MAX_ARENAS: u64 = 1 << 22;

/// One in-use span.
#[derive(Clone, Copy, Debug)]
pub struct Span {
    /// Address of the span's first byte.
    pub start: u64,
    /// Length in pages.
    pub npages: u64,
    /// Slots in the span.
    pub nelems: u64,
    /// sizeclass << 1 | noscan.
    pub spanclass: u8,
    /// Slot size.
    pub elemsize: u64,
    /// The type of a large object (1.22+), 0 if none.
    pub large_type: u64,
    /// Head of the span's specials list (finalizers, cleanups, …), 0 if none.
    pub specials: u64,
}

/// Which slots of a span are allocated.
#[derive(Clone, Copy, Debug)]
pub struct SpanAlloc {
    /// Slots below this index are allocated.
    pub freeindex: u64,
    /// Address of the allocation bitmap (bit i = slot i allocated).
    pub alloc_bits: u64,
}

impl Span {
    /// Whether the span's objects hold no pointers.
    pub fn noscan(&self) -> bool {
        self.spanclass & 1 != 0
    }

    /// The size class (0 = one large object).
    pub fn sizeclass(&self) -> u8 {
        self.spanclass >> 1
    }

    /// One past the span's last byte.
    pub fn end(&self, page_size: u64) -> u64 {
        self.start.saturating_add(self.npages.saturating_mul(page_size))
    }
}

/// The heap's arenas and in-use spans.
pub struct Spans {
    /// Arena base addresses with their heapArena metadata address.
    pub arenas: Vec<(u64, u64)>,
    /// In-use spans sorted by start address…
    pub spans: Vec<Span>,
    /// …and their allocation state, in the same order.
    pub alloc: Vec<SpanAlloc>,
    /// Spans skipped because their fields made no sense…
    pub bad_spans: u64,
    /// …and the bytes they claimed to cover, where that was readable and
    /// within the heap.
    pub bad_bytes: u64,
}

/// One arena's in-use spans, and the spans it lists that could not be read.
#[derive(Default)]
struct ArenaSpans {
    spans: Vec<(Span, SpanAlloc)>,
    bad: u64,
    bad_bytes: u64,
}

/// Reads every in-use span of the heap.
pub fn read_spans(p: &Process) -> Result<Spans, Error> {
    let l = &p.layout;
    let mem = p.image;
    let (arr, n) = p.slice_header(p.mheap.wrapping_add(l.mheap_all_arenas.off))?;
    if n > MAX_ARENAS || !mem.covers(arr, n * 8) {
        return Err(Error::Corrupt(format!("mheap_.allArenas has {n} entries at {arr:#x}, more than the core holds")));
    }
    // arenas is [1 << arenaL1Bits]*[1 << arenaL2Bits]*heapArena; L1 has one
    // entry on every 64-bit Linux target.
    let l2 = p.ptr(p.mheap.wrapping_add(l.mheap_arenas.off))?;
    let l2_len = 1u64 << l.arena_l2_bits;
    let mut arenas = Vec::with_capacity(n as usize);
    for i in 0..n {
        let idx = mem.u64(arr.wrapping_add(8 * i))?;
        if idx >= l2_len {
            return Err(Error::Corrupt(format!("arena index {idx:#x} out of range")));
        }
        let ha = p.ptr(l2.wrapping_add(8 * idx))?;
        if ha == 0 {
            continue;
        }
        let base = (idx * l.arena_bytes).wrapping_add(l.arena_base_offset);
        arenas.push((base, ha));
    }
    arenas.sort_unstable();
    let pages = l.arena_bytes / l.page_size;
    // Each arena has a heapArena of its own: span tables that overlap are
    // damage, and would let a few bytes of core stand for millions of
    // arenas (and their page tables).
    let mut by_meta: Vec<u64> = arenas.iter().map(|a| a.1).collect();
    by_meta.sort_unstable();
    if let Some(w) = by_meta.windows(2).find(|w| w[1] - w[0] < l.arena_spans.off + pages * 8) {
        return Err(Error::Corrupt(format!("the heapArena records at {:#x} and {:#x} overlap", w[0], w[1])));
    }
    let heap_bytes = (arenas.len() as u64).saturating_mul(l.arena_bytes);
    // Each arena's span table on its own thread (the mspans are scattered
    // over the core: the reads are misses), merged in arena order.
    let per_arena: Vec<Result<ArenaSpans, Error>> = arenas
        .par_iter()
        .map(|&(base, ha)| {
            let mut found = ArenaSpans::default();
            let table = mem.slice(ha.wrapping_add(l.arena_spans.off), (pages * 8) as usize)?;
            for (page, w) in table.chunks_exact(8).enumerate() {
                let s = u64::from_le_bytes(w.try_into().unwrap());
                if s == 0 {
                    continue;
                }
                let page_addr = base.wrapping_add(page as u64 * l.page_size);
                // Each span is listed on every page it covers: keep it once,
                // at its first page.
                let Ok(start) = p.read_field(s, l.span_start) else {
                    found.bad += 1;
                    continue;
                };
                if start != page_addr {
                    continue;
                }
                match read_span(p, s) {
                    Ok(Some(span_alloc)) => found.spans.push(span_alloc),
                    Ok(None) => {}
                    Err(_) => {
                        found.bad += 1;
                        let npages = p.read_field(s, l.span_npages).ok();
                        found.bad_bytes += npages.and_then(|n| n.checked_mul(l.page_size)).filter(|&b| b <= heap_bytes).unwrap_or(0);
                    }
                }
            }
            Ok(found)
        })
        .collect();
    let (mut spans, mut bad, mut bad_bytes) = (Vec::new(), 0, 0u64);
    for found in per_arena {
        let found = found?;
        spans.extend(found.spans);
        bad += found.bad;
        bad_bytes += found.bad_bytes;
    }
    spans.sort_unstable_by_key(|s| s.0.start);
    let (spans, alloc) = spans.into_iter().unzip();
    Ok(Spans { arenas, spans, alloc, bad_spans: bad, bad_bytes })
}

/// Reads one mspan; None if it is not in use.
fn read_span(p: &Process, s: u64) -> Result<Option<(Span, SpanAlloc)>, Error> {
    let l = &p.layout;
    if p.read_field(s, l.span_state)? != l.span_in_use {
        return Ok(None);
    }
    let span = Span {
        start: p.read_field(s, l.span_start)?,
        npages: p.read_field(s, l.span_npages)?,
        nelems: p.read_field(s, l.span_nelems)?,
        spanclass: p.read_field(s, l.span_class)? as u8,
        elemsize: p.read_field(s, l.span_elemsize)?,
        large_type: match l.span_large_type {
            Some(f) => p.read_field(s, f)?,
            None => 0,
        },
        specials: p.read_field(s, l.span_specials)?,
    };
    let alloc = SpanAlloc { freeindex: p.read_field(s, l.span_freeindex)?, alloc_bits: p.read_field(s, l.span_alloc_bits)? };
    let bytes = span.npages.checked_mul(l.page_size);
    let sane = span.npages > 0
        && span.elemsize > 0
        && bytes.is_some_and(|b| span.start.checked_add(b).is_some() && span.nelems.checked_mul(span.elemsize).is_some_and(|u| u <= b))
        && alloc.freeindex <= span.nelems;
    if !sane {
        return Err(Error::Corrupt(format!("span at {:#x} has impossible fields", span.start)));
    }
    Ok(Some((span, alloc)))
}
