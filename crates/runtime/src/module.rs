//! `Module`: a validated, compiled module, shared by all its instances.
//!
//! ```text
//! bytes ─► decode + validate (stage 2 inline) ─► compile every body (N threads)
//!       ─► one CodeMemory ─► code table (one slot per defined function)
//! ```
//!
//! **Invariant:** the code table (`slots`) belongs to the module, not to an
//! instance: every instance's vmctx points at the same table, so a slot
//! patched on tier-up is seen by all of them at once.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicI32, AtomicUsize, Ordering};

use rung_decoder::{ConstExprBytes, DecoderConfig, Event, ModuleEnv, decode_all};
use rung_tiering::{CompileError, CompiledFunction, VmOffsets};
use rung_validator::{FuncJob, ModuleValidator, ValidateError};
use wasmparser::{DataKind, FuncType, ValType};

use crate::Error;
use crate::backtrace::{CodeOwner, FrameSymbols, LazyNames};
use crate::code_memory::{self, CodeArena, CodeMemory, Placement};
use crate::engine::Engine;
use crate::scheduler::{Batch, Priority};
use crate::tierup::TierState;
use crate::types::{CanonVal, ModuleTypes};

/// The state of one OSR entry (see `tierup::osr_switch`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum OsrEntry {
    /// Being compiled.
    Pending,
    /// Compiled: the code's address.
    Ready(usize),
    /// The top tier could not compile one: frames finish where they are.
    Failed,
}

/// Where a data segment goes.
#[derive(Debug, Clone)]
pub(crate) enum DataMode {
    Passive,
    Active { memory: u32, offset: ConstExprBytes },
}

#[derive(Debug, Clone)]
pub(crate) struct DataSegment {
    pub mode: DataMode,
    pub bytes: Box<[u8]>,
}

impl DataSegment {
    /// Copies a segment out of the input.
    pub fn new(data: &wasmparser::Data<'_>) -> DataSegment {
        let mode = match &data.kind {
            DataKind::Passive => DataMode::Passive,
            DataKind::Active {
                memory_index,
                offset_expr,
            } => DataMode::Active {
                memory: *memory_index,
                offset: ConstExprBytes::copy(offset_expr),
            },
        };
        DataSegment {
            mode,
            bytes: data.data.into(),
        }
    }
}

pub(crate) struct ModuleInner {
    /// The module itself, weakly: what a lazy compile hands the compile
    /// threads (lazy modules' stubs reach it by address), and the owner its
    /// code memories name for backtraces.
    me: std::sync::Weak<ModuleInner>,
    pub env: ModuleEnv,
    pub offsets: VmOffsets,
    /// The code compiled by `Module::new` (none for a lazy module).
    pub _code: Vec<Arc<CodeMemory>>,
    /// The bodies, kept when functions are compiled later: lazily on their
    /// first call, or again by tier-up.
    pub bodies: Option<Bodies>,
    /// The code table: the current code pointer of each defined function.
    pub slots: Box<[AtomicUsize]>,
    /// Tier-up budgets, one per defined function (decremented by code that
    /// counts, `CompiledFunction::counts_budget`).
    pub budgets: Box<[AtomicI32]>,
    /// Each defined function's place on the tier ladder.
    pub tier_states: Box<[TierState]>,
    /// OSR entries, by (defined function, loop offset).
    pub osr_entries: parking_lot::Mutex<HashMap<(usize, u32), OsrEntry>>,
    /// Canonical type id per type index.
    pub type_ids: Box<[u32]>,
    pub data: Vec<DataSegment>,
    /// The name section, decoded on first use (backtraces, profilers): the
    /// decoder skips it to keep compiles fast.
    pub names: LazyNames,
}

/// How many stripes of lazy-compile locks a module has.
const LAZY_LOCKS: usize = 64;

/// A module's bodies, kept to compile functions after `Module::new`, and
/// the code compiled from them since.
pub(crate) struct Bodies {
    pub engine: Engine,
    /// The code section's bytes, from absolute offset `code_start`.
    code_section: Arc<[u8]>,
    code_start: u64,
    /// Each defined function's body: absolute offset and length.
    locations: Vec<(u64, usize)>,
    _stubs: Option<Arc<CodeMemory>>,
    /// Each defined function's lazy-compile stub, its slot's first value
    /// (empty when the module compiled up front).
    entries: Vec<usize>,
    /// Held while publishing; owns the code compiled since `Module::new`.
    compiled: parking_lot::Mutex<Vec<Arc<CodeMemory>>>,
    /// A lazy compile holds its function's stripe (`defined % LAZY_LOCKS`)
    /// from the check of the slot to the publication, so that two threads
    /// calling a function first at once compile it once.
    lazy_locks: [parking_lot::Mutex<()>; LAZY_LOCKS],
    /// How often each defined function used up its tier-up budget.
    exhausted: Box<[std::sync::atomic::AtomicU32]>,
}

impl Bodies {
    /// Keeps the code section (`code_start` is its absolute offset).
    fn keep(
        engine: &Engine,
        code_start: u64,
        code_section: Arc<[u8]>,
        locations: Vec<(u64, usize)>,
        stubs: Option<Arc<CodeMemory>>,
        entries: Vec<usize>,
    ) -> Bodies {
        let locations_len = locations.len();
        Bodies {
            engine: engine.clone(),
            code_section,
            code_start,
            locations,
            _stubs: stubs,
            exhausted: (0..locations_len).map(|_| Default::default()).collect(),
            entries,
            compiled: parking_lot::Mutex::new(Vec::new()),
            lazy_locks: [const { parking_lot::Mutex::new(()) }; LAZY_LOCKS],
        }
    }

    /// The body size of defined function `defined`.
    pub(crate) fn body_len(&self, defined: usize) -> usize {
        self.locations.get(defined).map_or(0, |l| l.1)
    }

    /// Counts one more exhausted budget of `defined`; returns the count.
    pub(crate) fn exhausted(&self, defined: usize) -> u64 {
        self.exhausted
            .get(defined)
            .map_or(1, |c| u64::from(c.fetch_add(1, Ordering::Relaxed)) + 1)
    }

    /// How often `defined` used up its tier-up budget so far.
    pub(crate) fn heat(&self, defined: usize) -> u32 {
        self.exhausted
            .get(defined)
            .map_or(0, |c| c.load(Ordering::Relaxed))
    }

    fn body(&self, index: u32, defined: usize) -> rung_decoder::FunctionBody<'_> {
        let (offset, len) = self.locations[defined];
        let start = (offset - self.code_start) as usize;
        rung_decoder::FunctionBody {
            index,
            offset,
            bytes: &self.code_section[start..start + len],
        }
    }
}

impl ModuleInner {
    fn defined(&self, index: u32) -> Result<usize, CompileError> {
        self.offsets
            .defined_func_index(index)
            .map(|d| d as usize)
            .ok_or_else(|| CompileError::Internal(format!("{index} is not a defined function")))
    }

    fn kept_bodies(&self) -> Result<&Bodies, CompileError> {
        self.bodies
            .as_ref()
            .ok_or_else(|| CompileError::Internal("the module kept no bodies".into()))
    }

    /// Compiles defined function `index` of a lazy module unless its slot
    /// already left its stub, and returns the slot's code. The compile runs
    /// on the engine's compile threads as urgent work (this thread may be
    /// deep in wasm code, with little stack left, and waits for it).
    pub(crate) fn compile_lazily(&self, index: u32) -> Result<usize, crate::Trap> {
        let trap = |e: CompileError| crate::lazy::compile_trap(index, e);
        let bodies = self.kept_bodies().map_err(trap)?;
        let defined = self.defined(index).map_err(trap)?;
        let _claim = bodies.lazy_locks[defined % LAZY_LOCKS].lock();
        let current = self.slots[defined].load(Ordering::Acquire);
        if bodies.entries.get(defined) != Some(&current) {
            return Ok(current);
        }
        let me = self
            .me
            .upgrade()
            .ok_or_else(|| trap(CompileError::Internal("the module is gone".into())))?;
        let engine = bodies.engine.clone();
        let start = engine.start_level(index);
        engine.inner.lazy_compiles.fetch_add(1, Ordering::Relaxed);
        let compiled = engine.inner.scheduler.run_urgent(move || {
            let bodies = me.kept_bodies().map_err(CompileFailure::Compile)?;
            let body = bodies.body(index, defined);
            compile_at(&bodies.engine, &me.env, &me.offsets, body, start, None)
        });
        let (level, function) = compiled
            .unwrap_or_else(|| {
                Err(CompileFailure::Compile(CompileError::Internal(
                    "the compile threads stopped".into(),
                )))
            })
            .map_err(|e| trap(e.into_compile_error()))?;
        let mut code = bodies.compiled.lock();
        self.publish(&mut code, defined, index, level, &function)
            .map_err(trap)
    }

    /// Tier-up: compiles defined function `index` from ladder level `level`
    /// up and patches its slot. Frames already running the old code finish
    /// in it; the old code stays mapped as long as the module. With
    /// `big_stack`, the compiler runs on a thread of its own (the caller may
    /// be deep in wasm code). A function that cannot be compiled there
    /// stays where it is, for good.
    pub(crate) fn promote(&self, index: u32, level: usize, big_stack: bool) {
        let (Ok(bodies), Ok(defined)) = (self.kept_bodies(), self.defined(index)) else {
            return;
        };
        let state = &self.tier_states[defined];
        let body = bodies.body(index, defined);
        let engine = &bodies.engine;
        let compile = || compile_at(engine, &self.env, &self.offsets, body, level, None);
        let result = if big_stack {
            on_big_stack(compile)
        } else {
            compile()
        };
        let (level, function) = match result {
            Ok(compiled) => compiled,
            Err(failure) => {
                failure.count_tier_up(engine);
                state.stuck();
                return;
            }
        };
        let mut compiled = bodies.compiled.lock();
        if self
            .publish(&mut compiled, defined, index, level, &function)
            .is_err()
        {
            state.stuck();
            return;
        }
        engine.inner.tier_ups.fetch_add(1, Ordering::Relaxed);
    }

    /// Compiles the OSR entry of defined function `index` at the loop at
    /// `loop_offset` with the top tier, and records it (or that there can
    /// be none). With `big_stack`, on a thread of its own.
    pub(crate) fn compile_osr(&self, index: u32, loop_offset: u32, big_stack: bool) {
        let (Ok(bodies), Ok(defined)) = (self.kept_bodies(), self.defined(index)) else {
            return;
        };
        let engine = &bodies.engine;
        let top = engine.top_level();
        let tier = &engine.inner.tiers[top];
        let options = engine.compile_options(top);
        let body = bodies.body(index, defined);
        let compile = || {
            tier.compile_osr_entry(&self.env, index, body, &self.offsets, &options, loop_offset)
                .map_err(CompileFailure::Compile)
        };
        let result = if big_stack {
            on_big_stack(compile)
        } else {
            compile()
        };
        if let Err(failure) = &result {
            failure.count_tier_up(engine);
        }
        let entry = result.ok().and_then(|f| {
            let code = CodeMemory::publish_at(level_u8(top), [(index, &f)]).ok()?;
            self.announce(engine, &code, true);
            let ptr = code.function_ptr(0) as usize;
            bodies.compiled.lock().push(code);
            engine.inner.osr_entries.fetch_add(1, Ordering::Relaxed);
            Some(ptr)
        });
        self.osr_entries.lock().insert(
            (defined, loop_offset),
            entry.map_or(OsrEntry::Failed, OsrEntry::Ready),
        );
    }

    /// Maps `function` (compiled at ladder `level`), keeps the mapping, and
    /// makes it the function's code: its budget first (the policy's initial
    /// one if the code counts; else, without OSR, one that never runs out),
    /// then the slot (one release store), then the tier state.
    fn publish(
        &self,
        compiled: &mut Vec<Arc<CodeMemory>>,
        defined: usize,
        index: u32,
        level: usize,
        function: &CompiledFunction,
    ) -> Result<usize, CompileError> {
        let code = CodeMemory::publish_at(level_u8(level), [(index, function)])
            .map_err(|e| CompileError::Internal(format!("cannot map code: {e}")))?;
        tracing::info!(name: "publish", func = index, level);
        if let Some(b) = &self.bodies {
            self.announce(&b.engine, &code, false);
        }
        let ptr = code.function_ptr(0) as usize;
        compiled.push(code);
        match &self.bodies {
            Some(b) if function.counts_budget || !b.engine.config().osr => {
                let len = b.body_len(defined);
                let budget = initial_budget(&b.engine, index, len, level, function.counts_budget);
                self.budgets[defined].store(budget, Ordering::Relaxed);
            }
            // Code that does not count: the budget is left to the frames of
            // older code that may still run (they look for OSR entries).
            _ => {}
        }
        self.slots[defined].store(ptr, Ordering::Release);
        self.tier_states[defined].published(level);
        Ok(ptr)
    }
}

/// A ladder level as code memory records it.
fn level_u8(level: usize) -> u8 {
    u8::try_from(level).unwrap_or(code_memory::NO_LEVEL)
}

impl ModuleInner {
    /// Newly published code of this module (`osr`: an OSR entry): names it
    /// for backtraces and tells the engine's profiling agent, if any.
    fn announce(&self, engine: &Engine, code: &Arc<CodeMemory>, osr: bool) {
        let module: std::sync::Weak<dyn FrameSymbols> = self.me.clone();
        code.set_owner(CodeOwner {
            module,
            tiers: engine.inner.tiers.iter().map(|t| t.name()).collect(),
        });
        if let Some(agent) = &engine.config().profiler {
            crate::profiling::announce(&**agent, self, &engine.inner.tiers, code, osr);
        }
    }
}

impl FrameSymbols for ModuleInner {
    fn module_name(&self) -> Option<&str> {
        self.env
            .module_name
            .as_deref()
            .or_else(|| self.names.get().module.as_deref())
    }

    fn function_name(&self, index: u32) -> Option<&str> {
        self.env
            .function_name(index)
            .or_else(|| self.names.get().functions.get(&index).map(String::as_str))
    }
}

/// The budget code compiled at `level` starts with: the policy's, if the
/// code counts one; else one that never runs out.
fn initial_budget(
    engine: &Engine,
    index: u32,
    body_len: usize,
    level: usize,
    counts_budget: bool,
) -> i32 {
    if counts_budget {
        engine
            .config()
            .tier_up_policy
            .initial_budget(index, body_len as u32, level)
    } else {
        i32::MAX
    }
}

/// Why compiling one function failed: its body is invalid, or a tier
/// failed.
pub(crate) enum CompileFailure {
    Invalid(ValidateError),
    Compile(CompileError),
}

impl CompileFailure {
    /// Counts a failed promotion or OSR entry in `TierUpStats::failed`,
    /// unless no tier supports what the function uses.
    fn count_tier_up(&self, engine: &Engine) {
        if !matches!(self, CompileFailure::Compile(e) if e.is_unsupported()) {
            engine
                .inner
                .tier_up_failures
                .fetch_add(1, Ordering::Relaxed);
        }
    }

    fn into_error(self, func: u32) -> Error {
        match self {
            CompileFailure::Invalid(e) => Error::Invalid(e),
            CompileFailure::Compile(error) => Error::Compile {
                func: Some(func),
                error,
            },
        }
    }

    fn into_compile_error(self) -> CompileError {
        match self {
            CompileFailure::Invalid(e) => CompileError::Invalid {
                message: e.message,
                offset: e.offset,
                func: e.func.unwrap_or(0),
            },
            CompileFailure::Compile(e) => e,
        }
    }
}

/// The one compile path (eager, streaming, lazy and tier-up): compiles
/// `body` with the tier at ladder level `from`, and on `Unsupported` with
/// the next one up, until one compiles it; returns the level that did.
/// With `job`, the body has not been validated: the first tier validates
/// it as it compiles (`Tier::compile_validating`), and if it hands the
/// function on, the whole body is validated before the next tier sees it.
pub(crate) fn compile_at(
    engine: &Engine,
    env: &ModuleEnv,
    offsets: &VmOffsets,
    body: rung_decoder::FunctionBody<'_>,
    from: usize,
    mut job: Option<FuncJob>,
) -> Result<(usize, CompiledFunction), CompileFailure> {
    let index = body.index;
    let tiers = &engine.inner.tiers;
    let top = tiers.len() - 1;
    for (level, tier) in tiers.iter().enumerate().skip(from.min(top)) {
        let options = engine.compile_options(level);
        // One slice per attempt in `rung run --trace` (a cached check when
        // nobody listens); `code_bytes` or `fell_back` filled in below.
        let span = tracing::info_span!(
            "compile",
            tier = tier.name(),
            func = index,
            wasm_bytes = body.bytes.len(),
            code_bytes = tracing::field::Empty,
            fell_back = tracing::field::Empty,
        );
        let _entered = span.enter();
        let result = match job.take() {
            Some(job) if level < top => {
                let spare = job.clone();
                let r = tier.compile_validating(env, index, body, offsets, &options, job);
                if r.as_ref().is_err_and(CompileError::is_unsupported) {
                    spare.validate(&body).map_err(CompileFailure::Invalid)?;
                }
                r
            }
            Some(job) => tier.compile_validating(env, index, body, offsets, &options, job),
            None => tier.compile(env, index, body, offsets, &options),
        };
        match result {
            Ok(f) => {
                engine.inner.compiled[level].record(body.bytes.len(), &f.stats);
                span.record("code_bytes", f.stats.code_bytes);
                return Ok((level, f));
            }
            Err(CompileError::Unsupported { feature, .. }) if level < top => {
                span.record("fell_back", feature.as_str());
                engine.inner.fallbacks.fetch_add(1, Ordering::Relaxed);
                // "simd: V128Const" counts as "simd".
                let reason = feature.split(':').next().unwrap_or(&feature).to_string();
                *engine
                    .inner
                    .fallback_reasons
                    .lock()
                    .entry(reason)
                    .or_default() += 1;
            }
            Err(CompileError::Invalid {
                message,
                offset,
                func,
            }) => {
                return Err(CompileFailure::Invalid(ValidateError::new(
                    offset,
                    Some(func),
                    message,
                )));
            }
            Err(e) => return Err(CompileFailure::Compile(e)),
        }
    }
    Err(CompileFailure::Compile(CompileError::Internal(
        "the tier ladder is empty".into(),
    )))
}

/// Runs `f` on a thread with a 16 MiB stack and waits for it: a compiler
/// wants more stack than a deep wasm call chain may have left.
fn on_big_stack<T: Send>(
    f: impl FnOnce() -> Result<T, CompileFailure> + Send,
) -> Result<T, CompileFailure> {
    let internal = |m: String| CompileFailure::Compile(CompileError::Internal(m));
    std::thread::scope(|s| {
        std::thread::Builder::new()
            .stack_size(16 << 20)
            .spawn_scoped(s, f)
            .map_err(|e| internal(e.to_string()))?
            .join()
            .unwrap_or_else(|_| Err(internal("the compiler panicked".into())))
    })
}

/// A compiled module.
#[derive(Clone)]
pub struct Module {
    pub(crate) inner: Arc<ModuleInner>,
}

/// One function body waiting for stage 2 and a tier.
struct Pending {
    job: FuncJob,
    offset: u64,
    len: usize,
}

/// The sink that runs stage 1 and keeps what compilation and instantiation
/// need: each body's stage-2 job (validation happens in the compile phase, on
/// the compile threads, or inside a single-pass tier's own walk) and the data
/// segments.
struct Collect {
    stage1: ModuleValidator,
    bodies: Vec<Pending>,
    data: Vec<DataSegment>,
    /// The name section's contents, undecoded (`LazyNames`).
    name_section: Option<Box<[u8]>>,
}

impl rung_decoder::EventSink for Collect {
    type Error = ValidateError;
    fn event(&mut self, _: &ModuleEnv, event: Event<'_>) -> Result<(), ValidateError> {
        if let Some(job) = self.stage1.event(&event)?
            && let Event::FunctionBody(body) = &event
        {
            self.bodies.push(Pending {
                job,
                offset: body.offset,
                len: body.bytes.len(),
            });
        }
        match event {
            Event::DataSegment { data, .. } => self.data.push(DataSegment::new(data)),
            Event::CustomSection {
                name: "name",
                data: Some(data),
                ..
            } if self.name_section.is_none() => self.name_section = Some(data.into()),
            _ => {}
        }
        Ok(())
    }
}

/// The first error in byte order, when decoding stopped at `decode` with
/// bodies before it not yet validated: an invalid body before the decode
/// error is what a one-pass reader (the streaming compiler, wasmparser's
/// `Validator`) reports, so batch reports it too.
fn earliest_error(bytes: &[u8], bodies: Vec<Pending>, decode: ValidateError) -> ValidateError {
    for pending in bodies {
        if pending.offset >= decode.offset {
            break;
        }
        let start = pending.offset as usize;
        let Some(code) = bytes.get(start..start + pending.len) else {
            break;
        };
        let body = rung_decoder::FunctionBody {
            index: pending.job.index(),
            offset: pending.offset,
            bytes: code,
        };
        if let Err(e) = pending.job.validate(&body)
            && e.offset < decode.offset
        {
            return e;
        }
    }
    decode
}

/// What decoding and compiling a module produced, ready to become a
/// `Module` (the streaming compiler makes the same).
pub(crate) struct Parts {
    pub env: ModuleEnv,
    pub offsets: VmOffsets,
    /// Each defined function's body: absolute offset and length.
    pub locations: Vec<(u64, usize)>,
    /// The compiled functions in order (index, ladder level, where their
    /// code was placed) and the arena holding their code, or `None` for a
    /// lazy module.
    pub compiled: Option<(Vec<Compiled>, Arc<CodeArena>)>,
    /// The code section's absolute offset and bytes, when functions will be
    /// compiled later (lazily or by tier-up).
    pub code_section: Option<(u64, Arc<[u8]>)>,
    pub data: Vec<DataSegment>,
    /// The name section's contents, if the module has one.
    pub name_section: Option<Box<[u8]>>,
}

/// Whether a module compiled with `engine` must keep its bodies: to
/// compile them lazily, or again further up the ladder.
pub(crate) fn keeps_bodies(engine: &Engine) -> bool {
    engine.config().lazy || (engine.config().tier_up && engine.top_level() > 0)
}

impl Module {
    /// Decodes, validates and compiles `bytes` (the binary format).
    pub fn new(engine: &Engine, bytes: &[u8]) -> Result<Module, Error> {
        let _span = tracing::info_span!("Module::new", bytes = bytes.len()).entered();
        let mut sink = Collect {
            stage1: ModuleValidator::new(engine.config().features),
            bodies: Vec::new(),
            data: Vec::new(),
            name_section: None,
        };
        let config = DecoderConfig {
            decode_names: false,
            features: engine.config().features,
            // Kept undecoded for backtraces and profilers.
            deliver_names: true,
            ..DecoderConfig::default()
        };
        let env = match decode_all(bytes, config, &mut sink) {
            Ok(env) => env,
            Err(e) => return Err(Error::Invalid(earliest_error(bytes, sink.bodies, e))),
        };
        let Collect {
            bodies,
            data,
            name_section,
            ..
        } = sink;
        let offsets =
            VmOffsets::for_host(&env).map_err(|error| Error::Compile { func: None, error })?;
        let locations: Vec<(u64, usize)> = bodies.iter().map(|p| (p.offset, p.len)).collect();
        let lazy = engine.config().lazy;
        // The code section, shared by the compile threads (and kept by the
        // module when it compiles functions later).
        let (code_start, code) = match &env.code_section {
            Some((_, range)) => {
                let (s, e) = (range.start as usize, range.end as usize);
                (
                    range.start,
                    Arc::<[u8]>::from(bytes.get(s..e).unwrap_or_default()),
                )
            }
            None => (0, Arc::<[u8]>::from(&[][..])),
        };
        let arena = Arc::new(CodeArena::new(arena_region_size(code.len())));
        let (env, offsets, compiled) = compile_all(
            engine,
            env,
            offsets,
            code_start,
            code.clone(),
            bodies,
            (!lazy).then(|| arena.clone()),
        )?;
        let code_section = keeps_bodies(engine).then_some((code_start, code));
        Module::assemble(
            engine,
            Parts {
                env,
                offsets,
                locations,
                compiled: (!lazy).then_some((compiled, arena)),
                code_section,
                data,
                name_section,
            },
        )
    }

    /// Publishes compiled code (or lazy stubs) and builds the module.
    pub(crate) fn assemble(engine: &Engine, parts: Parts) -> Result<Module, Error> {
        let Parts {
            env,
            offsets,
            locations,
            compiled,
            code_section,
            data,
            name_section,
        } = parts;
        let type_ids = engine
            .module_type_ids(&env.types, &env.rec_group_starts)
            .into_boxed_slice();
        let first = env.num_imported_functions();
        let keep = |stubs, entries| {
            code_section.map(|(start, bytes)| {
                Bodies::keep(engine, start, bytes, locations.clone(), stubs, entries)
            })
        };
        let Some(compiled) = compiled else {
            // Budgets are set when each function is first compiled.
            let count = locations.len() as u32;
            let budgets = (0..count).map(|_| AtomicI32::new(i32::MAX)).collect();
            let states = (0..count)
                .map(|i| TierState::new(engine.start_level(first + i)))
                .collect();
            let module = Module::new_lazy(env, offsets, keep, budgets, states, type_ids, data)?;
            module.inner.names.set_section(name_section);
            tracing::info!(name: "LazyModuleReady", functions = count);
            return Ok(module);
        };
        let (compiled, arena) = compiled;
        let code = arena.finish().map_err(|e| internal(e.to_string()))?;
        let slots = compiled
            .iter()
            .map(|c| {
                let placement = c
                    .placement
                    .ok_or_else(|| internal("a function was not placed".into()))?;
                Ok(AtomicUsize::new(code_memory::address(&code, placement)))
            })
            .collect::<Result<_, Error>>()?;
        let budgets = compiled
            .iter()
            .zip(&locations)
            .map(|(c, (_, len))| {
                let level = usize::from(c.level);
                AtomicI32::new(initial_budget(
                    engine,
                    c.index,
                    *len,
                    level,
                    c.counts_budget,
                ))
            })
            .collect();
        let tier_states = compiled
            .iter()
            .map(|c| TierState::new(usize::from(c.level)))
            .collect();
        let bodies = keep(None, Vec::new());
        let inner = Arc::new_cyclic(|me| ModuleInner {
            me: me.clone(),
            env,
            offsets,
            _code: code,
            bodies,
            slots,
            budgets,
            tier_states,
            osr_entries: Default::default(),
            type_ids,
            data,
            names: LazyNames::default(),
        });
        inner.names.set_section(name_section);
        for memory in &inner._code {
            inner.announce(engine, memory, false);
        }
        // V8's names for the module-level phases: every function has code
        // from the bottom of the ladder, or (optimized) from its top.
        let functions = compiled.len();
        if compiled
            .iter()
            .all(|c| usize::from(c.level) == engine.top_level())
        {
            tracing::info!(name: "TopTierFinished", functions);
        } else {
            tracing::info!(name: "BaselineFinished", functions);
        }
        Ok(Module { inner })
    }

    /// A module whose slots start at lazy-compile stubs (see `lazy.rs`).
    fn new_lazy(
        env: ModuleEnv,
        offsets: VmOffsets,
        keep: impl FnOnce(Option<Arc<CodeMemory>>, Vec<usize>) -> Option<Bodies>,
        budgets: Box<[AtomicI32]>,
        tier_states: Box<[TierState]>,
        type_ids: Box<[u32]>,
        data: Vec<DataSegment>,
    ) -> Result<Module, Error> {
        let first = env.num_imported_functions();
        let count = budgets.len() as u32;
        let mut failure = None;
        let inner = Arc::new_cyclic(|me: &std::sync::Weak<ModuleInner>| {
            let stubs = crate::lazy::assemble(me.as_ptr(), first, count)
                .map_err(|e| internal(e.to_string()))
                .and_then(|(code, entry_offsets)| {
                    let stub = CompiledFunction {
                        code,
                        ..CompiledFunction::default()
                    };
                    let memory = CodeMemory::publish([(u32::MAX, &stub)])
                        .map_err(|e| internal(e.to_string()))?;
                    let base = memory.function_ptr(0) as usize;
                    let entries: Vec<usize> =
                        entry_offsets.iter().map(|&o| base + o as usize).collect();
                    Ok((memory, entries))
                });
            let (stubs, entries) = match stubs {
                Ok((memory, entries)) => (Some(memory), entries),
                Err(e) => {
                    failure = Some(e);
                    (None, vec![0; count as usize])
                }
            };
            let slots = entries.iter().map(|&e| AtomicUsize::new(e)).collect();
            ModuleInner {
                me: me.clone(),
                env,
                offsets,
                _code: Vec::new(),
                bodies: keep(stubs, entries),
                slots,
                budgets,
                tier_states,
                osr_entries: Default::default(),
                type_ids,
                data,
                names: LazyNames::default(),
            }
        });
        match failure {
            Some(e) => Err(e),
            None => Ok(Module { inner }),
        }
    }

    /// Function `index`'s name: from the name section (decoded on first
    /// use), else the module's own description of it, if any.
    pub fn function_name(&self, index: u32) -> Option<&str> {
        FrameSymbols::function_name(&*self.inner, index)
    }

    /// What the module declares.
    pub fn env(&self) -> &ModuleEnv {
        &self.inner.env
    }

    /// A value type of this module in canonical form.
    pub(crate) fn canon(&self, ty: ValType) -> CanonVal {
        ModuleTypes {
            types: &self.inner.env.types,
            ids: &self.inner.type_ids,
        }
        .canon(ty)
    }

    /// The type of function `index`.
    pub(crate) fn func_type(&self, index: u32) -> Option<&FuncType> {
        self.inner.env.func_type(index)
    }

    /// The current code of defined function `index` (absolute).
    pub(crate) fn slot(&self, index: u32) -> &AtomicUsize {
        let defined = index - self.inner.env.num_imported_functions();
        &self.inner.slots[defined as usize]
    }
}

/// One function compiled: its index, the ladder level that compiled it,
/// and where its code went. Small (32 bytes): a module's compile holds one
/// per function until `finish`; the code and its metadata are in the arena.
pub(crate) struct Compiled {
    pub index: u32,
    pub level: u8,
    /// Whether the code counts the tier-up budget
    /// (`CompiledFunction::counts_budget`).
    pub counts_budget: bool,
    /// Where its code went in the arena (`None` when only validated).
    pub placement: Option<Placement>,
}

/// The address space each region of a module's code arena reserves: about
/// what the baseline makes of a code section of `code_len` bytes (its code
/// is 3–5× the wasm), so one region usually holds the whole module; a
/// function that does not fit starts another.
pub(crate) fn arena_region_size(code_len: usize) -> usize {
    code_len.saturating_mul(6).clamp(1 << 20, 1 << 34)
}

fn internal(message: String) -> Error {
    Error::Compile {
        func: None,
        error: CompileError::Internal(message),
    }
}

/// Validates (stage 2) and, if `compile`, compiles one body from the level
/// the engine starts it at. Without compiling, the result carries an empty
/// function.
pub(crate) fn compile_one(
    engine: &Engine,
    env: &ModuleEnv,
    offsets: &VmOffsets,
    body: rung_decoder::FunctionBody<'_>,
    job: FuncJob,
    arena: Option<&CodeArena>,
) -> Result<Compiled, Error> {
    let index = job.index();
    let level = engine.start_level(index);
    let Some(arena) = arena else {
        job.validate(&body).map_err(Error::Invalid)?;
        return Ok(Compiled {
            index,
            level: level_u8(level),
            counts_budget: false,
            placement: None,
        });
    };
    let (level, mut function) = compile_at(engine, env, offsets, body, level, Some(job))
        .map_err(|e| e.into_error(index))?;
    let placement = arena
        .place(index, level_u8(level), &mut function)
        .map_err(|e| Error::Resource(format!("cannot map code: {e}")))?;
    Ok(Compiled {
        index,
        level: level_u8(level),
        counts_budget: function.counts_budget,
        placement: Some(placement),
    })
}

/// Validates and compiles every body: on the calling thread and
/// `compile_threads - 1` of the engine's compile threads, one function at a
/// time (a `Batch` at normal priority). When several functions fail, the
/// first in function order wins, as a one-thread walk would report.
/// `code` holds the code section from absolute offset `code_start`; `env`
/// and `offsets` come back for the module.
fn compile_all(
    engine: &Engine,
    env: ModuleEnv,
    offsets: VmOffsets,
    code_start: u64,
    code: Arc<[u8]>,
    bodies: Vec<Pending>,
    arena: Option<Arc<CodeArena>>,
) -> Result<(ModuleEnv, VmOffsets, Vec<Compiled>), Error> {
    /// What the compile threads share.
    struct Eager {
        engine: Engine,
        env: ModuleEnv,
        offsets: VmOffsets,
        code_start: u64,
        code: Arc<[u8]>,
        bodies: Vec<parking_lot::Mutex<Option<Pending>>>,
        results: Vec<parking_lot::Mutex<Option<Result<Compiled, Error>>>>,
        /// Where compiled code goes (`None`: validate only).
        arena: Option<Arc<CodeArena>>,
    }
    let count = bodies.len();
    // The compile threads get their own copies of the module's
    // description: the batch's pool tasks may outlive it by a moment.
    let eager = Arc::new(Eager {
        engine: engine.clone(),
        env: env.clone(),
        offsets: offsets.clone(),
        code_start,
        code,
        bodies: bodies
            .into_iter()
            .map(|p| parking_lot::Mutex::new(Some(p)))
            .collect(),
        results: (0..count).map(|_| parking_lot::Mutex::new(None)).collect(),
        arena,
    });
    let helpers = engine.config().compile_threads.saturating_sub(1);
    let shared = eager.clone();
    Batch::run(
        &engine.inner.scheduler,
        Priority::Normal,
        helpers,
        count,
        move |i| {
            let e = &*shared;
            let Some(pending) = e.bodies[i].lock().take() else {
                return;
            };
            let start = (pending.offset - e.code_start) as usize;
            let body = rung_decoder::FunctionBody {
                index: pending.job.index(),
                offset: pending.offset,
                bytes: &e.code[start..start + pending.len],
            };
            let result = compile_one(
                &e.engine,
                &e.env,
                &e.offsets,
                body,
                pending.job,
                e.arena.as_deref(),
            );
            *e.results[i].lock() = Some(result);
        },
    );
    let compiled = eager
        .results
        .iter()
        .map(|r| {
            r.lock().take().unwrap_or_else(|| {
                Err(Error::Compile {
                    func: None,
                    error: CompileError::Internal("a compile thread panicked".into()),
                })
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok((env, offsets, compiled))
}
