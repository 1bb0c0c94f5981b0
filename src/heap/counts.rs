//! A count per item (an object's edges, a tree node's children) whose runs
//! lie back to back in one table, so item i's run starts at the sum of the
//! counts before it. A byte a count and a 64-bit start every [`BLOCK`]
//! items, in one cache line: 1⅐ bytes an item instead of the 4 or 8 of a
//! start per item.

use rayon::prelude::*;

use super::prefault;

/// Items per [`Block`].
const BLOCK: usize = 56;
/// A count's mark for a count of this or more (the count is in `many`).
const MANY: u8 = u8::MAX;

/// One cache line: where the runs of [`BLOCK`] consecutive items start, and
/// their counts (so finding a run reads one line).
#[derive(Clone, Copy)]
#[repr(C, align(64))]
struct Block {
    start: u64,
    counts: [u8; BLOCK],
}

impl Default for Block {
    fn default() -> Block {
        Block { start: 0, counts: [0; BLOCK] }
    }
}

/// Counts, appended in item order; [`Counts::seal`] before
/// [`Counts::range`].
#[derive(Default)]
pub struct Counts {
    blocks: Vec<Block>,
    len: usize,
    /// (item, count) of the items marked [`MANY`], by item.
    many: Vec<(u32, u64)>,
}

impl Counts {
    /// Counts for `n` items expected (their room reserved and touched).
    pub fn with_capacity(n: usize) -> Counts {
        let mut c = Counts::default();
        c.reserve(n);
        c
    }

    /// The sealed counts of items `0..n`, asked in parallel a block at a
    /// time: `fill(first, out)` writes the counts of items `first..` into
    /// `out`.
    pub fn from_blocks(n: usize, fill: impl Fn(usize, &mut [u64]) + Sync) -> Counts {
        let mut blocks = vec![Block::default(); n.div_ceil(BLOCK)];
        let many: Vec<Vec<(u32, u64)>> = blocks
            .par_iter_mut()
            .enumerate()
            .map(|(b, block)| {
                let mut counts = [0u64; BLOCK];
                let counts = &mut counts[..BLOCK.min(n - b * BLOCK)];
                fill(b * BLOCK, counts);
                let mut many = Vec::new();
                for (j, &c) in counts.iter().enumerate() {
                    block.counts[j] = if c >= u64::from(MANY) {
                        many.push(((b * BLOCK + j) as u32, c));
                        MANY
                    } else {
                        c as u8
                    };
                }
                many
            })
            .collect();
        let mut c = Counts { blocks, len: n, many: many.concat() };
        c.seal();
        c
    }

    /// Reserves (and touches) room for `n` more items.
    pub fn reserve(&mut self, n: usize) {
        prefault(&mut self.blocks, n.div_ceil(BLOCK) + 1);
    }

    /// Number of items.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether there are no items.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    #[inline]
    fn byte(&self, i: usize) -> u8 {
        self.blocks[i / BLOCK].counts[i % BLOCK]
    }

    #[inline]
    fn byte_mut(&mut self, i: usize) -> &mut u8 {
        &mut self.blocks[i / BLOCK].counts[i % BLOCK]
    }

    /// Appends an item with count `c`.
    pub fn push(&mut self, c: u64) {
        let i = self.len;
        if i % BLOCK == 0 {
            self.blocks.push(Block::default());
        }
        self.len += 1;
        *self.byte_mut(i) = if c >= u64::from(MANY) {
            self.many.push((i as u32, c));
            MANY
        } else {
            c as u8
        };
    }

    /// Adds one to item `i`'s count. Items must be bumped in order: none
    /// before the last one bumped.
    #[inline]
    pub fn bump(&mut self, i: usize) {
        match self.byte(i) {
            MANY => {
                let last = self.many.last_mut().expect("a marked item is in many");
                debug_assert_eq!(last.0 as usize, i, "bumped out of order");
                last.1 += 1;
            }
            c if c == MANY - 1 => {
                *self.byte_mut(i) = MANY;
                self.many.push((i as u32, u64::from(MANY)));
            }
            c => *self.byte_mut(i) = c + 1,
        }
    }

    /// Computes the block starts: done appending.
    pub fn seal(&mut self) {
        self.blocks.shrink_to_fit();
        let mut acc = 0u64;
        let mut m = 0;
        for (b, block) in self.blocks.iter_mut().enumerate() {
            block.start = acc;
            acc += block.counts.iter().map(|&c| u64::from(c)).sum::<u64>();
            // The marked items of this block count in full.
            while m < self.many.len() && (self.many[m].0 as usize) < (b + 1) * BLOCK {
                acc += self.many[m].1 - u64::from(MANY);
                m += 1;
            }
        }
    }

    /// Item `i`'s count.
    #[inline]
    pub fn count(&self, i: usize) -> u64 {
        match self.byte(i) {
            MANY => {
                let at = self.many.partition_point(|&(o, _)| (o as usize) < i);
                self.many[at].1
            }
            c => u64::from(c),
        }
    }

    /// The counts, last item first.
    pub fn iter_rev(&self) -> impl Iterator<Item = u64> + '_ {
        let mut m = self.many.len();
        (0..self.len).rev().map(move |i| match self.byte(i) {
            MANY => {
                m -= 1;
                self.many[m].1
            }
            c => u64::from(c),
        })
    }

    /// Prefetches what [`Counts::range`] reads for item `i`.
    #[inline]
    pub fn prefetch(&self, i: usize) {
        super::prefetch(&self.blocks[i / BLOCK]);
    }

    /// Item `i`'s run: from the sum of the counts before it, `count(i)`
    /// long.
    #[inline]
    pub fn range(&self, i: usize) -> (usize, usize) {
        let block = &self.blocks[i / BLOCK];
        let j = i % BLOCK;
        // Eight counts at a time: each word's bytes added pairwise into
        // four 16-bit lanes (at most 7 × 510 each), the lanes at the end.
        const LOW_BYTES: u64 = 0x00ff_00ff_00ff_00ff;
        let word = |w: usize| u64::from_le_bytes(block.counts[8 * w..8 * w + 8].try_into().expect("8 bytes"));
        let lanes = |x: u64| (x & LOW_BYTES) + (x >> 8 & LOW_BYTES);
        let mut acc = 0u64;
        for w in 0..j / 8 {
            acc += lanes(word(w));
        }
        if j % 8 != 0 {
            acc += lanes(word(j / 8) & ((1u64 << (8 * (j % 8))) - 1));
        }
        let mut sum = acc.wrapping_mul(0x0001_0001_0001_0001) >> 48;
        // A mark adds at least MANY: below that there is none.
        if sum >= u64::from(MANY) {
            sum = (i - j..i).map(|k| self.count(k)).sum();
        }
        let a = block.start + sum;
        (a as usize, (a + self.count(i)) as usize)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Counts of every kind (none, few, just below, at and far above the
    /// byte's mark), pushed or bumped, over several blocks: every run comes
    /// back where the counts put it.
    #[test]
    fn runs_follow_the_counts() {
        let want: Vec<u64> = (0..300u64)
            .map(|i| match i % 41 {
                7 => 255,
                8 => 254,
                9 => 1000,
                10 => 256,
                _ => i % 5,
            })
            .collect();
        let mut pushed = Counts::with_capacity(want.len());
        let mut bumped = Counts::default();
        for &c in &want {
            pushed.push(c);
            bumped.push(0);
        }
        for (i, &c) in want.iter().enumerate() {
            for _ in 0..c {
                bumped.bump(i);
            }
        }
        pushed.seal();
        bumped.seal();
        assert!(bumped.iter_rev().eq(want.iter().rev().copied()));
        let mut next = 0;
        for (i, &c) in want.iter().enumerate() {
            let run = (next, next + c as usize);
            assert_eq!(pushed.range(i), run, "pushed item {i}");
            assert_eq!(bumped.range(i), run, "bumped item {i}");
            assert_eq!(bumped.count(i), c);
            next = run.1;
        }
    }

    /// Pseudo-random counts, mostly small and some large, against plain
    /// prefix sums.
    #[test]
    fn runs_match_prefix_sums() {
        let mut x = 0x2545_f491_4f6c_dd1du64;
        let want: Vec<u64> = (0..5000)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                match x % 16 {
                    0 => x % 70_000,
                    1..=3 => x % 256,
                    _ => x % 4,
                }
            })
            .collect();
        let mut c = Counts::default();
        want.iter().for_each(|&n| c.push(n));
        c.seal();
        let mut next = 0usize;
        for (i, &n) in want.iter().enumerate() {
            assert_eq!(c.range(i), (next, next + n as usize), "item {i}");
            next += n as usize;
        }
    }

    /// Counts given a block at a time, in parallel, equal the same counts
    /// pushed one by one.
    #[test]
    fn from_blocks_equals_pushes() {
        let count = |i: usize| match i % 41 {
            7 => 255,
            9 => 1000 + i as u64,
            _ => (i % 5) as u64,
        };
        for n in [0, 1, 55, 56, 57, 1000] {
            let made = Counts::from_blocks(n, |first, out| out.iter_mut().enumerate().for_each(|(j, c)| *c = count(first + j)));
            let mut pushed = Counts::default();
            (0..n).for_each(|i| pushed.push(count(i)));
            pushed.seal();
            assert_eq!(made.len(), n);
            for i in 0..n {
                assert_eq!(made.range(i), pushed.range(i), "n {n} item {i}");
            }
        }
    }
}
