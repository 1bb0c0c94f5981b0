//! Layer 2: what the Go toolchain left in the executable — build version,
//! symbols, DWARF, pclntab, type descriptors. Knows nothing of a live heap.

mod buildinfo;
mod closures;
mod coderefs;
mod dwarf;
mod funcdata;
pub mod kinds;
mod pclntab;
mod symbols;

pub use self::buildinfo::{go_build_id, read_buildinfo, BuildInfo, GoVersion};
pub use self::closures::{enclosing_function, rebuild_closure, Capture, ValueLayout};
pub use self::coderefs::{CodeRefs, CodeSpan, Error as CodeRefsError, Made};
pub use self::symbols::{Symbol, Symbols};
pub use self::dwarf::{DieRef, Dwarf, DwarfError, Member, Shape, StructLayout, Variable};
pub use self::dwarf::{ClosureVar, FrameVar};
pub use self::funcdata::{
    parse_stack_objects, read_varint, run_gc_prog, FuncInfo, FuncTable, StackMap, StackObject, ARGS_SIZE_UNKNOWN,
    FUNCDATA_ARGS_POINTER_MAPS, FUNCDATA_LOCALS_POINTER_MAPS, FUNCDATA_STACK_OBJECTS, FUNC_FLAG_ASM, FUNC_FLAG_SPWRITE,
    FUNC_FLAG_TOP_FRAME, PCDATA_STACK_MAP_INDEX, PCDATA_UNSAFE_POINT,
};
pub use self::pclntab::{find_pclntab, Func, PcHeader, Pclntab, PCLNTAB_MAGIC_118, PCLNTAB_MAGIC_120};

/// Why Go metadata could not be read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// No `.go.buildinfo`: not built by the Go toolchain.
    #[error("the executable was not built by Go (it has no .go.buildinfo)")]
    NotGo,
    /// The build info blob is damaged.
    #[error("the executable's Go build info is damaged ({0})")]
    BadBuildInfo(&'static str),
    /// A Go version refgraph cannot read.
    #[error("unsupported Go version {0:?} (refgraph reads go1.19 and later releases)")]
    UnsupportedVersion(String),
}
