//! Frame names that survive every consumer: FlameGraph's
//! stackcollapse-stap.pl cuts a frame at its last `+` and before its last
//! ` : `, and reads an all-digit line as a count; folded-stack readers
//! split frames at `;` and read the text after the last space as the count
//! (a second trailing number would make a differential graph).
//!
//! Rules, applied in order:
//! 1. control characters are dropped; tabs and newlines become spaces;
//! 2. `+` becomes `.`, `;` becomes `,`, ` : ` becomes `: `, and `%`
//!    becomes `％` (stackcollapse-stap.pl prints each stack as a printf
//!    format, so `%` would start a directive);
//! 3. leading and trailing spaces are trimmed;
//! 4. a name ending in a space and digits gets that space replaced by `_`;
//! 5. an empty or all-digit name gets a leading `#`.

use std::borrow::Cow;

/// Makes `s` safe as one frame of a .bt or folded stack.
pub fn frame(s: &str) -> Cow<'_, str> {
    let clean = |c: char| !c.is_control() && c != '+' && c != ';' && c != '%';
    if s.chars().all(clean) && !s.contains(" : ") && !needs_fix(s) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '+' => out.push('.'),
            ';' => out.push(','),
            '%' => out.push('％'),
            '\t' | '\n' | '\r' => out.push(' '),
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    while out.contains(" : ") {
        out = out.replace(" : ", ": ");
    }
    let mut out = out.trim().to_string();
    if let Some(sp) = out.rfind(' ') {
        if out[sp + 1..].bytes().all(|b| b.is_ascii_digit()) && sp + 1 < out.len() {
            out.replace_range(sp..sp + 1, "_");
        }
    }
    if out.bytes().all(|b| b.is_ascii_digit()) {
        out.insert(0, '#');
    }
    Cow::Owned(out)
}

fn needs_fix(s: &str) -> bool {
    s.is_empty()
        || s.starts_with(' ')
        || s.ends_with(' ')
        || s.bytes().all(|b| b.is_ascii_digit())
        || s.rfind(' ').is_some_and(|sp| sp + 1 < s.len() && s[sp + 1..].bytes().all(|b| b.is_ascii_digit()))
}

#[cfg(test)]
mod tests {
    use super::frame;

    #[test]
    fn rules() {
        assert_eq!(frame("main.Entry"), "main.Entry");
        assert_eq!(frame("struct { A *int; B string }"), "struct { A *int, B string }");
        assert_eq!(frame("runtime.gcBgMarkWorker+0x12"), "runtime.gcBgMarkWorker.0x12");
        assert_eq!(frame("a : b"), "a: b");
        assert_eq!(frame("12345"), "#12345");
        assert_eq!(frame(""), "#");
        assert_eq!(frame("unk 48"), "unk_48");
        assert_eq!(frame("x\u{1}y\tz"), "xy z");
        assert_eq!(frame("main.Entry 0xc000010000"), "main.Entry 0xc000010000");
        assert_eq!(frame("[\"100%s\"]"), "[\"100％s\"]");
    }
}
