//! Per-function metadata of the pc-line table: the `_func` records, their
//! pc-value tables (stack-pointer delta, PCDATA) and FUNCDATA offsets, plus
//! the formats FUNCDATA points at (stack maps, stack-object records, GC
//! programs). Everything here parses bytes; nothing reads a live process.
//!
//! `_func` (64-bit):
//! - Go 1.18–1.19 (40 bytes): entryOff u32 +0, nameOff i32 +4, args i32 +8,
//!   deferreturn u32 +12, pcsp +16, pcfile +20, pcln +24, npcdata +28,
//!   cuOffset +32, funcID u8 +36, flag u8 +37, nfuncdata u8 +39.
//! - Go 1.20+ (44 bytes): as above, then startLine i32 +36, funcID +40,
//!   flag +41, nfuncdata +43.
//!
//! The header is followed by `npcdata` u32 offsets into the pc-value tables
//! (0 = no table), then `nfuncdata` u32 offsets from `moduledata.gofunc`
//! (0xffffffff = none). See runtime/symtab.go (`pcvalue`, `step`,
//! `funcdata`) and runtime/runtime2.go (`_func`).

use super::pclntab::{Pclntab, PCLNTAB_MAGIC_118};

/// PCDATA table: unsafe points.
pub const PCDATA_UNSAFE_POINT: u32 = 0;
/// PCDATA table: index into the stack maps.
pub const PCDATA_STACK_MAP_INDEX: u32 = 1;
/// FUNCDATA: argument pointer maps.
pub const FUNCDATA_ARGS_POINTER_MAPS: u8 = 0;
/// FUNCDATA: local pointer maps.
pub const FUNCDATA_LOCALS_POINTER_MAPS: u8 = 1;
/// FUNCDATA: stack objects (address-taken locals).
pub const FUNCDATA_STACK_OBJECTS: u8 = 2;
/// `_func.flag`: the function is the outermost frame of a stack (goexit,
/// mstart, rt0_go): unwinding stops there.
pub const FUNC_FLAG_TOP_FRAME: u8 = 1;
/// `_func.flag`: the function writes SP arbitrarily; unwinding cannot go
/// through it (except as the innermost frame).
pub const FUNC_FLAG_SPWRITE: u8 = 2;
/// `_func.flag`: assembly function.
pub const FUNC_FLAG_ASM: u8 = 4;
/// `_func.args` of functions whose argument size is unknown
/// (`abi.ArgsSizeUnknown`).
pub const ARGS_SIZE_UNKNOWN: i32 = -0x8000_0000;

/// Bound on the steps through one pc-value table.
const MAX_PCVALUE_STEPS: usize = 1 << 22;
/// Bound on the bits a GC program may produce.
const MAX_GC_PROG_BITS: u64 = 1 << 30;

/// One function's `_func` record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FuncInfo<'a> {
    /// Index in the function table.
    pub index: u64,
    /// Entry, as an offset from `moduledata.text`.
    pub entry_off: u32,
    /// End (the next function's entry), as an offset from `moduledata.text`.
    pub end_off: u32,
    /// Offset of the `_func` record in the table's bytes.
    pub record: u64,
    /// Full name (`main.worker`).
    pub name: &'a str,
    /// Size of arguments and results in bytes, or [`ARGS_SIZE_UNKNOWN`].
    pub args: i32,
    /// Offset of the deferreturn call from the entry, 0 if none.
    pub deferreturn: u32,
    /// Offset of the pc→SP-delta table in the pc-value tables (0 = none).
    pub pcsp: u32,
    /// Number of PCDATA tables.
    pub npcdata: u32,
    /// Special-function id (values differ between Go releases: compare
    /// names instead).
    pub func_id: u8,
    /// `FUNC_FLAG_*` bits.
    pub flag: u8,
    /// Number of FUNCDATA entries.
    pub nfuncdata: u8,
}

/// The function table of one pc-line table, with the `_func` layout of its
/// Go release.
#[derive(Clone, Copy, Debug)]
pub struct FuncTable<'a> {
    tab: Pclntab<'a>,
    /// Size of the `_func` header: 40 (1.18–1.19) or 44 (1.20+).
    header: u64,
}

impl<'a> FuncTable<'a> {
    /// Wraps a parsed pc-line table of a binary of Go `1.minor`. `None` when
    /// the table's magic contradicts the version.
    pub fn new(tab: Pclntab<'a>, minor: u32) -> Option<FuncTable<'a>> {
        let old = tab.header.magic == PCLNTAB_MAGIC_118;
        if old != (minor <= 19) {
            return None;
        }
        Some(FuncTable { tab, header: if old { 40 } else { 44 } })
    }

    /// The underlying table.
    pub fn pclntab(&self) -> &Pclntab<'a> {
        &self.tab
    }

    /// The pc quantum (1 on amd64, 4 on arm64).
    pub fn quantum(&self) -> u32 {
        u32::from(self.tab.header.min_lc)
    }

    fn bytes(&self) -> &'a [u8] {
        self.tab.bytes()
    }

    fn u8_at(&self, off: u64) -> Option<u8> {
        self.bytes().get(usize::try_from(off).ok()?).copied()
    }

    fn u32_at(&self, off: u64) -> Option<u32> {
        let o = usize::try_from(off).ok()?;
        Some(u32::from_le_bytes(self.bytes().get(o..o.checked_add(4)?)?.try_into().ok()?))
    }

    fn ftab(&self, i: u64) -> Option<(u32, u32)> {
        let at = self.tab.header.pcln_off.checked_add(i.checked_mul(8)?)?;
        Some((self.u32_at(at)?, self.u32_at(at.checked_add(4)?)?))
    }

    /// Text size covered by the table (the last ftab entry).
    pub fn text_len(&self) -> Option<u32> {
        Some(self.ftab(self.tab.header.nfunc)?.0)
    }

    /// The function whose code covers `off` (an offset from
    /// `moduledata.text`), by binary search of the function table.
    pub fn find(&self, off: u64) -> Option<FuncInfo<'a>> {
        let n = self.tab.header.nfunc;
        let end = u64::from(self.text_len()?);
        if off >= end {
            return None;
        }
        // Largest i < n with entry(i) <= off.
        let (mut lo, mut hi) = (0u64, n);
        while hi - lo > 1 {
            let mid = lo + (hi - lo) / 2;
            if u64::from(self.ftab(mid)?.0) <= off {
                lo = mid;
            } else {
                hi = mid;
            }
        }
        let f = self.func(lo)?;
        (u64::from(f.entry_off) <= off && off < u64::from(f.end_off)).then_some(f)
    }

    /// Function `i` of the table.
    pub fn func(&self, i: u64) -> Option<FuncInfo<'a>> {
        if i >= self.tab.header.nfunc {
            return None;
        }
        let (entry_off, func_off) = self.ftab(i)?;
        let (end_off, _) = self.ftab(i + 1)?;
        let rec = self.tab.header.pcln_off.checked_add(u64::from(func_off))?;
        let name = self.tab.func(i)?.name;
        let (id_at, flag_at, nfd_at) = if self.header == 40 { (36, 37, 39) } else { (40, 41, 43) };
        let f = FuncInfo {
            index: i,
            entry_off: self.u32_at(rec)?,
            end_off,
            record: rec,
            name,
            args: self.u32_at(rec + 8)? as i32,
            deferreturn: self.u32_at(rec + 12)?,
            pcsp: self.u32_at(rec + 16)?,
            npcdata: self.u32_at(rec + 28)?,
            func_id: self.u8_at(rec + id_at)?,
            flag: self.u8_at(rec + flag_at)?,
            nfuncdata: self.u8_at(rec + nfd_at)?,
        };
        // The record repeats the ftab's entry offset.
        if f.entry_off != entry_off || f.npcdata > 1 << 16 {
            return None;
        }
        Some(f)
    }

    /// Value of the pc-value table at `table` (an offset into the pc-value
    /// tables) for `target` (offset from `moduledata.text`) in function `f`.
    /// -1 for a table offset of 0 (no table), as the runtime's `pcvalue`;
    /// `None` if the table is damaged or does not cover `target`.
    pub fn pcvalue(&self, f: &FuncInfo, table: u32, target: u64) -> Option<i32> {
        if table == 0 {
            return Some(-1);
        }
        let start = usize::try_from(self.tab.header.pctab_off.checked_add(u64::from(table))?).ok()?;
        let mut p = self.bytes().get(start..)?;
        let quantum = u64::from(self.quantum());
        let mut pc = u64::from(f.entry_off);
        let mut val: i32 = -1;
        let mut first = true;
        for _ in 0..MAX_PCVALUE_STEPS {
            let (uvdelta, n) = read_varint(p)?;
            if uvdelta == 0 && !first {
                return None;
            }
            first = false;
            p = &p[n..];
            let vdelta = (-((uvdelta & 1) as i32)) ^ ((uvdelta >> 1) as i32);
            let (pcdelta, n) = read_varint(p)?;
            p = &p[n..];
            pc = pc.checked_add(u64::from(pcdelta) * quantum)?;
            val = val.wrapping_add(vdelta);
            if target < pc {
                return Some(val);
            }
        }
        None
    }

    /// The source file and line of `target` in `f` (pcfile and pcln, the
    /// file number read through the compilation unit's file table), as the
    /// runtime's `funcline`. `None` when a table is missing or damaged.
    pub fn file_line(&self, f: &FuncInfo, target: u64) -> Option<(&'a str, i32)> {
        let (pcfile, pcln, cu) = (self.u32_at(f.record + 20)?, self.u32_at(f.record + 24)?, self.u32_at(f.record + 32)?);
        let file = u64::try_from(self.pcvalue(f, pcfile, target)?).ok()?;
        let line = self.pcvalue(f, pcln, target).filter(|&l| l >= 0)?;
        let h = &self.tab.header;
        let at = h.cu_off.checked_add(u64::from(cu).checked_add(file)?.checked_mul(4)?)?;
        let name_off = self.u32_at(at).filter(|&o| o != u32::MAX)?;
        Some((self.tab.string_at(h.filetab_off, u64::from(name_off))?, line))
    }

    /// The SP delta (frame size so far) at `target`: pcsp. `None` when the
    /// function has no pcsp table or it does not cover `target`.
    pub fn sp_delta(&self, f: &FuncInfo, target: u64) -> Option<i32> {
        if f.pcsp == 0 {
            return None;
        }
        self.pcvalue(f, f.pcsp, target)
    }

    /// Offset of PCDATA table `index` (0 = none).
    pub fn pcdata_table(&self, f: &FuncInfo, index: u32) -> Option<u32> {
        if index >= f.npcdata {
            return Some(0);
        }
        self.u32_at(f.record + self.header + u64::from(index) * 4)
    }

    /// Value of PCDATA table `index` at `target`; -1 when there is no
    /// such table (runtime `pcdatavalue`).
    pub fn pcdata(&self, f: &FuncInfo, index: u32, target: u64) -> Option<i32> {
        let t = self.pcdata_table(f, index)?;
        self.pcvalue(f, t, target)
    }

    /// The stack-map index at `target` (PCDATA_StackMapIndex), -1 read as 0.
    pub fn stack_map_index(&self, f: &FuncInfo, target: u64) -> Option<i32> {
        self.pcdata(f, PCDATA_STACK_MAP_INDEX, target).map(|v| if v == -1 { 0 } else { v })
    }

    /// Offset from `moduledata.gofunc` of FUNCDATA `index`; `None` when
    /// absent (index beyond nfuncdata or 0xffffffff).
    pub fn funcdata(&self, f: &FuncInfo, index: u8) -> Option<u32> {
        if index >= f.nfuncdata {
            return None;
        }
        let at = f.record + self.header + u64::from(f.npcdata) * 4 + u64::from(index) * 4;
        self.u32_at(at).filter(|&o| o != u32::MAX)
    }
}

/// Reads a little-endian base-128 varint (at most 5 bytes, as u32).
pub fn read_varint(p: &[u8]) -> Option<(u32, usize)> {
    // The value is a u32: bits of the fifth byte above bit 31 are dropped.
    let (v, n) = read_uvarint64(&p[..p.len().min(5)])?;
    Some((v as u32, n))
}

/// A runtime `stackmap`: `n` bitmaps of `nbit` bits each.
#[derive(Clone, Copy, Debug)]
pub struct StackMap<'a> {
    /// Number of bitmaps.
    pub n: i32,
    /// Bits (words) per bitmap.
    pub nbit: i32,
    data: &'a [u8],
}

impl<'a> StackMap<'a> {
    /// Parses `{n i32, nbit i32, bytedata}` from bytes starting at the map.
    pub fn parse(b: &'a [u8]) -> Option<StackMap<'a>> {
        let n = i32::from_le_bytes(b.get(0..4)?.try_into().ok()?);
        let nbit = i32::from_le_bytes(b.get(4..8)?.try_into().ok()?);
        if n < 0 || nbit < 0 {
            return None;
        }
        let need = (n as u64).checked_mul((nbit as u64).div_ceil(8))?.checked_add(8)?;
        let data = b.get(8..usize::try_from(need).ok()?)?;
        Some(StackMap { n, nbit, data })
    }

    /// Bitmap `i` (bit j, LSB first, = word j holds a pointer).
    pub fn bitmap(&self, i: i32) -> Option<&'a [u8]> {
        if i < 0 || i >= self.n {
            return None;
        }
        let len = (self.nbit as usize).div_ceil(8);
        self.data.get(i as usize * len..(i as usize + 1) * len)
    }
}

/// One `stackObjectRecord`: an address-taken local or argument.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StackObject {
    /// Offset from varp if negative, else from argp.
    pub off: i32,
    /// Size in bytes.
    pub size: i32,
    /// Bytes of the prefix holding pointers; negative (Go 1.19–1.23 only)
    /// means `gcdata` is a GC program.
    pub ptrdata: i32,
    /// Offset of the pointer mask (or GC program) from `moduledata.rodata`.
    pub gcdataoff: u32,
}

impl StackObject {
    /// Size of a record in bytes.
    pub const SIZE: usize = 16;

    /// Pointer-prefix length in bytes and whether the mask is a GC program.
    pub fn ptr_bytes(&self) -> (u64, bool) {
        (u64::from(self.ptrdata.unsigned_abs()), self.ptrdata < 0)
    }
}

/// Parses FUNCDATA_StackObjects: a uintptr count, then the records. At most
/// `max` records are read.
pub fn parse_stack_objects(b: &[u8], max: usize) -> Option<Vec<StackObject>> {
    let n = u64::from_le_bytes(b.get(0..8)?.try_into().ok()?);
    if n > max as u64 || n.checked_mul(StackObject::SIZE as u64)? > b.len() as u64 {
        return None;
    }
    let mut out = Vec::with_capacity(n as usize);
    for i in 0..n as usize {
        let r = b.get(8 + i * StackObject::SIZE..8 + (i + 1) * StackObject::SIZE)?;
        let w = |o: usize| u32::from_le_bytes(r[o..o + 4].try_into().unwrap());
        out.push(StackObject { off: w(0) as i32, size: w(4) as i32, ptrdata: w(8) as i32, gcdataoff: w(12) });
    }
    Some(out)
}

/// Runs a GC program (runtime `runGCProg`; the 4-byte length prefix
/// already skipped) into a pointer mask, LSB first. Fails on malformed
/// programs or ones that produce more than `max_bits` bits.
pub fn run_gc_prog(prog: &[u8], max_bits: u64) -> Option<Vec<u8>> {
    let max_bits = max_bits.min(MAX_GC_PROG_BITS);
    let mut out: Vec<u8> = Vec::new();
    let mut nbits: u64 = 0;
    let get = |out: &Vec<u8>, i: u64| out[(i / 8) as usize] >> (i % 8) & 1;
    let push = |out: &mut Vec<u8>, nbits: &mut u64, bit: u8| {
        if *nbits % 8 == 0 {
            out.push(0);
        }
        if bit != 0 {
            out[(*nbits / 8) as usize] |= 1 << (*nbits % 8);
        }
        *nbits += 1;
    };
    let mut p = 0usize;
    loop {
        let inst = *prog.get(p)?;
        p += 1;
        let mut n = u64::from(inst & 0x7f);
        if inst & 0x80 == 0 {
            if n == 0 {
                break;
            }
            // n literal bits.
            if nbits + n > max_bits {
                return None;
            }
            let lit = prog.get(p..p + n.div_ceil(8) as usize)?;
            p += lit.len();
            for i in 0..n {
                push(&mut out, &mut nbits, lit[(i / 8) as usize] >> (i % 8) & 1);
            }
            continue;
        }
        if n == 0 {
            let (v, k) = read_uvarint64(prog.get(p..)?)?;
            n = v;
            p += k;
        }
        let (c, k) = read_uvarint64(prog.get(p..)?)?;
        p += k;
        // Repeat the last n bits c more times.
        if n == 0 || n > nbits {
            return None;
        }
        let total = n.checked_mul(c)?;
        if nbits.checked_add(total)? > max_bits {
            return None;
        }
        let start = nbits - n;
        for i in 0..total {
            let b = get(&out, start + i % n);
            push(&mut out, &mut nbits, b);
        }
    }
    Some(out)
}

fn read_uvarint64(p: &[u8]) -> Option<(u64, usize)> {
    let mut v: u64 = 0;
    for (i, &b) in p.iter().enumerate().take(10) {
        v |= u64::from(b & 0x7f) << (7 * i as u32);
        if b & 0x80 == 0 {
            return Some((v, i + 1));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varints() {
        assert_eq!(read_varint(&[0x05]), Some((5, 1)));
        assert_eq!(read_varint(&[0x80, 0x01]), Some((128, 2)));
        assert_eq!(read_varint(&[0x80, 0x80]), None);
        assert_eq!(read_varint(&[0xff; 8]), None);
    }

    #[test]
    fn stack_maps() {
        // n=2, nbit=10: two 2-byte bitmaps.
        let b = [2, 0, 0, 0, 10, 0, 0, 0, 0x01, 0x02, 0x03, 0x00];
        let m = StackMap::parse(&b).unwrap();
        assert_eq!(m.bitmap(0), Some(&[0x01, 0x02][..]));
        assert_eq!(m.bitmap(1), Some(&[0x03, 0x00][..]));
        assert_eq!(m.bitmap(2), None);
        assert!(StackMap::parse(&b[..11]).is_none());
    }

    #[test]
    fn gc_programs() {
        // 3 literal bits 101, then repeat the last 3 bits twice, end.
        let prog = [0x03, 0b101, 0x83, 0x02, 0x00];
        let m = run_gc_prog(&prog, 64).unwrap();
        assert_eq!(m, vec![0b0110_1101, 0b1]);
        // Repeat with a varint n: 1 bit, repeated 20 times.
        let prog = [0x01, 0x01, 0x80, 0x01, 20, 0x00];
        let m = run_gc_prog(&prog, 64).unwrap();
        assert_eq!(m, vec![0xff, 0xff, 0x1f]);
        assert!(run_gc_prog(&prog, 8).is_none());
        assert!(run_gc_prog(&[0x83, 0x02, 0x00], 64).is_none());
        assert!(run_gc_prog(&[0x09, 0xff], 64).is_none());
    }
}
