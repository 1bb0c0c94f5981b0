//! Runtime type descriptors (`runtime._type`, `internal/abi.Type`) and
//! their pointer masks, including masks the runtime builds on demand
//! (Go 1.24+ `TFlagGCMaskOnDemand`).

use std::borrow::Cow;

use crate::image::Memory;

use super::process::Process;
use super::Error;

pub use crate::gobin::kinds::{
    KIND_ARRAY, KIND_CHAN, KIND_FUNC, KIND_INTERFACE, KIND_MAP, KIND_PTR, KIND_SLICE, KIND_STRING, KIND_STRUCT, KIND_UNSAFE_POINTER,
};
/// TFlagGCMaskOnDemand (Go 1.24+).
const TFLAG_GCMASK_ON_DEMAND: u8 = 0x10;
/// Nesting bound for building masks from array/struct descriptors.
const MAX_TYPE_DEPTH: u32 = 64;
/// Largest mask built by hand: 1 GiB of pointer data.
const MAX_MASK_WORDS: u64 = 1 << 27;

/// The parts of a type descriptor the heap walk needs.
#[derive(Clone, Copy, Debug)]
pub struct TypeDesc {
    /// Address of the descriptor.
    pub addr: u64,
    /// Size_ in bytes.
    pub size: u64,
    /// PtrBytes: length of the prefix that holds pointers.
    pub ptrbytes: u64,
    /// TFlag.
    pub tflag: u8,
    /// Kind (low five bits).
    pub kind: u8,
    /// GCData pointer.
    pub gcdata: u64,
}

/// Reads the descriptor at `addr`.
pub fn read_type(p: &Process, addr: u64) -> Result<TypeDesc, Error> {
    let l = &p.layout;
    let t = TypeDesc {
        addr,
        size: p.read_field(addr, l.type_size)?,
        ptrbytes: p.read_field(addr, l.type_ptrbytes)?,
        tflag: p.read_field(addr, l.type_tflag)? as u8,
        kind: (p.read_field(addr, l.type_kind)? & 0x1f) as u8,
        gcdata: p.read_field(addr, l.type_gcdata)?,
    };
    if t.ptrbytes > t.size || t.ptrbytes % 8 != 0 {
        return Err(Error::Corrupt(format!("type descriptor at {addr:#x} has PtrBytes {} > Size {}", t.ptrbytes, t.size)));
    }
    Ok(t)
}

/// The pointer mask of `t`: bit i (LSB first within each byte) says whether
/// word i of a value of the type holds a pointer; PtrBytes/8 bits.
pub fn type_mask<'a>(p: &'a Process, t: &TypeDesc) -> Result<Cow<'a, [u8]>, Error> {
    let words = t.ptrbytes / 8;
    let bytes = words.div_ceil(8) as usize;
    if p.layout.minor >= 24 && t.tflag & TFLAG_GCMASK_ON_DEMAND != 0 {
        let slot = p.ptr(t.gcdata)?;
        if slot != 0 && !is_in_progress(p, slot) {
            return Ok(Cow::Borrowed(p.image.slice(slot, bytes)?));
        }
        if words > MAX_MASK_WORDS {
            return Err(Error::Corrupt(format!("type at {:#x}: {words} pointer words", t.addr)));
        }
        let mut mask = vec![0u8; bytes];
        build_mask(p, t, 0, &mut mask, 0)?;
        return Ok(Cow::Owned(mask));
    }
    Ok(Cow::Borrowed(p.image.slice(t.gcdata, bytes)?))
}

/// Whether an on-demand mask slot holds `&runtime.inProgress` (a mask being
/// built). Without symbols: any address inside the executable's own
/// segments, where no built mask can live.
fn is_in_progress(p: &Process, slot: u64) -> bool {
    if let Some(s) = p.symbols.get("runtime.inProgress") {
        return slot == s.addr.wrapping_add(p.image.bias);
    }
    p.image.exe.loads.iter().any(|l| {
        let start = l.vaddr.wrapping_add(p.image.bias);
        slot >= start && slot < start + l.memsz
    })
}

/// Sets the pointer bits of a value of type `t` placed at word `word` of
/// `mask`, as runtime.buildGCMask does.
fn build_mask(p: &Process, t: &TypeDesc, word: u64, mask: &mut [u8], depth: u32) -> Result<(), Error> {
    if t.ptrbytes == 0 {
        return Ok(());
    }
    if depth > MAX_TYPE_DEPTH {
        return Err(Error::Corrupt(format!("type at {:#x} nests too deeply", t.addr)));
    }
    let set = |mask: &mut [u8], w: u64| {
        if let Some(b) = mask.get_mut((w / 8) as usize) {
            *b |= 1 << (w % 8);
        }
    };
    if p.layout.minor < 24 || t.tflag & TFLAG_GCMASK_ON_DEMAND == 0 {
        let own = p.image.slice(t.gcdata, (t.ptrbytes / 8).div_ceil(8) as usize)?;
        for i in 0..t.ptrbytes / 8 {
            if own[(i / 8) as usize] >> (i % 8) & 1 != 0 {
                set(mask, word + i);
            }
        }
        return Ok(());
    }
    let h = p.layout.type_header;
    match t.kind {
        KIND_ARRAY => {
            let elem = read_type(p, p.ptr(t.addr + h)?)?;
            let len = p.ptr(t.addr + h + 16)?;
            if elem.size == 0 || len.checked_mul(elem.size) != Some(t.size) {
                return Err(Error::Corrupt(format!("array type at {:#x} has inconsistent length", t.addr)));
            }
            // Build the element's mask once, then stamp it len times.
            let ew = elem.ptrbytes / 8;
            if elem.ptrbytes > elem.size || ew > MAX_MASK_WORDS {
                return Err(Error::Corrupt(format!("array type at {:#x}: element has {} pointer bytes", t.addr, elem.ptrbytes)));
            }
            let mut em = vec![0u8; ew.div_ceil(8) as usize];
            build_mask(p, &elem, 0, &mut em, depth + 1)?;
            let stride = elem.size / 8;
            for i in 0..len {
                let at = word + i * stride;
                if at >= (mask.len() * 8) as u64 {
                    break;
                }
                for j in 0..ew {
                    if em[(j / 8) as usize] >> (j % 8) & 1 != 0 {
                        set(mask, at + j);
                    }
                }
            }
        }
        KIND_STRUCT => {
            let (fields, n) = p.slice_header(t.addr + h + 8)?;
            if n > 1 << 20 {
                return Err(Error::Corrupt(format!("struct type at {:#x} has {n} fields", t.addr)));
            }
            for i in 0..n {
                let f = fields + i * 24;
                let ft = read_type(p, p.ptr(f + 8)?)?;
                let off = p.ptr(f + 16)?;
                build_mask(p, &ft, word.saturating_add(off / 8), mask, depth + 1)?;
            }
        }
        k => return Err(Error::Corrupt(format!("on-demand GC mask for kind {k} at {:#x}", t.addr))),
    }
    Ok(())
}

/// TFlagExtraStar: the name is stored with a leading `*` to drop.
const TFLAG_EXTRA_STAR: u8 = 0x2;
/// Longest type name read.
const MAX_NAME: usize = 4096;

/// The type's name (`main.Entry`, `[]uint8`, `map.group[string]*main.Entry`),
/// resolved through the module's types section.
pub fn type_name(p: &Process, t: &TypeDesc) -> Result<String, Error> {
    let types = p.read_field(p.firstmoduledata, p.layout.md_types)?;
    let off = p.read_field(t.addr, p.layout.type_str)? as u32 as i32;
    let at = types.wrapping_add(off as i64 as u64);
    let mut name = read_name(p, at)?;
    if t.tflag & TFLAG_EXTRA_STAR != 0 && name.starts_with('*') {
        name.remove(0);
    }
    Ok(name)
}

/// An encoded `abi.Name` at `at`: a flags byte, a varint length, the bytes.
pub fn read_name(p: &Process, at: u64) -> Result<String, Error> {
    let head = p.image.slice(at, 1)?;
    let _flags = head[0];
    let mut len = 0usize;
    let mut pos = 1u64;
    for shift in (0..28).step_by(7) {
        let b = p.image.u8(at + pos)?;
        pos += 1;
        len |= usize::from(b & 0x7f) << shift;
        if b & 0x80 == 0 {
            break;
        }
    }
    if len > MAX_NAME {
        return Err(Error::Corrupt(format!("type name of {len} bytes at {at:#x}")));
    }
    let bytes = p.image.slice(at + pos, len)?;
    Ok(String::from_utf8_lossy(bytes).into_owned())
}

/// Whether values of `t` are stored directly in an interface's data word
/// (pointer-shaped types): Kind_ bit 0x20 up to Go 1.25, TFlag 0x20 from
/// Go 1.26 on.
pub fn is_direct_iface(p: &Process, t: &TypeDesc) -> Result<bool, Error> {
    if p.layout.types.direct_iface_tflag {
        return Ok(t.tflag & 0x20 != 0);
    }
    Ok(p.read_field(t.addr, p.layout.type_kind)? & 0x20 != 0)
}
