//! The command line, as clap sees it.

use std::path::PathBuf;

use clap::{Parser, Subcommand};

/// Who keeps my Go memory alive? Reads a core dump of a Go process and its
/// executable and reports which globals, goroutines and finalizers keep which
/// heap bytes reachable.
///
/// Take a core of a running process with `gcore PID` (from gdb), or let the
/// kernel write one when the process crashes: `ulimit -c unlimited` and
/// `GOTRACEBACK=crash`. Cores and executables may be zstd-compressed (.zst).
#[derive(Debug, Parser)]
#[command(
    name = "refgraph",
    version,
    about,
    long_about,
    subcommand_precedence_over_arg = true,
    after_help = "Examples:\n  refgraph core.1234 --exe ./server overview\n  refgraph core.1234 --exe ./server objref out.bt\n  refgraph core.1234 --exe ./server flame out.svg\n  refgraph flame out.svg < out.bt"
)]
pub struct Args {
    /// The core file (ELF core, optionally zstd-compressed).
    pub core: Option<PathBuf>,

    /// The executable the core was dumped from (optionally zstd-compressed).
    #[arg(long, value_name = "BIN")]
    pub exe: Option<PathBuf>,

    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Write who-keeps-what-alive as stap-style backtraces (.bt), the format of
    /// `viewcore objref`: per record, frames leaf first, then a TAB and a byte
    /// count. Feed it to FlameGraph's stackcollapse-stap.pl, or to `refgraph
    /// flame`. With --folded, write folded stacks instead.
    Objref {
        /// Output file, or `-` for standard output.
        out: PathBuf,
        /// Write folded stacks (`root;…;leaf bytes`) instead of .bt records.
        #[arg(long)]
        folded: bool,
        #[command(flatten)]
        tree: TreeArgs,
    },
    /// Draw a flame graph SVG: from a core (`refgraph CORE --exe BIN flame
    /// out.svg`), or from .bt or folded stacks on standard input or --input
    /// (`refgraph flame out.svg < out.bt`); the input format is detected.
    Flame {
        /// Output SVG file, or `-` for standard output.
        out: PathBuf,
        /// Read stacks from this file instead of a core (`-` = standard input,
        /// the default when no core is given).
        #[arg(long, value_name = "FILE")]
        input: Option<PathBuf>,
        /// Title of the graph (default: the core's file name).
        #[arg(long)]
        title: Option<String>,
        #[command(flatten)]
        tree: TreeArgs,
    },
    /// Summarize the core: Go version, executable identity, threads, memory.
    Overview {
        /// Print one JSON object instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Count heap objects and bytes by inferred type, largest total first:
    /// one line per type (`unk<size>` for objects whose type is unknown).
    Histogram {
        /// Print only the N types with the most bytes.
        #[arg(long, value_name = "N")]
        top: Option<usize>,
    },
}

/// How the reference tree is cut and named.
#[derive(Debug, clap::Args)]
pub struct TreeArgs {
    /// Fold subtrees smaller than this percentage of all reached bytes into
    /// their parent's record.
    #[arg(long, value_name = "PCT", default_value_t = 0.01)]
    pub minwidth: f64,
    /// Add each object's address to its frame (`main.Entry 0xc000123000`).
    #[arg(long)]
    pub printaddr: bool,
    /// Deepest frame level printed (group, root, then objects); deeper
    /// subtrees are counted in their ancestor at this level. Long chains
    /// such as linked lists would otherwise repeat their whole path in
    /// every record. Stacks read from .bt or folded input are cut at this
    /// many frames too.
    #[arg(long, value_name = "N", default_value_t = crate::render::DEFAULT_MAX_DEPTH)]
    pub maxdepth: u32,
    /// Print the wall time of each phase (open, metadata, heap, roots,
    /// types, tree, output) and its peak resident anonymous memory (the
    /// core's mapped pages not counted) on standard error when done.
    #[arg(long)]
    pub timings: bool,
}
