//! Goroutine stacks: every goroutine's frames unwind to the end, and the
//! stack maps find the pointer the retain program keeps in a local variable.
//!
//! Set REFGRAPH_STACK_FIXTURES to a directory of fixture directories to run
//! these tests against cores outside the corpus.

use std::path::PathBuf;

use refgraph::heap::Heap;
use refgraph::image::{Image, Memory};
use refgraph::runtime::{read_goroutines, Frame, GoroutineStatus, Process, StackWalker};

use crate::util::{each, fixtures, fixtures_in, open_image, Fixture};

fn corpus() -> Vec<Fixture> {
    match std::env::var_os("REFGRAPH_STACK_FIXTURES") {
        Some(dir) => fixtures_in(&PathBuf::from(dir)),
        None => fixtures(),
    }
}

fn describe(frames: &[Frame]) -> String {
    frames.iter().map(|f| format!("{}{}", f.func, f.warning.as_ref().map(|w| format!(" [{w}]")).unwrap_or_default())).collect::<Vec<_>>().join(" <- ")
}

#[test]
fn worker_local_buffer_is_a_live_stack_slot() {
    let fx: Vec<_> = corpus().into_iter().filter(|f| f.program() == "retain").collect();
    assert!(!fx.is_empty(), "no retain fixtures");
    each(&fx, |f| {
        let image = open_image(f)?;
        let p = Process::new(&image).map_err(|e| e.to_string())?;
        let (want_func, want_addr) = (f.str("stack_local_func"), f.num("stack_local_addr"));
        let walker = StackWalker::new(&p).map_err(|e| e.to_string())?;
        let gs = read_goroutines(&p).map_err(|e| e.to_string())?;
        let mut found = Vec::new();
        let mut funcs_seen = false;
        for g in &gs {
            let frames = walker.walk(g).map_err(|e| format!("goroutine {}: {e}", g.goid))?;
            for fr in frames.iter().filter(|fr| fr.func == want_func) {
                funcs_seen = true;
                found.extend(fr.slots.iter().filter(|s| s.value == want_addr).map(|s| (g.goid, fr.conservative, s.clone())));
            }
        }
        if !funcs_seen {
            return Err(format!("no goroutine has a {want_func} frame"));
        }
        let Some((goid, conservative, slot)) = found.first() else {
            return Err(format!("no live slot of {want_func} holds {want_addr:#x}"));
        };
        if *conservative {
            return Err(format!("goroutine {goid}: {want_func} frame was scanned conservatively"));
        }
        // The program's source names the local `buf`; DWARF should say so.
        if p.dwarf.is_some() && slot.var.as_deref() != Some("buf") {
            return Err(format!("slot {:#x} of {want_func} is named {:?}, not buf", slot.addr, slot.var));
        }
        // The slot holds the start of the 1 MiB heap object.
        let heap = Heap::build(&p).map_err(|e| e.to_string())?;
        let Some(i) = heap.find(want_addr) else { return Err(format!("{want_addr:#x} is not in a heap object")) };
        if heap.addr(i) != want_addr {
            return Err(format!("{want_addr:#x} is inside the object at {:#x}, not its start", heap.addr(i)));
        }
        Ok(())
    });
}

#[test]
fn parked_goroutines_unwind_to_goexit() {
    let fx = corpus();
    each(&fx, |f| {
        let image = open_image(f)?;
        let p = Process::new(&image).map_err(|e| e.to_string())?;
        let walker = StackWalker::new(&p).map_err(|e| e.to_string())?;
        let gs = read_goroutines(&p).map_err(|e| e.to_string())?;
        let mut walked = 0;
        let (mut slots, mut unmapped) = (0u64, Vec::new());
        for g in gs.iter().filter(|g| matches!(g.status, GoroutineStatus::Waiting | GoroutineStatus::Runnable | GoroutineStatus::Syscall)) {
            let frames = walker.walk(g).map_err(|e| format!("goroutine {}: {e}", g.goid))?;
            let (lo, hi) = g.stack;
            let Some(last) = frames.last() else { return Err(format!("goroutine {}: no frames", g.goid)) };
            if frames.iter().any(|fr| fr.warning.is_some()) || !(last.func == "runtime.goexit" || last.fp == hi) {
                return Err(format!("goroutine {} ({}) does not unwind cleanly: {}", g.goid, g.status.name(), describe(&frames)));
            }
            for (a, b) in frames.iter().zip(frames.iter().skip(1)) {
                // Under a call the signal handler injected, arm64's
                // interrupted frame starts that much above it.
                let injected = matches!(a.func.as_str(), "runtime.asyncPreempt" | "runtime.debugCallV2");
                let bump = if injected { image.exe.arch.injected_call_bump() } else { 0 };
                if b.sp != a.fp + bump || a.sp > a.fp {
                    return Err(format!("goroutine {}: frames {} and {} do not chain", g.goid, a.func, b.func));
                }
            }
            for fr in &frames {
                for s in &fr.slots {
                    if s.addr < lo || s.addr >= hi {
                        return Err(format!("goroutine {}: slot {:#x} of {} is outside its stack", g.goid, s.addr, fr.func));
                    }
                    // At a safe point every live pointer slot holds nil or
                    // a pointer into mapped memory.
                    slots += 1;
                    if !fr.conservative && image.tail(s.value).is_none() {
                        unmapped.push(format!("g{} {} {:#x}={:#x}", g.goid, fr.func, s.addr, s.value));
                    }
                }
            }
            walked += 1;
        }
        println!("{}: {walked} goroutines, {slots} live slots", f.name);
        if walked == 0 {
            return Err("no parked goroutines".into());
        }
        if !unmapped.is_empty() {
            return Err(format!("{} of {slots} precise slots hold unmapped values: {}", unmapped.len(), unmapped.join(", ")));
        }
        Ok(())
    });
}

/// Prints every goroutine's frames and slots (a debugging aid):
/// `REFGRAPH_STACK_FIXTURES=dir cargo test --test tests stack::print -- --ignored --nocapture`.
#[test]
#[ignore]
fn print_frames() {
    for f in corpus() {
        let image = Image::open(&f.core(), &f.exe()).unwrap();
        let p = Process::new(&image).unwrap();
        let walker = StackWalker::new(&p).unwrap();
        println!("==== {}", f.name);
        for g in read_goroutines(&p).unwrap() {
            let frames = match walker.walk(&g) {
                Ok(fr) => fr,
                Err(e) => {
                    println!("goroutine {} [{}]: {e}", g.goid, g.status.name());
                    continue;
                }
            };
            if frames.is_empty() {
                continue;
            }
            println!("goroutine {} [{}] stack [{:#x}, {:#x})", g.goid, g.status.name(), g.stack.0, g.stack.1);
            for fr in &frames {
                let c = if fr.conservative { " conservative" } else { "" };
                println!("  {} pc={:#x} sp={:#x} fp={:#x}{c}", fr.func, fr.pc, fr.sp, fr.fp);
                if let Some(w) = &fr.warning {
                    println!("    warning: {w}");
                }
                for s in &fr.slots {
                    println!("    {:#x} (fp{:+}) = {:#x} {}", s.addr, s.addr as i64 - fr.fp as i64, s.value, s.var.as_deref().unwrap_or(""));
                }
            }
        }
    }
}

/// One goroutine of a Go crash trace (GOTRACEBACK=crash): its id and its
/// physical frames, innermost first, as (function, pc, sp, fp). Inlined
/// frames (printed with `(...)` and no addresses) are left out.
struct TracedGoroutine {
    goid: u64,
    frames: Vec<(String, u64, u64, u64)>,
}

/// The goroutines of a crash trace. The crashing thread lists every
/// goroutine, but one running on another thread only as "stack
/// unavailable"; each other thread then prints its own goroutine, from the
/// registers the signal interrupted, in a section after a `-----` line.
/// A goroutine's frames are those of the first listing that has any.
/// Threads' g0s (`goroutine 0`) are not goroutines.
fn parse_crash_trace(text: &str) -> Result<Vec<TracedGoroutine>, String> {
    let mut out: Vec<TracedGoroutine> = Vec::new();
    let mut func: Option<String> = None;
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("goroutine ") {
            if line.ends_with("]:") {
                let id = rest.split(' ').next().unwrap_or("");
                let goid = id.parse::<u64>().map_err(|_| format!("bad goroutine line {line:?}"))?;
                out.push(TracedGoroutine { goid, frames: Vec::new() });
                func = None;
                continue;
            }
        }
        let Some(g) = out.last_mut() else { continue };
        if let Some(loc) = line.strip_prefix('\t') {
            let Some(name) = func.take() else { continue };
            let field = |key: &str| -> Result<u64, String> {
                let v = loc.split(' ').find_map(|w| w.strip_prefix(key)).ok_or_else(|| format!("no {key} in {line:?}"))?;
                u64::from_str_radix(v.trim_start_matches("0x"), 16).map_err(|_| format!("bad {key} in {line:?}"))
            };
            g.frames.push((name, field("pc=")?, field("sp=")?, field("fp=")?));
        } else if line.ends_with(')') && !line.starts_with("created by ") {
            let open = line.rfind('(').ok_or_else(|| format!("bad frame line {line:?}"))?;
            // Inlined frames have no address line.
            func = (!line.ends_with("(...)")).then(|| line[..open].to_string());
        } else {
            func = None;
        }
    }
    let mut merged: Vec<TracedGoroutine> = Vec::new();
    for g in out.into_iter().filter(|g| g.goid != 0) {
        match merged.iter_mut().find(|m| m.goid == g.goid) {
            Some(m) if m.frames.is_empty() => m.frames = g.frames,
            Some(_) => {}
            None => merged.push(g),
        }
    }
    Ok(merged)
}

#[test]
fn goroutines_and_frames_match_the_crash_trace() {
    // Fixtures dumped through a Go crash keep the runtime's own traceback
    // (crash.txt): every goroutine's frames with their pc, sp and fp.
    let fx: Vec<_> = corpus().into_iter().filter(|f| f.dir.join("crash.txt").exists()).collect();
    assert!(!fx.is_empty(), "no fixture has a crash trace");
    each(&fx, frames_match_crash_trace);
}

/// The goroutines refgraph finds live are those of the fixture's crash
/// trace (crash.txt), each with the same frames: function, pc, sp and fp.
pub fn frames_match_crash_trace(f: &Fixture) -> Result<(), String> {
    let text = std::fs::read_to_string(f.dir.join("crash.txt")).map_err(|e| e.to_string())?;
    let traced = parse_crash_trace(&text)?;
    if traced.len() < f.num("num_goroutine") as usize {
        return Err(format!("the crash trace lists {} goroutines, fewer than the program's {}", traced.len(), f.num("num_goroutine")));
    }
    let image = open_image(f)?;
    let p = Process::new(&image).map_err(|e| e.to_string())?;
    let walker = StackWalker::new(&p).map_err(|e| e.to_string())?;
    let gs = read_goroutines(&p).map_err(|e| e.to_string())?;
    let mut live: Vec<u64> = gs.iter().filter(|g| g.status.is_live()).map(|g| g.goid).collect();
    let mut listed: Vec<u64> = traced.iter().map(|t| t.goid).collect();
    live.sort_unstable();
    listed.sort_unstable();
    if live != listed {
        return Err(format!("live goroutines {live:?}, the crash trace lists {listed:?}"));
    }
    for t in &traced {
        let g = gs.iter().find(|g| g.goid == t.goid).unwrap();
        let frames = walker.walk(g).map_err(|e| format!("goroutine {}: {e}", g.goid))?;
        let got: Vec<(String, u64, u64, u64)> = frames.iter().map(|fr| (fr.func.clone(), fr.pc, fr.sp, fr.fp)).collect();
        if got != t.frames {
            let show = |v: &[(String, u64, u64, u64)]| {
                v.iter().map(|(n, pc, sp, fp)| format!("{n} pc={pc:#x} sp={sp:#x} fp={fp:#x}")).collect::<Vec<_>>().join("\n    ")
            };
            return Err(format!("goroutine {}: refgraph walks\n    {}\nthe crash trace says\n    {}", t.goid, show(&got), show(&t.frames)));
        }
    }
    Ok(())
}

#[test]
fn goroutine_frames_name_the_go_statement_of_the_crash_trace() {
    // The crash trace ends each goroutine with `created by F [in goroutine
    // M]` and the file and line of the go statement; refgraph's goroutine
    // frame (with --printaddr, tagged with the id) names the same place.
    let fx: Vec<_> = corpus().into_iter().filter(|f| f.dir.join("crash.txt").exists() && !f.stripped()).collect();
    assert!(!fx.is_empty(), "no unstripped fixture has a crash trace");
    each(&fx, |f| {
        let text = std::fs::read_to_string(f.dir.join("crash.txt")).map_err(|e| e.to_string())?;
        let mut traced = std::collections::BTreeMap::new();
        let (mut goid, mut lines) = (None, text.lines());
        while let Some(line) = lines.next() {
            if let Some(rest) = line.strip_prefix("goroutine ") {
                goid = rest.split(' ').next().and_then(|id| id.parse::<u64>().ok());
            } else if let (Some(id), Some(rest)) = (goid, line.strip_prefix("created by ")) {
                let func = rest.split(" in goroutine ").next().unwrap_or(rest);
                let place = lines.next().unwrap_or("").trim().split(" +0x").next().unwrap_or("");
                let base = place.rsplit('/').next().unwrap_or(place);
                traced.insert(id, format!("(created by {func} at {base})"));
            }
        }
        let out = crate::util::run_refgraph(f, &["objref", "--folded", "--minwidth", "0", "--printaddr", "-"])?;
        let mut checked = 0;
        for frame in out.lines().filter_map(|l| l.strip_prefix("goroutines;")).map(|l| l.split(';').next().unwrap_or(l)) {
            let Some((named, id)) = frame.rsplit_once(" (goroutine ") else { continue };
            let Ok(id) = id.trim_end_matches(')').parse::<u64>() else { continue };
            let Some(created) = named.find(" (created by ").map(|i| &named[i + 1..]) else { continue };
            match traced.get(&id) {
                Some(want) if want == created => checked += 1,
                want => return Err(format!("goroutine {id}: refgraph says {created:?}, the crash trace {want:?}")),
            }
        }
        if checked == 0 {
            return Err(format!("no goroutine frame with a creator among {} traced", traced.len()));
        }
        Ok(())
    });
}
