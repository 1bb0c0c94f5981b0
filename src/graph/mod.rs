//! Layer 7: the reference tree — breadth-first from all roots together,
//! each object claimed once at its shortest path; subtree sizes in bytes —
//! the dominator tree with retained sizes, and shortest-path parents for
//! paths to single objects.

mod bfs;
mod dominators;
mod parents;
mod tree;

pub use self::bfs::build_tree;
pub use self::dominators::{DomNode, DomTree, Dominators, Nodes, Successors};
pub use self::parents::{Parent, Parents};
pub use self::tree::{LabelId, Labels, Link, LinkCursor, Names, NodeKind, Tree, NOT_OBJECT, NO_LINK, NO_PARENT};
