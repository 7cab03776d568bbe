//! rung-optimizer: the optimizing tier, a one-pass WebAssembly → Cranelift IR
//! translator and Cranelift's x86-64 backend behind [`rung_tiering::Tier`].
//!
//! ```text
//! FunctionBody ──► translate (operator walk: value stack, control stack)
//!                     │  env: vmctx loads at VmOffsets; memory, table, call
//!                     ▼
//!                  CLIF (ir::Function, CallConv::Tail, vmctx first)
//!                     │  cranelift-codegen: egraph opts, regalloc, x64 emission
//!                     ▼
//!                  emit: code bytes + trap sites + offset map ──► CompiledFunction
//! ```
//!
//! Modules, one job each:
//! - [`translate`]: the operator walk (`mod.rs`), with memory, table, call,
//!   numeric and SIMD operators in submodules;
//! - `env`: every load from the vmctx, read off [`VmOffsets`];
//! - `emit`: compiling the CLIF and turning Cranelift's buffer into a
//!   [`CompiledFunction`] (no relocations, every trap mapped);
//! - [`trampoline`]: host ↔ wasm trampolines per signature.
//!
//! **Invariants:** code is position independent (every call goes through the
//! vmctx; a relocation is an `Internal` error); every trap is a native
//! Cranelift trap (`ud2` or a faulting `div`) recorded as a [`TrapSite`] with
//! a [`rung_tiering::TrapCode`]; the tier holds no state but the ISA and is
//! callable from any thread (per-thread Cranelift contexts are reused).
//!
//! The stack check is Cranelift's `stack_limit` prologue check against
//! `vmctx.stack_limit` (trapping `StackOverflow`). Cranelift omits it in a
//! leaf function whose frame is empty (it only pushes `rbp`): such a function
//! cannot recurse, and the runtime's limit leaves room for it.

mod emit;
mod env;
pub mod trampoline;
pub mod translate;
mod traps;

use std::cell::RefCell;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::time::Instant;

use cranelift_codegen::Context;
use cranelift_codegen::isa::{self, TargetIsa};
use cranelift_codegen::settings::{self, Configurable};
use cranelift_frontend::FunctionBuilderContext;
use rung_tiering::{
    CompileError, CompileOptions, CompiledFunction, FunctionBody, ModuleEnv, Tier, Trampolines,
    VmOffsets,
};
use wasmparser::FuncType;

pub use traps::{cranelift_trap, rung_trap};

/// The optimizing tier: holds the target ISA, built once.
#[derive(Clone)]
pub struct OptimizingTier {
    isa: Arc<dyn TargetIsa>,
    /// Whether the ISA has SSE4.1, the floor for SIMD operators.
    simd: bool,
}

impl std::fmt::Debug for OptimizingTier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OptimizingTier")
            .field("isa", &self.isa.name())
            .field("triple", &self.isa.triple().to_string())
            .finish()
    }
}

thread_local! {
    /// Cranelift's allocations, reused by every compile on this thread.
    static CONTEXTS: RefCell<(Context, FunctionBuilderContext)> =
        RefCell::new((Context::new(), FunctionBuilderContext::new()));
}

/// The shared (target-independent) settings every function is compiled with:
/// `opt_level=speed`, the verifier in debug builds only, and
/// [`rung_tiering::abi::CRANELIFT_SETTINGS`].
///
/// # Errors
///
/// `Internal` if Cranelift rejects a setting.
pub fn shared_flags() -> Result<settings::Flags, CompileError> {
    shared_flags_with(&[])
}

/// [`shared_flags`] with some settings changed (e.g. `opt_level`).
fn shared_flags_with(overrides: &[(&str, &str)]) -> Result<settings::Flags, CompileError> {
    let mut b = settings::builder();
    let verifier = if cfg!(debug_assertions) {
        "true"
    } else {
        "false"
    };
    let ours = [
        ("opt_level", "speed"),
        ("preserve_frame_pointers", "true"),
        ("enable_multi_ret_implicit_sret", "true"),
        ("enable_verifier", verifier),
    ];
    for (name, value) in ours
        .iter()
        .chain(rung_tiering::abi::CRANELIFT_SETTINGS.iter())
        .chain(overrides)
    {
        b.set(name, value).map_err(|e| {
            CompileError::Internal(format!("cranelift setting {name}={value}: {e}"))
        })?;
    }
    Ok(settings::Flags::new(b))
}

impl OptimizingTier {
    /// The tier for the host CPU (its features detected by
    /// `cranelift_native`).
    ///
    /// # Errors
    ///
    /// `Unsupported` if the host is not x86-64 (the only target the ABI
    /// defines) or Cranelift cannot target it; `Internal` if a setting is
    /// rejected.
    pub fn new() -> Result<OptimizingTier, CompileError> {
        OptimizingTier::with_settings(&[])
    }

    /// The tier for the host CPU with Cranelift settings changed from
    /// [`shared_flags`], e.g. `[("opt_level", "none")]` for a quick middle
    /// tier of a ladder.
    ///
    /// # Errors
    ///
    /// As [`OptimizingTier::new`]; `Internal` if Cranelift rejects a
    /// setting.
    pub fn with_settings(settings: &[(&str, &str)]) -> Result<OptimizingTier, CompileError> {
        let builder = cranelift_native::builder().map_err(|e| CompileError::Unsupported {
            feature: format!("host ISA: {e}"),
            offset: 0,
        })?;
        OptimizingTier::build(builder, settings)
    }

    /// The tier for an explicit ISA builder (e.g. a fixed feature set, for
    /// reproducible disassembly in tests), with [`shared_flags`].
    ///
    /// # Errors
    ///
    /// `Unsupported` for a target other than x86-64; `Internal` if Cranelift
    /// rejects the flags.
    pub fn with_isa_builder(builder: isa::Builder) -> Result<OptimizingTier, CompileError> {
        OptimizingTier::build(builder, &[])
    }

    fn build(
        builder: isa::Builder,
        settings: &[(&str, &str)],
    ) -> Result<OptimizingTier, CompileError> {
        if builder.triple().architecture.to_string() != "x86_64" {
            return Err(CompileError::Unsupported {
                feature: format!("target {} (the rung ABI is x86-64 only)", builder.triple()),
                offset: 0,
            });
        }
        let isa = builder
            .finish(shared_flags_with(settings)?)
            .map_err(|e| CompileError::Internal(format!("building the ISA: {e}")))?;
        let simd = isa
            .isa_flags()
            .iter()
            .any(|f| f.name == "has_sse41" && f.as_bool() == Some(true));
        Ok(OptimizingTier { isa, simd })
    }

    /// What the translator needs of the target and the options. With
    /// `interrupt_checks`, code checks `vmctx.interrupt` at every function
    /// entry and loop header (a load, test and branch per loop iteration
    /// cost the kernels 12–20%); with `tier_up_checks`, it counts the
    /// tier-up budget there, as the baseline does (for an optimizer
    /// configuration in the middle of a ladder).
    fn target(&self, options: &CompileOptions) -> translate::Target<'_> {
        translate::Target {
            isa: &*self.isa,
            interrupt_checks: options.interrupt_checks,
            tier_up_checks: options.tier_up_checks,
            osr_loop: None,
            simd: self.simd,
        }
    }

    /// The ISA code is generated for.
    pub fn isa(&self) -> &dyn TargetIsa {
        &*self.isa
    }

    /// The CLIF of function `index` right after translation, before any
    /// optimization (what the snapshot tests and `rung` tools show).
    ///
    /// # Errors
    ///
    /// As [`Tier::compile`].
    pub fn translate_to_clif(
        &self,
        env: &ModuleEnv,
        index: u32,
        body: FunctionBody<'_>,
        offsets: &VmOffsets,
        options: &CompileOptions,
    ) -> Result<String, CompileError> {
        self.clif_of(env, index, body, offsets, self.target(options))
    }

    /// The CLIF of the OSR entry at the loop at `loop_offset` (as
    /// [`Tier::compile_osr_entry`] translates it), before any optimization.
    ///
    /// # Errors
    ///
    /// As [`Tier::compile_osr_entry`].
    pub fn translate_osr_entry_to_clif(
        &self,
        env: &ModuleEnv,
        index: u32,
        body: FunctionBody<'_>,
        offsets: &VmOffsets,
        options: &CompileOptions,
        loop_offset: u32,
    ) -> Result<String, CompileError> {
        let target = translate::Target {
            osr_loop: Some(loop_offset),
            ..self.target(options)
        };
        self.clif_of(env, index, body, offsets, target)
    }

    fn clif_of(
        &self,
        env: &ModuleEnv,
        index: u32,
        body: FunctionBody<'_>,
        offsets: &VmOffsets,
        target: translate::Target<'_>,
    ) -> Result<String, CompileError> {
        with_contexts(|ctx, fctx| {
            translate::translate_function(&target, env, index, body, offsets, ctx, fctx)?;
            Ok(ctx.func.display().to_string())
        })
    }
}

/// Runs `f` with this thread's Cranelift contexts, turning a panic inside
/// Cranelift (or the translator) into `Internal` and discarding the contexts
/// it may have left half-built.
pub(crate) fn with_contexts<T>(
    f: impl FnOnce(&mut Context, &mut FunctionBuilderContext) -> Result<T, CompileError>,
) -> Result<T, CompileError> {
    CONTEXTS.with(|cell| {
        let Ok(mut guard) = cell.try_borrow_mut() else {
            // Re-entered on this thread (cannot happen from the Tier API);
            // use fresh contexts rather than fail.
            let mut ctx = Context::new();
            let mut fctx = FunctionBuilderContext::new();
            return run_catching(|| f(&mut ctx, &mut fctx));
        };
        let (ctx, fctx) = &mut *guard;
        ctx.clear();
        let result = run_catching(|| f(ctx, fctx));
        if result.is_err() {
            *ctx = Context::new();
            *fctx = FunctionBuilderContext::new();
        }
        result
    })
}

fn run_catching<T>(f: impl FnOnce() -> Result<T, CompileError>) -> Result<T, CompileError> {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(r) => r,
        Err(payload) => {
            let msg = rung_tiering::panic_message(&*payload);
            Err(CompileError::Internal(format!(
                "panic while compiling: {msg}"
            )))
        }
    }
}

impl Tier for OptimizingTier {
    fn name(&self) -> &'static str {
        "optimizer"
    }

    fn compile(
        &self,
        env: &ModuleEnv,
        index: u32,
        body: FunctionBody<'_>,
        offsets: &VmOffsets,
        options: &CompileOptions,
    ) -> Result<CompiledFunction, CompileError> {
        self.compile_with(env, index, body, offsets, self.target(options))
    }

    /// The function translated with a different entry: `(vmctx, buffer)`,
    /// the loop's OSR layout read from the buffer, on from the loop's
    /// header (`translate::OsrEntry`).
    fn compile_osr_entry(
        &self,
        env: &ModuleEnv,
        index: u32,
        body: FunctionBody<'_>,
        offsets: &VmOffsets,
        options: &CompileOptions,
        loop_offset: u32,
    ) -> Result<CompiledFunction, CompileError> {
        let target = translate::Target {
            osr_loop: Some(loop_offset),
            ..self.target(options)
        };
        self.compile_with(env, index, body, offsets, target)
    }
}

impl OptimizingTier {
    fn compile_with(
        &self,
        env: &ModuleEnv,
        index: u32,
        body: FunctionBody<'_>,
        offsets: &VmOffsets,
        target: translate::Target<'_>,
    ) -> Result<CompiledFunction, CompileError> {
        let start = Instant::now();
        let wasm_bytes = body.bytes.len();
        let counts_budget = target.tier_up_checks;
        let mut f = with_contexts(|ctx, fctx| {
            let accesses =
                translate::translate_function(&target, env, index, body, offsets, ctx, fctx)?;
            let start = u32::try_from(body.offset).ok();
            emit::emit(&*self.isa, ctx, start.map(|s| (s, accesses.as_slice())))
        })?;
        f.stats.wasm_bytes = wasm_bytes;
        f.stats.compile_time = start.elapsed();
        f.stats.tier = "optimizer";
        f.counts_budget = counts_budget;
        Ok(f)
    }
}

/// The trampolines between the host and wasm (see
/// [`rung_tiering::trampoline`]), compiled by Cranelift.
impl Trampolines for OptimizingTier {
    /// # Errors
    ///
    /// `Internal` if Cranelift fails.
    fn host_to_wasm(&self, ty: &FuncType) -> Result<CompiledFunction, CompileError> {
        trampoline::host_to_wasm(&*self.isa, ty.params(), ty.results())
    }

    /// # Errors
    ///
    /// As [`Trampolines::host_to_wasm`].
    fn wasm_to_host(&self, ty: &FuncType) -> Result<CompiledFunction, CompileError> {
        trampoline::wasm_to_host(&*self.isa, ty.params(), ty.results())
    }
}
