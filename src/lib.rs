//! refgraph: who keeps my Go memory alive?
//!
//! Reads an ELF core dump of a Go process together with its executable,
//! walks the Go heap exactly as the runtime laid it out, and explains which
//! roots (globals, goroutine stacks, finalizers) keep which bytes reachable.
//!
//! The modules follow the pipeline; each depends only on those above it in
//! this list:
//!
//! - [`image`]: core + executable → one readable address space.
//! - [`gobin`]: Go metadata in the executable (version, DWARF, pclntab, types).
//! - [`runtime`]: runtime structures in the image, per Go version.
//! - [`heap`]: objects and their pointer slots.
//! - [`roots`]: globals, goroutine frames, finalizers.
//! - [`infer`]: a type for every object.
//! - [`graph`]: the shortest-path reference tree.
//! - [`render`]: .bt, folded, pprof and SVG output.
//! - [`query`]: retainers, paths from roots, diffs (beside render).
//! - [`cli`]: the command line.

pub mod cli;
pub mod gobin;
pub mod graph;
pub mod heap;
pub mod image;
pub mod infer;
pub mod query;
pub mod render;
pub mod roots;
pub mod runtime;
