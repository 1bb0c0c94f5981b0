//! Drill-down outputs checked by outside readers and by the fixture
//! programs' own accounts: the pprof profile as `go tool pprof` reads it,
//! retained sizes and paths against the shapes the dominators program
//! built, diffs between its two sizes.

use std::process::Command;

use refgraph::cli::pipeline::collect_roots;
use refgraph::graph::Dominators;
use refgraph::heap::{Edges, Heap};
use refgraph::query::root_targets;
use refgraph::runtime::Process;
use serde_json::Value;

use crate::util::{each, fixtures, json_num, load, overview, root, run_refgraph as run, Fixture};

/// `go tool pprof ARGS FILE`'s standard output.
fn pprof(args: &[&str], file: &std::path::Path) -> Result<String, String> {
    let out = Command::new("go").args(["tool", "pprof"]).args(args).arg(file).output().map_err(|e| format!("go tool pprof: {e}"))?;
    if !out.status.success() {
        return Err(format!("go tool pprof failed: {}", String::from_utf8_lossy(&out.stderr)));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// The total of a `-top -unit=B` listing: "… of 1234B total".
fn pprof_total(top: &str) -> Result<u64, String> {
    let line = top.lines().find(|l| l.ends_with(" total")).ok_or("no total line in pprof -top")?;
    let word = line.split_whitespace().rev().nth(1).ok_or("short total line")?;
    word.trim_end_matches('B').parse().map_err(|_| format!("bad total in {line:?}"))
}

/// Cumulative bytes by function name of a `-top -cum -unit=B` listing.
fn pprof_cum(top: &str) -> Vec<(String, u64)> {
    let mut rows = Vec::new();
    for l in top.lines() {
        let w: Vec<&str> = l.split_whitespace().collect();
        if w.len() >= 6 && w[3].ends_with('B') {
            if let Ok(cum) = w[3].trim_end_matches('B').parse() {
                rows.push((w[5..].join(" "), cum));
            }
        }
    }
    rows
}

#[test]
fn pprof_profile_totals_and_top_roots_as_go_tool_pprof_reads_them() {
    let fx = fixtures();
    let dir = tempfile::tempdir().unwrap();
    each(&fx, |f| {
        let reached = json_num(&overview(f)?, "reached_bytes")?;
        // reached_bytes is checked against MemStats.HeapAlloc in tree.rs;
        // here the same floor, from the truth itself.
        if (reached as f64) < 0.999 * f.num("heap_alloc") as f64 {
            return Err(format!("reached {reached} of HeapAlloc {}", f.num("heap_alloc")));
        }
        let path = dir.path().join(format!("{}.pb.gz", f.name));
        run(f, &["objref", "--pprof", path.to_str().unwrap()])?;
        let top = pprof(&["-top", "-cum", "-unit=B", "-nodefraction=0", "-sample_index=inuse_space"], &path)?;
        let total = pprof_total(&top)?;
        if total != reached {
            return Err(format!("pprof total {total} != reached {reached}"));
        }
        if f.program() != "retain" || f.stripped() {
            return Ok(());
        }
        // The globals the program built, by the bytes it says it built:
        // each holds at least those, and pprof ranks them in that order.
        let cum = pprof_cum(&top);
        let mut globals = [
            ("main.listHead", "list"),
            ("main.registry", "map_big"),
            ("main.hook", "closure"),
            ("main.held", "iface"),
            ("main.queue", "chan"),
        ]
        .map(|(g, p)| (g, f.num(&format!("{p}_bytes"))));
        globals.sort_by_key(|&(_, b)| std::cmp::Reverse(b));
        let mut last = 0;
        for (g, built) in globals {
            let pos = cum.iter().position(|(n, _)| n == g).ok_or_else(|| format!("{g} not in pprof -top"))?;
            if cum[pos].1 < built {
                return Err(format!("{g}: pprof cum {} < the {built} bytes the program built", cum[pos].1));
            }
            if pos < last {
                return Err(format!("{g} ranks above a global that holds more"));
            }
            last = pos;
        }
        // Objects: the list's 100000 nodes are counted under its root.
        let objs = pprof(&["-top", "-cum", "-nodefraction=0", "-sample_index=inuse_objects"], &path)?;
        let list = pprof_cum_count(&objs, "main.listHead").ok_or("main.listHead not in the inuse_objects listing")?;
        if list != f.num("list_objects") {
            return Err(format!("inuse_objects under main.listHead {list} != {} list nodes", f.num("list_objects")));
        }
        Ok(())
    });
}

/// The cumulative count of `name` in a `-top -cum` listing of counts.
fn pprof_cum_count(top: &str, name: &str) -> Option<u64> {
    top.lines().find_map(|l| {
        let w: Vec<&str> = l.split_whitespace().collect();
        (w.len() >= 6 && w[5..].join(" ") == name).then(|| w[3].parse().ok()).flatten()
    })
}

/// The two dominators fixtures: one executable, sizes 1000 and 3000.
fn dominator_fixtures() -> (Fixture, Fixture) {
    let dir = root().join("fixtures/cores");
    (load(&dir.join("dominators-go1.26.11")), load(&dir.join("dominators-go1.26.11-n3000")))
}

/// `refgraph CORE --exe BIN ARGS` parsed as JSON.
fn json_of(f: &Fixture, args: &[&str]) -> Result<Value, String> {
    serde_json::from_str(&run(f, args)?).map_err(|e| format!("{args:?}: not JSON: {e}"))
}

/// `paths ADDR --json`'s one object.
fn paths_of(f: &Fixture, addr: u64, extra: &[&str]) -> Result<Value, String> {
    let a = format!("{addr:#x}");
    let mut args = vec!["paths", a.as_str(), "--json"];
    args.extend_from_slice(extra);
    let v = json_of(f, &args)?;
    Ok(v["objects"][0].clone())
}

fn num(v: &Value, k: &str) -> u64 {
    v[k].as_u64().unwrap_or_else(|| panic!("no number {k} in {v}"))
}

/// Objects on a JSON path, and its root.
fn path_objects(p: &Value) -> (String, u64, String) {
    let steps = p["steps"].as_array().expect("steps");
    let n = steps.iter().map(|s| s["repeat"].as_u64().unwrap()).sum();
    (p["root"].as_str().unwrap().to_string(), n, steps.last().unwrap()["addr"].as_str().unwrap().to_string())
}

#[test]
fn retained_sizes_of_the_shapes_the_program_built() {
    let (a, b) = dominator_fixtures();
    each(&[a, b], |f| {
        // Objects each shape's top object retains, as the program says.
        let cases = [
            ("shared_addr", "shared_objects"),
            ("diamond_addr", "diamond_objects"),
            ("diamond_bottom_addr", "diamond_bottom_objects"),
            ("cycle_addr", "cycle_objects"),
            ("cycle_second_addr", "cycle_second_objects"),
            ("chain_addr", "chain_objects"),
            ("chain_mid_addr", "chain_mid_objects"),
            ("exclusive_addr", "exclusive_objects"),
        ];
        for (addr, objects) in cases {
            let o = paths_of(f, f.num(addr), &[])?;
            if num(&o, "retained_objects") != f.num(objects) {
                return Err(format!("{addr}: retains {} objects, the program built {}", num(&o, "retained_objects"), f.num(objects)));
            }
        }
        // The diamond's left node retains only itself.
        let left = paths_of(f, f.num("diamond_left_addr"), &[])?;
        if num(&left, "retained_objects") != 1 {
            return Err(format!("diamond left retains {} objects", num(&left, "retained_objects")));
        }
        // By root: the exclusive tree whole, the shared blob by neither.
        let top = json_of(f, &["top", "--json", "--top", "100000"])?;
        let roots = top["roots"].as_array().ok_or("no roots")?;
        let root = |name: &str| roots.iter().find(|r| r["name"] == name).cloned();
        for (name, shape) in [
            ("main.exclusive", "exclusive"),
            ("main.diamond", "diamond"),
            ("main.cycle", "cycle"),
            ("main.chain", "chain"),
            ("main.grow", "grow"),
        ] {
            let r = root(name).ok_or_else(|| format!("no root {name} in top"))?;
            let (objs, bytes) = (num(&r, "retained_objects"), num(&r, "retained_bytes"));
            if objs != f.num(&format!("{shape}_objects")) || bytes < f.num(&format!("{shape}_bytes")) {
                return Err(format!(
                    "{name} retains {objs} objects, {bytes} bytes; the program built {} and {}",
                    f.num(&format!("{shape}_objects")),
                    f.num(&format!("{shape}_bytes"))
                ));
            }
        }
        for name in ["main.sharedA", "main.sharedB"] {
            if let Some(r) = root(name) {
                if num(&r, "retained_bytes") != 0 {
                    return Err(format!("{name} retains {} bytes of a blob it shares", num(&r, "retained_bytes")));
                }
            }
        }
        Ok(())
    });
}

#[test]
fn paths_lead_to_the_objects_the_program_printed() {
    let (f, _) = dominator_fixtures();
    // The chain's middle node, also by an address inside it.
    let mid = f.num("chain_mid_addr");
    for addr in [mid, mid + 8] {
        let o = paths_of(&f, addr, &[]).unwrap();
        let (root_name, objects, last) = path_objects(&o["shortest"]);
        assert_eq!(
            (root_name.as_str(), objects, last),
            ("main.chain", f.num("chain_mid_depth") + 1, format!("{mid:#x}")),
            "paths {addr:#x}"
        );
    }
    // The diamond's bottom: two chains, one through each side.
    let o = paths_of(&f, f.num("diamond_bottom_addr"), &[]).unwrap();
    let chains = o["chains"].as_array().unwrap();
    assert_eq!(chains.len(), 2, "{o}");
    let left = format!("{:#x}", f.num("diamond_left_addr"));
    assert!(
        chains.iter().any(|c| c["steps"].as_array().unwrap().iter().any(|s| s["addr"] == left.as_str())),
        "no chain through the left node: {o}"
    );
    // The shared blob: from sharedB once sharedA is ignored.
    let o = paths_of(&f, f.num("shared_addr"), &["--ignore", "main.sharedA"]).unwrap();
    assert_eq!(path_objects(&o["shortest"]).0, "main.sharedB", "{o}");
    // Nothing else keeps the chain alive.
    let o = paths_of(&f, mid, &["--ignore", "main.chain"]).unwrap();
    assert!(o["shortest"].is_null(), "{o}");
    // In the retain fixtures: each pattern's top object under its global.
    for f in fixtures().iter().filter(|f| f.program() == "retain" && f.variant() == "plain") {
        for (p, root_name) in [("list", "main.listHead"), ("iface", "main.held"), ("closure", "main.hook"), ("chan", "main.queue")] {
            let o = paths_of(f, f.num(&format!("{p}_addr")), &[]).unwrap_or_else(|e| panic!("{}: {e}", f.name));
            let (r, _, last) = path_objects(&o["shortest"]);
            assert_eq!((r.as_str(), last), (root_name, format!("{:#x}", f.num(&format!("{p}_addr")))), "{}: {p}", f.name);
        }
    }
}

/// The objects reachable from `roots` without `drop`, by plain search.
fn reach(roots: &[Vec<u32>], edges: &Edges, heap: &Heap, drop: Option<u32>) -> Vec<bool> {
    let mut seen = vec![false; heap.len()];
    let mut todo: Vec<u32> = roots.iter().flatten().copied().filter(|&o| Some(o) != drop).collect();
    while let Some(o) = todo.pop() {
        if std::mem::replace(&mut seen[o as usize], true) {
            continue;
        }
        let (a, b) = edges.range(o);
        todo.extend(edges.targets(a, b).iter().copied().filter(|&t| Some(t) != drop && !seen[t as usize]));
    }
    seen
}

#[test]
fn retained_sizes_match_removing_objects_one_at_a_time() {
    let (small, _) = dominator_fixtures();
    let retain = load(&root().join("fixtures/cores/retain-go1.26.11"));
    each(&[small, retain], |f| {
        let image = crate::util::open_image(f)?;
        let p = Process::new(&image).map_err(|e| e.to_string())?;
        let heap = Heap::build(&p).map_err(|e| e.to_string())?;
        let edges = Edges::build(&p, &heap);
        let (roots, _) = collect_roots(&p, &heap).map_err(|e| e.to_string())?;
        let targets = root_targets(&roots);
        let dom = Dominators::compute(&targets, heap.len(), &edges, &|o| heap.size(o)).ok_or("no dominator tree")?;
        let base = reach(&targets, &edges, &heap, None);
        for (i, &b) in base.iter().enumerate() {
            if b != dom.object(i as u32).is_some() {
                return Err(format!("object {i}: reached {b} by search, not so in the dominator tree"));
            }
        }
        // A sample: every 97th object, and the program's own objects.
        let mut sample: Vec<u32> = (0..heap.len() as u32).step_by(97).collect();
        for (k, v) in &f.truth {
            if k.ends_with("_addr") && !k.ends_with("global_addr") {
                sample.extend(v.as_u64().and_then(|a| heap.find(a)));
            }
        }
        for o in sample {
            let Some(n) = dom.object(o) else { continue };
            let after = reach(&targets, &edges, &heap, Some(o));
            let lost = (0..heap.len()).filter(|&i| base[i] && !after[i]);
            let (objects, bytes) = lost.fold((0, 0), |(k, b), i| (k + 1, b + heap.size(i as u32)));
            if (dom.retained_objects(n), dom.retained(n)) != (objects, bytes) {
                return Err(format!(
                    "object {o} at {:#x}: retains {} objects, {} bytes; removing it loses {objects}, {bytes}",
                    heap.addr(o),
                    dom.retained_objects(n),
                    dom.retained(n)
                ));
            }
        }
        Ok(())
    });
}

#[test]
fn diff_of_two_sizes_shows_what_the_program_added() {
    let (old, new) = dominator_fixtures();
    let dir = tempfile::tempdir().unwrap();
    let folded = dir.path().join("diff.folded");
    let new_core = new.core();
    let v = json_of(&old, &["diff", new_core.to_str().unwrap(), "--json", "--top", "1000", "--folded", folded.to_str().unwrap()]).unwrap();
    let grew = |k: &str| new.num(k) as i64 - old.num(k) as i64;
    let row = |kind: &str, suffix: &str| -> Value {
        v[kind]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["name"].as_str().unwrap().ends_with(suffix))
            .cloned()
            .unwrap_or_else(|| panic!("no {kind} row {suffix} in {v}"))
    };
    // By root: the chain and the slice of blobs, as the program counts.
    let chain = row("roots", ";main.chain");
    assert_eq!(
        (chain["objects"].as_i64().unwrap(), chain["bytes"].as_i64().unwrap()),
        (grew("chain_objects"), grew("chain_bytes")),
        "{chain}"
    );
    let grow = row("roots", ";main.grow");
    assert_eq!(grow["objects"].as_i64().unwrap(), grew("grow_objects"), "{grow}");
    assert!(grow["bytes"].as_i64().unwrap() >= grew("grow_bytes"), "{grow}");
    // By type: a node per added chain link, a Blob per added blob.
    assert_eq!(row("types", "main.Node")["objects"].as_i64().unwrap(), grew("chain_objects"));
    assert_eq!(row("types", "main.Blob")["objects"].as_i64().unwrap(), grew("n"));
    assert_eq!(v["roots"][0]["name"].as_str().unwrap().rsplit(';').next(), Some("main.grow"), "largest growth first");

    // The side-by-side folded stacks equal what inferno-diff-folded makes
    // of the two cores' folded stacks, and inferno draws them.
    let (a, b) = (dir.path().join("old.folded"), dir.path().join("new.folded"));
    run(&old, &["objref", "--folded", a.to_str().unwrap()]).unwrap();
    run(&new, &["objref", "--folded", b.to_str().unwrap()]).unwrap();
    let mut theirs = Vec::new();
    let opt = inferno::differential::Options::default();
    inferno::differential::from_files(opt, &a, &b, &mut theirs).unwrap();
    let lines = |t: &str| -> std::collections::BTreeSet<String> { t.lines().map(str::to_string).collect() };
    let ours = std::fs::read_to_string(&folded).unwrap();
    assert_eq!(lines(&ours), lines(&String::from_utf8(theirs).unwrap()));
    let mut svg = Vec::new();
    let mut fopt = inferno::flamegraph::Options::default();
    inferno::flamegraph::from_lines(&mut fopt, ours.lines(), &mut svg).unwrap();
    assert!(svg.len() > 1000);

    // go tool pprof -diff_base: the chain grew by exactly its nodes.
    let (pa, pb) = (dir.path().join("old.pb.gz"), dir.path().join("new.pb.gz"));
    run(&old, &["objref", "--pprof", pa.to_str().unwrap()]).unwrap();
    run(&new, &["objref", "--pprof", pb.to_str().unwrap()]).unwrap();
    let top = pprof(&["-top", "-cum", "-unit=B", "-nodefraction=0", "-diff_base", pa.to_str().unwrap()], &pb).unwrap();
    let cum = pprof_cum(&top);
    let of = |n: &str| cum.iter().find(|(k, _)| k == n).map(|&(_, c)| c).unwrap_or_else(|| panic!("{n} not in\n{top}"));
    assert_eq!(of("main.chain") as i64, grew("chain_bytes"));
    assert!(of("main.grow") as i64 >= grew("grow_bytes"));
}

#[test]
fn retained_bytes_by_type_in_histogram_and_top_json() {
    let (f, _) = dominator_fixtures();
    let n = f.num("n");
    // Blob and Node sizes (24, 16) and their data (256, 8192) are size
    // classes of their own: the slots hold exactly what was asked for.
    // All Nodes are the chain, retained by its head; the Blobs are the N
    // in grow, each with its data, and the shared one with its data.
    let want = [("main.Node", f.num("chain_bytes")), ("main.Blob", f.num("grow_bytes") - 8 * n + f.num("shared_bytes"))];
    let h = json_of(&f, &["histogram", "--json"]).unwrap();
    let top = json_of(&f, &["top", "--json", "--top", "1000"]).unwrap();
    for (name, bytes) in want {
        let row = h["types"].as_array().unwrap().iter().find(|r| r["type"] == name).unwrap_or_else(|| panic!("no {name} in {h}"));
        assert_eq!(num(row, "retained_bytes"), bytes, "histogram {name}");
        let row = top["types"].as_array().unwrap().iter().find(|r| r["name"] == name).unwrap_or_else(|| panic!("no {name} in {top}"));
        assert_eq!(num(row, "retained_bytes"), bytes, "top {name}");
    }
    assert_eq!((num(&h, "objects"), num(&h, "bytes")), (f.num("heap_objects"), f.num("heap_alloc")));
    // The largest suspect is the growing slice, its bytes in its array.
    let s = &top["suspects"][0];
    assert_eq!(s["retainer"]["name"], "main.grow", "{s}");
    // (The array's slot starts before its data on Go 1.22+: a malloc
    // header.)
    let point = u64::from_str_radix(s["point"]["addr"].as_str().unwrap().trim_start_matches("0x"), 16).unwrap();
    assert!((point..point + num(&s["point"], "own_bytes")).contains(&f.num("grow_addr")), "{s}");
    assert_eq!(num(s, "children"), n, "{s}");
}

#[test]
fn drill_commands_refuse_bad_input_in_one_line() {
    let (f, _) = dominator_fixtures();
    let retain_core = root().join("fixtures/cores/retain-go1.26.11/core.zst");
    let cases: [(&[&str], &str); 4] = [
        (&["paths", "0x10"], "not inside any allocated heap object"),
        (&["paths", "zz"], "is not an address"),
        (&["paths", "--type", "main.Nope"], "no object of type main.Nope"),
        (&["diff", retain_core.to_str().unwrap()], "is not the executable of this core"),
    ];
    for (args, want) in cases {
        let err = run(&f, args).expect_err("a bad input must fail");
        let lines: Vec<&str> = err.lines().collect();
        assert!(lines.len() == 1 && lines[0].starts_with("refgraph: error: ") && lines[0].contains(want), "{args:?}: {err:?}");
    }
}

#[test]
fn top_covers_the_heap_of_every_kind_of_fixture() {
    // Every variant and program, on the versions where the runtime's
    // layouts changed most (the pprof test runs every fixture).
    let fx: Vec<Fixture> =
        fixtures().into_iter().filter(|f| ["go1.19.", "go1.22.", "go1.24.", "go1.27."].iter().any(|v| f.name.contains(v))).collect();
    each(&fx, |f| {
        let v = json_of(f, &["top", "--json", "--top", "3"])?;
        // The dominator tree's top retains every reached byte: the heap,
        // to 0.1% (tree.rs checks the same of the reference tree).
        let (reached, heap) = (num(&v, "reached_bytes"), f.num("heap_alloc"));
        if (reached as f64) < 0.999 * heap as f64 || reached > heap {
            return Err(format!("top reaches {reached} of HeapAlloc {heap}"));
        }
        if f.program() == "retain" && !f.stripped() {
            // The list is the largest thing the program built, held by
            // one global alone; its head is where its bytes accumulate.
            let s = &v["suspects"][0];
            if s["retainer"]["name"] != "main.listHead" || num(&s["retainer"], "retained_objects") != f.num("list_objects") {
                return Err(format!("first suspect {s}, not main.listHead with its {} nodes", f.num("list_objects")));
            }
            // Its bytes accumulate in the list, from its head on.
            if s["point"]["addr"].as_str() != Some(format!("{:#x}", f.num("list_addr")).as_str()) {
                return Err(format!("the list's accumulation point is {}, not its head", s["point"]));
            }
        }
        Ok(())
    });
}
