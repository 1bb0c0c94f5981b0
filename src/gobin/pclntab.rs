//! The pc-line table (`.gopclntab`): the runtime's own function table, which
//! survives stripping. Parsed here from the executable's bytes: the
//! `pcHeader`, the function table and function names.
//!
//! Layout (Go 1.18+, 64-bit): pcHeader { magic u32, pad1 u8, pad2 u8,
//! minLC u8, ptrSize u8, nfunc int, nfiles uint, textStart uintptr,
//! funcnameOffset, cuOffset, filetabOffset, pctabOffset, pclnOffset uintptr },
//! offsets relative to the header. At pclnOffset: `nfunc + 1` pairs
//! {entryOff u32, funcOff u32}, then the `_func` records (funcOff relative to
//! pclnOffset), each starting {entryOff u32, nameOff i32}; nameOff indexes
//! the NUL-terminated names at funcnameOffset.

use object::{Object, ObjectSection, ObjectSegment};

/// pcHeader magic of Go 1.18 and 1.19.
pub const PCLNTAB_MAGIC_118: u32 = 0xFFFF_FFF0;
/// pcHeader magic of Go 1.20 and later.
pub const PCLNTAB_MAGIC_120: u32 = 0xFFFF_FFF1;

const HEADER_LEN: usize = 72;
/// Bound on the function count read from a header (real programs have
/// well under a million).
const MAX_FUNCS: u64 = 1 << 24;

/// The pcHeader at the start of the pc-line table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PcHeader {
    /// 0xFFFFFFF0 (1.18–1.19) or 0xFFFFFFF1 (1.20+).
    pub magic: u32,
    /// Instruction size quantum (1 on amd64, 4 on arm64).
    pub min_lc: u8,
    /// Pointer size (8).
    pub ptr_size: u8,
    /// Number of functions.
    pub nfunc: u64,
    /// Number of files.
    pub nfiles: u64,
    /// Base of function entry offsets (= moduledata.text), as linked or, read
    /// from memory of a PIE process, as relocated. 0 from Go 1.26 on, which
    /// no longer stores it: use moduledata.text.
    pub text_start: u64,
    /// Offset of the function-name table from the header.
    pub funcname_off: u64,
    /// Offset of the compilation-unit table.
    pub cu_off: u64,
    /// Offset of the file table.
    pub filetab_off: u64,
    /// Offset of the pc-value tables.
    pub pctab_off: u64,
    /// Offset of the function table (ftab, then the _func records).
    pub pcln_off: u64,
}

impl PcHeader {
    /// Parses a 64-bit pcHeader of Go 1.18 or later. `limit`, if given, is
    /// the table's length: every offset must lie inside it.
    pub fn parse(b: &[u8], limit: Option<u64>) -> Option<PcHeader> {
        let b = b.get(..HEADER_LEN)?;
        let u64_at = |o: usize| u64::from_le_bytes(b[o..o + 8].try_into().unwrap());
        let h = PcHeader {
            magic: u32::from_le_bytes(b[0..4].try_into().unwrap()),
            min_lc: b[6],
            ptr_size: b[7],
            nfunc: u64_at(8),
            nfiles: u64_at(16),
            text_start: u64_at(24),
            funcname_off: u64_at(32),
            cu_off: u64_at(40),
            filetab_off: u64_at(48),
            pctab_off: u64_at(56),
            pcln_off: u64_at(64),
        };
        let offsets = [h.funcname_off, h.cu_off, h.filetab_off, h.pctab_off, h.pcln_off];
        let ok = matches!(h.magic, PCLNTAB_MAGIC_118 | PCLNTAB_MAGIC_120)
            && b[4] == 0
            && b[5] == 0
            && matches!(h.min_lc, 1 | 2 | 4)
            && h.ptr_size == 8
            && h.nfunc > 0
            && h.nfunc <= MAX_FUNCS
            && offsets.iter().all(|&o| o >= HEADER_LEN as u64 && limit.map_or(true, |l| o < l));
        ok.then_some(h)
    }
}

/// A parsed pc-line table over its bytes.
#[derive(Clone, Copy, Debug)]
pub struct Pclntab<'a> {
    data: &'a [u8],
    /// The header.
    pub header: PcHeader,
}

/// One function of the table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Func<'a> {
    /// Entry offset from `PcHeader::text_start`.
    pub entry_off: u32,
    /// Full name, `runtime.mallocinit`.
    pub name: &'a str,
}

impl<'a> Pclntab<'a> {
    /// Parses the table whose bytes start at `data` (to the end of the
    /// section or mapping).
    pub fn new(data: &'a [u8]) -> Option<Pclntab<'a>> {
        let header = PcHeader::parse(data, Some(data.len() as u64))?;
        let t = Pclntab { data, header };
        // The function table must fit.
        t.ftab_entry(header.nfunc)?;
        Some(t)
    }

    fn u32_at(&self, off: u64) -> Option<u32> {
        let o = usize::try_from(off).ok()?;
        Some(u32::from_le_bytes(self.data.get(o..o.checked_add(4)?)?.try_into().ok()?))
    }

    /// ftab entry i: (entryOff, funcOff).
    fn ftab_entry(&self, i: u64) -> Option<(u32, u32)> {
        let at = self.header.pcln_off.checked_add(i.checked_mul(8)?)?;
        Some((self.u32_at(at)?, self.u32_at(at + 4)?))
    }

    /// Function `i` (0 ≤ i < nfunc).
    pub fn func(&self, i: u64) -> Option<Func<'a>> {
        if i >= self.header.nfunc {
            return None;
        }
        let (entry_off, func_off) = self.ftab_entry(i)?;
        let rec = self.header.pcln_off.checked_add(u64::from(func_off))?;
        let name_off = self.u32_at(rec.checked_add(4)?)? as i32;
        if name_off < 0 {
            return None;
        }
        let name = self.string_at(self.header.funcname_off, name_off as u64)?;
        Some(Func { entry_off, name })
    }

    /// The NUL-terminated string at `off` in the table of strings at
    /// `table` (an offset from the header: function names, file names),
    /// at most 4096 bytes long.
    pub fn string_at(&self, table: u64, off: u64) -> Option<&'a str> {
        let start = usize::try_from(table.checked_add(off)?).ok()?;
        let tail = self.data.get(start..)?;
        let len = tail.iter().take(4096).position(|&c| c == 0)?;
        std::str::from_utf8(&tail[..len]).ok()
    }

    /// Every function, in entry order; unreadable entries are skipped.
    pub fn funcs(&self) -> impl Iterator<Item = Func<'a>> + '_ {
        (0..self.header.nfunc).filter_map(|i| self.func(i))
    }

    /// The first function with this name.
    pub fn func_named(&self, name: &str) -> Option<Func<'a>> {
        self.funcs().find(|f| f.name == name)
    }

    /// The table's bytes.
    pub fn bytes(&self) -> &'a [u8] {
        self.data
    }
}

/// Where the pc-line table lies in an executable: its link-time address and
/// its bytes (to the end of its section, or of its segment's file bytes).
/// Uses the `.gopclntab` section when the section headers are there, else
/// looks for a valid pcHeader in the read-only segments.
pub fn find_pclntab(exe: &[u8]) -> Option<(u64, &[u8])> {
    let file = object::File::parse(exe).ok()?;
    if let Some(s) = file.section_by_name(".gopclntab") {
        let data = s.data().ok()?;
        return Pclntab::new(data).map(|_| (s.address(), data));
    }
    let mut found = None;
    for seg in file.segments() {
        let Ok(data) = seg.data() else { continue };
        let mut off = 0usize;
        while off + HEADER_LEN <= data.len() {
            let w = u32::from_le_bytes(data[off..off + 4].try_into().unwrap());
            if matches!(w, PCLNTAB_MAGIC_118 | PCLNTAB_MAGIC_120) {
                if let Some(t) = Pclntab::new(&data[off..]) {
                    // A real table names the runtime's entry function.
                    if t.funcs().take(1 << 16).any(|f| f.name == "runtime.main") {
                        if found.is_some() {
                            return None; // ambiguous
                        }
                        found = Some((seg.address() + off as u64, &data[off..]));
                    }
                }
            }
            off += 8;
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(magic: u32) -> Vec<u8> {
        let mut b = vec![0u8; 200];
        b[0..4].copy_from_slice(&magic.to_le_bytes());
        b[6] = 1;
        b[7] = 8;
        b[8..16].copy_from_slice(&1u64.to_le_bytes()); // nfunc
        for (i, off) in [100u64, 72, 72, 72, 120].iter().enumerate() {
            let at = 32 + i * 8;
            b[at..at + 8].copy_from_slice(&off.to_le_bytes());
        }
        // ftab at 120: {entry 0x10, func 16}, {end 0x20, 0}; _func at 136.
        b[120..124].copy_from_slice(&0x10u32.to_le_bytes());
        b[124..128].copy_from_slice(&16u32.to_le_bytes());
        b[128..132].copy_from_slice(&0x20u32.to_le_bytes());
        b[136..140].copy_from_slice(&0x10u32.to_le_bytes());
        b[140..144].copy_from_slice(&0u32.to_le_bytes());
        b[100..113].copy_from_slice(b"runtime.main\0");
        b
    }

    #[test]
    fn parses_a_minimal_table() {
        let b = header(PCLNTAB_MAGIC_120);
        let t = Pclntab::new(&b).unwrap();
        assert_eq!(t.header.nfunc, 1);
        let f = t.func(0).unwrap();
        assert_eq!((f.entry_off, f.name), (0x10, "runtime.main"));
        assert_eq!(t.func_named("runtime.main"), Some(f));
        assert!(t.func(1).is_none());
    }

    #[test]
    fn rejects_garbage() {
        let mut b = header(0xFFFF_FFFA);
        assert!(Pclntab::new(&b).is_none());
        b = header(PCLNTAB_MAGIC_118);
        b[7] = 4;
        assert!(Pclntab::new(&b).is_none());
        b = header(PCLNTAB_MAGIC_118);
        b[64..72].copy_from_slice(&u64::MAX.to_le_bytes());
        assert!(Pclntab::new(&b).is_none());
        assert!(Pclntab::new(&b[..10]).is_none());
    }
}
