//! rung-runtime: the engine, modules, stores and instances; linear memory,
//! tables and globals; traps; code memory; calls across the host boundary.
//!
//! ```text
//! Engine (tiers, type registry, trampolines, libcall table)
//!   └─ Module::new(bytes): decode + validate + compile → code table
//!        └─ Linker::instantiate(store, module) → Instance (a vmctx in a Store)
//!             └─ Func::call(store, args) → catch_traps → trampoline → wasm
//! ```
//!
//! Code map: `engine.rs` (Engine, Config), `module.rs` (Module: compile,
//! code table), `store.rs` (Store and handles), `instance.rs`
//! (instantiation, constant expressions), `linker.rs`, `func.rs` (host ↔
//! wasm calls), `libcalls.rs`, `memory.rs` (linear memory), `code_memory.rs`
//! (W^X code, trap-site registry), `traps.rs` (setjmp/longjmp to the host
//! entry), `signals.rs` (SIGILL → trap).

mod backtrace;
mod code_memory;
mod engine;
mod exceptions;
mod func;
mod gc;
mod instance;
mod interrupt;
mod lazy;
mod libcalls;
mod limits;
mod linker;
mod memory;
mod module;
mod profiling;
mod scheduler;
mod signals;
mod store;
mod streaming;
mod tierup;
mod traps;
mod typed;
mod types;
mod values;
pub mod wasi;

pub use backtrace::{Frame, MAX_FRAMES, WasmBacktrace, demangle};
pub use code_memory::code_bytes_mapped;
pub use engine::{Config, Engine, StartTier, TierChoice, TierCompileStats, TierUpStats};
pub use gc::DEFAULT_GC_HEAP_LIMIT;
pub use interrupt::InterruptHandle;
pub use limits::{ResourceLimiter, StoreLimits, StoreLimitsBuilder};
pub use linker::Linker;
pub use memory::{SharedMemory, WASM_PAGE};
pub use module::Module;
pub use profiling::{
    JIT_CODE_LOAD, JITDUMP_MAGIC, JITDUMP_VERSION, JitDumpAgent, PerfMapAgent, ProfilingAgent,
    PublishedCode,
};
pub use rung_tiering as tiering;
pub use store::{Caller, Extern, Func, Global, HostCallback, Instance, Memory, Store, Table, Tag};
pub use streaming::{StreamEvent, StreamProgress, StreamingCompiler};
pub use traps::{Trap, TrapReason};
pub use typed::{TypedFunc, WasmParams, WasmResults, WasmTy};
pub use values::{AnyRef, AnyRefKind, Val};
pub use wasmparser::{FuncType, ValType};

use rung_tiering::CompileError;
use rung_validator::ValidateError;

/// Why a module could not be compiled or instantiated.
#[derive(Debug, Clone, thiserror::Error)]
pub enum Error {
    /// The bytes are malformed or the module is invalid.
    #[error("{0}")]
    Invalid(ValidateError),
    /// A tier could not compile a function.
    #[error("compiling {}: {error}", func.map_or("the module".to_string(), |f| format!("function {f}")))]
    Compile {
        func: Option<u32>,
        error: CompileError,
    },
    /// A feature no tier supports yet.
    #[error("unsupported: {0}")]
    Unsupported(String),
    /// Imports could not be resolved or do not match.
    #[error("{0}")]
    Link(String),
    /// Instantiation trapped (a segment out of bounds, or the start function).
    #[error("{0}")]
    Trap(Trap),
    /// The host could not provide memory or another resource.
    #[error("{0}")]
    Resource(String),
}

impl Error {
    /// Whether the error is "a tier does not support this yet".
    pub fn is_unsupported(&self) -> bool {
        match self {
            Error::Unsupported(_) => true,
            Error::Compile { error, .. } => error.is_unsupported(),
            _ => false,
        }
    }
}

/// Host-made globals and tables have no module: only abstract reference
/// types can be named.
fn host_types() -> types::ModuleTypes<'static> {
    types::ModuleTypes {
        types: &[],
        ids: &[],
    }
}

impl Memory {
    /// The memory's bytes.
    ///
    /// # Panics
    ///
    /// If the handle belongs to another store (as every method here).
    pub fn data<'a>(&self, store: &'a Store) -> &'a [u8] {
        store.inner.owns(self.store, "a Memory");
        store.inner.memories[self.index as usize].data()
    }

    pub fn data_mut<'a>(&self, store: &'a mut Store) -> &'a mut [u8] {
        store.inner.owns(self.store, "a Memory");
        store.inner.memories[self.index as usize].data_mut()
    }

    /// Grows by `delta` pages; returns the old size, or `None` if it cannot
    /// (past its maximum, or refused by the store's resource limiter).
    pub fn grow(&self, store: &mut Store, delta: u64) -> Option<u64> {
        store.inner.owns(self.store, "a Memory");
        store.inner.grow_memory(self.index as usize, delta)
    }

    /// The size in pages.
    pub fn size(&self, store: &Store) -> u64 {
        store.inner.owns(self.store, "a Memory");
        store.inner.memories[self.index as usize].pages()
    }

    /// The shared memory this is, if it is shared: clone it into other
    /// stores and threads with [`SharedMemory::attach`].
    pub fn shared(&self, store: &Store) -> Option<SharedMemory> {
        store.inner.owns(self.store, "a Memory");
        store.inner.memories[self.index as usize].shared().cloned()
    }

    /// A 32-bit host memory of `initial` pages, growing to at most `maximum`.
    pub fn new(store: &mut Store, initial: u64, maximum: Option<u64>) -> Result<Memory, Error> {
        Memory::with_index_type(store, initial, maximum, false)
    }

    /// A host memory of `initial` pages, growing to at most `maximum`, with
    /// 64-bit addresses if `memory64` (at most
    /// [`MEMORY64_MAX_BYTES`](rung_tiering::MEMORY64_MAX_BYTES) then).
    pub fn with_index_type(
        store: &mut Store,
        initial: u64,
        maximum: Option<u64>,
        memory64: bool,
    ) -> Result<Memory, Error> {
        store.inner.admit_memories(1)?;
        store.inner.admit_memory(
            initial.saturating_mul(WASM_PAGE),
            maximum.map(|m| m.saturating_mul(WASM_PAGE)),
        )?;
        let m = memory::LinearMemory::new(initial, maximum, memory64).map_err(Error::Resource)?;
        let index = store.inner.memories.len() as u32;
        store.inner.memories.push(m);
        Ok(Memory {
            store: store.inner.id,
            index,
        })
    }
}

impl Global {
    /// A host global.
    pub fn new(store: &mut Store, ty: wasmparser::GlobalType, value: Val) -> Result<Global, Error> {
        if !values::val_matches(&value, ty.content_type) {
            return Err(Error::Link("global value does not match its type".into()));
        }
        let mut own = Box::new(0u128);
        let ptr: *mut u8 = (&mut *own as *mut u128).cast();
        // SAFETY: `ptr` is the 16 bytes of `own`.
        unsafe { instance::write_val(&store.inner, ptr, &value, ty.content_type) };
        let index = store.inner.globals.len() as u32;
        let canon = host_types().canon(ty.content_type);
        store.inner.globals.push(store::GlobalData {
            ty,
            canon,
            ptr,
            _own: Some(own),
        });
        Ok(Global {
            store: store.inner.id,
            index,
        })
    }

    /// Sets a mutable global.
    pub fn set(&self, store: &mut Store, value: Val) -> Result<(), Error> {
        store.inner.check(self.store)?;
        let g = &store.inner.globals[self.index as usize];
        if !g.ty.mutable || !values::val_matches(&value, g.ty.content_type) {
            return Err(Error::Link(
                "the global is immutable or of another type".into(),
            ));
        }
        // SAFETY: the global's live 16-byte storage.
        unsafe { instance::write_val(&store.inner, g.ptr, &value, g.ty.content_type) };
        Ok(())
    }

    /// The global's value.
    ///
    /// # Panics
    ///
    /// If the handle belongs to another store.
    pub fn get(&self, store: &Store) -> Val {
        store.inner.owns(self.store, "a Global");
        let g = &store.inner.globals[self.index as usize];
        // SAFETY: the global's live 16-byte storage.
        unsafe { instance::read_val(&store.inner, g.ptr, g.ty.content_type) }
    }
}

impl Table {
    /// The number of elements.
    ///
    /// # Panics
    ///
    /// If the handle belongs to another store (as `get`).
    pub fn size(&self, store: &Store) -> u32 {
        store.inner.owns(self.store, "a Table");
        store.inner.tables[self.index as usize].elements.len() as u32
    }

    /// Element `index`, if in bounds.
    pub fn get(&self, store: &Store, index: u32) -> Option<Val> {
        store.inner.owns(self.store, "a Table");
        let t = &store.inner.tables[self.index as usize];
        let word = *t.elements.get(index as usize)?;
        Some(store.inner.word_ref(word, t.ty.element_type))
    }

    /// Sets element `index` to a reference of the table's type.
    pub fn set(&self, store: &mut Store, index: u32, value: Val) -> Result<(), Error> {
        store.inner.check(self.store)?;
        let ty = store.inner.tables[self.index as usize].ty.element_type;
        let word = store.inner.ref_word(&value, ty);
        let t = &mut store.inner.tables[self.index as usize];
        if !values::val_matches(&value, ValType::Ref(t.ty.element_type)) {
            return Err(Error::Link("value does not match the table's type".into()));
        }
        let slot = t
            .elements
            .get_mut(index as usize)
            .ok_or_else(|| Error::Link("table index out of bounds".into()))?;
        *slot = word;
        Ok(())
    }

    /// A host table of `initial` null elements.
    pub fn new(store: &mut Store, ty: wasmparser::TableType) -> Result<Table, Error> {
        store.inner.admit_tables(1)?;
        store.inner.admit_table(ty.initial, ty.maximum)?;
        let initial = usize::try_from(ty.initial)
            .ok()
            .filter(|&n| n <= 10_000_000)
            .ok_or_else(|| Error::Resource("table too large".into()))?;
        let mut own = Box::new(store::TableDef {
            base: std::ptr::null_mut(),
            len: 0,
        });
        let mut data = store::TableData {
            ty,
            canon: host_types().canon(ValType::Ref(ty.element_type)),
            elements: vec![0; initial],
            def: &mut *own,
            _own_def: Some(own),
        };
        data.sync_def();
        let index = store.inner.tables.len() as u32;
        store.inner.tables.push(data);
        Ok(Table {
            store: store.inner.id,
            index,
        })
    }
}
