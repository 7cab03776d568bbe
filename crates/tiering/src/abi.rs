//! The one calling convention of every wasm function, whichever tier compiled
//! it: Cranelift's `CallConv::Tail` on x86-64, as implemented by
//! **cranelift-codegen 0.135.8** (the version the workspace pins). The
//! baseline tier emits exactly this, so baseline code calls optimized code
//! and back without glue; host code enters through System V → Tail
//! trampolines, and compiled code calls the runtime's libcalls with the
//! System V convention (see [`Libcall`](crate::Libcall)).
//!
//! A wasm function `(p1 … pn) -> (r1 … rm)` has the machine signature
//! `(vmctx: i64, p1 … pn) -> (r1 … rm)`: the callee's vmctx is the first
//! parameter. References (`funcref`, `externref`, …) are passed as `i64`.
//!
//! # The facts, and where they come from
//!
//! All in `cranelift-codegen-0.135.8/src/isa/x64/abi.rs` unless said
//! otherwise; `X64ABIMachineSpec` is the `ABIMachineSpec` impl there.
//!
//! | fact | source |
//! |---|---|
//! | integer arguments in rdi, rsi, rdx, rcx, r8, r9 ([`INT_ARG_REGS`]) | `get_intreg_for_arg` (non-fastcall arm; counts integer arguments only) |
//! | float and vector arguments in xmm0–xmm7 ([`FLOAT_ARG_REGS`]) | `get_fltreg_for_arg` |
//! | the two classes are counted separately: a float does not use up an integer register | `X64ABIMachineSpec::compute_arg_locs` (`next_gpr` / `next_vreg`, bumped only when a register was assigned) |
//! | further arguments on the stack in order, each slot `max(size, 8)` bytes aligned to its size, the area rounded up to 16 | `compute_arg_locs` (the `else` branch of `if let Some(reg) = nextreg`, and `align_to(next_stack, 16)` at the end) |
//! | the *callee* pops the stack arguments (`ret imm16`) | `X64ABIMachineSpec::gen_return` (`stack_bytes_to_pop` = `tail_args_size` for `CallConv::Tail`); the caller side in `machinst/abi.rs`, `Callee::gen_call_info` (`callee_pop_size`) |
//! | integer results in rax, rcx, rdx, rsi, rdi, r8, r9, r10 ([`INT_RET_REGS`]) | `get_intreg_for_retval`, `CallConv::Tail` arm (r11 and r15 are kept as scratch) |
//! | float and vector results in xmm0–xmm7 ([`FLOAT_RET_REGS`]) | `get_fltreg_for_retval`, `CallConv::Tail` arm |
//! | results that do not fit go to a return area whose address is a hidden argument; without `enable_multi_ret_implicit_sret` that is an error | `compute_arg_locs` (`ArgsOrRets::Rets` with no register: `CodegenError::Unsupported("Too many return values …")`); `machinst/abi.rs`, `SigSet::from_func_sig` (`need_stack_return_area`) |
//! | the return-area pointer is the **first** integer argument, rdi, and shifts every other integer argument one register on (the vmctx goes to rsi) | `compute_arg_locs` (`if add_ret_area_ptr { next_gpr += 1; … get_intreg_for_arg(call_conv, 0, 0) }`) |
//! | return-area slots are laid out like stack arguments: `max(size, 8)` bytes aligned to the size, in result order | `compute_arg_locs` with `ArgsOrRets::Rets` |
//! | the caller places the return area just above its outgoing stack arguments | `machinst/abi.rs`, `Callee::gen_call_args` (`StackAMode::OutgoingArg(stack_arg_space)`) |
//! | callee-saved: rbx, rbp, r12, r13, r14, r15, and no xmm register ([`CALLEE_SAVED`]) | `is_callee_save_systemv`, used for `CallConv::Tail` by `compute_frame_layout`; at call sites `get_regs_clobbered_by_call` gives `SYSV_CLOBBERS` for `Tail` (rax, rcx, rdx, rsi, rdi, r8–r11, all xmm) |
//! | r15 is callee-saved only while `enable_pinned_reg` is off | `is_callee_save_systemv` (`R15 => !enable_pinned_reg`) |
//! | at a `try_call` (exceptions) a `Tail` callee clobbers *every* register | `get_regs_clobbered_by_call` (`(CallConv::Tail, true) => ALL_CLOBBERS`) |
//! | stack alignment 16 at the call; the prologue is `push rbp; mov rbp, rsp` | `X64ABIMachineSpec::stack_align`, `gen_prologue_frame_setup` |
//! | `return_call` needs `preserve_frame_pointers` (otherwise a panic in emission) | `isa/x64/inst/emit.rs`, `emit_return_call_common_sequence` (`assert!(info.flags.preserve_frame_pointers(), …)`) |
//! | `return_call` is accepted only between `Tail` functions | `verifier/mod.rs`, `typecheck_tail_call` (`supports_tail_calls`, "callee's calling convention must match caller"); `isa/call_conv.rs`, `supports_tail_calls` |
//! | an `i32` in a 64-bit register or 8-byte slot has undefined upper bits (no extension is requested) | `compute_arg_locs` keeps `param.extension`; wasm signatures use `ArgumentExtension::None`; `gen_load_stack` loads 64 bits |
//!
//! With the frame set up, stack argument `k` at offset `off` (see
//! [`Location::Stack`]) is at `[rbp + 16 + off]`; it is `[rsp + 8 + off]` on
//! entry. Checked by compiling with the pinned version: an 8-`i64` function
//! returning its 7th parameter is `55 48 89 e5 48 8b 45 10 48 89 ec 5d c2 10
//! 00` (`mov rax, [rbp+0x10]` … `ret 0x10`). [`call_layout`] was checked the
//! same way against the pinned version for 300 random signatures (vmctx plus
//! up to 21 parameters and up to 23 results of every [`AbiType`], with and
//! without a return area): every parameter and result location and every
//! `ret` immediate agreed. The optimizer's tests are the place to keep such a
//! check, since this crate does not depend on Cranelift.
//!
//! # Disagreement with DESIGN.md
//!
//! DESIGN.md says the vmctx is the first argument and that extra results go
//! through a hidden pointer "in rdi". Both hold, but together they mean the
//! vmctx is **not** always in rdi: when a signature needs a return area (more
//! than 8 integer or 8 float results), rdi carries the return-area pointer and
//! the vmctx arrives in rsi ([`VMCTX_REG_WITH_RET_AREA`]), with every other
//! integer argument one register later. [`call_layout`] computes this, and
//! tiers must take the vmctx register from it rather than assume
//! [`VMCTX_REG`]. The source is authoritative here.
//!
//! # Pinned Cranelift settings
//!
//! Both tiers must produce code for the same settings, [`CRANELIFT_SETTINGS`]:
//! `preserve_frame_pointers = true` (tail calls; frame-pointer walks for
//! traps and profilers), `enable_multi_ret_implicit_sret = true` (many
//! results), `enable_pinned_reg = false` (r15 stays callee-saved). Cranelift
//! documents the implicit-sret layout as unstable across versions, so the
//! optimizer's tests must pin [`call_layout`] against the Cranelift version in
//! use whenever it changes.
//!
//! **Invariant:** the constants and [`call_layout`] describe cranelift-codegen
//! 0.135.8's `CallConv::Tail` on x86-64 exactly; when the pinned Cranelift
//! changes, this module is re-read against its source first.

use std::fmt;

/// A register's class: general purpose or xmm.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RegClass {
    /// rax … r15.
    Int,
    /// xmm0 … xmm15 (f32, f64 and v128 values).
    Float,
}

/// An x86-64 register that the convention names. The discriminant is
/// `hw_enc()` for general-purpose registers and `16 + hw_enc()` for xmm.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u8)]
pub enum Reg {
    Rax = 0,
    Rcx = 1,
    Rdx = 2,
    Rbx = 3,
    Rsp = 4,
    Rbp = 5,
    Rsi = 6,
    Rdi = 7,
    R8 = 8,
    R9 = 9,
    R10 = 10,
    R11 = 11,
    R12 = 12,
    R13 = 13,
    R14 = 14,
    R15 = 15,
    Xmm0 = 16,
    Xmm1 = 17,
    Xmm2 = 18,
    Xmm3 = 19,
    Xmm4 = 20,
    Xmm5 = 21,
    Xmm6 = 22,
    Xmm7 = 23,
    Xmm8 = 24,
    Xmm9 = 25,
    Xmm10 = 26,
    Xmm11 = 27,
    Xmm12 = 28,
    Xmm13 = 29,
    Xmm14 = 30,
    Xmm15 = 31,
}

impl Reg {
    /// The register's class.
    pub const fn class(self) -> RegClass {
        if (self as u8) < 16 {
            RegClass::Int
        } else {
            RegClass::Float
        }
    }

    /// The hardware encoding, 0–15, as in ModRM/REX (and in Cranelift's
    /// `asm::gpr::enc` / `asm::xmm::enc`).
    pub const fn hw_enc(self) -> u8 {
        self as u8 & 15
    }

    /// The lower-case name, e.g. `"rdi"`, `"xmm0"`.
    pub const fn name(self) -> &'static str {
        const NAMES: [&str; 32] = [
            "rax", "rcx", "rdx", "rbx", "rsp", "rbp", "rsi", "rdi", "r8", "r9", "r10", "r11",
            "r12", "r13", "r14", "r15", "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6",
            "xmm7", "xmm8", "xmm9", "xmm10", "xmm11", "xmm12", "xmm13", "xmm14", "xmm15",
        ];
        NAMES[self as usize]
    }
}

impl fmt::Display for Reg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Integer (and reference, and vmctx) arguments, in order.
pub const INT_ARG_REGS: [Reg; 6] = [Reg::Rdi, Reg::Rsi, Reg::Rdx, Reg::Rcx, Reg::R8, Reg::R9];

/// Float and vector arguments, in order.
pub const FLOAT_ARG_REGS: [Reg; 8] = [
    Reg::Xmm0,
    Reg::Xmm1,
    Reg::Xmm2,
    Reg::Xmm3,
    Reg::Xmm4,
    Reg::Xmm5,
    Reg::Xmm6,
    Reg::Xmm7,
];

/// Integer (and reference) results, in order.
pub const INT_RET_REGS: [Reg; 8] = [
    Reg::Rax,
    Reg::Rcx,
    Reg::Rdx,
    Reg::Rsi,
    Reg::Rdi,
    Reg::R8,
    Reg::R9,
    Reg::R10,
];

/// Float and vector results, in order.
pub const FLOAT_RET_REGS: [Reg; 8] = FLOAT_ARG_REGS;

/// Registers a callee preserves. No xmm register is preserved.
pub const CALLEE_SAVED: [Reg; 6] = [Reg::Rbx, Reg::Rbp, Reg::R12, Reg::R13, Reg::R14, Reg::R15];

/// Where the callee's vmctx arrives when the signature has no return area
/// (at most 8 integer and 8 float results): the first integer argument.
pub const VMCTX_REG: Reg = Reg::Rdi;

/// Where the return-area pointer arrives when the signature has one.
pub const RET_AREA_PTR_REG: Reg = Reg::Rdi;

/// Where the vmctx arrives when the signature has a return area.
pub const VMCTX_REG_WITH_RET_AREA: Reg = Reg::Rsi;

/// Stack alignment at a call instruction, and the granularity of the
/// callee-popped argument area and of the return area.
pub const STACK_ALIGN: u32 = 16;

/// The smallest stack-argument or return-area slot.
pub const MIN_STACK_SLOT: u32 = 8;

/// The Cranelift settings both tiers' code assumes (`settings::builder().set(name, value)`).
pub const CRANELIFT_SETTINGS: [(&str, &str); 3] = [
    ("preserve_frame_pointers", "true"),
    ("enable_multi_ret_implicit_sret", "true"),
    ("enable_pinned_reg", "false"),
];

/// A value type as the convention sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AbiType {
    /// `i32`: an integer register (upper half undefined) or an 8-byte slot.
    I32,
    /// `i64`, references and the vmctx.
    I64,
    /// `f32`: an xmm register or an 8-byte slot.
    F32,
    /// `f64`.
    F64,
    /// `v128`: an xmm register or a 16-byte, 16-aligned slot.
    V128,
}

impl AbiType {
    /// The register class the value travels in.
    pub const fn class(self) -> RegClass {
        match self {
            AbiType::I32 | AbiType::I64 => RegClass::Int,
            AbiType::F32 | AbiType::F64 | AbiType::V128 => RegClass::Float,
        }
    }

    /// The value's size in bytes.
    pub const fn bytes(self) -> u32 {
        match self {
            AbiType::I32 | AbiType::F32 => 4,
            AbiType::I64 | AbiType::F64 => 8,
            AbiType::V128 => 16,
        }
    }

    /// The type a wasm value type travels as (references are one 64-bit
    /// word).
    pub fn of(ty: rung_decoder::wasmparser::ValType) -> AbiType {
        use rung_decoder::wasmparser::ValType;
        match ty {
            ValType::I32 => AbiType::I32,
            ValType::I64 | ValType::Ref(_) => AbiType::I64,
            ValType::F32 => AbiType::F32,
            ValType::F64 => AbiType::F64,
            ValType::V128 => AbiType::V128,
        }
    }
}

/// Where one argument or result lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Location {
    /// In a register.
    Reg(Reg),
    /// In memory at this byte offset: for an argument, from the stack pointer
    /// at the `call` instruction (`[rsp + 8 + off]` on entry,
    /// `[rbp + 16 + off]` after the prologue); for a result, from the
    /// return-area pointer.
    Stack(u32),
}

/// Where every argument and result of one signature lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallLayout {
    /// One location per parameter, the vmctx included (it is `params[0]`).
    pub params: Vec<Location>,
    /// One location per result.
    pub results: Vec<Location>,
    /// Bytes of stack arguments, a multiple of 16, which the callee pops
    /// (`ret stack_args_size`).
    pub stack_args_size: u32,
    /// Bytes of the return area, a multiple of 16; 0 when every result is in
    /// a register.
    pub ret_area_size: u32,
}

impl CallLayout {
    /// Whether the caller must pass a return-area pointer in
    /// [`RET_AREA_PTR_REG`].
    pub fn has_ret_area(&self) -> bool {
        self.ret_area_size > 0
    }

    /// The register the vmctx (`params[0]`) arrives in, if the signature has
    /// one and it is in a register.
    pub fn vmctx_reg(&self) -> Option<Reg> {
        match self.params.first() {
            Some(Location::Reg(r)) => Some(*r),
            _ => None,
        }
    }
}

/// Assigns registers of one class in order, then stack slots.
struct Assigner<'a> {
    int: &'a [Reg],
    float: &'a [Reg],
    next_int: usize,
    next_float: usize,
    next_stack: u32,
}

impl Assigner<'_> {
    fn assign(&mut self, ty: AbiType) -> Location {
        let (regs, next) = match ty.class() {
            RegClass::Int => (self.int, &mut self.next_int),
            RegClass::Float => (self.float, &mut self.next_float),
        };
        if let Some(&reg) = regs.get(*next) {
            *next += 1;
            return Location::Reg(reg);
        }
        let size = ty.bytes().max(MIN_STACK_SLOT);
        self.next_stack = self.next_stack.next_multiple_of(size);
        let offset = self.next_stack;
        self.next_stack += size;
        Location::Stack(offset)
    }

    fn area_size(&self) -> u32 {
        self.next_stack.next_multiple_of(STACK_ALIGN)
    }
}

/// The locations of a `CallConv::Tail` signature, as `compute_arg_locs`
/// computes them (results first, because they decide whether a return-area
/// pointer takes rdi). `params` includes the vmctx as its first element.
///
/// wasm limits functions to 1000 parameters and 1000 results, so the sizes
/// fit easily in a `u32`.
pub fn call_layout(params: &[AbiType], results: &[AbiType]) -> CallLayout {
    let mut rets = Assigner {
        int: &INT_RET_REGS,
        float: &FLOAT_RET_REGS,
        next_int: 0,
        next_float: 0,
        next_stack: 0,
    };
    let results: Vec<Location> = results.iter().map(|&t| rets.assign(t)).collect();
    let ret_area_size = rets.area_size();

    let mut args = Assigner {
        int: &INT_ARG_REGS,
        float: &FLOAT_ARG_REGS,
        // The return-area pointer takes the first integer register.
        next_int: usize::from(ret_area_size > 0),
        next_float: 0,
        next_stack: 0,
    };
    let params: Vec<Location> = params.iter().map(|&t| args.assign(t)).collect();
    CallLayout {
        params,
        results,
        stack_args_size: args.area_size(),
        ret_area_size,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use AbiType::*;
    use Location::{Reg as R, Stack as S};

    #[test]
    fn registers_have_their_hardware_numbers() {
        assert_eq!(Reg::Rdi.hw_enc(), 7);
        assert_eq!(Reg::R10.hw_enc(), 10);
        assert_eq!(Reg::Xmm7.hw_enc(), 7);
        assert_eq!(Reg::Xmm7.class(), RegClass::Float);
        assert_eq!(Reg::R15.class(), RegClass::Int);
        assert_eq!(Reg::Xmm15.to_string(), "xmm15");
        // No argument or result register is callee-saved.
        for r in INT_ARG_REGS.iter().chain(&INT_RET_REGS) {
            assert!(!CALLEE_SAVED.contains(r), "{r}");
        }
        assert_eq!(INT_ARG_REGS[0], VMCTX_REG);
        assert_eq!(INT_ARG_REGS[1], VMCTX_REG_WITH_RET_AREA);
    }

    #[test]
    fn classes_are_counted_separately_and_overflow_to_the_stack() {
        let mut params = vec![I64];
        params.extend([I32; 7]);
        params.extend([F64; 9]);
        params.push(V128);
        let l = call_layout(&params, &[I32]);
        assert_eq!(l.vmctx_reg(), Some(Reg::Rdi));
        assert_eq!(&l.params[..6], INT_ARG_REGS.map(R).as_slice());
        assert_eq!(l.params[6], S(0));
        assert_eq!(l.params[7], S(8));
        assert_eq!(&l.params[8..16], FLOAT_ARG_REGS.map(R).as_slice());
        assert_eq!(l.params[16], S(16));
        // A v128 slot is 16 bytes, 16-aligned.
        assert_eq!(l.params[17], S(32));
        assert_eq!(l.stack_args_size, 48);
        assert_eq!(l.results, vec![R(Reg::Rax)]);
        assert!(!l.has_ret_area());
    }

    #[test]
    fn the_stack_area_rounds_to_16() {
        let l = call_layout(&[I64; 7], &[]);
        assert_eq!(l.params[6], S(0));
        assert_eq!(l.stack_args_size, 16);
        // Eight i64 parameters: `ret 0x10`, as Cranelift 0.135.8 emits.
        assert_eq!(call_layout(&[I64; 8], &[I64]).stack_args_size, 16);
        assert_eq!(call_layout(&[I64; 9], &[I64]).stack_args_size, 32);
    }

    #[test]
    fn many_results_take_a_return_area_and_shift_the_vmctx() {
        let l = call_layout(&[I64; 6], &[I64; 10]);
        assert_eq!(&l.results[..8], INT_RET_REGS.map(R).as_slice());
        assert_eq!(&l.results[8..], &[S(0), S(8)]);
        assert_eq!(l.ret_area_size, 16);
        assert!(l.has_ret_area());
        // rdi is the return-area pointer; the vmctx is in rsi and the sixth
        // parameter goes to the stack.
        assert_eq!(l.vmctx_reg(), Some(VMCTX_REG_WITH_RET_AREA));
        assert_eq!(&l.params[..5], INT_ARG_REGS.map(R)[1..].to_vec().as_slice());
        assert_eq!(l.params[5], S(0));

        let l = call_layout(&[I64, F64], &[F64; 10]);
        assert_eq!(&l.results[8..], &[S(0), S(8)]);
        assert_eq!(l.params, vec![R(Reg::Rsi), R(Reg::Xmm0)]);

        // Mixed overflow: i32 slots are 8 bytes, v128 slots 16-aligned.
        let mut results = vec![I32; 9];
        results.push(V128);
        results.extend([F32; 8]);
        results.push(F32);
        let l = call_layout(&[I64], &results);
        assert_eq!(l.results[8], S(0));
        assert_eq!(l.results[9], R(Reg::Xmm0));
        assert_eq!(l.results[16], R(Reg::Xmm7));
        assert_eq!(l.results[17], S(8));
        assert_eq!(l.results[18], S(16));
        assert_eq!(l.ret_area_size, 32);
    }

    #[test]
    fn wasm_types_map_to_abi_types() {
        use rung_decoder::wasmparser::{RefType, ValType};
        assert_eq!(AbiType::of(ValType::I32), I32);
        assert_eq!(AbiType::of(ValType::Ref(RefType::FUNCREF)), I64);
        assert_eq!(AbiType::of(ValType::V128), V128);
    }
}
