//! rung-baseline: the single-pass baseline tier. It validates and compiles
//! a function body in one walk over its operators, emitting x86-64 with
//! dynasmrt as it goes, Liftoff/Winch-style: no IR, no second pass.
//!
//! ```text
//! FunctionBody ─► locals ─► prologue ─► for each operator:
//!                                         validate (rung-validator, optional)
//!                                         visitor.rs: one function per operator
//!                                           │ context.rs: value stack, registers, frame
//!                                           │ control.rs: blocks, merges, branches
//!                                           ▼
//!                                         masm.rs: instruction sequences
//!                                           ▼
//!                                         asm.rs: dynasmrt (the only encoder user)
//!              ─► out-of-line traps and tier-up calls ─► CompiledFunction
//! ```
//!
//! Modules, one job each: `walk` (the operator walk: decode once, validate,
//! compile), `stack` (what a value stack entry is), `regalloc` (the
//! register cache), `frame` (frame layout, prologue, loop-pinned locals),
//! `context` (the code generator's state and stack primitives), `moves`
//! (parallel moves), `control` (blocks, merges, branches), `call` (calls,
//! tail calls, libcalls), `memory` (linear memory, globals, tables),
//! `numeric` (arithmetic, comparisons as Liftoff's outstanding op,
//! conversions), `visitor` (one function per operator), `masm`
//! (instruction sequences, traps, out-of-line code), `asm` (the encoder).
//!
//! ```text
//!   value stack entry:  Const(bits) | Reg(r) | Local(i) | Mem (its own slot)
//!   register cache:     free-list bitset; spill the deepest register entry on demand
//!   merges:             canonical registers (rax rcx rdx rsi rdi r8 r9 / xmm0-7), then slots
//!   spills:             at calls, block/loop/if entries, register pressure
//!   locals:             frame slots; loop-pinned to rbx r12 r13 / xmm14-11 (floats and v128; write-through)
//!   pinned:             r14 = vmctx, r15 = memory 0's base; r10 r11 xmm15 scratch
//! ```
//!
//! **Contract** ([`rung_tiering`]): code is position independent (every
//! call goes through the vmctx, every label is PC-relative); functions use
//! the [`rung_tiering::abi`] `Tail` convention, so baseline and optimized
//! code call each other directly; every trap is a `ud2` recorded as a
//! [`rung_tiering::TrapSite`] with the operator's offset in the offset map;
//! the prologue checks the stack limit and charges the tier-up budget,
//! loop back-edges charge it again. Everything outside the tier's coverage
//! (SIMD without SSE4.1, threads, exceptions, GC, memory64 and 64-bit tables) is
//! `CompileError::Unsupported` at the first such operator or type, and the
//! runtime uses the next tier.
//!
//! **Compile speed:** per-function allocations (value and control stacks,
//! the assembler's buffers and label tables, the validator's stacks) live in
//! a thread-local pool and are reused; the walk reads each operator once.

mod asm;
mod atomic;
mod call;
mod context;
mod control;
mod exceptions;
mod frame;
mod masm;
mod memory;
mod moves;
mod numeric;
mod regalloc;
mod simd;
mod stack;
mod visitor;
mod walk;

use std::cell::RefCell;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::time::Instant;

use rung_tiering::abi::{CallLayout, Location, Reg};
use rung_tiering::{
    CompileError, CompileOptions, CompileStats, CompiledFunction, FunctionBody, HandlerSite,
    ModuleEnv, Tier, TrapCode, VmOffsets,
};
use rung_validator::{FuncJob, FuncValidatorAllocations, FunctionValidator, WasmFunctionValidator};
use wasmparser::{BinaryReader, OperatorsReader, ValType};

use crate::asm::{Alu, Cc, Mem, Size};
use crate::context::{CodeGen, Pool};
use crate::frame::{RET_AREA_SLOT, SAVED_HEAP_BASE, SAVED_PIN_REGS, SAVED_VMCTX};
use crate::masm::TierUpCall;
use crate::regalloc::{HEAP_BASE, SCRATCH, VMCTX};
use crate::stack::Ty;

pub use masm::Features;

/// The baseline tier. Holds only the CPU features it may use.
#[derive(Debug, Clone, Copy)]
pub struct BaselineTier {
    features: Features,
}

impl Default for BaselineTier {
    fn default() -> Self {
        BaselineTier::new()
    }
}

/// A body larger than this does not give its allocations back to the
/// thread's pool: the pool would hold memory for the largest function the
/// thread ever compiled for the rest of the process (cc1: ~10 MiB over
/// three compile threads); the rare large function allocates afresh
/// instead.
const POOL_MAX_BODY: usize = 64 << 10;

thread_local! {
    static POOL: RefCell<Option<Pool>> = const { RefCell::new(None) };
    static VALIDATOR_ALLOCS: RefCell<Option<FuncValidatorAllocations>> = const { RefCell::new(None) };
}

/// The most locals a function may have (wasmparser's limit).
const MAX_LOCALS: u64 = 50_000;

impl BaselineTier {
    /// The tier for the host CPU's features.
    pub fn new() -> BaselineTier {
        BaselineTier {
            features: Features::host(),
        }
    }

    /// The tier for a fixed feature set (reproducible code in tests).
    pub fn with_features(features: Features) -> BaselineTier {
        BaselineTier { features }
    }

    pub fn features(&self) -> Features {
        self.features
    }

    fn compile_with(
        &self,
        env: &ModuleEnv,
        index: u32,
        body: FunctionBody<'_>,
        offsets: &VmOffsets,
        options: &CompileOptions,
        validator: Option<&mut WasmFunctionValidator>,
    ) -> Result<CompiledFunction, CompileError> {
        let start = Instant::now();
        let pool = POOL.with(|p| p.borrow_mut().take()).unwrap_or_default();
        let body_len = body.bytes.len();
        let mut outcome = None;
        let caught = catch_unwind(AssertUnwindSafe(|| {
            let mut cg = CodeGen::new(pool, env, offsets, index);
            cg.interrupt_checks = options.interrupt_checks;
            cg.tier_up_checks = options.tier_up_checks;
            cg.osr = options.osr && options.tier_up_checks;
            let r = compile_function(&mut cg, self.features, body, validator).map_err(|e| *e);
            if r.is_err() {
                cg.masm.asm.reset();
            }
            outcome = Some(cg.into_pool());
            r
        }));
        let mut f = match caught {
            Ok(r) => {
                if let Some(pool) = outcome
                    && body_len <= POOL_MAX_BODY
                {
                    POOL.with(|p| *p.borrow_mut() = Some(pool));
                }
                r?
            }
            Err(payload) => {
                // The pool may be half-updated: drop it.
                let msg = rung_tiering::panic_message(&*payload);
                return Err(CompileError::Internal(format!(
                    "baseline: panic while compiling function {index}: {msg}"
                )));
            }
        };
        f.stats.wasm_bytes = body.bytes.len();
        f.stats.compile_time = start.elapsed();
        Ok(f)
    }
}

impl Tier for BaselineTier {
    fn name(&self) -> &'static str {
        "baseline"
    }

    /// Compiles a body assumed valid (no validation).
    fn compile(
        &self,
        env: &ModuleEnv,
        index: u32,
        body: FunctionBody<'_>,
        offsets: &VmOffsets,
        options: &CompileOptions,
    ) -> Result<CompiledFunction, CompileError> {
        self.compile_with(env, index, body, offsets, options, None)
    }

    /// Validates function `index` operator by operator through `job` while
    /// compiling it: one walk, no second decode. A validation error is
    /// `CompileError::Invalid` with wasmparser's message and the absolute
    /// offset; `Unsupported` stops the walk at the first operator the tier
    /// does not compile (the rest of the body is then not validated here).
    fn compile_validating(
        &self,
        env: &ModuleEnv,
        index: u32,
        body: FunctionBody<'_>,
        offsets: &VmOffsets,
        options: &CompileOptions,
        job: FuncJob,
    ) -> Result<CompiledFunction, CompileError> {
        let allocs = VALIDATOR_ALLOCS
            .with(|a| a.borrow_mut().take())
            .unwrap_or_default();
        let mut validator = job.into_validator(allocs);
        let result = self.compile_with(env, index, body, offsets, options, Some(&mut validator));
        VALIDATOR_ALLOCS.with(|a| *a.borrow_mut() = Some(validator.into_allocations()));
        result
    }
}

fn invalid(func: u32, e: &wasmparser::BinaryReaderError) -> CompileError {
    CompileError::invalid(func, e)
}

fn validate_error(e: rung_validator::ValidateError, func: u32) -> CompileError {
    CompileError::Invalid {
        message: e.message,
        offset: e.offset,
        func: e.func.unwrap_or(func),
    }
}

/// The whole walk of one function.
fn compile_function(
    cg: &mut CodeGen<'_>,
    features: Features,
    body: FunctionBody<'_>,
    mut validator: Option<&mut WasmFunctionValidator>,
) -> context::Result<CompiledFunction> {
    let env = cg.env;
    let offsets = cg.offsets;
    let index = cg.func;
    cg.offset = body.offset;
    if offsets.pointer_size() != 8 {
        return Err(Box::new(CompileError::Internal(format!(
            "the baseline targets 64-bit pointers; the vmctx layout has {}",
            offsets.pointer_size()
        ))));
    }
    if index < env.num_imported_functions() {
        return Err(cg.internal("function is imported and has no body"));
    }
    let ty = env
        .func_type(index)
        .ok_or_else(|| cg.internal("function has no function type"))?;
    cg.masm.reset(features, body.bytes.len());
    cg.masm.begin_op(body.offset as u32);

    // Signature and locals.
    let type_index = *env
        .functions
        .get(index as usize)
        .ok_or_else(|| cg.internal("function index out of range"))?;
    cg.frame.type_index = type_index;
    cg.frame.params.clear();
    cg.frame.results.clear();
    for &p in ty.params() {
        let t = Ty::of_simd(p).ok_or_else(|| cg.unsupported("simd: v128 parameter"))?;
        cg.frame.params.push(t);
    }
    for &r in ty.results() {
        let t = Ty::of_simd(r).ok_or_else(|| cg.unsupported("simd: v128 result"))?;
        cg.frame.results.push(t);
    }
    let v128_sig = cg
        .frame
        .params
        .iter()
        .chain(&cg.frame.results)
        .any(|&t| t == Ty::V128);
    if v128_sig && !features.sse41 {
        return Err(cg.unsupported("simd without SSE4.1"));
    }
    let layout = cg.take_layout(type_index)?;
    let mut reader = env.body_reader(&body).get_binary_reader();
    read_locals(&mut reader, index, &mut validator, cg)?;
    let (lowest, count) = cg.frame.lay_out(&layout);
    if cg.frame.locals.iter().any(|l| l.ty == Ty::V128) {
        // OSR slots are 8 bytes: no OSR exits with v128 locals.
        cg.osr = false;
    }
    // An OSR entry is jumped to with this frame's return address and must
    // pop what this function would: no stack parameters, no return area.
    cg.osr &= layout.stack_args_size == 0 && !layout.has_ret_area();
    cg.frame.pins_heap = !env.memories.is_empty();
    emit_prologue(cg, &layout, lowest, count)?;
    cg.put_layout(type_index, layout);
    cg.open_function()?;

    // Operators: decoded once, validated, compiled.
    let mut ops = OperatorsReader::new_with_allocs(reader, std::mem::take(&mut cg.reader));
    let mut walker = walk::Walker {
        cg,
        validator: validator.as_deref_mut(),
    };
    while !ops.eof() {
        walker.cg.offset = ops.original_position();
        ops.visit_operator(&mut walker)
            .map_err(|e| invalid(index, &e))??;
    }
    let cg = walker.cg;
    if cg.v128_spill {
        return Err(cg.unsupported("simd: a v128 spill past the positions a slot tag names"));
    }
    let end = ops.original_position();
    cg.reader = ops.into_allocations();
    if let Some(v) = validator {
        v.finish(end).map_err(|e| validate_error(e, index))?;
    }
    if !cg.control.is_empty() {
        return Err(cg.internal("function body ends inside a block"));
    }

    // Out-of-line code, labels, the frame size.
    let libcalls = i32::try_from(offsets.libcalls()).map_err(|_| cg.internal("vmctx offset"))?;
    let entry = offsets.libcall(rung_tiering::Libcall::TierUp) as i32;
    let osr = (!cg.masm.osr.loops.is_empty()).then(|| {
        let entry = offsets.libcall(rung_tiering::Libcall::TierUpOsr) as i32;
        (entry, cg.masm.asm.new_label())
    });
    cg.masm.emit_out_of_line(TierUpCall {
        libcalls,
        entry,
        osr,
        func: index,
    });
    if let Some((_, switch)) = osr {
        emit_osr_switch(cg, switch);
    }
    let mut code = cg.masm.asm.finish().map_err(|e| cg.internal(&e))?;
    let patches = std::mem::take(&mut cg.masm.asm.v128_slot_patches);
    let v128_slots = patches.iter().map(|&(_, pos)| pos + 1).max().unwrap_or(0);
    let frame_bytes = cg.frame.frame_bytes(v128_slots);
    if frame_bytes > (1 << 30) {
        return Err(Box::new(CompileError::ImplLimit {
            message: format!("frame of {frame_bytes} bytes"),
            offset: body.offset,
        }));
    }
    asm::Assembler::patch_i32(&mut code, cg.frame.frame_patch, -(frame_bytes as i32));
    for &(at, pos) in &patches {
        asm::Assembler::patch_i32(&mut code, at, cg.frame.v128_slot_disp(pos));
    }
    cg.masm.asm.v128_slot_patches = patches;
    cg.masm.asm.v128_slot_patches.clear();
    for &at in &cg.frame.nop5_sites {
        asm::Assembler::patch_nop(&mut code, at, 5);
    }
    if !cg.frame.handler_area {
        // rbx, r12 and r13 if never used, and r15 where it holds no heap
        // base: no landing pad needs them restored (an unwind skips the
        // epilogues of the frames it removes), so their saves and restores
        // become NOPs.
        let pins_used = cg.frame.int_pins_used;
        for &(at, len, r15) in &cg.frame.pin_save_sites {
            if r15 || !pins_used {
                asm::Assembler::patch_nop(&mut code, at, len);
            }
        }
    }
    // Exact-size copies: the pool keeps its vectors' capacity for the next
    // function.
    let len = code.len() as u32;
    let map = &cg.masm.offset_map;
    let kept = map.len() - map.iter().rev().take_while(|&&(c, _)| c >= len).count();
    let offset_map = map[..kept].to_vec();
    let trap_sites = cg.masm.trap_sites.clone();
    let f = CompiledFunction {
        stats: CompileStats {
            wasm_bytes: body.bytes.len(),
            code_bytes: code.len(),
            compile_time: std::time::Duration::ZERO,
            tier: "baseline",
        },
        code,
        trap_sites,
        offset_map,
        frame_size: frame_bytes + 8,
        handlers: cg
            .masm
            .handler_sites
            .iter()
            .map(|&(ret_offset, id)| HandlerSite {
                ret_offset,
                landing: cg.masm.landings[id as usize],
                sp_to_fp: frame_bytes,
            })
            .collect(),
        counts_budget: cg.tier_up_checks,
        osr: if cg.masm.osr.back_edges.is_empty() {
            Default::default()
        } else {
            cg.masm.osr.clone()
        },
    };
    f.check()?;
    Ok(f)
}

/// Where the tier-up routine goes when `TierUpOsr` answers an entry (in
/// rax, the buffer in rdx): leave this frame as the epilogue would (the
/// callee-saved registers back, `mov rsp, rbp; pop rbp`: the caller's
/// return address is on top) and jump to the entry with the vmctx and the
/// buffer as its arguments.
fn emit_osr_switch(cg: &mut CodeGen<'_>, switch: asm::Label) {
    cg.masm.asm.bind(switch);
    cg.masm.asm.mov_rr(Size::S64, SCRATCH, Reg::Rax);
    cg.masm
        .asm
        .mov_rr(Size::S64, crate::regalloc::SCRATCH2, Reg::Rdx);
    cg.masm.asm.mov_rr(Size::S64, Reg::Rdi, VMCTX);
    cg.emit_epilogue();
    cg.masm
        .asm
        .mov_rr(Size::S64, Reg::Rsi, crate::regalloc::SCRATCH2);
    cg.masm.asm.jmp_r(SCRATCH);
}

/// Reads (and validates) the local declarations into `frame.declared`.
fn read_locals(
    reader: &mut BinaryReader<'_>,
    func: u32,
    validator: &mut Option<&mut WasmFunctionValidator>,
    cg: &mut CodeGen<'_>,
) -> context::Result<()> {
    let groups = reader.read_var_u32().map_err(|e| invalid(func, &e))?;
    cg.frame.declared.clear();
    let mut total = cg.frame.params.len() as u64;
    for _ in 0..groups {
        let offset = reader.original_position();
        let count = reader.read_var_u32().map_err(|e| invalid(func, &e))?;
        let ty: ValType = reader.read().map_err(|e| invalid(func, &e))?;
        if let Some(v) = validator.as_deref_mut() {
            v.define_locals(offset, count, ty)
                .map_err(|e| validate_error(e, func))?;
        }
        total += u64::from(count);
        if total > MAX_LOCALS {
            return Err(Box::new(CompileError::ImplLimit {
                message: format!("more than {MAX_LOCALS} locals"),
                offset,
            }));
        }
        let t = Ty::of_simd(ty)
            .filter(|&t| t != Ty::V128 || cg.masm.features.sse41)
            .ok_or_else(|| CompileError::Unsupported {
                feature: "simd: v128 local without SSE4.1".into(),
                offset,
            })?;
        if count > 0 {
            cg.frame.declared.push((count, t));
        }
    }
    Ok(())
}

/// The prologue (see `frame.rs` for the picture).
fn emit_prologue(
    cg: &mut CodeGen<'_>,
    layout: &CallLayout,
    lowest: i32,
    count: u32,
) -> context::Result<()> {
    let vmctx_in = layout
        .vmctx_reg()
        .ok_or_else(|| cg.internal("vmctx not in a register"))?;
    let a = &mut cg.masm;
    a.asm.push(Reg::Rbp);
    a.asm.mov_rr(Size::S64, Reg::Rbp, Reg::Rsp);
    cg.frame.frame_patch = a.asm.lea_rsp_minus_patchable(SCRATCH);
    let limit = cg.offsets.stack_limit() as i32;
    a.asm
        .alu_rm(Alu::Cmp, Size::S64, SCRATCH, Mem::new(vmctx_in, limit));
    a.trap_if(Cc::B, TrapCode::StackOverflow);
    a.asm.mov_rr(Size::S64, Reg::Rsp, SCRATCH);
    a.asm
        .mov_mr(Size::S64, Mem::new(Reg::Rbp, SAVED_VMCTX), VMCTX);
    let at = a.asm.offset();
    a.asm
        .mov_mr(Size::S64, Mem::new(Reg::Rbp, SAVED_HEAP_BASE), HEAP_BASE);
    if !cg.frame.pins_heap {
        // Kept only for a landing pad (see `Frame::pin_save_sites`).
        cg.frame
            .pin_save_sites
            .push((at, (a.asm.offset() - at) as u8, true));
    }
    for (r, disp) in SAVED_PIN_REGS {
        let at = a.asm.offset();
        a.asm.mov_mr(Size::S64, Mem::new(Reg::Rbp, disp), r);
        cg.frame
            .pin_save_sites
            .push((at, (a.asm.offset() - at) as u8, false));
    }
    let a = &mut cg.masm;
    a.asm.mov_rr(Size::S64, VMCTX, vmctx_in);
    if layout.has_ret_area() {
        a.asm.mov_mr(
            Size::S64,
            Mem::new(Reg::Rbp, RET_AREA_SLOT),
            rung_tiering::abi::RET_AREA_PTR_REG,
        );
    }
    for (i, loc) in layout.params[1..].iter().enumerate() {
        if let Location::Reg(r) = *loc {
            let local = cg.frame.locals[i];
            let m = Mem::new(Reg::Rbp, local.disp);
            if local.ty == Ty::V128 {
                cg.masm.asm.movdqu_mr(m, r);
            } else if local.ty.is_float() {
                cg.masm.asm.movs_mr(local.ty.size(), m, r);
            } else {
                cg.masm.asm.mov_mr(local.ty.size(), m, r);
            }
        }
    }
    // Declared locals start at zero (`count` 8-byte words from `lowest`).
    if count <= 8 {
        for k in 0..count {
            let m = Mem::new(Reg::Rbp, lowest + 8 * k as i32);
            cg.masm.asm.mov_mi(Size::S64, m, 0);
        }
    } else {
        cg.masm.asm.lea(Reg::Rdi, Mem::new(Reg::Rbp, lowest));
        cg.masm.asm.mov_r32_imm(Reg::Rcx, count);
        cg.masm.asm.mov_r32_imm(Reg::Rax, 0);
        cg.masm.asm.rep_stosq();
    }
    if cg.frame.pins_heap {
        cg.load_heap_base()?;
    }
    cg.emit_interrupt_check();
    cg.emit_entry_budget_check()
}
