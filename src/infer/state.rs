//! What type inference knows of each object, in 4 bytes an object: the
//! fact (type, array or not, where the value starts) and the object's
//! allocator flags. Most facts start 0, 8 (after a malloc header) or 16
//! bytes into their object; the few others keep their offset in a side
//! table.
//!
//! The merge of a wide level runs in parallel over ranges of objects
//! ([`States::parts`]): each part writes only its own objects' words, and
//! the rare side-table entries go through a lock.

use std::collections::HashMap;
use std::sync::Mutex;

use super::{Fact, TypeId};

/// Type ids take the low 24 bits of a state word.
pub const TYPE_MASK: u32 = (1 << 24) - 1;
/// An array fact.
const ARRAY_BIT: u32 = 1 << 24;
/// Where the offset code sits: 0, 8, 16 bytes, or [`ODD_OFFSET`].
const OFF_SHIFT: u32 = 25;
/// The offset code's bits.
const OFF_MASK: u32 = 3 << OFF_SHIFT;
/// The offset code of an offset kept in the side table.
const ODD_OFFSET: u32 = 3;
/// Where the object's flags sit (4 bits).
const FLAG_SHIFT: u32 = 27;
/// The flags' bits.
const FLAG_MASK: u32 = 0xf << FLAG_SHIFT;

/// Every object's fact and flags.
pub struct States {
    words: Vec<u32>,
    /// Offsets other than 0, 8 and 16, by object.
    odd: Mutex<HashMap<u32, u32>>,
}

/// The states of one range of objects, to change apart from the others'.
pub struct StatesPart<'s> {
    /// The first object.
    base: u32,
    words: &'s mut [u32],
    odd: &'s Mutex<HashMap<u32, u32>>,
}

impl States {
    /// The state word of an object with `flags` (4 bits) and no fact.
    pub fn flag_word(flags: u8) -> u32 {
        u32::from(flags) << FLAG_SHIFT & FLAG_MASK
    }

    /// States from their first words (from [`States::flag_word`]).
    pub fn new(words: Vec<u32>) -> States {
        States { words, odd: Mutex::new(HashMap::new()) }
    }

    /// Object `obj`'s fact.
    #[inline]
    pub fn get(&self, obj: u32) -> Option<Fact> {
        decode(self.words[obj as usize], obj, &self.odd)
    }

    /// Sets object `obj`'s fact; `f.ty` must fit [`TYPE_MASK`] and `f.off`
    /// 32 bits.
    pub fn set(&mut self, obj: u32, f: Fact) {
        encode(&mut self.words[obj as usize], obj, f, &self.odd);
    }

    /// Object `obj`'s flags.
    #[inline]
    pub fn flags(&self, obj: u32) -> u8 {
        flags(self.words[obj as usize])
    }

    /// All states as one part.
    pub fn whole(&mut self) -> StatesPart<'_> {
        StatesPart { base: 0, words: &mut self.words, odd: &self.odd }
    }

    /// The states cut into parts of `1 << shift` objects (the last one
    /// shorter), in object order.
    pub fn parts(&mut self, shift: u32) -> Vec<StatesPart<'_>> {
        let odd = &self.odd;
        self.words.chunks_mut(1 << shift).enumerate().map(|(k, words)| StatesPart { base: (k << shift) as u32, words, odd }).collect()
    }

    /// What [`States::get`] reads first for object `obj`, to prefetch.
    #[inline]
    pub fn word(&self, obj: u32) -> &u32 {
        &self.words[obj as usize]
    }
}

impl StatesPart<'_> {
    /// Object `obj`'s fact (`obj` in this part).
    #[inline]
    pub fn get(&self, obj: u32) -> Option<Fact> {
        decode(self.words[(obj - self.base) as usize], obj, self.odd)
    }

    /// Sets object `obj`'s fact, as [`States::set`] (`obj` in this part).
    pub fn set(&mut self, obj: u32, f: Fact) {
        encode(&mut self.words[(obj - self.base) as usize], obj, f, self.odd);
    }

    /// Object `obj`'s flags (`obj` in this part).
    #[inline]
    pub fn flags(&self, obj: u32) -> u8 {
        flags(self.words[(obj - self.base) as usize])
    }

    /// What [`StatesPart::get`] reads first for object `obj`, to prefetch.
    #[inline]
    pub fn word(&self, obj: u32) -> &u32 {
        &self.words[(obj - self.base) as usize]
    }
}

/// The fact in object `obj`'s state word `w`.
#[inline]
fn decode(w: u32, obj: u32, odd: &Mutex<HashMap<u32, u32>>) -> Option<Fact> {
    let ty = (w & TYPE_MASK) as TypeId;
    if ty == 0 {
        return None;
    }
    let off = match (w & OFF_MASK) >> OFF_SHIFT {
        ODD_OFFSET => odd_offset(obj, odd),
        code => u64::from(code) * 8,
    };
    Some(Fact { ty, off, array: w & ARRAY_BIT != 0 })
}

#[cold]
fn odd_offset(obj: u32, odd: &Mutex<HashMap<u32, u32>>) -> u64 {
    u64::from(odd.lock().unwrap_or_else(|e| e.into_inner()).get(&obj).copied().unwrap_or(0))
}

/// Writes fact `f` into object `obj`'s state word `w`, keeping the flags.
fn encode(w: &mut u32, obj: u32, f: Fact, odd: &Mutex<HashMap<u32, u32>>) {
    debug_assert!(f.ty <= TYPE_MASK && f.off <= u64::from(u32::MAX));
    let code = match f.off {
        0 | 8 | 16 => (f.off / 8) as u32,
        _ => ODD_OFFSET,
    };
    let was_odd = (*w & OFF_MASK) >> OFF_SHIFT == ODD_OFFSET;
    *w = (*w & FLAG_MASK) | (f.ty & TYPE_MASK) | if f.array { ARRAY_BIT } else { 0 } | code << OFF_SHIFT;
    if was_odd || code == ODD_OFFSET {
        let mut odd = odd.lock().unwrap_or_else(|e| e.into_inner());
        if code == ODD_OFFSET {
            odd.insert(obj, f.off as u32);
        } else {
            odd.remove(&obj);
        }
    }
}

/// The flags in a state word.
#[inline]
fn flags(w: u32) -> u8 {
    ((w & FLAG_MASK) >> FLAG_SHIFT) as u8
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn facts_keep_their_offsets_and_the_flags() {
        let mut s = States::new(vec![States::flag_word(0b1010), States::flag_word(0b0101), 0]);
        assert_eq!((s.get(0), s.flags(0), s.flags(1)), (None, 0b1010, 0b0101));
        for (off, array) in [(0, false), (8, true), (16, false), (24, true), (4096, false), (u64::from(u32::MAX), true), (8, false)] {
            let f = Fact { ty: TYPE_MASK, off, array };
            s.set(0, f);
            s.set(2, Fact { ty: 7, off: off / 2 + 40, array: !array });
            assert_eq!(s.get(0), Some(f));
            assert_eq!(s.get(2), Some(Fact { ty: 7, off: off / 2 + 40, array: !array }));
            assert_eq!((s.flags(0), s.flags(1), s.flags(2), s.get(1)), (0b1010, 0b0101, 0, None));
        }
        // Object 0 ends at offset 8: its side entry is gone; object 2's
        // (offset 44) stays.
        assert_eq!(s.odd.lock().unwrap().len(), 1);
    }

    #[test]
    fn parts_change_only_their_own_objects() {
        let mut s = States::new(vec![States::flag_word(0b0011); 10]);
        let (f, g) = (Fact { ty: 5, off: 40, array: true }, Fact { ty: 6, off: 8, array: false });
        {
            let mut parts = s.parts(2);
            assert_eq!(parts.len(), 3);
            parts[1].set(5, f);
            parts[2].set(9, g);
            assert_eq!((parts[1].get(5), parts[1].flags(5), parts[2].get(8)), (Some(f), 0b0011, None));
        }
        assert_eq!((s.get(5), s.get(9)), (Some(f), Some(g)));
        for o in [0, 1, 2, 3, 4, 6, 7, 8] {
            assert_eq!((s.get(o), s.flags(o)), (None, 0b0011));
        }
        s.whole().set(5, g);
        assert_eq!((s.get(5), s.odd.lock().unwrap().len()), (Some(g), 0));
    }
}
