//! Reading the runtime's structs out of the image through the layout's
//! field offsets: the image and the layout, and nothing else of a
//! [`Process`](super::Process).
//!
//! The search for the runtime's globals in a stripped executable
//! (`locate`) and the moduledata reader need only this, and they run while
//! the `Process` is still being built; the `Process` hands its own
//! [`Structs`] to everything else, so struct reads are written once.

use crate::image::{Image, Memory, ReadError};

use super::layout::{Field, Layout};

/// The image read as the runtime's structs.
#[derive(Clone, Copy)]
pub struct Structs<'a> {
    /// The memory image.
    pub image: &'a Image,
    /// Runtime offsets and constants.
    pub layout: &'a Layout,
}

impl Structs<'_> {
    /// Reads an unsigned integer field of a struct at `base`.
    pub fn read_field(&self, base: u64, f: Field) -> Result<u64, ReadError> {
        let a = base.wrapping_add(f.off);
        Ok(match f.size {
            1 => u64::from(self.image.u8(a)?),
            2 => u64::from(self.image.u16(a)?),
            4 => u64::from(self.image.u32(a)?),
            _ => self.image.u64(a)?,
        })
    }

    /// Reads a pointer.
    pub fn ptr(&self, addr: u64) -> Result<u64, ReadError> {
        self.image.u64(addr)
    }

    /// Reads a slice header: (data pointer, length).
    pub fn slice_header(&self, addr: u64) -> Result<(u64, u64), ReadError> {
        Ok((self.image.u64(addr)?, self.image.u64(addr.wrapping_add(8))?))
    }
}
