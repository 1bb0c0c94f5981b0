//! Object start addresses, 4 bytes an object: every object starts at a
//! multiple of 8 (size classes are multiples of 8, spans start on pages),
//! so an address is kept as its distance from the lowest span in 8-byte
//! units. The low 32 bits are stored per object; as the addresses ascend,
//! the high bits (a heap spread over more than 32 GiB) are kept only where
//! they change.

/// The start addresses of the heap's objects, ascending.
pub struct Addrs {
    /// Address of unit 0 (the lowest span's start).
    base: u64,
    /// Per object, the low 32 bits of its distance from `base` in units.
    low: Vec<u32>,
    /// (first object, high bits) wherever the high bits change, by object;
    /// none for a heap within 32 GiB of `base`.
    steps: Vec<(u32, u32)>,
}

/// Bytes of one unit.
const UNIT: u32 = 3;

impl Addrs {
    /// The stored low bits of address `addr` (a multiple of 8, at least
    /// `base`).
    #[inline]
    pub fn low_bits(base: u64, addr: u64) -> u32 {
        ((addr - base) >> UNIT) as u32
    }

    /// The table of the low bits `low` (from [`Addrs::low_bits`]), whose
    /// objects lie in `spans`: (span start, first object, objects), by
    /// address, each span's objects within 32 GiB of its start.
    pub fn new(base: u64, low: Vec<u32>, spans: impl Iterator<Item = (u64, u32, u32)>) -> Addrs {
        let mut steps = Vec::new();
        let mut high = 0u32;
        for (start, first, count) in spans.filter(|s| s.2 > 0) {
            let start = (start - base) >> UNIT;
            let unit = |k: u32| start + u64::from(low[k as usize].wrapping_sub(start as u32));
            // The high bits change at a span's first object, or inside a
            // span that crosses a 32 GiB line (rare).
            let (a, b) = ((unit(first) >> 32) as u32, (unit(first + count - 1) >> 32) as u32);
            if a == high && b == high {
                continue;
            }
            for k in first..first + count {
                let h = (unit(k) >> 32) as u32;
                if h != high {
                    steps.push((k, h));
                    high = h;
                }
            }
        }
        Addrs { base, low, steps }
    }

    /// Number of objects.
    pub fn len(&self) -> usize {
        self.low.len()
    }

    /// The address of object `i`.
    #[inline]
    pub fn get(&self, i: u32) -> u64 {
        let high = if self.steps.is_empty() {
            0
        } else {
            match self.steps.partition_point(|&(k, _)| k <= i) {
                0 => 0,
                s => self.steps[s - 1].1,
            }
        };
        self.base + ((u64::from(high) << 32 | u64::from(self.low[i as usize])) << UNIT)
    }

    /// What [`Addrs::get`] reads for object `i`, to prefetch.
    #[inline]
    pub fn slot(&self, i: u32) -> &u32 {
        &self.low[i as usize]
    }

    /// The object among `range` starting at `addr`.
    pub fn search(&self, range: std::ops::Range<u32>, addr: u64) -> Option<u32> {
        let (mut lo, mut hi) = (range.start, range.end);
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            match self.get(mid).cmp(&addr) {
                std::cmp::Ordering::Less => lo = mid + 1,
                std::cmp::Ordering::Greater => hi = mid,
                std::cmp::Ordering::Equal => return Some(mid),
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_beyond_32_gib_keep_their_high_bits() {
        let base = 0xc0_0000_0000u64;
        // Three spans: at the base, one 40 GiB up, and one crossing the
        // 64 GiB line (objects of 8 KiB on both sides of it).
        let line = base + (64 << 30);
        let spans = [
            (base, vec![base, base + 16, base + 64]),
            (base + (40 << 30), vec![base + (40 << 30)]),
            (line - 16384, vec![line - 16384, line - 8192, line, line + 8192]),
        ];
        let mut low = Vec::new();
        let mut list = Vec::new();
        let mut all = Vec::new();
        for (start, objs) in &spans {
            list.push((*start, low.len() as u32, objs.len() as u32));
            low.extend(objs.iter().map(|&a| Addrs::low_bits(base, a)));
            all.extend(objs.iter().copied());
        }
        let addrs = Addrs::new(base, low, list.into_iter());
        assert_eq!(addrs.len(), all.len());
        for (i, &a) in all.iter().enumerate() {
            assert_eq!(addrs.get(i as u32), a, "object {i}");
            assert_eq!(addrs.search(0..all.len() as u32, a), Some(i as u32));
        }
        assert_eq!(addrs.search(0..all.len() as u32, base + 8), None);
    }
}
