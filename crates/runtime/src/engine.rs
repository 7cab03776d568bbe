//! `Engine` and `Config`: what is shared by every module and store — the
//! tier ladder, the canonical function-type registry, the trampoline cache
//! and the libcall table.
//!
//! **Invariant:** the engine reaches its tiers and trampolines only through
//! `dyn Tier` and `dyn Trampolines`; the two concrete tiers are named only
//! to build the default ladder.
//!
//! **Invariant:** canonical type ids are engine-wide: two function types get
//! the same id iff they are structurally equal, so `call_indirect`'s check is
//! one integer compare across modules and instances.

use std::collections::HashMap;
use std::sync::Arc;

use parking_lot::Mutex;
use rung_baseline::BaselineTier;
use rung_optimizer::OptimizingTier;
use rung_tiering::{
    CallCountPolicy, CompileError, CompileOptions, CompiledFunction, Tier, TierUpPolicy,
    Trampolines,
};
use std::sync::atomic::{AtomicUsize, Ordering};
use wasmparser::{FuncType, SubType};

use crate::code_memory::CodeMemory;
use crate::libcalls;
use crate::scheduler::Scheduler;
use crate::types::TypeRegistry;

/// Where on the tier ladder each function starts (`Config::start`).
#[derive(Clone, Default)]
pub enum StartTier {
    /// Level 0, the cheapest tier.
    Lowest,
    /// The top of the ladder.
    #[default]
    Highest,
    /// This level (the top if the ladder is shorter).
    Level(usize),
    /// Even-numbered functions at the lowest level, odd-numbered at the
    /// highest: proves that the tiers call each other with one ABI.
    Alternate,
    /// Any choice by function index (absolute); a level past the top is the
    /// top.
    Custom(Arc<dyn Fn(u32) -> usize + Send + Sync>),
}

impl std::fmt::Debug for StartTier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StartTier::Lowest => f.write_str("Lowest"),
            StartTier::Highest => f.write_str("Highest"),
            StartTier::Level(n) => write!(f, "Level({n})"),
            StartTier::Alternate => f.write_str("Alternate"),
            StartTier::Custom(_) => f.write_str("Custom(..)"),
        }
    }
}

/// The four classic configurations of the default two-tier ladder
/// (`[baseline, optimizer]`), as presets of `Config::start` and
/// `Config::tier_up`: `Config { lazy: true, ..TierChoice::Tiered.config() }`.
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

impl TierChoice {
    /// Where functions start and whether they climb, for this preset.
    pub fn ladder(self) -> (StartTier, bool) {
        match self {
            TierChoice::Optimized => (StartTier::Highest, false),
            TierChoice::Baseline => (StartTier::Lowest, false),
            TierChoice::Mixed => (StartTier::Alternate, false),
            TierChoice::Tiered => (StartTier::Lowest, true),
        }
    }

    /// The default configuration with this preset's ladder settings.
    pub fn config(self) -> Config {
        let (start, tier_up) = self.ladder();
        Config {
            start,
            tier_up,
            ..Config::default()
        }
    }
}

/// How an engine compiles and runs code.
#[derive(Clone)]
pub struct Config {
    /// The tier ladder, cheapest first: a tier's index is its level. Empty
    /// (the default) means `[BaselineTier, OptimizingTier]`. A function a
    /// tier cannot compile (`CompileError::Unsupported`) goes to the next
    /// level up.
    pub tiers: Vec<Arc<dyn Tier>>,
    /// Where each function starts on the ladder.
    pub start: StartTier,
    /// Whether hot functions climb the ladder: code below the top counts a
    /// tier-up budget, and `tier_up_policy` decides when and how far a
    /// function is promoted.
    pub tier_up: bool,
    /// When a function is hot enough to climb, and to which level.
    pub tier_up_policy: Arc<dyn TierUpPolicy>,
    /// On-stack replacement (with `tier_up`): a frame looping in code below
    /// the top moves into an OSR entry of the top tier at its loop's
    /// header once its function is hot (see ARCHITECTURE.md).
    pub osr: bool,
    /// Compile hot functions on background threads (the default), or on the
    /// thread that found them hot, before it goes on (deterministic: tests).
    pub tier_up_in_background: bool,
    /// How many hot functions are compiled at once, in the background.
    pub tier_up_threads: usize,
    /// The host ↔ wasm trampolines; `None` (the default) means the
    /// optimizing tier's.
    pub trampolines: Option<Arc<dyn Trampolines>>,
    /// Bytes of native stack wasm may use below the host's entry point before
    /// a call traps with "call stack exhausted".
    pub max_wasm_stack: usize,
    /// Threads that compile a module's functions (1 = the calling thread
    /// alone). The engine's pool of compile threads has this many, or
    /// `tier_up_threads + 1` if that is more (one is always left for a
    /// lazy compile someone waits for).
    pub compile_threads: usize,
    /// Compile each function on its first call instead of up front (every
    /// function is still validated up front).
    pub lazy: bool,
    /// Compile code that checks for interrupts at every function entry and
    /// loop back-edge, so that `Store::interrupt_handle` can stop it (off by
    /// default: the checks cost tight loops 6–21%).
    pub interruptible: bool,
    /// The WebAssembly features modules are decoded and validated with:
    /// `rung_validator::FEATURES` (3.0 and the legacy exception
    /// instructions) by default. A subset makes more modules invalid (the
    /// spec runner uses this for proposal snapshots older than
    /// multi-memory); a feature outside the default compiles nowhere.
    pub features: wasmparser::WasmFeatures,
    /// Told where every function's code is published (a profiler's JIT
    /// interface: `PerfMapAgent`, `JitDumpAgent`); `None`, the default,
    /// costs nothing.
    pub profiler: Option<Arc<dyn crate::profiling::ProfilingAgent>>,
    /// The most bytes each store's GC heap may hold (blocks of objects);
    /// an allocation beyond it traps with "GC heap exhausted".
    pub gc_heap_limit: usize,
}

impl Config {
    /// This configuration with `choice`'s start and tier-up settings.
    pub fn with_choice(self, choice: TierChoice) -> Config {
        let (start, tier_up) = choice.ladder();
        Config {
            start,
            tier_up,
            ..self
        }
    }
}

impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let tiers: Vec<&str> = self.tiers.iter().map(|t| t.name()).collect();
        f.debug_struct("Config")
            .field("tiers", &tiers)
            .field("start", &self.start)
            .field("tier_up", &self.tier_up)
            .field("osr", &self.osr)
            .field("tier_up_in_background", &self.tier_up_in_background)
            .field("tier_up_threads", &self.tier_up_threads)
            .field("max_wasm_stack", &self.max_wasm_stack)
            .field("compile_threads", &self.compile_threads)
            .field("lazy", &self.lazy)
            .field("interruptible", &self.interruptible)
            .field("features", &self.features)
            .field("profiler", &self.profiler.is_some())
            .field("gc_heap_limit", &self.gc_heap_limit)
            .finish_non_exhaustive()
    }
}

impl Default for Config {
    fn default() -> Self {
        Config {
            tiers: Vec::new(),
            start: StartTier::Highest,
            tier_up: false,
            tier_up_policy: Arc::new(CallCountPolicy::default()),
            osr: true,
            tier_up_in_background: true,
            tier_up_threads: 1,
            trampolines: None,
            max_wasm_stack: 1 << 20,
            compile_threads: std::thread::available_parallelism().map_or(1, |n| n.get()),
            lazy: false,
            interruptible: false,
            features: rung_validator::FEATURES,
            profiler: None,
            gc_heap_limit: crate::gc::DEFAULT_GC_HEAP_LIMIT,
        }
    }
}

/// What tier-up has done so far (`Engine::tier_up_stats`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TierUpStats {
    /// Functions compiled further up the ladder and patched in.
    pub promoted: usize,
    /// Jobs waiting for their turn.
    pub queued: usize,
    /// Jobs being compiled (or about to be).
    pub running: usize,
    /// Jobs dropped unrun because their module had been dropped.
    pub discarded: usize,
    /// Requests refused because the queue was full (the function's budget
    /// started over, so it asks again later).
    pub refused: usize,
    /// OSR entries compiled (one per loop that a frame outlived its
    /// function's promotion in).
    pub osr_entries: usize,
    /// Frames that left their loop for an OSR entry.
    pub osr_switches: usize,
    /// Promotions and OSR entries whose compile failed with an error other
    /// than `Unsupported` (a tier's bug: the code stays where it is, and a
    /// test that sees this above 0 fails).
    pub failed: usize,
    /// The median time a started job waited from its request to its start.
    pub queue_wait_median: std::time::Duration,
    /// The longest such wait.
    pub queue_wait_max: std::time::Duration,
}

/// What one tier of the ladder compiled so far
/// (`Engine::compile_stats`): promotions, lazy and eager compiles alike
/// (OSR entries are counted in `TierUpStats::osr_entries` instead).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TierCompileStats {
    /// The tier's name.
    pub tier: &'static str,
    /// Functions it compiled.
    pub functions: usize,
    /// Wasm bytes of their bodies.
    pub wasm_bytes: u64,
    /// Machine code it produced.
    pub code_bytes: u64,
    /// Time inside the tier's compile, summed over the threads that ran it.
    pub compile_time: std::time::Duration,
}

/// The counters behind [`TierCompileStats`], one per ladder level.
#[derive(Default)]
pub(crate) struct TierCounters {
    functions: AtomicUsize,
    wasm_bytes: std::sync::atomic::AtomicU64,
    code_bytes: std::sync::atomic::AtomicU64,
    nanos: std::sync::atomic::AtomicU64,
}

impl TierCounters {
    pub fn record(&self, wasm_bytes: usize, stats: &rung_tiering::CompileStats) {
        self.functions.fetch_add(1, Ordering::Relaxed);
        self.wasm_bytes
            .fetch_add(wasm_bytes as u64, Ordering::Relaxed);
        self.code_bytes
            .fetch_add(stats.code_bytes as u64, Ordering::Relaxed);
        let nanos = u64::try_from(stats.compile_time.as_nanos()).unwrap_or(u64::MAX);
        self.nanos.fetch_add(nanos, Ordering::Relaxed);
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
    /// The ladder: `config.tiers`, or the default one.
    pub tiers: Vec<Arc<dyn Tier>>,
    pub trampolines: Arc<dyn Trampolines>,
    /// Functions a tier handed up the ladder (`Unsupported`).
    pub fallbacks: AtomicUsize,
    /// Fall-backs by reason: the proposal or feature the tier named.
    pub fallback_reasons: Mutex<std::collections::BTreeMap<String, usize>>,
    /// What each level of the ladder compiled.
    pub compiled: Box<[TierCounters]>,
    /// Functions compiled on their first call.
    pub lazy_compiles: AtomicUsize,
    /// Functions promoted and patched in by tier-up.
    pub tier_ups: Arc<AtomicUsize>,
    /// See `TierUpStats::failed`.
    pub tier_up_failures: AtomicUsize,
    /// OSR entries compiled.
    pub osr_entries: AtomicUsize,
    /// Frames moved into OSR entries.
    pub osr_switches: AtomicUsize,
    /// The compile threads every compilation shares (see `scheduler.rs`).
    pub scheduler: Arc<Scheduler>,
    /// The tier-up jobs waiting for the scheduler, started on first use.
    pub tier_up_queue: std::sync::OnceLock<Arc<crate::tierup::Queue>>,
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
    /// An engine for `config`; the default ladder and trampolines are made
    /// here.
    ///
    /// # Errors
    ///
    /// When the optimizing tier cannot target the host (the default ladder
    /// and trampolines need it).
    pub fn new(config: Config) -> Result<Engine, String> {
        crate::signals::install();
        let mut optimizer: Option<Arc<OptimizingTier>> = None;
        let mut optimizer = || -> Result<Arc<OptimizingTier>, String> {
            if let Some(o) = &optimizer {
                return Ok(o.clone());
            }
            let o = Arc::new(OptimizingTier::new().map_err(|e| e.to_string())?);
            optimizer = Some(o.clone());
            Ok(o)
        };
        let tiers: Vec<Arc<dyn Tier>> = if config.tiers.is_empty() {
            vec![Arc::new(BaselineTier::new()), optimizer()?]
        } else {
            config.tiers.clone()
        };
        let trampolines: Arc<dyn Trampolines> = match &config.trampolines {
            Some(t) => t.clone(),
            None => optimizer()?,
        };
        let scheduler = Arc::new(Scheduler::new(
            config.compile_threads.max(config.tier_up_threads + 1),
        ));
        let compiled = tiers.iter().map(|_| TierCounters::default()).collect();
        Ok(Engine {
            inner: Arc::new(EngineInner {
                config,
                compiled,
                tiers,
                trampolines,
                fallbacks: AtomicUsize::new(0),
                fallback_reasons: Mutex::new(Default::default()),
                lazy_compiles: AtomicUsize::new(0),
                tier_ups: Arc::new(AtomicUsize::new(0)),
                tier_up_failures: AtomicUsize::new(0),
                osr_entries: AtomicUsize::new(0),
                osr_switches: AtomicUsize::new(0),
                scheduler,
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

    /// The tier ladder, cheapest first.
    pub fn tiers(&self) -> &[Arc<dyn Tier>] {
        &self.inner.tiers
    }

    /// How many functions a tier could not compile so far (they were
    /// compiled by a tier further up the ladder instead).
    pub fn fallbacks(&self) -> usize {
        self.inner.fallbacks.load(Ordering::Relaxed)
    }

    /// The fall-backs by reason (the proposal, or the feature, the tier
    /// said it does not support), most frequent first.
    pub fn fallback_reasons(&self) -> Vec<(String, usize)> {
        let mut reasons: Vec<(String, usize)> = self
            .inner
            .fallback_reasons
            .lock()
            .iter()
            .map(|(k, v)| (k.clone(), *v))
            .collect();
        reasons.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        reasons
    }

    /// What each tier of the ladder compiled so far, cheapest first.
    pub fn compile_stats(&self) -> Vec<TierCompileStats> {
        self.inner
            .tiers
            .iter()
            .zip(&self.inner.compiled)
            .map(|(tier, c)| TierCompileStats {
                tier: tier.name(),
                functions: c.functions.load(Ordering::Relaxed),
                wasm_bytes: c.wasm_bytes.load(Ordering::Relaxed),
                code_bytes: c.code_bytes.load(Ordering::Relaxed),
                compile_time: std::time::Duration::from_nanos(c.nanos.load(Ordering::Relaxed)),
            })
            .collect()
    }

    /// How many functions were compiled on their first call.
    pub fn lazy_compiles(&self) -> usize {
        self.inner.lazy_compiles.load(Ordering::Relaxed)
    }

    /// How many functions tier-up has promoted and patched in so far.
    pub fn tier_ups(&self) -> usize {
        self.inner.tier_ups.load(Ordering::Relaxed)
    }

    /// What tier-up has done so far.
    pub fn tier_up_stats(&self) -> TierUpStats {
        let queue = self.inner.tier_up_queue.get();
        let (queued, running) = queue.map_or((0, 0), |q| q.counts());
        let count = |f: fn(&crate::tierup::Queue) -> usize| queue.map_or(0, |q| f(q));
        let (queue_wait_median, queue_wait_max) =
            queue.map_or_else(Default::default, |q| q.wait_median_max());
        TierUpStats {
            promoted: self.tier_ups(),
            queued,
            running,
            discarded: count(|q| q.discarded.load(Ordering::Relaxed)),
            refused: count(|q| q.refused.load(Ordering::Relaxed)),
            osr_entries: self.inner.osr_entries.load(Ordering::Relaxed),
            osr_switches: self.inner.osr_switches.load(Ordering::Relaxed),
            failed: self.inner.tier_up_failures.load(Ordering::Relaxed),
            queue_wait_median,
            queue_wait_max,
        }
    }

    /// The highest level of the ladder.
    pub(crate) fn top_level(&self) -> usize {
        self.inner.tiers.len() - 1
    }

    /// The level function `index` starts at.
    pub(crate) fn start_level(&self, index: u32) -> usize {
        let top = self.top_level();
        let level = match &self.inner.config.start {
            StartTier::Lowest => 0,
            StartTier::Highest => top,
            StartTier::Level(n) => *n,
            StartTier::Alternate => {
                if index.is_multiple_of(2) {
                    0
                } else {
                    top
                }
            }
            StartTier::Custom(f) => f(index),
        };
        level.min(top)
    }

    /// What the tier at `level` is asked for: interrupt checks if the
    /// engine is interruptible, tier-up checks if functions climb and a
    /// level above exists.
    pub(crate) fn compile_options(&self, level: usize) -> CompileOptions {
        let tier_up = self.inner.config.tier_up && level < self.top_level();
        CompileOptions {
            interrupt_checks: self.inner.config.interruptible,
            tier_up_checks: tier_up,
            osr: tier_up && self.inner.config.osr,
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
        self.trampoline(ty, "host_to_wasm", &self.inner.host_to_wasm, |t| {
            self.inner.trampolines.host_to_wasm(t)
        })
    }

    pub(crate) fn wasm_to_host(&self, ty: &FuncType) -> Result<Arc<Trampoline>, CompileError> {
        self.trampoline(ty, "wasm_to_host", &self.inner.wasm_to_host, |t| {
            self.inner.trampolines.wasm_to_host(t)
        })
    }

    fn trampoline(
        &self,
        ty: &FuncType,
        kind: &str,
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
        if let Some(agent) = &self.inner.config.profiler {
            crate::profiling::announce_trampoline(&**agent, &code, &format!("{kind} {ty}"));
        }
        let t = Arc::new(Trampoline { _code: code, ptr });
        cache.lock().insert(ty.clone(), t.clone());
        Ok(t)
    }
}
