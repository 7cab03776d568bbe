//! rung-validator: two-stage validation of WebAssembly modules.
//!
//! ```text
//!            decoder events
//!                 │
//!   stage 1  ModuleValidator ── sections, index spaces, constant expressions,
//!                 │              limits; one per module, on the decoding thread
//!                 │ FuncJob (Send) per body
//!                 ▼
//!   stage 2  FunctionValidator ── one function's operand and control stacks;
//!             on any thread: whole bodies (`validate_body`), or operator by
//!             operator from inside a compiler's single pass (`op`, `visitor`)
//! ```
//!
//! `validate(bytes, threads)` runs both stages over a module in memory, stage 2
//! on `threads` threads; [`Validating`] wraps any [`EventSink`] so that a
//! streaming consumer sees only events that validated.
//!
//! **Invariant:** the feature set is WebAssembly 3.0 as
//! `wasmparser::WasmFeatures::WASM3` defines it, plus the legacy exception
//! instructions (`try`/`catch`/`rethrow`/`delegate`, which Emscripten and
//! node 20 still emit) and wide arithmetic (`i64.add128`, `i64.sub128`,
//! `i64.mul_wide_s/u`), unless a caller asks for another. Validation never
//! depends on what a tier can compile.
//!
//! **Invariant:** every error carries the absolute byte offset in the module,
//! and inside a function the function's index.

mod error;
mod func;
mod parallel;

pub use error::ValidateError;
pub use func::{FuncJob, FunctionValidator, WasmFunctionValidator};
pub use parallel::{BodyJob, validate, validate_functions, validate_with};
pub use wasmparser::FuncValidatorAllocations;

use rung_decoder::{Event, EventSink, ModuleEnv};
use wasmparser::{
    BinaryReader, DataKind, DataSectionReader, Encoding, Payload, Validator, WasmFeatures,
};

/// The features rung validates with unless told otherwise.
pub const FEATURES: WasmFeatures = WasmFeatures::WASM3
    .union(WasmFeatures::LEGACY_EXCEPTIONS)
    .union(WasmFeatures::WIDE_ARITHMETIC);

/// Stage 1: the module-level validator, fed the decoder's events in order.
///
/// For every function body it hands out a [`FuncJob`], which stage 2 may run
/// on any thread; the module is valid when every section event, every job and
/// [`ModuleValidator::event`] on [`Event::End`] succeed.
pub struct ModuleValidator {
    inner: Validator,
}

impl Default for ModuleValidator {
    fn default() -> Self {
        Self::new(FEATURES)
    }
}

impl ModuleValidator {
    pub fn new(features: WasmFeatures) -> Self {
        ModuleValidator {
            inner: Validator::new_with_features(features),
        }
    }

    /// Validates one event. Returns the stage-2 job for a function body.
    pub fn event(&mut self, event: &Event<'_>) -> Result<Option<FuncJob>, ValidateError> {
        let v = &mut self.inner;
        match event {
            Event::Header { version, range } => v.version(*version, Encoding::Module, range)?,
            Event::Section {
                payload: Payload::DataSection(section),
                ..
            } if data_is_plainly_valid(v, section) => {
                // Only the section's place in the module is left to check:
                // hand wasmparser an empty data section at the same offset.
                let empty = DataSectionReader::new(BinaryReader::new(&[0], section.range().start))?;
                v.data_section(&empty)?;
            }
            Event::Section { payload, .. } => {
                v.payload(payload)?;
            }
            Event::CodeSectionStart { range, .. } => v.code_section_start(range)?,
            Event::FunctionBody(body) => {
                let func = v.code_section_entry(&body.reader())?;
                return Ok(Some(FuncJob::new(body.index, func)));
            }
            Event::End { offset } => {
                v.end(*offset)?;
            }
            Event::DataSegment { .. } | Event::CustomSection { .. } => {}
        }
        Ok(None)
    }
}

/// wasmparser's limit on data segments.
const MAX_DATA_SEGMENTS: u32 = 100_000;

/// Whether every segment of `section` is one that needs no constant-expression
/// validator: passive (bulk memory), or active in an existing 32-bit memory
/// at an `i32.const` offset. Programs compiled from Go, for instance, carry
/// about 100,000 such segments, and wasmparser validates each offset with a whole
/// operator validator. Anything else (or any malformed byte) answers `false`,
/// and wasmparser validates the section as usual, with its own errors.
fn data_is_plainly_valid(v: &Validator, section: &DataSectionReader<'_>) -> bool {
    if section.count() > MAX_DATA_SEGMENTS {
        return false;
    }
    let Some(types) = v.types(0) else {
        return false;
    };
    let bulk_memory = v.features().bulk_memory();
    for data in section.clone() {
        let Ok(data) = data else {
            return false;
        };
        let plain = match data.kind {
            DataKind::Passive => bulk_memory,
            DataKind::Active {
                memory_index,
                offset_expr,
            } => {
                memory_index < types.memory_count()
                    && !types.memory_at(memory_index).memory64
                    && is_i32_const(&offset_expr)
            }
        };
        if !plain {
            return false;
        }
    }
    true
}

/// Whether `expr` is exactly `i32.const N end`.
fn is_i32_const(expr: &wasmparser::ConstExpr<'_>) -> bool {
    let mut r = expr.get_binary_reader();
    r.read_u8().ok() == Some(0x41)
        && r.read_var_i32().is_ok()
        && r.read_u8().ok() == Some(0x0b)
        && r.eof()
}

/// An [`EventSink`] adapter that validates every event (stage 1, and stage 2
/// inline on the calling thread) before passing it on to `inner`.
pub struct Validating<S> {
    pub module: ModuleValidator,
    pub inner: S,
    allocs: Option<FuncValidatorAllocations>,
}

impl<S> Validating<S> {
    pub fn new(features: WasmFeatures, inner: S) -> Self {
        Validating {
            module: ModuleValidator::new(features),
            inner,
            allocs: Some(FuncValidatorAllocations::default()),
        }
    }
}

impl<S> EventSink for Validating<S>
where
    S: EventSink,
    S::Error: From<ValidateError>,
{
    type Error = S::Error;

    fn event(&mut self, env: &ModuleEnv, event: Event<'_>) -> Result<(), S::Error> {
        if let Some(job) = self.module.event(&event)? {
            let Event::FunctionBody(body) = &event else {
                unreachable!("only function bodies make jobs")
            };
            let mut func = job.into_validator(self.allocs.take().unwrap_or_default());
            let result = func.validate_body(body);
            self.allocs = Some(func.into_allocations());
            result?;
        }
        self.inner.event(env, event)
    }
}

/// A sink that keeps nothing: with [`Validating`], pure validation.
pub struct Discard;

impl EventSink for Discard {
    type Error = ValidateError;
    fn event(&mut self, _: &ModuleEnv, _: Event<'_>) -> Result<(), ValidateError> {
        Ok(())
    }
}
