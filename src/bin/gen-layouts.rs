//! gen-layouts: records the runtime layout tables refgraph uses for
//! executables without DWARF.
//!
//! For each unstripped Go executable given (plain or zstd-compressed), runs
//! `Layout::build` against the executable's DWARF through a recorder that
//! logs every question asked (field offset and size, type size, constant),
//! including those DWARF could not answer, and writes the transcript as
//! `<out>/go1.N.txt` (amd64) or `<out>/arm64/go1.N.txt`, one file per Go
//! minor and architecture. Then rewrites `<out>/index.rs`, which
//! `src/runtime/tables.rs` includes to embed every table.
//!
//! ```text
//! cargo run --release --bin gen-layouts -- fixtures/cores/retain-go1.*[0-9]/exe.zst fixtures/cores/retain-go1.*[0-9]-arm64/exe.zst
//! cargo run --release --bin gen-layouts -- --check fixtures/cores/retain-go1.*[0-9]/exe.zst fixtures/cores/retain-go1.*[0-9]-arm64/exe.zst
//! ```
//!
//! With `--check` nothing is written; the exit status says whether the
//! tables on disk match what would be written.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{bail, Context, Result};
use object::{Architecture, Object};

use refgraph::gobin::{read_buildinfo, Dwarf, GoVersion};
use refgraph::image::{Arch, Source};
use refgraph::runtime::tables::Table;
use refgraph::runtime::{Layout, LayoutSource};

/// The command that regenerates the tables, as written into their headers.
const REGENERATE: &str =
    "cargo run --release --bin gen-layouts -- fixtures/cores/retain-go1.*[0-9]/exe.zst fixtures/cores/retain-go1.*[0-9]-arm64/exe.zst";

/// One question `Layout::build` asked, with DWARF's answer.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Query {
    Field(String, String, Option<(u64, u64)>),
    Size(String, Option<u64>),
    Const(String, Option<i64>),
}

impl Query {
    fn line(&self) -> String {
        match self {
            Query::Field(s, f, Some((off, size))) => format!("field {s} {f} {off} {size}"),
            Query::Field(s, f, None) => format!("field {s} {f} -"),
            Query::Size(t, Some(n)) => format!("size {t} {n}"),
            Query::Size(t, None) => format!("size {t} -"),
            Query::Const(c, Some(v)) => format!("const {c} {v}"),
            Query::Const(c, None) => format!("const {c} -"),
        }
    }

    fn names(&self) -> Vec<&str> {
        match self {
            Query::Field(s, f, _) => vec![s, f],
            Query::Size(t, _) | Query::Const(t, _) => vec![t],
        }
    }
}

/// A `LayoutSource` that answers from DWARF and logs each distinct query in
/// the order first asked.
struct Recorder<'a> {
    dwarf: &'a Dwarf,
    log: RefCell<Vec<Query>>,
}

impl Recorder<'_> {
    fn note(&self, q: Query) {
        let mut log = self.log.borrow_mut();
        if !log.contains(&q) {
            log.push(q);
        }
    }
}

impl LayoutSource for Recorder<'_> {
    fn field(&self, strukt: &str, field: &str) -> Option<(u64, u64)> {
        let a = self.dwarf.field(strukt, field);
        self.note(Query::Field(strukt.into(), field.into(), a));
        a
    }
    fn size(&self, ty: &str) -> Option<u64> {
        let a = self.dwarf.size(ty);
        self.note(Query::Size(ty.into(), a));
        a
    }
    fn constant(&self, name: &str) -> Option<i64> {
        let a = LayoutSource::constant(self.dwarf, name);
        self.note(Query::Const(name.into(), a));
        a
    }
}

/// A recorded table, ready to write.
struct Recorded {
    arch: Arch,
    minor: u32,
    version: GoVersion,
    path: PathBuf,
    text: String,
}

/// A recorded table, or why the executable was not used.
type Outcome = std::result::Result<Recorded, String>;

fn record(path: &Path) -> Result<Outcome> {
    let src = Source::open(path).with_context(|| format!("opening {}", path.display()))?;
    let bytes = src.bytes();
    let file = object::File::parse(bytes).with_context(|| format!("{}: not an object file", path.display()))?;
    let arch = match file.architecture() {
        Architecture::X86_64 => Arch::Amd64,
        Architecture::Aarch64 => Arch::Arm64,
        a => return Ok(Err(format!("unsupported architecture {a:?}"))),
    };
    let info = read_buildinfo(bytes).with_context(|| format!("{}: Go build info", path.display()))?;
    let version = info.version;
    if !version.experiments.is_empty() {
        return Ok(Err(format!(
            "built with non-default GOEXPERIMENTs ({}); tables must come from default builds",
            version.raw
        )));
    }
    if info.settings.iter().any(|(k, v)| k == "-race" && v == "true") {
        return Ok(Err("a -race build".into()));
    }
    let Some(dwarf) = Dwarf::load(bytes).with_context(|| format!("{}: DWARF", path.display()))? else {
        return Ok(Err("no DWARF (stripped)".into()));
    };
    let rec = Recorder { dwarf: &dwarf, log: RefCell::new(Vec::new()) };
    let layout = Layout::build(&rec, &version, arch).with_context(|| format!("{}: building the layout from DWARF", path.display()))?;
    let log = rec.log.into_inner();
    for q in &log {
        if q.names().iter().any(|n| n.is_empty() || n.contains(char::is_whitespace)) {
            bail!("{}: a queried name cannot be written to a table: {q:?}", path.display());
        }
    }

    let minor = version.minor;
    let mut text = String::new();
    let _ = writeln!(text, "# Go runtime layout for go1.{minor} on {}, for executables without DWARF.", arch.name());
    let _ = writeln!(text, "# Recorded by src/bin/gen-layouts.rs from the DWARF of");
    let _ = writeln!(text, "#   {} ({})", path.display(), version.raw);
    let _ = writeln!(text, "# Every query Layout::build made, in order, with DWARF's answer (\"-\": absent).");
    let _ = writeln!(text, "# Generated: do not edit. Regenerate with");
    let _ = writeln!(text, "#   {REGENERATE}");
    let _ = writeln!(text, "version {}", version.raw);
    let _ = writeln!(text, "arch {}", arch.name());
    for q in &log {
        let _ = writeln!(text, "{}", q.line());
    }

    // The table must give back exactly the layout DWARF gave.
    let table = Table::parse(&text).with_context(|| format!("{}: re-reading the recorded table", path.display()))?;
    let replayed = Layout::build(&table, &version, arch).with_context(|| format!("{}: replaying the table", path.display()))?;
    if format!("{replayed:?}") != format!("{layout:?}") {
        bail!("{}: the recorded table does not reproduce the DWARF layout", path.display());
    }
    Ok(Ok(Recorded { arch, minor, version, path: path.to_path_buf(), text }))
}

/// A table without its comments: what `--check` compares, so that checking
/// against another copy of the same executable passes.
fn data_lines(text: &str) -> Vec<&str> {
    text.lines().filter(|l| !l.trim_start().starts_with('#')).collect()
}

/// The directory of `arch`'s tables under `out`.
fn arch_dir(out: &Path, arch: Arch) -> PathBuf {
    match arch {
        Arch::Amd64 => out.to_path_buf(),
        Arch::Arm64 => out.join("arm64"),
    }
}

/// The constant listing `arch`'s tables in index.rs.
fn const_name(arch: Arch) -> &'static str {
    match arch {
        Arch::Amd64 => "TABLES",
        Arch::Arm64 => "ARM64_TABLES",
    }
}

fn index(minors: &[(Arch, Vec<u32>)]) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "// Generated by src/bin/gen-layouts.rs: the recorded runtime layout tables,");
    let _ = writeln!(s, "// (Go minor, table text), oldest first, per architecture. Do not edit.");
    let _ = writeln!(s, "// Regenerate with");
    let _ = writeln!(s, "//   {REGENERATE}");
    for (arch, minors) in minors {
        let prefix = match arch {
            Arch::Amd64 => "",
            Arch::Arm64 => "arm64/",
        };
        let _ = writeln!(s, "const {}: &[(u32, &str)] = &[", const_name(*arch));
        for m in minors {
            let _ = writeln!(s, "    ({m}, include_str!(\"{prefix}go1.{m}.txt\")),");
        }
        let _ = writeln!(s, "];");
    }
    s
}

/// Minors with a `go1.N.txt` in `dir` (none if there is no `dir`).
fn minors_in(dir: &Path) -> Result<Vec<u32>> {
    let mut out = Vec::new();
    if !dir.exists() {
        return Ok(out);
    }
    for e in std::fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))? {
        let name = e?.file_name().to_string_lossy().into_owned();
        if let Some(m) = name.strip_prefix("go1.").and_then(|r| r.strip_suffix(".txt")).and_then(|m| m.parse::<u32>().ok()) {
            out.push(m);
        }
    }
    out.sort_unstable();
    Ok(out)
}

fn run() -> Result<bool> {
    let mut out_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/runtime/tables");
    let mut check = false;
    let mut inputs = Vec::new();
    let mut args = std::env::args_os().skip(1);
    while let Some(a) = args.next() {
        match a.to_str() {
            Some("--out") => out_dir = args.next().context("--out needs a directory")?.into(),
            Some("--check") => check = true,
            Some("-h" | "--help") => {
                println!("usage: gen-layouts [--check] [--out DIR] UNSTRIPPED-EXE...\n\nexample: {REGENERATE}");
                return Ok(true);
            }
            _ => inputs.push(PathBuf::from(a)),
        }
    }
    if inputs.is_empty() {
        bail!("no executables given\nexample: {REGENERATE}");
    }
    inputs.sort();

    // One table per architecture and minor: the highest patch wins; among
    // equals the first path.
    let mut chosen: BTreeMap<(&str, u32), Recorded> = BTreeMap::new();
    for path in &inputs {
        match record(path)? {
            Err(why) => eprintln!("skipping {}: {why}", path.display()),
            Ok(r) => {
                let key = (r.arch.name(), r.minor);
                let better = chosen.get(&key).map_or(true, |c| r.version.patch > c.version.patch);
                if better {
                    chosen.insert(key, r);
                }
            }
        }
    }
    if chosen.is_empty() {
        bail!("none of the executables could be used");
    }

    std::fs::create_dir_all(&out_dir).with_context(|| format!("creating {}", out_dir.display()))?;
    let mut ok = true;
    for r in chosen.values() {
        let dir = arch_dir(&out_dir, r.arch);
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        let file = dir.join(format!("go1.{}.txt", r.minor));
        let old = std::fs::read_to_string(&file).ok();
        if old.as_deref() == Some(r.text.as_str()) || (check && old.as_deref().map(data_lines) == Some(data_lines(&r.text))) {
            eprintln!("go1.{}: {} unchanged (from {})", r.minor, file.display(), r.path.display());
        } else if check {
            eprintln!("go1.{}: {} is out of date (from {})", r.minor, file.display(), r.path.display());
            ok = false;
        } else {
            std::fs::write(&file, &r.text).with_context(|| format!("writing {}", file.display()))?;
            eprintln!("go1.{}: wrote {} (from {})", r.minor, file.display(), r.path.display());
        }
    }
    let mut minors = Vec::new();
    for arch in [Arch::Amd64, Arch::Arm64] {
        let mut m = minors_in(&arch_dir(&out_dir, arch))?;
        if check {
            m.extend(chosen.values().filter(|r| r.arch == arch).map(|r| r.minor));
            m.sort_unstable();
            m.dedup();
        }
        minors.push((arch, m));
    }
    let idx = index(&minors);
    let idx_file = out_dir.join("index.rs");
    if std::fs::read_to_string(&idx_file).ok().as_deref() != Some(idx.as_str()) {
        if check {
            eprintln!("{} is out of date", idx_file.display());
            ok = false;
        } else {
            std::fs::write(&idx_file, idx).with_context(|| format!("writing {}", idx_file.display()))?;
            eprintln!("wrote {}", idx_file.display());
        }
    }
    Ok(ok)
}

fn main() -> ExitCode {
    match run() {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("gen-layouts: {e:#}");
            ExitCode::FAILURE
        }
    }
}
