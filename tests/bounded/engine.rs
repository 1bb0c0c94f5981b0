//! A small mutation fuzzer on stable Rust: seeds taken from the fixtures,
//! changed by random bit flips, byte and word overwrites with boundary
//! values, truncation, chunk copies and deletions; every input a target
//! panics on (or takes over a second with) is saved and fails the test.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use crate::util::root;

/// Iterations a target runs in the normal suite unless told otherwise.
pub fn iterations(default: u64) -> u64 {
    std::env::var("REFGRAPH_FUZZ_ITERS").ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// The random seed (fixed unless REFGRAPH_FUZZ_SEED is set).
pub fn seed() -> u64 {
    std::env::var("REFGRAPH_FUZZ_SEED").ok().and_then(|v| v.parse().ok()).unwrap_or(0x5eed)
}

/// Words worth writing: zero, one, all ones, sign bits, just-too-large
/// sizes, and the input's own length.
fn interesting(rng: &mut fastrand::Rng, len: usize) -> u64 {
    const V: [u64; 12] = [0, 1, 0x7f, 0x80, 0xff, 0xffff, 0x7fff_ffff, 0x8000_0000, 0xffff_ffff, 1 << 32, i64::MAX as u64, u64::MAX];
    match rng.u8(0..4) {
        0 => len as u64 + rng.u64(0..16),
        1 => 1u64 << rng.u32(0..64),
        _ => V[rng.usize(0..V.len())],
    }
}

/// Changes `data` in 1 to 8 places, within `within` (a byte range of it)
/// where given.
pub fn mutate(rng: &mut fastrand::Rng, data: &mut Vec<u8>, within: Option<(usize, usize)>, splice: &[Vec<u8>]) {
    let n = 1 + rng.usize(0..8);
    for _ in 0..n {
        let (lo, hi) = within.map_or((0, data.len()), |(a, b)| (a.min(data.len()), b.min(data.len())));
        if hi <= lo {
            data.push(rng.u8(..));
            continue;
        }
        let at = rng.usize(lo..hi);
        match rng.u8(0..10) {
            0 | 1 => data[at] ^= 1 << rng.u8(0..8),
            2 => data[at] = rng.u8(..),
            3 | 4 => {
                let v = interesting(rng, data.len()).to_le_bytes();
                let w = [1, 2, 4, 8][rng.usize(0..4)];
                let at = at & !(w - 1);
                let end = (at + w).min(data.len());
                data[at..end].copy_from_slice(&v[..end - at]);
            }
            5 if within.is_none() => data.truncate(at),
            6 => {
                // Copy a chunk over another place.
                let len = rng.usize(1..=64.min(hi - at));
                let from = rng.usize(lo..hi - len + 1);
                data.copy_within(from..from + len, at.min(hi - len));
            }
            7 if within.is_none() => {
                let len = rng.usize(1..=64.min(data.len() - at));
                data.drain(at..at + len);
            }
            8 if !splice.is_empty() => {
                // A piece of another seed.
                let other = &splice[rng.usize(0..splice.len())];
                if !other.is_empty() {
                    let from = rng.usize(0..other.len());
                    let len = rng.usize(1..=64).min(other.len() - from).min(hi - at);
                    data[at..at + len].copy_from_slice(&other[from..from + len]);
                }
            }
            _ => data[at] = data[at].wrapping_add(rng.u8(1..=8)).wrapping_sub(4),
        }
    }
}

/// One fuzz target: a name, seeds, and where in each seed to mutate.
pub struct Target<'a> {
    pub name: &'static str,
    pub seeds: Vec<Vec<u8>>,
    /// Byte range of each seed to mutate (None = anywhere, with length
    /// changes).
    pub within: Vec<Option<(usize, usize)>>,
    pub run: &'a (dyn Fn(&[u8]) + Sync),
}

/// The saved inputs of `name` that once failed: fixtures/fuzz/<name>/*.
fn regressions(name: &str) -> Vec<(PathBuf, Vec<u8>)> {
    let dir = root().join("fixtures/fuzz").join(name);
    let Ok(entries) = std::fs::read_dir(&dir) else { return Vec::new() };
    let mut out: Vec<(PathBuf, Vec<u8>)> = entries.flatten().map(|e| e.path()).filter(|p| p.is_file()).map(|p| {
        let b = std::fs::read(&p).unwrap();
        (p, b)
    }).collect();
    out.sort();
    out
}

/// Replays the target's regressions, then runs `iters` mutated inputs on
/// two threads. Panics (after all iterations) if any input panicked or
/// took over a second; prints the executions per second.
pub fn fuzz(t: Target, iters: u64) {
    let mut failures = Vec::new();
    let replayed = regressions(t.name);
    for (path, input) in &replayed {
        if catch_unwind(AssertUnwindSafe(|| (t.run)(input))).is_err() {
            failures.push(format!("regression {} fails again", path.display()));
        }
    }
    let start = Instant::now();
    let threads = 2u64;
    let found: Vec<String> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|k| {
                let t = &t;
                s.spawn(move || {
                    let mut rng = fastrand::Rng::with_seed(seed() ^ (k << 32) ^ hash(t.name));
                    let mut found = Vec::new();
                    for i in (k..iters).step_by(threads as usize) {
                        let which = rng.usize(0..t.seeds.len());
                        let mut input = t.seeds[which].clone();
                        mutate(&mut rng, &mut input, t.within[which], &t.seeds);
                        let began = Instant::now();
                        let ok = catch_unwind(AssertUnwindSafe(|| (t.run)(&input))).is_ok();
                        let slow = began.elapsed() > Duration::from_secs(1);
                        if !ok || slow {
                            let path = save(t.name, i, &input);
                            found.push(format!("{} on {}", if ok { "over a second" } else { "panic" }, path.display()));
                            if found.len() >= 5 {
                                break;
                            }
                        }
                    }
                    found
                })
            })
            .collect();
        handles.into_iter().flat_map(|h| h.join().unwrap()).collect()
    });
    failures.extend(found);
    let secs = start.elapsed().as_secs_f64();
    eprintln!(
        "fuzz {}: {} regressions replayed, {iters} executions in {secs:.1} s ({:.0}/s)",
        t.name,
        replayed.len(),
        iters as f64 / secs.max(1e-9)
    );
    assert!(failures.is_empty(), "fuzz {}: {} failing inputs (copy them to fixtures/fuzz/{}/):\n{}", t.name, failures.len(), t.name, failures.join("\n"));
}

fn hash(s: &str) -> u64 {
    s.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3))
}

fn save(name: &str, i: u64, input: &[u8]) -> PathBuf {
    let dir = root().join("target/fuzz-failures");
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(format!("{name}-{:016x}-{i}", hash(&String::from_utf8_lossy(input))));
    std::fs::write(&path, input).unwrap();
    path
}
