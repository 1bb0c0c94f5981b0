//! The edge targets in about half the bytes, for the tree's breadth-first
//! search, which reads each object's targets once, in order, and nothing
//! else of the edges: once type inference (which reads targets and offsets
//! by edge) is done, the targets are coded again as variable-length
//! distances and the 4-byte table freed, so that the tree and the edges
//! are smaller when held together.
//!
//! Each target is a LEB128 number (7 bits a byte, the high bit set on all
//! bytes but the last) of the zigzag-coded distance from the previous
//! target of the same object, or from the object itself for its first
//! target: an object's targets were allocated near each other and near
//! it, so most distances take one to three bytes. Every [`RESTART`] bytes
//! into an object's run, the first target starting there is coded from
//! the object again, so a run can be read from any such point: large
//! objects are split there for parallel work.

use rayon::prelude::*;

use super::{Counts, Edges};

/// Bytes between restart points within an object's run.
pub const RESTART: usize = 4096;

/// Objects coded in one parallel task.
const GROUP: usize = 1 << 14;

/// Edge targets by source object, variable-length coded.
pub struct CompactEdges {
    /// Each object's bytes of coded targets: its run follows those of the
    /// objects before it.
    counts: Counts,
    bytes: Vec<u8>,
}

/// Zigzag: small distances of either sign to small numbers.
#[inline]
fn zigzag(from: u32, to: u32) -> u64 {
    let d = i64::from(to) - i64::from(from);
    ((d << 1) ^ (d >> 63)) as u64
}

#[inline]
fn unzigzag(from: u32, z: u64) -> u32 {
    let d = (z >> 1) as i64 ^ -((z & 1) as i64);
    (i64::from(from) + d) as u32
}

/// Bytes of `z` in LEB128.
#[inline]
fn coded_len(z: u64) -> usize {
    (64 - (z | 1).leading_zeros() as usize).div_ceil(7)
}

/// Calls `f` with each target of `obj`'s run `targets` and the byte
/// offset into the run where it starts, with what it is coded from.
#[inline]
fn code(obj: u32, targets: &[u32], mut f: impl FnMut(u64)) {
    let (mut at, mut next_restart, mut prev) = (0usize, 0usize, obj);
    for &t in targets {
        let from = if at >= next_restart {
            next_restart = (at / RESTART + 1) * RESTART;
            obj
        } else {
            prev
        };
        let z = zigzag(from, t);
        at += coded_len(z);
        f(z);
        prev = t;
    }
}

impl CompactEdges {
    /// The targets of `edges`, coded (in parallel).
    pub fn new(edges: &Edges) -> CompactEdges {
        let n = edges.counts.len();
        // Objects `first..`, each with its edges' targets, in order.
        let each = |first: usize, objects: usize, f: &mut dyn FnMut(u32, &[u32])| {
            let Some(last) = (first + objects).checked_sub(1) else { return };
            let (mut a, _) = edges.range(first as u32);
            for o in first..=last {
                let b = a + edges.counts.count(o) as usize;
                f(o as u32, edges.targets(a, b));
                a = b;
            }
        };
        let counts = Counts::from_blocks(n, |first, out| {
            let mut out = out.iter_mut();
            each(first, out.len(), &mut |o, targets| {
                let mut len = 0;
                code(o, targets, |z| len += coded_len(z));
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
            each(g, end - g, &mut |o, targets| {
                code(o, targets, |mut z| {
                    while z >= 0x80 {
                        part[w] = z as u8 | 0x80;
                        z >>= 7;
                        w += 1;
                    }
                    part[w] = z as u8;
                    w += 1;
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

    /// Calls `f` with each target of object `obj` whose code starts in
    /// bytes `a..b` of its run `run` (from [`CompactEdges::range`]), in
    /// order; `a` is the run's start or a [`RESTART`] point after it.
    #[inline]
    pub fn targets(&self, obj: u32, run: (usize, usize), a: usize, b: usize, mut f: impl FnMut(u32)) {
        debug_assert!((a - run.0) % RESTART == 0 && b <= run.1);
        let bytes = &self.bytes[..run.1];
        // The first code starting at or after a: it is coded from the
        // object.
        let mut at = a;
        while at > run.0 && at < run.1 && bytes[at - 1] & 0x80 != 0 {
            at += 1;
        }
        let mut prev = obj;
        let mut next_restart = at;
        while at < b {
            let from = if at >= next_restart {
                next_restart = ((at - run.0) / RESTART + 1) * RESTART + run.0;
                obj
            } else {
                prev
            };
            let (mut z, mut shift) = (0u64, 0);
            loop {
                let byte = bytes[at];
                at += 1;
                z |= u64::from(byte & 0x7f) << shift;
                shift += 7;
                if byte & 0x80 == 0 {
                    break;
                }
            }
            prev = unzigzag(from, z);
            f(prev);
        }
    }

    /// Bytes held.
    pub fn bytes(&self) -> usize {
        self.bytes.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::heap::edges::tests::table;

    /// Objects with no, few and many targets (near and far, before and
    /// after them, the extremes of u32), read whole and from every
    /// restart point: the targets come back in order, each once.
    #[test]
    fn targets_round_trip_from_every_restart() {
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        let mut rand = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        let objects: Vec<Vec<u32>> = (0..3000u32)
            .map(|o| {
                let n = match o % 97 {
                    5 => 5000,
                    6 => 300,
                    _ => (rand() % 5) as usize,
                };
                (0..n)
                    .map(|k| match rand() % 8 {
                        0 => u32::MAX - (k as u32 % 3),
                        1 => rand() as u32,
                        2 => 0,
                        _ => o.wrapping_add((rand() % 200) as u32).wrapping_sub(100),
                    })
                    .collect()
            })
            .collect();
        let edges = table(&objects);
        let c = CompactEdges::new(&edges);
        assert!(c.bytes() < 4 * edges.len(), "{} bytes for {} edges", c.bytes(), edges.len());
        for (o, want) in objects.iter().enumerate() {
            let run = c.range(o as u32);
            let mut got = Vec::new();
            c.targets(o as u32, run, run.0, run.1, |t| got.push(t));
            assert_eq!(&got, want, "object {o}");
            // Read in pieces cut at restart points.
            let mut pieces = Vec::new();
            let mut a = run.0;
            while a < run.1 {
                let b = (a + RESTART).min(run.1);
                c.targets(o as u32, run, a, b, |t| pieces.push(t));
                a = b;
            }
            assert_eq!(&pieces, want, "object {o} in pieces");
        }
    }
}
