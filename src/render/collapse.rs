//! Reading stacks back: .bt (stap) text collapsed as stackcollapse-stap.pl
//! does it, or folded text as it is; the format is detected.

use std::collections::{BTreeMap, VecDeque};

/// Input formats `flame` accepts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// Stap-style backtraces (`objref` output).
    Bt,
    /// Folded stacks.
    Folded,
}

/// Bounds on what text input may make refgraph hold.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// Frames kept of a stack, from the root (`--maxdepth`); the deeper
    /// frames' count goes to their ancestor at this depth.
    pub max_depth: usize,
    /// Bytes kept of one frame name.
    pub max_frame_bytes: usize,
}

impl Limits {
    /// No depth limit; frames cut at [`MAX_FRAME_BYTES`].
    pub const DEEP: Limits = Limits { max_depth: usize::MAX, max_frame_bytes: MAX_FRAME_BYTES };

    /// [`Limits::DEEP`] with the depth limit of `--maxdepth` (at least 1,
    /// as for records written from a core).
    pub fn with_max_depth(max_depth: u32) -> Limits {
        Limits { max_depth: max_depth.max(1) as usize, ..Limits::DEEP }
    }
}

/// The longest frame name kept from text input, in bytes; refgraph's own
/// frames are far shorter (long struct types are already abbreviated).
pub const MAX_FRAME_BYTES: usize = 4096;

/// The most all counts may add up to: 2⁶³ − 1, so that any sum the flame
/// graph takes of them fits in 64 bits.
pub const MAX_TOTAL: u64 = i64::MAX as u64;

/// Stacks read from text, and what had to be changed to read them.
#[derive(Debug, Default)]
pub struct TextStacks {
    /// Summed counts by stack (`root;…;leaf`).
    pub stacks: BTreeMap<String, u64>,
    /// Sum of all counts, at most [`MAX_TOTAL`].
    pub total: u64,
    /// Lines that are neither frames nor stacks with a count (folded input).
    pub bad_lines: u64,
    /// Counts lowered to keep the total at [`MAX_TOTAL`] (or above 2⁶⁴−1
    /// as written).
    pub clamped_counts: u64,
    /// Stacks deeper than the depth limit, cut to it.
    pub cut_stacks: u64,
    /// Frame names longer than the limit, cut to it.
    pub cut_frames: u64,
}

impl TextStacks {
    fn add(&mut self, key: String, count: u64) {
        let c = count.min(MAX_TOTAL - self.total);
        if c < count {
            self.clamped_counts += 1;
        }
        self.total += c;
        *self.stacks.entry(key).or_insert(0) += c;
    }

    /// One sentence for each change made to the input.
    pub fn warnings(&self, limits: Limits) -> Vec<String> {
        let mut w = Vec::new();
        if self.bad_lines > 0 {
            w.push(format!("skipped {} lines that are not folded stacks", self.bad_lines));
        }
        if self.clamped_counts > 0 {
            w.push(format!(
                "{} counts were lowered: the counts add up to more than {MAX_TOTAL} (or one is above 2^64-1); the graph's proportions are wrong",
                self.clamped_counts
            ));
        }
        if self.cut_stacks > 0 {
            w.push(format!(
                "{} stacks were deeper than {} frames (--maxdepth) and were cut there, their bytes counted in the deepest frame kept",
                self.cut_stacks, limits.max_depth
            ));
        }
        if self.cut_frames > 0 {
            w.push(format!("{} frame names were longer than {} bytes and were cut", self.cut_frames, limits.max_frame_bytes));
        }
        w
    }
}

/// A count: ASCII digits only; one above 2⁶⁴−1 reads as 2⁶⁴−1 (and is then
/// clamped, with a warning, by [`TextStacks::add`]).
fn count(s: &str) -> Option<u64> {
    (!s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())).then(|| s.parse().unwrap_or(u64::MAX))
}

/// Guesses the format from the first line that tells: a line of white
/// space and digits alone closes a .bt record; a line `a;b… count` (no
/// leading white space, a `;`, which refgraph's .bt frames never hold) is a
/// folded stack. The whole text is looked at if need be (a .bt record may
/// be thousands of frames deep); without either kind of line, folded.
pub fn detect(text: &str) -> Format {
    for line in text.lines() {
        let t = line.trim();
        if t.is_empty() {
            continue;
        }
        if line.starts_with(char::is_whitespace) && count(t).is_some() {
            return Format::Bt;
        }
        if !line.starts_with(char::is_whitespace) && t.rsplit_once(' ').is_some_and(|(s, c)| s.contains(';') && count(c).is_some()) {
            return Format::Folded;
        }
    }
    Format::Folded
}

/// Reads stacks of either format within `limits`.
pub fn read_stacks(text: &str, format: Format, limits: Limits) -> TextStacks {
    match format {
        Format::Bt => read_bt(text, limits),
        Format::Folded => read_folded_stacks(text, limits),
    }
}

/// Cuts a frame name to `max` bytes (at a character boundary).
fn cut_frame(f: &str, max: usize, out: &mut TextStacks) -> String {
    if f.len() <= max {
        return f.to_string();
    }
    out.cut_frames += 1;
    let mut end = max;
    while !f.is_char_boundary(end) {
        end -= 1;
    }
    f[..end].to_string()
}

/// Collapses .bt text like stackcollapse-stap.pl: a line of only digits
/// (after leading white space) closes a stack; other lines are frames, leaf
/// first, cut after their last `+` and up to their last ` : `, `;` made
/// `,`. Only the
/// `max_depth` frames nearest the root are held: the rest of a deeper
/// record is dropped as it is read.
pub fn read_bt(text: &str, limits: Limits) -> TextStacks {
    let mut out = TextStacks::default();
    let depth = limits.max_depth.max(1);
    let mut frames: VecDeque<String> = VecDeque::new();
    let mut cut = false;
    for line in text.lines() {
        let t = line.trim_start();
        if t.is_empty() {
            continue;
        }
        if let Some(c) = count(t.trim_end()) {
            let key = frames.iter().rev().map(String::as_str).collect::<Vec<_>>().join(";");
            out.add(key, c);
            out.cut_stacks += u64::from(cut);
            frames.clear();
            cut = false;
            continue;
        }
        let mut f = t;
        if let Some(p) = f.rfind('+') {
            f = &f[..p];
        }
        if let Some(p) = f.rfind(" : ") {
            f = &f[p + 3..];
        }
        if frames.len() == depth {
            // Frames come leaf first: the oldest held is the deepest.
            frames.pop_front();
            cut = true;
        }
        // A `;` would split the frame in two once folded (and deepen the
        // stack past the limit): it becomes `,`, as refgraph writes it.
        let f = if f.is_empty() { "-".to_string() } else { cut_frame(f, limits.max_frame_bytes, &mut out).replace(';', ",") };
        frames.push_back(f);
    }
    out
}

/// Reads folded text: the count is the text after the last space; lines
/// without one are skipped and counted. Frames past `max_depth` (from the
/// root) are dropped.
pub fn read_folded_stacks(text: &str, limits: Limits) -> TextStacks {
    let mut out = TextStacks::default();
    let depth = limits.max_depth.max(1);
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let Some((stack, c)) = line.rsplit_once(' ').and_then(|(s, c)| count(c.trim()).map(|c| (s, c))) else {
            out.bad_lines += 1;
            continue;
        };
        let stack = match stack.match_indices(';').nth(depth - 1) {
            Some((at, _)) => {
                out.cut_stacks += 1;
                &stack[..at]
            }
            None => stack,
        };
        let key = if stack.len() <= limits.max_frame_bytes {
            stack.to_string()
        } else {
            stack.split(';').map(|f| cut_frame(f, limits.max_frame_bytes, &mut out)).collect::<Vec<_>>().join(";")
        };
        out.add(key, c);
    }
    out
}

/// [`read_bt`] without a depth limit: the summed stacks.
pub fn collapse_bt(text: &str) -> BTreeMap<String, u64> {
    read_bt(text, Limits::DEEP).stacks
}

/// [`read_folded_stacks`] without a depth limit: the summed stacks and the
/// number of lines skipped.
pub fn read_folded(text: &str) -> (BTreeMap<String, u64>, usize) {
    let s = read_folded_stacks(text, Limits::DEEP);
    (s.stacks, s.bad_lines as usize)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stap_rules() {
        let bt = "leaf+0x10\nmid : x\nroot\n\t48\nleaf2\nroot\n   2\n";
        assert_eq!(detect(bt), Format::Bt);
        let s = collapse_bt(bt);
        assert_eq!(s.get("root;x;leaf"), Some(&48));
        assert_eq!(s.get("root;leaf2"), Some(&2));
        let (f, bad) = read_folded("a;b 3\na;b 4\nnonsense\n");
        assert_eq!((f.get("a;b"), bad), (Some(&7), 1));
        assert_eq!(detect("a;b 3\n"), Format::Folded);
    }

    /// Issue 12, class 4: counts that wrapped to 0, or became 0 above
    /// 2⁶⁴−1, are clamped to a total that fits, with a warning.
    #[test]
    fn counts_never_wrap() {
        let s = read_folded_stacks("a;b 18446744073709551615\na;c 1\n", Limits::DEEP);
        assert_eq!(s.total, MAX_TOTAL);
        assert_eq!((s.stacks["a;b"], s.stacks["a;c"], s.clamped_counts), (MAX_TOTAL, 0, 2));
        assert!(s.warnings(Limits::DEEP)[0].contains("counts were lowered"));
        let s = read_bt("x\n\t99999999999999999999999\ny\n\t5\n", Limits::DEEP);
        assert_eq!((s.stacks["x"], s.stacks["y"], s.clamped_counts), (MAX_TOTAL, 0, 2));
        let s = read_bt("x\n\t7\ny\n\t5\n", Limits::DEEP);
        assert_eq!((s.total, s.clamped_counts), (12, 0));
    }

    /// Issue 12, class 5: depth is cut at --maxdepth while reading (root
    /// side kept), and detection reads past the first 200 lines.
    #[test]
    fn deep_stacks_are_cut_and_detected() {
        let frames: Vec<String> = (0..1000).map(|i| format!("f{i}")).collect();
        // .bt: leaf first, so f999 (printed first) is the deepest frame.
        let bt = format!("{}\n\t42\n", frames.iter().rev().cloned().collect::<Vec<_>>().join("\n"));
        assert_eq!(detect(&bt), Format::Bt);
        let lim = Limits::with_max_depth(100);
        let s = read_stacks(&bt, Format::Bt, lim);
        assert_eq!(s.stacks.len(), 1);
        assert_eq!(s.stacks[&frames[..100].join(";")], 42);
        assert_eq!(s.cut_stacks, 1);
        let folded = format!("{} 42\n", frames.join(";"));
        assert_eq!(detect(&folded), Format::Folded);
        let f = read_stacks(&folded, Format::Folded, lim);
        assert_eq!(f.stacks, s.stacks);
        assert_eq!(f.cut_stacks, 1);
        // A million empty frames: cut, not a million-frame stack.
        let semis = format!("{} 1\n", ";".repeat(1 << 20));
        let f = read_stacks(&semis, Format::Folded, lim);
        assert_eq!(f.stacks.keys().next().unwrap().len(), 99);
        // Long names are cut at a character boundary.
        let long = format!("a;{} 3\n", "\u{e9}".repeat(MAX_FRAME_BYTES));
        let f = read_stacks(&long, Format::Folded, lim);
        assert_eq!(f.cut_frames, 1);
        assert!(f.stacks.keys().next().unwrap().len() <= 2 + MAX_FRAME_BYTES);
    }
}
