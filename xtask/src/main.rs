//! rung's developer tasks: `cargo xtask <command>`, where the alias in
//! `.cargo/config.toml` is `run --profile dist --package xtask --` (fat LTO:
//! the build rung ships, see the workspace `Cargo.toml`).
//!
//! ```text
//! cargo xtask bench
//!     decode, compile, kernels and streaming in turn, each with its defaults.
//! cargo xtask bench decode [--modules a,b] [--iters N] [--threads N] [--corpus DIR]
//!     decode + validate throughput on every corpus module: wasmparser's
//!     validator (the reference) against rung's decoder and validator on one
//!     and on N threads, and stage 2 alone on 1 and N threads.
//! cargo xtask bench compile [--tiers baseline,optimizer] [--all] [--modules a,b]
//!                           [--iters N] [--corpus DIR] [--node PATH | --no-node]
//!     compile throughput on one thread: the baseline tier (decode + validate
//!     + compile, and compile only) on every module beside V8's Liftoff, the
//!     optimizing tier beside V8's TurboFan (modules under 5 MB unless --all
//!     or --modules); a function a tier fails on (other than Unsupported)
//!     fails the bench.
//! cargo xtask bench kernels [--kernels a,b] [--iters N] [--node PATH | --no-node]
//!     run time of xtask/kernels/*.wat under rung's optimizing, baseline and
//!     tiered configurations and V8's TurboFan, with compile times;
//!     checksums must agree (else the exit code says so).
//! cargo xtask bench streaming [--modules a,b] [--iters N] [--rates 10,50,100] [--chunk N]
//!                             [--node PATH | --no-node]
//!     streaming compilation against batch on cc1, python, esbuild, swc and
//!     ruby, rung baseline and tiered beside node's compileStreaming (V8's
//!     default and eager Liftoff), fed unthrottled and at each rate (MB/s):
//!     wall time, time from the last byte to ready, time to the first
//!     compiled function, peak RSS; each sample a fresh process.
//! cargo xtask bench workloads [--only a,b] [--configs a,b] [--reps N] [--quick]
//!                             [--python PATH | --no-wasmtime] [--node PATH | --no-node]
//!     the whole programs of workloads.json (CPython, cc1, Yosys, Flite)
//!     end to end, each run a fresh process, rounds interleaved: rung
//!     tiered, tiered lazy, baseline, optimized, optimized lazy; node
//!     default, Liftoff, TurboFan; Wasmtime Cranelift and Winch (PyPI
//!     `wasmtime`); outputs checked; wall, CPU, peak RSS, ratios to the best
//!     peer and to node. `--quick` (cc1, rung tiered, one round) is CI's.
//! cargo xtask fuzz [--target differential|oracle|robustness|wasi] [--cases N] [--seed S]
//!     a property test for N cases (default 100,000), in release:
//!     `differential` (the default), the baseline-vs-optimizer differential
//!     test on wasm-smith modules (CI runs 2,000); `oracle`, rung against
//!     wasmi (CI runs 2,000); `robustness`, mutated modules through every
//!     entry point and tier (CI runs 300); `wasi`, the WASI fuzz target,
//!     generated guests calling every preview1 function with edge
//!     arguments against a scratch preopen (CI runs 300).
//! ```
//!
//! Each prints a Markdown table on stdout and writes every number to
//! `<target>/bench/<bench>.json`; `streaming` and `workloads` also draw
//! `<target>/bench/<bench>.svg` (grouped bars, min–max whiskers) and show
//! their progress on stderr.
//!
//! Code map: `bench` holds the options every bench shares, the timing loop
//! and the measurement cell, one module per bench beside it
//! (`bench/decode.rs`, `bench/compile.rs`, `bench/kernels.rs`,
//! `bench/streaming.rs`, `bench/workloads.rs`), the V8 peer runner
//! (`bench/node.rs`) and the SVG chart (`bench/chart.rs`); `kernels/` holds
//! the kernels' `.wat` and their node script, `peers/` node's streaming
//! script; `corpus` finds the
//! modules that `workloads.json` lists and unpacks them when they are missing;
//! `report` prints Markdown tables and writes JSON with the machine's
//! description; `paths` knows where the workspace, the shared corpus and the
//! target directory are. A new bench is one more variant of [`bench::Bench`]
//! and one more module.
//!
//! **Invariant:** stdout carries only the report (the table); progress and
//! notes go to stderr, so `cargo xtask bench decode > table.md` works.

mod bench;
mod corpus;
mod fuzz;
mod paths;
mod report;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "xtask", about = "rung's developer tasks")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Measure rung: decoding and compiling the corpus of real modules
    /// (../shared/corpus), running the kernels in xtask/kernels.
    /// With no `<what>`: decode, compile, kernels and streaming in turn, with their defaults.
    Bench {
        #[command(subcommand)]
        what: Option<bench::Bench>,
    },
    /// Run a property test for many generated cases: the baseline tier's
    /// differential test (against the optimizer), or the WASI fuzz target.
    Fuzz(fuzz::FuzzArgs),
    /// One sample of `bench streaming`, in a process of its own.
    #[command(hide = true)]
    StreamOnce(bench::streaming::OnceArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Bench { what } => bench::run(what),
        Command::Fuzz(args) => fuzz::run(&args),
        Command::StreamOnce(args) => bench::streaming::once(&args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xtask: {e}");
            ExitCode::FAILURE
        }
    }
}
