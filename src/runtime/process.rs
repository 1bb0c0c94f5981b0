//! A Go process in a core: the image, the binary's Go metadata and runtime
//! layout, and the addresses of the runtime globals the walkers start from.

use std::sync::OnceLock;

use crate::gobin::{find_pclntab, read_buildinfo, BuildInfo, CodeRefs, CodeSpan, Dwarf, Pclntab, Symbols};
use crate::image::{Image, Memory, ReadError};

use super::layout::{Field, Layout};
use super::locate::find_globals;
use super::moduledata::MD_PCHEADER;
use super::structs::Structs;
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
    /// The code's references to data, read on first use.
    code_refs: OnceLock<Result<CodeRefs, String>>,
}

impl<'a> Process<'a> {
    /// Reads the Go metadata of `image`'s executable and finds the runtime's
    /// globals.
    pub fn new(image: &'a Image) -> Result<Process<'a>, Error> {
        let info = read_buildinfo(image.exe.bytes())?;
        let dwarf = Dwarf::load(image.debug_bytes())?;
        let symbols = match &image.debuginfo {
            Some(d) => Symbols::load_placed(d.file.bytes(), |a| d.translate(a)),
            None => Symbols::load(image.exe.bytes()),
        };
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
            code_refs: OnceLock::new(),
        };
        if let Some(w) = image.core.truncation() {
            p.warnings.push(w);
        }
        if p.dwarf.is_none() {
            if let Some(w) = super::tables::table_warning(&p.info.version, image.exe.arch) {
                p.warnings.push(w);
            }
            p.warnings.push(format!(
                "the executable has no DWARF, so globals are named after the functions that use them and most types are unknown; \
                 for exact names, build it unstripped and pass that with --debuginfo: {}",
                p.info.rebuild_command()
            ));
        }
        match (sym("runtime.mheap_"), sym("runtime.allgs"), sym("runtime.firstmoduledata")) {
            (Some(m), Some(g), Some(md)) => {
                p.mheap = m;
                p.allgs = g;
                p.firstmoduledata = md;
            }
            _ => {
                let g = find_globals(&p.structs())?;
                (p.mheap, p.allgs, p.firstmoduledata) = (g.mheap, g.allgs, g.firstmoduledata);
            }
        }
        p.symbols = symbols;
        Ok(p)
    }

    /// The pc-line table: the `.gopclntab` section or the one table in the
    /// executable's segments, else the one the first moduledata points at.
    pub fn pclntab(&self) -> Result<Pclntab<'a>, Error> {
        let image: &'a Image = self.image;
        if let Some(t) = find_pclntab(image.exe.bytes()).and_then(|(_, b)| Pclntab::new(b)) {
            return Ok(t);
        }
        let hdr = self.ptr(self.firstmoduledata + MD_PCHEADER)?;
        let bytes: &'a [u8] = image.tail(hdr).ok_or(ReadError { addr: hdr, len: 72 })?;
        Pclntab::new(bytes).ok_or_else(|| Error::NotFound("the pc-line table (runtime.pclntab)".into()))
    }

    /// Which functions' code refers to which data and bss addresses of the
    /// first module, and what it stores there (decoded once, on first use;
    /// amd64 only), or why not.
    pub fn code_refs(&self) -> Result<&CodeRefs, &str> {
        let scan = || -> Result<CodeRefs, String> {
            let (l, md) = (&self.layout, self.firstmoduledata);
            let field = |f| self.read_field(md, f).map_err(|e| e.to_string());
            let (text, etext) = (field(l.md_text)?, field(l.md_etext)?);
            let types = (field(l.md_types)?, field(l.md_etypes)?);
            let data = (field(l.md_noptrdata)?.min(field(l.md_data)?), field(l.md_ebss)?);
            let len = usize::try_from(etext.saturating_sub(text)).map_err(|e| e.to_string())?;
            let bytes = self.image.slice(text, len).map_err(|e| format!("the code is unreadable ({e})"))?;
            let tab = self.pclntab().map_err(|e| e.to_string())?;
            CodeRefs::scan(self.image.exe.arch, CodeSpan { text, bytes, data, types }, &tab).map_err(|e| e.to_string())
        };
        self.code_refs.get_or_init(scan).as_ref().map_err(String::as_str)
    }

    /// The image read as the runtime's structs, through this process's
    /// layout.
    pub fn structs(&self) -> Structs<'_> {
        Structs { image: self.image, layout: &self.layout }
    }

    /// Reads an unsigned integer field of a struct at `base`.
    pub fn read_field(&self, base: u64, f: Field) -> Result<u64, ReadError> {
        self.structs().read_field(base, f)
    }

    /// Reads a pointer.
    pub fn ptr(&self, addr: u64) -> Result<u64, ReadError> {
        self.structs().ptr(addr)
    }

    /// Reads a slice header: (data pointer, length).
    pub fn slice_header(&self, addr: u64) -> Result<(u64, u64), ReadError> {
        self.structs().slice_header(addr)
    }
}
