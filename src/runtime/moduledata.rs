//! `runtime.moduledata`: the runtime's table of one module's sections, read
//! from the image through the layout's offsets.
//!
//! Also the public door to locating the runtime's globals without symbols
//! ([`find_globals`]), which lives in the private `locate` module.

use crate::image::ReadError;

use super::structs::Structs;

pub use super::locate::{find_globals, Globals};

/// Offset of moduledata.pcHeader: the first field in every Go release
/// refgraph reads (1.16 on).
pub const MD_PCHEADER: u64 = 0;

/// The section bounds a moduledata records (runtime addresses).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Moduledata {
    /// Where the moduledata itself is.
    pub addr: u64,
    /// The module's pcHeader (start of its pc-line table).
    pub pcheader: u64,
    /// Start of the text.
    pub text: u64,
    /// End of the text.
    pub etext: u64,
    /// Start of the type descriptors.
    pub types: u64,
    /// End of the type descriptors.
    pub etypes: u64,
    /// Start of .noptrdata.
    pub noptrdata: u64,
    /// Start of .data.
    pub data: u64,
    /// End of .data.
    pub edata: u64,
    /// Start of .bss.
    pub bss: u64,
    /// End of .bss.
    pub ebss: u64,
    /// The next module, 0 for the last.
    pub next: u64,
}

impl Moduledata {
    /// Reads the moduledata at `addr`.
    pub fn read(p: &Structs, addr: u64) -> Result<Moduledata, ReadError> {
        let l = &p.layout;
        let f = |field| p.read_field(addr, field);
        Ok(Moduledata {
            addr,
            pcheader: p.ptr(addr.wrapping_add(MD_PCHEADER))?,
            text: f(l.md_text)?,
            etext: f(l.md_etext)?,
            types: f(l.md_types)?,
            etypes: f(l.md_etypes)?,
            noptrdata: f(l.md_noptrdata)?,
            data: f(l.md_data)?,
            edata: f(l.md_edata)?,
            bss: f(l.md_bss)?,
            ebss: f(l.md_ebss)?,
            next: f(l.md_next)?,
        })
    }
}
