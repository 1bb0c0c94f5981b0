//! Integration tests: one binary, one module per concern.

mod util;

mod corpus;
mod errors;
mod heap;
mod local_go;
mod robust;
mod shapes;
mod stack;
mod stripped;
mod tree;
mod types;
