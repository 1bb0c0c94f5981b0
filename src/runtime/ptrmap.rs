//! Which words of a heap object hold pointers, per pointer-map scheme:
//! the 1.19 two-bit and 1.20–1.21 one-bit arena bitmaps, and 1.22+ span
//! bitmaps, malloc headers and largeType.

use std::collections::HashMap;

use crate::image::Memory;

use super::layout::PointerMaps;
use super::process::Process;
use super::spans::Span;
use super::types::{read_type, type_mask};
use super::Error;

/// Finds pointer words of objects; keeps a small cache of type masks, so
/// use one per thread.
pub struct PointerFinder<'p, 'a> {
    p: &'p Process<'a>,
    /// Arenas sorted by base: (base, heapArena address).
    arenas: &'p [(u64, u64)],
    masks: HashMap<u64, (u64, u64, Vec<u8>)>,
}

impl<'p, 'a> PointerFinder<'p, 'a> {
    /// A finder over the given arenas.
    pub fn new(p: &'p Process<'a>, arenas: &'p [(u64, u64)]) -> Self {
        PointerFinder { p, arenas, masks: HashMap::new() }
    }

    /// Calls `f(addr)` for the address of every pointer word of the object
    /// at `base` in `span`, in increasing order.
    pub fn pointers(&mut self, span: &Span, base: u64, f: &mut dyn FnMut(u64)) -> Result<(), Error> {
        if span.noscan() {
            return Ok(());
        }
        let l = &self.p.layout;
        match l.pointer_maps {
            PointerMaps::AllocHeaders => {
                if span.sizeclass() != 0 && span.elemsize <= l.malloc_header_min {
                    self.span_bitmap(span, base, f)
                } else if span.sizeclass() != 0 {
                    let t = self.p.ptr(base)?;
                    if t == 0 {
                        return Ok(()); // allocation in flight
                    }
                    self.tile(t, base + 8, base + span.elemsize, f)
                } else if span.large_type != 0 {
                    self.tile(span.large_type, base, base + span.elemsize, f)
                } else {
                    Ok(())
                }
            }
            PointerMaps::OneBitArena => self.one_bit(base, base + span.elemsize, f),
            PointerMaps::TwoBitArena => self.two_bit(base, base + span.elemsize, f),
        }
    }

    /// 1.22+ objects ≤ 512 B: one bit per word of the span, in a bitmap at
    /// the span's end (below the Green Tea inline mark bits).
    fn span_bitmap(&self, span: &Span, base: u64, f: &mut dyn FnMut(u64)) -> Result<(), Error> {
        let l = &self.p.layout;
        let span_bytes = span.npages * l.page_size;
        let bitmap_bytes = span_bytes / 64;
        let inline = if l.inline_mark_bits > 0 && span.elemsize >= 16 { l.inline_mark_bits } else { 0 };
        let bitmap = span.start + span_bytes - bitmap_bytes - inline;
        let first = (base - span.start) / 8;
        let words = span.elemsize / 8;
        let bits = self.p.image.slice(bitmap + first / 8, (first % 8 + words).div_ceil(8) as usize)?;
        for w in 0..words {
            let b = first % 8 + w;
            if bits[(b / 8) as usize] >> (b % 8) & 1 != 0 {
                f(base + w * 8);
            }
        }
        Ok(())
    }

    /// Repeats type `t`'s mask every Size_ bytes over [start, end).
    fn tile(&mut self, t: u64, start: u64, end: u64, f: &mut dyn FnMut(u64)) -> Result<(), Error> {
        if !self.masks.contains_key(&t) {
            let desc = read_type(self.p, t)?;
            let mask = type_mask(self.p, &desc)?.into_owned();
            self.masks.insert(t, (desc.size, desc.ptrbytes, mask));
        }
        let (size, ptrbytes, mask) = &self.masks[&t];
        if *size == 0 || *ptrbytes == 0 {
            return Ok(());
        }
        let mut elem = start;
        while elem < end {
            for w in 0..ptrbytes / 8 {
                let a = elem + w * 8;
                if a + 8 > end {
                    break;
                }
                if mask[(w / 8) as usize] >> (w % 8) & 1 != 0 {
                    f(a);
                }
            }
            elem += size;
        }
        Ok(())
    }

    /// The heapArena holding `addr`: (arena base, heapArena address).
    fn arena(&self, addr: u64) -> Option<(u64, u64)> {
        let i = self.arenas.partition_point(|(b, _)| *b <= addr).checked_sub(1)?;
        let (b, ha) = self.arenas[i];
        (addr - b < self.p.layout.arena_bytes).then_some((b, ha))
    }

    /// 1.20–1.21: bit i of heapArena.bitmap says whether word i of the
    /// arena holds a pointer.
    fn one_bit(&self, start: u64, end: u64, f: &mut dyn FnMut(u64)) -> Result<(), Error> {
        let bitmap = self.p.layout.arena_bitmap.expect("arena bitmap era").off;
        let mut a = start;
        while a < end {
            let (base, ha) = self.arena(a).ok_or(Error::Corrupt(format!("object word {a:#x} outside every arena")))?;
            let stop = end.min(base + self.p.layout.arena_bytes);
            let first = (a - base) / 8;
            let n = (stop - a) / 8;
            let bits = self.p.image.slice(ha + bitmap + first / 8, (first % 8 + n).div_ceil(8) as usize)?;
            for w in 0..n {
                let b = first % 8 + w;
                if bits[(b / 8) as usize] >> (b % 8) & 1 != 0 {
                    f(a + w * 8);
                }
            }
            a = stop;
        }
        Ok(())
    }

    /// 1.19: each bitmap byte covers four words; low nibble pointer bits,
    /// high nibble scan bits. Scanning stops at the first word whose scan
    /// bit is clear, as the runtime's scanobject does.
    fn two_bit(&self, start: u64, end: u64, f: &mut dyn FnMut(u64)) -> Result<(), Error> {
        let bitmap = self.p.layout.arena_bitmap.expect("arena bitmap era").off;
        let mut a = start;
        let mut cur: Option<(u64, u64)> = None;
        while a < end {
            let (base, ha) = match cur {
                Some((b, ha)) if a - b < self.p.layout.arena_bytes => (b, ha),
                _ => self.arena(a).ok_or(Error::Corrupt(format!("object word {a:#x} outside every arena")))?,
            };
            cur = Some((base, ha));
            let byte = self.p.image.u8(ha + bitmap + (a - base) / 32)?;
            let s = (a / 8) & 3;
            if byte >> (s + 4) & 1 == 0 {
                break;
            }
            if byte >> s & 1 != 0 {
                f(a);
            }
            a += 8;
        }
        Ok(())
    }
}
