//! Flame graph SVG from folded stacks, through inferno.

use std::collections::BTreeMap;
use std::io::Write;

use inferno::flamegraph::color::{BasicPalette, Palette};
use inferno::flamegraph::{self, Options};

/// Writes an SVG flame graph of `stacks`, titled `title`.
pub fn write_svg(stacks: &BTreeMap<String, u64>, title: &str, out: &mut dyn Write) -> std::io::Result<()> {
    let total: u64 = stacks.values().sum();
    if total == 0 {
        return Err(std::io::Error::new(std::io::ErrorKind::InvalidInput, "nothing to draw: the stacks hold 0 bytes"));
    }
    let lines: Vec<String> = stacks.iter().filter(|(_, &c)| c > 0).map(|(s, c)| format!("{s} {c}")).collect();
    let mut opt = Options::default();
    opt.title = title.to_string();
    opt.count_name = "bytes".to_string();
    opt.colors = Palette::Basic(BasicPalette::Mem);
    opt.hash = true;
    opt.deterministic = true;
    flamegraph::from_lines(&mut opt, lines.iter().map(String::as_str), out)
}
