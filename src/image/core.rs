//! An ELF core file: its memory segments and what its notes say about the
//! process (threads and their registers, mapped files, auxiliary vector).

use std::path::Path;

use object::elf;

use super::arch::Arch;
use super::elf::{parse, Load};
use super::source::Source;
use super::Error;

const NT_PRSTATUS: u32 = 1;
const NT_PRPSINFO: u32 = 3;
const NT_AUXV: u32 = 6;
const NT_FILE: u32 = 0x4649_4c45;
/// The auxiliary-vector key for the program's entry point.
pub const AT_ENTRY: u64 = 9;

/// One thread of the dumped process.
#[derive(Clone, Debug)]
pub struct Thread {
    /// Kernel thread id (LWP).
    pub lwp: u32,
    /// General registers in the kernel's order (`user_regs_struct` on amd64;
    /// x0–x30, sp, pc, pstate on arm64).
    pub regs: Vec<u64>,
    /// Stack pointer.
    pub sp: u64,
    /// Program counter.
    pub pc: u64,
    /// Link register (arm64's x30; 0 on amd64).
    pub lr: u64,
}

/// A file mapping listed in the NT_FILE note.
#[derive(Clone, Debug)]
pub struct FileMapping {
    /// First address.
    pub start: u64,
    /// One past the last address.
    pub end: u64,
    /// Offset in the file, in bytes.
    pub offset: u64,
    /// Path as the kernel or gdb saw it.
    pub path: String,
}

/// A parsed core file.
pub struct Core {
    source: Source,
    /// Machine.
    pub arch: Arch,
    /// PT_LOAD segments (cut to what the file holds).
    pub loads: Vec<Load>,
    /// Address ranges of segments the file was too short to hold (a core
    /// truncated by a full disk): [start, end) each.
    pub missing: Vec<(u64, u64)>,
    /// Notes the truncated file no longer holds (threads, registers,
    /// mapped files, auxiliary vector).
    pub notes_lost: bool,
    /// Threads from NT_PRSTATUS notes, in note order.
    pub threads: Vec<Thread>,
    /// Mapped files from NT_FILE.
    pub files: Vec<FileMapping>,
    /// Auxiliary vector (key, value) pairs.
    pub auxv: Vec<(u64, u64)>,
    /// Command name from NT_PRPSINFO.
    pub command: Option<String>,
    /// Command line from NT_PRPSINFO (truncated by the kernel to 80 bytes).
    pub args: Option<String>,
    /// Total note count, for the overview.
    pub note_count: usize,
}

impl Core {
    /// Opens and parses a core file (zstd-compressed or not).
    pub fn open(path: &Path) -> Result<Core, Error> {
        Core::from_source(Source::open(path)?)
    }

    /// Parses a core held in memory (`name` names it in messages).
    pub fn from_bytes(name: &Path, bytes: Vec<u8>) -> Result<Core, Error> {
        Core::from_source(Source::from_vec(name, bytes))
    }

    fn from_source(source: Source) -> Result<Core, Error> {
        let path = source.path();
        let data = source.bytes();
        let info = parse(data, "core", true)?;
        if info.e_type != elf::ET_CORE.0 {
            return Err(Error::NotCore { path: path.to_path_buf(), e_type: info.e_type });
        }
        let mut core = Core {
            source,
            arch: info.arch,
            loads: info.loads,
            missing: info.missing,
            notes_lost: info.notes_lost,
            threads: Vec::new(),
            files: Vec::new(),
            auxv: Vec::new(),
            command: None,
            args: None,
            note_count: info.notes.len(),
        };
        for note in &info.notes {
            if note.name != b"CORE" {
                continue;
            }
            match note.kind {
                NT_PRSTATUS => {
                    if let Some(t) = parse_prstatus(&note.desc, core.arch) {
                        core.threads.push(t);
                    }
                }
                NT_PRPSINFO if note.desc.len() >= 136 => {
                    core.command = Some(c_string(&note.desc[40..56]));
                    core.args = Some(c_string(&note.desc[56..136]).trim_end().to_string());
                }
                NT_AUXV => {
                    for pair in note.desc.chunks_exact(16) {
                        let k = u64_at(pair, 0);
                        if k == 0 {
                            break;
                        }
                        core.auxv.push((k, u64_at(pair, 8)));
                    }
                }
                NT_FILE => core.files = parse_nt_file(&note.desc),
                _ => {}
            }
        }
        Ok(core)
    }

    /// The core file's (decompressed) bytes.
    pub fn bytes(&self) -> &[u8] {
        self.source.bytes()
    }

    /// Where the core was read from.
    pub fn path(&self) -> &Path {
        self.source.path()
    }

    /// Whether the core file was zstd-compressed.
    pub fn was_compressed(&self) -> bool {
        self.source.was_compressed()
    }

    /// What a truncated core lacks, in one sentence (None if it is whole).
    pub fn truncation(&self) -> Option<String> {
        let mut lacks = Vec::new();
        if !self.missing.is_empty() {
            let bytes = self.missing.iter().fold(0u64, |sum, (s, e)| sum.saturating_add(e - s));
            let ranges: Vec<String> = self.missing.iter().take(3).map(|(s, e)| format!("{s:#x}-{e:#x}")).collect();
            let more = if self.missing.len() > 3 { format!(" and {} more", self.missing.len() - 3) } else { String::new() };
            lacks.push(format!("{bytes} bytes of memory in {} ranges ({}{more})", self.missing.len(), ranges.join(", ")));
        }
        if self.notes_lost {
            lacks.push("its notes (threads, registers, mapped files)".to_string());
        }
        if lacks.is_empty() {
            return None;
        }
        Some(format!("the core is truncated: it lacks {}; what they held is not seen", lacks.join(" and ")))
    }

    /// A value from the auxiliary vector.
    pub fn auxv(&self, key: u64) -> Option<u64> {
        self.auxv.iter().find(|(k, _)| *k == key).map(|(_, v)| *v)
    }
}

fn u64_at(b: &[u8], off: usize) -> u64 {
    u64::from_le_bytes(b[off..off + 8].try_into().unwrap())
}

fn c_string(b: &[u8]) -> String {
    let end = b.iter().position(|&c| c == 0).unwrap_or(b.len());
    String::from_utf8_lossy(&b[..end]).into_owned()
}

/// `struct elf_prstatus`: pr_pid at 32, pr_reg at 112 on both 64-bit arches.
fn parse_prstatus(desc: &[u8], arch: Arch) -> Option<Thread> {
    let nregs = arch.prstatus_regs();
    if desc.len() < 112 + nregs * 8 {
        return None;
    }
    let lwp = u32::from_le_bytes(desc[32..36].try_into().unwrap());
    let regs: Vec<u64> = (0..nregs).map(|i| u64_at(desc, 112 + i * 8)).collect();
    let (sp, pc) = (regs[arch.sp_reg()], regs[arch.pc_reg()]);
    let lr = arch.lr_reg().map_or(0, |i| regs[i]);
    Some(Thread { lwp, regs, sp, pc, lr })
}

/// NT_FILE: count, page size, `count` (start, end, page offset) triples, then
/// `count` NUL-terminated paths.
fn parse_nt_file(desc: &[u8]) -> Vec<FileMapping> {
    if desc.len() < 16 {
        return Vec::new();
    }
    let count = u64_at(desc, 0);
    let page = u64_at(desc, 8);
    let table_end = count.checked_mul(24).and_then(|n| n.checked_add(16));
    let Some(table_end) = table_end.filter(|&e| e <= desc.len() as u64) else {
        return Vec::new();
    };
    let mut names = desc[table_end as usize..].split(|&c| c == 0);
    (0..count as usize)
        .map(|i| {
            let e = &desc[16 + i * 24..];
            FileMapping {
                start: u64_at(e, 0),
                end: u64_at(e, 8),
                offset: u64_at(e, 16).wrapping_mul(page),
                path: names.next().map(|n| String::from_utf8_lossy(n).into_owned()).unwrap_or_default(),
            }
        })
        .collect()
}
