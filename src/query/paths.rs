//! Why is an object alive: the shortest path to it from a root, then one
//! chain through each other object (or root) that points at it, shortest
//! first — with roots or types to ignore, to see what else holds it.

use serde_json::{json, Value};

use super::{hex, root_targets, Context, Path, TypeNames};
use crate::graph::{Parent, Parents, Successors};

/// What to look for.
#[derive(Clone, Debug)]
pub enum Target {
    /// The object at or around this address.
    Addr(u64),
    /// The instances of the type of this name.
    Type(String),
}

/// Roots (by name) and types (by name) a search goes around.
#[derive(Clone, Debug, Default)]
pub struct Ignore {
    pub names: Vec<String>,
}

/// The answer for one object.
#[derive(Clone, Debug)]
pub struct ObjectPaths {
    pub obj: u32,
    pub addr: u64,
    pub name: String,
    /// The shortest path, if reached.
    pub shortest: Option<Path>,
    /// A chain through each distinct referrer, shortest first.
    pub chains: Vec<Path>,
    /// Referrers found in all (the chains may be fewer: `limit`).
    pub referrers: u64,
    /// Bytes and objects freed if it were (0 if not reached).
    pub retained: u64,
    pub retained_objects: u64,
}

/// The answer.
#[derive(Clone, Debug)]
pub struct PathReport {
    pub objects: Vec<ObjectPaths>,
    /// Instances of the type in all (for a type search).
    pub instances: u64,
    /// What was ignored.
    pub ignored: Vec<String>,
}

/// Answers "why is it alive" for `target`: for an address one object, for
/// a type up to `limit` instances (the shallowest), each with up to
/// `limit` chains and its retained bytes and objects (from `retained`,
/// with nothing ignored: asked once the search is freed, so that the
/// dominator tree need not be held beside it). Errors say what was not
/// found.
pub fn why_alive(
    cx: &Context,
    succ: &dyn Successors,
    target: &Target,
    limit: usize,
    ignore: &Ignore,
    retained: &mut dyn FnMut(&[u32]) -> Result<Vec<(u64, u64)>, String>,
) -> Result<PathReport, String> {
    let names = cx.names();
    let roots = root_targets(cx.roots);
    let n = cx.heap.len();
    let ignored_root: Vec<bool> = cx.roots.iter().map(|r| ignore.names.contains(&r.name)).collect();
    // The object asked about is never gone around, whatever its type.
    let asked = match target {
        Target::Addr(a) => Some(cx.heap.find(*a).ok_or_else(|| format!("{} is not inside any allocated heap object", hex(*a)))?),
        Target::Type(_) => None,
    };
    let ignored_object: Vec<bool> = if ignore.names.is_empty() {
        Vec::new()
    } else {
        let mut by_type = TypeNames::new(&ignore.names);
        (0..n as u32).map(|o| Some(o) != asked && by_type.matches(cx, o)).collect()
    };
    let skip_object = |o: u32| !ignored_object.is_empty() && ignored_object[o as usize];
    let parents = Parents::search(&roots, n, succ, &|r| ignored_root[r as usize], &skip_object).ok_or("the heap is too large to search")?;
    let (objs, instances) = match target {
        Target::Addr(_) => (asked.into_iter().collect::<Vec<u32>>(), 1),
        Target::Type(t) => {
            let wanted = [t.clone()];
            let mut of_type = TypeNames::new(&wanted);
            let all: Vec<u32> = parents.order().iter().copied().filter(|&o| of_type.matches(cx, o)).collect();
            if all.is_empty() {
                let without = if ignore.names.is_empty() { String::new() } else { format!(" without {}", ignore.names.join(", ")) };
                return Err(format!("no object of type {t} is reachable{without} (type names as histogram prints them)"));
            }
            let count = all.len() as u64;
            (all.into_iter().take(limit.max(1)).collect(), count)
        }
    };
    let wanted: std::collections::HashSet<u32> = objs.iter().copied().collect();
    // Referrers of the objects asked about: one pass over all edges.
    let mut referrers: std::collections::HashMap<u32, Vec<Parent>> = Default::default();
    for (r, targets) in roots.iter().enumerate() {
        if ignored_root[r] {
            continue;
        }
        for &t in targets {
            if wanted.contains(&t) {
                referrers.entry(t).or_default().push(Parent::Root(r as u32));
            }
        }
    }
    for src in 0..n as u32 {
        if skip_object(src) || parents.parent(src).is_none() {
            continue;
        }
        for &t in succ.of(src) {
            if wanted.contains(&t) {
                referrers.entry(t).or_default().push(Parent::Object(src));
            }
        }
    }
    let mut out = Vec::new();
    for o in objs {
        let shortest = parents.path(o).map(|(r, path)| Path::new(cx, r, &path));
        let mut refs: Vec<Parent> = referrers.remove(&o).unwrap_or_default();
        refs.sort_unstable_by_key(|p| match *p {
            Parent::Root(r) => (0, r),
            Parent::Object(src) => (1, src),
        });
        refs.dedup();
        let mut chains: Vec<Path> = refs
            .iter()
            .filter_map(|&p| match p {
                Parent::Root(r) => Some(Path::new(cx, r, &[o])),
                Parent::Object(src) => {
                    let (r, mut path) = parents.path(src)?;
                    // A chain through the object itself would be a cycle.
                    if path.contains(&o) {
                        return None;
                    }
                    path.push(o);
                    Some(Path::new(cx, r, &path))
                }
            })
            .collect();
        chains.sort_by_key(|p| p.objects());
        let referrer_count = refs.len() as u64;
        chains.truncate(limit.max(1));
        out.push(ObjectPaths {
            obj: o,
            addr: names.addr(o),
            name: names.object(o).into_owned(),
            shortest,
            chains,
            referrers: referrer_count,
            retained: 0,
            retained_objects: 0,
        });
    }
    drop((parents, ignored_object));
    let objs: Vec<u32> = out.iter().map(|o| o.obj).collect();
    for (o, (bytes, objects)) in out.iter_mut().zip(retained(&objs)?) {
        (o.retained, o.retained_objects) = (bytes, objects);
    }
    Ok(PathReport { objects: out, instances, ignored: ignore.names.clone() })
}

impl PathReport {
    /// The report as text.
    pub fn text(&self) -> String {
        let mut s = String::new();
        if self.instances > 1 {
            s.push_str(&format!("{} reachable instances; the {} nearest a root:\n", self.instances, self.objects.len()));
        }
        for o in &self.objects {
            s.push_str(&format!(
                "{} {}: retains {} bytes in {} objects; {} referrers\n",
                o.name,
                hex(o.addr),
                o.retained,
                o.retained_objects,
                o.referrers
            ));
            match &o.shortest {
                Some(p) => s.push_str(&format!("  shortest: {}\n", p.text())),
                None if self.ignored.is_empty() => s.push_str("  not reachable from any root\n"),
                None => s.push_str(&format!("  not reachable without {}\n", self.ignored.join(", "))),
            }
            for (i, c) in o.chains.iter().enumerate() {
                s.push_str(&format!("  chain {}: {}\n", i + 1, c.text()));
            }
        }
        s
    }

    /// The report as JSON (schema in the README).
    pub fn json(&self) -> Value {
        let objects: Vec<Value> = self
            .objects
            .iter()
            .map(|o| {
                json!({
                    "addr": hex(o.addr),
                    "type": o.name,
                    "referrers": o.referrers,
                    "retained_bytes": o.retained,
                    "retained_objects": o.retained_objects,
                    "shortest": o.shortest.as_ref().map(Path::json),
                    "chains": o.chains.iter().map(Path::json).collect::<Vec<_>>(),
                })
            })
            .collect();
        json!({"instances": self.instances, "ignored": self.ignored, "objects": objects})
    }
}
