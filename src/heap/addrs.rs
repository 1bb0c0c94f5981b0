//! Object start addresses, about 2⅛ bytes an object: every object starts
//! at a multiple of 8 (size classes are multiples of 8, spans start on
//! pages), so an address is a count of 8-byte units from the lowest span.
//! The objects come in blocks of [`BLOCK`]: each block keeps its first
//! object's units in full, and each object its distance in 16 bits from
//! that, or from the block's last object before it that was too far for
//! that and so starts again (an anchor: after a gap of 512 KiB or more,
//! which only large objects and gaps between spans make), kept apart.

use rayon::prelude::*;

/// Objects per block.
const BLOCK: usize = 64;
/// [`Addrs::blocks`]' mark of a block with anchors after its first object.
const ANCHORED: u64 = 1 << 63;

/// The start addresses of the heap's objects, ascending.
pub struct Addrs {
    /// Address of unit 0 (the lowest span's start).
    base: u64,
    /// Per block, its first object's distance from `base` in units, with
    /// [`ANCHORED`] set if the block has anchors in `anchors`.
    blocks: Vec<u64>,
    /// Per object, its distance in units from the last anchor at or before
    /// it in its block (the block's first object if none).
    near: Vec<u16>,
    /// The anchors other than blocks' first objects, with their distances
    /// from `base` in units, by object.
    anchors: Vec<(u32, u64)>,
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
        // The high bits of the units (a heap spread over more than 32 GiB)
        // wherever they change, by object: as the addresses ascend, they
        // change at a span's first object, or inside a span that crosses
        // a 32 GiB line (rare).
        let mut steps: Vec<(u32, u32)> = Vec::new();
        let mut high = 0u32;
        for (start, first, count) in spans.filter(|s| s.2 > 0) {
            let start = (start - base) >> UNIT;
            let unit = |k: u32| start + u64::from(low[k as usize].wrapping_sub(start as u32));
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
        let unit = |k: usize| {
            let high = match steps.partition_point(|&(s, _)| s as usize <= k) {
                0 => 0,
                s => steps[s - 1].1,
            };
            u64::from(high) << 32 | u64::from(low[k])
        };
        let blocks: Vec<u64> = (0..low.len().div_ceil(BLOCK)).into_par_iter().map(|b| unit(b * BLOCK)).collect();
        let mut near = vec![0u16; low.len()];
        let anchors: Vec<Vec<(u32, u64)>> = near
            .par_chunks_mut(BLOCK)
            .zip(&blocks)
            .enumerate()
            .map(|(b, (near, &first))| {
                let mut anchors = Vec::new();
                let mut anchor = first;
                for (j, d) in near.iter_mut().enumerate() {
                    let k = b * BLOCK + j;
                    let u = unit(k);
                    *d = u16::try_from(u - anchor).unwrap_or_else(|_| {
                        anchors.push((k as u32, u));
                        anchor = u;
                        0
                    });
                }
                anchors
            })
            .collect();
        let blocks = blocks.iter().zip(&anchors).map(|(&u, a)| if a.is_empty() { u } else { u | ANCHORED }).collect();
        Addrs { base, blocks, near, anchors: anchors.concat() }
    }

    /// Number of objects.
    pub fn len(&self) -> usize {
        self.near.len()
    }

    /// The address of object `i`.
    #[inline]
    pub fn get(&self, i: u32) -> u64 {
        let block = self.blocks[i as usize / BLOCK];
        let mut from = block & !ANCHORED;
        if block & ANCHORED != 0 {
            // The last anchor at or before i, if it is in i's block.
            let first = (i as usize / BLOCK * BLOCK) as u32;
            if let Some(&(k, u)) = self.anchors[..self.anchors.partition_point(|&(k, _)| k <= i)].last() {
                if k >= first {
                    from = u;
                }
            }
        }
        self.base + ((from + u64::from(self.near[i as usize])) << UNIT)
    }

    /// Hints that [`Addrs::get`] is asked for object `i` soon.
    #[inline]
    pub fn prefetch(&self, i: u32) {
        super::prefetch(&self.near[i as usize]);
        super::prefetch(&self.blocks[i as usize / BLOCK]);
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

    /// Objects over several blocks with gaps of every kind: small, just
    /// below and at the 16-bit mark, and far beyond it; each comes back,
    /// and anchors are made only where needed.
    #[test]
    fn near_and_far_objects_round_trip() {
        let base = 0xc0_0000_0000u64;
        let mut all = Vec::new();
        let mut a = base;
        for k in 0..300u64 {
            all.push(a);
            a += match k % 50 {
                7 => 8 * (u64::from(u16::MAX) - 500),
                8 => 8 * (u64::from(u16::MAX) + 1),
                9 => 1 << 30,
                _ => 8 * (1 + k % 6),
            };
        }
        let low: Vec<u32> = all.iter().map(|&a| Addrs::low_bits(base, a)).collect();
        let spans = std::iter::once((base, 0u32, all.len() as u32));
        let addrs = Addrs::new(base, low, spans);
        for (i, &a) in all.iter().enumerate() {
            assert_eq!(addrs.get(i as u32), a, "object {i}");
            assert_eq!(addrs.search(0..all.len() as u32, a), Some(i as u32));
        }
        // Anchors only after long gaps, and one after each gap too long
        // for 16 bits (before objects 9 and 10 of every 50) unless a block
        // starts there.
        let anchors: Vec<u32> = addrs.anchors.iter().map(|a| a.0).collect();
        assert!(anchors.iter().all(|&k| matches!((k - 1) % 50, 7..=9)), "{anchors:?}");
        for k in (1..all.len() as u32).filter(|&k| matches!((k - 1) % 50, 8 | 9) && k as usize % BLOCK != 0) {
            assert!(anchors.contains(&k), "object {k} in {anchors:?}");
        }
    }
}
