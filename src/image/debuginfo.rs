//! `--debuginfo FILE`: symbols and DWARF from an unstripped build of the
//! same program, everything else from the stripped executable that ran.
//!
//! Built with the same toolchain and flags, `-ldflags='-s -w'` changes no
//! allocated byte except the build-ID notes: the code, read-only data and
//! data are those of the stripped build, so FILE's symbols and DWARF
//! describe it. This module checks that before anything is taken from FILE:
//! every allocated section must be in both files with the same name, size
//! and bytes. Two differences are allowed, both seen in Go 1.19–1.21, whose
//! linker puts the non-allocated `.shstrtab` (its size depends on which
//! debug sections exist) inside the read-only segment: read-only sections
//! after it move, and the words of the module data that point into them
//! differ by the move. A word may differ only where both files' words point
//! at the same offset of same-named sections; the code and data sections
//! must not move at all, since symbols and DWARF address them. Symbols that
//! fall into a moved section are shifted to where the executable has it.

use object::{Object, ObjectSection, SectionFlags, SectionKind};

use super::exe::Exe;
use super::Error;

/// An allocated section as both files are compared on.
struct Section<'d> {
    name: String,
    addr: u64,
    size: u64,
    /// SHF_WRITE or SHF_EXECINSTR: symbols and DWARF address it, so it may
    /// not move.
    fixed: bool,
    /// Its bytes (empty for NOBITS).
    data: &'d [u8],
}

/// A read-only section that sits elsewhere in FILE than in the executable.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Moved {
    /// FILE's address range.
    pub start: u64,
    pub end: u64,
    /// Executable's address minus FILE's.
    pub delta: u64,
}

/// The separate file symbols and DWARF are read from, checked against the
/// executable.
pub struct DebugInfo {
    /// The file.
    pub file: Exe,
    /// Read-only sections at another address in FILE than in the executable.
    pub moved: Vec<Moved>,
}

impl DebugInfo {
    /// Checks that `file` is an unstripped build of `exe` and keeps it.
    pub fn check(exe: &Exe, file: Exe) -> Result<DebugInfo, Error> {
        let mismatch = |detail: String| Error::DebugInfoMismatch { file: file.path().to_path_buf(), detail };
        let ours = sections(exe.bytes(), "executable")?;
        let theirs = sections(file.bytes(), "debug-info file")?;
        if exe.arch != file.arch || exe.pie != file.pie {
            return Err(mismatch(format!(
                "it is a {} {} build, the executable {} {}",
                kind(file.pie),
                file.arch.name(),
                kind(exe.pie),
                exe.arch.name()
            )));
        }
        let parsed = object::File::parse(file.bytes()).map_err(|e| Error::BadElf { what: "debug-info file", detail: e.to_string() })?;
        if parsed.section_by_name(".debug_info").is_none() && parsed.section_by_name(".symtab").is_none() {
            return Err(mismatch("it has no DWARF and no symbol table either".to_string()));
        }
        let mut moved = Vec::new();
        for t in &theirs {
            if !ours.iter().any(|o| o.name == t.name) {
                return Err(mismatch(format!("it has section {} that the executable has not", t.name)));
            }
        }
        for o in &ours {
            let Some(t) = theirs.iter().find(|t| t.name == o.name) else {
                return Err(mismatch(format!("it has no section {}", o.name)));
            };
            if t.size != o.size || t.data.len() != o.data.len() {
                return Err(mismatch(format!("its section {} has {} bytes, the executable's {}", o.name, t.size, o.size)));
            }
            if t.addr != o.addr {
                if o.fixed {
                    return Err(mismatch(format!("its section {} is at {:#x}, the executable's at {:#x}", o.name, t.addr, o.addr)));
                }
                moved.push(Moved { start: t.addr, end: t.addr + t.size, delta: o.addr.wrapping_sub(t.addr) });
            }
        }
        for o in &ours {
            let t = theirs.iter().find(|t| t.name == o.name).expect("checked above");
            if let Some(off) = first_difference(o, t, &ours, &theirs) {
                return Err(mismatch(format!("its section {} differs from the executable's at {:#x}", o.name, o.addr + off)));
            }
        }
        Ok(DebugInfo { file, moved })
    }

    /// Where the executable has what FILE has at link-time address `addr`.
    pub fn translate(&self, addr: u64) -> u64 {
        match self.moved.iter().find(|m| addr >= m.start && addr < m.end) {
            Some(m) => addr.wrapping_add(m.delta),
            None => addr,
        }
    }
}

fn kind(pie: bool) -> &'static str {
    if pie {
        "position-independent"
    } else {
        "non-PIE"
    }
}

/// The allocated sections of an ELF file, build-ID notes aside.
fn sections<'d>(bytes: &'d [u8], what: &'static str) -> Result<Vec<Section<'d>>, Error> {
    let file = object::File::parse(bytes).map_err(|e| Error::BadElf { what, detail: e.to_string() })?;
    let mut out = Vec::new();
    for s in file.sections() {
        let SectionFlags::Elf { sh_flags, .. } = s.flags() else { continue };
        let sh_flags = sh_flags.0;
        if sh_flags & object::elf::SHF_ALLOC.0 == 0 || s.kind() == SectionKind::Note {
            continue;
        }
        let name = s.name().map_err(|e| Error::BadElf { what, detail: e.to_string() })?.to_string();
        let data = if s.kind() == SectionKind::UninitializedData {
            &[][..]
        } else {
            s.data().map_err(|e| Error::BadElf { what, detail: format!("section {name}: {e}") })?
        };
        let fixed = sh_flags & (object::elf::SHF_WRITE.0 | object::elf::SHF_EXECINSTR.0) != 0;
        out.push(Section { name, addr: s.address(), size: s.size(), fixed, data });
    }
    Ok(out)
}

/// The offset of the first byte where `o` (the executable's) and `t`
/// (FILE's) differ, other than in words that point at the same offset of
/// same-named sections of their own file.
fn first_difference(o: &Section, t: &Section, ours: &[Section], theirs: &[Section]) -> Option<u64> {
    let mut i = 0;
    while i < o.data.len() {
        let d = o.data[i..].iter().zip(&t.data[i..]).position(|(a, b)| a != b)?;
        // Compare the 8-byte word around the difference, aligned as in the
        // section (Go aligns its sections to at least 8).
        let w = (i + d) & !7;
        if w + 8 > o.data.len() {
            return Some((i + d) as u64);
        }
        let a = u64::from_le_bytes(o.data[w..w + 8].try_into().unwrap());
        let b = u64::from_le_bytes(t.data[w..w + 8].try_into().unwrap());
        if !same_place(a, b, ours, theirs) {
            return Some((i + d) as u64);
        }
        i = w + 8;
    }
    None
}

/// Whether address `a` in the executable and `b` in FILE are the same
/// offset of same-named sections (an end address counts as inside).
fn same_place(a: u64, b: u64, ours: &[Section], theirs: &[Section]) -> bool {
    ours.iter().any(|o| {
        a >= o.addr
            && a <= o.addr + o.size
            && theirs.iter().any(|t| t.name == o.name && t.addr != o.addr && b.wrapping_sub(t.addr) == a - o.addr)
    })
}
