//! `refgraph CORE --exe BIN histogram`: heap objects and bytes by inferred
//! type, over the whole heap (reached or not), largest total first.

use std::io::Write;

use anyhow::Result;

use super::pipeline::{infer_types, Timings, Typed};
use crate::image::Image;

/// Prints one line per type: object count, bytes, name; `top` limits the
/// lines. A last line gives the totals and the typed share.
pub fn print(image: &Image, top: Option<usize>, out: &mut dyn Write) -> Result<()> {
    infer_types(image, &mut Timings::default(), |t, _, _| write(t, top, out))
}

fn write(t: &Typed, top: Option<usize>, out: &mut dyn Write) -> Result<()> {
    let (heap, inference) = (t.heap, t.inference);
    let rows = inference.histogram();
    writeln!(out, "{:>12} {:>16}  type", "objects", "bytes")?;
    for r in rows.iter().take(top.unwrap_or(usize::MAX)) {
        writeln!(out, "{:>12} {:>16}  {}", r.count, r.bytes, r.name)?;
    }
    let (typed_objects, typed_bytes) = inference.typed_totals();
    let (objects, bytes) = (heap.len() as u64, heap.bytes());
    let pct = |x: u64, of: u64| if of == 0 { 100.0 } else { 100.0 * x as f64 / of as f64 };
    writeln!(
        out,
        "{objects:>12} {bytes:>16}  total: {} types; typed {:.2}% of the objects, {:.2}% of the bytes",
        rows.len(),
        pct(typed_objects, objects),
        pct(typed_bytes, bytes)
    )?;
    for w in &t.warnings {
        super::progress::note(&format!("refgraph: warning: {w}"));
    }
    Ok(())
}
