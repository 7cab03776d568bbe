//! The register cache: which registers the code generator may hand out and
//! which of them are free, as a bitset (Winch's `RegAlloc`, Liftoff's
//! `CacheState`).
//!
//! ```text
//!   allocatable int    rax rcx rdx rsi rdi r8 r9      (caller-saved)
//!   allocatable float  xmm0 … xmm14                   (all caller-saved)
//!   scratch            r10 r11 xmm15                  (never allocated: each
//!                                                      operator's own temporaries)
//!   pinned             r14 = vmctx, r15 = memory 0's base (callee-saved,
//!                                                      saved in the prologue)
//!   frame              rbp, rsp
//!   loop-pinned locals rbx r12 r13 (callee-saved) and xmm14…xmm11 (floats
//!                      and v128s; taken from the free list while pinned;
//!                      see `frame.rs`)
//! ```
//!
//! Merges put values in the first seven integer registers and the first
//! eight xmm registers only, so a pinned xmm register never is a merge
//! destination.
//!
//! Spilling (choosing a victim when nothing is free) needs the value stack,
//! so it lives in the code generator (`context.rs`); this module only
//! keeps the set.
//!
//! **Invariant:** a register is either free or owned by exactly one value:
//! a stack entry, or an operand an operator popped and has not released.

use rung_tiering::abi::{Reg, RegClass};

/// A set of registers, one bit per `abi::Reg` discriminant.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RegSet(u32);

impl RegSet {
    pub const EMPTY: RegSet = RegSet(0);

    pub const fn of(regs: &[Reg]) -> RegSet {
        let mut bits = 0;
        let mut i = 0;
        while i < regs.len() {
            bits |= 1 << regs[i] as u32;
            i += 1;
        }
        RegSet(bits)
    }

    pub fn contains(self, r: Reg) -> bool {
        self.0 & (1 << r as u32) != 0
    }

    pub fn insert(&mut self, r: Reg) {
        self.0 |= 1 << r as u32;
    }

    pub fn remove(&mut self, r: Reg) {
        self.0 &= !(1 << r as u32);
    }

    pub const fn union(self, other: RegSet) -> RegSet {
        RegSet(self.0 | other.0)
    }

    /// The registers of `class` in the set.
    pub fn of_class(self, class: RegClass) -> RegSet {
        match class {
            RegClass::Int => RegSet(self.0 & 0xffff),
            RegClass::Float => RegSet(self.0 & 0xffff_0000),
        }
    }

    /// The lowest-numbered register in the set.
    pub fn first(self) -> Option<Reg> {
        (self.0 != 0).then(|| reg_from_index(self.0.trailing_zeros()))
    }
}

fn reg_from_index(i: u32) -> Reg {
    ALL_REGS[i as usize & 31]
}

const ALL_REGS: [Reg; 32] = [
    Reg::Rax,
    Reg::Rcx,
    Reg::Rdx,
    Reg::Rbx,
    Reg::Rsp,
    Reg::Rbp,
    Reg::Rsi,
    Reg::Rdi,
    Reg::R8,
    Reg::R9,
    Reg::R10,
    Reg::R11,
    Reg::R12,
    Reg::R13,
    Reg::R14,
    Reg::R15,
    Reg::Xmm0,
    Reg::Xmm1,
    Reg::Xmm2,
    Reg::Xmm3,
    Reg::Xmm4,
    Reg::Xmm5,
    Reg::Xmm6,
    Reg::Xmm7,
    Reg::Xmm8,
    Reg::Xmm9,
    Reg::Xmm10,
    Reg::Xmm11,
    Reg::Xmm12,
    Reg::Xmm13,
    Reg::Xmm14,
    Reg::Xmm15,
];

/// Integer registers the allocator hands out, in the order merges assign
/// them (the first seven of `abi::INT_RET_REGS`, so call results are
/// already where a block result wants them).
pub const INT_REGS: [Reg; 7] = [
    Reg::Rax,
    Reg::Rcx,
    Reg::Rdx,
    Reg::Rsi,
    Reg::Rdi,
    Reg::R8,
    Reg::R9,
];

/// Float registers merges put values in, in order: the float result
/// registers, so call results are already where a block result wants them.
pub const MERGE_FLOAT_REGS: [Reg; 8] = rung_tiering::abi::FLOAT_RET_REGS;

/// Float registers the allocator hands out (lowest first).
pub const FLOAT_REGS: [Reg; 15] = [
    Reg::Xmm0,
    Reg::Xmm1,
    Reg::Xmm2,
    Reg::Xmm3,
    Reg::Xmm4,
    Reg::Xmm5,
    Reg::Xmm6,
    Reg::Xmm7,
    Reg::Xmm8,
    Reg::Xmm9,
    Reg::Xmm10,
    Reg::Xmm11,
    Reg::Xmm12,
    Reg::Xmm13,
    Reg::Xmm14,
];

/// Every allocatable register.
pub const ALLOCATABLE: RegSet = RegSet::of(&INT_REGS).union(RegSet::of(&FLOAT_REGS));

/// The integer scratch registers: never allocated, free to use inside one
/// operator's sequence. `SCRATCH` is also the parallel-move temporary.
pub const SCRATCH: Reg = Reg::R11;
pub const SCRATCH2: Reg = Reg::R10;
/// The float scratch register.
pub const FSCRATCH: Reg = Reg::Xmm15;
/// The vmctx, for the whole function.
pub const VMCTX: Reg = Reg::R14;
/// Memory 0's base, when the module has a 32-bit memory 0.
pub const HEAP_BASE: Reg = Reg::R15;

/// The free list.
#[derive(Debug, Clone, Copy)]
pub struct RegAlloc {
    free: RegSet,
    /// Counts allocations; `stamp[r]` is the count when `r` was last taken
    /// (tells whether a register was used since a loop's entry).
    pub tick: u32,
    stamp: [u32; 32],
}

impl Default for RegAlloc {
    fn default() -> Self {
        RegAlloc {
            free: ALLOCATABLE,
            tick: 0,
            stamp: [0; 32],
        }
    }
}

impl RegAlloc {
    /// Takes the first free register of `class`.
    pub fn take(&mut self, class: RegClass) -> Option<Reg> {
        let r = self.free.of_class(class).first()?;
        self.free.remove(r);
        self.tick += 1;
        self.stamp[r as usize] = self.tick;
        Some(r)
    }

    /// Takes `r` if it is free.
    pub fn take_specific(&mut self, r: Reg) -> bool {
        if self.free.contains(r) {
            self.free.remove(r);
            self.tick += 1;
            self.stamp[r as usize] = self.tick;
            true
        } else {
            false
        }
    }

    /// Stamps `r` as used now (a pinned register outside the free list).
    pub fn mark(&mut self, r: Reg) {
        self.tick += 1;
        self.stamp[r as usize] = self.tick;
    }

    /// Whether `r` was taken after tick `since`.
    pub fn taken_since(&self, r: Reg, since: u32) -> bool {
        self.stamp[r as usize] > since
    }

    pub fn is_free(&self, r: Reg) -> bool {
        self.free.contains(r)
    }

    pub fn release(&mut self, r: Reg) {
        if ALLOCATABLE.contains(r) {
            self.free.insert(r);
        }
    }

    /// Everything free again (after a call, or at a merge before the
    /// merge's registers are taken).
    pub fn reset(&mut self) {
        self.free = ALLOCATABLE;
    }
}
