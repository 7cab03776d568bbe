//! The threads proposal's operators (ARCHITECTURE.md, "Threads"), reached
//! from the walk's fall-through arm only, so the scalar operators' match is
//! untouched. Every access is a guarded `MemoryOutOfBounds` trap site, as
//! the plain ones, after an alignment check:
//!
//! ```text
//!   mov  r11d, addr ; add r11d, offset ; and r11d, size-1
//!   jnz  trap(HeapMisaligned)          ; "unaligned atomic", before the access
//!   load:     mov/movzx  dst, [m]                 (x86-64 loads are seq-cst)
//!   store:    mov [m], src ; mfence               (as Cranelift)
//!   add/sub:  (neg v) ; lock xadd [m], v ; movzx  (v: the old value)
//!   xchg:     xchg [m], v ; movzx
//!   and/or/xor:  mov(zx) rax, [m]
//!           retry: mov t, rax ; op t, v ; lock cmpxchg [m], t ; jnz retry
//!   cmpxchg:  rax = expected ; lock cmpxchg [m], r ; movzx rax
//! ```
//!
//! `memory.atomic.wait32/64` and `notify` are libcalls, which check
//! alignment, bounds and sharedness themselves; `atomic.fence` is `mfence`.

use rung_tiering::abi::{Reg, RegClass};
use rung_tiering::{AtomicKind, Libcall, RmwOp, TrapCode};
use wasmparser::{MemArgTarget, Operator};

use crate::asm::{Alu, AtomicRmw, Cc, Size};
use crate::call::LArg;
use crate::context::{CodeGen, Result};
use crate::memory::Ext;
use crate::regalloc::SCRATCH;
use crate::stack::{Loc, Opnd, Ty};

impl CodeGen<'_> {
    /// Compiles `op` if it is a threads operator; `None` otherwise.
    pub fn visit_atomic(&mut self, op: &Operator<'_>) -> Option<Result<()>> {
        if let Operator::AtomicFence { .. } = op {
            self.masm.asm.mfence();
            return Some(Ok(()));
        }
        let a = rung_tiering::atomic_op(op)?;
        Some(self.atomic(a))
    }

    fn atomic(&mut self, a: rung_tiering::AtomicOp) -> Result<()> {
        let mem = match a.memarg.target {
            MemArgTarget::Memory(mem) => mem,
            MemArgTarget::Array(_) => return Err(self.unsupported("gc: array memory access")),
        };
        let ty = if a.wide { Ty::I64 } else { Ty::I32 };
        let offset = a.memarg.offset;
        let bytes = a.bytes;
        let full = bytes == if a.wide { 8 } else { 4 };
        match a.kind {
            AtomicKind::Load => {
                let addr = self.pop()?;
                self.check_aligned(&addr, offset, bytes)?;
                let ext = if full { Ext::None } else { Ext::Unsigned };
                self.load_popped(mem, offset, addr, ty, bytes, ext)
            }
            AtomicKind::Store => {
                let value = self.pop()?;
                let addr = self.pop()?;
                self.check_aligned(&addr, offset, bytes)?;
                self.store_popped(mem, offset, addr, value, bytes)?;
                self.masm.asm.mfence();
                Ok(())
            }
            AtomicKind::Rmw(op @ (RmwOp::Add | RmwOp::Sub | RmwOp::Xchg)) => {
                let value = self.pop()?;
                let addr = self.pop()?;
                self.check_aligned(&addr, offset, bytes)?;
                let v = self.owned_reg(&value)?;
                if op == RmwOp::Sub {
                    self.masm.asm.neg_r(ty.size(), v);
                }
                let m = self.heap_access(mem, offset, &addr)?;
                let insn = if op == RmwOp::Xchg {
                    AtomicRmw::Xchg
                } else {
                    AtomicRmw::Xadd
                };
                self.masm.guarded(TrapCode::MemoryOutOfBounds, |asm| {
                    asm.atomic_rmw(insn, bytes, m, v)
                });
                if !full {
                    self.masm.asm.zext_r(bytes, v);
                }
                self.free(&addr);
                self.push_reg(ty, v);
                Ok(())
            }
            AtomicKind::Rmw(op) => {
                self.alloc_specific(Reg::Rax)?;
                let value = self.pop()?;
                let addr = self.pop()?;
                self.check_aligned(&addr, offset, bytes)?;
                let v = self.owned_reg(&value)?;
                let t = self.alloc(RegClass::Int)?;
                let m = self.heap_access(mem, offset, &addr)?;
                let alu = match op {
                    RmwOp::And => Alu::And,
                    RmwOp::Or => Alu::Or,
                    _ => Alu::Xor,
                };
                self.masm.guarded(TrapCode::MemoryOutOfBounds, |asm| {
                    asm.load_ext(Reg::Rax, m, bytes, false, ty.size())
                });
                let retry = self.masm.asm.new_label();
                self.masm.asm.bind(retry);
                self.masm.asm.mov_rr(Size::S64, t, Reg::Rax);
                self.masm.asm.alu_rr(alu, ty.size(), t, v);
                self.masm.guarded(TrapCode::MemoryOutOfBounds, |asm| {
                    asm.atomic_rmw(AtomicRmw::Cmpxchg, bytes, m, t)
                });
                self.masm.asm.jcc(Cc::Ne, retry);
                self.free_reg(t);
                self.free_reg(v);
                self.free(&addr);
                self.push_reg(ty, Reg::Rax);
                Ok(())
            }
            AtomicKind::Cmpxchg => {
                self.alloc_specific(Reg::Rax)?;
                let replacement = self.pop()?;
                let expected = self.pop()?;
                let addr = self.pop()?;
                self.check_aligned(&addr, offset, bytes)?;
                self.load_into(Reg::Rax, expected.ty, expected.loc, expected.pos);
                self.free(&expected);
                let r = self.owned_reg(&replacement)?;
                let m = self.heap_access(mem, offset, &addr)?;
                self.masm.guarded(TrapCode::MemoryOutOfBounds, |asm| {
                    asm.atomic_rmw(AtomicRmw::Cmpxchg, bytes, m, r)
                });
                if !full {
                    self.masm.asm.zext_r(bytes, Reg::Rax);
                }
                self.free_reg(r);
                self.free(&addr);
                self.push_reg(ty, Reg::Rax);
                Ok(())
            }
            AtomicKind::Wait => {
                let timeout = self.pop()?;
                let expected = self.pop()?;
                let addr = self.pop()?;
                let off = self.offset_arg(offset)?;
                let l = if a.wide {
                    Libcall::MemoryAtomicWait64
                } else {
                    Libcall::MemoryAtomicWait32
                };
                self.libcall(
                    l,
                    &[
                        LArg::Imm(mem),
                        LArg::Val(addr, true),
                        LArg::Val(expected, false),
                        LArg::Val(timeout, false),
                        off,
                    ],
                    Some(Ty::I32),
                )
            }
            AtomicKind::Notify => {
                let count = self.pop()?;
                let addr = self.pop()?;
                let off = self.offset_arg(offset)?;
                self.libcall(
                    Libcall::MemoryAtomicNotify,
                    &[
                        LArg::Imm(mem),
                        LArg::Val(addr, true),
                        LArg::Val(count, false),
                        off,
                    ],
                    Some(Ty::I32),
                )
            }
        }
    }

    /// A `memarg` offset as a libcall's `i64`: an immediate (zero-extended
    /// by the 32-bit move), or a 64-bit memory's larger one as a constant
    /// operand (pushed and popped: constants take no register).
    fn offset_arg(&mut self, offset: u64) -> Result<LArg> {
        match u32::try_from(offset) {
            Ok(o) => Ok(LArg::Imm(o)),
            Err(_) => {
                self.konst(Ty::I64, offset)?;
                Ok(LArg::Val(self.pop()?, false))
            }
        }
    }

    /// Traps with `HeapMisaligned` unless `addr + offset` is a multiple of
    /// `bytes` (the low bits of the 32-bit sum decide). Uses r11.
    fn check_aligned(&mut self, addr: &Opnd, offset: u64, bytes: u32) -> Result<()> {
        if bytes == 1 {
            return Ok(());
        }
        let mask = bytes - 1;
        if let Loc::Const(c) = addr.loc {
            if (c as u32).wrapping_add(offset as u32) & mask != 0 {
                self.masm.trap_always(TrapCode::HeapMisaligned);
            }
            return Ok(());
        }
        let op = self.operand(addr);
        self.masm.mov_int(Size::S32, SCRATCH, op);
        if offset as u32 != 0 {
            self.masm
                .asm
                .alu_ri(Alu::Add, Size::S32, SCRATCH, offset as u32 as i32);
        }
        self.masm
            .asm
            .alu_ri(Alu::And, Size::S32, SCRATCH, mask as i32);
        self.masm.trap_if(Cc::Ne, TrapCode::HeapMisaligned);
        Ok(())
    }
}
