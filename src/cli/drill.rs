//! `top`, `paths` and `diff`: the drill-down commands, glue between the
//! pipeline and the query layer.

use std::io::Write;
use std::path::Path;

use anyhow::{bail, Context as _, Result};

use super::pipeline::{analyze, dominate, dominators, infer_types, Timings};
use super::output::Output;
use super::{open_paths, warn};
use crate::image::Image;
use crate::query::{why_alive, Context, Diff, Ignore, Retainers, Side, Target};
use crate::render::RecordOptions;

/// `top`: the largest retainers.
pub fn top(image: &Image, timings: &mut Timings, limit: usize, json: bool, out: &mut dyn Write) -> Result<()> {
    dominate(image, timings, |t, edges, dom, timings| {
        warn(&t.warnings);
        let cx = Context { heap: t.heap, roots: t.roots, inference: t.inference };
        let r = timings.run("ranking", "ranking retainers", || Retainers::new(&cx, dom, edges, limit));
        let Some(r) = r else { bail!("the heap is too large to search") };
        print(out, json, || r.text(), || r.json())
    })
}

/// `paths`: why objects are alive.
pub fn paths(
    image: &Image,
    addr: Option<&str>,
    ty: Option<&str>,
    limit: usize,
    ignore: &[String],
    json: bool,
    out: &mut dyn Write,
) -> Result<()> {
    let target = match (addr, ty) {
        (Some(a), _) => Target::Addr(parse_addr(a)?),
        (None, Some(t)) => Target::Type(t.to_string()),
        (None, None) => bail!("give an address or --type T"),
    };
    // The dominator tree comes after the search for paths, which is freed
    // first: the two are never held together.
    infer_types(image, &mut Timings::default(), |t, edges, timings| {
        warn(&t.warnings);
        let cx = Context { heap: t.heap, roots: t.roots, inference: t.inference };
        let mut retained = |objs: &[u32]| -> Result<Vec<(u64, u64)>, String> {
            let dom = dominators(t, &edges, timings).map_err(|e| e.to_string())?;
            Ok(dom.objects(objs).into_iter().map(|n| n.map_or((0, 0), |n| (dom.retained(n), dom.retained_objects(n)))).collect())
        };
        let report = why_alive(&cx, &edges, &target, limit, &Ignore { names: ignore.to_vec() }, &mut retained).map_err(anyhow::Error::msg)?;
        print(out, json, || report.text(), || report.json())
    })
}

/// How `diff` cuts and prints.
pub struct DiffOptions<'o> {
    pub records: RecordOptions,
    pub top: usize,
    /// Where the folded diff goes, opened before the analysis.
    pub folded: Option<Output>,
    pub json: bool,
    /// Symbols and DWARF for both cores (`--debuginfo`).
    pub debuginfo: Option<&'o Path>,
}

/// `diff`: growth from the image's core to the core at `new`.
pub fn diff(image: Image, exe: &Path, new: &Path, o: DiffOptions, out: &mut dyn Write) -> Result<()> {
    let DiffOptions { records: opt, top, folded, json, debuginfo } = o;
    let side = |image: &Image| {
        analyze(image, &mut Timings::default(), |a, _| {
            warn(&a.typed.warnings);
            Ok(Side::new(&a.tree, a.typed.inference, opt, &a.typed.inference.histogram()))
        })
    };
    // Opened first, so that a wrong core fails before any work.
    let new_image = open_paths(new, exe, debuginfo).with_context(|| format!("the newer core {}", new.display()))?;
    let old = side(&image)?;
    drop(image);
    let d = Diff::new(old, side(&new_image)?);
    if let Some(f) = folded {
        f.write(|w| d.write_folded(w))?;
    }
    print(out, json, || d.text(top), || d.json(top))
}

/// Prints the text or the pretty JSON.
fn print(out: &mut dyn Write, json: bool, text: impl FnOnce() -> String, value: impl FnOnce() -> serde_json::Value) -> Result<()> {
    if json {
        serde_json::to_writer_pretty(&mut *out, &value())?;
        writeln!(out)?;
    } else {
        out.write_all(text().as_bytes())?;
    }
    Ok(())
}

/// `0x…` or decimal.
fn parse_addr(s: &str) -> Result<u64> {
    let parsed = match s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        Some(h) => u64::from_str_radix(h, 16),
        None => s.parse(),
    };
    parsed.map_err(|_| anyhow::anyhow!("{s:?} is not an address: give 0x… (hex) or decimal"))
}
