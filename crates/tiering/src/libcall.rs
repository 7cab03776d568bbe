//! `Libcall`: the runtime functions compiled code may call, and their
//! signatures.
//!
//! Compiled code never calls the runtime by address: it loads the table
//! pointer from [`VmOffsets::libcalls`](crate::VmOffsets::libcalls), then the
//! entry at `Libcall::index() * pointer_size`, and calls it. That is what
//! keeps code position independent.
//!
//! **Calling convention:** libcalls are ordinary host functions, so they use
//! the platform C convention — System V on x86-64 (`extern "sysv64"`), *not*
//! the wasm convention of [`abi`](crate::abi). The callee-saved registers of
//! both are the same (rbx, rbp, r12–r15), so wasm code keeps its pinned values
//! across a libcall.
//!
//! **Invariants:**
//! - `Libcall::ALL[l.index()] == l`; indices are dense from 0 to
//!   `Libcall::COUNT - 1` and a variant keeps its index once it has one (the
//!   table layout is part of the vmctx contract).
//! - The first parameter of every libcall is the calling instance's vmctx.
//! - A libcall that traps does not return: it unwinds to the host entry
//!   trampoline (DESIGN.md, "Memory, traps, stacks"). Compiled code therefore
//!   needs no error check after a call.
//!
//! Index operands (memory, table, data or element segment, function) are the
//! module's absolute indices (imports first). Addresses, lengths and deltas
//! are passed as `i64` whatever the index type of the memory or table:
//! compiled code zero-extends an `i32` operand of a 32-bit memory or table, so
//! the runtime has one entry point for both (memory64 and table64 included).

use std::fmt;

/// A parameter or result type of a libcall, as the caller must pass it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LibcallType {
    /// A 32-bit integer (in a 64-bit register, upper half ignored).
    I32,
    /// A 64-bit integer.
    I64,
    /// A pointer-sized value: the vmctx, or a reference (a pointer to a
    /// funcref record, an externref, or null).
    Ptr,
}

impl fmt::Display for LibcallType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            LibcallType::I32 => "i32",
            LibcallType::I64 => "i64",
            LibcallType::Ptr => "ptr",
        })
    }
}

/// A runtime function compiled code may call through the vmctx's libcall
/// table. Each variant documents its signature as
/// `(params) -> results`; [`Libcall::params`] and [`Libcall::results`] give
/// the same as data.
///
/// Memory size and table size are *not* libcalls: they are read inline from
/// the vmctx ([`VmOffsets::memory_length`](crate::VmOffsets::memory_length),
/// [`VmOffsets::table_len`](crate::VmOffsets::table_len)).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u8)]
pub enum Libcall {
    /// `(vmctx: ptr, memory: i32, delta_pages: i64) -> i64`: `memory.grow`.
    /// Returns the old size in pages, or -1 if the memory could not grow.
    /// The base never moves (DESIGN.md: memory is reserved once), but the
    /// length in the vmctx changes, so code must reload it after this call.
    MemoryGrow = 0,
    /// `(vmctx: ptr, memory: i32, dst: i64, value: i32, len: i64)`:
    /// `memory.fill`. Traps with `MemoryOutOfBounds`.
    MemoryFill = 1,
    /// `(vmctx: ptr, dst_memory: i32, src_memory: i32, dst: i64, src: i64,
    /// len: i64)`: `memory.copy`. Traps with `MemoryOutOfBounds`.
    MemoryCopy = 2,
    /// `(vmctx: ptr, memory: i32, data: i32, dst: i64, src: i32, len: i32)`:
    /// `memory.init`. Traps with `MemoryOutOfBounds`.
    MemoryInit = 3,
    /// `(vmctx: ptr, data: i32)`: `data.drop`.
    DataDrop = 4,
    /// `(vmctx: ptr, table: i32, delta: i64, init: ptr) -> i64`:
    /// `table.grow`. Returns the old length, or -1. The table's base may
    /// move, so code must reload base and length after this call.
    TableGrow = 5,
    /// `(vmctx: ptr, table: i32, dst: i64, value: ptr, len: i64)`:
    /// `table.fill`. Traps with `TableOutOfBounds`.
    TableFill = 6,
    /// `(vmctx: ptr, dst_table: i32, src_table: i32, dst: i64, src: i64,
    /// len: i64)`: `table.copy`. Traps with `TableOutOfBounds`.
    TableCopy = 7,
    /// `(vmctx: ptr, table: i32, elem: i32, dst: i64, src: i32, len: i32)`:
    /// `table.init`. Traps with `TableOutOfBounds`.
    TableInit = 8,
    /// `(vmctx: ptr, elem: i32)`: `elem.drop`.
    ElemDrop = 9,
    /// `(vmctx: ptr, table: i32, index: i64) -> ptr`: `table.get` (and the
    /// slow path of `call_indirect`) on a table whose entries are created
    /// lazily: the runtime materializes the entry and returns it. Traps with
    /// `TableOutOfBounds`.
    TableGet = 10,
    /// `(vmctx: ptr, table: i32, index: i64, value: ptr)`: `table.set` on a
    /// table the runtime manages (lazily initialized or needing a barrier).
    /// Traps with `TableOutOfBounds`.
    TableSet = 11,
    /// `(vmctx: ptr, func: i32) -> ptr`: `ref.func` when the funcref record
    /// is not known to be initialized; returns a pointer to the record.
    RefFunc = 12,
    /// `(vmctx: ptr, code: i32) -> !`: raise a trap; `code` is
    /// [`TrapCode::as_u8`](crate::TrapCode::as_u8). Never returns. Stack
    /// overflow is `Trap(StackOverflow)`, called after the prologue's
    /// `sp < stack_limit` check failed: the runtime sets `stack_limit` far
    /// enough above the real end of the stack that any libcall still runs.
    Trap = 13,
    /// `(vmctx: ptr, func: i32)`: a function's tier-up budget reached zero
    /// (see [`TierUpPolicy`](crate::TierUpPolicy)). The runtime asks the
    /// policy, resets the budget in memory and returns; the running frame
    /// continues in the code it started in.
    TierUp = 14,
    /// `(vmctx: ptr, func: i32, frame: ptr, saved: ptr, at: ptr) -> (ptr,
    /// ptr)`: as `TierUp`, from a loop back-edge that recorded an OSR exit
    /// (see [`osr`](crate::osr)): `frame` is the frame pointer, `saved` the
    /// tier-up routine's save area, `at` the routine's return address
    /// (which names the back-edge). Returns `(entry, buffer)`: an OSR entry
    /// to jump to with the vmctx and `buffer`, the frame's values copied
    /// into it in the OSR layout; or `(null, _)`: continue in this code.
    TierUpOsr = 15,
    /// `(vmctx: ptr, memory: i32) -> i64`: `memory.size` of a shared
    /// memory, in pages. Its length may change on any thread, and only the
    /// shared memory's own definition is current (ARCHITECTURE.md,
    /// "Threads"), so it is read by the runtime, not inline.
    SharedMemorySize = 16,
    /// `(vmctx: ptr, memory: i32, addr: i64, expected: i32, timeout: i64,
    /// offset: i64) -> i32`: `memory.atomic.wait32` at `addr + offset`.
    /// Returns 0 (woken), 1 (not equal) or 2 (timed out); traps with
    /// `HeapMisaligned`, `MemoryOutOfBounds` or `AtomicWaitNonShared`.
    MemoryAtomicWait32 = 17,
    /// `(vmctx: ptr, memory: i32, addr: i64, expected: i64, timeout: i64,
    /// offset: i64) -> i32`: `memory.atomic.wait64`, as `MemoryAtomicWait32`.
    MemoryAtomicWait64 = 18,
    /// `(vmctx: ptr, memory: i32, addr: i64, count: i32, offset: i64) ->
    /// i32`: `memory.atomic.notify` at `addr + offset`; returns how many
    /// waiters it woke. Traps with `HeapMisaligned` or `MemoryOutOfBounds`.
    MemoryAtomicNotify = 19,
    /// `(vmctx: ptr, tag: i32) -> ptr`: `throw $tag`'s first half: a new
    /// exception object of tag `tag` (the module's index), whose payload
    /// cells the code then fills (see
    /// [`EXN_VALUES`](crate::vmoffsets::EXN_VALUES)). Returns the `exnref`.
    ExnNew = 20,
    /// `(vmctx: ptr, exn: ptr) -> !`: throws exception object `exn`
    /// (`throw`'s second half, `throw_ref`, `rethrow`, and a landing pad
    /// whose clauses did not match). Traps with `NullExceptionReference`
    /// if `exn` is null. Never returns: it resumes at the landing pad of
    /// the innermost call site in scope of a handler, or raises the
    /// uncaught exception to the host.
    ThrowRef = 21,
    /// `(vmctx: ptr, size: i64) -> ptr`: the slow path of a GC allocation
    /// (see [`gc`](crate::gc)): the inline bump in the store's
    /// [`GcCtx`](crate::gc::GC_CTX_BUMP) did not fit in the current block.
    /// Returns `size` bytes (8-aligned, not initialized) and leaves the
    /// context's bump and limit on a new block; the code writes the
    /// header and every field. Traps with `GcHeapExhausted`.
    GcAlloc = 22,
    /// `(vmctx: ptr, sub: i32, sup: i32) -> i32`: whether canonical type
    /// `sub` is a subtype of canonical type `sup` (1) or not (0), by
    /// `sub`'s supertype display: the slow path of a cast to a type that
    /// is not final, after the exact compare failed.
    GcSubtype = 23,
    /// `(vmctx: ptr, type: i32, data: i32, offset: i32, len: i32) -> ptr`:
    /// `array.new_data` (`type` is the module's type index). Traps with
    /// `MemoryOutOfBounds` or `GcHeapExhausted`.
    ArrayNewData = 24,
    /// `(vmctx: ptr, type: i32, elem: i32, offset: i32, len: i32) -> ptr`:
    /// `array.new_elem`. Traps with `TableOutOfBounds` or
    /// `GcHeapExhausted`.
    ArrayNewElem = 25,
    /// `(vmctx: ptr, data: i32, array: ptr, dst: i32, src: i32, len: i32)`:
    /// `array.init_data` on a non-null array. Traps with
    /// `ArrayOutOfBounds` or `MemoryOutOfBounds`.
    ArrayInitData = 26,
    /// `(vmctx: ptr, elem: i32, array: ptr, dst: i32, src: i32, len: i32)`:
    /// `array.init_elem` on a non-null array. Traps with
    /// `ArrayOutOfBounds` or `TableOutOfBounds`.
    ArrayInitElem = 27,
    /// `(vmctx: ptr, dst: ptr, dst_index: i32, src: ptr, src_index: i32,
    /// len: i32)`: `array.copy` between non-null arrays (overlap allowed).
    /// Traps with `ArrayOutOfBounds`.
    ArrayCopy = 28,
}

use LibcallType::{I32, I64, Ptr};

impl Libcall {
    /// How many libcalls there are: the length of the vmctx's libcall table.
    pub const COUNT: usize = 29;

    /// Every libcall, in `index()` order.
    pub const ALL: [Libcall; Libcall::COUNT] = [
        Libcall::MemoryGrow,
        Libcall::MemoryFill,
        Libcall::MemoryCopy,
        Libcall::MemoryInit,
        Libcall::DataDrop,
        Libcall::TableGrow,
        Libcall::TableFill,
        Libcall::TableCopy,
        Libcall::TableInit,
        Libcall::ElemDrop,
        Libcall::TableGet,
        Libcall::TableSet,
        Libcall::RefFunc,
        Libcall::Trap,
        Libcall::TierUp,
        Libcall::TierUpOsr,
        Libcall::SharedMemorySize,
        Libcall::MemoryAtomicWait32,
        Libcall::MemoryAtomicWait64,
        Libcall::MemoryAtomicNotify,
        Libcall::ExnNew,
        Libcall::ThrowRef,
        Libcall::GcAlloc,
        Libcall::GcSubtype,
        Libcall::ArrayNewData,
        Libcall::ArrayNewElem,
        Libcall::ArrayInitData,
        Libcall::ArrayInitElem,
        Libcall::ArrayCopy,
    ];

    /// The libcall's slot in the vmctx's libcall table.
    pub const fn index(self) -> usize {
        self as usize
    }

    /// The libcall in slot `index`, if there is one.
    pub const fn from_index(index: usize) -> Option<Libcall> {
        if index < Libcall::COUNT {
            Some(Libcall::ALL[index])
        } else {
            None
        }
    }

    /// A short snake_case name, for disassembly comments and profiles.
    pub const fn name(self) -> &'static str {
        match self {
            Libcall::MemoryGrow => "memory_grow",
            Libcall::MemoryFill => "memory_fill",
            Libcall::MemoryCopy => "memory_copy",
            Libcall::MemoryInit => "memory_init",
            Libcall::DataDrop => "data_drop",
            Libcall::TableGrow => "table_grow",
            Libcall::TableFill => "table_fill",
            Libcall::TableCopy => "table_copy",
            Libcall::TableInit => "table_init",
            Libcall::ElemDrop => "elem_drop",
            Libcall::TableGet => "table_get",
            Libcall::TableSet => "table_set",
            Libcall::RefFunc => "ref_func",
            Libcall::Trap => "trap",
            Libcall::TierUp => "tier_up",
            Libcall::TierUpOsr => "tier_up_osr",
            Libcall::SharedMemorySize => "shared_memory_size",
            Libcall::MemoryAtomicWait32 => "memory_atomic_wait32",
            Libcall::MemoryAtomicWait64 => "memory_atomic_wait64",
            Libcall::MemoryAtomicNotify => "memory_atomic_notify",
            Libcall::ExnNew => "exn_new",
            Libcall::ThrowRef => "throw_ref",
            Libcall::GcAlloc => "gc_alloc",
            Libcall::GcSubtype => "gc_subtype",
            Libcall::ArrayNewData => "array_new_data",
            Libcall::ArrayNewElem => "array_new_elem",
            Libcall::ArrayInitData => "array_init_data",
            Libcall::ArrayInitElem => "array_init_elem",
            Libcall::ArrayCopy => "array_copy",
        }
    }

    /// The parameters, vmctx first.
    pub const fn params(self) -> &'static [LibcallType] {
        match self {
            Libcall::MemoryGrow => &[Ptr, I32, I64],
            Libcall::MemoryFill => &[Ptr, I32, I64, I32, I64],
            Libcall::MemoryCopy => &[Ptr, I32, I32, I64, I64, I64],
            Libcall::MemoryInit => &[Ptr, I32, I32, I64, I32, I32],
            Libcall::DataDrop => &[Ptr, I32],
            Libcall::TableGrow => &[Ptr, I32, I64, Ptr],
            Libcall::TableFill => &[Ptr, I32, I64, Ptr, I64],
            Libcall::TableCopy => &[Ptr, I32, I32, I64, I64, I64],
            Libcall::TableInit => &[Ptr, I32, I32, I64, I32, I32],
            Libcall::ElemDrop => &[Ptr, I32],
            Libcall::TableGet => &[Ptr, I32, I64],
            Libcall::TableSet => &[Ptr, I32, I64, Ptr],
            Libcall::RefFunc => &[Ptr, I32],
            Libcall::Trap => &[Ptr, I32],
            Libcall::TierUp => &[Ptr, I32],
            Libcall::TierUpOsr => &[Ptr, I32, Ptr, Ptr, Ptr],
            Libcall::SharedMemorySize => &[Ptr, I32],
            Libcall::MemoryAtomicWait32 => &[Ptr, I32, I64, I32, I64, I64],
            Libcall::MemoryAtomicWait64 => &[Ptr, I32, I64, I64, I64, I64],
            Libcall::MemoryAtomicNotify => &[Ptr, I32, I64, I32, I64],
            Libcall::ExnNew => &[Ptr, I32],
            Libcall::ThrowRef => &[Ptr, Ptr],
            Libcall::GcAlloc => &[Ptr, I64],
            Libcall::GcSubtype => &[Ptr, I32, I32],
            Libcall::ArrayNewData | Libcall::ArrayNewElem => &[Ptr, I32, I32, I32, I32],
            Libcall::ArrayInitData | Libcall::ArrayInitElem => &[Ptr, I32, Ptr, I32, I32, I32],
            Libcall::ArrayCopy => &[Ptr, Ptr, I32, Ptr, I32, I32],
        }
    }

    /// The results (none, one, or two in `rax:rdx`).
    pub const fn results(self) -> &'static [LibcallType] {
        match self {
            Libcall::MemoryGrow | Libcall::TableGrow | Libcall::SharedMemorySize => &[I64],
            Libcall::MemoryAtomicWait32
            | Libcall::MemoryAtomicWait64
            | Libcall::MemoryAtomicNotify => &[I32],
            Libcall::TableGet
            | Libcall::RefFunc
            | Libcall::ExnNew
            | Libcall::GcAlloc
            | Libcall::ArrayNewData
            | Libcall::ArrayNewElem => &[Ptr],
            Libcall::GcSubtype => &[I32],
            Libcall::TierUpOsr => &[Ptr, Ptr],
            _ => &[],
        }
    }

    /// Whether the libcall never returns ([`Libcall::Trap`] and
    /// [`Libcall::ThrowRef`]).
    pub const fn never_returns(self) -> bool {
        matches!(self, Libcall::Trap | Libcall::ThrowRef)
    }
}

impl fmt::Display for Libcall {
    /// The signature, e.g. `memory_grow(ptr, i32, i64) -> i64`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}(", self.name())?;
        for (i, p) in self.params().iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{p}")?;
        }
        f.write_str(")")?;
        if self.never_returns() {
            f.write_str(" -> !")?;
        }
        match self.results() {
            [r] => write!(f, " -> {r}")?,
            [a, b] => write!(f, " -> ({a}, {b})")?,
            _ => {}
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn indices_are_dense_and_stable() {
        for (i, l) in Libcall::ALL.iter().enumerate() {
            assert_eq!(l.index(), i);
            assert_eq!(Libcall::from_index(i), Some(*l));
        }
        assert_eq!(Libcall::from_index(Libcall::COUNT), None);
    }

    #[test]
    fn every_libcall_takes_vmctx_first_and_fits_in_registers() {
        for l in Libcall::ALL {
            assert_eq!(l.params().first(), Some(&LibcallType::Ptr), "{l}");
            // System V passes six integer arguments in registers.
            assert!(l.params().len() <= 6, "{l}");
            // System V returns two integers in rax:rdx.
            assert!(l.results().len() <= 2, "{l}");
        }
        let mut names: Vec<_> = Libcall::ALL.iter().map(|l| l.name()).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), Libcall::COUNT);
    }

    #[test]
    fn display_is_the_signature() {
        assert_eq!(
            Libcall::MemoryGrow.to_string(),
            "memory_grow(ptr, i32, i64) -> i64"
        );
        assert_eq!(Libcall::Trap.to_string(), "trap(ptr, i32) -> !");
        assert_eq!(
            Libcall::TierUpOsr.to_string(),
            "tier_up_osr(ptr, i32, ptr, ptr, ptr) -> (ptr, ptr)"
        );
    }
}
