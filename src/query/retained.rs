//! Who retains the most, from the dominator tree: the objects right below
//! the roots in it (what freeing one object would free), the roots, the
//! types (the bytes all instances of a type retain together), and a few
//! leak suspects with the point where their bytes accumulate.

use std::collections::HashMap;

use serde_json::{json, Value};

use super::{hex, root_targets, Context, Path, TypeNames};
use crate::graph::{DomNode, Dominators, Parents, Successors};

/// A suspect retains at least this share of the reached bytes…
const SUSPECT_SHARE: f64 = 0.10;
/// …and its bytes accumulate where no one dominated child holds this
/// share of its parent's.
const ACCUMULATION_SHARE: f64 = 0.80;
/// Suspects shown, at most.
const SUSPECTS: usize = 5;

/// One retainer: an object or a root.
#[derive(Clone, Debug)]
pub struct Row {
    /// Type name (objects) or root name.
    pub name: String,
    /// The object's address (0 for a root or a type).
    pub addr: u64,
    /// Own bytes (objects), bytes of all instances (types), 0 (roots).
    pub own: u64,
    /// Instances (types), else 1.
    pub count: u64,
    pub retained: u64,
    pub retained_objects: u64,
    /// One path from a root (objects).
    pub path: Option<Path>,
}

/// A leak suspect and where its bytes sit.
#[derive(Clone, Debug)]
pub struct Suspect {
    pub retainer: Row,
    /// The accumulation point: the first dominated object down from the
    /// suspect whose bytes are spread over its dominated children.
    pub point: Row,
    /// The point's dominated children.
    pub children: u64,
}

/// The largest retainers by object, root and type, and the suspects.
#[derive(Clone, Debug)]
pub struct Retainers {
    pub reached_bytes: u64,
    pub reached_objects: u64,
    pub objects: Vec<Row>,
    pub roots: Vec<Row>,
    pub types: Vec<Row>,
    pub suspects: Vec<Suspect>,
}

/// Bytes and objects retained by all instances of each type together, by
/// type name: the retained bytes of each instance that no other instance
/// of its type dominates (one walk down the dominator tree, counting the
/// instances of each type open above the current node).
pub fn retained_by_type(cx: &Context, dom: &Dominators) -> HashMap<String, (u64, u64)> {
    let (start, kids) = dom.children();
    let mut dense: HashMap<u64, u32> = HashMap::new();
    let mut open: Vec<u32> = Vec::new();
    let mut sums: Vec<(u64, u64)> = Vec::new();
    let mut first: Vec<u32> = Vec::new();
    // (node, its type slot or u32::MAX, next child)
    let mut stack: Vec<(u32, u32, u32)> = vec![(0, u32::MAX, start[0])];
    while let Some(top) = stack.last_mut() {
        let (n, slot, k) = *top;
        if k == start[n as usize + 1] {
            if slot != u32::MAX {
                open[slot as usize] -= 1;
            }
            stack.pop();
            continue;
        }
        top.2 += 1;
        let c = kids[k as usize];
        let slot = match dom.kind(c) {
            DomNode::Object(o) => {
                let next = dense.len() as u32;
                let slot = *dense.entry(TypeNames::key(cx, o)).or_insert(next);
                if slot as usize == open.len() {
                    open.push(0);
                    sums.push((0, 0));
                    first.push(o);
                }
                if open[slot as usize] == 0 {
                    sums[slot as usize].0 += dom.retained(c);
                    sums[slot as usize].1 += dom.retained_objects(c);
                }
                open[slot as usize] += 1;
                slot
            }
            _ => u32::MAX,
        };
        stack.push((c, slot, start[c as usize]));
    }
    let mut out: HashMap<String, (u64, u64)> = HashMap::new();
    for (slot, &o) in first.iter().enumerate() {
        let e = out.entry(cx.names().object(o).into_owned()).or_default();
        e.0 += sums[slot].0;
        e.1 += sums[slot].1;
    }
    out
}

impl Retainers {
    /// The `limit` largest of each kind, with paths from the roots along
    /// `succ`. None if the heap is too large to search.
    pub fn new(cx: &Context, dom: &Dominators, succ: &dyn Successors, limit: usize) -> Option<Retainers> {
        let never = |_| false;
        let parents = Parents::search(&root_targets(cx.roots), cx.heap.len(), succ, &never, &never)?;
        let names = cx.names();
        let object_row = |n: u32, o: u32| Row {
            name: names.object(o).into_owned(),
            addr: names.addr(o),
            own: cx.heap.size(o),
            count: 1,
            retained: dom.retained(n),
            retained_objects: dom.retained_objects(n),
            path: parents.path(o).map(|(r, objs)| Path::new(cx, r, &objs)),
        };
        let root_row = |n: u32, r: u32| Row {
            name: cx.roots[r as usize].name.clone(),
            addr: cx.roots[r as usize].addr,
            own: 0,
            count: 1,
            retained: dom.retained(n),
            retained_objects: dom.retained_objects(n),
            path: None,
        };
        let top_of = |mut rows: Vec<(u64, u32)>| {
            rows.sort_unstable_by_key(|&(r, n)| (std::cmp::Reverse(r), n));
            rows.truncate(limit);
            rows
        };
        // Objects right below a root (or several roots) in the tree.
        let mut tops = Vec::new();
        let mut roots = Vec::new();
        for n in 1..dom.len() as u32 {
            match dom.kind(n) {
                DomNode::Object(_) if !matches!(dom.kind(dom.idom(n)), DomNode::Object(_)) => tops.push((dom.retained(n), n)),
                DomNode::Root(_) => roots.push((dom.retained(n), n)),
                _ => {}
            }
        }
        let all_tops = top_of(tops);
        let objects: Vec<Row> = all_tops
            .iter()
            .map(|&(_, n)| match dom.kind(n) {
                DomNode::Object(o) => object_row(n, o),
                _ => unreachable!("only objects were listed"),
            })
            .collect();
        let root_rows: Vec<Row> = top_of(roots)
            .into_iter()
            .filter_map(|(_, n)| match dom.kind(n) {
                DomNode::Root(r) => Some(root_row(n, r)),
                _ => None,
            })
            .collect();
        // Instances and their bytes by type key, then by name.
        let mut by_key: HashMap<u64, (u64, u64, u32)> = HashMap::new();
        for n in 1..dom.len() as u32 {
            if let DomNode::Object(o) = dom.kind(n) {
                let e = by_key.entry(TypeNames::key(cx, o)).or_insert((0, 0, o));
                e.0 += 1;
                e.1 += cx.heap.size(o);
            }
        }
        let mut counts: HashMap<String, (u64, u64)> = HashMap::new();
        for (count, bytes, o) in by_key.into_values() {
            let e = counts.entry(names.object(o).into_owned()).or_default();
            e.0 += count;
            e.1 += bytes;
        }
        let mut types: Vec<Row> = retained_by_type(cx, dom)
            .into_iter()
            .map(|(name, (retained, retained_objects))| {
                let (count, own) = counts.get(&name).copied().unwrap_or_default();
                Row { name, addr: 0, own, count, retained, retained_objects, path: None }
            })
            .collect();
        types.sort_by(|a, b| b.retained.cmp(&a.retained).then_with(|| a.name.cmp(&b.name)));
        types.truncate(limit);

        // Suspects: the objects and roots retaining the largest shares.
        let total = dom.retained(0);
        let (start, kids) = dom.children();
        let mut candidates: Vec<(u64, u32)> = all_tops.clone();
        candidates.extend((1..dom.len() as u32).filter(|&n| matches!(dom.kind(n), DomNode::Root(_))).map(|n| (dom.retained(n), n)));
        candidates.sort_unstable_by_key(|&(r, n)| (std::cmp::Reverse(r), n));
        let mut suspects = Vec::new();
        let mut seen = std::collections::HashSet::new();
        for (retained, n) in candidates {
            if suspects.len() == SUSPECTS || (retained as f64) < SUSPECT_SHARE * total as f64 {
                break;
            }
            // Down the largest dominated child while it holds most, but
            // not from an object into one of its own type: the head of a
            // linked list (or of a tree of one type) is the point, not
            // its tail.
            let mut at = n;
            loop {
                let children = &kids[start[at as usize] as usize..start[at as usize + 1] as usize];
                let Some(&big) = children.iter().max_by_key(|&&c| dom.retained(c)) else { break };
                if (dom.retained(big) as f64) < ACCUMULATION_SHARE * dom.retained(at) as f64 {
                    break;
                }
                if let (DomNode::Object(a), DomNode::Object(b)) = (dom.kind(at), dom.kind(big)) {
                    if names.object(a) == names.object(b) {
                        break;
                    }
                }
                at = big;
            }
            // A root's point is its largest object; the same point twice
            // (a root and its only object) is one suspect.
            if !seen.insert(at) {
                continue;
            }
            let retainer = match dom.kind(n) {
                DomNode::Object(o) => object_row(n, o),
                DomNode::Root(r) => root_row(n, r),
                DomNode::Top => continue,
            };
            let point = match dom.kind(at) {
                DomNode::Object(o) => object_row(at, o),
                _ => retainer.clone(),
            };
            let children = u64::from(start[at as usize + 1] - start[at as usize]);
            suspects.push(Suspect { retainer, point, children });
        }
        Some(Retainers { reached_bytes: total, reached_objects: dom.retained_objects(0), objects, roots: root_rows, types, suspects })
    }

    /// The report as text.
    pub fn text(&self) -> String {
        let mut s = format!("reached: {} bytes in {} objects\n", self.reached_bytes, self.reached_objects);
        let table = |s: &mut String, title: &str, rows: &[Row]| {
            s.push_str(&format!("\n{title}\n{:>14} {:>10} {:>12} {:>8}  name\n", "retained", "objects", "own", "count"));
            for r in rows {
                let addr = if r.addr != 0 && r.path.is_some() { format!(" {}", hex(r.addr)) } else { String::new() };
                s.push_str(&format!("{:>14} {:>10} {:>12} {:>8}  {}{addr}\n", r.retained, r.retained_objects, r.own, r.count, r.name));
                if let Some(p) = &r.path {
                    s.push_str(&format!("{:>48}{}\n", "", p.text()));
                }
            }
        };
        table(&mut s, "by object (objects right below the roots in the dominator tree):", &self.objects);
        table(&mut s, "by root:", &self.roots);
        table(&mut s, "by type (all instances together):", &self.types);
        s.push_str("\nleak suspects:\n");
        if self.suspects.is_empty() {
            s.push_str(&format!("  none retains {:.0}% of the reached bytes\n", SUSPECT_SHARE * 100.0));
        }
        for (i, x) in self.suspects.iter().enumerate() {
            let pct = 100.0 * x.retainer.retained as f64 / self.reached_bytes.max(1) as f64;
            s.push_str(&format!(
                "  {}. {} retains {} bytes ({pct:.1}%) in {} objects\n",
                i + 1,
                x.retainer.name,
                x.retainer.retained,
                x.retainer.retained_objects
            ));
            s.push_str(&format!(
                "     accumulated in {} {} ({} bytes over {} dominated children)\n",
                x.point.name,
                hex(x.point.addr),
                x.point.retained,
                x.children
            ));
        }
        s
    }

    /// The report as JSON (schema in the README).
    pub fn json(&self) -> Value {
        let row = |r: &Row| {
            json!({
                "name": r.name,
                "addr": (r.addr != 0).then(|| hex(r.addr)),
                "own_bytes": r.own,
                "count": r.count,
                "retained_bytes": r.retained,
                "retained_objects": r.retained_objects,
                "path": r.path.as_ref().map(Path::json),
            })
        };
        json!({
            "reached_bytes": self.reached_bytes,
            "reached_objects": self.reached_objects,
            "objects": self.objects.iter().map(row).collect::<Vec<_>>(),
            "roots": self.roots.iter().map(row).collect::<Vec<_>>(),
            "types": self.types.iter().map(row).collect::<Vec<_>>(),
            "suspects": self.suspects.iter().map(|x| json!({"retainer": row(&x.retainer), "point": row(&x.point), "children": x.children})).collect::<Vec<_>>(),
        })
    }
}
