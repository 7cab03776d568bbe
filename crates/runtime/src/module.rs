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
use rung_validator::{FEATURES, ValidateError, Validating};
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
    pub _code: Arc<CodeMemory>,
    /// The code table: the current code pointer of each defined function.
    pub slots: Box<[AtomicUsize]>,
    /// Tier-up budgets, one per defined function (decremented by baseline code).
    pub budgets: Box<[AtomicI32]>,
    /// Canonical type id per type index.
    pub type_ids: Box<[u32]>,
    pub data: Vec<DataSegment>,
}

/// A compiled module.
#[derive(Clone)]
pub struct Module {
    pub(crate) inner: Arc<ModuleInner>,
}

/// The sink that keeps what compilation and instantiation need.
#[derive(Default)]
struct Collect {
    bodies: Vec<(u32, u64, usize)>,
    data: Vec<DataSegment>,
}

impl rung_decoder::EventSink for Collect {
    type Error = ValidateError;
    fn event(&mut self, _: &ModuleEnv, event: Event<'_>) -> Result<(), ValidateError> {
        match event {
            Event::FunctionBody(body) => {
                self.bodies
                    .push((body.index, body.offset, body.bytes.len()))
            }
            Event::DataSegment { data, .. } => {
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
            _ => {}
        }
        Ok(())
    }
}

impl Module {
    /// Decodes, validates and compiles `bytes` (the binary format).
    pub fn new(engine: &Engine, bytes: &[u8]) -> Result<Module, Error> {
        let mut sink = Validating::new(FEATURES, Collect::default());
        let config = DecoderConfig::default();
        let env = decode_all(bytes, config, &mut sink).map_err(Error::Invalid)?;
        let Collect { bodies, data } = sink.inner;
        let offsets =
            VmOffsets::for_host(&env).map_err(|error| Error::Compile { func: None, error })?;

        let compiled = compile_all(engine, &env, &offsets, bytes, &bodies)?;
        let code = CodeMemory::publish(compiled.iter().map(|(i, c)| (*i, c))).map_err(|e| {
            Error::Compile {
                func: None,
                error: CompileError::Internal(e.to_string()),
            }
        })?;
        let slots = (0..compiled.len())
            .map(|i| AtomicUsize::new(code.function_ptr(i) as usize))
            .collect();
        let budgets = (0..compiled.len())
            .map(|_| AtomicI32::new(i32::MAX))
            .collect();
        let type_ids = engine
            .module_type_ids(&env.types, &env.rec_group_starts)
            .into_boxed_slice();
        Ok(Module {
            inner: Arc::new(ModuleInner {
                env,
                offsets,
                _code: code,
                slots,
                budgets,
                type_ids,
                data,
            }),
        })
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

/// Compiles every body, on `compile_threads` threads; the first error in
/// function order wins.
fn compile_all(
    engine: &Engine,
    env: &ModuleEnv,
    offsets: &VmOffsets,
    bytes: &[u8],
    bodies: &[(u32, u64, usize)],
) -> Result<Vec<(u32, CompiledFunction)>, Error> {
    let tier = &engine.inner.optimizer;
    let compile_one = |&(index, offset, len): &(u32, u64, usize)| {
        let start = offset as usize;
        let body = rung_decoder::FunctionBody {
            index,
            offset,
            bytes: &bytes[start..start + len],
        };
        tier.compile(env, index, body, offsets)
            .map(|c| (index, c))
            .map_err(|error| Error::Compile {
                func: Some(index),
                error,
            })
    };
    let threads = engine
        .config()
        .compile_threads
        .max(1)
        .min(bodies.len().max(1));
    if threads == 1 {
        return bodies.iter().map(compile_one).collect();
    }
    let next = AtomicUsize::new(0);
    let mut results: Vec<Option<Compiled>> = (0..bodies.len()).map(|_| None).collect();
    let chunks: Vec<Vec<(usize, Compiled)>> = std::thread::scope(|s| {
        let workers: Vec<_> = (0..threads)
            .map(|_| {
                s.spawn(|| {
                    let mut done = Vec::new();
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        let Some(body) = bodies.get(i) else { break };
                        done.push((i, compile_one(body)));
                    }
                    done
                })
            })
            .collect();
        workers
            .into_iter()
            .map(|w| w.join().unwrap_or_default())
            .collect()
    });
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
