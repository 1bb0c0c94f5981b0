//! The dominator tree of the reachable object graph, for retained sizes:
//! an object's retained bytes are those that would become unreachable if
//! it were freed — its own and those of every object it dominates.
//!
//! The graph has one virtual top above all roots, each root as a node of
//! its own (so a root's retained bytes are a row), and the heap's edges.
//! The algorithm is semi-NCA (Georgiadis): a depth-first numbering, semi-
//! dominators by Lengauer–Tarjan's evaluation with path compression, then
//! each immediate dominator as the nearest common ancestor of the DFS
//! parent and the semi-dominator. Everything runs over arrays indexed by
//! DFS number with explicit stacks: no recursion, however long the chains.
//!
//! Memory is what bounds it on large heaps, so each array lives only as
//! long as it is read. Of a node's predecessors only the edges that are
//! not its DFS tree edge are listed (noted during the search, sorted by
//! target; most objects have one referrer, their DFS parent), and the
//! path compression keeps, instead of the label node, the least semi-
//! dominator on the compressed path (semi-NCA never needs the node).
//! A node's semi-dominator is its parent unless it has listed edges, so
//! only those nodes' are kept, each in place of one of its listed edges.
//! Per reached node: 12 bytes during the search (first successor, then
//! number, of each vertex; vertex and parent of each node) and 2 bits a
//! vertex, plus 8 a frame of search depth (only nodes with edges left to
//! read have a frame), 16 for the semi-dominators
//! (vertex, parent, ancestor, best) plus 8 per listed edge, 16 kept after
//! (vertex, immediate dominator, retained bytes in words and objects), 20
//! as lists of children ([`DomTree`]).

use rayon::prelude::*;

use crate::heap::{prefetch, Edges};

/// "None" in the arrays below.
const NONE: u32 = u32::MAX;

/// Forward edges of the heap's objects, for the search.
pub trait Successors {
    /// Targets of object `obj`'s edges.
    fn of(&self, obj: u32) -> &[u32];

    /// A hint that [`Successors::of`] will soon be asked for `obj`.
    fn prefetch(&self, _obj: u32) {}

    /// A hint that `obj`'s targets will soon be read (a while after
    /// [`Successors::prefetch`]: this one finds where they are).
    fn prefetch_targets(&self, _obj: u32) {}
}

impl Successors for Edges {
    fn of(&self, obj: u32) -> &[u32] {
        let (a, b) = self.range(obj);
        self.targets(a, b)
    }

    fn prefetch(&self, obj: u32) {
        self.prefetch_range(obj);
    }

    fn prefetch_targets(&self, obj: u32) {
        let (a, b) = self.range(obj);
        if let Some(t) = self.targets(a, b).get(1) {
            prefetch(t);
        }
    }
}

impl Successors for Vec<Vec<u32>> {
    fn of(&self, obj: u32) -> &[u32] {
        &self[obj as usize]
    }
}

/// What a dominator-tree node stands for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DomNode {
    /// The virtual top above all roots.
    Top,
    /// Root `i` (its index in the roots given).
    Root(u32),
    /// Heap object `i`.
    Object(u32),
}

/// Runs one named step of the computation (for timing it); the steps are
/// "dfs", "preds", "semi", "idom" and "retained", in this order.
pub type Step<'s> = dyn FnMut(&'static str, &mut dyn FnMut()) + 's;

/// The dominator tree and retained sizes. Nodes are numbered in DFS
/// preorder from the top (node 0): a node's immediate dominator has a
/// smaller number than it.
pub struct Dominators {
    nodes: Nodes,
    /// Node of each root, [`NONE`] if it has no targets.
    root_node: Vec<u32>,
    /// Immediate dominator of each node (the top's is itself).
    idom: Vec<u32>,
}

/// What the dominator tree's nodes are and retain, in either form of the
/// tree ([`Dominators`], [`DomTree`]).
pub struct Nodes {
    /// Vertex of each node: 0 the top, 1 + i root i, 1 + roots + o
    /// object o.
    vertex: Vec<u32>,
    /// Retained bytes and objects of each node.
    retained: Bytes,
    retained_objects: Vec<u32>,
    roots: u32,
}

impl Nodes {
    /// Number of nodes (the top, reached roots and objects).
    pub fn len(&self) -> usize {
        self.vertex.len()
    }

    /// Whether only the top is there.
    pub fn is_empty(&self) -> bool {
        self.vertex.len() <= 1
    }

    /// What node `n` is.
    pub fn kind(&self, n: u32) -> DomNode {
        match self.vertex[n as usize] {
            0 => DomNode::Top,
            v if v <= self.roots => DomNode::Root(v - 1),
            v => DomNode::Object(v - 1 - self.roots),
        }
    }

    /// Bytes freed if node `n` were: its own and all it dominates.
    pub fn retained(&self, n: u32) -> u64 {
        self.retained.get(n)
    }

    /// Objects freed if node `n` were (itself included).
    pub fn retained_objects(&self, n: u32) -> u64 {
        u64::from(self.retained_objects[n as usize])
    }
}

impl std::ops::Deref for Dominators {
    type Target = Nodes;
    fn deref(&self) -> &Nodes {
        &self.nodes
    }
}

impl std::ops::Deref for DomTree {
    type Target = Nodes;
    fn deref(&self) -> &Nodes {
        &self.nodes
    }
}

/// Retained bytes of each node: in 8-byte words while the reached objects'
/// sizes are all multiples of 8 (Go's size classes and pages are) and
/// their sum fits 32 bits of words (heaps under 32 GiB), else in bytes.
enum Bytes {
    Words(Vec<u32>),
    Bytes(Vec<u64>),
}

impl Bytes {
    /// Node `n`'s.
    fn get(&self, n: u32) -> u64 {
        match self {
            Bytes::Words(w) => u64::from(w[n as usize]) * 8,
            Bytes::Bytes(b) => b[n as usize],
        }
    }
}

/// Adds each node's total into its dominator's, children (larger numbers)
/// first.
fn sum_up<T: Copy + std::ops::AddAssign>(idom: &[u32], totals: &mut [T], objects: &mut [u32]) {
    for w in (1..idom.len()).rev() {
        let d = idom[w] as usize;
        let t = totals[w];
        totals[d] += t;
        objects[d] += objects[w];
    }
}

/// The depth-first search's result.
struct Search {
    /// Vertex and DFS parent of each node.
    vertex: Vec<u32>,
    parent: Vec<u32>,
    /// Node of each root.
    root_node: Vec<u32>,
    /// The edges other than tree edges, `target << 32 | source` by node.
    others: Vec<u64>,
}

impl Dominators {
    /// Computes the dominator tree of `roots` (each root's target
    /// objects) and the edges in `succ` of `objects` objects, and retained
    /// sizes from `size` (each object's own bytes). None if the graph has
    /// more than 4G nodes or edges.
    pub fn compute<S: Successors + Sync + ?Sized>(roots: &[Vec<u32>], objects: usize, succ: &S, size: &(dyn Fn(u32) -> u64 + Sync)) -> Option<Dominators> {
        Self::compute_in_steps(roots, objects, succ, size, &mut |_, f| f())
    }

    /// [`Dominators::compute`], each step run by `step`. Generic in the
    /// successors so that the search, which reads an object's edges at
    /// every step, has their lookup inlined.
    pub fn compute_in_steps<S: Successors + Sync + ?Sized>(
        roots: &[Vec<u32>],
        objects: usize,
        succ: &S,
        size: &(dyn Fn(u32) -> u64 + Sync),
        step: &mut Step,
    ) -> Option<Dominators> {
        let vertices = 1 + roots.len() + objects;
        if vertices >= NONE as usize {
            return None;
        }
        let mut search = None;
        step("dfs", &mut || search = Some(depth_first(roots, succ, vertices)));
        let Search { vertex, parent, root_node, mut others } = search??;
        let nodes = vertex.len();

        // Each node's listed predecessors together, in node order.
        step("preds", &mut || others.par_sort_unstable());

        // The semi-dominators of the nodes with listed predecessors, in
        // the first of each one's entries (the others' equal their parent).
        let mut room = Vec::new();
        step("semi", &mut || room = semi_dominators(&parent, &mut others));

        let mut idom = Vec::new();
        step("idom", &mut || {
            // The DFS parent, walked up the dominators found so far until
            // at or above the semi-dominator.
            idom = std::mem::take(&mut room);
            idom[0] = 0;
            let mut at = 0;
            for w in 1..nodes {
                while at < others.len() && ((others[at] >> 32) as usize) < w {
                    at += 1;
                }
                let mut d = parent[w];
                let s = match others.get(at) {
                    Some(&e) if (e >> 32) as usize == w => e as u32,
                    _ => d,
                };
                while d > s {
                    d = idom[d as usize];
                }
                idom[w] = d;
            }
            others = Vec::new();
        });
        drop(parent);

        let mut sums = None;
        let base = 1 + roots.len() as u32;
        step("retained", &mut || {
            let own = |v: u32| if v >= base { size(v - base) } else { 0 };
            let mut objects: Vec<u32> = vertex.par_iter().map(|&v| u32::from(v >= base)).collect();
            let (total, whole_words) =
                vertex.par_iter().map(|&v| own(v)).fold(|| (0u64, true), |(t, w), b| (t.saturating_add(b), w && b % 8 == 0)).reduce(
                    || (0, true),
                    |a, b| (a.0.saturating_add(b.0), a.1 && b.1),
                );
            let bytes = if whole_words && total / 8 <= u64::from(u32::MAX) {
                let mut words: Vec<u32> = vertex.par_iter().map(|&v| (own(v) / 8) as u32).collect();
                sum_up(&idom, &mut words, &mut objects);
                Bytes::Words(words)
            } else {
                let mut bytes: Vec<u64> = vertex.par_iter().map(|&v| own(v)).collect();
                sum_up(&idom, &mut bytes, &mut objects);
                Bytes::Bytes(bytes)
            };
            sums = Some((bytes, objects));
        });
        let (retained, retained_objects) = sums?;
        let nodes = Nodes { vertex, retained, retained_objects, roots: roots.len() as u32 };
        Some(Dominators { nodes, root_node, idom })
    }

    /// The node of object `obj`, if reached. A search through all nodes
    /// (no table from objects to nodes is kept): for a few objects.
    pub fn object(&self, obj: u32) -> Option<u32> {
        let v = obj.checked_add(1 + self.roots)?;
        self.vertex.par_iter().position_first(|&x| x == v).map(|n| n as u32)
    }

    /// The nodes of objects `objs` (None for those not reached), in one
    /// search through all nodes.
    pub fn objects(&self, objs: &[u32]) -> Vec<Option<u32>> {
        let mut at: std::collections::HashMap<u32, Vec<usize>> = Default::default();
        for (i, &o) in objs.iter().enumerate() {
            if let Some(v) = o.checked_add(1 + self.roots) {
                at.entry(v).or_default().push(i);
            }
        }
        let mut out = vec![None; objs.len()];
        for (n, v) in self.vertex.iter().enumerate() {
            for &i in at.get(v).into_iter().flatten() {
                out[i] = Some(n as u32);
            }
        }
        out
    }

    /// The node of root `i`, if it has targets.
    pub fn root(&self, i: u32) -> Option<u32> {
        let n = *self.root_node.get(i as usize)?;
        (n != NONE).then_some(n)
    }

    /// Node `n`'s immediate dominator (the top's is the top).
    pub fn idom(&self, n: u32) -> u32 {
        self.idom[n as usize]
    }

    /// The tree as lists of children, made in place of the immediate
    /// dominators (4 bytes a node more): for walks down the tree.
    pub fn into_tree(self) -> DomTree {
        let Dominators { nodes, root_node: _, idom } = self;
        let n = nodes.len();
        let mut first = vec![NONE; n];
        // Each node, from the last, goes to the front of its dominator's
        // list: the lists come out in node order, and the slot of a node
        // is read as its dominator before it becomes its next sibling.
        let mut next = idom;
        for w in (1..n).rev() {
            let d = next[w] as usize;
            next[w] = first[d];
            first[d] = w as u32;
        }
        if n > 0 {
            next[0] = NONE;
        }
        DomTree { nodes, first, next }
    }
}

/// The dominator tree with retained sizes, as lists of children: a node's
/// first child, and each node's next sibling (in node order).
pub struct DomTree {
    nodes: Nodes,
    first: Vec<u32>,
    next: Vec<u32>,
}

impl DomTree {
    /// Node `n`'s children, in node order.
    pub fn children(&self, n: u32) -> impl Iterator<Item = u32> + '_ {
        let mut at = self.first[n as usize];
        std::iter::from_fn(move || {
            let c = at;
            (c != NONE).then(|| {
                at = self.next[c as usize];
                c
            })
        })
    }

    /// Nodes in node `n`'s subtree, itself included (only the top has
    /// roots below it, and a root counts no objects of its own).
    pub fn subtree_len(&self, n: u32) -> u64 {
        match self.kind(n) {
            DomNode::Top => self.len() as u64,
            DomNode::Root(_) => 1 + self.retained_objects(n),
            DomNode::Object(_) => self.retained_objects(n),
        }
    }

    /// Visits every node in preorder of the tree (children in node
    /// order), each with its position in that order; iterative, the stack
    /// holding only the later siblings still to visit of the nodes above.
    pub fn preorder(&self, mut visit: impl FnMut(u32, u64)) {
        if self.len() == 0 {
            return;
        }
        let mut pending: Vec<u32> = Vec::new();
        let mut at = 0u32;
        let mut pos = 0u64;
        loop {
            visit(at, pos);
            pos += 1;
            let (child, sibling) = (self.first[at as usize], if at == 0 { NONE } else { self.next[at as usize] });
            at = if child != NONE {
                if sibling != NONE {
                    pending.push(sibling);
                }
                child
            } else if sibling != NONE {
                sibling
            } else {
                match pending.pop() {
                    Some(s) => s,
                    None => return,
                }
            };
        }
    }
}

/// One bit per vertex.
struct Bits(Vec<u64>);

impl Bits {
    fn new(n: usize) -> Bits {
        Bits(vec![0; n.div_ceil(64)])
    }

    #[inline]
    fn get(&self, i: u32) -> bool {
        self.0[i as usize / 64] >> (i % 64) & 1 != 0
    }

    #[inline]
    fn set(&mut self, i: u32) {
        self.0[i as usize / 64] |= 1 << (i % 64);
    }
}

/// Numbers the vertices depth-first (preorder) from the top, whose
/// successors are the roots, each root's its targets, each object's its
/// edges in `succ`. None if there are 4G edges or more.
///
/// The search is a chain of dependent memory reads: going down, a
/// vertex's first successor, whether that is numbered, then its first
/// successor… Reading an edge list costs two of them (where the list is,
/// then the list), so each vertex's first successor is copied beforehand
/// (in parallel) into the word that, once the vertex is numbered, holds
/// its number, and whether a vertex is numbered is a bit (a table small
/// enough for the caches). Going down is then one read a level; a list
/// is read whole only to resume a vertex with more successors, and that
/// read is asked for when the vertex is entered. A node with no edges
/// left has no frame to come back to (a list's nodes have none), and an
/// edge to a node numbered earlier is listed without reading its parent.
fn depth_first<S: Successors + Sync + ?Sized>(roots: &[Vec<u32>], succ: &S, vertices: usize) -> Option<Search> {
    let base = 1 + roots.len() as u32;
    let top: Vec<u32> = (1..base).collect();
    // The successors of vertex v are adj(v).0[k] + adj(v).1.
    let adj = |v: u32| -> (&[u32], u32) {
        match v {
            0 => (&top, 0),
            v if v < base => (&roots[v as usize - 1], base),
            v => (succ.of(v - base), base),
        }
    };
    // Per vertex: its first successor until numbered, then its node; and
    // whether it has more than one successor.
    let mut slot = vec![NONE; vertices];
    let mut multi = Bits::new(vertices);
    slot.par_chunks_mut(64).zip(multi.0.par_iter_mut()).enumerate().for_each(|(c, (slots, bits))| {
        for (i, x) in slots.iter_mut().enumerate() {
            let v = (c * 64 + i) as u32;
            let (edges, add) = adj(v);
            if let Some(&t) = edges.first() {
                *x = t + add;
            }
            *bits |= u64::from(edges.len() > 1) << i;
        }
    });
    let mut seen = Bits::new(vertices);
    // Reserved, not touched: only the nodes reached take memory.
    let mut vertex: Vec<u32> = Vec::with_capacity(vertices);
    let mut parent: Vec<u32> = Vec::with_capacity(vertices);
    let mut others: Vec<u64> = Vec::new();
    // The nodes above the current one with edges left, each with where
    // its edges resume.
    let mut stack: Vec<(u32, u32)> = Vec::new();
    let mut total = 0u64;
    // An edge from node n to numbered node m: listed unless it is the
    // tree edge (or a copy of it: a node's parent is numbered before it)
    // or a loop, as a predecessor the semi-dominators must look at.
    let list = |others: &mut Vec<u64>, parent: &[u32], m: u32, n: u32| {
        if m != n && (m < n || parent[m as usize] != n) {
            others.push(u64::from(m) << 32 | u64::from(n));
        }
    };
    // The vertex to number next and its parent node.
    let mut enter = Some((0u32, 0u32));
    // The object last entered with more than one edge: its targets are
    // asked for one step later, once where they are has come in.
    let mut pending = None;
    loop {
        if let Some(o) = pending.take() {
            succ.prefetch_targets(o);
        }
        if let Some((w, p)) = enter.take() {
            let m = vertex.len() as u32;
            let first = std::mem::replace(&mut slot[w as usize], m);
            seen.set(w);
            vertex.push(w);
            parent.push(p);
            if first == NONE {
                continue;
            }
            let more = multi.get(w);
            if more {
                stack.push((m, 1));
                if w >= base {
                    succ.prefetch(w - base);
                    pending = Some(w - base);
                }
            } else {
                total += 1;
            }
            prefetch(&slot[first as usize]);
            if seen.get(first) {
                list(&mut others, &parent, slot[first as usize], m);
            } else {
                enter = Some((first, m));
            }
            continue;
        }
        let Some((n, at)) = stack.pop() else { break };
        let (edges, add) = adj(vertex[n as usize]);
        if at == 1 {
            total += edges.len() as u64;
            if edges.len() >= NONE as usize {
                return None;
            }
        }
        for (k, &t) in edges.iter().enumerate().skip(at as usize) {
            let v = t + add;
            if !seen.get(v) {
                if k + 1 < edges.len() {
                    stack.push((n, k as u32 + 1));
                }
                enter = Some((v, n));
                break;
            }
            list(&mut others, &parent, slot[v as usize], n);
        }
    }
    if total >= u64::from(NONE) {
        return None;
    }
    let root_node = (1..base).map(|v| if seen.get(v) { slot[v as usize] } else { NONE }).collect();
    drop(slot);
    vertex.shrink_to_fit();
    parent.shrink_to_fit();
    Some(Search { vertex, parent, root_node, others })
}

/// The semi-dominator of each node, from the DFS parents and the other
/// predecessors (`target << 32 | source`, sorted), in reverse preorder;
/// each node is linked to its DFS parent once done, so the nodes linked
/// are exactly those after the one at hand. A node without other
/// predecessors has its parent for semi-dominator; that of a node with
/// some replaces the first of its entries (`node << 32 | semi`). Returns
/// an array of a `u32` per node for the caller to reuse.
fn semi_dominators(parent: &[u32], others: &mut [u64]) -> Vec<u32> {
    let nodes = parent.len();
    // For linked nodes: an ancestor in the forest, and the least
    // semi-dominator on the path up to it (compressed as it is walked).
    let mut ancestor: Vec<u32> = vec![0; nodes];
    let mut best: Vec<u32> = vec![0; nodes];
    let mut path: Vec<u32> = Vec::new();
    let mut end = others.len();
    for w in (1..nodes).rev() {
        // The DFS parent is a predecessor; an unlinked predecessor (one
        // before w) counts as itself.
        let mut s = parent[w];
        let last = end;
        while end > 0 && (others[end - 1] >> 32) as usize == w {
            end -= 1;
            let v = others[end] as u32;
            let e = if v as usize > w { eval(v, w as u32, &mut ancestor, &mut best, &mut path) } else { v };
            s = s.min(e);
        }
        if end < last {
            others[end] = (w as u64) << 32 | u64::from(s);
        }
        ancestor[w] = parent[w];
        best[w] = s;
    }
    drop(ancestor);
    best
}

/// Lengauer–Tarjan's EVAL for a linked node `v`, while node `w` is done:
/// the least semi-dominator on the forest path from `v` up to (not
/// including) its forest root, the first unlinked node (`<= w`) above it;
/// compresses the path. Iterative, `path` a reusable stack.
fn eval(v: u32, w: u32, ancestor: &mut [u32], best: &mut [u32], path: &mut Vec<u32>) -> u32 {
    // Nodes whose ancestor is linked, from v up.
    path.clear();
    let mut u = v;
    while ancestor[u as usize] > w {
        path.push(u);
        u = ancestor[u as usize];
    }
    // From the top down: each takes its ancestor's best if less, then
    // points past it.
    while let Some(x) = path.pop() {
        let a = ancestor[x as usize] as usize;
        if best[a] < best[x as usize] {
            best[x as usize] = best[a];
        }
        ancestor[x as usize] = ancestor[a];
    }
    best[v as usize]
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Objects no longer reachable from the roots when `drop` is removed
    /// (itself included), by plain search.
    fn brute(roots: &[Vec<u32>], g: &[Vec<u32>], drop: Option<u32>) -> Vec<bool> {
        let mut seen = vec![false; g.len()];
        let mut todo: Vec<u32> = roots.iter().flatten().copied().filter(|&o| Some(o) != drop).collect();
        while let Some(o) = todo.pop() {
            if std::mem::replace(&mut seen[o as usize], true) {
                continue;
            }
            todo.extend(g[o as usize].iter().copied().filter(|&t| Some(t) != drop));
        }
        seen
    }

    /// A small pseudo-random graph: n objects, a few roots.
    fn graph(seed: u64, n: usize) -> (Vec<Vec<u32>>, Vec<Vec<u32>>) {
        let mut x = seed;
        let mut next = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        let g: Vec<Vec<u32>> = (0..n).map(|_| (0..next() % 4).map(|_| (next() % n as u64) as u32).collect()).collect();
        let roots: Vec<Vec<u32>> = (0..3).map(|_| (0..1 + next() % 3).map(|_| (next() % n as u64) as u32).collect()).collect();
        (roots, g)
    }

    #[test]
    fn retained_objects_match_removing_each_object() {
        for seed in 1..200u64 {
            let n = 2 + (seed as usize * 7) % 40;
            let (roots, g) = graph(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15), n);
            let d = Dominators::compute(&roots, g.len(), &g, &|o| 1 + u64::from(o)).unwrap();
            let all = brute(&roots, &g, None);
            for o in 0..n as u32 {
                let Some(node) = d.object(o) else {
                    assert!(!all[o as usize], "seed {seed}: object {o} reached but not numbered");
                    continue;
                };
                let after = brute(&roots, &g, Some(o));
                let lost: Vec<u32> = (0..n as u32).filter(|&k| all[k as usize] && !after[k as usize]).collect();
                let bytes: u64 = lost.iter().map(|&k| 1 + u64::from(k)).sum();
                assert_eq!(d.retained_objects(node), lost.len() as u64, "seed {seed}: object {o}");
                assert_eq!(d.retained(node), bytes, "seed {seed}: object {o}");
            }
        }
    }

    /// Immediate dominators of the vertices (0 the top, 1 + i root i,
    /// 1 + roots + o object o) by the plain iterative definition: a
    /// vertex's dominators are itself and those common to all its
    /// predecessors'; its immediate one is the dominator with the most
    /// dominators of its own. None for a vertex not reached.
    fn plain_idoms(roots: &[Vec<u32>], g: &[Vec<u32>]) -> Vec<Option<usize>> {
        let base = 1 + roots.len();
        let n = base + g.len();
        let mut succ: Vec<Vec<usize>> = vec![(1..base).collect()];
        succ.extend(roots.iter().map(|r| r.iter().map(|&t| base + t as usize).collect()));
        succ.extend(g.iter().map(|e| e.iter().map(|&t| base + t as usize).collect()));
        let mut reached = vec![false; n];
        let mut todo = vec![0];
        while let Some(v) = todo.pop() {
            if !std::mem::replace(&mut reached[v], true) {
                todo.extend(&succ[v]);
            }
        }
        let mut preds: Vec<Vec<usize>> = vec![Vec::new(); n];
        for v in (0..n).filter(|&v| reached[v]) {
            for &t in &succ[v] {
                preds[t].push(v);
            }
        }
        let mut dom: Vec<Vec<bool>> = (0..n).map(|v| (0..n).map(|u| v != 0 || u == 0).collect()).collect();
        let mut changed = true;
        while changed {
            changed = false;
            for v in (1..n).filter(|&v| reached[v]) {
                let mut d = vec![true; n];
                for &p in &preds[v] {
                    for u in 0..n {
                        d[u] &= dom[p][u];
                    }
                }
                d[v] = true;
                if d != dom[v] {
                    dom[v] = d;
                    changed = true;
                }
            }
        }
        let depth = |v: usize, dom: &Vec<Vec<bool>>| dom[v].iter().filter(|&&b| b).count();
        (0..n)
            .map(|v| match v {
                0 => Some(0),
                _ if !reached[v] => None,
                _ => (0..n).filter(|&u| u != v && dom[v][u]).max_by_key(|&u| depth(u, &dom)),
            })
            .collect()
    }

    /// The search's numbering against a plain recursive preorder (edges
    /// in order), and the immediate dominators against the plain iterative
    /// definition, on graphs with duplicate edges, loops, shared and
    /// empty roots.
    #[test]
    fn numbering_and_dominators_match_plain_definitions() {
        fn number(v: usize, succ: &dyn Fn(usize) -> Vec<usize>, order: &mut Vec<usize>, seen: &mut [bool]) {
            seen[v] = true;
            order.push(v);
            for t in succ(v) {
                if !seen[t] {
                    number(t, succ, order, seen);
                }
            }
        }
        for seed in 1..150u64 {
            let n = 1 + (seed as usize * 13) % 50;
            let (mut roots, mut g) = graph(seed.wrapping_mul(0xD1B5_4A32_D192_ED03), n);
            // Duplicates, loops, and a root without targets.
            g[seed as usize % n].push((seed as usize % n) as u32);
            let dup = g[(seed as usize * 3) % n].first().copied();
            g[(seed as usize * 3) % n].extend(dup);
            if seed % 3 == 0 {
                roots.push(Vec::new());
            }
            let d = Dominators::compute(&roots, g.len(), &g, &|_| 8).unwrap();
            let base = 1 + roots.len();
            let vertex_of = |node: u32| match d.kind(node) {
                DomNode::Top => 0,
                DomNode::Root(r) => 1 + r as usize,
                DomNode::Object(o) => base + o as usize,
            };
            let succ = |v: usize| -> Vec<usize> {
                match v {
                    0 => (1..base).collect(),
                    v if v < base => roots[v - 1].iter().map(|&t| base + t as usize).collect(),
                    v => g[v - base].iter().map(|&t| base + t as usize).collect(),
                }
            };
            let mut order = Vec::new();
            number(0, &succ, &mut order, &mut vec![false; base + n]);
            let numbered: Vec<usize> = (0..d.len() as u32).map(vertex_of).collect();
            assert_eq!(numbered, order, "seed {seed}: numbering");
            let plain = plain_idoms(&roots, &g);
            for node in 0..d.len() as u32 {
                let v = vertex_of(node);
                assert_eq!(Some(vertex_of(d.idom(node))), plain[v], "seed {seed}: idom of vertex {v}");
            }
            for (r, &p) in plain[1..base].iter().enumerate() {
                assert_eq!(d.root(r as u32).map(vertex_of), p.map(|_| 1 + r), "seed {seed}: root {r}");
            }
        }
    }

    #[test]
    fn a_chain_of_a_million_needs_no_recursion() {
        let n = 1_000_000u32;
        let g: Vec<Vec<u32>> = (0..n).map(|i| if i + 1 < n { vec![i + 1] } else { vec![0] }).collect();
        let d = Dominators::compute(&[vec![0]], g.len(), &g, &|_| 16).unwrap();
        assert_eq!(d.retained(d.root(0).unwrap()), 16 * u64::from(n));
        assert_eq!(d.retained_objects(d.object(n / 2).unwrap()), u64::from(n / 2));
    }

    /// Three objects of 32 GiB: more words than 32 bits hold, so the
    /// sizes are summed in bytes.
    #[test]
    fn retained_bytes_past_32_bits_of_words() {
        let g: Vec<Vec<u32>> = vec![vec![1], vec![2], vec![]];
        let d = Dominators::compute(&[vec![0]], g.len(), &g, &|_| 32 << 30).unwrap();
        assert_eq!(d.retained(0), 3 * (32 << 30));
        assert_eq!(d.retained(d.object(1).unwrap()), 2 * (32 << 30));
    }

    /// The tree's lists and preorder against the immediate dominators:
    /// each node's children are the nodes it immediately dominates, in
    /// node order, and each subtree is the run of positions from its node,
    /// `subtree_len` long, holding exactly the nodes it dominates.
    #[test]
    fn tree_lists_and_preorder_follow_the_dominators() {
        for seed in 1..100u64 {
            let n = 2 + (seed as usize * 11) % 60;
            let (roots, g) = graph(seed.wrapping_mul(0x2545_F491_4F6C_DD1D), n);
            let d = Dominators::compute(&roots, g.len(), &g, &|_| 8).unwrap();
            let len = d.len() as u32;
            let idom: Vec<u32> = (0..len).map(|w| d.idom(w)).collect();
            let dominates = |a: u32, mut w: u32| loop {
                if w == a {
                    return true;
                }
                if w == 0 {
                    return false;
                }
                w = idom[w as usize];
            };
            let t = d.into_tree();
            let mut pos = vec![u64::MAX; len as usize];
            t.preorder(|w, p| pos[w as usize] = p);
            assert!(pos.iter().all(|&p| p < u64::from(len)), "seed {seed}: a node not visited");
            for a in 0..len {
                let kids: Vec<u32> = t.children(a).collect();
                let want: Vec<u32> = (1..len).filter(|&w| idom[w as usize] == a).collect();
                assert_eq!(kids, want, "seed {seed}: children of {a}");
                let (lo, hi) = (pos[a as usize], pos[a as usize] + t.subtree_len(a));
                for w in 0..len {
                    let inside = (lo..hi).contains(&pos[w as usize]);
                    assert_eq!(inside, dominates(a, w), "seed {seed}: node {w} in the run of {a}");
                }
            }
        }
    }
}
