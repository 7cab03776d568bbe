//! `Store`: owns every instance, memory, table, global and function created
//! in it, until it is dropped. Handles (`Func`, `Memory`, `Table`, `Global`,
//! `Instance`) are small copyable indices into one store.
//!
//! **Invariant:** everything compiled code may point at (vmctxs, memory and
//! table definitions, global storage, funcref records, host-function
//! contexts) is boxed and never moves or dies before the store, so raw
//! pointers between instances stay valid however instances link.
//!
//! **Invariant:** a store is used by one thread at a time (`Store` is `Send`,
//! not `Sync`); the stack limit written into every vmctx at the outermost
//! entry is that thread's.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use wasmparser::{FuncType, GlobalType, RefType, TableType};

use crate::engine::{Engine, Trampoline};
use crate::instance::InstanceData;
use crate::memory::LinearMemory;
use crate::traps::Trap;
use crate::types::CanonVal;
use crate::values::Val;

static NEXT_STORE_ID: AtomicU64 = AtomicU64::new(1);

/// A function handle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Func {
    pub(crate) store: u64,
    pub(crate) index: u32,
}

/// A linear memory handle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Memory {
    pub(crate) store: u64,
    pub(crate) index: u32,
}

/// A table handle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Table {
    pub(crate) store: u64,
    pub(crate) index: u32,
}

/// A global handle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Global {
    pub(crate) store: u64,
    pub(crate) index: u32,
}

/// An instance handle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Instance {
    pub(crate) store: u64,
    pub(crate) index: u32,
}

/// An exception tag handle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Tag {
    pub(crate) store: u64,
    pub(crate) index: u32,
}

/// Something an instance exports or a linker provides.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Extern {
    Func(Func),
    Memory(Memory),
    Table(Table),
    Global(Global),
    Tag(Tag),
}

/// A funcref record, as `VmOffsets::funcref_layout` describes it.
#[repr(C)]
#[derive(Debug)]
pub(crate) struct FuncRefRecord {
    pub slot: *const usize,
    pub vmctx: *mut u8,
    pub type_id: u32,
}

/// A host function's callback.
pub type HostCallback =
    dyn Fn(&mut Caller<'_>, &[Val], &mut [Val]) -> Result<(), Trap> + Send + Sync;

/// A host-function context: the vmctx its wasm-to-host trampoline receives
/// (layout: `rung_tiering::trampoline`).
#[repr(C)]
pub(crate) struct HostFunc {
    pub magic: u32,
    pub _pad: u32,
    pub entry: unsafe extern "sysv64" fn(*mut HostFunc, *mut u128),
    /// The wasm-to-host trampoline; funcref records' `slot` points here.
    pub trampoline: usize,
    pub store: *mut StoreInner,
    /// The instance that imported this copy of the function, if any.
    pub caller: Option<u32>,
    pub ty: FuncType,
    pub callback: Arc<HostCallback>,
    pub _trampoline_code: Arc<Trampoline>,
}

pub(crate) enum FuncKind {
    Wasm,
    Host(Box<HostFunc>),
}

pub(crate) struct FuncData {
    pub ty: FuncType,
    /// The function's funcref record: in its instance's vmctx for a wasm
    /// function, in `_own_record` for a host function.
    pub record: *const FuncRefRecord,
    pub _own_record: Option<Box<FuncRefRecord>>,
    /// The host-to-wasm trampoline for `ty`, looked up on the first call
    /// from the host (the engine's cache takes a lock and a hash).
    pub host_to_wasm: Option<Arc<Trampoline>>,
    pub kind: FuncKind,
}

/// What compiled code sees of a table: `VmOffsets::table_layout`.
#[repr(C)]
#[derive(Debug)]
pub(crate) struct TableDef {
    pub base: *mut usize,
    pub len: u32,
}

pub(crate) struct TableData {
    pub ty: TableType,
    /// The element type in canonical form (for import checks).
    pub canon: CanonVal,
    pub elements: Vec<usize>,
    /// Where compiled code reads `{base, len}`: the owner's vmctx, or
    /// `_own_def` for a table made by the host.
    pub def: *mut TableDef,
    pub _own_def: Option<Box<TableDef>>,
}

impl TableData {
    pub fn sync_def(&mut self) {
        // SAFETY: `def` points at a live definition (see the type's docs).
        unsafe {
            (*self.def).base = self.elements.as_mut_ptr();
            (*self.def).len = self.elements.len() as u32;
        }
    }

    pub fn maximum(&self) -> u64 {
        self.ty
            .maximum
            .unwrap_or(u32::MAX as u64)
            .min(u32::MAX as u64)
    }

    /// Grows by `delta` elements set to `init`; returns the old size, or
    /// `None` when the table cannot grow that far.
    pub fn grow(&mut self, delta: u64, init: usize) -> Option<u32> {
        let old = self.elements.len() as u64;
        let new = old.checked_add(delta)?;
        if new > self.maximum() || new > 10_000_000 {
            return None;
        }
        self.elements.resize(new as usize, init);
        self.sync_def();
        Some(old as u32)
    }
}

pub(crate) struct GlobalData {
    pub ty: GlobalType,
    /// The content type in canonical form (for import checks).
    pub canon: CanonVal,
    /// 16 bytes of storage: in the owner's vmctx, or `own` for a host global.
    pub ptr: *mut u8,
    pub _own: Option<Box<u128>>,
}

pub(crate) struct StoreInner {
    pub id: u64,
    pub engine: Engine,
    /// Boxed: each vmctx's `runtime_data` points at its instance.
    #[allow(clippy::vec_box)]
    pub instances: Vec<Box<InstanceData>>,
    pub memories: Vec<LinearMemory>,
    pub tables: Vec<TableData>,
    pub globals: Vec<GlobalData>,
    pub funcs: Vec<FuncData>,
    /// Exception tags, by the canonical id of their function type, and
    /// that type.
    pub tags: Vec<u32>,
    pub tag_types: Vec<wasmparser::FuncType>,
    /// For each tag, which payload values the collector traces (of a type
    /// in the `any` or `extern` hierarchy, concrete types resolved in the
    /// tag's module).
    pub tag_traced: Vec<Box<[bool]>>,
    /// Exception objects (see `exceptions`): each a tag word, a payload
    /// count and 16-byte payload cells; an `exnref` is the address of one.
    /// Freed with the store (no collector before issue 12).
    pub exns: Vec<Box<[u128]>>,
    /// The stack limit last written into every vmctx, and how many instances
    /// had it then: an outermost call that computes the same limit for the
    /// same instances writes nothing.
    pub stack_limit: (usize, usize),
    /// Funcref record address → function, to turn references into handles.
    pub func_by_record: HashMap<usize, u32>,
    /// The instances' interrupt fields, shared with `InterruptHandle`s.
    pub interrupts: Arc<crate::interrupt::Interrupts>,
    /// What the store may allocate (`Store::limiter`); `None`: unlimited.
    pub limiter: Option<Box<dyn crate::ResourceLimiter>>,
    /// The GC heap (see `gc`).
    pub gc: crate::gc::GcHeap,
}

impl StoreInner {
    /// Grows memory `m` (a store index) by `delta` pages, if its maximum
    /// and the limiter allow: the old size in pages, or `None`.
    pub(crate) fn grow_memory(&mut self, m: usize, delta: u64) -> Option<u64> {
        let memory = &self.memories[m];
        if let Some(limiter) = &mut self.limiter {
            let current = memory.len() as u64;
            let desired = delta
                .checked_mul(crate::WASM_PAGE)
                .and_then(|d| d.checked_add(current))?;
            let maximum = memory
                .declared_maximum()
                .map(|p| p.saturating_mul(crate::WASM_PAGE));
            limiter.memory_growing(current, desired, maximum).ok()?;
        }
        self.memories[m].grow(delta)
    }

    /// Grows table `t` (a store index) by `delta` elements set to `init`,
    /// if its maximum and the limiter allow: the old length, or `None`.
    pub(crate) fn grow_table(&mut self, t: usize, delta: u64, init: usize) -> Option<u32> {
        if let Some(limiter) = &mut self.limiter {
            let table = &self.tables[t];
            let current = table.elements.len() as u64;
            let desired = current.checked_add(delta)?;
            limiter
                .table_growing(current, desired, table.ty.maximum)
                .ok()?;
        }
        self.tables[t].grow(delta, init)
    }

    /// Whether the limiter lets a memory of `bytes` be created.
    pub(crate) fn admit_memory(
        &mut self,
        bytes: u64,
        maximum: Option<u64>,
    ) -> Result<(), crate::Error> {
        match &mut self.limiter {
            Some(l) => l
                .memory_growing(0, bytes, maximum)
                .map_err(crate::Error::Resource),
            None => Ok(()),
        }
    }

    /// Whether the limiter lets a table of `elements` be created.
    pub(crate) fn admit_table(
        &mut self,
        elements: u64,
        maximum: Option<u64>,
    ) -> Result<(), crate::Error> {
        match &mut self.limiter {
            Some(l) => l
                .table_growing(0, elements, maximum)
                .map_err(crate::Error::Resource),
            None => Ok(()),
        }
    }

    /// Whether `n` more instances, memories or tables fit the limiter.
    pub(crate) fn admit_instances(&self, n: usize) -> Result<(), crate::Error> {
        let limit = self.limiter.as_ref().map_or(usize::MAX, |l| l.instances());
        crate::limits::check_count("instances", self.instances.len(), n, limit)
    }

    pub(crate) fn admit_memories(&self, n: usize) -> Result<(), crate::Error> {
        let limit = self.limiter.as_ref().map_or(usize::MAX, |l| l.memories());
        crate::limits::check_count("memories", self.memories.len(), n, limit)
    }

    pub(crate) fn admit_tables(&self, n: usize) -> Result<(), crate::Error> {
        let limit = self.limiter.as_ref().map_or(usize::MAX, |l| l.tables());
        crate::limits::check_count("tables", self.tables.len(), n, limit)
    }
}

impl Drop for StoreInner {
    fn drop(&mut self) {
        // Before any vmctx is freed (fields drop after this body).
        self.interrupts.forget_all();
    }
}

/// Owns everything instantiated in it.
pub struct Store {
    pub(crate) inner: Box<StoreInner>,
}

// SAFETY: the raw pointers inside point at data the store owns; a store moves
// between threads whole, and is never shared (it is not `Sync`).
unsafe impl Send for StoreInner {}

impl Store {
    pub fn new(engine: &Engine) -> Store {
        Store {
            inner: Box::new(StoreInner {
                id: NEXT_STORE_ID.fetch_add(1, Ordering::Relaxed),
                engine: engine.clone(),
                instances: Vec::new(),
                memories: Vec::new(),
                tables: Vec::new(),
                globals: Vec::new(),
                funcs: Vec::new(),
                tags: Vec::new(),
                tag_types: Vec::new(),
                tag_traced: Vec::new(),
                exns: Vec::new(),
                stack_limit: (0, 0),
                func_by_record: HashMap::new(),
                interrupts: Arc::default(),
                limiter: None,
                gc: crate::gc::GcHeap::new(engine.config().gc_heap_limit),
            }),
        }
    }

    pub fn engine(&self) -> &Engine {
        &self.inner.engine
    }

    /// Collects the GC heap now: every object no global, table, element
    /// segment, exception or host `AnyRef` reaches (directly or through
    /// other objects) is freed. It runs with no wasm frame of the store
    /// live (a host function called from wasm has a `Caller`, not the
    /// store), which is what lets it find every reference.
    pub fn gc(&mut self) {
        let inner = &*self.inner;
        let mut roots: Vec<usize> = Vec::new();
        for g in &inner.globals {
            if crate::gc::traced_canon(g.canon) {
                // SAFETY: the global's live 16-byte storage.
                roots.push(unsafe { g.ptr.cast::<usize>().read_unaligned() });
            }
        }
        for t in &inner.tables {
            if crate::gc::traced_canon(t.canon) {
                roots.extend_from_slice(&t.elements);
            }
        }
        for inst in &inner.instances {
            let env = inst.module.env();
            for (seg, words) in env.elements.iter().zip(&inst.elements) {
                let rung_decoder::ElementItemsOwned::Expressions(ty, _) = &seg.items else {
                    continue;
                };
                if let Some(words) = words
                    && crate::gc::traced_canon(inst.module.canon(wasmparser::ValType::Ref(*ty)))
                {
                    roots.extend_from_slice(words);
                }
            }
        }
        for exn in &inner.exns {
            let tag = exn[0] as u32 as usize;
            if let Some(traced) = inner.tag_traced.get(tag) {
                for (i, &t) in traced.iter().enumerate() {
                    if t {
                        roots.push(exn.get(1 + i).map_or(0, |c| *c as usize));
                    }
                }
            }
        }
        inner.gc.collect(roots);
    }

    /// Bytes the GC heap holds (blocks and large objects, free blocks
    /// kept for reuse included).
    pub fn gc_heap_bytes(&self) -> usize {
        self.inner.gc.bytes()
    }

    /// How many collections ran in this store.
    pub fn gc_collections(&self) -> usize {
        self.inner.gc.collections()
    }

    /// Limits what this store may allocate from now on (see
    /// [`ResourceLimiter`](crate::ResourceLimiter) and
    /// [`StoreLimits`](crate::StoreLimits)).
    pub fn limiter(&mut self, limiter: impl crate::ResourceLimiter + 'static) {
        self.inner.limiter = Some(Box::new(limiter));
    }

    /// A handle that stops the wasm code running in this store, from any
    /// thread (see [`InterruptHandle`](crate::InterruptHandle)); `None`
    /// unless the engine's code checks for interrupts
    /// ([`Config::interruptible`](crate::Config::interruptible)).
    pub fn interrupt_handle(&self) -> Option<crate::InterruptHandle> {
        self.inner
            .engine
            .config()
            .interruptible
            .then(|| crate::InterruptHandle {
                interrupts: self.inner.interrupts.clone(),
            })
    }
}

impl StoreInner {
    /// Panics if `what` handle from store `store` is used with this
    /// one: a programming error of the embedder, which would otherwise
    /// reach another store's entity.
    pub fn owns(&self, store: u64, what: &str) {
        assert!(
            store == self.id,
            "{what} handle was used with another store"
        );
    }

    pub fn check(&self, store: u64) -> Result<(), crate::Error> {
        if store == self.id {
            Ok(())
        } else {
            Err(crate::Error::Link("handle used with another store".into()))
        }
    }

    pub fn func_from_record(&self, record: usize) -> Option<Func> {
        if record == 0 {
            return None;
        }
        self.func_by_record.get(&record).map(|&index| Func {
            store: self.id,
            index,
        })
    }

    pub fn record_of(&self, func: Option<Func>) -> usize {
        match func {
            Some(f) => self.funcs[f.index as usize].record as usize,
            None => 0,
        }
    }

    /// The word that represents a reference value of type `ty` in tables,
    /// globals and calls: a host externref in the `extern` or `any`
    /// hierarchy is tagged (`GcHeap::extern_word`); in the `exn`
    /// hierarchy it is the exception object's address.
    pub fn ref_word(&self, val: &Val, ty: RefType) -> usize {
        use crate::values::{is_any_ref, is_extern_ref};
        match val {
            Val::FuncRef(f) => self.record_of(*f),
            Val::ExternRef(None) | Val::AnyRef(None) => 0,
            Val::ExternRef(Some(e)) if is_extern_ref(ty) || is_any_ref(ty) => {
                self.gc.extern_word(*e)
            }
            Val::ExternRef(Some(e)) => *e as usize,
            Val::AnyRef(Some(a)) => {
                self.owns(a.store, "an AnyRef");
                self.gc.root_word(a.root)
            }
            _ => 0,
        }
    }

    /// The reference value a word stands for, for a table or global of type `ty`.
    pub fn word_ref(&self, word: usize, ty: RefType) -> Val {
        use crate::values::{is_any_ref, is_extern_ref};
        if is_extern_ref(ty) {
            match self.gc.extern_value(word) {
                Some(v) => Val::ExternRef(Some(v)),
                None if word == 0 => Val::ExternRef(None),
                None => self.any_ref(word),
            }
        } else if is_any_ref(ty) {
            self.any_ref(word)
        } else if ty.type_index().is_some() {
            // A concrete type: a function's record, or a GC object.
            match self.func_from_record(word) {
                Some(f) => Val::FuncRef(Some(f)),
                None if word == 0 => Val::FuncRef(None),
                None => self.any_ref(word),
            }
        } else if crate::values::is_func_ref(ty) {
            Val::FuncRef(self.func_from_record(word))
        } else {
            Val::ExternRef((word != 0).then_some(word as u64))
        }
    }

    /// A GC word as a host value (rooted).
    pub fn any_ref(&self, word: usize) -> Val {
        if word == 0 {
            return Val::AnyRef(None);
        }
        Val::AnyRef(Some(crate::values::AnyRef {
            store: self.id,
            root: self.gc.root(word),
        }))
    }

    /// What a (non-null) GC word is.
    pub fn any_kind(&self, word: usize) -> crate::values::AnyRefKind {
        use crate::values::AnyRefKind;
        if let Some(v) = crate::gc::i31_value(word) {
            return AnyRefKind::I31(v);
        }
        if let Some(v) = self.gc.extern_value(word) {
            return AnyRefKind::Extern(v);
        }
        // SAFETY: a word that is neither i31 nor host is an object.
        let bits = unsafe { *((word + rung_tiering::gc::GC_HEADER_BITS as usize) as *const u32) };
        if bits & rung_tiering::gc::GC_BIT_ARRAY != 0 {
            // SAFETY: as above, an array.
            let len = unsafe { *((word + rung_tiering::gc::GC_ARRAY_LEN as usize) as *const u32) };
            AnyRefKind::Array(len)
        } else {
            AnyRefKind::Struct
        }
    }
}

/// What a host function sees of its caller.
pub struct Caller<'a> {
    pub(crate) store: &'a mut StoreInner,
    pub(crate) instance: Option<u32>,
}

impl Tag {
    /// A host tag of type `ty` (its parameters are the payload).
    pub fn new(store: &mut Store, ty: wasmparser::FuncType) -> Tag {
        let store = &mut *store.inner;
        let index = store.tags.len() as u32;
        store.tags.push(store.engine.type_id(&ty));
        let host = crate::host_types();
        store.tag_traced.push(
            ty.params()
                .iter()
                .map(|p| crate::gc::traced_canon(host.canon(*p)))
                .collect(),
        );
        store.tag_types.push(ty);
        Tag {
            store: store.id,
            index,
        }
    }

    /// The tag's type.
    pub fn ty<'a>(&self, store: &'a Store) -> &'a wasmparser::FuncType {
        store.inner.owns(self.store, "a Tag");
        &store.inner.tag_types[self.index as usize]
    }
}

impl Caller<'_> {
    /// A wasm exception of `tag` carrying `payload`, for the host function
    /// to return as its error: it is thrown at the call into the host, so
    /// a wasm handler around that call catches it (and if none does, the
    /// host sees it as `TrapReason::Exception`). A payload that does not
    /// match the tag's type gives a trap saying so instead.
    pub fn exception(&mut self, tag: Tag, payload: &[Val]) -> Trap {
        if tag.store != self.store.id {
            return Trap::host("exception: the tag belongs to another store");
        }
        match crate::exceptions::new_exception(self.store, tag.index, payload) {
            Ok(exn) => Trap::new(crate::traps::TrapReason::Exception {
                tag: tag.index,
                exn,
            }),
            Err(message) => Trap::host(message),
        }
    }

    /// An export of the calling instance (e.g. its `memory`).
    pub fn get_export(&self, name: &str) -> Option<Extern> {
        let i = self.instance?;
        self.store.instances[i as usize].exports.get(name).copied()
    }

    /// Calls a function of the store from inside a host function; a trap in
    /// it returns here as `Err` and the host function may go on.
    pub fn call(&mut self, func: Func, args: &[Val]) -> Result<Vec<Val>, Trap> {
        self.store
            .check(func.store)
            .map_err(|e| Trap::host(e.to_string()))?;
        crate::func::call_raw(self.store, func, args)
    }

    /// The calling instance's memory 0, exported or not (a wasi-threads
    /// program imports its memory and may not export it).
    pub fn default_memory(&self) -> Option<Memory> {
        let i = self.instance?;
        let index = *self.store.instances[i as usize].memories.first()?;
        Some(Memory {
            store: self.store.id,
            index,
        })
    }

    /// The bytes of a memory.
    pub fn memory_data_mut(&mut self, memory: Memory) -> &mut [u8] {
        self.store.memories[memory.index as usize].data_mut()
    }
}
