//! Shortest paths from the roots with each object's parent kept, for
//! "why is this alive" questions: a breadth-first search like the tree's
//! (roots in order, then slot order), which may skip given roots and
//! objects so that other retainers show. 8 bytes an object.

use super::Successors;

/// [`Parents`]' mark of an object not reached.
const UNREACHED: u32 = u32::MAX;

/// Where each object was first reached from.
pub struct Parents {
    /// Per object: [`UNREACHED`], a parent object, or (from `objects` on)
    /// `objects + root index`.
    from: Vec<u32>,
    objects: u32,
    /// The objects reached, in the order reached (nearest a root first).
    order: Vec<u32>,
}

/// One step up from an object.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Parent {
    /// Reached from this root's slots (its index in the roots given).
    Root(u32),
    /// Reached through a pointer of this object.
    Object(u32),
}

impl Parents {
    /// Searches from `roots` (each root's target objects) along `succ`
    /// over `objects` objects, skipping the roots and objects for which
    /// `skip_root` and `skip_object` say so (an object skipped is never
    /// reached). None if the numbers do not fit 32 bits.
    pub fn search(
        roots: &[Vec<u32>],
        objects: usize,
        succ: &dyn Successors,
        skip_root: &dyn Fn(u32) -> bool,
        skip_object: &dyn Fn(u32) -> bool,
    ) -> Option<Parents> {
        Self::search_until(roots, objects, succ, skip_root, skip_object, None)
    }

    /// [`Parents::search`] that stops once every object in `wanted` (if
    /// given) is reached: their paths are those of the whole search (an
    /// object's parent is set once, when it is first reached), the order
    /// ends there.
    pub fn search_until(
        roots: &[Vec<u32>],
        objects: usize,
        succ: &dyn Successors,
        skip_root: &dyn Fn(u32) -> bool,
        skip_object: &dyn Fn(u32) -> bool,
        wanted: Option<&[u32]>,
    ) -> Option<Parents> {
        let n = u32::try_from(objects).ok()?;
        u32::try_from(objects + roots.len()).ok().filter(|&x| x < UNREACHED)?;
        let mut from = vec![UNREACHED; objects];
        let mut queue: Vec<u32> = Vec::new();
        for (r, targets) in roots.iter().enumerate() {
            if skip_root(r as u32) {
                continue;
            }
            for &o in targets {
                if from[o as usize] == UNREACHED && !skip_object(o) {
                    from[o as usize] = n + r as u32;
                    queue.push(o);
                }
            }
        }
        // The wanted objects not reached yet (None: search all).
        let mut left: Option<std::collections::HashSet<u32>> =
            wanted.map(|w| w.iter().copied().filter(|&o| (o as usize) < objects && from[o as usize] == UNREACHED).collect());
        let mut next = 0;
        while next < queue.len() && !matches!(&left, Some(l) if l.is_empty()) {
            let o = queue[next];
            next += 1;
            for &t in succ.of(o) {
                if from[t as usize] == UNREACHED && !skip_object(t) {
                    from[t as usize] = o;
                    queue.push(t);
                    if let Some(l) = &mut left {
                        l.remove(&t);
                    }
                }
            }
        }
        Some(Parents { from, objects: n, order: queue })
    }

    /// The objects reached, nearest a root first.
    pub fn order(&self) -> &[u32] {
        &self.order
    }

    /// Where object `obj` was reached from, None if not reached.
    pub fn parent(&self, obj: u32) -> Option<Parent> {
        match *self.from.get(obj as usize)? {
            UNREACHED => None,
            p if p >= self.objects => Some(Parent::Root(p - self.objects)),
            p => Some(Parent::Object(p)),
        }
    }

    /// The path to `obj`: its root, then the objects from the root's
    /// target down to `obj`. None if not reached.
    pub fn path(&self, obj: u32) -> Option<(u32, Vec<u32>)> {
        let mut objs = vec![obj];
        let mut at = obj;
        loop {
            match self.parent(at)? {
                Parent::Root(r) => {
                    objs.reverse();
                    return Some((r, objs));
                }
                Parent::Object(p) => {
                    objs.push(p);
                    at = p;
                }
            }
        }
    }
}
