//! Helpers shared by the integration tests: the fixture corpus and its
//! ground truth.

use std::path::{Path, PathBuf};

use refgraph::image::Image;
use serde_json::Value;

/// One fixture: a core, its executable and what the program said about itself.
pub struct Fixture {
    pub name: String,
    pub dir: PathBuf,
    pub truth: serde_json::Map<String, Value>,
}

impl Fixture {
    pub fn core(&self) -> PathBuf {
        self.dir.join("core.zst")
    }

    pub fn exe(&self) -> PathBuf {
        self.dir.join("exe.zst")
    }

    /// A numeric truth value.
    pub fn num(&self, key: &str) -> u64 {
        self.truth.get(key).and_then(Value::as_u64).unwrap_or_else(|| panic!("{}: truth.json has no number {key}", self.name))
    }

    /// A numeric truth value, if present.
    pub fn opt_num(&self, key: &str) -> Option<u64> {
        self.truth.get(key).and_then(Value::as_u64)
    }

    /// A string truth value.
    pub fn str(&self, key: &str) -> String {
        match self.truth.get(key) {
            Some(Value::String(s)) => s.clone(),
            Some(v) => v.to_string(),
            None => panic!("{}: truth.json has no {key}", self.name),
        }
    }

    pub fn program(&self) -> String {
        self.str("program")
    }

    pub fn variant(&self) -> String {
        self.str("variant")
    }

    /// Built with `-s -w` (variants `stripped`, `cgo-stripped`).
    pub fn stripped(&self) -> bool {
        self.variant().ends_with("stripped")
    }

    /// A position-independent executable (variants `pie`, `cgo-pie`).
    pub fn pie(&self) -> bool {
        self.variant().ends_with("pie")
    }

    /// Built with cgo and linked by the external (C) linker.
    pub fn cgo(&self) -> bool {
        self.variant().starts_with("cgo")
    }

    /// GOARCH of the dumped program (fixtures from before the arch key
    /// are amd64).
    pub fn arch(&self) -> String {
        if self.truth.contains_key("arch") {
            self.str("arch")
        } else {
            "amd64".into()
        }
    }

    /// Go minor version from the truth file (22 for go1.22.12).
    pub fn minor(&self) -> u32 {
        let v = self.str("go_version");
        v.trim_start_matches("go1.").split(|c: char| !c.is_ascii_digit()).next().unwrap().parse().unwrap()
    }
}

/// Opens a fixture's core and executable.
pub fn open_image(f: &Fixture) -> Result<Image, String> {
    Image::open(&f.core(), &f.exe()).map_err(|e| e.to_string())
}

pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Loads one fixture directory.
pub fn load(dir: &Path) -> Fixture {
    let text = std::fs::read_to_string(dir.join("truth.json")).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    let Value::Object(truth) = serde_json::from_str(&text).unwrap() else { panic!("{}: truth.json is not an object", dir.display()) };
    Fixture { name: dir.file_name().unwrap().to_string_lossy().into_owned(), dir: dir.to_path_buf(), truth }
}

/// Every fixture under fixtures/cores, sorted by name.
pub fn fixtures() -> Vec<Fixture> {
    let dir = root().join("fixtures/cores");
    let out = fixtures_in(&dir);
    assert!(!out.is_empty(), "no fixtures under {}", dir.display());
    out
}

/// Every fixture directory (one with a truth.json) in `dir`, sorted by name.
pub fn fixtures_in(dir: &Path) -> Vec<Fixture> {
    let mut out: Vec<Fixture> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.join("truth.json").exists())
        .map(|p| load(&p))
        .collect();
    out.sort_by(|a, b| a.name.cmp(&b.name));
    out
}

/// Runs `f` on every fixture in parallel-free order, collecting failures so
/// one bad fixture does not hide the others.
pub fn each(fixtures: &[Fixture], mut f: impl FnMut(&Fixture) -> Result<(), String>) {
    let mut failures = Vec::new();
    for fx in fixtures {
        if let Err(e) = f(fx) {
            failures.push(format!("{}: {e}", fx.name));
        }
    }
    assert!(failures.is_empty(), "{} of {} fixtures failed:\n{}", failures.len(), fixtures.len(), failures.join("\n"));
}

/// Runs refgraph on a fixture's core and executable with `args`; returns
/// stdout, or stderr when it fails.
pub fn run_refgraph(f: &Fixture, args: &[&str]) -> Result<String, String> {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_refgraph"))
        .arg(f.core())
        .arg("--exe")
        .arg(f.exe())
        .args(args)
        .output()
        .map_err(|e| e.to_string())?;
    if !out.status.success() {
        return Err(String::from_utf8_lossy(&out.stderr).into_owned());
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// A number from `overview --json` output.
pub fn json_num(m: &serde_json::Map<String, Value>, k: &str) -> Result<u64, String> {
    m.get(k).and_then(Value::as_u64).ok_or_else(|| format!("overview --json has no {k}"))
}

/// `overview --json` of a fixture, as a JSON object.
pub fn overview(f: &Fixture) -> Result<serde_json::Map<String, Value>, String> {
    match serde_json::from_str(&run_refgraph(f, &["overview", "--json"])?) {
        Ok(Value::Object(m)) => Ok(m),
        _ => Err("overview --json is not a JSON object".into()),
    }
}

/// The goroutine frame `{func} (created by {creator} at FILE:LINE)` as it
/// appears in `text` (folded stacks or .bt output): the creating `go`
/// statement's file and line come from the executable's line table, which
/// the crash-trace test checks against the runtime's own traceback.
pub fn goroutine_frame(text: &str, func: &str, creator: &str) -> Result<String, String> {
    let head = format!("{func} (created by {creator} at ");
    let at = text.find(&head).ok_or_else(|| format!("no goroutine frame {head}…)"))?;
    let rest = &text[at + head.len()..];
    let end = rest.find(')').ok_or_else(|| format!("unterminated {head}"))?;
    let (file, line) = rest[..end].rsplit_once(':').ok_or_else(|| format!("{head}{}: no line", &rest[..end]))?;
    if !file.ends_with(".go") || line.is_empty() || !line.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("{head}{}): not FILE.go:LINE", &rest[..end]));
    }
    Ok(format!("{head}{})", &rest[..end]))
}
