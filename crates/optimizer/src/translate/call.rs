//! Calls: `call`, `call_indirect`, `call_ref` and their `return_call` forms.
//!
//! Every call is `call_indirect` (or `return_call_indirect`) with the `Tail`
//! signature `(vmctx, params...) -> results`; the code pointer is always
//! loaded from a slot, so calls see tier-up and the code needs no
//! relocation:
//!
//! ```text
//! defined f:   code = [[vmctx + func_slots] + func_slot(f)]; callee vmctx = vmctx
//! imported f:  code = [[vmctx + imported_function_slot(f)]];
//!              callee vmctx = [vmctx + imported_function_vmctx(f)]
//! record rec:  code = [[rec + slot]]; callee vmctx = [rec + vmctx]
//! ```
//!
//! `call_indirect` checks, in the spec's order: index < table length
//! (`UndefinedElement`), element non-null (`IndirectCallToNull`), canonical
//! type ids equal (`BadSignature`). `call_ref` checks only for null
//! (`NullFunctionReference`).

use cranelift_codegen::ir::condcodes::IntCC;
use cranelift_codegen::ir::{InstBuilder, MemFlagsData, SigRef, Value, types};
use rung_tiering::{CompileError, Libcall, TrapCode};

use super::Translator;

impl Translator<'_, '_> {
    /// Pops the arguments of type `type_index`, then calls or tail-calls
    /// `code` with `callee_vmctx` first.
    fn emit_call(
        &mut self,
        type_index: u32,
        sig: SigRef,
        code: Value,
        callee_vmctx: Value,
        args: Vec<Value>,
        tail: bool,
    ) -> Result<(), CompileError> {
        let mut all = Vec::with_capacity(args.len() + 1);
        all.push(callee_vmctx);
        all.extend(args);
        if tail {
            self.builder.ins().return_call_indirect(sig, code, &all);
            self.set_unreachable();
            return Ok(());
        }
        let results = self.covered_call(sig, code, &all);
        let expected = self.env.func_type(type_index)?.results().len();
        if results.len() != expected {
            return Err(self.internal("call result count differs from its type"));
        }
        self.stack.extend(results);
        Ok(())
    }

    fn pop_args(&mut self, type_index: u32) -> Result<Vec<Value>, CompileError> {
        let n = self.env.func_type(type_index)?.params().len();
        self.popn(n)
    }

    pub(crate) fn op_call(&mut self, func: u32, tail: bool) -> Result<(), CompileError> {
        let type_index = self.env.func_type_index(func)?;
        let sig = self
            .env
            .wasm_sig(&mut self.builder, type_index, self.offset)?;
        let args = self.pop_args(type_index)?;
        let (code, callee_vmctx) = self.env.direct_callee(&mut self.builder, func)?;
        self.emit_call(type_index, sig, code, callee_vmctx, args, tail)
    }

    /// Code pointer and vmctx from a (non-null) funcref record.
    fn record_callee(&mut self, rec: Value) -> (Value, Value) {
        let layout = self.env.offsets.funcref_layout();
        // Records are written before code runs; not `can_move`: they are
        // only valid after the null check.
        let flags = MemFlagsData::trusted().with_readonly();
        let ins = self.builder.ins();
        let slot = ins.load(types::I64, flags, rec, layout.slot as i32);
        let callee_vmctx = self
            .builder
            .ins()
            .load(types::I64, flags, rec, layout.vmctx as i32);
        // Not readonly: tier-up patches the slot.
        let code = self
            .builder
            .ins()
            .load(types::I64, MemFlagsData::trusted(), slot, 0);
        (code, callee_vmctx)
    }

    pub(crate) fn op_call_indirect(
        &mut self,
        type_index: u32,
        table: u32,
        tail: bool,
    ) -> Result<(), CompileError> {
        let sig = self
            .env
            .wasm_sig(&mut self.builder, type_index, self.offset)?;
        let index = self.pop()?;
        let args = self.pop_args(type_index)?;
        let addr = self.table_elem_addr(table, index, TrapCode::UndefinedElement)?;
        let flags = self.env.table_elem();
        let rec = self.builder.ins().load(types::I64, flags, addr, 0);
        self.trapz(rec, TrapCode::IndirectCallToNull);
        let expected = self.env.type_id(&mut self.builder, type_index)?;
        let layout = self.env.offsets.funcref_layout();
        let actual = self.builder.ins().load(
            types::I32,
            MemFlagsData::trusted().with_readonly(),
            rec,
            layout.type_id as i32,
        );
        let mismatch = self.builder.ins().icmp(IntCC::NotEqual, actual, expected);
        let is_final = self
            .env
            .module
            .types
            .get(type_index as usize)
            .is_none_or(|t| t.is_final);
        if is_final {
            self.trapnz(mismatch, TrapCode::BadSignature);
        } else {
            // A function of a declared subtype matches too (GC): asked of
            // the runtime only when the ids differ.
            let slow = self.builder.create_block();
            let done = self.builder.create_block();
            self.builder.ins().brif(mismatch, slow, &[], done, &[]);
            self.builder.seal_block(slow);
            self.builder.switch_to_block(slow);
            self.builder.set_cold_block(slow);
            let sub = self.libcall_result(Libcall::GcSubtype, &[actual, expected])?;
            self.trapz(sub, TrapCode::BadSignature);
            self.builder.ins().jump(done, &[]);
            self.builder.seal_block(done);
            self.builder.switch_to_block(done);
        }
        let (code, callee_vmctx) = self.record_callee(rec);
        self.emit_call(type_index, sig, code, callee_vmctx, args, tail)
    }

    pub(crate) fn op_call_ref(&mut self, type_index: u32, tail: bool) -> Result<(), CompileError> {
        let sig = self
            .env
            .wasm_sig(&mut self.builder, type_index, self.offset)?;
        let rec = self.pop()?;
        let args = self.pop_args(type_index)?;
        self.trapz(rec, TrapCode::NullFunctionReference);
        let (code, callee_vmctx) = self.record_callee(rec);
        self.emit_call(type_index, sig, code, callee_vmctx, args, tail)
    }
}
