//! Breadth-first search from all roots together: level by level, each
//! object claimed once by its first path (ties: root order, then slot
//! order). Iterative: the tree's node array is the queue.

use rayon::prelude::*;

use crate::heap::{prefetch, Heap};
use crate::roots::{Group, Root};

use super::tree::{Labels, Tree, NOT_OBJECT, NO_LINK, NO_PARENT};

/// Nodes whose edges are read in one parallel batch.
const BATCH_NODES: usize = 1 << 16;
/// Nodes per parallel work unit.
const CHUNK_NODES: usize = 512;

/// A target not visited when its batch started, with the node and
/// pointer that lead to it.
#[derive(Clone, Copy)]
struct Found {
    node: u32,
    obj: u32,
    off: u32,
    size: u64,
}

/// Builds the tree from the roots, in group order then the order given.
pub fn build_tree(heap: &Heap, roots: &[Root]) -> Tree {
    let mut tree = Tree::new(Labels::new());
    let mut visited = vec![0u64; heap.len().div_ceil(64)];
    let mut root_nodes = Vec::with_capacity(roots.len());
    for g in Group::ALL {
        let members: Vec<&Root> = roots.iter().filter(|r| r.group == g).collect();
        if members.is_empty() {
            continue;
        }
        let label = tree.labels.intern(g.name());
        let gnode = tree.push(NO_PARENT, NOT_OBJECT, label, 0);
        for r in members {
            let label = tree.labels.intern(&r.name);
            let rnode = tree.push(gnode, NOT_OBJECT, label, 0);
            if !r.tag.is_empty() {
                let tag = tree.labels.intern(&r.tag);
                tree.tags.insert(rnode, tag);
            }
            root_nodes.push((rnode, r));
        }
    }
    tree.reserve(heap.len());
    let claim = |visited: &mut [u64], o: u32| {
        let (w, b) = ((o / 64) as usize, o % 64);
        let new = visited[w] >> b & 1 == 0;
        visited[w] |= 1 << b;
        new
    };
    // Level 1: every root's direct targets.
    for (rnode, r) in root_nodes {
        for t in &r.targets {
            if claim(&mut visited, t.obj) {
                let link = t.link.as_deref().map_or(NO_LINK, |l| tree.labels.intern(l));
                tree.push(rnode, t.obj, link, heap.size(t.obj));
            }
        }
    }
    // Deeper levels: the node array is the FIFO queue, taken a batch of
    // nodes at a time. Reading the batch's edges (scattered over the
    // heap's tables) runs in parallel and keeps the targets not yet
    // visited; claiming them stays serial, in node then edge order, so the
    // tree is the same on any number of threads.
    let mut next = tree.first_object as usize;
    let mut found = Vec::new();
    while next < tree.len() {
        let end = tree.len().min(next + BATCH_NODES);
        let seen = &visited;
        let objs = &tree.obj[next..end];
        let scan = |first: usize, chunk: &[u32], out: &mut Vec<Found>| {
            for (k, &o) in chunk.iter().enumerate() {
                if let Some(&ahead) = chunk.get(k + 8) {
                    heap.prefetch_edge_range(ahead);
                }
                let node = (first + k) as u32;
                for (off, t) in heap.edges_of(o) {
                    if seen[(t / 64) as usize] >> (t % 64) & 1 == 0 {
                        out.push(Found { node, obj: t, off, size: heap.size(t) });
                    }
                }
            }
        };
        found.clear();
        if objs.len() <= CHUNK_NODES {
            // A narrow queue (the tail of a linked list): not worth a
            // parallel pass.
            scan(next, objs, &mut found);
        } else {
            found.par_extend(objs.par_chunks(CHUNK_NODES).enumerate().flat_map_iter(|(c, chunk)| {
                let mut out = Vec::new();
                scan(next + c * CHUNK_NODES, chunk, &mut out);
                out
            }));
        }
        for k in 0..found.len() {
            if let Some(ahead) = found.get(k + 16) {
                prefetch(&visited[(ahead.obj / 64) as usize]);
            }
            let f = found[k];
            if claim(&mut visited, f.obj) {
                tree.push(f.node, f.obj, f.off, f.size);
            }
        }
        next = end;
    }
    tree.sum();
    tree.reached = visited;
    tree
}
