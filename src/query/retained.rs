//! Who retains the most, from the dominator tree: the objects right below
//! the roots in it (what freeing one object would free), the roots, the
//! types (the bytes all instances of a type retain together), and a few
//! leak suspects with the point where their bytes accumulate.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};

use serde_json::{json, Value};

use super::{hex, root_targets, Context, Path, TypeNames};
use crate::graph::{DomNode, DomTree, Dominators, Parents, Successors};

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

/// Per type name: bytes and objects all instances retain together, and
/// the instances reached and their own bytes.
#[derive(Clone, Copy, Debug, Default)]
struct TypeSums {
    retained: u64,
    retained_objects: u64,
    count: u64,
    own: u64,
}

/// The sums of each type, by name: the retained bytes of each instance
/// that no other instance of its type dominates, in one walk down the
/// dominator tree in preorder — an instance is inside another of its type
/// iff its position is before the end of the last outermost instance of
/// that type (subtrees are runs of positions).
fn type_sums(cx: &Context, tree: &DomTree) -> HashMap<String, TypeSums> {
    let mut dense: HashMap<u64, u32> = HashMap::new();
    // By type slot: where the outermost instance open ends, the sums,
    // and one instance (for the name).
    let mut open_end: Vec<u64> = Vec::new();
    let mut sums: Vec<TypeSums> = Vec::new();
    let mut first: Vec<u32> = Vec::new();
    // (key, slot); no key is u64::MAX (a size of 2^63 - 1 bytes).
    let mut recent = [(u64::MAX, 0u32); 256];
    tree.preorder(|n, pos| {
        let DomNode::Object(o) = tree.kind(n) else { return };
        // Most nodes have the type of one met just before (a list's
        // nodes, a slice's elements): a small cache before the map.
        let key = TypeNames::key(cx, o);
        let line = &mut recent[(key.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 56) as usize];
        let slot = if line.0 == key {
            line.1 as usize
        } else {
            let next = dense.len() as u32;
            let slot = *dense.entry(key).or_insert(next);
            *line = (key, slot);
            slot as usize
        };
        if slot == open_end.len() {
            open_end.push(0);
            sums.push(TypeSums::default());
            first.push(o);
        }
        let t = &mut sums[slot];
        t.count += 1;
        t.own += cx.heap.size(o);
        if open_end[slot] <= pos {
            t.retained += tree.retained(n);
            t.retained_objects += tree.retained_objects(n);
            open_end[slot] = pos + tree.subtree_len(n);
        }
    });
    let mut out: HashMap<String, TypeSums> = HashMap::new();
    for (slot, &o) in first.iter().enumerate() {
        let e = out.entry(cx.names().object(o).into_owned()).or_default();
        let s = sums[slot];
        e.retained += s.retained;
        e.retained_objects += s.retained_objects;
        e.count += s.count;
        e.own += s.own;
    }
    out
}

/// Bytes and objects retained by all instances of each type together, by
/// type name (instances under another instance of their type count once).
pub fn retained_by_type(cx: &Context, dom: Dominators) -> HashMap<String, (u64, u64)> {
    type_sums(cx, &dom.into_tree()).into_iter().map(|(name, s)| (name, (s.retained, s.retained_objects))).collect()
}

/// A node chosen for a row, with what the row shows of it.
#[derive(Clone, Copy)]
struct Chosen {
    node: DomNode,
    retained: u64,
    retained_objects: u64,
}

impl Retainers {
    /// The `limit` largest of each kind, with paths from the roots along
    /// `succ`. The dominator tree is freed before the search for paths.
    /// None if the heap is too large to search.
    pub fn new(cx: &Context, dom: Dominators, succ: &dyn Successors, limit: usize) -> Option<Retainers> {
        let names = cx.names();
        // Objects right below a root (or several roots) in the tree: the
        // `limit` largest, ties to the first node; and all roots.
        let mut tops: BinaryHeap<(Reverse<u64>, u32)> = BinaryHeap::new();
        let mut roots: Vec<(u64, u32)> = Vec::new();
        for n in 1..dom.len() as u32 {
            match dom.kind(n) {
                DomNode::Object(_) if !matches!(dom.kind(dom.idom(n)), DomNode::Object(_)) => {
                    tops.push((Reverse(dom.retained(n)), n));
                    if tops.len() > limit {
                        tops.pop();
                    }
                }
                DomNode::Root(_) => roots.push((dom.retained(n), n)),
                _ => {}
            }
        }
        let all_tops: Vec<(u64, u32)> = tops.into_sorted_vec().into_iter().map(|(Reverse(r), n)| (r, n)).collect();
        let by_size = |rows: &mut Vec<(u64, u32)>| rows.sort_unstable_by_key(|&(r, n)| (Reverse(r), n));
        let mut top_roots = roots.clone();
        by_size(&mut top_roots);
        top_roots.truncate(limit);

        let tree = dom.into_tree();
        let chosen = |n: u32| Chosen { node: tree.kind(n), retained: tree.retained(n), retained_objects: tree.retained_objects(n) };
        let objects: Vec<Chosen> = all_tops.iter().map(|&(_, n)| chosen(n)).collect();
        let root_rows: Vec<Chosen> = top_roots.iter().map(|&(_, n)| chosen(n)).collect();
        let mut types: Vec<Row> = type_sums(cx, &tree)
            .into_iter()
            .map(|(name, s)| Row {
                name,
                addr: 0,
                own: s.own,
                count: s.count,
                retained: s.retained,
                retained_objects: s.retained_objects,
                path: None,
            })
            .collect();
        types.sort_by(|a, b| b.retained.cmp(&a.retained).then_with(|| a.name.cmp(&b.name)));
        types.truncate(limit);

        // Suspects: the objects and roots retaining the largest shares.
        let total = tree.retained(0);
        let reached_objects = tree.retained_objects(0);
        let mut candidates: Vec<(u64, u32)> = all_tops;
        candidates.extend(roots);
        by_size(&mut candidates);
        let mut suspects: Vec<(Chosen, Chosen, u64)> = Vec::new();
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
                let Some(big) = tree.children(at).max_by_key(|&c| tree.retained(c)) else { break };
                if (tree.retained(big) as f64) < ACCUMULATION_SHARE * tree.retained(at) as f64 {
                    break;
                }
                if let (DomNode::Object(a), DomNode::Object(b)) = (tree.kind(at), tree.kind(big)) {
                    if names.object(a) == names.object(b) {
                        break;
                    }
                }
                at = big;
            }
            // A root's point is its largest object; the same point twice
            // (a root and its only object) is one suspect.
            if !seen.insert(at) || tree.kind(n) == DomNode::Top {
                continue;
            }
            suspects.push((chosen(n), chosen(at), tree.children(at).count() as u64));
        }
        drop(tree);

        // Paths to the objects shown, and the rows.
        let never = |_| false;
        let shown: Vec<u32> = objects
            .iter()
            .chain(suspects.iter().flat_map(|(r, p, _)| [r, p]))
            .filter_map(|c| match c.node {
                DomNode::Object(o) => Some(o),
                _ => None,
            })
            .collect();
        let parents = Parents::search_until(&root_targets(cx.roots), cx.heap.len(), succ, &never, &never, Some(&shown))?;
        let row = |c: Chosen| match c.node {
            DomNode::Object(o) => Row {
                name: names.object(o).into_owned(),
                addr: names.addr(o),
                own: cx.heap.size(o),
                count: 1,
                retained: c.retained,
                retained_objects: c.retained_objects,
                path: parents.path(o).map(|(r, objs)| Path::new(cx, r, &objs)),
            },
            DomNode::Root(r) => Row {
                name: cx.roots[r as usize].name.clone(),
                addr: cx.roots[r as usize].addr,
                own: 0,
                count: 1,
                retained: c.retained,
                retained_objects: c.retained_objects,
                path: None,
            },
            DomNode::Top => unreachable!("the top is no row"),
        };
        let suspects = suspects
            .into_iter()
            .map(|(retainer, point, children)| {
                let retainer = row(retainer);
                let point = match point.node {
                    DomNode::Object(_) => row(point),
                    _ => retainer.clone(),
                };
                Suspect { retainer, point, children }
            })
            .collect();
        Some(Retainers {
            reached_bytes: total,
            reached_objects,
            objects: objects.into_iter().map(row).collect(),
            roots: root_rows.into_iter().map(row).collect(),
            types,
            suspects,
        })
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
