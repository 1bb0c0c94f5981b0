//! The layout of a closure object on Go 1.19–1.22, rebuilt from the DWARF
//! of the closure's function, for releases whose DWARF does not say where
//! each captured variable sits (Go 1.23+ writes DW_AT_go_closure_offset:
//! see [`Dwarf::closure_vars`]).
//!
//! What the compiler does (cmd/compile: typecheck.ClosureType, and the
//! closure prologue in ssagen): the object is `struct { F uintptr; X0 …;
//! X1 … }`, the code pointer then one field per captured variable in the
//! order the closure's body first uses them, each aligned as Go aligns its
//! type. A variable is captured by value when it is never reassigned and
//! at most 128 bytes, else by reference (a pointer field). In the closure
//! function's DWARF a variable captured by value appears under its own
//! name (its DW_AT_decl_line is where the body first uses it), and one
//! captured by reference, or by value but too large for registers, as
//! `&x` of type `*T` (declared at the closure's own line); the closure's
//! own locals sit among them, and a captured variable the optimizer left
//! no trace of is missing.
//!
//! So the order and the set are not certain: [`Dwarf::closure_captures`]
//! lists the candidates (the variables whose name the enclosing function
//! also has), and [`rebuild_closure`] tries every order and form the facts
//! allow against one object's size and pointer words, keeping the fields
//! all the layouts that fit agree on. A layout whose pointer words
//! disagree with the object's is never taken.

use super::dwarf::{ClosureVar, DieRef, Dwarf, Shape};
use super::kinds::{
    KIND_ARRAY, KIND_CHAN, KIND_COMPLEX64, KIND_FUNC, KIND_INTERFACE, KIND_MAP, KIND_PTR, KIND_SLICE, KIND_STRING, KIND_STRUCT,
    KIND_UNSAFE_POINTER,
};

/// The most a variable captured by value can hold (cmd/compile's capture
/// rule).
const MAX_BYVAL: u64 = 128;
/// Candidates considered for one closure; more and the closure stays
/// untyped.
const MAX_CAPTURES: usize = 16;
/// Search steps for one object's layout.
const MAX_STEPS: u32 = 200_000;
/// Layouts that fit kept before the search stops (they are intersected).
const MAX_FITS: usize = 64;
/// Nesting bound for type layouts.
const MAX_DEPTH: u32 = 32;

/// A variable the closure may have captured.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Capture {
    /// The name without a leading `&`.
    pub name: String,
    /// The type DWARF gives the variable (`*T` for an `&x`).
    pub ty: DieRef,
    /// DW_AT_decl_line: where the closure's body first uses a variable
    /// captured by value.
    pub line: u64,
    /// Listed as `&x`: captured by reference, or by value but kept in
    /// memory.
    pub by_address: bool,
}

/// Size, alignment and pointer words of a value of some type.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ValueLayout {
    /// Bytes.
    pub size: u64,
    /// Alignment in bytes.
    pub align: u64,
    /// Per 8-byte word: holds a pointer.
    pub ptrs: Vec<bool>,
}

impl Dwarf {
    /// The variables closure function `func` may have captured: its own
    /// top-level variables that the enclosing function (`func` without its
    /// last `.funcN` or `.N`) also has, in any of its scopes, by name or
    /// as `&name` (all of them if DWARF lacks the enclosing function).
    /// Empty when `func` is not a closure's function or DWARF lacks it.
    pub fn closure_captures(&self, func: &str) -> Vec<Capture> {
        let Some(outer) = enclosing_function(func) else { return Vec::new() };
        let Some(&sub) = self.subprograms().get(func) else { return Vec::new() };
        let mut caps = self.top_level_vars(sub);
        // An enclosing function inlined everywhere (a generic one, say) has
        // no DWARF of its own: then every variable is a candidate.
        if let Some(&outer) = self.subprograms().get(outer) {
            let outer_names: std::collections::HashSet<String> =
                self.var_names_of(outer).into_iter().map(|n| n.strip_prefix('&').map(str::to_string).unwrap_or(n)).collect();
            caps.retain(|c| outer_names.contains(&c.name));
        }
        caps.truncate(MAX_CAPTURES + 1);
        caps
    }

    /// The variables and parameters directly under subprogram `sub` (not
    /// in its lexical blocks), with a type; results (`~r0`) left out.
    fn top_level_vars(&self, sub: DieRef) -> Vec<Capture> {
        self.direct_vars_of(sub)
            .into_iter()
            .filter(|(name, _, _)| !name.starts_with('~') && !name.starts_with('.'))
            .filter_map(|(name, ty, line)| {
                let (name, by_address) = match name.strip_prefix('&') {
                    Some(n) => (n.to_string(), true),
                    None => (name, false),
                };
                Some(Capture { name, ty: ty?, line: line.unwrap_or(0), by_address })
            })
            .collect()
    }

    /// Whether the compiler can keep a value of type `t` in registers
    /// (cmd/compile's CanSSA): at most four words, no array of more than
    /// one element, no struct of more than four fields.
    fn registerizable(&self, mut t: DieRef, depth: u32) -> Option<bool> {
        if depth > MAX_DEPTH {
            return None;
        }
        if self.size_of(t)? > 32 {
            return Some(false);
        }
        for _ in 0..MAX_DEPTH {
            match self.go_kind(t) {
                Some(KIND_ARRAY) => {
                    let Shape::Array { elem, count } = self.shape(t)? else { return None };
                    return if count <= 1 { self.registerizable(elem, depth + 1) } else { Some(false) };
                }
                Some(KIND_STRUCT) => {
                    let Shape::Struct(r) = self.shape(t)? else { return None };
                    let s = self.struct_layout_of(r)?;
                    if s.members.len() > 4 {
                        return Some(false);
                    }
                    for m in &s.members {
                        if !self.registerizable(m.ty?, depth + 1)? {
                            return Some(false);
                        }
                    }
                    return Some(true);
                }
                Some(_) => return Some(true),
                None => match self.shape(t)? {
                    Shape::Struct(r) | Shape::Other(r) if r != t => t = r,
                    _ => return Some(true),
                },
            }
        }
        None
    }

    /// Size, alignment and pointer words of a value of type `ty`, as Go
    /// lays it out; None for types larger than `max` bytes or that DWARF
    /// does not describe well enough.
    pub fn value_layout(&self, ty: DieRef, max: u64) -> Option<ValueLayout> {
        self.value_layout_at(ty, max, 0)
    }

    fn value_layout_at(&self, mut t: DieRef, max: u64, depth: u32) -> Option<ValueLayout> {
        if depth > MAX_DEPTH {
            return None;
        }
        for _ in 0..MAX_DEPTH {
            let word = |ptrs: &[bool]| Some(ValueLayout { size: 8 * ptrs.len() as u64, align: 8, ptrs: ptrs.to_vec() });
            match self.go_kind(t) {
                Some(KIND_CHAN | KIND_FUNC | KIND_MAP | KIND_PTR | KIND_UNSAFE_POINTER) => return word(&[true]),
                Some(KIND_INTERFACE) => return word(&[true, true]),
                Some(KIND_STRING) => return word(&[true, false]),
                Some(KIND_SLICE) => return word(&[true, false, false]),
                Some(k @ 1..=16) => {
                    let size = self.size_of(t).filter(|&s| s > 0 && s <= 16)?;
                    let align = if k == KIND_COMPLEX64 { 4 } else { size.min(8) };
                    return Some(ValueLayout { size, align, ptrs: vec![false; size.div_ceil(8) as usize] });
                }
                _ => {}
            }
            match self.shape(t)? {
                Shape::Pointer(_) => return word(&[true]),
                Shape::Struct(r) if r != t => t = r,
                Shape::Struct(r) => {
                    let s = self.struct_layout_of(r)?;
                    if s.size > max {
                        return None;
                    }
                    let mut out = ValueLayout { size: s.size, align: 1, ptrs: vec![false; s.size.div_ceil(8) as usize] };
                    for m in &s.members {
                        let v = self.value_layout_at(m.ty?, max, depth + 1)?;
                        if m.offset.checked_add(v.size)? > s.size || m.offset % v.align != 0 {
                            return None;
                        }
                        out.align = out.align.max(v.align);
                        stamp(&mut out.ptrs, m.offset, &v.ptrs);
                    }
                    return Some(out);
                }
                Shape::Array { elem, count } => {
                    let e = self.value_layout_at(elem, max, depth + 1)?;
                    let size = e.size.checked_mul(count).filter(|&s| s <= max)?;
                    let mut out = ValueLayout { size, align: e.align, ptrs: vec![false; size.div_ceil(8) as usize] };
                    for i in 0..count {
                        stamp(&mut out.ptrs, i * e.size, &e.ptrs);
                    }
                    return Some(out);
                }
                Shape::Other(r) if r != t => t = r,
                Shape::Other(_) => return None,
            }
        }
        None
    }
}

/// Sets the pointer words `src` of a value placed at byte `off`.
fn stamp(dst: &mut [bool], off: u64, src: &[bool]) {
    if off % 8 != 0 {
        return; // a value of pointer-free words only: nothing to set
    }
    for (i, &p) in src.iter().enumerate() {
        if let Some(d) = dst.get_mut((off / 8) as usize + i) {
            *d |= p;
        }
    }
}

/// The function a closure's function is declared in: `main.f` for
/// `main.f.func1`, `main.f.func1` for `main.f.func1.2`.
pub fn enclosing_function(func: &str) -> Option<&str> {
    let (outer, last) = func.rsplit_once('.')?;
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    (digits(last) || last.strip_prefix("func").is_some_and(digits)).then_some(outer)
}

/// One captured variable placed in the object, while searching.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Placed {
    offset: u64,
    name: String,
    ty: DieRef,
}

/// One way a candidate can sit in the object: its field name and type,
/// and that type's layout.
struct Form {
    name: String,
    ty: DieRef,
    layout: ValueLayout,
    /// Index of the first pointer word.
    first: u64,
}

/// The captured variables of a closure object of `slot` bytes whose words
/// hold pointers where `ptrs` says, by offset: the fields every layout of
/// `caps` that fits the object agrees on.
///
/// Only what holds pointers is placed (a captured scalar, or one DWARF
/// lost, is a gap of pointer-free words). A layout fits when every pointer
/// word of the object (the code pointer's word holds none) is a pointer
/// word of exactly one placed candidate, each placed by one of its forms
/// (a value of its type, or for an `&x` a `*T` or, if at most 128 bytes,
/// a `T`), aligned, and those listed under their own name in the order of
/// their DW_AT_decl_line (where the body first uses them; the compiler
/// orders captures by first use), within the object's slot. A candidate
/// may stay out: it may be a local of the closure's own that shares a name
/// with one of the enclosing function's (`err`, `mp`). None if no layout
/// fits or the search grows too large: the object's captures stay
/// untyped.
pub fn rebuild_closure(d: &Dwarf, caps: &[Capture], slot: u64, ptrs: &[bool]) -> Option<Vec<ClosureVar>> {
    if caps.is_empty() || caps.len() > MAX_CAPTURES || slot < 16 || ptrs.first().copied().unwrap_or(true) {
        return None;
    }
    let mut forms: Vec<Vec<Form>> = Vec::new();
    for c in caps {
        let mut f = Vec::new();
        let mut add = |name: String, ty: DieRef, layout: ValueLayout| {
            if let Some(first) = layout.ptrs.iter().position(|&p| p) {
                f.push(Form { name, ty, layout, first: first as u64 });
            }
        };
        if c.by_address {
            if let Some(l) = d.value_layout(c.ty, 8) {
                add(format!("&{}", c.name), c.ty, l);
            }
            // By value only what the compiler keeps in memory: a variable
            // it can hold in registers is listed under its own name.
            if let Some(Shape::Pointer(Some(elem))) = d.shape(c.ty) {
                if let (Some(l), Some(false)) = (d.value_layout(elem, MAX_BYVAL), d.registerizable(elem, 0)) {
                    add(c.name.clone(), elem, l);
                }
            }
        } else if let Some(l) = d.value_layout(c.ty, MAX_BYVAL) {
            add(c.name.clone(), c.ty, l);
        }
        forms.push(f);
    }
    let mut s = Search { caps, forms: &forms, slot, ptrs, steps: 0, fits: Vec::new(), placed: Vec::new() };
    s.place(0, 8, None);
    if s.steps > MAX_STEPS || s.fits.is_empty() {
        return None;
    }
    let mut agreed = s.fits[0].clone();
    for other in &s.fits[1..] {
        agreed.retain(|p| other.contains(p));
    }
    if agreed.is_empty() {
        return None;
    }
    Some(agreed.into_iter().map(|p| ClosureVar { name: p.name, offset: p.offset, ty: Some(p.ty) }).collect())
}

struct Search<'a> {
    caps: &'a [Capture],
    forms: &'a [Vec<Form>],
    slot: u64,
    ptrs: &'a [bool],
    steps: u32,
    fits: Vec<Vec<Placed>>,
    placed: Vec<Placed>,
}

impl Search<'_> {
    /// Places a candidate on the object's first pointer word at or past
    /// `end`; `used` marks the placed ones, `line` is the decl line of the
    /// last one placed under its own name.
    fn place(&mut self, used: u32, end: u64, line: Option<u64>) {
        self.steps += 1;
        if self.steps > MAX_STEPS || self.fits.len() >= MAX_FITS {
            return;
        }
        let next_ptr = (end.div_ceil(8)..self.ptrs.len() as u64).find(|&w| self.ptrs[w as usize]);
        let Some(w) = next_ptr else {
            // Every pointer word explained: a fit.
            if !self.fits.contains(&self.placed) {
                self.fits.push(self.placed.clone());
            }
            return;
        };
        for i in 0..self.caps.len() {
            if used & 1 << i != 0 {
                continue;
            }
            let c = &self.caps[i];
            for f in &self.forms[i] {
                let by_name = !c.by_address;
                if by_name && line.is_some_and(|last| c.line < last) {
                    continue;
                }
                let Some(off) = w.checked_sub(f.first).map(|o| o * 8) else { continue };
                let l = &f.layout;
                if off < end || off % l.align.max(1) != 0 {
                    continue;
                }
                let Some(next) = off.checked_add(l.size).filter(|&e| e <= self.slot) else { continue };
                let agree = (0..next.div_ceil(8) - off / 8).all(|k| {
                    self.ptrs.get((off / 8 + k) as usize).copied().unwrap_or(false) == l.ptrs.get(k as usize).copied().unwrap_or(false)
                });
                if !agree {
                    continue;
                }
                self.placed.push(Placed { offset: off, name: f.name.clone(), ty: f.ty });
                self.place(used | 1 << i, next, if by_name { Some(c.line) } else { line });
                self.placed.pop();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::enclosing_function;

    #[test]
    fn enclosing_functions_of_closures() {
        assert_eq!(enclosing_function("main.buildClosure.func1"), Some("main.buildClosure"));
        assert_eq!(enclosing_function("main.f.func1.2"), Some("main.f.func1"));
        assert_eq!(enclosing_function("main.(*T).m.func3"), Some("main.(*T).m"));
        assert_eq!(enclosing_function("main.main"), None);
        assert_eq!(enclosing_function("main.funcs"), None);
    }
}
