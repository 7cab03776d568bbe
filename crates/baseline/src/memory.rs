//! Linear memory, globals and tables.
//!
//! Every access to linear memory is bounds-checked explicitly, exactly as
//! the optimizer does (`crates/optimizer/src/translate/memory.rs`):
//!
//! ```text
//!   mov  r11d, addr                    ; zero-extend the i32 address
//!   lea  r10, [r11 + offset + size]    ; end of the access (64-bit, no overflow)
//!   cmp  r10, [r14 + memory_length]    ; length_bytes, reloaded at every access
//!   ja   trap(MemoryOutOfBounds)
//!   mov  eax, [r15 + r11 + offset]     ; r15 = memory 0's base (never moves)
//! ```
//!
//! A constant address folds into the compare and the displacement. An
//! imported memory's length and base are read through its definition
//! pointer; a memory other than 0 has its base loaded per access. memory64
//! is `Unsupported`. The bulk operators are libcalls, their `i32` addresses
//! and lengths zero-extended to the libcall's `i64`.
//!
//! Globals are 16-byte cells in the vmctx (or behind an import pointer);
//! table elements are words at `base + index * 8` after an explicit
//! `index < current_elements` check (`TableOutOfBounds`); base and length
//! are read at every use (`table.grow` may move the base).

use rung_tiering::abi::{Reg, RegClass};
use rung_tiering::{Definition, Libcall, TrapCode};
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
    fn check_memory32(&self, mem: u32) -> Result<()> {
        let m = self
            .env
            .memories
            .get(mem as usize)
            .ok_or_else(|| self.internal("memory index out of range"))?;
        if m.memory64 {
            return Err(self.unsupported(format!("memory64 (memory {mem})")));
        }
        Ok(())
    }

    fn memarg_memory(&self, memarg: &MemArg) -> Result<u32> {
        if memarg.ordering.is_some() {
            return Err(self.unsupported("threads: ordered memory access"));
        }
        match memarg.target {
            wasmparser::MemArgTarget::Memory(mem) => {
                self.check_memory32(mem)?;
                Ok(mem)
            }
            wasmparser::MemArgTarget::Array(_) => Err(self.unsupported("gc: array memory access")),
        }
    }

    /// Whether an access to `mem` needs a temporary register besides r10
    /// and r11 (anything but a defined memory 0 with its base pinned).
    fn heap_needs_tmp(&self, mem: u32) -> bool {
        !(mem == 0
            && self.frame.pins_heap
            && matches!(
                self.offsets.memory_definition(0),
                Some(Definition::Local(_))
            ))
    }

    /// Emits the bounds check of an access of `size` bytes at `addr` +
    /// `offset` and returns its memory operand. `tmp` is an integer register
    /// the caller allocated when [`heap_needs_tmp`] says so.
    fn heap_access(
        &mut self,
        mem: u32,
        offset: u64,
        size: u32,
        addr: &Opnd,
        tmp: Option<Reg>,
    ) -> Result<Mem> {
        let layout = self.offsets.memory_layout();
        let def = self
            .offsets
            .memory_definition(mem)
            .ok_or_else(|| self.internal("memory out of range"))?;
        let pinned = mem == 0 && self.frame.pins_heap;
        // Where the definition is: the vmctx itself or r10.
        let (def_ptr, def_off) = match def {
            Definition::Local(off) => (VMCTX, off as i32),
            Definition::Imported(off) => {
                self.masm
                    .asm
                    .mov_rm(Size::S64, SCRATCH2, Mem::new(VMCTX, off as i32));
                (SCRATCH2, 0)
            }
        };
        let len = Mem::new(def_ptr, def_off + layout.length as i32);
        let base_field = Mem::new(def_ptr, def_off + layout.base as i32);
        if let Loc::Const(c) = addr.loc {
            let eff = u64::from(c as u32) + offset;
            let end = eff + u64::from(size);
            if let Ok(e) = i32::try_from(end) {
                self.masm.asm.alu_mi(Alu::Cmp, Size::S64, len, e);
                self.masm.trap_if(Cc::B, TrapCode::MemoryOutOfBounds);
            } else {
                self.masm.asm.mov_r64_imm(SCRATCH, end as i64);
                self.masm.asm.alu_rm(Alu::Cmp, Size::S64, SCRATCH, len);
                self.masm.trap_if(Cc::A, TrapCode::MemoryOutOfBounds);
            }
            let base = if pinned {
                HEAP_BASE
            } else {
                self.masm.asm.mov_rm(Size::S64, SCRATCH2, base_field);
                SCRATCH2
            };
            return Ok(match i32::try_from(eff) {
                Ok(d) => Mem::new(base, d),
                Err(_) => {
                    self.masm.asm.mov_r64_imm(SCRATCH, eff as i64);
                    Mem::indexed(base, SCRATCH, 0)
                }
            });
        }
        let op = self.operand(addr);
        self.masm.mov_int(Size::S32, SCRATCH, op);
        let end_reg = match tmp {
            Some(t) => t,
            None => SCRATCH2,
        };
        let end = offset + u64::from(size);
        match i32::try_from(end) {
            Ok(e) => self.masm.asm.lea(end_reg, Mem::new(SCRATCH, e)),
            Err(_) => {
                self.masm.asm.mov_r64_imm(end_reg, end as i64);
                self.masm.asm.alu_rr(Alu::Add, Size::S64, end_reg, SCRATCH);
            }
        }
        self.masm.asm.alu_rm(Alu::Cmp, Size::S64, end_reg, len);
        self.masm.trap_if(Cc::A, TrapCode::MemoryOutOfBounds);
        let base = if pinned {
            HEAP_BASE
        } else {
            self.masm.asm.mov_rm(Size::S64, SCRATCH2, base_field);
            SCRATCH2
        };
        Ok(match i32::try_from(offset) {
            Ok(d) => Mem::indexed(base, SCRATCH, d),
            Err(_) => {
                self.masm.asm.mov_r64_imm(end_reg, offset as i64);
                self.masm.asm.alu_rr(Alu::Add, Size::S64, SCRATCH, end_reg);
                Mem::indexed(base, SCRATCH, 0)
            }
        })
    }

    /// A temporary for [`heap_access`] if it needs one.
    fn heap_tmp(&mut self, mem: u32, addr: &Opnd) -> Result<Option<Reg>> {
        if self.heap_needs_tmp(mem) && !matches!(addr.loc, Loc::Const(_)) {
            Ok(Some(self.alloc(RegClass::Int)?))
        } else {
            Ok(None)
        }
    }

    pub fn visit_load(&mut self, memarg: &MemArg, ty: Ty, bytes: u32, ext: Ext) -> Result<()> {
        let mem = self.memarg_memory(memarg)?;
        let addr = self.pop()?;
        // The address is copied to r11 first, so its register can take the
        // result.
        let dst = match addr.loc {
            Loc::Reg(r) if !ty.is_float() => r,
            _ => self.alloc_for(ty)?,
        };
        let tmp = self.heap_tmp(mem, &addr)?;
        let m = self.heap_access(mem, memarg.offset, bytes, &addr, tmp)?;
        match (ty, ext) {
            (Ty::F32 | Ty::F64, _) => self.masm.asm.movs_rm(ty.size(), dst, m),
            (_, Ext::None) => self.masm.asm.mov_rm(ty.size(), dst, m),
            (_, ext) => self
                .masm
                .asm
                .load_ext(dst, m, bytes, ext == Ext::Signed, ty.size()),
        }
        if let Some(t) = tmp {
            self.free_reg(t);
        }
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
        let src = if imm.is_some() {
            None
        } else {
            Some(self.owned_reg(&value)?)
        };
        let tmp = self.heap_tmp(mem, &addr)?;
        let m = self.heap_access(mem, memarg.offset, bytes, &addr, tmp)?;
        match (src, imm) {
            (Some(r), _) if value.ty.is_float() => self.masm.asm.movs_mr(value.ty.size(), m, r),
            (Some(r), _) => match bytes {
                1 => self.masm.asm.mov_mr8(m, r),
                2 => self.masm.asm.mov_mr16(m, r),
                4 => self.masm.asm.mov_mr(Size::S32, m, r),
                _ => self.masm.asm.mov_mr(Size::S64, m, r),
            },
            (None, Some(v)) => match bytes {
                1 => self.masm.asm.mov_mi8(m, v as i8),
                2 => self.masm.asm.mov_mi16(m, v as i16),
                4 => self.masm.asm.mov_mi(Size::S32, m, v),
                _ => self.masm.asm.mov_mi(Size::S64, m, v),
            },
            (None, None) => return Err(self.internal("store without a value")),
        }
        if let Some(t) = tmp {
            self.free_reg(t);
        }
        if let Some(r) = src {
            self.free_reg(r);
        }
        self.free(&addr);
        Ok(())
    }

    pub fn visit_memory_size(&mut self, mem: u32) -> Result<()> {
        self.check_memory32(mem)?;
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
        self.push_reg(Ty::I32, dst);
        Ok(())
    }

    pub fn visit_memory_grow(&mut self, mem: u32) -> Result<()> {
        self.check_memory32(mem)?;
        let delta = self.pop()?;
        self.libcall(
            Libcall::MemoryGrow,
            &[LArg::Imm(mem), LArg::Val(delta, true)],
            Some(Ty::I32),
        )
    }

    pub fn visit_memory_fill(&mut self, mem: u32) -> Result<()> {
        self.check_memory32(mem)?;
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
        self.check_memory32(dst_mem)?;
        self.check_memory32(src_mem)?;
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
        self.check_memory32(mem)?;
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
        Ty::of(g.ty.content_type).ok_or_else(|| self.unsupported("simd: v128 global"))
    }

    /// The global's cell; an imported one's pointer is loaded into r11.
    fn global_cell(&mut self, global: u32) -> Result<Mem> {
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
        self.check_table32(table)?;
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
        self.check_table32(table)?;
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
        self.check_table32(table)?;
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
        self.masm.asm.mov_rm(Size::S32, dst, len);
        self.push_reg(Ty::I32, dst);
        Ok(())
    }

    pub fn visit_table_grow(&mut self, table: u32) -> Result<()> {
        self.check_table32(table)?;
        let delta = self.pop()?;
        let init = self.pop()?;
        self.libcall(
            Libcall::TableGrow,
            &[
                LArg::Imm(table),
                LArg::Val(delta, true),
                LArg::Val(init, false),
            ],
            Some(Ty::I32),
        )
    }

    pub fn visit_table_fill(&mut self, table: u32) -> Result<()> {
        self.check_table32(table)?;
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
        self.check_table32(dst_table)?;
        self.check_table32(src_table)?;
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
        self.check_table32(table)?;
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
