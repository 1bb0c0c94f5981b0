//! Goroutines: `runtime.allgs`, each g's id, status and stack bounds.

use crate::image::Memory;

use super::process::Process;
use super::Error;

/// More goroutines than this in allgs means the slice header is corrupt.
const MAX_GOROUTINES: u64 = 1 << 28;

/// A goroutine's scheduling status (`_Gscan` bit cleared).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum GoroutineStatus {
    /// _Gidle: just allocated.
    Idle,
    /// _Grunnable.
    Runnable,
    /// _Grunning.
    Running,
    /// _Gsyscall.
    Syscall,
    /// _Gwaiting.
    Waiting,
    /// _Gdead: unused, on a free list.
    Dead,
    /// _Gcopystack.
    CopyStack,
    /// _Gpreempted.
    Preempted,
    /// _Gleaked (1.26+).
    Leaked,
    /// _Gdeadextra (1.26+): a dead g reserved for cgo callbacks.
    DeadExtra,
    /// Anything else.
    Other(u32),
}

impl GoroutineStatus {
    fn from_raw(s: u32) -> Self {
        match s & !0x1000 {
            0 => Self::Idle,
            1 => Self::Runnable,
            2 => Self::Running,
            3 => Self::Syscall,
            4 => Self::Waiting,
            6 => Self::Dead,
            8 => Self::CopyStack,
            9 => Self::Preempted,
            10 => Self::Leaked,
            11 => Self::DeadExtra,
            x => Self::Other(x),
        }
    }

    /// Lower-case name as the runtime's traceback prints it.
    pub fn name(self) -> String {
        match self {
            Self::Idle => "idle".into(),
            Self::Runnable => "runnable".into(),
            Self::Running => "running".into(),
            Self::Syscall => "syscall".into(),
            Self::Waiting => "waiting".into(),
            Self::Dead => "dead".into(),
            Self::CopyStack => "copystack".into(),
            Self::Preempted => "preempted".into(),
            Self::Leaked => "leaked".into(),
            Self::DeadExtra => "deadextra".into(),
            Self::Other(x) => format!("status{x}"),
        }
    }

    /// Whether the goroutine exists (not idle, not dead).
    pub fn is_live(self) -> bool {
        !matches!(self, Self::Idle | Self::Dead | Self::DeadExtra)
    }
}

/// One goroutine.
#[derive(Clone, Copy, Debug)]
pub struct Goroutine {
    /// Address of the runtime.g.
    pub addr: u64,
    /// Goroutine id.
    pub goid: u64,
    /// Status.
    pub status: GoroutineStatus,
    /// Stack bounds [lo, hi).
    pub stack: (u64, u64),
}

/// Reads every g in `runtime.allgs`.
pub fn read_goroutines(p: &Process) -> Result<Vec<Goroutine>, Error> {
    let l = &p.layout;
    let (arr, n) = p.slice_header(p.allgs)?;
    if n > MAX_GOROUTINES || !p.image.covers(arr, n * 8) {
        return Err(Error::Corrupt(format!("runtime.allgs has {n} entries at {arr:#x}, more than the core holds")));
    }
    let mut out = Vec::with_capacity(n as usize);
    for i in 0..n {
        let g = p.image.u64(arr.wrapping_add(8 * i))?;
        out.push(Goroutine {
            addr: g,
            goid: p.read_field(g, l.g_goid)?,
            status: GoroutineStatus::from_raw(p.read_field(g, l.g_status)? as u32),
            stack: (p.read_field(g, l.g_stack_lo)?, p.read_field(g, l.g_stack_hi)?),
        });
    }
    Ok(out)
}
