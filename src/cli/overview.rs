//! `refgraph CORE --exe BIN overview`: what the core and executable are.

use std::io::Write;

use anyhow::Result;
use serde_json::json;

use std::collections::BTreeMap;

use super::pipeline::{analyze, Analysis, Timings};
use crate::gobin::go_build_id;
use crate::image::{Backing, ExeCheck, Image};
use crate::runtime::{read_goroutines, Goroutine};

/// Prints the overview as text or JSON; `timings` holds the time the
/// image took to open.
pub fn print(image: &Image, mut timings: Timings, as_json: bool, out: &mut dyn Write) -> Result<()> {
    analyze(image, &mut timings, |a, timings| {
        let goroutines = timings.run("goroutines", "reading goroutines", || read_goroutines(a.typed.process))?;
        write(image, a, &goroutines, timings, as_json, out)
    })
}

fn write(image: &Image, a: &Analysis, goroutines: &[Goroutine], timings: &Timings, as_json: bool, out: &mut dyn Write) -> Result<()> {
    let (process, heap, roots, inference) = (a.typed.process, a.typed.heap, a.typed.roots, a.typed.inference);
    let mut by_status: BTreeMap<String, u64> = BTreeMap::new();
    for g in goroutines {
        *by_status.entry(g.status.name()).or_default() += 1;
    }
    let live_goroutines = goroutines.iter().filter(|g| g.status.is_live()).count();
    let (reached_objects, reached_bytes) = (a.reached_objects, a.reached_bytes);
    let (typed_objects, typed_bytes) = (a.typed_objects, a.typed_bytes);
    let coverage = if heap.bytes() > 0 { 100.0 * reached_bytes as f64 / heap.bytes() as f64 } else { 100.0 };
    let info = &process.info;
    let warnings = &a.typed.warnings;
    let build_id = go_build_id(&image.exe.notes);
    let (mut core_bytes, mut exe_bytes) = (0u64, 0u64);
    for r in image.ranges() {
        match r.backing {
            Backing::Core => core_bytes += r.end - r.start,
            Backing::Exe => exe_bytes += r.end - r.start,
        }
    }
    let verified = match image.check {
        ExeCheck::Verified { bytes } => Some(bytes),
        ExeCheck::Unverified => None,
    };
    let exe_in_core =
        image.core.files.iter().find(|f| f.offset == 0 && f.start == image.bias.wrapping_add(lowest_load(image))).map(|f| f.path.clone());
    if as_json {
        let seconds: serde_json::Map<String, serde_json::Value> =
            timings.phases.iter().map(|p| (p.name.to_string(), json!(p.time.as_secs_f64()))).collect();
        let mut v = json!({
            "go_version": info.version.raw,
            "go_release": info.version.release(),
            "experiments": info.version.experiments,
            "arch": image.core.arch.name(),
            "core": image.core.path().display().to_string(),
            "exe": image.exe.path().display().to_string(),
            "exe_path_in_core": exe_in_core,
            "pie": image.exe.pie,
            "load_bias": image.bias,
            "go_build_id": build_id,
            "gnu_build_id": image.exe.gnu_build_id(),
            "exe_verified_bytes": verified,
            "threads": image.core.threads.len(),
            "core_segments": image.core.loads.len(),
            "core_bytes": core_bytes,
            "exe_fill_bytes": exe_bytes,
            "dwarf": process.dwarf.is_some(),
            "symbols": !process.symbols.is_empty(),
            "debuginfo": image.debuginfo.as_ref().map(|d| d.file.path().display().to_string()),
            "heap_arenas": heap.arenas,
            "heap_spans": heap.spans,
            "heap_objects": heap.len(),
            "heap_bytes": heap.bytes(),
            "pointer_slots": a.typed.pointer_slots,
            "heap_edges": a.typed.heap_pointers,
            "goroutines": live_goroutines,
            "roots": roots.len(),
            "reached_objects": reached_objects,
            "reached_bytes": reached_bytes,
            "reached_percent": coverage,
            "goroutines_by_status": by_status,
            "warnings": warnings,
            "seconds": seconds,
        });
        // Added after: one json! of everything exceeds the macro recursion limit.
        v["typed_objects"] = json!(typed_objects);
        v["typed_bytes"] = json!(typed_bytes);
        v["types"] = json!(inference.types.len());
        v["type_rounds"] = json!(inference.rounds);
        v["type_updates"] = json!(inference.updates);
        writeln!(out, "{v}")?;
        return Ok(());
    }
    writeln!(out, "Go version      {}", info.version.raw)?;
    writeln!(
        out,
        "core            {} ({} segments, {} threads, {} MiB of memory)",
        image.core.path().display(),
        image.core.loads.len(),
        image.core.threads.len(),
        core_bytes >> 20
    )?;
    if let Some(cmd) = &image.core.args {
        writeln!(out, "command line    {cmd}")?;
    }
    writeln!(out, "executable      {}{}", image.exe.path().display(), if image.exe.pie { " (PIE)" } else { "" })?;
    if let Some(p) = exe_in_core {
        writeln!(out, "  mapped from   {p}")?;
    }
    if image.exe.pie {
        writeln!(out, "  load bias     {:#x}", image.bias)?;
    }
    writeln!(out, "  Go build ID   {}", build_id.as_deref().unwrap_or("(none)"))?;
    match verified {
        Some(b) => writeln!(out, "  matches core  yes ({b} bytes of read-only segments compared)")?,
        None => writeln!(out, "  matches core  unverified (the core holds none of its read-only bytes)")?,
    }
    writeln!(out, "  filled in     {} MiB of segments the core left out", exe_bytes >> 20)?;
    writeln!(
        out,
        "  metadata      {}{}",
        if process.dwarf.is_some() { "DWARF" } else { "no DWARF (recorded layout tables)" },
        if process.symbols.is_empty() { ", no symbols" } else { ", symbols" }
    )?;
    if let Some(d) = &image.debuginfo {
        writeln!(out, "  debug info    from {} (same allocated sections)", d.file.path().display())?;
    }
    writeln!(out, "heap            {} arenas, {} spans in use", heap.arenas, heap.spans)?;
    writeln!(out, "  objects       {}", heap.len())?;
    writeln!(out, "  bytes         {} ({:.1} MiB)", heap.bytes(), heap.bytes() as f64 / 1048576.0)?;
    writeln!(out, "  pointer slots {} ({} point into heap objects)", a.typed.pointer_slots, a.typed.heap_pointers)?;
    // The live ones by status, then the rest: the parts add up.
    let (mut live, mut rest) = (Vec::new(), Vec::new());
    for g in goroutines {
        let list = if g.status.is_live() { &mut live } else { &mut rest };
        let name = g.status.name();
        match list.iter_mut().find(|(n, _)| *n == name) {
            Some((_, c)) => *c += 1,
            None => list.push((name, 1u64)),
        }
    }
    let show = |l: &mut Vec<(String, u64)>| {
        l.sort();
        l.iter().map(|(k, v)| format!("{v} {k}")).collect::<Vec<_>>().join(", ")
    };
    let rest = if rest.is_empty() { String::new() } else { format!("; not live: {}", show(&mut rest)) };
    writeln!(out, "goroutines      {live_goroutines} live ({}){rest}", show(&mut live))?;
    writeln!(out, "roots           {}", roots.len())?;
    writeln!(out, "reached         {reached_objects} objects, {reached_bytes} bytes: {coverage:.2}% of the heap's bytes")?;
    let pct = |x: u64, of: u64| if of == 0 { 100.0 } else { 100.0 * x as f64 / of as f64 };
    writeln!(
        out,
        "  typed         {typed_objects} objects ({:.2}%), {typed_bytes} bytes ({:.2}%); {} types",
        pct(typed_objects, reached_objects),
        pct(typed_bytes, reached_bytes),
        inference.types.len()
    )?;
    writeln!(out, "time            {}", timings.line())?;
    for w in warnings {
        writeln!(out, "warning: {w}")?;
    }
    Ok(())
}

fn lowest_load(image: &Image) -> u64 {
    image.exe.loads.iter().map(|l| l.vaddr).min().unwrap_or(0) & !0xfff
}
