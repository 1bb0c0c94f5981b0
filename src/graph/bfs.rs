//! Breadth-first search from all roots together: level by level, each
//! object claimed once by its first path (ties: root order, then slot
//! order). Iterative: the tree's node array is the queue.

use crate::heap::Heap;
use crate::roots::{Group, Root};

use super::tree::{Labels, Tree, NOT_OBJECT, NO_LINK, NO_PARENT};

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
    // Deeper levels: the node array is the FIFO queue.
    let mut next = tree.first_object as usize;
    while next < tree.len() {
        let o = tree.obj[next];
        for (off, t) in heap.edges_of(o) {
            if claim(&mut visited, t) {
                tree.push(next as u32, t, off, heap.size(t));
            }
        }
        next += 1;
    }
    tree.sum();
    tree
}
