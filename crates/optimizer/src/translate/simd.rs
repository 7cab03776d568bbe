//! Fixed-width SIMD (`v128`) and relaxed SIMD.
//!
//! **Representation.** A `v128` travels as `I8X16` everywhere a value is
//! stored or merged: locals, block parameters and results, globals, call
//! arguments and results. An operator that needs lanes of another shape
//! bitcasts its operands to that type (`I16X8`, `I32X4`, `I64X2`, `F32X4`,
//! `F64X2`; a no-op `bitcast` with little-endian `MemFlags`, as Wasmtime's
//! translator does) and its result back to `I8X16` before pushing it;
//! Cranelift folds a bitcast of a bitcast, so a chain of `i32x4` operators
//! keeps its values in one type.
//!
//! **Semantics** kept by Cranelift's instructions (the x64 backend lowers
//! each to wasm's meaning, needing SSE4.1 at most: `cranelift_native` turns
//! on what the host has, and without SSE4.1 every SIMD operator is
//! `Unsupported`, see `Target::simd`):
//! - shifts mask their count by the lane width, as wasm does;
//! - `fmin`/`fmax` propagate NaN and order `-0 < +0` (wasm's `min`/`max`);
//!   `pmin`/`pmax` are `b < a ? b : a` and `a < b ? b : a`, written as
//!   `fcmp` + `bitselect`, which the backend turns into `minps`/`maxps`;
//! - `swizzle` gives 0 for indices out of range; `shuffle` takes its 16
//!   lane indices (0–31) as an immediate;
//! - `trunc_sat` saturates and gives 0 for NaN; the `_zero` forms of
//!   `f64x2` narrow against a zero vector (`snarrow`/`uunarrow` of an
//!   `I64X2` conversion, the only shape the backend lowers);
//! - `dot` and `extadd_pairwise` are widenings and `iadd_pairwise`, which
//!   the backend turns into `pmaddwd` / `pmaddubsw` sequences.
//!
//! **Relaxed SIMD** has one deterministic answer per operator (the table
//! in ARCHITECTURE.md, "SIMD in the optimizer"): the non-relaxed operator
//! where one exists (`relaxed_swizzle` = `swizzle`, `relaxed_trunc*` =
//! `trunc_sat*`, `relaxed_laneselect` = `bitselect`, `relaxed_min/max` =
//! `min/max`, `relaxed_q15mulr_s` = `q15mulr_sat_s`), unfused `madd`/`nmadd`
//! (`a * b + c`, `-(a * b) + c`, each rounded: Cranelift's `fma` is a
//! libcall without FMA hardware), and the dot products with both operands
//! signed: `i16x8.relaxed_dot_i8x16_i7x16_s` wraps each sum of two products
//! to 16 bits (only `-128 * -128` twice overflows), the `_add_s` form sums
//! its four products in 32 bits, then adds `c` (wrapping).
//!
//! Memory operators use the scalar path (`heap_addr`, `heap_access`): one
//! tagged trap code per access, no bounds check, the guard region faults.

use cranelift_codegen::ir::condcodes::{FloatCC, IntCC};
use cranelift_codegen::ir::{
    ConstantData, Endianness, InstBuilder, MemFlagsData, Type, Value, types,
};
use rung_tiering::CompileError;
use wasmparser::{MemArg, Operator};

use super::Translator;

use types::{F32X4, F64X2, I8, I8X16, I16, I16X8, I32, I32X4, I64, I64X2};

/// The type every `v128` is kept as.
pub(crate) const V128: Type = I8X16;

/// Flags of a lane-reinterpreting bitcast.
fn little() -> MemFlagsData {
    MemFlagsData::new().with_endianness(Endianness::Little)
}

/// How a load extends its lanes, or splats, or zero-fills.
#[derive(Clone, Copy)]
enum VLoad {
    Full,
    /// `load8x8_s` …: (scalar size, signed).
    Extend(u32, bool),
    /// `load*_splat`: the scalar type.
    Splat(Type),
    /// `load32_zero`, `load64_zero`: the scalar type.
    Zero(Type),
}

/// The lane type and vector type of a lane access of `bytes`.
fn lane_of(bytes: u32) -> (Type, Type) {
    match bytes {
        1 => (I8, I8X16),
        2 => (I16, I16X8),
        4 => (I32, I32X4),
        _ => (I64, I64X2),
    }
}

impl Translator<'_, '_> {
    /// `v` as a vector of type `ty` (a no-op bitcast).
    fn as_vec(&mut self, v: Value, ty: Type) -> Value {
        if self.builder.func.dfg.value_type(v) == ty {
            v
        } else {
            self.builder.ins().bitcast(ty, little(), v)
        }
    }

    /// Pops a `v128` as a vector of type `ty`.
    fn vpop(&mut self, ty: Type) -> Result<Value, CompileError> {
        let v = self.pop()?;
        Ok(self.as_vec(v, ty))
    }

    fn vpop2(&mut self, ty: Type) -> Result<(Value, Value), CompileError> {
        let b = self.vpop(ty)?;
        let a = self.vpop(ty)?;
        Ok((a, b))
    }

    fn vpop3(&mut self, ty: Type) -> Result<(Value, Value, Value), CompileError> {
        let c = self.vpop(ty)?;
        let (a, b) = self.vpop2(ty)?;
        Ok((a, b, c))
    }

    /// Pushes a vector of any type as a `v128`.
    fn vpush(&mut self, v: Value) {
        let v = self.as_vec(v, V128);
        self.push(v);
    }

    fn vunary(
        &mut self,
        ty: Type,
        f: impl FnOnce(&mut Self, Value) -> Value,
    ) -> Result<(), CompileError> {
        let a = self.vpop(ty)?;
        let v = f(self, a);
        self.vpush(v);
        Ok(())
    }

    fn vbinary(
        &mut self,
        ty: Type,
        f: impl FnOnce(&mut Self, Value, Value) -> Value,
    ) -> Result<(), CompileError> {
        let (a, b) = self.vpop2(ty)?;
        let v = f(self, a, b);
        self.vpush(v);
        Ok(())
    }

    fn vternary(
        &mut self,
        ty: Type,
        f: impl FnOnce(&mut Self, Value, Value, Value) -> Value,
    ) -> Result<(), CompileError> {
        let (a, b, c) = self.vpop3(ty)?;
        let v = f(self, a, b, c);
        self.vpush(v);
        Ok(())
    }

    fn vicmp(&mut self, ty: Type, cc: IntCC) -> Result<(), CompileError> {
        self.vbinary(ty, |t, a, b| t.builder.ins().icmp(cc, a, b))
    }

    fn vfcmp(&mut self, ty: Type, cc: FloatCC) -> Result<(), CompileError> {
        self.vbinary(ty, |t, a, b| t.builder.ins().fcmp(cc, a, b))
    }

    /// A shift of `ty`'s lanes by an `i32` count (Cranelift masks it by
    /// the lane width, as wasm does).
    fn vshift(
        &mut self,
        ty: Type,
        f: impl FnOnce(&mut Self, Value, Value) -> Value,
    ) -> Result<(), CompileError> {
        let n = self.pop()?;
        let a = self.vpop(ty)?;
        let v = f(self, a, n);
        self.vpush(v);
        Ok(())
    }

    /// A constant vector of type `ty` from its 16 little-endian bytes.
    fn vconst(&mut self, ty: Type, bytes: &[u8]) -> Value {
        let c = self
            .builder
            .func
            .dfg
            .constants
            .insert(ConstantData::from(bytes));
        self.builder.ins().vconst(ty, c)
    }

    /// The lanes of `a` (of type `ty`) widened, low or high half, signed
    /// or not.
    fn widen(&mut self, a: Value, high: bool, signed: bool) -> Value {
        let ins = self.builder.ins();
        match (high, signed) {
            (false, true) => ins.swiden_low(a),
            (true, true) => ins.swiden_high(a),
            (false, false) => ins.uwiden_low(a),
            (true, false) => ins.uwiden_high(a),
        }
    }

    fn vextend(&mut self, ty: Type, high: bool, signed: bool) -> Result<(), CompileError> {
        self.vunary(ty, |t, a| t.widen(a, high, signed))
    }

    /// `extmul`: both halves widened, then multiplied.
    fn vextmul(&mut self, ty: Type, high: bool, signed: bool) -> Result<(), CompileError> {
        self.vbinary(ty, |t, a, b| {
            let a = t.widen(a, high, signed);
            let b = t.widen(b, high, signed);
            t.builder.ins().imul(a, b)
        })
    }

    /// `extadd_pairwise`: adjacent lanes widened and added.
    fn vextadd_pairwise(&mut self, ty: Type, signed: bool) -> Result<(), CompileError> {
        self.vunary(ty, |t, a| t.extadd_pairwise(a, signed))
    }

    fn extadd_pairwise(&mut self, a: Value, signed: bool) -> Value {
        let lo = self.widen(a, false, signed);
        let hi = self.widen(a, true, signed);
        self.builder.ins().iadd_pairwise(lo, hi)
    }

    /// Signed dot product of adjacent lanes: the lanes widened, multiplied
    /// and added pairwise (wrapping in the wider type).
    fn dot_s(&mut self, a: Value, b: Value) -> Value {
        let alo = self.widen(a, false, true);
        let blo = self.widen(b, false, true);
        let lo = self.builder.ins().imul(alo, blo);
        let ahi = self.widen(a, true, true);
        let bhi = self.widen(b, true, true);
        let hi = self.builder.ins().imul(ahi, bhi);
        self.builder.ins().iadd_pairwise(lo, hi)
    }

    /// `pmin` (`b < a ? b : a`) and `pmax` (`a < b ? b : a`).
    fn pminmax(&mut self, ty: Type, max: bool) -> Result<(), CompileError> {
        self.vbinary(ty, |t, a, b| {
            let (x, y) = if max { (a, b) } else { (b, a) };
            let lt = t.builder.ins().fcmp(FloatCC::LessThan, x, y);
            let mask = t.builder.ins().bitcast(ty, little(), lt);
            t.builder.ins().bitselect(mask, b, a)
        })
    }

    /// `i32x4.trunc_sat_f64x2_{s,u}_zero` (and the relaxed forms): the two
    /// lanes converted to `i64` with saturation, then narrowed against a
    /// zero vector (the shape Cranelift's x64 backend lowers).
    fn trunc_sat_f64x2_zero(&mut self, signed: bool) -> Result<(), CompileError> {
        let a = self.vpop(F64X2)?;
        let zero = self.vconst(I64X2, &[0; 16]);
        let v = if signed {
            let c = self.builder.ins().fcvt_to_sint_sat(I64X2, a);
            self.builder.ins().snarrow(c, zero)
        } else {
            let c = self.builder.ins().fcvt_to_uint_sat(I64X2, a);
            self.builder.ins().uunarrow(c, zero)
        };
        self.vpush(v);
        Ok(())
    }

    fn extract_lane(&mut self, ty: Type, lane: u8, ext: Option<bool>) -> Result<(), CompileError> {
        let a = self.vpop(ty)?;
        let x = self.builder.ins().extractlane(a, lane);
        let v = match ext {
            Some(true) => self.builder.ins().sextend(I32, x),
            Some(false) => self.builder.ins().uextend(I32, x),
            None => x,
        };
        self.push(v);
        Ok(())
    }

    fn replace_lane(&mut self, ty: Type, lane: u8) -> Result<(), CompileError> {
        let x = self.pop()?;
        let a = self.vpop(ty)?;
        let lane_ty = ty.lane_type();
        let x = if self.builder.func.dfg.value_type(x) == lane_ty {
            x
        } else {
            self.builder.ins().ireduce(lane_ty, x)
        };
        let v = self.builder.ins().insertlane(a, x, lane);
        self.vpush(v);
        Ok(())
    }

    fn splat(&mut self, ty: Type) -> Result<(), CompileError> {
        let x = self.pop()?;
        let lane_ty = ty.lane_type();
        let x = if self.builder.func.dfg.value_type(x) == lane_ty {
            x
        } else {
            self.builder.ins().ireduce(lane_ty, x)
        };
        let v = self.builder.ins().splat(ty, x);
        self.vpush(v);
        Ok(())
    }

    fn all_true(&mut self, ty: Type) -> Result<(), CompileError> {
        let a = self.vpop(ty)?;
        let c = self.builder.ins().vall_true(a);
        let v = self.builder.ins().uextend(I32, c);
        self.push(v);
        Ok(())
    }

    fn bitmask(&mut self, ty: Type) -> Result<(), CompileError> {
        let a = self.vpop(ty)?;
        let v = self.builder.ins().vhigh_bits(I32, a);
        self.push(v);
        Ok(())
    }

    // ---- memory -----------------------------------------------------------

    fn vload(&mut self, memarg: &MemArg, kind: VLoad) -> Result<(), CompileError> {
        let addr = self.pop()?;
        let (ptr, off) = self.heap_addr(memarg, addr)?;
        let n = self.heap_access();
        let flags = self.env.heap(n);
        let ins = self.builder.ins();
        let v = match kind {
            VLoad::Full => ins.load(V128, flags, ptr, off),
            VLoad::Extend(1, true) => ins.sload8x8(flags, ptr, off),
            VLoad::Extend(1, false) => ins.uload8x8(flags, ptr, off),
            VLoad::Extend(2, true) => ins.sload16x4(flags, ptr, off),
            VLoad::Extend(2, false) => ins.uload16x4(flags, ptr, off),
            VLoad::Extend(_, true) => ins.sload32x2(flags, ptr, off),
            VLoad::Extend(_, false) => ins.uload32x2(flags, ptr, off),
            VLoad::Splat(ty) => {
                let x = ins.load(ty, flags, ptr, off);
                let vty = match ty {
                    I8 => I8X16,
                    I16 => I16X8,
                    I32 => I32X4,
                    _ => I64X2,
                };
                self.builder.ins().splat(vty, x)
            }
            VLoad::Zero(ty) => {
                let x = ins.load(ty, flags, ptr, off);
                let vty = if ty == I32 { I32X4 } else { I64X2 };
                self.builder.ins().scalar_to_vector(vty, x)
            }
        };
        self.vpush(v);
        Ok(())
    }

    fn vstore(&mut self, memarg: &MemArg) -> Result<(), CompileError> {
        let value = self.vpop(V128)?;
        let addr = self.pop()?;
        let (ptr, off) = self.heap_addr(memarg, addr)?;
        let n = self.heap_access();
        let flags = self.env.heap(n);
        self.builder.ins().store(flags, value, ptr, off);
        Ok(())
    }

    fn load_lane(&mut self, memarg: &MemArg, bytes: u32, lane: u8) -> Result<(), CompileError> {
        let (lane_ty, vty) = lane_of(bytes);
        let vec = self.vpop(vty)?;
        let addr = self.pop()?;
        let (ptr, off) = self.heap_addr(memarg, addr)?;
        let n = self.heap_access();
        let flags = self.env.heap(n);
        let x = self.builder.ins().load(lane_ty, flags, ptr, off);
        let v = self.builder.ins().insertlane(vec, x, lane);
        self.vpush(v);
        Ok(())
    }

    fn store_lane(&mut self, memarg: &MemArg, bytes: u32, lane: u8) -> Result<(), CompileError> {
        let (_, vty) = lane_of(bytes);
        let vec = self.vpop(vty)?;
        let addr = self.pop()?;
        let (ptr, off) = self.heap_addr(memarg, addr)?;
        let x = self.builder.ins().extractlane(vec, lane);
        let n = self.heap_access();
        let flags = self.env.heap(n);
        self.builder.ins().store(flags, x, ptr, off);
        Ok(())
    }

    /// Translates `op` if it is a SIMD or relaxed-SIMD operator;
    /// `Ok(false)` otherwise.
    pub(crate) fn simd_op(&mut self, op: &Operator<'_>) -> Result<bool, CompileError> {
        use Operator as O;
        if !self.simd {
            // Only SIMD operators and ones no translator knows get here.
            let name = rung_tiering::describe_unsupported(op);
            if name.starts_with("simd") {
                return Err(self.unsupported(format!("{name} (needs SSE4.1)")));
            }
        }
        match op {
            // Memory.
            O::V128Load { memarg } => self.vload(memarg, VLoad::Full)?,
            O::V128Load8x8S { memarg } => self.vload(memarg, VLoad::Extend(1, true))?,
            O::V128Load8x8U { memarg } => self.vload(memarg, VLoad::Extend(1, false))?,
            O::V128Load16x4S { memarg } => self.vload(memarg, VLoad::Extend(2, true))?,
            O::V128Load16x4U { memarg } => self.vload(memarg, VLoad::Extend(2, false))?,
            O::V128Load32x2S { memarg } => self.vload(memarg, VLoad::Extend(4, true))?,
            O::V128Load32x2U { memarg } => self.vload(memarg, VLoad::Extend(4, false))?,
            O::V128Load8Splat { memarg } => self.vload(memarg, VLoad::Splat(I8))?,
            O::V128Load16Splat { memarg } => self.vload(memarg, VLoad::Splat(I16))?,
            O::V128Load32Splat { memarg } => self.vload(memarg, VLoad::Splat(I32))?,
            O::V128Load64Splat { memarg } => self.vload(memarg, VLoad::Splat(I64))?,
            O::V128Load32Zero { memarg } => self.vload(memarg, VLoad::Zero(I32))?,
            O::V128Load64Zero { memarg } => self.vload(memarg, VLoad::Zero(I64))?,
            O::V128Store { memarg } => self.vstore(memarg)?,
            O::V128Load8Lane { memarg, lane } => self.load_lane(memarg, 1, *lane)?,
            O::V128Load16Lane { memarg, lane } => self.load_lane(memarg, 2, *lane)?,
            O::V128Load32Lane { memarg, lane } => self.load_lane(memarg, 4, *lane)?,
            O::V128Load64Lane { memarg, lane } => self.load_lane(memarg, 8, *lane)?,
            O::V128Store8Lane { memarg, lane } => self.store_lane(memarg, 1, *lane)?,
            O::V128Store16Lane { memarg, lane } => self.store_lane(memarg, 2, *lane)?,
            O::V128Store32Lane { memarg, lane } => self.store_lane(memarg, 4, *lane)?,
            O::V128Store64Lane { memarg, lane } => self.store_lane(memarg, 8, *lane)?,

            // Constants, lanes, shuffles.
            O::V128Const { value } => {
                let v = self.vconst(V128, value.bytes());
                self.push(v);
            }
            O::I8x16Shuffle { lanes } => {
                let (a, b) = self.vpop2(I8X16)?;
                let mask = self
                    .builder
                    .func
                    .dfg
                    .immediates
                    .push(ConstantData::from(&lanes[..]));
                let v = self.builder.ins().shuffle(a, b, mask);
                self.vpush(v);
            }
            O::I8x16Swizzle | O::I8x16RelaxedSwizzle => {
                self.vbinary(I8X16, |t, a, b| t.builder.ins().swizzle(a, b))?;
            }
            O::I8x16ExtractLaneS { lane } => self.extract_lane(I8X16, *lane, Some(true))?,
            O::I8x16ExtractLaneU { lane } => self.extract_lane(I8X16, *lane, Some(false))?,
            O::I16x8ExtractLaneS { lane } => self.extract_lane(I16X8, *lane, Some(true))?,
            O::I16x8ExtractLaneU { lane } => self.extract_lane(I16X8, *lane, Some(false))?,
            O::I32x4ExtractLane { lane } => self.extract_lane(I32X4, *lane, None)?,
            O::I64x2ExtractLane { lane } => self.extract_lane(I64X2, *lane, None)?,
            O::F32x4ExtractLane { lane } => self.extract_lane(F32X4, *lane, None)?,
            O::F64x2ExtractLane { lane } => self.extract_lane(F64X2, *lane, None)?,
            O::I8x16ReplaceLane { lane } => self.replace_lane(I8X16, *lane)?,
            O::I16x8ReplaceLane { lane } => self.replace_lane(I16X8, *lane)?,
            O::I32x4ReplaceLane { lane } => self.replace_lane(I32X4, *lane)?,
            O::I64x2ReplaceLane { lane } => self.replace_lane(I64X2, *lane)?,
            O::F32x4ReplaceLane { lane } => self.replace_lane(F32X4, *lane)?,
            O::F64x2ReplaceLane { lane } => self.replace_lane(F64X2, *lane)?,
            O::I8x16Splat => self.splat(I8X16)?,
            O::I16x8Splat => self.splat(I16X8)?,
            O::I32x4Splat => self.splat(I32X4)?,
            O::I64x2Splat => self.splat(I64X2)?,
            O::F32x4Splat => self.splat(F32X4)?,
            O::F64x2Splat => self.splat(F64X2)?,

            // Comparisons.
            O::I8x16Eq => self.vicmp(I8X16, IntCC::Equal)?,
            O::I8x16Ne => self.vicmp(I8X16, IntCC::NotEqual)?,
            O::I8x16LtS => self.vicmp(I8X16, IntCC::SignedLessThan)?,
            O::I8x16LtU => self.vicmp(I8X16, IntCC::UnsignedLessThan)?,
            O::I8x16GtS => self.vicmp(I8X16, IntCC::SignedGreaterThan)?,
            O::I8x16GtU => self.vicmp(I8X16, IntCC::UnsignedGreaterThan)?,
            O::I8x16LeS => self.vicmp(I8X16, IntCC::SignedLessThanOrEqual)?,
            O::I8x16LeU => self.vicmp(I8X16, IntCC::UnsignedLessThanOrEqual)?,
            O::I8x16GeS => self.vicmp(I8X16, IntCC::SignedGreaterThanOrEqual)?,
            O::I8x16GeU => self.vicmp(I8X16, IntCC::UnsignedGreaterThanOrEqual)?,
            O::I16x8Eq => self.vicmp(I16X8, IntCC::Equal)?,
            O::I16x8Ne => self.vicmp(I16X8, IntCC::NotEqual)?,
            O::I16x8LtS => self.vicmp(I16X8, IntCC::SignedLessThan)?,
            O::I16x8LtU => self.vicmp(I16X8, IntCC::UnsignedLessThan)?,
            O::I16x8GtS => self.vicmp(I16X8, IntCC::SignedGreaterThan)?,
            O::I16x8GtU => self.vicmp(I16X8, IntCC::UnsignedGreaterThan)?,
            O::I16x8LeS => self.vicmp(I16X8, IntCC::SignedLessThanOrEqual)?,
            O::I16x8LeU => self.vicmp(I16X8, IntCC::UnsignedLessThanOrEqual)?,
            O::I16x8GeS => self.vicmp(I16X8, IntCC::SignedGreaterThanOrEqual)?,
            O::I16x8GeU => self.vicmp(I16X8, IntCC::UnsignedGreaterThanOrEqual)?,
            O::I32x4Eq => self.vicmp(I32X4, IntCC::Equal)?,
            O::I32x4Ne => self.vicmp(I32X4, IntCC::NotEqual)?,
            O::I32x4LtS => self.vicmp(I32X4, IntCC::SignedLessThan)?,
            O::I32x4LtU => self.vicmp(I32X4, IntCC::UnsignedLessThan)?,
            O::I32x4GtS => self.vicmp(I32X4, IntCC::SignedGreaterThan)?,
            O::I32x4GtU => self.vicmp(I32X4, IntCC::UnsignedGreaterThan)?,
            O::I32x4LeS => self.vicmp(I32X4, IntCC::SignedLessThanOrEqual)?,
            O::I32x4LeU => self.vicmp(I32X4, IntCC::UnsignedLessThanOrEqual)?,
            O::I32x4GeS => self.vicmp(I32X4, IntCC::SignedGreaterThanOrEqual)?,
            O::I32x4GeU => self.vicmp(I32X4, IntCC::UnsignedGreaterThanOrEqual)?,
            O::I64x2Eq => self.vicmp(I64X2, IntCC::Equal)?,
            O::I64x2Ne => self.vicmp(I64X2, IntCC::NotEqual)?,
            O::I64x2LtS => self.vicmp(I64X2, IntCC::SignedLessThan)?,
            O::I64x2GtS => self.vicmp(I64X2, IntCC::SignedGreaterThan)?,
            O::I64x2LeS => self.vicmp(I64X2, IntCC::SignedLessThanOrEqual)?,
            O::I64x2GeS => self.vicmp(I64X2, IntCC::SignedGreaterThanOrEqual)?,
            O::F32x4Eq => self.vfcmp(F32X4, FloatCC::Equal)?,
            O::F32x4Ne => self.vfcmp(F32X4, FloatCC::NotEqual)?,
            O::F32x4Lt => self.vfcmp(F32X4, FloatCC::LessThan)?,
            O::F32x4Gt => self.vfcmp(F32X4, FloatCC::GreaterThan)?,
            O::F32x4Le => self.vfcmp(F32X4, FloatCC::LessThanOrEqual)?,
            O::F32x4Ge => self.vfcmp(F32X4, FloatCC::GreaterThanOrEqual)?,
            O::F64x2Eq => self.vfcmp(F64X2, FloatCC::Equal)?,
            O::F64x2Ne => self.vfcmp(F64X2, FloatCC::NotEqual)?,
            O::F64x2Lt => self.vfcmp(F64X2, FloatCC::LessThan)?,
            O::F64x2Gt => self.vfcmp(F64X2, FloatCC::GreaterThan)?,
            O::F64x2Le => self.vfcmp(F64X2, FloatCC::LessThanOrEqual)?,
            O::F64x2Ge => self.vfcmp(F64X2, FloatCC::GreaterThanOrEqual)?,

            // Bitwise.
            O::V128Not => self.vunary(V128, |t, a| t.builder.ins().bnot(a))?,
            O::V128And => self.vbinary(V128, |t, a, b| t.builder.ins().band(a, b))?,
            O::V128AndNot => self.vbinary(V128, |t, a, b| t.builder.ins().band_not(a, b))?,
            O::V128Or => self.vbinary(V128, |t, a, b| t.builder.ins().bor(a, b))?,
            O::V128Xor => self.vbinary(V128, |t, a, b| t.builder.ins().bxor(a, b))?,
            O::V128Bitselect
            | O::I8x16RelaxedLaneselect
            | O::I16x8RelaxedLaneselect
            | O::I32x4RelaxedLaneselect
            | O::I64x2RelaxedLaneselect => {
                self.vternary(V128, |t, a, b, c| t.builder.ins().bitselect(c, a, b))?;
            }
            O::V128AnyTrue => {
                let a = self.vpop(V128)?;
                let c = self.builder.ins().vany_true(a);
                let v = self.builder.ins().uextend(I32, c);
                self.push(v);
            }

            // i8x16.
            O::I8x16Abs => self.vunary(I8X16, |t, a| t.builder.ins().iabs(a))?,
            O::I8x16Neg => self.vunary(I8X16, |t, a| t.builder.ins().ineg(a))?,
            O::I8x16Popcnt => self.vunary(I8X16, |t, a| t.builder.ins().popcnt(a))?,
            O::I8x16AllTrue => self.all_true(I8X16)?,
            O::I8x16Bitmask => self.bitmask(I8X16)?,
            O::I8x16NarrowI16x8S => self.vbinary(I16X8, |t, a, b| t.builder.ins().snarrow(a, b))?,
            O::I8x16NarrowI16x8U => self.vbinary(I16X8, |t, a, b| t.builder.ins().unarrow(a, b))?,
            O::I8x16Shl => self.vshift(I8X16, |t, a, n| t.builder.ins().ishl(a, n))?,
            O::I8x16ShrS => self.vshift(I8X16, |t, a, n| t.builder.ins().sshr(a, n))?,
            O::I8x16ShrU => self.vshift(I8X16, |t, a, n| t.builder.ins().ushr(a, n))?,
            O::I8x16Add => self.vbinary(I8X16, |t, a, b| t.builder.ins().iadd(a, b))?,
            O::I8x16AddSatS => self.vbinary(I8X16, |t, a, b| t.builder.ins().sadd_sat(a, b))?,
            O::I8x16AddSatU => self.vbinary(I8X16, |t, a, b| t.builder.ins().uadd_sat(a, b))?,
            O::I8x16Sub => self.vbinary(I8X16, |t, a, b| t.builder.ins().isub(a, b))?,
            O::I8x16SubSatS => self.vbinary(I8X16, |t, a, b| t.builder.ins().ssub_sat(a, b))?,
            O::I8x16SubSatU => self.vbinary(I8X16, |t, a, b| t.builder.ins().usub_sat(a, b))?,
            O::I8x16MinS => self.vbinary(I8X16, |t, a, b| t.builder.ins().smin(a, b))?,
            O::I8x16MinU => self.vbinary(I8X16, |t, a, b| t.builder.ins().umin(a, b))?,
            O::I8x16MaxS => self.vbinary(I8X16, |t, a, b| t.builder.ins().smax(a, b))?,
            O::I8x16MaxU => self.vbinary(I8X16, |t, a, b| t.builder.ins().umax(a, b))?,
            O::I8x16AvgrU => self.vbinary(I8X16, |t, a, b| t.builder.ins().avg_round(a, b))?,

            // i16x8.
            O::I16x8ExtAddPairwiseI8x16S => self.vextadd_pairwise(I8X16, true)?,
            O::I16x8ExtAddPairwiseI8x16U => self.vextadd_pairwise(I8X16, false)?,
            O::I16x8Abs => self.vunary(I16X8, |t, a| t.builder.ins().iabs(a))?,
            O::I16x8Neg => self.vunary(I16X8, |t, a| t.builder.ins().ineg(a))?,
            O::I16x8Q15MulrSatS | O::I16x8RelaxedQ15mulrS => {
                self.vbinary(I16X8, |t, a, b| t.builder.ins().sqmul_round_sat(a, b))?;
            }
            O::I16x8AllTrue => self.all_true(I16X8)?,
            O::I16x8Bitmask => self.bitmask(I16X8)?,
            O::I16x8NarrowI32x4S => self.vbinary(I32X4, |t, a, b| t.builder.ins().snarrow(a, b))?,
            O::I16x8NarrowI32x4U => self.vbinary(I32X4, |t, a, b| t.builder.ins().unarrow(a, b))?,
            O::I16x8ExtendLowI8x16S => self.vextend(I8X16, false, true)?,
            O::I16x8ExtendHighI8x16S => self.vextend(I8X16, true, true)?,
            O::I16x8ExtendLowI8x16U => self.vextend(I8X16, false, false)?,
            O::I16x8ExtendHighI8x16U => self.vextend(I8X16, true, false)?,
            O::I16x8Shl => self.vshift(I16X8, |t, a, n| t.builder.ins().ishl(a, n))?,
            O::I16x8ShrS => self.vshift(I16X8, |t, a, n| t.builder.ins().sshr(a, n))?,
            O::I16x8ShrU => self.vshift(I16X8, |t, a, n| t.builder.ins().ushr(a, n))?,
            O::I16x8Add => self.vbinary(I16X8, |t, a, b| t.builder.ins().iadd(a, b))?,
            O::I16x8AddSatS => self.vbinary(I16X8, |t, a, b| t.builder.ins().sadd_sat(a, b))?,
            O::I16x8AddSatU => self.vbinary(I16X8, |t, a, b| t.builder.ins().uadd_sat(a, b))?,
            O::I16x8Sub => self.vbinary(I16X8, |t, a, b| t.builder.ins().isub(a, b))?,
            O::I16x8SubSatS => self.vbinary(I16X8, |t, a, b| t.builder.ins().ssub_sat(a, b))?,
            O::I16x8SubSatU => self.vbinary(I16X8, |t, a, b| t.builder.ins().usub_sat(a, b))?,
            O::I16x8Mul => self.vbinary(I16X8, |t, a, b| t.builder.ins().imul(a, b))?,
            O::I16x8MinS => self.vbinary(I16X8, |t, a, b| t.builder.ins().smin(a, b))?,
            O::I16x8MinU => self.vbinary(I16X8, |t, a, b| t.builder.ins().umin(a, b))?,
            O::I16x8MaxS => self.vbinary(I16X8, |t, a, b| t.builder.ins().smax(a, b))?,
            O::I16x8MaxU => self.vbinary(I16X8, |t, a, b| t.builder.ins().umax(a, b))?,
            O::I16x8AvgrU => self.vbinary(I16X8, |t, a, b| t.builder.ins().avg_round(a, b))?,
            O::I16x8ExtMulLowI8x16S => self.vextmul(I8X16, false, true)?,
            O::I16x8ExtMulHighI8x16S => self.vextmul(I8X16, true, true)?,
            O::I16x8ExtMulLowI8x16U => self.vextmul(I8X16, false, false)?,
            O::I16x8ExtMulHighI8x16U => self.vextmul(I8X16, true, false)?,

            // i32x4.
            O::I32x4ExtAddPairwiseI16x8S => self.vextadd_pairwise(I16X8, true)?,
            O::I32x4ExtAddPairwiseI16x8U => self.vextadd_pairwise(I16X8, false)?,
            O::I32x4Abs => self.vunary(I32X4, |t, a| t.builder.ins().iabs(a))?,
            O::I32x4Neg => self.vunary(I32X4, |t, a| t.builder.ins().ineg(a))?,
            O::I32x4AllTrue => self.all_true(I32X4)?,
            O::I32x4Bitmask => self.bitmask(I32X4)?,
            O::I32x4ExtendLowI16x8S => self.vextend(I16X8, false, true)?,
            O::I32x4ExtendHighI16x8S => self.vextend(I16X8, true, true)?,
            O::I32x4ExtendLowI16x8U => self.vextend(I16X8, false, false)?,
            O::I32x4ExtendHighI16x8U => self.vextend(I16X8, true, false)?,
            O::I32x4Shl => self.vshift(I32X4, |t, a, n| t.builder.ins().ishl(a, n))?,
            O::I32x4ShrS => self.vshift(I32X4, |t, a, n| t.builder.ins().sshr(a, n))?,
            O::I32x4ShrU => self.vshift(I32X4, |t, a, n| t.builder.ins().ushr(a, n))?,
            O::I32x4Add => self.vbinary(I32X4, |t, a, b| t.builder.ins().iadd(a, b))?,
            O::I32x4Sub => self.vbinary(I32X4, |t, a, b| t.builder.ins().isub(a, b))?,
            O::I32x4Mul => self.vbinary(I32X4, |t, a, b| t.builder.ins().imul(a, b))?,
            O::I32x4MinS => self.vbinary(I32X4, |t, a, b| t.builder.ins().smin(a, b))?,
            O::I32x4MinU => self.vbinary(I32X4, |t, a, b| t.builder.ins().umin(a, b))?,
            O::I32x4MaxS => self.vbinary(I32X4, |t, a, b| t.builder.ins().smax(a, b))?,
            O::I32x4MaxU => self.vbinary(I32X4, |t, a, b| t.builder.ins().umax(a, b))?,
            O::I32x4DotI16x8S => self.vbinary(I16X8, |t, a, b| t.dot_s(a, b))?,
            O::I32x4ExtMulLowI16x8S => self.vextmul(I16X8, false, true)?,
            O::I32x4ExtMulHighI16x8S => self.vextmul(I16X8, true, true)?,
            O::I32x4ExtMulLowI16x8U => self.vextmul(I16X8, false, false)?,
            O::I32x4ExtMulHighI16x8U => self.vextmul(I16X8, true, false)?,

            // i64x2.
            O::I64x2Abs => self.vunary(I64X2, |t, a| t.builder.ins().iabs(a))?,
            O::I64x2Neg => self.vunary(I64X2, |t, a| t.builder.ins().ineg(a))?,
            O::I64x2AllTrue => self.all_true(I64X2)?,
            O::I64x2Bitmask => self.bitmask(I64X2)?,
            O::I64x2ExtendLowI32x4S => self.vextend(I32X4, false, true)?,
            O::I64x2ExtendHighI32x4S => self.vextend(I32X4, true, true)?,
            O::I64x2ExtendLowI32x4U => self.vextend(I32X4, false, false)?,
            O::I64x2ExtendHighI32x4U => self.vextend(I32X4, true, false)?,
            O::I64x2Shl => self.vshift(I64X2, |t, a, n| t.builder.ins().ishl(a, n))?,
            O::I64x2ShrS => self.vshift(I64X2, |t, a, n| t.builder.ins().sshr(a, n))?,
            O::I64x2ShrU => self.vshift(I64X2, |t, a, n| t.builder.ins().ushr(a, n))?,
            O::I64x2Add => self.vbinary(I64X2, |t, a, b| t.builder.ins().iadd(a, b))?,
            O::I64x2Sub => self.vbinary(I64X2, |t, a, b| t.builder.ins().isub(a, b))?,
            O::I64x2Mul => self.vbinary(I64X2, |t, a, b| t.builder.ins().imul(a, b))?,
            O::I64x2ExtMulLowI32x4S => self.vextmul(I32X4, false, true)?,
            O::I64x2ExtMulHighI32x4S => self.vextmul(I32X4, true, true)?,
            O::I64x2ExtMulLowI32x4U => self.vextmul(I32X4, false, false)?,
            O::I64x2ExtMulHighI32x4U => self.vextmul(I32X4, true, false)?,

            // f32x4 and f64x2.
            O::F32x4Ceil => self.vunary(F32X4, |t, a| t.builder.ins().ceil(a))?,
            O::F32x4Floor => self.vunary(F32X4, |t, a| t.builder.ins().floor(a))?,
            O::F32x4Trunc => self.vunary(F32X4, |t, a| t.builder.ins().trunc(a))?,
            O::F32x4Nearest => self.vunary(F32X4, |t, a| t.builder.ins().nearest(a))?,
            O::F32x4Abs => self.vunary(F32X4, |t, a| t.builder.ins().fabs(a))?,
            O::F32x4Neg => self.vunary(F32X4, |t, a| t.builder.ins().fneg(a))?,
            O::F32x4Sqrt => self.vunary(F32X4, |t, a| t.builder.ins().sqrt(a))?,
            O::F32x4Add => self.vbinary(F32X4, |t, a, b| t.builder.ins().fadd(a, b))?,
            O::F32x4Sub => self.vbinary(F32X4, |t, a, b| t.builder.ins().fsub(a, b))?,
            O::F32x4Mul => self.vbinary(F32X4, |t, a, b| t.builder.ins().fmul(a, b))?,
            O::F32x4Div => self.vbinary(F32X4, |t, a, b| t.builder.ins().fdiv(a, b))?,
            O::F32x4Min | O::F32x4RelaxedMin => {
                self.vbinary(F32X4, |t, a, b| t.builder.ins().fmin(a, b))?;
            }
            O::F32x4Max | O::F32x4RelaxedMax => {
                self.vbinary(F32X4, |t, a, b| t.builder.ins().fmax(a, b))?;
            }
            O::F32x4PMin => self.pminmax(F32X4, false)?,
            O::F32x4PMax => self.pminmax(F32X4, true)?,
            O::F64x2Ceil => self.vunary(F64X2, |t, a| t.builder.ins().ceil(a))?,
            O::F64x2Floor => self.vunary(F64X2, |t, a| t.builder.ins().floor(a))?,
            O::F64x2Trunc => self.vunary(F64X2, |t, a| t.builder.ins().trunc(a))?,
            O::F64x2Nearest => self.vunary(F64X2, |t, a| t.builder.ins().nearest(a))?,
            O::F64x2Abs => self.vunary(F64X2, |t, a| t.builder.ins().fabs(a))?,
            O::F64x2Neg => self.vunary(F64X2, |t, a| t.builder.ins().fneg(a))?,
            O::F64x2Sqrt => self.vunary(F64X2, |t, a| t.builder.ins().sqrt(a))?,
            O::F64x2Add => self.vbinary(F64X2, |t, a, b| t.builder.ins().fadd(a, b))?,
            O::F64x2Sub => self.vbinary(F64X2, |t, a, b| t.builder.ins().fsub(a, b))?,
            O::F64x2Mul => self.vbinary(F64X2, |t, a, b| t.builder.ins().fmul(a, b))?,
            O::F64x2Div => self.vbinary(F64X2, |t, a, b| t.builder.ins().fdiv(a, b))?,
            O::F64x2Min | O::F64x2RelaxedMin => {
                self.vbinary(F64X2, |t, a, b| t.builder.ins().fmin(a, b))?;
            }
            O::F64x2Max | O::F64x2RelaxedMax => {
                self.vbinary(F64X2, |t, a, b| t.builder.ins().fmax(a, b))?;
            }
            O::F64x2PMin => self.pminmax(F64X2, false)?,
            O::F64x2PMax => self.pminmax(F64X2, true)?,

            // Conversions.
            O::I32x4TruncSatF32x4S | O::I32x4RelaxedTruncF32x4S => {
                self.vunary(F32X4, |t, a| t.builder.ins().fcvt_to_sint_sat(I32X4, a))?;
            }
            O::I32x4TruncSatF32x4U | O::I32x4RelaxedTruncF32x4U => {
                self.vunary(F32X4, |t, a| t.builder.ins().fcvt_to_uint_sat(I32X4, a))?;
            }
            O::I32x4TruncSatF64x2SZero | O::I32x4RelaxedTruncF64x2SZero => {
                self.trunc_sat_f64x2_zero(true)?;
            }
            O::I32x4TruncSatF64x2UZero | O::I32x4RelaxedTruncF64x2UZero => {
                self.trunc_sat_f64x2_zero(false)?;
            }
            O::F32x4ConvertI32x4S => {
                self.vunary(I32X4, |t, a| t.builder.ins().fcvt_from_sint(F32X4, a))?;
            }
            O::F32x4ConvertI32x4U => {
                self.vunary(I32X4, |t, a| t.builder.ins().fcvt_from_uint(F32X4, a))?;
            }
            O::F64x2ConvertLowI32x4S => self.vunary(I32X4, |t, a| {
                let w = t.builder.ins().swiden_low(a);
                t.builder.ins().fcvt_from_sint(F64X2, w)
            })?,
            O::F64x2ConvertLowI32x4U => self.vunary(I32X4, |t, a| {
                let w = t.builder.ins().uwiden_low(a);
                t.builder.ins().fcvt_from_uint(F64X2, w)
            })?,
            O::F32x4DemoteF64x2Zero => self.vunary(F64X2, |t, a| t.builder.ins().fvdemote(a))?,
            O::F64x2PromoteLowF32x4 => {
                self.vunary(F32X4, |t, a| t.builder.ins().fvpromote_low(a))?;
            }

            // Relaxed SIMD without a non-relaxed twin (see the module docs).
            O::F32x4RelaxedMadd => self.madd(F32X4, false)?,
            O::F32x4RelaxedNmadd => self.madd(F32X4, true)?,
            O::F64x2RelaxedMadd => self.madd(F64X2, false)?,
            O::F64x2RelaxedNmadd => self.madd(F64X2, true)?,
            O::I16x8RelaxedDotI8x16I7x16S => self.vbinary(I8X16, |t, a, b| t.dot_s(a, b))?,
            O::I32x4RelaxedDotI8x16I7x16AddS => {
                // c + the four signed products, summed in i32 (no i16
                // intermediate): the bytes widened to i16, two `i32x4.dot`s
                // (`pmaddwd`), their pairs added.
                let c = self.vpop(I32X4)?;
                let (a, b) = self.vpop2(I8X16)?;
                let (alo, blo) = (self.widen(a, false, true), self.widen(b, false, true));
                let lo = self.dot_s(alo, blo);
                let (ahi, bhi) = (self.widen(a, true, true), self.widen(b, true, true));
                let hi = self.dot_s(ahi, bhi);
                let sums = self.builder.ins().iadd_pairwise(lo, hi);
                let v = self.builder.ins().iadd(sums, c);
                self.vpush(v);
            }
            _ => return Ok(false),
        }
        Ok(true)
    }

    /// `relaxed_madd` (`a * b + c`) and `relaxed_nmadd` (`-(a * b) + c`),
    /// unfused: the product is rounded, then the sum.
    fn madd(&mut self, ty: Type, negate: bool) -> Result<(), CompileError> {
        self.vternary(ty, |t, a, b, c| {
            let p = t.builder.ins().fmul(a, b);
            let p = if negate { t.builder.ins().fneg(p) } else { p };
            t.builder.ins().fadd(p, c)
        })
    }
}
