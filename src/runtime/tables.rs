//! Runtime layouts for executables without DWARF, recorded per Go minor
//! from the DWARF of unstripped builds.
//!
//! Each table under `src/runtime/tables/` is the transcript of one
//! [`Layout::build`] run against an unstripped executable: every question it
//! asked its [`LayoutSource`] (field offsets, type sizes, constants) with the
//! answer DWARF gave, absent answers included. Replaying a transcript through
//! [`Layout::build`] for a stripped binary of the same Go minor gives the
//! layout DWARF would have given, and the version-dependent logic (pointer-map
//! scheme, GOEXPERIMENTs) still runs on the stripped binary's own version
//! string.
//!
//! The tables are generated, never edited: `src/bin/gen-layouts.rs` writes
//! them (see the header of each file for the command).

use std::cell::RefCell;
use std::collections::HashMap;

use crate::gobin::GoVersion;
use crate::image::Arch;

use super::layout::{Layout, LayoutError, LayoutSource};

// `TABLES` (amd64) and `ARM64_TABLES`: `&[(u32, &str)]`, (Go minor, table
// text), oldest first. Written by gen-layouts next to the tables.
include!("tables/index.rs");

/// The recorded tables for `arch`.
fn tables(arch: Arch) -> &'static [(u32, &'static str)] {
    match arch {
        Arch::Amd64 => TABLES,
        Arch::Arm64 => ARM64_TABLES,
    }
}

/// One recorded table: the answers to every query one `Layout::build` run
/// made.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Table {
    /// The Go version of the executable the table was recorded from.
    pub version: String,
    /// GOARCH of that executable.
    pub arch: String,
    /// (struct, field) → (offset, size), or None if DWARF had no such field.
    pub fields: HashMap<(String, String), Option<(u64, u64)>>,
    /// type → byte size, or None.
    pub sizes: HashMap<String, Option<u64>>,
    /// constant → value, or None.
    pub constants: HashMap<String, Option<i64>>,
}

/// A malformed table line.
#[derive(Debug, thiserror::Error)]
#[error("layout table line {line}: {msg}")]
pub struct TableError {
    /// 1-based line number.
    pub line: usize,
    /// What is wrong with it.
    pub msg: String,
}

impl Table {
    /// Parses a table. Lines are `#` comments, blank, or one of
    ///
    /// ```text
    /// version go1.22.12
    /// arch amd64
    /// field <struct> <field> <offset> <size>     (or: field <struct> <field> -)
    /// size <type> <bytes>                        (or: size <type> -)
    /// const <name> <value>                       (or: const <name> -)
    /// ```
    pub fn parse(text: &str) -> Result<Table, TableError> {
        let mut t = Table::default();
        for (i, raw) in text.lines().enumerate() {
            let line = raw.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let err = |msg: &str| TableError { line: i + 1, msg: format!("{msg}: {raw:?}") };
            let w: Vec<&str> = line.split_whitespace().collect();
            let num = |s: &str| s.parse::<u64>().map_err(|_| err("bad number"));
            match w.as_slice() {
                ["version", v] => t.version = (*v).to_string(),
                ["arch", a] => t.arch = (*a).to_string(),
                ["field", s, f, "-"] => {
                    t.fields.insert(((*s).into(), (*f).into()), None);
                }
                ["field", s, f, off, size] => {
                    t.fields.insert(((*s).into(), (*f).into()), Some((num(off)?, num(size)?)));
                }
                ["size", ty, "-"] => {
                    t.sizes.insert((*ty).into(), None);
                }
                ["size", ty, n] => {
                    t.sizes.insert((*ty).into(), Some(num(n)?));
                }
                ["const", name, "-"] => {
                    t.constants.insert((*name).into(), None);
                }
                ["const", name, v] => {
                    let v = v.parse::<i64>().map_err(|_| err("bad constant"))?;
                    t.constants.insert((*name).into(), Some(v));
                }
                _ => return Err(err("unknown line")),
            }
        }
        if t.version.is_empty() || t.arch.is_empty() {
            return Err(TableError { line: 0, msg: "no version or arch line".into() });
        }
        Ok(t)
    }
}

/// Answers only what was recorded; a question the recording run never asked
/// (an experiment-specific field, say) has no answer.
impl LayoutSource for Table {
    fn field(&self, strukt: &str, field: &str) -> Option<(u64, u64)> {
        self.fields.get(&(strukt.to_string(), field.to_string())).copied().flatten()
    }
    fn size(&self, ty: &str) -> Option<u64> {
        self.sizes.get(ty).copied().flatten()
    }
    fn constant(&self, name: &str) -> Option<i64> {
        self.constants.get(name).copied().flatten()
    }
}

/// The Go minors with a recorded table for `arch`, oldest first.
pub fn recorded_minors(arch: Arch) -> Vec<u32> {
    tables(arch).iter().map(|(m, _)| *m).collect()
}

/// The minor whose table serves `version` on `arch`: its own, or the newest
/// table for a release newer than every table. None when no table applies
/// (releases older than the oldest table, a gap).
pub fn table_minor_for(version: &GoVersion, arch: Arch) -> Option<u32> {
    let tables = tables(arch);
    let newest = tables.last()?.0;
    if version.minor > newest {
        return Some(newest);
    }
    tables.iter().find(|(m, _)| *m == version.minor).map(|(m, _)| *m)
}

/// A warning to show when `version` is served by another minor's table (a
/// Go release newer than refgraph's tables); None when the table is its own.
pub fn table_warning(version: &GoVersion, arch: Arch) -> Option<String> {
    let m = table_minor_for(version, arch)?;
    (m != version.minor).then(|| {
        format!(
            "the executable has no DWARF and refgraph has no {} runtime layout table for go1.{} yet; \
             using the go1.{m} table (offsets may be wrong if the runtime's structures changed)",
            arch.name(),
            version.minor
        )
    })
}

/// The recorded layout for `version`.
pub fn layout_for(version: &GoVersion, arch: Arch) -> Result<Layout, LayoutError> {
    let fail = |what: String| LayoutError { version: version.raw.clone(), what };
    let Some(minor) = table_minor_for(version, arch) else {
        let minors: Vec<String> = recorded_minors(arch).iter().map(|m| format!("go1.{m}")).collect();
        return Err(fail(format!(
            "DWARF (stripped executable), and no recorded {} layout table for go1.{} (tables: {}); \
             build without -ldflags=-s/-w",
            arch.name(),
            version.minor,
            if minors.is_empty() { "none".to_string() } else { minors.join(", ") }
        )));
    };
    let text = tables(arch).iter().find(|(m, _)| *m == minor).map(|(_, t)| *t).unwrap_or_default();
    let table = Table::parse(text).map_err(|e| fail(format!("usable layout table for go1.{minor} ({e})")))?;
    let replay = Replay { table: &table, unrecorded: RefCell::new(Vec::new()) };
    Layout::build(&replay, version, arch).map_err(|e| {
        let unrecorded = replay.unrecorded.into_inner();
        let why = if unrecorded.is_empty() {
            String::new()
        } else {
            format!(
                "; the table has no record of {} at all: it predates this version of the layout code \
                 (regenerate the tables with src/bin/gen-layouts.rs) or {} uses GOEXPERIMENTs the recorded build did not",
                unrecorded.join(", "),
                version.raw
            )
        };
        fail(format!("{} in the go1.{minor} layout table recorded from {} (stripped executable, no DWARF){why}", e.what, table.version))
    })
}

/// A table as a layout source that remembers the questions it has no record
/// of, to explain a failure.
struct Replay<'a> {
    table: &'a Table,
    unrecorded: RefCell<Vec<String>>,
}

impl Replay<'_> {
    fn note<T>(&self, recorded: bool, what: impl FnOnce() -> String, answer: Option<T>) -> Option<T> {
        if !recorded {
            self.unrecorded.borrow_mut().push(what());
        }
        answer
    }
}

impl LayoutSource for Replay<'_> {
    fn field(&self, strukt: &str, field: &str) -> Option<(u64, u64)> {
        let recorded = self.table.fields.contains_key(&(strukt.to_string(), field.to_string()));
        self.note(recorded, || format!("{strukt}.{field}"), self.table.field(strukt, field))
    }
    fn size(&self, ty: &str) -> Option<u64> {
        self.note(self.table.sizes.contains_key(ty), || format!("sizeof {ty}"), self.table.size(ty))
    }
    fn constant(&self, name: &str) -> Option<i64> {
        self.note(self.table.constants.contains_key(name), || format!("constant {name}"), self.table.constant(name))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_table_parses_and_builds_its_own_version() {
        for arch in [Arch::Amd64, Arch::Arm64] {
            assert!(!tables(arch).is_empty());
            for (minor, text) in tables(arch) {
                let t = Table::parse(text).unwrap();
                let v = GoVersion::parse(&t.version).unwrap();
                assert_eq!(v.minor, *minor);
                assert_eq!(t.arch, arch.name());
                let l = layout_for(&v, arch).unwrap();
                assert_eq!(l.minor, *minor);
                assert!(table_warning(&v, arch).is_none());
            }
        }
    }

    #[test]
    fn newer_minor_uses_newest_table_with_warning() {
        for arch in [Arch::Amd64, Arch::Arm64] {
            let newest = *recorded_minors(arch).last().unwrap();
            let v = GoVersion::parse(&format!("go1.{}.0", newest + 1)).unwrap();
            assert_eq!(table_minor_for(&v, arch), Some(newest));
            assert!(table_warning(&v, arch).is_some());
            assert!(layout_for(&v, arch).is_ok());
        }
    }

    #[test]
    fn gaps_and_old_releases_fail_clearly() {
        // arm64 tables exist for some minors only: a stripped build of
        // another one is refused, naming the tables there are.
        let minors = recorded_minors(Arch::Arm64);
        let gap = (minors[0]..*minors.last().unwrap()).find(|m| !minors.contains(m)).expect("a minor without an arm64 table");
        let v = GoVersion::parse(&format!("go1.{gap}.1")).unwrap();
        let e = layout_for(&v, Arch::Arm64).unwrap_err();
        assert!(e.what.contains("arm64") && e.what.contains(&format!("go1.{}", minors[0])), "{e}");
        let old = GoVersion::parse("go1.17.1").unwrap();
        assert!(layout_for(&old, Arch::Amd64).is_err());
        assert!(layout_for(&old, Arch::Arm64).is_err());
    }

    #[test]
    fn parse_rejects_garbage() {
        assert!(Table::parse("version go1.22.1\narch amd64\nfield a b c d\n").is_err());
        assert!(Table::parse("bogus\n").is_err());
        let t = Table::parse("version go1.22.1\narch amd64\nfield a b 8 4\nfield a c -\nconst k -5\nsize t -\n").unwrap();
        assert_eq!(t.field("a", "b"), Some((8, 4)));
        assert_eq!(t.field("a", "c"), None);
        assert_eq!(t.constant("k"), Some(-5));
        assert_eq!(t.size("t"), None);
    }
}
