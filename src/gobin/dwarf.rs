//! DWARF, indexed in one pass over every DIE at load: named types, typed
//! package-level constants and global variables, subprograms with code,
//! and type DIEs by their runtime type descriptor. The rest is read when
//! asked, from the subtree of one DIE the index leads to: struct layouts, a
//! subprogram's frame variables at a pc (cached by the stack walker), a
//! closure's captured variables. Those subtrees are a small part of the
//! DIEs, and most subprograms are never asked about, so the load pass does
//! not collect them.
//!
//! Go emits DWARF for every type the program uses, including the runtime's
//! own structures; refgraph reads runtime layouts from here by field name
//! instead of hard-coding offsets.

use std::collections::HashMap;
use std::sync::Arc;

use gimli::{AttributeValue, DebuggingInformationEntry, EndianArcSlice, LittleEndian, UnitOffset};
use object::{Object, ObjectSection};

type R = EndianArcSlice<LittleEndian>;

/// Where a DIE lives: unit index and offset within the unit.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct DieRef {
    unit: usize,
    offset: UnitOffset<usize>,
}

/// One member of a struct.
#[derive(Clone, Debug)]
pub struct Member {
    /// Field name.
    pub name: String,
    /// Byte offset in the struct.
    pub offset: u64,
    /// Byte size of the field's type, if known.
    pub size: Option<u64>,
    /// The field's type.
    pub ty: Option<DieRef>,
}

/// A struct's size and members.
#[derive(Clone, Debug)]
pub struct StructLayout {
    /// Byte size.
    pub size: u64,
    /// Members in declaration order.
    pub members: Vec<Member>,
}

impl StructLayout {
    /// The member with this name.
    pub fn member(&self, name: &str) -> Option<&Member> {
        self.members.iter().find(|m| m.name == name)
    }
}

/// A type's kind, as far as layouts need it.
#[derive(Clone, Copy, Debug)]
pub enum Shape {
    /// A struct (its DIE).
    Struct(DieRef),
    /// An array: element type and element count.
    Array { elem: DieRef, count: u64 },
    /// A pointer (to the pointee, if typed).
    Pointer(Option<DieRef>),
    /// Anything else (base types, funcs, …).
    Other(DieRef),
}

/// A package-level variable with a static address.
#[derive(Clone, Debug)]
pub struct Variable {
    /// Full name, `main.registry`.
    pub name: String,
    /// Link-time address.
    pub addr: u64,
    /// Its type.
    pub ty: Option<DieRef>,
}

/// The DWARF of one executable.
pub struct Dwarf {
    dwarf: gimli::Dwarf<R>,
    units: Vec<gimli::Unit<R>>,
    types: HashMap<String, DieRef>,
    constants: HashMap<String, i64>,
    variables: Vec<Variable>,
    /// Subprograms with code, by name.
    subprograms: HashMap<String, DieRef>,
    /// Type DIEs by runtime type descriptor offset.
    runtime_types: HashMap<u64, DieRef>,
}

/// Why DWARF could not be read.
#[derive(Debug, thiserror::Error)]
#[error("DWARF: {0}")]
pub struct DwarfError(String);

impl From<gimli::Error> for DwarfError {
    fn from(e: gimli::Error) -> Self {
        DwarfError(e.to_string())
    }
}

/// The most a compressed section may claim to grow: deflate (what Go's
/// linker writes, zlib in SHF_COMPRESSED sections) cannot expand input more
/// than 1032 times. Real DWARF compresses 3 to 5 times.
const MAX_COMPRESSION_RATIO: u64 = 1032;

/// Refuses a compressed section whose header claims more bytes than its
/// compressed bytes can hold, before anything is allocated for them.
fn check_compressed_size(s: &object::Section, name: &str) -> Result<(), DwarfError> {
    let r = s.compressed_file_range().map_err(|e| DwarfError(format!("{name}: {e}")))?;
    if r.format == object::CompressionFormat::None {
        return Ok(());
    }
    let most = r.compressed_size.saturating_mul(MAX_COMPRESSION_RATIO).saturating_add(4096);
    if r.uncompressed_size > most {
        return Err(DwarfError(format!(
            "{name}: the section header claims {} bytes uncompressed from {} compressed bytes (more than {MAX_COMPRESSION_RATIO} times): the executable is damaged",
            r.uncompressed_size, r.compressed_size
        )));
    }
    Ok(())
}

impl Dwarf {
    /// Loads the DWARF of an executable; `Ok(None)` when it has none
    /// (`-ldflags=-w` or `-s`).
    pub fn load(exe: &[u8]) -> Result<Option<Dwarf>, DwarfError> {
        let file = object::File::parse(exe).map_err(|e| DwarfError(e.to_string()))?;
        if file.section_by_name(".debug_info").is_none() {
            return Ok(None);
        }
        let load = |id: gimli::SectionId| -> Result<R, DwarfError> {
            let data = match file.section_by_name(id.name()) {
                Some(s) => {
                    check_compressed_size(&s, id.name())?;
                    s.uncompressed_data().map_err(|e| DwarfError(format!("{}: {e}", id.name())))?
                }
                None => std::borrow::Cow::Borrowed(&[][..]),
            };
            Ok(EndianArcSlice::new(Arc::from(&*data), LittleEndian))
        };
        let dwarf = gimli::Dwarf::load(load)?;
        let mut units = Vec::new();
        let mut headers = dwarf.units();
        while let Some(h) = headers.next()? {
            units.push(dwarf.unit(h)?);
        }
        let mut d = Dwarf {
            dwarf,
            units,
            types: HashMap::new(),
            constants: HashMap::new(),
            variables: Vec::new(),
            subprograms: HashMap::new(),
            runtime_types: HashMap::new(),
        };
        d.index()?;
        Ok(Some(d))
    }

    fn index(&mut self) -> Result<(), DwarfError> {
        for (ui, unit) in self.units.iter().enumerate() {
            let mut entries = unit.entries();
            while let Some(entry) = entries.next_dfs()? {
                let tag = entry.tag();
                let here = DieRef { unit: ui, offset: entry.offset() };
                let runtime_type = match entry.attr_value(DW_AT_GO_RUNTIME_TYPE) {
                    Some(AttributeValue::Addr(a)) => Some(a),
                    Some(v) => v.udata_value(),
                    None => None,
                };
                if let Some(off) = runtime_type.filter(|&o| o != 0) {
                    self.runtime_types.entry(off).or_insert(here);
                }
                if tag == gimli::DW_TAG_subprogram && entry.attr_value(gimli::DW_AT_low_pc).is_some() {
                    if let Some(name) = self.name_of(unit, entry) {
                        self.subprograms.entry(name).or_insert(here);
                    }
                    continue;
                }
                let is_type = matches!(
                    tag,
                    gimli::DW_TAG_structure_type
                        | gimli::DW_TAG_typedef
                        | gimli::DW_TAG_base_type
                        | gimli::DW_TAG_pointer_type
                        | gimli::DW_TAG_array_type
                        | gimli::DW_TAG_subroutine_type
                        | gimli::DW_TAG_interface_type
                        | gimli::DW_TAG_unspecified_type
                );
                if !is_type && tag != gimli::DW_TAG_constant && tag != gimli::DW_TAG_variable {
                    continue;
                }
                let Some(name) = self.name_of(unit, entry) else { continue };
                if is_type {
                    // A struct and its same-named typedef: prefer the struct.
                    let prefer = tag == gimli::DW_TAG_structure_type;
                    if prefer {
                        self.types.insert(name, here);
                    } else {
                        self.types.entry(name).or_insert(here);
                    }
                } else if tag == gimli::DW_TAG_constant {
                    if let Some(v) =
                        entry.attr_value(gimli::DW_AT_const_value).and_then(|v| v.sdata_value().or(v.udata_value().map(|u| u as i64)))
                    {
                        self.constants.insert(name, v);
                    }
                } else if let Some(addr) = static_address(unit, entry) {
                    // Only package-level variables have a DW_OP_addr location.
                    let ty = self.type_ref(ui, entry);
                    self.variables.push(Variable { name, addr, ty });
                }
            }
        }
        Ok(())
    }

    fn name_of(&self, unit: &gimli::Unit<R>, entry: &DebuggingInformationEntry<R>) -> Option<String> {
        let v = entry.attr_value(gimli::DW_AT_name)?;
        let s = self.dwarf.attr_string(unit, v).ok()?;
        Some(String::from_utf8_lossy(&s).into_owned())
    }

    fn type_ref(&self, unit: usize, entry: &DebuggingInformationEntry<R>) -> Option<DieRef> {
        match entry.attr_value(gimli::DW_AT_type)? {
            AttributeValue::UnitRef(off) => Some(DieRef { unit, offset: off }),
            AttributeValue::DebugInfoRef(off) => self.resolve(off),
            _ => None,
        }
    }

    fn resolve(&self, off: gimli::DebugInfoOffset<usize>) -> Option<DieRef> {
        let i = self.units.partition_point(|u| u.header.offset().0 <= off.0);
        let ui = i.checked_sub(1)?;
        let uoff = off.to_unit_offset(&self.units[ui].header)?;
        Some(DieRef { unit: ui, offset: uoff })
    }

    fn with_entry<T>(&self, r: DieRef, f: impl FnOnce(&gimli::Unit<R>, &DebuggingInformationEntry<R>) -> Option<T>) -> Option<T> {
        let unit = self.units.get(r.unit)?;
        let entry = unit.entry(r.offset).ok()?;
        f(unit, &entry)
    }

    /// The named type (struct preferred over its typedef).
    pub fn type_named(&self, name: &str) -> Option<DieRef> {
        self.types.get(name).copied()
    }

    /// A type's byte size, following typedefs.
    pub fn size_of(&self, mut r: DieRef) -> Option<u64> {
        for _ in 0..16 {
            let (size, next) = self.with_entry(r, |_, e| {
                if e.tag() == gimli::DW_TAG_pointer_type {
                    return Some((Some(8), None));
                }
                let size = e.attr_value(gimli::DW_AT_byte_size).and_then(|v| v.udata_value());
                Some((size, self.type_ref(r.unit, e)))
            })?;
            if let Some(s) = size {
                return Some(s);
            }
            r = next?;
        }
        None
    }

    /// A named type's byte size.
    pub fn type_size(&self, name: &str) -> Option<u64> {
        self.size_of(self.type_named(name)?)
    }

    /// A struct's layout, by struct name (`runtime.mspan`).
    pub fn struct_layout(&self, name: &str) -> Option<StructLayout> {
        self.struct_layout_of(self.type_named(name)?)
    }

    /// The layout of the struct DIE `r`.
    pub fn struct_layout_of(&self, r: DieRef) -> Option<StructLayout> {
        let unit = self.units.get(r.unit)?;
        let mut tree = unit.entries_tree(Some(r.offset)).ok()?;
        let root = tree.root().ok()?;
        if root.entry().tag() != gimli::DW_TAG_structure_type {
            return None;
        }
        let size = root.entry().attr_value(gimli::DW_AT_byte_size).and_then(|v| v.udata_value())?;
        let mut members = Vec::new();
        let mut children = root.children();
        while let Ok(Some(child)) = children.next() {
            let e = child.entry();
            if e.tag() != gimli::DW_TAG_member {
                continue;
            }
            let Some(name) = self.name_of(unit, e) else { continue };
            let offset = e.attr_value(gimli::DW_AT_data_member_location).and_then(|v| v.udata_value()).unwrap_or(0);
            let ty = self.type_ref(r.unit, e);
            let size = ty.and_then(|t| self.size_of(t));
            members.push(Member { name, offset, size, ty });
        }
        Some(StructLayout { size, members })
    }

    /// What kind of type `r` is, with typedefs followed.
    pub fn shape(&self, mut r: DieRef) -> Option<Shape> {
        for _ in 0..16 {
            let (tag, next, count) = self.with_entry(r, |u, e| {
                let mut count = None;
                if e.tag() == gimli::DW_TAG_array_type {
                    // Go writes one DW_TAG_subrange_type child with DW_AT_count.
                    let mut tree = u.entries_tree(Some(e.offset())).ok()?;
                    let root = tree.root().ok()?;
                    let mut ch = root.children();
                    while let Ok(Some(c)) = ch.next() {
                        if c.entry().tag() == gimli::DW_TAG_subrange_type {
                            count = c
                                .entry()
                                .attr_value(gimli::DW_AT_count)
                                .or_else(|| c.entry().attr_value(gimli::DW_AT_upper_bound))
                                .and_then(|v| v.udata_value());
                        }
                    }
                }
                Some((e.tag(), self.type_ref(r.unit, e), count))
            })?;
            match tag {
                gimli::DW_TAG_typedef => r = next?,
                gimli::DW_TAG_structure_type => return Some(Shape::Struct(r)),
                gimli::DW_TAG_array_type => return Some(Shape::Array { elem: next?, count: count.unwrap_or(0) }),
                gimli::DW_TAG_pointer_type => return Some(Shape::Pointer(next)),
                _ => return Some(Shape::Other(r)),
            }
        }
        None
    }

    /// A typed package-level constant (`runtime.mSpanInUse`).
    pub fn constant(&self, name: &str) -> Option<i64> {
        self.constants.get(name).copied()
    }

    /// Package-level variables with static addresses.
    pub fn variables(&self) -> &[Variable] {
        &self.variables
    }

    /// The name of a type DIE.
    pub fn type_name(&self, r: DieRef) -> Option<String> {
        self.with_entry(r, |u, e| self.name_of(u, e))
    }
}

/// The address of a variable whose location is a single DW_OP_addr.
fn static_address(unit: &gimli::Unit<R>, entry: &DebuggingInformationEntry<R>) -> Option<u64> {
    let AttributeValue::Exprloc(expr) = entry.attr_value(gimli::DW_AT_location)? else { return None };
    let mut ops = expr.operations(unit.encoding());
    match ops.next().ok()? {
        Some(gimli::Operation::Address { address }) => Some(address),
        _ => None,
    }
}

/// Nesting bound when walking a subprogram's lexical blocks.
const MAX_SCOPE_DEPTH: u32 = 64;

impl Dwarf {
    /// Every subprogram with code (a DW_AT_low_pc), by name, to pass to
    /// [`Dwarf::frame_vars_of`].
    pub fn subprograms(&self) -> &HashMap<String, DieRef> {
        &self.subprograms
    }

    /// Locals and parameters (including those of functions inlined into it)
    /// of subprogram `sub` that live in its frame, with each piece's type
    /// and place in its variable. With `pc` (a link-time address inside
    /// the function), location-list entries covering `pc` count too;
    /// without, only single-expression locations do (DW_OP_fbreg, or
    /// DW_OP_call_frame_cfa plus a constant). Pieces of composite locations
    /// (a slice's pointer word, say) come out separately, each under the
    /// variable's name.
    pub fn frame_vars_of(&self, sub: DieRef, pc: Option<u64>) -> Vec<FrameVar> {
        self.with_subprogram(sub, |unit, root| {
            // Go always uses the CFA as frame base; anything else is not ours.
            let cfa_base = match root.entry().attr_value(gimli::DW_AT_frame_base) {
                Some(AttributeValue::Exprloc(e)) => {
                    let mut ops = e.operations(unit.encoding());
                    matches!(ops.next(), Ok(Some(gimli::Operation::CallFrameCFA))) && matches!(ops.next(), Ok(None))
                }
                _ => false,
            };
            let mut out = Vec::new();
            self.collect_vars(sub.unit, unit, root, pc, cfa_base, 0, &mut out);
            out
        })
        .unwrap_or_default()
    }

    /// The variables and parameters directly under subprogram `sub` (not
    /// in its lexical blocks): name, type and DW_AT_decl_line.
    pub(super) fn direct_vars_of(&self, sub: DieRef) -> Vec<(String, Option<DieRef>, Option<u64>)> {
        self.with_subprogram(sub, |unit, root| {
            let mut out = Vec::new();
            let mut children = root.children();
            while let Ok(Some(child)) = children.next() {
                let e = child.entry();
                if e.tag() != gimli::DW_TAG_variable && e.tag() != gimli::DW_TAG_formal_parameter {
                    continue;
                }
                let Some((name, ty)) = self.var_name_type(sub.unit, unit, e) else { continue };
                let line = e.attr_value(gimli::DW_AT_decl_line).and_then(|v| v.udata_value());
                out.push((name, ty, line));
                if out.len() >= MAX_CLOSURE_VARS {
                    break;
                }
            }
            out
        })
        .unwrap_or_default()
    }

    /// The names of all variables and parameters of subprogram `sub`,
    /// those of its lexical blocks and inlined calls included.
    pub(super) fn var_names_of(&self, sub: DieRef) -> Vec<String> {
        self.with_subprogram(sub, |unit, root| {
            let mut out = Vec::new();
            self.collect_names(sub.unit, unit, root, 0, &mut out);
            out
        })
        .unwrap_or_default()
    }

    fn collect_names(&self, ui: usize, unit: &gimli::Unit<R>, node: gimli::EntriesTreeNode<'_, '_, R>, depth: u32, out: &mut Vec<String>) {
        if depth > MAX_SCOPE_DEPTH {
            return;
        }
        let mut children = node.children();
        while let Ok(Some(child)) = children.next() {
            if out.len() >= MAX_CLOSURE_VARS {
                return;
            }
            let e = child.entry();
            match e.tag() {
                gimli::DW_TAG_variable | gimli::DW_TAG_formal_parameter => {
                    if let Some((name, _)) = self.var_name_type(ui, unit, e) {
                        out.push(name);
                    }
                }
                gimli::DW_TAG_lexical_block | gimli::DW_TAG_inlined_subroutine => self.collect_names(ui, unit, child, depth + 1, out),
                _ => {}
            }
        }
    }

    /// Runs `f` on subprogram `sub`'s unit and DIE tree; None if `sub` is
    /// not a readable subprogram DIE.
    fn with_subprogram<T>(&self, sub: DieRef, f: impl FnOnce(&gimli::Unit<R>, gimli::EntriesTreeNode<'_, '_, R>) -> T) -> Option<T> {
        let unit = self.units.get(sub.unit)?;
        let mut tree = unit.entries_tree(Some(sub.offset)).ok()?;
        let root = tree.root().ok()?;
        if root.entry().tag() != gimli::DW_TAG_subprogram {
            return None;
        }
        Some(f(unit, root))
    }

    #[allow(clippy::too_many_arguments)]
    fn collect_vars(
        &self,
        ui: usize,
        unit: &gimli::Unit<R>,
        node: gimli::EntriesTreeNode<'_, '_, R>,
        pc: Option<u64>,
        cfa_base: bool,
        depth: u32,
        out: &mut Vec<FrameVar>,
    ) {
        if depth > MAX_SCOPE_DEPTH {
            return;
        }
        let mut children = node.children();
        while let Ok(Some(child)) = children.next() {
            let e = child.entry();
            match e.tag() {
                gimli::DW_TAG_variable | gimli::DW_TAG_formal_parameter => self.var_pieces(ui, unit, e, pc, cfa_base, out),
                gimli::DW_TAG_lexical_block | gimli::DW_TAG_inlined_subroutine if pc.map_or(true, |pc| self.scope_covers(unit, e, pc)) => {
                    self.collect_vars(ui, unit, child, pc, cfa_base, depth + 1, out)
                }
                _ => {}
            }
        }
    }

    /// Whether a lexical block or inlined call covers `pc`; true when it
    /// states no ranges at all.
    fn scope_covers(&self, unit: &gimli::Unit<R>, e: &DebuggingInformationEntry<R>, pc: u64) -> bool {
        let Ok(mut ranges) = self.dwarf.die_ranges(unit, e) else { return true };
        let mut any = false;
        for _ in 0..(1 << 16) {
            match ranges.next() {
                Ok(Some(r)) => {
                    if r.begin <= pc && pc < r.end {
                        return true;
                    }
                    any = true;
                }
                _ => break,
            }
        }
        !any
    }

    /// The variable's DIE or, for an inlined or concrete instance, its
    /// abstract origin: (name, type).
    fn var_name_type(&self, ui: usize, unit: &gimli::Unit<R>, e: &DebuggingInformationEntry<R>) -> Option<(String, Option<DieRef>)> {
        if let Some(name) = self.name_of(unit, e) {
            return Some((name, self.type_ref(ui, e)));
        }
        let origin = match e.attr_value(gimli::DW_AT_abstract_origin)? {
            AttributeValue::UnitRef(off) => DieRef { unit: ui, offset: off },
            AttributeValue::DebugInfoRef(off) => self.resolve(off)?,
            _ => return None,
        };
        self.with_entry(origin, |u, oe| Some((self.name_of(u, oe)?, self.type_ref(origin.unit, oe))))
    }

    fn var_pieces(
        &self,
        ui: usize,
        unit: &gimli::Unit<R>,
        e: &DebuggingInformationEntry<R>,
        pc: Option<u64>,
        cfa_base: bool,
        out: &mut Vec<FrameVar>,
    ) {
        let Some(loc) = e.attr_value(gimli::DW_AT_location) else { return };
        let Some((name, ty)) = self.var_name_type(ui, unit, e) else { return };
        let expr = match loc {
            AttributeValue::Exprloc(expr) => expr,
            other => {
                let Some(pc) = pc else { return };
                let Ok(Some(mut list)) = self.dwarf.attr_locations(unit, other) else { return };
                let mut found = None;
                for _ in 0..(1 << 16) {
                    match list.next() {
                        Ok(Some(entry)) if entry.range.begin <= pc && pc < entry.range.end => {
                            found = Some(entry.data);
                            break;
                        }
                        Ok(Some(_)) => {}
                        _ => break,
                    }
                }
                let Some(expr) = found else { return };
                expr
            }
        };
        let whole = || ty.and_then(|t| self.size_of(t)).unwrap_or(8);
        let mut ops = expr.operations(unit.encoding());
        let mut cur: Vec<gimli::Operation<R>> = Vec::new();
        let mut pieces = 0;
        let mut var_offset = 0u64;
        for _ in 0..1024 {
            match ops.next() {
                Ok(Some(gimli::Operation::Piece { size_in_bits, bit_offset: None })) => {
                    pieces += 1;
                    let size = size_in_bits / 8;
                    if let Some(off) = cfa_offset(&cur, cfa_base) {
                        out.push(FrameVar { name: name.clone(), cfa_offset: off, size, ty, var_offset, whole: false });
                    }
                    var_offset += size;
                    cur.clear();
                }
                Ok(Some(gimli::Operation::Piece { .. })) => return,
                Ok(Some(op)) => cur.push(op),
                Ok(None) => break,
                Err(_) => return,
            }
        }
        if pieces == 0 {
            if let Some(off) = cfa_offset(&cur, cfa_base) {
                out.push(FrameVar { name, cfa_offset: off, size: whole(), ty, var_offset: 0, whole: true });
            }
        }
    }
}

/// The CFA offset a location expression denotes, if it is one of the simple
/// frame-relative forms Go emits.
fn cfa_offset(ops: &[gimli::Operation<R>], cfa_base: bool) -> Option<i64> {
    use gimli::Operation as Op;
    let konst = |op: &Op<R>| match *op {
        Op::SignedConstant { value } => Some(value),
        Op::UnsignedConstant { value } => Some(value as i64),
        _ => None,
    };
    match ops {
        [Op::FrameOffset { offset }] if cfa_base => Some(*offset),
        [Op::CallFrameCFA] => Some(0),
        [Op::CallFrameCFA, Op::PlusConstant { value }] => Some(*value as i64),
        [Op::CallFrameCFA, k, Op::Plus] => konst(k),
        [Op::CallFrameCFA, k, Op::Minus] => konst(k).map(|v| v.wrapping_neg()),
        _ => None,
    }
}

/// A local variable or parameter (or one piece of one) that lives at a
/// fixed offset from the frame's canonical frame address (on amd64 the
/// caller's SP: the frame's `fp`), with the variable's type (see
/// [`Dwarf::frame_vars_of`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FrameVar {
    /// Variable name as the compiler wrote it.
    pub name: String,
    /// Offset of the piece from the CFA.
    pub cfa_offset: i64,
    /// Bytes of the piece.
    pub size: u64,
    /// The variable's type.
    pub ty: Option<DieRef>,
    /// Where the piece sits in the variable.
    pub var_offset: u64,
    /// The variable lives whole at `cfa_offset` (no pieces).
    pub whole: bool,
}

/// A variable a closure captured: its place in the closure object.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClosureVar {
    /// Variable name.
    pub name: String,
    /// Byte offset in the closure object (after the code pointer).
    pub offset: u64,
    /// Its type.
    pub ty: Option<DieRef>,
}

/// DW_AT_go_runtime_type: the type's descriptor, as an offset from
/// moduledata.types.
const DW_AT_GO_RUNTIME_TYPE: gimli::DwAt = gimli::DwAt(0x2904);
/// DW_AT_go_closure_offset (Go 1.23+): a captured variable's offset in the
/// closure object.
const DW_AT_GO_CLOSURE_OFFSET: gimli::DwAt = gimli::DwAt(0x2907);
/// Bound on the variables listed for one closure.
const MAX_CLOSURE_VARS: usize = 4096;

impl Dwarf {
    /// The runtime type descriptor of type DIE `r` as an offset from
    /// moduledata.types (DW_AT_go_runtime_type). Typedefs are not
    /// followed: the attribute sits on the DIE that has a descriptor. The
    /// linker writes 0 for types without one (many slices, arrays and
    /// pointers): None.
    pub fn go_runtime_type(&self, r: DieRef) -> Option<u64> {
        self.with_entry(r, |_, e| match e.attr_value(DW_AT_GO_RUNTIME_TYPE)? {
            AttributeValue::Addr(a) => Some(a),
            v => v.udata_value(),
        })
        .filter(|&o| o != 0)
    }

    /// Whether type `r` is an interface: `Some(true)` for the empty
    /// interface (runtime.eface: type word, data word), `Some(false)` for
    /// one with methods (runtime.iface: itab word, data word).
    pub fn interface_kind(&self, mut r: DieRef) -> Option<bool> {
        for _ in 0..16 {
            let (tag, name, next) = self.with_entry(r, |u, e| Some((e.tag(), self.name_of(u, e), self.type_ref(r.unit, e))))?;
            match name.as_deref() {
                Some("runtime.eface") => return Some(true),
                Some("runtime.iface") => return Some(false),
                _ => {}
            }
            if tag != gimli::DW_TAG_typedef {
                return None;
            }
            r = next?;
        }
        None
    }

    /// The captured variables of the closure function `sub` that DWARF
    /// places in the closure object (DW_AT_go_closure_offset, Go 1.23+),
    /// by offset. Empty for older releases and for plain functions.
    pub fn closure_vars(&self, sub: DieRef) -> Vec<ClosureVar> {
        let mut out = self
            .with_subprogram(sub, |unit, root| {
                let mut out = Vec::new();
                let mut children = root.children();
                while let Ok(Some(child)) = children.next() {
                    if out.len() >= MAX_CLOSURE_VARS {
                        break;
                    }
                    let e = child.entry();
                    if e.tag() != gimli::DW_TAG_variable && e.tag() != gimli::DW_TAG_formal_parameter {
                        continue;
                    }
                    let Some(offset) = e.attr_value(DW_AT_GO_CLOSURE_OFFSET).and_then(|v| v.udata_value()) else { continue };
                    let Some((name, ty)) = self.var_name_type(sub.unit, unit, e) else { continue };
                    out.push(ClosureVar { name, offset, ty });
                }
                out
            })
            .unwrap_or_default();
        // A variable captured by reference is listed twice at its offset:
        // `x` and `&x`; the closure holds the pointer.
        out.sort_by_key(|v| (v.offset, !v.name.starts_with('&')));
        out.dedup_by_key(|v| v.offset);
        // Drop a variable that would run into the next one (or whose size is
        // unknown): the layout is not what it seems.
        let ends: Vec<Option<u64>> = out.iter().map(|v| v.ty.and_then(|t| self.size_of(t)).map(|s| v.offset.saturating_add(s))).collect();
        let starts: Vec<u64> = out.iter().map(|v| v.offset).collect();
        let mut i = 0;
        out.retain(|_| {
            let ok = ends[i].is_some_and(|e| starts.get(i + 1).map_or(true, |&next| e <= next));
            i += 1;
            ok
        });
        out
    }
}

/// DW_AT_go_kind: the Go kind of a type DIE (reflect.Kind numbering).
const DW_AT_GO_KIND: gimli::DwAt = gimli::DwAt(0x2900);
/// DW_AT_go_elem: the element type of a slice, array, map, chan or pointer.
const DW_AT_GO_ELEM: gimli::DwAt = gimli::DwAt(0x2902);

impl Dwarf {
    /// The Go kind of type DIE `r` (DW_AT_go_kind: 23 slice, 24 string, …).
    pub fn go_kind(&self, r: DieRef) -> Option<u8> {
        self.with_entry(r, |_, e| e.attr_value(DW_AT_GO_KIND)?.udata_value().map(|k| k as u8))
    }

    /// The element type of a slice (or other container) DIE (DW_AT_go_elem).
    pub fn go_elem(&self, r: DieRef) -> Option<DieRef> {
        let v = self.with_entry(r, |_, e| e.attr_value(DW_AT_GO_ELEM))?;
        match v {
            AttributeValue::UnitRef(off) => Some(DieRef { unit: r.unit, offset: off }),
            AttributeValue::DebugInfoRef(off) => self.resolve(off),
            _ => None,
        }
    }
}

impl Dwarf {
    /// Every type DIE with a runtime type descriptor, by the descriptor's
    /// offset from moduledata.types (the first DIE of each offset).
    pub fn runtime_type_index(&self) -> &HashMap<u64, DieRef> {
        &self.runtime_types
    }
}
