//! Layer 8 (beside render): questions asked of the analyzed heap — who
//! retains the most (from the dominator tree), why one object is alive
//! (paths from the roots), what grew between two cores — each answered as
//! plain data with a text and a JSON form, for the command line to print.

mod diff;
mod paths;
mod retained;
mod steps;

pub use self::diff::{Diff, Side};
pub use self::paths::{why_alive, Ignore, PathReport, Target};
pub use self::retained::{retained_by_type, Retainers};
pub use self::steps::{Path, Step};

use crate::graph::Names;
use crate::heap::Heap;
use crate::infer::Inference;
use crate::roots::Root;

/// What a query reads: the heap, the roots (in the order the graph was
/// built from) and the types, which name objects and links.
pub struct Context<'c, 'p, 'a> {
    pub heap: &'c Heap,
    pub roots: &'c [Root],
    pub inference: &'c Inference<'p, 'a>,
}

impl Context<'_, '_, '_> {
    /// The names of objects and links.
    pub fn names(&self) -> &dyn Names {
        self.inference
    }
}

/// The roots' target objects, as the graph searches take them.
pub fn root_targets(roots: &[Root]) -> Vec<Vec<u32>> {
    roots.iter().map(|r| r.targets.iter().map(|t| t.obj).collect()).collect()
}

/// `0x…`.
pub fn hex(addr: u64) -> String {
    format!("{addr:#x}")
}

/// Which objects have a type of some names, asking each type's name once
/// (objects of one fact type, or untyped of one size, share a name).
pub struct TypeNames<'n> {
    names: &'n [String],
    known: std::collections::HashMap<u64, bool>,
}

impl<'n> TypeNames<'n> {
    pub fn new(names: &'n [String]) -> TypeNames<'n> {
        TypeNames { names, known: Default::default() }
    }

    /// A key shared by the objects whose names are the same: typed
    /// objects by fact type, the others by size.
    pub fn key(cx: &Context, o: u32) -> u64 {
        match cx.inference.typed_fact(o) {
            Some(f) => u64::from(f.ty) << 1 | u64::from(f.array),
            None => 1 << 63 | cx.heap.size(o),
        }
    }

    /// Whether object `o`'s type name is one of the names.
    pub fn matches(&mut self, cx: &Context, o: u32) -> bool {
        let names = self.names;
        *self.known.entry(Self::key(cx, o)).or_insert_with(|| names.iter().any(|n| *n == cx.names().object(o)))
    }
}
