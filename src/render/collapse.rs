//! Reading stacks back: .bt (stap) text collapsed as stackcollapse-stap.pl
//! does it, or folded text as it is; the format is detected.

use std::collections::BTreeMap;

/// Input formats `flame` accepts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// Stap-style backtraces (`objref` output).
    Bt,
    /// Folded stacks.
    Folded,
}

/// Guesses the format: folded lines end in a space and a number; .bt has
/// count lines made of a TAB and digits alone.
pub fn detect(text: &str) -> Format {
    for line in text.lines().filter(|l| !l.trim().is_empty()).take(200) {
        if line.starts_with('\t') && line.trim().bytes().all(|b| b.is_ascii_digit()) {
            return Format::Bt;
        }
    }
    Format::Folded
}

/// Collapses .bt text like stackcollapse-stap.pl: a line of only digits
/// (after leading white space) closes a stack; other lines are frames, leaf
/// first, cut after their last `+` and up to their last ` : `.
pub fn collapse_bt(text: &str) -> BTreeMap<String, u64> {
    let mut stacks = BTreeMap::new();
    let mut frames: Vec<String> = Vec::new();
    for line in text.lines() {
        let t = line.trim_start();
        if t.is_empty() {
            continue;
        }
        if t.bytes().all(|b| b.is_ascii_digit()) {
            let count: u64 = t.parse().unwrap_or(0);
            let key = frames.iter().rev().cloned().collect::<Vec<_>>().join(";");
            *stacks.entry(key).or_insert(0) += count;
            frames.clear();
            continue;
        }
        let mut f = t;
        if let Some(p) = f.rfind('+') {
            f = &f[..p];
        }
        if let Some(p) = f.rfind(" : ") {
            f = &f[p + 3..];
        }
        frames.push(if f.is_empty() { "-".to_string() } else { f.to_string() });
    }
    stacks
}

/// Reads folded text: the count is the text after the last space; lines
/// without one are skipped and counted.
pub fn read_folded(text: &str) -> (BTreeMap<String, u64>, usize) {
    let mut stacks = BTreeMap::new();
    let mut bad = 0;
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        match line.rsplit_once(' ').and_then(|(s, c)| c.trim().parse::<u64>().ok().map(|c| (s, c))) {
            Some((s, c)) => *stacks.entry(s.to_string()).or_insert(0) += c,
            None => bad += 1,
        }
    }
    (stacks, bad)
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
}
