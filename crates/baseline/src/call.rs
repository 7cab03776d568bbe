//! Calls: `call`, `call_indirect`, `call_ref`, their `return_call` forms,
//! and libcalls into the runtime.
//!
//! Every wasm call goes through a slot, with the `Tail` convention of
//! [`rung_tiering::abi`] (the layout comes from `abi::call_layout`):
//!
//! ```text
//! defined f:   mov r11, [r14 + func_slots] ; call [r11 + func_slot(f)]      vmctx = r14
//! imported f:  mov r11, [r14 + imported_function_slot(f)] ; call [r11]
//!              vmctx = [r14 + imported_function_vmctx(f)]
//! record r10:  vmctx = [r10 + FUNCREF_VMCTX] ; mov r10, [r10 + FUNCREF_SLOT] ; call [r10]
//! ```
//!
//! A call spills the whole value stack below its arguments (every
//! allocatable register is caller-saved), then, with `rsp` 16-aligned at
//! the frame's bottom:
//!
//! ```text
//!   sub rsp, stack_args + ret_area          ┌──────────────┐ ◄ rsp at the call
//!   arguments → registers / [rsp + off]     │ stack args   │   (the callee pops them)
//!   lea rdi, [rsp + stack_args]  (if any)   ├──────────────┤ ◄ rsp after the return
//!   vmctx → its register ; call             │ return area  │   results read from here,
//!   results: registers, or [rsp + off] ;    └──────────────┘   then add rsp, ret_area
//! ```
//!
//! `call_indirect` checks, in the spec's order, the index against the
//! table's length (`UndefinedElement`), the element for null
//! (`IndirectCallToNull`) and the canonical type ids (`BadSignature`);
//! `call_ref` checks only for null (`NullFunctionReference`).
//!
//! A tail call (`return_call*`) replaces our frame: the arguments are staged
//! below `rsp` with the return address, the callee-saved registers are
//! restored, and the staged words are copied to where the callee expects
//! them — at the top of our own incoming argument area, which grows or
//! shrinks by the difference of the two stack-argument sizes:
//!
//! ```text
//!   staged:  [rsp] = return address, [rsp + 8 + off] = stack argument at off
//!   copied to rbp + D + 8w (from the highest word down; D = 8 + ours - theirs),
//!   then  lea rsp, [rbp + D] ; mov rbp, caller's rbp ; jmp code
//! ```
//!
//! The callee then pops exactly its own stack arguments and returns to our
//! caller with `rsp` where our caller expects it, as Cranelift's
//! `emit_return_call_common_sequence` arranges (Cranelift grows the area in
//! the prologue instead; the state at the jump is the same).
//!
//! Libcalls use System V (`rdi`, `rsi`, `rdx`, `rcx`, `r8`, `r9`, result in
//! `rax`) through `[[r14 + libcalls] + index * 8]`; they clobber every
//! allocatable register, so the stack is spilled first.

use rung_tiering::abi::{AbiType, CallLayout, INT_ARG_REGS, Location, RET_AREA_PTR_REG, Reg};
use rung_tiering::{Definition, FUNCREF_SLOT, FUNCREF_TYPE_ID, FUNCREF_VMCTX, Libcall, TrapCode};
use wasmparser::FuncType;

use crate::asm::{Alu, Cc, Mem, Shift, Size};
use crate::context::{CodeGen, Result};
use crate::frame::RET_AREA_SLOT;
use crate::masm::Operand;
use crate::moves::{Dst, Move};
use crate::regalloc::{ALLOCATABLE, SCRATCH, SCRATCH2, VMCTX};
use crate::stack::{Loc, Opnd, Ty};

/// Who is called.
#[derive(Debug, Clone, Copy)]
enum Callee {
    /// A function of this module: its slot within the code table.
    Defined { slot: u32 },
    /// An imported function: where its slot pointer and vmctx are.
    Imported { slot: u32, vmctx: u32 },
    /// A funcref record whose address is in r10.
    Record,
}

/// A libcall argument.
#[derive(Debug, Clone, Copy)]
pub enum LArg {
    /// A popped value; `zext` zero-extends an `i32` to the `i64` the
    /// libcall takes.
    Val(Opnd, bool),
    /// A constant (an index).
    Imm(u32),
}

impl<'a> CodeGen<'a> {
    /// Function type `type_index`.
    pub fn func_type(&self, type_index: u32) -> Result<&'a FuncType> {
        let env = self.env;
        match env
            .types
            .get(type_index as usize)
            .map(|t| &t.composite_type.inner)
        {
            Some(wasmparser::CompositeInnerType::Func(f)) => Ok(f),
            _ => Err(self.internal("type is not a function type")),
        }
    }

    /// The call layout of type `type_index`, from the layout cache (kept
    /// across functions; an entry is reused only for an equal function
    /// type, so a cache filled by another module is harmless). Give it back
    /// with `put_layout`.
    pub fn take_layout(&mut self, type_index: u32) -> Result<CallLayout> {
        let f = self.func_type(type_index)?;
        let i = type_index as usize;
        if self.layouts.len() <= i {
            self.layouts.resize_with(i + 1, || None);
        }
        if let Some((ty, cached)) = &mut self.layouts[i]
            && *ty == *f
            && let Some(layout) = cached.take()
        {
            return Ok(layout);
        }
        let mut params = Vec::with_capacity(f.params().len() + 1);
        params.push(AbiType::I64);
        for &p in f.params() {
            params.push(AbiType::of(p));
        }
        let mut results = Vec::with_capacity(f.results().len());
        for &r in f.results() {
            results.push(AbiType::of(r));
        }
        if !matches!(&self.layouts[i], Some((ty, _)) if *ty == *f) {
            self.layouts[i] = Some((f.clone(), None));
        }
        Ok(rung_tiering::abi::call_layout(&params, &results))
    }

    pub fn put_layout(&mut self, type_index: u32, layout: CallLayout) {
        if let Some(Some((_, slot))) = self.layouts.get_mut(type_index as usize) {
            *slot = Some(layout);
        }
    }

    fn direct_callee(&self, func: u32) -> Result<(u32, Callee)> {
        let type_index = *self
            .env
            .functions
            .get(func as usize)
            .ok_or_else(|| self.internal("function index out of range"))?;
        let callee = match self.offsets.imported_function_slot(func) {
            Some(slot) => Callee::Imported {
                slot,
                vmctx: self
                    .offsets
                    .imported_function_vmctx(func)
                    .ok_or_else(|| self.internal("imported function vmctx"))?,
            },
            None => Callee::Defined {
                slot: self
                    .offsets
                    .func_slot(func)
                    .ok_or_else(|| self.internal("function slot"))?,
            },
        };
        Ok((type_index, callee))
    }

    pub fn visit_call(&mut self, func: u32, tail: bool) -> Result<()> {
        let (type_index, callee) = self.direct_callee(func)?;
        if tail {
            self.emit_tail_call(type_index, callee)
        } else {
            let n = self.func_type(type_index)?.params().len();
            self.spill_below(n);
            self.emit_call(type_index, callee)
        }
    }

    pub fn visit_call_indirect(&mut self, type_index: u32, table: u32, tail: bool) -> Result<()> {
        // A type that is not final also matches functions of its declared
        // subtypes (GC), which this tier does not check yet.
        if self
            .env
            .types
            .get(type_index as usize)
            .is_some_and(|t| !t.is_final)
        {
            return Err(self.unsupported("gc: call_indirect to a type that is not final"));
        }
        let index = self.pop()?;
        if !tail {
            let n = self.func_type(type_index)?.params().len();
            self.spill_below(n);
        }
        let op = self.operand(&index);
        self.free(&index);
        self.table_element_address(table, op, TrapCode::UndefinedElement)?;
        // r10 = the element: a funcref record or null.
        self.masm
            .asm
            .mov_rm(Size::S64, SCRATCH2, Mem::new(SCRATCH2, 0));
        self.masm.asm.test_rr(Size::S64, SCRATCH2, SCRATCH2);
        self.masm.trap_if(Cc::E, TrapCode::IndirectCallToNull);
        let id = self
            .offsets
            .type_id(type_index)
            .ok_or_else(|| self.internal("type id offset"))?;
        self.masm.asm.mov_rm(
            Size::S64,
            SCRATCH,
            Mem::new(VMCTX, self.offsets.type_ids() as i32),
        );
        self.masm
            .asm
            .mov_rm(Size::S32, SCRATCH, Mem::new(SCRATCH, id as i32));
        self.masm.asm.alu_rm(
            Alu::Cmp,
            Size::S32,
            SCRATCH,
            Mem::new(SCRATCH2, FUNCREF_TYPE_ID as i32),
        );
        self.masm.trap_if(Cc::Ne, TrapCode::BadSignature);
        if tail {
            self.emit_tail_call(type_index, Callee::Record)
        } else {
            self.emit_call(type_index, Callee::Record)
        }
    }

    pub fn visit_call_ref(&mut self, type_index: u32, tail: bool) -> Result<()> {
        let r = self.pop()?;
        if !tail {
            let n = self.func_type(type_index)?.params().len();
            self.spill_below(n);
        }
        let op = self.operand(&r);
        self.masm.mov_int(Size::S64, SCRATCH2, op);
        self.free(&r);
        self.masm.asm.test_rr(Size::S64, SCRATCH2, SCRATCH2);
        self.masm.trap_if(Cc::E, TrapCode::NullFunctionReference);
        if tail {
            self.emit_tail_call(type_index, Callee::Record)
        } else {
            self.emit_call(type_index, Callee::Record)
        }
    }

    /// Fills `self.moves` with the top arguments going to `layout`'s
    /// parameter locations; stack arguments at `[rsp + stack_bias + off]`.
    fn argument_moves(&mut self, layout: &CallLayout, stack_bias: i32) -> Result<usize> {
        let n = layout.params.len() - 1;
        let base = self
            .stack
            .len()
            .checked_sub(n)
            .ok_or_else(|| self.internal("call arguments underflow"))?;
        self.moves.clear();
        for (i, loc) in layout.params[1..].iter().enumerate() {
            let v = self.stack[base + i];
            let dst = match *loc {
                Location::Reg(r) => Dst::Reg(r),
                Location::Stack(off) => Dst::Mem(Mem::new(Reg::Rsp, stack_bias + off as i32)),
            };
            self.moves.push(Move {
                ty: v.ty,
                loc: v.loc,
                pos: (base + i) as u32,
                dst,
            });
        }
        Ok(base)
    }

    fn emit_call(&mut self, type_index: u32, callee: Callee) -> Result<()> {
        let layout = self.take_layout(type_index)?;
        let out = layout.stack_args_size + layout.ret_area_size;
        if out > 0 {
            self.masm
                .asm
                .alu_ri(Alu::Sub, Size::S64, Reg::Rsp, out as i32);
        }
        let base = self.argument_moves(&layout, 0)?;
        self.emit_moves(false);
        if layout.has_ret_area() {
            self.masm.asm.lea(
                RET_AREA_PTR_REG,
                Mem::new(Reg::Rsp, layout.stack_args_size as i32),
            );
        }
        let vmctx = layout
            .vmctx_reg()
            .ok_or_else(|| self.internal("vmctx not in a register"))?;
        let slot = self.callee_slot(callee, vmctx);
        self.masm.asm.call_m(slot);
        self.note_call_site();
        // Every allocatable register is clobbered; nothing below the
        // arguments lives in one (spilled above).
        self.stack.truncate(base);
        if self.clean > base {
            self.clean = base;
        }
        self.reset_regs();
        self.reload_float_pins();
        let results = self.func_type(type_index)?.results();
        for (j, &rt) in results.iter().enumerate() {
            let ty = Ty::of_simd(rt).ok_or_else(|| self.internal("result type"))?;
            let pos = (base + j) as u32;
            match layout.results[j] {
                Location::Reg(r) if ALLOCATABLE.contains(r) => {
                    self.regs.take_specific(r);
                    self.push(ty, Loc::Reg(r));
                }
                loc if ty == Ty::V128 => {
                    self.v128_call_result(loc, pos);
                    self.push(ty, Loc::Mem);
                }
                Location::Reg(r) => {
                    let slot = self.slot(pos);
                    self.masm.asm.mov_mr(Size::S64, slot, r);
                    self.push(ty, Loc::Mem);
                }
                Location::Stack(off) => {
                    let slot = self.slot(pos);
                    self.masm
                        .asm
                        .mov_rm(Size::S64, SCRATCH, Mem::new(Reg::Rsp, off as i32));
                    self.masm.asm.mov_mr(Size::S64, slot, SCRATCH);
                    self.push(ty, Loc::Mem);
                }
            }
        }
        if layout.ret_area_size > 0 {
            self.masm
                .asm
                .alu_ri(Alu::Add, Size::S64, Reg::Rsp, layout.ret_area_size as i32);
        }
        self.put_layout(type_index, layout);
        Ok(())
    }

    fn emit_tail_call(&mut self, type_index: u32, callee: Callee) -> Result<()> {
        let layout = self.take_layout(type_index)?;
        let s_out = layout.stack_args_size as i32;
        let s_in = self.frame.stack_args_size as i32;
        // Stage: [rsp] = return address, [rsp + 8 + off] = stack arguments.
        let stage = if s_out > 0 { (s_out + 8 + 15) & !15 } else { 0 };
        if stage > 0 {
            self.masm.asm.alu_ri(Alu::Sub, Size::S64, Reg::Rsp, stage);
        }
        self.argument_moves(&layout, 8)?;
        self.emit_moves(false);
        if layout.has_ret_area() {
            // Same results as ours: pass our caller's return area on.
            self.masm.asm.mov_rm(
                Size::S64,
                RET_AREA_PTR_REG,
                Mem::new(Reg::Rbp, RET_AREA_SLOT),
            );
        }
        let vmctx = layout
            .vmctx_reg()
            .ok_or_else(|| self.internal("vmctx not in a register"))?;
        // r11 = the code pointer.
        let slot = self.callee_slot(callee, vmctx);
        self.masm.asm.mov_rm(Size::S64, SCRATCH, slot);
        self.restore_pinned();
        if s_out == 0 && s_in == 0 {
            self.masm.asm.mov_rr(Size::S64, Reg::Rsp, Reg::Rbp);
            self.masm.asm.pop(Reg::Rbp);
        } else {
            // rax is no argument register of the Tail convention.
            let d = 8 + s_in - s_out;
            self.masm
                .asm
                .mov_rm(Size::S64, Reg::Rax, Mem::new(Reg::Rbp, 8));
            self.masm
                .asm
                .mov_mr(Size::S64, Mem::new(Reg::Rsp, 0), Reg::Rax);
            self.masm
                .asm
                .mov_rm(Size::S64, SCRATCH2, Mem::new(Reg::Rbp, 0));
            let words = s_out / 8 + 1;
            for w in (0..words).rev() {
                self.masm
                    .asm
                    .mov_rm(Size::S64, Reg::Rax, Mem::new(Reg::Rsp, 8 * w));
                self.masm
                    .asm
                    .mov_mr(Size::S64, Mem::new(Reg::Rbp, d + 8 * w), Reg::Rax);
            }
            self.masm.asm.lea(Reg::Rsp, Mem::new(Reg::Rbp, d));
            self.masm.asm.mov_rr(Size::S64, Reg::Rbp, SCRATCH2);
        }
        self.masm.asm.jmp_r(SCRATCH);
        self.put_layout(type_index, layout);
        self.set_unreachable();
        Ok(())
    }

    /// Puts the callee's vmctx in `vmctx` and returns the memory word that
    /// holds its code pointer (its slot), addressed through r11 or, for a
    /// funcref record (in r10), through r10.
    fn callee_slot(&mut self, callee: Callee, vmctx: Reg) -> Mem {
        let asm = &mut self.masm.asm;
        match callee {
            Callee::Defined { slot } => {
                asm.mov_rr(Size::S64, vmctx, VMCTX);
                let slots = Mem::new(VMCTX, self.offsets.func_slots() as i32);
                asm.mov_rm(Size::S64, SCRATCH, slots);
                Mem::new(SCRATCH, slot as i32)
            }
            Callee::Imported { slot, vmctx: v } => {
                asm.mov_rm(Size::S64, vmctx, Mem::new(VMCTX, v as i32));
                asm.mov_rm(Size::S64, SCRATCH, Mem::new(VMCTX, slot as i32));
                Mem::new(SCRATCH, 0)
            }
            Callee::Record => {
                asm.mov_rm(Size::S64, vmctx, Mem::new(SCRATCH2, FUNCREF_VMCTX as i32));
                asm.mov_rm(Size::S64, SCRATCH2, Mem::new(SCRATCH2, FUNCREF_SLOT as i32));
                Mem::new(SCRATCH2, 0)
            }
        }
    }

    /// Calls `libcall` with the vmctx and `args` (already popped), after
    /// spilling the stack; pushes the result (typed `result`) if any.
    pub fn libcall(&mut self, libcall: Libcall, args: &[LArg], result: Option<Ty>) -> Result<()> {
        self.spill_below(0);
        self.moves.clear();
        for (k, a) in args.iter().enumerate() {
            let dst = Dst::Reg(
                *INT_ARG_REGS
                    .get(k + 1)
                    .ok_or_else(|| self.internal("too many libcall arguments"))?,
            );
            let (ty, loc, pos) = match *a {
                LArg::Val(o, _) => (o.ty, o.loc, o.pos),
                LArg::Imm(v) => (Ty::I32, Loc::Const(u64::from(v)), 0),
            };
            self.moves.push(Move { ty, loc, pos, dst });
        }
        self.emit_moves(false);
        for (k, a) in args.iter().enumerate() {
            if let LArg::Val(o, true) = *a
                && o.ty == Ty::I32
            {
                let r = INT_ARG_REGS[k + 1];
                self.masm.asm.mov_rr(Size::S32, r, r);
            }
        }
        self.masm.asm.mov_rr(Size::S64, Reg::Rdi, VMCTX);
        self.masm.asm.mov_rm(
            Size::S64,
            Reg::Rax,
            Mem::new(VMCTX, self.offsets.libcalls() as i32),
        );
        self.masm
            .asm
            .call_m(Mem::new(Reg::Rax, self.offsets.libcall(libcall) as i32));
        for a in args {
            if let LArg::Val(o, _) = a {
                self.free(o);
            }
        }
        self.reset_regs();
        self.reload_float_pins();
        if let Some(ty) = result {
            self.regs.take_specific(Reg::Rax);
            self.push(ty, Loc::Reg(Reg::Rax));
        }
        Ok(())
    }

    /// Checks a 32-bit table.
    /// Whether `table` has 64-bit indices (table64).
    pub fn table64(&self, table: u32) -> Result<bool> {
        self.env
            .tables
            .get(table as usize)
            .map(|t| t.ty.table64)
            .ok_or_else(|| self.internal("table index out of range"))
    }

    /// The type of `table`'s indices, sizes and deltas.
    pub fn table_index_ty(&self, table: u32) -> Result<Ty> {
        Ok(if self.table64(table)? {
            Ty::I64
        } else {
            Ty::I32
        })
    }

    /// Leaves the address of element `index` of `table` in r10 after a
    /// bounds check trapping with `trap` (r11 is clobbered).
    pub fn table_element_address(
        &mut self,
        table: u32,
        index: Operand,
        trap: TrapCode,
    ) -> Result<()> {
        if self.table64(table)? {
            // A table has fewer than 2^32 elements, so an index with any of
            // its high 32 bits set is out of bounds; the low half is then
            // compared as for a 32-bit table.
            if let Operand::Imm(c) = index {
                if c >> 32 != 0 {
                    self.masm.trap_always(trap);
                }
            } else {
                self.masm.mov_int(Size::S64, SCRATCH, index);
                self.masm.asm.shift_ri(Shift::Shr, Size::S64, SCRATCH, 32);
                self.masm.trap_if(Cc::Ne, trap);
            }
        }
        self.masm.mov_int(Size::S32, SCRATCH, index);
        let layout = self.offsets.table_layout();
        let def = self
            .offsets
            .table_definition(table)
            .ok_or_else(|| self.internal("table out of range"))?;
        let (ptr, off) = match def {
            Definition::Local(off) => (VMCTX, off as i32),
            Definition::Imported(off) => {
                self.masm
                    .asm
                    .mov_rm(Size::S64, SCRATCH2, Mem::new(VMCTX, off as i32));
                (SCRATCH2, 0)
            }
        };
        self.masm.asm.alu_rm(
            Alu::Cmp,
            Size::S32,
            SCRATCH,
            Mem::new(ptr, off + layout.current_elements as i32),
        );
        self.masm.trap_if(Cc::Ae, trap);
        self.masm
            .asm
            .mov_rm(Size::S64, SCRATCH2, Mem::new(ptr, off + layout.base as i32));
        self.masm.asm.lea_scaled(SCRATCH2, SCRATCH2, SCRATCH, 8);
        Ok(())
    }
}
