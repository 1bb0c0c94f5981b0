//! Goroutine stacks: unwinding each goroutine's frames and listing the live
//! pointer slots of every frame from the runtime's own stack maps, as the
//! garbage collector does (runtime/traceback.go `unwinder`,
//! runtime/stkframe.go `getStackMap`, runtime/mgcmark.go `scanframeworker`).
//!
//! Per frame (the architecture's conventions come from [`Arch`]): on amd64
//! `fp = sp + pcsp(pc) + 8`, the return address at `fp - 8`, `varp = fp -
//! 8`, `argp = fp`; on arm64 `fp = sp + pcsp(pc)`, the return address at
//! `sp` (or still in the link register: an innermost frame that has not
//! stored it), `varp = fp`, `argp = fp + 8`. Both take another 8 off `varp`
//! for the saved frame pointer when the frame has locals. Live words: the
//! locals bitmap over `[varp - nbit*8, varp)` and the args bitmap over
//! `[argp, argp + nbit*8)` at PCDATA_StackMapIndex(pc - 1). Stack objects
//! (FUNCDATA_StackObjects: address-taken locals) add their pointer words
//! when they are live the way the runtime decides it (runtime/mgcstack.go):
//! reached from a live word of any frame, from another live stack object,
//! from the defer chain (`_defer.fn`, `_defer.link`), `g._panic` or
//! `g.sched.ctxt`. Dead stack objects keep stale words and are skipped.
//!
//! Frames scanned conservatively (every non-zero word): the innermost frame
//! of a running goroutine (it is not stopped at a safe point), and, as the
//! runtime does, `asyncPreempt`/`debugCallV2` frames and the frame they
//! interrupted.

use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap};
use std::rc::Rc;

use crate::gobin::{
    parse_stack_objects, run_gc_prog, DieRef, FrameVar, FuncInfo, FuncTable, StackMap, ARGS_SIZE_UNKNOWN, FUNCDATA_ARGS_POINTER_MAPS,
    FUNCDATA_LOCALS_POINTER_MAPS, FUNCDATA_STACK_OBJECTS, FUNC_FLAG_SPWRITE, FUNC_FLAG_TOP_FRAME,
};
use crate::image::{Arch, Memory, Thread};

use super::goroutines::{Goroutine, GoroutineStatus};
use super::process::Process;
use super::Error;

/// Bound on frames per goroutine (besides the stack size itself).
const MAX_FRAMES: usize = 1 << 20;
/// Bound on stack objects per frame.
const MAX_STACK_OBJECTS: usize = 1 << 16;
/// Go's maximum stack size on 64-bit (runtime.maxstacksize) is 1 GB.
const MAX_STACK: u64 = 1 << 31;
/// A stack object larger than this is garbage.
const MAX_STACK_OBJECT: u64 = 1 << 30;
/// Bound on the frames from a thread's registers through runtime.sigtramp
/// frames to the interrupted goroutine code.
const MAX_SIGNAL_FRAMES: usize = 64;
/// Bound on the defer records followed per goroutine.
const MAX_DEFERS: usize = 1 << 20;

/// One frame of a goroutine's stack.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Frame {
    /// Function name (`main.worker`).
    pub func: String,
    /// Program counter: the return address for all but the innermost frame.
    pub pc: u64,
    /// Stack pointer at `pc`.
    pub sp: u64,
    /// The caller's stack pointer (the CFA): `sp + frame size`, plus the
    /// pushed return address on amd64.
    pub fp: u64,
    /// Live pointer words holding a non-zero value, by address.
    pub slots: Vec<FrameSlot>,
    /// The slots are every non-zero word of the frame, not the stack map's.
    pub conservative: bool,
    /// Why the walk stopped after this frame, or what was skipped in it.
    pub warning: Option<String>,
}

/// A live pointer word in a frame.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FrameSlot {
    /// Address of the word on the stack.
    pub addr: u64,
    /// Its (non-zero) value.
    pub value: u64,
    /// The DWARF local or parameter the word belongs to, if known.
    pub var: Option<String>,
}

/// Unwinds goroutine stacks of one process. Holds the parsed function table
/// and the DWARF subprogram index, so make one and walk every goroutine
/// with it.
pub struct StackWalker<'p, 'a> {
    p: &'p Process<'a>,
    arch: Arch,
    funcs: FuncTable<'p>,
    text: u64,
    gofunc: u64,
    rodata: u64,
    offsets: Offsets,
    /// The frame variables of each function at each pc asked (goroutines
    /// parked in the same code ask for the same ones), for naming the
    /// slots and for typing them (see [`StackWalker::frame_vars`]).
    vars: RefCell<VarCache>,
    /// The wrapper function id ([`StackWalker::is_wrapper`]), once asked.
    wrapper_id: std::cell::OnceCell<Option<u8>>,
}

/// Frame variables by subprogram and link-time pc.
type VarCache = HashMap<(DieRef, u64), Rc<[FrameVar]>>;

/// The registers a signal interrupted (see
/// [`StackWalker::interrupted_registers`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Interrupted {
    /// Program counter.
    pub pc: u64,
    /// Stack pointer.
    pub sp: u64,
    /// Link register (arm64; 0 on amd64).
    pub lr: u64,
    /// Every saved general register, in the signal frame's order.
    pub regs: Vec<u64>,
}

/// Of the frame variables `vars` of the frame at `fp`, the smallest piece
/// covering the stack word at `addr`.
pub fn var_covering(vars: &[FrameVar], fp: u64, addr: u64) -> Option<&FrameVar> {
    vars.iter()
        .filter(|v| {
            let start = fp.wrapping_add(v.cfa_offset as u64);
            addr >= start && addr < start.wrapping_add(v.size.max(1))
        })
        .min_by_key(|v| v.size)
}

/// Walks one goroutine's stack (see [`StackWalker::walk`]). Walking many
/// goroutines is cheaper with one [`StackWalker`].
pub fn walk_goroutine(p: &Process, g: &Goroutine) -> Result<Vec<Frame>, Error> {
    StackWalker::new(p)?.walk(g)
}

/// Where the walk starts.
struct Start {
    pc: u64,
    sp: u64,
    /// The link register (arm64; 0 when unknown, and always on amd64).
    lr: u64,
    /// The innermost frame is not at a safe point.
    conservative: bool,
    /// Started from g.syscallsp/pc.
    syscall: bool,
}

impl<'p, 'a> StackWalker<'p, 'a> {
    /// Parses the function table of `p`'s executable.
    pub fn new(p: &'p Process<'a>) -> Result<StackWalker<'p, 'a>, Error> {
        let arch = p.image.exe.arch;
        let l = &p.layout;
        let md = p.firstmoduledata;
        let text = p.read_field(md, l.md_text)?;
        let gofunc = p.read_field(md, l.md_gofunc)?;
        let rodata = p.read_field(md, l.md_rodata)?;
        let tab = p.pclntab()?;
        let funcs = FuncTable::new(tab, l.minor)
            .ok_or_else(|| Error::Corrupt(format!("pc-line table magic {:#x} does not match Go 1.{}", tab.header.magic, l.minor)))?;
        Ok(StackWalker {
            p,
            arch,
            funcs,
            text,
            gofunc,
            rodata,
            offsets: Offsets::new(p),
            vars: RefCell::default(),
            wrapper_id: Default::default(),
        })
    }

    /// The DWARF variables (typed pieces) of function `func`'s frame at
    /// runtime pc `pc` (see [`crate::gobin::Dwarf::frame_vars_of`]),
    /// read once per function and pc; empty without DWARF or for a function
    /// DWARF does not know.
    pub fn frame_vars(&self, func: &str, pc: u64) -> Rc<[FrameVar]> {
        let sub = match &self.p.dwarf {
            Some(d) if func != "?" => d.subprograms().get(func).map(|&sub| (d, sub)),
            _ => None,
        };
        let Some((d, sub)) = sub else { return Rc::from([]) };
        let pc = pc.wrapping_sub(self.p.image.bias);
        self.vars.borrow_mut().entry((sub, pc)).or_insert_with(|| d.frame_vars_of(sub, Some(pc)).into()).clone()
    }

    /// The function covering a runtime pc.
    pub fn func_at(&self, pc: u64) -> Option<FuncInfo<'p>> {
        self.funcs.find(pc.checked_sub(self.text)?)
    }

    /// The file and line of the call that returns to `ret` in `f` (a return
    /// address such as g.gopc: the line of the instruction before it, as
    /// the runtime's tracebacks print).
    pub fn file_line(&self, f: &FuncInfo<'p>, ret: u64) -> Option<(&'p str, i32)> {
        let off = ret.checked_sub(self.text)?;
        let off = if off > u64::from(f.entry_off) { off - u64::from(self.funcs.quantum()) } else { off };
        self.funcs.file_line(f, off)
    }

    /// Whether `f` is code the compiler generated around a call, such as
    /// the closure a `go f(x)` statement starts (`main.main.gowrap1`;
    /// `main.main.func1` before Go 1.21). Such functions carry the
    /// wrapper function id, as `runtime.deferreturn` does; the ids differ
    /// between releases, so compare with that one's.
    pub fn is_wrapper(&self, f: &FuncInfo) -> bool {
        let id = *self.wrapper_id.get_or_init(|| {
            let tab = self.funcs.pclntab();
            let i = (0..tab.header.nfunc).find(|&i| tab.func(i).is_some_and(|g| g.name == "runtime.deferreturn"))?;
            self.funcs.func(i).map(|d| d.func_id).filter(|&id| id != 0)
        });
        id.is_some_and(|id| id == f.func_id)
    }

    /// The frames of `g`, innermost first; empty for idle and dead
    /// goroutines.
    ///
    /// Starts from g.sched (or g.syscallsp/pc while in a system call); for a
    /// running goroutine from the registers of the core thread whose LWP is
    /// g.m.procid, or from those its signal frame saved when that thread is
    /// in the signal handler that interrupted the goroutine (a crash),
    /// scanning that innermost frame conservatively. Stops at a
    /// top frame (runtime.goexit), at the stack's top, or where the frames
    /// make no sense (then the last frame carries a warning).
    ///
    /// Stack objects (address-taken locals) count as the runtime counts
    /// them: only those reached from a live slot, from another reached
    /// stack object, from the defer chain, g._panic or g.sched.ctxt. The
    /// others are dead and may hold stale words.
    pub fn walk(&self, g: &Goroutine) -> Result<Vec<Frame>, Error> {
        if !g.status.is_live() {
            return Ok(Vec::new());
        }
        let (lo, hi) = g.stack;
        if hi <= lo || hi - lo > MAX_STACK {
            return Err(Error::Corrupt(format!("goroutine {} has stack [{lo:#x}, {hi:#x})", g.goid)));
        }
        let arch = self.arch;
        let mut start = self.start(g)?;
        if start.pc == 0 {
            // As the runtime: the pc is at the top of the stack (pushed
            // there on amd64; the caller's frame's saved LR on arm64).
            start.pc = self.p.image.u64(start.sp)?;
            if arch.uses_lr() {
                start.lr = 0;
            } else {
                start.sp += 8;
            }
        }
        if start.sp < lo || start.sp > hi {
            return Err(Error::Corrupt(format!("goroutine {}: sp {:#x} outside its stack [{lo:#x}, {hi:#x})", g.goid, start.sp)));
        }
        let mut work: Vec<Work> = Vec::new();
        let mut objects: Vec<StackObj> = Vec::new();
        let (mut pc, mut sp, mut reg_lr) = (start.pc, start.sp, start.lr);
        let mut conservative = start.conservative;
        let mut innermost = true;
        let mut callee: Option<&str> = None;
        let max = MAX_FRAMES.min(((hi - sp) / 8 + 1) as usize);
        for _ in 0..max {
            let Some(f) = self.func_at(pc) else {
                let why = format!("unknown pc {pc:#x}");
                if innermost && start.conservative {
                    // Running outside Go code (vdso, cgo): keep the whole
                    // stack, conservatively.
                    work.push(self.rest_of_stack(pc, sp, hi, why));
                } else {
                    warn(&mut work, why);
                }
                break;
            };
            let off = pc - self.text;
            let Some(spdelta) = self.funcs.sp_delta(&f, off) else {
                warn(&mut work, format!("{}: no SP delta at pc {pc:#x}", f.name));
                break;
            };
            if spdelta < 0 {
                warn(&mut work, format!("{}: negative SP delta {spdelta} at pc {pc:#x}", f.name));
                break;
            }
            let fp = arch.frame_top(sp, spdelta as u64);
            if fp > hi {
                warn(&mut work, format!("{}: frame [{sp:#x}, {fp:#x}) runs past the stack top {hi:#x}", f.name));
                break;
            }
            let mut flag = f.flag;
            if innermost && start.syscall {
                flag &= !FUNC_FLAG_SPWRITE;
            }
            let mut notes = Vec::new();
            let lr = if flag & FUNC_FLAG_TOP_FRAME != 0 {
                0
            } else if flag & FUNC_FLAG_SPWRITE != 0 && !innermost {
                notes.push(format!("{} writes SP: cannot unwind past it", f.name));
                0
            } else {
                match self.return_address(innermost, sp, fp, reg_lr) {
                    Ok(v) => v,
                    Err(e) => {
                        notes.push(e.to_string());
                        0
                    }
                }
            };
            let varp = arch.locals_top(sp, fp);
            let argp = arch.args_start(fp);
            let entry = self.text + u64::from(f.entry_off);
            let mut continpc = pc;
            if callee == Some("runtime.sigpanic") {
                continpc = if f.deferreturn != 0 { entry + u64::from(f.deferreturn) + 1 } else { 0 };
            }
            let injected = matches!(f.name, "runtime.asyncPreempt" | "runtime.debugCallV2");
            let this_conservative = conservative || injected;
            let mut live = BTreeMap::new();
            if this_conservative {
                self.conservative_words(&f, sp, varp, argp, &mut live, &mut notes);
            } else {
                let fr = Regs { sp, varp, argp, continpc, index: work.len() };
                self.precise_words(&f, &fr, &mut live, &mut objects, &mut notes);
            }
            let lookup_pc = if innermost && start.conservative || pc == entry { pc } else { pc - 1 };
            work.push(Work {
                frame: Frame {
                    func: f.name.to_string(),
                    pc,
                    sp,
                    fp,
                    slots: Vec::new(),
                    conservative: this_conservative,
                    warning: (!notes.is_empty()).then(|| notes.join("; ")),
                },
                live,
                lookup_pc,
            });
            if lr == 0 {
                break;
            }
            if self.func_at(lr).is_none() {
                warn(&mut work, format!("unexpected return pc {lr:#x} for {}", f.name));
                break;
            }
            if pc == lr && sp == fp {
                warn(&mut work, format!("traceback stuck at pc {pc:#x} sp {sp:#x}"));
                break;
            }
            // The runtime scans the frame an injected call interrupted
            // conservatively too.
            conservative = injected;
            callee = Some(f.name);
            pc = lr;
            sp = fp;
            reg_lr = 0;
            innermost = false;
            if injected && arch.uses_lr() {
                // The signal handler that faked the call saved the
                // interrupted function's LR at the injected frame's top
                // and lowered SP by a bump: the LR is the return address
                // if the interrupted function had not stored it yet.
                let saved = match self.p.image.u64(sp) {
                    Ok(v) => v,
                    Err(e) => {
                        warn(&mut work, format!("{}: saved LR: {e}", f.name));
                        break;
                    }
                };
                sp += arch.injected_call_bump();
                if let Some(next) = self.func_at(pc) {
                    if self.funcs.sp_delta(&next, pc - self.text) == Some(0) {
                        reg_lr = saved;
                    }
                }
            }
        }
        if !objects.is_empty() {
            let roots = self.extra_roots(g, &mut work);
            mark_objects(self, &mut work, &mut objects, roots, (lo, hi));
        }
        Ok(work.into_iter().map(|w| self.name_slots(w)).collect())
    }

    /// Pointers into the stack that the runtime takes from outside the
    /// frames: the defer chain's fn and link fields, g._panic and
    /// g.sched.ctxt.
    fn extra_roots(&self, g: &Goroutine, work: &mut Vec<Work>) -> Vec<u64> {
        let (p, o) = (self.p, &self.offsets);
        let mut roots = Vec::new();
        let note = |e: crate::image::ReadError, work: &mut Vec<Work>| warn(work, format!("defer chain: {e}"));
        for a in [g.addr + o.g_panic, g.addr + o.g_ctxt] {
            match p.ptr(a) {
                Ok(v) => roots.push(v),
                Err(e) => note(e, work),
            }
        }
        let mut d = match p.ptr(g.addr + o.g_defer) {
            Ok(d) => d,
            Err(e) => {
                note(e, work);
                0
            }
        };
        for _ in 0..MAX_DEFERS {
            if d == 0 {
                break;
            }
            match (p.ptr(d + o.defer_fn), p.ptr(d + o.defer_link)) {
                (Ok(fnv), Ok(link)) => {
                    roots.push(fnv);
                    roots.push(link);
                    d = link;
                }
                (Err(e), _) | (_, Err(e)) => {
                    note(e, work);
                    break;
                }
            }
        }
        roots
    }

    /// The return address of the frame `[sp, fp)`: still in the link
    /// register `reg_lr` (arm64: a frameless function, or one stopped
    /// before its prologue stored it; 0 if unknown), else in its slot.
    fn return_address(&self, innermost: bool, sp: u64, fp: u64, reg_lr: u64) -> Result<u64, crate::image::ReadError> {
        if reg_lr != 0 && !(innermost && sp < fp) {
            Ok(reg_lr)
        } else {
            self.p.image.u64(self.arch.return_address_slot(sp, fp))
        }
    }

    /// The registers of goroutine code that a signal interrupted on thread
    /// `t`, if the thread is in the runtime's signal handler (as every
    /// thread of a core written by a Go crash is) and the interrupted code
    /// ran on the stack `[lo, hi)`: unwinds the thread's stack from its
    /// registers to runtime.sigtramp and reads the signal frame the kernel
    /// wrote above it; when that signal interrupted another handler (the
    /// crash's own SIGABRT arriving in the SIGQUIT handler), goes on from
    /// the registers it saved. The registers are in the signal frame's
    /// order (see [`Arch::signal_registers`]).
    pub fn interrupted_registers(&self, t: &Thread, (lo, hi): (u64, u64)) -> Option<Interrupted> {
        let arch = self.arch;
        let (mut pc, mut sp, mut reg_lr) = (t.pc, t.sp, t.lr);
        let mut innermost = true;
        for _ in 0..MAX_SIGNAL_FRAMES {
            let f = self.func_at(pc)?;
            let spdelta = u64::try_from(self.funcs.sp_delta(&f, pc - self.text)?).ok()?;
            let fp = arch.frame_top(sp, spdelta);
            if f.name == "runtime.sigtramp" {
                let at = arch.signal_registers(fp);
                let mut regs = Vec::with_capacity(at.count);
                for k in 0..at.count as u64 {
                    regs.push(self.p.image.u64(at.addr + 8 * k).ok()?);
                }
                let lr = at.lr.map_or(0, |k| regs[k]);
                let r = Interrupted { pc: regs[at.pc], sp: regs[at.sp], lr, regs };
                if r.sp >= lo && r.sp < hi {
                    return Some(r);
                }
                (pc, sp, reg_lr, innermost) = (r.pc, r.sp, r.lr, true);
                continue;
            }
            if f.flag & (FUNC_FLAG_TOP_FRAME | FUNC_FLAG_SPWRITE) != 0 && !innermost {
                return None;
            }
            let ret = self.return_address(innermost, sp, fp, reg_lr).ok()?;
            if ret == 0 || (ret == pc && fp == sp) {
                return None;
            }
            (pc, sp, reg_lr, innermost) = (ret, fp, 0, false);
        }
        None
    }

    /// Where to start unwinding `g`.
    fn start(&self, g: &Goroutine) -> Result<Start, Error> {
        let p = self.p;
        let l = &p.layout;
        let syscallsp = p.read_field(g.addr, l.g_syscallsp)?;
        let saved = || -> Result<Start, Error> {
            if syscallsp != 0 {
                Ok(Start { pc: p.read_field(g.addr, l.g_syscallpc)?, sp: syscallsp, lr: 0, conservative: false, syscall: true })
            } else {
                let lr = match l.g_sched_lr {
                    Some(f) => p.read_field(g.addr, f)?,
                    None => 0,
                };
                Ok(Start {
                    pc: p.read_field(g.addr, l.g_sched_pc)?,
                    sp: p.read_field(g.addr, l.g_sched_sp)?,
                    lr,
                    conservative: false,
                    syscall: false,
                })
            }
        };
        if g.status != GoroutineStatus::Running {
            return saved();
        }
        let m = p.read_field(g.addr, l.g_m)?;
        if m == 0 {
            return Err(Error::Corrupt(format!("running goroutine {} has no m", g.goid)));
        }
        let procid = p.read_field(m, l.m_procid)?;
        let thread = p.image.core.threads.iter().find(|t| u64::from(t.lwp) == procid);
        let on_stack = |sp: u64| sp >= g.stack.0 && sp < g.stack.1;
        match thread {
            Some(t) if on_stack(t.sp) => Ok(Start { pc: t.pc, sp: t.sp, lr: t.lr, conservative: true, syscall: false }),
            Some(t) => match self.interrupted_registers(t, g.stack) {
                // In a signal handler that interrupted the goroutine: its
                // registers are in the signal frame.
                Some(r) => Ok(Start { pc: r.pc, sp: r.sp, lr: r.lr, conservative: true, syscall: false }),
                // On its g0 stack (systemstack), or a signal interrupted
                // g0: g.sched was saved on the switch.
                _ => saved(),
            },
            None => Err(Error::NotFound(format!("the thread (LWP {procid}) running goroutine {} in the core", g.goid))),
        }
    }

    /// A pseudo-frame over [sp, hi), every non-zero word.
    fn rest_of_stack(&self, pc: u64, sp: u64, hi: u64, why: String) -> Work {
        let mut live = BTreeMap::new();
        let mut notes = vec![why];
        self.words(sp, (hi - sp) / 8, None, &mut live, &mut notes);
        Work {
            frame: Frame { func: "?".into(), pc, sp, fp: hi, slots: Vec::new(), conservative: true, warning: Some(notes.join("; ")) },
            live,
            lookup_pc: pc,
        }
    }

    /// The words [addr, addr + 8n) selected by `mask` (all if `None`) that
    /// hold non-zero values.
    fn words(&self, addr: u64, n: u64, mask: Option<&[u8]>, live: &mut BTreeMap<u64, u64>, notes: &mut Vec<String>) {
        if n == 0 {
            return;
        }
        let buf = match self.p.image.read_vec(addr, n.saturating_mul(8)) {
            Ok(b) => b,
            Err(e) => {
                notes.push(e.to_string());
                return;
            }
        };
        for i in 0..n as usize {
            if let Some(m) = mask {
                if m.get(i / 8).map_or(true, |b| b >> (i % 8) & 1 == 0) {
                    continue;
                }
            }
            let v = u64::from_le_bytes(buf[i * 8..i * 8 + 8].try_into().unwrap());
            if v != 0 {
                live.insert(addr + 8 * i as u64, v);
            }
        }
    }

    fn conservative_words(&self, f: &FuncInfo, sp: u64, varp: u64, argp: u64, live: &mut BTreeMap<u64, u64>, notes: &mut Vec<String>) {
        self.words(sp, (varp - sp) / 8, None, live, notes);
        if f.args > 0 {
            self.words(argp, f.args as u64 / 8, None, live, notes);
        }
    }

    /// FUNCDATA `index` of `f`: the bytes from its runtime address on.
    fn funcdata(&self, f: &FuncInfo, index: u8) -> Option<&'p [u8]> {
        let off = self.funcs.funcdata(f, index)?;
        self.p.image.tail(self.gofunc.checked_add(u64::from(off))?)
    }

    /// The stack-map words of a frame into `live`; its stack objects into
    /// `objects` (runtime `getStackMap` and `scanframeworker`).
    fn precise_words(&self, f: &FuncInfo, fr: &Regs, live: &mut BTreeMap<u64, u64>, objects: &mut Vec<StackObj>, notes: &mut Vec<String>) {
        let Regs { sp, varp, argp, continpc, index } = *fr;
        if continpc == 0 {
            return;
        }
        let entry = self.text + u64::from(f.entry_off);
        let mut idx = -1;
        if continpc != entry {
            match self.funcs.stack_map_index(f, continpc - 1 - self.text) {
                Some(v) => idx = v,
                None => {
                    notes.push(format!("{}: bad stack-map index table", f.name));
                    return;
                }
            }
        }
        if idx == -1 {
            idx = 0;
        }
        // Locals.
        if varp > sp {
            match self.funcdata(f, FUNCDATA_LOCALS_POINTER_MAPS).and_then(StackMap::parse) {
                Some(m) if m.n > 0 => {
                    if m.nbit > 0 {
                        match m.bitmap(idx) {
                            Some(bits) => {
                                let n = m.nbit as u64;
                                match varp.checked_sub(n * 8) {
                                    Some(base) if base >= sp => self.words(base, n, Some(bits), live, notes),
                                    _ => notes.push(format!("{}: locals map of {n} words exceeds the frame", f.name)),
                                }
                            }
                            None => notes.push(format!("{}: stack map index {idx} out of {} locals maps", f.name, m.n)),
                        }
                    }
                }
                _ => notes.push(format!("{}: no locals pointer map", f.name)),
            }
        }
        // Arguments and results.
        if f.args == ARGS_SIZE_UNKNOWN {
            if matches!(f.name, "reflect.makeFuncStub" | "reflect.methodValueCall") {
                notes.push(format!("{}: arguments not scanned (reflect call frame)", f.name));
            }
        } else if f.args >= 8 {
            match self.funcdata(f, FUNCDATA_ARGS_POINTER_MAPS).and_then(StackMap::parse) {
                Some(m) if m.n > 0 => {
                    if m.nbit > 0 {
                        match m.bitmap(idx) {
                            Some(bits) => self.words(argp, m.nbit as u64, Some(bits), live, notes),
                            None => notes.push(format!("{}: stack map index {idx} out of {} args maps", f.name, m.n)),
                        }
                    }
                }
                _ => notes.push(format!("{}: no args pointer map", f.name)),
            }
        }
        // Stack objects.
        let Some(b) = self.funcdata(f, FUNCDATA_STACK_OBJECTS) else { return };
        let Some(objs) = parse_stack_objects(b, MAX_STACK_OBJECTS) else {
            notes.push(format!("{}: unreadable stack objects", f.name));
            return;
        };
        for o in objs {
            let base = if o.off < 0 { varp } else { argp };
            let ptr = base.wrapping_add(i64::from(o.off) as u64);
            if ptr < sp {
                continue;
            }
            let (ptrbytes, prog) = o.ptr_bytes();
            if o.size <= 0 || o.size as u64 > MAX_STACK_OBJECT || ptrbytes > o.size as u64 {
                notes.push(format!("{}: stack object at {ptr:#x} of {} bytes has {ptrbytes} pointer bytes", f.name, o.size));
                continue;
            }
            let words = ptrbytes / 8;
            let gcdata = self.rodata.wrapping_add(u64::from(o.gcdataoff));
            let mask = if words == 0 {
                Some(Vec::new())
            } else if prog {
                self.p
                    .image
                    .u32(gcdata)
                    .ok()
                    .and_then(|len| self.p.image.slice(gcdata + 4, len as usize).ok())
                    .and_then(|prog| run_gc_prog(prog, words))
            } else {
                self.p.image.slice(gcdata, words.div_ceil(8) as usize).ok().map(<[u8]>::to_vec)
            };
            match mask {
                Some(mask) => objects.push(StackObj { addr: ptr, size: o.size as u64, words, mask, frame: index, marked: false }),
                None => notes.push(format!("{}: stack object at {ptr:#x}: unreadable pointer mask at {gcdata:#x}", f.name)),
            }
        }
    }

    /// The finished frame: slots from `w.live`, each named by the DWARF
    /// variable covering it at `w.lookup_pc`.
    fn name_slots(&self, w: Work) -> Frame {
        let Work { mut frame, live, lookup_pc } = w;
        if live.is_empty() {
            return frame;
        }
        let vars = self.frame_vars(&frame.func, lookup_pc);
        let fp = frame.fp;
        frame.slots = live
            .into_iter()
            .map(|(addr, value)| {
                let var = var_covering(&vars, fp, addr).map(|v| v.name.clone());
                FrameSlot { addr, value, var }
            })
            .collect();
        frame
    }
}

/// A frame being built: its live words by address, and the pc to name
/// them at.
struct Work {
    frame: Frame,
    live: BTreeMap<u64, u64>,
    lookup_pc: u64,
}

/// Frame registers for the stack-map lookup.
#[derive(Clone, Copy)]
struct Regs {
    sp: u64,
    varp: u64,
    argp: u64,
    continpc: u64,
    /// Index of the frame in the walk.
    index: usize,
}

/// A stack object of some frame.
struct StackObj {
    addr: u64,
    size: u64,
    /// Pointer-prefix words and their mask.
    words: u64,
    mask: Vec<u8>,
    /// Index of the frame that declares it.
    frame: usize,
    marked: bool,
}

/// Marks the stack objects reachable from the frames' live words and
/// `roots`, transitively, and adds their pointer words to their frames
/// (runtime `scanstack`: `state.buildIndex`, `findObject`).
fn mark_objects(w: &StackWalker, work: &mut [Work], objects: &mut [StackObj], roots: Vec<u64>, (lo, hi): (u64, u64)) {
    objects.sort_by_key(|o| o.addr);
    let mut queue: Vec<u64> = roots;
    queue.extend(work.iter().flat_map(|f| f.live.values().copied()));
    let mut notes = Vec::new();
    // Every object is scanned at most once, so this ends; the bound guards
    // against bugs, not data.
    let mut budget = 1usize << 24;
    while let Some(ptr) = queue.pop() {
        budget = budget.saturating_sub(1);
        if budget == 0 {
            break;
        }
        if ptr < lo || ptr >= hi {
            continue;
        }
        let i = objects.partition_point(|o| o.addr <= ptr);
        let Some(o) = i.checked_sub(1).map(|i| &mut objects[i]) else { continue };
        if o.marked || ptr >= o.addr + o.size {
            continue;
        }
        o.marked = true;
        let Some(frame) = work.get_mut(o.frame) else { continue };
        let mut found = BTreeMap::new();
        w.words(o.addr, o.words, Some(&o.mask), &mut found, &mut notes);
        queue.extend(found.values().copied());
        frame.live.extend(found);
    }
    if !notes.is_empty() {
        warn_vec(work, notes.join("; "));
    }
}

/// Attaches a warning to the last frame (or a pseudo-frame if none).
fn warn(work: &mut Vec<Work>, why: String) {
    if work.is_empty() {
        work.push(Work {
            frame: Frame { func: "?".into(), pc: 0, sp: 0, fp: 0, slots: Vec::new(), conservative: false, warning: None },
            live: BTreeMap::new(),
            lookup_pc: 0,
        });
    }
    warn_vec(work, why);
}

fn warn_vec(work: &mut [Work], why: String) {
    if let Some(w) = work.last_mut() {
        let f = &mut w.frame;
        f.warning = Some(match f.warning.take() {
            Some(old) => format!("{old}; {why}"),
            None => why,
        });
    }
}

/// Where the defer chain, the panic and the closure context hang off a g.
#[derive(Clone, Copy, Debug)]
struct Offsets {
    g_panic: u64,
    g_defer: u64,
    g_ctxt: u64,
    defer_fn: u64,
    defer_link: u64,
}

impl Offsets {
    fn new(p: &Process) -> Offsets {
        let l = &p.layout;
        Offsets {
            g_panic: l.g_panic.off,
            g_defer: l.g_defer.off,
            g_ctxt: l.g_sched_ctxt.off,
            defer_fn: l.defer_fn.off,
            defer_link: l.defer_link.off,
        }
    }
}
