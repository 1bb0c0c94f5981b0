//! Layer 3: the Go runtime's own structures in the image — mheap, arenas,
//! spans, type descriptors, goroutines — read through a [`Layout`] chosen
//! once per binary.

mod goroutines;
mod layout;
mod locate;
pub mod moduledata;
mod process;
mod ptrmap;
mod spans;
mod stack;
mod structs;
pub mod tables;
mod types;

pub use self::goroutines::{read_goroutines, Goroutine, GoroutineStatus};
pub use self::layout::{Field, Layout, LayoutError, LayoutSource, PointerMaps, TypeLayout};
pub use self::process::Process;
pub use self::ptrmap::PointerFinder;
pub use self::spans::{read_spans, Span, SpanAlloc, Spans};
pub use self::stack::{var_covering, walk_goroutine, Frame, FrameSlot, Interrupted, StackWalker};
pub use self::structs::Structs;
pub use self::types::{
    is_direct_iface, read_name, read_type, type_mask, type_name, TypeDesc, KIND_ARRAY, KIND_CHAN, KIND_FUNC, KIND_INTERFACE, KIND_MAP,
    KIND_PTR, KIND_SLICE, KIND_STRING, KIND_STRUCT, KIND_UNSAFE_POINTER,
};

use crate::image::ReadError;

/// Why the runtime's structures could not be read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Go metadata missing or damaged.
    #[error(transparent)]
    Go(#[from] crate::gobin::Error),
    /// DWARF unreadable.
    #[error(transparent)]
    Dwarf(#[from] crate::gobin::DwarfError),
    /// A needed runtime struct or field is unknown.
    #[error(transparent)]
    Layout(#[from] LayoutError),
    /// Memory the runtime structures point to is not in the image.
    #[error(transparent)]
    Read(#[from] ReadError),
    /// Runtime structures hold impossible values.
    #[error("corrupt runtime data: {0}")]
    Corrupt(String),
    /// A runtime global could not be found.
    #[error("cannot find {0}")]
    NotFound(String),
}
