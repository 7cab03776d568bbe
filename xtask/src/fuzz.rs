//! `cargo xtask fuzz [--target differential|oracle|robustness|wasi] [--cases N] [--seed S]`:
//! one of the property tests for as many cases as a long run wants, in
//! release.
//!
//! - `differential` (the default): the baseline tier's differential test
//!   (`crates/baseline/tests/differential.rs`: wasm-smith modules run
//!   optimized, baseline and mixed, comparing results, traps, memories and
//!   globals). CI runs the same test with its default 2,000 cases.
//! - `oracle`: rung against wasmi 1.1, an independent interpreter
//!   (`tests/oracle.rs`: wasm-smith modules run optimized, baseline and
//!   tiered, comparing results, trap kinds, memories and globals with
//!   wasmi's). CI runs the same test with its default 2,000 cases.
//! - `robustness`: mutated wasm-smith modules through `Module::new` and the
//!   streaming compiler in three configurations, then instantiated under a
//!   watchdog (`tests/robustness.rs`: no panic, crash or hang; the same
//!   verdict and message from every path). CI runs the same test with its
//!   default 300 cases.
//! - `wasi`: the WASI fuzz target (`crates/runtime/tests/wasi_fuzz.rs`:
//!   generated guests call every preview1 function with random and
//!   edge-case arguments against a scratch preopen; no host panic, no
//!   abort or hang, bounded host memory, nothing changed outside the
//!   preopen). CI runs the same test with its default 300 cases.

use std::process::Command;

/// Which property test `cargo xtask fuzz` runs.
#[derive(clap::ValueEnum, Clone, Copy, Debug, Default)]
pub enum Target {
    /// The baseline-vs-optimizer differential test (rung-baseline).
    #[default]
    Differential,
    /// rung against wasmi, an independent interpreter (the `rung` package).
    Oracle,
    /// Mutated modules through every entry point and tier (the `rung` package).
    Robustness,
    /// The WASI preview1 fuzz target (rung-runtime).
    Wasi,
}

impl Target {
    /// (package, test, what it is called in messages)
    fn test(self) -> (&'static str, &'static str, &'static str) {
        match self {
            Target::Differential => ("rung-baseline", "differential", "the differential test"),
            Target::Oracle => ("rung", "oracle", "the wasmi oracle test"),
            Target::Robustness => ("rung", "robustness", "the robustness fuzz target"),
            Target::Wasi => ("rung-runtime", "wasi_fuzz", "the WASI fuzz target"),
        }
    }
}

/// Options of `cargo xtask fuzz`.
#[derive(clap::Args)]
pub struct FuzzArgs {
    /// Which test to run.
    #[arg(long, value_enum, default_value_t = Target::Differential)]
    target: Target,
    /// How many generated cases (modules) to run.
    #[arg(long, default_value_t = 100_000)]
    cases: u32,
    /// Seed proptest's generator (a fixed seed repeats a run).
    #[arg(long)]
    seed: Option<u64>,
}

pub fn run(args: &FuzzArgs) -> Result<(), String> {
    let (package, test, what) = args.target.test();
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_string());
    let mut command = Command::new(cargo);
    command
        .args(["test", "--release", "-p", package, "--test", test])
        .args(["--", "--nocapture"])
        .env("PROPTEST_CASES", args.cases.to_string());
    if let Some(seed) = args.seed {
        command.env("PROPTEST_RNG_SEED", seed.to_string());
    }
    eprintln!("xtask fuzz: {} cases of {what}", args.cases);
    let status = command
        .status()
        .map_err(|e| format!("cannot run cargo: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("{what} failed ({status})"))
    }
}
