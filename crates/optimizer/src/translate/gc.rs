//! GC operators (`rung_tiering::gc` has the layouts): `i31` and `ref.eq`
//! inline; struct and array allocation by an inline bump in the store's
//! GC context with the `GcAlloc` libcall when the block is full; field
//! and element accesses inline after their null and bounds checks; casts
//! inline (tag, header bits, exact canonical id) with the `GcSubtype`
//! libcall only for a target that is not final and not the exact type;
//! `array.new_data/new_elem/init_data/init_elem/copy` as libcalls.
//!
//! Object memory is accessed `notrap` (every check is explicit) and
//! unaligned-capable (a `v128` field is only 8-aligned), in the default
//! alias region.

use cranelift_codegen::ir::condcodes::IntCC;
use cranelift_codegen::ir::{self, InstBuilder, MemFlagsData, Type, Value, types};
use rung_tiering::gc::{
    GC_ARRAY_ELEMS, GC_ARRAY_LEN, GC_BIT_ARRAY, GC_CTX_BUMP, GC_CTX_LIMIT, GC_HEADER_BITS,
    GC_HEADER_TYPE, TAG_MASK, array_size, storage_size, struct_layout,
};
use rung_tiering::{CompileError, FUNCREF_TYPE_ID, Libcall, TrapCode};
use wasmparser::{
    AbstractHeapType, CompositeInnerType, FieldType, HeapType, Operator, RefType, StorageType,
    StructType,
};

use super::{Translator, block_args};
use crate::env::{clif_type, zero};

use types::{I32, I64};

fn obj_flags() -> MemFlagsData {
    MemFlagsData::new().with_notrap()
}

impl Translator<'_, '_> {
    fn struct_type(&self, index: u32) -> Result<&StructType, CompileError> {
        match self
            .env
            .module
            .types
            .get(index as usize)
            .map(|t| &t.composite_type.inner)
        {
            Some(CompositeInnerType::Struct(s)) => Ok(s),
            _ => Err(self.internal("not a struct type")),
        }
    }

    fn array_field(&self, index: u32) -> Result<FieldType, CompileError> {
        match self
            .env
            .module
            .types
            .get(index as usize)
            .map(|t| &t.composite_type.inner)
        {
            Some(CompositeInnerType::Array(a)) => Ok(a.0),
            _ => Err(self.internal("not an array type")),
        }
    }

    /// The CLIF type a value of storage type `s` travels as.
    fn storage_clif(&self, s: StorageType) -> Result<Type, CompileError> {
        match s {
            StorageType::I8 | StorageType::I16 => Ok(I32),
            StorageType::Val(v) => clif_type(v, self.offset),
        }
    }

    fn store_storage(&mut self, s: StorageType, v: Value, addr: Value, off: i32) {
        let ins = self.builder.ins();
        match s {
            StorageType::I8 => {
                ins.istore8(obj_flags(), v, addr, off);
            }
            StorageType::I16 => {
                ins.istore16(obj_flags(), v, addr, off);
            }
            StorageType::Val(_) => {
                ins.store(obj_flags(), v, addr, off);
            }
        }
    }

    /// Loads a field or element; `signed` for `_s` of a packed type.
    fn load_storage(
        &mut self,
        s: StorageType,
        signed: bool,
        addr: Value,
        off: i32,
    ) -> Result<Value, CompileError> {
        let ins = self.builder.ins();
        Ok(match s {
            StorageType::I8 if signed => ins.sload8(I32, obj_flags(), addr, off),
            StorageType::I8 => ins.uload8(I32, obj_flags(), addr, off),
            StorageType::I16 if signed => ins.sload16(I32, obj_flags(), addr, off),
            StorageType::I16 => ins.uload16(I32, obj_flags(), addr, off),
            StorageType::Val(v) => {
                let ty = clif_type(v, self.offset)?;
                self.builder.ins().load(ty, obj_flags(), addr, off)
            }
        })
    }

    fn storage_zero(&mut self, s: StorageType) -> Result<Value, CompileError> {
        let ty = self.storage_clif(s)?;
        Ok(zero(&mut self.builder, ty))
    }

    /// Allocates `size` bytes (`i64`) for an object of the module's type
    /// `type_index` and writes its header.
    fn gc_alloc(&mut self, size: Value, type_index: u32, bits: u32) -> Result<Value, CompileError> {
        let join = self.builder.create_block();
        let p = self.builder.append_block_param(join, I64);
        let ctx = self
            .env
            .load_vmctx_readonly(&mut self.builder, self.env.offsets.gc_heap())?;
        let flags = MemFlagsData::trusted();
        let bump = self.builder.ins().load(I64, flags, ctx, GC_CTX_BUMP as i32);
        let limit = self
            .builder
            .ins()
            .load(I64, flags, ctx, GC_CTX_LIMIT as i32);
        let end = self.builder.ins().iadd(bump, size);
        let fits = self
            .builder
            .ins()
            .icmp(IntCC::UnsignedLessThanOrEqual, end, limit);
        let fast = self.builder.create_block();
        let slow = self.builder.create_block();
        self.builder.ins().brif(fits, fast, &[], slow, &[]);
        self.builder.seal_block(fast);
        self.builder.seal_block(slow);
        self.builder.switch_to_block(fast);
        self.builder
            .ins()
            .store(flags, end, ctx, GC_CTX_BUMP as i32);
        self.builder.ins().jump(join, &[ir::BlockArg::Value(bump)]);
        self.builder.switch_to_block(slow);
        self.builder.set_cold_block(slow);
        let q = self.libcall_result(Libcall::GcAlloc, &[size])?;
        self.builder.ins().jump(join, &[ir::BlockArg::Value(q)]);
        self.builder.seal_block(join);
        self.builder.switch_to_block(join);
        let id = self.env.type_id(&mut self.builder, type_index)?;
        self.builder
            .ins()
            .store(obj_flags(), id, p, GC_HEADER_TYPE as i32);
        let b = self.iconst(I32, i64::from(bits));
        self.builder
            .ins()
            .store(obj_flags(), b, p, GC_HEADER_BITS as i32);
        Ok(p)
    }

    /// Stores `value` into `count` elements of `es` bytes from `start`.
    fn fill_loop(
        &mut self,
        s: StorageType,
        start: Value,
        count: Value,
        value: Value,
    ) -> Result<(), CompileError> {
        let es = i64::from(storage_size(s));
        let header = self.builder.create_block();
        let i = self.builder.append_block_param(header, I64);
        let body = self.builder.create_block();
        let exit = self.builder.create_block();
        let z = self.iconst(I64, 0);
        self.builder.ins().jump(header, &[ir::BlockArg::Value(z)]);
        self.builder.switch_to_block(header);
        let done = self
            .builder
            .ins()
            .icmp(IntCC::UnsignedGreaterThanOrEqual, i, count);
        self.builder.ins().brif(done, exit, &[], body, &[]);
        self.builder.switch_to_block(body);
        self.builder.seal_block(body);
        let scaled = self.builder.ins().imul_imm_u(i, es);
        let addr = self.builder.ins().iadd(start, scaled);
        self.store_storage(s, value, addr, 0);
        let next = self.builder.ins().iadd_imm_u(i, 1);
        self.builder
            .ins()
            .jump(header, &[ir::BlockArg::Value(next)]);
        self.builder.seal_block(header);
        self.builder.seal_block(exit);
        self.builder.switch_to_block(exit);
        Ok(())
    }

    /// A new array of type `ty` with `len` (`i32`) elements; the
    /// elements are not written.
    fn new_array(&mut self, ty: u32, len: Value) -> Result<Value, CompileError> {
        let field = self.array_field(ty)?;
        let es = i64::from(storage_size(field.element_type));
        let len64 = self.builder.ins().uextend(I64, len);
        let bytes = self.builder.ins().imul_imm_u(len64, es);
        let size = self
            .builder
            .ins()
            .iadd_imm_u(bytes, i64::from(GC_ARRAY_ELEMS) + 7);
        let size = self.builder.ins().band_imm_s(size, -8);
        let p = self.gc_alloc(size, ty, GC_BIT_ARRAY)?;
        self.builder
            .ins()
            .store(obj_flags(), len, p, GC_ARRAY_LEN as i32);
        Ok(p)
    }

    fn null_check(&mut self, r: Value, code: TrapCode) {
        self.trapz(r, code);
    }

    /// The address of element `index` of non-null `array` after the
    /// bounds check.
    fn elem_addr(&mut self, array: Value, index: Value, es: u32) -> Value {
        let len = self
            .builder
            .ins()
            .load(I32, obj_flags(), array, GC_ARRAY_LEN as i32);
        let oob = self
            .builder
            .ins()
            .icmp(IntCC::UnsignedGreaterThanOrEqual, index, len);
        self.trapnz(oob, TrapCode::ArrayOutOfBounds);
        let index = self.builder.ins().uextend(I64, index);
        let scaled = self.builder.ins().imul_imm_u(index, i64::from(es));
        let base = self.builder.ins().iadd(array, scaled);
        self.builder
            .ins()
            .iadd_imm_u(base, i64::from(GC_ARRAY_ELEMS))
    }

    /// Traps with `ArrayOutOfBounds` unless `at + n <= len(array)` (in 64
    /// bits, so nothing wraps).
    fn range_check(&mut self, array: Value, at: Value, n: Value) {
        let len = self
            .builder
            .ins()
            .load(I32, obj_flags(), array, GC_ARRAY_LEN as i32);
        let len = self.builder.ins().uextend(I64, len);
        let at = self.builder.ins().uextend(I64, at);
        let n = self.builder.ins().uextend(I64, n);
        let end = self.builder.ins().iadd(at, n);
        let oob = self
            .builder
            .ins()
            .icmp(IntCC::UnsignedGreaterThan, end, len);
        self.trapnz(oob, TrapCode::ArrayOutOfBounds);
    }

    /// `ref.test`: 1 if `v` is a reference of type `(ref null? hty)`.
    fn ref_test(&mut self, v: Value, hty: HeapType, nullable: bool) -> Result<Value, CompileError> {
        use AbstractHeapType as A;
        let join = self.builder.create_block();
        let result = self.builder.append_block_param(join, I32);
        let nonnull = self.builder.create_block();
        let null_result = self.iconst(I32, i64::from(nullable));
        self.builder
            .ins()
            .brif(v, nonnull, &[], join, &[ir::BlockArg::Value(null_result)]);
        self.builder.seal_block(nonnull);
        self.builder.switch_to_block(nonnull);
        let yes = |t: &mut Self| t.iconst(I32, 1);
        let r = match hty {
            HeapType::Abstract { ty, .. } => match ty {
                A::Any | A::Func | A::Extern | A::Exn | A::Cont => yes(self),
                A::None | A::NoFunc | A::NoExtern | A::NoExn | A::NoCont => self.iconst(I32, 0),
                A::I31 => {
                    let b = self.builder.ins().band_imm_s(v, 1);
                    self.builder.ins().ireduce(I32, b)
                }
                A::Eq => {
                    let b = self.builder.ins().band_imm_s(v, 3);
                    let c = self.builder.ins().icmp_imm_s(IntCC::NotEqual, b, 2);
                    self.builder.ins().uextend(I32, c)
                }
                A::Struct | A::Array => {
                    let obj = self.object_or(v, join)?;
                    let bits =
                        self.builder
                            .ins()
                            .load(I32, obj_flags(), obj, GC_HEADER_BITS as i32);
                    let a = self.builder.ins().band_imm_s(bits, i64::from(GC_BIT_ARRAY));
                    let cc = if ty == A::Array {
                        IntCC::NotEqual
                    } else {
                        IntCC::Equal
                    };
                    let c = self.builder.ins().icmp_imm_s(cc, a, 0);
                    self.builder.ins().uextend(I32, c)
                }
            },
            HeapType::Concrete(idx) | HeapType::Exact(idx) => {
                let index = idx
                    .as_module_index()
                    .ok_or_else(|| self.internal("unresolved type index"))?;
                let sub = self
                    .env
                    .module
                    .types
                    .get(index as usize)
                    .ok_or_else(|| self.internal("type index out of range"))?;
                let is_final = sub.is_final || matches!(hty, HeapType::Exact(_));
                let actual = if matches!(sub.composite_type.inner, CompositeInnerType::Func(_)) {
                    self.builder
                        .ins()
                        .load(I32, obj_flags(), v, FUNCREF_TYPE_ID as i32)
                } else {
                    let obj = self.object_or(v, join)?;
                    self.builder
                        .ins()
                        .load(I32, obj_flags(), obj, GC_HEADER_TYPE as i32)
                };
                let want = self.env.type_id(&mut self.builder, index)?;
                let same = self.builder.ins().icmp(IntCC::Equal, actual, want);
                let same = self.builder.ins().uextend(I32, same);
                if is_final {
                    same
                } else {
                    let slow = self.builder.create_block();
                    self.builder
                        .ins()
                        .brif(same, join, &[ir::BlockArg::Value(same)], slow, &[]);
                    self.builder.seal_block(slow);
                    self.builder.switch_to_block(slow);
                    self.builder.set_cold_block(slow);
                    self.libcall_result(Libcall::GcSubtype, &[actual, want])?
                }
            }
        };
        self.builder.ins().jump(join, &[ir::BlockArg::Value(r)]);
        self.builder.seal_block(join);
        self.builder.switch_to_block(join);
        Ok(result)
    }

    /// Goes on with `v` if it is an object pointer (tag 000); jumps to
    /// `join` with 0 otherwise.
    fn object_or(&mut self, v: Value, join: ir::Block) -> Result<Value, CompileError> {
        let tag = self.builder.ins().band_imm_s(v, TAG_MASK as i64);
        let obj = self.builder.create_block();
        let zero = self.iconst(I32, 0);
        self.builder
            .ins()
            .brif(tag, join, &[ir::BlockArg::Value(zero)], obj, &[]);
        self.builder.seal_block(obj);
        self.builder.switch_to_block(obj);
        Ok(v)
    }

    fn br_on_cast(&mut self, depth: u32, to: RefType, on_fail: bool) -> Result<(), CompileError> {
        let v = self.pop()?;
        let c = self.ref_test(v, to.heap_type(), to.is_nullable())?;
        self.push(v);
        let (target, n) = self.branch_target(depth)?;
        let next = self.builder.create_block();
        if on_fail {
            // The target takes the reference as it is (its type is the
            // source's less the target's).
            let args = block_args(self.peekn(n)?);
            self.builder.ins().brif(c, next, &[], target, &args);
        } else {
            let args = block_args(self.peekn(n)?);
            self.builder.ins().brif(c, target, &args, next, &[]);
        }
        self.builder.seal_block(next);
        self.builder.switch_to_block(next);
        Ok(())
    }

    /// Translates `op` if it is a GC operator; `Ok(false)` otherwise.
    pub(crate) fn gc_op(&mut self, op: &Operator<'_>) -> Result<bool, CompileError> {
        use Operator as O;
        match *op {
            O::RefI31 => {
                let x = self.pop()?;
                let s = self.builder.ins().ishl_imm_u(x, 1);
                let t = self.builder.ins().bor_imm_u(s, 1);
                let v = self.builder.ins().uextend(I64, t);
                self.push(v);
            }
            O::I31GetS | O::I31GetU => {
                let r = self.pop()?;
                self.null_check(r, TrapCode::NullI31Reference);
                let w = self.builder.ins().ireduce(I32, r);
                let v = if matches!(op, O::I31GetS) {
                    self.builder.ins().sshr_imm_s(w, 1)
                } else {
                    self.builder.ins().ushr_imm_u(w, 1)
                };
                self.push(v);
            }
            O::RefEq => {
                let (a, b) = self.pop2()?;
                let c = self.builder.ins().icmp(IntCC::Equal, a, b);
                let v = self.builder.ins().uextend(I32, c);
                self.push(v);
            }
            O::AnyConvertExtern | O::ExternConvertAny => {}
            O::StructNew { struct_type_index } | O::StructNewDefault { struct_type_index } => {
                let st = self.struct_type(struct_type_index)?.clone();
                let layout = struct_layout(&st);
                let values = if matches!(op, O::StructNew { .. }) {
                    self.popn(st.fields.len())?
                } else {
                    let mut z = Vec::with_capacity(st.fields.len());
                    for f in st.fields.iter() {
                        z.push(self.storage_zero(f.element_type)?);
                    }
                    z
                };
                let size = self.iconst(I64, i64::from(layout.size));
                let p = self.gc_alloc(size, struct_type_index, 0)?;
                for ((f, &off), v) in st.fields.iter().zip(&layout.offsets).zip(values) {
                    self.store_storage(f.element_type, v, p, off as i32);
                }
                self.push(p);
            }
            O::StructGet {
                struct_type_index,
                field_index,
            }
            | O::StructGetS {
                struct_type_index,
                field_index,
            }
            | O::StructGetU {
                struct_type_index,
                field_index,
            } => {
                let st = self.struct_type(struct_type_index)?;
                let layout = struct_layout(st);
                let f = st
                    .fields
                    .get(field_index as usize)
                    .ok_or_else(|| self.internal("field index out of range"))?
                    .element_type;
                let off = layout.offsets[field_index as usize] as i32;
                let r = self.pop()?;
                self.null_check(r, TrapCode::NullStructReference);
                let v = self.load_storage(f, matches!(op, O::StructGetS { .. }), r, off)?;
                self.push(v);
            }
            O::StructSet {
                struct_type_index,
                field_index,
            } => {
                let st = self.struct_type(struct_type_index)?;
                let layout = struct_layout(st);
                let f = st
                    .fields
                    .get(field_index as usize)
                    .ok_or_else(|| self.internal("field index out of range"))?
                    .element_type;
                let off = layout.offsets[field_index as usize] as i32;
                let (r, v) = self.pop2()?;
                self.null_check(r, TrapCode::NullStructReference);
                self.store_storage(f, v, r, off);
            }
            O::ArrayNew { array_type_index } | O::ArrayNewDefault { array_type_index } => {
                let field = self.array_field(array_type_index)?;
                let len = self.pop()?;
                let value = if matches!(op, O::ArrayNew { .. }) {
                    self.pop()?
                } else {
                    self.storage_zero(field.element_type)?
                };
                let p = self.new_array(array_type_index, len)?;
                let start = self.builder.ins().iadd_imm_u(p, i64::from(GC_ARRAY_ELEMS));
                let count = self.builder.ins().uextend(I64, len);
                self.fill_loop(field.element_type, start, count, value)?;
                self.push(p);
            }
            O::ArrayNewFixed {
                array_type_index,
                array_size: n,
            } => {
                let field = self.array_field(array_type_index)?;
                let es = storage_size(field.element_type);
                let values = self.popn(n as usize)?;
                let size = array_size(es, n).ok_or_else(|| self.unsupported("array too large"))?;
                let sz = self.iconst(I64, i64::from(size));
                let p = self.gc_alloc(sz, array_type_index, GC_BIT_ARRAY)?;
                let len = self.iconst(I32, i64::from(n));
                self.builder
                    .ins()
                    .store(obj_flags(), len, p, GC_ARRAY_LEN as i32);
                for (i, v) in values.into_iter().enumerate() {
                    let off = GC_ARRAY_ELEMS + i as u32 * es;
                    self.store_storage(field.element_type, v, p, off as i32);
                }
                self.push(p);
            }
            O::ArrayNewData {
                array_type_index,
                array_data_index,
            } => {
                let (offset, len) = self.pop2()?;
                let t = self.iconst(I32, i64::from(array_type_index));
                let d = self.iconst(I32, i64::from(array_data_index));
                let v = self.libcall_result(Libcall::ArrayNewData, &[t, d, offset, len])?;
                self.push(v);
            }
            O::ArrayNewElem {
                array_type_index,
                array_elem_index,
            } => {
                let (offset, len) = self.pop2()?;
                let t = self.iconst(I32, i64::from(array_type_index));
                let e = self.iconst(I32, i64::from(array_elem_index));
                let v = self.libcall_result(Libcall::ArrayNewElem, &[t, e, offset, len])?;
                self.push(v);
            }
            O::ArrayGet { array_type_index }
            | O::ArrayGetS { array_type_index }
            | O::ArrayGetU { array_type_index } => {
                let field = self.array_field(array_type_index)?;
                let (r, i) = self.pop2()?;
                self.null_check(r, TrapCode::NullArrayReference);
                let addr = self.elem_addr(r, i, storage_size(field.element_type));
                let v = self.load_storage(
                    field.element_type,
                    matches!(op, O::ArrayGetS { .. }),
                    addr,
                    0,
                )?;
                self.push(v);
            }
            O::ArraySet { array_type_index } => {
                let field = self.array_field(array_type_index)?;
                let (r, i, v) = self.pop3()?;
                self.null_check(r, TrapCode::NullArrayReference);
                let addr = self.elem_addr(r, i, storage_size(field.element_type));
                self.store_storage(field.element_type, v, addr, 0);
            }
            O::ArrayLen => {
                let r = self.pop()?;
                self.null_check(r, TrapCode::NullArrayReference);
                let v = self
                    .builder
                    .ins()
                    .load(I32, obj_flags(), r, GC_ARRAY_LEN as i32);
                self.push(v);
            }
            O::ArrayFill { array_type_index } => {
                let field = self.array_field(array_type_index)?;
                let n = self.pop()?;
                let (r, at, value) = self.pop3()?;
                self.null_check(r, TrapCode::NullArrayReference);
                self.range_check(r, at, n);
                let es = i64::from(storage_size(field.element_type));
                let at64 = self.builder.ins().uextend(I64, at);
                let scaled = self.builder.ins().imul_imm_u(at64, es);
                let base = self.builder.ins().iadd(r, scaled);
                let start = self
                    .builder
                    .ins()
                    .iadd_imm_u(base, i64::from(GC_ARRAY_ELEMS));
                let count = self.builder.ins().uextend(I64, n);
                self.fill_loop(field.element_type, start, count, value)?;
            }
            O::ArrayCopy { .. } => {
                let (si, n) = self.pop2()?;
                let (dst, di, src) = self.pop3()?;
                self.null_check(dst, TrapCode::NullArrayReference);
                self.null_check(src, TrapCode::NullArrayReference);
                self.env.libcall(
                    &mut self.builder,
                    Libcall::ArrayCopy,
                    &[dst, di, src, si, n],
                )?;
            }
            O::ArrayInitData {
                array_data_index: index,
                ..
            }
            | O::ArrayInitElem {
                array_elem_index: index,
                ..
            } => {
                let n = self.pop()?;
                let (r, d, s) = self.pop3()?;
                self.null_check(r, TrapCode::NullArrayReference);
                let i = self.iconst(I32, i64::from(index));
                let l = if matches!(op, O::ArrayInitData { .. }) {
                    Libcall::ArrayInitData
                } else {
                    Libcall::ArrayInitElem
                };
                self.env.libcall(&mut self.builder, l, &[i, r, d, s, n])?;
            }
            O::RefTestNonNull { hty } | O::RefTestNullable { hty } => {
                let v = self.pop()?;
                let r = self.ref_test(v, hty, matches!(op, O::RefTestNullable { .. }))?;
                self.push(r);
            }
            O::RefCastNonNull { hty } | O::RefCastNullable { hty } => {
                let v = self.pop()?;
                let r = self.ref_test(v, hty, matches!(op, O::RefCastNullable { .. }))?;
                self.trapz(r, TrapCode::CastFailure);
                self.push(v);
            }
            O::BrOnCast {
                relative_depth,
                to_ref_type,
                ..
            } => self.br_on_cast(relative_depth, to_ref_type, false)?,
            O::BrOnCastFail {
                relative_depth,
                to_ref_type,
                ..
            } => self.br_on_cast(relative_depth, to_ref_type, true)?,
            _ => return Ok(false),
        }
        Ok(true)
    }
}
