//! The records of a tree as the reference objref prints them: depth first,
//! children before their parent; a node is printed if its subtree reaches
//! `minwidth` percent of the total, and its record counts its own bytes plus
//! those of the children that were not printed.

use std::ops::Range;

use crate::graph::{LinkCursor, Names, NodeKind, Tree};

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

/// Calls `f(frames, count)` for every record, frames leaf first, names
/// from `names`. Records with a count of 0 are skipped.
pub fn for_each_record(
    tree: &Tree,
    names: &dyn Names,
    opt: RecordOptions,
    f: &mut dyn FnMut(&[String], u64) -> std::io::Result<()>,
) -> std::io::Result<()> {
    walk(tree, names, opt, None, &mut |frames, bytes, _| f(frames, bytes))
}

/// A record's consumer: `f(frames, bytes, objects)`.
pub type CountedFn<'f> = dyn FnMut(&[String], u64, u64) -> std::io::Result<()> + 'f;

/// Like [`for_each_record`], and also gives each record's number of
/// objects (those whose bytes it counts): `f(frames, bytes, objects)`.
pub fn for_each_record_counted(tree: &Tree, names: &dyn Names, opt: RecordOptions, f: &mut CountedFn) -> std::io::Result<()> {
    let objects = subtree_objects(tree);
    walk(tree, names, opt, Some(&objects), f)
}

/// Each node's number of objects in its subtree (itself included): one
/// reverse pass, children after their parents.
fn subtree_objects(tree: &Tree) -> Vec<u32> {
    let mut n = vec![0u32; tree.len()];
    for i in (0..tree.len() as u32).rev() {
        let own = u32::from(matches!(tree.kind(i), NodeKind::Object(_)));
        n[i as usize] = tree.children(i).fold(own, |t, c| t.saturating_add(n[c as usize]));
    }
    n
}

/// The records, with object counts from `objects` (per node, of its
/// subtree) if given, else 0.
fn walk(tree: &Tree, names: &dyn Names, opt: RecordOptions, objects: Option<&[u32]>, f: &mut CountedFn) -> std::io::Result<()> {
    let objs = |n: u32| objects.map_or(0, |o| u64::from(o[n as usize]));
    let threshold = tree.grand_total() as f64 * opt.min_width / 100.0;
    let shown = |n: u32| tree.total(n) as f64 >= threshold && tree.total(n) > 0;
    // Explicit stack of (node, its children, printed children's bytes,
    // cursor over its pointers for the children's links), and the frames
    // of the path from the top, root first.
    let mut stack: Vec<(u32, Range<u32>, u64, u64, LinkCursor)> = Vec::new();
    let mut path: Vec<String> = Vec::new();
    let mut depths: Vec<usize> = Vec::new();
    let mut frames: Vec<String> = Vec::new();
    let enter = |n: u32,
                 link: Option<String>,
                 stack: &mut Vec<(u32, Range<u32>, u64, u64, LinkCursor)>,
                 path: &mut Vec<String>,
                 depths: &mut Vec<usize>| {
        depths.push(path.len());
        if let Some(l) = link {
            path.push(frame(&l).into_owned());
        }
        let name = frame(&tree.name(n, names)).into_owned();
        path.push(match tree.kind(n) {
            NodeKind::Object(o) if opt.print_addr => format!("{name} {:#x}", names.addr(o)),
            NodeKind::Root if opt.print_addr => match tree.tags.get(&n) {
                Some(&t) => format!("{name} {}", frame(tree.labels.get(t))),
                None => name,
            },
            _ => name,
        });
        stack.push((n, tree.children(n), 0, 0, LinkCursor::default()));
    };
    for top in tree.tops() {
        if !shown(top) {
            continue;
        }
        enter(top, None, &mut stack, &mut path, &mut depths);
        loop {
            // The stack holds the path from the top: its length is the depth.
            let at_floor = stack.len() as u32 >= opt.max_depth.max(1);
            let Some((n, kids, printed, printed_objects, cursor)) = stack.last_mut() else { break };
            let n = *n;
            if !at_floor {
                if let Some(c) = kids.find(|&c| shown(c)) {
                    *printed += tree.total(c);
                    *printed_objects += objs(c);
                    let link = tree.link(n, c, names, cursor);
                    enter(c, link, &mut stack, &mut path, &mut depths);
                    continue;
                }
            }
            let (_, _, printed, printed_objects, _) = stack.pop().expect("stack is not empty");
            // Own bytes plus the children not printed.
            let count = tree.total(n) - printed;
            if count > 0 {
                frames.clear();
                frames.extend(path.iter().rev().cloned());
                f(&frames, count, objs(n) - printed_objects)?;
            }
            path.truncate(depths.pop().expect("a depth per stacked node"));
        }
    }
    Ok(())
}
