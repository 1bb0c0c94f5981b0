//! A path from a root to an object as printed: the root, then each object
//! with the link that leads to it, runs of like steps (a linked list's
//! `.Next main.Node`) folded into one with a count.

use serde_json::{json, Value};

use super::{hex, Context};

/// One step (or a run of like ones) down a path.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Step {
    /// The link from the step before (`.Next`, `[3]`), if known.
    pub link: Option<String>,
    /// The object's type name.
    pub name: String,
    /// The (first) object's address.
    pub addr: u64,
    /// How many like steps this one stands for (1 for one).
    pub repeat: u64,
}

/// A root and the steps from it to an object.
#[derive(Clone, Debug)]
pub struct Path {
    pub root: String,
    pub steps: Vec<Step>,
}

impl Path {
    /// The path from root `root` through objects `objs` (the root's
    /// target first). The last object keeps a step of its own.
    pub fn new(cx: &Context, root: u32, objs: &[u32]) -> Path {
        let names = cx.names();
        let r = &cx.roots[root as usize];
        let mut steps: Vec<Step> = Vec::new();
        let mut prev: Option<u32> = None;
        for (i, &o) in objs.iter().enumerate() {
            let link = match prev {
                None => r.targets.iter().find(|t| t.obj == o).and_then(|t| t.link.clone()),
                Some(p) => names.pointers(p).iter().find(|&&(_, v)| cx.heap.find(v) == Some(o)).and_then(|&(off, _)| names.link(p, off)),
            };
            let name = names.object(o).into_owned();
            let last = i + 1 == objs.len();
            match steps.last_mut() {
                Some(s) if !last && s.link == link && s.name == name && s.link.is_some() => s.repeat += 1,
                _ => steps.push(Step { link, name, addr: names.addr(o), repeat: 1 }),
            }
            prev = Some(o);
        }
        Path { root: r.name.clone(), steps }
    }

    /// Objects on the path.
    pub fn objects(&self) -> u64 {
        self.steps.iter().map(|s| s.repeat).sum()
    }

    /// `main.chain → main.Node 0x… → .Next main.Node ×499 → …`.
    pub fn text(&self) -> String {
        let mut out = self.root.clone();
        for s in &self.steps {
            out.push_str(" → ");
            if let Some(l) = &s.link {
                out.push_str(l);
                out.push(' ');
            }
            out.push_str(&s.name);
            if s.repeat > 1 {
                out.push_str(&format!(" ×{}", s.repeat));
            } else {
                out.push_str(&format!(" {}", hex(s.addr)));
            }
        }
        out
    }

    /// `{"root": …, "steps": [{"link", "type", "addr", "repeat"}…]}`.
    pub fn json(&self) -> Value {
        let steps: Vec<Value> =
            self.steps.iter().map(|s| json!({"link": s.link, "type": s.name, "addr": hex(s.addr), "repeat": s.repeat})).collect();
        json!({"root": self.root, "steps": steps})
    }
}
