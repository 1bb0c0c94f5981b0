//! What differs between the CPU architectures refgraph reads, in one place
//! (as Go-version differences live in `runtime::layout`): where the kernel
//! puts each register in a thread's NT_PRSTATUS note and in a signal frame,
//! the Go runtime's frame conventions the stack walk follows
//! (runtime/traceback.go: on amd64 the CALL instruction pushes the return
//! address at the top of the callee's frame; arm64 keeps it in the link
//! register, which a function with a frame stores at the bottom of its
//! frame, at its SP, and the saved frame pointer goes one word below SP),
//! and the heap's arenaBaseOffset.
//!
//! Not here because nothing differs: DWARF register numbers (refgraph reads
//! only frame variables at CFA offsets, and the CFA is the frame's `fp` on
//! both), and the closure context register (DX, R26), which is a root like
//! every other register of a thread running a goroutine.

/// The machine a core or executable is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Arch {
    /// x86-64.
    Amd64,
    /// AArch64.
    Arm64,
}

impl Arch {
    /// GOARCH spelling.
    pub fn name(self) -> &'static str {
        match self {
            Arch::Amd64 => "amd64",
            Arch::Arm64 => "arm64",
        }
    }

    /// The architecture of an ELF `e_machine`.
    pub fn from_elf_machine(machine: object::elf::Machine) -> Option<Arch> {
        match machine {
            object::elf::EM_X86_64 => Some(Arch::Amd64),
            object::elf::EM_AARCH64 => Some(Arch::Arm64),
            _ => None,
        }
    }

    /// Words in NT_PRSTATUS's `pr_reg`: amd64's `user_regs_struct` (r15 …
    /// gs, 27 words); arm64's `user_pt_regs` (x0–x30, sp, pc, pstate).
    pub fn prstatus_regs(self) -> usize {
        match self {
            Arch::Amd64 => 27,
            Arch::Arm64 => 34,
        }
    }

    /// Index of the stack pointer in `pr_reg` (rsp; sp).
    pub fn sp_reg(self) -> usize {
        match self {
            Arch::Amd64 => 19,
            Arch::Arm64 => 31,
        }
    }

    /// Index of the program counter in `pr_reg` (rip; pc).
    pub fn pc_reg(self) -> usize {
        match self {
            Arch::Amd64 => 16,
            Arch::Arm64 => 32,
        }
    }

    /// Index of the link register in `pr_reg` (x30), on machines with one.
    pub fn lr_reg(self) -> Option<usize> {
        match self {
            Arch::Amd64 => None,
            Arch::Arm64 => Some(30),
        }
    }

    /// The return address lives in a link register, not on the stack at
    /// the call (runtime `usesLR`).
    pub fn uses_lr(self) -> bool {
        self.lr_reg().is_some()
    }

    /// Bytes at the bottom of every frame before its outgoing arguments
    /// (runtime/internal/sys `MinFrameSize`: the saved LR on arm64).
    pub fn min_frame_size(self) -> u64 {
        match self {
            Arch::Amd64 => 0,
            Arch::Arm64 => 8,
        }
    }

    /// The frame's `fp` (the caller's SP, DWARF's CFA) from its SP and the
    /// pc-SP table's delta: on amd64 the return address the CALL pushed is
    /// above the delta.
    pub fn frame_top(self, sp: u64, spdelta: u64) -> u64 {
        let pushed = if self.uses_lr() { 0 } else { 8 };
        sp + spdelta + pushed
    }

    /// Where a frame `[sp, fp)` keeps its caller's return address: the
    /// word below `fp` where CALL pushed it (amd64), or the word at `sp`
    /// where the prologue stored the link register (arm64).
    pub fn return_address_slot(self, sp: u64, fp: u64) -> u64 {
        if self.uses_lr() {
            sp
        } else {
            fp - 8
        }
    }

    /// The top of a frame's locals (runtime `frame.varp`): below the pushed
    /// return address (amd64), and below the saved frame pointer when the
    /// frame has one (both: arm64 writes it one word below its SP, which
    /// is the caller's varp - 8 just as on amd64).
    pub fn locals_top(self, sp: u64, fp: u64) -> u64 {
        let mut varp = if self.uses_lr() { fp } else { fp - 8 };
        if varp > sp {
            varp -= 8;
        }
        varp
    }

    /// Where a frame's incoming arguments start (runtime `frame.argp`).
    pub fn args_start(self, fp: u64) -> u64 {
        fp + self.min_frame_size()
    }

    /// What the runtime's signal handler adds below an injected call
    /// (asyncPreempt, debugCallV2) on a link-register machine: the
    /// interrupted function's LR is saved at the injected frame's top, and
    /// the interrupted frame's SP is that many bytes higher (runtime
    /// `alignUp(sys.MinFrameSize, sys.StackAlign)`). 0 on amd64.
    pub fn injected_call_bump(self) -> u64 {
        match self {
            Arch::Amd64 => 0,
            Arch::Arm64 => 16,
        }
    }

    /// Where the kernel's signal frame keeps the registers a signal
    /// interrupted, given the `fp` of the frame of the runtime's signal
    /// trampoline (runtime.sigtramp, which the kernel entered as if called
    /// from the interrupted code). amd64: the kernel pushed the restorer's
    /// address, so the ucontext starts at `fp`, its mcontext 40 bytes in
    /// (after uc_flags, uc_link, uc_stack), with r8–r15, rdi, rsi, rbp,
    /// rbx, rdx, rax, rcx, rsp, rip first. arm64: SP pointed at the
    /// rt_sigframe, a 128-byte siginfo and then the ucontext, whose
    /// 16-aligned mcontext (after uc_flags, uc_link, uc_stack, the sigset
    /// padded to 128 bytes) starts at 176 with fault_address, x0–x30, sp,
    /// pc.
    pub fn signal_registers(self, sigtramp_fp: u64) -> SignalRegisters {
        match self {
            Arch::Amd64 => SignalRegisters { addr: sigtramp_fp + 40, count: 17, sp: 15, pc: 16, lr: None },
            Arch::Arm64 => SignalRegisters { addr: sigtramp_fp + 128 + 176 + 8, count: 33, sp: 31, pc: 32, lr: Some(30) },
        }
    }

    /// The runtime's arenaBaseOffset when DWARF does not give it: amd64
    /// addresses are sign-extended 48-bit, arm64's are not.
    pub fn arena_base_offset(self) -> i64 {
        match self {
            Arch::Amd64 => 0xffff_8000_0000_0000u64 as i64,
            Arch::Arm64 => 0,
        }
    }
}

/// The interrupted registers in a signal frame: `count` words from `addr`,
/// and which of them are the stack pointer, the program counter and the
/// link register.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SignalRegisters {
    /// Address of the first saved register.
    pub addr: u64,
    /// Saved general registers.
    pub count: usize,
    /// Index of the stack pointer among them.
    pub sp: usize,
    /// Index of the program counter.
    pub pc: usize,
    /// Index of the link register (arm64).
    pub lr: Option<usize>,
}
