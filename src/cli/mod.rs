//! The command line: argument parsing, the pipeline driver, warnings and
//! exit codes. The only module that prints or uses anyhow.

mod args;
mod drill;
mod histogram;
mod memory;
mod output;
mod overview;
pub mod pipeline;
mod progress;

use anyhow::{bail, Context, Result};
use clap::Parser;

use crate::gobin::read_buildinfo;
use crate::image::{Core, Exe, Image};

pub use self::args::{Args, Command, TreeArgs};
use self::output::Output;
use self::pipeline::Timings;

use crate::render::{detect, fold_tree, read_stacks, write_bt, write_folded, write_pprof, write_svg, Limits, RecordOptions};

/// Runs the command line and returns the process exit code.
pub fn main() -> i32 {
    pipeline::tune_allocator();
    let mut args = Args::parse();
    let out = match args.settle() {
        Ok(out) => out,
        Err(e) => {
            eprintln!("refgraph: error: {e}");
            return 2;
        }
    };
    // Top-level phases: open, metadata, heap, roots, types, tree, output.
    let phases = match &args.command {
        Command::Flame { input: Some(_), .. } => 1,
        Command::Flame { .. } if args.core.is_none() => 1,
        Command::Histogram { .. } => 5,
        _ => 7,
    };
    progress::begin(phases);
    let result = run(args, out.unwrap_or_default());
    progress::end();
    match result {
        Ok(()) => 0,
        // A closed pipe (`refgraph ... | head`) is not an error worth a word.
        Err(e) if is_broken_pipe(&e) => 0,
        Err(e) => {
            eprintln!("refgraph: error: {}", one_line(&e));
            1
        }
    }
}

/// Joins an error chain into one line.
fn one_line(e: &anyhow::Error) -> String {
    e.chain().map(|c| c.to_string()).collect::<Vec<_>>().join(": ")
}

fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| c.downcast_ref::<std::io::Error>().is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe))
}

fn run(args: Args, out: std::path::PathBuf) -> Result<()> {
    let out = &out;
    match &args.command {
        Command::Objref { folded, pprof, tree, .. } => {
            let opt = record_options(tree)?;
            let dest = Output::create(out)?;
            check_extension(out, if *pprof { "gz" } else if *folded { "folded" } else { "bt" });
            let mut timings = Timings::with_memory(tree.timings);
            let image = timings.run("open", "opening the core", || open_image(&args))?;
            let result = pipeline::analyze(&image, &mut timings, |a, timings| {
                warn(&a.typed.warnings);
                timings.run_counted("output", "writing the output", progress::Unit::Bytes, |tally| {
                    let written = &tally.done;
                    if *pprof {
                        dest.write_counted(written, |w| write_pprof(&a.tree, a.typed.inference, opt, w))
                    } else if *folded {
                        let stacks = fold_tree(&a.tree, a.typed.inference, opt);
                        dest.write_counted(written, |w| write_folded(&stacks, w))
                    } else {
                        dest.write_counted(written, |w| write_bt(&a.tree, a.typed.inference, opt, w))
                    }
                })?;
                summarize(a, out);
                Ok(())
            });
            truncated_context(&image, result)?;
            if tree.timings {
                progress::note(&format!("refgraph: time: {}", timings.line()));
            }
            Ok(())
        }
        Command::Flame { input, title, tree, .. } => {
            let opt = record_options(tree)?;
            // Checked before anything is opened or written.
            if args.core.is_some() && input.is_some() {
                bail!("give either a core or --input, not both");
            }
            let dest = Output::create(out)?;
            check_extension(out, "svg");
            let mut timings = Timings::with_memory(tree.timings);
            let (stacks, title) = match (&args.core, input) {
                (Some(core), _) => {
                    let image = timings.run("open", "opening the core", || open_image(&args))?;
                    let stacks = pipeline::analyze(&image, &mut timings, |a, _| {
                        warn(&a.typed.warnings);
                        Ok(fold_tree(&a.tree, a.typed.inference, opt))
                    });
                    let stacks = truncated_context(&image, stacks)?;
                    (stacks, title.clone().unwrap_or_else(|| program_title(&image, core)))
                }
                (None, input) => {
                    let text = read_input(input.as_deref())?;
                    let limits = Limits::with_max_depth(tree.maxdepth);
                    let read = read_stacks(&text, detect(&text), limits);
                    warn(&read.warnings(limits));
                    (read.stacks, title.clone().unwrap_or_else(|| "refgraph".to_string()))
                }
            };
            let total = stacks.values().fold(0u64, |a, &c| a.saturating_add(c));
            if total == 0 {
                bail!("nothing to draw: the stacks hold 0 bytes");
            }
            let title = format!("{title}: {} reachable", human_bytes(total));
            let subtitle =
                "width: the bytes each path keeps reachable (roots at the bottom, what they hold above); click to zoom, Ctrl-F to search";
            timings.run_counted("output", "drawing the flame graph", progress::Unit::Bytes, |tally| {
                dest.write_counted(&tally.done, |w| write_svg(&stacks, &title, subtitle, w))
            })?;
            progress::note(&format!("refgraph: wrote {}: {} stacks, {} reachable", out.display(), stacks.len(), human_bytes(total)));
            if tree.timings {
                progress::note(&format!("refgraph: time: {}", timings.line()));
            }
            Ok(())
        }
        Command::Overview { json, .. } => {
            let mut timings = Timings::default();
            let image = timings.run("open", "opening the core", || open_image(&args))?;
            truncated_context(&image, overview::print(&image, timings, *json, &mut std::io::stdout().lock()))
        }
        Command::Histogram { top, json, .. } => {
            let image = open_image(&args)?;
            truncated_context(&image, histogram::print(&image, *top, *json, &mut std::io::stdout().lock()))
        }
        Command::Top { top, json, timings, .. } => {
            let mut t = Timings::with_memory(*timings);
            let image = t.run("open", "opening the core", || open_image(&args))?;
            truncated_context(&image, drill::top(&image, &mut t, *top, *json, &mut std::io::stdout().lock()))?;
            if *timings {
                progress::note(&format!("refgraph: time: {}", t.line()));
            }
            Ok(())
        }
        Command::Paths { addr, type_name, limit, ignore, json, .. } => {
            let image = open_image(&args)?;
            let r = drill::paths(&image, addr.as_deref(), type_name.as_deref(), *limit, ignore, *json, &mut std::io::stdout().lock());
            truncated_context(&image, r)
        }
        Command::Diff { new, top, folded, json, tree, .. } => {
            let opt = record_options(tree)?;
            // Opened before the analysis: a bad path is said at once.
            let folded = folded.as_deref().map(Output::create).transpose()?;
            let image = open_image(&args)?;
            let exe = args.exe.as_deref().expect("open_image checked --exe");
            let o = drill::DiffOptions { records: opt, top: *top, folded, json: *json, debuginfo: args.debuginfo.as_deref() };
            drill::diff(image, exe, new, o, &mut std::io::stdout().lock())
        }
    }
}

/// Warns when the output file's extension names another format than the
/// one written (`objref out.folded` without `--folded`).
fn check_extension(out: &std::path::Path, format: &str) {
    let Some(ext) = out.extension().and_then(|e| e.to_str()) else { return };
    let known = ["bt", "folded", "svg", "gz"];
    if ext != format && known.contains(&ext) {
        let hint = match format {
            "bt" => "; add --folded to write folded stacks",
            "folded" | "gz" => "; drop --folded or --pprof to write .bt records",
            _ => "",
        };
        progress::note(&format!("refgraph: warning: writing {format} output to {}, whose name says {ext}{hint}", out.display()));
    }
}

/// The flame graph's title: the program (its command line from the core,
/// else the executable's main package) and its Go version.
fn program_title(image: &Image, core: &std::path::Path) -> String {
    let c = &image.core;
    let program = c
        .args
        .clone()
        .filter(|a| !a.trim().is_empty())
        .or_else(|| c.command.clone())
        .or_else(|| read_buildinfo(image.exe.bytes()).ok().and_then(|i| i.main_path))
        .unwrap_or_else(|| core.display().to_string());
    match read_buildinfo(image.exe.bytes()) {
        Ok(info) => format!("{} ({})", program.trim(), info.version.raw),
        Err(_) => program.trim().to_string(),
    }
}

/// A failure on a truncated core says so first: the missing bytes are
/// the likely cause.
fn truncated_context<T>(image: &Image, r: Result<T>) -> Result<T> {
    match (r, image.core.truncation()) {
        (Err(e), Some(t)) => Err(e.context(t)),
        (r, _) => r,
    }
}

fn record_options(t: &TreeArgs) -> Result<RecordOptions> {
    if !(0.0..=100.0).contains(&t.minwidth) {
        bail!("--minwidth is a percentage between 0 and 100, not {}", t.minwidth);
    }
    Ok(RecordOptions { min_width: t.minwidth, print_addr: t.printaddr, max_depth: t.maxdepth })
}

/// One line on stderr about what was written.
fn summarize(a: &pipeline::Analysis, out: &std::path::Path) {
    let pct = |x: u64, of: u64| if of == 0 { 100.0 } else { 100.0 * x as f64 / of as f64 };
    progress::note(&format!(
        "refgraph: wrote {}: {} of {} heap objects reached ({} of {}, {:.2}%); typed {:.2}% of them ({:.2}% of their bytes)",
        out.display(),
        a.reached_objects,
        a.typed.heap.len(),
        human_bytes(a.reached_bytes),
        human_bytes(a.typed.heap.bytes()),
        pct(a.reached_bytes, a.typed.heap.bytes()),
        pct(a.typed_objects, a.reached_objects),
        pct(a.typed_bytes, a.reached_bytes)
    ));
}

fn warn(warnings: &[String]) {
    for w in warnings {
        progress::note(&format!("refgraph: warning: {w}"));
    }
}

/// The text of .bt or folded input; bytes that are not UTF-8 become U+FFFD.
fn read_input(path: Option<&std::path::Path>) -> Result<String> {
    use std::io::Read;
    let mut bytes = Vec::new();
    match path {
        Some(p) if p.as_os_str() != "-" => {
            bytes = std::fs::read(p).with_context(|| format!("reading {}", p.display()))?;
        }
        _ => {
            if std::io::IsTerminal::is_terminal(&std::io::stdin()) {
                bail!("no input: give a core, --input FILE, or pipe .bt or folded stacks in");
            }
            std::io::stdin().read_to_end(&mut bytes).context("reading standard input")?;
        }
    }
    Ok(match String::from_utf8(bytes) {
        Ok(s) => s,
        Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned(),
    })
}

/// `12.3 MiB`.
pub fn human_bytes(b: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = b as f64;
    let mut u = 0;
    while v >= 1024.0 && u + 1 < UNITS.len() {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{b} B")
    } else {
        format!("{v:.1} {}", UNITS[u])
    }
}

/// Opens the core and executable named on the command line.
fn open_image(args: &Args) -> Result<Image> {
    let Some(core) = &args.core else { bail!("this command needs a core file: refgraph CORE --exe BIN ...") };
    let Some(exe) = &args.exe else { bail!("this command needs the executable: refgraph CORE --exe BIN ...") };
    open_paths(core, exe, args.debuginfo.as_deref())
}

/// Opens a core and its executable.
fn open_paths(core: &std::path::Path, exe: &std::path::Path, debuginfo: Option<&std::path::Path>) -> Result<Image> {
    let exe_file = progress::phase("reading the executable", || Exe::open(exe)).with_context(|| format!("executable {}", exe.display()))?;
    // Say "not a Go program" before "does not match the core".
    read_buildinfo(exe_file.bytes()).with_context(|| format!("executable {}", exe.display()))?;
    let core_file = progress::phase("reading the core", || Core::open(core)).with_context(|| format!("core {}", core.display()))?;
    // The executable the process ran, as the core's file mappings name it.
    let ran = core_file.files.first().map(|f| f.path.clone());
    let image = match progress::phase("checking the executable against the core", || Image::join(core_file, exe_file)) {
        Ok(image) => image,
        Err(e @ crate::image::Error::ExeMismatch { .. }) => match ran {
            Some(path) => bail!("{e}; the process ran {path}: pass that very build with --exe"),
            None => return Err(e.into()),
        },
        Err(e) => return Err(e.into()),
    };
    let Some(path) = debuginfo else { return Ok(image) };
    let file = Exe::open(path).with_context(|| format!("debug-info file {}", path.display()))?;
    Ok(progress::phase("checking the debug-info file against the executable", || image.with_debuginfo(file))?)
}
