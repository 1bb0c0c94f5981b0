//! The ELF pieces cores and executables share: the header check, the
//! machine, PT_LOAD segments and PT_NOTE notes.

use object::elf;
use object::read::elf::{FileHeader, ProgramHeader};
use object::{Endianness, FileKind};

use super::arch::Arch;
use super::Error;

/// A PT_LOAD program header.
#[derive(Clone, Copy, Debug)]
pub struct Load {
    /// Virtual address of the segment.
    pub vaddr: u64,
    /// Size in memory.
    pub memsz: u64,
    /// Offset of the segment's bytes in the file.
    pub offset: u64,
    /// Bytes present in the file (may be less than `memsz`).
    pub filesz: u64,
    /// PF_R | PF_W | PF_X.
    pub flags: u32,
}

impl Load {
    /// Whether the segment is writable.
    pub fn writable(&self) -> bool {
        self.flags & elf::PF_W.0 != 0
    }
}

/// An ELF note, copied out of the file.
#[derive(Clone, Debug)]
pub struct Note {
    /// Owner name without the trailing NUL ("CORE", "GNU", "Go", …).
    pub name: Vec<u8>,
    /// Note type.
    pub kind: u32,
    /// Descriptor bytes.
    pub desc: Vec<u8>,
}

/// What the ELF header and program headers of a file say.
pub struct ElfInfo {
    /// Machine.
    pub arch: Arch,
    /// e_type (ET_EXEC, ET_DYN, ET_CORE).
    pub e_type: u16,
    /// Entry point.
    pub entry: u64,
    /// PT_LOAD segments in file order.
    pub loads: Vec<Load>,
    /// Notes from every PT_NOTE segment.
    pub notes: Vec<Note>,
}

/// Parses the header, PT_LOADs and notes of a 64-bit little-endian ELF file.
/// `what` names the file's role ("core", "executable") for error messages.
pub fn parse(data: &[u8], what: &'static str) -> Result<ElfInfo, Error> {
    let bad = |detail: String| Error::BadElf { what, detail };
    match FileKind::parse(data) {
        Ok(FileKind::Elf64) => {}
        Ok(FileKind::Elf32) => return Err(bad("32-bit ELF files are not supported".into())),
        _ => return Err(Error::NotElf { what }),
    }
    let header = elf::FileHeader64::<Endianness>::parse(data).map_err(|e| bad(e.to_string()))?;
    let endian = header.endian().map_err(|e| bad(e.to_string()))?;
    if endian != Endianness::Little {
        return Err(bad("big-endian ELF files are not supported".into()));
    }
    let machine = header.e_machine(endian);
    let Some(arch) = Arch::from_elf_machine(machine) else {
        return Err(bad(format!("unsupported machine {machine} (only x86-64 and AArch64)")));
    };
    let phdrs = header.program_headers(endian, data).map_err(|e| bad(format!("program headers: {e}")))?;
    let needed = phdrs
        .iter()
        .map(|ph| ph.p_offset(endian).saturating_add(ph.p_filesz(endian)))
        .max()
        .unwrap_or(0);
    if needed > data.len() as u64 {
        return Err(Error::Truncated { what, needed, have: data.len() as u64 });
    }
    let mut loads = Vec::new();
    let mut notes = Vec::new();
    for ph in phdrs {
        match ph.p_type(endian) {
            elf::PT_LOAD => loads.push(Load {
                vaddr: ph.p_vaddr(endian),
                memsz: ph.p_memsz(endian),
                offset: ph.p_offset(endian),
                filesz: ph.p_filesz(endian),
                flags: ph.p_flags(endian).0,
            }),
            elf::PT_NOTE => {
                let Ok(Some(mut it)) = ph.notes(endian, data) else {
                    return Err(bad(format!("unreadable PT_NOTE segment at file offset {:#x}", ph.p_offset(endian))));
                };
                while let Some(n) = it.next().map_err(|e| bad(format!("notes: {e}")))? {
                    notes.push(Note { name: n.name().to_vec(), kind: n.n_type(endian).0, desc: n.desc().to_vec() });
                }
            }
            _ => {}
        }
    }
    Ok(ElfInfo { arch, e_type: header.e_type(endian).0, entry: header.e_entry(endian), loads, notes })
}
