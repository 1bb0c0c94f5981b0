//! Stap-style backtraces, as `viewcore objref` writes them: per record, the
//! frames one per line leaf first, then a TAB and the byte count.

use std::io::Write;

use crate::graph::{Names, Tree};

use super::records::{for_each_record, RecordOptions};

/// Writes the tree as .bt records.
pub fn write_bt(tree: &Tree, names: &dyn Names, opt: RecordOptions, out: &mut dyn Write) -> std::io::Result<()> {
    for_each_record(tree, names, opt, &mut |frames, count| {
        for f in frames {
            writeln!(out, "{f}")?;
        }
        writeln!(out, "\t{count}")
    })
}
