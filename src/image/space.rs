//! The address space of the dumped process: a sorted table of byte ranges,
//! each backed by bytes of the core or, where the core left a range out, of
//! the executable file.

/// Which file backs a range.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backing {
    /// The core file.
    Core,
    /// The executable file.
    Exe,
}

/// One readable range.
#[derive(Clone, Copy, Debug)]
pub struct Range {
    /// First address.
    pub start: u64,
    /// One past the last address.
    pub end: u64,
    /// Which file holds the bytes.
    pub backing: Backing,
    /// File offset of `start`.
    pub offset: u64,
    /// The segment is writable in the process.
    pub writable: bool,
}

/// Sorted, non-overlapping readable ranges.
#[derive(Default)]
pub struct Space {
    ranges: Vec<Range>,
}

impl Space {
    /// Adds a range; the parts of it already covered are left to the earlier
    /// ranges (so add the core's ranges first).
    pub fn add(&mut self, r: Range) {
        if r.start >= r.end {
            return;
        }
        // Collect the gaps of [r.start, r.end) not yet covered.
        let mut pieces = Vec::new();
        let mut cur = r.start;
        let first = self.ranges.partition_point(|x| x.end <= r.start);
        for x in &self.ranges[first..] {
            if x.start >= r.end {
                break;
            }
            if x.start > cur {
                pieces.push((cur, x.start));
            }
            cur = cur.max(x.end);
        }
        if cur < r.end {
            pieces.push((cur, r.end));
        }
        for (s, e) in pieces {
            let piece = Range { start: s, end: e, offset: r.offset + (s - r.start), ..r };
            let at = self.ranges.partition_point(|x| x.start < s);
            self.ranges.insert(at, piece);
        }
    }

    /// The range holding `addr`, if any. Walks read objects in address
    /// order, so the range of the thread's last hit is tried first.
    pub fn find(&self, addr: u64) -> Option<&Range> {
        thread_local! {
            static LAST: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
        }
        let hint = LAST.with(|c| c.get());
        if let Some(r) = self.ranges.get(hint).filter(|x| x.start <= addr && addr < x.end) {
            return Some(r);
        }
        let i = self.ranges.partition_point(|x| x.end <= addr);
        let r = self.ranges.get(i).filter(|x| x.start <= addr)?;
        LAST.with(|c| c.set(i));
        Some(r)
    }

    /// All ranges in address order.
    pub fn ranges(&self) -> &[Range] {
        &self.ranges
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(start: u64, end: u64, backing: Backing) -> Range {
        Range { start, end, backing, offset: start * 10, writable: false }
    }

    #[test]
    fn later_ranges_fill_only_gaps() {
        let mut s = Space::default();
        s.add(r(100, 200, Backing::Core));
        s.add(r(300, 400, Backing::Core));
        s.add(r(50, 500, Backing::Exe));
        let got: Vec<_> = s.ranges().iter().map(|x| (x.start, x.end, x.backing, x.offset)).collect();
        assert_eq!(
            got,
            vec![
                (50, 100, Backing::Exe, 500),
                (100, 200, Backing::Core, 1000),
                (200, 300, Backing::Exe, 500 + 150),
                (300, 400, Backing::Core, 3000),
                (400, 500, Backing::Exe, 500 + 350),
            ]
        );
        assert_eq!(s.find(99).unwrap().backing, Backing::Exe);
        assert_eq!(s.find(100).unwrap().backing, Backing::Core);
        assert!(s.find(500).is_none());
        assert!(s.find(49).is_none());
    }
}
