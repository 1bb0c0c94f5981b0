//! The heap walk against the programs' own runtime.MemStats at dump time.

use refgraph::heap::{Edges, Heap};
use refgraph::image::Memory;
use refgraph::runtime::{read_goroutines, PointerFinder, Process};

use crate::util::{each, fixtures, open_image};

#[test]
fn objects_and_bytes_equal_memstats_exactly() {
    let fx = fixtures();
    each(&fx, |f| {
        let image = open_image(f)?;
        let p = Process::new(&image).map_err(|e| e.to_string())?;
        let heap = Heap::build(&p).map_err(|e| e.to_string())?;
        let (objects, bytes) = (heap.len() as u64, heap.bytes());
        let (want_objects, want_bytes) = (f.num("heap_objects"), f.num("heap_alloc"));
        println!("{}: {objects} objects / {bytes} bytes (MemStats: {want_objects} / {want_bytes})", f.name);
        if objects != want_objects || bytes != want_bytes {
            return Err(format!("walked {objects} objects / {bytes} bytes, MemStats says {want_objects} / {want_bytes}"));
        }
        if !heap.warnings.is_empty() {
            return Err(format!("warnings: {:?}", heap.warnings));
        }
        Ok(())
    });
}

#[test]
fn every_pointer_slot_holds_nil_or_a_mapped_address() {
    let fx = fixtures();
    each(&fx, |f| {
        let image = open_image(f)?;
        let p = Process::new(&image).map_err(|e| e.to_string())?;
        let heap = Heap::build(&p).map_err(|e| e.to_string())?;
        let mut finder = PointerFinder::new(&p, &heap.arena_list);
        let (mut slots, mut bad, mut first_bad) = (0u64, 0u64, None);
        for i in 0..heap.len() as u32 {
            let span = *heap.span_of(i);
            let base = heap.addr(i);
            finder
                .pointers(&span, base, &mut |a| {
                    slots += 1;
                    let v = image.u64(a).unwrap();
                    if v != 0 && image.tail(v).is_none() {
                        bad += 1;
                        first_bad.get_or_insert((base, a - base, v));
                    }
                })
                .map_err(|e| e.to_string())?;
        }
        let walked = Edges::build(&p, &heap).pointer_slots;
        if slots != walked {
            return Err(format!("{slots} slots now, {walked} during the walk"));
        }
        if slots == 0 {
            return Err("no pointer slots at all".into());
        }
        if let Some((base, off, v)) = first_bad {
            return Err(format!("{bad} of {slots} pointer slots hold unmapped values; first: object {base:#x} +{off} = {v:#x}"));
        }
        Ok(())
    });
}

/// Each edge's mark (its pointer is its target's address, not inside it)
/// against the pointer word read from the core and the target's address;
/// the fixtures hold both kinds (slices of arrays, substrings, fields
/// pointed at).
#[test]
fn edge_marks_tell_start_pointers_from_interior_ones() {
    let fx = fixtures();
    let (mut starts, mut interior) = (0u64, 0u64);
    each(&fx, |f| {
        let image = open_image(f)?;
        let p = Process::new(&image).map_err(|e| e.to_string())?;
        let heap = Heap::build(&p).map_err(|e| e.to_string())?;
        let edges = Edges::build(&p, &heap);
        for i in 0..heap.len() as u32 {
            let (a, b) = edges.range(i);
            for k in a..b {
                let (off, start) = edges.offset_marked(k);
                let t = edges.target(k);
                let v = image.u64(heap.addr(i) + off).map_err(|e| e.to_string())?;
                if start != (v == heap.addr(t)) || !(heap.addr(t)..heap.addr(t) + heap.size(t)).contains(&v) {
                    return Err(format!("object {:#x} +{off}: {v:#x} marked {start}, target at {:#x}", heap.addr(i), heap.addr(t)));
                }
                if heap.locate(v) != Some((t, start)) {
                    return Err(format!("{v:#x}: located {:?}, edge says {t} {start}", heap.locate(v)));
                }
                if start {
                    starts += 1;
                } else {
                    interior += 1;
                }
            }
        }
        Ok(())
    });
    println!("{starts} start pointers, {interior} interior ones");
    assert!(starts > 0 && interior > 0, "{starts} start pointers, {interior} interior ones");
}

#[test]
fn goroutines_include_the_programs_own() {
    let fx = fixtures();
    each(&fx, |f| {
        let image = open_image(f)?;
        let p = Process::new(&image).map_err(|e| e.to_string())?;
        let gs = read_goroutines(&p).map_err(|e| e.to_string())?;
        let live = gs.iter().filter(|g| g.status.is_live()).count() as u64;
        // NumGoroutine counts user goroutines; the runtime's own (GC
        // workers, finalizer, …) come on top.
        if live < f.num("num_goroutine") {
            return Err(format!("{live} live goroutines, the program counted {}", f.num("num_goroutine")));
        }
        if !gs.iter().any(|g| g.goid == 1 && g.status.is_live()) {
            return Err("no live goroutine 1 (main)".into());
        }
        Ok(())
    });
}

/// The counters the long phases keep for the progress line reach their
/// totals: every span read by the edge walk, every object the program had
/// reached by the tree (all of the retain heap is reachable: MemStats'
/// count), every fact inference set.
#[test]
fn progress_counters_reach_their_totals() {
    use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

    use refgraph::cli::pipeline::collect_roots;
    use refgraph::graph::build_tree;
    use refgraph::infer::Inference;

    let fx: Vec<_> = fixtures().into_iter().filter(|f| f.name == "retain-go1.22.12" || f.name == "retain-go1.27.4").collect();
    assert_eq!(fx.len(), 2);
    each(&fx, |f| {
        let image = open_image(f)?;
        let p = Process::new(&image).map_err(|e| e.to_string())?;
        let heap = Heap::build(&p).map_err(|e| e.to_string())?;
        let spans = AtomicU64::new(0);
        let edges = Edges::build_counted(&p, &heap, &spans);
        if spans.load(Relaxed) != heap.spans as u64 {
            return Err(format!("{} spans counted, the heap has {}", spans.load(Relaxed), heap.spans));
        }
        let (roots, _) = collect_roots(&p, &heap).map_err(|e| e.to_string())?;
        let facts = AtomicU64::new(0);
        let inf = Inference::run(&p, &heap, &edges, &roots, &facts);
        if facts.load(Relaxed) != inf.updates || inf.updates < heap.len() as u64 / 2 {
            return Err(format!("{} facts counted, inference set {} for {} objects", facts.load(Relaxed), inf.updates, heap.len()));
        }
        let reached = AtomicU64::new(0);
        let tree = build_tree(&heap, edges, &roots, &inf, &reached);
        if reached.load(Relaxed) != tree.objects() as u64 || reached.load(Relaxed) != f.num("heap_objects") {
            return Err(format!(
                "{} objects counted, the tree holds {}, MemStats {}",
                reached.load(Relaxed),
                tree.objects(),
                f.num("heap_objects")
            ));
        }
        Ok(())
    });
}
