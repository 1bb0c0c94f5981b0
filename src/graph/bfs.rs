//! Breadth-first search from all roots together: level by level, each
//! object claimed once by its first path (ties: root order, then slot
//! order). Iterative: the tree's node array is the queue.

use crate::heap::Heap;
use crate::roots::{Group, Root};

use super::tree::{LabelId, Labels, NodeKind, Tree, NO_LINK};

/// Names objects and links while the tree is built.
pub trait Namer {
    /// The frame label of object `obj`.
    fn object(&mut self, labels: &mut Labels, obj: u32) -> LabelId;
    /// The link label of the pointer at byte `offset` of object `src`.
    fn link(&mut self, labels: &mut Labels, src: u32, offset: u32) -> LabelId;
}

/// Builds the tree from the roots, in group order then the order given.
pub fn build_tree(heap: &Heap, roots: &[Root], namer: &mut dyn Namer) -> Tree {
    let mut tree = Tree::new(Labels::new());
    let mut visited = vec![0u64; heap.len().div_ceil(64)];
    let mut claim = |o: u32| {
        let (w, b) = ((o / 64) as usize, o % 64);
        let new = visited[w] >> b & 1 == 0;
        visited[w] |= 1 << b;
        new
    };
    let mut root_nodes = Vec::with_capacity(roots.len());
    for g in Group::ALL {
        let members: Vec<&Root> = roots.iter().filter(|r| r.group == g).collect();
        if members.is_empty() {
            continue;
        }
        let label = tree.labels.intern(g.name());
        let gnode = tree.push(u32::MAX, NodeKind::Group, label, NO_LINK, 0, 0);
        for r in members {
            let label = tree.labels.intern(&r.name);
            let rnode = tree.push(gnode, NodeKind::Root, label, NO_LINK, 0, 0);
            if !r.tag.is_empty() {
                let tag = tree.labels.intern(&r.tag);
                tree.tags.insert(rnode, tag);
            }
            root_nodes.push((rnode, r));
        }
    }
    // Level 1: every root's direct targets.
    for (rnode, r) in root_nodes {
        for t in &r.targets {
            let obj = t.obj;
            if claim(obj) {
                let label = namer.object(&mut tree.labels, obj);
                let link = t.link.as_deref().map_or(NO_LINK, |l| tree.labels.intern(l));
                tree.push(rnode, NodeKind::Object(obj), label, link, heap.addrs[obj as usize], heap.sizes[obj as usize]);
            }
        }
    }
    // Deeper levels: the node array is the FIFO queue.
    let mut next = 0;
    while next < tree.len() {
        if let NodeKind::Object(o) = tree.kind[next] {
            for (off, t) in heap.edges_of(o) {
                if claim(t) {
                    let label = namer.object(&mut tree.labels, t);
                    let link = namer.link(&mut tree.labels, o, off);
                    tree.push(next as u32, NodeKind::Object(t), label, link, heap.addrs[t as usize], heap.sizes[t as usize]);
                }
            }
        }
        next += 1;
    }
    tree.sum();
    tree
}
