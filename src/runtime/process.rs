//! A Go process in a core: the image, the binary's Go metadata and runtime
//! layout, and the addresses of the runtime globals the walkers start from.

use crate::gobin::{read_buildinfo, BuildInfo, Dwarf, Symbols};
use crate::image::{Image, Memory, ReadError};

use super::layout::{Field, Layout};
use super::Error;

/// Everything the walkers need to know about one dumped Go process.
pub struct Process<'a> {
    /// The memory image.
    pub image: &'a Image,
    /// `.go.buildinfo`.
    pub info: BuildInfo,
    /// Runtime offsets and constants.
    pub layout: Layout,
    /// ELF symbols (empty when stripped).
    pub symbols: Symbols,
    /// DWARF, if the executable has it.
    pub dwarf: Option<Dwarf>,
    /// Runtime address of `runtime.mheap_`.
    pub mheap: u64,
    /// Runtime address of the `runtime.allgs` slice header.
    pub allgs: u64,
    /// Runtime address of `runtime.firstmoduledata`.
    pub firstmoduledata: u64,
    /// Things that were odd but not fatal.
    pub warnings: Vec<String>,
}

impl<'a> Process<'a> {
    /// Reads the Go metadata of `image`'s executable and finds the runtime's
    /// globals.
    pub fn new(image: &'a Image) -> Result<Process<'a>, Error> {
        let info = read_buildinfo(image.exe.bytes())?;
        let dwarf = Dwarf::load(image.exe.bytes())?;
        let symbols = Symbols::load(image.exe.bytes());
        let layout = match &dwarf {
            Some(d) => Layout::build(d, &info.version, image.exe.arch)?,
            None => super::tables::layout_for(&info.version, image.exe.arch)?,
        };
        let bias = image.bias;
        let sym = |name: &str| symbols.get(name).map(|s| s.addr.wrapping_add(bias));
        let mut p = Process {
            image,
            info,
            layout,
            mheap: 0,
            allgs: 0,
            firstmoduledata: 0,
            symbols: Symbols::default(),
            dwarf,
            warnings: Vec::new(),
        };
        if let Some(w) = image.core.truncation() {
            p.warnings.push(w);
        }
        if p.dwarf.is_none() {
            if let Some(w) = super::tables::table_warning(&p.info.version, image.exe.arch) {
                p.warnings.push(w);
            }
        }
        match (sym("runtime.mheap_"), sym("runtime.allgs"), sym("runtime.firstmoduledata")) {
            (Some(m), Some(g), Some(md)) => {
                p.mheap = m;
                p.allgs = g;
                p.firstmoduledata = md;
            }
            _ => super::locate::locate_globals(&mut p)?,
        }
        p.symbols = symbols;
        Ok(p)
    }

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
        Ok((self.image.u64(addr)?, self.image.u64(addr + 8)?))
    }
}
