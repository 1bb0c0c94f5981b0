//! ELF symbols of the executable (gone when it was linked with `-s`).

use std::collections::HashMap;

use object::{Object, ObjectSymbol, SymbolKind};

/// A symbol's link-time address and size.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Symbol {
    /// Address as linked (add the image's load bias for PIE).
    pub addr: u64,
    /// Size in bytes (0 if unknown).
    pub size: u64,
}

/// Symbols by name, and data symbols by address.
#[derive(Default)]
pub struct Symbols {
    by_name: HashMap<String, Symbol>,
    /// Data/bss symbols sorted by address, for naming addresses.
    data: Vec<(u64, u64, String)>,
}

impl Symbols {
    /// Reads `.symtab`; empty when the executable is stripped.
    pub fn load(exe: &[u8]) -> Symbols {
        Symbols::load_placed(exe, |a| a)
    }

    /// Reads `.symtab` of another file of the same build (`--debuginfo`),
    /// each address placed by `place` where the executable has it.
    pub fn load_placed(exe: &[u8], place: impl Fn(u64) -> u64) -> Symbols {
        let Ok(file) = object::File::parse(exe) else { return Symbols::default() };
        let mut s = Symbols::default();
        for sym in file.symbols() {
            let Ok(name) = sym.name() else { continue };
            if name.is_empty() {
                continue;
            }
            let v = Symbol { addr: place(sym.address()), size: sym.size() };
            if sym.kind() == SymbolKind::Data && v.size > 0 {
                s.data.push((v.addr, v.size, name.to_string()));
            }
            s.by_name.entry(name.to_string()).or_insert(v);
        }
        s.data.sort_unstable();
        s
    }

    /// A symbol by name.
    pub fn get(&self, name: &str) -> Option<Symbol> {
        self.by_name.get(name).copied()
    }

    /// Whether there are no symbols (stripped).
    pub fn is_empty(&self) -> bool {
        self.by_name.is_empty()
    }

    /// The data symbol covering a link-time address, with the offset into it.
    pub fn data_at(&self, addr: u64) -> Option<(&str, u64)> {
        let i = self.data.partition_point(|(a, _, _)| *a <= addr).checked_sub(1)?;
        let (a, size, name) = &self.data[i];
        (addr < a + size).then(|| (name.as_str(), addr - a))
    }
}
