//! Linear-memory operators: loads, stores, `memory.size`, `memory.grow` and
//! the bulk-memory operators.
//!
//! No 32-bit access is bounds-checked: the runtime reserves
//! `rung_tiering::MEMORY32_RESERVATION` (8 GiB) of address space for every
//! 32-bit memory and only its current length is accessible, so
//!
//! ```text
//! access [base + zext(addr) + offset]     (little, heap region, traps HEAP_OUT_OF_BOUNDS)
//! ```
//!
//! either touches the memory or faults in the guard; the access itself is
//! recorded as a `MemoryOutOfBounds` trap site, which the runtime's signal
//! handler turns into the trap. `base` never moves (readonly, hoisted by
//! Cranelift). A 64-bit memory's access first traps on
//! `addr >> MEMORY64_INDEX_BITS != 0` (and always, for a static offset of
//! `MEMORY64_MAX_BYTES` or more); its `MEMORY64_RESERVATION` then covers
//! the rest (ARCHITECTURE.md, "64-bit memories and tables"). The bulk
//! operators are libcalls (which trap themselves); their `i32` addresses
//! and lengths are zero-extended to the libcall's `i64`.

use cranelift_codegen::ir::{InstBuilder, Type, Value, types};
use rung_tiering::{CompileError, Libcall, MEMORY64_INDEX_BITS, MEMORY64_MAX_BYTES, TrapCode};
use wasmparser::{MemArg, MemArgTarget, Operator};

use super::Translator;

use types::{F32, F64, I32, I64};

#[derive(Clone, Copy)]
enum Ext {
    None,
    Signed,
    Unsigned,
}

impl Translator<'_, '_> {
    /// Whether memory `mem` has 64-bit addresses (memory64).
    pub(super) fn memory64(&self, mem: u32) -> Result<bool, CompileError> {
        self.env
            .module
            .memories
            .get(mem as usize)
            .map(|m| m.memory64)
            .ok_or_else(|| self.internal("memory index out of range"))
    }

    /// A result in pages of memory `mem` (from an `i64` libcall or length),
    /// as the operator's result type.
    fn memory_result(&mut self, mem: u32, v: Value) -> Result<Value, CompileError> {
        Ok(if self.memory64(mem)? {
            v
        } else {
            self.builder.ins().ireduce(I32, v)
        })
    }

    /// Whether memory `mem` is shared (its length is read by a libcall:
    /// ARCHITECTURE.md, "Threads").
    fn is_shared(&self, mem: u32) -> bool {
        self.env
            .module
            .memories
            .get(mem as usize)
            .is_some_and(|m| m.shared)
    }

    /// The memory a plain (non-atomic) access uses.
    fn memarg_memory(&self, memarg: &MemArg) -> Result<u32, CompileError> {
        if memarg.ordering.is_some() {
            return Err(self.unsupported("threads: ordered memory access"));
        }
        match memarg.target {
            MemArgTarget::Memory(mem) => Ok(mem),
            MemArgTarget::Array(_) => Err(self.unsupported("gc: array memory access")),
        }
    }

    /// The address of an access (its guard region does the bounds check of
    /// a 32-bit memory, a shift and the guard that of a 64-bit one: see
    /// the module docs), and the offset to put in the instruction.
    pub(super) fn heap_addr(
        &mut self,
        memarg: &MemArg,
        addr: Value,
    ) -> Result<(Value, i32), CompileError> {
        let mem = self.memarg_memory(memarg)?;
        let mut offset = memarg.offset;
        let addr = if self.memory64(mem)? {
            if offset >= MEMORY64_MAX_BYTES {
                // `addr + offset` is past any length the memory can have;
                // the access after the trap is never reached.
                let yes = self.iconst(I32, 1);
                self.trapnz(yes, TrapCode::MemoryOutOfBounds);
                offset = 0;
            } else {
                let high = self
                    .builder
                    .ins()
                    .ushr_imm_u(addr, i64::from(MEMORY64_INDEX_BITS));
                self.trapnz(high, TrapCode::MemoryOutOfBounds);
            }
            addr
        } else {
            self.builder.ins().uextend(I64, addr)
        };
        let offset =
            i64::try_from(offset).map_err(|_| self.internal("memory offset exceeds 63 bits"))?;
        let base = self.env.memory_base(&mut self.builder, mem)?;
        let ptr = self.builder.ins().iadd(base, addr);
        Ok(match i32::try_from(offset) {
            Ok(o) => (ptr, o),
            Err(_) => (self.builder.ins().iadd_imm_u(ptr, offset), 0),
        })
    }

    fn load(&mut self, memarg: &MemArg, ty: Type, size: u32, ext: Ext) -> Result<(), CompileError> {
        let addr = self.pop()?;
        let (ptr, off) = self.heap_addr(memarg, addr)?;
        let n = self.heap_access();
        let flags = self.env.heap(n);
        let ins = self.builder.ins();
        let v = match (ext, size) {
            (Ext::None, _) => ins.load(ty, flags, ptr, off),
            (Ext::Signed, 1) => ins.sload8(ty, flags, ptr, off),
            (Ext::Unsigned, 1) => ins.uload8(ty, flags, ptr, off),
            (Ext::Signed, 2) => ins.sload16(ty, flags, ptr, off),
            (Ext::Unsigned, 2) => ins.uload16(ty, flags, ptr, off),
            (Ext::Signed, _) => ins.sload32(flags, ptr, off),
            (Ext::Unsigned, _) => ins.uload32(flags, ptr, off),
        };
        self.push(v);
        Ok(())
    }

    fn store(&mut self, memarg: &MemArg, size: u32) -> Result<(), CompileError> {
        let (addr, value) = self.pop2()?;
        let (ptr, off) = self.heap_addr(memarg, addr)?;
        let n = self.heap_access();
        let flags = self.env.heap(n);
        let full = self.builder.func.dfg.value_type(value).bytes() == size;
        let ins = self.builder.ins();
        match size {
            _ if full => ins.store(flags, value, ptr, off),
            1 => ins.istore8(flags, value, ptr, off),
            2 => ins.istore16(flags, value, ptr, off),
            _ => ins.istore32(flags, value, ptr, off),
        };
        Ok(())
    }

    /// Numbers this operator's linear-memory access: the offset list is
    /// what `emit` resolves tagged faults with.
    pub(super) fn heap_access(&mut self) -> u32 {
        let n = self.heap_accesses.len() as u32;
        self.heap_accesses.push(self.offset as u32);
        n
    }

    /// Translates `op` if it is a memory operator; `Ok(false)` otherwise.
    pub(crate) fn memory_op(&mut self, op: &Operator<'_>) -> Result<bool, CompileError> {
        use Operator as O;
        match op {
            O::I32Load { memarg } => self.load(memarg, I32, 4, Ext::None)?,
            O::I64Load { memarg } => self.load(memarg, I64, 8, Ext::None)?,
            O::F32Load { memarg } => self.load(memarg, F32, 4, Ext::None)?,
            O::F64Load { memarg } => self.load(memarg, F64, 8, Ext::None)?,
            O::I32Load8S { memarg } => self.load(memarg, I32, 1, Ext::Signed)?,
            O::I32Load8U { memarg } => self.load(memarg, I32, 1, Ext::Unsigned)?,
            O::I32Load16S { memarg } => self.load(memarg, I32, 2, Ext::Signed)?,
            O::I32Load16U { memarg } => self.load(memarg, I32, 2, Ext::Unsigned)?,
            O::I64Load8S { memarg } => self.load(memarg, I64, 1, Ext::Signed)?,
            O::I64Load8U { memarg } => self.load(memarg, I64, 1, Ext::Unsigned)?,
            O::I64Load16S { memarg } => self.load(memarg, I64, 2, Ext::Signed)?,
            O::I64Load16U { memarg } => self.load(memarg, I64, 2, Ext::Unsigned)?,
            O::I64Load32S { memarg } => self.load(memarg, I64, 4, Ext::Signed)?,
            O::I64Load32U { memarg } => self.load(memarg, I64, 4, Ext::Unsigned)?,
            O::I32Store { memarg } | O::F32Store { memarg } => self.store(memarg, 4)?,
            O::I64Store { memarg } | O::F64Store { memarg } => self.store(memarg, 8)?,
            O::I32Store8 { memarg } | O::I64Store8 { memarg } => self.store(memarg, 1)?,
            O::I32Store16 { memarg } | O::I64Store16 { memarg } => self.store(memarg, 2)?,
            O::I64Store32 { memarg } => self.store(memarg, 4)?,
            O::MemorySize { mem } if self.is_shared(*mem) => {
                let m = self.iconst(I32, i64::from(*mem));
                let pages = self.libcall_result(Libcall::SharedMemorySize, &[m])?;
                let v = self.memory_result(*mem, pages)?;
                self.push(v);
            }
            O::MemorySize { mem } => {
                let len = self.env.memory_length(&mut self.builder, *mem)?;
                let pages = self.builder.ins().ushr_imm_u(len, 16);
                let v = self.memory_result(*mem, pages)?;
                self.push(v);
            }
            O::MemoryGrow { mem } => {
                let delta = self.pop()?;
                let delta = self.zext_i64(delta);
                let m = self.iconst(I32, i64::from(*mem));
                let old = self.libcall_result(Libcall::MemoryGrow, &[m, delta])?;
                let v = self.memory_result(*mem, old)?;
                self.push(v);
            }
            O::MemoryFill { mem } => {
                let (dst, val, len) = self.pop3()?;
                let m = self.iconst(I32, i64::from(*mem));
                let dst = self.zext_i64(dst);
                let len = self.zext_i64(len);
                self.env
                    .libcall(&mut self.builder, Libcall::MemoryFill, &[m, dst, val, len])?;
            }
            O::MemoryCopy { dst_mem, src_mem } => {
                let (dst, src, len) = self.pop3()?;
                let d = self.iconst(I32, i64::from(*dst_mem));
                let s = self.iconst(I32, i64::from(*src_mem));
                let dst = self.zext_i64(dst);
                let src = self.zext_i64(src);
                // The length is `i64` only when both memories are 64-bit.
                let len = self.zext_i64(len);
                self.env.libcall(
                    &mut self.builder,
                    Libcall::MemoryCopy,
                    &[d, s, dst, src, len],
                )?;
            }
            O::MemoryInit { data_index, mem } => {
                let (dst, src, len) = self.pop3()?;
                let m = self.iconst(I32, i64::from(*mem));
                let d = self.iconst(I32, i64::from(*data_index));
                let dst = self.zext_i64(dst);
                self.env.libcall(
                    &mut self.builder,
                    Libcall::MemoryInit,
                    &[m, d, dst, src, len],
                )?;
            }
            O::DataDrop { data_index } => {
                let d = self.iconst(I32, i64::from(*data_index));
                self.env
                    .libcall(&mut self.builder, Libcall::DataDrop, &[d])?;
            }
            _ => return Ok(false),
        }
        Ok(true)
    }

    /// Calls a libcall that has a result.
    pub(crate) fn libcall_result(
        &mut self,
        libcall: Libcall,
        args: &[Value],
    ) -> Result<Value, CompileError> {
        self.env
            .libcall(&mut self.builder, libcall, args)?
            .ok_or_else(|| self.internal("libcall without a result"))
    }
}
