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

    /// The executable the core was dumped from (optionally zstd-compressed);
    /// before or after the subcommand.
    #[arg(long, value_name = "BIN", global = true)]
    pub exe: Option<PathBuf>,

    /// Read symbols and DWARF from FILE, an unstripped build of the stripped
    /// executable (same source, Go version and flags, without -s -w);
    /// refused unless its code and data are the executable's.
    #[arg(long, value_name = "FILE", global = true)]
    pub debuginfo: Option<PathBuf>,

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
    #[command(override_usage = "refgraph CORE --exe BIN objref [OPTIONS] OUT\n       refgraph objref [OPTIONS] CORE OUT --exe BIN")]
    Objref {
        /// The core, when not given before the subcommand; then the output
        /// file, or `-` for standard output.
        #[arg(value_name = "[CORE] OUT", num_args = 1..=2, required = true)]
        paths: Vec<PathBuf>,
        /// Write folded stacks (`root;…;leaf bytes`) instead of .bt records.
        #[arg(long)]
        folded: bool,
        /// Write a gzipped pprof profile (profile.proto) instead, for `go
        /// tool pprof`: one sample per record, sample types inuse_objects
        /// and inuse_space.
        #[arg(long, conflicts_with = "folded")]
        pprof: bool,
        #[command(flatten)]
        tree: TreeArgs,
    },
    /// Draw a flame graph SVG: from a core (`refgraph CORE --exe BIN flame
    /// out.svg`), or from .bt or folded stacks on standard input or --input
    /// (`refgraph flame out.svg < out.bt`); the input format is detected.
    #[command(
        override_usage = "refgraph CORE --exe BIN flame [OPTIONS] OUT.svg\n       refgraph flame [OPTIONS] CORE OUT.svg --exe BIN\n       refgraph flame [OPTIONS] OUT.svg < STACKS"
    )]
    Flame {
        /// The core, when not given before the subcommand; then the output
        /// SVG file, or `-` for standard output.
        #[arg(value_name = "[CORE] OUT", num_args = 1..=2, required = true)]
        paths: Vec<PathBuf>,
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
    #[command(override_usage = "refgraph CORE --exe BIN overview [--json]\n       refgraph overview [--json] CORE --exe BIN")]
    Overview {
        /// The core, when not given before the subcommand.
        #[arg(value_name = "CORE")]
        core: Option<PathBuf>,
        /// Print one JSON object instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Count heap objects and bytes by inferred type, largest total first:
    /// one line per type (`unk<size>` for objects whose type is unknown),
    /// with the bytes all its instances retain together.
    #[command(override_usage = "refgraph CORE --exe BIN histogram [--top N] [--json]\n       refgraph histogram [--top N] [--json] CORE --exe BIN")]
    Histogram {
        /// The core, when not given before the subcommand.
        #[arg(value_name = "CORE")]
        core: Option<PathBuf>,
        /// Print only the N types with the most bytes.
        #[arg(long, value_name = "N")]
        top: Option<usize>,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// The largest retainers, from the dominator tree: objects, roots and
    /// types by the bytes that freeing them would free, each object with a
    /// path from its root; and a few leak suspects.
    #[command(override_usage = "refgraph CORE --exe BIN top [OPTIONS]\n       refgraph top [OPTIONS] CORE --exe BIN")]
    Top {
        /// The core, when not given before the subcommand.
        #[arg(value_name = "CORE")]
        core: Option<PathBuf>,
        /// Rows of each kind.
        #[arg(long, value_name = "N", default_value_t = 10)]
        top: usize,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
        /// Print each phase's wall time and peak anonymous memory
        /// (dominators included) on standard error when done.
        #[arg(long)]
        timings: bool,
    },
    /// Why is it alive: the shortest path from a root to the object at an
    /// address (an address inside an object names it), or to the nearest
    /// instances of a type, then a chain through each other referrer.
    #[command(
        override_usage = "refgraph CORE --exe BIN paths [OPTIONS] ADDR\n       refgraph CORE --exe BIN paths [OPTIONS] --type T\n       refgraph paths [OPTIONS] CORE ADDR --exe BIN"
    )]
    Paths {
        /// The core, when not given before the subcommand; then the
        /// address (0x… or decimal), unless --type is given.
        #[arg(value_name = "[CORE] ADDR", num_args = 0..=2, required_unless_present = "type_name")]
        words: Vec<String>,
        /// The address, from `words`.
        #[arg(skip)]
        addr: Option<String>,
        /// A type name, as histogram prints it (`main.Entry`).
        #[arg(long = "type", value_name = "T")]
        type_name: Option<String>,
        /// Instances and chains shown, at most.
        #[arg(long, value_name = "N", default_value_t = 5)]
        limit: usize,
        /// Go around a root or a type of this name (repeatable), to see
        /// what else keeps the object alive.
        #[arg(long, value_name = "ROOT|TYPE")]
        ignore: Vec<String>,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// What grew from this core (the old one) to NEW, a core of the same
    /// executable: bytes and objects by root path and by type.
    #[command(override_usage = "refgraph OLD --exe BIN diff [OPTIONS] NEW\n       refgraph diff [OPTIONS] OLD NEW --exe BIN")]
    Diff {
        /// The older core, when not given before the subcommand; then the
        /// newer one.
        #[arg(value_name = "[OLD] NEW", num_args = 1..=2, required = true)]
        cores: Vec<PathBuf>,
        /// The newer core, from `cores`.
        #[arg(skip)]
        new: PathBuf,
        /// Rows of each kind.
        #[arg(long, value_name = "N", default_value_t = 20)]
        top: usize,
        /// Also write both cores' folded stacks side by side (`stack old
        /// new`, as difffolded.pl writes) to this file, for a differential
        /// flame graph (flamegraph.pl, inferno-flamegraph).
        #[arg(long, value_name = "FILE")]
        folded: Option<PathBuf>,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        tree: TreeArgs,
    },
}

impl Args {
    /// Moves a core given after the subcommand to [`Args::core`]; an error
    /// if it was given twice. Returns the output path of `objref` and
    /// `flame`.
    pub fn settle(&mut self) -> Result<Option<PathBuf>, String> {
        let (late, out) = match &mut self.command {
            Command::Objref { paths, .. } | Command::Flame { paths, .. } => {
                let out = paths.pop();
                (paths.pop(), out)
            }
            Command::Overview { core, .. } | Command::Histogram { core, .. } | Command::Top { core, .. } => (core.take(), None),
            Command::Paths { words, addr, type_name, .. } => {
                // One word is the core with --type, else the address.
                let last = if type_name.is_some() && words.len() < 2 { None } else { words.pop() };
                *addr = last;
                (words.pop().map(PathBuf::from), None)
            }
            Command::Diff { cores, new, .. } => {
                *new = cores.pop().unwrap_or_default();
                (cores.pop(), None)
            }
        };
        match (&self.core, late) {
            (Some(a), Some(b)) => {
                Err(format!("two cores given, {} and {}: give one, before or after the subcommand", a.display(), b.display()))
            }
            (None, Some(b)) => {
                self.core = Some(b);
                Ok(out)
            }
            _ => Ok(out),
        }
    }
}

/// How the reference tree is cut and named.
#[derive(Debug, clap::Args)]
pub struct TreeArgs {
    /// Fold frames smaller than this percentage of all reached bytes into
    /// their parent's record. A frame is the sum of all objects merged
    /// into it (siblings of one type by one link, a chain); root groups
    /// are always shown.
    #[arg(long, value_name = "PCT", default_value_t = crate::render::DEFAULT_MIN_WIDTH)]
    pub minwidth: f64,
    /// Add each object's address to its frame (`main.Entry 0xc000123000`).
    #[arg(long)]
    pub printaddr: bool,
    /// Deepest frame level printed (group, goroutine, root, then
    /// objects); deeper frames are counted in their ancestor at this
    /// level. Chains such as linked lists fold into one frame, so this
    /// only bounds unusual shapes. Stacks read from .bt or folded input
    /// are cut at this many frames too.
    #[arg(long, value_name = "N", default_value_t = crate::render::DEFAULT_MAX_DEPTH)]
    pub maxdepth: u32,
    /// Print the wall time of each phase (open, metadata, heap, roots,
    /// types, tree, output) and its peak resident anonymous memory (the
    /// core's mapped pages not counted) on standard error when done.
    #[arg(long)]
    pub timings: bool,
}
