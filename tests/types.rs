//! Type inference through the command line: how much of each heap gets a
//! type, the names of what the retain program built from root to leaf,
//! and `histogram` counts against what the programs say they built.

use std::collections::BTreeMap;

use refgraph::render::read_folded;

use refgraph::cli::pipeline::collect_roots;
use refgraph::heap::{Edges, Heap};
use refgraph::infer::{Fact, Inference};
use refgraph::runtime::Process;

use crate::util::{each, fixtures, goroutine_frame, json_num as num, overview, run_refgraph as run, Fixture};

#[test]
fn typed_share_of_reached_objects_and_bytes() {
    let fx = fixtures();
    let mut table = Vec::new();
    each(&fx, |f| {
        let o = overview(f)?;
        let (objects, bytes) = (num(&o, "reached_objects")?, num(&o, "reached_bytes")?);
        let (typed_objects, typed_bytes) = (num(&o, "typed_objects")?, num(&o, "typed_bytes")?);
        let po = 100.0 * typed_objects as f64 / objects.max(1) as f64;
        let pb = 100.0 * typed_bytes as f64 / bytes.max(1) as f64;
        table.push(format!("{:<28} {po:>7.2}% {pb:>7.2}%   ({typed_objects}/{objects} objects, {typed_bytes}/{bytes} bytes)", f.name));
        if typed_objects > objects || typed_bytes > bytes {
            return Err(format!("typed {typed_objects}/{typed_bytes} exceeds reached {objects}/{bytes}"));
        }
        // Without DWARF, globals and stack variables have no types; no
        // threshold there.
        if !f.stripped() && (po < 97.0 || pb < 99.0) {
            return Err(format!("typed {po:.2}% of the reached objects and {pb:.2}% of their bytes (want 97% and 99%)"));
        }
        Ok(())
    });
    println!("{:<28} {:>8} {:>8}", "fixture", "objects", "bytes");
    for line in table {
        println!("{line}");
    }
}

/// The folded stacks of a fixture with every node printed.
fn folded(f: &Fixture, dir: &std::path::Path) -> Result<BTreeMap<String, u64>, String> {
    let path = dir.join(format!("{}.folded", f.name));
    run(f, &["objref", "--folded", "--minwidth", "0", path.to_str().unwrap()])?;
    let (stacks, bad) = read_folded(&std::fs::read_to_string(&path).map_err(|e| e.to_string())?);
    if bad > 0 {
        return Err(format!("{bad} malformed folded lines"));
    }
    Ok(stacks)
}

/// Bytes and number of the stacks that start with `prefix` and end with
/// `suffix`.
fn matching(stacks: &BTreeMap<String, u64>, prefix: &str, suffix: &str) -> (u64, usize) {
    let hits: Vec<u64> = stacks.iter().filter(|(s, _)| s.starts_with(prefix) && s.ends_with(suffix)).map(|(_, &n)| n).collect();
    (hits.iter().sum(), hits.len())
}

#[test]
fn retain_patterns_are_named_by_their_go_types_from_root_to_leaf() {
    let fx: Vec<Fixture> = fixtures().into_iter().filter(|f| f.program() == "retain" && !f.stripped()).collect();
    let dir = tempfile::tempdir().unwrap();
    each(&fx, |f| {
        let stacks = folded(f, dir.path())?;
        let want = |what: &str, prefix: &str, suffix: &str, min_bytes: u64| -> Result<usize, String> {
            let (bytes, n) = matching(&stacks, prefix, suffix);
            if n == 0 || bytes < min_bytes {
                let near: Vec<&String> = stacks.keys().filter(|s| s.starts_with(prefix)).take(3).collect();
                return Err(format!(
                    "{what}: {n} stacks {prefix}…{suffix} with {bytes} bytes (want ≥ {min_bytes}); under the root: {near:?}"
                ));
            }
            Ok(n)
        };
        // Maps are one frame each: their buckets, groups, tables and
        // directories are bytes of the map, never frames of their own.
        for s in stacks.keys() {
            if ["map.bucket", "map.group", "map.table", "map.dir", "map.extra"].iter().any(|m| s.contains(m)) {
                return Err(format!("map machinery as a frame: {:?}", &s[..s.len().min(200)]));
            }
        }
        // map_big: values are main.Entry through $val, payloads []uint8
        // through .Payload, key strings through $key, right under the map.
        let big = f.num("map_big_entries");
        let root = "globals;main.registry;map[string]*main.Entry;";
        want("map_big entries", &format!("{root}$val;main.Entry"), "", big * (48 + 256))?;
        want("map_big payloads", &format!("{root}$val;main.Entry;.Payload;"), "[]uint8", big * 256)?;
        want("map_big keys", &format!("{root}$key;"), "string.bytes", big * 24)?;
        // map_small: five entries fit one bucket/group, so each value is
        // linked by its int key, `[k]`; the program uses keys i*7.
        let small = f.num("map_small_entries");
        let root = "globals;main.small;map[int]*main.Entry;";
        for i in 0..small {
            let k = i * 7;
            want("map_small payload", &format!("{root}[{k}];main.Entry;.Payload;"), "[]uint8", 128)?;
            want("map_small name", &format!("{root}[{k}];main.Entry;.Name;"), "string.bytes", 20)?;
        }
        if stacks.keys().any(|s| s.starts_with(root) && s.contains(";$val;")) {
            return Err("map_small: a value linked as $val, not by its key".into());
        }

        // list: one frame, the run of all its nodes along .Next, holding
        // exactly the bytes the program built (16-byte nodes fill their
        // size class).
        let run = format!("globals;main.listHead;main.Node ×{} (.Next)", f.num("list_nodes"));
        let under: Vec<(&String, &u64)> = stacks.iter().filter(|(s, _)| s.starts_with("globals;main.listHead;")).collect();
        if under.len() != 1 || *under[0].0 != run || *under[0].1 != f.num("list_bytes") {
            return Err(format!("list: stacks {under:?}, want only {run:?} with {} bytes", f.num("list_bytes")));
        }

        // chan: the buffer holds main.Items.
        let n = want("chan", "globals;main.queue;hchan<*main.Item>;.buf;[]*main.Item;[", "];main.Item", f.num("chan_len") * 56)?;
        if n as u64 != f.num("chan_len") {
            return Err(format!("chan: {n} items in the buffer, {} sent", f.num("chan_len")));
        }
        // iface: the interface's data word holds the *Secret.
        want("iface", "globals;main.held;.data;main.Secret;.Key;", "[]uint8", 4096)?;
        // closure: named as a closure of main, its captured slice placed
        // (by Go 1.23+ DWARF, or rebuilt from the closure function's DWARF
        // before): the closure object and the 2000 ints' array, which the
        // allocator rounds up to a size class (by at most 12.5%).
        let closure = "globals;main.hook;closure for main.buildClosure.func1";
        let data = 8 * f.num("closure_len");
        let object = f.num("closure_bytes") - data;
        let own = stacks.get(closure).copied().unwrap_or(0);
        if own != object {
            return Err(format!("closure: {own} bytes in {closure:?}, the program's closure object has {object}"));
        }
        let (bytes, n) = matching(&stacks, &format!("{closure};.data;"), "[]int");
        if n != 1 || bytes < data || bytes > data + data / 8 {
            return Err(format!("closure data: {n} stacks with {bytes} bytes under {closure};.data, the program built {data}"));
        }
        if stacks.keys().any(|s| s.starts_with(closure) && s.contains("unk<")) {
            return Err("closure: an untyped object under the closure".into());
        }
        // stack_local: the worker's local buf, under the goroutine named by
        // the function it runs and the one that started it.
        let keys: String = stacks.keys().map(|k| format!("{k}\n")).collect();
        let worker = goroutine_frame(&keys, "main.worker", "main.buildStackLocal")?;
        want("stack_local", &format!("goroutines;{worker};main.worker.buf;"), "[]uint8", f.num("stack_local_bytes"))?;
        // finalizer: the object and its payload under the global that
        // holds it; the finalizer keeps nothing of it.
        want("finalizer", "globals;main.finKeep;main.FinObj", "", 24)?;
        want("finalizer payload", "globals;main.finKeep;main.FinObj;.Data;", "[]uint8", 65536)?;
        if f.opt_num("cleanup_objects").is_some() {
            want("cleanup", "globals;main.cleanKeep;main.CleanObj;.Data;", "[]uint8", 32768)?;
        }
        Ok(())
    });
}

/// `histogram` as (name → (objects, bytes)); the retained column is
/// checked in drill.rs.
fn histogram(f: &Fixture) -> Result<BTreeMap<String, (u64, u64)>, String> {
    let text = run(f, &["histogram"])?;
    let mut out = BTreeMap::new();
    for line in text.lines().skip(1) {
        // objects, bytes, retained bytes, name.
        let mut w = line.split_whitespace();
        let (Some(count), Some(bytes), Some(_)) = (w.next(), w.next(), w.next()) else {
            return Err(format!("bad line {line:?}"));
        };
        let name = w.collect::<Vec<_>>().join(" ");
        let (Ok(count), Ok(bytes)) = (count.parse::<u64>(), bytes.parse::<u64>()) else {
            return Err(format!("bad line {line:?}"));
        };
        if name.starts_with("total:") {
            continue;
        }
        if out.insert(name.clone(), (count, bytes)).is_some() {
            return Err(format!("{name} listed twice"));
        }
    }
    Ok(out)
}

fn check_counts(h: &BTreeMap<String, (u64, u64)>, want: &[(&str, u64)]) -> Result<(), String> {
    for (name, n) in want {
        let got = h.get(*name).map_or(0, |c| c.0);
        if got != *n {
            return Err(format!("histogram: {got} × {name}, the program built {n}"));
        }
    }
    Ok(())
}

#[test]
fn histogram_counts_what_the_programs_built() {
    let fx: Vec<Fixture> = fixtures().into_iter().filter(|f| !f.stripped()).collect();
    each(&fx, |f| {
        let h = histogram(f)?;
        // Sorted by bytes, and the totals add up to the heap.
        let text = run(f, &["histogram", "--top", "3"])?;
        if text.lines().count() != 5 {
            return Err(format!("--top 3 printed {} lines", text.lines().count()));
        }
        let (objects, bytes) = h.values().fold((0, 0), |a, c| (a.0 + c.0, a.1 + c.1));
        if (objects, bytes) != (f.num("heap_objects"), f.num("heap_alloc")) {
            return Err(format!(
                "histogram sums to {objects} objects / {bytes} bytes, MemStats {} / {}",
                f.num("heap_objects"),
                f.num("heap_alloc")
            ));
        }
        if f.program() == "retain" {
            let entries = f.num("map_big_entries") + f.num("map_small_entries");
            let cleanup = u64::from(f.opt_num("cleanup_objects").is_some());
            check_counts(
                &h,
                &[
                    ("main.Node", f.num("list_nodes")),
                    ("main.Entry", entries),
                    ("main.Item", f.num("chan_len")),
                    ("main.Secret", 1),
                    ("main.FinObj", 1),
                    ("main.CleanObj", cleanup),
                    ("closure for main.buildClosure.func1", 1),
                ],
            )?;
            let strings = h.get("string.bytes").map_or(0, |c| c.0);
            if strings < entries {
                return Err(format!("{strings} string.bytes objects, fewer than the {entries} keys and names"));
            }
        } else if matches!(f.program().as_str(), "busy" | "stuck") {
            // The spinning goroutine's 1 MiB buffer is a []uint8 (the
            // runtime's other byte slices add up to far less).
            let bytes = h.get("[]uint8").map_or(0, |c| c.1);
            if bytes < f.num("spin_bytes") {
                return Err(format!("{bytes} bytes of []uint8, less than the spin buffer's {}", f.num("spin_bytes")));
            }
        } else if f.program() == "dominators" {
            let n = f.num("n");
            check_counts(&h, &[("main.Node", n), ("main.Blob", n + 1), ("main.DNode", 4), ("main.CNode", 8), ("main.Tree", 4)])?;
        } else {
            let offs = |r: &str| f.str(&format!("{r}_ptroffs")).split(',').count() as u64;
            // Every pointer field points at its own Leaf, but for the
            // generic pair's string.
            let leaves = offs("small_ptr")
                + offs("medium_ptr")
                + offs("large_ptr")
                + f.num("array_structs_len") * offs("array_structs")
                + offs("gcprog")
                + 1;
            check_counts(
                &h,
                &[
                    ("main.Leaf", leaves),
                    ("main.SmallPtr", 1),
                    ("main.MediumPtr", 1),
                    ("main.LargePtr", 1),
                    ("main.GCProg", 1),
                    ("[]main.Triple", 1),
                    ("main.Pair[string,*main.Leaf]", 1),
                    ("struct { A *int; B string; C []uint8 }", 1),
                ],
            )?;
        }
        Ok(())
    });
}

/// Go 1.23+ DWARF says where each captured variable sits in a closure
/// object (DW_AT_go_closure_offset): the compiler's own answer. For every
/// closure of the 1.23+ retain executables (the program's and the standard
/// library's), hide the offsets, rebuild the layout from the closure's
/// variables alone against the pointer words the compiler's layout has,
/// and compare: every field the rebuild places must be where the compiler
/// put it, and most closures must come out whole (every captured variable
/// with pointers placed).
#[test]
fn rebuilt_closure_layouts_agree_with_the_compilers_offsets() {
    use refgraph::gobin::{rebuild_closure, Dwarf};
    let fx: Vec<Fixture> =
        fixtures().into_iter().filter(|f| f.program() == "retain" && f.variant() == "plain" && f.minor() >= 23).collect();
    assert!(!fx.is_empty());
    each(&fx, |f| {
        let exe = zstd::stream::decode_all(std::fs::File::open(f.exe()).map_err(|e| e.to_string())?).map_err(|e| e.to_string())?;
        let d = Dwarf::load(&exe).map_err(|e| e.to_string())?.ok_or("no DWARF")?;
        let (mut closures, mut whole, mut partial) = (0, 0, 0);
        let mut names: Vec<(&String, _)> = d.subprograms().iter().collect();
        names.sort_by_key(|(n, _)| *n);
        for (func, &sub) in names {
            let truth = d.closure_vars(sub);
            if truth.is_empty() {
                continue;
            }
            // The compiler's layout: its pointer words and size.
            let mut end = 8;
            let mut ptrs = vec![false; 64];
            let mut known = true;
            let mut with_pointers = 0;
            for v in &truth {
                let Some(l) = v.ty.and_then(|t| d.value_layout(t, 1 << 12)) else {
                    known = false;
                    break;
                };
                with_pointers += usize::from(l.ptrs.contains(&true));
                end = end.max(v.offset + l.size);
                for (i, &p) in l.ptrs.iter().enumerate() {
                    if p && v.offset % 8 == 0 {
                        let w = (v.offset / 8) as usize + i;
                        if w >= ptrs.len() {
                            ptrs.resize(w + 1, false);
                        }
                        ptrs[w] = true;
                    }
                }
            }
            // A closure without pointers is allocated pointer-free: nothing
            // to place.
            if !known || with_pointers == 0 {
                continue;
            }
            let slot = end.next_multiple_of(8);
            ptrs.resize((slot / 8) as usize, false);
            closures += 1;
            let caps = d.closure_captures(func);
            let Some(rebuilt) = rebuild_closure(&d, &caps, slot, &ptrs) else {
                if std::env::var_os("REFGRAPH_SHOW_CLOSURES").is_some() {
                    println!("not rebuilt: {func}: {truth:?}\n  candidates {caps:?}");
                }
                continue;
            };
            for v in &rebuilt {
                let right = truth.iter().any(|t| t.offset == v.offset && t.name == v.name && t.ty == v.ty);
                if !right {
                    return Err(format!("{func}: rebuilt {} at {} ({:?}); the compiler's layout: {truth:?}", v.name, v.offset, v.ty));
                }
            }
            if rebuilt.len() == with_pointers {
                whole += 1;
            } else {
                partial += 1;
            }
        }
        println!("{}: {closures} closures, {whole} rebuilt whole, {partial} in part", f.name);
        if closures < 20 || whole * 10 < closures * 6 {
            return Err(format!("{whole} of {closures} closures rebuilt whole ({partial} in part)"));
        }
        Ok(())
    });
}

/// Wide levels expand and merge in parallel: every level of two fixtures
/// taken that way gives every object the same fact, whatever the number of
/// threads (rayon cuts the work differently for each). With levels of 64
/// objects or more taken as wide, the retain program's list is followed
/// one node at a time (narrow levels) while the rest of the heap is
/// expanded in parallel: the same facts again with any number of
/// threads, and every node the program linked typed `main.Node`.
#[test]
fn facts_do_not_depend_on_the_thread_count() {
    let fx: Vec<Fixture> = fixtures().into_iter().filter(|f| f.name == "retain-go1.26.11" || f.name == "dominators-go1.26.11").collect();
    assert_eq!(fx.len(), 2);
    each(&fx, |f| {
        let image = crate::util::open_image(f)?;
        let p = Process::new(&image).map_err(|e| e.to_string())?;
        let heap = Heap::build(&p).map_err(|e| e.to_string())?;
        let edges = Edges::build(&p, &heap);
        let (roots, _) = collect_roots(&p, &heap).map_err(|e| e.to_string())?;
        type Run = (Vec<Option<Fact>>, u64, u64, u64, usize);
        let facts = |threads: usize, par_min: usize| -> Result<Run, String> {
            let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().map_err(|e| e.to_string())?;
            let inf = pool.install(|| Inference::run_with(&p, &heap, &edges, &roots, par_min, &std::sync::atomic::AtomicU64::new(0)));
            let nodes = (0..heap.len() as u32).filter(|&o| inf.name(o) == "main.Node").count();
            Ok(((0..heap.len() as u32).map(|o| inf.fact(o)).collect(), inf.updates, inf.rounds, inf.narrow, nodes))
        };
        for par_min in [1, 64] {
            let one = facts(1, par_min)?;
            if one.2 < 2 || one.0.iter().filter(|f| f.is_some()).count() < heap.len() / 2 {
                return Err(format!("{} rounds, {} updates: the fixture does not exercise the levels", one.2, one.1));
            }
            println!("{}: par_min {par_min}: {} rounds, {} updates, {} one at a time", f.name, one.2, one.1, one.3);
            if par_min == 1 && one.3 != 0 {
                return Err(format!("{} objects expanded one at a time with every level taken as wide", one.3));
            }
            if par_min > 1 && f.name.starts_with("retain") {
                let list = f.num("list_nodes");
                if one.3 < list || one.4 as u64 != list {
                    return Err(format!("{} objects expanded one at a time, {} typed main.Node; the list has {list} nodes", one.3, one.4));
                }
            }
            for threads in [2, 3] {
                let many = facts(threads, par_min)?;
                if many != one {
                    let diff = (0..heap.len()).find(|&o| many.0[o] != one.0[o]);
                    return Err(format!(
                        "{threads} threads, par_min {par_min}: {} updates, {} rounds, {} one at a time, first object differing {diff:?} (1 thread: {}, {}, {})",
                        many.1, many.2, many.3, one.1, one.2, one.3
                    ));
                }
            }
        }
        Ok(())
    });
}
