//! The core-level mutation test: mutated copies of small fixture cores
//! (heap words, span structures, allocation bitmaps, the arena span
//! tables, moduledata, type descriptors, mheap_, truncation, zeroed
//! segments) run through the whole library in-process, each within a time
//! and memory bound. Every result must be Ok or an error; none may panic.

use std::path::Path;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use refgraph::cli::pipeline::{analyze, Timings};
use refgraph::heap::Heap;
use refgraph::image::{Core, Exe, Image, Memory};
use refgraph::render::{write_bt, RecordOptions};
use refgraph::runtime::moduledata::Moduledata;
use refgraph::runtime::{read_goroutines, read_spans, Process};

use crate::engine::{iterations, seed};
use crate::util::{fixtures, Fixture};

/// Wall time one mutated core may take (the clean ones take well under
/// a second).
const CASE_TIME: Duration = Duration::from_secs(30);
/// Memory one case may add to the live heap, beyond its own copy of the core.
const CASE_MEMORY: usize = 512 << 20;

/// Where the runtime's structures are in a clean core: address ranges to
/// aim mutations at.
struct Aims {
    /// (what, start, length) for each structure.
    regions: Vec<(&'static str, u64, u64)>,
}

fn aims(core: &[u8], exe: &[u8]) -> Aims {
    let image = Image::join(Core::from_bytes(Path::new("core"), core.to_vec()).unwrap(), Exe::from_bytes(Path::new("exe"), exe.to_vec()).unwrap()).unwrap();
    let p = Process::new(&image).unwrap();
    let l = &p.layout;
    let mut regions = vec![("mheap_", p.mheap, 1024)];
    regions.push(("moduledata", p.firstmoduledata, 512));
    if let Ok(md) = Moduledata::read(&p.structs(), p.firstmoduledata) {
        regions.push(("type descriptors", md.types, md.etypes.saturating_sub(md.types)));
    }
    let spans = read_spans(&p).unwrap();
    for &(base, ha) in &spans.arenas {
        let table = ha + l.arena_spans.off;
        regions.push(("arena span table", table, 8 * (l.arena_bytes / l.page_size)));
        for (s, a) in spans.spans.iter().zip(&spans.alloc).filter(|(s, _)| s.start >= base && s.start < base + l.arena_bytes).take(400) {
            let page = (s.start - base) / l.page_size;
            if let Ok(mspan) = image.u64(table + 8 * page) {
                regions.push(("mspan", mspan, 160));
            }
            regions.push(("allocation bits", a.alloc_bits, s.nelems.div_ceil(8)));
        }
    }
    let heap = Heap::build(&p).unwrap();
    for i in (0..heap.len() as u32).step_by((heap.len() / 400).max(1)) {
        regions.push(("heap object", heap.addr(i), heap.size(i).min(4096)));
    }
    Aims { regions }
}

/// The file offset of `addr` in the core, if the core holds it.
fn file_offset(core: &Core, addr: u64) -> Option<usize> {
    core.loads.iter().find(|l| addr >= l.vaddr && addr < l.vaddr + l.filesz).map(|l| (l.offset + addr - l.vaddr) as usize)
}

/// A mutated copy of `core` and a description of the change.
fn mutated(rng: &mut fastrand::Rng, clean: &[u8], parsed: &Core, aims: &Aims) -> (Vec<u8>, String) {
    let mut b = clean.to_vec();
    match rng.u8(0..12) {
        0 => {
            let at = rng.usize(clean.len() / 2..clean.len());
            b.truncate(at);
            (b, format!("truncated to {at} bytes"))
        }
        1 => {
            let l = parsed.loads[rng.usize(0..parsed.loads.len())];
            b[l.offset as usize..(l.offset + l.filesz) as usize].fill(0);
            (b, format!("segment at {:#x} zeroed", l.vaddr))
        }
        _ => {
            let (what, start, len) = aims.regions[rng.usize(0..aims.regions.len())];
            let words = rng.usize(1..=4);
            let mut done = Vec::new();
            for _ in 0..words {
                let addr = (start + rng.u64(0..len.max(1))) & !7;
                let Some(off) = file_offset(parsed, addr).filter(|&o| o + 8 <= b.len()) else { continue };
                let old = u64::from_le_bytes(b[off..off + 8].try_into().unwrap());
                let new = match rng.u8(0..6) {
                    0 => 0,
                    1 => u64::MAX,
                    2 => old ^ (1 << rng.u32(0..64)),
                    3 => old.wrapping_add(rng.u64(1..4096)),
                    4 => start + rng.u64(0..len.max(1)),
                    _ => rng.u64(..),
                };
                b[off..off + 8].copy_from_slice(&new.to_le_bytes());
                done.push(format!("{addr:#x}"));
            }
            (b, format!("{what}: words at {}", done.join(", ")))
        }
    }
}

/// How one case ended.
enum Outcome {
    Ok { warnings: usize },
    Error,
}

/// Runs one core through everything the commands do.
fn run_case(core: Vec<u8>, exe: Vec<u8>) -> Outcome {
    let result = (|| -> anyhow::Result<usize> {
        let core = Core::from_bytes(Path::new("core"), core)?;
        let exe = Exe::from_bytes(Path::new("exe"), exe)?;
        let image = Image::join(core, exe)?;
        analyze(&image, &mut Timings::default(), |a, _| {
            write_bt(&a.tree, a.typed.inference, RecordOptions::default(), &mut std::io::sink())?;
            let _ = read_goroutines(a.typed.process);
            let _ = a.typed.inference.histogram();
            Ok(a.typed.warnings.len())
        })
    })();
    match result {
        Ok(warnings) => Outcome::Ok { warnings },
        Err(_) => Outcome::Error,
    }
}

/// A fixture's core and executable, decompressed.
fn bytes_of(f: &Fixture) -> (Vec<u8>, Vec<u8>) {
    let read = |p: std::path::PathBuf| zstd::stream::decode_all(std::fs::File::open(p).unwrap()).unwrap();
    (read(f.core()), read(f.exe()))
}

/// The shapes fixture of go1.22 (one arena, DWARF), and its bytes: the
/// subject of the hand-made corruptions below.
fn shapes_go1_22() -> (Fixture, Vec<u8>, Vec<u8>) {
    let f = fixtures().into_iter().find(|f| f.program() == "shapes" && f.minor() == 22 && f.arch() == "amd64").unwrap();
    let (core, exe) = bytes_of(&f);
    (f, core, exe)
}

/// The image of a (possibly corrupted) core's bytes and an executable's.
fn open_bytes(core: Vec<u8>, exe: &[u8]) -> Image {
    Image::join(Core::from_bytes(Path::new("core"), core).unwrap(), Exe::from_bytes(Path::new("exe"), exe.to_vec()).unwrap()).unwrap()
}

fn campaign(f: &Fixture, cases: u64) {
    let (core, exe) = bytes_of(f);
    let aims = aims(&core, &exe);
    let parsed = Core::from_bytes(Path::new("core"), core.clone()).unwrap();
    let mut rng = fastrand::Rng::with_seed(seed() ^ f.name.len() as u64 ^ u64::from(f.minor()) << 8);
    let (mut ok, mut warned, mut errors, mut slowest, mut most) = (0, 0, 0, Duration::ZERO, 0usize);
    let mut failures = Vec::new();
    let start = Instant::now();
    for i in 0..cases {
        let (input, what) = mutated(&mut rng, &core, &parsed, &aims);
        let exe_copy = exe.clone();
        let base = crate::live_bytes();
        crate::reset_peak();
        let (tx, rx) = mpsc::channel();
        let began = Instant::now();
        std::thread::spawn(move || {
            let r = std::panic::catch_unwind(move || run_case(input, exe_copy));
            let _ = tx.send(r);
        });
        match rx.recv_timeout(CASE_TIME) {
            Ok(Ok(Outcome::Ok { warnings })) => {
                ok += 1;
                warned += usize::from(warnings > 0);
            }
            Ok(Ok(Outcome::Error)) => errors += 1,
            Ok(Err(_)) => failures.push(format!("case {i} ({what}): panic")),
            Err(_) => {
                failures.push(format!("case {i} ({what}): still running after {CASE_TIME:?}"));
                break;
            }
        }
        slowest = slowest.max(began.elapsed());
        // The core copy and the exe copy are the case's own input.
        let used = crate::peak_bytes().saturating_sub(base);
        most = most.max(used);
        if used > CASE_MEMORY + core.len() + 2 * exe.len() {
            failures.push(format!("case {i} ({what}): {} MiB of heap", used >> 20));
        }
    }
    eprintln!(
        "mutation {}: {cases} cases in {:.1} s: {ok} Ok ({warned} with warnings), {errors} errors; slowest {:.2} s, most memory {} MiB",
        f.name,
        start.elapsed().as_secs_f64(),
        slowest.as_secs_f64(),
        most >> 20
    );
    assert!(failures.is_empty(), "{}: {} of {cases} mutated cores failed:\n{}", f.name, failures.len(), failures.join("\n"));
}

/// Mutated cores per fixture in the suite; REFGRAPH_FUZZ_ITERS / 1000 in
/// a long run.
fn cases() -> u64 {
    (iterations(0) / 1000).max(100)
}

#[test]
fn mutated_cores_go1_22_with_dwarf() {
    let f = fixtures().into_iter().find(|f| f.program() == "shapes" && f.minor() == 22).unwrap();
    campaign(&f, cases());
}

#[test]
fn mutated_cores_go1_27_stripped() {
    let f = fixtures().into_iter().find(|f| f.program() == "retain" && f.minor() == 27 && f.variant() == "stripped").unwrap();
    campaign(&f, cases());
}

#[test]
fn mutated_cores_go1_19() {
    let f = fixtures().into_iter().find(|f| f.program() == "shapes" && f.minor() == 19).unwrap();
    campaign(&f, cases());
}

/// A corrupt span is skipped, counted and reported with the bytes it
/// covers; the rest of the heap is walked. One in-use span's `nelems`
/// (offset and size from DWARF) is set to its largest value, far above the
/// runtime's 1024 per span.
#[test]
fn a_corrupt_span_is_skipped_and_reported_with_its_bytes() {
    let (f, core, exe) = shapes_go1_22();
    let open = |core: Vec<u8>| open_bytes(core, &exe);
    let (off, width, span_bytes, in_span) = {
        let image = open(core.clone());
        let p = Process::new(&image).unwrap();
        let l = &p.layout;
        let spans = read_spans(&p).unwrap();
        let heap = Heap::build(&p).unwrap();
        assert_eq!(heap.len() as u64, f.num("heap_objects"));
        let (base, ha) = spans.arenas[0];
        let objects_in = |start: u64, end: u64| (0..heap.len() as u32).filter(|&i| heap.addr(i) >= start && heap.addr(i) < end).count() as u64;
        let (mspan, npages, in_span) = spans
            .spans
            .iter()
            .filter(|s| s.sizeclass() > 0 && s.start >= base && s.start < base + l.arena_bytes)
            .find_map(|s| {
                let mspan = image.u64(ha + l.arena_spans.off + 8 * ((s.start - base) / l.page_size)).ok()?;
                let npages = image.u64(mspan + l.span_npages.off).ok()?;
                let n = objects_in(s.start, s.start + npages * l.page_size);
                (n > 0).then_some((mspan, npages, n))
            })
            .unwrap();
        let width = l.span_nelems.size as usize;
        (file_offset(&image.core, mspan + l.span_nelems.off).unwrap(), width, npages * l.page_size, in_span)
    };
    let mut bad = core.clone();
    bad[off..off + width].fill(0xff);
    let image = open(bad);
    let (objects, warnings) = analyze(&image, &mut Timings::default(), |a, _| Ok((a.typed.heap.len() as u64, a.typed.warnings.clone()))).unwrap();
    assert_eq!(objects, f.num("heap_objects") - in_span);
    let w = warnings.iter().find(|w| w.contains("skipped")).unwrap_or_else(|| panic!("no warning in {warnings:?}"));
    assert!(w.contains(&format!("{span_bytes} bytes")), "{w}");
}

/// Two arenas whose heapArena records overlap are refused: otherwise a
/// few bytes of core could stand for millions of arenas, each with a page
/// table. A second arena index is added to allArenas, its L2 entry
/// pointing 8 bytes past the first arena's record.
#[test]
fn overlapping_arena_records_are_refused() {
    let (_, core, exe) = shapes_go1_22();
    let open = |core: Vec<u8>| open_bytes(core, &exe);
    let mut bad = core.clone();
    {
        let image = open(core.clone());
        let p = Process::new(&image).unwrap();
        let l = &p.layout;
        let hdr = p.mheap + l.mheap_all_arenas.off;
        let (arr, n) = p.slice_header(hdr).unwrap();
        assert_eq!(n, 1, "the fixture has one arena");
        let idx = image.u64(arr).unwrap();
        let l2 = p.ptr(p.mheap + l.mheap_arenas.off).unwrap();
        let ha = p.ptr(l2 + 8 * idx).unwrap();
        let mut put = |addr: u64, v: u64| {
            let off = file_offset(&image.core, addr).expect("in the core");
            bad[off..off + 8].copy_from_slice(&v.to_le_bytes());
        };
        put(hdr + 8, 2);
        put(arr + 8, idx + 1);
        put(l2 + 8 * (idx + 1), ha + 8);
    }
    let image = open(bad);
    let err = analyze(&image, &mut Timings::default(), |_, _| Ok(())).unwrap_err().to_string();
    assert!(err.contains("overlap"), "{err}");
}

/// Found by the mutation test in a 1000-core run (case 966 of
/// shapes-go1.22.12, words of the heap object holding allp's array): a P
/// pointer near the top of the address space made the tiny-block roots add
/// past 2⁶⁴ and panic. Every pointer the root finders follow is now added
/// to wrapping; this sets allp[0] so.
#[test]
fn a_p_pointer_at_the_top_of_the_address_space() {
    let (_, core, exe) = shapes_go1_22();
    let open = |core: Vec<u8>| open_bytes(core, &exe);
    let mut bad = core.clone();
    {
        let image = open(core.clone());
        let p = Process::new(&image).unwrap();
        let allp = p.symbols.get("runtime.allp").expect("symbols").addr;
        let (arr, n) = p.slice_header(allp).unwrap();
        assert!(n > 0);
        let off = file_offset(&image.core, arr).unwrap();
        bad[off..off + 8].copy_from_slice(&(u64::MAX - 8).to_le_bytes());
    }
    let image = open(bad);
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| analyze(&image, &mut Timings::default(), |_, _| Ok(()))));
    assert!(r.is_ok(), "panicked");
}
