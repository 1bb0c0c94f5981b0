//! Where each edge's pointer word lies in its source object, in about one
//! byte an edge (type inference reads them; the tree does not). Edges come
//! in blocks of [`BLOCK`]: a block keeps one base in words and each edge
//! its distance in words from it, in a byte. A block of small objects'
//! edges has base 0; a block inside one large object (a long array of
//! pointers) has its own base; a block whose distances do not fit a byte
//! (a large object's last edges beside the next object's first ones,
//! sparse pointers, a misaligned word) keeps its byte offsets in full,
//! apart.

/// Edges per block.
const BLOCK: usize = 64;
/// [`Offsets::bases`]' mark of a block kept in full: the low bits are its
/// rank among such blocks.
const FULL: u32 = 1 << 31;
/// Offsets are in words of this many bytes.
const WORD: u32 = 8;

/// The byte offsets of the edges' pointer words, appended in edge order.
#[derive(Default)]
pub(super) struct Offsets {
    /// Per finished block: the base in words, or [`FULL`] | rank.
    bases: Vec<u32>,
    /// Per edge of a finished block: its words above the base (0 in a
    /// block kept in full).
    near: Vec<u8>,
    /// The byte offsets of the blocks kept in full, [`BLOCK`] a block.
    full: Vec<u32>,
    /// The byte offsets of the block being filled.
    open: Vec<u32>,
}

impl Offsets {
    /// Appends the byte offset of the next edge.
    #[inline]
    pub(super) fn push(&mut self, offset: u32) {
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
        if aligned && hi - lo <= u32::from(u8::MAX) {
            self.bases.push(lo);
            self.near.extend(block.iter().map(|&o| (o / WORD - lo) as u8));
        } else {
            // Every block but the last is full, so a block's rank gives
            // its place in `full`.
            let rank = (self.full.len() / BLOCK) as u32;
            self.bases.push(FULL | rank);
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
    }

    /// Byte offset of edge `i` (after [`Offsets::finish`]).
    #[inline]
    pub(super) fn get(&self, i: usize) -> u64 {
        let base = self.bases[i / BLOCK];
        if base & FULL != 0 {
            return u64::from(self.full[(base & !FULL) as usize * BLOCK + i % BLOCK]);
        }
        u64::from(base + u32::from(self.near[i])) * u64::from(WORD)
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
        want.iter().for_each(|&w| o.push(w));
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

    #[test]
    fn no_edges() {
        let mut o = Offsets::default();
        o.finish();
        assert!(o.bases.is_empty() && o.near.is_empty());
    }
}
