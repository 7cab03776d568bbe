//! The threads proposal's operators (ARCHITECTURE.md, "Threads"): atomic
//! loads, stores, read-modify-writes and compare-exchanges as Cranelift's
//! `atomic_*` instructions, `atomic.fence` as `fence`, and
//! `memory.atomic.wait32/64` / `memory.atomic.notify` as libcalls.
//!
//! ```text
//! test  (addr + offset) & (size - 1)    ; 32-bit sum, low bits only
//! trapnz HeapMisaligned                 ; "unaligned atomic", before the access
//! atomic_* [base + zext(addr) + offset] ; a MemoryOutOfBounds trap site
//! ```
//!
//! As with the plain accesses, the guard region does the bounds check and
//! the access carries the heap trap tag. Narrow accesses work on `i8`/`i16`/
//! `i32` values: operands are reduced first and results zero-extended.

use cranelift_codegen::ir::{AtomicRmwOp, InstBuilder, Type, Value, types};
use rung_tiering::{AtomicKind, CompileError, Libcall, RmwOp, TrapCode};
use wasmparser::{MemArg, MemArgTarget, Operator};

use super::Translator;

use types::{I8, I16, I32, I64};

impl Translator<'_, '_> {
    /// Translates `op` if it is an atomic operator; `Ok(false)` otherwise.
    pub(crate) fn atomic_op(&mut self, op: &Operator<'_>) -> Result<bool, CompileError> {
        if let Operator::AtomicFence { .. } = op {
            self.builder.ins().fence();
            return Ok(true);
        }
        let Some(a) = rung_tiering::atomic_op(op) else {
            return Ok(false);
        };
        let mem = match a.memarg.target {
            MemArgTarget::Memory(mem) => mem,
            MemArgTarget::Array(_) => return Err(self.unsupported("gc: array memory access")),
        };
        let ty = if a.wide { I64 } else { I32 };
        let access = match a.bytes {
            1 => I8,
            2 => I16,
            4 => I32,
            _ => I64,
        };
        match a.kind {
            AtomicKind::Load => {
                let addr = self.pop()?;
                let p = self.atomic_addr(&a.memarg, a.bytes, addr)?;
                let flags = self.atomic_flags();
                let v = self.builder.ins().atomic_load(access, flags, p);
                let v = self.atomic_widen(v, access, ty);
                self.push(v);
            }
            AtomicKind::Store => {
                let (addr, value) = self.pop2()?;
                let p = self.atomic_addr(&a.memarg, a.bytes, addr)?;
                let v = self.atomic_narrow(value, access, ty);
                let flags = self.atomic_flags();
                self.builder.ins().atomic_store(flags, v, p);
            }
            AtomicKind::Rmw(op) => {
                let (addr, value) = self.pop2()?;
                let p = self.atomic_addr(&a.memarg, a.bytes, addr)?;
                let v = self.atomic_narrow(value, access, ty);
                let op = match op {
                    RmwOp::Add => AtomicRmwOp::Add,
                    RmwOp::Sub => AtomicRmwOp::Sub,
                    RmwOp::And => AtomicRmwOp::And,
                    RmwOp::Or => AtomicRmwOp::Or,
                    RmwOp::Xor => AtomicRmwOp::Xor,
                    RmwOp::Xchg => AtomicRmwOp::Xchg,
                };
                let flags = self.atomic_flags();
                let old = self.builder.ins().atomic_rmw(access, flags, op, p, v);
                let old = self.atomic_widen(old, access, ty);
                self.push(old);
            }
            AtomicKind::Cmpxchg => {
                let (addr, expected, replacement) = self.pop3()?;
                let p = self.atomic_addr(&a.memarg, a.bytes, addr)?;
                let e = self.atomic_narrow(expected, access, ty);
                let r = self.atomic_narrow(replacement, access, ty);
                let flags = self.atomic_flags();
                let old = self.builder.ins().atomic_cas(flags, p, e, r);
                let old = self.atomic_widen(old, access, ty);
                self.push(old);
            }
            AtomicKind::Wait => {
                let (addr, expected, timeout) = self.pop3()?;
                let (m, addr, off) = self.waitable(mem, &a.memarg, addr);
                let l = if a.wide {
                    Libcall::MemoryAtomicWait64
                } else {
                    Libcall::MemoryAtomicWait32
                };
                let r = self.libcall_result(l, &[m, addr, expected, timeout, off])?;
                self.push(r);
            }
            AtomicKind::Notify => {
                let (addr, count) = self.pop2()?;
                let (m, addr, off) = self.waitable(mem, &a.memarg, addr);
                let r = self.libcall_result(Libcall::MemoryAtomicNotify, &[m, addr, count, off])?;
                self.push(r);
            }
        }
        Ok(true)
    }

    /// The memory index, the address (zero-extended if 32-bit) and the
    /// offset, as the wait/notify libcalls take them (they check alignment
    /// and bounds).
    fn waitable(&mut self, mem: u32, memarg: &MemArg, addr: Value) -> (Value, Value, Value) {
        let m = self.iconst(I32, i64::from(mem));
        let addr = self.zext_i64(addr);
        let off = self.iconst(I64, memarg.offset as i64);
        (m, addr, off)
    }

    /// The heap flags of an atomic access: a tagged `MemoryOutOfBounds`
    /// trap site, as the plain accesses.
    fn atomic_flags(&mut self) -> cranelift_codegen::ir::MemFlagsData {
        let n = self.heap_access();
        self.env.heap(n)
    }

    /// The address of an atomic access of `bytes` bytes after the alignment
    /// check (see the module docs); Cranelift's atomics take no offset.
    fn atomic_addr(
        &mut self,
        memarg: &MemArg,
        bytes: u32,
        addr: Value,
    ) -> Result<Value, CompileError> {
        if bytes > 1 {
            // Alignment depends only on the low bits of `addr + offset`.
            let low_offset = (memarg.offset & 15) as i64;
            let eff = if low_offset == 0 {
                addr
            } else {
                self.builder.ins().iadd_imm_u(addr, low_offset)
            };
            let low = self.builder.ins().band_imm_u(eff, i64::from(bytes - 1));
            self.trapnz(low, TrapCode::HeapMisaligned);
        }
        let mut plain = *memarg;
        plain.ordering = None;
        let (ptr, off) = self.heap_addr(&plain, addr)?;
        Ok(if off == 0 {
            ptr
        } else {
            self.builder.ins().iadd_imm_s(ptr, i64::from(off))
        })
    }

    fn atomic_narrow(&mut self, v: Value, access: Type, ty: Type) -> Value {
        if access == ty {
            v
        } else {
            self.builder.ins().ireduce(access, v)
        }
    }

    fn atomic_widen(&mut self, v: Value, access: Type, ty: Type) -> Value {
        if access == ty {
            v
        } else {
            self.builder.ins().uextend(ty, v)
        }
    }
}
