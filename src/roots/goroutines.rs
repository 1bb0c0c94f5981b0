//! Goroutine roots: the live pointer slots of every frame of every
//! goroutine that is not idle or dead, from the runtime's stack maps, plus
//! what hangs off each g (closure context, defer records, panics).
//!
//! A slot is named `<func>.<var>` when DWARF says which local holds it, else
//! `<func>`, so that many goroutines running the same code add up to one
//! bar; the goroutine id is the root's tag (shown with `--printaddr`).
//! The general registers of threads running a goroutine are roots too.

use crate::heap::Heap;
use crate::runtime::{read_goroutines, Error, GoroutineStatus, Process, StackWalker};

use super::{Group, Root};

/// Bound on a goroutine's defer chain.
const MAX_DEFERS: usize = 1 << 16;

/// Roots for every live goroutine, and warnings for walks that stopped early.
pub fn goroutine_roots(p: &Process, heap: &Heap) -> Result<(Vec<Root>, Vec<String>), Error> {
    let walker = StackWalker::new(p)?;
    let mut roots: Vec<Root> = Vec::new();
    let mut warnings = Vec::new();
    let mut running_lwps = Vec::new();
    for g in read_goroutines(p)?.into_iter().filter(|g| g.status.is_live()) {
        if g.status == GoroutineStatus::Running {
            if let Some(procid) = p.ptr(g.addr + p.layout.g_m.off).ok().filter(|&m| m != 0).and_then(|m| p.read_field(m, p.layout.m_procid).ok()) {
                running_lwps.push(procid);
            }
        }
        let tag = format!("goroutine {}", g.goid);
        let frames = match walker.walk(&g) {
            Ok(f) => f,
            Err(e) => {
                warnings.push(format!("goroutine {}: stack not walked: {e}", g.goid));
                continue;
            }
        };
        for f in &frames {
            if let Some(w) = &f.warning {
                warnings.push(format!("goroutine {} in {}: {w}", g.goid, f.func));
            }
            for s in &f.slots {
                let Some(obj) = heap.find(s.value) else { continue };
                let name = match &s.var {
                    Some(v) => format!("{}.{v}", f.func),
                    None => f.func.clone(),
                };
                match roots.last_mut() {
                    Some(r) if r.name == name && r.tag == tag => r.targets.push((None, obj)),
                    _ => roots.push(Root { group: Group::Goroutines, name, addr: s.addr, tag: tag.clone(), targets: vec![(None, obj)] }),
                }
            }
        }
        // The closure context of a parked goroutine, its defer records and
        // its panics.
        let l = &p.layout;
        let mut extra = Vec::new();
        for (what, at) in [("ctxt", g.addr + l.g_sched_ctxt.off), ("panic", g.addr + l.g_panic.off)] {
            if let Some(o) = p.ptr(at).ok().and_then(|v| heap.find(v)) {
                extra.push((Some(format!(".{what}")), o));
            }
        }
        let mut d = p.ptr(g.addr + l.g_defer.off).unwrap_or(0);
        for _ in 0..MAX_DEFERS {
            if d == 0 {
                break;
            }
            if let Some(o) = heap.find(d) {
                extra.push((Some(".defer".to_string()), o));
            }
            if let Some(o) = p.ptr(d + l.defer_fn.off).ok().and_then(|v| heap.find(v)) {
                extra.push((Some(".defer.fn".to_string()), o));
            }
            d = p.ptr(d + l.defer_link.off).unwrap_or(0);
        }
        if !extra.is_empty() {
            let func = frames.last().map_or("goroutine", |f| f.func.as_str()).to_string();
            roots.push(Root { group: Group::Goroutines, name: format!("{func} (g)"), addr: g.addr, tag, targets: extra });
        }
    }
    // Registers of the threads running goroutines: a thread stopped in Go
    // code may hold the only copy of a pointer in a register. (Threads
    // parked in the scheduler or a system call hold stale values.)
    for t in p.image.core.threads.iter().filter(|t| running_lwps.contains(&u64::from(t.lwp))) {
        let targets: Vec<_> = t.regs.iter().filter_map(|&v| heap.find(v)).map(|o| (Some(".reg".to_string()), o)).collect();
        if !targets.is_empty() {
            roots.push(Root { group: Group::Goroutines, name: "thread registers".into(), addr: 0, tag: format!("lwp {}", t.lwp), targets });
        }
    }
    Ok((roots, warnings))
}
