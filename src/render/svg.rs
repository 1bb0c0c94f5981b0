//! Flame graph SVG from folded stacks, through inferno: titled with what
//! was analysed, labels cut at the right, and a colour for each kind of
//! frame — the root groups apart, roots and goroutines in their group's
//! hue, links pale, types by package — so neighbours read apart. Its
//! search looks at every frame, also those hidden by a zoom.

use std::collections::BTreeMap;
use std::io::Write;

use inferno::flamegraph::color::{Color, PaletteMap};
use inferno::flamegraph::{self, Options, TextTruncateDirection};

/// Writes an SVG flame graph of `stacks`, titled `title` with `subtitle`
/// below it.
pub fn write_svg(stacks: &BTreeMap<String, u64>, title: &str, subtitle: &str, out: &mut dyn Write) -> std::io::Result<()> {
    let total: u64 = stacks.values().sum();
    if total == 0 {
        return Err(std::io::Error::new(std::io::ErrorKind::InvalidInput, "nothing to draw: the stacks hold 0 bytes"));
    }
    let lines: Vec<String> = stacks.iter().filter(|(_, &c)| c > 0).map(|(s, c)| format!("{s} {c}")).collect();
    let mut palette = palette(stacks);
    let mut opt = Options::default();
    opt.title = title.to_string();
    opt.subtitle = Some(subtitle.to_string());
    opt.count_name = "bytes".to_string();
    opt.name_type = String::new();
    opt.text_truncate_direction = TextTruncateDirection::Right;
    opt.palette_map = Some(&mut palette);
    opt.hash = true;
    opt.deterministic = true;
    let mut svg = Vec::new();
    flamegraph::from_lines(&mut opt, lines.iter().map(String::as_str), &mut svg)?;
    out.write_all(&search_everywhere(svg))
}

/// inferno's search skips the frames a zoom hides (and the zoomed frame's
/// ancestors), so after a zoom it highlights and counts only what is on
/// screen, and its "Matched" share is of the zoomed frame. A leak hunter
/// searching for a type wants all of its bytes: without the skip the
/// search visits every frame, its widest frame is the whole graph's, and
/// the share is of all bytes, zoomed or not. An inferno whose script reads
/// otherwise is left as it is.
fn search_everywhere(svg: Vec<u8>) -> Vec<u8> {
    const SKIP: &str = r#"if (e.classList.contains("hide") || e.classList.contains("parent")) {"#;
    const START: &str = "function search(term) {";
    let text = match String::from_utf8(svg) {
        Ok(text) => text,
        Err(e) => return e.into_bytes(),
    };
    let Some(start) = text.find(START) else { return text.into_bytes() };
    let Some(at) = text[start..].find(SKIP).map(|i| start + i) else { return text.into_bytes() };
    let mut out = String::with_capacity(text.len());
    out.push_str(&text[..at]);
    out.push_str("if (false) {");
    out.push_str(&text[at + SKIP.len()..]);
    out.into_bytes()
}

/// A colour for every frame name, by its kind and, for the first frames
/// of a stack, its root group. A name gets the colour of where it first
/// appears.
fn palette(stacks: &BTreeMap<String, u64>) -> PaletteMap {
    let mut map = PaletteMap::default();
    for stack in stacks.keys() {
        let mut frames = stack.split(';');
        let Some(group) = frames.next() else { continue };
        let hue = group_hue(group);
        if map.get(group).is_none() {
            map.insert(group, hsl(hue, 0.55, 0.55));
        }
        for (depth, f) in frames.enumerate() {
            if map.get(f).is_some() {
                continue;
            }
            let c = if is_link(f) {
                // A link: pale, so the types around it stand out.
                hsl(hue, 0.1, 0.87)
            } else if depth < 2 && !looks_like_type(f) {
                // A root or a goroutine: its group's hue, lighter.
                hsl(hue, 0.5, 0.7 + 0.05 * depth as f64)
            } else if f.starts_with("unk<") {
                hsl(0.0, 0.0, 0.72)
            } else {
                // A type: a warm hue per package, a shade per name.
                let h = fnv(package(f));
                hsl(10.0 + (h % 50) as f64, 0.65 + (fnv(f) % 20) as f64 / 100.0, 0.6 + (fnv(f) % 10) as f64 / 100.0)
            };
            map.insert(f, c);
        }
    }
    map
}

/// The hue of a root group (degrees).
fn group_hue(group: &str) -> f64 {
    match group {
        "globals" => 210.0,
        "goroutines" => 140.0,
        "finalizers" => 280.0,
        _ => 40.0,
    }
}

/// Whether a frame is a link (`.Next`, `$val`, `[3]`, `["id"].Name`), not
/// a type (`[]uint8`, `[4]main.T`).
fn is_link(f: &str) -> bool {
    match f.strip_prefix('[') {
        Some(rest) => {
            rest.find(']').is_some_and(|c| c > 0 && (rest[c + 1..].is_empty() || rest[c + 1..].starts_with(['.', '['])))
                && !rest.starts_with(']')
        }
        None => f.starts_with(['.', '$', '&']),
    }
}

/// Whether a frame name reads as an object's type rather than a root.
fn looks_like_type(f: &str) -> bool {
    f.starts_with(['[', '*']) || f.starts_with("map[") || f.starts_with("string") || f.starts_with("hchan<") || f.starts_with("closure ")
}

/// The package part of a type name: `main` of `[]*main.Entry`.
fn package(f: &str) -> &str {
    let t = f.trim_start_matches(['[', ']', '*']);
    t.split(['.', '[', '<', ' ']).next().unwrap_or(t)
}

/// FNV-1a of a string: stable colours from one run to the next.
fn fnv(s: &str) -> u64 {
    s.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3))
}

/// An RGB colour from hue (degrees), saturation and lightness (0..1).
fn hsl(h: f64, s: f64, l: f64) -> Color {
    let c = (1.0 - (2.0 * l - 1.0).abs()) * s;
    let hp = (h.rem_euclid(360.0)) / 60.0;
    let x = c * (1.0 - (hp % 2.0 - 1.0).abs());
    let (r, g, b) = match hp as u32 {
        0 => (c, x, 0.0),
        1 => (x, c, 0.0),
        2 => (0.0, c, x),
        3 => (0.0, x, c),
        4 => (x, 0.0, c),
        _ => (c, 0.0, x),
    };
    let m = l - c / 2.0;
    let to = |v: f64| ((v + m) * 255.0).round().clamp(0.0, 255.0) as u8;
    Color { r: to(r), g: to(g), b: to(b) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_of_frames_get_apart_colours() {
        let mut stacks = BTreeMap::new();
        stacks.insert("globals;main.cache;map[string]*main.Entry;$val;main.Entry".to_string(), 10);
        stacks.insert("goroutines;main.worker;main.worker.buf;[]uint8".to_string(), 10);
        let p = palette(&stacks);
        let c = |f: &str| p.get(f).unwrap();
        assert_ne!(c("globals"), c("goroutines"));
        assert_ne!(c("main.cache"), c("main.worker"));
        assert_ne!(c("$val"), c("main.Entry"));
        assert!(is_link("[3]") && is_link("[\"id\"].Name") && is_link(".Next") && is_link("$val"));
        assert!(!is_link("[]uint8") && !is_link("[4]main.T"));
        // Pure red, green and blue at full saturation and half lightness.
        assert_eq!(hsl(0.0, 1.0, 0.5), Color { r: 255, g: 0, b: 0 });
        assert_eq!(hsl(120.0, 1.0, 0.5), Color { r: 0, g: 255, b: 0 });
        assert_eq!(hsl(240.0, 1.0, 0.5), Color { r: 0, g: 0, b: 255 });
    }

    #[test]
    fn search_visits_frames_a_zoom_hides() {
        let mut stacks = BTreeMap::new();
        stacks.insert("globals;main.cache".to_string(), 10);
        let mut svg = Vec::new();
        write_svg(&stacks, "t", "s", &mut svg).unwrap();
        let svg = String::from_utf8(svg).unwrap();
        let search = &svg[svg.find("function search(term) {").expect("inferno's search function")..];
        let body = &search[..search.find("\nfunction ").unwrap_or(search.len())];
        assert!(body.contains("if (false) {"), "the skip was not found in inferno's search: {body}");
        assert!(!body.contains("contains(\"hide\")"), "{body}");
    }
}
