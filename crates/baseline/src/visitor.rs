//! One function per operator: what each wasm operator compiles to, in terms
//! of the code generator's primitives. Reading this file top to bottom
//! should tell which machine instructions each operator emits (Winch's
//! principle); the families' shared operand handling is in `numeric.rs`,
//! `memory.rs`, `call.rs` and `control.rs`.
//!
//! Operators outside the baseline's coverage (SIMD, atomics, exceptions,
//! GC, memory64, …) return `CompileError::Unsupported` naming the operator
//! and its proposal; the runtime then compiles the function with the next
//! tier.

use rung_tiering::TrapCode;
use rung_tiering::abi::RegClass;
use wasmparser::Operator;

use crate::asm::{Alu, Cc, FOp, Shift, Size};
use crate::context::{CodeGen, Result};
use crate::masm::FCmp;
use crate::memory::Ext;
use crate::numeric::{BitCount, FUnary};
use crate::regalloc::{SCRATCH, VMCTX};
use crate::stack::{Loc, Ty};

use Ty::{F32, F64, I32, I64};

impl CodeGen<'_> {
    /// Whether `op` takes a pending comparison as its condition.
    fn takes_condition(op: &Operator<'_>) -> bool {
        matches!(
            op,
            Operator::BrIf { .. }
                | Operator::If { .. }
                | Operator::Select
                | Operator::TypedSelect { .. }
                | Operator::I32Eqz
        )
    }

    /// Compiles one operator at `self.offset` (already validated).
    pub fn step(&mut self, op: &Operator<'_>) -> Result<()> {
        if self.control.is_empty() {
            return Err(self.internal("operator after the function's end"));
        }
        self.masm.begin_op(self.offset as u32);
        if self.reachable {
            if self.pending.is_some() && !Self::takes_condition(op) {
                self.materialize_pending()?;
            }
            self.visit_op(op)
        } else {
            self.visit_unreachable_op(op)
        }
    }

    /// An operator in unreachable code: only the block structure matters.
    pub fn visit_unreachable_op(&mut self, op: &Operator<'_>) -> Result<()> {
        match op {
            Operator::Block { .. }
            | Operator::Loop { .. }
            | Operator::If { .. }
            | Operator::TryTable { .. }
            | Operator::Try { .. } => {
                self.unreachable_depth += 1;
            }
            Operator::Else if self.unreachable_depth == 0 => self.visit_else()?,
            Operator::Catch { tag_index } if self.unreachable_depth == 0 => {
                self.visit_catch(Some(*tag_index))?;
            }
            Operator::CatchAll if self.unreachable_depth == 0 => self.visit_catch(None)?,
            Operator::Delegate { relative_depth } if self.unreachable_depth == 0 => {
                self.visit_delegate(*relative_depth)?;
            }
            Operator::End if self.unreachable_depth == 0 => self.visit_end()?,
            Operator::End | Operator::Delegate { .. } => self.unreachable_depth -= 1,
            _ => {}
        }
        Ok(())
    }

    /// One reachable operator.
    pub fn visit_op(&mut self, op: &Operator<'_>) -> Result<()> {
        use Operator as O;
        match *op {
            // ---- control ----
            O::Nop => Ok(()),
            O::Unreachable => self.visit_unreachable(),
            O::Block { blockty } => self.visit_block(blockty),
            O::Loop { blockty } => self.visit_loop(blockty),
            O::If { blockty } => self.visit_if(blockty),
            O::Else => self.visit_else(),
            O::End => self.visit_end(),
            O::Br { relative_depth } => self.visit_br(relative_depth),
            O::BrIf { relative_depth } => self.visit_br_if(relative_depth),
            O::BrTable { ref targets } => self.visit_br_table(targets),
            O::Return => self.visit_return(),
            O::BrOnNull { relative_depth } => self.visit_br_on_null(relative_depth, true),
            O::BrOnNonNull { relative_depth } => self.visit_br_on_null(relative_depth, false),

            // ---- calls ----
            O::Call { function_index } => self.visit_call(function_index, false),
            O::ReturnCall { function_index } => self.visit_call(function_index, true),
            O::CallIndirect {
                type_index,
                table_index,
            } => self.visit_call_indirect(type_index, table_index, false),
            O::ReturnCallIndirect {
                type_index,
                table_index,
            } => self.visit_call_indirect(type_index, table_index, true),
            O::CallRef { type_index } => self.visit_call_ref(type_index, false),
            O::ReturnCallRef { type_index } => self.visit_call_ref(type_index, true),

            // ---- exceptions (see `exceptions`) ----
            O::TryTable { ref try_table } => self.visit_try_table(try_table),
            O::Try { blockty } => self.visit_try(blockty),
            O::Catch { tag_index } => self.visit_catch(Some(tag_index)),
            O::CatchAll => self.visit_catch(None),
            O::Delegate { relative_depth } => self.visit_delegate(relative_depth),
            O::Rethrow { relative_depth } => self.visit_rethrow(relative_depth),
            O::Throw { tag_index } => self.visit_throw(tag_index),
            O::ThrowRef => self.visit_throw_ref(),

            // ---- parametric, locals, globals ----
            O::Drop => self.visit_drop(),
            O::Select => self.visit_select(),
            O::TypedSelect { .. } => self.visit_select(),
            O::LocalGet { local_index } => self.visit_local_get(local_index),
            O::LocalSet { local_index } => self.visit_local_set(local_index, false),
            O::LocalTee { local_index } => self.visit_local_set(local_index, true),
            O::GlobalGet { global_index } => self.visit_global_get(global_index),
            O::GlobalSet { global_index } => self.visit_global_set(global_index),

            // ---- constants ----
            O::I32Const { value } => self.konst(I32, u64::from(value as u32)),
            O::I64Const { value } => self.konst(I64, value as u64),
            O::F32Const { value } => self.konst(F32, u64::from(value.bits())),
            O::F64Const { value } => self.konst(F64, value.bits()),

            // ---- references ----
            O::RefNull { .. } => self.konst(Ty::Ref, 0),
            O::RefIsNull => self.int_eqz(Ty::Ref),
            O::RefFunc { function_index } => self.visit_ref_func(function_index),
            O::RefAsNonNull => self.visit_ref_as_non_null(),
            // GC operators that neither allocate nor read objects (see
            // ARCHITECTURE.md, "Garbage collection"): the word stays as it is
            // for the conversions; `i31` is `value << 1 | 1`.
            O::AnyConvertExtern | O::ExternConvertAny => Ok(()),
            O::RefEq => self.int_cmp(Ty::Ref, Cc::E),
            O::RefI31 => self.visit_ref_i31(),
            O::I31GetS => self.visit_i31_get(Shift::Sar),
            O::I31GetU => self.visit_i31_get(Shift::Shr),
            O::ArrayLen => self.visit_array_len(),
            O::StructGet {
                struct_type_index,
                field_index,
            } => self.visit_struct_get(struct_type_index, field_index, false),
            O::StructGetS {
                struct_type_index,
                field_index,
            } => self.visit_struct_get(struct_type_index, field_index, true),
            O::StructGetU {
                struct_type_index,
                field_index,
            } => self.visit_struct_get(struct_type_index, field_index, false),

            // ---- memory ----
            O::I32Load { ref memarg } => self.visit_load(memarg, I32, 4, Ext::None),
            O::I64Load { ref memarg } => self.visit_load(memarg, I64, 8, Ext::None),
            O::F32Load { ref memarg } => self.visit_load(memarg, F32, 4, Ext::None),
            O::F64Load { ref memarg } => self.visit_load(memarg, F64, 8, Ext::None),
            O::I32Load8S { ref memarg } => self.visit_load(memarg, I32, 1, Ext::Signed),
            O::I32Load8U { ref memarg } => self.visit_load(memarg, I32, 1, Ext::Unsigned),
            O::I32Load16S { ref memarg } => self.visit_load(memarg, I32, 2, Ext::Signed),
            O::I32Load16U { ref memarg } => self.visit_load(memarg, I32, 2, Ext::Unsigned),
            O::I64Load8S { ref memarg } => self.visit_load(memarg, I64, 1, Ext::Signed),
            O::I64Load8U { ref memarg } => self.visit_load(memarg, I64, 1, Ext::Unsigned),
            O::I64Load16S { ref memarg } => self.visit_load(memarg, I64, 2, Ext::Signed),
            O::I64Load16U { ref memarg } => self.visit_load(memarg, I64, 2, Ext::Unsigned),
            O::I64Load32S { ref memarg } => self.visit_load(memarg, I64, 4, Ext::Signed),
            O::I64Load32U { ref memarg } => self.visit_load(memarg, I64, 4, Ext::Unsigned),
            O::I32Store { ref memarg } | O::F32Store { ref memarg } => self.visit_store(memarg, 4),
            O::I64Store { ref memarg } | O::F64Store { ref memarg } => self.visit_store(memarg, 8),
            O::I32Store8 { ref memarg } | O::I64Store8 { ref memarg } => {
                self.visit_store(memarg, 1)
            }
            O::I32Store16 { ref memarg } | O::I64Store16 { ref memarg } => {
                self.visit_store(memarg, 2)
            }
            O::I64Store32 { ref memarg } => self.visit_store(memarg, 4),
            O::MemorySize { mem } => self.visit_memory_size(mem),
            O::MemoryGrow { mem } => self.visit_memory_grow(mem),
            O::MemoryFill { mem } => self.visit_memory_fill(mem),
            O::MemoryCopy { dst_mem, src_mem } => self.visit_memory_copy(dst_mem, src_mem),
            O::MemoryInit { data_index, mem } => self.visit_memory_init(data_index, mem),
            O::DataDrop { data_index } => self.visit_data_drop(data_index),

            // ---- tables ----
            O::TableGet { table } => self.visit_table_get(table),
            O::TableSet { table } => self.visit_table_set(table),
            O::TableSize { table } => self.visit_table_size(table),
            O::TableGrow { table } => self.visit_table_grow(table),
            O::TableFill { table } => self.visit_table_fill(table),
            O::TableCopy {
                dst_table,
                src_table,
            } => self.visit_table_copy(dst_table, src_table),
            O::TableInit { elem_index, table } => self.visit_table_init(elem_index, table),
            O::ElemDrop { elem_index } => self.visit_elem_drop(elem_index),

            // ---- integer comparison ----
            O::I32Eqz => self.int_eqz(I32),
            O::I64Eqz => self.int_eqz(I64),
            O::I32Eq => self.int_cmp(I32, Cc::E),
            O::I32Ne => self.int_cmp(I32, Cc::Ne),
            O::I32LtS => self.int_cmp(I32, Cc::L),
            O::I32LtU => self.int_cmp(I32, Cc::B),
            O::I32GtS => self.int_cmp(I32, Cc::G),
            O::I32GtU => self.int_cmp(I32, Cc::A),
            O::I32LeS => self.int_cmp(I32, Cc::Le),
            O::I32LeU => self.int_cmp(I32, Cc::Be),
            O::I32GeS => self.int_cmp(I32, Cc::Ge),
            O::I32GeU => self.int_cmp(I32, Cc::Ae),
            O::I64Eq => self.int_cmp(I64, Cc::E),
            O::I64Ne => self.int_cmp(I64, Cc::Ne),
            O::I64LtS => self.int_cmp(I64, Cc::L),
            O::I64LtU => self.int_cmp(I64, Cc::B),
            O::I64GtS => self.int_cmp(I64, Cc::G),
            O::I64GtU => self.int_cmp(I64, Cc::A),
            O::I64LeS => self.int_cmp(I64, Cc::Le),
            O::I64LeU => self.int_cmp(I64, Cc::Be),
            O::I64GeS => self.int_cmp(I64, Cc::Ge),
            O::I64GeU => self.int_cmp(I64, Cc::Ae),

            // ---- float comparison ----
            O::F32Eq => self.float_cmp(F32, FCmp::Eq),
            O::F32Ne => self.float_cmp(F32, FCmp::Ne),
            O::F32Lt => self.float_cmp(F32, FCmp::Lt),
            O::F32Gt => self.float_cmp(F32, FCmp::Gt),
            O::F32Le => self.float_cmp(F32, FCmp::Le),
            O::F32Ge => self.float_cmp(F32, FCmp::Ge),
            O::F64Eq => self.float_cmp(F64, FCmp::Eq),
            O::F64Ne => self.float_cmp(F64, FCmp::Ne),
            O::F64Lt => self.float_cmp(F64, FCmp::Lt),
            O::F64Gt => self.float_cmp(F64, FCmp::Gt),
            O::F64Le => self.float_cmp(F64, FCmp::Le),
            O::F64Ge => self.float_cmp(F64, FCmp::Ge),

            // ---- integer arithmetic ----
            O::I32Clz => self.int_bitcount(I32, BitCount::Clz),
            O::I32Ctz => self.int_bitcount(I32, BitCount::Ctz),
            O::I32Popcnt => self.int_bitcount(I32, BitCount::Popcnt),
            O::I64Clz => self.int_bitcount(I64, BitCount::Clz),
            O::I64Ctz => self.int_bitcount(I64, BitCount::Ctz),
            O::I64Popcnt => self.int_bitcount(I64, BitCount::Popcnt),
            O::I32Add => self.int_binop(I32, Alu::Add, u64::wrapping_add),
            O::I32Sub => self.int_binop(I32, Alu::Sub, u64::wrapping_sub),
            O::I32Mul => self.int_mul(I32),
            O::I32DivS => self.int_div_rem(I32, true, false),
            O::I32DivU => self.int_div_rem(I32, false, false),
            O::I32RemS => self.int_div_rem(I32, true, true),
            O::I32RemU => self.int_div_rem(I32, false, true),
            O::I32And => self.int_binop(I32, Alu::And, |a, b| a & b),
            O::I32Or => self.int_binop(I32, Alu::Or, |a, b| a | b),
            O::I32Xor => self.int_binop(I32, Alu::Xor, |a, b| a ^ b),
            O::I32Shl => self.int_shift(I32, Shift::Shl),
            O::I32ShrS => self.int_shift(I32, Shift::Sar),
            O::I32ShrU => self.int_shift(I32, Shift::Shr),
            O::I32Rotl => self.int_shift(I32, Shift::Rol),
            O::I32Rotr => self.int_shift(I32, Shift::Ror),
            O::I64Add => self.int_binop(I64, Alu::Add, u64::wrapping_add),
            O::I64Sub => self.int_binop(I64, Alu::Sub, u64::wrapping_sub),
            O::I64Mul => self.int_mul(I64),
            O::I64Add128 => self.wide_add_sub(false),
            O::I64Sub128 => self.wide_add_sub(true),
            O::I64MulWideS => self.mul_wide(true),
            O::I64MulWideU => self.mul_wide(false),
            O::I64DivS => self.int_div_rem(I64, true, false),
            O::I64DivU => self.int_div_rem(I64, false, false),
            O::I64RemS => self.int_div_rem(I64, true, true),
            O::I64RemU => self.int_div_rem(I64, false, true),
            O::I64And => self.int_binop(I64, Alu::And, |a, b| a & b),
            O::I64Or => self.int_binop(I64, Alu::Or, |a, b| a | b),
            O::I64Xor => self.int_binop(I64, Alu::Xor, |a, b| a ^ b),
            O::I64Shl => self.int_shift(I64, Shift::Shl),
            O::I64ShrS => self.int_shift(I64, Shift::Sar),
            O::I64ShrU => self.int_shift(I64, Shift::Shr),
            O::I64Rotl => self.int_shift(I64, Shift::Rol),
            O::I64Rotr => self.int_shift(I64, Shift::Ror),

            // ---- float arithmetic ----
            O::F32Abs => self.float_unary(F32, FUnary::Abs),
            O::F32Neg => self.float_unary(F32, FUnary::Neg),
            O::F32Ceil => self.float_unary(F32, FUnary::Ceil),
            O::F32Floor => self.float_unary(F32, FUnary::Floor),
            O::F32Trunc => self.float_unary(F32, FUnary::Trunc),
            O::F32Nearest => self.float_unary(F32, FUnary::Nearest),
            O::F32Sqrt => self.float_unary(F32, FUnary::Sqrt),
            O::F32Add => self.float_binop(F32, FOp::Add),
            O::F32Sub => self.float_binop(F32, FOp::Sub),
            O::F32Mul => self.float_binop(F32, FOp::Mul),
            O::F32Div => self.float_binop(F32, FOp::Div),
            O::F32Min => self.float_min_max(F32, true),
            O::F32Max => self.float_min_max(F32, false),
            O::F32Copysign => self.float_copysign(F32),
            O::F64Abs => self.float_unary(F64, FUnary::Abs),
            O::F64Neg => self.float_unary(F64, FUnary::Neg),
            O::F64Ceil => self.float_unary(F64, FUnary::Ceil),
            O::F64Floor => self.float_unary(F64, FUnary::Floor),
            O::F64Trunc => self.float_unary(F64, FUnary::Trunc),
            O::F64Nearest => self.float_unary(F64, FUnary::Nearest),
            O::F64Sqrt => self.float_unary(F64, FUnary::Sqrt),
            O::F64Add => self.float_binop(F64, FOp::Add),
            O::F64Sub => self.float_binop(F64, FOp::Sub),
            O::F64Mul => self.float_binop(F64, FOp::Mul),
            O::F64Div => self.float_binop(F64, FOp::Div),
            O::F64Min => self.float_min_max(F64, true),
            O::F64Max => self.float_min_max(F64, false),
            O::F64Copysign => self.float_copysign(F64),

            // ---- conversions ----
            O::I32WrapI64 => self.retype(I32),
            O::I64ExtendI32S => self.sign_extend(I64, 4),
            O::I64ExtendI32U => self.i64_extend_i32_u(),
            O::I32Extend8S => self.sign_extend(I32, 1),
            O::I32Extend16S => self.sign_extend(I32, 2),
            O::I64Extend8S => self.sign_extend(I64, 1),
            O::I64Extend16S => self.sign_extend(I64, 2),
            O::I64Extend32S => self.sign_extend(I64, 4),
            O::I32TruncF32S | O::I32TruncF64S => self.float_to_int(I32, true, false),
            O::I32TruncF32U | O::I32TruncF64U => self.float_to_int(I32, false, false),
            O::I64TruncF32S | O::I64TruncF64S => self.float_to_int(I64, true, false),
            O::I64TruncF32U | O::I64TruncF64U => self.float_to_int(I64, false, false),
            O::I32TruncSatF32S | O::I32TruncSatF64S => self.float_to_int(I32, true, true),
            O::I32TruncSatF32U | O::I32TruncSatF64U => self.float_to_int(I32, false, true),
            O::I64TruncSatF32S | O::I64TruncSatF64S => self.float_to_int(I64, true, true),
            O::I64TruncSatF32U | O::I64TruncSatF64U => self.float_to_int(I64, false, true),
            O::F32ConvertI32S | O::F32ConvertI64S => self.int_to_float(F32, true),
            O::F32ConvertI32U | O::F32ConvertI64U => self.int_to_float(F32, false),
            O::F64ConvertI32S | O::F64ConvertI64S => self.int_to_float(F64, true),
            O::F64ConvertI32U | O::F64ConvertI64U => self.int_to_float(F64, false),
            O::F32DemoteF64 => self.float_to_float(F32),
            O::F64PromoteF32 => self.float_to_float(F64),
            O::I32ReinterpretF32 => self.retype(I32),
            O::I64ReinterpretF64 => self.retype(I64),
            O::F32ReinterpretI32 => self.retype(F32),
            O::F64ReinterpretI64 => self.retype(F64),

            ref other => match self.visit_atomic(other) {
                Some(r) => r,
                None => Err(self.unsupported(rung_tiering::describe_unsupported(other))),
            },
        }
    }

    pub(crate) fn konst(&mut self, ty: Ty, bits: u64) -> Result<()> {
        self.push(ty, Loc::Const(bits));
        Ok(())
    }

    /// `unreachable`: an inline `ud2`.
    fn visit_unreachable(&mut self) -> Result<()> {
        self.masm.trap_here(TrapCode::UnreachableCodeReached);
        self.set_unreachable();
        Ok(())
    }

    fn visit_drop(&mut self) -> Result<()> {
        self.drop_n(1)
    }

    /// `local.get`: nothing is emitted (but a pin, at a loop's top level);
    /// the entry reads the local when used.
    fn visit_local_get(&mut self, i: u32) -> Result<()> {
        let ty = self
            .frame
            .locals
            .get(i as usize)
            .ok_or_else(|| self.internal("local index out of range"))?
            .ty;
        self.maybe_pin(i, true);
        self.push(ty, Loc::Local(i));
        Ok(())
    }

    /// `local.set`/`local.tee`: entries still reading the old value are
    /// materialized first, then the value is stored to the slot.
    fn visit_local_set(&mut self, i: u32, tee: bool) -> Result<()> {
        let v = self.pop()?;
        let slot = self
            .frame
            .locals
            .get(i as usize)
            .map(|_| self.frame.local(i))
            .ok_or_else(|| self.internal("local index out of range"))?;
        self.materialize_local(i)?;
        self.maybe_pin(i, false);
        self.note_local_write(i);
        // A pinned local is written to its register and its slot.
        if let Some(r) = self.frame.pinned(i, v.ty.class()) {
            match v.loc {
                // A pinned i32 stays zero-extended (memory accesses index
                // with it directly); every other move into it does that.
                Loc::Reg(x) if v.ty == Ty::I32 => self.masm.asm.mov_rr(Size::S32, r, x),
                _ => self.load_into(r, v.ty, v.loc, v.pos),
            }
            self.store_to(slot, v.ty, Loc::Reg(r), v.pos, SCRATCH);
        } else {
            self.store_to(slot, v.ty, v.loc, v.pos, SCRATCH);
        }
        if tee {
            let loc = match v.loc {
                Loc::Reg(_) | Loc::Const(_) => v.loc,
                _ => Loc::Local(i),
            };
            self.push(v.ty, loc);
        } else {
            self.free(&v);
        }
        Ok(())
    }

    /// `ref.func`: the address of the function's funcref record.
    fn visit_ref_func(&mut self, func: u32) -> Result<()> {
        let off = self
            .offsets
            .funcref(func)
            .ok_or_else(|| self.internal("funcref out of range"))?;
        let dst = self.alloc(RegClass::Int)?;
        self.masm
            .asm
            .lea(dst, crate::asm::Mem::new(VMCTX, off as i32));
        self.push_reg(Ty::Ref, dst);
        Ok(())
    }

    fn visit_ref_i31(&mut self) -> Result<()> {
        let v = self.pop()?;
        let reg = self.owned_reg(&v)?;
        // 32-bit operations: the word's upper half is zero.
        self.masm.asm.shift_ri(Shift::Shl, Size::S32, reg, 1);
        self.masm.asm.alu_ri(Alu::Or, Size::S32, reg, 1);
        self.push_reg(Ty::Ref, reg);
        Ok(())
    }

    fn visit_i31_get(&mut self, shift: Shift) -> Result<()> {
        let r = self.pop()?;
        let reg = self.owned_reg(&r)?;
        self.masm.asm.test_rr(Size::S64, reg, reg);
        self.masm.trap_if(Cc::E, TrapCode::NullI31Reference);
        self.masm.asm.shift_ri(shift, Size::S32, reg, 1);
        self.push_reg(Ty::I32, reg);
        Ok(())
    }

    /// `array.len`: the null check, then the length word
    /// (`rung_tiering::gc::GC_ARRAY_LEN`).
    fn visit_array_len(&mut self) -> Result<()> {
        let r = self.pop()?;
        let reg = self.owned_reg(&r)?;
        self.masm.asm.test_rr(Size::S64, reg, reg);
        self.masm.trap_if(Cc::E, TrapCode::NullArrayReference);
        let len = rung_tiering::gc::GC_ARRAY_LEN as i32;
        self.masm
            .asm
            .mov_rm(Size::S32, reg, crate::asm::Mem::new(reg, len));
        self.push_reg(Ty::I32, reg);
        Ok(())
    }

    /// `struct.get/_s/_u`: the null check, then a load at the field's
    /// offset (`rung_tiering::gc::struct_layout`); a `v128` field is
    /// `Unsupported`.
    fn visit_struct_get(&mut self, ty: u32, field: u32, signed: bool) -> Result<()> {
        use wasmparser::{CompositeInnerType, StorageType};
        let Some(CompositeInnerType::Struct(st)) = self
            .env
            .types
            .get(ty as usize)
            .map(|t| &t.composite_type.inner)
        else {
            return Err(self.internal("struct.get of a type that is not a struct"));
        };
        let layout = rung_tiering::gc::struct_layout(st);
        let (Some(f), Some(&off)) = (
            st.fields.get(field as usize),
            layout.offsets.get(field as usize),
        ) else {
            return Err(self.internal("struct.get of a field out of range"));
        };
        let (vty, bytes) = match f.element_type {
            StorageType::I8 => (Ty::I32, 1),
            StorageType::I16 => (Ty::I32, 2),
            StorageType::Val(v) => match Ty::of(v) {
                Some(t) => (t, 0),
                None => return Err(self.unsupported("gc: struct.get of a v128 field")),
            },
        };
        let r = self.pop()?;
        let reg = self.owned_reg(&r)?;
        self.masm.asm.test_rr(Size::S64, reg, reg);
        self.masm.trap_if(Cc::E, TrapCode::NullStructReference);
        let m = crate::asm::Mem::new(reg, off as i32);
        if vty.is_float() {
            let dst = self.alloc_for(vty)?;
            self.masm.asm.movs_rm(vty.size(), dst, m);
            self.free_reg(reg);
            self.push_reg(vty, dst);
        } else {
            if bytes == 0 {
                self.masm.asm.mov_rm(vty.size(), reg, m);
            } else {
                self.masm.asm.load_ext(reg, m, bytes, signed, vty.size());
            }
            self.push_reg(vty, reg);
        }
        Ok(())
    }

    fn visit_ref_as_non_null(&mut self) -> Result<()> {
        let r = self.pop()?;
        let reg = self.owned_reg(&r)?;
        self.masm.asm.test_rr(Size::S64, reg, reg);
        self.masm.trap_if(Cc::E, TrapCode::NullReference);
        self.push_reg(r.ty, reg);
        Ok(())
    }
}
