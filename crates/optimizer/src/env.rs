//! `FuncEnv`: everything translated code reads from the vmctx, at the offsets
//! [`VmOffsets`] gives, plus the signatures of calls and libcalls. No other
//! module computes a vmctx address.
//!
//! Memory flags (see Cranelift's `MemFlagsData`), chosen per kind of field:
//! - fields the runtime fills at instantiation and never changes (the
//!   libcall table, the code-table pointer, type ids, import pointers, a
//!   memory's base): `notrap aligned readonly can_move`, so Cranelift may
//!   hoist and share them;
//! - fields that change while code runs (memory length, table base and
//!   length, mutable globals): `notrap aligned` in the `vmctx` alias
//!   region, reloaded after any call since calls clobber every region;
//! - linear memory: `little` in the `heap` region, trapping with
//!   `HEAP_OUT_OF_BOUNDS`: there is no bounds check, an out-of-bounds access
//!   faults in the runtime's guard region and the access is its trap site;
//! - table elements: `notrap aligned` in the `table` region.
//!
//! **Invariant:** no two alias regions name the same byte, which is what
//! Cranelift's alias analysis requires of its producer: the vmctx, linear
//! memories and table element arrays are disjoint allocations.

use std::collections::HashMap;

use cranelift_codegen::ir::{
    AbiParam, AliasRegion, AliasRegionData, ArgumentPurpose, Endianness, GlobalValueData,
    InstBuilder, MemFlagsData, SigRef, Signature, Type, Value, types,
};
use cranelift_codegen::isa::CallConv;
use cranelift_frontend::FunctionBuilder;
use rung_tiering::{CompileError, Definition, Libcall, LibcallType, ModuleEnv, VmOffsets};
use wasmparser::{FuncType, ValType};

/// The CLIF type a wasm value travels as (references are one word, a
/// `v128` is `I8X16`). Every value type has one today; the `Result` (and
/// the offset it would report) is for types to come.
pub fn clif_type(ty: ValType, _offset: u64) -> Result<Type, CompileError> {
    Ok(match ty {
        ValType::I32 => types::I32,
        ValType::I64 | ValType::Ref(_) => types::I64,
        ValType::F32 => types::F32,
        ValType::F64 => types::F64,
        // Every v128 travels as I8X16 (see `translate::simd`).
        ValType::V128 => types::I8X16,
    })
}

/// The machine signature of a wasm function type: `CallConv::Tail`,
/// `(vmctx: i64, params...) -> results`.
pub fn wasm_signature(ty: &FuncType, offset: u64) -> Result<Signature, CompileError> {
    let mut sig = Signature::new(CallConv::Tail);
    sig.params
        .push(AbiParam::special(types::I64, ArgumentPurpose::VMContext));
    for &p in ty.params() {
        sig.params.push(AbiParam::new(clif_type(p, offset)?));
    }
    for &r in ty.results() {
        sig.returns.push(AbiParam::new(clif_type(r, offset)?));
    }
    Ok(sig)
}

/// The System V signature of a libcall, from its declared types.
pub fn libcall_signature(l: Libcall) -> Signature {
    let ty = |t: &LibcallType| match t {
        LibcallType::I32 => types::I32,
        LibcallType::I64 | LibcallType::Ptr => types::I64,
    };
    let mut sig = Signature::new(CallConv::SystemV);
    sig.params
        .extend(l.params().iter().map(|t| AbiParam::new(ty(t))));
    sig.returns
        .extend(l.results().iter().map(|t| AbiParam::new(ty(t))));
    sig
}

/// Where an entity's definition is: `ptr + offset` (ptr is the vmctx for a
/// defined entity, the loaded definition pointer for an imported one).
#[derive(Clone, Copy)]
pub struct DefAddr {
    pub ptr: Value,
    pub offset: i32,
}

/// The per-function view of the vmctx.
pub struct FuncEnv<'a> {
    pub module: &'a ModuleEnv,
    pub offsets: &'a VmOffsets,
    /// The function's vmctx (its first parameter).
    pub vmctx: Value,
    heap_region: AliasRegion,
    vmctx_region: AliasRegion,
    table_region: AliasRegion,
    wasm_sigs: HashMap<u32, SigRef>,
    libcall_sigs: HashMap<Libcall, SigRef>,
}

fn oob_offset(what: &str, index: u32) -> CompileError {
    CompileError::Internal(format!("{what} {index} has no place in the vmctx layout"))
}

fn disp(off: u32) -> Result<i32, CompileError> {
    i32::try_from(off).map_err(|_| CompileError::Internal(format!("vmctx offset {off} > 2^31")))
}

impl<'a> FuncEnv<'a> {
    /// Sets up the function's global values (vmctx, stack limit) and alias
    /// regions. `vmctx` is the entry block's first parameter.
    pub fn new(
        builder: &mut FunctionBuilder<'_>,
        module: &'a ModuleEnv,
        offsets: &'a VmOffsets,
        vmctx: Value,
    ) -> Result<FuncEnv<'a>, CompileError> {
        let vmctx_gv = builder.create_global_value(GlobalValueData::VMContext);
        let flags = builder
            .func
            .dfg
            .mem_flags
            .insert(MemFlagsData::trusted().with_readonly())
            .map_err(|_| CompileError::Internal("memflags overflow".into()))?;
        let limit = builder.create_global_value(GlobalValueData::Load {
            base: vmctx_gv,
            offset: disp(offsets.stack_limit())?.into(),
            global_type: types::I64,
            flags,
        });
        builder.func.stack_limit = Some(limit);
        let mut region = |user_id, description: &'static str| {
            builder.func.dfg.alias_regions.insert(AliasRegionData {
                user_id,
                description: description.into(),
            })
        };
        let heap_region = region(0, "heap");
        let vmctx_region = region(1, "vmctx");
        let table_region = region(2, "table");
        Ok(FuncEnv {
            module,
            offsets,
            vmctx,
            heap_region,
            vmctx_region,
            table_region,
            wasm_sigs: HashMap::new(),
            libcall_sigs: HashMap::new(),
        })
    }

    // ---- flags ------------------------------------------------------------

    /// A field that never changes once the instance runs.
    pub fn readonly() -> MemFlagsData {
        MemFlagsData::trusted().with_readonly().with_can_move()
    }

    /// A vmctx (or definition) field that code or the runtime changes.
    pub fn mutable(&self) -> MemFlagsData {
        MemFlagsData::trusted().with_alias_region(Some(self.vmctx_region))
    }

    /// The function's `n`th linear-memory access, without a bounds check:
    /// an out-of-bounds address faults in the guard region the runtime
    /// reserves (`MEMORY32_RESERVATION`), and the fault is this access's
    /// trap site, with the tag of `n` (see `traps::heap_access`).
    pub fn heap(&self, n: u32) -> MemFlagsData {
        MemFlagsData::new()
            .with_trap_code(Some(crate::traps::heap_access(n)))
            .with_endianness(Endianness::Little)
            .with_alias_region(Some(self.heap_region))
    }

    /// A table element access after its explicit bounds check.
    pub fn table_elem(&self) -> MemFlagsData {
        MemFlagsData::trusted().with_alias_region(Some(self.table_region))
    }

    /// A load of a field that never changes, from `ptr + off`.
    pub fn load_readonly(
        b: &mut FunctionBuilder<'_>,
        ty: Type,
        ptr: Value,
        off: u32,
    ) -> Result<Value, CompileError> {
        Ok(b.ins().load(ty, FuncEnv::readonly(), ptr, disp(off)?))
    }

    pub(crate) fn load_vmctx_readonly(
        &self,
        b: &mut FunctionBuilder<'_>,
        off: u32,
    ) -> Result<Value, CompileError> {
        FuncEnv::load_readonly(b, types::I64, self.vmctx, off)
    }

    /// Where a definition is: inline in the vmctx for a defined entity,
    /// behind the pointer the vmctx holds for an imported one.
    fn def_addr(
        &self,
        b: &mut FunctionBuilder<'_>,
        definition: Option<Definition>,
        what: &str,
        index: u32,
    ) -> Result<DefAddr, CompileError> {
        match definition {
            Some(Definition::Local(off)) => Ok(DefAddr {
                ptr: self.vmctx,
                offset: disp(off)?,
            }),
            Some(Definition::Imported(off)) => Ok(DefAddr {
                ptr: self.load_vmctx_readonly(b, off)?,
                offset: 0,
            }),
            None => Err(oob_offset(what, index)),
        }
    }

    // ---- memories ---------------------------------------------------------

    /// Memory `mem`'s definition `{base, length}`.
    fn memory_def(&self, b: &mut FunctionBuilder<'_>, mem: u32) -> Result<DefAddr, CompileError> {
        self.def_addr(b, self.offsets.memory_definition(mem), "memory", mem)
    }

    /// Memory `mem`'s base address (never moves: readonly and `can_move`,
    /// so Cranelift shares and hoists it).
    pub fn memory_base(
        &self,
        b: &mut FunctionBuilder<'_>,
        mem: u32,
    ) -> Result<Value, CompileError> {
        let def = self.memory_def(b, mem)?;
        let off = disp(self.offsets.memory_layout().base)?;
        Ok(b.ins()
            .load(types::I64, FuncEnv::readonly(), def.ptr, def.offset + off))
    }

    /// Memory `mem`'s current length in bytes (i64; changes on grow).
    pub fn memory_length(
        &self,
        b: &mut FunctionBuilder<'_>,
        mem: u32,
    ) -> Result<Value, CompileError> {
        let def = self.memory_def(b, mem)?;
        let off = disp(self.offsets.memory_layout().length)?;
        Ok(b.ins()
            .load(types::I64, self.mutable(), def.ptr, def.offset + off))
    }

    // ---- tables -----------------------------------------------------------

    fn table_def(&self, b: &mut FunctionBuilder<'_>, table: u32) -> Result<DefAddr, CompileError> {
        self.def_addr(b, self.offsets.table_definition(table), "table", table)
    }

    /// Table `table`'s element array (i64 pointer; moves on grow).
    pub fn table_base(
        &self,
        b: &mut FunctionBuilder<'_>,
        table: u32,
    ) -> Result<Value, CompileError> {
        let def = self.table_def(b, table)?;
        let off = disp(self.offsets.table_layout().base)?;
        Ok(b.ins()
            .load(types::I64, self.mutable(), def.ptr, def.offset + off))
    }

    /// Table `table`'s current length (i32).
    pub fn table_len(
        &self,
        b: &mut FunctionBuilder<'_>,
        table: u32,
    ) -> Result<Value, CompileError> {
        let def = self.table_def(b, table)?;
        let off = disp(self.offsets.table_layout().current_elements)?;
        Ok(b.ins()
            .load(types::I32, self.mutable(), def.ptr, def.offset + off))
    }

    // ---- globals ----------------------------------------------------------

    /// Global `global`'s storage.
    pub fn global_addr(
        &self,
        b: &mut FunctionBuilder<'_>,
        global: u32,
    ) -> Result<DefAddr, CompileError> {
        self.def_addr(b, self.offsets.global_definition(global), "global", global)
    }

    // ---- functions ----------------------------------------------------------

    /// The signature of wasm type `type_index`, imported into the function.
    pub fn wasm_sig(
        &mut self,
        b: &mut FunctionBuilder<'_>,
        type_index: u32,
        offset: u64,
    ) -> Result<SigRef, CompileError> {
        if let Some(&s) = self.wasm_sigs.get(&type_index) {
            return Ok(s);
        }
        let ty = self.func_type(type_index)?;
        let sig = wasm_signature(ty, offset)?;
        let s = b.import_signature(sig);
        self.wasm_sigs.insert(type_index, s);
        Ok(s)
    }

    /// Wasm function type `type_index`.
    pub fn func_type(&self, type_index: u32) -> Result<&'a FuncType, CompileError> {
        match self
            .module
            .types
            .get(type_index as usize)
            .map(|t| &t.composite_type.inner)
        {
            Some(wasmparser::CompositeInnerType::Func(f)) => Ok(f),
            _ => Err(CompileError::Internal(format!(
                "type {type_index} is not a function type"
            ))),
        }
    }

    /// The type index of function `func`.
    pub fn func_type_index(&self, func: u32) -> Result<u32, CompileError> {
        self.module
            .functions
            .get(func as usize)
            .copied()
            .ok_or_else(|| CompileError::Internal(format!("function {func} out of range")))
    }

    /// Code pointer and vmctx to call function `func` with.
    pub fn direct_callee(
        &self,
        b: &mut FunctionBuilder<'_>,
        func: u32,
    ) -> Result<(Value, Value), CompileError> {
        if let Some(slot_off) = self.offsets.imported_function_slot(func) {
            let vmctx_off = self
                .offsets
                .imported_function_vmctx(func)
                .ok_or_else(|| oob_offset("imported function", func))?;
            let slot = self.load_vmctx_readonly(b, slot_off)?;
            let callee_vmctx = self.load_vmctx_readonly(b, vmctx_off)?;
            let code = b.ins().load(types::I64, MemFlagsData::trusted(), slot, 0);
            return Ok((code, callee_vmctx));
        }
        let slot_off = self
            .offsets
            .func_slot(func)
            .ok_or_else(|| oob_offset("function", func))?;
        let slots = self.load_vmctx_readonly(b, self.offsets.func_slots())?;
        // Not readonly: tier-up patches the slot.
        let code = b
            .ins()
            .load(types::I64, MemFlagsData::trusted(), slots, disp(slot_off)?);
        Ok((code, self.vmctx))
    }

    /// Function `func`'s funcref record: `vmctx + funcref(func)`.
    pub fn funcref(&self, b: &mut FunctionBuilder<'_>, func: u32) -> Result<Value, CompileError> {
        let off = self
            .offsets
            .funcref(func)
            .ok_or_else(|| oob_offset("funcref", func))?;
        Ok(b.ins().iadd_imm_u(self.vmctx, i64::from(off)))
    }

    /// The canonical type id of type `type_index` (i32).
    pub fn type_id(
        &self,
        b: &mut FunctionBuilder<'_>,
        type_index: u32,
    ) -> Result<Value, CompileError> {
        let off = self
            .offsets
            .type_id(type_index)
            .ok_or_else(|| oob_offset("type", type_index))?;
        let ids = self.load_vmctx_readonly(b, self.offsets.type_ids())?;
        FuncEnv::load_readonly(b, types::I32, ids, off)
    }

    /// The address of the function's tier-up budgets (one `i32` per
    /// defined function).
    pub fn tier_up_budgets(&self, b: &mut FunctionBuilder<'_>) -> Result<Value, CompileError> {
        self.load_vmctx_readonly(b, self.offsets.tier_up_budgets())
    }

    /// Calls `libcall` (System V) with `vmctx` prepended to `args`; returns
    /// its result, if it has one.
    pub fn libcall(
        &mut self,
        b: &mut FunctionBuilder<'_>,
        libcall: Libcall,
        args: &[Value],
    ) -> Result<Option<Value>, CompileError> {
        let sig = match self.libcall_sigs.get(&libcall) {
            Some(&s) => s,
            None => {
                let s = b.import_signature(libcall_signature(libcall));
                self.libcall_sigs.insert(libcall, s);
                s
            }
        };
        let table = self.load_vmctx_readonly(b, self.offsets.libcalls())?;
        let entry = FuncEnv::load_readonly(b, types::I64, table, self.offsets.libcall(libcall))?;
        let mut all = Vec::with_capacity(args.len() + 1);
        all.push(self.vmctx);
        all.extend_from_slice(args);
        let call = b.ins().call_indirect(sig, entry, &all);
        Ok(b.inst_results(call).first().copied())
    }
}

/// The zero value of a CLIF type (locals' initial values).
pub fn zero(b: &mut FunctionBuilder<'_>, ty: Type) -> Value {
    match ty {
        types::F32 => b.ins().f32const(0.0),
        types::F64 => b.ins().f64const(0.0),
        ty if ty.is_vector() => {
            let c = b.func.dfg.constants.insert(vec![0u8; 16].into());
            b.ins().vconst(ty, c)
        }
        ty => b.ins().iconst(ty, 0),
    }
}
