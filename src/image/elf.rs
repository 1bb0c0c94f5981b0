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
    /// Address ranges of PT_LOAD bytes past the end of the file, which
    /// `loads` no longer include.
    pub missing: Vec<(u64, u64)>,
    /// A PT_NOTE segment lay past the end of the file (gdb writes notes
    /// last): its notes are not in `notes`.
    pub notes_lost: bool,
}

/// Parses the header, PT_LOADs and notes of a 64-bit little-endian ELF file.
/// `what` names the file's role ("core", "executable") for error messages.
/// With `partial` (a core cut short by a full disk), segments past the end
/// of the file are left out and listed instead of refused.
pub fn parse(data: &[u8], what: &'static str, partial: bool) -> Result<ElfInfo, Error> {
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
    let have = data.len() as u64;
    let end = |ph: &elf::ProgramHeader64<Endianness>| ph.p_offset(endian).saturating_add(ph.p_filesz(endian));
    let needed = phdrs.iter().map(end).max().unwrap_or(0);
    if needed > have && !partial {
        return Err(Error::Truncated { what, needed, have });
    }
    let mut notes_lost = false;
    let mut loads = Vec::new();
    let mut notes = Vec::new();
    let mut missing = Vec::new();
    for ph in phdrs {
        match ph.p_type(endian) {
            elf::PT_LOAD => {
                let (vaddr, offset, filesz) = (ph.p_vaddr(endian), ph.p_offset(endian), ph.p_filesz(endian));
                // A segment must fit in the address space to be read at all.
                let Some(vend) = vaddr.checked_add(filesz) else {
                    return Err(bad(format!("PT_LOAD at {vaddr:#x} of {filesz:#x} bytes wraps around the address space")));
                };
                let kept = filesz.min(have.saturating_sub(offset));
                if kept < filesz {
                    missing.push((vaddr + kept, vend));
                }
                loads.push(Load { vaddr, memsz: ph.p_memsz(endian), offset, filesz: kept, flags: ph.p_flags(endian).0 });
            }
            elf::PT_NOTE if end(ph) > have => notes_lost = true,
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
    Ok(ElfInfo { arch, e_type: header.e_type(endian).0, entry: header.e_entry(endian), loads, notes, missing, notes_lost })
}
