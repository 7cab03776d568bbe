//! rung's developer tasks: `cargo xtask <command>`, where the alias in
//! `.cargo/config.toml` is `run --release --package xtask --`.
//!
//! ```text
//! cargo xtask bench decode [--modules a,b] [--iters N] [--threads N] [--corpus DIR]
//!     decode + validate throughput on every corpus module: wasmparser's
//!     validator (the reference) against rung's decoder and validator on one
//!     and on N threads, and stage 2 alone on 1 and N threads. A Markdown table
//!     on stdout, JSON in <target>/bench/decode.json.
//! ```
//!
//! Code map: `bench` holds the options every bench shares and the timing loop,
//! one module per bench beside it (`bench/decode.rs`); `corpus` finds the
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
    /// Measure rung on the corpus of real modules (../shared/corpus).
    Bench {
        #[command(subcommand)]
        what: bench::Bench,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Bench { what } => bench::run(what),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xtask: {e}");
            ExitCode::FAILURE
        }
    }
}
