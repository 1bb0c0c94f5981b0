//! The main job, phase by phase: image → Go metadata → heap → roots →
//! types → tree, each phase timed.

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use anyhow::Result;

use super::memory::AnonPeak;
use super::progress::{counted, phase, Tally, Unit};
use crate::graph::{build_tree, Dominators, Tree};
use crate::heap::{Edges, Heap};
use crate::image::Image;
use crate::infer::Inference;
use crate::roots::{global_roots, goroutine_roots, queued_finalizer_roots, special_roots, tiny_block_roots, Root};
use crate::runtime::Process;

/// Wall time of each phase run so far, in order, and with
/// [`Timings::with_memory`] the peak anonymous memory of each.
#[derive(Default)]
pub struct Timings {
    pub phases: Vec<Phase>,
    memory: Option<AnonPeak>,
}

/// One timed phase.
#[derive(Clone, Debug)]
pub struct Phase {
    pub name: &'static str,
    pub time: Duration,
    /// Peak resident anonymous memory (bytes) while it ran.
    pub peak_anon: Option<u64>,
}

impl Timings {
    /// Timings that also sample the peak memory of each phase (if
    /// `memory` and the system tells).
    pub fn with_memory(memory: bool) -> Timings {
        Timings { phases: Vec::new(), memory: if memory { AnonPeak::start() } else { None } }
    }

    /// Runs `f` as phase `name` (a spinner after a second on a terminal,
    /// `what` as its text) and records its time.
    pub fn run<T>(&mut self, name: &'static str, what: &str, f: impl FnOnce() -> T) -> T {
        self.timed(name, || phase(what, f))
    }

    /// [`Timings::run`] with `f` counting its work in `unit`s for the
    /// progress line ([`counted`]).
    pub fn run_counted<T>(&mut self, name: &'static str, what: &str, unit: Unit, f: impl FnOnce(&Tally) -> T) -> T {
        self.timed(name, || counted(what, unit, f))
    }

    /// Runs `f` and records its time (and peak memory) as phase `name`.
    fn timed<T>(&mut self, name: &'static str, f: impl FnOnce() -> T) -> T {
        if let Some(m) = &self.memory {
            m.take();
        }
        let t = Instant::now();
        let out = f();
        let time = t.elapsed();
        let peak_anon = self.memory.as_ref().map(|m| m.take());
        self.phases.push(Phase { name, time, peak_anon });
        out
    }

    /// `name 1.23s, …`, with the peak memory, ` (12 MiB)`, after each
    /// phase where it was sampled.
    pub fn line(&self) -> String {
        let one = |p: &Phase| match p.peak_anon {
            Some(m) => format!("{} {:.2}s ({} MiB)", p.name, p.time.as_secs_f64(), m >> 20),
            None => format!("{} {:.2}s", p.name, p.time.as_secs_f64()),
        };
        self.phases.iter().map(one).collect::<Vec<_>>().join(", ")
    }
}

/// What the pipeline found, for the caller to render and report.
pub struct Analysis<'t, 'x, 'p, 'a> {
    /// The heap, its roots and types (whose inference also names tree
    /// nodes), and the warnings.
    pub typed: &'t Typed<'x, 'p, 'a>,
    /// The reference tree.
    pub tree: Tree,
    /// Objects reached from the roots, and their bytes.
    pub reached_objects: u64,
    pub reached_bytes: u64,
    /// Reached objects with an inferred type, and their bytes.
    pub typed_objects: u64,
    pub typed_bytes: u64,
}

/// The heap with its roots and types: what every command needs.
pub struct Typed<'x, 'p, 'a> {
    /// The process's Go metadata.
    pub process: &'x Process<'a>,
    /// The heap.
    pub heap: &'x Heap,
    /// All roots.
    pub roots: &'x [Root],
    /// The types of the heap's objects.
    pub inference: &'x Inference<'p, 'a>,
    /// Pointer words of all objects, and those pointing into heap objects.
    pub pointer_slots: u64,
    pub heap_pointers: u64,
    /// Warnings gathered on the way.
    pub warnings: Vec<String>,
}

/// Runs the phases from an opened image to the types (metadata, heap,
/// roots, types), then `then` on the result (which borrows their data) and
/// the heap's edges, without their offsets (type inference was their last
/// reader).
pub fn infer_types<T>(image: &Image, timings: &mut Timings, then: impl FnOnce(&Typed, Edges, &mut Timings) -> Result<T>) -> Result<T> {
    typed_edges(image, timings, false, then)
}

/// [`infer_types`], the edges' offsets kept if `offsets` (the tree's
/// search reads them).
fn typed_edges<T>(image: &Image, timings: &mut Timings, offsets: bool, then: impl FnOnce(&Typed, Edges, &mut Timings) -> Result<T>) -> Result<T> {
    let p = timings.run("metadata", "reading Go metadata", || Process::new(image))?;
    let (heap, mut edges) = timings.run_counted("heap", "walking the heap", Unit::Things("spans"), |tally| -> Result<_> {
        let heap = Heap::build(&p)?;
        tally.total.store(heap.spans as u64, Ordering::Relaxed);
        let edges = Edges::build_counted(&p, &heap, &tally.done);
        Ok((heap, edges))
    })?;
    release_free_memory();
    let (roots, root_warnings) = timings.run("roots", "finding roots", || collect_roots(&p, &heap))?;
    let inference = timings.run_counted("types", "inferring types", Unit::Things("facts"), |tally| {
        Inference::run(&p, &heap, &edges, &roots, &tally.done)
    });
    if !offsets {
        edges.drop_offsets();
    }
    release_free_memory();
    let mut warnings = p.warnings.clone();
    warnings.extend(heap.warnings.iter().cloned());
    warnings.extend(edges.warnings.iter().cloned());
    warnings.extend(root_warnings);
    let typed = Typed {
        process: &p,
        heap: &heap,
        roots: &roots,
        inference: &inference,
        pointer_slots: edges.pointer_slots,
        heap_pointers: edges.len() as u64,
        warnings,
    };
    then(&typed, edges, timings)
}

/// Runs everything from an opened image to the tree, then `then` on the
/// result (which borrows the phases' data). The heap's edges are freed once
/// the tree is built.
pub fn analyze<T>(image: &Image, timings: &mut Timings, then: impl FnOnce(&Analysis, &mut Timings) -> Result<T>) -> Result<T> {
    typed_edges(image, timings, true, |t, edges, timings| {
        let objects = Unit::Things("objects");
        let (tree, (typed_objects, typed_bytes)) = timings.run_counted("tree", "building the reference tree", objects, |tally| {
            tally.total.store(t.heap.len() as u64, Ordering::Relaxed);
            let mut tree = build_tree(t.heap, edges, t.roots, t.inference, &tally.done);
            // The sum is serial: count the typed objects meanwhile.
            let reached = std::mem::take(&mut tree.reached);
            let ((), typed) = rayon::join(|| tree.sum(|o| t.heap.size(o)), || t.inference.typed_among(&reached));
            tree.reached = reached;
            (tree, typed)
        });
        let a = Analysis {
            typed: t,
            reached_objects: tree.objects() as u64,
            reached_bytes: tree.grand_total(),
            typed_objects,
            typed_bytes,
            tree,
        };
        then(&a, timings)
    })
}

/// Runs the phases to the types, then the dominator tree over the heap's
/// edges (its steps timed as phases: "dfs", "preds", "semi", "idom",
/// "retained"), then `then` with the edges still there (for
/// searches from the roots) and the tree to keep or free.
pub fn dominate<T>(
    image: &Image,
    timings: &mut Timings,
    then: impl FnOnce(&Typed, &Edges, Dominators, &mut Timings) -> Result<T>,
) -> Result<T> {
    infer_types(image, timings, |t, edges, timings| {
        let dom = dominators(t, &edges, timings)?;
        then(t, &edges, dom, timings)
    })
}

/// The dominator tree of the typed heap, its steps timed as phases.
pub fn dominators(t: &Typed, edges: &Edges, timings: &mut Timings) -> Result<Dominators> {
    let targets = crate::query::root_targets(t.roots);
    let dom = Dominators::compute_in_steps(&targets, t.heap.len(), edges, &|o| t.heap.size(o), &mut |name, f| {
        timings.run(name, &format!("computing dominators ({name})"), f)
    });
    dom.ok_or_else(|| anyhow::anyhow!("the heap is too large for the dominator tree (over 4G objects or edges)"))
}

/// Has glibc map every allocation of a few MiB or more by itself, and unmap
/// it when freed. By default the threshold rises to the size of each large
/// block freed, so the phases' big temporary buffers (proposal lists, BFS
/// batches, built on rayon's threads) come from the threads' arenas and
/// stay there after they are freed, adding to every later peak.
pub fn tune_allocator() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only changes the allocator's thresholds; it is called
    // before any thread starts.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 4 << 20);
    }
}

/// Hands the memory the last phase freed back to the system. The heap walk
/// and type propagation build many short-lived vectors (one per span, per
/// batch); glibc keeps their space in its arenas, where it would count in
/// the peak of every later phase.
fn release_free_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only returns free pages of the allocator's own
    // arenas to the kernel.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// All roots, in group order: globals, goroutines, finalizers, other.
pub fn collect_roots(p: &Process, heap: &Heap) -> Result<(Vec<Root>, Vec<String>)> {
    let (mut roots, mut warnings) = global_roots(p, heap)?;
    let (gs, goroutine_warnings) = goroutine_roots(p, heap)?;
    roots.extend(gs);
    warnings.extend(goroutine_warnings);
    roots.extend(special_roots(p, heap)?);
    roots.extend(queued_finalizer_roots(p, heap)?);
    roots.extend(tiny_block_roots(p, heap)?);
    Ok((roots, warnings))
}
