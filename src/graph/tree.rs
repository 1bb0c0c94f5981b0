//! The reference tree: one node per reachable object, each claimed by the
//! first (shallowest) path found breadth-first from all roots together, plus
//! one node per root and per root group above them.

/// Index of an interned frame label.
pub type LabelId = u32;

/// "No link label" (the link between two frames is unknown).
pub const NO_LINK: LabelId = 0;

/// Interned strings: frame names and link names.
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

/// What a tree node stands for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NodeKind {
    /// A root group (globals, goroutines, finalizers, other).
    Group,
    /// A root (a global, a goroutine frame's variable, a finalizer…).
    Root,
    /// A heap object (its index in the heap's object table).
    Object(u32),
}

/// The tree, as parallel arrays; node 0.. are in BFS order, so a parent
/// always comes before its children.
pub struct Tree {
    /// Parent node, `u32::MAX` for the top nodes (groups).
    pub parent: Vec<u32>,
    /// What each node is.
    pub kind: Vec<NodeKind>,
    /// Frame label.
    pub label: Vec<LabelId>,
    /// Label of the link from the parent to this node, or [`NO_LINK`].
    pub link: Vec<LabelId>,
    /// Address (objects; 0 otherwise).
    pub addr: Vec<u64>,
    /// Roots' `--printaddr` tags (a label id; [`NO_LINK`] for none), by
    /// node.
    pub tags: std::collections::HashMap<u32, LabelId>,
    /// Own bytes.
    pub own: Vec<u64>,
    /// Own bytes plus all descendants' (filled by [`Tree::sum`]).
    pub total: Vec<u64>,
    /// The strings behind label ids.
    pub labels: Labels,
}

impl Tree {
    /// An empty tree.
    pub fn new(labels: Labels) -> Tree {
        Tree { parent: Vec::new(), kind: Vec::new(), label: Vec::new(), link: Vec::new(), addr: Vec::new(), tags: Default::default(), own: Vec::new(), total: Vec::new(), labels }
    }

    /// Adds a node; returns its index.
    pub fn push(&mut self, parent: u32, kind: NodeKind, label: LabelId, link: LabelId, addr: u64, own: u64) -> u32 {
        let id = self.parent.len() as u32;
        debug_assert!(parent == u32::MAX || parent < id);
        self.parent.push(parent);
        self.kind.push(kind);
        self.label.push(label);
        self.link.push(link);
        self.addr.push(addr);
        self.own.push(own);
        self.total.push(own);
        id
    }

    /// Number of nodes.
    pub fn len(&self) -> usize {
        self.parent.len()
    }

    /// Whether the tree has no nodes.
    pub fn is_empty(&self) -> bool {
        self.parent.is_empty()
    }

    /// Computes subtree totals: children come after parents, so one reverse
    /// pass adds each node into its parent (no recursion).
    pub fn sum(&mut self) {
        self.total.clone_from(&self.own);
        for i in (0..self.len()).rev() {
            let p = self.parent[i];
            if p != u32::MAX {
                self.total[p as usize] += self.total[i];
            }
        }
    }

    /// Bytes of all top nodes together.
    pub fn grand_total(&self) -> u64 {
        (0..self.len()).filter(|&i| self.parent[i] == u32::MAX).map(|i| self.total[i]).sum()
    }

    /// Children of every node in CSR form: (start offsets, child ids), each
    /// node's children in node order.
    pub fn children(&self) -> (Vec<u32>, Vec<u32>) {
        let n = self.len();
        let mut start = vec![0u32; n + 1];
        for &p in &self.parent {
            if p != u32::MAX {
                start[p as usize + 1] += 1;
            }
        }
        for i in 0..n {
            start[i + 1] += start[i];
        }
        let mut fill = start.clone();
        let mut kids = vec![0u32; start[n] as usize];
        for (i, &p) in self.parent.iter().enumerate() {
            if p != u32::MAX {
                kids[fill[p as usize] as usize] = i as u32;
                fill[p as usize] += 1;
            }
        }
        (start, kids)
    }
}
