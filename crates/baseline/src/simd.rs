//! SIMD in the baseline (issue 9, parts 2a and 2b): `v128` values and
//! every operator of the `simd` and `relaxed-simd` proposals, SSE4.1 as
//! the floor (without it every SIMD function is `Unsupported`, as in the
//! optimizer).
//!
//! **Representation.** A `v128` value-stack entry is `Reg(xmm)`,
//! `Local(i)` or `Mem`, never `Const`: a `v128.const` is materialized
//! into a register at once. A spilled `v128` (at a call, a block entry,
//! under register pressure) lives in its position's 16-byte slot, in an
//! area below the 8-byte slots whose displacement is patched at the end
//! (`Frame::v128_slot`; only `load_v128_into`/`store_v128_to` here touch
//! it, with `movdqu`). `v128` locals and register parameters have 16-byte,
//! 16-aligned frame slots (`frame.rs`); in loops they are pinned to xmm
//! registers like floats (write-through, reloaded after calls; a lazy
//! `Local(i)` entry reads the pinned register), and a function with a
//! `v128` local, or a loop with a `v128` on the stack at its entry,
//! records no OSR exit (OSR slots are 8 bytes).
//! `v128` parameters and results, in calls too, follow the shared ABI
//! (`rung_tiering::abi`: an xmm register or a 16-byte stack slot); block
//! types merge a `v128` like a float (xmm0–xmm7, then its slot).
//!
//! **Bit-exactness.** Every sequence here computes the same bits as the
//! optimizer's lowering: integer results are exact by definition whatever
//! the sequence; every float result (arithmetic, min/max, rounding,
//! conversions, relaxed `madd`) uses the instructions and operand order of
//! Cranelift's x64 lowering on SSE4.1, so even NaN payloads match;
//! `abs`/`neg` are sign-bit masks. The relaxed operators give the answers
//! of ARCHITECTURE.md's table.
//!
//! Dispatch is one cold function, so the scalar operators' match is
//! untouched.

use rung_tiering::TrapCode;
use rung_tiering::abi::{Location, Reg, RegClass};
use wasmparser::{MemArg, Operator};

use crate::asm::{Alu, Cc, Mem, Shift, Size, VLoad, VOp, VShift};
use crate::context::{CodeGen, Result};
use crate::regalloc::{FSCRATCH, SCRATCH};
use crate::stack::{Loc, Opnd, Ty};

const V128: Ty = Ty::V128;

/// The lane comparisons.
#[derive(Clone, Copy, PartialEq, Eq)]
enum ICmp {
    Eq,
    Ne,
    LtS,
    GtS,
    LeS,
    GeS,
    LtU,
    GtU,
    LeU,
    GeU,
}

/// The instructions of one integer lane width.
struct Lanes {
    eq: VOp,
    gt: Option<VOp>,
    minu: Option<VOp>,
    maxu: Option<VOp>,
}

const I8: Lanes = Lanes {
    eq: VOp::Pcmpeqb,
    gt: Some(VOp::Pcmpgtb),
    minu: Some(VOp::Pminub),
    maxu: Some(VOp::Pmaxub),
};
const I16: Lanes = Lanes {
    eq: VOp::Pcmpeqw,
    gt: Some(VOp::Pcmpgtw),
    minu: Some(VOp::Pminuw),
    maxu: Some(VOp::Pmaxuw),
};
const I32: Lanes = Lanes {
    eq: VOp::Pcmpeqd,
    gt: Some(VOp::Pcmpgtd),
    minu: Some(VOp::Pminud),
    maxu: Some(VOp::Pmaxud),
};
// `pcmpgtq` is SSE4.2: the signed i64x2 comparisons are `icmp64`.
const I64: Lanes = Lanes {
    eq: VOp::Pcmpeqq,
    gt: None,
    minu: None,
    maxu: None,
};

/// The `i8x16` shifts.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Shift8 {
    Shl,
    ShrU,
    ShrS,
}

impl CodeGen<'_> {
    /// Loads a `v128` entry's value into `dst`.
    #[cold]
    #[inline(never)]
    pub fn load_v128_into(&mut self, dst: Reg, loc: Loc, pos: u32) {
        match loc {
            Loc::Reg(r) if r == dst => {}
            Loc::Reg(r) => self.masm.asm.movaps(dst, r),
            Loc::Local(i) => match self.frame.pinned(i, RegClass::Float) {
                Some(r) if r == dst => {}
                Some(r) => self.masm.asm.movaps(dst, r),
                None => self.masm.asm.movdqu_rm(dst, self.frame.local(i)),
            },
            Loc::Mem => match self.frame.v128_slot(pos) {
                Some(m) => self.masm.asm.movdqu_rm(dst, m),
                None => self.v128_spill = true,
            },
            // Never made (see the module's doc): refuse the function.
            Loc::Const(_) => self.v128_spill = true,
        }
    }

    /// Stores a `v128` entry's value to `m` (using `xmm15` for a copy from
    /// memory).
    #[cold]
    #[inline(never)]
    pub fn store_v128_to(&mut self, m: Mem, loc: Loc, pos: u32) {
        let src = match loc {
            Loc::Reg(r) => return self.masm.asm.movdqu_mr(m, r),
            Loc::Local(i) => match self.frame.pinned(i, RegClass::Float) {
                Some(r) => return self.masm.asm.movdqu_mr(m, r),
                None => self.frame.local(i),
            },
            Loc::Mem => match self.frame.v128_slot(pos) {
                Some(src) => src,
                None => return self.v128_spill = true,
            },
            Loc::Const(_) => return self.v128_spill = true,
        };
        if src != m {
            self.masm.asm.movdqu_rm(FSCRATCH, src);
            self.masm.asm.movdqu_mr(m, FSCRATCH);
        }
    }

    /// A `v128` call result outside the allocatable registers (in the
    /// return area at `[rsp + off]`, or a register the allocator does not
    /// hand out) to the slot of position `pos`.
    pub fn v128_call_result(&mut self, loc: Location, pos: u32) {
        let Some(slot) = self.frame.v128_slot(pos) else {
            self.v128_spill = true;
            return;
        };
        match loc {
            Location::Reg(r) => self.masm.asm.movdqu_mr(slot, r),
            Location::Stack(off) => {
                self.masm
                    .asm
                    .movdqu_rm(FSCRATCH, Mem::new(Reg::Rsp, off as i32));
                self.masm.asm.movdqu_mr(slot, FSCRATCH);
            }
        }
    }

    /// `global.get` of a `v128` global (its 16-byte cell).
    pub fn v128_global_get(&mut self, global: u32) -> Result<()> {
        let dst = self.alloc(RegClass::Float)?;
        let cell = self.global_cell(global)?;
        self.masm.asm.movdqu_rm(dst, cell);
        self.push_reg(V128, dst);
        Ok(())
    }

    /// `select` of two `v128`s on a condition that is not a constant
    /// (`a` if it holds, else `b`).
    pub fn v128_select(&mut self, cond: crate::numeric::Cond, a: Opnd, b: Opnd) -> Result<()> {
        let dst = self.owned_reg(&a)?;
        let skip = self.masm.asm.new_label();
        let cc = self.emit_condition(&cond, None);
        self.masm.asm.jcc(cc, skip);
        self.load_v128_into(dst, b.loc, b.pos);
        self.masm.asm.bind(skip);
        self.free(&b);
        self.push_reg(V128, dst);
        Ok(())
    }

    /// A register holding scalar `o` for reading only: its own, or
    /// `scratch` loaded with it.
    fn scalar_reg(&mut self, o: &Opnd, scratch: Reg) -> Reg {
        match o.loc {
            Loc::Reg(r) => r,
            loc => {
                self.load_into(scratch, o.ty, loc, o.pos);
                scratch
            }
        }
    }

    /// A register holding `o` (a `v128`) for reading only: its own, its
    /// local's pinned register, or `xmm15` loaded with it.
    fn v_reg(&mut self, o: &Opnd) -> Reg {
        match o.loc {
            Loc::Reg(r) => r,
            Loc::Local(i) if self.frame.pinned(i, RegClass::Float).is_some() => {
                self.frame.pinned(i, RegClass::Float).unwrap_or(FSCRATCH)
            }
            loc => {
                self.load_v128_into(FSCRATCH, loc, o.pos);
                FSCRATCH
            }
        }
    }

    /// One SIMD operator (reachable code; validated by the walk).
    #[cold]
    #[inline(never)]
    pub fn step_simd(&mut self, op: &Operator<'_>) -> Result<()> {
        if self.control.is_empty() {
            return Err(self.internal("operator after the function's end"));
        }
        if !self.masm.features.sse41 {
            return Err(self.unsupported("simd without SSE4.1"));
        }
        self.masm.begin_op(self.offset as u32);
        if self.pending.is_some() {
            self.materialize_pending()?;
        }
        self.masm.v128 = true;
        use Operator as O;
        match *op {
            O::V128Const { value } => self.v128_const(value.i128() as u128),
            O::V128Load { ref memarg } => self.v128_load(memarg),
            O::V128Store { ref memarg } => self.v128_store(memarg),
            O::V128Load8x8S { ref memarg } => self.vload(memarg, VLoad::Sxbw, None),
            O::V128Load8x8U { ref memarg } => self.vload(memarg, VLoad::Zxbw, None),
            O::V128Load16x4S { ref memarg } => self.vload(memarg, VLoad::Sxwd, None),
            O::V128Load16x4U { ref memarg } => self.vload(memarg, VLoad::Zxwd, None),
            O::V128Load32x2S { ref memarg } => self.vload(memarg, VLoad::Sxdq, None),
            O::V128Load32x2U { ref memarg } => self.vload(memarg, VLoad::Zxdq, None),
            O::V128Load32Zero { ref memarg } => self.vload(memarg, VLoad::Zero32, None),
            O::V128Load64Zero { ref memarg } => self.vload(memarg, VLoad::Zero64, None),
            O::V128Load32Splat { ref memarg } => self.vload(memarg, VLoad::Zero32, Some(4)),
            O::V128Load64Splat { ref memarg } => self.vload(memarg, VLoad::Zero64, Some(8)),

            // ---- splats, lanes ----
            O::I8x16Splat => self.splat_int(1),
            O::I16x8Splat => self.splat_int(2),
            O::I32x4Splat => self.splat_int(4),
            O::I64x2Splat => self.splat_int(8),
            O::F32x4Splat => self.splat_float(false),
            O::F64x2Splat => self.splat_float(true),
            O::I8x16ExtractLaneS { lane } => self.extract_int(1, true, lane),
            O::I8x16ExtractLaneU { lane } => self.extract_int(1, false, lane),
            O::I16x8ExtractLaneS { lane } => self.extract_int(2, true, lane),
            O::I16x8ExtractLaneU { lane } => self.extract_int(2, false, lane),
            O::I32x4ExtractLane { lane } => self.extract_int(4, false, lane),
            O::I64x2ExtractLane { lane } => self.extract_int(8, false, lane),
            O::F32x4ExtractLane { lane } => self.extract_float(false, lane),
            O::F64x2ExtractLane { lane } => self.extract_float(true, lane),
            O::I8x16ReplaceLane { lane } => self.replace_int(1, lane),
            O::I16x8ReplaceLane { lane } => self.replace_int(2, lane),
            O::I32x4ReplaceLane { lane } => self.replace_int(4, lane),
            O::I64x2ReplaceLane { lane } => self.replace_int(8, lane),
            O::F32x4ReplaceLane { lane } => self.replace_float(false, lane),
            O::F64x2ReplaceLane { lane } => self.replace_float(true, lane),

            // ---- bitwise ----
            O::V128Not => {
                let a = self.pop()?;
                let dst = self.owned_reg(&a)?;
                self.not(dst);
                self.push_reg(V128, dst);
                Ok(())
            }
            O::V128And => self.binop(VOp::Pand),
            O::V128Or => self.binop(VOp::Por),
            O::V128Xor => self.binop(VOp::Pxor),
            O::V128AndNot => {
                // a & !b: pandn computes !dst & src.
                let (a, b) = self.pop2()?;
                let dst = self.owned_reg(&b)?;
                let src = self.v_reg(&a);
                self.masm.asm.vop_rr(VOp::Pandn, dst, src);
                self.free(&a);
                self.push_reg(V128, dst);
                Ok(())
            }
            O::V128Bitselect
            | O::I8x16RelaxedLaneselect
            | O::I16x8RelaxedLaneselect
            | O::I32x4RelaxedLaneselect
            | O::I64x2RelaxedLaneselect => {
                let c = self.pop()?;
                let (v1, v2) = self.pop2()?;
                let dst = self.owned_reg(&v1)?;
                let mask = self.owned_reg(&c)?;
                self.masm.asm.vop_rr(VOp::Pand, dst, mask);
                let src = self.v_reg(&v2);
                self.masm.asm.vop_rr(VOp::Pandn, mask, src);
                self.masm.asm.vop_rr(VOp::Por, dst, mask);
                self.free_reg(mask);
                self.free(&v2);
                self.push_reg(V128, dst);
                Ok(())
            }
            O::V128AnyTrue => {
                let a = self.pop()?;
                let dst = self.alloc(RegClass::Int)?;
                let v = self.v_reg(&a);
                self.masm.asm.ptest(v, v);
                self.masm.set_bool(Cc::Ne, dst);
                self.free(&a);
                self.push_reg(Ty::I32, dst);
                Ok(())
            }

            // ---- integer arithmetic ----
            O::I8x16Add => self.binop(VOp::Paddb),
            O::I16x8Add => self.binop(VOp::Paddw),
            O::I32x4Add => self.binop(VOp::Paddd),
            O::I64x2Add => self.binop(VOp::Paddq),
            O::I8x16Sub => self.binop(VOp::Psubb),
            O::I16x8Sub => self.binop(VOp::Psubw),
            O::I32x4Sub => self.binop(VOp::Psubd),
            O::I64x2Sub => self.binop(VOp::Psubq),
            O::I8x16Neg => self.neg(VOp::Psubb),
            O::I16x8Neg => self.neg(VOp::Psubw),
            O::I32x4Neg => self.neg(VOp::Psubd),
            O::I64x2Neg => self.neg(VOp::Psubq),
            O::I8x16AddSatS => self.binop(VOp::Paddsb),
            O::I8x16AddSatU => self.binop(VOp::Paddusb),
            O::I16x8AddSatS => self.binop(VOp::Paddsw),
            O::I16x8AddSatU => self.binop(VOp::Paddusw),
            O::I8x16SubSatS => self.binop(VOp::Psubsb),
            O::I8x16SubSatU => self.binop(VOp::Psubusb),
            O::I16x8SubSatS => self.binop(VOp::Psubsw),
            O::I16x8SubSatU => self.binop(VOp::Psubusw),

            // ---- integer comparisons ----
            O::I8x16Eq => self.icmp(&I8, ICmp::Eq),
            O::I8x16Ne => self.icmp(&I8, ICmp::Ne),
            O::I8x16LtS => self.icmp(&I8, ICmp::LtS),
            O::I8x16LtU => self.icmp(&I8, ICmp::LtU),
            O::I8x16GtS => self.icmp(&I8, ICmp::GtS),
            O::I8x16GtU => self.icmp(&I8, ICmp::GtU),
            O::I8x16LeS => self.icmp(&I8, ICmp::LeS),
            O::I8x16LeU => self.icmp(&I8, ICmp::LeU),
            O::I8x16GeS => self.icmp(&I8, ICmp::GeS),
            O::I8x16GeU => self.icmp(&I8, ICmp::GeU),
            O::I16x8Eq => self.icmp(&I16, ICmp::Eq),
            O::I16x8Ne => self.icmp(&I16, ICmp::Ne),
            O::I16x8LtS => self.icmp(&I16, ICmp::LtS),
            O::I16x8LtU => self.icmp(&I16, ICmp::LtU),
            O::I16x8GtS => self.icmp(&I16, ICmp::GtS),
            O::I16x8GtU => self.icmp(&I16, ICmp::GtU),
            O::I16x8LeS => self.icmp(&I16, ICmp::LeS),
            O::I16x8LeU => self.icmp(&I16, ICmp::LeU),
            O::I16x8GeS => self.icmp(&I16, ICmp::GeS),
            O::I16x8GeU => self.icmp(&I16, ICmp::GeU),
            O::I32x4Eq => self.icmp(&I32, ICmp::Eq),
            O::I32x4Ne => self.icmp(&I32, ICmp::Ne),
            O::I32x4LtS => self.icmp(&I32, ICmp::LtS),
            O::I32x4LtU => self.icmp(&I32, ICmp::LtU),
            O::I32x4GtS => self.icmp(&I32, ICmp::GtS),
            O::I32x4GtU => self.icmp(&I32, ICmp::GtU),
            O::I32x4LeS => self.icmp(&I32, ICmp::LeS),
            O::I32x4LeU => self.icmp(&I32, ICmp::LeU),
            O::I32x4GeS => self.icmp(&I32, ICmp::GeS),
            O::I32x4GeU => self.icmp(&I32, ICmp::GeU),
            O::I64x2Eq => self.icmp(&I64, ICmp::Eq),
            O::I64x2Ne => self.icmp(&I64, ICmp::Ne),

            // ---- float arithmetic ----
            O::F32x4Add => self.binop(VOp::Addps),
            O::F64x2Add => self.binop(VOp::Addpd),
            O::F32x4Sub => self.binop(VOp::Subps),
            O::F64x2Sub => self.binop(VOp::Subpd),
            O::F32x4Mul => self.binop(VOp::Mulps),
            O::F64x2Mul => self.binop(VOp::Mulpd),
            O::F32x4Div => self.binop(VOp::Divps),
            O::F64x2Div => self.binop(VOp::Divpd),
            O::F32x4Sqrt => self.unop(VOp::Sqrtps),
            O::F64x2Sqrt => self.unop(VOp::Sqrtpd),
            O::F32x4Abs => self.sign_op(false, true),
            O::F64x2Abs => self.sign_op(true, true),
            O::F32x4Neg => self.sign_op(false, false),
            O::F64x2Neg => self.sign_op(true, false),

            // ---- float comparisons (cmpps predicates: 0 eq, 1 lt, 2 le, 4 neq) ----
            O::F32x4Eq => self.fcmp(false, 0, false),
            O::F32x4Ne => self.fcmp(false, 4, false),
            O::F32x4Lt => self.fcmp(false, 1, false),
            O::F32x4Le => self.fcmp(false, 2, false),
            O::F32x4Gt => self.fcmp(false, 1, true),
            O::F32x4Ge => self.fcmp(false, 2, true),
            O::F64x2Eq => self.fcmp(true, 0, false),
            O::F64x2Ne => self.fcmp(true, 4, false),
            O::F64x2Lt => self.fcmp(true, 1, false),
            O::F64x2Le => self.fcmp(true, 2, false),
            O::F64x2Gt => self.fcmp(true, 1, true),
            O::F64x2Ge => self.fcmp(true, 2, true),

            // ---- more integer arithmetic (one instruction each) ----
            O::I8x16MinS => self.binop(VOp::Pminsb),
            O::I8x16MinU => self.binop(VOp::Pminub),
            O::I8x16MaxS => self.binop(VOp::Pmaxsb),
            O::I8x16MaxU => self.binop(VOp::Pmaxub),
            O::I16x8MinS => self.binop(VOp::Pminsw),
            O::I16x8MinU => self.binop(VOp::Pminuw),
            O::I16x8MaxS => self.binop(VOp::Pmaxsw),
            O::I16x8MaxU => self.binop(VOp::Pmaxuw),
            O::I32x4MinS => self.binop(VOp::Pminsd),
            O::I32x4MinU => self.binop(VOp::Pminud),
            O::I32x4MaxS => self.binop(VOp::Pmaxsd),
            O::I32x4MaxU => self.binop(VOp::Pmaxud),
            O::I8x16AvgrU => self.binop(VOp::Pavgb),
            O::I16x8AvgrU => self.binop(VOp::Pavgw),
            O::I16x8Mul => self.binop(VOp::Pmullw),
            O::I32x4Mul => self.binop(VOp::Pmulld),
            O::I32x4DotI16x8S => self.binop(VOp::Pmaddwd),
            O::I8x16Abs => self.unop(VOp::Pabsb),
            O::I16x8Abs => self.unop(VOp::Pabsw),
            O::I32x4Abs => self.unop(VOp::Pabsd),
            O::I8x16NarrowI16x8S => self.binop(VOp::Packsswb),
            O::I8x16NarrowI16x8U => self.binop(VOp::Packuswb),
            O::I16x8NarrowI32x4S => self.binop(VOp::Packssdw),
            O::I16x8NarrowI32x4U => self.binop(VOp::Packusdw),
            O::I16x8ExtendLowI8x16S => self.extend(VOp::Pmovsxbw, false),
            O::I16x8ExtendHighI8x16S => self.extend(VOp::Pmovsxbw, true),
            O::I16x8ExtendLowI8x16U => self.extend(VOp::Pmovzxbw, false),
            O::I16x8ExtendHighI8x16U => self.extend(VOp::Pmovzxbw, true),
            O::I32x4ExtendLowI16x8S => self.extend(VOp::Pmovsxwd, false),
            O::I32x4ExtendHighI16x8S => self.extend(VOp::Pmovsxwd, true),
            O::I32x4ExtendLowI16x8U => self.extend(VOp::Pmovzxwd, false),
            O::I32x4ExtendHighI16x8U => self.extend(VOp::Pmovzxwd, true),
            O::I64x2ExtendLowI32x4S => self.extend(VOp::Pmovsxdq, false),
            O::I64x2ExtendHighI32x4S => self.extend(VOp::Pmovsxdq, true),
            O::I64x2ExtendLowI32x4U => self.extend(VOp::Pmovzxdq, false),
            O::I64x2ExtendHighI32x4U => self.extend(VOp::Pmovzxdq, true),

            // ---- shifts (count modulo the lane width; i8x16 and i64x2.shr_s below) ----
            O::I16x8Shl => self.shift(VOp::Psllw, 15),
            O::I16x8ShrS => self.shift(VOp::Psraw, 15),
            O::I16x8ShrU => self.shift(VOp::Psrlw, 15),
            O::I32x4Shl => self.shift(VOp::Pslld, 31),
            O::I32x4ShrS => self.shift(VOp::Psrad, 31),
            O::I32x4ShrU => self.shift(VOp::Psrld, 31),
            O::I64x2Shl => self.shift(VOp::Psllq, 63),
            O::I64x2ShrU => self.shift(VOp::Psrlq, 63),

            // ---- all_true, bitmask ----
            O::I8x16AllTrue => self.all_true(VOp::Pcmpeqb),
            O::I16x8AllTrue => self.all_true(VOp::Pcmpeqw),
            O::I32x4AllTrue => self.all_true(VOp::Pcmpeqd),
            O::I64x2AllTrue => self.all_true(VOp::Pcmpeqq),
            O::I8x16Bitmask => self.bitmask(1),
            O::I32x4Bitmask => self.bitmask(4),
            O::I64x2Bitmask => self.bitmask(8),

            // ---- part 2b: the rest of the memory operators ----
            O::V128Load8Splat { ref memarg } => self.load_splat_narrow(memarg, 1),
            O::V128Load16Splat { ref memarg } => self.load_splat_narrow(memarg, 2),
            O::V128Load8Lane { ref memarg, lane } => self.load_lane(memarg, 1, lane),
            O::V128Load16Lane { ref memarg, lane } => self.load_lane(memarg, 2, lane),
            O::V128Load32Lane { ref memarg, lane } => self.load_lane(memarg, 4, lane),
            O::V128Load64Lane { ref memarg, lane } => self.load_lane(memarg, 8, lane),
            O::V128Store8Lane { ref memarg, lane } => self.store_lane(memarg, 1, lane),
            O::V128Store16Lane { ref memarg, lane } => self.store_lane(memarg, 2, lane),
            O::V128Store32Lane { ref memarg, lane } => self.store_lane(memarg, 4, lane),
            O::V128Store64Lane { ref memarg, lane } => self.store_lane(memarg, 8, lane),

            // ---- shifts the SSE has no instruction for ----
            O::I8x16Shl => self.shift8(Shift8::Shl),
            O::I8x16ShrU => self.shift8(Shift8::ShrU),
            O::I8x16ShrS => self.shift8(Shift8::ShrS),
            O::I64x2ShrS => self.shr_s64(),

            // ---- i64x2 without SSE4.2 ----
            O::I64x2LtS => self.icmp64(ICmp::LtS),
            O::I64x2GtS => self.icmp64(ICmp::GtS),
            O::I64x2LeS => self.icmp64(ICmp::LeS),
            O::I64x2GeS => self.icmp64(ICmp::GeS),
            O::I64x2Mul => self.mul64(),
            O::I64x2Abs => self.abs64(),
            O::I16x8Bitmask => self.bitmask16(),

            // ---- byte permutations, popcnt ----
            O::I8x16Shuffle { lanes } => self.shuffle(lanes),
            O::I8x16Swizzle | O::I8x16RelaxedSwizzle => self.swizzle(),
            O::I8x16Popcnt => self.popcnt8(),

            // ---- widening multiplies and pairwise adds ----
            O::I16x8Q15MulrSatS | O::I16x8RelaxedQ15mulrS => self.q15mulr(),
            O::I16x8ExtMulLowI8x16S => self.extmul(VOp::Pmovsxbw, VOp::Pmullw, false),
            O::I16x8ExtMulHighI8x16S => self.extmul(VOp::Pmovsxbw, VOp::Pmullw, true),
            O::I16x8ExtMulLowI8x16U => self.extmul(VOp::Pmovzxbw, VOp::Pmullw, false),
            O::I16x8ExtMulHighI8x16U => self.extmul(VOp::Pmovzxbw, VOp::Pmullw, true),
            O::I32x4ExtMulLowI16x8S => self.extmul(VOp::Pmovsxwd, VOp::Pmulld, false),
            O::I32x4ExtMulHighI16x8S => self.extmul(VOp::Pmovsxwd, VOp::Pmulld, true),
            O::I32x4ExtMulLowI16x8U => self.extmul(VOp::Pmovzxwd, VOp::Pmulld, false),
            O::I32x4ExtMulHighI16x8U => self.extmul(VOp::Pmovzxwd, VOp::Pmulld, true),
            O::I64x2ExtMulLowI32x4S => self.extmul64(VOp::Pmuldq, false),
            O::I64x2ExtMulHighI32x4S => self.extmul64(VOp::Pmuldq, true),
            O::I64x2ExtMulLowI32x4U => self.extmul64(VOp::Pmuludq, false),
            O::I64x2ExtMulHighI32x4U => self.extmul64(VOp::Pmuludq, true),
            O::I16x8ExtAddPairwiseI8x16S => self.extadd8(true),
            O::I16x8ExtAddPairwiseI8x16U => self.extadd8(false),
            O::I32x4ExtAddPairwiseI16x8S => self.extadd16(true),
            O::I32x4ExtAddPairwiseI16x8U => self.extadd16(false),

            // ---- float min/max, rounding ----
            O::F32x4Min | O::F32x4RelaxedMin => self.fmin(false),
            O::F64x2Min | O::F64x2RelaxedMin => self.fmin(true),
            O::F32x4Max | O::F32x4RelaxedMax => self.fmax(false),
            O::F64x2Max | O::F64x2RelaxedMax => self.fmax(true),
            O::F32x4PMin => self.pminmax(VOp::Minps),
            O::F64x2PMin => self.pminmax(VOp::Minpd),
            O::F32x4PMax => self.pminmax(VOp::Maxps),
            O::F64x2PMax => self.pminmax(VOp::Maxpd),
            O::F32x4Nearest => self.round(false, 0),
            O::F32x4Floor => self.round(false, 1),
            O::F32x4Ceil => self.round(false, 2),
            O::F32x4Trunc => self.round(false, 3),
            O::F64x2Nearest => self.round(true, 0),
            O::F64x2Floor => self.round(true, 1),
            O::F64x2Ceil => self.round(true, 2),
            O::F64x2Trunc => self.round(true, 3),

            // ---- conversions ----
            O::F32x4ConvertI32x4S => self.unop_into(VOp::Cvtdq2ps),
            O::F32x4ConvertI32x4U => self.convert_u32_f32(),
            O::F64x2ConvertLowI32x4S => self.unop_into(VOp::Cvtdq2pd),
            O::F64x2ConvertLowI32x4U => self.convert_low_u32_f64(),
            O::F32x4DemoteF64x2Zero => self.unop_into(VOp::Cvtpd2ps),
            O::F64x2PromoteLowF32x4 => self.unop_into(VOp::Cvtps2pd),
            O::I32x4TruncSatF32x4S | O::I32x4RelaxedTruncF32x4S => self.trunc_sat_f32_s(),
            O::I32x4TruncSatF32x4U | O::I32x4RelaxedTruncF32x4U => self.trunc_sat_f32_u(),
            O::I32x4TruncSatF64x2SZero | O::I32x4RelaxedTruncF64x2SZero => {
                self.trunc_sat_f64_s_zero()
            }
            O::I32x4TruncSatF64x2UZero | O::I32x4RelaxedTruncF64x2UZero => {
                self.trunc_sat_f64_u_zero()
            }

            // ---- relaxed SIMD (ARCHITECTURE.md's table) ----
            O::F32x4RelaxedMadd => self.madd(false, false),
            O::F32x4RelaxedNmadd => self.madd(false, true),
            O::F64x2RelaxedMadd => self.madd(true, false),
            O::F64x2RelaxedNmadd => self.madd(true, true),
            O::I16x8RelaxedDotI8x16I7x16S => self.relaxed_dot(),
            O::I32x4RelaxedDotI8x16I7x16AddS => self.relaxed_dot_add(),

            ref other => Err(self.unsupported(rung_tiering::describe_unsupported(other))),
        }
    }

    fn not(&mut self, dst: Reg) {
        self.masm.asm.vop_rr(VOp::Pcmpeqd, FSCRATCH, FSCRATCH);
        self.masm.asm.vop_rr(VOp::Pxor, dst, FSCRATCH);
    }

    /// `a op b` into `a`'s register.
    fn binop(&mut self, op: VOp) -> Result<()> {
        let (a, b) = self.pop2()?;
        let dst = self.owned_reg(&a)?;
        let src = self.v_reg(&b);
        self.masm.asm.vop_rr(op, dst, src);
        self.free(&b);
        self.push_reg(V128, dst);
        Ok(())
    }

    /// `op dst, a` into a new register (`sqrtps`, `sqrtpd`).
    fn unop(&mut self, op: VOp) -> Result<()> {
        let a = self.pop()?;
        let dst = self.owned_reg(&a)?;
        self.masm.asm.vop_rr(op, dst, dst);
        self.push_reg(V128, dst);
        Ok(())
    }

    /// `0 - a` lane-wise (`sub` the lane width's `psub`).
    fn neg(&mut self, sub: VOp) -> Result<()> {
        let a = self.pop()?;
        let dst = self.alloc(RegClass::Float)?;
        let src = self.v_reg(&a);
        self.masm.asm.vop_rr(VOp::Pxor, dst, dst);
        self.masm.asm.vop_rr(sub, dst, src);
        self.free(&a);
        self.push_reg(V128, dst);
        Ok(())
    }

    /// Float `abs` (clear the sign bits) or `neg` (flip them).
    fn sign_op(&mut self, double: bool, abs: bool) -> Result<()> {
        let a = self.pop()?;
        let dst = self.owned_reg(&a)?;
        self.masm.asm.vop_rr(VOp::Pcmpeqd, FSCRATCH, FSCRATCH);
        let shift = match (double, abs) {
            (false, true) => (VShift::Psrld, 1),
            (true, true) => (VShift::Psrlq, 1),
            (false, false) => (VShift::Pslld, 31),
            (true, false) => (VShift::Psllq, 63),
        };
        self.masm.asm.vshift_ri(shift.0, FSCRATCH, shift.1);
        let op = if abs { VOp::Andps } else { VOp::Xorps };
        self.masm.asm.vop_rr(op, dst, FSCRATCH);
        self.push_reg(V128, dst);
        Ok(())
    }

    /// Float comparison with `cmpps`/`cmppd` predicate `pred`, operands
    /// swapped for `gt`/`ge`.
    fn fcmp(&mut self, double: bool, pred: u8, swap: bool) -> Result<()> {
        let (a, b) = self.pop2()?;
        let (x, y) = if swap { (b, a) } else { (a, b) };
        let dst = self.owned_reg(&x)?;
        let src = self.v_reg(&y);
        self.masm.asm.cmpp_rr(double, dst, src, pred);
        self.free(&y);
        self.push_reg(V128, dst);
        Ok(())
    }

    fn icmp(&mut self, lanes: &Lanes, cmp: ICmp) -> Result<()> {
        let (a, b) = self.pop2()?;
        let gt = || lanes.gt.ok_or(());
        let dst = match cmp {
            ICmp::Eq | ICmp::Ne => {
                let dst = self.owned_reg(&a)?;
                let src = self.v_reg(&b);
                self.masm.asm.vop_rr(lanes.eq, dst, src);
                self.free(&b);
                if cmp == ICmp::Ne {
                    self.not(dst);
                }
                dst
            }
            ICmp::GtS | ICmp::LeS | ICmp::LtS | ICmp::GeS => {
                let Ok(op) = gt() else {
                    self.free(&a);
                    self.free(&b);
                    return Err(self.unsupported("simd: i64x2 signed comparison"));
                };
                // gt(a, b); lt(a, b) = gt(b, a); le = !gt; ge = !lt.
                let (x, y) = match cmp {
                    ICmp::GtS | ICmp::LeS => (a, b),
                    _ => (b, a),
                };
                let dst = self.owned_reg(&x)?;
                let src = self.v_reg(&y);
                self.masm.asm.vop_rr(op, dst, src);
                self.free(&y);
                if matches!(cmp, ICmp::LeS | ICmp::GeS) {
                    self.not(dst);
                }
                dst
            }
            ICmp::LtU | ICmp::GtU | ICmp::LeU | ICmp::GeU => {
                let (Some(minu), Some(maxu)) = (lanes.minu, lanes.maxu) else {
                    self.free(&a);
                    self.free(&b);
                    return Err(self.unsupported("simd: i64x2 unsigned comparison"));
                };
                // ge_u(a, b) = max_u(a, b) == a; le_u = min_u(a, b) == a;
                // lt_u = !ge_u; gt_u = !le_u.
                let ar = self.owned_reg(&a)?;
                let dst = self.owned_reg(&b)?;
                let op = match cmp {
                    ICmp::GeU | ICmp::LtU => maxu,
                    _ => minu,
                };
                self.masm.asm.vop_rr(op, dst, ar);
                self.masm.asm.vop_rr(lanes.eq, dst, ar);
                self.free_reg(ar);
                if matches!(cmp, ICmp::LtU | ICmp::GtU) {
                    self.not(dst);
                }
                dst
            }
        };
        self.push_reg(V128, dst);
        Ok(())
    }

    /// Sign or zero extension of the low (or, `high`, the high) half.
    fn extend(&mut self, op: VOp, high: bool) -> Result<()> {
        let a = self.pop()?;
        let dst = self.alloc(RegClass::Float)?;
        let src = self.v_reg(&a);
        if high {
            self.masm.asm.pshufd(FSCRATCH, src, 0xee);
            self.masm.asm.vop_rr(op, dst, FSCRATCH);
        } else {
            self.masm.asm.vop_rr(op, dst, src);
        }
        self.free(&a);
        self.push_reg(V128, dst);
        Ok(())
    }

    /// A lane shift by an `i32` count taken modulo the lane width (`mask`).
    fn shift(&mut self, op: VOp, mask: i32) -> Result<()> {
        let count = self.pop()?;
        let v = self.pop()?;
        let dst = self.owned_reg(&v)?;
        self.load_into(SCRATCH, Ty::I32, count.loc, count.pos);
        self.free(&count);
        self.masm
            .asm
            .alu_ri(crate::asm::Alu::And, Size::S32, SCRATCH, mask);
        self.masm.asm.mov_xr(Size::S32, FSCRATCH, SCRATCH);
        self.masm.asm.vop_rr(op, dst, FSCRATCH);
        self.push_reg(V128, dst);
        Ok(())
    }

    /// 1 if no lane is zero: compare every lane with zero, test the result.
    fn all_true(&mut self, eq: VOp) -> Result<()> {
        let a = self.pop()?;
        let dst = self.alloc(RegClass::Int)?;
        let v = match a.loc {
            Loc::Reg(r) => r,
            loc => {
                let r = self.alloc(RegClass::Float)?;
                self.load_v128_into(r, loc, a.pos);
                r
            }
        };
        self.masm.asm.vop_rr(VOp::Pxor, FSCRATCH, FSCRATCH);
        self.masm.asm.vop_rr(eq, FSCRATCH, v);
        self.masm.asm.ptest(FSCRATCH, FSCRATCH);
        self.masm.set_bool(Cc::E, dst);
        self.free_reg(v);
        self.push_reg(Ty::I32, dst);
        Ok(())
    }

    /// The lanes' top bits (`pmovmskb`, `movmskps`, `movmskpd`).
    fn bitmask(&mut self, bytes: u32) -> Result<()> {
        let a = self.pop()?;
        let dst = self.alloc(RegClass::Int)?;
        let v = self.v_reg(&a);
        self.masm.asm.movmsk(bytes, dst, v);
        self.free(&a);
        self.push_reg(Ty::I32, dst);
        Ok(())
    }

    fn v128_const(&mut self, bits: u128) -> Result<()> {
        let dst = self.alloc(RegClass::Float)?;
        if bits == 0 {
            self.masm.asm.vop_rr(VOp::Pxor, dst, dst);
        } else if bits == u128::MAX {
            self.masm.asm.vop_rr(VOp::Pcmpeqd, dst, dst);
        } else {
            self.masm.asm.mov_r64_imm(SCRATCH, bits as u64 as i64);
            self.masm.asm.mov_xr(Size::S64, dst, SCRATCH);
            self.masm
                .asm
                .mov_r64_imm(SCRATCH, (bits >> 64) as u64 as i64);
            self.masm.asm.pinsr(8, dst, SCRATCH, 1);
        }
        self.push_reg(V128, dst);
        Ok(())
    }

    fn v128_load(&mut self, memarg: &MemArg) -> Result<()> {
        let mem = self.memarg_memory(memarg)?;
        let addr = self.pop()?;
        let dst = self.alloc(RegClass::Float)?;
        let m = self.heap_access(mem, memarg.offset, &addr)?;
        self.masm
            .guarded(TrapCode::MemoryOutOfBounds, |asm| asm.movdqu_rm(dst, m));
        self.free(&addr);
        self.push_reg(V128, dst);
        Ok(())
    }

    /// A narrower load (`vload`), then broadcast its low lane if `splat`
    /// (4 or 8 bytes).
    fn vload(&mut self, memarg: &MemArg, op: VLoad, splat: Option<u32>) -> Result<()> {
        let mem = self.memarg_memory(memarg)?;
        let addr = self.pop()?;
        let dst = self.alloc(RegClass::Float)?;
        let m = self.heap_access(mem, memarg.offset, &addr)?;
        self.masm
            .guarded(TrapCode::MemoryOutOfBounds, |asm| asm.vload(op, dst, m));
        match splat {
            Some(4) => self.masm.asm.pshufd(dst, dst, 0),
            Some(_) => self.masm.asm.vop_rr(VOp::Punpcklqdq, dst, dst),
            None => {}
        }
        self.free(&addr);
        self.push_reg(V128, dst);
        Ok(())
    }

    fn v128_store(&mut self, memarg: &MemArg) -> Result<()> {
        let mem = self.memarg_memory(memarg)?;
        let value = self.pop()?;
        let addr = self.pop()?;
        let src = self.v_reg(&value);
        let m = self.heap_access(mem, memarg.offset, &addr)?;
        self.masm
            .guarded(TrapCode::MemoryOutOfBounds, |asm| asm.movdqu_mr(m, src));
        self.free(&value);
        self.free(&addr);
        Ok(())
    }

    /// An integer splat: `movd`/`movq`, then broadcast the low lane.
    fn splat_int(&mut self, bytes: u32) -> Result<()> {
        let a = self.pop()?;
        let dst = self.alloc(RegClass::Float)?;
        let r = self.scalar_reg(&a, SCRATCH);
        let size = if bytes == 8 { Size::S64 } else { Size::S32 };
        self.masm.asm.mov_xr(size, dst, r);
        self.free(&a);
        match bytes {
            1 => {
                self.masm.asm.vop_rr(VOp::Pxor, FSCRATCH, FSCRATCH);
                self.masm.asm.vop_rr(VOp::Pshufb, dst, FSCRATCH);
            }
            2 => {
                self.masm.asm.pshuflw(dst, dst, 0);
                self.masm.asm.pshufd(dst, dst, 0);
            }
            4 => self.masm.asm.pshufd(dst, dst, 0),
            _ => self.masm.asm.vop_rr(VOp::Punpcklqdq, dst, dst),
        }
        self.push_reg(V128, dst);
        Ok(())
    }

    fn splat_float(&mut self, double: bool) -> Result<()> {
        let a = self.pop()?;
        let dst = self.owned_reg(&a)?;
        if double {
            self.masm.asm.vop_rr(VOp::Punpcklqdq, dst, dst);
        } else {
            self.masm.asm.pshufd(dst, dst, 0);
        }
        self.push_reg(V128, dst);
        Ok(())
    }

    fn extract_int(&mut self, bytes: u32, signed: bool, lane: u8) -> Result<()> {
        let a = self.pop()?;
        let dst = self.alloc(RegClass::Int)?;
        let v = self.v_reg(&a);
        self.masm.asm.pextr(bytes, dst, v, lane);
        if signed {
            self.masm.asm.sext_rr(dst, dst, bytes, Size::S32);
        }
        self.free(&a);
        let ty = if bytes == 8 { Ty::I64 } else { Ty::I32 };
        self.push_reg(ty, dst);
        Ok(())
    }

    fn extract_float(&mut self, double: bool, lane: u8) -> Result<()> {
        let a = self.pop()?;
        let dst = self.alloc(RegClass::Float)?;
        let v = self.v_reg(&a);
        let imm = match (double, lane) {
            (false, l) => l,
            (true, 0) => 0x44,
            (true, _) => 0xee,
        };
        self.masm.asm.pshufd(dst, v, imm);
        self.free(&a);
        let ty = if double { Ty::F64 } else { Ty::F32 };
        self.push_reg(ty, dst);
        Ok(())
    }

    fn replace_int(&mut self, bytes: u32, lane: u8) -> Result<()> {
        let x = self.pop()?;
        let v = self.pop()?;
        let dst = self.owned_reg(&v)?;
        let r = self.scalar_reg(&x, SCRATCH);
        self.masm.asm.pinsr(bytes, dst, r, lane);
        self.free(&x);
        self.push_reg(V128, dst);
        Ok(())
    }

    fn replace_float(&mut self, double: bool, lane: u8) -> Result<()> {
        let x = self.pop()?;
        let v = self.pop()?;
        let dst = self.owned_reg(&v)?;
        let r = self.scalar_reg(&x, FSCRATCH);
        match (double, lane) {
            (false, l) => self.masm.asm.insertps(dst, r, l << 4),
            (true, 0) => self.masm.asm.vop_rr(VOp::Movsd, dst, r),
            (true, _) => self.masm.asm.vop_rr(VOp::Movlhps, dst, r),
        }
        self.free(&x);
        self.push_reg(V128, dst);
        Ok(())
    }
}

// ---- part 2b ----------------------------------------------------------------
//
// Integer results are exact whatever the sequence; every float result
// (min/max, rounding, conversions to float, madd) uses the instructions
// and operand order of Cranelift's x64 lowering on SSE4.1, so NaN
// payloads match the optimizer's bit for bit.

impl CodeGen<'_> {
    /// Materializes a 128-bit constant into `dst` (using `r11`).
    fn const_into(&mut self, dst: Reg, bits: u128) {
        if bits == 0 {
            self.masm.asm.vop_rr(VOp::Pxor, dst, dst);
        } else if bits == u128::MAX {
            self.masm.asm.vop_rr(VOp::Pcmpeqd, dst, dst);
        } else {
            self.masm.asm.mov_r64_imm(SCRATCH, bits as u64 as i64);
            self.masm.asm.mov_xr(Size::S64, dst, SCRATCH);
            if (bits >> 64) as u64 == bits as u64 {
                self.masm.asm.vop_rr(VOp::Punpcklqdq, dst, dst);
            } else {
                self.masm
                    .asm
                    .mov_r64_imm(SCRATCH, (bits >> 64) as u64 as i64);
                self.masm.asm.pinsr(8, dst, SCRATCH, 1);
            }
        }
    }

    /// `op dst, a` into a new register (conversions: the source is read
    /// whole, the destination written whole).
    fn unop_into(&mut self, op: VOp) -> Result<()> {
        let a = self.pop()?;
        let dst = self.owned_reg(&a)?;
        self.masm.asm.vop_rr(op, dst, dst);
        self.push_reg(V128, dst);
        Ok(())
    }

    /// Two owned registers holding `a` and `b` (popped: `b` on top).
    fn pop2_owned(&mut self) -> Result<(Reg, Reg)> {
        let (a, b) = self.pop2()?;
        let ra = self.owned_reg(&a)?;
        let rb = match self.owned_reg(&b) {
            Ok(r) => r,
            Err(e) => {
                self.free_reg(ra);
                return Err(e);
            }
        };
        Ok((ra, rb))
    }

    fn load_splat_narrow(&mut self, memarg: &MemArg, bytes: u32) -> Result<()> {
        let mem = self.memarg_memory(memarg)?;
        let addr = self.pop()?;
        let dst = self.alloc(RegClass::Float)?;
        let m = self.heap_access(mem, memarg.offset, &addr)?;
        self.masm.guarded(TrapCode::MemoryOutOfBounds, |asm| {
            asm.load_ext(SCRATCH, m, bytes, false, Size::S32)
        });
        self.free(&addr);
        self.masm.asm.mov_xr(Size::S32, dst, SCRATCH);
        if bytes == 1 {
            self.masm.asm.vop_rr(VOp::Pxor, FSCRATCH, FSCRATCH);
            self.masm.asm.vop_rr(VOp::Pshufb, dst, FSCRATCH);
        } else {
            self.masm.asm.pshuflw(dst, dst, 0);
            self.masm.asm.pshufd(dst, dst, 0);
        }
        self.push_reg(V128, dst);
        Ok(())
    }

    fn load_lane(&mut self, memarg: &MemArg, bytes: u32, lane: u8) -> Result<()> {
        let mem = self.memarg_memory(memarg)?;
        let v = self.pop()?;
        let addr = self.pop()?;
        let dst = self.owned_reg(&v)?;
        let m = self.heap_access(mem, memarg.offset, &addr)?;
        self.masm.guarded(TrapCode::MemoryOutOfBounds, |asm| {
            asm.load_ext(SCRATCH, m, bytes, false, Size::S32)
        });
        self.free(&addr);
        self.masm.asm.pinsr(bytes, dst, SCRATCH, lane);
        self.push_reg(V128, dst);
        Ok(())
    }

    fn store_lane(&mut self, memarg: &MemArg, bytes: u32, lane: u8) -> Result<()> {
        let mem = self.memarg_memory(memarg)?;
        let v = self.pop()?;
        let addr = self.pop()?;
        let x = self.alloc(RegClass::Int)?;
        let src = self.v_reg(&v);
        self.masm.asm.pextr(bytes, x, src, lane);
        self.free(&v);
        let m = self.heap_access(mem, memarg.offset, &addr)?;
        self.masm
            .guarded(TrapCode::MemoryOutOfBounds, |asm| match bytes {
                1 => asm.mov_mr8(m, x),
                2 => asm.mov_mr16(m, x),
                4 => asm.mov_mr(Size::S32, m, x),
                _ => asm.mov_mr(Size::S64, m, x),
            });
        self.free_reg(x);
        self.free(&addr);
        Ok(())
    }

    /// `i8x16` shifts: 16-bit shifts with the bits crossing into the
    /// neighbouring byte masked off (`shl`, `shr_u`), or the bytes
    /// unpacked to the high halves of 16-bit lanes, shifted arithmetically
    /// by 8 more and packed back (`shr_s`).
    fn shift8(&mut self, kind: Shift8) -> Result<()> {
        let count = self.pop()?;
        let v = self.pop()?;
        let dst = self.owned_reg(&v)?;
        let tmp = self.alloc(RegClass::Float)?;
        let add = if kind == Shift8::ShrS { 8 } else { 0 };
        self.load_into(SCRATCH, Ty::I32, count.loc, count.pos);
        self.free(&count);
        self.masm.asm.alu_ri(Alu::And, Size::S32, SCRATCH, 7);
        if add != 0 {
            self.masm.asm.alu_ri(Alu::Add, Size::S32, SCRATCH, add);
        }
        self.masm.asm.mov_xr(Size::S32, FSCRATCH, SCRATCH);
        match kind {
            Shift8::Shl => {
                self.masm.asm.vop_rr(VOp::Psllw, dst, FSCRATCH);
                // Each byte of 0xffff << n's low byte: 0xff << n.
                self.masm.asm.vop_rr(VOp::Pcmpeqd, tmp, tmp);
                self.masm.asm.vop_rr(VOp::Psllw, tmp, FSCRATCH);
                self.masm.asm.vop_rr(VOp::Pxor, FSCRATCH, FSCRATCH);
                self.masm.asm.vop_rr(VOp::Pshufb, tmp, FSCRATCH);
                self.masm.asm.vop_rr(VOp::Pand, dst, tmp);
            }
            Shift8::ShrU => {
                self.masm.asm.vop_rr(VOp::Psrlw, dst, FSCRATCH);
                // Each byte of 0xffff >> n's high byte: 0xff >> n.
                self.masm.asm.vop_rr(VOp::Pcmpeqd, tmp, tmp);
                self.masm.asm.vop_rr(VOp::Psrlw, tmp, FSCRATCH);
                self.masm.asm.vop_rr(VOp::Pcmpeqd, FSCRATCH, FSCRATCH);
                self.masm.asm.vop_rr(VOp::Pabsb, FSCRATCH, FSCRATCH);
                self.masm.asm.vop_rr(VOp::Pshufb, tmp, FSCRATCH);
                self.masm.asm.vop_rr(VOp::Pand, dst, tmp);
            }
            Shift8::ShrS => {
                self.masm.asm.movaps(tmp, dst);
                self.masm.asm.vop_rr(VOp::Punpcklbw, dst, dst);
                self.masm.asm.vop_rr(VOp::Punpckhbw, tmp, tmp);
                self.masm.asm.vop_rr(VOp::Psraw, dst, FSCRATCH);
                self.masm.asm.vop_rr(VOp::Psraw, tmp, FSCRATCH);
                self.masm.asm.vop_rr(VOp::Packsswb, dst, tmp);
            }
        }
        self.free_reg(tmp);
        self.push_reg(V128, dst);
        Ok(())
    }

    /// `i64x2.shr_s`: a logical shift, then the sign restored with the
    /// shifted sign bit m: `(x ^ m) - m`.
    fn shr_s64(&mut self) -> Result<()> {
        let count = self.pop()?;
        let v = self.pop()?;
        let dst = self.owned_reg(&v)?;
        let m = self.alloc(RegClass::Float)?;
        self.load_into(SCRATCH, Ty::I32, count.loc, count.pos);
        self.free(&count);
        self.masm.asm.alu_ri(Alu::And, Size::S32, SCRATCH, 63);
        self.masm.asm.mov_xr(Size::S32, FSCRATCH, SCRATCH);
        self.masm.asm.vop_rr(VOp::Pcmpeqd, m, m);
        self.masm.asm.vshift_ri(VShift::Psllq, m, 63);
        self.masm.asm.vop_rr(VOp::Psrlq, m, FSCRATCH);
        self.masm.asm.vop_rr(VOp::Psrlq, dst, FSCRATCH);
        self.masm.asm.vop_rr(VOp::Pxor, dst, m);
        self.masm.asm.vop_rr(VOp::Psubq, dst, m);
        self.free_reg(m);
        self.push_reg(V128, dst);
        Ok(())
    }

    /// Signed `i64x2` comparisons with SSE4.1: `a > b` is the high dwords'
    /// signed `>`, or equal high dwords and a borrow out of `b - a`'s low
    /// dword (the sign of its high dword).
    fn icmp64(&mut self, cmp: ICmp) -> Result<()> {
        let (a, b) = self.pop2_owned()?;
        // gt(x, y); lt(a, b) = gt(b, a); le = !gt; ge = !lt.
        let (x, y) = match cmp {
            ICmp::GtS | ICmp::LeS => (a, b),
            _ => (b, a),
        };
        let t = self.alloc_float_releasing(a, b)?;
        self.masm.asm.movaps(t, y);
        self.masm.asm.vop_rr(VOp::Psubq, t, x);
        self.masm.asm.movaps(FSCRATCH, x);
        self.masm.asm.vop_rr(VOp::Pcmpeqd, FSCRATCH, y);
        self.masm.asm.vop_rr(VOp::Pand, t, FSCRATCH);
        self.masm.asm.movaps(FSCRATCH, x);
        self.masm.asm.vop_rr(VOp::Pcmpgtd, FSCRATCH, y);
        self.masm.asm.vop_rr(VOp::Por, t, FSCRATCH);
        self.masm.asm.vshift_ri(VShift::Psrad, t, 31);
        self.masm.asm.pshufd(a, t, 0xf5);
        if matches!(cmp, ICmp::LeS | ICmp::GeS) {
            self.not(a);
        }
        self.free_reg(t);
        self.free_reg(b);
        self.push_reg(V128, a);
        Ok(())
    }

    /// `i64x2.mul` from 32-bit products: `lo*lo + ((hi*lo + lo*hi) << 32)`.
    fn mul64(&mut self) -> Result<()> {
        let (a, b) = self.pop2_owned()?;
        let t = self.alloc_float_releasing(a, b)?;
        self.masm.asm.movaps(FSCRATCH, a);
        self.masm.asm.vshift_ri(VShift::Psrlq, FSCRATCH, 32);
        self.masm.asm.vop_rr(VOp::Pmuludq, FSCRATCH, b);
        self.masm.asm.movaps(t, b);
        self.masm.asm.vshift_ri(VShift::Psrlq, t, 32);
        self.masm.asm.vop_rr(VOp::Pmuludq, t, a);
        self.masm.asm.vop_rr(VOp::Paddq, FSCRATCH, t);
        self.masm.asm.vshift_ri(VShift::Psllq, FSCRATCH, 32);
        self.masm.asm.vop_rr(VOp::Pmuludq, a, b);
        self.masm.asm.vop_rr(VOp::Paddq, a, FSCRATCH);
        self.free_reg(t);
        self.free_reg(b);
        self.push_reg(V128, a);
        Ok(())
    }

    /// `i64x2.abs`: `(x ^ s) - s` with `s` each lane's sign.
    fn abs64(&mut self) -> Result<()> {
        let a = self.pop()?;
        let dst = self.owned_reg(&a)?;
        self.masm.asm.pshufd(FSCRATCH, dst, 0xf5);
        self.masm.asm.vshift_ri(VShift::Psrad, FSCRATCH, 31);
        self.masm.asm.vop_rr(VOp::Pxor, dst, FSCRATCH);
        self.masm.asm.vop_rr(VOp::Psubq, dst, FSCRATCH);
        self.push_reg(V128, dst);
        Ok(())
    }

    /// `i16x8.bitmask`: the lanes packed to bytes (signed saturation keeps
    /// the sign), `pmovmskb`, the duplicate high byte shifted out.
    fn bitmask16(&mut self) -> Result<()> {
        let a = self.pop()?;
        let dst = self.alloc(RegClass::Int)?;
        let v = self.v_reg(&a);
        if v != FSCRATCH {
            self.masm.asm.movaps(FSCRATCH, v);
        }
        self.masm.asm.vop_rr(VOp::Packsswb, FSCRATCH, FSCRATCH);
        self.masm.asm.movmsk(1, dst, FSCRATCH);
        self.masm.asm.shift_ri(Shift::Shr, Size::S32, dst, 8);
        self.free(&a);
        self.push_reg(Ty::I32, dst);
        Ok(())
    }

    /// `i8x16.shuffle`: each operand `pshufb`ed with the indices that pick
    /// from it (0x80, a zero, elsewhere), then or-ed.
    fn shuffle(&mut self, lanes: [u8; 16]) -> Result<()> {
        let (a, b) = self.pop2_owned()?;
        let (mut ma, mut mb) = (0u128, 0u128);
        for (i, &l) in lanes.iter().enumerate() {
            let (x, y) = if l < 16 { (l, 0x80) } else { (0x80, l - 16) };
            ma |= u128::from(x) << (8 * i);
            mb |= u128::from(y) << (8 * i);
        }
        self.const_into(FSCRATCH, ma);
        self.masm.asm.vop_rr(VOp::Pshufb, a, FSCRATCH);
        self.const_into(FSCRATCH, mb);
        self.masm.asm.vop_rr(VOp::Pshufb, b, FSCRATCH);
        self.masm.asm.vop_rr(VOp::Por, a, b);
        self.free_reg(b);
        self.push_reg(V128, a);
        Ok(())
    }

    /// `i8x16.swizzle`: indices pushed to 0x80 and above from 16 on
    /// (`paddusb` 0x70), then `pshufb`.
    fn swizzle(&mut self) -> Result<()> {
        let (a, idx) = self.pop2_owned()?;
        self.const_into(FSCRATCH, 0x7070_7070_7070_7070_7070_7070_7070_7070);
        self.masm.asm.vop_rr(VOp::Paddusb, idx, FSCRATCH);
        self.masm.asm.vop_rr(VOp::Pshufb, a, idx);
        self.free_reg(idx);
        self.push_reg(V128, a);
        Ok(())
    }

    /// `i8x16.popcnt`: a 16-entry table of nibble counts, looked up for
    /// each byte's two nibbles (`pshufb`), added.
    fn popcnt8(&mut self) -> Result<()> {
        let a = self.pop()?;
        let lo = self.owned_reg(&a)?;
        let hi = self.alloc(RegClass::Float)?;
        self.masm.asm.movaps(hi, lo);
        self.masm.asm.vshift_ri(VShift::Psrlw, hi, 4);
        self.const_into(FSCRATCH, 0x0f0f_0f0f_0f0f_0f0f_0f0f_0f0f_0f0f_0f0f);
        self.masm.asm.vop_rr(VOp::Pand, lo, FSCRATCH);
        self.masm.asm.vop_rr(VOp::Pand, hi, FSCRATCH);
        const NIBBLES: u128 = 0x0403_0302_0302_0201_0302_0201_0201_0100;
        self.const_into(FSCRATCH, NIBBLES);
        self.masm.asm.vop_rr(VOp::Pshufb, FSCRATCH, lo);
        self.const_into(lo, NIBBLES);
        self.masm.asm.vop_rr(VOp::Pshufb, lo, hi);
        self.masm.asm.vop_rr(VOp::Paddb, lo, FSCRATCH);
        self.free_reg(hi);
        self.push_reg(V128, lo);
        Ok(())
    }

    /// `i16x8.q15mulr_sat_s`: `pmulhrsw`, whose one overflow
    /// (`-32768 * -32768` → 0x8000) is flipped to 0x7fff.
    fn q15mulr(&mut self) -> Result<()> {
        let (a, b) = self.pop2()?;
        let dst = self.owned_reg(&a)?;
        let src = self.v_reg(&b);
        self.masm.asm.vop_rr(VOp::Pmulhrsw, dst, src);
        self.free(&b);
        self.masm.asm.vop_rr(VOp::Pcmpeqd, FSCRATCH, FSCRATCH);
        self.masm.asm.vshift_ri(VShift::Psllw, FSCRATCH, 15);
        self.masm.asm.vop_rr(VOp::Pcmpeqw, FSCRATCH, dst);
        self.masm.asm.vop_rr(VOp::Pxor, dst, FSCRATCH);
        self.push_reg(V128, dst);
        Ok(())
    }

    /// Widens `r`'s low (or high) half in place with `ext`.
    fn widen_in_place(&mut self, r: Reg, ext: VOp, high: bool) {
        if high {
            self.masm.asm.pshufd(r, r, 0xee);
        }
        self.masm.asm.vop_rr(ext, r, r);
    }

    /// `extmul` to 16 or 32 bits: both halves widened, multiplied.
    fn extmul(&mut self, ext: VOp, mul: VOp, high: bool) -> Result<()> {
        let (a, b) = self.pop2_owned()?;
        self.widen_in_place(a, ext, high);
        self.widen_in_place(b, ext, high);
        self.masm.asm.vop_rr(mul, a, b);
        self.free_reg(b);
        self.push_reg(V128, a);
        Ok(())
    }

    /// `extmul` to 64 bits: the dwords moved to the even lanes,
    /// `pmuldq`/`pmuludq`.
    fn extmul64(&mut self, mul: VOp, high: bool) -> Result<()> {
        let (a, b) = self.pop2_owned()?;
        let imm = if high { 0xfa } else { 0x50 };
        self.masm.asm.pshufd(a, a, imm);
        self.masm.asm.pshufd(b, b, imm);
        self.masm.asm.vop_rr(mul, a, b);
        self.free_reg(b);
        self.push_reg(V128, a);
        Ok(())
    }

    /// `i16x8.extadd_pairwise_i8x16`: `pmaddubsw` with ones (as the
    /// unsigned operand for `_s`, the signed one for `_u`).
    fn extadd8(&mut self, signed: bool) -> Result<()> {
        let a = self.pop()?;
        let r = self.owned_reg(&a)?;
        self.masm.asm.vop_rr(VOp::Pcmpeqd, FSCRATCH, FSCRATCH);
        self.masm.asm.vop_rr(VOp::Pabsb, FSCRATCH, FSCRATCH);
        if signed {
            self.masm.asm.vop_rr(VOp::Pmaddubsw, FSCRATCH, r);
            self.masm.asm.movaps(r, FSCRATCH);
        } else {
            self.masm.asm.vop_rr(VOp::Pmaddubsw, r, FSCRATCH);
        }
        self.push_reg(V128, r);
        Ok(())
    }

    /// `i32x4.extadd_pairwise_i16x8`: `pmaddwd` with ones; `_u` biases the
    /// lanes to signed first and adds 2 * 32768 back.
    fn extadd16(&mut self, signed: bool) -> Result<()> {
        let a = self.pop()?;
        let r = self.owned_reg(&a)?;
        if !signed {
            self.masm.asm.vop_rr(VOp::Pcmpeqd, FSCRATCH, FSCRATCH);
            self.masm.asm.vshift_ri(VShift::Psllw, FSCRATCH, 15);
            self.masm.asm.vop_rr(VOp::Pxor, r, FSCRATCH);
        }
        self.masm.asm.vop_rr(VOp::Pcmpeqd, FSCRATCH, FSCRATCH);
        self.masm.asm.vshift_ri(VShift::Psrlw, FSCRATCH, 15);
        self.masm.asm.vop_rr(VOp::Pmaddwd, r, FSCRATCH);
        if !signed {
            self.masm.asm.vop_rr(VOp::Pcmpeqd, FSCRATCH, FSCRATCH);
            self.masm.asm.vshift_ri(VShift::Psrld, FSCRATCH, 31);
            self.masm.asm.vshift_ri(VShift::Pslld, FSCRATCH, 16);
            self.masm.asm.vop_rr(VOp::Paddd, r, FSCRATCH);
        }
        self.push_reg(V128, r);
        Ok(())
    }

    /// `fmin` as Cranelift lowers it: `min(x, y) | min(y, x)`, NaN lanes
    /// set to a quiet NaN with the payload cleared.
    fn fmin(&mut self, double: bool) -> Result<()> {
        let (x, y) = self.pop2_owned()?;
        let (min, shr, shift) = if double {
            (VOp::Minpd, VShift::Psrlq, 13)
        } else {
            (VOp::Minps, VShift::Psrld, 10)
        };
        // FSCRATCH = min1 = min(x, y); y = min2 = min(y, x).
        self.masm.asm.movaps(FSCRATCH, x);
        self.masm.asm.vop_rr(min, FSCRATCH, y);
        self.masm.asm.vop_rr(min, y, x);
        // x = min_or.
        self.masm.asm.movaps(x, FSCRATCH);
        self.masm.asm.vop_rr(VOp::Por, x, y);
        // is_nan: cmpunord(min_or, min2) for f32, (min1, min2) for f64.
        if double {
            self.masm.asm.cmpp_rr(true, FSCRATCH, y, 3);
        } else {
            self.masm.asm.movaps(FSCRATCH, x);
            self.masm.asm.cmpp_rr(false, FSCRATCH, y, 3);
        }
        self.masm.asm.vop_rr(VOp::Por, x, FSCRATCH);
        self.masm.asm.vshift_ri(shr, FSCRATCH, shift);
        self.masm.asm.vop_rr(VOp::Pandn, FSCRATCH, x);
        self.masm.asm.movaps(x, FSCRATCH);
        self.free_reg(y);
        self.push_reg(V128, x);
        Ok(())
    }

    /// `fmax` as Cranelift lowers it (the dual of `fmin`, with the
    /// `+0`/`-0` case settled by a subtraction).
    fn fmax(&mut self, double: bool) -> Result<()> {
        let (x, y) = self.pop2_owned()?;
        let (max, sub, shr, shift) = if double {
            (VOp::Maxpd, VOp::Subpd, VShift::Psrlq, 13)
        } else {
            (VOp::Maxps, VOp::Subps, VShift::Psrld, 10)
        };
        // FSCRATCH = max1 = max(x, y); y = max2 = max(y, x).
        self.masm.asm.movaps(FSCRATCH, x);
        self.masm.asm.vop_rr(max, FSCRATCH, y);
        self.masm.asm.vop_rr(max, y, x);
        // y = max_xor; FSCRATCH = max_blended_nan.
        self.masm.asm.vop_rr(VOp::Pxor, y, FSCRATCH);
        self.masm.asm.vop_rr(VOp::Por, FSCRATCH, y);
        // x = max_blended_nan_positive.
        self.masm.asm.movaps(x, FSCRATCH);
        self.masm.asm.vop_rr(sub, x, y);
        // FSCRATCH = is_nan(max_blended_nan), shifted to the payload.
        self.masm.asm.cmpp_rr(double, FSCRATCH, FSCRATCH, 3);
        self.masm.asm.vshift_ri(shr, FSCRATCH, shift);
        self.masm.asm.vop_rr(VOp::Pandn, FSCRATCH, x);
        self.masm.asm.movaps(x, FSCRATCH);
        self.free_reg(y);
        self.push_reg(V128, x);
        Ok(())
    }

    /// `pmin` = `minps b, a` (`b < a ? b : a`), `pmax` = `maxps b, a`
    /// (`a < b ? b : a`), as Cranelift matches them.
    fn pminmax(&mut self, op: VOp) -> Result<()> {
        let (a, b) = self.pop2()?;
        let dst = self.owned_reg(&b)?;
        let src = self.v_reg(&a);
        self.masm.asm.vop_rr(op, dst, src);
        self.free(&a);
        self.push_reg(V128, dst);
        Ok(())
    }

    fn round(&mut self, double: bool, mode: u8) -> Result<()> {
        let a = self.pop()?;
        let dst = self.owned_reg(&a)?;
        self.masm.asm.roundp(double, dst, dst, mode);
        self.push_reg(V128, dst);
        Ok(())
    }

    /// `f32x4.convert_i32x4_u`: the low 16 bits and the rest converted
    /// apart (the rest halved, converted, doubled), added.
    fn convert_u32_f32(&mut self) -> Result<()> {
        let a = self.pop()?;
        let hi = self.owned_reg(&a)?;
        self.masm.asm.movaps(FSCRATCH, hi);
        self.masm.asm.vshift_ri(VShift::Pslld, FSCRATCH, 16);
        self.masm.asm.vshift_ri(VShift::Psrld, FSCRATCH, 16);
        self.masm.asm.vop_rr(VOp::Psubd, hi, FSCRATCH);
        self.masm.asm.vop_rr(VOp::Cvtdq2ps, FSCRATCH, FSCRATCH);
        self.masm.asm.vshift_ri(VShift::Psrld, hi, 1);
        self.masm.asm.vop_rr(VOp::Cvtdq2ps, hi, hi);
        self.masm.asm.vop_rr(VOp::Addps, hi, hi);
        self.masm.asm.vop_rr(VOp::Addps, hi, FSCRATCH);
        self.push_reg(V128, hi);
        Ok(())
    }

    /// `f64x2.convert_low_i32x4_u`: each dword under the exponent of 2^52,
    /// minus 2^52.
    fn convert_low_u32_f64(&mut self) -> Result<()> {
        let a = self.pop()?;
        let dst = self.owned_reg(&a)?;
        self.const_into(FSCRATCH, 0x4330_0000_4330_0000_4330_0000_4330_0000);
        self.masm.asm.vop_rr(VOp::Unpcklps, dst, FSCRATCH);
        self.const_into(FSCRATCH, 0x4330_0000_0000_0000_4330_0000_0000_0000);
        self.masm.asm.vop_rr(VOp::Subpd, dst, FSCRATCH);
        self.push_reg(V128, dst);
        Ok(())
    }

    /// `i32x4.trunc_sat_f32x4_s` (Cranelift's sequence: NaN lanes zeroed,
    /// `cvttps2dq`, positive overflows flipped to `i32::MAX`).
    fn trunc_sat_f32_s(&mut self) -> Result<()> {
        let a = self.pop()?;
        let dst = self.owned_reg(&a)?;
        self.masm.asm.movaps(FSCRATCH, dst);
        self.masm.asm.cmpp_rr(false, FSCRATCH, FSCRATCH, 0);
        self.masm.asm.vop_rr(VOp::Pand, dst, FSCRATCH);
        self.masm.asm.vop_rr(VOp::Pxor, FSCRATCH, dst);
        self.masm.asm.vop_rr(VOp::Cvttps2dq, dst, dst);
        self.masm.asm.vop_rr(VOp::Pand, FSCRATCH, dst);
        self.masm.asm.vshift_ri(VShift::Psrad, FSCRATCH, 31);
        self.masm.asm.vop_rr(VOp::Pxor, dst, FSCRATCH);
        self.push_reg(V128, dst);
        Ok(())
    }

    /// `i32x4.trunc_sat_f32x4_u` (Cranelift's sequence).
    fn trunc_sat_f32_u(&mut self) -> Result<()> {
        let a = self.pop()?;
        let dst = self.owned_reg(&a)?;
        let t1 = self.alloc(RegClass::Float)?;
        // dst = max(src, 0); FSCRATCH = 2^31 as f32.
        self.masm.asm.vop_rr(VOp::Pxor, FSCRATCH, FSCRATCH);
        self.masm.asm.vop_rr(VOp::Maxps, dst, FSCRATCH);
        self.masm.asm.vop_rr(VOp::Pcmpeqd, FSCRATCH, FSCRATCH);
        self.masm.asm.vshift_ri(VShift::Psrld, FSCRATCH, 1);
        self.masm.asm.vop_rr(VOp::Cvtdq2ps, FSCRATCH, FSCRATCH);
        self.masm.asm.movaps(t1, dst);
        self.masm.asm.vop_rr(VOp::Cvttps2dq, dst, dst);
        self.masm.asm.vop_rr(VOp::Subps, t1, FSCRATCH);
        self.masm.asm.cmpp_rr(false, FSCRATCH, t1, 2);
        self.masm.asm.vop_rr(VOp::Cvttps2dq, t1, t1);
        self.masm.asm.vop_rr(VOp::Pxor, t1, FSCRATCH);
        self.masm.asm.vop_rr(VOp::Pxor, FSCRATCH, FSCRATCH);
        self.masm.asm.vop_rr(VOp::Pmaxsd, t1, FSCRATCH);
        self.masm.asm.vop_rr(VOp::Paddd, dst, t1);
        self.free_reg(t1);
        self.push_reg(V128, dst);
        Ok(())
    }

    /// `i32x4.trunc_sat_f64x2_s_zero` (Cranelift's sequence: NaN lanes to
    /// 0 and the top clamped by `minpd`, `cvttpd2dq`).
    fn trunc_sat_f64_s_zero(&mut self) -> Result<()> {
        let a = self.pop()?;
        let dst = self.owned_reg(&a)?;
        let t = self.alloc(RegClass::Float)?;
        self.masm.asm.movaps(t, dst);
        self.masm.asm.cmpp_rr(true, t, t, 0);
        self.const_into(FSCRATCH, 0x41df_ffff_ffc0_0000_41df_ffff_ffc0_0000);
        self.masm.asm.vop_rr(VOp::Pand, t, FSCRATCH);
        self.masm.asm.vop_rr(VOp::Minpd, dst, t);
        self.masm.asm.vop_rr(VOp::Cvttpd2dq, dst, dst);
        self.free_reg(t);
        self.push_reg(V128, dst);
        Ok(())
    }

    /// `i32x4.trunc_sat_f64x2_u_zero` (Cranelift's sequence: clamped to
    /// [0, 2^32 - 1], truncated, moved under 2^52's exponent, the low
    /// dwords picked).
    fn trunc_sat_f64_u_zero(&mut self) -> Result<()> {
        let a = self.pop()?;
        let dst = self.owned_reg(&a)?;
        let zeros = self.alloc(RegClass::Float)?;
        self.masm.asm.vop_rr(VOp::Pxor, zeros, zeros);
        self.masm.asm.vop_rr(VOp::Maxpd, dst, zeros);
        self.const_into(FSCRATCH, 0x41ef_ffff_ffe0_0000_41ef_ffff_ffe0_0000);
        self.masm.asm.vop_rr(VOp::Minpd, dst, FSCRATCH);
        self.masm.asm.roundp(true, dst, dst, 3);
        self.const_into(FSCRATCH, 0x4330_0000_0000_0000_4330_0000_0000_0000);
        self.masm.asm.vop_rr(VOp::Addpd, dst, FSCRATCH);
        self.masm.asm.shufps(dst, zeros, 0x88);
        self.free_reg(zeros);
        self.push_reg(V128, dst);
        Ok(())
    }

    /// `relaxed_madd` (`a * b + c`) and `relaxed_nmadd` (`-(a * b) + c`),
    /// unfused: `mulps`, (sign flip,) `addps` with the product first.
    fn madd(&mut self, double: bool, negate: bool) -> Result<()> {
        let c = self.pop()?;
        let (a, b) = self.pop2()?;
        let dst = self.owned_reg(&a)?;
        let (mul, add) = if double {
            (VOp::Mulpd, VOp::Addpd)
        } else {
            (VOp::Mulps, VOp::Addps)
        };
        let src = self.v_reg(&b);
        self.masm.asm.vop_rr(mul, dst, src);
        self.free(&b);
        if negate {
            self.masm.asm.vop_rr(VOp::Pcmpeqd, FSCRATCH, FSCRATCH);
            let (shl, bits) = if double {
                (VShift::Psllq, 63)
            } else {
                (VShift::Pslld, 31)
            };
            self.masm.asm.vshift_ri(shl, FSCRATCH, bits);
            self.masm.asm.vop_rr(VOp::Pxor, dst, FSCRATCH);
        }
        let src = self.v_reg(&c);
        self.masm.asm.vop_rr(add, dst, src);
        self.free(&c);
        self.push_reg(V128, dst);
        Ok(())
    }

    /// `i16x8.relaxed_dot_i8x16_i7x16_s`: both operands signed, the 16-bit
    /// products of each half added pairwise, wrapping (`phaddw`).
    fn relaxed_dot(&mut self) -> Result<()> {
        let (a, b) = self.pop2_owned()?;
        let a = self.dot_i8x16_halves(a, b, VOp::Pmullw, VOp::Phaddw)?;
        self.push_reg(V128, a);
        Ok(())
    }

    /// `i32x4.relaxed_dot_i8x16_i7x16_add_s`: both operands signed, the
    /// bytes widened to 16 bits, `pmaddwd` per half, the pairs added
    /// (`phaddd`), then `c`.
    fn relaxed_dot_add(&mut self) -> Result<()> {
        let c = self.pop()?;
        let (a, b) = self.pop2_owned()?;
        let a = self.dot_i8x16_halves(a, b, VOp::Pmaddwd, VOp::Phaddd)?;
        let src = self.v_reg(&c);
        self.masm.asm.vop_rr(VOp::Paddd, a, src);
        self.free(&c);
        self.push_reg(V128, a);
        Ok(())
    }

    /// The relaxed dot products' common part: the bytes of each half of
    /// `a` and `b` sign-extended to 16 bits and multiplied with `mul`, the
    /// two halves' products combined with the horizontal add `hadd` into
    /// `a` (returned; `b` is released).
    fn dot_i8x16_halves(&mut self, a: Reg, b: Reg, mul: VOp, hadd: VOp) -> Result<Reg> {
        let t = self.alloc_float_releasing(a, b)?;
        // t = high products; a = low products.
        self.masm.asm.pshufd(t, a, 0xee);
        self.masm.asm.vop_rr(VOp::Pmovsxbw, t, t);
        self.masm.asm.pshufd(FSCRATCH, b, 0xee);
        self.masm.asm.vop_rr(VOp::Pmovsxbw, FSCRATCH, FSCRATCH);
        self.masm.asm.vop_rr(mul, t, FSCRATCH);
        self.masm.asm.vop_rr(VOp::Pmovsxbw, a, a);
        self.masm.asm.vop_rr(VOp::Pmovsxbw, b, b);
        self.masm.asm.vop_rr(mul, a, b);
        self.masm.asm.vop_rr(hadd, a, t);
        self.free_reg(t);
        self.free_reg(b);
        Ok(a)
    }

    /// A scratch xmm register, or (when none can be had) the error with
    /// the two operand registers `a` and `b` released.
    fn alloc_float_releasing(&mut self, a: Reg, b: Reg) -> Result<Reg> {
        self.alloc(RegClass::Float).inspect_err(|_| {
            self.free_reg(a);
            self.free_reg(b);
        })
    }
}
