//! Numeric operators: the operand handling shared by each family (binary,
//! compare, shift, divide, unary, convert), with constant folding where it
//! is free and cannot trap.
//!
//! Operands: the left operand ends up in a register the operator owns (its
//! own, or a new one), the right one is folded into the instruction as an
//! immediate or a memory operand when the instruction has that form. An
//! `i32` in a register has undefined upper bits: every `i32` operation uses
//! 32-bit instructions, and `i64.extend_i32_u` and addresses zero-extend
//! explicitly.
//!
//! Fixed registers: a shift count not known at compile time goes to `cl`;
//! division takes its dividend in `rax` and clobbers `rdx`. Both are taken
//! from the allocator before the operands are popped, so a stack entry that
//! held them is moved elsewhere first.
//!
//! Comparisons are Liftoff's "outstanding op": an integer comparison (or
//! `eqz`, `ref.is_null`) emits nothing; it leaves its operands on the stack
//! and records a [`Pending`] condition. If the next operator is `br_if`,
//! `if`, `select` or another `eqz`, that operator takes the condition
//! ([`CodeGen::take_condition`]) and emits `cmp` + `jcc`/`cmovcc` directly;
//! any other operator first materializes it with `setcc`.

use rung_tiering::abi::{Reg, RegClass};

use crate::asm::{Alu, Cc, FOp, Shift, Size};
use crate::context::{CodeGen, Result};
use crate::masm::{FCmp, Operand};
use crate::regalloc::SCRATCH;
use crate::stack::{Loc, Opnd, Ty};

/// A comparison not emitted yet; its operands are the top of the stack.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pending {
    /// `lhs cc rhs`, two operands of type `ty`.
    Cmp { ty: Ty, cc: Cc },
    /// One operand of type `ty` compared with zero: true when `cc` (`E`
    /// for `eqz`, `Ne` after another `eqz`) holds.
    Zero { ty: Ty, cc: Cc },
}

/// A condition taken off the stack by a branch or select.
#[derive(Debug, Clone, Copy)]
pub enum Cond {
    Cmp {
        ty: Ty,
        cc: Cc,
        lhs: Opnd,
        rhs: Opnd,
    },
    Zero {
        ty: Ty,
        cc: Cc,
        v: Opnd,
    },
    Const(bool),
}

/// Constant folding of integer binary operators on raw bits.
pub type Fold = fn(u64, u64) -> u64;

/// The displacement of a `lea` computing `x op c` (`add` or `sub` of a
/// constant), if one does: any `i32` constant (the sum wraps at 32 bits),
/// an `i64` one whose value (negated for `sub`) is a 32-bit displacement.
fn lea_disp(ty: Ty, op: Alu, c: u64) -> Option<i32> {
    let v = match ty {
        Ty::I32 => i64::from(c as u32 as i32),
        _ => c as i64,
    };
    let v = match op {
        Alu::Add => v,
        Alu::Sub => v.checked_neg()?,
        _ => return None,
    };
    match ty {
        Ty::I32 => Some(v as i32),
        _ => i32::try_from(v).ok(),
    }
}

/// Truncates `bits` to the type's width (i32 results are zero-extended).
pub fn norm(ty: Ty, bits: u64) -> u64 {
    if ty == Ty::I32 {
        bits as u32 as u64
    } else {
        bits
    }
}

/// Which bit count.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BitCount {
    Clz,
    Ctz,
    Popcnt,
}

/// Float unary operators.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FUnary {
    Abs,
    Neg,
    Sqrt,
    Ceil,
    Floor,
    Trunc,
    Nearest,
}

impl CodeGen<'_> {
    /// `add`, `sub`, `and`, `or`, `xor`.
    pub fn int_binop(&mut self, ty: Ty, op: Alu, fold: Fold) -> Result<()> {
        let (mut lhs, mut rhs) = self.pop2()?;
        if let (Some(a), Some(b)) = (lhs.konst(), rhs.konst()) {
            self.push(ty, Loc::Const(norm(ty, fold(a, b))));
            return Ok(());
        }
        // A commutative operator takes its register operand (or the
        // non-constant one) on the left.
        let commutative = op != Alu::Sub;
        if commutative && (lhs.konst().is_some() || (lhs.reg().is_none() && rhs.reg().is_some())) {
            std::mem::swap(&mut lhs, &mut rhs);
        }
        // A loop-pinned local plus or minus a constant (a loop counter's
        // step): one `lea` into a new register instead of a copy of the
        // pinned one and an `add`. (Neither `lea` sets the flags; nothing
        // reads an `add`'s.)
        if let (Loc::Local(i), Some(c)) = (lhs.loc, rhs.konst())
            && let Some(r) = self.frame.pinned(i, RegClass::Int)
            && let Some(disp) = lea_disp(ty, op, c)
        {
            let dst = self.alloc(RegClass::Int)?;
            self.masm.asm.lea_disp(ty.size(), dst, r, disp);
            self.push_reg(ty, dst);
            return Ok(());
        }
        // The sum of two loop-pinned locals (an address from a row and a
        // column): one `lea` too.
        if let (Alu::Add, Loc::Local(i), Loc::Local(j)) = (op, lhs.loc, rhs.loc)
            && let (Some(a), Some(b)) = (
                self.frame.pinned(i, RegClass::Int),
                self.frame.pinned(j, RegClass::Int),
            )
        {
            let dst = self.alloc(RegClass::Int)?;
            self.masm.asm.lea_sum(ty.size(), dst, a, b);
            self.push_reg(ty, dst);
            return Ok(());
        }
        let dst = self.owned_reg(&lhs)?;
        let src = self.operand(&rhs);
        self.masm.int_alu(op, ty.size(), dst, src);
        self.free(&rhs);
        self.push_reg(ty, dst);
        Ok(())
    }

    pub fn int_mul(&mut self, ty: Ty) -> Result<()> {
        let (mut lhs, mut rhs) = self.pop2()?;
        if let (Some(a), Some(b)) = (lhs.konst(), rhs.konst()) {
            self.push(ty, Loc::Const(norm(ty, a.wrapping_mul(b))));
            return Ok(());
        }
        if lhs.konst().is_some() || (lhs.reg().is_none() && rhs.reg().is_some()) {
            std::mem::swap(&mut lhs, &mut rhs);
        }
        let dst = self.owned_reg(&lhs)?;
        let src = self.operand(&rhs);
        self.masm.int_mul(ty.size(), dst, src);
        self.free(&rhs);
        self.push_reg(ty, dst);
        Ok(())
    }

    /// `i64.add128` / `i64.sub128`: `(lo, hi) = (a_lo, a_hi) ± (b_lo,
    /// b_hi)` with `add`/`adc` (`sub`/`sbb`); nothing between the two
    /// touches the flags.
    pub fn wide_add_sub(&mut self, sub: bool) -> Result<()> {
        let b_hi = self.pop()?;
        let b_lo = self.pop()?;
        let a_hi = self.pop()?;
        let a_lo = self.pop()?;
        let lo = self.owned_reg(&a_lo)?;
        let hi = self.owned_reg(&a_hi)?;
        let src = self.operand(&b_lo);
        let op = if sub { Alu::Sub } else { Alu::Add };
        self.masm.int_alu(op, Size::S64, lo, src);
        let src = self.operand(&b_hi);
        self.masm.carry(sub, hi, src);
        self.free(&b_lo);
        self.free(&b_hi);
        self.push_reg(Ty::I64, lo);
        self.push_reg(Ty::I64, hi);
        Ok(())
    }

    /// `i64.mul_wide_s` / `_u`: the 128-bit product in `rdx:rax` (low
    /// half first on the stack).
    pub fn mul_wide(&mut self, signed: bool) -> Result<()> {
        self.alloc_specific(Reg::Rax)?;
        self.alloc_specific(Reg::Rdx)?;
        let b = self.pop()?;
        let a = self.pop()?;
        self.load_into(Reg::Rax, Ty::I64, a.loc, a.pos);
        self.free(&a);
        let src = match self.operand(&b) {
            Operand::Reg(r) => r,
            other => {
                self.masm.mov_int(Size::S64, SCRATCH, other);
                SCRATCH
            }
        };
        self.masm.asm.mul_wide_r(signed, src);
        self.free(&b);
        self.push_reg(Ty::I64, Reg::Rax);
        self.push_reg(Ty::I64, Reg::Rdx);
        Ok(())
    }

    /// Integer comparison with condition `cc` (for `lhs cc rhs`): folded,
    /// or left pending for the next operator.
    pub fn int_cmp(&mut self, ty: Ty, cc: Cc) -> Result<()> {
        let n = self.stack.len();
        if n < 2 {
            return Err(self.internal("value stack underflow"));
        }
        if let (Loc::Const(a), Loc::Const(b)) = (self.stack[n - 2].loc, self.stack[n - 1].loc) {
            self.stack.truncate(n - 2);
            self.push(Ty::I32, Loc::Const(u64::from(eval_cc(ty, cc, a, b))));
            return Ok(());
        }
        self.pending = Some(Pending::Cmp { ty, cc });
        Ok(())
    }

    /// `eqz` (and `ref.is_null`): inverts a pending comparison, folds a
    /// constant, or becomes a pending test against zero.
    pub fn int_eqz(&mut self, ty: Ty) -> Result<()> {
        match self.pending {
            Some(Pending::Cmp { ty: t, cc }) => {
                self.pending = Some(Pending::Cmp {
                    ty: t,
                    cc: cc.invert(),
                });
            }
            Some(Pending::Zero { ty: t, cc }) => {
                self.pending = Some(Pending::Zero {
                    ty: t,
                    cc: cc.invert(),
                });
            }
            None => match self.top().map(|v| v.loc) {
                Some(Loc::Const(c)) => {
                    self.pop()?;
                    self.push(Ty::I32, Loc::Const(u64::from(norm(ty, c) == 0)));
                }
                _ => self.pending = Some(Pending::Zero { ty, cc: Cc::E }),
            },
        }
        Ok(())
    }

    /// Takes the condition of a branch or select off the stack: a pending
    /// comparison with its operands, or an `i32` value.
    pub fn take_condition(&mut self) -> Result<Cond> {
        Ok(match self.pending.take() {
            Some(Pending::Cmp { ty, cc }) => {
                let (lhs, rhs) = self.pop2()?;
                Cond::Cmp { ty, cc, lhs, rhs }
            }
            Some(Pending::Zero { ty, cc }) => {
                let v = self.pop()?;
                Cond::Zero { ty, cc, v }
            }
            None => {
                let v = self.pop()?;
                match v.loc {
                    Loc::Const(c) => Cond::Const(c as u32 != 0),
                    _ => Cond::Zero {
                        ty: Ty::I32,
                        cc: Cc::Ne,
                        v,
                    },
                }
            }
        })
    }

    /// Emits the compare or test of `cond` and returns the condition code
    /// that holds when it is true; releases its operands' registers except
    /// `keep`. Nothing may be emitted between this and the flags' use.
    pub fn emit_condition(&mut self, cond: &Cond, keep: Option<Reg>) -> Cc {
        match *cond {
            Cond::Cmp { ty, cc, lhs, rhs } => {
                // A constant or memory left operand goes right.
                let (l, r, cc) =
                    if lhs.konst().is_some() || (lhs.reg().is_none() && rhs.reg().is_some()) {
                        (rhs, lhs, cc.swap())
                    } else {
                        (lhs, rhs, cc)
                    };
                let (lop, rop) = (self.operand(&l), self.operand(&r));
                self.masm.int_cmp(ty.size(), lop, rop);
                for o in [l, r] {
                    if o.reg().is_some() && o.reg() != keep {
                        self.free(&o);
                    }
                }
                cc
            }
            Cond::Zero { ty, cc, v } => {
                let op = self.operand(&v);
                self.masm.test_zero(ty.size(), op);
                if v.reg() != keep {
                    self.free(&v);
                }
                cc
            }
            Cond::Const(true) => {
                self.masm.asm.alu_rr(Alu::Cmp, Size::S32, SCRATCH, SCRATCH);
                Cc::E
            }
            Cond::Const(false) => {
                self.masm.asm.alu_rr(Alu::Cmp, Size::S32, SCRATCH, SCRATCH);
                Cc::Ne
            }
        }
    }

    /// Puts a pending comparison's result in a register (an operator that
    /// does not branch on it follows).
    pub fn materialize_pending(&mut self) -> Result<()> {
        if self.pending.is_none() {
            return Ok(());
        }
        let cond = self.take_condition()?;
        let reuse = match cond {
            Cond::Cmp { lhs, rhs, .. } => lhs.reg().or(rhs.reg()),
            Cond::Zero { v, .. } => v.reg(),
            Cond::Const(_) => None,
        };
        let dst = match reuse {
            Some(r) if r.class() == RegClass::Int => r,
            _ => self.alloc(RegClass::Int)?,
        };
        let cc = self.emit_condition(&cond, Some(dst));
        self.masm.set_bool(cc, dst);
        self.push_reg(Ty::I32, dst);
        Ok(())
    }

    pub fn int_shift(&mut self, ty: Ty, op: Shift) -> Result<()> {
        let size = ty.size();
        if let Some(Loc::Const(count)) = self.top().map(|v| v.loc) {
            let (lhs, _) = self.pop2()?;
            if let Some(a) = lhs.konst() {
                self.push(ty, Loc::Const(fold_shift(ty, op, a, count)));
                return Ok(());
            }
            let dst = self.owned_reg(&lhs)?;
            self.masm.shift_imm(op, size, dst, count);
            self.push_reg(ty, dst);
            return Ok(());
        }
        // The count goes to cl.
        let count_in_rcx = self.top().map(|v| v.loc) == Some(Loc::Reg(Reg::Rcx));
        if !count_in_rcx {
            self.alloc_specific(Reg::Rcx)?;
        }
        let count = self.pop()?;
        if !count_in_rcx {
            self.load_into(Reg::Rcx, count.ty, count.loc, count.pos);
            self.free(&count);
        }
        let lhs = self.pop()?;
        let dst = self.owned_reg(&lhs)?;
        self.masm.asm.shift_cl(op, size, dst);
        self.free_reg(Reg::Rcx);
        self.push_reg(ty, dst);
        Ok(())
    }

    pub fn int_div_rem(&mut self, ty: Ty, signed: bool, rem: bool) -> Result<()> {
        let size = ty.size();
        let n = self.stack.len();
        if n < 2 {
            return Err(self.internal("value stack underflow"));
        }
        let lhs_in_rax = self.stack[n - 2].loc == Loc::Reg(Reg::Rax);
        self.alloc_specific(Reg::Rdx)?;
        if !lhs_in_rax {
            self.alloc_specific(Reg::Rax)?;
        }
        let rhs = self.pop()?;
        let lhs = self.pop()?;
        if !lhs_in_rax {
            self.load_into(Reg::Rax, lhs.ty, lhs.loc, lhs.pos);
            self.free(&lhs);
        }
        let rop = self.operand(&rhs);
        self.masm.div_rem(signed, rem, size, rop);
        self.free(&rhs);
        let (result, other) = if rem {
            (Reg::Rdx, Reg::Rax)
        } else {
            (Reg::Rax, Reg::Rdx)
        };
        self.free_reg(other);
        self.push_reg(ty, result);
        Ok(())
    }

    pub fn int_bitcount(&mut self, ty: Ty, which: BitCount) -> Result<()> {
        let a = self.pop()?;
        if let Some(c) = a.konst() {
            let c = norm(ty, c);
            let v = match (which, ty) {
                (BitCount::Clz, Ty::I32) => (c as u32).leading_zeros(),
                (BitCount::Clz, _) => c.leading_zeros(),
                (BitCount::Ctz, Ty::I32) => (c as u32).trailing_zeros(),
                (BitCount::Ctz, _) => c.trailing_zeros(),
                (BitCount::Popcnt, _) => c.count_ones(),
            };
            self.push(ty, Loc::Const(u64::from(v)));
            return Ok(());
        }
        let r = self.owned_reg(&a)?;
        let size = ty.size();
        match which {
            BitCount::Clz => self.masm.clz(size, r, r),
            BitCount::Ctz => self.masm.ctz(size, r, r),
            BitCount::Popcnt => self.masm.popcnt(size, r, r),
        }
        self.push_reg(ty, r);
        Ok(())
    }

    /// Sign extension of the low `from_bytes` of a value to `ty`.
    pub fn sign_extend(&mut self, ty: Ty, from_bytes: u32) -> Result<()> {
        let a = self.pop()?;
        if let Some(c) = a.konst() {
            let v = match from_bytes {
                1 => c as u8 as i8 as i64,
                2 => c as u16 as i16 as i64,
                _ => c as u32 as i32 as i64,
            };
            self.push(ty, Loc::Const(norm(ty, v as u64)));
            return Ok(());
        }
        let r = self.owned_reg(&a)?;
        self.masm.asm.sext_rr(r, r, from_bytes, ty.size());
        self.push_reg(ty, r);
        Ok(())
    }

    pub fn i64_extend_i32_u(&mut self) -> Result<()> {
        let a = self.pop()?;
        if let Some(c) = a.konst() {
            self.push(Ty::I64, Loc::Const(c as u32 as u64));
            return Ok(());
        }
        let r = self.owned_reg(&a)?;
        // A local or a slot is loaded with a 32-bit move, which zero-extends
        // already; a register may hold the bits above an `i32.wrap_i64`.
        if matches!(a.loc, Loc::Reg(_)) {
            self.masm.asm.mov_rr(Size::S32, r, r);
        }
        self.push_reg(Ty::I64, r);
        Ok(())
    }

    /// A value whose bits stay as they are but whose type changes (wrap,
    /// reinterpret): constants, locals and slots just change type; a
    /// register value moves to the other class if needed.
    pub fn retype(&mut self, to: Ty) -> Result<()> {
        let a = self.pop()?;
        match a.loc {
            Loc::Const(c) => self.push(to, Loc::Const(norm(to, c))),
            Loc::Reg(r) if r.class() == to.class() => self.push_reg(to, r),
            Loc::Reg(r) => {
                let d = self.alloc_for(to)?;
                if to.is_float() {
                    self.masm.asm.mov_xr(to.size(), d, r);
                } else {
                    self.masm.asm.mov_rx(to.size(), d, r);
                }
                self.free_reg(r);
                self.push_reg(to, d);
            }
            // A slot holds raw bits; reading it as another type of the same
            // width (or the low half, for wrap) is the conversion.
            Loc::Local(_) | Loc::Mem => self.push(to, a.loc),
        }
        Ok(())
    }

    // ---- floats ---------------------------------------------------------------------

    pub fn float_binop(&mut self, ty: Ty, op: FOp) -> Result<()> {
        let (lhs, rhs) = self.pop2()?;
        let dst = self.owned_reg(&lhs)?;
        let src = self.operand(&rhs);
        self.masm.fop(op, ty.size(), dst, src);
        self.free(&rhs);
        self.push_reg(ty, dst);
        Ok(())
    }

    pub fn float_min_max(&mut self, ty: Ty, is_min: bool) -> Result<()> {
        let (lhs, rhs) = self.pop2()?;
        let dst = self.owned_reg(&lhs)?;
        let src = self.operand(&rhs);
        self.masm.fmin_max(is_min, ty.size(), dst, src);
        self.free(&rhs);
        self.push_reg(ty, dst);
        Ok(())
    }

    pub fn float_copysign(&mut self, ty: Ty) -> Result<()> {
        let (lhs, rhs) = self.pop2()?;
        let dst = self.owned_reg(&lhs)?;
        let src = self.operand(&rhs);
        self.masm.fcopysign(ty.size(), dst, src);
        self.free(&rhs);
        self.push_reg(ty, dst);
        Ok(())
    }

    pub fn float_unary(&mut self, ty: Ty, op: FUnary) -> Result<()> {
        let size = ty.size();
        let a = self.pop()?;
        if let Some(c) = a.konst() {
            let sign = if ty == Ty::F32 {
                1u64 << 31
            } else {
                1u64 << 63
            };
            match op {
                FUnary::Abs => {
                    self.push(ty, Loc::Const(c & !sign));
                    return Ok(());
                }
                FUnary::Neg => {
                    self.push(ty, Loc::Const(c ^ sign));
                    return Ok(());
                }
                _ => {}
            }
        }
        if matches!(
            op,
            FUnary::Ceil | FUnary::Floor | FUnary::Trunc | FUnary::Nearest
        ) && !self.masm.features.sse41
        {
            return Err(self.unsupported("float rounding without SSE4.1"));
        }
        let r = self.owned_reg(&a)?;
        match op {
            FUnary::Abs => self.masm.fabs(size, r),
            FUnary::Neg => self.masm.fneg(size, r),
            FUnary::Sqrt => self.masm.fop(FOp::Sqrt, size, r, Operand::Reg(r)),
            FUnary::Ceil => self.masm.fround(size, r, 2),
            FUnary::Floor => self.masm.fround(size, r, 1),
            FUnary::Trunc => self.masm.fround(size, r, 3),
            FUnary::Nearest => self.masm.fround(size, r, 0),
        }
        self.push_reg(ty, r);
        Ok(())
    }

    pub fn float_cmp(&mut self, ty: Ty, cmp: FCmp) -> Result<()> {
        let (lhs, rhs) = self.pop2()?;
        let dst = self.alloc(RegClass::Int)?;
        let a = self.owned_reg(&lhs)?;
        let b = self.operand(&rhs);
        self.masm.fcmp(cmp, ty.size(), dst, a, b);
        self.free_reg(a);
        self.free(&rhs);
        self.push_reg(Ty::I32, dst);
        Ok(())
    }

    /// `iN.trunc_fM_*` (trapping) and `iN.trunc_sat_fM_*`.
    pub fn float_to_int(&mut self, to: Ty, signed: bool, sat: bool) -> Result<()> {
        let a = self.pop()?;
        let src = self.owned_reg(&a)?;
        let dst = self.alloc(RegClass::Int)?;
        if sat {
            self.masm
                .trunc_sat(a.ty.size(), to.size(), signed, dst, src);
        } else {
            self.masm.trunc(a.ty.size(), to.size(), signed, dst, src);
        }
        self.free_reg(src);
        self.push_reg(to, dst);
        Ok(())
    }

    /// `fN.convert_iM_*`.
    pub fn int_to_float(&mut self, to: Ty, signed: bool) -> Result<()> {
        let a = self.pop()?;
        let src = self.owned_reg(&a)?;
        let dst = self.alloc(RegClass::Float)?;
        self.masm.convert(to.size(), a.ty.size(), signed, dst, src);
        self.free_reg(src);
        self.push_reg(to, dst);
        Ok(())
    }

    /// `f32.demote_f64` / `f64.promote_f32`.
    pub fn float_to_float(&mut self, to: Ty) -> Result<()> {
        let a = self.pop()?;
        let r = self.owned_reg(&a)?;
        self.masm.asm.cvt_float_to_float(to.size(), r, r);
        self.push_reg(to, r);
        Ok(())
    }

    // ---- select --------------------------------------------------------------------

    pub fn visit_select(&mut self) -> Result<()> {
        let cond = self.take_condition()?;
        let (a, b) = self.pop2()?;
        if let Cond::Const(c) = cond {
            let (keep, drop) = if c { (a, b) } else { (b, a) };
            self.free(&drop);
            // `a` keeps its position; `b`'s slot is not the result's.
            let loc = match keep.loc {
                Loc::Mem if keep.pos != a.pos => Loc::Reg(self.owned_reg(&keep)?),
                other => other,
            };
            self.push(a.ty, loc);
            return Ok(());
        }
        let ty = a.ty;
        if ty == Ty::V128 {
            return self.v128_select(cond, a, b);
        }
        let size = ty.size();
        let dst = self.owned_reg(&a)?;
        let bop = self.operand(&b);
        if ty.is_float() {
            let skip = self.masm.asm.new_label();
            let cc = self.emit_condition(&cond, None);
            self.masm.asm.jcc(cc, skip);
            self.masm.mov_float(size, dst, bop);
            self.masm.asm.bind(skip);
        } else {
            let cc = self.emit_condition(&cond, None).invert();
            // cmov takes a register or memory source; `mov` keeps the flags.
            let bop = match bop {
                Operand::Imm(bits) => {
                    self.masm.mov_int_imm(size, SCRATCH, bits);
                    Operand::Reg(SCRATCH)
                }
                other => other,
            };
            match bop {
                Operand::Reg(r) => self.masm.asm.cmov_rr(cc, size, dst, r),
                Operand::Mem(m) => self.masm.asm.cmov_rm(cc, size, dst, m),
                Operand::Imm(_) => {}
            }
        }
        self.free(&b);
        self.push_reg(ty, dst);
        Ok(())
    }
}

fn eval_cc(ty: Ty, cc: Cc, a: u64, b: u64) -> bool {
    let (a, b) = (norm(ty, a), norm(ty, b));
    let (sa, sb) = if ty == Ty::I32 {
        (i64::from(a as u32 as i32), i64::from(b as u32 as i32))
    } else {
        (a as i64, b as i64)
    };
    match cc {
        Cc::E => a == b,
        Cc::Ne => a != b,
        Cc::L => sa < sb,
        Cc::Le => sa <= sb,
        Cc::G => sa > sb,
        Cc::Ge => sa >= sb,
        Cc::B => a < b,
        Cc::Be => a <= b,
        Cc::A => a > b,
        Cc::Ae => a >= b,
        _ => false,
    }
}

fn fold_shift(ty: Ty, op: Shift, a: u64, count: u64) -> u64 {
    if ty == Ty::I32 {
        let a = a as u32;
        let c = (count & 31) as u32;
        let r = match op {
            Shift::Shl => a.wrapping_shl(c),
            Shift::Shr => a.wrapping_shr(c),
            Shift::Sar => (a as i32).wrapping_shr(c) as u32,
            Shift::Rol => a.rotate_left(c),
            Shift::Ror => a.rotate_right(c),
        };
        u64::from(r)
    } else {
        let c = (count & 63) as u32;
        match op {
            Shift::Shl => a.wrapping_shl(c),
            Shift::Shr => a.wrapping_shr(c),
            Shift::Sar => (a as i64).wrapping_shr(c) as u64,
            Shift::Rol => a.rotate_left(c),
            Shift::Ror => a.rotate_right(c),
        }
    }
}
