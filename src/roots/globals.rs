//! Globals: every pointer word of each module's data and bss sections (the
//! runtime's gcdatamask / gcbssmask), named by the DWARF variable covering
//! it with the field path inside it, else by ELF symbol, else (stripped) by
//! the functions whose code refers to it, else by section offset.
//!
//! Without DWARF a global still gets a type where the image tells: the word
//! before it points at a type descriptor or an itab (an interface value),
//! or the code stores a fresh allocation of a known type in it.

use crate::gobin::{CodeRefs, DieRef, Dwarf, Made, Shape};
use crate::heap::Heap;
use crate::image::Memory;
use crate::runtime::{Error, Process};

use super::slots::runtime_slot;
use super::{Group, Root, SlotType, Target, TypedSlot};

/// A bound on the module chain (plugins add modules; real programs have few).
const MAX_MODULES: usize = 256;
/// A bound on nesting when naming a field path.
const MAX_PATH_DEPTH: usize = 32;
/// A stripped global's word is named after the code referring to the
/// nearest address at most this far below it (code reaches the later
/// fields of a struct through a register pointing at its start).
const MAX_BELOW_REFERENCE: u64 = 512;

/// What names and types globals when the executable has no DWARF.
struct Stripped<'p> {
    /// Code references to data, if the architecture is decoded.
    refs: Option<&'p CodeRefs>,
    /// Type descriptors: [types, etypes).
    types: (u64, u64),
    /// Code: [text, etext).
    text: (u64, u64),
}

/// A DWARF variable placed at its runtime address.
struct Var<'d> {
    start: u64,
    end: u64,
    name: &'d str,
    ty: Option<DieRef>,
}

/// Roots for all data and bss pointer words that point into the heap, and
/// warnings.
pub fn global_roots(p: &Process, heap: &Heap) -> Result<(Vec<Root>, Vec<String>), Error> {
    let l = &p.layout;
    let vars = placed_vars(p);
    let types = p.read_field(p.firstmoduledata, l.md_types)?;
    let mut warnings = Vec::new();
    let stripped = if vars.is_empty() && p.symbols.is_empty() { Some(stripped(p, &mut warnings)) } else { None };
    let mut roots: Vec<Root> = Vec::new();
    let mut md = p.firstmoduledata;
    for _ in 0..MAX_MODULES {
        if md == 0 {
            break;
        }
        let sections = [
            ("data", p.read_field(md, l.md_data)?, p.read_field(md, l.md_edata)?, l.md_gcdatamask.off),
            ("bss", p.read_field(md, l.md_bss)?, p.read_field(md, l.md_ebss)?, l.md_gcbssmask.off),
        ];
        for (section, start, end, mask) in sections {
            // bitvector { n int32; bytedata *uint8 }
            let nbits = u64::from(p.image.u32(md + mask)?);
            let bytes = p.ptr(md + mask + 8)?;
            if end < start || nbits > (end - start) / 8 + 64 {
                return Err(Error::Corrupt(format!("{section} pointer mask has {nbits} bits for {} bytes", end.wrapping_sub(start))));
            }
            // Sections may span several core segments: copy them out.
            let mask = p.image.read_vec(bytes, nbits.div_ceil(8))?;
            let words = p.image.read_vec(start, (nbits * 8).min(end - start))?;
            for i in 0..(words.len() / 8) as u64 {
                if mask[(i / 8) as usize] >> (i % 8) & 1 == 0 {
                    continue;
                }
                let v = u64::from_le_bytes(words[(i * 8) as usize..][..8].try_into().unwrap());
                let Some(obj) = heap.find(v) else { continue };
                let slot = start + i * 8;
                let (name, target) = name_slot(p, &vars, stripped.as_ref(), types, section, start, slot, obj);
                match roots.last_mut() {
                    Some(r) if r.name == name => r.targets.push(target),
                    _ => roots.push(Root::new(Group::Globals, name, slot, format!("{slot:#x}"), vec![target])),
                }
            }
        }
        md = p.read_field(md, l.md_next)?;
    }
    Ok((roots, warnings))
}

/// Reads the first module's code for references to its data. What cannot
/// be read leaves the globals with section-offset names and a warning.
fn stripped<'p>(p: &'p Process, warnings: &mut Vec<String>) -> Stripped<'p> {
    let (l, md) = (&p.layout, p.firstmoduledata);
    let field = |f| p.read_field(md, f).unwrap_or(0);
    let (types, text) = ((field(l.md_types), field(l.md_etypes)), (field(l.md_text), field(l.md_etext)));
    let refs = match p.code_refs() {
        Ok(r) => Some(r),
        Err(e) => {
            warnings.push(format!("{e}: globals keep data+0x… and bss+0x… names"));
            None
        }
    };
    Stripped { refs, types, text }
}

/// DWARF variables sorted by runtime address.
fn placed_vars<'d>(p: &'d Process) -> Vec<Var<'d>> {
    let Some(d) = &p.dwarf else { return Vec::new() };
    let mut vars: Vec<Var> = d
        .variables()
        .iter()
        .map(|v| {
            let size = v.ty.and_then(|t| d.size_of(t)).unwrap_or(8).max(1);
            let start = v.addr.wrapping_add(p.image.bias);
            Var { start, end: start.saturating_add(size), name: &v.name, ty: v.ty }
        })
        .collect();
    vars.sort_by_key(|v| v.start);
    vars
}

/// The root name of the global word at `slot` (the variable and the field
/// path inside it), and its target with the slot's type when DWARF knows it.
#[allow(clippy::too_many_arguments)]
fn name_slot(
    p: &Process,
    vars: &[Var],
    stripped: Option<&Stripped<'_>>,
    types: u64,
    section: &str,
    section_start: u64,
    slot: u64,
    obj: u32,
) -> (String, Target) {
    let i = vars.partition_point(|v| v.start <= slot);
    if let Some(v) = i.checked_sub(1).map(|i| &vars[i]).filter(|v| slot < v.end) {
        let mut target = Target::plain(obj);
        let path = match (&p.dwarf, v.ty) {
            (Some(d), Some(t)) => {
                let off = slot - v.start;
                let (path, iface_data) = field_path_ex(d, t, off);
                target.slot = runtime_slot(d, t, off, types).map(|(ty, rel)| TypedSlot { ty, base: slot - rel, off: rel });
                if iface_data {
                    target.link = Some(".data".to_string());
                }
                path
            }
            _ => String::new(),
        };
        return (format!("{}{path}", v.name), target);
    }
    let link = slot.wrapping_sub(p.image.bias);
    let code_name = stripped.and_then(|s| s.refs).and_then(|r| r.name(slot, MAX_BELOW_REFERENCE));
    let name = if let Some((sym, off)) = p.symbols.data_at(link).or(code_name.as_ref().map(|(n, off)| (n.as_str(), *off))) {
        if off == 0 {
            sym.to_string()
        } else {
            format!("{sym}+{off:#x}")
        }
    } else {
        format!("{section}+{:#x}", slot - section_start)
    };
    let mut target = Target::plain(obj);
    if let Some(s) = stripped {
        target.slot = stripped_slot(p, s, slot);
        if matches!(target.slot, Some(TypedSlot { ty: SlotType::Iface { .. }, .. })) {
            target.link = Some(".data".to_string());
        }
    }
    (name, target)
}

/// The type of a stripped global's word, where the image tells: the data
/// word of an interface value (the word before it points at a type
/// descriptor, or at an itab whose interface and type are descriptors, and
/// the code treats both words as one variable: a global holding a type
/// descriptor pointer may sit just before an unrelated one), or a word the
/// code stores a fresh allocation of a known type in, or a func value (it
/// points at an object whose first word is a code address: a closure).
fn stripped_slot(p: &Process, s: &Stripped, slot: u64) -> Option<TypedSlot> {
    let is_type = |a: u64| a >= s.types.0 && a < s.types.1;
    let refs = s.refs?;
    if let Some(w) = p.ptr(slot.wrapping_sub(8)).ok().filter(|_| refs.same_variable(slot - 8, slot)) {
        // An itab starts with its interface type in every Go release
        // (runtime.itab.inter, internal/abi.ITab.Inter).
        let itab =
            |a: u64| -> Option<bool> { Some(is_type(p.ptr(a).ok()?) && is_type(p.ptr(a.wrapping_add(p.layout.types.itab_type)).ok()?)) };
        if is_type(w) {
            return Some(TypedSlot { ty: SlotType::Iface { empty: true }, base: slot - 8, off: 8 });
        }
        if w != 0 && itab(w) == Some(true) {
            return Some(TypedSlot { ty: SlotType::Iface { empty: false }, base: slot - 8, off: 8 });
        }
    }
    let ty = match refs.made(slot) {
        Some(m) => made_type(m),
        None => {
            let code = p.ptr(p.ptr(slot).ok()?).ok()?;
            (code >= s.text.0 && code < s.text.1).then_some(SlotType::Func)?
        }
    };
    Some(TypedSlot { ty, base: slot, off: 0 })
}

/// The type of a word the code stored a fresh allocation in.
pub(super) fn made_type(m: Made) -> SlotType {
    match m {
        Made::Object(t) => SlotType::PtrTo(t),
        Made::Map(t) | Made::Chan(t) => SlotType::Desc(t),
        Made::Slice(t) => SlotType::ArrayOf(t),
    }
}

/// `.field[3].sub`: the path to byte `off` inside a value of type `ty`.
/// Go's own representation structs (slices, strings, interfaces) add no
/// component: a slice global is named by the global alone.
pub fn field_path(d: &Dwarf, ty: DieRef, off: u64) -> String {
    field_path_ex(d, ty, off).0
}

/// [`field_path`], and whether the word is the data word of an interface.
fn field_path_ex(d: &Dwarf, mut ty: DieRef, mut off: u64) -> (String, bool) {
    let mut path = String::new();
    let mut iface_data = false;
    for _ in 0..MAX_PATH_DEPTH {
        match d.shape(ty) {
            Some(Shape::Struct(r)) => {
                let Some(layout) = d.struct_layout_of(r) else { break };
                let Some(m) = layout.members.iter().find(|m| m.size.is_some_and(|s| s > 0 && off >= m.offset && off < m.offset + s)) else {
                    break;
                };
                let sname = d.type_name(r);
                let internal = sname.as_deref().is_some_and(is_representation);
                iface_data = matches!(sname.as_deref(), Some("runtime.eface" | "runtime.iface")) && m.name == "data";
                if !internal {
                    path.push('.');
                    path.push_str(&m.name);
                }
                off -= m.offset;
                match m.ty {
                    Some(t) => ty = t,
                    None => break,
                }
            }
            Some(Shape::Array { elem, count }) => {
                let Some(es) = d.size_of(elem).filter(|&s| s > 0) else { break };
                let i = off / es;
                if count > 0 && i >= count {
                    break;
                }
                path.push_str(&format!("[{i}]"));
                off -= i * es;
                ty = elem;
            }
            _ => break,
        }
    }
    (path, iface_data)
}

/// Struct types that are how Go represents a built-in value.
fn is_representation(name: &str) -> bool {
    name.starts_with("[]") || name == "string" || name.starts_with("interface {") || name == "runtime.eface" || name == "runtime.iface"
}
