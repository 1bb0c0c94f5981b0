//! Address → span in constant time: for every heap page, the span that
//! covers it. Arenas are found by their offset from the lowest one (one
//! table read), or by a search over the few arenas when they are spread too
//! far apart for such a table.

use crate::runtime::Span;

/// Most arena-sized windows indexed directly (4 Mi entries covers a 48-bit
/// address space of 64 MiB arenas).
const MAX_WINDOWS: u64 = 1 << 22;

/// Marks "no span" and "no arena".
const NONE: u32 = u32::MAX;

/// Per heap page, the position of the span covering it.
pub(super) struct PageTable {
    /// Base of the lowest arena.
    lo: u64,
    arena_bytes: u64,
    page_size: u64,
    /// log2 of `arena_bytes` and `page_size` where both are powers of two
    /// (always, for the runtime's constants): shifts instead of divisions
    /// on the walk's hottest path.
    shifts: Option<(u32, u32)>,
    /// Pages per arena.
    per_arena: usize,
    /// Per arena-sized window from `lo`: its block in `spans`, or NONE.
    /// Empty when the arenas are too far apart.
    windows: Vec<u32>,
    /// Arena bases with their blocks, by base (used when `windows` is
    /// empty).
    bases: Vec<(u64, u32)>,
    /// Blocks of `per_arena` span positions, one block per arena.
    spans: Vec<u32>,
}

impl PageTable {
    /// The table for `arenas` (base, metadata) and `spans` (each entry's
    /// position is what [`PageTable::get`] returns).
    pub(super) fn new(arenas: &[(u64, u64)], spans: &[Span], page_size: u64, arena_bytes: u64) -> PageTable {
        let per_arena = (arena_bytes / page_size.max(1)) as usize;
        let mut bases: Vec<u64> = arenas.iter().map(|&(b, _)| b).collect();
        bases.sort_unstable();
        bases.dedup();
        let lo = bases.first().copied().unwrap_or(0);
        let shifts = (arena_bytes.is_power_of_two() && page_size.is_power_of_two()).then(|| (arena_bytes.trailing_zeros(), page_size.trailing_zeros()));
        let mut t = PageTable {
            lo,
            arena_bytes,
            page_size,
            shifts,
            per_arena,
            windows: Vec::new(),
            bases: bases.iter().enumerate().map(|(k, &b)| (b, k as u32)).collect(),
            spans: vec![NONE; bases.len() * per_arena],
        };
        let aligned = bases.iter().all(|b| (b - lo) % arena_bytes.max(1) == 0);
        let windows = bases.last().map_or(0, |hi| (hi - lo) / arena_bytes.max(1) + 1);
        if aligned && windows <= MAX_WINDOWS {
            t.windows = vec![NONE; windows as usize];
            for (k, b) in bases.iter().enumerate() {
                t.windows[((b - lo) / arena_bytes) as usize] = k as u32;
            }
        }
        for (k, s) in spans.iter().enumerate() {
            let mut at = s.start;
            while at < s.end(page_size) {
                let Some(e) = t.slot(at) else { break };
                t.spans[e] = k as u32;
                at += page_size;
            }
        }
        t
    }

    /// Where in `spans` the entry of `addr`'s page is.
    #[inline]
    fn slot(&self, addr: u64) -> Option<usize> {
        if let (Some((arena, page)), false) = (self.shifts, self.windows.is_empty()) {
            let w = addr.checked_sub(self.lo)? >> arena;
            let block = *self.windows.get(usize::try_from(w).ok()?)?;
            if block == NONE {
                return None;
            }
            let off = (addr - self.lo) & (self.arena_bytes - 1);
            return Some(block as usize * self.per_arena + (off >> page) as usize);
        }
        let (block, base) = if self.windows.is_empty() {
            let k = self.bases.partition_point(|&(b, _)| b <= addr).checked_sub(1)?;
            (self.bases[k].1, self.bases[k].0)
        } else {
            let w = addr.checked_sub(self.lo)? / self.arena_bytes;
            let block = *self.windows.get(usize::try_from(w).ok()?)?;
            (block, self.lo + w * self.arena_bytes)
        };
        if block == NONE {
            return None;
        }
        let off = addr - base;
        if off >= self.arena_bytes {
            return None;
        }
        Some(block as usize * self.per_arena + (off / self.page_size) as usize)
    }

    /// The position of the span covering `addr`, if any.
    #[inline]
    pub(super) fn get(&self, addr: u64) -> Option<usize> {
        let k = *self.spans.get(self.slot(addr)?)?;
        (k != NONE).then_some(k as usize)
    }
}
