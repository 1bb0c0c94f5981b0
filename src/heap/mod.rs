//! Layer 4: the heap as data — a dense, address-sorted object table (the
//! allocated slots of every in-use span, listed by one parallel pass over
//! the spans) and, in [`Edges`], the pointers between the objects.

mod addrs;
mod compact;
mod counts;
mod edges;
mod offsets;
mod pages;
mod prefetch;

use rayon::prelude::*;

use self::addrs::Addrs;
use self::pages::PageTable;

use crate::image::Memory;
use crate::runtime::{read_spans, Process, Span, SpanAlloc, Spans};

/// A bound on the objects of one span (the runtime's MaxObjsPerSpan is
/// 1024): what [`SpanObjects`] can count in 16 bits.
const MAX_SPAN_OBJECTS: u64 = u16::MAX as u64;

pub use self::compact::{CompactEdges, RESTART};
pub use self::counts::Counts;
pub use self::edges::{object_pointers, Edges};
pub use self::prefetch::{prefault, prefetch};

/// [`Heap::sizes`]' mark of an object whose size has no code (more
/// distinct slot sizes than codes): kept in `big_sizes`.
const BIG_SIZE: u8 = u8::MAX;

/// Why the heap could not be walked.
pub type Error = crate::runtime::Error;

/// The sizes that get a code: the 255 of the most objects (the small size
/// classes come first; large objects have sizes of their own); and each
/// span's code, [`BIG_SIZE`] for the others.
fn size_codes(index: &[SpanObjects]) -> (Vec<u64>, Vec<u8>) {
    let mut objects = std::collections::HashMap::new();
    for so in index {
        *objects.entry(so.size).or_insert(0u64) += u64::from(so.count);
    }
    let mut by_count: Vec<(u64, u64)> = objects.into_iter().collect();
    by_count.sort_unstable_by_key(|&(size, n)| (std::cmp::Reverse(n), size));
    let sizes: Vec<u64> = by_count.into_iter().map(|(size, _)| size).take(usize::from(BIG_SIZE)).collect();
    let code_of: std::collections::HashMap<u64, u8> = sizes.iter().enumerate().map(|(c, &z)| (z, c as u8)).collect();
    let codes = index.iter().map(|so| code_of.get(&so.size).copied().unwrap_or(BIG_SIZE)).collect();
    (sizes, codes)
}

/// Where each span's objects sit in the object table: what
/// [`Heap::find`] reads, 32 bytes a span (so an entry never straddles two
/// cache lines; the span itself is kept apart).
#[derive(Clone, Copy, Debug)]
struct SpanObjects {
    start: u64,
    /// Slot size.
    size: u64,
    first: u32,
    /// `⌈2³² / size⌉`: slot = offset × div_mul >> 32, as the runtime
    /// divides (exact for offsets within small-object spans); 0 for spans
    /// where that does not hold.
    div_mul: u32,
    /// A span with free slots: where its allocation words start in
    /// `alloc_words` (NO_RANK for a full span).
    rank: u32,
    /// Objects in the span (at most [`MAX_SPAN_OBJECTS`])…
    count: u16,
    /// …and slots.
    nelems: u16,
}

impl SpanObjects {
    /// The span's objects in the object table.
    fn objects(&self) -> std::ops::Range<u32> {
        self.first..self.first + u32::from(self.count)
    }
}

/// [`SpanObjects::rank`] of a full span.
const NO_RANK: u32 = u32::MAX;

/// The heap: objects sorted by address and the pointers between them.
pub struct Heap {
    /// Object start addresses, ascending ([`Heap::addr`]).
    addrs: Addrs,
    /// Slot size of each object (size-class rounding included) as a code
    /// into `size_codes` ([`Heap::size`]): a heap has few distinct sizes
    /// (the size classes, and large objects in whole pages), and the
    /// sizes of the most objects have codes.
    sizes: Vec<u8>,
    /// The size of each code.
    size_codes: Vec<u64>,
    /// Objects marked [`BIG_SIZE`]: (object, size), by object.
    big_sizes: Vec<(u32, u64)>,
    /// Heap arenas: (base address, heapArena metadata address), by base.
    pub arena_list: Vec<(u64, u64)>,
    /// Number of heap arenas.
    pub arenas: usize,
    /// In-use spans.
    pub spans: usize,
    /// Problems met and skipped.
    pub warnings: Vec<String>,
    index: Vec<SpanObjects>,
    /// Spans with free slots: their allocation bits, 64 slots a word…
    alloc_words: Vec<u64>,
    /// …and the span's objects before each word.
    alloc_prefix: Vec<u32>,
    /// The span of each `index` entry (without its allocation state,
    /// which only the listing above reads).
    span_info: Vec<Span>,
    /// For each heap page, the `index` entry of the span covering it.
    pages: PageTable,
}

impl Heap {
    /// Walks the heap of `p`.
    pub fn build(p: &Process) -> Result<Heap, Error> {
        let Spans { arenas, spans, alloc, bad_spans, bad_bytes } = read_spans(p)?;
        let mut warnings = Vec::new();
        if bad_spans > 0 {
            warnings.push(format!(
                "{bad_spans} spans had unreadable or impossible fields and were skipped: {bad_bytes} bytes of heap not walked"
            ));
        }
        let page = p.layout.page_size;
        // Spans whose objects cannot be listed: how many, their bytes, the
        // first one's problem.
        let (mut skipped, mut skipped_bytes, mut first_problem) = (0u64, 0u64, None);

        // Pass 1: allocated slots per span, counted, then written in place
        // (each span its own part of the tables, in parallel).
        let counts: Vec<Result<usize, String>> = spans.par_iter().zip(&alloc).map(|(s, a)| allocated_count(p, s, a)).collect();
        let mut index = Vec::with_capacity(spans.len());
        let mut span_info = Vec::with_capacity(spans.len());
        let mut span_alloc = Vec::with_capacity(spans.len());
        let mut total = 0usize;
        for ((s, a), n) in spans.iter().zip(&alloc).zip(counts) {
            let n = match n {
                Ok(n) => n,
                Err(e) => {
                    skipped += 1;
                    skipped_bytes = skipped_bytes.saturating_add(s.npages.saturating_mul(page));
                    first_problem.get_or_insert(e);
                    continue;
                }
            };
            let first = u32::try_from(total).ok().filter(|f| f.checked_add(n as u32).is_some());
            // Both at most MAX_SPAN_OBJECTS (alloc_bits checked).
            let (n16, nelems) = (n as u16, s.nelems as u16);
            let first = first.ok_or_else(|| Error::Corrupt("more than 4G objects".into()))?;
            let div_mul = if s.elemsize > 0 && s.elemsize <= u64::from(u32::MAX) && s.end(page) - s.start <= 1 << 20 {
                (u64::from(u32::MAX) / s.elemsize + 1) as u32
            } else {
                0
            };
            index.push(SpanObjects {
                start: s.start,
                size: s.elemsize,
                first,
                count: n16,
                div_mul,
                nelems,
                rank: NO_RANK,
            });
            span_info.push(*s);
            span_alloc.push(*a);
            total += n;
        }
        if let Some(e) = first_problem {
            let more = if skipped > 1 { format!(" and {} more spans ({skipped_bytes} bytes in all) skipped", skipped - 1) } else { format!(" ({skipped_bytes} bytes)") };
            warnings.push(format!("{e}{more}"));
        }
        let base = index.first().map_or(0, |so| so.start);
        let mut low = vec![0u32; total];
        let mut sizes = vec![0u8; total];
        let mut big_sizes = Vec::new();
        let (size_codes, codes) = size_codes(&index);
        {
            let mut jobs = Vec::with_capacity(index.len());
            let (mut rest_a, mut rest_s) = (&mut low[..], &mut sizes[..]);
            for (((so, span), sa), &code) in index.iter().zip(&span_info).zip(&span_alloc).zip(&codes) {
                let (a, ra) = rest_a.split_at_mut(so.count as usize);
                let (z, rs) = rest_s.split_at_mut(so.count as usize);
                (rest_a, rest_s) = (ra, rs);
                jobs.push((span, sa, a, z, code));
            }
            jobs.into_par_iter().for_each(|(span, sa, a, z, code)| {
                if let Ok(objs) = allocated(p, span, sa) {
                    for (d, o) in a.iter_mut().zip(objs) {
                        *d = Addrs::low_bits(base, o);
                    }
                }
                z.fill(code);
            });
        }
        let addrs = Addrs::new(base, low, index.iter().map(|so| (so.start, so.first, u32::from(so.count))));
        let (alloc_words, alloc_prefix) = rank_tables(&addrs, &mut index);
        for (so, _) in index.iter().zip(&codes).filter(|&(_, &c)| c == BIG_SIZE) {
            big_sizes.extend(so.objects().map(|k| (k, so.size)));
        }

        let pages = PageTable::new(&arenas, &span_info, page, p.layout.arena_bytes);
        Ok(Heap {
            addrs,
            sizes,
            size_codes,
            big_sizes,
            arenas: arenas.len(),
            arena_list: arenas,
            spans: index.len(),
            warnings,
            alloc_words,
            alloc_prefix,
            pages,
            index,
            span_info,
        })
    }

    /// Number of objects.
    pub fn len(&self) -> usize {
        self.addrs.len()
    }

    /// Whether the heap has no objects.
    pub fn is_empty(&self) -> bool {
        self.addrs.len() == 0
    }

    /// The start address of object `i`.
    #[inline]
    pub fn addr(&self, i: u32) -> u64 {
        self.addrs.get(i)
    }

    /// Prefetches what [`Heap::addr`] reads for object `i`.
    #[inline]
    pub fn prefetch_addr(&self, i: u32) {
        self.addrs.prefetch(i);
    }

    /// Total bytes of all objects.
    pub fn bytes(&self) -> u64 {
        self.index.iter().map(|so| u64::from(so.count) * so.size).sum()
    }

    /// Slot size of object `i` (size-class rounding included).
    #[inline]
    pub fn size(&self, i: u32) -> u64 {
        match self.sizes[i as usize] {
            BIG_SIZE => self.big_sizes.binary_search_by_key(&i, |&(o, _)| o).map_or(0, |k| self.big_sizes[k].1),
            z => self.size_codes[z as usize],
        }
    }

    /// Prefetches what [`Heap::size`] reads for object `i`.
    #[inline]
    pub fn prefetch_size(&self, i: u32) {
        prefetch(&self.sizes[i as usize]);
    }

    /// The object containing `addr`, if `addr` lies inside an allocated slot.
    #[inline]
    pub fn find(&self, addr: u64) -> Option<u32> {
        self.locate(addr).map(|(o, _)| o)
    }

    /// [`Heap::find`], and whether `addr` is the object's first byte.
    pub fn locate(&self, addr: u64) -> Option<(u32, bool)> {
        let so = &self.index[self.span_index(addr)?];
        if so.count == 0 {
            return None;
        }
        let off = addr.checked_sub(so.start)?;
        let size = so.size;
        let mut slot = (off * u64::from(so.div_mul)) >> 32;
        if so.div_mul == 0 || slot * size > off || off - slot * size >= size {
            slot = off / size;
        }
        if slot >= u64::from(so.nelems) {
            return None;
        }
        // An object starts where its slot does.
        let start = off == slot * size;
        // A full span holds an object in every slot: no search.
        if so.count == so.nelems {
            return Some((so.first + slot as u32, start));
        }
        // Else the object's rank among the allocated slots.
        if so.rank != NO_RANK {
            let w = so.rank as usize + (slot / 64) as usize;
            let (bits, bit) = (self.alloc_words[w], 1u64 << (slot % 64));
            if bits & bit == 0 {
                return None;
            }
            return Some((so.first + self.alloc_prefix[w] + (bits & (bit - 1)).count_ones(), start));
        }
        self.addrs.search(so.objects(), so.start + slot * size).map(|o| (o, start))
    }

    /// Every span that holds objects, by address.
    pub fn span_list(&self) -> impl Iterator<Item = &Span> {
        self.span_info.iter()
    }

    /// Every span that holds objects, by address, with the indices of its
    /// objects.
    pub fn span_objects(&self) -> impl Iterator<Item = (&Span, std::ops::Range<u32>)> {
        self.span_info.iter().zip(&self.index).map(|(s, so)| (s, so.objects()))
    }

    /// The span holding object `i`.
    pub fn span_of(&self, i: u32) -> &Span {
        let k = self.span_index(self.addrs.get(i)).expect("every object lies in an indexed span");
        &self.span_info[k]
    }

    /// The `index` entry of the span holding `addr`.
    fn span_index(&self, addr: u64) -> Option<usize> {
        self.pages.get(addr)
    }
}

/// The allocation bits of the spans with free slots (from their objects
/// in `addrs`), and the objects before each word of them; sets each such
/// span's `rank`.
fn rank_tables(addrs: &Addrs, index: &mut [SpanObjects]) -> (Vec<u64>, Vec<u32>) {
    let partial: Vec<(usize, Vec<u64>)> = index
        .par_iter()
        .enumerate()
        .filter(|(_, so)| so.count > 0 && so.count < so.nelems)
        .map(|(k, so)| {
            let mut words = vec![0u64; (so.nelems as usize).div_ceil(64)];
            for a in so.objects().map(|k| addrs.get(k)) {
                let slot = ((a - so.start) / so.size) as usize;
                words[slot / 64] |= 1 << (slot % 64);
            }
            (k, words)
        })
        .collect();
    let mut all = Vec::with_capacity(partial.iter().map(|(_, w)| w.len()).sum());
    let mut prefix = Vec::with_capacity(all.capacity());
    for (k, words) in partial {
        let Ok(at) = u32::try_from(all.len()) else { break };
        index[k].rank = at;
        let mut before = 0;
        for w in words {
            prefix.push(before);
            before += w.count_ones();
            all.push(w);
        }
    }
    (all, prefix)
}

/// Addresses of the allocated slots of a span.
fn allocated<'m>(p: &'m Process, s: &Span, a: &SpanAlloc) -> Result<impl Iterator<Item = u64> + 'm, String> {
    let bits = alloc_bits(p, s, a)?;
    let (start, size, free) = (s.start, s.elemsize, a.freeindex);
    Ok((0..s.nelems).filter(move |&i| i < free || bits[(i / 8) as usize] >> (i % 8) & 1 != 0).map(move |i| start + i * size))
}

/// How many slots of a span are allocated: [`allocated`]'s count, a byte
/// of the allocation bits at a time.
fn allocated_count(p: &Process, s: &Span, a: &SpanAlloc) -> Result<usize, String> {
    Ok(count_allocated(alloc_bits(p, s, a)?, s.nelems, a.freeindex) as usize)
}

/// Slots below `free` plus the set bits of `bits` from `free` to `nelems`.
fn count_allocated(bits: &[u8], nelems: u64, free: u64) -> u64 {
    let mut i = free.min(nelems);
    let mut count = i;
    while i < nelems {
        let take = (8 - i % 8).min(nelems - i);
        let byte = u32::from(bits[(i / 8) as usize] >> (i % 8));
        count += u64::from((byte & ((1 << take) - 1)).count_ones());
        i += take;
    }
    count
}

/// A span's allocation bits, after checking that its fields describe
/// objects the object table can hold.
fn alloc_bits<'m>(p: &'m Process, s: &Span, a: &SpanAlloc) -> Result<&'m [u8], String> {
    if s.nelems > MAX_SPAN_OBJECTS {
        return Err(format!("span {:#x} claims {} objects; skipped", s.start, s.nelems));
    }
    // The object table keeps addresses in 8-byte units, relative to their
    // span's start within 32 GiB (the runtime's spans are far smaller).
    if s.start % 8 != 0 || s.elemsize % 8 != 0 || s.nelems.saturating_sub(1).saturating_mul(s.elemsize) >= 1 << 35 {
        return Err(format!("span {:#x} has impossible object size {} or alignment; skipped", s.start, s.elemsize));
    }
    let bits = p
        .image
        .slice(a.alloc_bits, s.nelems.div_ceil(8) as usize)
        .map_err(|e| format!("span {:#x}: allocation bits unreadable ({e}); skipped", s.start))?;
    Ok(bits)
}

#[cfg(test)]
mod tests {
    use super::{count_allocated, size_codes, SpanObjects, BIG_SIZE, NO_RANK};

    #[test]
    fn allocated_count_matches_the_bit_by_bit_rule() {
        let bits = [0b1011_0110u8, 0xff, 0x00, 0b0100_0001, 0x80];
        for nelems in 0..=40u64 {
            for free in 0..=42u64 {
                let want = (0..nelems).filter(|&i| i < free || bits[(i / 8) as usize] >> (i % 8) & 1 != 0).count() as u64;
                assert_eq!(count_allocated(&bits, nelems, free), want, "nelems {nelems} free {free}");
            }
        }
    }

    /// 300 distinct sizes: the 255 of the most objects get codes, the
    /// rarest not; a size spread over several spans counts them all.
    #[test]
    fn codes_go_to_the_sizes_of_the_most_objects() {
        let span = |size: u64, count: u16| SpanObjects { start: 0, size, first: 0, count, div_mul: 0, nelems: count, rank: NO_RANK };
        // Size 8·k holds 1000 + k objects; size 8 comes in two spans, 700
        // objects each, so it ranks first.
        let mut index: Vec<SpanObjects> = (2..=300u64).map(|k| span(8 * k, 1000 + k as u16)).collect();
        index.push(span(8, 700));
        index.push(span(8, 700));
        let (sizes, codes) = size_codes(&index);
        assert_eq!(sizes.len(), 255);
        assert_eq!(sizes[0], 8);
        for (so, &c) in index.iter().zip(&codes) {
            let k = so.size / 8;
            if k == 1 || k > 300 - 254 {
                assert_eq!(sizes[usize::from(c)], so.size, "size {}", so.size);
            } else {
                assert_eq!(c, BIG_SIZE, "size {}", so.size);
            }
        }
    }
}
