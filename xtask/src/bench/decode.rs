//! `cargo xtask bench decode`: decode + validate throughput on the corpus.
//!
//! For each module, with the WebAssembly 3.0 feature set on both sides:
//!
//! ```text
//! wasmparser   Validator::new_with_features(WASM3).validate_all   the reference, one thread
//! ours-1       rung_validator::validate(bytes, 1)                 decoder + stage 1 + stage 2 inline
//! ours-N       rung_validator::validate(bytes, N)                 stage 2 on N worker threads
//! stage2-1/N   rung_validator::validate_functions(jobs, 1 | N)    stage 2 alone; the jobs are
//!                                                                 collected (decode + stage 1)
//!                                                                 before the clock starts
//! ```
//!
//! Throughput is module bytes (10^6 per MB) over the median time. The table
//! goes to stdout, every number to `<target>/bench/decode.json`.
//!
//! **Invariant:** a module that either engine rejects shows the error where
//! its numbers would be; the feature set is never changed to make it pass.

use std::cell::Cell;

use rung_decoder::{DecoderConfig, Event, FunctionBody, ModuleEnv, decode_all};
use rung_validator::{BodyJob, ModuleValidator, ValidateError};
use serde::Serialize;
use wasmparser::{Validator, WasmFeatures};

use super::{DecodeArgs, Outcome, Repeat, case, measure, ratio_cell, time_ratio};
use crate::corpus::{Corpus, Module, Skipped};
use crate::report::{self, Machine, Table};

/// The JSON document.
#[derive(Serialize)]
struct Report {
    bench: &'static str,
    machine: Machine,
    features: &'static str,
    threads: usize,
    repeat: Repeat,
    corpus_dir: String,
    modules: Vec<ModuleResult>,
    skipped: Vec<Skipped>,
}

/// Every number for one module.
#[derive(Serialize)]
struct ModuleResult {
    module: String,
    bytes: usize,
    largest: bool,
    /// Function bodies, when stage 1 got through the code section.
    functions: Option<usize>,
    wasmparser: Outcome,
    ours_1: Outcome,
    ours_n: Outcome,
    stage2_1: Outcome,
    stage2_n: Outcome,
    /// ours-1 MB/s over wasmparser MB/s.
    ratio_ours_1_vs_wasmparser: Option<f64>,
    /// ours-1 time over ours-N time.
    speedup_ours_n_vs_1: Option<f64>,
    /// stage2-1 time over stage2-N time.
    speedup_stage2_n_vs_1: Option<f64>,
}

pub fn run(args: &DecodeArgs) -> Result<(), String> {
    let corpus = Corpus::locate(&args.common.corpus);
    let (modules, skipped) = corpus.prepare(&args.common.modules)?;
    let threads = args.threads();
    let repeat = args.common.repeat();
    let machine = Machine::describe();
    eprintln!(
        "bench decode: {} modules from {}, {threads} threads, {}",
        modules.len(),
        corpus.dir().display(),
        repeat.describe()
    );

    let mut results = Vec::new();
    for module in &modules {
        results.push(bench_module(module, threads, repeat)?);
    }
    if let Some(largest) = results.iter_mut().max_by_key(|r| r.bytes) {
        largest.largest = true;
    }

    print_table(&machine, threads, repeat, &results, &skipped);

    let report = Report {
        bench: "decode",
        machine,
        features: "WASM3",
        threads,
        repeat,
        corpus_dir: corpus.dir().display().to_string(),
        modules: results,
        skipped,
    };
    let path = report::write_json("decode", &report)?;
    eprintln!("bench decode: wrote {}", path.display());
    Ok(())
}

fn bench_module(module: &Module, threads: usize, repeat: Repeat) -> Result<ModuleResult, String> {
    let bytes = std::fs::read(&module.path)
        .map_err(|e| format!("reading {}: {e}", module.path.display()))?;
    let bytes = bytes.as_slice();
    let size = bytes.len();
    eprintln!("  {} ({:.1} MB)", module.name, size as f64 / 1e6);
    let none = || Ok(());
    let functions = Cell::new(None);
    let collect = || {
        let jobs = collect_jobs(bytes).map_err(|e| e.to_string())?;
        functions.set(Some(jobs.len()));
        Ok(jobs)
    };
    let ours = |threads: usize| {
        case(none, move |()| {
            rung_validator::validate(bytes, threads).map_err(|e| e.to_string())
        })
    };
    let stage2 = |threads: usize| {
        case(collect, move |jobs| {
            rung_validator::validate_functions(jobs, threads).map_err(|e| e.to_string())
        })
    };
    let cases = vec![
        case(none, |()| {
            Validator::new_with_features(WasmFeatures::WASM3)
                .validate_all(bytes)
                .map_err(|e| e.to_string())
        }),
        ours(1),
        ours(threads),
        stage2(1),
        stage2(threads),
    ];
    let [wasmparser, ours_1, ours_n, stage2_1, stage2_n] =
        <[_; 5]>::try_from(measure(repeat, cases))
            .map_err(|_| "one result per case".to_string())?
            .map(|result| Outcome::new(result, size));
    let functions = functions.get();

    Ok(ModuleResult {
        module: module.name.clone(),
        bytes: size,
        largest: false,
        functions,
        ratio_ours_1_vs_wasmparser: time_ratio(&wasmparser, &ours_1),
        speedup_ours_n_vs_1: time_ratio(&ours_1, &ours_n),
        speedup_stage2_n_vs_1: time_ratio(&stage2_1, &stage2_n),
        wasmparser,
        ours_1,
        ours_n,
        stage2_1,
        stage2_n,
    })
}

/// Decodes and runs stage 1, keeping every body's stage-2 job with the body
/// re-borrowed from `bytes` (the decoder's own borrow ends with the event).
fn collect_jobs(bytes: &[u8]) -> Result<Vec<BodyJob<'_>>, ValidateError> {
    let config = DecoderConfig {
        features: rung_validator::FEATURES,
        ..DecoderConfig::default()
    };
    let mut stage1 = ModuleValidator::new(rung_validator::FEATURES);
    let mut jobs = Vec::new();
    decode_all(bytes, config, &mut |_: &ModuleEnv, event: Event<'_>| {
        let job = stage1.event(&event)?;
        if let (Some(job), Event::FunctionBody(body)) = (job, &event) {
            let start = body.offset as usize;
            let body = FunctionBody {
                bytes: &bytes[start..start + body.bytes.len()],
                ..*body
            };
            jobs.push(BodyJob { job, body });
        }
        Ok::<_, ValidateError>(())
    })?;
    Ok(jobs)
}

fn print_table(
    machine: &Machine,
    threads: usize,
    repeat: Repeat,
    results: &[ModuleResult],
    skipped: &[crate::corpus::Skipped],
) {
    let ours_n = format!("ours-{threads} MB/s");
    let stage2_n = format!("stage2-{threads} ms");
    let speedup = format!("speedup {threads} vs 1");
    let mut table = Table::new(&[
        ("module", false),
        ("size (MB)", true),
        ("wasmparser MB/s", true),
        ("ours-1 MB/s", true),
        ("ours-1 / wasmparser", true),
        (&ours_n, true),
        ("stage2-1 ms", true),
        (&stage2_n, true),
        (&speedup, true),
    ]);
    for r in results {
        let name = if r.largest {
            format!("**{}** (largest)", r.module)
        } else {
            r.module.clone()
        };
        table.row(vec![
            name,
            format!("{:.2}", r.bytes as f64 / 1e6),
            r.wasmparser.mb_per_s_cell(),
            r.ours_1.mb_per_s_cell(),
            ratio_cell(r.ratio_ours_1_vs_wasmparser),
            r.ours_n.mb_per_s_cell(),
            r.stage2_1.ms_cell(),
            r.stage2_n.ms_cell(),
            ratio_cell(r.speedup_stage2_n_vs_1),
        ]);
    }
    println!("## bench decode");
    println!();
    println!("{}", machine.summary());
    println!(
        "features WASM3; N = {threads} threads; median of {}; MB = 10^6 bytes",
        repeat.describe()
    );
    println!();
    print!("{}", table.to_markdown());
    for s in skipped {
        println!();
        println!("Skipped {}: {}", s.name, s.reason);
    }
    for r in results {
        let verdicts = [
            &r.wasmparser,
            &r.ours_1,
            &r.ours_n,
            &r.stage2_1,
            &r.stage2_n,
        ]
        .map(|o| o.sample().is_some());
        if verdicts[0] != verdicts[1] {
            println!();
            println!(
                "Engines disagree on {}: wasmparser {}, ours {}.",
                r.module,
                verdict(&r.wasmparser),
                verdict(&r.ours_1)
            );
        } else if verdicts[1..].iter().any(|&v| v != verdicts[1]) {
            println!();
            println!("Thread counts disagree on {}: see decode.json.", r.module);
        }
    }
}

fn verdict(outcome: &Outcome) -> &'static str {
    match outcome {
        Outcome::Ok { .. } => "accepts it",
        Outcome::Error { .. } | Outcome::NotRun { .. } => "rejects it",
    }
}
