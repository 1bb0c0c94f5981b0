//! Every runtime offset and constant the walker uses, settled once per
//! binary. This is the one place where Go versions differ: the rest of the
//! walker reads plain numbers from [`Layout`].
//!
//! Offsets come from the executable's DWARF, looked up by struct and field
//! name. A stripped executable has none; then the answers come from a table
//! recorded from the DWARF of an unstripped build of the same Go minor (see
//! [`super::tables`]).

use crate::gobin::{Dwarf, GoVersion};
use crate::image::Arch;

/// Answers layout questions: struct field offsets and sizes, type sizes,
/// typed constants.
pub trait LayoutSource {
    /// Offset and byte size of `field` in struct `strukt`.
    fn field(&self, strukt: &str, field: &str) -> Option<(u64, u64)>;
    /// Byte size of the named type.
    fn size(&self, ty: &str) -> Option<u64>;
    /// Value of a typed package-level constant.
    fn constant(&self, name: &str) -> Option<i64>;
}

impl LayoutSource for Dwarf {
    fn field(&self, strukt: &str, field: &str) -> Option<(u64, u64)> {
        let l = self.struct_layout(strukt)?;
        let m = l.member(field)?;
        Some((m.offset, m.size.unwrap_or(0)))
    }
    fn size(&self, ty: &str) -> Option<u64> {
        self.type_size(ty)
    }
    fn constant(&self, name: &str) -> Option<i64> {
        Dwarf::constant(self, name)
    }
}

/// How the heap records which words of an object hold pointers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PointerMaps {
    /// Go 1.19: two bits per word in heapArena.bitmap (pointer, scan),
    /// four words per byte.
    TwoBitArena,
    /// Go 1.20–1.21: one bit per word in heapArena.bitmap.
    OneBitArena,
    /// Go 1.22+: bitmap at the span's end for objects ≤ 512 B, malloc
    /// header type above, span.largeType for large objects.
    AllocHeaders,
}

/// A field's place: offset and width in bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Field {
    /// Byte offset.
    pub off: u64,
    /// Byte width (1, 2, 4 or 8 for the integer fields read here).
    pub size: u64,
}

/// What is missing when a layout cannot be built.
#[derive(Debug, thiserror::Error)]
#[error("runtime layout for {version}: no {what} (is this a Go executable with runtime metadata?)")]
pub struct LayoutError {
    /// The Go version.
    pub version: String,
    /// The missing struct, field or constant.
    pub what: String,
}

/// The runtime's layout in one binary.
#[derive(Clone, Debug)]
pub struct Layout {
    /// The Go release.
    pub minor: u32,
    /// Pointer-map scheme.
    pub pointer_maps: PointerMaps,
    /// Green Tea GC spans reserve inline mark bits at the end of the page.
    pub inline_mark_bits: u64,
    /// Heap page size (8192).
    pub page_size: u64,
    /// Arena size (64 MiB).
    pub arena_bytes: u64,
    /// Arena index offset (amd64: 0xffff800000000000).
    pub arena_base_offset: u64,
    /// Objects above this size carry a malloc header (1.22+: 512).
    pub malloc_header_min: u64,
    /// DWARF places each variable a closure captured in its object
    /// (DW_AT_go_closure_offset, 1.23+); before, the layout is rebuilt.
    pub closure_offsets_in_dwarf: bool,
    /// mspan state meaning "in use".
    pub span_in_use: u64,

    /// mheap.allArenas ([]arenaIdx).
    pub mheap_all_arenas: Field,
    /// mheap.arenas ([L1]*[L2]*heapArena).
    pub mheap_arenas: Field,
    /// arenaL2Bits.
    pub arena_l2_bits: u64,
    /// heapArena.spans.
    pub arena_spans: Field,
    /// heapArena.bitmap (1.19–1.21).
    pub arena_bitmap: Option<Field>,

    /// mspan fields.
    pub span_start: Field,
    pub span_npages: Field,
    pub span_freeindex: Field,
    pub span_nelems: Field,
    pub span_alloc_bits: Field,
    pub span_class: Field,
    pub span_state: Field,
    pub span_elemsize: Field,
    pub span_limit: Field,
    /// mspan.largeType (1.22+).
    pub span_large_type: Option<Field>,
    /// mspan.specials (head of the span's special records).
    pub span_specials: Field,
    /// special.next / offset / kind.
    pub special_next: Field,
    pub special_offset: Field,
    pub special_kind: Field,
    /// specialfinalizer.fn.
    pub special_finalizer_fn: Field,
    /// The pointer words of a specialCleanup that keep things alive: fn
    /// (1.24–1.25) or the {call, fn, arg} cleanup (1.26+); offset and size.
    pub special_cleanup_fn: Option<Field>,
    /// Special kinds: finalizer, cleanup (1.24+).
    pub kind_finalizer: u64,
    pub kind_cleanup: Option<u64>,
    /// finblock / finBlock (queued finalizers): alllink, cnt, fin[].
    pub finblock_alllink: Field,
    pub finblock_cnt: Field,
    pub finblock_fin: Field,
    /// runtime.finalizer: size, fn, arg.
    pub finalizer_size: u64,
    pub finalizer_fn: Field,
    pub finalizer_arg: Field,
    /// p.mcache and mcache.tiny (each P's current tiny block is a root).
    pub p_mcache: Field,
    pub mcache_tiny: Field,

    /// Type descriptor (runtime._type / internal/abi.Type) fields.
    pub type_size: Field,
    pub type_ptrbytes: Field,
    pub type_tflag: Field,
    pub type_kind: Field,
    pub type_gcdata: Field,
    pub type_str: Field,
    /// Size of the type descriptor header (48).
    pub type_header: u64,

    /// g fields.
    pub g_status: Field,
    pub g_goid: Field,
    /// The pc of the `go` statement that created the goroutine (absent
    /// from the layout tables of stripped executables).
    pub g_gopc: Option<Field>,
    pub g_stack_lo: Field,
    pub g_stack_hi: Field,
    /// g.sched.sp / g.sched.pc (saved registers of a goroutine that is not running).
    pub g_sched_sp: Field,
    pub g_sched_pc: Field,
    /// g.sched.lr: the saved link register, on machines with one (arm64).
    pub g_sched_lr: Option<Field>,
    /// g.syscallsp / g.syscallpc (set while in a system call).
    pub g_syscallsp: Field,
    pub g_syscallpc: Field,
    /// g.m (the M running it, or 0).
    pub g_m: Field,
    /// g._panic, g._defer and g.sched.ctxt: more roots hanging off a g.
    pub g_panic: Field,
    pub g_defer: Field,
    pub g_sched_ctxt: Field,
    /// _defer.fn and _defer.link.
    pub defer_fn: Field,
    pub defer_link: Field,
    /// m.procid (the thread's LWP id) and m.curg.
    pub m_procid: Field,
    pub m_curg: Field,
    /// moduledata fields.
    pub md_types: Field,
    pub md_etypes: Field,
    pub md_text: Field,
    pub md_etext: Field,
    pub md_data: Field,
    pub md_edata: Field,
    pub md_bss: Field,
    pub md_ebss: Field,
    pub md_noptrdata: Field,
    pub md_gcdatamask: Field,
    pub md_gcbssmask: Field,
    pub md_next: Field,
    pub md_gofunc: Field,
    pub md_rodata: Field,
    /// Kind-specific type descriptors and the runtime's map and channel
    /// structures, for type inference.
    pub types: TypeLayout,
}

/// Where type inference finds things: the kind structs that follow a type
/// descriptor's header (offsets from the descriptor's start), and the
/// runtime's map and channel headers. Every value has a default (the
/// amd64 layout of the releases that lack the field in DWARF), so a
/// missing answer never stops the walk.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TypeLayout {
    /// PtrType.Elem.
    pub ptr_elem: u64,
    /// SliceType.Elem.
    pub slice_elem: u64,
    /// ArrayType.Elem and ArrayType.Len.
    pub array_elem: u64,
    pub array_len: u64,
    /// ChanType.Elem.
    pub chan_elem: u64,
    /// StructType.Fields (a slice header).
    pub struct_fields: u64,
    /// StructField: Name, Typ, Offset, and its size.
    pub field_name: u64,
    pub field_typ: u64,
    pub field_offset: u64,
    pub field_size: u64,
    /// InterfaceType.Methods (a slice header; empty for `any`).
    pub iface_methods: u64,
    /// ITab.Type (the concrete type of an itab).
    pub itab_type: u64,
    /// MapType.Key, MapType.Elem and MapType.Bucket (classic) or
    /// MapType.Group (Swiss).
    pub map_key: u64,
    pub map_elem: u64,
    pub map_bucket: u64,
    /// Swiss-table maps (Go 1.24+ unless built with noswissmap).
    pub swiss_maps: bool,
    /// Classic maps: hmap size, B, buckets, oldbuckets, extra; mapextra
    /// size, overflow, oldoverflow, nextOverflow.
    pub hmap_size: u64,
    pub hmap_b: u64,
    pub hmap_buckets: u64,
    pub hmap_oldbuckets: u64,
    pub hmap_extra: u64,
    pub mapextra_size: u64,
    pub mapextra_overflow: u64,
    pub mapextra_oldoverflow: u64,
    pub mapextra_next: u64,
    /// Swiss maps: Map size, dirPtr, dirLen; table size and
    /// table.groups.data.
    pub smap_size: u64,
    pub smap_dir_ptr: u64,
    pub smap_dir_len: u64,
    pub table_size: u64,
    pub table_groups: u64,
    /// hchan size and hchan.buf.
    pub hchan_size: u64,
    pub hchan_buf: u64,
    /// The direct-interface flag is TFlag 0x20 (Go 1.26+), not Kind_ 0x20.
    pub direct_iface_tflag: bool,
}

struct Ask<'a> {
    src: &'a dyn LayoutSource,
    version: &'a GoVersion,
}

impl Ask<'_> {
    fn missing(&self, what: String) -> LayoutError {
        LayoutError { version: self.version.raw.clone(), what }
    }
    /// The first of `fields` (struct, field) alternatives that exists.
    fn field(&self, alts: &[(&str, &str)]) -> Result<Field, LayoutError> {
        self.opt_field(alts).ok_or_else(|| self.missing(format!("{}.{}", alts[0].0, alts[0].1)))
    }
    fn opt_field(&self, alts: &[(&str, &str)]) -> Option<Field> {
        alts.iter().find_map(|(s, f)| self.src.field(s, f)).map(|(off, size)| Field { off, size })
    }
    fn constant(&self, names: &[&str], default: Option<i64>) -> Result<i64, LayoutError> {
        names
            .iter()
            .find_map(|n| self.src.constant(n))
            .or(default)
            .ok_or_else(|| self.missing(format!("constant {}", names[0])))
    }
}

const TYPE: [&str; 2] = ["internal/abi.Type", "runtime._type"];

impl Layout {
    /// Builds the layout of a binary of `version` from `src`.
    pub fn build(src: &dyn LayoutSource, version: &GoVersion, arch: Arch) -> Result<Layout, LayoutError> {
        let a = Ask { src, version };
        let minor = version.minor;
        let pointer_maps = match minor {
            ..=19 => PointerMaps::TwoBitArena,
            20 | 21 => PointerMaps::OneBitArena,
            22 if version.experiment("allocheaders") == Some(false) => PointerMaps::OneBitArena,
            _ => PointerMaps::AllocHeaders,
        };
        let greentea = match minor {
            ..=24 => false,
            25 => version.experiment("greenteagc") == Some(true),
            _ => version.experiment("greenteagc") != Some(false),
        };
        let inline_mark_bits = if greentea { src.size("runtime.spanInlineMarkBits").filter(|&s| s > 0).unwrap_or(128) } else { 0 };
        let ty = |f: &str, old: &str| a.field(&[(TYPE[0], f), (TYPE[1], old)]);
        let g = |f: &str| a.field(&[("runtime.g", f)]);
        let md = |f: &str| a.field(&[("runtime.moduledata", f)]);
        let span = |f: &str| a.field(&[("runtime.mspan", f)]);
        let stack = a.field(&[("runtime.g", "stack")])?;
        let sched = a.field(&[("runtime.g", "sched")])?;
        let gobuf = |f: &str| -> Result<Field, LayoutError> {
            let x = a.field(&[("runtime.gobuf", f)])?;
            Ok(Field { off: sched.off + x.off, size: x.size })
        };
        let m = |f: &str| a.field(&[("runtime.m", f)]);
        let stack_hi = a.field(&[("runtime.stack", "hi")])?;
        Ok(Layout {
            minor,
            pointer_maps,
            inline_mark_bits,
            page_size: a.constant(&["runtime._PageSize", "runtime.pageSize"], Some(8192))? as u64,
            arena_bytes: a.constant(&["runtime.heapArenaBytes"], Some(64 << 20))? as u64,
            arena_base_offset: a.constant(&["runtime.arenaBaseOffsetUintptr"], Some(arch.arena_base_offset()))? as u64,
            closure_offsets_in_dwarf: minor >= 23,
            malloc_header_min: a.constant(&["internal/runtime/gc.MinSizeForMallocHeader", "runtime.minSizeForMallocHeader"], Some(512))?
                as u64,
            span_in_use: a.constant(&["runtime.mSpanInUse"], Some(1))? as u64,
            mheap_all_arenas: a.field(&[("runtime.mheap", "allArenas"), ("runtime.mheap", "heapArenas")])?,
            mheap_arenas: a.field(&[("runtime.mheap", "arenas")])?,
            arena_l2_bits: a.constant(&["runtime.arenaL2Bits"], Some(22))? as u64,
            arena_spans: a.field(&[("runtime.heapArena", "spans")])?,
            arena_bitmap: if pointer_maps == PointerMaps::AllocHeaders { None } else { Some(a.field(&[("runtime.heapArena", "bitmap")])?) },
            span_start: span("startAddr")?,
            span_npages: span("npages")?,
            span_freeindex: span("freeindex")?,
            span_nelems: span("nelems")?,
            span_alloc_bits: span("allocBits")?,
            span_class: span("spanclass")?,
            span_state: span("state")?,
            span_elemsize: span("elemsize")?,
            span_limit: span("limit")?,
            span_large_type: a.opt_field(&[("runtime.mspan", "largeType")]),
            span_specials: span("specials")?,
            special_next: a.field(&[("runtime.special", "next")])?,
            special_offset: a.field(&[("runtime.special", "offset")])?,
            special_kind: a.field(&[("runtime.special", "kind")])?,
            special_finalizer_fn: a.field(&[("runtime.specialfinalizer", "fn")])?,
            special_cleanup_fn: a.opt_field(&[("runtime.specialCleanup", "fn"), ("runtime.specialCleanup", "cleanup")]),
            kind_finalizer: a.constant(&["runtime._KindSpecialFinalizer"], None)? as u64,
            kind_cleanup: a.src.constant("runtime._KindSpecialCleanup").map(|v| v as u64),
            finblock_alllink: a.field(&[("runtime.finblock", "alllink"), ("runtime.finBlock", "alllink")])?,
            finblock_cnt: a.field(&[("runtime.finblock", "cnt"), ("runtime.finBlock", "cnt")])?,
            finblock_fin: a.field(&[("runtime.finblock", "fin"), ("runtime.finBlock", "fin")])?,
            finalizer_size: src.size("runtime.finalizer").ok_or_else(|| a.missing("runtime.finalizer".into()))?,
            finalizer_fn: a.field(&[("runtime.finalizer", "fn")])?,
            finalizer_arg: a.field(&[("runtime.finalizer", "arg")])?,
            p_mcache: a.field(&[("runtime.p", "mcache")])?,
            mcache_tiny: a.field(&[("runtime.mcache", "tiny")])?,
            type_size: ty("Size_", "size")?,
            type_ptrbytes: ty("PtrBytes", "ptrdata")?,
            type_tflag: ty("TFlag", "tflag")?,
            type_kind: ty("Kind_", "kind")?,
            type_gcdata: ty("GCData", "gcdata")?,
            type_str: ty("Str", "str")?,
            type_header: TYPE.iter().find_map(|t| src.size(t)).ok_or_else(|| a.missing("internal/abi.Type".into()))?,
            g_status: g("atomicstatus")?,
            g_goid: g("goid")?,
            g_gopc: a.opt_field(&[("runtime.g", "gopc")]),
            g_stack_lo: Field { off: stack.off, size: 8 },
            g_stack_hi: Field { off: stack.off + stack_hi.off, size: 8 },
            g_sched_sp: gobuf("sp")?,
            g_sched_pc: gobuf("pc")?,
            g_sched_lr: if arch.uses_lr() { Some(gobuf("lr")?) } else { None },
            g_syscallsp: g("syscallsp")?,
            g_syscallpc: g("syscallpc")?,
            g_m: g("m")?,
            g_panic: g("_panic")?,
            g_defer: g("_defer")?,
            g_sched_ctxt: gobuf("ctxt")?,
            defer_fn: a.field(&[("runtime._defer", "fn")])?,
            defer_link: a.field(&[("runtime._defer", "link")])?,
            m_procid: m("procid")?,
            m_curg: m("curg")?,
            md_types: md("types")?,
            md_etypes: md("etypes")?,
            md_text: md("text")?,
            md_etext: md("etext")?,
            md_data: md("data")?,
            md_edata: md("edata")?,
            md_bss: md("bss")?,
            md_ebss: md("ebss")?,
            md_noptrdata: md("noptrdata")?,
            md_gcdatamask: md("gcdatamask")?,
            md_gcbssmask: md("gcbssmask")?,
            md_next: md("next")?,
            md_gofunc: md("gofunc")?,
            md_rodata: md("rodata")?,
            types: TypeLayout::build(&a, minor, version),
        })
    }
}

impl TypeLayout {
    fn build(a: &Ask, minor: u32, version: &GoVersion) -> TypeLayout {
        let off = |alts: &[(&str, &str)], default: u64| a.opt_field(alts).map_or(default, |f| f.off);
        let size = |names: &[&str], default: u64| names.iter().find_map(|n| a.src.size(n)).filter(|&s| s > 0).unwrap_or(default);
        let kind = |new: &str, old: &str, f: &str, oldf: &str, default: u64| {
            off(&[(&format!("internal/abi.{new}"), f), (&format!("runtime.{old}"), oldf)], default)
        };
        let swiss_maps = match minor {
            ..=23 => false,
            24 | 25 => version.experiment("swissmap") != Some(false),
            _ => true,
        };
        let maptypes: &[&str] = if swiss_maps {
            &["internal/abi.SwissMapType", "internal/abi.MapType"]
        } else {
            &["internal/abi.OldMapType", "internal/abi.MapType", "runtime.maptype"]
        };
        let map = |fields: &[&str], default: u64| {
            let alts: Vec<(&str, &str)> = maptypes.iter().flat_map(|t| fields.iter().map(move |f| (*t, *f))).collect();
            off(&alts, default)
        };
        let hmap = |f: &str, default: u64| off(&[("runtime.hmap", f)], default);
        let extra = |f: &str, default: u64| off(&[("runtime.mapextra", f)], default);
        let smap = |f: &str, default: u64| off(&[("internal/runtime/maps.Map", f)], default);
        let groups = off(&[("internal/runtime/maps.table", "groups")], 16) + off(&[("internal/runtime/maps.groupsReference", "data")], 0);
        TypeLayout {
            ptr_elem: kind("PtrType", "ptrtype", "Elem", "elem", 48),
            slice_elem: kind("SliceType", "slicetype", "Elem", "elem", 48),
            array_elem: kind("ArrayType", "arraytype", "Elem", "elem", 48),
            array_len: kind("ArrayType", "arraytype", "Len", "len", 64),
            chan_elem: kind("ChanType", "chantype", "Elem", "elem", 48),
            struct_fields: kind("StructType", "structtype", "Fields", "fields", 56),
            field_name: kind("StructField", "structfield", "Name", "name", 0),
            field_typ: kind("StructField", "structfield", "Typ", "typ", 8),
            field_offset: kind("StructField", "structfield", "Offset", "offset", 16),
            field_size: size(&["internal/abi.StructField", "runtime.structfield"], 24),
            iface_methods: off(&[("internal/abi.InterfaceType", "Methods"), ("runtime.interfacetype", "mhdr")], 56),
            itab_type: off(&[("internal/abi.ITab", "Type"), ("runtime.itab", "_type")], 8),
            map_key: map(&["Key", "key"], 48),
            map_elem: map(&["Elem", "elem"], 56),
            map_bucket: map(if swiss_maps { &["Group"] } else { &["Bucket", "bucket"] }, 64),
            swiss_maps,
            hmap_size: size(&["runtime.hmap"], 48),
            hmap_b: hmap("B", 9),
            hmap_buckets: hmap("buckets", 16),
            hmap_oldbuckets: hmap("oldbuckets", 24),
            hmap_extra: hmap("extra", 40),
            mapextra_size: size(&["runtime.mapextra"], 24),
            mapextra_overflow: extra("overflow", 0),
            mapextra_oldoverflow: extra("oldoverflow", 8),
            mapextra_next: extra("nextOverflow", 16),
            smap_size: size(&["internal/runtime/maps.Map"], 48),
            smap_dir_ptr: smap("dirPtr", 16),
            smap_dir_len: smap("dirLen", 24),
            table_size: size(&["internal/runtime/maps.table"], 32),
            table_groups: groups,
            hchan_size: size(&["runtime.hchan"], 96),
            hchan_buf: off(&[("runtime.hchan", "buf")], 16),
            direct_iface_tflag: minor >= 26,
        }
    }
}
