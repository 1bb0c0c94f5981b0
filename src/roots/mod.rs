//! Layer 5: roots — data/bss globals, goroutine stack frames, finalizers and
//! cleanups, tiny-allocator blocks — each with a readable name and the heap
//! objects it points to, and where DWARF (or the runtime) says so, the type
//! of each pointer slot ([`TypedSlot`]) for type inference to start from.

mod globals;
mod goroutines;
mod slots;
mod specials;

pub use self::globals::{field_path, global_roots};
pub use self::goroutines::goroutine_roots;
pub use self::slots::{runtime_slot, value_type};
pub use self::specials::{queued_finalizer_roots, special_roots, tiny_block_roots};

/// The four root groups, in the order they appear at the top of the graph.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Group {
    /// Package-level variables and unnamed data/bss words.
    Globals,
    /// Goroutine stacks and registers.
    Goroutines,
    /// Objects with finalizers or cleanups, and queued ones.
    Finalizers,
    /// Anything else (tiny-allocator blocks, runtime-internal roots).
    Other,
}

impl Group {
    /// All groups in display order.
    pub const ALL: [Group; 4] = [Group::Globals, Group::Goroutines, Group::Finalizers, Group::Other];

    /// Frame name of the group.
    pub fn name(self) -> &'static str {
        match self {
            Group::Globals => "globals",
            Group::Goroutines => "goroutines",
            Group::Finalizers => "finalizers",
            Group::Other => "other roots",
        }
    }
}

/// One root: a name and the objects its pointer slots hold, in slot order.
#[derive(Clone, Debug)]
pub struct Root {
    /// Which group it belongs to.
    pub group: Group,
    /// Frame name (`main.registry`, `main.worker.buf`, `finalizer for …`).
    pub name: String,
    /// Address of the root's first slot (0 if none).
    pub addr: u64,
    /// What `--printaddr` appends to the root's frame (an address, a
    /// goroutine id); empty for nothing.
    pub tag: String,
    /// Each slot that points into the heap, in slot order.
    pub targets: Vec<Target>,
    /// The goroutine the root belongs to, shown as a frame between the
    /// group and the root.
    pub scope: Option<Scope>,
    /// The object a finalizer or cleanup is attached to. Its type is not
    /// known yet when roots are found: `name` holds [`SUBJECT`] where the
    /// type's name goes (`finalizer on {} (main.main.func3)`).
    pub subject: Option<u32>,
}

/// Where a root's name takes its [`Root::subject`]'s type name.
pub const SUBJECT: &str = "{}";

impl Root {
    /// A root with no scope and no subject.
    pub fn new(group: Group, name: String, addr: u64, tag: String, targets: Vec<Target>) -> Root {
        Root { group, name, addr, tag, targets, scope: None, subject: None }
    }

    /// Whether the root only keeps what no other root keeps: finalizers
    /// and cleanups (their objects are held elsewhere or about to go).
    pub fn weak(&self) -> bool {
        self.group == Group::Finalizers
    }
}

/// A goroutine, as a level between the `goroutines` group and its roots.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Scope {
    /// The goroutine's id (roots of one goroutine share it).
    pub id: u64,
    /// The frame name: what the goroutine runs and who started it
    /// (`main.worker (created by main.main)`).
    pub name: String,
    /// What `--printaddr` appends (`(goroutine 17)`).
    pub tag: String,
}

/// One pointer slot of a root and the heap object it points into.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Target {
    /// Link label from the root to the object (`.data`), if any.
    pub link: Option<String>,
    /// The object.
    pub obj: u32,
    /// What the slot is, when the root's type is known.
    pub slot: Option<TypedSlot>,
}

impl Target {
    /// A target with no link label and no type.
    pub fn plain(obj: u32) -> Target {
        Target { link: None, obj, slot: None }
    }
}

/// A root's pointer word with the type of the value around it: the word at
/// `base + off` lies inside a value of type `ty` that starts at `base`. Type
/// inference starts from these.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TypedSlot {
    /// The type of the value holding the word.
    pub ty: SlotType,
    /// Where that value starts (for a variable split into pieces, where it
    /// would start if it were whole).
    pub base: u64,
    /// The word's offset in the value.
    pub off: u64,
}

/// The type of a value holding a root's pointer word.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SlotType {
    /// A value of the runtime type described at this address.
    Desc(u64),
    /// An interface value: empty (`any`: type word, data word) or with
    /// methods (itab word, data word).
    Iface { empty: bool },
    /// A func value (a pointer to a funcval, the closure object).
    Func,
    /// A pointer to a value of the runtime type described at this address.
    PtrTo(u64),
    /// A pointer to an array of values of that runtime type (a slice's
    /// data word).
    ArrayOf(u64),
    /// The header of a map of the map type described at this address
    /// (hmap or maps.Map), e.g. one on a goroutine's stack.
    MapHeader(u64),
}
