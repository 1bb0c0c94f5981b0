//! Root slots in the runtime's type terms: DWARF describes globals and
//! locals, but inference works with the runtime's type descriptors. Go's
//! DWARF links a type to its descriptor (DW_AT_go_runtime_type) when the
//! program has one; many slices, arrays and pointers have none, so the
//! DWARF type is descended to the innermost value that has one, or to a
//! pointer or slice whose element has one.

use crate::gobin::{DieRef, Dwarf, Shape};
use crate::runtime::{KIND_FUNC, KIND_MAP, KIND_SLICE, KIND_STRING};

use super::SlotType;

/// A bound on nesting when descending a type.
const MAX_DEPTH: usize = 32;

/// Whether DWARF type `ty` is a Go map (its value points at the header).
pub fn is_map(d: &Dwarf, ty: DieRef) -> bool {
    d.go_kind(ty) == Some(KIND_MAP)
}

/// The runtime type of a value of DWARF type `ty`, or of its first part
/// when the value's own type has no descriptor (see [`runtime_slot`]).
pub fn value_type(d: &Dwarf, ty: DieRef, types: u64) -> Option<SlotType> {
    runtime_slot(d, ty, 0, types).map(|(t, _)| t)
}

/// What the word at byte `off` of a value of DWARF type `ty` is, in the
/// runtime's terms: the type of the innermost value around it that has a
/// runtime type descriptor (DW_AT_go_runtime_type, relative to
/// moduledata.types `types`; many DWARF types have none), an interface, or
/// a pointer to (or a slice of) a type with a descriptor; with the word's
/// offset in that value.
pub fn runtime_slot(d: &Dwarf, ty: DieRef, off: u64, types: u64) -> Option<(SlotType, u64)> {
    // The descriptor of a type, through typedefs (a named type's typedef
    // has none; its struct has).
    let desc = |mut t: DieRef| {
        for _ in 0..MAX_DEPTH {
            if d.interface_kind(t).is_some() {
                return None;
            }
            if let Some(o) = d.go_runtime_type(t) {
                return Some(types.wrapping_add(o));
            }
            t = match d.shape(t)? {
                Shape::Struct(r) | Shape::Other(r) if r != t => r,
                _ => return None,
            };
        }
        None
    };
    let (mut t, mut off) = (ty, off);
    // Inside an atomic.Pointer[T] (`_ [0]*T` and an unsafe.Pointer): T.
    let mut atomic_elem = None;
    for _ in 0..MAX_DEPTH {
        if let Some(empty) = d.interface_kind(t) {
            return Some((SlotType::Iface { empty }, off));
        }
        if let Some(elem) = atomic_elem {
            if off == 0 && d.size_of(t) == Some(8) {
                return Some((SlotType::PtrTo(desc(elem)?), 0));
            }
        }
        if let Some(name) = d.type_name(t) {
            // DWARF drops the zero-size `_ [0]*T`: take T from the name.
            if let Some(arg) = name.strip_suffix(']').and_then(|n| n.split_once("atomic.Pointer[")).map(|(_, a)| a) {
                atomic_elem = d.type_named(arg).or(atomic_elem);
                if atomic_elem.is_some() && off == 0 && d.size_of(t) == Some(8) {
                    continue;
                }
            }
        }
        if let Some(a) = desc(t) {
            return Some((SlotType::Desc(a), off));
        }
        if d.go_kind(t) == Some(KIND_FUNC) {
            return (off == 0).then_some((SlotType::Func, 0));
        }
        match d.shape(t)? {
            Shape::Struct(r) => {
                if r != t {
                    t = r;
                    continue;
                }
                match d.go_kind(r) {
                    Some(KIND_SLICE) => {
                        // A slice: its data word points at elements.
                        let elem = d.go_elem(r)?;
                        return (off == 0).then_some((SlotType::ArrayOf(desc(elem)?), 0));
                    }
                    Some(KIND_STRING) => {
                        let s = desc(d.type_named("string")?)?;
                        return (off == 0).then_some((SlotType::Desc(s), 0));
                    }
                    _ => {
                        let layout = d.struct_layout_of(r)?;
                        for m in layout.members.iter().filter(|m| m.size == Some(0)) {
                            if let Some(Shape::Array { elem, count: 0 }) = m.ty.and_then(|t| d.shape(t)) {
                                if let Some(Shape::Pointer(Some(p))) = d.shape(elem) {
                                    atomic_elem = Some(p);
                                }
                            }
                        }
                        let m = layout.members.iter().find(|m| m.size.is_some_and(|s| s > 0 && off >= m.offset && off < m.offset + s))?;
                        off -= m.offset;
                        t = m.ty?;
                    }
                }
            }
            Shape::Array { elem, count } => {
                let es = d.size_of(elem).filter(|&s| s > 0)?;
                if count > 0 && off / es >= count {
                    return None;
                }
                off %= es;
                t = elem;
            }
            Shape::Pointer(Some(pointee)) => return (off == 0).then_some((SlotType::PtrTo(desc(pointee)?), 0)),
            Shape::Pointer(None) => return (off == 0).then_some((SlotType::PtrTo(desc(atomic_elem?)?), 0)),
            Shape::Other(r) if r != t => t = r,
            _ => return None,
        }
    }
    None
}
