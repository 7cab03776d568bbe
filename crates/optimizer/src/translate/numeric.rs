//! Numeric operators: integer and float arithmetic, comparisons,
//! conversions, sign extension and reinterpretation.
//!
//! Wasm semantics and how they are kept:
//! - integer division and remainder check their divisor (and `INT_MIN / -1`
//!   for `div_s`) with explicit `trapz`/`trapnz` before the operation, so the
//!   trap is a `ud2` with the right code whatever the backend does with the
//!   `div` instruction (which would otherwise fault with SIGFPE);
//! - shifts and rotates take the count modulo the width (Cranelift does);
//! - `fmin`/`fmax` are Cranelift's, which are wasm's (NaN-propagating,
//!   `-0 < +0`); `nearest` rounds to even;
//! - trapping float→int conversions are Cranelift's `fcvt_to_*int`, which
//!   trap `BAD_CONVERSION_TO_INTEGER` on NaN and `INTEGER_OVERFLOW` out of
//!   range, as wasm wants; `*_sat` are `fcvt_to_*int_sat`;
//! - comparisons produce an `i8` which is zero-extended to wasm's `i32`.

use cranelift_codegen::ir::condcodes::{FloatCC, IntCC};
use cranelift_codegen::ir::{
    InstBuilder, InstructionData, MemFlagsData, Opcode, Type, Value, types,
};
use rung_tiering::{CompileError, TrapCode};
use wasmparser::Operator;

use super::Translator;

use types::{F32, F64, I8, I16, I32, I64, I128};

impl Translator<'_, '_> {
    /// The constant `v` is defined as, if it is an `iconst`.
    fn const_of(&self, v: Value) -> Option<i64> {
        let inst = self.builder.func.dfg.value_def(v).inst()?;
        match self.builder.func.dfg.insts[inst] {
            InstructionData::UnaryImm {
                opcode: Opcode::Iconst,
                imm,
            } => Some(imm.bits()),
            _ => None,
        }
    }

    fn bool_to_i32(&mut self, c: Value) -> Value {
        self.builder.ins().uextend(I32, c)
    }

    fn icmp(&mut self, cc: IntCC) -> Result<(), CompileError> {
        let (a, b) = self.pop2()?;
        let c = self.builder.ins().icmp(cc, a, b);
        let v = self.bool_to_i32(c);
        self.push(v);
        Ok(())
    }

    fn fcmp(&mut self, cc: FloatCC) -> Result<(), CompileError> {
        let (a, b) = self.pop2()?;
        let c = self.builder.ins().fcmp(cc, a, b);
        let v = self.bool_to_i32(c);
        self.push(v);
        Ok(())
    }

    fn eqz(&mut self) -> Result<(), CompileError> {
        let a = self.pop()?;
        let c = self.builder.ins().icmp_imm_u(IntCC::Equal, a, 0);
        let v = self.bool_to_i32(c);
        self.push(v);
        Ok(())
    }

    fn unary(&mut self, f: impl FnOnce(&mut Self, Value) -> Value) -> Result<(), CompileError> {
        let a = self.pop()?;
        let v = f(self, a);
        self.push(v);
        Ok(())
    }

    fn binary(
        &mut self,
        f: impl FnOnce(&mut Self, Value, Value) -> Value,
    ) -> Result<(), CompileError> {
        let (a, b) = self.pop2()?;
        let v = f(self, a, b);
        self.push(v);
        Ok(())
    }

    /// Traps `IntegerDivisionByZero` unless `b` is a nonzero constant.
    fn check_divisor(&mut self, b: Value) {
        if self.const_of(b).is_none_or(|c| c == 0) {
            self.trapz(b, TrapCode::IntegerDivisionByZero);
        }
    }

    fn div_rem(&mut self, ty: Type, op: DivRem) -> Result<(), CompileError> {
        let (a, b) = self.pop2()?;
        self.check_divisor(b);
        if op == DivRem::DivS && self.const_of(b).is_none_or(|c| c == -1 || c == mask(ty)) {
            // INT_MIN / -1 overflows.
            let min = if ty == I32 {
                i64::from(i32::MIN)
            } else {
                i64::MIN
            };
            let min = self.iconst(ty, min);
            let is_min = self.builder.ins().icmp(IntCC::Equal, a, min);
            let neg1 = self.iconst(ty, -1);
            let is_neg1 = self.builder.ins().icmp(IntCC::Equal, b, neg1);
            let both = self.builder.ins().band(is_min, is_neg1);
            self.trapnz(both, TrapCode::IntegerOverflow);
        }
        let ins = self.builder.ins();
        let v = match op {
            DivRem::DivS => ins.sdiv(a, b),
            DivRem::DivU => ins.udiv(a, b),
            DivRem::RemS => ins.srem(a, b),
            DivRem::RemU => ins.urem(a, b),
        };
        self.push(v);
        Ok(())
    }

    fn sext(&mut self, from: Type, to: Type) -> Result<(), CompileError> {
        self.unary(|t, a| {
            let narrow = t.builder.ins().ireduce(from, a);
            t.builder.ins().sextend(to, narrow)
        })
    }

    /// Translates `op` if it is a numeric operator; `Ok(false)` otherwise.
    pub(crate) fn numeric_op(&mut self, op: &Operator<'_>) -> Result<bool, CompileError> {
        use Operator as O;
        match op {
            // Comparisons.
            O::I32Eqz | O::I64Eqz => self.eqz()?,
            O::I32Eq | O::I64Eq => self.icmp(IntCC::Equal)?,
            O::I32Ne | O::I64Ne => self.icmp(IntCC::NotEqual)?,
            O::I32LtS | O::I64LtS => self.icmp(IntCC::SignedLessThan)?,
            O::I32LtU | O::I64LtU => self.icmp(IntCC::UnsignedLessThan)?,
            O::I32GtS | O::I64GtS => self.icmp(IntCC::SignedGreaterThan)?,
            O::I32GtU | O::I64GtU => self.icmp(IntCC::UnsignedGreaterThan)?,
            O::I32LeS | O::I64LeS => self.icmp(IntCC::SignedLessThanOrEqual)?,
            O::I32LeU | O::I64LeU => self.icmp(IntCC::UnsignedLessThanOrEqual)?,
            O::I32GeS | O::I64GeS => self.icmp(IntCC::SignedGreaterThanOrEqual)?,
            O::I32GeU | O::I64GeU => self.icmp(IntCC::UnsignedGreaterThanOrEqual)?,
            O::F32Eq | O::F64Eq => self.fcmp(FloatCC::Equal)?,
            O::F32Ne | O::F64Ne => self.fcmp(FloatCC::NotEqual)?,
            O::F32Lt | O::F64Lt => self.fcmp(FloatCC::LessThan)?,
            O::F32Gt | O::F64Gt => self.fcmp(FloatCC::GreaterThan)?,
            O::F32Le | O::F64Le => self.fcmp(FloatCC::LessThanOrEqual)?,
            O::F32Ge | O::F64Ge => self.fcmp(FloatCC::GreaterThanOrEqual)?,

            // Integer arithmetic.
            O::I32Clz | O::I64Clz => self.unary(|t, a| t.builder.ins().clz(a))?,
            O::I32Ctz | O::I64Ctz => self.unary(|t, a| t.builder.ins().ctz(a))?,
            O::I32Popcnt | O::I64Popcnt => self.unary(|t, a| t.builder.ins().popcnt(a))?,
            O::I32Add | O::I64Add => self.binary(|t, a, b| t.builder.ins().iadd(a, b))?,
            O::I32Sub | O::I64Sub => self.binary(|t, a, b| t.builder.ins().isub(a, b))?,
            O::I32Mul | O::I64Mul => self.binary(|t, a, b| t.builder.ins().imul(a, b))?,
            // Wide arithmetic: 128-bit values as (low, high) halves.
            O::I64Add128 | O::I64Sub128 => {
                let v = self.popn(4)?;
                let ins = self.builder.ins();
                let a = ins.iconcat(v[0], v[1]);
                let b = self.builder.ins().iconcat(v[2], v[3]);
                let r = if matches!(op, O::I64Add128) {
                    self.builder.ins().iadd(a, b)
                } else {
                    self.builder.ins().isub(a, b)
                };
                let (lo, hi) = self.builder.ins().isplit(r);
                self.push(lo);
                self.push(hi);
            }
            O::I64MulWideS | O::I64MulWideU => {
                // One `imul`/`mul` into rdx:rax (Cranelift's rule for a
                // 128-bit product of extended 64-bit values).
                let (a, b) = self.pop2()?;
                let (a, b) = if matches!(op, O::I64MulWideS) {
                    let ins = self.builder.ins();
                    (ins.sextend(I128, a), self.builder.ins().sextend(I128, b))
                } else {
                    let ins = self.builder.ins();
                    (ins.uextend(I128, a), self.builder.ins().uextend(I128, b))
                };
                let r = self.builder.ins().imul(a, b);
                let (lo, hi) = self.builder.ins().isplit(r);
                self.push(lo);
                self.push(hi);
            }
            O::I32DivS => self.div_rem(I32, DivRem::DivS)?,
            O::I64DivS => self.div_rem(I64, DivRem::DivS)?,
            O::I32DivU => self.div_rem(I32, DivRem::DivU)?,
            O::I64DivU => self.div_rem(I64, DivRem::DivU)?,
            O::I32RemS => self.div_rem(I32, DivRem::RemS)?,
            O::I64RemS => self.div_rem(I64, DivRem::RemS)?,
            O::I32RemU => self.div_rem(I32, DivRem::RemU)?,
            O::I64RemU => self.div_rem(I64, DivRem::RemU)?,
            O::I32And | O::I64And => self.binary(|t, a, b| t.builder.ins().band(a, b))?,
            O::I32Or | O::I64Or => self.binary(|t, a, b| t.builder.ins().bor(a, b))?,
            O::I32Xor | O::I64Xor => self.binary(|t, a, b| t.builder.ins().bxor(a, b))?,
            O::I32Shl | O::I64Shl => self.binary(|t, a, b| t.builder.ins().ishl(a, b))?,
            O::I32ShrS | O::I64ShrS => self.binary(|t, a, b| t.builder.ins().sshr(a, b))?,
            O::I32ShrU | O::I64ShrU => self.binary(|t, a, b| t.builder.ins().ushr(a, b))?,
            O::I32Rotl | O::I64Rotl => self.binary(|t, a, b| t.builder.ins().rotl(a, b))?,
            O::I32Rotr | O::I64Rotr => self.binary(|t, a, b| t.builder.ins().rotr(a, b))?,

            // Float arithmetic.
            O::F32Abs | O::F64Abs => self.unary(|t, a| t.builder.ins().fabs(a))?,
            O::F32Neg | O::F64Neg => self.unary(|t, a| t.builder.ins().fneg(a))?,
            O::F32Ceil | O::F64Ceil => self.unary(|t, a| t.builder.ins().ceil(a))?,
            O::F32Floor | O::F64Floor => self.unary(|t, a| t.builder.ins().floor(a))?,
            O::F32Trunc | O::F64Trunc => self.unary(|t, a| t.builder.ins().trunc(a))?,
            O::F32Nearest | O::F64Nearest => self.unary(|t, a| t.builder.ins().nearest(a))?,
            O::F32Sqrt | O::F64Sqrt => self.unary(|t, a| t.builder.ins().sqrt(a))?,
            O::F32Add | O::F64Add => self.binary(|t, a, b| t.builder.ins().fadd(a, b))?,
            O::F32Sub | O::F64Sub => self.binary(|t, a, b| t.builder.ins().fsub(a, b))?,
            O::F32Mul | O::F64Mul => self.binary(|t, a, b| t.builder.ins().fmul(a, b))?,
            O::F32Div | O::F64Div => self.binary(|t, a, b| t.builder.ins().fdiv(a, b))?,
            O::F32Min | O::F64Min => self.binary(|t, a, b| t.builder.ins().fmin(a, b))?,
            O::F32Max | O::F64Max => self.binary(|t, a, b| t.builder.ins().fmax(a, b))?,
            O::F32Copysign | O::F64Copysign => {
                self.binary(|t, a, b| t.builder.ins().fcopysign(a, b))?
            }

            // Integer width changes.
            O::I32WrapI64 => self.unary(|t, a| t.builder.ins().ireduce(I32, a))?,
            O::I64ExtendI32S => self.unary(|t, a| t.builder.ins().sextend(I64, a))?,
            O::I64ExtendI32U => self.unary(|t, a| t.builder.ins().uextend(I64, a))?,
            O::I32Extend8S => self.sext(I8, I32)?,
            O::I32Extend16S => self.sext(I16, I32)?,
            O::I64Extend8S => self.sext(I8, I64)?,
            O::I64Extend16S => self.sext(I16, I64)?,
            O::I64Extend32S => self.sext(I32, I64)?,

            // Float → int.
            O::I32TruncF32S | O::I32TruncF64S => {
                self.unary(|t, a| t.builder.ins().fcvt_to_sint(I32, a))?
            }
            O::I32TruncF32U | O::I32TruncF64U => {
                self.unary(|t, a| t.builder.ins().fcvt_to_uint(I32, a))?
            }
            O::I64TruncF32S | O::I64TruncF64S => {
                self.unary(|t, a| t.builder.ins().fcvt_to_sint(I64, a))?
            }
            O::I64TruncF32U | O::I64TruncF64U => {
                self.unary(|t, a| t.builder.ins().fcvt_to_uint(I64, a))?
            }
            O::I32TruncSatF32S | O::I32TruncSatF64S => {
                self.unary(|t, a| t.builder.ins().fcvt_to_sint_sat(I32, a))?
            }
            O::I32TruncSatF32U | O::I32TruncSatF64U => {
                self.unary(|t, a| t.builder.ins().fcvt_to_uint_sat(I32, a))?
            }
            O::I64TruncSatF32S | O::I64TruncSatF64S => {
                self.unary(|t, a| t.builder.ins().fcvt_to_sint_sat(I64, a))?
            }
            O::I64TruncSatF32U | O::I64TruncSatF64U => {
                self.unary(|t, a| t.builder.ins().fcvt_to_uint_sat(I64, a))?
            }

            // Int → float, float width.
            O::F32ConvertI32S | O::F32ConvertI64S => {
                self.unary(|t, a| t.builder.ins().fcvt_from_sint(F32, a))?
            }
            O::F32ConvertI32U | O::F32ConvertI64U => {
                self.unary(|t, a| t.builder.ins().fcvt_from_uint(F32, a))?
            }
            O::F64ConvertI32S | O::F64ConvertI64S => {
                self.unary(|t, a| t.builder.ins().fcvt_from_sint(F64, a))?
            }
            O::F64ConvertI32U | O::F64ConvertI64U => {
                self.unary(|t, a| t.builder.ins().fcvt_from_uint(F64, a))?
            }
            O::F32DemoteF64 => self.unary(|t, a| t.builder.ins().fdemote(F32, a))?,
            O::F64PromoteF32 => self.unary(|t, a| t.builder.ins().fpromote(F64, a))?,

            // Reinterpretation.
            O::I32ReinterpretF32 => self.bitcast(I32)?,
            O::I64ReinterpretF64 => self.bitcast(I64)?,
            O::F32ReinterpretI32 => self.bitcast(F32)?,
            O::F64ReinterpretI64 => self.bitcast(F64)?,
            _ => return Ok(false),
        }
        Ok(true)
    }

    fn bitcast(&mut self, to: Type) -> Result<(), CompileError> {
        self.unary(|t, a| t.builder.ins().bitcast(to, MemFlagsData::new(), a))
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum DivRem {
    DivS,
    DivU,
    RemS,
    RemU,
}

/// All ones in `ty`'s width, as the (zero-extended) constant `-1` appears.
fn mask(ty: Type) -> i64 {
    if ty == I32 { i64::from(u32::MAX) } else { -1 }
}
