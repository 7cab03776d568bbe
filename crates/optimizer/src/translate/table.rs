//! Table operators: `table.get/set/size` inline, `table.grow/fill/copy/init`
//! and `elem.drop` as libcalls.
//!
//! An element is one word at `base + index * 8`, after the explicit check
//! `index < current_elements` (`TableOutOfBounds`). The base and length are
//! reloaded at every use: `table.grow` (a libcall) may move the base. The
//! runtime initializes tables eagerly, so `TABLE_ELEMENT_LAZY_BIT` is never
//! set and elements are used as they are. A 64-bit table's `i64` index is
//! compared whole against the (zero-extended) length, so no index wraps.

use cranelift_codegen::ir::condcodes::IntCC;
use cranelift_codegen::ir::{InstBuilder, Value, types};
use rung_tiering::{CompileError, Libcall, TrapCode};
use wasmparser::Operator;

use super::Translator;

use types::{I32, I64};

impl Translator<'_, '_> {
    /// Whether `table` has 64-bit indices (table64).
    fn table64(&self, table: u32) -> Result<bool, CompileError> {
        self.env
            .module
            .tables
            .get(table as usize)
            .map(|t| t.ty.table64)
            .ok_or_else(|| self.internal("table index out of range"))
    }

    /// An index, length or delta operand as the `i64` that addresses and
    /// libcalls take: zero-extended if it is an `i32`.
    pub(crate) fn zext_i64(&mut self, v: Value) -> Value {
        if self.builder.func.dfg.value_type(v) == I64 {
            v
        } else {
            self.builder.ins().uextend(I64, v)
        }
    }

    /// A table size (`i32`) or libcall result (`i64`) as `table`'s index
    /// type.
    fn table_result(&mut self, table: u32, v: Value) -> Result<Value, CompileError> {
        let want = if self.table64(table)? { I64 } else { I32 };
        let have = self.builder.func.dfg.value_type(v);
        Ok(match (have == want, want) {
            (true, _) => v,
            (false, I64) => self.builder.ins().uextend(I64, v),
            (false, _) => self.builder.ins().ireduce(I32, v),
        })
    }

    /// The address of element `index` (`i32`, or `i64` for a 64-bit table)
    /// of `table`, after a bounds check that traps with `trap`.
    pub(crate) fn table_elem_addr(
        &mut self,
        table: u32,
        index: Value,
        trap: TrapCode,
    ) -> Result<Value, CompileError> {
        let len = self.env.table_len(&mut self.builder, table)?;
        let (index, len) = if self.builder.func.dfg.value_type(index) == I64 {
            (index, self.zext_i64(len))
        } else {
            (index, len)
        };
        let oob = self
            .builder
            .ins()
            .icmp(IntCC::UnsignedGreaterThanOrEqual, index, len);
        self.trapnz(oob, trap);
        let base = self.env.table_base(&mut self.builder, table)?;
        let index = self.zext_i64(index);
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
                let len = self.env.table_len(&mut self.builder, *table)?;
                let v = self.table_result(*table, len)?;
                self.push(v);
            }
            O::TableGrow { table } => {
                let (init, delta) = self.pop2()?;
                let t = self.iconst(I32, i64::from(*table));
                let delta = self.zext_i64(delta);
                let old = self.libcall_result(Libcall::TableGrow, &[t, delta, init])?;
                let v = self.table_result(*table, old)?;
                self.push(v);
            }
            O::TableFill { table } => {
                let (dst, value, len) = self.pop3()?;
                let t = self.iconst(I32, i64::from(*table));
                let dst = self.zext_i64(dst);
                let len = self.zext_i64(len);
                self.env
                    .libcall(&mut self.builder, Libcall::TableFill, &[t, dst, value, len])?;
            }
            O::TableCopy {
                dst_table,
                src_table,
            } => {
                let (dst, src, len) = self.pop3()?;
                let d = self.iconst(I32, i64::from(*dst_table));
                let s = self.iconst(I32, i64::from(*src_table));
                let dst = self.zext_i64(dst);
                let src = self.zext_i64(src);
                let len = self.zext_i64(len);
                self.env.libcall(
                    &mut self.builder,
                    Libcall::TableCopy,
                    &[d, s, dst, src, len],
                )?;
            }
            O::TableInit { elem_index, table } => {
                let (dst, src, len) = self.pop3()?;
                let t = self.iconst(I32, i64::from(*table));
                let e = self.iconst(I32, i64::from(*elem_index));
                let dst = self.zext_i64(dst);
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
