//! Layer 6: type inference — one Go type per heap object where it can be
//! known. So far: the exact types Go 1.22+ records itself (malloc headers
//! of 513 B–32 KiB objects, span.largeType of large ones). Everything else
//! is named by its size, `unk<size>`.

use std::collections::HashMap;

use crate::graph::{LabelId, Labels, Namer};
use crate::heap::Heap;
use crate::runtime::{read_type, type_name, PointerMaps, Process};

/// Names objects by their recorded type, or by size.
pub struct RecordedTypes<'p, 'a> {
    p: &'p Process<'a>,
    heap: &'p Heap,
    names: HashMap<u64, LabelId>,
    /// Objects named by a recorded type.
    pub typed: u64,
}

impl<'p, 'a> RecordedTypes<'p, 'a> {
    /// A namer over `heap`.
    pub fn new(p: &'p Process<'a>, heap: &'p Heap) -> Self {
        RecordedTypes { p, heap, names: HashMap::new(), typed: 0 }
    }

    /// The type descriptor address the runtime recorded for object `i`.
    fn recorded_type(&self, i: u32) -> Option<u64> {
        if self.p.layout.pointer_maps != PointerMaps::AllocHeaders {
            return None;
        }
        let span = self.heap.span_of(i);
        if span.noscan() {
            return None;
        }
        if span.sizeclass() == 0 {
            return (span.large_type != 0).then_some(span.large_type);
        }
        if span.elemsize > self.p.layout.malloc_header_min {
            return self.p.ptr(self.heap.addrs[i as usize]).ok().filter(|&t| t != 0);
        }
        None
    }
}

impl Namer for RecordedTypes<'_, '_> {
    fn object(&mut self, labels: &mut Labels, obj: u32) -> LabelId {
        if let Some(t) = self.recorded_type(obj) {
            if let Some(&id) = self.names.get(&t) {
                self.typed += 1;
                return id;
            }
            if let Ok(name) = read_type(self.p, t).and_then(|d| type_name(self.p, &d)) {
                let id = labels.intern(&name);
                self.names.insert(t, id);
                self.typed += 1;
                return id;
            }
        }
        labels.intern(&format!("unk<{}>", self.heap.sizes[obj as usize]))
    }

    fn link(&mut self, _labels: &mut Labels, _src: u32, _offset: u32) -> LabelId {
        crate::graph::NO_LINK
    }
}
