//! Go's kind numbers (reflect.Kind): the low five bits of a runtime type
//! descriptor's kind byte and the value of DWARF's DW_AT_go_kind are the
//! same numbers, so the type-descriptor reader above and the DWARF readers
//! here share one list.

/// complex64: the one kind of its size class aligned to 4, not 8.
pub const KIND_COMPLEX64: u8 = 15;
/// Array kind.
pub const KIND_ARRAY: u8 = 17;
/// Chan kind.
pub const KIND_CHAN: u8 = 18;
/// Func kind.
pub const KIND_FUNC: u8 = 19;
/// Interface kind.
pub const KIND_INTERFACE: u8 = 20;
/// Map kind.
pub const KIND_MAP: u8 = 21;
/// Pointer kind.
pub const KIND_PTR: u8 = 22;
/// Slice kind.
pub const KIND_SLICE: u8 = 23;
/// String kind.
pub const KIND_STRING: u8 = 24;
/// Struct kind.
pub const KIND_STRUCT: u8 = 25;
/// unsafe.Pointer kind.
pub const KIND_UNSAFE_POINTER: u8 = 26;
