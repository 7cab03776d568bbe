//! `Engine` and `Config`: what is shared by every module and store — the
//! tiers, the canonical function-type registry, the trampoline cache and
//! the libcall table.
//!
//! **Invariant:** canonical type ids are engine-wide: two function types get
//! the same id iff they are structurally equal, so `call_indirect`'s check is
//! one integer compare across modules and instances.

use std::collections::HashMap;
use std::sync::Arc;

use parking_lot::Mutex;
use rung_baseline::BaselineTier;
use rung_optimizer::OptimizingTier;
use rung_tiering::{CallCountPolicy, CompileError, CompiledFunction, TierUpPolicy};
use std::sync::atomic::{AtomicUsize, Ordering};
use wasmparser::{FuncType, SubType};

use crate::code_memory::CodeMemory;
use crate::libcalls;
use crate::types::TypeRegistry;

/// Which tier compiles a module's functions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TierChoice {
    /// The optimizing tier (Cranelift) for every function.
    #[default]
    Optimized,
    /// The single-pass baseline tier for every function it supports; the
    /// optimizing tier for the rest (counted in `Engine::fallbacks`).
    Baseline,
    /// Even-numbered functions baseline, odd-numbered optimized: proves that
    /// the tiers call each other with one ABI.
    Mixed,
    /// Baseline first; a function the tier-up policy finds hot is compiled
    /// again by the optimizing tier on a background thread and its slot is
    /// patched when the code is ready.
    Tiered,
}

/// How an engine compiles and runs code.
#[derive(Clone)]
pub struct Config {
    pub tier: TierChoice,
    /// When a baseline function is hot (`TierChoice::Tiered`).
    pub tier_up_policy: Arc<dyn TierUpPolicy>,
    /// Compile hot functions on background threads (the default), or on the
    /// thread that found them hot, before it goes on (deterministic: tests).
    pub tier_up_in_background: bool,
    /// Background threads that optimize hot functions.
    pub tier_up_threads: usize,
    /// Bytes of native stack wasm may use below the host's entry point before
    /// a call traps with "call stack exhausted".
    pub max_wasm_stack: usize,
    /// Threads that compile a module's functions (1 = the calling thread).
    pub compile_threads: usize,
    /// Compile each function on its first call instead of up front (every
    /// function is still validated up front).
    pub lazy: bool,
    /// Compile code that checks for interrupts at every function entry and
    /// loop back-edge, so that `Store::interrupt_handle` can stop it (off by
    /// default: the checks cost tight loops 6–21%).
    pub interruptible: bool,
}

impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Config")
            .field("tier", &self.tier)
            .field("tier_up_in_background", &self.tier_up_in_background)
            .field("tier_up_threads", &self.tier_up_threads)
            .field("max_wasm_stack", &self.max_wasm_stack)
            .field("compile_threads", &self.compile_threads)
            .field("lazy", &self.lazy)
            .field("interruptible", &self.interruptible)
            .finish_non_exhaustive()
    }
}

impl Default for Config {
    fn default() -> Self {
        Config {
            tier: TierChoice::Optimized,
            tier_up_policy: Arc::new(CallCountPolicy::default()),
            tier_up_in_background: true,
            tier_up_threads: 1,
            max_wasm_stack: 1 << 20,
            compile_threads: std::thread::available_parallelism().map_or(1, |n| n.get()),
            lazy: false,
            interruptible: false,
        }
    }
}

/// A trampoline published in code memory.
pub(crate) struct Trampoline {
    _code: Arc<CodeMemory>,
    pub ptr: *const u8,
}

// SAFETY: the code is immutable and kept alive by `_code`.
unsafe impl Send for Trampoline {}
// SAFETY: see `Send`.
unsafe impl Sync for Trampoline {}

pub(crate) struct EngineInner {
    pub config: Config,
    pub optimizer: Arc<OptimizingTier>,
    pub baseline: BaselineTier,
    /// Functions the baseline tier handed to the optimizer (`Unsupported`).
    pub fallbacks: AtomicUsize,
    /// Functions optimized and patched in by tier-up.
    pub tier_ups: Arc<AtomicUsize>,
    /// The background tier-up workers, started on first use.
    pub tier_up_queue: std::sync::OnceLock<crate::tierup::Queue>,
    types: Mutex<TypeRegistry>,
    host_to_wasm: Mutex<HashMap<FuncType, Arc<Trampoline>>>,
    wasm_to_host: Mutex<HashMap<FuncType, Arc<Trampoline>>>,
    /// The table every vmctx's `libcalls` field points to.
    pub libcalls: Box<[usize]>,
}

/// The compilation and execution environment shared by modules and stores.
#[derive(Clone)]
pub struct Engine {
    pub(crate) inner: Arc<EngineInner>,
}

impl Engine {
    pub fn new(config: Config) -> Result<Engine, String> {
        crate::signals::install();
        let optimizer = OptimizingTier::new()
            .map_err(|e| e.to_string())?
            .with_interrupt_checks(config.interruptible);
        let baseline = BaselineTier::new().with_interrupt_checks(config.interruptible);
        Ok(Engine {
            inner: Arc::new(EngineInner {
                config,
                optimizer: Arc::new(optimizer),
                baseline,
                fallbacks: AtomicUsize::new(0),
                tier_ups: Arc::new(AtomicUsize::new(0)),
                tier_up_queue: std::sync::OnceLock::new(),
                types: Mutex::new(TypeRegistry::default()),
                host_to_wasm: Mutex::new(HashMap::new()),
                wasm_to_host: Mutex::new(HashMap::new()),
                libcalls: libcalls::table(),
            }),
        })
    }

    pub fn config(&self) -> &Config {
        &self.inner.config
    }

    /// How many functions the baseline tier could not compile so far (they
    /// were compiled by the optimizing tier instead).
    pub fn fallbacks(&self) -> usize {
        self.inner.fallbacks.load(Ordering::Relaxed)
    }

    /// How many functions tier-up has optimized and patched in so far.
    pub fn tier_ups(&self) -> usize {
        self.inner.tier_ups.load(Ordering::Relaxed)
    }

    /// Whether function `index` starts on the baseline tier.
    pub(crate) fn uses_baseline(&self, index: u32) -> bool {
        match self.inner.config.tier {
            TierChoice::Optimized => false,
            TierChoice::Baseline | TierChoice::Tiered => true,
            TierChoice::Mixed => index.is_multiple_of(2),
        }
    }

    /// The canonical id of a function type standing alone (a host function's).
    pub(crate) fn type_id(&self, ty: &FuncType) -> u32 {
        self.inner.types.lock().canonicalize_func(ty)
    }

    /// The canonical ids of a module's types.
    pub(crate) fn module_type_ids(&self, types: &[SubType], rec_group_starts: &[u32]) -> Vec<u32> {
        self.inner
            .types
            .lock()
            .canonicalize_module(types, rec_group_starts)
    }

    pub(crate) fn host_to_wasm(&self, ty: &FuncType) -> Result<Arc<Trampoline>, CompileError> {
        self.trampoline(ty, &self.inner.host_to_wasm, |t| {
            self.inner.optimizer.host_to_wasm(t)
        })
    }

    pub(crate) fn wasm_to_host(&self, ty: &FuncType) -> Result<Arc<Trampoline>, CompileError> {
        self.trampoline(ty, &self.inner.wasm_to_host, |t| {
            self.inner.optimizer.wasm_to_host(t)
        })
    }

    fn trampoline(
        &self,
        ty: &FuncType,
        cache: &Mutex<HashMap<FuncType, Arc<Trampoline>>>,
        compile: impl FnOnce(&FuncType) -> Result<CompiledFunction, CompileError>,
    ) -> Result<Arc<Trampoline>, CompileError> {
        if let Some(t) = cache.lock().get(ty) {
            return Ok(t.clone());
        }
        let compiled = compile(ty)?;
        let code = CodeMemory::publish([(u32::MAX, &compiled)])
            .map_err(|e| CompileError::Internal(format!("cannot map code: {e}")))?;
        let ptr = code.function_ptr(0);
        let t = Arc::new(Trampoline { _code: code, ptr });
        cache.lock().insert(ty.clone(), t.clone());
        Ok(t)
    }
}
