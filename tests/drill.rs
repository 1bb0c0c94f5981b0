//! Drill-down outputs checked by outside readers and by the fixture
//! programs' own accounts: the pprof profile as `go tool pprof` reads it.

use std::process::Command;

use crate::util::{each, fixtures, json_num, overview, run_refgraph as run};

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
        if f.program() != "retain" || f.variant() == "stripped" {
            return Ok(());
        }
        // The globals the program built, by the bytes it says it built:
        // each holds at least those, and pprof ranks them in that order.
        let cum = pprof_cum(&top);
        let mut globals = [("main.listHead", "list"), ("main.registry", "map_big"), ("main.hook", "closure"), ("main.held", "iface"), ("main.queue", "chan")]
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
