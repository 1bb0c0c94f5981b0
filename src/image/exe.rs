//! The executable: its loadable segments (to fill what the core left out)
//! and its notes (build IDs).

use std::path::Path;

use object::elf;

use super::arch::Arch;
use super::elf::{parse, Load, Note};
use super::source::Source;
use super::Error;

/// A parsed executable.
pub struct Exe {
    source: Source,
    /// Machine.
    pub arch: Arch,
    /// True for position-independent executables (ET_DYN).
    pub pie: bool,
    /// Entry point as linked.
    pub entry: u64,
    /// PT_LOAD segments as linked (before any load bias).
    pub loads: Vec<Load>,
    /// Notes from PT_NOTE segments.
    pub notes: Vec<Note>,
}

impl Exe {
    /// Opens and parses an executable (zstd-compressed or not).
    pub fn open(path: &Path) -> Result<Exe, Error> {
        Exe::from_source(Source::open(path)?)
    }

    /// Parses an executable held in memory (`name` names it in messages).
    pub fn from_bytes(name: &Path, bytes: Vec<u8>) -> Result<Exe, Error> {
        Exe::from_source(Source::from_vec(name, bytes))
    }

    fn from_source(source: Source) -> Result<Exe, Error> {
        let path = source.path().to_path_buf();
        let info = parse(source.bytes(), "executable", false)?;
        let pie = match info.e_type {
            e if e == elf::ET_EXEC.0 => false,
            e if e == elf::ET_DYN.0 => true,
            t => return Err(Error::NotExecutable { path, e_type: t }),
        };
        Ok(Exe { source, arch: info.arch, pie, entry: info.entry, loads: info.loads, notes: info.notes })
    }

    /// The file's (decompressed) bytes.
    pub fn bytes(&self) -> &[u8] {
        self.source.bytes()
    }

    /// Where the executable was read from.
    pub fn path(&self) -> &Path {
        self.source.path()
    }

    /// The descriptor of the first note with this owner and type.
    pub fn note(&self, name: &[u8], kind: u32) -> Option<&[u8]> {
        self.notes.iter().find(|n| n.name == name && n.kind == kind).map(|n| &n.desc[..])
    }

    /// The GNU build ID (NT_GNU_BUILD_ID) as hex, if the linker wrote one.
    pub fn gnu_build_id(&self) -> Option<String> {
        self.note(b"GNU", elf::NT_GNU_BUILD_ID.0).map(hex)
    }
}

/// Lower-case hex of a byte string.
pub fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}
