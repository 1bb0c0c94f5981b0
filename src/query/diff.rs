//! What grew between two cores of one program: bytes and objects by root
//! path (the records' group and root frames) and by type, largest change
//! first, and the two cores' folded stacks side by side in the form
//! difffolded.pl writes (`stack old new`), which flamegraph.pl and inferno
//! draw as a differential flame graph.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;

use serde_json::{json, Value};

use crate::graph::{Names, Tree};
use crate::infer::HistogramRow;
use crate::render::{fold_tree, for_each_record_counted, RecordOptions};

/// What one core contributes to a diff.
pub struct Side {
    /// Folded stacks (bytes).
    stacks: BTreeMap<String, u64>,
    /// (bytes, objects) by root path, `group;root`.
    roots: BTreeMap<String, (u64, u64)>,
    /// (bytes, objects) by type, over the whole heap.
    types: BTreeMap<String, (u64, u64)>,
}

impl Side {
    /// Summarizes one core's tree and histogram.
    pub fn new(tree: &Tree, names: &dyn Names, opt: RecordOptions, histogram: &[HistogramRow]) -> Side {
        let stacks = fold_tree(tree, names, opt);
        let mut roots: BTreeMap<String, (u64, u64)> = BTreeMap::new();
        for_each_record_counted(tree, names, opt, &mut |frames, bytes, objects| {
            let top: Vec<&str> = frames.iter().rev().take(2).map(String::as_str).collect();
            let e = roots.entry(top.join(";")).or_default();
            e.0 += bytes;
            e.1 += objects;
            Ok(())
        })
        .expect("counting into memory cannot fail");
        let types = histogram.iter().map(|r| (r.name.clone(), (r.bytes, r.count))).collect();
        Side { stacks, roots, types }
    }
}

/// One changed row.
#[derive(Clone, Debug)]
pub struct Change {
    pub name: String,
    pub old_bytes: u64,
    pub new_bytes: u64,
    pub old_objects: u64,
    pub new_objects: u64,
}

impl Change {
    pub fn bytes(&self) -> i64 {
        self.new_bytes as i64 - self.old_bytes as i64
    }

    pub fn objects(&self) -> i64 {
        self.new_objects as i64 - self.old_objects as i64
    }
}

/// The differences between two sides.
pub struct Diff {
    pub roots: Vec<Change>,
    pub types: Vec<Change>,
    old_stacks: BTreeMap<String, u64>,
    new_stacks: BTreeMap<String, u64>,
}

/// Rows that changed, largest change in bytes (then objects) first.
fn changes(old: &BTreeMap<String, (u64, u64)>, new: &BTreeMap<String, (u64, u64)>) -> Vec<Change> {
    let keys: BTreeSet<&String> = old.keys().chain(new.keys()).collect();
    let mut out: Vec<Change> = keys
        .into_iter()
        .map(|k| {
            let (ob, oo) = old.get(k).copied().unwrap_or_default();
            let (nb, no) = new.get(k).copied().unwrap_or_default();
            Change { name: k.clone(), old_bytes: ob, new_bytes: nb, old_objects: oo, new_objects: no }
        })
        .filter(|c| c.bytes() != 0 || c.objects() != 0)
        .collect();
    out.sort_by(|a, b| {
        b.bytes().abs().cmp(&a.bytes().abs()).then(b.objects().abs().cmp(&a.objects().abs())).then_with(|| a.name.cmp(&b.name))
    });
    out
}

impl Diff {
    pub fn new(old: Side, new: Side) -> Diff {
        Diff {
            roots: changes(&old.roots, &new.roots),
            types: changes(&old.types, &new.types),
            old_stacks: old.stacks,
            new_stacks: new.stacks,
        }
    }

    /// Writes `stack old new` lines for every stack in either core.
    pub fn write_folded(&self, out: &mut dyn Write) -> std::io::Result<()> {
        let keys: BTreeSet<&String> = self.old_stacks.keys().chain(self.new_stacks.keys()).collect();
        for k in keys {
            writeln!(out, "{k} {} {}", self.old_stacks.get(k).copied().unwrap_or(0), self.new_stacks.get(k).copied().unwrap_or(0))?;
        }
        Ok(())
    }

    /// The `top` largest changes of each kind, as text.
    pub fn text(&self, top: usize) -> String {
        let mut s = String::new();
        for (title, rows) in [("by root path:", &self.roots), ("by type:", &self.types)] {
            s.push_str(&format!("{title}\n{:>14} {:>10} {:>14} {:>14}  name\n", "bytes", "objects", "old bytes", "new bytes"));
            for c in rows.iter().take(top) {
                s.push_str(&format!("{:>+14} {:>+10} {:>14} {:>14}  {}\n", c.bytes(), c.objects(), c.old_bytes, c.new_bytes, c.name));
            }
            s.push('\n');
        }
        s
    }

    /// The `top` largest changes of each kind, as JSON (schema in the
    /// README).
    pub fn json(&self, top: usize) -> Value {
        let rows = |rows: &[Change]| -> Vec<Value> {
            rows.iter()
                .take(top)
                .map(|c| {
                    json!({
                        "name": c.name,
                        "bytes": c.bytes(),
                        "objects": c.objects(),
                        "old_bytes": c.old_bytes,
                        "new_bytes": c.new_bytes,
                        "old_objects": c.old_objects,
                        "new_objects": c.new_objects,
                    })
                })
                .collect()
        };
        json!({"roots": rows(&self.roots), "types": rows(&self.types)})
    }
}
