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

use std::sync::Arc;
use std::sync::atomic::{AtomicI32, AtomicUsize, Ordering};

use rung_decoder::{ConstExprBytes, DecoderConfig, Event, ModuleEnv, decode_all};
use rung_tiering::{CompileError, CompiledFunction, Tier, VmOffsets};
use rung_validator::{
    FEATURES, FuncJob, FuncValidatorAllocations, FunctionValidator, ModuleValidator, ValidateError,
};
use wasmparser::{DataKind, FuncType, ValType};

use crate::Error;
use crate::code_memory::CodeMemory;
use crate::engine::Engine;
use crate::types::{CanonVal, ModuleTypes};

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

pub(crate) struct ModuleInner {
    pub env: ModuleEnv,
    pub offsets: VmOffsets,
    /// The eagerly compiled code (empty for a lazy module).
    pub _code: Option<Arc<CodeMemory>>,
    /// What a lazy module needs to compile a function on its first call.
    pub lazy: Option<LazyState>,
    /// The code table: the current code pointer of each defined function.
    pub slots: Box<[AtomicUsize]>,
    /// Tier-up budgets, one per defined function (decremented by baseline code).
    pub budgets: Box<[AtomicI32]>,
    /// Canonical type id per type index.
    pub type_ids: Box<[u32]>,
    pub data: Vec<DataSegment>,
}

/// A lazy module's bodies and the code compiled from them so far.
pub(crate) struct LazyState {
    engine: Engine,
    /// The code section's bytes, from absolute offset `code_start`.
    code_section: Box<[u8]>,
    code_start: u64,
    /// Each defined function's body: absolute offset and length.
    bodies: Vec<(u64, usize)>,
    _stubs: Arc<CodeMemory>,
    /// Each defined function's stub entry, its slot's first value.
    entries: Vec<usize>,
    /// Held while compiling; also owns the code compiled so far.
    compiled: parking_lot::Mutex<Vec<Arc<CodeMemory>>>,
}

impl ModuleInner {
    /// Compiles defined function `index` of a lazy module unless its slot
    /// already left its stub, and returns the slot's code.
    pub(crate) fn compile_lazily(&self, index: u32) -> Result<usize, crate::Trap> {
        let trap = |e: &dyn std::fmt::Display| crate::lazy::compile_trap(index, e);
        let lazy = self
            .lazy
            .as_ref()
            .ok_or_else(|| trap(&"not a lazy module"))?;
        let defined = self
            .offsets
            .defined_func_index(index)
            .ok_or_else(|| trap(&"not a defined function"))? as usize;
        let mut compiled = lazy.compiled.lock();
        let current = self.slots[defined].load(Ordering::Acquire);
        if current != lazy.entries[defined] {
            return Ok(current);
        }
        let (offset, len) = lazy.bodies[defined];
        let start = (offset - lazy.code_start) as usize;
        let body = rung_decoder::FunctionBody {
            index,
            offset,
            bytes: &lazy.code_section[start..start + len],
        };
        // Cranelift wants more stack than a deep wasm call chain may have
        // left: compile on a thread of its own.
        let function = std::thread::scope(|s| {
            std::thread::Builder::new()
                .stack_size(16 << 20)
                .spawn_scoped(s, || {
                    let engine = &lazy.engine;
                    if engine.uses_baseline(index) {
                        let baseline =
                            engine
                                .inner
                                .baseline
                                .compile(&self.env, index, body, &self.offsets);
                        match baseline {
                            Err(CompileError::Unsupported { .. }) => {
                                engine.inner.fallbacks.fetch_add(1, Ordering::Relaxed);
                            }
                            done => return done,
                        }
                    }
                    engine
                        .inner
                        .optimizer
                        .compile(&self.env, index, body, &self.offsets)
                })
                .map_err(|e| CompileError::Internal(e.to_string()))?
                .join()
                .unwrap_or_else(|_| Err(CompileError::Internal("the compiler panicked".into())))
        })
        .map_err(|e| trap(&e))?;
        let code = CodeMemory::publish([(index, &function)]).map_err(|e| trap(&e))?;
        let ptr = code.function_ptr(0) as usize;
        compiled.push(code);
        self.slots[defined].store(ptr, Ordering::Release);
        Ok(ptr)
    }
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
        if let Event::DataSegment { data, .. } = event {
            let mode = match &data.kind {
                DataKind::Passive => DataMode::Passive,
                DataKind::Active {
                    memory_index,
                    offset_expr,
                } => {
                    let mut r = offset_expr.get_binary_reader();
                    let offset = r.original_position();
                    let bytes = r.read_bytes(r.bytes_remaining()).unwrap_or_default();
                    DataMode::Active {
                        memory: *memory_index,
                        offset: ConstExprBytes {
                            offset,
                            bytes: bytes.into(),
                        },
                    }
                }
            };
            self.data.push(DataSegment {
                mode,
                bytes: data.data.into(),
            });
        }
        Ok(())
    }
}

impl Module {
    /// Decodes, validates and compiles `bytes` (the binary format).
    pub fn new(engine: &Engine, bytes: &[u8]) -> Result<Module, Error> {
        let mut sink = Collect {
            stage1: ModuleValidator::new(FEATURES),
            bodies: Vec::new(),
            data: Vec::new(),
        };
        let config = DecoderConfig {
            decode_names: false,
            ..DecoderConfig::default()
        };
        let env = decode_all(bytes, config, &mut sink).map_err(Error::Invalid)?;
        let Collect { bodies, data, .. } = sink;
        let offsets =
            VmOffsets::for_host(&env).map_err(|error| Error::Compile { func: None, error })?;

        let type_ids = engine
            .module_type_ids(&env.types, &env.rec_group_starts)
            .into_boxed_slice();
        let budgets = (0..bodies.len())
            .map(|_| AtomicI32::new(i32::MAX))
            .collect();
        if engine.config().lazy {
            let locations: Vec<(u64, usize)> = bodies.iter().map(|p| (p.offset, p.len)).collect();
            compile_all(engine, &env, &offsets, bytes, bodies, false)?;
            return Module::new_lazy(
                engine, env, offsets, bytes, locations, budgets, type_ids, data,
            );
        }
        let compiled = compile_all(engine, &env, &offsets, bytes, bodies, true)?;
        let code = CodeMemory::publish(compiled.iter().map(|(i, c)| (*i, c)))
            .map_err(|e| internal(e.to_string()))?;
        let slots = (0..compiled.len())
            .map(|i| AtomicUsize::new(code.function_ptr(i) as usize))
            .collect();
        Ok(Module {
            inner: Arc::new(ModuleInner {
                env,
                offsets,
                _code: Some(code),
                lazy: None,
                slots,
                budgets,
                type_ids,
                data,
            }),
        })
    }

    /// A module whose slots start at lazy-compile stubs (see `lazy.rs`).
    #[allow(clippy::too_many_arguments)]
    fn new_lazy(
        engine: &Engine,
        env: ModuleEnv,
        offsets: VmOffsets,
        bytes: &[u8],
        bodies: Vec<(u64, usize)>,
        budgets: Box<[AtomicI32]>,
        type_ids: Box<[u32]>,
        data: Vec<DataSegment>,
    ) -> Result<Module, Error> {
        let (code_start, code_section) = match &env.code_section {
            Some((_, range)) => {
                let (s, e) = (range.start as usize, range.end as usize);
                (range.start, bytes.get(s..e).unwrap_or_default().into())
            }
            None => (0, Box::default()),
        };
        let first = env.num_imported_functions();
        let count = bodies.len() as u32;
        let mut failure = None;
        let inner = Arc::new_cyclic(|me: &std::sync::Weak<ModuleInner>| {
            let stubs = crate::lazy::assemble(me.as_ptr(), first, count)
                .map_err(|e| internal(e.to_string()))
                .and_then(|(code, entry_offsets)| {
                    let stub = CompiledFunction {
                        code,
                        trap_sites: Vec::new(),
                        offset_map: Vec::new(),
                        frame_size: 0,
                        stats: Default::default(),
                    };
                    let memory = CodeMemory::publish([(u32::MAX, &stub)])
                        .map_err(|e| internal(e.to_string()))?;
                    let base = memory.function_ptr(0) as usize;
                    let entries: Vec<usize> =
                        entry_offsets.iter().map(|&o| base + o as usize).collect();
                    Ok((memory, entries))
                });
            let (stubs, entries) = match stubs {
                Ok(s) => (Some(s.0), s.1),
                Err(e) => {
                    failure = Some(e);
                    (None, vec![0; count as usize])
                }
            };
            let slots = entries.iter().map(|&e| AtomicUsize::new(e)).collect();
            ModuleInner {
                env,
                offsets,
                _code: None,
                lazy: stubs.map(|stubs| LazyState {
                    engine: engine.clone(),
                    code_section,
                    code_start,
                    bodies,
                    _stubs: stubs,
                    entries,
                    compiled: parking_lot::Mutex::new(Vec::new()),
                }),
                slots,
                budgets,
                type_ids,
                data,
            }
        });
        match failure {
            Some(e) => Err(e),
            None => Ok(Module { inner }),
        }
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

type Compiled = Result<(u32, CompiledFunction), Error>;

fn internal(message: String) -> Error {
    Error::Compile {
        func: None,
        error: CompileError::Internal(message),
    }
}

/// Validates (stage 2) and, if `compile`, compiles one body with the tier
/// the engine's configuration picks for it. Without compiling, the result
/// carries an empty function.
fn compile_one(
    engine: &Engine,
    env: &ModuleEnv,
    offsets: &VmOffsets,
    bytes: &[u8],
    pending: Pending,
    allocs: &mut FuncValidatorAllocations,
    compile: bool,
) -> Compiled {
    let index = pending.job.index();
    let start = pending.offset as usize;
    let body = rung_decoder::FunctionBody {
        index,
        offset: pending.offset,
        bytes: &bytes[start..start + pending.len],
    };
    let compile_error = |error| Error::Compile {
        func: Some(index),
        error,
    };
    if compile && engine.uses_baseline(index) {
        // One walk: the baseline validates each operator as it compiles it.
        let spare = pending.job.clone();
        match engine
            .inner
            .baseline
            .compile_validating(env, index, body, offsets, pending.job)
        {
            Ok(f) => return Ok((index, f)),
            Err(CompileError::Invalid {
                message,
                offset,
                func,
            }) => {
                return Err(Error::Invalid(ValidateError::new(
                    offset,
                    Some(func),
                    message,
                )));
            }
            Err(CompileError::Unsupported { .. }) => {
                // Not this tier: validate the whole body, then the optimizer.
                engine.inner.fallbacks.fetch_add(1, Ordering::Relaxed);
                validate_job(spare, &body, allocs)?;
            }
            Err(e) => return Err(compile_error(e)),
        }
    } else {
        validate_job(pending.job, &body, allocs)?;
        if !compile {
            return Ok((index, CompiledFunction::default()));
        }
    }
    engine
        .inner
        .optimizer
        .compile(env, index, body, offsets)
        .map(|c| (index, c))
        .map_err(compile_error)
}

/// Stage 2 of one body on its own.
fn validate_job(
    job: FuncJob,
    body: &rung_decoder::FunctionBody<'_>,
    allocs: &mut FuncValidatorAllocations,
) -> Result<(), Error> {
    let mut validator = job.into_validator(std::mem::take(allocs));
    let valid = validator.validate_body(body);
    *allocs = validator.into_allocations();
    valid.map_err(Error::Invalid)
}

/// Validates and compiles every body on `compile_threads` threads. When
/// several functions fail, the first in function order wins, as a
/// one-thread walk would report.
fn compile_all(
    engine: &Engine,
    env: &ModuleEnv,
    offsets: &VmOffsets,
    bytes: &[u8],
    bodies: Vec<Pending>,
    compile: bool,
) -> Result<Vec<(u32, CompiledFunction)>, Error> {
    let count = bodies.len();
    let threads = engine.config().compile_threads.clamp(1, count.max(1));
    let queue = parking_lot::Mutex::new(bodies.into_iter().enumerate());
    let work = || {
        let mut allocs = FuncValidatorAllocations::default();
        let mut done = Vec::new();
        loop {
            let next = queue.lock().next();
            let Some((i, pending)) = next else { break };
            done.push((
                i,
                compile_one(engine, env, offsets, bytes, pending, &mut allocs, compile),
            ));
        }
        done
    };
    let chunks: Vec<Vec<(usize, Compiled)>> = if threads == 1 {
        vec![work()]
    } else {
        std::thread::scope(|s| {
            let workers: Vec<_> = (0..threads).map(|_| s.spawn(work)).collect();
            workers
                .into_iter()
                .map(|w| w.join().unwrap_or_default())
                .collect()
        })
    };
    let mut results: Vec<Option<Compiled>> = (0..count).map(|_| None).collect();
    for (i, r) in chunks.into_iter().flatten() {
        results[i] = Some(r);
    }
    results
        .into_iter()
        .map(|r| {
            r.unwrap_or_else(|| {
                Err(Error::Compile {
                    func: None,
                    error: CompileError::Internal("a compile thread panicked".into()),
                })
            })
        })
        .collect()
}
