//! Finding the runtime's globals (mheap_, allgs, firstmoduledata) in an
//! executable without symbols.
//!
//! Only what survives `-ldflags=-s -w` is used: section headers (if any),
//! the pc-line table, the runtime's own moduledata and the layout offsets.
//!
//! - firstmoduledata: the `.go.module` section (Go 1.26+), else a word in
//!   `.noptrdata` (or, without section headers, any writable segment) equal
//!   to the address of the pc-line table — moduledata.pcHeader is its first
//!   field. Each candidate must agree with the section headers and segments
//!   on text, types, data and bss.
//! - mheap_ and allgs: every aligned word of the module's [bss, ebss) is a
//!   candidate, validated against the heap and goroutine structures it
//!   would point to (see [`check_mheap`] and [`check_allgs`]).
//!
//! Every loop is bounded and every read can fail; an ambiguous result is an
//! error, not a guess.

use std::collections::HashSet;

use object::{Object, ObjectSection};

use crate::gobin::{find_pclntab, PcHeader};
use crate::image::{Load, Memory};

use super::moduledata::Moduledata;
use super::structs::Structs;
use super::Error;

/// The runtime globals the walkers start from (runtime addresses).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Globals {
    /// `runtime.mheap_`.
    pub mheap: u64,
    /// The `runtime.allgs` slice header.
    pub allgs: u64,
    /// `runtime.firstmoduledata`.
    pub firstmoduledata: u64,
}

/// Most arenas a 64-bit heap can have.
const MAX_ARENAS: u64 = 1 << 22;
/// Bound on allgs candidates' length (the goroutine walker allows more,
/// but a process with 16M goroutines is not one to guess about).
const MAX_GS: u64 = 1 << 24;
/// Bound on the bytes of writable segments scanned for moduledata.
const MAX_SCAN: u64 = 1 << 30;
/// Bound on the .bss bytes searched for mheap_ and allgs.
const MAX_BSS: u64 = 1 << 30;
/// Arenas examined per mheap_ candidate.
const ARENAS_CHECKED: u64 = 16;
/// Goroutine statuses are small (0–11 in 1.26, _Gscan 0x1000 aside).
const MAX_STATUS: u64 = 16;
const G_SCAN: u64 = 0x1000;
/// A goroutine stack larger than this is not one.
const MAX_STACK: u64 = 1 << 30;

/// Finds the three globals from runtime metadata alone (never from symbols,
/// even when the executable has them).
pub fn find_globals(p: &Structs) -> Result<Globals, Error> {
    let md = find_firstmoduledata(p)?;
    let mheap = find_mheap(p, &md)?;
    let allgs = find_allgs(p, &md)?;
    Ok(Globals { mheap, allgs, firstmoduledata: md.addr })
}

/// Link-time [start, end) of the sections that matter, when the executable
/// still has section headers.
#[derive(Default, Debug)]
struct Sections {
    text: Option<(u64, u64)>,
    go_module: Option<(u64, u64)>,
    noptrdata: Option<(u64, u64)>,
    data: Option<(u64, u64)>,
    bss: Option<(u64, u64)>,
}

impl Sections {
    fn read(exe: &[u8]) -> Sections {
        let Ok(file) = object::File::parse(exe) else { return Sections::default() };
        let get = |name: &str| file.section_by_name(name).map(|s| (s.address(), s.address().saturating_add(s.size())));
        Sections { text: get(".text"), go_module: get(".go.module"), noptrdata: get(".noptrdata"), data: get(".data"), bss: get(".bss") }
    }
}

/// Whether [lo, hi) lies inside one of the executable's segments (runtime
/// addresses) that `pick` accepts.
fn in_segment(p: &Structs, lo: u64, hi: u64, pick: impl Fn(&Load) -> bool) -> bool {
    lo <= hi
        && p.image.exe.loads.iter().filter(|l| pick(l)).any(|l| {
            let start = l.vaddr.wrapping_add(p.image.bias);
            lo >= start && hi <= start.saturating_add(l.memsz)
        })
}

fn find_firstmoduledata(p: &Structs) -> Result<Moduledata, Error> {
    let bias = p.image.bias;
    let exe = p.image.exe.bytes();
    let secs = Sections::read(exe);
    let (pcln_link, pcln_bytes) = find_pclntab(exe)
        .ok_or_else(|| Error::NotFound("the pc-line table (.gopclntab): no valid pcHeader in the executable".into()))?;
    let pclntab = pcln_link.wrapping_add(bias);
    let header = PcHeader::parse(pcln_bytes, None);

    let mut rejected = Vec::new();
    // Go 1.26+: the .go.module section holds exactly firstmoduledata.
    if let Some((start, _)) = secs.go_module {
        let c = start.wrapping_add(bias);
        match check_moduledata(p, c, pclntab, header.as_ref(), &secs) {
            Ok(md) => return Ok(md),
            Err(why) => rejected.push(format!(".go.module {c:#x}: {why}")),
        }
    }
    let mut candidates = Vec::new();
    let ranges: Vec<(u64, u64)> = match secs.noptrdata {
        Some((s, e)) => vec![(s.wrapping_add(bias), e.wrapping_add(bias))],
        None => p
            .image
            .exe
            .loads
            .iter()
            .filter(|l| l.writable())
            .map(|l| {
                let s = l.vaddr.wrapping_add(bias);
                (s, s.saturating_add(l.memsz))
            })
            .collect(),
    };
    let mut budget = MAX_SCAN;
    for (lo, hi) in ranges {
        scan_words(p, lo, hi, &mut budget, |addr, w| {
            // Each hit is checked in full below: keep their number bounded.
            if w == pclntab && candidates.len() < 64 {
                candidates.push(addr);
            }
        });
    }

    let mut valid = Vec::new();
    for c in candidates {
        match check_moduledata(p, c, pclntab, header.as_ref(), &secs) {
            Ok(md) => valid.push(md),
            Err(why) => rejected.push(format!("{c:#x}: {why}")),
        }
    }
    match valid.len() {
        1 => Ok(valid.remove(0)),
        0 => Err(Error::NotFound(format!(
            "runtime.firstmoduledata: no moduledata points at the pc-line table at {pclntab:#x}{}",
            if rejected.is_empty() { String::new() } else { format!(" (rejected: {})", rejected.iter().take(4).cloned().collect::<Vec<_>>().join("; ")) }
        ))),
        _ => Err(Error::NotFound(format!(
            "runtime.firstmoduledata: {} candidates validate ({}); refusing to guess",
            valid.len(),
            valid.iter().map(|m| format!("{:#x}", m.addr)).collect::<Vec<_>>().join(", ")
        ))),
    }
}

/// Calls `f(addr, word)` for every 8-aligned word of [lo, hi) the image has,
/// reading at most `budget` bytes.
fn scan_words(p: &Structs, lo: u64, hi: u64, budget: &mut u64, mut f: impl FnMut(u64, u64)) {
    let lo = lo.saturating_add(7) & !7;
    for r in p.image.ranges() {
        let s = r.start.max(lo);
        let e = r.end.min(hi);
        if s >= e {
            continue;
        }
        let s = s.saturating_add(7) & !7;
        if s >= e {
            continue;
        }
        let len = (e - s).min(*budget);
        *budget -= len;
        let Ok(bytes) = p.image.slice(s, len as usize) else { continue };
        for (i, w) in bytes.chunks_exact(8).enumerate() {
            f(s + 8 * i as u64, u64::from_le_bytes(w.try_into().unwrap()));
        }
        if *budget == 0 {
            return;
        }
    }
}

/// Checks that `addr` holds the moduledata of this executable.
fn check_moduledata(p: &Structs, addr: u64, pclntab: u64, header: Option<&PcHeader>, secs: &Sections) -> Result<Moduledata, String> {
    let bias = p.image.bias;
    let md = Moduledata::read(p, addr).map_err(|e| e.to_string())?;
    if md.pcheader != pclntab {
        return Err(format!("pcHeader {:#x} is not the pc-line table", md.pcheader));
    }
    if !(md.text < md.etext && in_segment(p, md.text, md.etext, |l| l.flags & object::elf::PF_X.0 != 0)) {
        return Err(format!("text [{:#x}, {:#x}) is not in an executable segment", md.text, md.etext));
    }
    if !(md.types < md.etypes && in_segment(p, md.types, md.etypes, |_| true)) {
        return Err(format!("types [{:#x}, {:#x}) is not in the executable", md.types, md.etypes));
    }
    let writable = |lo: u64, hi: u64| lo <= hi && in_segment(p, lo, hi, Load::writable);
    if !(writable(md.noptrdata, md.noptrdata) && writable(md.data, md.edata) && writable(md.bss, md.ebss) && md.bss < md.ebss) {
        return Err("noptrdata, data or bss is not in a writable segment".into());
    }
    // pcHeader.textStart is moduledata.text (relocated or as linked); Go
    // 1.26 stopped storing it (0).
    if let Some(h) = header.filter(|h| h.text_start != 0) {
        if h.text_start != md.text && h.text_start.wrapping_add(bias) != md.text {
            return Err(format!("text {:#x} is not the pc-line table's text start {:#x}", md.text, h.text_start));
        }
    }
    let rt = |s: (u64, u64)| (s.0.wrapping_add(bias), s.1.wrapping_add(bias));
    if let Some((s, e)) = secs.text.map(rt) {
        if md.text < s || md.etext > e {
            return Err(format!("text [{:#x}, {:#x}) is not inside .text", md.text, md.etext));
        }
    }
    // Go's own data must lie inside the section of its name. The internal
    // linker starts the section with it; the external linker (cgo) may put
    // C objects' data first, so the Go part can start past the section's
    // start and end before its end.
    let inside = [(".noptrdata", secs.noptrdata, md.noptrdata, md.noptrdata), (".data", secs.data, md.data, md.edata), (".bss", secs.bss, md.bss, md.ebss)];
    for (name, sec, lo, hi) in inside {
        if let Some((s, e)) = sec.map(rt) {
            if lo < s || hi > e {
                return Err(format!("{name} [{lo:#x}, {hi:#x}) is not inside the section's [{s:#x}, {e:#x})"));
            }
        }
    }
    Ok(md)
}

/// The 8-aligned addresses c in the module's [bss, ebss) with c + `reach`
/// still inside it (at most MAX_BSS bytes' worth).
fn bss_words(md: &Moduledata, reach: u64) -> impl Iterator<Item = u64> {
    let start = md.bss.saturating_add(7) & !7;
    let end = md.ebss.min(start.saturating_add(MAX_BSS)).saturating_sub(reach);
    let n = if end >= start { (end - start) / 8 + 1 } else { 0 };
    (0..n).map(move |i| start + 8 * i)
}

fn find_mheap(p: &Structs, md: &Moduledata) -> Result<u64, Error> {
    let l = &p.layout;
    let reach = (l.mheap_all_arenas.off + 24).max(l.mheap_arenas.off + 8);
    let valid: Vec<u64> = bss_words(md, reach).filter(|&c| check_mheap(p, c).is_ok()).collect();
    match valid.as_slice() {
        [one] => Ok(*one),
        [] => Err(Error::NotFound(format!(
            "runtime.mheap_: nothing in .bss [{:#x}, {:#x}) looks like the heap (allArenas → heapArena → in-use spans)",
            md.bss, md.ebss
        ))),
        many => Err(Error::NotFound(format!(
            "runtime.mheap_: {} candidates in .bss validate ({}); refusing to guess",
            many.len(),
            many.iter().map(|a| format!("{a:#x}")).collect::<Vec<_>>().join(", ")
        ))),
    }
}

/// Whether `c` is mheap_: allArenas is a sane non-empty slice of arena
/// indices, arenas[0] is an L2 table whose entries for them are heapArenas,
/// and at least one of their span tables lists an in-use span lying in its
/// arena and covering the page it is listed at.
fn check_mheap(p: &Structs, c: u64) -> Result<(), String> {
    let l = &p.layout;
    let mem = p.image;
    let rd = |a: u64| mem.u64(a).map_err(|e| e.to_string());
    let aa = c.wrapping_add(l.mheap_all_arenas.off);
    let (arr, n, cap) = (rd(aa)?, rd(aa.wrapping_add(8))?, rd(aa.wrapping_add(16))?);
    if arr == 0 || arr % 8 != 0 || n == 0 || n > cap || cap > MAX_ARENAS {
        return Err("allArenas is not a slice".into());
    }
    let l2 = rd(c.wrapping_add(l.mheap_arenas.off))?;
    if l2 == 0 || l2 % 8 != 0 {
        return Err("arenas[0] is not a pointer".into());
    }
    let l2_len = 1u64 << l.arena_l2_bits.min(40);
    let pages = l.arena_bytes / l.page_size.max(1);
    if pages == 0 || pages > 1 << 20 {
        return Err("layout has no sane arena size".into());
    }
    let mut spans_ok = 0;
    for i in 0..n.min(ARENAS_CHECKED) {
        let idx = rd(arr.wrapping_add(8 * i))?;
        if idx >= l2_len {
            return Err("arena index out of range".into());
        }
        let ha = rd(l2.wrapping_add(8 * idx))?;
        if ha == 0 || ha % 8 != 0 {
            return Err("allArenas lists an arena with no heapArena".into());
        }
        let base = idx.wrapping_mul(l.arena_bytes).wrapping_add(l.arena_base_offset);
        let table = mem.slice(ha.wrapping_add(l.arena_spans.off), (pages * 8) as usize).map_err(|e| e.to_string())?;
        for (page, w) in table.chunks_exact(8).enumerate() {
            let s = u64::from_le_bytes(w.try_into().unwrap());
            if s == 0 {
                continue;
            }
            let page_addr = base.wrapping_add(page as u64 * l.page_size);
            let (Ok(start), Ok(npages), Ok(state)) =
                (p.read_field(s, l.span_start), p.read_field(s, l.span_npages), p.read_field(s, l.span_state))
            else {
                continue;
            };
            let span_end = npages.checked_mul(l.page_size).and_then(|b| start.checked_add(b));
            if state == l.span_in_use
                && start >= base
                && start < base.wrapping_add(l.arena_bytes)
                && start <= page_addr
                && span_end.is_some_and(|e| page_addr < e)
            {
                spans_ok += 1;
                break;
            }
        }
    }
    if spans_ok == 0 {
        return Err("no in-use span in its arenas".into());
    }
    Ok(())
}

fn find_allgs(p: &Structs, md: &Moduledata) -> Result<u64, Error> {
    // (addr, data, len)
    let valid: Vec<(u64, u64, u64)> = bss_words(md, 24).filter_map(|c| check_allgs(p, c).ok().map(|(d, n)| (c, d, n))).collect();
    // Another word can hold allgs' data pointer (runtime.allgptr): with the
    // next words read as length and capacity it can pass as a shorter view
    // of the same array. The real header is the longest view.
    let datas: HashSet<u64> = valid.iter().map(|v| v.1).collect();
    if datas.len() > 1 {
        return Err(Error::NotFound(format!(
            "runtime.allgs: {} different goroutine lists in .bss validate ({}); refusing to guess",
            datas.len(),
            valid.iter().map(|v| format!("{:#x}", v.0)).collect::<Vec<_>>().join(", ")
        )));
    }
    let best = valid.iter().max_by_key(|v| (v.2, std::cmp::Reverse(v.0)));
    best.map(|v| v.0).ok_or_else(|| {
        Error::NotFound(format!(
            "runtime.allgs: nothing in .bss [{:#x}, {:#x}) looks like the goroutine list ([]*g with goroutine 1)",
            md.bss, md.ebss
        ))
    })
}

/// Whether `c` is a []*g: every element points to a g whose status is a
/// goroutine status, goroutine ids are distinct and include 1 (main), and
/// every live goroutine's stack has lo < hi. Returns (data, len).
fn check_allgs(p: &Structs, c: u64) -> Result<(u64, u64), String> {
    let l = &p.layout;
    let mem = p.image;
    let rd = |a: u64| mem.u64(a).map_err(|e| e.to_string());
    let (arr, n, cap) = (rd(c)?, rd(c.wrapping_add(8))?, rd(c.wrapping_add(16))?);
    if arr == 0 || arr % 8 != 0 || n == 0 || n > cap || cap > MAX_GS {
        return Err("not a slice".into());
    }
    let elems = mem.slice(arr, (n * 8) as usize).map_err(|e| e.to_string())?;
    let mut goids = HashSet::new();
    for w in elems.chunks_exact(8) {
        let g = u64::from_le_bytes(w.try_into().unwrap());
        if g == 0 || g % 8 != 0 {
            return Err("nil or misaligned element".into());
        }
        let field = |f| p.read_field(g, f).map_err(|e: crate::image::ReadError| e.to_string());
        let status = field(l.g_status)? & !G_SCAN;
        if status >= MAX_STATUS {
            return Err("not a goroutine status".into());
        }
        let goid = field(l.g_goid)?;
        if !goids.insert(goid) {
            return Err("duplicate goroutine id".into());
        }
        // idle 0, dead 6, deadextra 11 may have no stack.
        if !matches!(status, 0 | 6 | 11) {
            let (lo, hi) = (field(l.g_stack_lo)?, field(l.g_stack_hi)?);
            if lo >= hi || hi - lo > MAX_STACK {
                return Err("live goroutine without a stack".into());
            }
        }
    }
    if !goids.contains(&1) {
        return Err("no goroutine 1".into());
    }
    Ok((arr, n))
}
