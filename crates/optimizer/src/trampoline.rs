//! Trampolines between the host (System V) and wasm code (`Tail`), one per
//! signature, exactly as [`rung_tiering::trampoline`] defines them:
//!
//! ```text
//! host_to_wasm: extern "sysv64" fn(callee_vmctx, code, values: *mut [u8; 16])
//!     params  = values[0..n]      (each in the low bytes of its 16-byte slot)
//!     results = code(callee_vmctx, params...)      (Tail)
//!     values[0..m] = results
//!
//! wasm_to_host: Tail fn(host_ctx, params...) -> results
//!     values: [[u8; 16]; max(n, m)] on the stack, values[0..n] = params
//!     [host_ctx + HOST_CONTEXT_ENTRY](host_ctx, values)   (sysv64)
//!     return values[0..m]
//! ```
//!
//! Both are position independent like any compiled function, and have no
//! trap sites and no offset map. A `v128` fills its 16-byte slot (an
//! `I8X16` load or store, little-endian).

use std::time::Instant;

use cranelift_codegen::Context;
use cranelift_codegen::ir::{
    AbiParam, Function, InstBuilder, MemFlagsData, Signature, StackSlotData, StackSlotKind,
    UserFuncName, types,
};
use cranelift_codegen::isa::{CallConv, TargetIsa};
use cranelift_frontend::{FunctionBuilder, FunctionBuilderContext};
use rung_tiering::trampoline::{HOST_CONTEXT_ENTRY, VALUE_SLOT_SIZE};
use rung_tiering::{CompileError, CompiledFunction};
use wasmparser::{FuncType, ValType};

use crate::env::{clif_type, wasm_signature};
use crate::{emit, with_contexts};

fn slot_offset(i: usize) -> Result<i32, CompileError> {
    i32::try_from(i * VALUE_SLOT_SIZE as usize)
        .map_err(|_| CompileError::Internal("too many values for a trampoline".into()))
}

fn func_type(params: &[ValType], results: &[ValType]) -> FuncType {
    FuncType::new(params.iter().copied(), results.iter().copied())
}

/// Little-endian, aligned, cannot trap: the value array is the caller's.
fn value_flags() -> MemFlagsData {
    MemFlagsData::trusted().with_endianness(cranelift_codegen::ir::Endianness::Little)
}

fn finish(
    isa: &dyn TargetIsa,
    start: Instant,
    build: impl FnOnce(&mut Context, &mut FunctionBuilderContext) -> Result<(), CompileError>,
) -> Result<CompiledFunction, CompileError> {
    let mut f = with_contexts(|ctx, fctx| {
        build(ctx, fctx)?;
        emit::emit(isa, ctx, None)
    })?;
    f.stats.compile_time = start.elapsed();
    Ok(f)
}

/// The host-to-wasm trampoline for `(params) -> (results)`.
///
/// # Errors
///
/// `Internal` if Cranelift fails.
pub fn host_to_wasm(
    isa: &dyn TargetIsa,
    params: &[ValType],
    results: &[ValType],
) -> Result<CompiledFunction, CompileError> {
    let start = Instant::now();
    let callee_sig = wasm_signature(&func_type(params, results), 0)?;
    let mut sig = Signature::new(CallConv::SystemV);
    sig.params.extend([AbiParam::new(types::I64); 3]);
    finish(isa, start, |ctx, fctx| {
        ctx.func = Function::with_name_signature(UserFuncName::testcase("host_to_wasm"), sig);
        let mut b = FunctionBuilder::new(&mut ctx.func, fctx);
        let entry = b.create_block();
        b.append_block_params_for_function_params(entry);
        b.switch_to_block(entry);
        b.seal_block(entry);
        let &[vmctx, code, values] = b.block_params(entry) else {
            return Err(CompileError::Internal("trampoline parameters".into()));
        };
        let mut args = vec![vmctx];
        for (i, &p) in params.iter().enumerate() {
            let ty = clif_type(p, 0)?;
            args.push(b.ins().load(ty, value_flags(), values, slot_offset(i)?));
        }
        let sig_ref = b.import_signature(callee_sig);
        let call = b.ins().call_indirect(sig_ref, code, &args);
        let rets = b.inst_results(call).to_vec();
        for (i, r) in rets.into_iter().enumerate() {
            b.ins().store(value_flags(), r, values, slot_offset(i)?);
        }
        b.ins().return_(&[]);
        b.finalize(isa.frontend_config());
        Ok(())
    })
}

/// The wasm-to-host trampoline for `(params) -> (results)`.
///
/// # Errors
///
/// `Internal` if Cranelift fails.
pub fn wasm_to_host(
    isa: &dyn TargetIsa,
    params: &[ValType],
    results: &[ValType],
) -> Result<CompiledFunction, CompileError> {
    let start = Instant::now();
    let sig = wasm_signature(&func_type(params, results), 0)?;
    let mut host_sig = Signature::new(CallConv::SystemV);
    host_sig.params.extend([AbiParam::new(types::I64); 2]);
    let slots = params.len().max(results.len()).max(1);
    let size = u32::try_from(slots * VALUE_SLOT_SIZE as usize)
        .map_err(|_| CompileError::Internal("too many values for a trampoline".into()))?;
    finish(isa, start, |ctx, fctx| {
        ctx.func = Function::with_name_signature(UserFuncName::testcase("wasm_to_host"), sig);
        let mut b = FunctionBuilder::new(&mut ctx.func, fctx);
        let entry = b.create_block();
        b.append_block_params_for_function_params(entry);
        b.switch_to_block(entry);
        b.seal_block(entry);
        let incoming = b.block_params(entry).to_vec();
        let Some((&host_ctx, args)) = incoming.split_first() else {
            return Err(CompileError::Internal("trampoline parameters".into()));
        };
        let slot = b.create_sized_stack_slot(StackSlotData::new(
            StackSlotKind::ExplicitSlot,
            size,
            4, // 16-byte aligned
        ));
        let values = b.ins().stack_addr(types::I64, slot, 0);
        for (i, &a) in args.iter().enumerate() {
            b.ins().store(value_flags(), a, values, slot_offset(i)?);
        }
        let entry_fn = b.ins().load(
            types::I64,
            MemFlagsData::trusted().with_readonly(),
            host_ctx,
            HOST_CONTEXT_ENTRY as i32,
        );
        let host_sig = b.import_signature(host_sig);
        b.ins()
            .call_indirect(host_sig, entry_fn, &[host_ctx, values]);
        let mut rets = Vec::with_capacity(results.len());
        for (i, &r) in results.iter().enumerate() {
            let ty = clif_type(r, 0)?;
            rets.push(b.ins().load(ty, value_flags(), values, slot_offset(i)?));
        }
        b.ins().return_(&rets);
        b.finalize(isa.frontend_config());
        Ok(())
    })
}
