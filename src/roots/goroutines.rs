//! Goroutine roots: the live pointer slots of every frame of every
//! goroutine that is not idle or dead, from the runtime's stack maps, plus
//! what hangs off each g (closure context, defer records, panics).
//!
//! A slot is named `<func>.<var>` when DWARF says which local holds it, else
//! `<func>`, so that many goroutines running the same code add up to one
//! bar; the goroutine id is the root's tag (shown with `--printaddr`).
//! The general registers of threads running a goroutine are roots too (for
//! a thread in the signal handler that interrupted its goroutine, as in a
//! crash, those the signal frame saved).

use crate::gobin::{DieRef, Shape};
use crate::heap::Heap;
use crate::runtime::{read_goroutines, var_covering, Error, Frame, Goroutine, GoroutineStatus, Process, StackWalker};

use super::slots::{is_map, runtime_slot};
use super::{Group, Root, Scope, SlotType, Target, TypedSlot};

/// Bound on a goroutine's defer chain.
const MAX_DEFERS: usize = 1 << 16;

/// Roots for every live goroutine, and warnings for walks that stopped early.
pub fn goroutine_roots(p: &Process, heap: &Heap) -> Result<(Vec<Root>, Vec<String>), Error> {
    let walker = StackWalker::new(p)?;
    let mut roots: Vec<Root> = Vec::new();
    let mut warnings = Vec::new();
    // (lwp, registers, goroutine) of the threads running goroutines.
    let mut running: Vec<(u32, Vec<u64>, Option<Scope>)> = Vec::new();
    let mut typer = FrameTyper::new(p, &walker);
    for g in read_goroutines(p)?.into_iter().filter(|g| g.status.is_live()) {
        // A running goroutine's thread (read before the walk, which may
        // fail): in a crash, the thread is in the signal handler that
        // interrupted the goroutine, and its registers are those the signal
        // frame saved.
        let thread = if g.status == GoroutineStatus::Running {
            let procid =
                p.ptr(g.addr.wrapping_add(p.layout.g_m.off)).ok().filter(|&m| m != 0).and_then(|m| p.read_field(m, p.layout.m_procid).ok());
            procid.and_then(|id| p.image.core.threads.iter().find(|t| u64::from(t.lwp) == id)).map(|t| {
                let regs = match walker.interrupted_registers(t, g.stack) {
                    Some(r) => r.regs,
                    None => t.regs.clone(),
                };
                (t.lwp, regs)
            })
        } else {
            None
        };
        let frames = match walker.walk(&g) {
            Ok(f) => f,
            Err(e) => {
                warnings.push(format!("goroutine {}: stack not walked: {e}", g.goid));
                if let Some((lwp, regs)) = thread {
                    running.push((lwp, regs, None));
                }
                continue;
            }
        };
        let scope = Some(scope_of(p, &walker, &g, &frames));
        if let Some((lwp, regs)) = thread {
            running.push((lwp, regs, scope.clone()));
        }
        let tag = String::new();
        let on_stack = typer.stack_values(&frames, g.stack);
        for (fi, f) in frames.iter().enumerate() {
            if let Some(w) = &f.warning {
                warnings.push(format!("goroutine {} in {}: {w}", g.goid, f.func));
            }
            for s in &f.slots {
                let Some(obj) = heap.find(s.value) else { continue };
                let name = match &s.var {
                    Some(v) => format!("{}.{v}", f.func),
                    None => f.func.clone(),
                };
                let slot = match &s.var {
                    Some(v) => typer.slot(f, fi == 0, v, s.addr),
                    None => None,
                };
                let slot = slot.or_else(|| typer.on_stack(&on_stack, s.addr)).or_else(|| code_slot(p, f, s.addr));
                let target = Target { link: None, obj, slot };
                match roots.last_mut() {
                    Some(r) if r.name == name && r.scope == scope => r.targets.push(target),
                    _ => roots.push(Root { scope: scope.clone(), ..Root::new(Group::Goroutines, name, s.addr, tag.clone(), vec![target]) }),
                }
            }
        }
        // The closure context of a parked goroutine, its defer records and
        // its panics.
        let l = &p.layout;
        let mut extra = Vec::new();
        for (what, at) in [("ctxt", g.addr.wrapping_add(l.g_sched_ctxt.off)), ("panic", g.addr.wrapping_add(l.g_panic.off))] {
            if let Some(o) = p.ptr(at).ok().and_then(|v| heap.find(v)) {
                let ty = if what == "ctxt" { Some(SlotType::Func) } else { typer.ptr_to("runtime._panic") };
                let slot = ty.map(|ty| TypedSlot { ty, base: at, off: 0 });
                extra.push(Target { link: Some(format!(".{what}")), obj: o, slot });
            }
        }
        let mut holder = g.addr.wrapping_add(l.g_defer.off);
        let mut d = p.ptr(holder).unwrap_or(0);
        for _ in 0..MAX_DEFERS {
            if d == 0 {
                break;
            }
            if let Some(o) = heap.find(d) {
                let slot = typer.ptr_to("runtime._defer").map(|ty| TypedSlot { ty, base: holder, off: 0 });
                extra.push(Target { link: Some(".defer".to_string()), obj: o, slot });
            }
            let at = d.wrapping_add(l.defer_fn.off);
            if let Some(o) = p.ptr(at).ok().and_then(|v| heap.find(v)) {
                extra.push(Target {
                    link: Some(".defer.fn".to_string()),
                    obj: o,
                    slot: Some(TypedSlot { ty: SlotType::Func, base: at, off: 0 }),
                });
            }
            holder = d.wrapping_add(l.defer_link.off);
            d = p.ptr(holder).unwrap_or(0);
        }
        if !extra.is_empty() {
            roots.push(Root { scope, ..Root::new(Group::Goroutines, "runtime.g".into(), g.addr, tag, extra) });
        }
    }
    // Registers of the threads running goroutines: a thread stopped in Go
    // code may hold the only copy of a pointer in a register. (Threads
    // parked in the scheduler or a system call hold stale values.)
    for (lwp, regs, scope) in running {
        let targets: Vec<_> =
            regs.iter().filter_map(|&v| heap.find(v)).map(|o| Target { link: Some(".reg".to_string()), obj: o, slot: None }).collect();
        if !targets.is_empty() {
            let root = Root::new(Group::Goroutines, "thread registers".into(), 0, format!("lwp {lwp}"), targets);
            roots.push(Root { scope, ..root });
        }
    }
    Ok((roots, warnings))
}

/// The goroutine as a frame: the function it was started with (the one
/// the compiler's `go` wrapper calls, not the wrapper), and the function
/// whose `go` statement created it with the file and line of that
/// statement, where the runtime keeps that (g.gopc).
/// Goroutines started the same way get the same name, so they add up;
/// the id is the `--printaddr` tag.
fn scope_of(p: &Process, walker: &StackWalker, g: &Goroutine, frames: &[Frame]) -> Scope {
    // Outermost first, without the runtime.goexit the stack starts with.
    let mut outer = frames.iter().rev().skip_while(|f| f.func == "runtime.goexit");
    let first = outer.next();
    let start = match first {
        Some(f) if walker.func_at(f.pc).is_some_and(|fi| walker.is_wrapper(&fi)) => outer.next().or(first),
        _ => first,
    };
    let mut name = start.map_or_else(|| "goroutine".to_string(), |f| f.func.clone());
    let gopc = p.layout.g_gopc.and_then(|f| p.read_field(g.addr, f).ok());
    if let Some((pc, c)) = gopc.and_then(|pc| Some((pc, walker.func_at(pc)?))) {
        name.push_str(&format!(" (created by {}", c.name));
        if let Some((file, line)) = walker.file_line(&c, pc) {
            name.push_str(&format!(" at {}:{line}", file.rsplit('/').next().unwrap_or(file)));
        }
        name.push(')');
    }
    Scope { id: g.goid, name, tag: format!("(goroutine {})", g.goid) }
}

/// Without DWARF: the type of a frame slot the function's code stores a
/// fresh allocation of a known type in.
fn code_slot(p: &Process, f: &Frame, addr: u64) -> Option<TypedSlot> {
    if p.dwarf.is_some() {
        return None;
    }
    let made = p.code_refs().ok()?.frame_made(f.pc, addr.checked_sub(f.sp)?)?;
    Some(TypedSlot { ty: super::globals::made_type(made), base: addr, off: 0 })
}

/// Types of frame slots from DWARF: the variable covering a slot, its
/// type's runtime descriptor and the slot's place in the variable.
struct FrameTyper<'w, 'p, 'a> {
    p: &'p Process<'a>,
    /// The stack walker, whose cache of frame variables named the slots.
    walker: &'w StackWalker<'p, 'a>,
    types: u64,
    /// The variable last found by `var_at` lives whole in the frame.
    whole: bool,
}

/// What a typed local points to on its own stack.
#[derive(Clone, Copy, Debug)]
enum OnStack {
    /// A value of this DWARF type.
    Value(DieRef),
    /// The header of a map of the map type described here.
    MapHeader(u64),
}

impl<'w, 'p, 'a> FrameTyper<'w, 'p, 'a> {
    fn new(p: &'p Process<'a>, walker: &'w StackWalker<'p, 'a>) -> Self {
        let types = p.read_field(p.firstmoduledata, p.layout.md_types).unwrap_or(0);
        FrameTyper { p, walker, types, whole: false }
    }

    /// The type around the slot at `addr` of frame `f`, which the stack
    /// walk attributed to variable `var`.
    fn slot(&mut self, f: &Frame, innermost: bool, var: &str, addr: u64) -> Option<TypedSlot> {
        let d = self.p.dwarf.as_ref()?;
        let (ty, off) = self.var_at(f, innermost, var, addr)?;
        let (ty, rel) = runtime_slot(d, ty, off, self.types)?;
        if matches!(ty, SlotType::Iface { .. }) && !self.whole {
            // The type word may be in another piece, elsewhere.
            return None;
        }
        Some(TypedSlot { ty, base: addr - rel, off: rel })
    }

    /// Values on the goroutine's own stack that typed local pointers point
    /// to (a `new(T)`, a map header or a composite literal that did not
    /// escape): (start, end, what is there). Their words that point into
    /// the heap get the type the pointer gives them.
    fn stack_values(&mut self, frames: &[Frame], (lo, hi): (u64, u64)) -> Vec<(u64, u64, OnStack)> {
        let mut out = Vec::new();
        let Some(d) = self.p.dwarf.as_ref() else { return out };
        for (fi, f) in frames.iter().enumerate() {
            for s in &f.slots {
                let Some(var) = &s.var else { continue };
                if s.value < lo || s.value >= hi {
                    continue;
                }
                let Some((ty, 0)) = self.var_at(f, fi == 0, var, s.addr) else { continue };
                let what = match (is_map(d, ty), d.shape(ty)) {
                    (true, _) => {
                        // A map value points at its header.
                        let Some((SlotType::Desc(m), 0)) = runtime_slot(d, ty, 0, self.types) else { continue };
                        let l = &self.p.layout.types;
                        (if l.swiss_maps { l.smap_size } else { l.hmap_size }, OnStack::MapHeader(m))
                    }
                    (_, Some(Shape::Pointer(Some(pointee)))) => match d.size_of(pointee) {
                        Some(size) if size > 0 => (size, OnStack::Value(pointee)),
                        _ => continue,
                    },
                    _ => continue,
                };
                out.push((s.value, s.value.saturating_add(what.0).min(hi), what.1));
            }
        }
        out.sort_by_key(|v| v.0);
        out
    }

    /// The type of the stack word at `addr` if it lies in one of the
    /// `values` on the stack.
    fn on_stack(&self, values: &[(u64, u64, OnStack)], addr: u64) -> Option<TypedSlot> {
        let i = values.partition_point(|v| v.0 <= addr).checked_sub(1)?;
        let (start, end, what) = values[i];
        if addr >= end {
            return None;
        }
        let off = addr - start;
        match what {
            OnStack::Value(ty) => {
                let (ty, rel) = runtime_slot(self.p.dwarf.as_ref()?, ty, off, self.types)?;
                Some(TypedSlot { ty, base: addr - rel, off: rel })
            }
            OnStack::MapHeader(m) => Some(TypedSlot { ty: SlotType::MapHeader(m), base: start, off }),
        }
    }

    /// The DWARF type of the variable `var` covering the slot at `addr` of
    /// frame `f`, and the slot's offset in it.
    fn var_at(&mut self, f: &Frame, innermost: bool, var: &str, addr: u64) -> Option<(DieRef, u64)> {
        // As the stack walk: the call's return address belongs to the next
        // statement, so look the variables up one byte earlier.
        let pc = if innermost && f.conservative { f.pc } else { f.pc.wrapping_sub(1) };
        let vars = self.walker.frame_vars(&f.func, pc);
        let v = var_covering(&vars, f.fp, addr)?;
        if v.name != var {
            return None;
        }
        let off = v.var_offset + (addr - f.fp.wrapping_add(v.cfa_offset as u64));
        self.whole = v.whole;
        Some((v.ty?, off))
    }

    /// A pointer to the runtime struct named `name` (DWARF only).
    fn ptr_to(&self, name: &str) -> Option<SlotType> {
        let d = self.p.dwarf.as_ref()?;
        match runtime_slot(d, d.type_named(name)?, 0, self.types)? {
            (SlotType::Desc(t), 0) => Some(SlotType::PtrTo(t)),
            _ => None,
        }
    }
}
