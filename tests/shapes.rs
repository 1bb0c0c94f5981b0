//! The `shapes` fixture's sample objects, one per allocation regime, found
//! where the program says it put them, with the sizes and pointer offsets
//! it built (computed there with unsafe.Sizeof / unsafe.Offsetof).

use std::collections::BTreeSet;

use refgraph::heap::Heap;
use refgraph::runtime::{PointerFinder, Process};

use crate::util::{each, fixtures, open_image, Fixture};

const REGIMES: [&str; 8] = ["tiny", "small_ptr", "medium_ptr", "large_ptr", "array_structs", "gcprog", "generic", "anon"];

fn check(f: &Fixture) -> Result<(), String> {
    let image = open_image(f)?;
    let p = Process::new(&image).map_err(|e| e.to_string())?;
    let heap = Heap::build(&p).map_err(|e| e.to_string())?;
    let mut finder = PointerFinder::new(&p, &heap.arena_list);
    for r in REGIMES {
        let addr = f.num(&format!("{r}_addr"));
        let size = f.num(&format!("{r}_size"));
        let elem = f.num(&format!("{r}_elemsize"));
        let len = f.num(&format!("{r}_len"));
        let offs: Vec<u64> = match f.str(&format!("{r}_ptroffs")).as_str() {
            "-" => Vec::new(),
            s => s.split(',').map(|x| x.parse().unwrap()).collect(),
        };
        let obj = heap.find(addr).ok_or_else(|| format!("{r}: no heap object holds {addr:#x}"))?;
        let base = heap.addr(obj);
        let slot = heap.size(obj);
        let span = *heap.span_of(obj);
        let into = addr - base;
        // Where the value may start in its slot: at the start, after an
        // 8-byte malloc header (Go 1.22+, 513 B to 32 KiB with pointers),
        // or anywhere in a 16-byte tiny block.
        let header = f.minor() >= 22 && !span.noscan() && span.sizeclass() != 0 && slot > 512;
        let ok_start = match r {
            "tiny" => into < 16 && slot == 16,
            _ if header => into == 8,
            _ => into == 0,
        };
        if !ok_start {
            return Err(format!("{r}: value at {addr:#x} is {into} bytes into a {slot}-byte slot"));
        }
        if slot < into + size {
            return Err(format!("{r}: {size} bytes do not fit a {slot}-byte slot at +{into}"));
        }
        let want: BTreeSet<u64> = (0..len).flat_map(|k| offs.iter().map(move |o| k * elem + o)).collect();
        let mut got = BTreeSet::new();
        finder
            .pointers(&span, base, &mut |a| {
                if a >= addr && a < addr + size {
                    got.insert(a - addr);
                }
            })
            .map_err(|e| format!("{r}: {e}"))?;
        if got != want {
            let missing: Vec<_> = want.difference(&got).take(5).collect();
            let extra: Vec<_> = got.difference(&want).take(5).collect();
            return Err(format!("{r}: pointer offsets differ: missing {missing:?}, extra {extra:?} ({} vs {} words)", got.len(), want.len()));
        }
    }
    Ok(())
}

#[test]
fn every_regime_has_the_size_and_pointer_words_the_program_built() {
    let fx: Vec<Fixture> = fixtures().into_iter().filter(|f| f.program() == "shapes").collect();
    assert_eq!(fx.iter().filter(|f| f.arch() == "amd64").count(), 9, "one amd64 shapes fixture per Go minor 1.19-1.27");
    assert_eq!(fx.iter().filter(|f| f.arch() == "arm64").count(), 4, "arm64 shapes fixtures for Go 1.19, 1.22, 1.24, 1.27");
    each(&fx, check);
}
