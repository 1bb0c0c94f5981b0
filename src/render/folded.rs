//! Folded stacks (`root;…;leaf count`), the input of flamegraph.pl, inferno
//! and speedscope: identical stacks summed, lines sorted — the same shape
//! stackcollapse-stap.pl gives, so a .bt collapsed by either tool and this
//! output agree line for line.

use std::collections::BTreeMap;
use std::io::Write;

use crate::graph::{Names, Tree};

use super::records::{for_each_record, RecordOptions};

/// Folds the tree's records into summed, sorted stacks.
pub fn fold_tree(tree: &Tree, names: &dyn Names, opt: RecordOptions) -> BTreeMap<String, u64> {
    let mut stacks = BTreeMap::new();
    for_each_record(tree, names, opt, &mut |frames, count| {
        let mut key = String::new();
        for (i, f) in frames.iter().rev().enumerate() {
            if i > 0 {
                key.push(';');
            }
            key.push_str(f);
        }
        *stacks.entry(key).or_insert(0) += count;
        Ok(())
    })
    .expect("folding into memory cannot fail");
    stacks
}

/// Writes folded stacks, one `stack count` line each.
pub fn write_folded(stacks: &BTreeMap<String, u64>, out: &mut dyn Write) -> std::io::Result<()> {
    for (stack, count) in stacks {
        writeln!(out, "{stack} {count}")?;
    }
    Ok(())
}
