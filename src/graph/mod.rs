//! Layer 7: the reference tree — breadth-first from all roots together,
//! each object claimed once at its shortest path; subtree sizes in bytes.

mod bfs;
mod tree;

pub use self::bfs::build_tree;
pub use self::tree::{LabelId, Labels, Link, LinkCursor, Names, NodeKind, Tree, NOT_OBJECT, NO_LINK, NO_PARENT};
