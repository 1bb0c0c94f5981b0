//! One fuzz target for each parser of untrusted bytes: ELF program headers
//! and notes (cores and executables), Go build info, the pc-line table and
//! the function metadata it leads to, DWARF loading, and flame's .bt and
//! folded text. Seeds come from the fixture corpus.

use std::path::Path;

use object::read::elf::{FileHeader, ProgramHeader};
use object::{Object, ObjectSection};
use refgraph::gobin::{go_build_id, parse_stack_objects, read_buildinfo, read_varint, run_gc_prog, Dwarf, FuncTable, Pclntab, StackMap};
use refgraph::image::{Core, Exe};
use refgraph::render::{detect, read_stacks, Format, Limits, MAX_TOTAL};

use crate::engine::{fuzz, iterations, Target};
use crate::util::{fixtures, Fixture};

fn decompressed(path: &Path) -> Vec<u8> {
    zstd::stream::decode_all(std::fs::File::open(path).unwrap()).unwrap()
}

/// Plain fixtures of the oldest, a middle and the newest Go release.
fn spread() -> Vec<Fixture> {
    fixtures().into_iter().filter(|f| f.program() == "shapes" && [19, 22, 27].contains(&f.minor())).collect()
}

/// An ELF file cut down to its header, program headers and notes: each
/// PT_LOAD keeps at most 256 bytes of the file, the notes follow the
/// program headers, section headers are dropped. Small enough to mutate a
/// million times, with every field the parser reads.
fn compact_elf(data: &[u8]) -> Vec<u8> {
    let h = object::elf::FileHeader64::<object::Endianness>::parse(data).unwrap();
    let e = h.endian().unwrap();
    let phoff = h.e_phoff(e) as usize;
    let phnum = h.e_phnum(e) as usize;
    let mut out = data[..64].to_vec();
    out.extend_from_slice(&data[phoff..phoff + 56 * phnum]);
    // e_phoff = 64; no section headers.
    out[32..40].copy_from_slice(&64u64.to_le_bytes());
    out[40..48].copy_from_slice(&0u64.to_le_bytes());
    out[60..64].copy_from_slice(&[0; 4]);
    for (i, ph) in h.program_headers(e, data).unwrap().iter().enumerate() {
        let at = 64 + 56 * i;
        let (off, size) = (ph.p_offset(e) as usize, ph.p_filesz(e) as usize);
        let keep = match ph.p_type(e) {
            object::elf::PT_NOTE => size,
            object::elf::PT_LOAD => size.min(256),
            _ => 0,
        };
        let new_off = out.len() as u64;
        out.extend_from_slice(&data[off..off + keep]);
        out[at + 8..at + 16].copy_from_slice(&new_off.to_le_bytes());
        out[at + 32..at + 40].copy_from_slice(&(keep as u64).to_le_bytes());
    }
    out
}

fn anywhere(seeds: &[Vec<u8>]) -> Vec<Option<(usize, usize)>> {
    vec![None; seeds.len()]
}

#[test]
fn fuzz_elf_core_headers_and_notes() {
    let seeds: Vec<Vec<u8>> = fixtures()
        .iter()
        .filter(|f| f.minor() == 27 || f.minor() == 19)
        .map(|f| compact_elf(&decompressed(&f.core())))
        .collect();
    assert!(seeds.iter().all(|s| Core::from_bytes(Path::new("seed"), s.clone()).is_ok_and(|c| !c.threads.is_empty())), "a seed core does not parse");
    let run = |b: &[u8]| {
        if let Ok(core) = Core::from_bytes(Path::new("fuzz"), b.to_vec()) {
            let _ = core.truncation();
            let inside = |l: &refgraph::image::Load| l.filesz == 0 || l.offset.checked_add(l.filesz).is_some_and(|e| e <= b.len() as u64);
            assert!(core.loads.iter().all(inside), "a segment past the end was kept");
        }
    };
    fuzz(Target { name: "elf_core", within: anywhere(&seeds), seeds, run: &run }, iterations(20_000));
}

#[test]
fn fuzz_elf_executable_headers_and_notes() {
    let seeds: Vec<Vec<u8>> = spread().iter().map(|f| compact_elf(&decompressed(&f.exe()))).collect();
    assert!(seeds.iter().all(|s| Exe::from_bytes(Path::new("seed"), s.clone()).is_ok_and(|e| go_build_id(&e.notes).is_some())), "a seed executable does not parse");
    let run = |b: &[u8]| {
        if let Ok(exe) = Exe::from_bytes(Path::new("fuzz"), b.to_vec()) {
            let _ = (go_build_id(&exe.notes), exe.gnu_build_id());
        }
    };
    fuzz(Target { name: "elf_exe", within: anywhere(&seeds), seeds, run: &run }, iterations(20_000));
}

#[test]
fn fuzz_build_info() {
    let seeds: Vec<Vec<u8>> = spread()
        .iter()
        .map(|f| {
            let exe = decompressed(&f.exe());
            let file = object::File::parse(&*exe).unwrap();
            file.section_by_name(".go.buildinfo").unwrap().data().unwrap().to_vec()
        })
        .collect();
    assert!(seeds.iter().all(|s| read_buildinfo(s).is_ok()), "a seed build info does not parse");
    let run = |b: &[u8]| {
        if let Ok(info) = read_buildinfo(b) {
            let _ = (info.version.release(), info.version.experiment("greenteagc"), info.setting("GOARCH"));
        }
    };
    fuzz(Target { name: "buildinfo", within: anywhere(&seeds), seeds, run: &run }, iterations(50_000));
}

/// The pc-line table and what it leads to: function names, pc-value
/// tables, funcdata offsets, for up to 32 functions an input. The first
/// byte picks the Go minor version the tables are read as.
#[test]
fn fuzz_pclntab_and_function_tables() {
    let seeds: Vec<Vec<u8>> = spread()
        .iter()
        .map(|f| {
            let exe = decompressed(&f.exe());
            let (_, bytes) = refgraph::gobin::find_pclntab(&exe).unwrap();
            let mut seed = vec![f.minor() as u8];
            seed.extend_from_slice(bytes);
            seed
        })
        .collect();
    let within = seeds.iter().map(|s| Some((0, s.len().min(1 << 20)))).collect();
    assert!(seeds.iter().all(|s| Pclntab::new(&s[1..]).is_some_and(|t| FuncTable::new(t, u32::from(s[0])).is_some())), "a seed table does not parse");
    let run = |b: &[u8]| {
        let Some((&minor, tab)) = b.split_first() else { return };
        let Some(t) = Pclntab::new(tab) else { return };
        for f in t.funcs().take(64) {
            let _ = t.func_named(f.name);
        }
        let Some(ft) = FuncTable::new(t, 19 + u32::from(minor) % 9) else { return };
        let _ = ft.text_len();
        let n = t.header.nfunc.min(32);
        for i in 0..n {
            let Some(f) = ft.func(i * (t.header.nfunc / n.max(1)).max(1)) else { continue };
            for pc in [0, 1, 64, 4096] {
                let _ = ft.sp_delta(&f, pc);
                let _ = ft.stack_map_index(&f, pc);
                let _ = ft.pcdata(&f, 1, pc);
            }
            for k in 0..4 {
                let _ = ft.funcdata(&f, k);
            }
            let _ = ft.find(i * 977);
        }
    };
    fuzz(Target { name: "pclntab", within, seeds, run: &run }, iterations(3_000));
}

/// Stack maps, stack-object records, GC programs and varints, as the
/// stack walker reads them out of funcdata.
#[test]
fn fuzz_funcdata_records() {
    let mut seeds: Vec<Vec<u8>> = vec![
        [2i32.to_le_bytes(), 16i32.to_le_bytes()].concat().into_iter().chain([0xff, 0x01, 0x0f, 0xf0]).collect(),
        [1u64.to_le_bytes().to_vec(), (-24i32).to_le_bytes().to_vec(), 16i32.to_le_bytes().to_vec(), 8i32.to_le_bytes().to_vec(), 0u32.to_le_bytes().to_vec()].concat(),
        // A GC program: emit 3 literal bits 101, repeat the last 3 bits 4 times, stop.
        vec![0x03, 0b101, 0x80 | 3, 4, 0x00],
        vec![0xff, 0xff, 0xff, 0xff, 0x0f, 0x80, 0x01],
    ];
    seeds.push(seeds.concat());
    let run = |b: &[u8]| {
        if let Some(m) = StackMap::parse(b) {
            for i in [-1, 0, 1, m.n - 1, m.n] {
                let _ = m.bitmap(i);
            }
        }
        let _ = parse_stack_objects(b, 1 << 10);
        let _ = run_gc_prog(b, 1 << 16);
        let mut at = 0;
        while let Some((_, n)) = read_varint(&b[at..]) {
            at += n.max(1);
            if at >= b.len() {
                break;
            }
        }
    };
    fuzz(Target { name: "funcdata", within: anywhere(&seeds), seeds, run: &run }, iterations(50_000));
}

/// DWARF loading (section headers, compression, units, the index) on the
/// newest executable, mutating only its debug sections' bytes.
#[test]
fn fuzz_dwarf_load() {
    let f = fixtures().into_iter().find(|f| f.program() == "shapes" && f.minor() == 27).unwrap();
    let exe = decompressed(&f.exe());
    let range = {
        let file = object::File::parse(&*exe).unwrap();
        let spans: Vec<(u64, u64)> = file.sections().filter(|s| s.name().is_ok_and(|n| n.starts_with(".debug_"))).filter_map(|s| s.file_range()).collect();
        let lo = spans.iter().map(|r| r.0).min().unwrap() as usize;
        let hi = spans.iter().map(|r| r.0 + r.1).max().unwrap() as usize;
        (lo, hi)
    };
    assert!(Dwarf::load(&exe).is_ok_and(|d| d.is_some_and(|d| d.struct_layout("runtime.mspan").is_some())), "the seed's DWARF does not load");
    let seeds = vec![exe];
    let run = |b: &[u8]| {
        if let Ok(Some(d)) = Dwarf::load(b) {
            let _ = d.struct_layout("runtime.mspan");
        }
    };
    fuzz(Target { name: "dwarf", within: vec![Some(range)], seeds, run: &run }, (iterations(30_000) / 1000).max(30));
}

/// flame's text input: whatever the bytes, the stacks stay within the
/// depth limit and their counts add up to the reported total.
#[test]
fn fuzz_bt_and_folded_text() {
    let bt = "main.Entry\n.Payload\n[]uint8\nmain.registry\nglobals\n\t4096\nunk<16>\n[3]\ngoroutines\n\t 18446744073709551615\n";
    let folded = "globals;main.registry;map[string]*main.Entry 512\ngoroutines;main.worker;buf;[]uint8 1048576\na;;b 1\n";
    let deep: String = (0..300).map(|i| format!("f{i}\n")).chain(["\t7\n".to_string()]).collect();
    let seeds: Vec<Vec<u8>> = [bt, folded, &deep].iter().map(|s| s.as_bytes().to_vec()).collect();
    let run = |b: &[u8]| {
        let text = String::from_utf8_lossy(b);
        let limits = Limits::with_max_depth(100);
        for format in [detect(&text), Format::Bt, Format::Folded] {
            let s = read_stacks(&text, format, limits);
            let sum = s.stacks.values().fold(0u64, |a, &c| a.checked_add(c).expect("stack counts overflow"));
            assert_eq!(sum, s.total);
            assert!(s.total <= MAX_TOTAL);
            assert!(s.stacks.keys().all(|k| k.matches(';').count() < 100), "a stack deeper than the limit");
            let _ = s.warnings(limits);
        }
    };
    fuzz(Target { name: "text", within: anywhere(&seeds), seeds, run: &run }, iterations(20_000));
}

/// The runtime's structures in a dumped process (mheap_ and its spans and
/// allocation bits, moduledata, type descriptors and the masks and names
/// they lead to, allgs), read from arbitrary memory: each input picks a
/// structure, an address near where one really is (or the word stored
/// there), and reads it as that structure. Every address of the image
/// holds bytes some reader can be pointed at by a damaged pointer, and so
/// do addresses at the top of the address space. Goroutine stacks are
/// walked with a g or stack bounds moved the same way.
#[test]
fn fuzz_runtime_structures() {
    use refgraph::heap::Heap;
    use refgraph::image::{Image, Memory};
    use refgraph::runtime::moduledata::Moduledata;
    use refgraph::runtime::{read_goroutines, read_spans, read_type, type_mask, type_name, walk_goroutine, Goroutine, Process};
    use std::sync::Mutex;

    let fx: Vec<Fixture> =
        fixtures().into_iter().filter(|f| (f.program() == "shapes" && f.minor() == 22) || (f.minor() == 27 && f.variant() == "stripped")).collect();
    let images: Vec<Image> = fx.iter().map(|f| Image::open(&f.core(), &f.exe()).unwrap()).collect();
    struct Aim<'a> {
        p: Mutex<Process<'a>>,
        addrs: Vec<u64>,
        goroutines: Vec<Goroutine>,
    }
    let aims: Vec<Aim> = images
        .iter()
        .map(|image| {
            let p = Process::new(image).unwrap();
            let md = Moduledata::read(&p.structs(), p.firstmoduledata).unwrap();
            let mut addrs = vec![p.mheap, p.firstmoduledata, p.allgs, md.types, md.data, md.bss];
            let heap = Heap::build(&p).unwrap();
            addrs.extend((0..heap.len() as u32).step_by((heap.len() / 64).max(1)).map(|i| heap.addr(i)));
            let spans = read_spans(&p).unwrap();
            addrs.extend(spans.alloc.iter().take(64).map(|a| a.alloc_bits));
            addrs.extend(spans.arenas.iter().map(|a| a.1));
            let goroutines = read_goroutines(&p).unwrap();
            addrs.extend(goroutines.iter().flat_map(|g| [g.addr, g.stack.0, g.stack.1 - 64]));
            Aim { p: Mutex::new(p), addrs, goroutines }
        })
        .collect();
    let seeds: Vec<Vec<u8>> = (0..5u8).flat_map(|op| (0..8u8).map(move |k| vec![op, k, 0, 0, 0, 0, 0, 0])).collect();
    let run = |b: &[u8]| {
        if b.len() < 8 {
            return;
        }
        let aim = &aims[usize::from(b[7]) % aims.len()];
        let mut p = aim.p.lock().unwrap_or_else(|e| e.into_inner());
        let base = aim.addrs[usize::from(u16::from_le_bytes([b[1], b[2]])) % aim.addrs.len()];
        let mut addr = base.wrapping_add(i16::from_le_bytes([b[3], b[4]]) as i64 as u64);
        for _ in 0..b[5] % 3 {
            addr = p.image.u64(addr).unwrap_or(addr);
        }
        if b[6] & 0x80 != 0 {
            // The top of the address space, where sums overflow.
            addr = u64::MAX - u64::from(b[3]);
        }
        match b[0] % 5 {
            0 => {
                if let Ok(t) = read_type(&p, addr) {
                    let _ = type_name(&p, &t);
                    let _ = type_mask(&p, &t);
                }
            }
            1 => {
                let _ = Moduledata::read(&p.structs(), addr);
            }
            2 => {
                // mheap_ read at another address: spans, then the heap.
                let real = std::mem::replace(&mut p.mheap, addr);
                if read_spans(&p).is_ok() {
                    let _ = Heap::build(&p);
                }
                p.mheap = real;
            }
            4 => {
                // A goroutine's stack walked with its g, or its stack
                // bounds, moved.
                let mut g = aim.goroutines[usize::from(b[1]) % aim.goroutines.len()];
                match b[6] % 3 {
                    0 => g.addr = addr,
                    1 => g.stack.0 = g.stack.0.wrapping_add(i16::from_le_bytes([b[3], b[4]]) as i64 as u64),
                    _ => g.stack.1 = g.stack.1.wrapping_add(i16::from_le_bytes([b[3], b[4]]) as i64 as u64),
                }
                let _ = walk_goroutine(&p, &g);
            }
            _ => {
                let real = std::mem::replace(&mut p.allgs, addr);
                let _ = read_goroutines(&p);
                p.allgs = real;
            }
        }
    };
    fuzz(Target { name: "runtime", within: anywhere(&seeds), seeds, run: &run }, iterations(20_000));
}
