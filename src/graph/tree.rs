//! The reference tree: one node per reachable object, each claimed by the
//! first (shallowest) path found breadth-first from all roots together, plus
//! one node per root and per root group above them.
//!
//! The tree holds structure and sizes (about 9 bytes a node) and, in one
//! more byte, which pointer of its parent claimed each object (the
//! search knows it; the link the output names): the distance in words
//! from the pointer that claimed the sibling before it. Names are asked
//! of a [`Names`] when a node is printed.

use std::borrow::Cow;
use std::ops::Range;

use rayon::prelude::*;

use crate::heap::{prefault, prefetch, Counts};

/// Index of an interned frame label.
pub type LabelId = u32;

/// "No link label" (the link between two frames is unknown).
pub const NO_LINK: LabelId = 0;

/// [`Tree::obj`] of a group or root node.
pub const NOT_OBJECT: u32 = u32::MAX;

/// The parent of a top node (a root group).
pub const NO_PARENT: u32 = u32::MAX;

/// A subtree total too big for 32 bits (kept in a side table).
const BIG_TOTAL: u32 = u32::MAX;

/// A claim whose offset is kept in [`Tree::far_claims`]: its distance from
/// the sibling before it is this many words or more, or not whole words.
const FAR_CLAIM: u8 = u8::MAX;

/// Every this many siblings, a claim is coded from offset 0 rather than
/// from the sibling before it, so that a node's children can be looked at
/// from any such point.
const CLAIM_RESTART: u32 = 64;

/// Subtree totals by node, 4 bytes each; the few of 4 GiB and more apart.
#[derive(Default)]
struct Totals {
    /// The total, or [`BIG_TOTAL`]: see `big`.
    small: Vec<u32>,
    big: std::collections::HashMap<u32, u64>,
}

impl Totals {
    #[inline]
    fn get(&self, n: usize) -> u64 {
        match self.small[n] {
            BIG_TOTAL => self.big[&(n as u32)],
            t => u64::from(t),
        }
    }

    #[inline]
    fn set(&mut self, n: usize, t: u64) {
        match u32::try_from(t) {
            Ok(v) if v != BIG_TOTAL => self.small[n] = v,
            _ => {
                self.small[n] = BIG_TOTAL;
                self.big.insert(n as u32, t);
            }
        }
    }
}

/// Interned strings: group, root and root-link names.
#[derive(Default)]
pub struct Labels {
    strings: Vec<Box<str>>,
    ids: std::collections::HashMap<Box<str>, LabelId>,
}

impl Labels {
    /// A table whose id 0 is the empty label ([`NO_LINK`]).
    pub fn new() -> Labels {
        let mut l = Labels::default();
        l.intern("");
        l
    }

    /// The id of `s`, adding it if new.
    pub fn intern(&mut self, s: &str) -> LabelId {
        if let Some(&id) = self.ids.get(s) {
            return id;
        }
        let id = self.strings.len() as LabelId;
        self.strings.push(s.into());
        self.ids.insert(s.into(), id);
        id
    }

    /// The string of an id.
    pub fn get(&self, id: LabelId) -> &str {
        &self.strings[id as usize]
    }
}

/// Names of heap objects and of the pointers between them; asked from
/// several threads at once.
pub trait Names: Sync {
    /// The frame name of object `obj`.
    fn object(&self, obj: u32) -> Cow<'_, str>;
    /// Object `src`'s non-zero pointer words: (byte offset, value), in
    /// offset order.
    fn pointers(&self, src: u32) -> Vec<(u32, u64)>;
    /// The size of object `obj`'s slot.
    fn size(&self, obj: u32) -> u64;
    /// The link name of the pointer at byte `offset` of object `src`.
    fn link(&self, src: u32, offset: u32) -> Option<String>;
    /// The address of object `obj`.
    fn addr(&self, obj: u32) -> u64;
    /// Whether object `obj` is part of a map's machinery (buckets, groups,
    /// tables, directories): bytes of the map, not a frame of their own.
    fn machinery(&self, _obj: u32) -> bool {
        false
    }
    /// A number that is the same for two pointers whose link names are,
    /// when the name depends on the source's type and the offset alone.
    fn link_key(&self, _src: u32, _offset: u32) -> Option<u64> {
        None
    }
    /// For a link key ([`Names::link_key`]) whose name, if it has one,
    /// is an index `[i]` followed by a part that depends only on a second
    /// key: `(i, that key)`. Two such links with different indices never
    /// have the same name; whether they have one at all is the same for
    /// all links with the second key.
    fn link_index(&self, _key: u64) -> Option<(u64, u64)> {
        None
    }
    /// Hints that object `obj`'s address, size and type are asked soon.
    fn prefetch(&self, _obj: u32) {}
    /// A number that is the same for two objects exactly when their
    /// names are ([`Names::object`] is asked once per number).
    fn object_key(&self, obj: u32) -> u64 {
        u64::from(obj)
    }
}

/// What a tree node stands for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NodeKind {
    /// A root group (globals, goroutines, finalizers, other).
    Group,
    /// A level between a group and its roots: a goroutine.
    Scope,
    /// A root (a global, a goroutine frame's variable, a finalizer…).
    Root,
    /// A heap object (its index in the heap's object table).
    Object(u32),
}

/// The tree, as parallel arrays in BFS order: the heads (groups, then
/// scopes, then roots, each level's children of one parent consecutive),
/// then the objects. A parent comes before its children, the children of a
/// root or object are consecutive nodes, and those of a later node come
/// later: so each node's number of object children says where they are.
///
/// Weak roots (finalizers) are the exception: their objects come after all
/// the objects the other roots reach ([`Tree::push_late_target`]), and are
/// counted as children of the node before them (the carrier, which had
/// none), so that the counts still say where every node's children are.
pub struct Tree {
    /// The parents of the heads: [`NO_PARENT`] for groups, the group for
    /// scopes and unscoped roots, the scope for the others. The nodes
    /// before `first_object`.
    head_parent: Vec<u32>,
    /// The children of each group and scope (consecutive heads), by node;
    /// from [`Tree::seal`].
    head_kids: Vec<Range<u32>>,
    /// Scopes are the heads from `first_scope` to `first_root`.
    first_scope: u32,
    first_root: u32,
    /// Weak roots' objects: (root, first node, end), by root.
    late: Vec<(u32, u32, u32)>,
    /// Link labels of the weak roots' objects, by node.
    late_links: std::collections::HashMap<u32, LabelId>,
    /// The node whose children the weak roots' objects are counted as.
    carrier: Option<u32>,
    /// Each node's number of children among the objects (none for a
    /// group): the children of node n come after those of nodes before n,
    /// from `first_object` on.
    kids: Counts,
    /// Heap object index, [`NOT_OBJECT`] for groups and roots.
    pub obj: Vec<u32>,
    /// The pointer of its parent object that claimed each object: the
    /// distance in words of its byte offset from that of the sibling
    /// before it (from 0 for every [`CLAIM_RESTART`]th sibling), or
    /// [`FAR_CLAIM`]. 0 for nodes under roots.
    claims: Vec<u8>,
    /// The byte offsets of the claims marked [`FAR_CLAIM`]: (node,
    /// offset), by node.
    far_claims: Vec<(u32, u32)>,
    /// The last object pushed under an object: (parent, its number among
    /// the parent's children, offset).
    last_claim: (u32, u32, u32),
    /// The name labels of the groups and roots (nodes before
    /// `first_object`).
    names: Vec<LabelId>,
    /// The link labels of the objects under roots (the first objects, from
    /// `first_object` on; [`NO_LINK`] for none).
    root_links: Vec<LabelId>,
    /// Own bytes plus all descendants' (from [`Tree::sum`]; empty before).
    totals: Totals,
    /// Roots' `--printaddr` tags (a label id), by node.
    pub tags: std::collections::HashMap<u32, LabelId>,
    /// The strings behind label ids.
    pub labels: Labels,
    /// Nodes before this one are groups and roots.
    pub first_object: u32,
    /// Bit i set: heap object i is in the tree.
    pub reached: Vec<u64>,
}

impl Tree {
    /// An empty tree.
    pub fn new(labels: Labels) -> Tree {
        Tree {
            head_parent: Vec::new(),
            head_kids: Vec::new(),
            first_scope: 0,
            first_root: 0,
            late: Vec::new(),
            late_links: Default::default(),
            carrier: None,
            kids: Counts::default(),
            obj: Vec::new(),
            claims: Vec::new(),
            far_claims: Vec::new(),
            last_claim: (NO_PARENT, 0, 0),
            names: Vec::new(),
            root_links: Vec::new(),
            totals: Totals::default(),
            tags: Default::default(),
            labels,
            first_object: 0,
            reached: Vec::new(),
        }
    }

    /// Adds a group (`parent` [`NO_PARENT`]), a scope (`parent` its
    /// group) or a root (`parent` its group or scope) named by label
    /// `name`; returns its index. All groups first, then all scopes, then
    /// all roots, each parent's children one after the other; before any
    /// object.
    pub fn push_head(&mut self, kind: NodeKind, parent: u32, name: LabelId) -> u32 {
        assert!(self.root_links.is_empty() && self.len() == self.names.len(), "heads come before objects");
        debug_assert!(parent == NO_PARENT || parent < self.len() as u32);
        let n = self.len() as u32;
        match kind {
            NodeKind::Group => {
                assert!(parent == NO_PARENT && self.first_scope == n, "groups come first");
                self.first_scope = n + 1;
                self.first_root = n + 1;
            }
            NodeKind::Scope => {
                assert!(self.first_root == n, "scopes come before roots");
                self.first_root = n + 1;
            }
            _ => {}
        }
        self.names.push(name);
        self.head_parent.push(parent);
        self.first_object = self.names.len() as u32;
        self.push(NOT_OBJECT)
    }

    /// Adds object `obj` under root node `root`, by the root's link label
    /// `link`; returns its index. Before any object under an object.
    pub fn push_root_target(&mut self, root: u32, obj: u32, link: LabelId) -> u32 {
        assert!(self.len() == self.first_object as usize + self.root_links.len(), "root targets come first among objects");
        debug_assert!(root < self.first_object && self.head_parent[root as usize] != NO_PARENT);
        self.root_links.push(link);
        self.kids.bump(root as usize);
        self.push(obj)
    }

    /// Adds object `obj` under the weak root `root`, by link label `link`,
    /// once all other roots' objects are in; returns its index. Weak roots
    /// in node order.
    pub fn push_late_target(&mut self, root: u32, obj: u32, link: LabelId) -> u32 {
        debug_assert!(root < self.first_object && root >= self.first_root);
        let id = self.len() as u32;
        let carrier = *self.carrier.get_or_insert(id - 1);
        self.kids.bump(carrier as usize);
        match self.late.last_mut() {
            Some((r, _, end)) if *r == root && *end == id => *end += 1,
            _ => self.late.push((root, id, id + 1)),
        }
        if link != NO_LINK {
            self.late_links.insert(id, link);
        }
        self.push(obj)
    }

    /// Adds object `obj` under the object node `parent`, claimed by the
    /// pointer at byte `offset` of the parent's object; returns its index.
    /// Parents come in node order: none before the last one given; a
    /// parent's children in the order of their offsets.
    pub fn push_object(&mut self, parent: u32, obj: u32, offset: u32) -> u32 {
        debug_assert!(parent >= self.first_object && parent < self.len() as u32);
        self.kids.bump(parent as usize);
        let sibling = match self.last_claim {
            (p, k, _) if p == parent => k + 1,
            _ => 0,
        };
        let from = if sibling % CLAIM_RESTART == 0 { 0 } else { self.last_claim.2 };
        self.last_claim = (parent, sibling, offset);
        let id = self.push(obj);
        let words = offset.checked_sub(from).filter(|d| d % 8 == 0).map(|d| d / 8);
        match words {
            Some(w) if w < u32::from(FAR_CLAIM) => self.claims[id as usize] = w as u8,
            _ => {
                self.claims[id as usize] = FAR_CLAIM;
                self.far_claims.push((id, offset));
            }
        }
        id
    }

    fn push(&mut self, obj: u32) -> u32 {
        let id = self.obj.len() as u32;
        self.kids.push(0);
        self.obj.push(obj);
        self.claims.push(0);
        id
    }

    /// Done adding nodes: [`Tree::children`] works from now on.
    pub fn seal(&mut self) {
        self.kids.seal();
        let heads = self.first_object.min(self.len() as u32);
        self.head_kids = vec![0..0; self.first_root.min(heads) as usize];
        for n in self.first_scope..heads {
            let p = self.head_parent[n as usize];
            if let Some(r) = self.head_kids.get_mut(p as usize) {
                if r.start == r.end {
                    *r = n..n;
                }
                debug_assert_eq!(r.end, n, "a head's children are consecutive");
                r.end = n + 1;
            }
        }
        self.obj.shrink_to_fit();
        self.claims.shrink_to_fit();
        self.far_claims.shrink_to_fit();
    }

    /// Reserves room for `n` more nodes.
    /// The room is touched page by page in parallel, so that the kernel
    /// zeroes the new pages on all cores now rather than on the one that
    /// later pushes the nodes.
    pub fn reserve(&mut self, n: usize) {
        prefault(&mut self.obj, n);
        prefault(&mut self.claims, n);
        self.kids.reserve(n);
    }

    /// Number of nodes.
    pub fn len(&self) -> usize {
        self.obj.len()
    }

    /// Whether the tree has no nodes.
    pub fn is_empty(&self) -> bool {
        self.obj.is_empty()
    }

    /// What node `n` is.
    pub fn kind(&self, n: u32) -> NodeKind {
        match self.obj[n as usize] {
            NOT_OBJECT if n < self.first_scope => NodeKind::Group,
            NOT_OBJECT if n < self.first_root => NodeKind::Scope,
            NOT_OBJECT => NodeKind::Root,
            o => NodeKind::Object(o),
        }
    }

    /// Number of object nodes.
    pub fn objects(&self) -> usize {
        self.len() - self.first_object as usize
    }

    /// Computes subtree totals from each object's own bytes, `size(obj)`
    /// (in parallel): children come after parents, so one reverse pass
    /// gathers each node's children into it (no recursion).
    pub fn sum(&mut self, size: impl Fn(u32) -> u64 + Sync) {
        let first = self.first_object as usize;
        let mut small = Vec::new();
        prefault(&mut small, self.len());
        small.resize(first, 0);
        small.par_extend(self.obj[first..].par_iter().map(|&o| size(o).min(BIG_TOTAL.into()) as u32));
        let mut totals = Totals { small, big: Default::default() };
        // The children of node i end where those of node i+1 begin. Each
        // node is reached after its children; an object of 4 GiB or more
        // gets its own size then.
        let mut end = self.obj.len();
        let carrier = self.carrier.map_or(usize::MAX, |c| c as usize);
        for (i, c) in (0..self.obj.len()).rev().zip(self.kids.iter_rev()) {
            let start = end - c as usize;
            if totals.small[i] == BIG_TOTAL {
                totals.big.insert(i as u32, size(self.obj[i]));
            }
            if i != carrier {
                let t = (start..end).fold(totals.get(i), |t, k| t + totals.get(k));
                totals.set(i, t);
            }
            end = start;
        }
        for &(r, a, b) in &self.late {
            let t = (a..b).fold(totals.get(r as usize), |t, k| t + totals.get(k as usize));
            totals.set(r as usize, t);
        }
        // The heads gather their children, from the last level up.
        for i in (0..first).rev() {
            let p = self.head_parent[i] as usize;
            if p != NO_PARENT as usize {
                totals.set(p, totals.get(p) + totals.get(i));
            }
        }
        self.totals = totals;
    }

    /// Hints that node `n`'s kind and total are asked soon.
    #[inline]
    pub fn prefetch(&self, n: u32) {
        if let Some(o) = self.obj.get(n as usize) {
            prefetch(o);
        }
        if let Some(t) = self.totals.small.get(n as usize) {
            prefetch(t);
        }
    }

    /// Hints that node `n`'s children ([`Tree::children`],
    /// [`Tree::has_children`]) are asked soon.
    #[inline]
    pub fn prefetch_children(&self, n: u32) {
        if n < self.len() as u32 {
            self.kids.prefetch(n as usize);
        }
    }

    /// Whether node `n` has children: [`Tree::children`] is not empty. For
    /// an object, one byte is read instead of a block's counts.
    #[inline]
    pub fn has_children(&self, n: u32) -> bool {
        if n < self.first_object || Some(n) == self.carrier {
            return !self.children(n).is_empty();
        }
        self.kids.count(n as usize) > 0
    }

    /// Node `n`'s subtree bytes (after [`Tree::sum`]).
    #[inline]
    pub fn total(&self, n: u32) -> u64 {
        self.totals.get(n as usize)
    }

    /// Bytes of all top nodes together.
    pub fn grand_total(&self) -> u64 {
        self.tops().map(|n| self.total(n)).sum()
    }

    /// The top nodes (groups), in order.
    pub fn tops(&self) -> impl Iterator<Item = u32> + '_ {
        0..self.first_scope.min(self.len() as u32)
    }

    /// The children of node `n`: consecutive nodes.
    pub fn children(&self, n: u32) -> Range<u32> {
        if let Some(r) = self.head_kids.get(n as usize) {
            return r.clone();
        }
        if Some(n) == self.carrier {
            return 0..0;
        }
        if n < self.first_object {
            if let Ok(i) = self.late.binary_search_by_key(&n, |l| l.0) {
                return self.late[i].1..self.late[i].2;
            }
        }
        let first = self.first_object as usize;
        let (a, b) = self.kids.range(n as usize);
        (first + a) as u32..(first + b) as u32
    }

    /// The name of node `n`: the group's, the root's or the object's.
    pub fn name<'s>(&'s self, n: u32, names: &'s dyn Names) -> Cow<'s, str> {
        match self.kind(n) {
            NodeKind::Object(o) => names.object(o),
            _ => Cow::Borrowed(self.labels.get(self.names[n as usize])),
        }
    }

    /// The name of the link from node `n`'s parent `parent` to it, if
    /// known. `cursor` belongs to the parent: ask for its children in order.
    pub fn link(&self, parent: u32, n: u32, names: &dyn Names, cursor: &mut LinkCursor) -> Option<String> {
        match self.link_or_key(parent, n, names, cursor)? {
            Link::Name(s) => Some(s),
            Link::Key(src, offset, _) => names.link(src, offset),
        }
    }

    /// As [`Tree::link`], but where the name depends on the source's type
    /// and the offset alone ([`Names::link_key`]), that key instead of the
    /// name: callers that see many links keep the names of keys.
    pub fn link_or_key(&self, parent: u32, n: u32, names: &dyn Names, cursor: &mut LinkCursor) -> Option<Link> {
        let i = n as usize;
        let o = self.obj[i];
        if o == NOT_OBJECT {
            return None;
        }
        match self.obj[parent as usize] {
            NOT_OBJECT => {
                let label = self.root_links.get(i - self.first_object as usize).copied();
                let label = label.or_else(|| self.late_links.get(&n).copied()).unwrap_or(NO_LINK);
                (label != NO_LINK).then(|| Link::Name(self.labels.get(label).to_string()))
            }
            src => {
                let offset = self.claim_offset(parent, n, cursor);
                match names.link_key(src, offset) {
                    Some(key) => Some(Link::Key(src, offset, key)),
                    None => names.link(src, offset).map(Link::Name),
                }
            }
        }
    }

    /// The byte offset of the pointer of object node `parent` that
    /// claimed its child `n`: from the last child `cursor` saw, or from
    /// the sibling where the codes restart before `n`.
    fn claim_offset(&self, parent: u32, n: u32, cursor: &mut LinkCursor) -> u32 {
        if cursor.parent != Some(parent) {
            *cursor = LinkCursor { parent: Some(parent), first: self.children(parent).start, last: None };
        }
        let first = cursor.first;
        let (mut k, mut offset) = match cursor.last {
            Some((last, offset)) if last < n && (last - first) / CLAIM_RESTART == (n - first) / CLAIM_RESTART => (last + 1, offset),
            _ => (n - (n - first) % CLAIM_RESTART, 0),
        };
        while k <= n {
            offset = match self.claims[k as usize] {
                FAR_CLAIM => {
                    let at = self.far_claims.partition_point(|&(node, _)| node < k);
                    self.far_claims[at].1
                }
                words if (k - first) % CLAIM_RESTART == 0 => u32::from(words) * 8,
                words => offset + u32::from(words) * 8,
            };
            k += 1;
        }
        cursor.last = Some((n, offset));
        offset
    }
}

/// A link, by name or by key ([`Tree::link_or_key`]).
pub enum Link {
    /// The link's name.
    Name(String),
    /// The pointer (source object, offset) and its [`Names::link_key`].
    Key(u32, u32, u64),
}

/// Where [`Tree::link`] is in one node's children: the offsets of an
/// object's children are coded each from the one before, so the links of
/// all of them, asked in order, take one pass. Asked for another node's
/// children, it starts again.
#[derive(Default)]
pub struct LinkCursor {
    /// The node whose children these are, and its first child.
    parent: Option<u32>,
    first: u32,
    /// The last child asked for, and the offset of its claim.
    last: Option<(u32, u32)>,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Subtree totals of 4 GiB and more: an object of 5 GiB under a root,
    /// with a child of 3 GiB and one of 8 bytes, and a sibling of 16 bytes
    /// whose own child is 2 GiB: each total is its own size plus its
    /// descendants', the root's and group's all of them.
    #[test]
    fn totals_of_4_gib_and_more_add_up() {
        const GIB: u64 = 1 << 30;
        let mut t = Tree::new(Labels::new());
        let g = t.push_head(NodeKind::Group, NO_PARENT, NO_LINK);
        let r = t.push_head(NodeKind::Root, g, NO_LINK);
        let big = t.push_root_target(r, 0, NO_LINK);
        let small = t.push_root_target(r, 1, NO_LINK);
        let a = t.push_object(big, 2, 0);
        let b = t.push_object(big, 3, 8);
        let c = t.push_object(small, 4, 0);
        t.seal();
        let sizes = [5 * GIB, 16, 3 * GIB, 8, 2 * GIB];
        t.sum(|o| sizes[o as usize]);
        assert_eq!(t.total(a), 3 * GIB);
        assert_eq!(t.total(b), 8);
        assert_eq!(t.total(c), 2 * GIB);
        assert_eq!(t.total(big), 8 * GIB + 8);
        assert_eq!(t.total(small), 2 * GIB + 16);
        assert_eq!(t.total(r), 10 * GIB + 24);
        assert_eq!((t.total(g), t.grand_total()), (10 * GIB + 24, 10 * GIB + 24));
    }
}
