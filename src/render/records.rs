//! The records of a tree as the reference objref prints them: depth first,
//! children before their parent; a node is printed if its subtree reaches
//! `minwidth` percent of the total, and its record counts its own bytes plus
//! those of the children that were not printed.

use crate::graph::{NodeKind, Tree, NO_LINK};

use super::sanitize::frame;

/// How records are cut and named.
#[derive(Clone, Copy, Debug)]
pub struct RecordOptions {
    /// Percent of the total below which a subtree is folded into its parent.
    pub min_width: f64,
    /// Append ` 0x<addr>` to object frames.
    pub print_addr: bool,
    /// Deepest node printed, counted in tree levels from the top (group =
    /// 1, root = 2, first object = 3); deeper subtrees are folded into
    /// their ancestor at this depth. Keeps long chains (linked lists) from
    /// producing output quadratic in their length.
    pub max_depth: u32,
}

/// Default [`RecordOptions::max_depth`].
pub const DEFAULT_MAX_DEPTH: u32 = 100;

impl Default for RecordOptions {
    fn default() -> Self {
        RecordOptions { min_width: 0.01, print_addr: false, max_depth: DEFAULT_MAX_DEPTH }
    }
}

/// Calls `f(frames, count)` for every record, frames leaf first. Records
/// with a count of 0 are skipped.
pub fn for_each_record(tree: &Tree, opt: RecordOptions, f: &mut dyn FnMut(&[String], u64) -> std::io::Result<()>) -> std::io::Result<()> {
    let threshold = tree.grand_total() as f64 * opt.min_width / 100.0;
    let shown = |n: u32| tree.total[n as usize] as f64 >= threshold && tree.total[n as usize] > 0;
    let (start, kids) = tree.children();
    let tops: Vec<u32> = (0..tree.len() as u32).filter(|&n| tree.parent[n as usize] == u32::MAX).collect();
    let mut frames: Vec<String> = Vec::new();
    // Explicit stack of (node, next child position).
    let mut stack: Vec<(u32, u32)> = Vec::new();
    for &top in &tops {
        if !shown(top) {
            continue;
        }
        stack.push((top, start[top as usize]));
        loop {
            // The stack holds the path from the top: its length is the depth.
            let depth = stack.len() as u32;
            let Some(&mut (n, ref mut pos)) = stack.last_mut() else { break };
            let end = start[n as usize + 1];
            let at_floor = depth >= opt.max_depth.max(1);
            if *pos < end && !at_floor {
                let c = kids[*pos as usize];
                *pos += 1;
                if shown(c) {
                    stack.push((c, start[c as usize]));
                }
                continue;
            }
            stack.pop();
            let pruned: u64 = kids[start[n as usize] as usize..end as usize]
                .iter()
                .filter(|&&c| at_floor || !shown(c))
                .map(|&c| tree.total[c as usize])
                .sum();
            let count = tree.own[n as usize] + pruned;
            if count == 0 {
                continue;
            }
            frames.clear();
            let mut m = n;
            loop {
                let i = m as usize;
                let name = frame(tree.labels.get(tree.label[i]));
                let is_obj = matches!(tree.kind[i], NodeKind::Object(_));
                let tag = if opt.print_addr { tree.tags.get(&m) } else { None };
                if opt.print_addr && is_obj {
                    frames.push(format!("{name} {:#x}", tree.addr[i]));
                } else if let Some(&t) = tag {
                    frames.push(format!("{name} {}", frame(tree.labels.get(t))));
                } else {
                    frames.push(name.into_owned());
                }
                if tree.link[i] != NO_LINK {
                    frames.push(frame(tree.labels.get(tree.link[i])).into_owned());
                }
                if tree.parent[i] == u32::MAX {
                    break;
                }
                m = tree.parent[i];
            }
            f(&frames, count)?;
        }
    }
    Ok(())
}
