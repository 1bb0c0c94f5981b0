//! Which functions' code refers to which data and bss addresses: names for
//! the globals of an executable without symbols or DWARF.
//!
//! The pc-line table survives stripping and tells which function each
//! instruction belongs to; a disassembler (iced-x86) finds the operands
//! that address memory relative to the instruction pointer, which is how
//! Go code on amd64 reaches its package-level variables. A global used by
//! `main.buildCache` and `main.main` is then named after those two, and the
//! names depend on the executable alone, so they are the same in every core
//! of it.
//!
//! The same pass notes globals stored right after an allocation whose type
//! the code passes in a register: `runtime.newobject`, `makemap`,
//! `makechan` and `makeslice` take their type descriptor as first argument
//! (in RAX under Go's register ABI) and return the new object in RAX. A
//! store of RAX to a global a few instructions later gives the global that
//! type; a store to the frame (`[rsp+d]`) gives that stack slot the type in
//! the function's frames. Likewise the map functions (`runtime.mapassign*`,
//! `mapaccess*`, `mapdelete*`) take the map type in RAX and the map in RBX:
//! a map loaded from a global into RBX just before has that map type.
//!
//! Only amd64 is decoded here. Other architectures get
//! [`Error::Unsupported`], and their globals keep section-offset names.

use iced_x86::{Code, Decoder, DecoderOptions, FlowControl, Instruction, InstructionInfoFactory, OpAccess, OpKind, Register};
use rayon::prelude::*;

use super::pclntab::Pclntab;
use crate::image::Arch;

/// At most this many function names make up one global's name; the rest
/// are counted.
const MAX_NAMES: usize = 3;
/// Instructions after an allocating call within which the result must be
/// stored (write-barrier checks come between).
const STORE_WINDOW: u32 = 8;

/// Why the code could not be read for references.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The architecture has no decoder here.
    #[error("naming globals after the code that uses them is implemented for amd64 only, not {0}")]
    Unsupported(&'static str),
}

/// Where the code and the data it may refer to are (runtime addresses).
#[derive(Clone, Copy, Debug)]
pub struct CodeSpan<'a> {
    /// First byte of text (moduledata.text, the base of function entries).
    pub text: u64,
    /// The text bytes, from `text` on.
    pub bytes: &'a [u8],
    /// Data and bss addresses worth recording: [start, end).
    pub data: (u64, u64),
    /// Type descriptors: [types, etypes).
    pub types: (u64, u64),
}

/// What was allocated and stored into a global.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Made {
    /// `runtime.newobject(T)`: a pointer to a new T (descriptor address).
    Object(u64),
    /// `runtime.makemap(M, …)`: a map of map type M.
    Map(u64),
    /// `runtime.makechan(C, …)`: a channel of channel type C.
    Chan(u64),
    /// `runtime.makeslice(E, …)`: the data pointer of a slice of E.
    Slice(u64),
}

/// Code references to data, by address.
#[derive(Debug, Default)]
pub struct CodeRefs {
    /// (referenced address, function index), sorted, without duplicates.
    refs: Vec<(u64, u32)>,
    /// Function names by index.
    names: Vec<String>,
    /// Globals stored right after an allocation of a known type, sorted;
    /// a global stored with two different types is left out.
    made: Vec<(u64, Made)>,
    /// Function entries by index (sorted).
    entries: Vec<u64>,
    /// (function index, offset from the frame's stack pointer) of frame
    /// slots stored right after an allocation of a known type; sorted, a
    /// slot stored with two different types left out.
    frame_made: Vec<((u32, u64), Made)>,
}

impl CodeRefs {
    /// Decodes every function of `tab` in `span`.
    pub fn scan(arch: Arch, span: CodeSpan, tab: &Pclntab) -> Result<CodeRefs, Error> {
        match arch {
            Arch::Amd64 => Ok(amd64::scan(span, tab)),
            other => Err(Error::Unsupported(other.name())),
        }
    }

    /// The functions referring to `addr` exactly.
    fn users(&self, addr: u64) -> &[(u64, u32)] {
        let lo = self.refs.partition_point(|r| r.0 < addr);
        let hi = self.refs.partition_point(|r| r.0 <= addr);
        &self.refs[lo..hi]
    }

    /// The name of the global word at `addr`: the functions whose code
    /// refers to the nearest referenced address at or below it, no more
    /// than `max_below` bytes below (a variable reached through a register
    /// pointing at its start), with the offset from there. None where no
    /// code refers near it.
    pub fn name(&self, addr: u64, max_below: u64) -> Option<(String, u64)> {
        let i = self.refs.partition_point(|r| r.0 <= addr).checked_sub(1)?;
        let at = self.refs[i].0;
        if addr - at > max_below {
            return None;
        }
        let users = self.users(at);
        let mut names: Vec<&str> = users.iter().map(|&(_, f)| self.names[f as usize].as_str()).collect();
        names.sort_unstable();
        names.dedup();
        let mut name = names.iter().take(MAX_NAMES).copied().collect::<Vec<_>>().join(",");
        if names.len() > MAX_NAMES {
            name.push_str(&format!(",…{} more", names.len() - MAX_NAMES));
        }
        Some((name, addr - at))
    }

    /// Whether the words at `a` and `b` look like parts of one variable:
    /// code refers to `a`, and every function that refers to `b` refers
    /// to `a` too.
    pub fn same_variable(&self, a: u64, b: u64) -> bool {
        let (ua, ub) = (self.users(a), self.users(b));
        !ua.is_empty() && ub.iter().all(|u| ua.iter().any(|v| v.1 == u.1))
    }

    /// What the code allocated and stored at `addr`, if one type.
    pub fn made(&self, addr: u64) -> Option<Made> {
        let i = self.made.binary_search_by_key(&addr, |m| m.0).ok()?;
        Some(self.made[i].1)
    }

    /// What the function holding `pc` allocated and stored in its frame at
    /// `off` bytes above its stack pointer, if one type.
    pub fn frame_made(&self, pc: u64, off: u64) -> Option<Made> {
        let f = self.entries.partition_point(|&e| e <= pc).checked_sub(1)? as u32;
        let i = self.frame_made.binary_search_by_key(&(f, off), |m| m.0).ok()?;
        Some(self.frame_made[i].1)
    }

    /// Number of distinct referenced addresses (for reports and tests).
    pub fn addresses(&self) -> usize {
        let mut n = 0;
        let mut last = None;
        for r in &self.refs {
            if last != Some(r.0) {
                n += 1;
                last = Some(r.0);
            }
        }
        n
    }
}

/// The x86-64 decoder pass.
mod amd64 {
    use super::*;

    /// What an allocator's result is, given its type argument.
    type MakeFn = fn(u64) -> Made;

    /// Function bounds: (entry, end) and names, by index.
    struct Funcs {
        entries: Vec<(u64, u64)>,
        names: Vec<String>,
    }

    /// What one function's code gave: (data address, function index)
    /// references, and globals stored with fresh allocations.
    type Found = (Vec<(u64, u32)>, Vec<(u64, Made)>, Vec<(u64, Made)>);

    /// Allocating runtime functions by entry address, each with what its
    /// type argument makes.
    struct Allocators {
        calls: Vec<(u64, MakeFn)>,
        barriers: Vec<u64>,
        /// Functions taking (map type, map) in (RAX, RBX).
        map_ops: Vec<u64>,
    }

    pub(super) fn scan(span: CodeSpan, tab: &Pclntab) -> CodeRefs {
        let end = span.text + span.bytes.len() as u64;
        let mut funcs: Vec<(u64, String)> = tab.funcs().map(|f| (span.text + u64::from(f.entry_off), f.name.to_string())).collect();
        funcs.sort_by_key(|f| f.0);
        funcs.dedup_by_key(|f| f.0);
        let mut fs = Funcs { entries: Vec::with_capacity(funcs.len()), names: Vec::with_capacity(funcs.len()) };
        for (i, (entry, name)) in funcs.iter().enumerate() {
            let next = funcs.get(i + 1).map_or(end, |f| f.0).min(end);
            fs.entries.push((*entry, next.max(*entry)));
            fs.names.push(name.clone());
        }
        let mut alloc = Allocators { calls: Vec::new(), barriers: Vec::new(), map_ops: Vec::new() };
        for (i, name) in fs.names.iter().enumerate() {
            let entry = fs.entries[i].0;
            let kind: Option<MakeFn> = match name.as_str() {
                "runtime.newobject" => Some(Made::Object),
                "runtime.makemap" => Some(Made::Map),
                "runtime.makechan" => Some(Made::Chan),
                "runtime.makeslice" => Some(Made::Slice),
                _ => None,
            };
            if let Some(k) = kind {
                alloc.calls.push((entry, k));
            }
            if name.starts_with("runtime.gcWriteBarrier") {
                alloc.barriers.push(entry);
            }
            if ["runtime.mapassign", "runtime.mapaccess", "runtime.mapdelete"].iter().any(|p| name.starts_with(p)) {
                alloc.map_ops.push(entry);
            }
        }
        let per_func: Vec<Found> = (0..fs.entries.len())
            .into_par_iter()
            .map_init(InstructionInfoFactory::new, |info, i| one_function(&span, &fs, &alloc, i, info))
            .collect();
        let mut refs = Vec::new();
        let mut made = Vec::new();
        let mut frame_made = Vec::new();
        for (i, (r, m, fm)) in per_func.into_iter().enumerate() {
            refs.extend(r);
            made.extend(m);
            frame_made.extend(fm.into_iter().map(|(off, m)| ((i as u32, off), m)));
        }
        refs.sort_unstable();
        refs.dedup();
        let entries = fs.entries.iter().map(|e| e.0).collect();
        CodeRefs { refs, names: fs.names, made: single_typed(made), entries, frame_made: single_typed(frame_made) }
    }

    /// Sorted, without the places stored with more than one type.
    fn single_typed<K: Ord + Copy>(mut made: Vec<(K, Made)>) -> Vec<(K, Made)> {
        made.sort_unstable_by_key(|m| (m.0, made_key(m.1)));
        made.dedup();
        let mut single = Vec::with_capacity(made.len());
        let mut i = 0;
        while i < made.len() {
            let j = made[i..].iter().position(|m| m.0 != made[i].0).map_or(made.len(), |k| i + k);
            if j - i == 1 {
                single.push(made[i]);
            }
            i = j;
        }
        single
    }

    fn made_key(m: Made) -> (u8, u64) {
        match m {
            Made::Object(t) => (0, t),
            Made::Map(t) => (1, t),
            Made::Chan(t) => (2, t),
            Made::Slice(t) => (3, t),
        }
    }

    /// Decodes function `i`: its data references, and its stores of
    /// freshly allocated objects into globals.
    fn one_function(span: &CodeSpan, fs: &Funcs, alloc: &Allocators, i: usize, info: &mut InstructionInfoFactory) -> Found {
        let (entry, end) = fs.entries[i];
        let (lo, hi) = ((entry - span.text) as usize, (end - span.text) as usize);
        let Some(code) = span.bytes.get(lo..hi) else { return Default::default() };
        let mut refs = Vec::new();
        let mut made = Vec::new();
        let mut frame_made = Vec::new();
        let in_data = |a: u64| a >= span.data.0 && a < span.data.1;
        let is_type = |a: u64| a >= span.types.0 && a < span.types.1;
        let mut decoder = Decoder::with_ip(64, code, entry, DecoderOptions::NONE);
        let mut ins = Instruction::default();
        // The type descriptor RAX holds (set by `lea rax, [rip+T]`).
        let mut rax_type: Option<u64> = None;
        // The global RBX was loaded from (`mov rbx, [rip+G]`).
        let mut rbx_global: Option<u64> = None;
        // An allocation's result in RAX, not yet stored: what, and how many
        // instructions may still come before the store.
        let mut pending: Option<(Made, u32)> = None;
        while decoder.can_decode() {
            decoder.decode_out(&mut ins);
            if ins.is_invalid() {
                rax_type = None;
                rbx_global = None;
                pending = None;
                continue;
            }
            let rel = ins.is_ip_rel_memory_operand().then(|| ins.ip_rel_memory_address());
            if let Some(a) = rel.filter(|&a| in_data(a)) {
                refs.push((a, i as u32));
            }
            if let Some((m, left)) = pending {
                if ins.code() == Code::Mov_rm64_r64 && ins.op1_register() == Register::RAX {
                    if let Some(a) = rel.filter(|&a| in_data(a)) {
                        made.push((a, m));
                        pending = None;
                        continue;
                    }
                    if ins.op0_kind() == OpKind::Memory && ins.memory_base() == Register::RSP && ins.memory_index() == Register::None {
                        frame_made.push((ins.memory_displacement64(), m));
                        pending = None;
                        continue;
                    }
                }
                let call_ok = ins.flow_control() == FlowControl::Call && alloc.barriers.contains(&ins.near_branch_target());
                let flow_ok = matches!(ins.flow_control(), FlowControl::Next | FlowControl::ConditionalBranch) || call_ok;
                pending = (flow_ok && left > 1 && !writes(info, &ins).0).then_some((m, left - 1));
                if pending.is_some() {
                    continue;
                }
                // The result is gone: this instruction may start the next
                // pattern.
            }
            if ins.flow_control() == FlowControl::Call {
                let target = if ins.op0_kind() == OpKind::NearBranch64 { Some(ins.near_branch_target()) } else { None };
                let call = target.and_then(|t| alloc.calls.iter().find(|c| c.0 == t));
                pending = match (call, rax_type) {
                    (Some(&(_, kind)), Some(t)) => Some((kind(t), STORE_WINDOW)),
                    _ => None,
                };
                if let (Some(t), Some(g), true) = (rax_type, rbx_global, target.is_some_and(|t| alloc.map_ops.contains(&t))) {
                    made.push((g, Made::Map(t)));
                }
                rax_type = None;
                rbx_global = None;
                continue;
            }
            if ins.code() == Code::Lea_r64_m && ins.op0_register() == Register::RAX {
                rax_type = rel.filter(|&a| is_type(a));
                continue;
            }
            if ins.code() == Code::Mov_r64_rm64 && ins.op0_register() == Register::RBX {
                rbx_global = rel.filter(|&a| in_data(a));
                continue;
            }
            if rax_type.is_none() && rbx_global.is_none() {
                continue;
            }
            if ins.flow_control() != FlowControl::Next {
                rax_type = None;
                rbx_global = None;
                continue;
            }
            let (rax, rbx) = writes(info, &ins);
            if rax {
                rax_type = None;
            }
            if rbx {
                rbx_global = None;
            }
        }
        refs.sort_unstable();
        refs.dedup();
        (refs, made, frame_made)
    }

    /// Whether the instruction may write any part of RAX, of RBX.
    fn writes(info: &mut InstructionInfoFactory, ins: &Instruction) -> (bool, bool) {
        let mut out = (false, false);
        for u in info.info(ins).used_registers() {
            if matches!(u.access(), OpAccess::Read | OpAccess::CondRead | OpAccess::None | OpAccess::NoMemAccess) {
                continue;
            }
            match u.register().full_register() {
                Register::RAX => out.0 = true,
                Register::RBX => out.1 = true,
                _ => {}
            }
        }
        out
    }
}
