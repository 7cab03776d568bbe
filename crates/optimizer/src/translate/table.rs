//! Table operators: `table.get/set/size` inline, `table.grow/fill/copy/init`
//! and `elem.drop` as libcalls.
//!
//! An element is one word at `base + index * 8`, after the explicit check
//! `index < current_elements` (`TableOutOfBounds`). The base and length are
//! reloaded at every use: `table.grow` (a libcall) may move the base. The
//! runtime initializes tables eagerly, so `TABLE_ELEMENT_LAZY_BIT` is never
//! set and elements are used as they are. table64 is `Unsupported`.

use cranelift_codegen::ir::condcodes::IntCC;
use cranelift_codegen::ir::{InstBuilder, Value, types};
use rung_tiering::{CompileError, Libcall, TrapCode};
use wasmparser::Operator;

use super::Translator;

use types::{I32, I64};

impl Translator<'_, '_> {
    pub(crate) fn check_table32(&self, table: u32) -> Result<(), CompileError> {
        let t = self
            .env
            .module
            .tables
            .get(table as usize)
            .ok_or_else(|| self.internal("table index out of range"))?;
        if t.ty.table64 {
            return Err(self.unsupported(format!("memory64 (64-bit table {table})")));
        }
        Ok(())
    }

    /// The address of element `index` (i32) of `table`, after a bounds
    /// check that traps with `trap`.
    pub(crate) fn table_elem_addr(
        &mut self,
        table: u32,
        index: Value,
        trap: TrapCode,
    ) -> Result<Value, CompileError> {
        self.check_table32(table)?;
        let len = self.env.table_len(&mut self.builder, table)?;
        let oob = self
            .builder
            .ins()
            .icmp(IntCC::UnsignedGreaterThanOrEqual, index, len);
        self.trapnz(oob, trap);
        let base = self.env.table_base(&mut self.builder, table)?;
        let index = self.builder.ins().uextend(I64, index);
        let scaled = self.builder.ins().ishl_imm_u(index, 3);
        Ok(self.builder.ins().iadd(base, scaled))
    }

    /// Translates `op` if it is a table operator; `Ok(false)` otherwise.
    pub(crate) fn table_op(&mut self, op: &Operator<'_>) -> Result<bool, CompileError> {
        use Operator as O;
        match op {
            O::TableGet { table } => {
                let index = self.pop()?;
                let addr = self.table_elem_addr(*table, index, TrapCode::TableOutOfBounds)?;
                let flags = self.env.table_elem();
                let v = self.builder.ins().load(I64, flags, addr, 0);
                self.push(v);
            }
            O::TableSet { table } => {
                let (index, value) = self.pop2()?;
                let addr = self.table_elem_addr(*table, index, TrapCode::TableOutOfBounds)?;
                let flags = self.env.table_elem();
                self.builder.ins().store(flags, value, addr, 0);
            }
            O::TableSize { table } => {
                self.check_table32(*table)?;
                let v = self.env.table_len(&mut self.builder, *table)?;
                self.push(v);
            }
            O::TableGrow { table } => {
                self.check_table32(*table)?;
                let (init, delta) = self.pop2()?;
                let t = self.iconst(I32, i64::from(*table));
                let delta = self.builder.ins().uextend(I64, delta);
                let old = self.libcall_result(Libcall::TableGrow, &[t, delta, init])?;
                let v = self.builder.ins().ireduce(I32, old);
                self.push(v);
            }
            O::TableFill { table } => {
                self.check_table32(*table)?;
                let (dst, value, len) = self.pop3()?;
                let t = self.iconst(I32, i64::from(*table));
                let dst = self.builder.ins().uextend(I64, dst);
                let len = self.builder.ins().uextend(I64, len);
                self.env
                    .libcall(&mut self.builder, Libcall::TableFill, &[t, dst, value, len])?;
            }
            O::TableCopy {
                dst_table,
                src_table,
            } => {
                self.check_table32(*dst_table)?;
                self.check_table32(*src_table)?;
                let (dst, src, len) = self.pop3()?;
                let d = self.iconst(I32, i64::from(*dst_table));
                let s = self.iconst(I32, i64::from(*src_table));
                let dst = self.builder.ins().uextend(I64, dst);
                let src = self.builder.ins().uextend(I64, src);
                let len = self.builder.ins().uextend(I64, len);
                self.env.libcall(
                    &mut self.builder,
                    Libcall::TableCopy,
                    &[d, s, dst, src, len],
                )?;
            }
            O::TableInit { elem_index, table } => {
                self.check_table32(*table)?;
                let (dst, src, len) = self.pop3()?;
                let t = self.iconst(I32, i64::from(*table));
                let e = self.iconst(I32, i64::from(*elem_index));
                let dst = self.builder.ins().uextend(I64, dst);
                self.env.libcall(
                    &mut self.builder,
                    Libcall::TableInit,
                    &[t, e, dst, src, len],
                )?;
            }
            O::ElemDrop { elem_index } => {
                let e = self.iconst(I32, i64::from(*elem_index));
                self.env
                    .libcall(&mut self.builder, Libcall::ElemDrop, &[e])?;
            }
            _ => return Ok(false),
        }
        Ok(true)
    }
}
