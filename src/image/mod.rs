//! Layer 1: the memory image of a dumped process.
//!
//! [`Image::open`] joins an ELF core and the executable it came from into one
//! address space: the core's PT_LOAD segments first, then the executable's
//! file-backed segments for whatever the core left out (read-only text and
//! rodata usually). It knows nothing about Go.

mod arch;
mod core;
mod debuginfo;
mod elf;
mod exe;
mod memory;
mod source;
mod space;

use std::path::{Path, PathBuf};

pub use self::arch::{Arch, SignalRegisters};
pub use self::core::{Core, FileMapping, Thread, AT_ENTRY};
pub use self::debuginfo::{DebugInfo, Moved};
pub use self::elf::{Load, Note};
pub use self::exe::{hex, Exe};
pub use self::memory::{Memory, ReadError};
pub use self::source::Source;
pub use self::space::{Backing, Range, Space};

/// Why an image could not be opened.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The file could not be opened, read or mapped.
    #[error("cannot read {}", path.display())]
    Io { path: PathBuf, source: std::io::Error },
    /// A zstd file did not decompress.
    #[error("{}: zstd decompression failed", path.display())]
    Decompress { path: PathBuf, source: std::io::Error },
    /// The file is not ELF at all.
    #[error("the {what} is not an ELF file")]
    NotElf { what: &'static str },
    /// The file is ELF but malformed or of an unsupported kind.
    #[error("the {what} is a malformed or unsupported ELF file: {detail}")]
    BadElf { what: &'static str, detail: String },
    /// The core file is an ELF file of another type.
    #[error("{} is not a core file (ELF type {e_type}); pass the core first and the executable with --exe", path.display())]
    NotCore { path: PathBuf, e_type: u16 },
    /// The executable is an ELF file of another type.
    #[error("{} is not an executable (ELF type {e_type}{}); pass the core first and the executable with --exe", path.display(), if *e_type == 4 { ": a core file" } else { "" })]
    NotExecutable { path: PathBuf, e_type: u16 },
    /// A segment lies past the end of the file.
    #[error("the {what} is truncated: its segments need {needed} bytes but the file has {have}")]
    Truncated { what: &'static str, needed: u64, have: u64 },
    /// Core and executable are for different machines.
    #[error("the core is for {core} but the executable is for {exe}")]
    ArchMismatch { core: &'static str, exe: &'static str },
    /// The executable's bytes differ from what the process had mapped.
    #[error("{} is not the executable of this core: its bytes at {addr:#x} differ from the dumped process's", exe.display())]
    ExeMismatch { exe: PathBuf, addr: u64 },
    /// The `--debuginfo` file is not an unstripped build of the executable.
    #[error("{} is not an unstripped build of the executable: {detail} (build the same source with the same Go version and flags, without -s -w)", file.display())]
    DebugInfoMismatch { file: PathBuf, detail: String },
    /// A PIE executable whose load address could not be found.
    #[error("cannot find where the position-independent executable was loaded (no AT_ENTRY in the core)")]
    NoLoadBias,
}

/// How sure we are that the executable belongs to the core.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ExeCheck {
    /// This many bytes of read-only segments present in both files were equal.
    Verified { bytes: u64 },
    /// The core holds none of the executable's read-only bytes.
    Unverified,
}

/// A core and its executable, joined into one address space.
pub struct Image {
    /// The core file.
    pub core: Core,
    /// The executable.
    pub exe: Exe,
    /// Load bias: runtime address minus link-time address (0 unless PIE).
    pub bias: u64,
    /// Result of the executable-vs-core comparison.
    pub check: ExeCheck,
    /// Where symbols and DWARF come from instead of the executable
    /// (`--debuginfo`), checked to be the same build.
    pub debuginfo: Option<DebugInfo>,
    space: Space,
}

impl Image {
    /// Opens `core` and `exe` (each possibly zstd-compressed) and joins them.
    pub fn open(core: &Path, exe: &Path) -> Result<Image, Error> {
        Image::join(Core::open(core)?, Exe::open(exe)?)
    }

    /// Joins an opened core and executable; checks that they belong together.
    pub fn join(core: Core, exe: Exe) -> Result<Image, Error> {
        if core.arch != exe.arch {
            return Err(Error::ArchMismatch { core: core.arch.name(), exe: exe.arch.name() });
        }
        let bias = if exe.pie {
            let entry = core.auxv(AT_ENTRY).ok_or(Error::NoLoadBias)?;
            entry.wrapping_sub(exe.entry)
        } else {
            0
        };
        let mut space = Space::default();
        for l in &core.loads {
            space.add(Range {
                start: l.vaddr,
                end: l.vaddr + l.filesz,
                backing: Backing::Core,
                offset: l.offset,
                writable: l.writable(),
            });
        }
        let mut image = Image { core, exe, bias, check: ExeCheck::Unverified, debuginfo: None, space };
        image.check = image.compare_exe()?;
        for l in &image.exe.loads {
            let start = l.vaddr.wrapping_add(bias);
            image.space.add(Range {
                start,
                end: start.saturating_add(l.filesz),
                backing: Backing::Exe,
                offset: l.offset,
                writable: l.writable(),
            });
        }
        Ok(image)
    }

    /// Takes symbols and DWARF from `file`, an unstripped build of the
    /// executable; refuses it unless its allocated sections are the
    /// executable's.
    pub fn with_debuginfo(mut self, file: Exe) -> Result<Image, Error> {
        self.debuginfo = Some(DebugInfo::check(&self.exe, file)?);
        Ok(self)
    }

    /// The bytes of the file that symbols and DWARF are read from: the
    /// `--debuginfo` file if there is one, else the executable.
    pub fn debug_bytes(&self) -> &[u8] {
        match &self.debuginfo {
            Some(d) => d.file.bytes(),
            None => self.exe.bytes(),
        }
    }

    /// Compares the executable's read-only segments with the core's copy of
    /// them, wherever the core has one.
    fn compare_exe(&self) -> Result<ExeCheck, Error> {
        let mut compared = 0u64;
        for l in self.exe.loads.iter().filter(|l| !l.writable()) {
            let file = &self.exe.bytes()[l.offset as usize..(l.offset + l.filesz) as usize];
            let start = l.vaddr.wrapping_add(self.bias);
            let seg_end = start.saturating_add(l.filesz);
            let mut addr = start;
            while addr < seg_end {
                let Some(r) = self.space.find(addr) else {
                    // Skip to the next core range inside this segment.
                    match self.space.ranges().iter().find(|r| r.start > addr) {
                        Some(r) if r.start < seg_end => {
                            addr = r.start;
                            continue;
                        }
                        _ => break,
                    }
                };
                let end = r.end.min(seg_end);
                let ours = &file[(addr - start) as usize..(end - start) as usize];
                let theirs = self.range_bytes(r, addr, end);
                if let Some(i) = ours.iter().zip(theirs).position(|(a, b)| a != b) {
                    return Err(Error::ExeMismatch { exe: self.exe.path().to_path_buf(), addr: addr + i as u64 });
                }
                compared += end - addr;
                addr = end;
            }
        }
        Ok(if compared > 0 { ExeCheck::Verified { bytes: compared } } else { ExeCheck::Unverified })
    }

    fn range_bytes(&self, r: &Range, start: u64, end: u64) -> &[u8] {
        let data = match r.backing {
            Backing::Core => self.core.bytes(),
            Backing::Exe => self.exe.bytes(),
        };
        let off = (r.offset + (start - r.start)) as usize;
        &data[off..off + (end - start) as usize]
    }

    /// The readable ranges of the address space.
    pub fn ranges(&self) -> &[Range] {
        self.space.ranges()
    }
}

impl Memory for Image {
    fn tail(&self, addr: u64) -> Option<&[u8]> {
        let r = self.space.find(addr)?;
        Some(self.range_bytes(r, addr, r.end))
    }
}
