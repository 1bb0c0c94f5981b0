//! The main job, phase by phase: image → Go metadata → heap → roots →
//! names → tree.

use anyhow::Result;

use super::progress::phase;
use crate::graph::{build_tree, Tree};
use crate::heap::Heap;
use crate::image::Image;
use crate::infer::{Inference, TypeNamer};
use crate::roots::{global_roots, goroutine_roots, queued_finalizer_roots, special_roots, tiny_block_roots, Root};
use crate::runtime::Process;

/// What the pipeline found, for the caller to render and report.
pub struct Analysis {
    /// The reference tree.
    pub tree: Tree,
    /// Objects and bytes in the heap.
    pub heap_objects: u64,
    pub heap_bytes: u64,
    /// Objects reached from the roots, and their bytes.
    pub reached_objects: u64,
    pub reached_bytes: u64,
    /// Reached objects named by an inferred type, and their bytes.
    pub typed_objects: u64,
    pub typed_bytes: u64,
    /// Warnings gathered on the way.
    pub warnings: Vec<String>,
}

/// Runs everything from an opened image to the tree.
pub fn analyze(image: &Image) -> Result<Analysis> {
    let p = phase("reading Go metadata", || Process::new(image))?;
    let heap = phase("walking the heap", || Heap::build(&p))?;
    let (roots, root_warnings) = phase("finding roots", || collect_roots(&p, &heap))?;
    let inference = phase("inferring types", || Inference::run(&p, &heap, &roots));
    let mut namer = TypeNamer::new(&inference);
    let tree = phase("building the reference tree", || build_tree(&heap, &roots, &mut namer));
    let reached_objects = tree.kind.iter().filter(|k| matches!(k, crate::graph::NodeKind::Object(_))).count() as u64;
    let reached_bytes = tree.grand_total();
    let mut warnings = p.warnings.clone();
    warnings.extend(heap.warnings.iter().cloned());
    warnings.extend(root_warnings);
    Ok(Analysis {
        heap_objects: heap.len() as u64,
        heap_bytes: heap.bytes(),
        reached_objects,
        reached_bytes,
        typed_objects: namer.typed_objects,
        typed_bytes: namer.typed_bytes,
        tree,
        warnings,
    })
}

/// All roots, in group order: globals, goroutines, finalizers, other.
pub fn collect_roots(p: &Process, heap: &Heap) -> Result<(Vec<Root>, Vec<String>)> {
    let mut roots = global_roots(p, heap)?;
    let (gs, warnings) = goroutine_roots(p, heap)?;
    roots.extend(gs);
    roots.extend(special_roots(p, heap)?);
    roots.extend(queued_finalizer_roots(p, heap)?);
    roots.extend(tiny_block_roots(p, heap)?);
    Ok((roots, warnings))
}
