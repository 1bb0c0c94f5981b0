//! A count per item (an object's edges, a tree node's children) whose runs
//! lie back to back in one table, so item i's run starts at the sum of the
//! counts before it. A byte a count and a 64-bit start every [`BLOCK`]
//! items: 1¼ bytes an item instead of the 4 or 8 of a start per item.

use super::prefault;

/// Items per entry of `starts`.
const BLOCK: usize = 32;
/// A count's mark for a count of this or more (the count is in `many`).
const MANY: u8 = u8::MAX;

/// Counts, appended in item order; [`Counts::seal`] before
/// [`Counts::range`].
#[derive(Default)]
pub struct Counts {
    counts: Vec<u8>,
    /// (item, count) of the items marked [`MANY`], by item.
    many: Vec<(u32, u64)>,
    /// The run start of every [`BLOCK`]th item (after `seal`).
    starts: Vec<u64>,
}

impl Counts {
    /// Counts for `n` items expected (their room reserved and touched).
    pub fn with_capacity(n: usize) -> Counts {
        let mut c = Counts::default();
        c.reserve(n);
        c
    }

    /// Reserves (and touches) room for `n` more items.
    pub fn reserve(&mut self, n: usize) {
        prefault(&mut self.counts, n);
    }

    /// Number of items.
    pub fn len(&self) -> usize {
        self.counts.len()
    }

    /// Whether there are no items.
    pub fn is_empty(&self) -> bool {
        self.counts.is_empty()
    }

    /// Appends an item with count `c`.
    pub fn push(&mut self, c: u64) {
        if c >= u64::from(MANY) {
            self.many.push((self.counts.len() as u32, c));
            self.counts.push(MANY);
        } else {
            self.counts.push(c as u8);
        }
    }

    /// Adds one to item `i`'s count. Items must be bumped in order: none
    /// before the last one bumped.
    #[inline]
    pub fn bump(&mut self, i: usize) {
        match self.counts[i] {
            MANY => {
                let last = self.many.last_mut().expect("a marked item is in many");
                debug_assert_eq!(last.0 as usize, i, "bumped out of order");
                last.1 += 1;
            }
            c if c == MANY - 1 => {
                self.counts[i] = MANY;
                self.many.push((i as u32, u64::from(MANY)));
            }
            c => self.counts[i] = c + 1,
        }
    }

    /// Computes the block starts: done appending.
    pub fn seal(&mut self) {
        self.counts.shrink_to_fit();
        let mut starts = Vec::with_capacity(self.counts.len().div_ceil(BLOCK));
        let mut acc = 0u64;
        let mut m = 0;
        for (b, block) in self.counts.chunks(BLOCK).enumerate() {
            starts.push(acc);
            acc += block.iter().map(|&c| u64::from(c)).sum::<u64>();
            // The marked items of this block count in full.
            while m < self.many.len() && (self.many[m].0 as usize) < (b + 1) * BLOCK {
                acc += self.many[m].1 - u64::from(MANY);
                m += 1;
            }
        }
        self.starts = starts;
    }

    /// Item `i`'s count.
    #[inline]
    pub fn count(&self, i: usize) -> u64 {
        match self.counts[i] {
            MANY => {
                let at = self.many.partition_point(|&(o, _)| (o as usize) < i);
                self.many[at].1
            }
            c => u64::from(c),
        }
    }

    /// Prefetches what [`Counts::range`] reads for item `i`.
    #[inline]
    pub fn prefetch(&self, i: usize) {
        super::prefetch(&self.starts[i / BLOCK]);
        super::prefetch(&self.counts[i - i % BLOCK]);
    }

    /// Item `i`'s run: from the sum of the counts before it, `count(i)`
    /// long.
    #[inline]
    pub fn range(&self, i: usize) -> (usize, usize) {
        let first = i - i % BLOCK;
        let mut sum: u64 = self.counts[first..i].iter().map(|&c| u64::from(c)).sum();
        // A mark adds at least MANY: below that there is none.
        if sum >= u64::from(MANY) {
            sum = (first..i).map(|k| self.count(k)).sum();
        }
        let a = self.starts[i / BLOCK] + sum;
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
        let mut next = 0;
        for (i, &c) in want.iter().enumerate() {
            let run = (next, next + c as usize);
            assert_eq!(pushed.range(i), run, "pushed item {i}");
            assert_eq!(bumped.range(i), run, "bumped item {i}");
            assert_eq!(bumped.count(i), c);
            next = run.1;
        }
    }
}
