//! The `refgraph` command; everything lives in the library's `cli` module.

fn main() {
    std::process::exit(refgraph::cli::main());
}
