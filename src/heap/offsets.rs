//! Where each edge's pointer word lies in its source object, in about one
//! byte an edge (type inference reads them; the tree does not). Edges come
//! in blocks of [`BLOCK`]: a block keeps one base in words and each edge
//! its distance in words from it, in a byte. A block of small objects'
//! edges has base 0; a block inside one large object (a long array of
//! pointers) has its own base; a block whose distances do not fit a byte
//! (a large object's last edges beside the next object's first ones,
//! sparse pointers, a misaligned word) keeps its byte offsets in full,
//! apart.
//!
//! Each edge also keeps whether its pointer is its target's address (it
//! points at the object's first byte: 98.9% of the 5.65 M edges of the
//! 4.87 M-object bench heap), so type inference need not read the pointer
//! and the target's address to learn where in the target it lands. A
//! block of such edges only says so, in a bit of its base; a block with
//! others (a sixth of the blocks there) keeps a bit an edge, apart, found
//! by its rank among such blocks: about 0.03 bytes an edge in all.

/// Edges per block (at most 64: a block's marks are a word).
const BLOCK: usize = 64;
const _: () = assert!(BLOCK <= 64);
/// [`Offsets::bases`]' mark of a block kept in full: the low bits are its
/// rank among such blocks.
const FULL: u32 = 1 << 31;
/// [`Offsets::bases`]' mark of a block with edges that do not point at
/// their target's start: its marks are kept in [`Offsets::marks`]. (A
/// base in words is below 2²⁹; blocks kept in full stay below 2³⁰.)
const MIXED: u32 = 1 << 30;
/// Offsets are in words of this many bytes.
const WORD: u32 = 8;

/// The byte offsets of the edges' pointer words, appended in edge order.
#[derive(Default)]
pub(super) struct Offsets {
    /// Per finished block: the base in words, or [`FULL`] | rank; and
    /// [`MIXED`] if not all its edges point at their targets' starts.
    bases: Vec<u32>,
    /// Per edge of a finished block: its words above the base (0 in a
    /// block kept in full).
    near: Vec<u8>,
    /// The byte offsets of the blocks kept in full, [`BLOCK`] a block.
    full: Vec<u32>,
    /// The byte offsets of the block being filled…
    open: Vec<u32>,
    /// …and a bit an edge of it: whether it points at its target's start.
    open_marks: u64,
    /// Per [`MIXED`] block, by rank among them: a bit an edge, whether it
    /// points at its target's start.
    marks: Vec<u64>,
    /// A bit a finished block: [`MIXED`] or not…
    mixed: Vec<u64>,
    /// …and per word of `mixed`, the mixed blocks before it.
    mixed_before: Vec<u32>,
}

impl Offsets {
    /// Appends the byte offset of the next edge, and whether its pointer
    /// is its target's address.
    #[inline]
    pub(super) fn push(&mut self, offset: u32, start: bool) {
        self.open_marks |= u64::from(start) << self.open.len();
        self.open.push(offset);
        if self.open.len() == BLOCK {
            self.close();
        }
    }

    /// Codes the open block.
    fn close(&mut self) {
        let block = std::mem::take(&mut self.open);
        let aligned = block.iter().all(|&o| o % WORD == 0);
        let lo = block.iter().map(|&o| o / WORD).min().unwrap_or(0);
        let hi = block.iter().map(|&o| o / WORD).max().unwrap_or(0);
        let b = self.bases.len();
        if b % 64 == 0 {
            self.mixed_before.push(self.marks.len() as u32);
            self.mixed.push(0);
        }
        let all = u64::MAX >> (64 - block.len());
        let mixed = if self.open_marks == all {
            0
        } else {
            self.mixed[b / 64] |= 1 << (b % 64);
            self.marks.push(self.open_marks);
            MIXED
        };
        self.open_marks = 0;
        if aligned && hi - lo <= u32::from(u8::MAX) {
            self.bases.push(lo | mixed);
            self.near.extend(block.iter().map(|&o| (o / WORD - lo) as u8));
        } else {
            // Every block but the last is full, so a block's rank gives
            // its place in `full`.
            let rank = (self.full.len() / BLOCK) as u32;
            self.bases.push(FULL | mixed | rank);
            self.near.extend(std::iter::repeat(0).take(block.len()));
            self.full.extend_from_slice(&block);
        }
        self.open = block;
        self.open.clear();
    }

    /// Done appending: the last block coded, the tables trimmed.
    pub(super) fn finish(&mut self) {
        if !self.open.is_empty() {
            self.close();
        }
        self.open = Vec::new();
        self.bases.shrink_to_fit();
        self.near.shrink_to_fit();
        self.full.shrink_to_fit();
        self.marks.shrink_to_fit();
        self.mixed.shrink_to_fit();
        self.mixed_before.shrink_to_fit();
    }

    /// Byte offset of edge `i` (after [`Offsets::finish`]).
    #[inline]
    pub(super) fn get(&self, i: usize) -> u64 {
        self.get_marked(i).0
    }

    /// Byte offset of edge `i`, and whether its pointer is its target's
    /// address (after [`Offsets::finish`]).
    #[inline]
    pub(super) fn get_marked(&self, i: usize) -> (u64, bool) {
        let base = self.bases[i / BLOCK];
        let start = base & MIXED == 0 || self.mark(i);
        let off = if base & FULL != 0 {
            u64::from(self.full[(base & !(FULL | MIXED)) as usize * BLOCK + i % BLOCK])
        } else {
            u64::from((base & !MIXED) + u32::from(self.near[i])) * u64::from(WORD)
        };
        (off, start)
    }

    /// Edge `i`'s own mark, in a [`MIXED`] block.
    #[inline]
    fn mark(&self, i: usize) -> bool {
        let b = i / BLOCK;
        let word = self.mixed[b / 64];
        let rank = self.mixed_before[b / 64] as usize + (word & ((1 << (b % 64)) - 1)).count_ones() as usize;
        self.marks[rank] >> (i % BLOCK) & 1 != 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Offsets of small objects, of long arrays (dense and sparse), of
    /// misaligned words and of large objects beside small ones, over many
    /// blocks and a partial last one: each comes back, and only blocks
    /// that need it are kept in full.
    #[test]
    fn offsets_round_trip() {
        let mut want = Vec::new();
        // Small objects: 3 edges each.
        for _ in 0..100 {
            want.extend([0, 8, 24]);
        }
        // A dense array of 1000 pointers from 64 KiB on.
        want.extend((0..1000).map(|k| 65536 + 8 * k));
        // A sparse one: a pointer every 40 words.
        want.extend((0..300).map(|k| 320 * k));
        // Misaligned words, and offsets beyond 4 GiB / 8 words.
        want.extend((0..100).map(|k| 8 * k + 4));
        want.extend((0..70).map(|k| (u32::MAX & !7) - 8 * 70 + 8 * k));
        want.extend([16, 8, 0]);
        let mut o = Offsets::default();
        want.iter().for_each(|&w| o.push(w, true));
        o.finish();
        for (i, &w) in want.iter().enumerate() {
            assert_eq!(o.get(i), u64::from(w), "edge {i}");
        }
        // The dense array's inner blocks have bases of their own.
        let first_dense = 300 / BLOCK + 1;
        assert!(o.bases[first_dense] & FULL == 0 && o.bases[first_dense] > 0);
        assert!(o.full.len() < want.len() / 2, "{} of {} kept in full", o.full.len(), want.len());
        assert_eq!(o.near.len(), want.len());
    }

    /// Marks of edges at and inside their targets: blocks of only start
    /// pointers (with a short base, kept in full, and the partial last
    /// one), blocks with a few interior ones or only those, over more than
    /// 64 blocks (so the ranks cross words of the mixed bits): each edge's
    /// mark and offset come back, and only mixed blocks keep marks.
    #[test]
    fn marks_round_trip() {
        let mut want: Vec<(u32, bool)> = Vec::new();
        for b in 0..150u32 {
            for k in 0..BLOCK as u32 {
                // Every fifth block kept in full (misaligned offsets).
                let off = if b % 5 == 2 { 8 * k + 4 } else { 8 * (k % 7) };
                let start = match b % 7 {
                    1 => k != 13,
                    3 => false,
                    4 => k % 2 == 0,
                    _ => true,
                };
                want.push((off, start));
            }
        }
        want.extend([(0, true), (8, false), (16, true)]);
        let mut o = Offsets::default();
        want.iter().for_each(|&(w, m)| o.push(w, m));
        o.finish();
        for (i, &(w, m)) in want.iter().enumerate() {
            assert_eq!(o.get_marked(i), (u64::from(w), m), "edge {i}");
            assert_eq!(o.get(i), u64::from(w), "edge {i}");
        }
        let mixed = (0..150).filter(|b| [1, 3, 4].contains(&(b % 7))).count() + 1;
        assert_eq!(o.marks.len(), mixed);
        assert_eq!(o.bases.iter().filter(|&&b| b & MIXED != 0).count(), mixed);
        assert!(o.bases.iter().any(|&b| b & (FULL | MIXED) == FULL | MIXED));
    }

    #[test]
    fn no_edges() {
        let mut o = Offsets::default();
        o.finish();
        assert!(o.bases.is_empty() && o.near.is_empty());
    }
}
