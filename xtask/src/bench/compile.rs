//! `cargo xtask bench compile`: the optimizing tier's compile throughput on
//! one thread, beside V8's TurboFan and Liftoff on one thread.
//!
//! For each module, interleaved ([`measure`]):
//!
//! ```text
//! ours      OptimizingTier::compile on every body, in order, on this thread;
//!           the module is decoded and its VmOffsets built before the clock
//!           starts (no validation: the corpus is valid, see bench decode)
//! TurboFan  node --no-liftoff --no-wasm-tier-up --no-wasm-lazy-compilation
//!           --single-threaded peers/node_compile.mjs FILE
//! Liftoff   node --liftoff --no-wasm-tier-up --no-wasm-lazy-compilation
//!           --single-threaded peers/node_compile.mjs FILE
//! ```
//!
//! A V8 sample is one fresh node process (V8 would otherwise serve its
//! cached module), timing `new WebAssembly.Module` (decode, validate and
//! compile: V8 cannot compile without validating); each V8 number is the
//! median of at least 3. Throughput is module bytes (and, for ours, code
//! section bytes) in 10^6 bytes per second over the median time; a ratio is
//! ours MB/s over theirs, so above 1× rung compiles faster.
//!
//! Without `--all` or `--modules`, only modules under [`DEFAULT_MAX_BYTES`]
//! run: Cranelift takes a minute or more over yosys's 42 MB of code.
//!
//! **Invariant:** a function the tier reports `Unsupported` is counted, by
//! feature, and skipped (the runtime would hand it to another tier); any
//! other compile error is the module's error. Throughput always counts the
//! whole module, and the table says how many functions were left out.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::Args;
use rung_decoder::{DecoderConfig, Event, ModuleEnv, decode_all};
use rung_optimizer::OptimizingTier;
use rung_tiering::{CompileError, FunctionBody, Tier, VmOffsets};
use serde::{Deserialize, Serialize};

use super::node::{LIFTOFF_SINGLE_THREADED, Node, NodeArgs, TURBOFAN_SINGLE_THREADED};
use super::{Case, CommonArgs, Notes, Outcome, Repeat, case, measure, ratio_cell, time_ratio};
use crate::corpus::{Corpus, Module};
use crate::paths;
use crate::report::{self, Machine, Table};

/// Modules at least this large run only with `--all` (or by name).
pub const DEFAULT_MAX_BYTES: u64 = 5_000_000;

/// Fresh node processes per V8 number, at least.
const NODE_MIN_SAMPLES: usize = 3;

/// `bench compile`'s options.
#[derive(Args, Debug, Clone, Default)]
pub struct CompileArgs {
    #[command(flatten)]
    pub common: CommonArgs,
    /// Every module, also those over 5 MB (Cranelift takes a minute or more
    /// on the largest) [default: only modules under 5 MB, unless --modules
    /// names them]
    #[arg(long)]
    pub all: bool,
    #[command(flatten)]
    pub node: NodeArgs,
}

/// The JSON document.
#[derive(Serialize)]
struct Report {
    bench: &'static str,
    machine: Machine,
    tier: &'static str,
    threads: usize,
    /// `node --version`, when node ran.
    node: Option<String>,
    /// Why the V8 columns are empty, when they are.
    node_unavailable: Option<String>,
    turbofan_flags: &'static [&'static str],
    liftoff_flags: &'static [&'static str],
    repeat: Repeat,
    node_min_samples: usize,
    corpus_dir: String,
    modules: Vec<ModuleResult>,
    skipped: Vec<SkippedModule>,
}

#[derive(Serialize)]
struct SkippedModule {
    module: String,
    reason: String,
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
    /// Bodies the tier reported `Unsupported`, by feature.
    unsupported: BTreeMap<String, usize>,
    /// Bytes of the bodies compiled (the unsupported ones left out).
    compiled_body_bytes: Option<usize>,
    /// Bytes of machine code the compiled functions came to.
    machine_code_bytes: Option<usize>,
    ours: Outcome,
    /// ours over the code section's bytes.
    ours_code_mb_per_s: Option<f64>,
    /// ours over the bytes of the bodies it compiled.
    ours_compiled_mb_per_s: Option<f64>,
    turbofan: Outcome,
    liftoff: Outcome,
    /// ours MB/s over TurboFan MB/s (TurboFan's time over ours).
    ratio_ours_vs_turbofan: Option<f64>,
    /// ours MB/s over Liftoff MB/s.
    ratio_ours_vs_liftoff: Option<f64>,
}

impl ModuleResult {
    fn unsupported_count(&self) -> usize {
        self.unsupported.values().sum()
    }

    /// Unsupported counts by proposal (`simd`, `threads`, `exceptions`):
    /// the tier names a feature as `proposal: operator` or `proposal (…)`.
    fn unsupported_by_proposal(&self) -> BTreeMap<&str, usize> {
        let mut by = BTreeMap::new();
        for (feature, n) in &self.unsupported {
            let proposal = feature.split([':', ' ', '(']).next().unwrap_or(feature);
            *by.entry(proposal).or_default() += n;
        }
        by
    }
}

pub fn run(args: &CompileArgs) -> Result<(), String> {
    let corpus = Corpus::locate(&args.common.corpus);
    let (modules, mut skipped) = corpus.prepare(&args.common.modules)?;
    let (modules, left_out) = if args.all || !args.common.modules.is_empty() {
        (modules, Vec::new())
    } else {
        modules.into_iter().partition::<Vec<_>, _>(|m| {
            std::fs::metadata(&m.path).is_ok_and(|md| md.len() < DEFAULT_MAX_BYTES)
        })
    };
    let repeat = args.common.repeat();
    let machine = Machine::describe();
    let node = args.node.probe();
    let tier = OptimizingTier::new().map_err(|e| format!("the optimizing tier: {e}"))?;
    eprintln!(
        "bench compile: {} modules from {}, 1 thread, {}; V8: {}",
        modules.len(),
        corpus.dir().display(),
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
    let mut results = Vec::new();
    for module in &modules {
        results.push(bench_module(module, &tier, node.as_ref(), &script, repeat)?);
    }

    print_table(
        &machine,
        node.as_ref(),
        repeat,
        &results,
        &skipped,
        &left_out,
    );

    skipped.extend(left_out.into_iter().map(|m| crate::corpus::Skipped {
        name: m.name,
        reason: format!("over {} MB: --all runs it", DEFAULT_MAX_BYTES as f64 / 1e6),
    }));
    let report = Report {
        bench: "compile",
        machine,
        tier: tier_name(&tier),
        threads: 1,
        node: node.as_ref().ok().map(|n| n.version.clone()),
        node_unavailable: node.as_ref().err().cloned(),
        turbofan_flags: TURBOFAN_SINGLE_THREADED,
        liftoff_flags: LIFTOFF_SINGLE_THREADED,
        repeat,
        node_min_samples: NODE_MIN_SAMPLES,
        corpus_dir: corpus.dir().display().to_string(),
        modules: results,
        skipped: skipped
            .into_iter()
            .map(|s| SkippedModule {
                module: s.name,
                reason: s.reason,
            })
            .collect(),
    };
    let path = report::write_json("compile", &report)?;
    eprintln!("bench compile: wrote {}", path.display());
    Ok(())
}

fn tier_name(tier: &OptimizingTier) -> &'static str {
    match tier.name() {
        "optimizer" | "optimized" => "optimizer (Cranelift, opt_level=speed)",
        other => other,
    }
}

/// A module decoded once: what compiling its bodies needs.
struct Decoded {
    env: ModuleEnv,
    offsets: VmOffsets,
    /// (function index, absolute offset, length) of every body.
    bodies: Vec<(u32, u64, usize)>,
}

fn decode(bytes: &[u8]) -> Result<Decoded, String> {
    let config = DecoderConfig {
        features: rung_validator::FEATURES,
        decode_names: false,
        ..DecoderConfig::default()
    };
    let mut bodies = Vec::new();
    let env = decode_all(bytes, config, &mut |_: &ModuleEnv, event: Event<'_>| {
        if let Event::FunctionBody(body) = event {
            bodies.push((body.index, body.offset, body.bytes.len()));
        }
        Ok::<_, rung_decoder::DecodeError>(())
    })
    .map_err(|e| format!("decoding: {e}"))?;
    let offsets = VmOffsets::for_host(&env).map_err(|e| format!("vmctx layout: {e}"))?;
    Ok(Decoded {
        env,
        offsets,
        bodies,
    })
}

/// What one compile of every body produced, beside the time.
#[derive(Default, Clone)]
struct Tally {
    unsupported: BTreeMap<String, usize>,
    compiled_body_bytes: usize,
    machine_code_bytes: usize,
}

/// Compiles every body of `module` in order on this thread. The compiled
/// functions are returned so that freeing them is not timed.
fn compile_all(
    tier: &OptimizingTier,
    module: &Decoded,
    bytes: &[u8],
) -> Result<(Vec<rung_tiering::CompiledFunction>, Tally), String> {
    let mut compiled = Vec::with_capacity(module.bodies.len());
    let mut tally = Tally::default();
    for &(index, offset, len) in &module.bodies {
        let start = offset as usize;
        let body = FunctionBody {
            index,
            offset,
            bytes: &bytes[start..start + len],
        };
        match tier.compile(&module.env, index, body, &module.offsets) {
            Ok(f) => {
                tally.compiled_body_bytes += len;
                tally.machine_code_bytes += f.code.len();
                compiled.push(f);
            }
            Err(CompileError::Unsupported { feature, .. }) => {
                *tally.unsupported.entry(feature).or_default() += 1;
            }
            Err(e) => return Err(format!("function {index}: {e}")),
        }
    }
    Ok((compiled, tally))
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

fn bench_module(
    module: &Module,
    tier: &OptimizingTier,
    node: Result<&Node, &String>,
    script: &Path,
    repeat: Repeat,
) -> Result<ModuleResult, String> {
    let bytes = std::fs::read(&module.path)
        .map_err(|e| format!("reading {}: {e}", module.path.display()))?;
    let bytes = bytes.as_slice();
    let size = bytes.len();
    eprintln!("  {} ({:.1} MB)", module.name, size as f64 / 1e6);
    let decoded = decode(bytes);
    let code_bytes = decoded
        .as_ref()
        .ok()
        .and_then(|d| d.env.code_section.as_ref())
        .map(|(_, range)| range.end - range.start);

    let tally: RefCell<Option<Tally>> = RefCell::new(None);
    let path: PathBuf = module.path.clone();
    let mut cases = Vec::new();
    if let Ok(decoded) = &decoded {
        cases.push(case(
            || Ok(()),
            |()| {
                let (compiled, t) = compile_all(tier, decoded, bytes)?;
                tally.borrow_mut().get_or_insert(t);
                Ok(compiled)
            },
        ));
    }
    if let Ok(node) = node {
        cases.push(node_case(node, TURBOFAN_SINGLE_THREADED, script, &path));
        cases.push(node_case(node, LIFTOFF_SINGLE_THREADED, script, &path));
    }
    let mut samples = measure(repeat, cases).into_iter();
    let ours = match &decoded {
        Ok(_) => Outcome::new(samples.next().ok_or("one result per case")?, size),
        Err(message) => Outcome::Error {
            message: message.clone(),
        },
    };
    let (turbofan, liftoff) = match node {
        Ok(_) => (
            Outcome::new(samples.next().ok_or("one result per case")?, size),
            Outcome::new(samples.next().ok_or("one result per case")?, size),
        ),
        Err(reason) => (
            Outcome::NotRun {
                reason: reason.clone(),
            },
            Outcome::NotRun {
                reason: reason.clone(),
            },
        ),
    };
    let tally = tally.into_inner();
    Ok(ModuleResult {
        module: module.name.clone(),
        bytes: size,
        code_bytes,
        functions: decoded.as_ref().ok().map(|d| d.bodies.len()),
        unsupported: tally
            .as_ref()
            .map(|t| t.unsupported.clone())
            .unwrap_or_default(),
        compiled_body_bytes: tally.as_ref().map(|t| t.compiled_body_bytes),
        machine_code_bytes: tally.as_ref().map(|t| t.machine_code_bytes),
        ours_compiled_mb_per_s: tally
            .as_ref()
            .zip(ours.sample())
            .map(|(t, s)| s.mb_per_s(t.compiled_body_bytes)),
        ours_code_mb_per_s: code_bytes
            .zip(ours.sample())
            .map(|(c, s)| s.mb_per_s(c as usize)),
        ratio_ours_vs_turbofan: time_ratio(&turbofan, &ours),
        ratio_ours_vs_liftoff: time_ratio(&liftoff, &ours),
        ours,
        turbofan,
        liftoff,
    })
}

/// The unsupported cell: the count, and the proposals.
fn unsupported_cell(r: &ModuleResult) -> String {
    let n = r.unsupported_count();
    if n == 0 {
        return "0".to_string();
    }
    let proposals: Vec<&str> = r.unsupported_by_proposal().into_keys().collect();
    format!("{n} ({})", proposals.join(", "))
}

/// A ratio cell, starred when ours left functions out (not like for like).
fn ratio_cell_for(r: &ModuleResult, ratio: Option<f64>) -> String {
    let cell = ratio_cell(ratio);
    if ratio.is_some() && r.unsupported_count() > 0 {
        format!("{cell}*")
    } else {
        cell
    }
}

fn print_table(
    machine: &Machine,
    node: Result<&Node, &String>,
    repeat: Repeat,
    results: &[ModuleResult],
    skipped: &[crate::corpus::Skipped],
    left_out: &[Module],
) {
    let mut table = Table::new(&[
        ("module", false),
        ("size (MB)", true),
        ("code (MB)", true),
        ("functions", true),
        ("unsupported", true),
        ("ours ms", true),
        ("ours MB/s", true),
        ("ours code MB/s", true),
        ("TurboFan MB/s", true),
        ("Liftoff MB/s", true),
        ("ours / TurboFan", true),
        ("ours / Liftoff", true),
    ]);
    let mut notes = Notes::default();
    for r in results {
        let ours = format!("{}, ours", r.module);
        let mb = |b: Option<u64>| {
            b.map_or_else(|| "—".to_string(), |b| format!("{:.2}", b as f64 / 1e6))
        };
        table.row(vec![
            r.module.clone(),
            mb(Some(r.bytes as u64)),
            mb(r.code_bytes),
            r.functions
                .map_or_else(|| "—".to_string(), |n| n.to_string()),
            unsupported_cell(r),
            notes.cell(&r.ours, &ours, Outcome::ms_cell),
            notes.cell(&r.ours, &ours, Outcome::mb_per_s_cell),
            r.ours_code_mb_per_s
                .map_or_else(|| "—".to_string(), |m| format!("{m:.1}")),
            notes.cell(
                &r.turbofan,
                &format!("{}, TurboFan", r.module),
                Outcome::mb_per_s_cell,
            ),
            notes.cell(
                &r.liftoff,
                &format!("{}, Liftoff", r.module),
                Outcome::mb_per_s_cell,
            ),
            ratio_cell_for(r, r.ratio_ours_vs_turbofan),
            ratio_cell_for(r, r.ratio_ours_vs_liftoff),
        ]);
    }
    println!("## bench compile");
    println!();
    println!("{}", machine.summary());
    let v8 = match node {
        Ok(n) => format!(
            "node {} (V8), a fresh process per sample, median of ≥{NODE_MIN_SAMPLES}",
            n.version
        ),
        Err(e) => format!("V8 n/a ({e})"),
    };
    println!(
        "ours = rung's optimizing tier (Cranelift), compile only, one thread; \
         TurboFan / Liftoff = V8 alone with --single-threaded, `new WebAssembly.Module` \
         (decode + validate + compile); {v8}"
    );
    println!(
        "median of {}; MB = 10^6 bytes of the whole module (code MB/s: of the code section); \
         ratios are ours MB/s over theirs (above 1× rung compiles faster)",
        repeat.describe()
    );
    println!();
    print!("{}", table.to_markdown());
    let ratios: Vec<f64> = results
        .iter()
        .filter(|r| r.unsupported_count() == 0)
        .filter_map(|r| r.ratio_ours_vs_turbofan)
        .collect();
    if !ratios.is_empty() {
        let geomean = (ratios.iter().map(|r| r.ln()).sum::<f64>() / ratios.len() as f64).exp();
        println!();
        println!(
            "Geometric mean of ours / TurboFan over the {} modules compiled whole: {geomean:.2}×.",
            ratios.len()
        );
    }
    for r in results.iter().filter(|r| r.unsupported_count() > 0) {
        let by: Vec<String> = r
            .unsupported_by_proposal()
            .iter()
            .map(|(p, n)| format!("{p} ×{n}"))
            .collect();
        let compiled = match (r.compiled_body_bytes, r.ours_compiled_mb_per_s) {
            (Some(b), Some(m)) => format!(
                "; over the {:.2} MB of bodies it compiled, ours is {m:.1} MB/s",
                b as f64 / 1e6
            ),
            _ => String::new(),
        };
        println!();
        println!(
            "* {}: {} of {} functions unsupported by the optimizing tier and not compiled \
             ({}; by operator in compile.json), so its ratios are not like for like{compiled}.",
            r.module,
            r.unsupported_count(),
            r.functions.unwrap_or(0),
            by.join(", ")
        );
    }
    notes.print();
    for s in skipped {
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
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unsupported_features_group_by_proposal() {
        let r = ModuleResult {
            module: "m".into(),
            bytes: 1,
            code_bytes: None,
            functions: Some(10),
            unsupported: [
                ("simd: V128Load".to_string(), 3),
                ("simd (v128 value type)".to_string(), 2),
                ("threads: I32AtomicLoad".to_string(), 1),
            ]
            .into_iter()
            .collect(),
            compiled_body_bytes: None,
            machine_code_bytes: None,
            ours: Outcome::NotRun {
                reason: "test".into(),
            },
            ours_code_mb_per_s: None,
            ours_compiled_mb_per_s: None,
            turbofan: Outcome::NotRun {
                reason: "test".into(),
            },
            liftoff: Outcome::NotRun {
                reason: "test".into(),
            },
            ratio_ours_vs_turbofan: Some(1.5),
            ratio_ours_vs_liftoff: None,
        };
        assert_eq!(r.unsupported_count(), 6);
        assert_eq!(
            r.unsupported_by_proposal().into_iter().collect::<Vec<_>>(),
            vec![("simd", 5), ("threads", 1)]
        );
        assert_eq!(unsupported_cell(&r), "6 (simd, threads)");
        assert_eq!(ratio_cell_for(&r, r.ratio_ours_vs_turbofan), "1.50×*");
        assert_eq!(ratio_cell_for(&r, None), "—");
    }
}
