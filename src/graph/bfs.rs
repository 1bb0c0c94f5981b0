//! Breadth-first search from all roots together: level by level, each
//! object claimed once by its first path (ties: root order, then slot
//! order). Iterative: the tree's node array is the queue. Edges are read
//! and objects claimed in parallel, with the same result as one thread
//! reading and claiming in order.

use std::sync::atomic::{AtomicU64, Ordering, Ordering::Relaxed};

use rayon::prelude::*;

use crate::heap::{prefetch, CompactEdges, Edges, Heap, RESTART};
use crate::roots::{Group, Root, SUBJECT};

use super::tree::{Labels, Names, NodeKind, Tree, NO_LINK, NO_PARENT};

/// Nodes taken from the queue at a time.
const BATCH_NODES: usize = 1 << 16;
/// Bytes of coded edges read in one parallel pass (bounds the targets
/// held at once).
const BATCH_BYTES: usize = 1 << 20;
/// Bytes of coded edges per work unit (a node's edges are split into
/// units at restart points).
const UNIT_BYTES: usize = RESTART;
/// Pieces a batch of edges is read in, at most.
const PIECES: usize = 32;
/// Nodes whose edge ranges are looked up in parallel, at least.
const PAR_NODES: usize = 4096;
/// Found targets claimed in parallel, at least.
const PAR_CLAIMS: usize = 4096;
/// Objects of one owner's run when claiming in parallel: 8 words of the
/// visited bits, a cache line.
const OWNER_SHIFT: u32 = 9;

/// A target not visited when its group was read, with the node and
/// pointer (its byte offset in the node's object) that lead to it.
#[derive(Clone, Copy)]
struct Found {
    node: u32,
    obj: u32,
    offset: u32,
}

/// Builds the tree from the roots, in group order then the order given,
/// along `edges`, and frees them (coded smaller first, so that the tree
/// and the edges are smaller together; the subtree totals, from
/// [`Tree::sum`], can reuse their memory). Strong roots first: the weak ones (finalizers
/// and cleanups) get only what the strong ones do not reach. `names` gives
/// the type names that finalizer and cleanup roots are named after.
/// `reached` holds the objects reached so far, updated once per batch
/// (for a progress display).
pub fn build_tree(heap: &Heap, edges: Edges, roots: &[Root], names: &dyn Names, reached: &AtomicU64) -> Tree {
    let edges = {
        let compact = CompactEdges::new(&edges);
        drop(edges);
        compact
    };
    let mut tree = Tree::new(Labels::new());
    let visited: Vec<AtomicU64> = (0..heap.len().div_ceil(64)).map(|_| AtomicU64::new(0)).collect();
    let root_nodes = push_heads(&mut tree, roots, names);
    tree.reserve(heap.len());
    // Level 1: every strong root's direct targets.
    for &(rnode, r) in &root_nodes {
        if r.weak() {
            continue;
        }
        for t in &r.targets {
            if claim(&visited, t.obj) {
                let link = t.link.as_deref().map_or(NO_LINK, |l| tree.labels.intern(l));
                tree.push_root_target(rnode, t.obj, link);
            }
        }
    }
    let mut next = tree.first_object as usize;
    let mut scratch = Scratch::default();
    expand(&mut tree, &visited, &edges, &mut next, &mut scratch, reached);
    // Then the weak roots, for what is left.
    for &(rnode, r) in root_nodes.iter().filter(|(_, r)| r.weak()) {
        for t in &r.targets {
            if claim(&visited, t.obj) {
                let link = t.link.as_deref().map_or(NO_LINK, |l| tree.labels.intern(l));
                tree.push_late_target(rnode, t.obj, link);
            }
        }
    }
    expand(&mut tree, &visited, &edges, &mut next, &mut scratch, reached);
    drop(edges);
    tree.seal();
    tree.reached = visited.into_iter().map(AtomicU64::into_inner).collect();
    tree
}

/// Marks object `o` visited; whether it was new. Not atomic: no other
/// thread may claim an object of the same word meanwhile (claims run on
/// one thread, or each word has one owner).
#[inline]
fn claim(visited: &[AtomicU64], o: u32) -> bool {
    let (word, bit) = (&visited[(o / 64) as usize], 1u64 << (o % 64));
    let old = word.load(Relaxed);
    old & bit == 0 && {
        word.store(old | bit, Relaxed);
        true
    }
}

/// Whether object `o` is visited.
#[inline]
fn seen(visited: &[AtomicU64], o: u32) -> bool {
    visited[(o / 64) as usize].load(Relaxed) >> (o % 64) & 1 != 0
}

/// Pushes the groups, the scopes and the roots (in that order, each
/// parent's children together); returns the root nodes with their roots,
/// in node order.
fn push_heads<'r>(tree: &mut Tree, roots: &'r [Root], names: &dyn Names) -> Vec<(u32, &'r Root)> {
    let by_group: Vec<(Group, Vec<&Root>)> =
        Group::ALL.iter().map(|&g| (g, roots.iter().filter(|r| r.group == g).collect::<Vec<_>>())).filter(|(_, m)| !m.is_empty()).collect();
    let mut groups = Vec::new();
    for (g, _) in &by_group {
        let label = tree.labels.intern(g.name());
        groups.push(tree.push_head(NodeKind::Group, NO_PARENT, label));
    }
    // One scope node for each run of roots with the same scope.
    let mut parents: Vec<Vec<u32>> = Vec::new();
    for ((_, members), &gnode) in by_group.iter().zip(&groups) {
        let mut last: Option<(u64, u32)> = None;
        let mut mine = Vec::with_capacity(members.len());
        for r in members {
            let parent = match &r.scope {
                None => gnode,
                Some(s) => match last {
                    Some((id, node)) if id == s.id => node,
                    _ => {
                        let label = tree.labels.intern(&s.name);
                        let node = tree.push_head(NodeKind::Scope, gnode, label);
                        if !s.tag.is_empty() {
                            let tag = tree.labels.intern(&s.tag);
                            tree.tags.insert(node, tag);
                        }
                        last = Some((s.id, node));
                        node
                    }
                },
            };
            mine.push(parent);
        }
        parents.push(mine);
    }
    let mut root_nodes = Vec::with_capacity(roots.len());
    for ((_, members), parents) in by_group.iter().zip(parents) {
        for (r, parent) in members.iter().zip(parents) {
            let name = match r.subject {
                Some(o) => r.name.replacen(SUBJECT, &names.object(o), 1),
                None => r.name.replacen(SUBJECT, "object", 1),
            };
            let label = tree.labels.intern(&name);
            let rnode = tree.push_head(NodeKind::Root, parent, label);
            if !r.tag.is_empty() {
                let tag = tree.labels.intern(&r.tag);
                tree.tags.insert(rnode, tag);
            }
            root_nodes.push((rnode, *r));
        }
    }
    root_nodes
}

/// Part of a node's edges: bytes `a..b` of its object's run `run`.
#[derive(Clone, Copy)]
struct Unit {
    node: u32,
    obj: u32,
    run: (usize, usize),
    a: usize,
    b: usize,
}

/// Lists the BFS keeps from batch to batch.
#[derive(Default)]
struct Scratch {
    units: Vec<Unit>,
    found: Vec<Vec<Found>>,
    cuts: Vec<usize>,
    /// Per owner, the found targets it claimed (a bit each, in order).
    won: Vec<Vec<u64>>,
}

/// Takes nodes from the queue (the tree's nodes from `next` on) until it
/// is empty, claiming their targets not yet visited.
fn expand(tree: &mut Tree, visited: &[AtomicU64], edges: &CompactEdges, next: &mut usize, scratch: &mut Scratch, reached: &AtomicU64) {
    let Scratch { units, found, cuts, won } = scratch;
    let mut n = *next;
    // Deeper levels: the node array is the FIFO queue, taken one node at a
    // time while it is short, else a batch of nodes at a time, their edges
    // in groups of at most BATCH_BYTES of coded edges (a node with millions
    // of pointers spans several groups). Reading a group's edges
    // (scattered over the heap's tables) runs in parallel and keeps the targets not yet
    // visited; claiming them takes them in node then edge order, so the
    // tree is the same on any number of threads ([`claim_all`]).
    while n < tree.len() {
        // A short queue (the tail of a linked list): node by node, claiming
        // as it goes, until the queue grows or a node with many edges
        // comes. The same claims in the same order as in batches.
        while n < tree.len() && tree.len() - n < PAR_NODES {
            let o = tree.obj[n];
            let run = edges.range(o);
            if run.1 - run.0 > UNIT_BYTES {
                break;
            }
            edges.edges(o, run, run.0, run.1, |obj, offset| {
                if claim(visited, obj) {
                    tree.push_object(n as u32, obj, offset);
                }
            });
            n += 1;
        }
        if n >= tree.len() {
            break;
        }
        let end = tree.len().min(n + BATCH_NODES);
        // The nodes' edge ranges (scattered reads) in parallel, then cut
        // into units.
        let ranges: Vec<(usize, usize)> = if end - n >= PAR_NODES {
            tree.obj[n..end].par_iter().map(|&o| edges.range(o)).collect()
        } else {
            tree.obj[n..end].iter().map(|&o| edges.range(o)).collect()
        };
        units.clear();
        for (n, run) in (n..end).zip(ranges) {
            let mut a = run.0;
            while a < run.1 {
                let b = (a + UNIT_BYTES).min(run.1);
                units.push(Unit { node: n as u32, obj: tree.obj[n], run, a, b });
                a = b;
            }
        }
        let mut i = 0;
        while i < units.len() {
            let (mut j, mut count) = (i, 0);
            while j < units.len() && count < BATCH_BYTES {
                count += units[j].b - units[j].a;
                j += 1;
            }
            let scan = |out: &mut Vec<Found>, units: &[Unit]| {
                out.clear();
                for u in units {
                    edges.edges(u.obj, u.run, u.a, u.b, |obj, offset| {
                        if !seen(visited, obj) {
                            out.push(Found { node: u.node, obj, offset });
                        }
                    });
                }
            };
            // The batch in pieces of about equal edges, each read into its
            // own list (kept from batch to batch: no memory is allocated
            // once they have grown), in order.
            cuts.clear();
            cuts.push(i);
            let per = count.div_ceil(PIECES).max(UNIT_BYTES);
            let mut acc = 0;
            for (k, u) in units[i..j].iter().enumerate() {
                acc += u.b - u.a;
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
            claim_all(tree, visited, &found[..parts], won);
            i = j;
        }
        n = end;
        reached.store(tree.objects() as u64, Ordering::Relaxed);
    }
    reached.store(tree.objects() as u64, Ordering::Relaxed);
    *next = n;
}

/// Claims the targets `found` (lists in order) not yet visited, each for
/// its first node, and adds them to the tree in that order. In parallel:
/// each object has one owner (by its run of [`OWNER_SHIFT`] objects, which
/// share a cache line of visited bits), which takes the entries of its
/// objects in order and so claims each for its first entry, as one thread
/// taking all entries in order would; then the claimed entries are added
/// in order.
fn claim_all(tree: &mut Tree, visited: &[AtomicU64], found: &[Vec<Found>], won: &mut Vec<Vec<u64>>) {
    let total: usize = found.iter().map(Vec::len).sum();
    let owners = rayon::current_num_threads();
    if owners < 2 || total < PAR_CLAIMS {
        for part in found {
            for (k, f) in part.iter().enumerate() {
                if let Some(ahead) = part.get(k + 16) {
                    prefetch(&visited[(ahead.obj / 64) as usize]);
                }
                if claim(visited, f.obj) {
                    tree.push_object(f.node, f.obj, f.offset);
                }
            }
        }
        return;
    }
    if won.len() < owners {
        won.resize_with(owners, Vec::new);
    }
    won[..owners].par_iter_mut().enumerate().for_each(|(owner, bits)| {
        bits.clear();
        bits.resize(total.div_ceil(64), 0);
        let mine = |o: u32| (o >> OWNER_SHIFT) as usize % owners == owner;
        let mut k = 0;
        for part in found {
            for (i, f) in part.iter().enumerate() {
                if let Some(ahead) = part.get(i + 16).filter(|a| mine(a.obj)) {
                    prefetch(&visited[(ahead.obj / 64) as usize]);
                }
                // The owner alone writes the words of its objects.
                if mine(f.obj) && claim(visited, f.obj) {
                    bits[k / 64] |= 1 << (k % 64);
                }
                k += 1;
            }
        }
    });
    // The claimed entries, all owners' together, in order.
    let (all, others) = won.split_first_mut().expect("two owners or more");
    for bits in &others[..owners - 1] {
        all.iter_mut().zip(bits).for_each(|(a, b)| *a |= b);
    }
    let (mut part, mut first) = (0, 0);
    for (w, &word) in all.iter().enumerate() {
        let mut bits = word;
        while bits != 0 {
            let k = w * 64 + bits.trailing_zeros() as usize;
            bits &= bits - 1;
            while k >= first + found[part].len() {
                first += found[part].len();
                part += 1;
            }
            let f = found[part][k - first];
            tree.push_object(f.node, f.obj, f.offset);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::graph::{Labels, Link, LinkCursor};

    /// A tree with one group, one root and `n` objects under the root.
    fn tree_of(n: u32) -> Tree {
        let mut t = Tree::new(Labels::new());
        let g = t.push_head(NodeKind::Group, NO_PARENT, NO_LINK);
        let r = t.push_head(NodeKind::Root, g, NO_LINK);
        for o in 0..n {
            t.push_root_target(r, o, NO_LINK);
        }
        t
    }

    /// Parallel claims on 1, 2 and 3 threads give the tree of the rule
    /// itself (in order, each object not yet visited goes to its first
    /// entry): many entries, many of them for the same objects, some for
    /// objects visited before, in lists of uneven lengths.
    #[test]
    fn parallel_claims_keep_the_order_of_one_thread() {
        let (parents, objects) = (100u32, 50_000u32);
        let mut x = 0x2545_f491_4f6c_dd1du64;
        let mut rand = move |n: u32| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x % u64::from(n)) as u32
        };
        let first = tree_of(parents).first_object;
        let mut entries = Vec::new();
        for node in first..first + parents {
            for _ in 0..rand(400) {
                entries.push(Found { node, obj: parents + rand(objects), offset: 0 });
            }
        }
        assert!(entries.len() >= 4 * PAR_CLAIMS);
        let mut found = Vec::new();
        let mut rest = &entries[..];
        while !rest.is_empty() {
            let (part, r) = rest.split_at(rest.len().min(1 + rand(3000) as usize));
            found.push(part.to_vec());
            rest = r;
        }
        let mark = |v: &[AtomicU64], o: u32| claim(v, o);
        let new_visited = || {
            let v: Vec<AtomicU64> = (0..(parents + objects).div_ceil(64)).map(|_| AtomicU64::new(0)).collect();
            (0..parents).chain((0..objects).step_by(7).map(|o| parents + o)).for_each(|o| {
                mark(&v, o);
            });
            v
        };
        // The rule.
        let mut want = tree_of(parents);
        let visited = new_visited();
        for f in &entries {
            if claim(&visited, f.obj) {
                want.push_object(f.node, f.obj, f.offset);
            }
        }
        want.seal();
        for threads in 1..=3 {
            let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
            let mut got = tree_of(parents);
            let visited = new_visited();
            pool.install(|| claim_all(&mut got, &visited, &found, &mut Vec::new()));
            got.seal();
            assert_eq!(got.obj, want.obj, "{threads} threads");
            for n in 0..want.len() as u32 {
                assert_eq!(got.children(n), want.children(n), "{threads} threads, node {n}");
            }
        }
    }

    /// Names whose link key is the pointer's offset, to read back which
    /// pointer claimed a node.
    struct Offsets;

    impl Names for Offsets {
        fn object(&self, _: u32) -> std::borrow::Cow<'_, str> {
            "T".into()
        }
        fn pointers(&self, _: u32) -> Vec<(u32, u64)> {
            Vec::new()
        }
        fn size(&self, _: u32) -> u64 {
            8
        }
        fn link(&self, _: u32, _: u32) -> Option<String> {
            None
        }
        fn addr(&self, obj: u32) -> u64 {
            u64::from(obj) * 8
        }
        fn link_key(&self, _: u32, offset: u32) -> Option<u64> {
            Some(offset.into())
        }
    }

    /// Each object the search claims records the first pointer, in offset
    /// order, of its parent that points to it: a parent with two pointers
    /// to one child (the second after a pointer to another child), one
    /// whose targets come in falling order, one with a thousand children
    /// (restarts of the codes every 64 siblings, gaps of 300 words and a
    /// misaligned word among them), then two levels of ten thousand
    /// nodes (claimed in parallel, some targets shared), on one and two
    /// threads.
    #[test]
    fn each_object_records_the_first_pointer_that_claimed_it() {
        let parents = 3u32 + 1;
        let mut lists: Vec<Vec<(u32, u32)>> = vec![Vec::new(); parents as usize];
        // Objects from `parents` on are free to point to.
        let mut next = parents;
        let mut fresh = |n: u32| {
            next += n;
            next - n
        };
        let (a, b) = (fresh(1), fresh(1));
        lists[0] = vec![(b, 0), (a, 8), (b, 16), (a, 24), (a, 32)];
        let (c, d, e) = (fresh(1), fresh(1), fresh(1));
        lists[1] = vec![(e, 8), (d, 16), (e, 24), (c, 40)];
        let wide = fresh(1000);
        let mut off = 0;
        lists[2] = (0..1000)
            .map(|k| {
                off += match k % 97 {
                    13 => 8 * 300,
                    50 => 3,
                    _ => 8,
                };
                (wide + k, off)
            })
            .collect();
        // Object 3: ten thousand children, each pointing to two of ten
        // thousand grandchildren (one shared with the next child) and
        // back to object 3.
        let level = fresh(10_000);
        let grand = fresh(10_000);
        lists[3] = (0..10_000).map(|k| (level + k, 8 * k)).collect();
        lists.resize(next as usize, Vec::new());
        for k in 0..10_000 {
            lists[(level + k) as usize] = vec![(3, 0), (grand + k, 16), (grand + (k + 1) % 10_000, 24)];
        }
        let edges = CompactEdges::from_lists(&lists);
        for threads in 1..=2 {
            let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
            let visited: Vec<AtomicU64> = (0..next.div_ceil(64)).map(|_| AtomicU64::new(0)).collect();
            let mut tree = tree_of(parents);
            (0..parents).for_each(|o| assert!(claim(&visited, o)));
            let mut at = tree.first_object as usize;
            pool.install(|| expand(&mut tree, &visited, &edges, &mut at, &mut Scratch::default(), &AtomicU64::new(0)));
            tree.seal();
            assert_eq!(tree.objects(), next as usize, "{threads} threads: every object reached");
            let mut checked = 0;
            for p in tree.first_object..tree.len() as u32 {
                let NodeKind::Object(src) = tree.kind(p) else { continue };
                let mut cursor = LinkCursor::default();
                for n in tree.children(p) {
                    let NodeKind::Object(o) = tree.kind(n) else { panic!("an object's child is an object") };
                    let want = lists[src as usize].iter().find(|e| e.0 == o).expect("a pointer to the child").1;
                    match tree.link_or_key(p, n, &Offsets, &mut cursor) {
                        Some(Link::Key(s, offset, _)) => assert_eq!((s, offset), (src, want), "{threads} threads: object {o}"),
                        _ => panic!("{threads} threads: object {o} has no link key"),
                    }
                    checked += 1;
                }
            }
            assert_eq!(checked, next - parents, "{threads} threads");
            // The children of the first two parents, in the order claimed.
            let kids = |p: u32| tree.children(tree.first_object + p).map(|n| tree.obj[n as usize]).collect::<Vec<_>>();
            assert_eq!((kids(0), kids(1)), (vec![b, a], vec![e, d, c]), "{threads} threads");
        }
    }
}
