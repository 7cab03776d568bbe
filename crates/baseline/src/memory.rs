//! Linear memory, globals and tables.
//!
//! Linear memory accesses have no explicit bounds check, as in the
//! optimizer: the runtime reserves `MEMORY32_RESERVATION` (8 GiB and a
//! little) for every 32-bit memory, so an access either lands in the memory
//! or faults in the guard region, and the access instruction itself is
//! recorded as a `MemoryOutOfBounds` trap site:
//!
//! ```text
//!   mov  r11d, addr                    ; zero-extend the i32 address
//!   mov  eax, [r15 + r11 + offset]     ; r15 = memory 0's base (never moves)
//! ```
//!
//! A constant address folds into the displacement; an offset of 2 GiB or
//! more is added to r11 first. An imported memory's base is read through
//! its definition pointer, and a memory other than 0 has its base loaded
//! per access. A 64-bit memory's access first traps when the address has a
//! bit at or above `MEMORY64_INDEX_BITS` (`mov r10, r11; shr r10, 33; jnz`)
//! and then relies on its `MEMORY64_RESERVATION` in the same way
//! (ARCHITECTURE.md, "64-bit memories and tables"). The bulk operators are
//! libcalls, their `i32` addresses and lengths zero-extended to the
//! libcall's `i64`.
//!
//! Globals are 16-byte cells in the vmctx (or behind an import pointer);
//! table elements are words at `base + index * 8` after an explicit
//! `index < current_elements` check (`TableOutOfBounds`); base and length
//! are read at every use (`table.grow` may move the base).

use rung_tiering::abi::{Reg, RegClass};
use rung_tiering::{Definition, Libcall, MEMORY64_INDEX_BITS, MEMORY64_MAX_BYTES, TrapCode};
use wasmparser::MemArg;

use crate::asm::{Alu, Cc, Mem, Shift, Size};
use crate::call::LArg;
use crate::context::{CodeGen, Result};
use crate::masm::Operand;
use crate::regalloc::{HEAP_BASE, SCRATCH, SCRATCH2, VMCTX};
use crate::stack::{Loc, Opnd, Ty};

/// How a load extends a narrow value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ext {
    None,
    Signed,
    Unsigned,
}

impl CodeGen<'_> {
    /// Whether memory `mem` has 64-bit addresses (memory64).
    pub(crate) fn memory64(&self, mem: u32) -> Result<bool> {
        self.env
            .memories
            .get(mem as usize)
            .map(|m| m.memory64)
            .ok_or_else(|| self.internal("memory index out of range"))
    }

    /// The type of memory `mem`'s addresses and page counts.
    fn memory_index_ty(&self, mem: u32) -> Result<Ty> {
        Ok(if self.memory64(mem)? {
            Ty::I64
        } else {
            Ty::I32
        })
    }

    pub(crate) fn memarg_memory(&self, memarg: &MemArg) -> Result<u32> {
        if memarg.ordering.is_some() {
            return Err(self.unsupported("threads: ordered memory access"));
        }
        match memarg.target {
            wasmparser::MemArgTarget::Memory(mem) => Ok(mem),
            wasmparser::MemArgTarget::Array(_) => Err(self.unsupported("gc: array memory access")),
        }
    }

    /// The memory operand of an access at `addr` + `offset` to `mem`. No
    /// bounds check for a 32-bit memory: the runtime reserves
    /// [`MEMORY32_RESERVATION`] bytes for it, so `base + zext(addr) +
    /// offset` is in the memory or faults, and the caller emits the access
    /// through `MacroAssembler::guarded` as a `MemoryOutOfBounds` trap site.
    /// A 64-bit memory's address is checked against
    /// [`MEMORY64_INDEX_BITS`] first (see the module docs). Uses r11 for
    /// the index and r10 for an unpinned base.
    ///
    /// [`MEMORY32_RESERVATION`]: rung_tiering::MEMORY32_RESERVATION
    pub(crate) fn heap_access(&mut self, mem: u32, offset: u64, addr: &Opnd) -> Result<Mem> {
        let (index, disp) = if self.memory64(mem)? {
            self.heap_index64(offset, addr)
        } else if let Loc::Const(c) = addr.loc {
            self.constant_address(u64::from(c as u32) + offset)
        } else if let Loc::Local(i) = addr.loc
            && let Some(r) = self.frame.pinned(i, RegClass::Int)
            && let Ok(d) = i32::try_from(offset)
        {
            // A loop-pinned i32 is zero-extended in its register (see
            // `frame.rs`): it indexes as it is.
            (Some(r), d)
        } else {
            let op = self.operand(addr);
            self.masm.mov_int(Size::S32, SCRATCH, op);
            self.index_plus_offset(offset)
        };
        let base = if mem == 0 && self.frame.pins_heap {
            HEAP_BASE
        } else {
            let base = self.offsets.memory_layout().base as i32;
            match self.offsets.memory_definition(mem) {
                Some(Definition::Local(off)) => {
                    self.masm
                        .asm
                        .mov_rm(Size::S64, SCRATCH2, Mem::new(VMCTX, off as i32 + base));
                }
                Some(Definition::Imported(off)) => {
                    self.masm
                        .asm
                        .mov_rm(Size::S64, SCRATCH2, Mem::new(VMCTX, off as i32));
                    self.masm
                        .asm
                        .mov_rm(Size::S64, SCRATCH2, Mem::new(SCRATCH2, base));
                }
                None => return Err(self.internal("memory out of range")),
            }
            SCRATCH2
        };
        Ok(match index {
            Some(i) => Mem::indexed(base, i, disp),
            None => Mem::new(base, disp),
        })
    }

    /// The index register and displacement of a 64-bit memory's access,
    /// after the checks that keep it inside [`MEMORY64_RESERVATION`]:
    /// `addr >> MEMORY64_INDEX_BITS != 0` traps, and so does any access
    /// with a static offset of [`MEMORY64_MAX_BYTES`] or more (the access
    /// after such a trap is never reached).
    ///
    /// [`MEMORY64_RESERVATION`]: rung_tiering::MEMORY64_RESERVATION
    fn heap_index64(&mut self, offset: u64, addr: &Opnd) -> (Option<Reg>, i32) {
        if offset >= MEMORY64_MAX_BYTES {
            self.masm.trap_always(TrapCode::MemoryOutOfBounds);
            return (None, 0);
        }
        if let Loc::Const(c) = addr.loc {
            if c >> MEMORY64_INDEX_BITS != 0 {
                self.masm.trap_always(TrapCode::MemoryOutOfBounds);
                return (None, 0);
            }
            // Below 2^34: no overflow.
            return self.constant_address(c + offset);
        }
        let op = self.operand(addr);
        self.masm.mov_int(Size::S64, SCRATCH, op);
        self.masm.asm.mov_rr(Size::S64, SCRATCH2, SCRATCH);
        self.masm
            .asm
            .shift_ri(Shift::Shr, Size::S64, SCRATCH2, MEMORY64_INDEX_BITS as u8);
        self.masm.trap_if(Cc::Ne, TrapCode::MemoryOutOfBounds);
        self.index_plus_offset(offset)
    }

    /// The index register and displacement of an access at the constant
    /// effective address `eff` (folded into the displacement if it fits).
    fn constant_address(&mut self, eff: u64) -> (Option<Reg>, i32) {
        match i32::try_from(eff) {
            Ok(d) => (None, d),
            Err(_) => {
                self.masm.asm.mov_r64_imm(SCRATCH, eff as i64);
                (Some(SCRATCH), 0)
            }
        }
    }

    /// The index register (r11, holding the address) and displacement of an
    /// access at `offset` from it: an offset of 2 GiB or more is added to
    /// r11 first.
    fn index_plus_offset(&mut self, offset: u64) -> (Option<Reg>, i32) {
        match i32::try_from(offset) {
            Ok(d) => (Some(SCRATCH), d),
            Err(_) => {
                self.masm.asm.mov_r64_imm(SCRATCH2, offset as i64);
                self.masm.asm.alu_rr(Alu::Add, Size::S64, SCRATCH, SCRATCH2);
                (Some(SCRATCH), 0)
            }
        }
    }

    pub fn visit_load(&mut self, memarg: &MemArg, ty: Ty, bytes: u32, ext: Ext) -> Result<()> {
        let mem = self.memarg_memory(memarg)?;
        let addr = self.pop()?;
        self.load_popped(mem, memarg.offset, addr, ty, bytes, ext)
    }

    /// A load from `addr` (popped) + `offset` (also atomic loads': x86-64
    /// loads are sequentially consistent).
    pub(crate) fn load_popped(
        &mut self,
        mem: u32,
        offset: u64,
        addr: Opnd,
        ty: Ty,
        bytes: u32,
        ext: Ext,
    ) -> Result<()> {
        // The address is copied to r11 first, so its register can take the
        // result.
        let dst = match addr.loc {
            Loc::Reg(r) if !ty.is_float() => r,
            _ => self.alloc_for(ty)?,
        };
        let m = self.heap_access(mem, offset, &addr)?;
        self.masm
            .guarded(TrapCode::MemoryOutOfBounds, |asm| match (ty, ext) {
                (Ty::F32 | Ty::F64, _) => asm.movs_rm(ty.size(), dst, m),
                (_, Ext::None) => asm.mov_rm(ty.size(), dst, m),
                (_, ext) => asm.load_ext(dst, m, bytes, ext == Ext::Signed, ty.size()),
            });
        if addr.reg() != Some(dst) {
            self.free(&addr);
        }
        self.push_reg(ty, dst);
        Ok(())
    }

    pub fn visit_store(&mut self, memarg: &MemArg, bytes: u32) -> Result<()> {
        let mem = self.memarg_memory(memarg)?;
        let value = self.pop()?;
        let addr = self.pop()?;
        self.store_popped(mem, memarg.offset, addr, value, bytes)
    }

    /// A store of `value` to `addr` + `offset` (both popped).
    pub(crate) fn store_popped(
        &mut self,
        mem: u32,
        offset: u64,
        addr: Opnd,
        value: Opnd,
        bytes: u32,
    ) -> Result<()> {
        // The value must be a register or a 32-bit immediate.
        let imm = match value.loc {
            Loc::Const(c) if !value.ty.is_float() => {
                let v = if value.ty == Ty::I32 {
                    i64::from(c as u32 as i32)
                } else {
                    c as i64
                };
                i32::try_from(v).ok()
            }
            _ => None,
        };
        let src = match imm {
            Some(v) => Err(v),
            None => Ok(self.owned_reg(&value)?),
        };
        let m = self.heap_access(mem, offset, &addr)?;
        let ty = value.ty;
        self.masm
            .guarded(TrapCode::MemoryOutOfBounds, |asm| match src {
                Ok(r) if ty.is_float() => asm.movs_mr(ty.size(), m, r),
                Ok(r) => match bytes {
                    1 => asm.mov_mr8(m, r),
                    2 => asm.mov_mr16(m, r),
                    4 => asm.mov_mr(Size::S32, m, r),
                    _ => asm.mov_mr(Size::S64, m, r),
                },
                Err(v) => match bytes {
                    1 => asm.mov_mi8(m, v as i8),
                    2 => asm.mov_mi16(m, v as i16),
                    4 => asm.mov_mi(Size::S32, m, v),
                    _ => asm.mov_mi(Size::S64, m, v),
                },
            });
        if let Ok(r) = src {
            self.free_reg(r);
        }
        self.free(&addr);
        Ok(())
    }

    pub fn visit_memory_size(&mut self, mem: u32) -> Result<()> {
        let ty = self.memory_index_ty(mem)?;
        if self
            .env
            .memories
            .get(mem as usize)
            .is_some_and(|m| m.shared)
        {
            // Only the shared memory's own definition is current
            // (ARCHITECTURE.md, "Threads").
            return self.libcall(Libcall::SharedMemorySize, &[LArg::Imm(mem)], Some(ty));
        }
        let dst = self.alloc(RegClass::Int)?;
        let layout = self.offsets.memory_layout();
        let len = match self.offsets.memory_definition(mem) {
            Some(Definition::Local(off)) => Mem::new(VMCTX, (off + layout.length) as i32),
            Some(Definition::Imported(off)) => {
                self.masm
                    .asm
                    .mov_rm(Size::S64, SCRATCH, Mem::new(VMCTX, off as i32));
                Mem::new(SCRATCH, layout.length as i32)
            }
            None => return Err(self.internal("memory out of range")),
        };
        self.masm.asm.mov_rm(Size::S64, dst, len);
        self.masm.asm.shift_ri(Shift::Shr, Size::S64, dst, 16);
        self.push_reg(ty, dst);
        Ok(())
    }

    pub fn visit_memory_grow(&mut self, mem: u32) -> Result<()> {
        let ty = self.memory_index_ty(mem)?;
        let delta = self.pop()?;
        self.libcall(
            Libcall::MemoryGrow,
            &[LArg::Imm(mem), LArg::Val(delta, true)],
            Some(ty),
        )
    }

    pub fn visit_memory_fill(&mut self, mem: u32) -> Result<()> {
        let len = self.pop()?;
        let val = self.pop()?;
        let dst = self.pop()?;
        self.libcall(
            Libcall::MemoryFill,
            &[
                LArg::Imm(mem),
                LArg::Val(dst, true),
                LArg::Val(val, false),
                LArg::Val(len, true),
            ],
            None,
        )
    }

    pub fn visit_memory_copy(&mut self, dst_mem: u32, src_mem: u32) -> Result<()> {
        let len = self.pop()?;
        let src = self.pop()?;
        let dst = self.pop()?;
        self.libcall(
            Libcall::MemoryCopy,
            &[
                LArg::Imm(dst_mem),
                LArg::Imm(src_mem),
                LArg::Val(dst, true),
                LArg::Val(src, true),
                LArg::Val(len, true),
            ],
            None,
        )
    }

    pub fn visit_memory_init(&mut self, data: u32, mem: u32) -> Result<()> {
        let len = self.pop()?;
        let src = self.pop()?;
        let dst = self.pop()?;
        self.libcall(
            Libcall::MemoryInit,
            &[
                LArg::Imm(mem),
                LArg::Imm(data),
                LArg::Val(dst, true),
                LArg::Val(src, false),
                LArg::Val(len, false),
            ],
            None,
        )
    }

    pub fn visit_data_drop(&mut self, data: u32) -> Result<()> {
        self.libcall(Libcall::DataDrop, &[LArg::Imm(data)], None)
    }

    // ---- globals ---------------------------------------------------------------------

    fn global_ty(&self, global: u32) -> Result<Ty> {
        let g = self
            .env
            .globals
            .get(global as usize)
            .ok_or_else(|| self.internal("global index out of range"))?;
        Ty::of_simd(g.ty.content_type).ok_or_else(|| self.internal("global type"))
    }

    /// The global's cell; an imported one's pointer is loaded into r11.
    pub(crate) fn global_cell(&mut self, global: u32) -> Result<Mem> {
        match self.offsets.global_definition(global) {
            Some(Definition::Local(off)) => Ok(Mem::new(VMCTX, off as i32)),
            Some(Definition::Imported(off)) => {
                self.masm
                    .asm
                    .mov_rm(Size::S64, SCRATCH, Mem::new(VMCTX, off as i32));
                Ok(Mem::new(SCRATCH, 0))
            }
            None => Err(self.internal("global out of range")),
        }
    }

    /// The value of an immutable defined global initialized by a single
    /// constant (`i32.const` … `f64.const`, `ref.null`): it folds into the
    /// code like any constant.
    fn constant_global(&self, global: u32) -> Option<u64> {
        let g = self.env.globals.get(global as usize)?;
        if g.ty.mutable || global < self.env.counts.imported_globals {
            return None;
        }
        let mut ops = g.init.as_ref()?.expr().get_operators_reader();
        let bits = match ops.read().ok()? {
            wasmparser::Operator::I32Const { value } => u64::from(value as u32),
            wasmparser::Operator::I64Const { value } => value as u64,
            wasmparser::Operator::F32Const { value } => u64::from(value.bits()),
            wasmparser::Operator::F64Const { value } => value.bits(),
            wasmparser::Operator::RefNull { .. } => 0,
            _ => return None,
        };
        matches!(ops.read().ok()?, wasmparser::Operator::End).then_some(bits)
    }

    pub fn visit_global_get(&mut self, global: u32) -> Result<()> {
        let ty = self.global_ty(global)?;
        if ty == Ty::V128 {
            return self.v128_global_get(global);
        }
        if let Some(bits) = self.constant_global(global) {
            self.push(ty, Loc::Const(bits));
            return Ok(());
        }
        let dst = self.alloc_for(ty)?;
        let cell = self.global_cell(global)?;
        if ty.is_float() {
            self.masm.asm.movs_rm(ty.size(), dst, cell);
        } else {
            self.masm.asm.mov_rm(ty.size(), dst, cell);
        }
        self.push_reg(ty, dst);
        Ok(())
    }

    pub fn visit_global_set(&mut self, global: u32) -> Result<()> {
        let v = self.pop()?;
        let cell = self.global_cell(global)?;
        self.store_to(cell, v.ty, v.loc, v.pos, SCRATCH2);
        self.free(&v);
        Ok(())
    }

    // ---- tables ----------------------------------------------------------------------

    pub fn visit_table_get(&mut self, table: u32) -> Result<()> {
        let index = self.pop()?;
        let dst = match index.loc {
            Loc::Reg(r) => r,
            _ => self.alloc(RegClass::Int)?,
        };
        let op = self.operand(&index);
        self.table_element_address(table, op, TrapCode::TableOutOfBounds)?;
        self.masm.asm.mov_rm(Size::S64, dst, Mem::new(SCRATCH2, 0));
        self.push_reg(Ty::Ref, dst);
        Ok(())
    }

    pub fn visit_table_set(&mut self, table: u32) -> Result<()> {
        let value = self.pop()?;
        let index = self.pop()?;
        let src = match value.loc {
            Loc::Const(c) => Operand::Imm(c),
            _ => Operand::Reg(self.owned_reg(&value)?),
        };
        let op = self.operand(&index);
        self.table_element_address(table, op, TrapCode::TableOutOfBounds)?;
        match src {
            Operand::Reg(r) => {
                self.masm.asm.mov_mr(Size::S64, Mem::new(SCRATCH2, 0), r);
                self.free_reg(r);
            }
            Operand::Imm(c) => {
                self.masm
                    .asm
                    .mov_mi(Size::S64, Mem::new(SCRATCH2, 0), c as i64 as i32)
            }
            Operand::Mem(_) => {}
        }
        self.free(&index);
        Ok(())
    }

    pub fn visit_table_size(&mut self, table: u32) -> Result<()> {
        let ty = self.table_index_ty(table)?;
        let dst = self.alloc(RegClass::Int)?;
        let layout = self.offsets.table_layout();
        let len = match self.offsets.table_definition(table) {
            Some(Definition::Local(off)) => Mem::new(VMCTX, (off + layout.current_elements) as i32),
            Some(Definition::Imported(off)) => {
                self.masm
                    .asm
                    .mov_rm(Size::S64, SCRATCH, Mem::new(VMCTX, off as i32));
                Mem::new(SCRATCH, layout.current_elements as i32)
            }
            None => return Err(self.internal("table out of range")),
        };
        // A 32-bit load zero-extends: right for a 64-bit table too.
        self.masm.asm.mov_rm(Size::S32, dst, len);
        self.push_reg(ty, dst);
        Ok(())
    }

    pub fn visit_table_grow(&mut self, table: u32) -> Result<()> {
        let ty = self.table_index_ty(table)?;
        let delta = self.pop()?;
        let init = self.pop()?;
        self.libcall(
            Libcall::TableGrow,
            &[
                LArg::Imm(table),
                LArg::Val(delta, true),
                LArg::Val(init, false),
            ],
            Some(ty),
        )
    }

    pub fn visit_table_fill(&mut self, table: u32) -> Result<()> {
        let len = self.pop()?;
        let value = self.pop()?;
        let dst = self.pop()?;
        self.libcall(
            Libcall::TableFill,
            &[
                LArg::Imm(table),
                LArg::Val(dst, true),
                LArg::Val(value, false),
                LArg::Val(len, true),
            ],
            None,
        )
    }

    pub fn visit_table_copy(&mut self, dst_table: u32, src_table: u32) -> Result<()> {
        let len = self.pop()?;
        let src = self.pop()?;
        let dst = self.pop()?;
        self.libcall(
            Libcall::TableCopy,
            &[
                LArg::Imm(dst_table),
                LArg::Imm(src_table),
                LArg::Val(dst, true),
                LArg::Val(src, true),
                LArg::Val(len, true),
            ],
            None,
        )
    }

    pub fn visit_table_init(&mut self, elem: u32, table: u32) -> Result<()> {
        let len = self.pop()?;
        let src = self.pop()?;
        let dst = self.pop()?;
        self.libcall(
            Libcall::TableInit,
            &[
                LArg::Imm(table),
                LArg::Imm(elem),
                LArg::Val(dst, true),
                LArg::Val(src, false),
                LArg::Val(len, false),
            ],
            None,
        )
    }

    pub fn visit_elem_drop(&mut self, elem: u32) -> Result<()> {
        self.libcall(Libcall::ElemDrop, &[LArg::Imm(elem)], None)
    }
}
