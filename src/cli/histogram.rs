//! `refgraph CORE --exe BIN histogram`: heap objects and bytes by inferred
//! type, over the whole heap (reached or not), largest total first, with
//! the bytes all instances of each type retain together.

use std::io::Write;

use anyhow::Result;

use serde_json::json;

use super::pipeline::{dominate, Timings, Typed};
use crate::graph::Dominators;
use crate::image::Image;
use crate::query::{retained_by_type, Context};

/// Prints one line per type: object count, bytes, retained bytes, name;
/// `top` limits the lines. A last line gives the totals and the typed
/// share. Or all of it as one JSON object.
pub fn print(image: &Image, top: Option<usize>, json: bool, out: &mut dyn Write) -> Result<()> {
    dominate(image, &mut Timings::default(), |t, _, dom, _| write(t, dom, top, json, out))
}

fn write(t: &Typed, dom: Dominators, top: Option<usize>, as_json: bool, out: &mut dyn Write) -> Result<()> {
    let (heap, inference) = (t.heap, t.inference);
    let rows = inference.histogram();
    let reached = dom.retained(0);
    let retained = retained_by_type(&Context { heap, roots: t.roots, inference }, dom);
    let retained_of = |name: &str| retained.get(name).map_or(0, |r| r.0);
    let (typed_objects, typed_bytes) = inference.typed_totals();
    let (objects, bytes) = (heap.len() as u64, heap.bytes());
    for w in &t.warnings {
        super::progress::note(&format!("refgraph: warning: {w}"));
    }
    let shown = rows.iter().take(top.unwrap_or(usize::MAX));
    if as_json {
        let types: Vec<_> =
            shown.map(|r| json!({"type": r.name, "objects": r.count, "bytes": r.bytes, "retained_bytes": retained_of(&r.name)})).collect();
        let v = json!({
            "objects": objects,
            "bytes": bytes,
            "typed_objects": typed_objects,
            "typed_bytes": typed_bytes,
            "type_count": rows.len(),
            "types": types,
        });
        serde_json::to_writer_pretty(&mut *out, &v)?;
        writeln!(out)?;
        return Ok(());
    }
    writeln!(out, "{:>12} {:>16} {:>16}  type", "objects", "bytes", "retained")?;
    for r in shown {
        writeln!(out, "{:>12} {:>16} {:>16}  {}", r.count, r.bytes, retained_of(&r.name), r.name)?;
    }
    let pct = |x: u64, of: u64| if of == 0 { 100.0 } else { 100.0 * x as f64 / of as f64 };
    writeln!(
        out,
        "{objects:>12} {bytes:>16} {:>16}  total: {} types; typed {:.2}% of the objects, {:.2}% of the bytes",
        reached,
        rows.len(),
        pct(typed_objects, objects),
        pct(typed_bytes, bytes)
    )?;
    Ok(())
}
