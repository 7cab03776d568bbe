//! SIMD in the baseline (issue 9, part 2a): `v128` values and the first
//! families of SIMD operators, SSE4.1 as the floor (without it every SIMD
//! function is `Unsupported`, as in the optimizer).
//!
//! **Representation.** A `v128` value-stack entry is `Reg(xmm)` or
//! `Local(i)`, never `Const` or `Mem`: a `v128.const` is materialized into
//! a register at once, and a spill of a `v128` entry (at a call, a block
//! entry, under register pressure) is refused — `CodeGen::spill_entry`
//! sets `v128_spill` and the function is `Unsupported` (value-stack slots
//! are 8 bytes; 16-byte slots are part 2b). `v128` locals and register
//! parameters have 16-byte, 16-aligned frame slots (`frame.rs`), read and
//! written with `movdqu`; they are never pinned to registers in loops, and
//! a function with a `v128` local records no OSR exits (OSR slots are 8
//! bytes). `v128` parameters and results follow the shared ABI
//! (`rung_tiering::abi`: an xmm register or a 16-byte stack slot).
//! Blocks with `v128` types, calls with `v128` in the signature, `v128`
//! globals and `select` of `v128` are still `Unsupported` (`Ty::of`
//! answers `None` for `v128` everywhere but the function's own signature
//! and locals).
//!
//! **Bit-exactness.** Every sequence here computes the same bits as the
//! optimizer's lowering: the integer and bitwise operators and all
//! comparisons are exact by definition; float `add/sub/mul/div/sqrt` are
//! the same packed SSE instructions with the same operand order, so even
//! NaN payloads match; `abs`/`neg` are sign-bit masks.
//!
//! Dispatch is one cold function, so the scalar operators' match is
//! untouched.

use rung_tiering::TrapCode;
use rung_tiering::abi::{Location, Reg, RegClass};
use wasmparser::{MemArg, Operator};

use crate::asm::{Cc, Mem, Size, VLoad, VOp, VShift};
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
// `pcmpgtq` is SSE4.2: the signed i64x2 comparisons are not here yet.
const I64: Lanes = Lanes {
    eq: VOp::Pcmpeqq,
    gt: None,
    minu: None,
    maxu: None,
};

impl CodeGen<'_> {
    /// Loads a `v128` entry's value into `dst`.
    #[cold]
    #[inline(never)]
    pub fn load_v128_into(&mut self, dst: Reg, loc: Loc, pos: u32) {
        match loc {
            Loc::Reg(r) if r == dst => {}
            Loc::Reg(r) => self.masm.asm.movaps(dst, r),
            Loc::Local(i) => self.masm.asm.movdqu_rm(dst, self.frame.local(i)),
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
            Loc::Local(i) => self.frame.local(i),
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

    /// A register holding `o` (a `v128`) for reading only: its own, or
    /// `xmm15` loaded with it.
    fn v_reg(&mut self, o: &Opnd) -> Reg {
        match o.loc {
            Loc::Reg(r) => r,
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
            O::V128Bitselect => {
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

            // ---- shifts (count modulo the lane width; no i8x16, no i64x2.shr_s) ----
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
