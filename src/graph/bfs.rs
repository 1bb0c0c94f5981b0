//! Breadth-first search from all roots together: level by level, each
//! object claimed once by its first path (ties: root order, then slot
//! order). Iterative: the tree's node array is the queue.

use rayon::prelude::*;

use crate::heap::{prefetch, Edges, Heap};
use crate::roots::{Group, Root};

use super::tree::{Labels, Tree, NO_LINK, NO_PARENT};

/// Nodes taken from the queue at a time.
const BATCH_NODES: usize = 1 << 16;
/// Edges read in one parallel pass (bounds the targets held at once).
const BATCH_EDGES: usize = 1 << 20;
/// Edges per work unit (a node's edges are split into units).
const UNIT_EDGES: usize = 4096;
/// Pieces a batch of edges is read in, at most.
const PIECES: usize = 32;
/// Nodes whose edge ranges are looked up in parallel, at least.
const PAR_NODES: usize = 4096;

/// A target not visited when its group was read, with the node and
/// pointer that lead to it.
#[derive(Clone, Copy)]
struct Found {
    node: u32,
    obj: u32,
}

/// Builds the tree from the roots, in group order then the order given,
/// along `edges`, and frees them (the subtree totals, from [`Tree::sum`],
/// can reuse their memory).
pub fn build_tree(heap: &Heap, edges: Edges, roots: &[Root]) -> Tree {
    let mut tree = Tree::new(Labels::new());
    let mut visited = vec![0u64; heap.len().div_ceil(64)];
    let mut root_nodes = Vec::with_capacity(roots.len());
    for g in Group::ALL {
        let members: Vec<&Root> = roots.iter().filter(|r| r.group == g).collect();
        if members.is_empty() {
            continue;
        }
        let label = tree.labels.intern(g.name());
        let gnode = tree.push_root(NO_PARENT, label);
        for r in members {
            let label = tree.labels.intern(&r.name);
            let rnode = tree.push_root(gnode, label);
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
                tree.push_root_target(rnode, t.obj, link);
            }
        }
    }
    // Deeper levels: the node array is the FIFO queue, taken one node at a
    // time while it is short, else a batch of nodes at a time, their edges
    // in groups of at most BATCH_EDGES (a node with millions of pointers
    // spans several groups). Reading a group's edges (scattered over the
    // heap's tables) runs in parallel and keeps the targets not yet
    // visited; claiming them stays serial, in node then edge order, so the
    // tree is the same on any number of threads.
    let mut next = tree.first_object as usize;
    let mut units: Vec<(u32, usize, usize)> = Vec::new();
    let mut found: Vec<Vec<Found>> = Vec::new();
    let mut cuts: Vec<usize> = Vec::new();
    while next < tree.len() {
        // A short queue (the tail of a linked list): node by node, claiming
        // as it goes, until the queue grows or a node with many edges
        // comes. The same claims in the same order as in batches.
        while next < tree.len() && tree.len() - next < PAR_NODES {
            let (a, b) = edges.range(tree.obj[next]);
            if b - a > UNIT_EDGES {
                break;
            }
            for &obj in edges.targets(a, b) {
                if claim(&mut visited, obj) {
                    tree.push_object(next as u32, obj);
                }
            }
            next += 1;
        }
        if next >= tree.len() {
            break;
        }
        let end = tree.len().min(next + BATCH_NODES);
        // The nodes' edge ranges (scattered reads) in parallel, then cut
        // into units.
        let ranges: Vec<(usize, usize)> = if end - next >= PAR_NODES {
            tree.obj[next..end].par_iter().map(|&o| edges.range(o)).collect()
        } else {
            tree.obj[next..end].iter().map(|&o| edges.range(o)).collect()
        };
        units.clear();
        for (n, (mut a, b)) in (next..end).zip(ranges) {
            while a < b {
                let e = (a + UNIT_EDGES).min(b);
                units.push((n as u32, a, e));
                a = e;
            }
        }
        let mut i = 0;
        while i < units.len() {
            let (mut j, mut count) = (i, 0);
            while j < units.len() && count < BATCH_EDGES {
                count += units[j].2 - units[j].1;
                j += 1;
            }
            let seen = &visited;
            let scan = |out: &mut Vec<Found>, units: &[(u32, usize, usize)]| {
                out.clear();
                for &(node, a, b) in units {
                    for &obj in edges.targets(a, b) {
                        if seen[(obj / 64) as usize] >> (obj % 64) & 1 == 0 {
                            out.push(Found { node, obj });
                        }
                    }
                }
            };
            // The batch in pieces of about equal edges, each read into its
            // own list (kept from batch to batch: no memory is allocated
            // once they have grown), in order.
            cuts.clear();
            cuts.push(i);
            let per = count.div_ceil(PIECES).max(UNIT_EDGES);
            let mut acc = 0;
            for (k, u) in units[i..j].iter().enumerate() {
                acc += u.2 - u.1;
                if acc >= per && i + k + 1 < j {
                    cuts.push(i + k + 1);
                    acc = 0;
                }
            }
            cuts.push(j);
            let parts = cuts.len() - 1;
            if found.len() < parts {
                found.resize_with(parts, Vec::new);
            }
            if parts == 1 {
                // Few edges: not worth a parallel pass.
                scan(&mut found[0], &units[i..j]);
            } else {
                let cuts = &cuts;
                let units = &units;
                found[..parts].par_iter_mut().enumerate().for_each(|(p, out)| scan(out, &units[cuts[p]..cuts[p + 1]]));
            }
            for part in &found[..parts] {
                for (k, f) in part.iter().enumerate() {
                    if let Some(ahead) = part.get(k + 16) {
                        prefetch(&visited[(ahead.obj / 64) as usize]);
                    }
                    if claim(&mut visited, f.obj) {
                        tree.push_object(f.node, f.obj);
                    }
                }
            }
            i = j;
        }
        next = end;
    }
    drop(edges);
    tree.seal();
    tree.reached = visited;
    tree
}
