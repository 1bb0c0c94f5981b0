//! Integration tests: one binary, one module per concern.

mod util;

mod corpus;
mod drill;
mod errors;
mod heap;
mod local_go;
mod readable;
mod robust;
mod servers;
mod shapes;
mod stack;
mod stripped;
mod tree;
mod types;
