//! `cargo xtask fuzz [--cases N] [--seed S]`: the baseline tier's
//! differential test (`crates/baseline/tests/differential.rs`: wasm-smith
//! modules run optimized, baseline and mixed, comparing results, traps,
//! memories and globals) for as many cases as a long run wants, in release.
//! CI runs the same test with its default 2,000 cases.

use std::process::Command;

/// Options of `cargo xtask fuzz`.
#[derive(clap::Args)]
pub struct FuzzArgs {
    /// How many generated modules to run.
    #[arg(long, default_value_t = 100_000)]
    cases: u32,
    /// Seed proptest's generator (a fixed seed repeats a run).
    #[arg(long)]
    seed: Option<u64>,
}

pub fn run(args: &FuzzArgs) -> Result<(), String> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_string());
    let mut command = Command::new(cargo);
    command
        .args([
            "test",
            "--release",
            "-p",
            "rung-baseline",
            "--test",
            "differential",
        ])
        .args(["--", "--nocapture"])
        .env("PROPTEST_CASES", args.cases.to_string());
    if let Some(seed) = args.seed {
        command.env("PROPTEST_RNG_SEED", seed.to_string());
    }
    eprintln!("xtask fuzz: {} cases of the differential test", args.cases);
    let status = command
        .status()
        .map_err(|e| format!("cannot run cargo: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("the differential test failed ({status})"))
    }
}
