//! Stripped executables (`-ldflags='-s -w'`: no DWARF, no .symtab): the
//! runtime layout comes from the recorded tables and the runtime's globals
//! are located from runtime metadata alone. The heap walk must still match
//! what the program reported at dump time.

use refgraph::gobin::{find_pclntab, Pclntab};
use refgraph::heap::Heap;
use refgraph::image::Source;
use refgraph::runtime::moduledata::find_globals;
use refgraph::runtime::{read_goroutines, Process};

use crate::util::{each, fixtures, open_image};

#[test]
fn stripped_fixtures_walk_to_the_truth() {
    let fx: Vec<_> = fixtures().into_iter().filter(|f| f.stripped()).collect();
    assert!(!fx.is_empty(), "no stripped fixtures");
    each(&fx, |f| {
        let image = open_image(f)?;
        let p = Process::new(&image).map_err(|e| e.to_string())?;
        if p.dwarf.is_some() {
            return Err("the stripped executable has DWARF".into());
        }
        if !p.symbols.is_empty() {
            return Err("the stripped executable has symbols".into());
        }
        let heap = Heap::build(&p).map_err(|e| e.to_string())?;
        let (objects, bytes) = (heap.len() as u64, heap.bytes());
        let (want_objects, want_bytes) = (f.num("heap_objects"), f.num("heap_alloc"));
        if (objects, bytes) != (want_objects, want_bytes) {
            return Err(format!("heap has {objects} objects / {bytes} bytes, truth says {want_objects} / {want_bytes}"));
        }
        let gs = read_goroutines(&p).map_err(|e| e.to_string())?;
        let live = gs.iter().filter(|g| g.status.is_live()).count() as u64;
        if live < f.num("num_goroutine") {
            return Err(format!("{live} live goroutines, truth says at least {}", f.num("num_goroutine")));
        }
        Ok(())
    });
}

#[test]
fn locating_without_symbols_finds_what_the_symbols_say() {
    let fx: Vec<_> = fixtures().into_iter().filter(|f| !f.stripped()).collect();
    assert!(!fx.is_empty(), "no unstripped fixtures");
    each(&fx, |f| {
        let image = open_image(f)?;
        let p = Process::new(&image).map_err(|e| e.to_string())?;
        if p.symbols.is_empty() {
            return Err("the executable has no symbols".into());
        }
        let g = find_globals(&p).map_err(|e| e.to_string())?;
        let got = (g.mheap, g.allgs, g.firstmoduledata);
        let want = (p.mheap, p.allgs, p.firstmoduledata);
        if got != want {
            return Err(format!("found (mheap_, allgs, firstmoduledata) = {got:#x?}, symbols say {want:#x?}"));
        }
        Ok(())
    });
}

#[test]
fn every_executable_has_a_readable_pclntab() {
    let fx = fixtures();
    each(&fx, |f| {
        let exe = Source::open(&f.exe()).map_err(|e| e.to_string())?;
        let (_, bytes) = find_pclntab(exe.bytes()).ok_or("no pc-line table")?;
        let t = Pclntab::new(bytes).ok_or("bad pcHeader")?;
        for name in ["runtime.main", "runtime.mallocinit", "main.main"] {
            t.func_named(name).ok_or_else(|| format!("no function {name} in the pc-line table"))?;
        }
        Ok(())
    });
}
