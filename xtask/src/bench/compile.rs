//! `cargo xtask bench compile`: rung's compile throughput on one thread, per
//! tier, beside V8's Liftoff and TurboFan on one thread.
//!
//! For each module, interleaved ([`measure`]):
//!
//! ```text
//! baseline      the whole pipeline, like V8's `new WebAssembly.Module`:
//!               decode_all with a sink that runs ModuleValidator::event and
//!               hands each body, as it arrives, to
//!               BaselineTier::compile_validating (validates each operator as
//!               it compiles it); one thread, nothing prepared before the clock
//! compile-only  Tier::compile (no validation) on every body of the baseline;
//!               decoded and VmOffsets built before the clock starts
//! optimizer     OptimizingTier::compile on every body, the same way as
//!               compile-only (the corpus is valid, see bench decode)
//! TurboFan      node --no-liftoff --no-wasm-tier-up --no-wasm-lazy-compilation
//!               --single-threaded peers/node_compile.mjs FILE
//! Liftoff       node --liftoff --no-wasm-tier-up --no-wasm-lazy-compilation
//!               --single-threaded peers/node_compile.mjs FILE
//! ```
//!
//! `--tiers` picks the rung tiers (default both). TurboFan runs beside the
//! optimizer, Liftoff beside either. The baseline runs on every module; the
//! optimizer (and TurboFan) only on modules under [`DEFAULT_MAX_BYTES`] unless
//! `--all` or `--modules`: Cranelift takes a minute or more over yosys's
//! 42 MB of code.
//!
//! A V8 sample is one fresh node process (V8 would otherwise serve its
//! cached module), timing `new WebAssembly.Module` (decode, validate and
//! compile: V8 cannot compile without validating); each V8 number is the
//! median of at least 3. Throughput is module bytes in 10^6 bytes per
//! second over the median time; a ratio is one MB/s over another's, so above
//! 1× the first compiles faster. The goals (issue 4): baseline / Liftoff
//! ≥ [`GOAL_VS_LIFTOFF`] on every module, comparing like for like (both
//! decode, validate and compile); compile-only baseline / optimizer
//! ≥ [`GOAL_VS_OPTIMIZER`] (neither decodes nor validates).
//!
//! **Invariant:** a function a tier reports `Unsupported` is counted, by
//! feature, and left out (the runtime would hand it to another tier); the
//! baseline pipeline still validates it whole, as the runtime does. Any other
//! compile error (`Invalid`, `ImplLimit`, `Internal`, a caught panic) is a
//! failure: the compile goes on to count them all, the cell shows the error,
//! the JSON lists every one, and the bench exits with an error after writing
//! it. Throughput always counts the whole module, and the table says how
//! many functions were left out.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::{Args, ValueEnum};
use rung_baseline::BaselineTier;
use rung_decoder::{DecodeError, DecoderConfig, Event, ModuleEnv, decode_all};
use rung_optimizer::OptimizingTier;
use rung_tiering::{CompileError, CompileOptions, CompiledFunction, FunctionBody, Tier, VmOffsets};

/// What `rung run`'s default (tiered) ladder asks of the baseline: it
/// counts its tier-up budget.
const BASELINE_OPTIONS: CompileOptions = CompileOptions {
    interrupt_checks: false,
    tier_up_checks: true,
    osr: false,
};

/// What it asks of the optimizer, at the top: nothing.
const OPTIMIZER_OPTIONS: CompileOptions = CompileOptions {
    interrupt_checks: false,
    tier_up_checks: false,
    osr: false,
};
use rung_validator::{FuncValidatorAllocations, FunctionValidator, ModuleValidator, ValidateError};
use serde::{Deserialize, Serialize};

use super::node::{LIFTOFF_SINGLE_THREADED, Node, NodeArgs, TURBOFAN_SINGLE_THREADED};
use super::{
    Case, CommonArgs, Notes, Outcome, Repeat, Sample, case, measure, ratio_cell, time_ratio,
};
use crate::corpus::{Corpus, Module, Skipped};
use crate::paths;
use crate::report::{self, Machine, Table};

/// Modules at least this large run the optimizer only with `--all` (or by name).
pub const DEFAULT_MAX_BYTES: u64 = 5_000_000;

/// The issue's goal for baseline MB/s over Liftoff's, on every module.
pub const GOAL_VS_LIFTOFF: f64 = 1.5;

/// The issue's goal for baseline MB/s over the optimizer's.
pub const GOAL_VS_OPTIMIZER: f64 = 10.0;

/// Fresh node processes per V8 number, at least.
const NODE_MIN_SAMPLES: usize = 3;

/// Functions named in a failed cell; the JSON has them all.
const FAILURES_IN_CELL: usize = 3;

/// A rung tier `bench compile` can measure.
#[derive(ValueEnum, Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TierArg {
    /// The single-pass baseline (rung-baseline): every module.
    Baseline,
    /// The optimizing tier (Cranelift): modules under 5 MB unless --all.
    Optimizer,
}

/// `bench compile`'s options.
#[derive(Args, Debug, Clone, Default)]
pub struct CompileArgs {
    #[command(flatten)]
    pub common: CommonArgs,
    /// The optimizer on every module, also those over 5 MB (Cranelift takes
    /// a minute or more on the largest) [default: the optimizer only on
    /// modules under 5 MB, unless --modules names them; the baseline always
    /// on every module]
    #[arg(long)]
    pub all: bool,
    /// The rung tiers to measure, comma-separated [default: baseline,optimizer]
    #[arg(long, value_enum, value_delimiter = ',', value_name = "T,T")]
    pub tiers: Vec<TierArg>,
    #[command(flatten)]
    pub node: NodeArgs,
}

/// Which rung tiers run on one module.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Plan {
    baseline: bool,
    optimizer: bool,
}

impl CompileArgs {
    fn wants(&self, tier: TierArg) -> bool {
        self.tiers.is_empty() || self.tiers.contains(&tier)
    }

    /// The tiers that run on a module of `size` bytes.
    fn plan(&self, size: u64) -> Plan {
        Plan {
            baseline: self.wants(TierArg::Baseline),
            optimizer: self.wants(TierArg::Optimizer)
                && (self.all || !self.common.modules.is_empty() || size < DEFAULT_MAX_BYTES),
        }
    }
}

/// The JSON document.
#[derive(Serialize)]
struct Report {
    bench: &'static str,
    machine: Machine,
    tiers: Vec<TierArg>,
    baseline_tier: Option<&'static str>,
    optimizer_tier: Option<&'static str>,
    threads: usize,
    /// `node --version`, when node ran.
    node: Option<String>,
    /// Why the V8 columns are empty, when they are.
    node_unavailable: Option<String>,
    turbofan_flags: &'static [&'static str],
    liftoff_flags: &'static [&'static str],
    repeat: Repeat,
    node_min_samples: usize,
    goal_baseline_vs_liftoff: f64,
    goal_baseline_vs_optimizer: f64,
    corpus_dir: String,
    modules: Vec<ModuleResult>,
    skipped: Vec<Skipped>,
}

/// A function a tier failed on with something other than `Unsupported`.
#[derive(Serialize, Debug, Clone, PartialEq, Eq)]
struct Failure {
    func: u32,
    error: String,
}

/// What one compile of every body produced, beside the time.
#[derive(Serialize, Debug, Default, Clone)]
struct Tally {
    /// Bodies seen.
    functions: usize,
    /// Bodies the tier reported `Unsupported`, by feature.
    unsupported: BTreeMap<String, usize>,
    /// Bodies it failed on otherwise (a bug in the tier).
    failures: Vec<Failure>,
    /// Bytes of the bodies compiled (the unsupported ones left out).
    compiled_body_bytes: usize,
    /// Bytes of machine code the compiled functions came to.
    machine_code_bytes: usize,
}

impl Tally {
    fn record(
        &mut self,
        index: u32,
        len: usize,
        result: Result<CompiledFunction, CompileError>,
    ) -> Option<CompiledFunction> {
        self.functions += 1;
        match result {
            Ok(f) => {
                self.compiled_body_bytes += len;
                self.machine_code_bytes += f.code.len();
                Some(f)
            }
            Err(CompileError::Unsupported { feature, .. }) => {
                *self.unsupported.entry(feature).or_default() += 1;
                None
            }
            Err(e) => {
                self.failures.push(Failure {
                    func: index,
                    error: e.to_string(),
                });
                None
            }
        }
    }

    fn unsupported_count(&self) -> usize {
        self.unsupported.values().sum()
    }

    /// Unsupported counts by proposal (`simd`, `threads`, `exceptions`):
    /// the tiers name a feature as `proposal: operator` or `proposal (…)`.
    fn unsupported_by_proposal(&self) -> BTreeMap<&str, usize> {
        let mut by = BTreeMap::new();
        for (feature, n) in &self.unsupported {
            let proposal = feature.split([':', ' ', '(']).next().unwrap_or(feature);
            *by.entry(proposal).or_default() += n;
        }
        by
    }

    /// The failures as one error message, naming the first few.
    fn failure_message(&self) -> Option<String> {
        if self.failures.is_empty() {
            return None;
        }
        let named: Vec<String> = self
            .failures
            .iter()
            .take(FAILURES_IN_CELL)
            .map(|f| format!("function {}: {}", f.func, f.error))
            .collect();
        let more = self.failures.len().saturating_sub(FAILURES_IN_CELL);
        let more = if more > 0 {
            format!("; and {more} more (compile.json)")
        } else {
            String::new()
        };
        Some(format!(
            "{} functions failed: {}{more}",
            self.failures.len(),
            named.join("; ")
        ))
    }
}

/// One rung measurement: the time, and what the first repetition compiled.
#[derive(Serialize)]
struct Run {
    time: Outcome,
    /// Absent when no repetition finished.
    tally: Option<Tally>,
}

impl Run {
    fn unsupported_count(&self) -> usize {
        self.tally.as_ref().map_or(0, Tally::unsupported_count)
    }

    /// Throughput over the bytes of the bodies it compiled.
    fn compiled_mb_per_s(&self) -> Option<f64> {
        let t = self.tally.as_ref()?;
        Some(self.time.sample()?.mb_per_s(t.compiled_body_bytes))
    }
}

/// Every number for one module.
#[derive(Serialize)]
struct ModuleResult {
    module: String,
    bytes: usize,
    /// The code section's content, when the module has one.
    code_bytes: Option<u64>,
    /// Function bodies.
    functions: Option<usize>,
    /// Decode + validate + compile with the baseline, one thread.
    baseline: Option<Run>,
    /// The baseline's `Tier::compile` on bodies decoded before the clock.
    baseline_compile_only: Option<Run>,
    /// The optimizer's `Tier::compile` on bodies decoded before the clock.
    optimizer: Option<Run>,
    turbofan: Outcome,
    liftoff: Outcome,
    /// baseline (the pipeline) MB/s over Liftoff MB/s: the issue's goal.
    ratio_baseline_vs_liftoff: Option<f64>,
    /// compile-only baseline MB/s over Liftoff MB/s (not like for like:
    /// Liftoff also decodes and validates).
    ratio_baseline_compile_only_vs_liftoff: Option<f64>,
    /// compile-only baseline MB/s over the optimizer's: the issue's goal.
    ratio_baseline_vs_optimizer: Option<f64>,
    /// optimizer MB/s over TurboFan MB/s (TurboFan's time over ours).
    ratio_optimizer_vs_turbofan: Option<f64>,
    /// optimizer MB/s over Liftoff MB/s.
    ratio_optimizer_vs_liftoff: Option<f64>,
}

impl ModuleResult {
    fn baseline_unsupported(&self) -> usize {
        self.baseline.as_ref().map_or(0, Run::unsupported_count)
    }

    fn optimizer_unsupported(&self) -> usize {
        self.optimizer.as_ref().map_or(0, Run::unsupported_count)
    }

    /// Every failure of a rung tier on this module, as `tier: message`.
    fn failures(&self) -> Vec<String> {
        let runs = [
            ("baseline", &self.baseline),
            ("baseline compile-only", &self.baseline_compile_only),
            ("optimizer", &self.optimizer),
        ];
        runs.into_iter()
            .filter_map(|(tier, run)| match &run.as_ref()?.time {
                Outcome::Error { message } => Some(format!("{} ({tier}): {message}", self.module)),
                _ => None,
            })
            .collect()
    }
}

pub fn run(args: &CompileArgs) -> Result<(), String> {
    let corpus = Corpus::locate(&args.common.corpus);
    let (modules, mut skipped) = corpus.prepare(&args.common.modules)?;
    let planned: Vec<(Module, Plan)> = modules
        .into_iter()
        .map(|m| {
            let size = std::fs::metadata(&m.path).map_or(u64::MAX, |md| md.len());
            let plan = args.plan(size);
            (m, plan)
        })
        .collect();
    let (planned, left_out): (Vec<_>, Vec<_>) = planned
        .into_iter()
        .partition(|(_, p)| p.baseline || p.optimizer);
    let left_out: Vec<Module> = left_out.into_iter().map(|(m, _)| m).collect();
    let repeat = args.common.repeat();
    let machine = Machine::describe();
    let node = args.node.probe();
    let baseline = args.wants(TierArg::Baseline).then(BaselineTier::new);
    let optimizer = if args.wants(TierArg::Optimizer) {
        Some(OptimizingTier::new().map_err(|e| format!("the optimizing tier: {e}"))?)
    } else {
        None
    };
    let tiers: Vec<TierArg> = [TierArg::Baseline, TierArg::Optimizer]
        .into_iter()
        .filter(|t| args.wants(*t))
        .collect();
    eprintln!(
        "bench compile: {} modules from {}, tiers {}, 1 thread, {}; V8: {}",
        planned.len(),
        corpus.dir().display(),
        tiers
            .iter()
            .map(|t| format!("{t:?}").to_lowercase())
            .collect::<Vec<_>>()
            .join(","),
        repeat.describe(),
        match &node {
            Ok(n) => format!("node {}", n.version),
            Err(e) => format!("n/a ({e})"),
        }
    );

    let script = paths::shared_dir()
        .join("corpus")
        .join("peers")
        .join("node_compile.mjs");
    let tiers_here = Tiers {
        baseline: baseline.as_ref(),
        optimizer: optimizer.as_ref(),
    };
    let mut results = Vec::new();
    for (module, plan) in &planned {
        results.push(bench_module(
            module,
            *plan,
            tiers_here,
            node.as_ref(),
            &script,
            repeat,
        )?);
    }
    let no_optimizer: Vec<&str> = planned
        .iter()
        .filter(|(_, p)| !p.optimizer && args.wants(TierArg::Optimizer))
        .map(|(m, _)| m.name.as_str())
        .collect();

    let context = Context {
        machine: &machine,
        node: node.as_ref(),
        repeat,
    };
    if baseline.is_some() {
        print_baseline_table(&context, &results, &no_optimizer);
    }
    if let Some(optimizer) = &optimizer {
        if baseline.is_some() {
            println!();
        }
        print_optimizer_table(&context, optimizer, &results);
    }
    for s in &skipped {
        println!();
        println!("Skipped {}: {}", s.name, s.reason);
    }
    if !left_out.is_empty() {
        let names: Vec<&str> = left_out.iter().map(|m| m.name.as_str()).collect();
        println!();
        println!(
            "Not run (over {} MB; `--all` runs them): {}.",
            DEFAULT_MAX_BYTES as f64 / 1e6,
            names.join(", ")
        );
    }

    let failures: Vec<String> = results.iter().flat_map(ModuleResult::failures).collect();
    skipped.extend(left_out.into_iter().map(|m| crate::corpus::Skipped {
        name: m.name,
        reason: format!("over {} MB: --all runs it", DEFAULT_MAX_BYTES as f64 / 1e6),
    }));
    let report = Report {
        bench: "compile",
        machine,
        tiers,
        baseline_tier: baseline.as_ref().map(|t| t.name()),
        optimizer_tier: optimizer.as_ref().map(optimizer_name),
        threads: 1,
        node: node.as_ref().ok().map(|n| n.version.clone()),
        node_unavailable: node.as_ref().err().cloned(),
        turbofan_flags: TURBOFAN_SINGLE_THREADED,
        liftoff_flags: LIFTOFF_SINGLE_THREADED,
        repeat,
        node_min_samples: NODE_MIN_SAMPLES,
        goal_baseline_vs_liftoff: GOAL_VS_LIFTOFF,
        goal_baseline_vs_optimizer: GOAL_VS_OPTIMIZER,
        corpus_dir: corpus.dir().display().to_string(),
        modules: results,
        skipped,
    };
    let path = report::write_json("compile", &report)?;
    eprintln!("bench compile: wrote {}", path.display());
    if failures.is_empty() {
        Ok(())
    } else {
        for f in &failures {
            eprintln!("bench compile: FAILED {f}");
        }
        Err(format!(
            "rung failed to compile {} module(s) (see above and compile.json)",
            failures.len()
        ))
    }
}

fn optimizer_name(tier: &OptimizingTier) -> &'static str {
    match tier.name() {
        "optimizer" | "optimized" => "optimizing tier (Cranelift, opt_level=speed)",
        other => other,
    }
}

/// The rung tiers this run measures.
#[derive(Clone, Copy)]
struct Tiers<'a> {
    baseline: Option<&'a BaselineTier>,
    optimizer: Option<&'a OptimizingTier>,
}

/// A module decoded once: what compiling its bodies needs.
struct Decoded {
    env: ModuleEnv,
    offsets: VmOffsets,
    /// (function index, absolute offset, length) of every body.
    bodies: Vec<(u32, u64, usize)>,
}

fn decoder_config() -> DecoderConfig {
    DecoderConfig {
        features: rung_validator::FEATURES,
        decode_names: false,
        ..DecoderConfig::default()
    }
}

fn decode(bytes: &[u8]) -> Result<Decoded, String> {
    let mut bodies = Vec::new();
    let env = decode_all(
        bytes,
        decoder_config(),
        &mut |_: &ModuleEnv, event: Event<'_>| {
            if let Event::FunctionBody(body) = event {
                bodies.push((body.index, body.offset, body.bytes.len()));
            }
            Ok::<_, DecodeError>(())
        },
    )
    .map_err(|e| format!("decoding: {e}"))?;
    let offsets = VmOffsets::for_host(&env).map_err(|e| format!("vmctx layout: {e}"))?;
    Ok(Decoded {
        env,
        offsets,
        bodies,
    })
}

/// Compiles every body of `module` in order on this thread, without
/// validating. The compiled functions are returned so that freeing them is
/// not timed.
fn compile_all(
    tier: &dyn Tier,
    options: &CompileOptions,
    module: &Decoded,
    bytes: &[u8],
) -> (Vec<CompiledFunction>, Tally) {
    let mut compiled = Vec::with_capacity(module.bodies.len());
    let mut tally = Tally::default();
    for &(index, offset, len) in &module.bodies {
        let start = offset as usize;
        let body = FunctionBody {
            index,
            offset,
            bytes: &bytes[start..start + len],
        };
        let result = tier.compile(&module.env, index, body, &module.offsets, options);
        compiled.extend(tally.record(index, len, result));
    }
    (compiled, tally)
}

/// Why the baseline pipeline stopped before the end of the module.
enum PipelineError {
    Decode(DecodeError),
    Validate(ValidateError),
    Layout(CompileError),
}

impl From<DecodeError> for PipelineError {
    fn from(e: DecodeError) -> Self {
        PipelineError::Decode(e)
    }
}

impl std::fmt::Display for PipelineError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PipelineError::Decode(e) => write!(f, "decoding: {e}"),
            PipelineError::Validate(e) => write!(f, "validating: {e}"),
            PipelineError::Layout(e) => write!(f, "vmctx layout: {e}"),
        }
    }
}

/// Decodes, validates and compiles `bytes` with the baseline on this thread,
/// the way the runtime does on one compile thread but streaming: stage 1
/// runs on each decoder event, and each body is compiled (validating each
/// operator) as soon as it arrives. A body the tier does not support is
/// validated whole with a second job, as the runtime does before handing it
/// to the optimizer. Returns the compiled functions (dropped untimed), and
/// the module's environment (idem).
fn baseline_pipeline(
    tier: &BaselineTier,
    bytes: &[u8],
) -> Result<(Vec<CompiledFunction>, ModuleEnv, Tally), String> {
    let mut stage1 = ModuleValidator::new(rung_validator::FEATURES);
    let mut offsets: Option<VmOffsets> = None;
    let mut allocs = FuncValidatorAllocations::default();
    let mut compiled = Vec::new();
    let mut tally = Tally::default();
    let mut sink = |env: &ModuleEnv, event: Event<'_>| -> Result<(), PipelineError> {
        let job = stage1.event(&event).map_err(PipelineError::Validate)?;
        let (Some(job), Event::FunctionBody(body)) = (job, &event) else {
            return Ok(());
        };
        // Every count the vmctx layout needs precedes the code section.
        let offsets = match &mut offsets {
            Some(o) => o,
            None => offsets.insert(VmOffsets::for_host(env).map_err(PipelineError::Layout)?),
        };
        let spare = job.clone();
        let result =
            tier.compile_validating(env, body.index, *body, offsets, &BASELINE_OPTIONS, job);
        if result.as_ref().is_err_and(CompileError::is_unsupported) {
            let mut validator = spare.into_validator(std::mem::take(&mut allocs));
            let valid = validator.validate_body(body);
            allocs = validator.into_allocations();
            if let Err(e) = valid {
                tally.failures.push(Failure {
                    func: body.index,
                    error: format!("unsupported, then invalid when validated whole: {e}"),
                });
            }
        }
        compiled.extend(tally.record(body.index, body.bytes.len(), result));
        Ok(())
    };
    let env = decode_all(bytes, decoder_config(), &mut sink).map_err(|e| e.to_string())?;
    Ok((compiled, env, tally))
}

/// What `node_compile.mjs` prints.
#[derive(Deserialize)]
struct NodeCompile {
    compile_s: Option<f64>,
    error: Option<String>,
}

/// A case that runs one fresh node process per sample with `flags`.
fn node_case<'a>(
    node: &'a Node,
    flags: &'a [&'a str],
    script: &'a Path,
    file: &'a Path,
) -> Case<'a> {
    Case::timed_by(move || {
        let out: NodeCompile = node.run_json(flags, script, &[file.as_os_str()])?;
        match (out.compile_s, out.error) {
            (_, Some(error)) => Err(error),
            (Some(s), None) if s.is_finite() && s >= 0.0 => Ok(Duration::from_secs_f64(s)),
            _ => Err("node_compile.mjs printed no compile_s".to_string()),
        }
    })
    .at_least(NODE_MIN_SAMPLES)
}

/// A rung case: `compile` once per repetition; the first repetition's tally
/// is kept in `tally`, and failures end the case with their message.
fn rung_case<'a, T: 'a>(
    tally: &'a RefCell<Option<Tally>>,
    mut compile: impl FnMut() -> Result<(T, Tally), String> + 'a,
) -> Case<'a> {
    case(
        || Ok(()),
        move |()| {
            let (output, t) = compile()?;
            let failed = t.failure_message();
            tally.borrow_mut().get_or_insert(t);
            match failed {
                Some(message) => Err(message),
                None => Ok(output),
            }
        },
    )
}

/// The time of a run, if it ran.
fn time_of(run: &Option<Run>) -> Option<&Outcome> {
    run.as_ref().map(|r| &r.time)
}

/// `a`'s MB/s over `b`'s: `b`'s median time over `a`'s.
fn mb_ratio(a: Option<&Outcome>, b: Option<&Outcome>) -> Option<f64> {
    time_ratio(b?, a?)
}

/// Adds `c`, if any, to `cases`; where its result will be.
fn add<'a>(cases: &mut Vec<Case<'a>>, c: Option<Case<'a>>) -> Option<usize> {
    cases.push(c?);
    Some(cases.len() - 1)
}

fn bench_module(
    module: &Module,
    plan: Plan,
    tiers: Tiers<'_>,
    node: Result<&Node, &String>,
    script: &Path,
    repeat: Repeat,
) -> Result<ModuleResult, String> {
    let bytes = std::fs::read(&module.path)
        .map_err(|e| format!("reading {}: {e}", module.path.display()))?;
    let bytes = bytes.as_slice();
    let size = bytes.len();
    eprintln!(
        "  {} ({:.1} MB){}",
        module.name,
        size as f64 / 1e6,
        if plan.optimizer {
            ""
        } else {
            ", baseline only"
        }
    );
    let decoded = decode(bytes);
    let code_bytes = decoded
        .as_ref()
        .ok()
        .and_then(|d| d.env.code_section.as_ref())
        .map(|(_, range)| range.end - range.start);
    let baseline = tiers.baseline.filter(|_| plan.baseline);
    let optimizer = tiers.optimizer.filter(|_| plan.optimizer);

    let pipeline_tally = RefCell::new(None);
    let compile_only_tally = RefCell::new(None);
    let optimizer_tally = RefCell::new(None);
    let path: PathBuf = module.path.clone();
    let mut cases = Vec::new();
    let pipeline_slot = add(
        &mut cases,
        baseline.map(|tier| {
            rung_case(&pipeline_tally, move || {
                let (compiled, env, t) = baseline_pipeline(tier, bytes)?;
                Ok(((compiled, env), t))
            })
        }),
    );
    let ready = decoded.as_ref().ok();
    let compile_only_slot = add(
        &mut cases,
        baseline.zip(ready).map(|(tier, d)| {
            rung_case(&compile_only_tally, move || {
                Ok(compile_all(tier, &BASELINE_OPTIONS, d, bytes))
            })
        }),
    );
    let optimizer_slot = add(
        &mut cases,
        optimizer.zip(ready).map(|(tier, d)| {
            rung_case(&optimizer_tally, move || {
                Ok(compile_all(tier, &OPTIMIZER_OPTIONS, d, bytes))
            })
        }),
    );
    let node = node.ok();
    let turbofan_slot = add(
        &mut cases,
        node.filter(|_| optimizer.is_some())
            .map(|n| node_case(n, TURBOFAN_SINGLE_THREADED, script, &path)),
    );
    let liftoff_slot = add(
        &mut cases,
        node.map(|n| node_case(n, LIFTOFF_SINGLE_THREADED, script, &path)),
    );
    let mut samples: Vec<Option<Result<Sample, String>>> =
        measure(repeat, cases).into_iter().map(Some).collect();
    let mut result = |slot: Option<usize>| -> Option<Result<Sample, String>> {
        samples.get_mut(slot?).and_then(Option::take)
    };
    let decode_error = || match &decoded {
        Ok(_) => "no result".to_string(),
        Err(e) => e.clone(),
    };
    let mut rung_run = |ran: bool, slot, tally: RefCell<Option<Tally>>| {
        ran.then(|| Run {
            time: Outcome::new(result(slot).unwrap_or_else(|| Err(decode_error())), size),
            tally: tally.into_inner(),
        })
    };
    let baseline_run = rung_run(baseline.is_some(), pipeline_slot, pipeline_tally);
    let compile_only_run = rung_run(baseline.is_some(), compile_only_slot, compile_only_tally);
    let optimizer_run = rung_run(optimizer.is_some(), optimizer_slot, optimizer_tally);
    let not_run = |why: String| Outcome::NotRun { reason: why };
    let node_why = || match node {
        Some(_) => "optimizer not run on this module".to_string(),
        None => "node n/a".to_string(),
    };
    let turbofan = match result(turbofan_slot) {
        Some(r) => Outcome::new(r, size),
        None => not_run(node_why()),
    };
    let liftoff = match result(liftoff_slot) {
        Some(r) => Outcome::new(r, size),
        None => not_run("node n/a".to_string()),
    };
    Ok(ModuleResult {
        module: module.name.clone(),
        bytes: size,
        code_bytes,
        functions: decoded.as_ref().ok().map(|d| d.bodies.len()),
        ratio_baseline_vs_liftoff: mb_ratio(time_of(&baseline_run), Some(&liftoff)),
        ratio_baseline_compile_only_vs_liftoff: mb_ratio(
            time_of(&compile_only_run),
            Some(&liftoff),
        ),
        ratio_baseline_vs_optimizer: mb_ratio(time_of(&compile_only_run), time_of(&optimizer_run)),
        ratio_optimizer_vs_turbofan: mb_ratio(time_of(&optimizer_run), Some(&turbofan)),
        ratio_optimizer_vs_liftoff: mb_ratio(time_of(&optimizer_run), Some(&liftoff)),
        baseline: baseline_run,
        baseline_compile_only: compile_only_run,
        optimizer: optimizer_run,
        turbofan,
        liftoff,
    })
}

/// What every table's header says.
struct Context<'a> {
    machine: &'a Machine,
    node: Result<&'a Node, &'a String>,
    repeat: Repeat,
}

impl Context<'_> {
    fn print_header(&self, title: &str) {
        println!("## bench compile: {title}");
        println!();
        println!("{}", self.machine.summary());
    }

    fn v8(&self) -> String {
        match self.node {
            Ok(n) => format!(
                "node {} (V8) alone with --single-threaded, `new WebAssembly.Module` \
                 (decode + validate + compile), a fresh process per sample, median of \
                 ≥{NODE_MIN_SAMPLES}",
                n.version
            ),
            Err(e) => format!("V8 n/a ({e})"),
        }
    }
}

/// The unsupported cell: the count, and the proposals.
fn unsupported_cell(tally: Option<&Tally>) -> String {
    let Some(t) = tally else {
        return "—".to_string();
    };
    let n = t.unsupported_count();
    if n == 0 {
        return "0".to_string();
    }
    let proposals: Vec<&str> = t.unsupported_by_proposal().into_keys().collect();
    format!("{n} ({})", proposals.join(", "))
}

/// A ratio cell, starred when a tier left functions out (not like for like).
fn starred(ratio: Option<f64>, left_out: usize) -> String {
    let cell = ratio_cell(ratio);
    if ratio.is_some() && left_out > 0 {
        format!("{cell}*")
    } else {
        cell
    }
}

/// A number's cell for an optional run: `not run` without one.
fn run_cell(
    notes: &mut Notes,
    run: Option<&Run>,
    what: &str,
    number: impl FnOnce(&Outcome) -> String,
) -> String {
    match run {
        Some(r) => notes.cell(&r.time, what, number),
        None => "not run".to_string(),
    }
}

fn geomean(ratios: &[f64]) -> Option<f64> {
    if ratios.is_empty() {
        return None;
    }
    Some((ratios.iter().map(|r| r.ln()).sum::<f64>() / ratios.len() as f64).exp())
}

/// One line on a goal: how many modules meet it, and which do not.
fn goal_line(what: &str, goal: f64, ratios: &[(&str, f64)]) -> String {
    if ratios.is_empty() {
        return format!("{what} ≥ {goal}×: no module measured.");
    }
    let below: Vec<String> = ratios
        .iter()
        .filter(|(_, r)| *r < goal)
        .map(|(m, r)| format!("{m} {r:.2}×"))
        .collect();
    let values: Vec<f64> = ratios.iter().map(|(_, r)| *r).collect();
    let min = values.iter().copied().fold(f64::INFINITY, f64::min);
    let mean = geomean(&values).unwrap_or(f64::NAN);
    let verdict = if below.is_empty() {
        "met on every one".to_string()
    } else {
        format!("below on {}: {}", below.len(), below.join(", "))
    };
    format!(
        "{what} ≥ {goal}×: {} modules measured, {verdict}; min {min:.2}×, geometric mean {mean:.2}×.",
        ratios.len()
    )
}

fn print_baseline_table(context: &Context<'_>, results: &[ModuleResult], no_optimizer: &[&str]) {
    let mut table = Table::new(&[
        ("module", false),
        ("size (MB)", true),
        ("functions", true),
        ("unsupported", true),
        ("baseline ms", true),
        ("baseline MB/s", true),
        ("compile-only MB/s", true),
        ("Liftoff MB/s", true),
        ("optimizer MB/s", true),
        ("baseline / Liftoff", true),
        ("baseline / optimizer", true),
    ]);
    let mut notes = Notes::default();
    for r in results {
        let m = &r.module;
        let tally = r
            .baseline
            .as_ref()
            .and_then(|b| b.tally.as_ref())
            .or_else(|| r.baseline_compile_only.as_ref()?.tally.as_ref());
        let baseline = r.baseline.as_ref();
        let what = format!("{m}, baseline");
        table.row(vec![
            m.clone(),
            format!("{:.2}", r.bytes as f64 / 1e6),
            r.functions
                .map_or_else(|| "—".to_string(), |n| n.to_string()),
            unsupported_cell(tally),
            run_cell(&mut notes, baseline, &what, Outcome::ms_cell),
            run_cell(&mut notes, baseline, &what, Outcome::mb_per_s_cell),
            run_cell(
                &mut notes,
                r.baseline_compile_only.as_ref(),
                &format!("{m}, baseline compile-only"),
                Outcome::mb_per_s_cell,
            ),
            notes.cell(&r.liftoff, &format!("{m}, Liftoff"), Outcome::mb_per_s_cell),
            run_cell(
                &mut notes,
                r.optimizer.as_ref(),
                &format!("{m}, optimizer"),
                Outcome::mb_per_s_cell,
            ),
            starred(r.ratio_baseline_vs_liftoff, r.baseline_unsupported()),
            starred(
                r.ratio_baseline_vs_optimizer,
                r.baseline_unsupported() + r.optimizer_unsupported(),
            ),
        ]);
    }
    context.print_header("the baseline tier");
    println!(
        "baseline = rung's single-pass baseline tier on one thread, decode + validate + \
         compile like V8 (decode_all with a sink running ModuleValidator::event, each body \
         compiled by compile_validating as it arrives); compile-only = its Tier::compile on \
         bodies decoded before the clock, no validation; optimizer = rung's optimizing tier \
         compiled the same way (modules under {} MB unless --all); Liftoff = {}",
        DEFAULT_MAX_BYTES as f64 / 1e6,
        context.v8()
    );
    println!(
        "median of {}; MB = 10^6 bytes of the whole module; baseline / Liftoff = baseline MB/s \
         over Liftoff's (goal ≥ {GOAL_VS_LIFTOFF}× on every module); baseline / optimizer = \
         compile-only MB/s over the optimizer's, neither decoding nor validating \
         (goal ≥ {GOAL_VS_OPTIMIZER}×)",
        context.repeat.describe()
    );
    println!();
    print!("{}", table.to_markdown());

    let vs_liftoff: Vec<(&str, f64)> = results
        .iter()
        .filter_map(|r| Some((r.module.as_str(), r.ratio_baseline_vs_liftoff?)))
        .collect();
    let vs_optimizer: Vec<(&str, f64)> = results
        .iter()
        .filter_map(|r| Some((r.module.as_str(), r.ratio_baseline_vs_optimizer?)))
        .collect();
    println!();
    println!(
        "{}",
        goal_line("baseline / Liftoff", GOAL_VS_LIFTOFF, &vs_liftoff)
    );
    println!();
    println!(
        "{}",
        goal_line("baseline / optimizer", GOAL_VS_OPTIMIZER, &vs_optimizer)
    );
    for r in results {
        let Some(t) = r.baseline.as_ref().and_then(|b| b.tally.as_ref()) else {
            continue;
        };
        if t.unsupported_count() == 0 {
            continue;
        }
        let by: Vec<String> = t
            .unsupported_by_proposal()
            .iter()
            .map(|(p, n)| format!("{p} ×{n}"))
            .collect();
        let compiled = match r
            .baseline_compile_only
            .as_ref()
            .and_then(Run::compiled_mb_per_s)
        {
            Some(m) => format!(
                "; over the {:.2} MB of bodies it compiled, compile-only is {m:.1} MB/s",
                t.compiled_body_bytes as f64 / 1e6
            ),
            None => String::new(),
        };
        println!();
        println!(
            "* {}: {} of {} functions unsupported by the baseline ({}; by operator in \
             compile.json): left out of its compile (the runtime hands them to the optimizer), \
             still validated whole in the baseline column; throughput counts the whole module, \
             so its ratios are not like for like{compiled}.",
            r.module,
            t.unsupported_count(),
            t.functions,
            by.join(", ")
        );
    }
    for r in results.iter().filter(|r| r.optimizer_unsupported() > 0) {
        if r.ratio_baseline_vs_optimizer.is_some() {
            println!();
            println!(
                "* {}: the optimizer left {} functions out too (see the optimizer table).",
                r.module,
                r.optimizer_unsupported()
            );
        }
    }
    notes.print();
    if !no_optimizer.is_empty() {
        println!();
        println!(
            "Optimizer not run (over {} MB; `--all` runs it): {}.",
            DEFAULT_MAX_BYTES as f64 / 1e6,
            no_optimizer.join(", ")
        );
    }
}

fn print_optimizer_table(context: &Context<'_>, tier: &OptimizingTier, results: &[ModuleResult]) {
    let mut table = Table::new(&[
        ("module", false),
        ("size (MB)", true),
        ("code (MB)", true),
        ("functions", true),
        ("unsupported", true),
        ("optimizer ms", true),
        ("optimizer MB/s", true),
        ("optimizer code MB/s", true),
        ("TurboFan MB/s", true),
        ("Liftoff MB/s", true),
        ("optimizer / TurboFan", true),
        ("optimizer / Liftoff", true),
    ]);
    let mut notes = Notes::default();
    let measured: Vec<(&ModuleResult, &Run)> = results
        .iter()
        .filter_map(|r| Some((r, r.optimizer.as_ref()?)))
        .collect();
    for &(r, run) in &measured {
        let m = &r.module;
        let mb = |b: Option<u64>| {
            b.map_or_else(|| "—".to_string(), |b| format!("{:.2}", b as f64 / 1e6))
        };
        let what = format!("{m}, optimizer");
        let code_mb_per_s = r
            .code_bytes
            .zip(run.time.sample())
            .map(|(c, s)| s.mb_per_s(c as usize));
        table.row(vec![
            m.clone(),
            mb(Some(r.bytes as u64)),
            mb(r.code_bytes),
            r.functions
                .map_or_else(|| "—".to_string(), |n| n.to_string()),
            unsupported_cell(run.tally.as_ref()),
            notes.cell(&run.time, &what, Outcome::ms_cell),
            notes.cell(&run.time, &what, Outcome::mb_per_s_cell),
            code_mb_per_s.map_or_else(|| "—".to_string(), |m| format!("{m:.1}")),
            notes.cell(
                &r.turbofan,
                &format!("{m}, TurboFan"),
                Outcome::mb_per_s_cell,
            ),
            notes.cell(&r.liftoff, &format!("{m}, Liftoff"), Outcome::mb_per_s_cell),
            starred(r.ratio_optimizer_vs_turbofan, run.unsupported_count()),
            starred(r.ratio_optimizer_vs_liftoff, run.unsupported_count()),
        ]);
    }
    context.print_header("the optimizing tier");
    println!(
        "optimizer = rung's {}, compile only (bodies decoded before the clock, no validation), \
         one thread; TurboFan / Liftoff = {}",
        optimizer_name(tier),
        context.v8()
    );
    println!(
        "median of {}; MB = 10^6 bytes of the whole module (code MB/s: of the code section); \
         ratios are optimizer MB/s over theirs (above 1× rung compiles faster)",
        context.repeat.describe()
    );
    println!();
    print!("{}", table.to_markdown());
    let whole: Vec<f64> = measured
        .iter()
        .filter(|(_, run)| run.unsupported_count() == 0)
        .filter_map(|(r, _)| r.ratio_optimizer_vs_turbofan)
        .collect();
    if let Some(mean) = geomean(&whole) {
        println!();
        println!(
            "Geometric mean of optimizer / TurboFan over the {} modules compiled whole: {mean:.2}×.",
            whole.len()
        );
    }
    for &(r, run) in &measured {
        let Some(t) = run.tally.as_ref().filter(|t| t.unsupported_count() > 0) else {
            continue;
        };
        let by: Vec<String> = t
            .unsupported_by_proposal()
            .iter()
            .map(|(p, n)| format!("{p} ×{n}"))
            .collect();
        let compiled = match run.compiled_mb_per_s() {
            Some(m) => format!(
                "; over the {:.2} MB of bodies it compiled, the optimizer is {m:.1} MB/s",
                t.compiled_body_bytes as f64 / 1e6
            ),
            None => String::new(),
        };
        println!();
        println!(
            "* {}: {} of {} functions unsupported by the optimizing tier and not compiled \
             ({}; by operator in compile.json), so its ratios are not like for like{compiled}.",
            r.module,
            t.unsupported_count(),
            t.functions,
            by.join(", ")
        );
    }
    notes.print();
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    fn args(cli: &[&str]) -> CompileArgs {
        let mut argv = vec!["xtask", "bench", "compile"];
        argv.extend_from_slice(cli);
        match crate::Cli::try_parse_from(argv).expect("parses").command {
            crate::Command::Bench {
                what: Some(crate::bench::Bench::Compile(args)),
            } => args,
            _ => panic!("not bench compile"),
        }
    }

    #[test]
    fn the_baseline_runs_everywhere_the_optimizer_on_small_modules() {
        let (small, big) = (DEFAULT_MAX_BYTES - 1, DEFAULT_MAX_BYTES);
        let both = |baseline, optimizer| Plan {
            baseline,
            optimizer,
        };
        let default = args(&[]);
        assert_eq!(default.plan(small), both(true, true));
        assert_eq!(default.plan(big), both(true, false));
        assert_eq!(CompileArgs::default().plan(big), both(true, false));
        assert_eq!(args(&["--all"]).plan(big), both(true, true));
        assert_eq!(args(&["--modules", "yosys"]).plan(big), both(true, true));
        let baseline = args(&["--tiers", "baseline"]);
        assert_eq!(baseline.plan(small), both(true, false));
        let optimizer = args(&["--tiers", "optimizer"]);
        assert_eq!(optimizer.plan(small), both(false, true));
        assert_eq!(optimizer.plan(big), both(false, false));
        assert_eq!(
            args(&["--tiers", "optimizer,baseline", "--all"]).plan(big),
            both(true, true)
        );
        assert!(crate::Cli::try_parse_from(["xtask", "bench", "compile", "--tiers", "x"]).is_err());
    }

    #[test]
    fn unsupported_features_group_by_proposal() {
        let t = Tally {
            functions: 10,
            unsupported: [
                ("simd: V128Load".to_string(), 3),
                ("simd: v128 parameter".to_string(), 2),
                ("threads: I32AtomicLoad".to_string(), 1),
                ("memory64 (memory 0)".to_string(), 1),
            ]
            .into_iter()
            .collect(),
            ..Tally::default()
        };
        assert_eq!(t.unsupported_count(), 7);
        assert_eq!(
            t.unsupported_by_proposal().into_iter().collect::<Vec<_>>(),
            vec![("memory64", 1), ("simd", 5), ("threads", 1)]
        );
        assert_eq!(unsupported_cell(Some(&t)), "7 (memory64, simd, threads)");
        assert_eq!(unsupported_cell(None), "—");
        assert_eq!(starred(Some(1.5), 7), "1.50×*");
        assert_eq!(starred(Some(1.5), 0), "1.50×");
        assert_eq!(starred(None, 7), "—");
    }

    #[test]
    fn failures_name_the_first_functions_and_count_the_rest() {
        let mut t = Tally::default();
        assert_eq!(t.failure_message(), None);
        for func in 0..5 {
            t.record(func, 1, Err(CompileError::Internal(format!("boom {func}"))));
        }
        let simd = CompileError::Unsupported {
            feature: "simd: I8x16Swizzle".into(),
            offset: 0,
        };
        t.record(9, 1, Err(simd));
        assert_eq!(
            (t.functions, t.failures.len(), t.unsupported_count()),
            (6, 5, 1)
        );
        assert_eq!(
            t.failure_message().unwrap(),
            "5 functions failed: function 0: internal compiler error: boom 0; \
             function 1: internal compiler error: boom 1; \
             function 2: internal compiler error: boom 2; and 2 more (compile.json)"
        );
    }

    #[test]
    fn goal_lines_say_which_modules_miss() {
        assert_eq!(
            goal_line("b / L", 1.5, &[("a", 2.0), ("b", 1.2)]),
            "b / L ≥ 1.5×: 2 modules measured, below on 1: b 1.20×; min 1.20×, \
             geometric mean 1.55×."
        );
        assert!(goal_line("b / L", 1.5, &[("a", 2.0)]).contains("met on every one"));
        assert!(goal_line("b / L", 1.5, &[]).contains("no module measured"));
    }

    /// Imports, a memory, globals and a table before the code section, so
    /// that the vmctx layout the pipeline builds at the first body is the
    /// whole module's; one function the baseline leaves out (a legacy
    /// `try`: it compiles all of SIMD, try_table and throw).
    const MODULE: &str = r#"(module
        (import "env" "f" (func $f (param i32) (result i32)))
        (import "env" "g" (global $g (mut i32)))
        (memory 1)
        (global $h (mut i64) (i64.const 7))
        (table 2 funcref)
        (elem (i32.const 0) $sum $f)
        (func $sum (param $n i32) (result i32) (local $s i32)
            (loop $l
                (local.set $s (i32.add (local.get $s) (i32.load (local.get $n))))
                (local.set $n (i32.sub (local.get $n) (i32.const 4)))
                (br_if $l (i32.gt_s (local.get $n) (i32.const 0))))
            (global.set $g (local.get $s))
            (call_indirect (param i32) (result i32) (local.get $s) (i32.const 1)))
        (type $s (struct))
        (func $gc (result anyref) struct.new $s)
        (func (export "run") (result i64)
            (global.set $h (i64.add (global.get $h)
                (i64.extend_i32_s (call $sum (i32.const 64)))))
            (global.get $h)))"#;

    #[test]
    fn the_pipeline_validates_compiles_and_counts_like_compile_only() {
        let bytes = wat::parse_str(MODULE).unwrap();
        let tier = BaselineTier::new();
        let (compiled, env, pipeline) = baseline_pipeline(&tier, &bytes).unwrap();
        assert_eq!(env.functions.len(), 4);
        assert!(pipeline.failures.is_empty(), "{:?}", pipeline.failures);
        assert_eq!((pipeline.functions, compiled.len()), (3, 2));
        assert_eq!(pipeline.unsupported_by_proposal().get("gc"), Some(&1));

        let decoded = decode(&bytes).unwrap();
        let (_, compile_only) = compile_all(&tier, &BASELINE_OPTIONS, &decoded, &bytes);
        assert!(compile_only.failures.is_empty());
        assert_eq!(compile_only.unsupported, pipeline.unsupported);
        assert_eq!(
            compile_only.compiled_body_bytes,
            pipeline.compiled_body_bytes
        );
        // Same layout, same code: the streamed VmOffsets are the module's.
        assert_eq!(compile_only.machine_code_bytes, pipeline.machine_code_bytes);
    }

    #[test]
    fn an_invalid_body_is_a_failure_naming_the_function() {
        let bytes = wat::parse_str(
            r#"(module
                (func (result i32) (i32.const 1))
                (func (result i32) (i64.const 1)))"#,
        )
        .unwrap();
        let (_, _, tally) = baseline_pipeline(&BaselineTier::new(), &bytes).unwrap();
        assert_eq!(tally.failures.len(), 1, "{:?}", tally.failures);
        assert_eq!(tally.failures[0].func, 1);
        let message = tally.failure_message().unwrap();
        assert!(
            message.starts_with("1 functions failed: function 1: "),
            "{message}"
        );
    }
}
