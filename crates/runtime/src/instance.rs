//! Instantiation: a module plus its imports become an instance — a vmctx laid
//! out by `VmOffsets`, with its memories, tables, globals and funcref records
//! filled in, element and data segments applied, and the start function run.
//!
//! The order is the spec's: imports are checked first ("incompatible import
//! type"), then everything is allocated, then active element segments and
//! active data segments are applied in order (a segment out of bounds traps,
//! and what earlier segments wrote stays written), then `start` runs.

use std::collections::HashMap;

use rung_decoder::{ConstExprBytes, ElementItemsOwned, ElementMode};
use rung_tiering::{TrapCode, VMCTX_MAGIC};
use wasmparser::{ExternalKind, Operator, TypeRef, ValType};

use crate::Error;
use crate::memory::{LinearMemory, MemoryDef};
use crate::module::{DataMode, Module};
use crate::store::{
    Extern, Func, FuncData, FuncKind, FuncRefRecord, Global, GlobalData, HostFunc, Instance,
    Memory, StoreInner, Table, TableData, TableDef, Tag,
};
use crate::traps::Trap;
use crate::types::val_subtype;
use crate::values::Val;

/// An instance's state; boxed in the store, pointed to by its vmctx's
/// `runtime_data`.
pub(crate) struct InstanceData {
    pub module: Module,
    /// The vmctx, 16-byte aligned, `VmOffsets::size()` bytes.
    pub vmctx: Box<[u128]>,
    pub store: *mut StoreInner,
    /// Store indices of the instance's functions, memories, tables, globals,
    /// by the module's index spaces.
    pub funcs: Vec<u32>,
    pub memories: Vec<u32>,
    pub tables: Vec<u32>,
    pub globals: Vec<u32>,
    pub tags: Vec<u32>,
    pub exports: HashMap<String, Extern>,
    /// Element segments resolved to table words; `None` once dropped.
    pub elements: Vec<Option<Vec<usize>>>,
    pub data_dropped: Vec<bool>,
}

impl InstanceData {
    pub fn vmctx_ptr(&self) -> *mut u8 {
        self.vmctx.as_ptr().cast_mut().cast()
    }

    /// Writes `value` at `offset` in the vmctx.
    fn put<T>(&self, offset: u32, value: T) {
        debug_assert!(offset as usize + std::mem::size_of::<T>() <= self.vmctx.len() * 16);
        // SAFETY: `offset` comes from `VmOffsets` for this module, so it is
        // inside the vmctx and aligned for `T`.
        unsafe {
            self.vmctx_ptr()
                .add(offset as usize)
                .cast::<T>()
                .write(value)
        }
    }

    fn at<T>(&self, offset: u32) -> *mut T {
        // SAFETY: as `put`.
        unsafe { self.vmctx_ptr().add(offset as usize).cast::<T>() }
    }
}

fn incompatible(what: &str) -> Error {
    Error::Link(format!("incompatible import type ({what})"))
}

/// Checks that `ext` may satisfy an import of type `ty`.
fn check_import(
    store: &StoreInner,
    module: &Module,
    ty: &TypeRef,
    ext: &Extern,
) -> Result<(), Error> {
    match (ty, ext) {
        (TypeRef::Func(t) | TypeRef::FuncExact(t), Extern::Func(f)) => {
            let expected = module.inner.type_ids.get(*t as usize).copied();
            // SAFETY: every function's record is live while its store is.
            let actual = unsafe { (*store.funcs[f.index as usize].record).type_id };
            // A function of a declared subtype matches too (GC).
            if expected.is_none_or(|e| !store.gc.is_subtype(actual, e)) {
                return Err(incompatible("function signature"));
            }
        }
        (TypeRef::Tag(t), Extern::Tag(tag)) => {
            let expected = module.inner.type_ids.get(t.func_type_idx as usize).copied();
            if expected != Some(store.tags[tag.index as usize]) {
                return Err(incompatible("tag"));
            }
        }
        (TypeRef::Memory(m), Extern::Memory(mem)) => {
            let actual = &store.memories[mem.index as usize];
            if m.shared != actual.shared().is_some() {
                return Err(incompatible("memory sharing"));
            }
            if m.memory64 != actual.memory64() {
                return Err(incompatible("memory index type"));
            }
            if actual.pages() < m.initial {
                return Err(incompatible("memory size"));
            }
            if let Some(max) = m.maximum
                && (actual.declared_maximum().is_none_or(|a| a > max))
            {
                return Err(incompatible("memory maximum"));
            }
        }
        (TypeRef::Table(t), Extern::Table(table)) => {
            let actual = &store.tables[table.index as usize];
            if actual.canon != module.canon(ValType::Ref(t.element_type))
                || actual.ty.table64 != t.table64
                || (actual.elements.len() as u64) < t.initial
            {
                return Err(incompatible("table"));
            }
            if let Some(max) = t.maximum
                && actual.ty.maximum.is_none_or(|a| a > max)
            {
                return Err(incompatible("table maximum"));
            }
        }
        (TypeRef::Global(g), Extern::Global(global)) => {
            let actual = &store.globals[global.index as usize];
            let expected = module.canon(g.content_type);
            let fits = if g.mutable {
                actual.canon == expected
            } else {
                val_subtype(actual.canon, expected)
            };
            if actual.ty.mutable != g.mutable || !fits {
                return Err(incompatible("global"));
            }
        }
        _ => return Err(incompatible("kind")),
    }
    Ok(())
}

/// Creates an instance of `module` in `store` with `imports` in import order.
/// Instantiates `module` in `store` with `imports`, in the spec's order,
/// one entity kind at a time: imports checked, the vmctx laid out,
/// functions, memories, globals (before tables: table initializers may read
/// them), tables, tags, exports, element segments resolved; then the
/// instance is registered, its active segments copied and its start
/// function run.
pub(crate) fn instantiate(
    store: &mut StoreInner,
    module: &Module,
    imports: &[Extern],
) -> Result<Instance, Error> {
    register_gc_types(store, module);
    check_imports(store, module, imports)?;
    check_limits(store, module)?;
    let instance_index = store.instances.len() as u32;
    let mut inst = new_instance(store, module);
    define_funcs(store, module, &mut inst, imports, instance_index)?;
    define_memories(store, module, &mut inst, imports)?;
    define_globals(store, module, &mut inst, imports)?;
    define_tables(store, module, &mut inst, imports)?;
    define_tags(store, module, &mut inst, imports)?;
    define_exports(store, module, &mut inst);
    resolve_elements(store, module, &mut inst)?;
    let handle = register(store, inst, instance_index);
    copy_active_segments(store, module, instance_index)?;
    run_start(store, module, instance_index)?;
    Ok(handle)
}

/// The store's resource limiter admits one more instance and the
/// memories and tables the module defines, at their initial sizes: checked
/// before anything is created.
fn check_limits(store: &mut StoreInner, module: &Module) -> Result<(), Error> {
    if store.limiter.is_none() {
        return Ok(());
    }
    let env = module.env();
    let memories = &env.memories[env.counts.imported_memories as usize..];
    let tables = &env.tables[env.counts.imported_tables as usize..];
    store.admit_instances(1)?;
    store.admit_memories(memories.len())?;
    store.admit_tables(tables.len())?;
    let page = crate::WASM_PAGE;
    for m in memories {
        store.admit_memory(
            m.initial.saturating_mul(page),
            m.maximum.map(|x| x.saturating_mul(page)),
        )?;
    }
    for t in tables {
        store.admit_table(t.ty.initial, t.ty.maximum)?;
    }
    Ok(())
}

/// The imports match the module's import types, in number and kind, and
/// belong to `store`.
fn check_imports(store: &StoreInner, module: &Module, imports: &[Extern]) -> Result<(), Error> {
    let env = module.env();
    if imports.len() != env.imports.len() {
        return Err(Error::Link(format!(
            "expected {} imports, got {}",
            env.imports.len(),
            imports.len()
        )));
    }
    for (import, ext) in env.imports.iter().zip(imports) {
        let id = match ext {
            Extern::Func(f) => f.store,
            Extern::Memory(m) => m.store,
            Extern::Table(t) => t.store,
            Extern::Global(g) => g.store,
            Extern::Tag(t) => t.store,
        };
        store.check(id)?;
        check_import(store, module, &import.ty, ext)
            .map_err(|e| Error::Link(format!("{}.{}: {e}", import.module, import.name)))?;
    }
    Ok(())
}

/// The instance's data with its vmctx laid out: the header fields that
/// point at the store's and the module's shared structures.
fn new_instance(store: &mut StoreInner, module: &Module) -> Box<InstanceData> {
    let env = module.env();
    let offsets = &module.inner.offsets;
    let words = (offsets.size() as usize).div_ceil(16);
    let store_ptr: *mut StoreInner = store;
    let inst = Box::new(InstanceData {
        module: module.clone(),
        vmctx: vec![0u128; words.max(1)].into_boxed_slice(),
        store: store_ptr,
        funcs: Vec::with_capacity(env.functions.len()),
        memories: Vec::new(),
        tables: Vec::new(),
        globals: Vec::new(),
        tags: Vec::new(),
        exports: HashMap::new(),
        elements: Vec::new(),
        data_dropped: vec![false; module.inner.data.len()],
    });
    let inst_ptr: *const InstanceData = &*inst;
    inst.put(offsets.magic(), VMCTX_MAGIC);
    inst.put(offsets.runtime_data(), inst_ptr as usize);
    inst.put(
        offsets.libcalls(),
        store.engine.inner.libcalls.as_ptr() as usize,
    );
    inst.put(offsets.func_slots(), module.inner.slots.as_ptr() as usize);
    inst.put(
        offsets.tier_up_budgets(),
        module.inner.budgets.as_ptr() as usize,
    );
    inst.put(offsets.type_ids(), module.inner.type_ids.as_ptr() as usize);
    inst.put(offsets.gc_heap(), store.gc.ctx() as usize);
    inst
}

/// Registers the module's types with the store's GC heap, if casts,
/// objects or subtype checks of calls and imports need them (struct and
/// array types, declared subtyping): other modules register nothing.
fn register_gc_types(store: &StoreInner, module: &Module) {
    if module.env().types.iter().any(|t| {
        !t.is_final
            || !t.supertype_idxs.is_empty()
            || !matches!(
                t.composite_type.inner,
                wasmparser::CompositeInnerType::Func(_)
            )
    }) {
        store.gc.register_types(module);
    }
}

/// Functions: imports first (bound host copies for host functions), then
/// the module's own, each with its funcref record in the vmctx.
fn define_funcs(
    store: &mut StoreInner,
    module: &Module,
    inst: &mut InstanceData,
    imports: &[Extern],
    instance_index: u32,
) -> Result<(), Error> {
    let env = module.env();
    let offsets = &module.inner.offsets;
    let vmctx = inst.vmctx_ptr();
    let imported_funcs: Vec<u32> = imports
        .iter()
        .filter_map(|e| match e {
            Extern::Func(f) => Some(f.index),
            _ => None,
        })
        .collect();
    for (i, &f) in imported_funcs.iter().enumerate() {
        let i = i as u32;
        let f = bind_host_func(store, f, instance_index);
        // SAFETY: `record` points at a live funcref record of the store.
        let record = unsafe { &*store.funcs[f as usize].record };
        let (slot, callee, type_id) = (record.slot, record.vmctx, record.type_id);
        let rec_off = offsets.funcref(i).ok_or_else(internal)?;
        inst.put(
            offsets.imported_function_slot(i).ok_or_else(internal)?,
            slot as usize,
        );
        inst.put(
            offsets.imported_function_vmctx(i).ok_or_else(internal)?,
            callee as usize,
        );
        inst.put(
            rec_off,
            FuncRefRecord {
                slot,
                vmctx: callee,
                type_id,
            },
        );
        store
            .func_by_record
            .insert(vmctx as usize + rec_off as usize, f);
        inst.funcs.push(f);
    }
    for f in env.num_imported_functions()..env.functions.len() as u32 {
        let ty = module.func_type(f).cloned().ok_or_else(internal)?;
        let type_id = module.inner.type_ids[env.functions[f as usize] as usize];
        let rec_off = offsets.funcref(f).ok_or_else(internal)?;
        let slot: *const usize = module.slot(f).as_ptr();
        inst.put(
            rec_off,
            FuncRefRecord {
                slot,
                vmctx,
                type_id,
            },
        );
        let index = store.funcs.len() as u32;
        store.funcs.push(FuncData {
            ty,
            record: inst.at::<FuncRefRecord>(rec_off),
            _own_record: None,
            host_to_wasm: None,
            kind: FuncKind::Wasm,
        });
        store
            .func_by_record
            .insert(vmctx as usize + rec_off as usize, index);
        inst.funcs.push(index);
    }

    Ok(())
}

/// Memories: imported definitions by pointer, the module's own created.
fn define_memories(
    store: &mut StoreInner,
    module: &Module,
    inst: &mut InstanceData,
    imports: &[Extern],
) -> Result<(), Error> {
    let env = module.env();
    let offsets = &module.inner.offsets;
    let imported_memories = imports.iter().filter_map(|e| match e {
        Extern::Memory(m) => Some(m.index),
        _ => None,
    });
    for (m, idx) in imported_memories.enumerate() {
        let def = store.memories[idx as usize].def_ptr();
        inst.put(
            offsets.imported_memory_ptr(m as u32).ok_or_else(internal)?,
            def as usize,
        );
        inst.memories.push(idx);
    }
    for m in env.counts.imported_memories..env.memories.len() as u32 {
        let ty = &env.memories[m as usize];
        let mut memory = match (ty.shared, ty.maximum) {
            (true, Some(max)) => LinearMemory::from_shared(
                crate::memory::SharedMemory::create(ty.initial, max, ty.memory64)
                    .map_err(Error::Resource)?,
            ),
            _ => LinearMemory::new(ty.initial, ty.maximum, ty.memory64).map_err(Error::Resource)?,
        };
        let at = inst.at::<MemoryDef>(offsets.memory_base(m).ok_or_else(internal)?);
        // SAFETY: `at` is this memory's definition inside the vmctx, which
        // the store keeps alive as long as the memory.
        unsafe { memory.place_def_at(at) };
        inst.memories.push(store.memories.len() as u32);
        store.memories.push(memory);
    }

    Ok(())
}

/// Globals: imported by pointer, the module's own evaluated in order.
fn define_globals(
    store: &mut StoreInner,
    module: &Module,
    inst: &mut InstanceData,
    imports: &[Extern],
) -> Result<(), Error> {
    let env = module.env();
    let offsets = &module.inner.offsets;
    let imported_globals = imports.iter().filter_map(|e| match e {
        Extern::Global(g) => Some(g.index),
        _ => None,
    });
    for (g, idx) in imported_globals.enumerate() {
        let ptr = store.globals[idx as usize].ptr;
        inst.put(
            offsets.imported_global_ptr(g as u32).ok_or_else(internal)?,
            ptr as usize,
        );
        inst.globals.push(idx);
    }
    for g in env.counts.imported_globals..env.globals.len() as u32 {
        let global = &env.globals[g as usize];
        let ptr = inst.at::<u8>(offsets.global(g).ok_or_else(internal)?);
        let init = global.init.as_ref().ok_or_else(internal)?;
        let value = eval_const(store, inst, init)?;
        // SAFETY: `ptr` is this global's 16 bytes inside the vmctx.
        unsafe { write_val(store, ptr, &value, global.ty.content_type) };
        inst.globals.push(store.globals.len() as u32);
        store.globals.push(GlobalData {
            ty: global.ty,
            canon: module.canon(global.ty.content_type),
            ptr,
            _own: None,
        });
    }

    Ok(())
}

/// Tables: imported by pointer, the module's own filled with their
/// initializer.
fn define_tables(
    store: &mut StoreInner,
    module: &Module,
    inst: &mut InstanceData,
    imports: &[Extern],
) -> Result<(), Error> {
    let env = module.env();
    let offsets = &module.inner.offsets;
    let imported_tables = imports.iter().filter_map(|e| match e {
        Extern::Table(t) => Some(t.index),
        _ => None,
    });
    for (t, idx) in imported_tables.enumerate() {
        let def = store.tables[idx as usize].def;
        inst.put(
            offsets.imported_table_ptr(t as u32).ok_or_else(internal)?,
            def as usize,
        );
        inst.tables.push(idx);
    }
    for t in env.counts.imported_tables..env.tables.len() as u32 {
        let table = &env.tables[t as usize];
        let init = match &table.init {
            Some(expr) => {
                let v = eval_const(store, inst, expr)?;
                store.ref_word(&v, table.ty.element_type)
            }
            None => 0,
        };
        let initial = usize::try_from(table.ty.initial)
            .ok()
            .filter(|&n| n <= 10_000_000)
            .ok_or_else(|| Error::Resource("table too large".into()))?;
        let mut data = TableData {
            ty: table.ty,
            canon: module.canon(ValType::Ref(table.ty.element_type)),
            elements: vec![init; initial],
            def: inst.at::<TableDef>(offsets.table_base(t).ok_or_else(internal)?),
            _own_def: None,
        };
        data.sync_def();
        inst.tables.push(store.tables.len() as u32);
        store.tables.push(data);
    }

    Ok(())
}

/// Tags: identities with a function type, each written into the vmctx as
/// the word exception objects carry (its index in the store).
fn define_tags(
    store: &mut StoreInner,
    module: &Module,
    inst: &mut InstanceData,
    imports: &[Extern],
) -> Result<(), Error> {
    let env = module.env();
    for ext in imports {
        if let Extern::Tag(t) = ext {
            inst.tags.push(t.index);
        }
    }
    for tag in &env.tags[env.counts.imported_tags as usize..] {
        let id = module
            .inner
            .type_ids
            .get(tag.func_type_idx as usize)
            .copied()
            .ok_or_else(internal)?;
        let ty = match env
            .types
            .get(tag.func_type_idx as usize)
            .map(|t| &t.composite_type.inner)
        {
            Some(wasmparser::CompositeInnerType::Func(f)) => f.clone(),
            _ => return Err(internal()),
        };
        inst.tags.push(store.tags.len() as u32);
        store.tags.push(id);
        store.tag_traced.push(
            ty.params()
                .iter()
                .map(|p| crate::gc::traced_canon(module.canon(*p)))
                .collect(),
        );
        store.tag_types.push(ty);
    }
    let offsets = &module.inner.offsets;
    for (i, &t) in inst.tags.iter().enumerate() {
        inst.put(offsets.tag(i as u32).ok_or_else(internal)?, t as usize);
    }
    Ok(())
}

/// The export map: names to handles of this store.
fn define_exports(store: &StoreInner, module: &Module, inst: &mut InstanceData) {
    let env = module.env();
    for export in &env.exports {
        let i = export.index as usize;
        let handle = |index: u32| (store.id, index);
        let ext = match export.kind {
            ExternalKind::Func | ExternalKind::FuncExact => {
                let (store, index) = handle(inst.funcs[i]);
                Extern::Func(Func { store, index })
            }
            ExternalKind::Memory => {
                let (store, index) = handle(inst.memories[i]);
                Extern::Memory(Memory { store, index })
            }
            ExternalKind::Table => {
                let (store, index) = handle(inst.tables[i]);
                Extern::Table(Table { store, index })
            }
            ExternalKind::Global => {
                let (store, index) = handle(inst.globals[i]);
                Extern::Global(Global { store, index })
            }
            ExternalKind::Tag => {
                let (store, index) = handle(inst.tags[i]);
                Extern::Tag(Tag { store, index })
            }
        };
        inst.exports.insert(export.name.clone(), ext);
    }
}

/// Element segments, resolved to table words.
fn resolve_elements(
    store: &mut StoreInner,
    module: &Module,
    inst: &mut InstanceData,
) -> Result<(), Error> {
    let env = module.env();
    let offsets = &module.inner.offsets;
    let vmctx = inst.vmctx_ptr();
    for segment in &env.elements {
        let words = match &segment.items {
            ElementItemsOwned::Functions(funcs) => funcs
                .iter()
                .map(|&f| vmctx as usize + offsets.funcref(f).unwrap_or(0) as usize)
                .collect(),
            ElementItemsOwned::Expressions(ty, exprs) => {
                let mut words = Vec::with_capacity(exprs.len());
                for e in exprs {
                    let v = eval_const(store, inst, e)?;
                    words.push(store.ref_word(&v, *ty));
                }
                words
            }
        };
        inst.elements.push(Some(words));
    }

    Ok(())
}

/// Puts the instance in the store and registers its interrupt field.
fn register(store: &mut StoreInner, inst: Box<InstanceData>, instance_index: u32) -> Instance {
    let interrupt = inst.module.inner.offsets.interrupt();
    store.instances.push(inst);
    // Registered only now: an instantiation that failed above freed its
    // vmctx, and a pushed instance stays until the store drops.
    let field = store.instances[instance_index as usize].at::<u32>(interrupt);
    // SAFETY: the vmctx is boxed in the instance, which the store keeps
    // until it drops, and the store forgets the field first.
    unsafe { store.interrupts.add(field) };
    Instance {
        store: store.id,
        index: instance_index,
    }
}

/// Active element segments, then active data segments, in order; a
/// segment out of bounds traps (what was copied before it stays).
fn copy_active_segments(
    store: &mut StoreInner,
    module: &Module,
    instance_index: u32,
) -> Result<(), Error> {
    let env = module.env();
    for (e, segment) in env.elements.iter().enumerate() {
        match &segment.mode {
            ElementMode::Active { table, offset } => {
                let inst = &store.instances[instance_index as usize];
                let at = eval_const(store, inst, offset)?;
                let at = const_index(&at)?;
                let table_idx = inst.tables[*table as usize];
                let words = inst.elements[e].clone().unwrap_or_default();
                let table = &mut store.tables[table_idx as usize];
                let end = at.checked_add(words.len() as u64);
                if end.is_none_or(|end| end > table.elements.len() as u64) {
                    return Err(Error::Trap(Trap::wasm(TrapCode::TableOutOfBounds)));
                }
                table.elements[at as usize..at as usize + words.len()].copy_from_slice(&words);
                store.instances[instance_index as usize].elements[e] = None;
            }
            ElementMode::Declared => store.instances[instance_index as usize].elements[e] = None,
            ElementMode::Passive => {}
        }
    }
    for (d, segment) in module.inner.data.iter().enumerate() {
        if let DataMode::Active { memory, offset } = &segment.mode {
            let inst = &store.instances[instance_index as usize];
            let at = const_index(&eval_const(store, inst, offset)?)?;
            let mem_idx = inst.memories[*memory as usize];
            let mem = store.memories[mem_idx as usize].data_mut();
            let end = at.checked_add(segment.bytes.len() as u64);
            if end.is_none_or(|end| end > mem.len() as u64) {
                return Err(Error::Trap(Trap::wasm(TrapCode::MemoryOutOfBounds)));
            }
            mem[at as usize..at as usize + segment.bytes.len()].copy_from_slice(&segment.bytes);
            store.instances[instance_index as usize].data_dropped[d] = true;
        }
    }

    Ok(())
}

/// Runs the start function, if the module has one.
fn run_start(store: &mut StoreInner, module: &Module, instance_index: u32) -> Result<(), Error> {
    let env = module.env();
    if let Some(start) = env.start {
        let f = Func {
            store: store.id,
            index: store.instances[instance_index as usize].funcs[start as usize],
        };
        crate::func::call_raw(store, f, &[]).map_err(Error::Trap)?;
    }
    Ok(())
}

fn internal() -> Error {
    Error::Link("internal error: index out of the module's vmctx layout".into())
}

fn const_index(v: &Val) -> Result<u64, Error> {
    match v {
        Val::I32(i) => Ok(*i as u32 as u64),
        Val::I64(i) => Ok(*i as u64),
        _ => Err(Error::Link("segment offset is not an integer".into())),
    }
}

/// For a host function imported by instance `instance`, a copy bound to it
/// (so that its `Caller` knows the instance); wasm functions are shared.
fn bind_host_func(store: &mut StoreInner, f: u32, instance: u32) -> u32 {
    let FuncKind::Host(host) = &store.funcs[f as usize].kind else {
        return f;
    };
    let bound = Box::new(HostFunc {
        magic: host.magic,
        _pad: 0,
        entry: host.entry,
        trampoline: host.trampoline,
        store: host.store,
        caller: Some(instance),
        ty: host.ty.clone(),
        callback: host.callback.clone(),
        _trampoline_code: host._trampoline_code.clone(),
    });
    crate::func::push_host_func(store, bound)
}

/// Evaluates a constant expression in an instance under construction.
pub(crate) fn eval_const(
    store: &StoreInner,
    inst: &InstanceData,
    expr: &ConstExprBytes,
) -> Result<Val, Error> {
    let mut stack: Vec<Val> = Vec::new();
    let mut ops = expr.expr().get_operators_reader();
    let bad = || Error::Link("unsupported constant expression".into());
    let trap = |code: TrapCode| Error::Trap(Trap::wasm(code));
    let type_id = |index: u32| {
        inst.module
            .inner
            .type_ids
            .get(index as usize)
            .copied()
            .ok_or_else(bad)
    };
    loop {
        let op = ops
            .read()
            .map_err(|e| Error::Link(e.message().to_string()))?;
        let v = match op {
            Operator::End => break,
            Operator::I32Const { value } => Val::I32(value),
            Operator::I64Const { value } => Val::I64(value),
            Operator::F32Const { value } => Val::F32(value.bits()),
            Operator::F64Const { value } => Val::F64(value.bits()),
            Operator::V128Const { value } => Val::V128(u128::from_le_bytes(*value.bytes())),
            Operator::RefNull { hty } => match wasmparser::RefType::new(true, hty) {
                Some(r) if r.is_func_ref() => Val::FuncRef(None),
                Some(r) if crate::values::is_any_ref(r) => Val::AnyRef(None),
                _ => Val::ExternRef(None),
            },
            Operator::RefI31 => {
                let Some(Val::I32(v)) = stack.pop() else {
                    return Err(bad());
                };
                store.any_ref(crate::gc::i31_word(v))
            }
            Operator::AnyConvertExtern => {
                let v = stack.pop().ok_or_else(bad)?;
                let word = store.ref_word(&v, wasmparser::RefType::EXTERNREF);
                store.any_ref(word)
            }
            Operator::ExternConvertAny => {
                let v = stack.pop().ok_or_else(bad)?;
                let word = store.ref_word(&v, wasmparser::RefType::ANYREF);
                store.word_ref(word, wasmparser::RefType::EXTERNREF)
            }
            Operator::StructNew { struct_type_index }
            | Operator::StructNewDefault { struct_type_index } => {
                let id = type_id(struct_type_index)?;
                let p = store.gc.new_struct_zeroed(id).map_err(trap)?;
                if let Operator::StructNew { .. } = op {
                    let info = store.gc.type_info(id).ok_or_else(bad)?;
                    let crate::gc::GcKind::Struct { fields, .. } = &info.kind else {
                        return Err(bad());
                    };
                    let args =
                        stack.split_off(stack.len().checked_sub(fields.len()).ok_or_else(bad)?);
                    for ((off, s), v) in fields.iter().zip(&args) {
                        // SAFETY: a field of the new struct.
                        unsafe { crate::gc::write_field(store, p + *off as usize, *s, v) };
                    }
                }
                store.any_ref(p)
            }
            Operator::ArrayNew { array_type_index }
            | Operator::ArrayNewDefault { array_type_index }
            | Operator::ArrayNewFixed {
                array_type_index, ..
            } => {
                let id = type_id(array_type_index)?;
                let (len, init) = match op {
                    Operator::ArrayNew { .. } => {
                        let Some(Val::I32(len)) = stack.pop() else {
                            return Err(bad());
                        };
                        (len as u32, vec![stack.pop().ok_or_else(bad)?])
                    }
                    Operator::ArrayNewDefault { .. } => {
                        let Some(Val::I32(len)) = stack.pop() else {
                            return Err(bad());
                        };
                        (len as u32, Vec::new())
                    }
                    Operator::ArrayNewFixed { array_size, .. } => {
                        let at = stack
                            .len()
                            .checked_sub(array_size as usize)
                            .ok_or_else(bad)?;
                        (array_size, stack.split_off(at))
                    }
                    _ => return Err(bad()),
                };
                let p = store.gc.new_array_zeroed(id, len).map_err(trap)?;
                let info = store.gc.type_info(id).ok_or_else(bad)?;
                let crate::gc::GcKind::Array {
                    elem, elem_size, ..
                } = &info.kind
                else {
                    return Err(bad());
                };
                if !init.is_empty() {
                    for i in 0..len as usize {
                        let v = if init.len() == 1 { &init[0] } else { &init[i] };
                        let at =
                            p + rung_tiering::gc::GC_ARRAY_ELEMS as usize + i * *elem_size as usize;
                        // SAFETY: element `i` of the new array.
                        unsafe { crate::gc::write_field(store, at, *elem, v) };
                    }
                }
                store.any_ref(p)
            }
            Operator::RefFunc { function_index } => {
                let f = *inst.funcs.get(function_index as usize).ok_or_else(bad)?;
                Val::FuncRef(Some(Func {
                    store: store.id,
                    index: f,
                }))
            }
            Operator::GlobalGet { global_index } => {
                let g = *inst.globals.get(global_index as usize).ok_or_else(bad)?;
                let g = &store.globals[g as usize];
                // SAFETY: `g.ptr` is the global's live 16-byte storage.
                unsafe { read_val(store, g.ptr, g.ty.content_type) }
            }
            Operator::I32Add | Operator::I32Sub | Operator::I32Mul => {
                let (Some(Val::I32(b)), Some(Val::I32(a))) = (stack.pop(), stack.pop()) else {
                    return Err(bad());
                };
                Val::I32(match op {
                    Operator::I32Add => a.wrapping_add(b),
                    Operator::I32Sub => a.wrapping_sub(b),
                    _ => a.wrapping_mul(b),
                })
            }
            Operator::I64Add | Operator::I64Sub | Operator::I64Mul => {
                let (Some(Val::I64(b)), Some(Val::I64(a))) = (stack.pop(), stack.pop()) else {
                    return Err(bad());
                };
                Val::I64(match op {
                    Operator::I64Add => a.wrapping_add(b),
                    Operator::I64Sub => a.wrapping_sub(b),
                    _ => a.wrapping_mul(b),
                })
            }
            _ => {
                return Err(Error::Unsupported(format!(
                    "constant expression operator {op:?}"
                )));
            }
        };
        stack.push(v);
    }
    stack.pop().ok_or_else(bad)
}

/// Reads a value of type `ty` from 16-byte storage.
///
/// # Safety
///
/// `ptr` must be valid for reads of 16 bytes.
pub(crate) unsafe fn read_val(store: &StoreInner, ptr: *const u8, ty: ValType) -> Val {
    // SAFETY: the caller vouches for `ptr`.
    unsafe {
        match ty {
            ValType::I32 => Val::I32(ptr.cast::<i32>().read_unaligned()),
            ValType::I64 => Val::I64(ptr.cast::<i64>().read_unaligned()),
            ValType::F32 => Val::F32(ptr.cast::<u32>().read_unaligned()),
            ValType::F64 => Val::F64(ptr.cast::<u64>().read_unaligned()),
            ValType::V128 => Val::V128(ptr.cast::<u128>().read_unaligned()),
            ValType::Ref(r) => store.word_ref(ptr.cast::<usize>().read_unaligned(), r),
        }
    }
}

/// Writes a value into 16-byte storage.
///
/// # Safety
///
/// `ptr` must be valid for writes of 16 bytes.
pub(crate) unsafe fn write_val(store: &StoreInner, ptr: *mut u8, val: &Val, ty: ValType) {
    // SAFETY: the caller vouches for `ptr`.
    unsafe {
        ptr.cast::<u128>().write_unaligned(0);
        match val {
            Val::I32(v) => ptr.cast::<i32>().write_unaligned(*v),
            Val::I64(v) => ptr.cast::<i64>().write_unaligned(*v),
            Val::F32(v) => ptr.cast::<u32>().write_unaligned(*v),
            Val::F64(v) => ptr.cast::<u64>().write_unaligned(*v),
            Val::V128(v) => ptr.cast::<u128>().write_unaligned(*v),
            Val::FuncRef(_) | Val::ExternRef(_) | Val::AnyRef(_) => {
                let ValType::Ref(r) = ty else { return };
                ptr.cast::<usize>().write_unaligned(store.ref_word(val, r))
            }
        }
    }
}

impl Instance {
    /// An export by name.
    pub fn get_export(&self, store: &crate::Store, name: &str) -> Option<Extern> {
        store.inner.check(self.store).ok()?;
        store.inner.instances[self.index as usize]
            .exports
            .get(name)
            .copied()
    }

    pub fn get_func(&self, store: &crate::Store, name: &str) -> Option<Func> {
        match self.get_export(store, name)? {
            Extern::Func(f) => Some(f),
            _ => None,
        }
    }

    pub fn get_memory(&self, store: &crate::Store, name: &str) -> Option<Memory> {
        match self.get_export(store, name)? {
            Extern::Memory(m) => Some(m),
            _ => None,
        }
    }

    pub fn get_global(&self, store: &crate::Store, name: &str) -> Option<Global> {
        match self.get_export(store, name)? {
            Extern::Global(g) => Some(g),
            _ => None,
        }
    }

    /// Every export, in no particular order.
    ///
    /// # Panics
    ///
    /// If the handle belongs to another store.
    pub fn exports(&self, store: &crate::Store) -> Vec<(String, Extern)> {
        store.inner.owns(self.store, "an Instance");
        store.inner.instances[self.index as usize]
            .exports
            .iter()
            .map(|(k, v)| (k.clone(), *v))
            .collect()
    }
}
