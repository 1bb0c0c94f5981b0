//! The edges in about half their bytes, for the tree's breadth-first
//! search, which reads each object's edges once, in order: once type
//! inference (which reads targets and offsets by edge) is done, each
//! edge's target and the offset of its pointer word are coded again as
//! variable-length distances and the table freed, so that the tree and
//! the edges are smaller when held together. The search keeps, of each
//! object it claims, the offset of the pointer that claimed it: the link
//! the output names, which it then need not look for in the core.
//!
//! An edge is two LEB128 numbers (7 bits a byte, the high bit set on all
//! bytes but the last): the zigzag-coded distance of its target from the
//! previous edge's target of the same object, or from the object itself
//! for its first edge; then the distance of its offset from the previous
//! edge's (in words where the distance is whole words, the low bit
//! saying which). An object's targets were allocated near each other and
//! near it and its pointer words follow each other, so most edges take
//! two to four bytes. Every [`RESTART`] bytes into an object's run an
//! edge starts, coded from the object and offset 0 again (the edge before
//! it is padded to reach it: LEB128 allows high zero bytes), so a run can
//! be read from any such point: large objects are split there for
//! parallel work.

use rayon::prelude::*;

use super::{Counts, Edges};

/// Bytes between restart points within an object's run.
pub const RESTART: usize = 4096;

/// Objects coded in one parallel task.
const GROUP: usize = 1 << 14;

/// Edges (target and pointer offset) by source object, variable-length
/// coded.
pub struct CompactEdges {
    /// Each object's bytes of coded edges: its run follows those of the
    /// objects before it.
    counts: Counts,
    bytes: Vec<u8>,
}

/// Zigzag: small distances of either sign to small numbers.
#[inline]
fn zigzag(d: i64) -> u64 {
    ((d << 1) ^ (d >> 63)) as u64
}

#[inline]
fn unzigzag(z: u64) -> i64 {
    (z >> 1) as i64 ^ -((z & 1) as i64)
}

/// The code of target `to` after `from`.
#[inline]
fn target_code(from: u32, to: u32) -> u64 {
    zigzag(i64::from(to) - i64::from(from))
}

#[inline]
fn target_of(from: u32, z: u64) -> u32 {
    (i64::from(from) + unzigzag(z)) as u32
}

/// The code of byte offset `off` after `from`: the distance in words
/// (low bit 0) where it is whole words, else in bytes (low bit 1).
#[inline]
fn offset_code(from: u32, off: u32) -> u64 {
    let d = i64::from(off) - i64::from(from);
    if d % 8 == 0 {
        zigzag(d / 8) << 1
    } else {
        zigzag(d) << 1 | 1
    }
}

#[inline]
fn offset_of(from: u32, z: u64) -> u32 {
    let d = unzigzag(z >> 1);
    (i64::from(from) + if z & 1 == 0 { d * 8 } else { d }) as u32
}

/// Bytes of `z` in LEB128.
#[inline]
fn coded_len(z: u64) -> usize {
    (64 - (z | 1).leading_zeros() as usize).div_ceil(7)
}

/// Calls `f(pad, target code, offset code)` for each edge (target, byte
/// offset) of object `obj`'s run, `pad` the bytes the edge before it is
/// padded with so that this one starts at a restart point.
#[inline]
fn code(obj: u32, edges: impl Iterator<Item = (u32, u32)>, mut f: impl FnMut(usize, u64, u64)) {
    let (mut at, mut next_restart, mut prev, mut prev_off) = (0usize, 0usize, obj, 0u32);
    for (t, off) in edges {
        let (mut tz, mut oz) = (target_code(prev, t), offset_code(prev_off, off));
        let mut pad = 0;
        if at < next_restart && at + coded_len(tz) + coded_len(oz) > next_restart {
            // It would straddle the restart point: it starts there.
            pad = next_restart - at;
            at = next_restart;
        }
        if at == next_restart {
            (tz, oz) = (target_code(obj, t), offset_code(0, off));
            next_restart += RESTART;
        }
        at += coded_len(tz) + coded_len(oz);
        f(pad, tz, oz);
        (prev, prev_off) = (t, off);
    }
}

/// Writes `z` in LEB128 at `*w`.
#[inline]
fn put(part: &mut [u8], w: &mut usize, mut z: u64) {
    while z >= 0x80 {
        part[*w] = z as u8 | 0x80;
        z >>= 7;
        *w += 1;
    }
    part[*w] = z as u8;
    *w += 1;
}

/// Reads a LEB128 number at `*at` (padding bytes beyond 64 bits are
/// zeros).
#[inline]
fn read(bytes: &[u8], at: &mut usize) -> u64 {
    let (mut z, mut shift) = (0u64, 0u32);
    loop {
        let byte = bytes[*at];
        *at += 1;
        if shift < 64 {
            z |= u64::from(byte & 0x7f) << shift;
        }
        shift += 7;
        if byte & 0x80 == 0 {
            return z;
        }
    }
}

/// Where the edges to code come from: the heap's edge table (or a
/// test's).
trait Source: Sync {
    /// Number of objects.
    fn objects(&self) -> usize;
    /// Index of object `o`'s first edge; its edges follow those of the
    /// objects before it.
    fn start(&self, o: usize) -> usize;
    /// Number of object `o`'s edges.
    fn count(&self, o: usize) -> usize;
    /// Edge `i`: (target, byte offset).
    fn edge(&self, i: usize) -> (u32, u32);
}

impl Source for Edges {
    fn objects(&self) -> usize {
        self.counts.len()
    }
    fn start(&self, o: usize) -> usize {
        self.counts.range(o).0
    }
    fn count(&self, o: usize) -> usize {
        self.counts.count(o) as usize
    }
    #[inline]
    fn edge(&self, i: usize) -> (u32, u32) {
        (self.target(i), self.offset(i) as u32)
    }
}

/// Object `obj`'s edges, in order.
struct Run<'s, S> {
    src: &'s S,
    next: usize,
    end: usize,
}

impl<S: Source> Iterator for Run<'_, S> {
    type Item = (u32, u32);
    #[inline]
    fn next(&mut self) -> Option<(u32, u32)> {
        (self.next < self.end).then(|| {
            self.next += 1;
            self.src.edge(self.next - 1)
        })
    }
}

/// Calls `f(obj, its edges)` for objects `first..end` of `src`, in order.
#[inline]
fn runs<'s, S: Source>(src: &'s S, first: usize, end: usize, mut f: impl FnMut(u32, Run<'s, S>)) {
    if first >= end {
        return;
    }
    let mut a = src.start(first);
    for o in first..end {
        let b = a + src.count(o);
        f(o as u32, Run { src, next: a, end: b });
        a = b;
    }
}

impl CompactEdges {
    /// The edges of `edges`, coded (in parallel). `edges` must still
    /// have their offsets.
    pub fn new(edges: &Edges) -> CompactEdges {
        CompactEdges::build(edges)
    }

    /// The edges of `src`'s objects, coded.
    fn build(src: &impl Source) -> CompactEdges {
        let n = src.objects();
        let counts = Counts::from_blocks(n, |first, out| {
            let mut out = out.iter_mut();
            runs(src, first, first + out.len(), |o, run| {
                let mut len = 0;
                code(o, run, |pad, tz, oz| len += pad + coded_len(tz) + coded_len(oz));
                *out.next().expect("one count an object") = len as u64;
            });
        });
        let total = if n == 0 { 0 } else { counts.range(n - 1).1 };
        let mut bytes = vec![0u8; total];
        // Each group of objects writes its own part of the bytes.
        let mut parts = Vec::with_capacity(n.div_ceil(GROUP));
        let mut rest = &mut bytes[..];
        for g in (0..n).step_by(GROUP) {
            let end = (g + GROUP).min(n);
            let (a, b) = (counts.range(g).0, counts.range(end - 1).1);
            let (part, r) = rest.split_at_mut(b - a);
            rest = r;
            parts.push((g, end, part));
        }
        parts.into_par_iter().for_each(|(g, end, part)| {
            let mut w = 0;
            runs(src, g, end, |o, run| {
                code(o, run, |pad, tz, oz| {
                    if pad > 0 {
                        // The last number goes on in zero bytes: `pad - 1`
                        // continued ones, then a last one.
                        part[w - 1] |= 0x80;
                        part[w..w + pad - 1].fill(0x80);
                        part[w + pad - 1] = 0;
                        w += pad;
                    }
                    put(part, &mut w, tz);
                    put(part, &mut w, oz);
                });
            });
        });
        CompactEdges { counts, bytes }
    }

    /// The bytes of object `obj`'s run: (start, end).
    #[inline]
    pub fn range(&self, obj: u32) -> (usize, usize) {
        self.counts.range(obj as usize)
    }

    /// Calls `f(target, byte offset)` for each edge of object `obj`
    /// starting in bytes `a..b` of its run `run` (from
    /// [`CompactEdges::range`]), in order; `a` is the run's start or a
    /// [`RESTART`] point after it.
    #[inline]
    pub fn edges(&self, obj: u32, run: (usize, usize), a: usize, b: usize, mut f: impl FnMut(u32, u32)) {
        debug_assert!((a - run.0) % RESTART == 0 && b <= run.1);
        let bytes = &self.bytes[..run.1];
        let (mut at, mut next_restart) = (a, a);
        let (mut prev, mut prev_off) = (obj, 0);
        while at < b {
            if at == next_restart {
                (prev, prev_off) = (obj, 0);
                next_restart += RESTART;
            }
            prev = target_of(prev, read(bytes, &mut at));
            prev_off = offset_of(prev_off, read(bytes, &mut at));
            f(prev, prev_off);
        }
    }

    /// Bytes held.
    pub fn bytes(&self) -> usize {
        self.bytes.len()
    }
}

#[cfg(test)]
impl CompactEdges {
    /// The edges (target, byte offset) of each object, coded.
    pub(crate) fn from_lists(objects: &[Vec<(u32, u32)>]) -> CompactEdges {
        let mut starts = vec![0];
        starts.extend(objects.iter().scan(0, |at, run| {
            *at += run.len();
            Some(*at)
        }));
        CompactEdges::build(&Lists { starts, edges: objects.concat() })
    }
}

/// Edges by object, from lists.
#[cfg(test)]
struct Lists {
    starts: Vec<usize>,
    edges: Vec<(u32, u32)>,
}

#[cfg(test)]
impl Source for Lists {
    fn objects(&self) -> usize {
        self.starts.len() - 1
    }
    fn start(&self, o: usize) -> usize {
        self.starts[o]
    }
    fn count(&self, o: usize) -> usize {
        self.starts[o + 1] - self.starts[o]
    }
    fn edge(&self, i: usize) -> (u32, u32) {
        self.edges[i]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::heap::edges::tests::table;

    /// Objects with no, few and many edges (targets near and far, before
    /// and after them, the extremes of u32; offsets in words and not, in
    /// order and not, small and beyond 4 GiB's worth of words), read whole
    /// and from every restart point: the edges come back in order, each
    /// once.
    #[test]
    fn edges_round_trip_from_every_restart() {
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        let mut rand = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        let objects: Vec<Vec<(u32, u32)>> = (0..3000u32)
            .map(|o| {
                let n = match o % 97 {
                    5 => 5000,
                    6 => 300,
                    _ => (rand() % 5) as usize,
                };
                let mut off = 0u32;
                (0..n)
                    .map(|k| {
                        let t = match rand() % 8 {
                            0 => u32::MAX - (k as u32 % 3),
                            1 => rand() as u32,
                            2 => 0,
                            _ => o.wrapping_add((rand() % 200) as u32).wrapping_sub(100),
                        };
                        off = match rand() % 16 {
                            0 => rand() as u32,
                            1 => off.wrapping_add(3),
                            2 => off.wrapping_sub(8 * (rand() % 40) as u32),
                            3 => off.wrapping_add(8 << 16),
                            _ => off.wrapping_add(8 * (1 + (rand() % 3) as u32)),
                        };
                        (t, off)
                    })
                    .collect()
            })
            .collect();
        let c = CompactEdges::from_lists(&objects);
        let all: usize = objects.iter().map(Vec::len).sum();
        assert!(c.bytes() < 5 * all, "{} bytes for {all} edges", c.bytes());
        let mut restarts = 0;
        for (o, want) in objects.iter().enumerate() {
            let run = c.range(o as u32);
            let mut got = Vec::new();
            c.edges(o as u32, run, run.0, run.1, |t, off| got.push((t, off)));
            assert_eq!(&got, want, "object {o}");
            // Read in pieces cut at restart points.
            let mut pieces = Vec::new();
            let mut a = run.0;
            while a < run.1 {
                let b = (a + RESTART).min(run.1);
                c.edges(o as u32, run, a, b, |t, off| pieces.push((t, off)));
                a = b;
                restarts += 1;
            }
            assert_eq!(&pieces, want, "object {o} in pieces");
        }
        assert!(restarts > 2 * objects.len() / 3, "{restarts} pieces: few runs are cut");
        // The same targets from the heap's edge table (offsets 0 there).
        let targets: Vec<Vec<u32>> = objects.iter().map(|run| run.iter().map(|e| e.0).collect()).collect();
        let c = CompactEdges::new(&table(&targets));
        for (o, want) in targets.iter().enumerate() {
            let (run, mut got) = (c.range(o as u32), Vec::new());
            c.edges(o as u32, run, run.0, run.1, |t, off| got.push((t, off)));
            assert_eq!(got, want.iter().map(|&t| (t, 0)).collect::<Vec<_>>(), "object {o} of the table");
        }
    }

    /// An edge that would straddle a restart point starts there, the one
    /// before it padded: with every edge 2 bytes after a first one of 3
    /// or 1, the point falls inside an edge unless padded.
    #[test]
    fn an_edge_straddling_a_restart_point_starts_there() {
        for first in [1000u32, 1] {
            let run: Vec<(u32, u32)> = std::iter::once((first, 0)).chain((1..5000u32).map(|k| (k + 1000, 8 * k))).collect();
            let c = CompactEdges::from_lists(std::slice::from_ref(&run));
            let range = c.range(0);
            let mut got = Vec::new();
            for a in (range.0..range.1).step_by(RESTART) {
                c.edges(0, range, a, (a + RESTART).min(range.1), |t, off| got.push((t, off)));
            }
            assert_eq!(got, run, "first target {first}");
        }
    }
}
