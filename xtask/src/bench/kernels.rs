//! `cargo xtask bench kernels`: how fast code rung compiles runs, against
//! V8's TurboFan, on the small compute kernels in `xtask/kernels/*.wat`
//! (each exports `run: [] -> [i32 | i64]`, returning a checksum).
//!
//! Each `.wat` becomes `<target>/bench/kernels/NAME.wasm` (the `wat` crate).
//! Then, interleaved ([`measure`]), `--iters` times (default 5):
//!
//! ```text
//! rung compile   Module::new on an Engine with that tier (default Config)
//! rung run       one call of `run` on an instance made before the clock,
//!                after one untimed warm-up call
//! rung first     the first call of `run` on a fresh engine, module and
//!                instance (made before the clock): what a program whose
//!                main loop runs once sees (tiered: baseline code, tier-up
//!                and on-stack replacement while it runs)
//! TurboFan       node --no-liftoff --no-wasm-tier-up --no-wasm-lazy-compilation
//!                kernels/node_kernel.mjs FILE 1: a fresh process per sample
//!                (so its samples interleave with ours), which compiles
//!                (timed), calls `run` once (timed: its first call), then
//!                once more timed
//! ```
//!
//! With `--interruptible` each rung tier is measured again compiled with
//! interrupt checks (`Config::interruptible`), in `+int` columns
//! interleaved with the others, so that their cost is read off one run.
//!
//! Each number is the median. There is one rung column per tier in
//! [`RUNG_TIERS`]: the optimizing tier, the baseline (functions it does not
//! support fall back to the optimizer, counted), and tiered (baseline first,
//! hot functions optimized on a background thread with the default policy
//! and patched in; the timed calls run whatever code the slots hold by then,
//! and the number of tier-ups is reported). Ratios: each tier over TurboFan
//! (goal for the optimizer ≤ [`GOAL_RATIO`]), and each other tier over the
//! optimizer (goal for the baseline ≤ [`GOAL_BASELINE_VS_OPT`]).
//!
//! **Invariant:** every call's checksum is kept; rung and V8 must agree, and
//! every call of one engine must agree with its others. A disagreement, or a
//! kernel rung cannot compile or run, is shown in the table, on stderr, and
//! in the exit code (after the JSON is written). node missing or failing is
//! "n/a" or its error in the V8 cells, never a failure.

use std::cell::RefCell;
use std::collections::BTreeSet;
use std::num::NonZeroUsize;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use clap::Args;
use rung_runtime::{Engine, Func, Linker, Module, Store, TierChoice, Val};
use rung_tiering::CallCountPolicy;
use serde::{Deserialize, Serialize};

use super::node::{Node, NodeArgs, TURBOFAN};
use super::{Case, Notes, Outcome, Repeat, Sample, case, measure, ratio_cell, time_ratio};
use crate::paths;
use crate::report::{self, Machine, Table};

/// The rung tiers measured, each with its column label; the first is the
/// reference the others' ratios are taken against.
/// Each is (label, preset, `Config::interruptible`).
pub const RUNG_TIERS: &[(&str, TierChoice, bool)] = &[
    ("opt", TierChoice::Optimized, false),
    ("baseline", TierChoice::Baseline, false),
    ("tiered", TierChoice::Tiered, false),
];

/// [`RUNG_TIERS`] and each again with interrupt checks (`--interruptible`),
/// measured interleaved with the others in the same run.
pub const RUNG_TIERS_INTERRUPTIBLE: &[(&str, TierChoice, bool)] = &[
    ("opt", TierChoice::Optimized, false),
    ("baseline", TierChoice::Baseline, false),
    ("tiered", TierChoice::Tiered, false),
    ("opt+int", TierChoice::Optimized, true),
    ("baseline+int", TierChoice::Baseline, true),
    ("tiered+int", TierChoice::Tiered, true),
];

static WITH_INTERRUPTIBLE: std::sync::atomic::AtomicBool =
    std::sync::atomic::AtomicBool::new(false);

/// The rung columns of this run.
fn rung_tiers() -> &'static [(&'static str, TierChoice, bool)] {
    if WITH_INTERRUPTIBLE.load(std::sync::atomic::Ordering::Relaxed) {
        RUNG_TIERS_INTERRUPTIBLE
    } else {
        RUNG_TIERS
    }
}

/// The optimizer's goal for rung's run time over TurboFan's.
pub const GOAL_RATIO: f64 = 1.1;

/// The baseline's goal for its run time over the optimizer's (issue 4;
/// Winch is about 1.9× slower than Cranelift).
pub const GOAL_BASELINE_VS_OPT: f64 = 2.0;

/// Timed calls per engine when `--iters` is not given.
const DEFAULT_CALLS: usize = 5;

/// `bench kernels`' options.
#[derive(Args, Debug, Clone, Default)]
pub struct KernelArgs {
    /// Only these kernels (names of xtask/kernels/*.wat, `.wat` optional),
    /// comma-separated [default: all]
    #[arg(long, value_delimiter = ',', value_name = "A,B")]
    pub kernels: Vec<String>,
    /// Timed calls of `run` (and compiles) per engine; the median is
    /// reported [default: 5]
    #[arg(long, value_name = "N")]
    pub iters: Option<NonZeroUsize>,
    /// Also measure each tier compiled with interrupt checks
    /// (`Config::interruptible`), interleaved with the others: the
    /// `+int` columns.
    #[arg(long)]
    pub interruptible: bool,
    #[command(flatten)]
    pub node: NodeArgs,
}

/// The JSON document.
#[derive(Serialize)]
struct Report {
    bench: &'static str,
    machine: Machine,
    /// Timed calls (and compiles) per engine.
    calls: usize,
    node: Option<String>,
    node_unavailable: Option<String>,
    turbofan_flags: &'static [&'static str],
    goal_ratio: f64,
    goal_baseline_vs_opt: f64,
    kernels: Vec<KernelResult>,
}

#[derive(Serialize)]
struct KernelResult {
    kernel: String,
    wasm: String,
    wasm_bytes: usize,
    rung: Vec<RungResult>,
    turbofan: V8Result,
    /// Whether every checksum agrees (`None`: fewer than two engines gave one).
    checksums_agree: Option<bool>,
}

#[derive(Serialize)]
struct RungResult {
    tier: &'static str,
    compile: Outcome,
    run: Outcome,
    /// The first call on a fresh engine and module.
    first: Outcome,
    /// Its median over the first tier's.
    first_ratio_vs_opt: Option<f64>,
    /// Every distinct checksum its calls returned (one, when all is well).
    checksums: BTreeSet<String>,
    /// rung's median run time over TurboFan's.
    ratio_vs_turbofan: Option<f64>,
    /// Its median run time over the first tier's (the optimizer's).
    ratio_vs_opt: Option<f64>,
    /// Functions of the module the baseline left to the optimizer
    /// (`Engine::fallbacks` after the first compile).
    fallbacks: Option<usize>,
    /// Functions optimized and patched in by tier-up (`Engine::tier_ups`),
    /// after the last call.
    tier_ups: Option<usize>,
}

#[derive(Serialize)]
struct V8Result {
    compile: Outcome,
    run: Outcome,
    /// The first call after compiling.
    first: Outcome,
    checksums: BTreeSet<String>,
}

pub fn run(args: &KernelArgs) -> Result<(), String> {
    let calls = args.iters.map_or(DEFAULT_CALLS, NonZeroUsize::get);
    WITH_INTERRUPTIBLE.store(args.interruptible, std::sync::atomic::Ordering::Relaxed);
    let kernels = select(&list_kernels()?, &args.kernels)?;
    let machine = Machine::describe();
    let node = args.node.probe();
    eprintln!(
        "bench kernels: {} kernels, {calls} calls each; V8: {}",
        kernels.len(),
        match &node {
            Ok(n) => format!("node {}", n.version),
            Err(e) => format!("n/a ({e})"),
        }
    );
    let out_dir = paths::target_dir().join("bench").join("kernels");
    std::fs::create_dir_all(&out_dir)
        .map_err(|e| format!("creating {}: {e}", out_dir.display()))?;
    let script = paths::kernels_dir().join("node_kernel.mjs");

    let mut results = Vec::new();
    for (name, wat) in &kernels {
        let bytes = wat::parse_file(wat).map_err(|e| format!("{}: {e}", wat.display()))?;
        let wasm = out_dir.join(format!("{name}.wasm"));
        std::fs::write(&wasm, &bytes).map_err(|e| format!("writing {}: {e}", wasm.display()))?;
        eprintln!("  {name} ({} bytes)", bytes.len());
        results.push(bench_kernel(
            name,
            &bytes,
            &wasm,
            node.as_ref(),
            &script,
            calls,
        ));
    }

    print_table(&machine, node.as_ref(), calls, &results);

    let mut failures = Vec::new();
    for r in &results {
        if r.checksums_agree == Some(false) {
            failures.push(format!("{}: checksums disagree", r.kernel));
        }
        for t in &r.rung {
            if t.compile.is_error() || t.run.is_error() {
                failures.push(format!("{}: rung ({}) failed", r.kernel, t.tier));
            }
        }
    }
    let report = Report {
        bench: "kernels",
        machine,
        calls,
        node: node.as_ref().ok().map(|n| n.version.clone()),
        node_unavailable: node.as_ref().err().cloned(),
        turbofan_flags: TURBOFAN,
        goal_ratio: GOAL_RATIO,
        goal_baseline_vs_opt: GOAL_BASELINE_VS_OPT,
        kernels: results,
    };
    let path = report::write_json("kernels", &report)?;
    eprintln!("bench kernels: wrote {}", path.display());
    if failures.is_empty() {
        Ok(())
    } else {
        Err(failures.join("; "))
    }
}

/// Every `xtask/kernels/*.wat`, as (name, path), sorted by name.
fn list_kernels() -> Result<Vec<(String, PathBuf)>, String> {
    let dir = paths::kernels_dir();
    let entries = std::fs::read_dir(&dir).map_err(|e| format!("reading {}: {e}", dir.display()))?;
    let mut kernels = Vec::new();
    for entry in entries {
        let path = entry
            .map_err(|e| format!("reading {}: {e}", dir.display()))?
            .path();
        if path.extension().is_some_and(|x| x == "wat")
            && let Some(stem) = path.file_stem().and_then(|s| s.to_str())
        {
            kernels.push((stem.to_string(), path.clone()));
        }
    }
    kernels.sort();
    Ok(kernels)
}

/// `all` narrowed to `filter` (empty = all); an unknown name is an error.
fn select(all: &[(String, PathBuf)], filter: &[String]) -> Result<Vec<(String, PathBuf)>, String> {
    let wanted: Vec<&str> = filter
        .iter()
        .map(|w| w.strip_suffix(".wat").unwrap_or(w))
        .collect();
    if let Some(unknown) = wanted.iter().find(|w| !all.iter().any(|(n, _)| n == *w)) {
        let names: Vec<&str> = all.iter().map(|(n, _)| n.as_str()).collect();
        return Err(format!(
            "unknown kernel `{unknown}`; xtask/kernels has: {}",
            names.join(", ")
        ));
    }
    Ok(all
        .iter()
        .filter(|(n, _)| wanted.is_empty() || wanted.contains(&n.as_str()))
        .cloned()
        .collect())
}

/// A kernel on one tier: the engine that compiles it, and an instance
/// with `run` warmed up, or why there is none.
struct Rig {
    engine: Result<Engine, String>,
    /// `Engine::fallbacks` after the module's first compile.
    fallbacks: Option<usize>,
    ready: Result<Ready, NotReady>,
}

struct Ready {
    store: Store,
    run: Func,
    /// The warm-up call's checksum.
    warm: String,
}

enum NotReady {
    /// No engine, or the module does not compile (the compile case says why).
    NoModule,
    /// Instantiating it or the warm-up call failed.
    Failed(String),
}

impl Rig {
    fn new(tier: TierChoice, interruptible: bool, bytes: &[u8]) -> Rig {
        let config = rung_runtime::Config {
            interruptible,
            ..tier.config()
        };
        let engine = match Engine::new(config) {
            Ok(engine) => engine,
            Err(e) => {
                return Rig {
                    engine: Err(format!("engine: {e}")),
                    fallbacks: None,
                    ready: Err(NotReady::NoModule),
                };
            }
        };
        let ready = match Module::new(&engine, bytes) {
            Ok(module) => Rig::instantiate(&engine, &module).map_err(NotReady::Failed),
            Err(_) => Err(NotReady::NoModule),
        };
        Rig {
            fallbacks: Some(engine.fallbacks()),
            engine: Ok(engine),
            ready,
        }
    }

    fn instantiate(engine: &Engine, module: &Module) -> Result<Ready, String> {
        let mut store = Store::new(engine);
        let instance = Linker::new()
            .instantiate(&mut store, module)
            .map_err(|e| format!("instantiating: {e}"))?;
        let run = instance
            .get_func(&store, "run")
            .ok_or("no exported function `run`")?;
        let warm = call(&mut store, run)?;
        Ok(Ready { store, run, warm })
    }
}

/// A fresh engine, module and instance of one tier, `run` not called yet.
struct Fresh {
    store: Store,
    run: Func,
}

fn fresh(tier: TierChoice, interruptible: bool, bytes: &[u8]) -> Result<Fresh, String> {
    let engine = Engine::new(rung_runtime::Config {
        interruptible,
        ..tier.config()
    })?;
    let module = Module::new(&engine, bytes).map_err(|e| e.to_string())?;
    let mut store = Store::new(&engine);
    let instance = Linker::new()
        .instantiate(&mut store, &module)
        .map_err(|e| format!("instantiating: {e}"))?;
    let run = instance
        .get_func(&store, "run")
        .ok_or("no exported function `run`")?;
    Ok(Fresh { store, run })
}

/// Calls `run` once; its checksum as JavaScript would print it.
fn call(store: &mut Store, run: Func) -> Result<String, String> {
    let results = run.call(store, &[]).map_err(|t| format!("trap: {t}"))?;
    match results.as_slice() {
        [Val::I32(v)] => Ok(v.to_string()),
        [Val::I64(v)] => Ok(v.to_string()),
        other => Err(format!("`run` returned {other:?}, not one i32 or i64")),
    }
}

/// What `node_kernel.mjs` prints: numbers, or an error.
#[derive(Deserialize)]
#[serde(untagged)]
enum NodeKernel {
    Ok {
        compile_s: f64,
        first_s: f64,
        run_s: Vec<f64>,
        result: String,
    },
    Error {
        error: String,
    },
}

fn bench_kernel(
    name: &str,
    bytes: &[u8],
    wasm: &Path,
    node: Result<&Node, &String>,
    script: &Path,
    calls: usize,
) -> KernelResult {
    let mut rigs: Vec<Rig> = rung_tiers()
        .iter()
        .map(|&(_, tier, int)| Rig::new(tier, int, bytes))
        .collect();
    let checksums: Vec<RefCell<BTreeSet<String>>> = rigs
        .iter()
        .map(|r| {
            RefCell::new(
                r.ready
                    .as_ref()
                    .map(|r| r.warm.clone())
                    .into_iter()
                    .collect(),
            )
        })
        .collect();
    let engines: Vec<Option<Engine>> = rigs.iter().map(|r| r.engine.clone().ok()).collect();
    let ready: Vec<bool> = rigs.iter().map(|r| r.ready.is_ok()).collect();
    let node_compiles = RefCell::new(Vec::new());
    let node_firsts = RefCell::new(Vec::new());
    let node_checksums = RefCell::new(BTreeSet::new());

    let mut cases: Vec<Case<'_>> = Vec::new();
    for engine in engines.iter().flatten() {
        cases.push(case(
            || Ok(()),
            move |()| Module::new(engine, bytes).map_err(|e| e.to_string()),
        ));
    }
    for (rig, sums) in rigs.iter_mut().zip(&checksums) {
        if let Ok(ready) = &mut rig.ready {
            cases.push(Case::timed_by(move || {
                let t0 = Instant::now();
                let sum = call(&mut ready.store, ready.run);
                let dt = t0.elapsed();
                sums.borrow_mut().insert(sum?);
                Ok(dt)
            }));
        }
    }
    // The first call of a fresh engine's fresh module, per tier.
    for ((&(_, tier, int), sums), &ready) in rung_tiers().iter().zip(&checksums).zip(&ready) {
        if ready {
            cases.push(case(
                move || fresh(tier, int, bytes),
                move |mut f: Fresh| {
                    let sum = call(&mut f.store, f.run);
                    sums.borrow_mut().insert(sum?);
                    Ok(f)
                },
            ));
        }
    }
    if let Ok(node) = node {
        let (compiles, firsts, sums) = (&node_compiles, &node_firsts, &node_checksums);
        cases.push(Case::timed_by(move || {
            let out = node.run_json(TURBOFAN, script, &[wasm.as_os_str(), "1".as_ref()])?;
            let (compile_s, first_s, run_s, result) = match out {
                NodeKernel::Ok {
                    compile_s,
                    first_s,
                    run_s,
                    result,
                } => (compile_s, first_s, run_s, result),
                NodeKernel::Error { error } => return Err(error),
            };
            let run_s = *run_s.first().ok_or("node_kernel.mjs timed no call")?;
            compiles
                .borrow_mut()
                .push(Duration::from_secs_f64(compile_s.max(0.0)));
            firsts
                .borrow_mut()
                .push(Duration::from_secs_f64(first_s.max(0.0)));
            sums.borrow_mut().insert(result);
            Ok(Duration::from_secs_f64(run_s.max(0.0)))
        }));
    }
    let mut samples = measure(Repeat::Fixed(calls), cases).into_iter();
    let mut next = || {
        samples
            .next()
            .unwrap_or_else(|| Err("no result".to_string()))
    };

    let compiles: Vec<Outcome> = rigs
        .iter()
        .map(|rig| match &rig.engine {
            Ok(_) => Outcome::from_result(next(), None),
            Err(message) => Outcome::Error {
                message: message.clone(),
            },
        })
        .collect();
    let runs: Vec<Outcome> = rigs
        .iter()
        .map(|rig| match &rig.ready {
            Ok(_) => Outcome::from_result(next(), None),
            Err(NotReady::Failed(message)) => Outcome::Error {
                message: message.clone(),
            },
            Err(NotReady::NoModule) => Outcome::NotRun {
                reason: "no module".to_string(),
            },
        })
        .collect();
    let firsts: Vec<Outcome> = ready
        .iter()
        .map(|&ready| {
            if ready {
                Outcome::from_result(next(), None)
            } else {
                Outcome::NotRun {
                    reason: "no module".to_string(),
                }
            }
        })
        .collect();
    let turbofan = match node {
        Ok(_) => {
            let run = Outcome::from_result(next(), None);
            let node_firsts = node_firsts.into_inner();
            let first = if node_firsts.is_empty() {
                Outcome::Error {
                    message: "no first call".to_string(),
                }
            } else {
                Outcome::from_result(Ok(Sample::from_times(node_firsts)), None)
            };
            let compiles = node_compiles.into_inner();
            let compile = if compiles.is_empty() {
                match &run {
                    Outcome::Error { message } => Outcome::Error {
                        message: message.clone(),
                    },
                    _ => Outcome::Error {
                        message: "no compile time".to_string(),
                    },
                }
            } else {
                Outcome::from_result(Ok(Sample::from_times(compiles)), None)
            };
            V8Result {
                compile,
                run,
                first,
                checksums: node_checksums.into_inner(),
            }
        }
        Err(reason) => V8Result {
            compile: Outcome::NotRun {
                reason: reason.clone(),
            },
            run: Outcome::NotRun {
                reason: reason.clone(),
            },
            first: Outcome::NotRun {
                reason: reason.clone(),
            },
            checksums: BTreeSet::new(),
        },
    };

    let reference = runs.first().and_then(|r| r.sample().copied());
    let first_reference = firsts.first().and_then(|r| r.sample().copied());
    let mut rung: Vec<RungResult> = rung_tiers()
        .iter()
        .zip(compiles.into_iter().zip(runs).zip(firsts))
        .zip(checksums)
        .zip(rigs.iter().zip(&engines))
        .map(
            |(((&(tier, ..), ((compile, run), first)), sums), (rig, engine))| RungResult {
                tier,
                ratio_vs_turbofan: time_ratio(&run, &turbofan.run),
                ratio_vs_opt: None,
                compile,
                run,
                first,
                first_ratio_vs_opt: None,
                checksums: sums.into_inner(),
                fallbacks: rig.fallbacks,
                tier_ups: engine.as_ref().map(Engine::tier_ups),
            },
        )
        .collect();
    if let Some(reference) = reference {
        for r in rung.iter_mut().skip(1) {
            r.ratio_vs_opt = r.run.sample().map(|s| s.median_s / reference.median_s);
        }
    }
    if let Some(reference) = first_reference {
        for r in rung.iter_mut().skip(1) {
            r.first_ratio_vs_opt = r.first.sample().map(|s| s.median_s / reference.median_s);
        }
    }
    let checksums_agree = agree(
        rung.iter()
            .map(|r| &r.checksums)
            .chain([&turbofan.checksums]),
    );
    KernelResult {
        kernel: name.to_string(),
        wasm: wasm.display().to_string(),
        wasm_bytes: bytes.len(),
        rung,
        turbofan,
        checksums_agree,
    }
}

/// Whether the engines' checksum sets agree: each engine's calls returned
/// one checksum, the same for all. `None` when there is nothing to compare
/// (fewer than two engines answered, and the one that did is consistent).
fn agree<'a>(sets: impl Iterator<Item = &'a BTreeSet<String>>) -> Option<bool> {
    let sets: Vec<&BTreeSet<String>> = sets.filter(|s| !s.is_empty()).collect();
    match sets.as_slice() {
        [] => None,
        [one] if one.len() == 1 => None,
        _ => Some(sets.iter().all(|s| s.len() == 1) && sets.windows(2).all(|w| w[0] == w[1])),
    }
}

fn join(set: &BTreeSet<String>) -> String {
    if set.is_empty() {
        "—".to_string()
    } else {
        set.iter().cloned().collect::<Vec<_>>().join(" / ")
    }
}

fn checksum_cell(r: &KernelResult) -> String {
    let first = r
        .rung
        .iter()
        .map(|t| &t.checksums)
        .chain([&r.turbofan.checksums])
        .find(|s| !s.is_empty());
    match (r.checksums_agree, first) {
        (Some(false), _) => {
            let mut parts: Vec<String> = r
                .rung
                .iter()
                .map(|t| format!("rung ({}) {}", t.tier, join(&t.checksums)))
                .collect();
            parts.push(format!("TurboFan {}", join(&r.turbofan.checksums)));
            format!("**MISMATCH**: {}", parts.join(", "))
        }
        (Some(true), Some(s)) => join(s),
        (None, Some(s)) => format!("{} (unchecked)", join(s)),
        (_, None) => "—".to_string(),
    }
}

/// The columns of the run-time table.
fn run_columns() -> Vec<(String, bool)> {
    let mut columns: Vec<(String, bool)> =
        vec![("kernel".into(), false), ("checksum".into(), false)];
    for (tier, ..) in rung_tiers() {
        columns.push((format!("rung ({tier}) ms"), true));
    }
    columns.push(("TurboFan ms".into(), true));
    let (reference, ..) = rung_tiers()[0];
    for (tier, ..) in &rung_tiers()[1..] {
        columns.push((format!("{tier} / {reference}"), true));
    }
    for (tier, ..) in rung_tiers() {
        columns.push((format!("{tier} / TurboFan"), true));
    }
    columns
}

/// The columns of the first-call table.
fn first_columns() -> Vec<(String, bool)> {
    let mut columns: Vec<(String, bool)> = vec![("kernel".into(), false)];
    for (tier, ..) in rung_tiers() {
        columns.push((format!("rung ({tier}) first ms"), true));
    }
    columns.push(("TurboFan first ms".into(), true));
    let (reference, ..) = rung_tiers()[0];
    for (tier, ..) in &rung_tiers()[1..] {
        columns.push((format!("{tier} / {reference}"), true));
    }
    columns.push(("tiered / TurboFan".into(), true));
    columns
}

/// The columns of the compile-time table.
fn compile_columns() -> Vec<(String, bool)> {
    let mut columns: Vec<(String, bool)> = vec![("kernel".into(), false)];
    for (tier, ..) in rung_tiers() {
        columns.push((format!("rung ({tier}) compile ms"), true));
    }
    columns.push(("TurboFan compile ms".into(), true));
    for (tier, ..) in rung_tiers().iter().filter(|(_, c, _)| starts_baseline(*c)) {
        columns.push((format!("{tier} fallbacks"), true));
    }
    for (tier, ..) in rung_tiers().iter().filter(|(_, c, _)| tiers_up(*c)) {
        columns.push((format!("{tier} tier-ups"), true));
    }
    columns
}

/// Whether a tier compiles with the baseline first (and so may fall back).
fn starts_baseline(tier: TierChoice) -> bool {
    tier != TierChoice::Optimized
}

/// Whether a tier optimizes hot functions as it runs.
fn tiers_up(tier: TierChoice) -> bool {
    tier == TierChoice::Tiered
}

fn table(columns: &[(String, bool)]) -> Table {
    let headers: Vec<(&str, bool)> = columns.iter().map(|(h, n)| (h.as_str(), *n)).collect();
    Table::new(&headers)
}

fn count_cell(n: Option<usize>) -> String {
    n.map_or_else(|| "—".to_string(), |n| n.to_string())
}

fn print_table(
    machine: &Machine,
    node: Result<&Node, &String>,
    calls: usize,
    results: &[KernelResult],
) {
    let mut runs = table(&run_columns());
    let mut firsts = table(&first_columns());
    let mut compiles = table(&compile_columns());
    let mut notes = Notes::default();
    for r in results {
        let k = &r.kernel;
        let mut row = vec![k.clone(), checksum_cell(r)];
        for t in &r.rung {
            let what = format!("{k}, rung ({}) run", t.tier);
            row.push(notes.cell(&t.run, &what, Outcome::ms_cell));
        }
        let what = format!("{k}, TurboFan");
        row.push(notes.cell(&r.turbofan.run, &what, Outcome::ms_cell));
        row.extend(r.rung.iter().skip(1).map(|t| ratio_cell(t.ratio_vs_opt)));
        row.extend(r.rung.iter().map(|t| ratio_cell(t.ratio_vs_turbofan)));
        runs.row(row);

        let mut row = vec![k.clone()];
        for t in &r.rung {
            let what = format!("{k}, rung ({}) first call", t.tier);
            row.push(notes.cell(&t.first, &what, Outcome::ms_cell));
        }
        let what = format!("{k}, TurboFan first call");
        row.push(notes.cell(&r.turbofan.first, &what, Outcome::ms_cell));
        row.extend(
            r.rung
                .iter()
                .skip(1)
                .map(|t| ratio_cell(t.first_ratio_vs_opt)),
        );
        let tiered = r.rung.iter().find(|t| t.tier == "tiered");
        row.push(ratio_cell(
            tiered.and_then(|t| time_ratio(&t.first, &r.turbofan.first)),
        ));
        firsts.row(row);

        let mut row = vec![k.clone()];
        for t in &r.rung {
            let what = format!("{k}, rung ({}) compile", t.tier);
            row.push(notes.cell(&t.compile, &what, Outcome::ms_cell));
        }
        row.push(notes.cell(&r.turbofan.compile, &what, Outcome::ms_cell));
        let choices = r.rung.iter().zip(rung_tiers().iter().map(|&(_, c, _)| c));
        row.extend(
            choices
                .clone()
                .filter(|&(_, c)| starts_baseline(c))
                .map(|(t, _)| count_cell(t.fallbacks)),
        );
        row.extend(
            choices
                .filter(|&(_, c)| tiers_up(c))
                .map(|(t, _)| count_cell(t.tier_ups)),
        );
        compiles.row(row);
    }
    println!("## bench kernels");
    println!();
    println!("{}", machine.summary());
    let v8 = match node {
        Ok(n) => format!(
            "TurboFan = node {} (V8) with {}, a fresh process per call",
            n.version,
            TURBOFAN.join(" ")
        ),
        Err(e) => format!("TurboFan n/a ({e})"),
    };
    println!(
        "median of {calls} calls of `run` after a warm-up call (and of {calls} compiles), \
         default Config but the tier: rung (opt) = the optimizing tier; rung (baseline) = the \
         baseline tier (what it does not support falls back to the optimizer: fallbacks); \
         rung (tiered) = baseline first, hot functions optimized on a background thread \
         (default policy: CallCountPolicy, {} calls) and patched in, running loops moved by \
         on-stack replacement: the timed calls run whatever the slots hold (tier-ups: \
         functions patched in by the last call); {v8}",
        CallCountPolicy::DEFAULT_THRESHOLD
    );
    println!(
        "goals: opt / TurboFan ≤ {GOAL_RATIO:.1}×; baseline / opt ≤ {GOAL_BASELINE_VS_OPT:.1}× \
         (Winch is about 1.9× slower than Cranelift)"
    );
    println!();
    print!("{}", runs.to_markdown());
    println!();
    println!(
        "The first call of `run` on a fresh engine, module and instance (median of {calls}; \
         TurboFan: the first call after compiling): what a program whose main loop runs \
         once sees. Goal: tiered / opt ≤ 1.05×."
    );
    println!();
    print!("{}", firsts.to_markdown());
    println!();
    print!("{}", compiles.to_markdown());
    notes.print();
    for r in results {
        for t in &r.rung {
            let (ratio, goal, against) = match t.tier {
                "opt" => (t.ratio_vs_turbofan, GOAL_RATIO, "TurboFan's"),
                "baseline" => (t.ratio_vs_opt, GOAL_BASELINE_VS_OPT, "the optimizer's"),
                _ => (None, f64::INFINITY, ""),
            };
            if let Some(ratio) = ratio
                && ratio > goal
            {
                println!();
                println!(
                    "{}: rung ({}) is {ratio:.2}× {against} time, over the {goal:.1}× goal.",
                    r.kernel, t.tier
                );
            }
        }
        if r.checksums_agree == Some(false) {
            println!();
            println!("{}: CHECKSUMS DISAGREE: {}", r.kernel, checksum_cell(r));
            eprintln!("bench kernels: {}: CHECKSUMS DISAGREE", r.kernel);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kernel_parses_and_exports_run() {
        let kernels = list_kernels().expect("xtask/kernels");
        assert!(kernels.len() >= 3);
        for (name, path) in kernels {
            let bytes = wat::parse_file(&path).unwrap_or_else(|e| panic!("{name}: {e}"));
            wasmparser::Validator::new()
                .validate_all(&bytes)
                .unwrap_or_else(|e| panic!("{name}: {e}"));
            let exports_run = wasmparser::Parser::new(0)
                .parse_all(&bytes)
                .filter_map(Result::ok)
                .any(|p| match p {
                    wasmparser::Payload::ExportSection(s) => s
                        .into_iter()
                        .filter_map(Result::ok)
                        .any(|e| e.name == "run"),
                    _ => false,
                });
            assert!(exports_run, "{name} exports run");
        }
    }

    #[test]
    fn select_filters_and_rejects_unknown_names() {
        let all = vec![
            ("fib".to_string(), PathBuf::from("fib.wat")),
            ("sieve".to_string(), PathBuf::from("sieve.wat")),
        ];
        assert_eq!(select(&all, &[]).unwrap().len(), 2);
        assert_eq!(select(&all, &["sieve.wat".into()]).unwrap()[0].0, "sieve");
        assert!(
            select(&all, &["x".into()])
                .unwrap_err()
                .contains("fib, sieve")
        );
    }

    #[test]
    fn checksums_agree_only_when_every_engine_returned_one_and_the_same() {
        let set = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<BTreeSet<_>>();
        let (a, b, ab, none) = (set(&["1"]), set(&["2"]), set(&["1", "2"]), set(&[]));
        assert_eq!(agree([&a, &a].into_iter()), Some(true));
        assert_eq!(agree([&a, &b].into_iter()), Some(false));
        assert_eq!(agree([&ab, &none].into_iter()), Some(false));
        assert_eq!(agree([&a, &none].into_iter()), None);
        assert_eq!(agree([&none, &none].into_iter()), None);
    }

    #[test]
    fn every_tier_runs_a_kernel_to_the_same_checksum() {
        let bytes = wat::parse_str(
            r#"(module (func (export "run") (result i32) (local $i i32) (local $s i32)
                (loop $l
                    (local.set $s (i32.add (local.get $s) (i32.mul (local.get $i) (local.get $i))))
                    (local.set $i (i32.add (local.get $i) (i32.const 1)))
                    (br_if $l (i32.lt_u (local.get $i) (i32.const 100000))))
                (local.get $s)))"#,
        )
        .unwrap();
        let sums: Vec<String> = RUNG_TIERS_INTERRUPTIBLE
            .iter()
            .map(|&(name, tier, int)| {
                let rig = Rig::new(tier, int, &bytes);
                assert_eq!(rig.fallbacks, Some(0), "{name}");
                let mut ready = match rig.ready {
                    Ok(ready) => ready,
                    Err(NotReady::Failed(e)) => panic!("{name}: {e}"),
                    Err(NotReady::NoModule) => panic!("{name}: no module"),
                };
                let again = call(&mut ready.store, ready.run).unwrap();
                assert_eq!(again, ready.warm, "{name}");
                again
            })
            .collect();
        assert!(sums.windows(2).all(|w| w[0] == w[1]), "{sums:?}");
    }

    #[test]
    fn ratios_against_the_optimizer_and_counts_only_where_they_mean_something() {
        let names = |c: Vec<(String, bool)>| c.into_iter().map(|(h, _)| h).collect::<Vec<_>>();
        let run = names(run_columns());
        assert!(run.contains(&"baseline / opt".to_string()));
        assert!(run.contains(&"tiered / opt".to_string()));
        assert!(!run.contains(&"opt / opt".to_string()));
        assert!(run.contains(&"baseline / TurboFan".to_string()));
        let compile = names(compile_columns());
        assert!(compile.contains(&"baseline fallbacks".to_string()));
        assert!(compile.contains(&"tiered tier-ups".to_string()));
        assert!(!compile.contains(&"opt fallbacks".to_string()));
        assert!(!compile.contains(&"baseline tier-ups".to_string()));
    }
}
