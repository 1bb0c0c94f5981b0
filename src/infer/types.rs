//! The types inference works with: the runtime's type descriptors, read
//! from the image and interned on first use, plus synthetic types for what
//! the runtime allocates without a descriptor of its own (map headers,
//! tables and directories, channel headers, closure objects, string bytes).
//!
//! A type is described by its [`Shape`] as far as pointers go: which words
//! hold pointers and what each points at ([`Target`]). [`TypeTable::resolve`]
//! descends a type to the pointer word at a byte offset;
//! [`TypeTable::path`] names the way there (`.Payload`, `[3]`, `.slots[2].elem`).

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hash, Hasher};
use std::sync::{Arc, Mutex};

use crate::gobin::{find_pclntab, rebuild_closure, Capture, ClosureVar, FuncTable, Pclntab};
use crate::image::Memory;
use crate::roots::{value_type, SlotType};
use crate::runtime::{
    is_direct_iface, read_name, read_type, type_name, Process, TypeDesc, KIND_ARRAY, KIND_CHAN, KIND_FUNC, KIND_INTERFACE, KIND_MAP,
    KIND_PTR, KIND_SLICE, KIND_STRING, KIND_STRUCT, KIND_UNSAFE_POINTER,
};

/// Index of an interned type; 0 is never a type.
pub type TypeId = u32;

/// Nesting bound for types (arrays of structs of arrays …).
const MAX_TYPE_DEPTH: u32 = 48;
/// A struct with more fields than this is garbage.
const MAX_FIELDS: u64 = 1 << 16;
/// The most types interned (type ids have 24 bits in inference's
/// per-object state).
const MAX_TYPES: usize = 1 << 24;
/// A type larger than this (1 TiB) is garbage.
const MAX_TYPE_SIZE: u64 = 1 << 40;

/// What a type is, by where it came from. Ordered, so that ties between
/// equally good typings break the same way every run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Key {
    /// The runtime type descriptor at this address.
    Desc(u64),
    /// The bytes of a string.
    StringBytes,
    /// An interface value (empty, or with methods) known only from DWARF.
    Iface(bool),
    /// A func value: one word pointing at a closure object.
    FuncValue,
    /// A pointer to a value of the descriptor at this address.
    PtrTo(u64),
    /// A pointer to an array of values of the descriptor at this address.
    SliceOf(u64),
    /// The header of a map of the map type at this address (classic hmap or
    /// Swiss maps.Map).
    MapHeader(u64),
    /// Classic maps: hmap.extra.
    MapExtra(u64),
    /// Classic maps: the `[]*bmap` slice header mapextra.overflow points to.
    OverflowList(u64),
    /// Classic maps: a pointer to an overflow bucket.
    BucketPtr(u64),
    /// Swiss maps: one table.
    Table(u64),
    /// Swiss maps: a pointer to a table (directory entries).
    TablePtr(u64),
    /// A channel header (hchan) of the chan type at this address.
    Chan(u64),
    /// The closure object of the function whose entry is at this address.
    Closure(u64),
    /// A closure object of the function whose entry is at this address,
    /// its captured variables placed by a layout rebuilt from DWARF (Go
    /// 1.19–1.22; [`TypeTable::closure_key`]), known by its hash.
    RebuiltClosure(u64, u64),
    /// A closure object whose type the runtime recorded (Go 1.22+, over
    /// 512 bytes): the struct descriptor at the first address, named for
    /// the function whose entry is at the second.
    RecordedClosure(u64, u64),
}

impl Key {
    /// A runtime structure refgraph models itself (map internals, channel
    /// headers, closures) rather than a plain runtime descriptor.
    pub fn structural(&self) -> bool {
        matches!(
            self,
            Key::MapHeader(_)
                | Key::MapExtra(_)
                | Key::OverflowList(_)
                | Key::BucketPtr(_)
                | Key::Table(_)
                | Key::TablePtr(_)
                | Key::Chan(_)
                | Key::Closure(_)
                | Key::RebuiltClosure(..)
        )
    }
}

/// What a pointer word points at.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Target {
    /// One value of this type.
    Value(Key),
    /// An array of values of this type (a slice's or string's data).
    Elems(Key),
    /// A closure object: its type comes from the code pointer in its first
    /// word.
    Func,
    /// Swiss maps: Map.dirPtr of the map type at this address, a single
    /// group when Map.dirLen is 0, else the directory of tables.
    MapDir(u64),
}

/// A type as far as pointers go.
#[derive(Clone, Debug)]
pub enum Shape {
    /// No pointer words inference can follow.
    Scalar,
    /// The first word is a pointer to this; the rest are scalars (pointers,
    /// strings, slices, maps, channels, funcs).
    Word(Target),
    /// Fields with pointers, by offset.
    Struct(Box<[Field]>),
    /// `len` elements.
    Array { elem: TypeId, len: u64 },
    /// An interface: type (or itab) word, data word.
    Iface { empty: bool },
}

/// A struct field that holds pointers.
#[derive(Clone, Debug)]
pub struct Field {
    /// Field name.
    pub name: Box<str>,
    /// Byte offset.
    pub off: u64,
    /// Byte size.
    pub size: u64,
    /// Its type (when `word` is None).
    pub ty: TypeId,
    /// The field is one pointer word with this target (synthetic structs).
    pub word: Option<Target>,
}

/// One interned type.
#[derive(Clone, Debug)]
pub struct TypeInfo {
    /// Where it came from.
    pub key: Key,
    /// Go's name for it (`main.Entry`, `map.group[string]*main.Entry`).
    pub name: String,
    /// Name of an object holding an array of it (`[]main.Item`).
    pub array_name: String,
    /// Byte size of one value.
    pub size: u64,
    /// Whether values hold pointers (None: may or may not, e.g. a channel
    /// header, whose object is noscan when the elements are).
    pub pointers: Option<bool>,
    /// Pointer layout.
    pub shape: Shape,
    /// A map bucket or group: its keys and elems are linked as `$key`,
    /// `$val`.
    pub map_slots: bool,
    /// A map bucket or group whose keys can name their values (`[7]`,
    /// `["id"]`): where they are.
    pub map_keys: Option<MapKeys>,
    /// The common header of a hash-trie map's nodes (sync.Map, unique):
    /// a value of it is really the first type when its first byte
    /// (`isEntry`) is set, else the second.
    pub downcast: Option<(Key, Key)>,
}

/// Where the keys of a map bucket or group are: key `i` of a value starts
/// at `base + i * stride`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MapKeys {
    /// Offset of key 0 in the bucket or group.
    pub base: u64,
    /// Bytes from one key to the next.
    pub stride: u64,
    /// Key kind: a string, or an integer of `size` bytes (signed or not).
    pub kind: KeyKind,
    /// Key size in bytes.
    pub size: u64,
}

/// The kinds of map keys that name their values.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyKind {
    /// A string.
    String,
    /// A signed integer.
    Int,
    /// An unsigned integer.
    Uint,
}

/// Where a descent to a pointer word ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Leaf {
    /// A pointer word.
    Word(Target),
    /// The data word of an interface (its type word is the word before).
    IfaceData {
        /// Empty interface: the type word is a type descriptor, not an itab.
        empty: bool,
    },
}

/// Interned types of one process.
pub struct TypeTable<'p, 'a> {
    p: &'p Process<'a>,
    infos: Vec<TypeInfo>,
    ids: HashMap<Key, Option<TypeId>, BuildHasherDefault<FxHasher>>,
    /// Whether each descriptor read so far is a direct-interface type:
    /// asked for every interface value, so kept.
    direct: HashMap<u64, bool, BuildHasherDefault<FxHasher>>,
    funcs: Option<FuncTable<'p>>,
    text: u64,
    /// moduledata.types: DWARF's DW_AT_go_runtime_type is relative to it.
    types_base: u64,
    /// Closure layouts rebuilt from DWARF (Go 1.19–1.22).
    rebuilt: Mutex<Rebuilt>,
}

/// Closure layouts rebuilt so far ([`TypeTable::closure_key`]).
#[derive(Default)]
struct Rebuilt {
    /// Per function entry: the variables it may have captured.
    captures: HashMap<u64, Arc<[Capture]>>,
    /// Per function entry, object size and pointer words: the layout's
    /// hash, or None if no layout fits.
    fitted: HashMap<(u64, u64, Vec<bool>), Option<u64>>,
    /// Layouts by (function entry, hash).
    layouts: HashMap<(u64, u64), Arc<[ClosureVar]>>,
}

impl<'p, 'a> TypeTable<'p, 'a> {
    /// An empty table for `p`.
    pub fn new(p: &'p Process<'a>) -> Self {
        let md = p.firstmoduledata;
        let text = p.read_field(md, p.layout.md_text).unwrap_or(0);
        let types_base = p.read_field(md, p.layout.md_types).unwrap_or(0);
        let exe: &'p [u8] = p.image.exe.bytes();
        let tab = find_pclntab(exe).and_then(|(_, b)| Pclntab::new(b)).or_else(|| {
            let hdr = p.ptr(md).ok()?;
            let bytes: &'p [u8] = p.image.tail(hdr)?;
            Pclntab::new(bytes)
        });
        let funcs = tab.and_then(|t| FuncTable::new(t, p.layout.minor));
        let placeholder = TypeInfo {
            key: Key::StringBytes,
            name: String::new(),
            array_name: String::new(),
            size: 0,
            pointers: None,
            shape: Shape::Scalar,
            map_slots: false,
            map_keys: None,
            downcast: None,
        };
        TypeTable {
            p,
            infos: vec![placeholder],
            ids: HashMap::default(),
            direct: HashMap::default(),
            funcs,
            text,
            types_base,
            rebuilt: Mutex::default(),
        }
    }

    /// The type with id `id`.
    pub fn info(&self, id: TypeId) -> &TypeInfo {
        &self.infos[id as usize]
    }

    /// Number of interned types.
    pub fn len(&self) -> usize {
        self.infos.len() - 1
    }

    /// Whether no type was interned.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The id of an already interned type.
    pub fn get(&self, key: Key) -> Option<TypeId> {
        self.ids.get(&key).copied().flatten()
    }

    /// Whether `key` was interned: Some(its id), Some(None) if its
    /// descriptor made no sense, None if it was not tried yet.
    pub fn lookup(&self, key: Key) -> Option<Option<TypeId>> {
        self.ids.get(&key).copied()
    }

    /// Interns the type `key`, reading its descriptor (and those of the
    /// types it holds inline); None if the descriptor makes no sense.
    pub fn intern(&mut self, key: Key) -> Option<TypeId> {
        self.intern_at(key, 0)
    }

    fn intern_at(&mut self, key: Key, depth: u32) -> Option<TypeId> {
        if let Some(&id) = self.ids.get(&key) {
            return id;
        }
        if depth > MAX_TYPE_DEPTH || self.infos.len() >= MAX_TYPES {
            return None;
        }
        let info = self.build(key, depth);
        let id = info.map(|info| {
            self.infos.push(info);
            (self.infos.len() - 1) as TypeId
        });
        self.ids.insert(key, id);
        id
    }

    /// The function entry of the code at `pc` (the first word of a
    /// closure object).
    pub fn func_entry(&self, pc: u64) -> Option<u64> {
        let f = self.funcs.as_ref()?.find(pc.checked_sub(self.text)?)?;
        Some(self.text + u64::from(f.entry_off))
    }

    /// The type of a closure object of the function at `entry`, of `slot`
    /// bytes with pointers in the words `ptrs` says, for a Go release whose
    /// DWARF does not place captured variables (1.19–1.22: the caller
    /// checks): a layout rebuilt from the function's DWARF that fits this
    /// object ([`crate::gobin::rebuild_closure`]); else the closure with its
    /// captures untyped.
    pub fn closure_key(&self, entry: u64, slot: u64, ptrs: &[bool]) -> Key {
        let plain = Key::Closure(entry);
        let Some(d) = self.p.dwarf.as_ref() else { return plain };
        let Ok(mut r) = self.rebuilt.lock() else { return plain };
        let shape = (entry, slot, ptrs.to_vec());
        if let Some(&fit) = r.fitted.get(&shape) {
            return fit.map_or(plain, |h| Key::RebuiltClosure(entry, h));
        }
        let caps = match r.captures.get(&entry) {
            Some(c) => c.clone(),
            None => {
                let c: Arc<[Capture]> = self.func_name(entry).map(|f| d.closure_captures(f)).unwrap_or_default().into();
                r.captures.insert(entry, c.clone());
                c
            }
        };
        let fit = rebuild_closure(d, &caps, slot, ptrs).map(|vars| {
            let mut h = FxHasher::default();
            for v in &vars {
                v.name.hash(&mut h);
                v.offset.hash(&mut h);
                v.ty.hash(&mut h);
            }
            let hash = h.finish();
            r.layouts.entry((entry, hash)).or_insert_with(|| vars.into());
            hash
        });
        r.fitted.insert(shape, fit);
        fit.map_or(plain, |h| Key::RebuiltClosure(entry, h))
    }

    fn func_name(&self, entry: u64) -> Option<&'p str> {
        Some(self.funcs.as_ref()?.find(entry.checked_sub(self.text)?)?.name)
    }

    /// The map type's bucket (classic) or group (Swiss) type.
    pub fn map_bucket(&self, map: u64) -> Option<u64> {
        self.p.ptr(map.wrapping_add(self.p.layout.types.map_bucket)).ok().filter(|&b| b != 0)
    }

    /// The concrete type behind an interface's type word: the word itself
    /// for an empty interface, else the itab's type.
    pub fn concrete(&self, empty: bool, type_word: u64) -> Option<u64> {
        if type_word == 0 {
            return None;
        }
        let t = if empty { type_word } else { self.p.ptr(type_word.wrapping_add(self.p.layout.types.itab_type)).ok()? };
        (t != 0).then_some(t)
    }

    /// Whether values of the descriptor at `t` sit in an interface's data
    /// word themselves.
    pub fn direct_iface(&self, t: u64) -> Option<bool> {
        if let Some(&d) = self.direct.get(&t) {
            return Some(d);
        }
        let d = read_type(self.p, t).ok()?;
        is_direct_iface(self.p, &d).ok()
    }

    fn desc_name(&self, addr: u64) -> Option<String> {
        let d = read_type(self.p, addr).ok()?;
        type_name(self.p, &d).ok()
    }

    fn build(&mut self, key: Key, depth: u32) -> Option<TypeInfo> {
        let l = self.p.layout.types.clone();
        let word = |name: String, target: Target| TypeInfo {
            key,
            array_name: format!("[]{name}"),
            name,
            size: 8,
            pointers: Some(true),
            shape: Shape::Word(target),
            map_slots: false,
            map_keys: None,
            downcast: None,
        };
        let strukt = |name: String, size: u64, pointers: Option<bool>, fields: Vec<(&str, u64, Target)>| TypeInfo {
            key,
            array_name: format!("[]{name}"),
            name,
            size,
            pointers,
            shape: Shape::Struct(
                fields.into_iter().map(|(n, off, t)| Field { name: n.into(), off, size: 8, ty: 0, word: Some(t) }).collect(),
            ),
            map_slots: false,
            map_keys: None,
            downcast: None,
        };
        let map_suffix = |m: u64| -> Option<String> {
            let n = self.desc_name(m)?;
            Some(n.strip_prefix("map").unwrap_or(&n).to_string())
        };
        Some(match key {
            Key::Desc(addr) => return self.build_desc(addr, depth),
            Key::StringBytes => TypeInfo {
                key,
                name: "string.bytes".into(),
                array_name: "string.bytes".into(),
                size: 1,
                pointers: Some(false),
                shape: Shape::Scalar,
                map_slots: false,
                map_keys: None,
                downcast: None,
            },
            Key::Iface(empty) => {
                let name = if empty { "interface {}" } else { "interface" };
                TypeInfo {
                    key,
                    name: name.into(),
                    array_name: format!("[]{name}"),
                    size: 16,
                    pointers: Some(true),
                    shape: Shape::Iface { empty },
                    map_slots: false,
                    map_keys: None,
                    downcast: None,
                }
            }
            Key::FuncValue => word("func".into(), Target::Func),
            Key::PtrTo(t) => word(format!("*{}", self.desc_name(t)?), Target::Value(Key::Desc(t))),
            Key::SliceOf(t) => word(format!("[]{}", self.desc_name(t)?), Target::Elems(Key::Desc(t))),
            Key::MapHeader(m) => {
                let name = self.desc_name(m)?;
                if l.swiss_maps {
                    strukt(name, l.smap_size, Some(true), vec![("dirPtr", l.smap_dir_ptr, Target::MapDir(m))])
                } else {
                    let b = Key::Desc(self.map_bucket(m)?);
                    strukt(
                        name,
                        l.hmap_size,
                        Some(true),
                        vec![
                            ("buckets", l.hmap_buckets, Target::Elems(b)),
                            ("oldbuckets", l.hmap_oldbuckets, Target::Elems(b)),
                            ("extra", l.hmap_extra, Target::Value(Key::MapExtra(m))),
                        ],
                    )
                }
            }
            Key::MapExtra(m) => {
                let b = Key::Desc(self.map_bucket(m)?);
                strukt(
                    format!("map.extra{}", map_suffix(m)?),
                    l.mapextra_size,
                    Some(true),
                    vec![
                        ("overflow", l.mapextra_overflow, Target::Value(Key::OverflowList(m))),
                        ("oldoverflow", l.mapextra_oldoverflow, Target::Value(Key::OverflowList(m))),
                        ("nextOverflow", l.mapextra_next, Target::Value(b)),
                    ],
                )
            }
            Key::OverflowList(m) => {
                strukt(format!("map.overflow{}", map_suffix(m)?), 24, Some(true), vec![("array", 0, Target::Elems(Key::BucketPtr(m)))])
            }
            Key::BucketPtr(m) => {
                let b = self.map_bucket(m)?;
                word(format!("*{}", self.desc_name(b)?), Target::Value(Key::Desc(b)))
            }
            Key::Table(m) => {
                let g = Key::Desc(self.map_bucket(m)?);
                strukt(format!("map.table{}", map_suffix(m)?), l.table_size, Some(true), vec![("groups", l.table_groups, Target::Elems(g))])
            }
            Key::TablePtr(m) => {
                let suffix = map_suffix(m)?;
                let mut w = word(format!("*map.table{suffix}"), Target::Value(Key::Table(m)));
                w.array_name = format!("map.dir{suffix}");
                w
            }
            Key::Chan(c) => {
                let elem = self.p.ptr(c.wrapping_add(l.chan_elem)).ok()?;
                let elem_name = self.desc_name(elem)?;
                strukt(format!("hchan<{elem_name}>"), l.hchan_size, None, vec![("buf", l.hchan_buf, Target::Elems(Key::Desc(elem)))])
            }
            Key::Closure(entry) => {
                let vars = match (&self.p.dwarf, self.func_name(entry)) {
                    (Some(d), Some(func)) => d.subprograms().get(func).map(|&sub| d.closure_vars(sub)).unwrap_or_default(),
                    _ => Vec::new(),
                };
                return self.build_closure(key, entry, &vars, depth);
            }
            Key::RebuiltClosure(entry, hash) => {
                let vars = self.rebuilt.lock().ok()?.layouts.get(&(entry, hash))?.clone();
                return self.build_closure(key, entry, &vars, depth);
            }
            Key::RecordedClosure(desc, entry) => {
                let mut info = self.build_desc(desc, depth)?;
                info.name = format!("closure for {}", self.func_name(entry)?);
                info.array_name = format!("[]{}", info.name);
                info.key = key;
                info
            }
        })
    }

    fn build_desc(&mut self, addr: u64, depth: u32) -> Option<TypeInfo> {
        let p = self.p;
        let l = p.layout.types.clone();
        let t = read_type(p, addr).ok()?;
        // Kind 0 is no type: Go 1.22–1.23 record such a stand-in (a bare
        // pointer mask) as the largeType of objects whose type has a GC
        // program.
        if t.size > MAX_TYPE_SIZE || t.kind == 0 {
            return None;
        }
        if let Ok(d) = is_direct_iface(p, &t) {
            self.direct.insert(addr, d);
        }
        let name = type_name(p, &t).ok()?;
        let map_slots = name.starts_with("map.bucket[") || name.starts_with("map.group[") || name.starts_with("noalg.map.group[");
        let ptr = |off: u64| p.ptr(addr.wrapping_add(off)).ok().filter(|&a| a != 0);
        let shape = if t.ptrbytes == 0 {
            Shape::Scalar
        } else {
            match t.kind {
                KIND_PTR => Shape::Word(Target::Value(Key::Desc(ptr(l.ptr_elem)?))),
                KIND_SLICE => Shape::Word(Target::Elems(Key::Desc(ptr(l.slice_elem)?))),
                KIND_STRING => Shape::Word(Target::Elems(Key::StringBytes)),
                KIND_MAP => Shape::Word(Target::Value(Key::MapHeader(addr))),
                KIND_CHAN => Shape::Word(Target::Value(Key::Chan(addr))),
                KIND_FUNC => Shape::Word(Target::Func),
                KIND_INTERFACE => {
                    let (_, n) = p.slice_header(addr.wrapping_add(l.iface_methods)).ok()?;
                    Shape::Iface { empty: n == 0 }
                }
                KIND_ARRAY => {
                    let elem = self.intern_at(Key::Desc(ptr(l.array_elem)?), depth + 1)?;
                    let len = p.ptr(addr.wrapping_add(l.array_len)).ok()?;
                    if len.checked_mul(self.info(elem).size) != Some(t.size) {
                        return None;
                    }
                    Shape::Array { elem, len }
                }
                // The runtime's and sync's own untyped interface structs.
                KIND_STRUCT if t.size == 16 && matches!(name.as_str(), "sync.eface" | "runtime.eface") => Shape::Iface { empty: true },
                KIND_STRUCT if t.size == 16 && name == "runtime.iface" => Shape::Iface { empty: false },
                KIND_STRUCT => Shape::Struct(self.struct_fields(&t, depth)?.into()),
                _ => Shape::Scalar,
            }
        };
        let downcast = if t.kind == KIND_STRUCT && t.ptrbytes == 0 { self.trie_node(addr, &name) } else { None };
        let array_name = format!("[]{name}");
        // An object holding one slice header (boxed in an interface, a
        // captured variable) must not read as a backing array.
        let name = if t.kind == KIND_SLICE { format!("{name} header") } else { name };
        Some(TypeInfo {
            key: Key::Desc(addr),
            array_name,
            name,
            size: t.size,
            pointers: Some(t.ptrbytes > 0),
            shape,
            map_slots,
            map_keys: if map_slots && t.kind == KIND_STRUCT { self.map_keys(&t) } else { None },
            downcast,
        })
    }

    /// Where the keys of map bucket or group `t` are, if they are strings
    /// or integers: a classic bucket's `keys [8]K`, a Swiss group's
    /// `slots [8]struct{ key K; elem V }`.
    fn map_keys(&self, t: &TypeDesc) -> Option<MapKeys> {
        let p = self.p;
        let l = &p.layout.types;
        let field = |st: &TypeDesc, want: &str| -> Option<(u64, u64)> {
            let (arr, n) = p.slice_header(st.addr.wrapping_add(l.struct_fields)).ok()?;
            (0..n.min(MAX_FIELDS)).find_map(|i| {
                let f = arr.wrapping_add(i * l.field_size);
                let name = read_name(p, p.ptr(f.wrapping_add(l.field_name)).ok()?).ok()?;
                (name == want).then(|| Some((p.ptr(f.wrapping_add(l.field_offset)).ok()?, p.ptr(f.wrapping_add(l.field_typ)).ok()?)))?
            })
        };
        let elem_of = |arr: u64| -> Option<TypeDesc> {
            let d = read_type(p, arr).ok()?;
            (d.kind == KIND_ARRAY).then_some(())?;
            read_type(p, p.ptr(arr.wrapping_add(l.array_elem)).ok()?).ok()
        };
        let (base, stride, key) = if let Some((off, arr)) = field(t, "keys") {
            let k = elem_of(arr)?;
            (off, k.size, k)
        } else {
            let (off, arr) = field(t, "slots")?;
            let slot = elem_of(arr)?;
            let (key_off, key) = field(&slot, "key")?;
            (off.checked_add(key_off)?, slot.size, read_type(p, key).ok()?)
        };
        let kind = match key.kind {
            KIND_STRING => KeyKind::String,
            2..=6 => KeyKind::Int,
            7..=12 => KeyKind::Uint,
            _ => return None,
        };
        (stride > 0 && key.size <= stride).then_some(MapKeys { base, stride, kind, size: key.size })
    }

    /// The fields of struct `t` that hold pointers. An atomic.Pointer[T]
    /// (`_ [0]*T; v unsafe.Pointer`) gets its `v` typed as `*T`.
    fn struct_fields(&mut self, t: &TypeDesc, depth: u32) -> Option<Vec<Field>> {
        let p = self.p;
        let l = p.layout.types.clone();
        let (arr, n) = p.slice_header(t.addr.wrapping_add(l.struct_fields)).ok()?;
        if n > MAX_FIELDS {
            return None;
        }
        let mut raw = Vec::with_capacity(n as usize);
        for i in 0..n {
            let f = arr.wrapping_add(i * l.field_size);
            let name = p.ptr(f.wrapping_add(l.field_name)).ok().and_then(|a| read_name(p, a).ok()).unwrap_or_default();
            let typ = p.ptr(f.wrapping_add(l.field_typ)).ok()?;
            let off = p.ptr(f.wrapping_add(l.field_offset)).ok()?;
            raw.push((name, typ, off));
        }
        // atomic.Pointer[T]: the element type of the zero-length array.
        let mut atomic_elem = None;
        for (_, typ, _) in &raw {
            let Ok(d) = read_type(p, *typ) else { continue };
            if d.kind == KIND_ARRAY && d.size == 0 {
                let elem = p.ptr(typ.wrapping_add(l.array_elem)).ok().and_then(|e| read_type(p, e).ok());
                if let Some(e) = elem.filter(|e| e.kind == KIND_PTR) {
                    atomic_elem = p.ptr(e.addr.wrapping_add(l.ptr_elem)).ok().filter(|&a| a != 0);
                }
            }
        }
        // unsafe.Pointer fields whose target is known: a classic map
        // bucket's overflow pointer (to another bucket), sync.Pool's
        // per-P arrays.
        let struct_name = type_name(p, t).unwrap_or_default();
        let mut fields = Vec::new();
        for (name, typ, off) in raw {
            let known = if !read_type(p, typ).is_ok_and(|d| d.kind == KIND_UNSAFE_POINTER) {
                None
            } else if struct_name.starts_with("map.bucket[") && name == "overflow" {
                Some(Target::Value(Key::Desc(t.addr)))
            } else if struct_name == "sync.Pool" && (name == "local" || name == "victim") {
                self.desc_named("sync.poolLocal").map(|d| Target::Elems(Key::Desc(d)))
            } else {
                None
            };
            if let Some(target) = known {
                fields.push(Field { name: name.into(), off, size: 8, ty: 0, word: Some(target) });
                continue;
            }
            if let Some(elem) = atomic_elem {
                // The one pointer word: `v unsafe.Pointer` (sync/atomic) or
                // `u struct { value unsafe.Pointer }` (the runtime's own).
                let single = read_type(p, typ)
                    .is_ok_and(|d| d.ptrbytes == 8 && d.size == 8 && (d.kind == KIND_UNSAFE_POINTER || d.kind == KIND_STRUCT));
                if single {
                    fields.push(Field { name: name.into(), off, size: 8, ty: 0, word: Some(Target::Value(Key::Desc(elem))) });
                    continue;
                }
            }
            let Some(ty) = self.intern_at(Key::Desc(typ), depth + 1) else {
                continue;
            };
            let info = self.info(ty);
            if info.pointers != Some(true) || info.size == 0 || off.checked_add(info.size).map_or(true, |e| e > t.size) {
                continue;
            }
            fields.push(Field { name: name.into(), off, size: info.size, ty, word: None });
        }
        fields.sort_by_key(|f| f.off);
        Some(fields)
    }

    /// The closure object of the function at `entry` with captured
    /// variables `vars`.
    fn build_closure(&mut self, key: Key, entry: u64, vars: &[ClosureVar], depth: u32) -> Option<TypeInfo> {
        let func = self.func_name(entry)?;
        let name = format!("closure for {func}");
        let mut fields = Vec::new();
        let mut size = 8;
        if let Some(d) = &self.p.dwarf {
            for v in vars {
                let Some(die) = v.ty else { continue };
                let Some(key) = value_type(d, die, self.types_base).map(slot_key) else {
                    continue;
                };
                let Some(ty) = self.intern_at(key, depth + 1) else {
                    continue;
                };
                let info = self.info(ty);
                if v.offset > MAX_TYPE_SIZE || info.size > MAX_TYPE_SIZE {
                    continue;
                }
                size = size.max(v.offset.saturating_add(info.size));
                if info.pointers != Some(false) && info.size > 0 {
                    fields.push(Field { name: v.name.as_str().into(), off: v.offset, size: info.size, ty, word: None });
                }
            }
        }
        fields.sort_by_key(|f| f.off);
        fields.dedup_by_key(|f| f.off);
        Some(TypeInfo {
            key,
            array_name: format!("[]{name}"),
            name,
            size: size.next_multiple_of(8),
            pointers: None,
            shape: Shape::Struct(fields.into()),
            map_slots: false,
            map_keys: None,
            downcast: None,
        })
    }

    /// The descriptor of the type DWARF names `name`.
    fn desc_named(&self, name: &str) -> Option<u64> {
        let d = self.p.dwarf.as_ref()?;
        let mut t = d.type_named(name)?;
        for _ in 0..8 {
            if let Some(off) = d.go_runtime_type(t) {
                return Some(self.types_base.wrapping_add(off));
            }
            t = match d.shape(t)? {
                crate::gobin::Shape::Struct(r) if r != t => r,
                _ => return None,
            };
        }
        None
    }

    /// `pkg.node[K,V]`, the header hash-trie maps (internal/sync's
    /// HashTrieMap behind sync.Map, unique's canonMap) point to their
    /// nodes through: the `pkg.entry[…]` and `pkg.indirect[…]` it stands
    /// for, found by name in DWARF.
    fn trie_node(&mut self, addr: u64, name: &str) -> Option<(Key, Key)> {
        if !name.contains(".node[") {
            return None;
        }
        let d = self.p.dwarf.as_ref()?;
        // DWARF names types by package path, the runtime by package name:
        // take the DWARF name of this very descriptor.
        let die = *d.runtime_type_index().get(&addr.wrapping_sub(self.types_base))?;
        let name = d.type_name(die)?;
        let i = name.find(".node[")?;
        let (pkg, args) = (&name[..i], &name[i + ".node".len()..]);
        let find = |what: &str| self.desc_named(&format!("{pkg}.{what}{args}")).map(Key::Desc);
        Some((find("entry")?, find("indirect")?))
    }

    /// Descends type `ty` to the pointer word at byte `rel`.
    pub fn resolve(&self, mut ty: TypeId, mut rel: u64) -> Option<Leaf> {
        for _ in 0..=MAX_TYPE_DEPTH {
            match &self.info(ty).shape {
                Shape::Scalar => return None,
                Shape::Word(t) => return (rel == 0).then_some(Leaf::Word(*t)),
                Shape::Iface { empty } => return (rel == 8).then_some(Leaf::IfaceData { empty: *empty }),
                Shape::Array { elem, len } => {
                    let es = self.info(*elem).size;
                    if es == 0 || rel / es >= *len {
                        return None;
                    }
                    rel %= es;
                    ty = *elem;
                }
                Shape::Struct(fields) => {
                    let f = field_at(fields, rel)?;
                    if let Some(t) = f.word {
                        return (rel == f.off).then_some(Leaf::Word(t));
                    }
                    rel -= f.off;
                    ty = f.ty;
                }
            }
        }
        None
    }

    /// Appends the path from a value of type `ty` to its byte `rel`
    /// (`.Payload`, `[3]`, `.slots[2].elem`, `.X.data`); false if `rel` is
    /// not a pointer word of the type.
    pub fn path(&self, mut ty: TypeId, mut rel: u64, out: &mut String) -> bool {
        use std::fmt::Write;
        for _ in 0..=MAX_TYPE_DEPTH {
            match &self.info(ty).shape {
                Shape::Scalar => return false,
                Shape::Word(_) => return rel == 0,
                Shape::Iface { .. } => {
                    out.push_str(".data");
                    return rel == 8;
                }
                Shape::Array { elem, len } => {
                    let es = self.info(*elem).size;
                    if es == 0 || rel / es >= *len {
                        return false;
                    }
                    let _ = write!(out, "[{}]", rel / es);
                    rel %= es;
                    ty = *elem;
                }
                Shape::Struct(fields) => {
                    let Some(f) = field_at(fields, rel) else {
                        return false;
                    };
                    out.push('.');
                    out.push_str(&f.name);
                    if f.word.is_some() {
                        return rel == f.off;
                    }
                    rel -= f.off;
                    ty = f.ty;
                }
            }
        }
        false
    }
}

/// The field covering byte `rel`.
fn field_at(fields: &[Field], rel: u64) -> Option<&Field> {
    let i = fields.partition_point(|f| f.off <= rel).checked_sub(1)?;
    let f = &fields[i];
    (rel < f.off.saturating_add(f.size)).then_some(f)
}

/// The type key of a root slot's type.
pub fn slot_key(t: SlotType) -> Key {
    match t {
        SlotType::Desc(d) => Key::Desc(d),
        SlotType::Iface { empty } => Key::Iface(empty),
        SlotType::Func => Key::FuncValue,
        SlotType::PtrTo(d) => Key::PtrTo(d),
        SlotType::ArrayOf(d) => Key::SliceOf(d),
        SlotType::MapHeader(m) => Key::MapHeader(m),
    }
}

/// A fast hasher for small keys (FxHash, as rustc uses): the type table is
/// probed once per proposed fact.
#[derive(Default)]
pub struct FxHasher(u64);

impl Hasher for FxHasher {
    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut w = [0u8; 8];
            w[..chunk.len()].copy_from_slice(chunk);
            self.write_u64(u64::from_le_bytes(w));
        }
    }

    fn write_u64(&mut self, v: u64) {
        self.0 = (self.0.rotate_left(5) ^ v).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }

    fn write_u8(&mut self, v: u8) {
        self.write_u64(u64::from(v));
    }

    fn write_u32(&mut self, v: u32) {
        self.write_u64(u64::from(v));
    }

    fn write_usize(&mut self, v: usize) {
        self.write_u64(v as u64);
    }

    fn finish(&self) -> u64 {
        self.0
    }
}
