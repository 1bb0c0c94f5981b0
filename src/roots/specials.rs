//! Finalizer and cleanup roots, from every span's specials list, and each
//! P's current tiny-allocator block.
//!
//! An object with a finalizer is not itself kept alive by it, but everything
//! it points to is (the finalizer will need it), and so is the finalizer
//! func. A cleanup keeps its func (and argument) alive.

use crate::heap::{object_pointers, Heap};
use crate::image::Memory;
use crate::runtime::{Error, PointerFinder, Process, StackWalker};

use super::{Group, Root, SlotType, Target, TypedSlot, SUBJECT};

/// Bound on one span's specials list.
const MAX_SPECIALS: usize = 1 << 20;

/// Roots for finalizers and cleanups attached to heap objects.
pub fn special_roots(p: &Process, heap: &Heap) -> Result<Vec<Root>, Error> {
    let l = &p.layout;
    let mut roots = Vec::new();
    let mut finder = PointerFinder::new(p, &heap.arena_list);
    let mut pointers = Vec::new();
    let walker = StackWalker::new(p).ok();
    for span in heap.span_list() {
        let mut s = span.specials;
        for _ in 0..MAX_SPECIALS {
            if s == 0 {
                break;
            }
            let kind = p.read_field(s, l.special_kind)?;
            let offset = p.read_field(s, l.special_offset)?;
            let obj_addr = span.start + offset / span.elemsize * span.elemsize;
            if kind == l.kind_finalizer {
                let mut targets = Vec::new();
                if let Some(o) = heap.find(obj_addr) {
                    pointers.clear();
                    object_pointers(p, &mut finder, heap, span, o, &mut pointers);
                    targets.extend(pointers.iter().map(|&(_, t)| Target::plain(t)));
                }
                let at = s.wrapping_add(l.special_finalizer_fn.off);
                if let Some(o) = heap.find(p.ptr(at)?) {
                    targets.push(Target { link: Some(".fn".to_string()), obj: o, slot: Some(func_slot(at)) });
                }
                let name = format!("finalizer on {SUBJECT} ({})", func_name(p, &walker, at));
                roots.push(Root { subject: heap.find(obj_addr), ..Root::new(Group::Finalizers, name, obj_addr, String::new(), targets) });
            } else if Some(kind) == l.kind_cleanup {
                if let Some(f) = l.special_cleanup_fn {
                    let mut targets = Vec::new();
                    for w in 0..(f.size / 8).max(1) {
                        let at = s.wrapping_add(f.off + 8 * w);
                        if let Some(o) = heap.find(p.ptr(at)?) {
                            // fn (1.24–1.25), or {call, fn, arg} (1.26+):
                            // the first two are func values.
                            let slot = (w < 2).then(|| func_slot(at));
                            targets.push(Target { link: None, obj: o, slot });
                        }
                    }
                    // The function the user gave: fn (1.24–1.25: a wrapper
                    // closure around it), or the second word (1.26+).
                    let at = s + f.off + if f.size >= 16 { 8 } else { 0 };
                    let name = format!("cleanup on {SUBJECT} ({})", func_name(p, &walker, at));
                    roots.push(Root {
                        subject: heap.find(obj_addr),
                        ..Root::new(Group::Finalizers, name, obj_addr, String::new(), targets)
                    });
                }
            }
            s = p.read_field(s, l.special_next)?;
        }
    }
    Ok(roots)
}

/// Finalizers queued to run (their objects are already unreachable but are
/// kept for the finalizer): every entry of every block on runtime.allfin.
/// Needs the symbol; a stripped binary gives none.
pub fn queued_finalizer_roots(p: &Process, heap: &Heap) -> Result<Vec<Root>, Error> {
    let l = &p.layout;
    let Some(allfin) = p.symbols.get("runtime.allfin") else { return Ok(Vec::new()) };
    let mut block = p.ptr(allfin.addr.wrapping_add(p.image.bias))?;
    let per_block = (l.finblock_fin.size / l.finalizer_size.max(1)).max(1);
    let mut targets = Vec::new();
    for _ in 0..MAX_SPECIALS {
        if block == 0 {
            break;
        }
        let cnt = p.read_field(block, l.finblock_cnt)?.min(per_block);
        for i in 0..cnt {
            let e = block.wrapping_add(l.finblock_fin.off + i * l.finalizer_size);
            for (what, f) in [(".fn", l.finalizer_fn), (".arg", l.finalizer_arg)] {
                if let Some(o) = heap.find(p.ptr(e.wrapping_add(f.off))?) {
                    let slot = (what == ".fn").then(|| func_slot(e.wrapping_add(f.off)));
                    targets.push(Target { link: Some(what.to_string()), obj: o, slot });
                }
            }
        }
        block = p.ptr(block.wrapping_add(l.finblock_alllink.off))?;
    }
    if targets.is_empty() {
        return Ok(Vec::new());
    }
    Ok(vec![Root::new(Group::Finalizers, "queued finalizers".into(), 0, String::new(), targets)])
}

/// Each P's current tiny block (its remaining space is still being handed
/// out, so the runtime keeps it alive).
pub fn tiny_block_roots(p: &Process, heap: &Heap) -> Result<Vec<Root>, Error> {
    let Some(allp) = p.symbols.get("runtime.allp") else { return Ok(Vec::new()) };
    let (arr, n) = p.slice_header(allp.addr.wrapping_add(p.image.bias))?;
    let mut targets = Vec::new();
    for i in 0..n.min(1 << 16) {
        let pp = p.image.u64(arr.wrapping_add(8 * i))?;
        if pp == 0 {
            continue;
        }
        let mc = p.ptr(pp.wrapping_add(p.layout.p_mcache.off))?;
        if mc == 0 {
            continue;
        }
        if let Some(o) = heap.find(p.ptr(mc.wrapping_add(p.layout.mcache_tiny.off))?) {
            targets.push(Target::plain(o));
        }
    }
    if targets.is_empty() {
        return Ok(Vec::new());
    }
    Ok(vec![Root::new(Group::Other, "tiny allocator blocks".into(), 0, String::new(), targets)])
}

/// The name of the function of the func value held at `at`, or `func`
/// when it cannot be read.
/// A Go 1.24–1.25 cleanup's fn is the runtime's closure calling the
/// user's function, which it captured first: named after that one.
fn func_name(p: &Process, walker: &Option<StackWalker>, at: u64) -> String {
    let name = |fv: u64| -> Option<&str> { walker.as_ref()?.func_at(p.ptr(fv).ok().filter(|&c| c != 0)?).map(|f| f.name) };
    let Some(fv) = p.ptr(at).ok().filter(|&v| v != 0) else { return "func".to_string() };
    match name(fv) {
        Some(n) if n.starts_with("runtime.AddCleanup") => p.ptr(fv + 8).ok().and_then(name).unwrap_or(n).to_string(),
        Some(n) => n.to_string(),
        None => "func".to_string(),
    }
}

/// A word holding a func value (a pointer to the closure object).
fn func_slot(at: u64) -> TypedSlot {
    TypedSlot { ty: SlotType::Func, base: at, off: 0 }
}
