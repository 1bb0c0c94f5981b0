//! Layer 5: roots — data/bss globals, goroutine stack frames, finalizers and
//! cleanups, tiny-allocator blocks — each with a readable name and the heap
//! objects it points to.

mod globals;
mod goroutines;
mod specials;

pub use self::globals::{field_path, global_roots};
pub use self::goroutines::goroutine_roots;
pub use self::specials::{queued_finalizer_roots, special_roots, tiny_block_roots};

/// The four root groups, in the order they appear at the top of the graph.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Group {
    /// Package-level variables and unnamed data/bss words.
    Globals,
    /// Goroutine stacks and registers.
    Goroutines,
    /// Objects with finalizers or cleanups, and queued ones.
    Finalizers,
    /// Anything else (tiny-allocator blocks, runtime-internal roots).
    Other,
}

impl Group {
    /// All groups in display order.
    pub const ALL: [Group; 4] = [Group::Globals, Group::Goroutines, Group::Finalizers, Group::Other];

    /// Frame name of the group.
    pub fn name(self) -> &'static str {
        match self {
            Group::Globals => "globals",
            Group::Goroutines => "goroutines",
            Group::Finalizers => "finalizers",
            Group::Other => "other roots",
        }
    }
}

/// One root: a name and the objects its pointer slots hold, in slot order.
#[derive(Clone, Debug)]
pub struct Root {
    /// Which group it belongs to.
    pub group: Group,
    /// Frame name (`main.registry`, `main.worker.buf`, `finalizer for …`).
    pub name: String,
    /// Address of the root's first slot (0 if none).
    pub addr: u64,
    /// What `--printaddr` appends to the root's frame (an address, a
    /// goroutine id); empty for nothing.
    pub tag: String,
    /// (link label, object) for each slot that points into the heap.
    pub targets: Vec<(Option<String>, u32)>,
}

