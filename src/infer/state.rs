//! What type inference knows of each object, in 4 bytes an object: the
//! fact (type, array or not, where the value starts) and the object's
//! allocator flags. Most facts start 0, 8 (after a malloc header) or 16
//! bytes into their object; the few others keep their offset in a side
//! table.

use std::collections::HashMap;

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
    odd: HashMap<u32, u32>,
}

impl States {
    /// The state word of an object with `flags` (4 bits) and no fact.
    pub fn flag_word(flags: u8) -> u32 {
        u32::from(flags) << FLAG_SHIFT & FLAG_MASK
    }

    /// States from their first words (from [`States::flag_word`]).
    pub fn new(words: Vec<u32>) -> States {
        States { words, odd: HashMap::new() }
    }

    /// Object `obj`'s fact.
    #[inline]
    pub fn get(&self, obj: u32) -> Option<Fact> {
        let w = self.words[obj as usize];
        let ty = (w & TYPE_MASK) as TypeId;
        if ty == 0 {
            return None;
        }
        let off = match (w & OFF_MASK) >> OFF_SHIFT {
            ODD_OFFSET => self.odd_offset(obj),
            code => u64::from(code) * 8,
        };
        Some(Fact { ty, off, array: w & ARRAY_BIT != 0 })
    }

    #[cold]
    fn odd_offset(&self, obj: u32) -> u64 {
        u64::from(self.odd.get(&obj).copied().unwrap_or(0))
    }

    /// Sets object `obj`'s fact; `f.ty` must fit [`TYPE_MASK`] and `f.off`
    /// 32 bits.
    pub fn set(&mut self, obj: u32, f: Fact) {
        debug_assert!(f.ty <= TYPE_MASK && f.off <= u64::from(u32::MAX));
        let code = match f.off {
            0 | 8 | 16 => (f.off / 8) as u32,
            _ => ODD_OFFSET,
        };
        let w = &mut self.words[obj as usize];
        if (*w & OFF_MASK) >> OFF_SHIFT == ODD_OFFSET && code != ODD_OFFSET {
            self.odd.remove(&obj);
        }
        *w = (*w & FLAG_MASK) | (f.ty & TYPE_MASK) | if f.array { ARRAY_BIT } else { 0 } | code << OFF_SHIFT;
        if code == ODD_OFFSET {
            self.odd.insert(obj, f.off as u32);
        }
    }

    /// Object `obj`'s flags.
    #[inline]
    pub fn flags(&self, obj: u32) -> u8 {
        ((self.words[obj as usize] & FLAG_MASK) >> FLAG_SHIFT) as u8
    }

    /// What [`States::get`] reads first for object `obj`, to prefetch.
    #[inline]
    pub fn word(&self, obj: u32) -> &u32 {
        &self.words[obj as usize]
    }
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
        assert_eq!(s.odd.len(), 1);
    }
}
