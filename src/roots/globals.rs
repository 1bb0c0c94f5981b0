//! Globals: every pointer word of each module's data and bss sections (the
//! runtime's gcdatamask / gcbssmask), named by the DWARF variable covering
//! it with the field path inside it, else by ELF symbol, else by section
//! offset.

use crate::gobin::{DieRef, Dwarf, Shape};
use crate::heap::Heap;
use crate::image::Memory;
use crate::runtime::{Error, Process};

use super::{Group, Root};

/// A bound on the module chain (plugins add modules; real programs have few).
const MAX_MODULES: usize = 256;
/// A bound on nesting when naming a field path.
const MAX_PATH_DEPTH: usize = 32;

/// A DWARF variable placed at its runtime address.
struct Var<'d> {
    start: u64,
    end: u64,
    name: &'d str,
    ty: Option<DieRef>,
}

/// Roots for all data and bss pointer words that point into the heap.
pub fn global_roots(p: &Process, heap: &Heap) -> Result<Vec<Root>, Error> {
    let l = &p.layout;
    let vars = placed_vars(p);
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
            let mut mask = vec![0u8; nbits.div_ceil(8) as usize];
            p.image.read(bytes, &mut mask)?;
            let mut words = vec![0u8; (nbits * 8).min(end - start) as usize];
            p.image.read(start, &mut words)?;
            for i in 0..(words.len() / 8) as u64 {
                if mask[(i / 8) as usize] >> (i % 8) & 1 == 0 {
                    continue;
                }
                let v = u64::from_le_bytes(words[(i * 8) as usize..][..8].try_into().unwrap());
                let Some(obj) = heap.find(v) else { continue };
                let slot = start + i * 8;
                let name = name_slot(p, &vars, section, start, slot);
                match roots.last_mut() {
                    Some(r) if r.name == name => r.targets.push((None, obj)),
                    _ => roots.push(Root { group: Group::Globals, name, addr: slot, tag: format!("{slot:#x}"), targets: vec![(None, obj)] }),
                }
            }
        }
        md = p.read_field(md, l.md_next)?;
    }
    Ok(roots)
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
            Var { start, end: start + size, name: &v.name, ty: v.ty }
        })
        .collect();
    vars.sort_by_key(|v| v.start);
    vars
}

fn name_slot(p: &Process, vars: &[Var], section: &str, section_start: u64, slot: u64) -> String {
    let i = vars.partition_point(|v| v.start <= slot);
    if let Some(v) = i.checked_sub(1).map(|i| &vars[i]).filter(|v| slot < v.end) {
        let path = match (&p.dwarf, v.ty) {
            (Some(d), Some(t)) => field_path(d, t, slot - v.start),
            _ => String::new(),
        };
        return format!("{}{path}", v.name);
    }
    let link = slot.wrapping_sub(p.image.bias);
    if let Some((sym, off)) = p.symbols.data_at(link) {
        return if off == 0 { sym.to_string() } else { format!("{sym}+{off:#x}") };
    }
    format!("{section}+{:#x}", slot - section_start)
}

/// `.field[3].sub`: the path to byte `off` inside a value of type `ty`.
/// Go's own representation structs (slices, strings, interfaces) add no
/// component: a slice global is named by the global alone.
pub fn field_path(d: &Dwarf, mut ty: DieRef, mut off: u64) -> String {
    let mut path = String::new();
    for _ in 0..MAX_PATH_DEPTH {
        match d.shape(ty) {
            Some(Shape::Struct(r)) => {
                let Some(layout) = d.struct_layout_of(r) else { break };
                let Some(m) = layout.members.iter().find(|m| m.size.is_some_and(|s| s > 0 && off >= m.offset && off < m.offset + s)) else {
                    break;
                };
                let internal = d.type_name(r).is_some_and(|n| is_representation(&n));
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
    path
}

/// Struct types that are how Go represents a built-in value.
fn is_representation(name: &str) -> bool {
    name.starts_with("[]") || name == "string" || name.starts_with("interface {") || name == "runtime.eface" || name == "runtime.iface"
}
