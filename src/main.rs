//! The `rung` command line: `rung validate FILE...`, `rung inspect FILE`.

mod cli;

use std::process::ExitCode;

// Before Rust's runtime reopens a closed stdin, stdout or stderr on
// /dev/null, note which the parent closed: a WASI program then sees them
// closed (EBADF), as it would natively.
#[used]
// SAFETY: `.init_array` holds `extern "C" fn()`s the C runtime calls once
// before `main`; this one only asks fcntl(F_GETFD) about fds 0–2 and
// stores three flags.
#[unsafe(link_section = ".init_array")]
static RECORD_HOST_STDIO: extern "C" fn() = rung::runtime::wasi::record_host_stdio;

use clap::{Parser, Subcommand};

/// rung: a WebAssembly engine with pluggable compiler tiers.
#[derive(Parser)]
#[command(name = "rung", version, about)]
struct Args {
    #[command(subcommand)]
    command: Command,
}

// Parsed once per process: the size of `Run`'s many options costs nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Subcommand)]
enum Command {
    /// Run a WASI command (`_start`) with ARGS as its argv[1..] and exit with
    /// its status; or, with --invoke, call an export with ARGS as typed
    /// arguments and print the results.
    Run {
        file: std::path::PathBuf,
        /// The export to call (its ARGS are numbers, one per parameter).
        #[arg(long)]
        invoke: Option<String>,
        /// Which tier compiles the module. The default, tiered, runs
        /// baseline code at once and optimizes hot functions in the
        /// background: on the corpus workloads it beats either tier alone.
        #[arg(long, value_enum, default_value_t = Tier::Tiered)]
        tier: Tier,
        /// Compile each function on its first call.
        #[arg(long)]
        lazy: bool,
        #[command(flatten)]
        ladder: cli::ladder::LadderArgs,
        /// Preopen the host directory HOST as GUEST (default: HOST) for WASI.
        #[arg(long = "dir", value_name = "HOST[::GUEST]")]
        dirs: Vec<String>,
        /// Set an environment variable for WASI (`NAME` alone: the host's
        /// value, if it has one).
        #[arg(long = "env", value_name = "NAME[=VALUE]")]
        envs: Vec<String>,
        /// Give the program every host environment variable (--env wins).
        #[arg(long)]
        inherit_env: bool,
        /// The most stack wasm may use before the "call stack exhausted"
        /// trap (e.g. 1MiB, the default; 8MiB for deep recursion).
        #[arg(long, value_name = "SIZE", value_parser = cli::stream::parse_size)]
        max_stack: Option<usize>,
        /// The program's argv[0] (default: FILE as given).
        #[arg(long)]
        argv0: Option<String>,
        /// After the run, print what the engine did (phase times, what each
        /// tier compiled, fall-backs by reason, tier-ups and their queue
        /// waits, OSR, peak memory) on stderr: a table, or with
        /// `--stats=json` one JSON object.
        #[arg(long, value_enum, value_name = "FORMAT", num_args = 0..=1, require_equals = true, default_missing_value = "text")]
        stats: Option<cli::stats::Format>,
        /// Write what the engine did as Chrome trace events to FILE (open
        /// it in Perfetto or chrome://tracing): a slice per function
        /// compile on the thread that did it, tier-up requests, publishes
        /// and the module's phases.
        #[arg(long, value_name = "FILE.json")]
        trace: Option<std::path::PathBuf>,
        /// Compile through the streaming compiler, fed chunk by chunk
        /// (with --stats: time to the first compiled function and from the
        /// last byte to ready).
        #[arg(long)]
        stream: bool,
        /// With --stream: feed at most this many bytes a second, as a
        /// network would (e.g. 10MB/s; default: as fast as possible).
        #[arg(long, value_name = "RATE", requires = "stream", value_parser = cli::stream::parse_rate)]
        rate: Option<f64>,
        /// Stop the program after this long (e.g. 5s, 500ms, 2m) with the
        /// "interrupted" trap and exit status 124. Makes the code check for
        /// interrupts at function entries and loop back-edges.
        #[arg(long, value_name = "DURATION", value_parser = cli::run::parse_duration)]
        timeout: Option<std::time::Duration>,
        /// Tell a profiler where each function's code is: `perfmap` appends
        /// `START SIZE name` lines to /tmp/perf-PID.map (perf report reads
        /// it), `jitdump` writes jit-PID.dump in the current directory (for
        /// `perf record -k mono` and `perf inject --jit`).
        #[arg(long, value_enum, value_name = "FORMAT")]
        profile: Option<cli::run::Profile>,
        /// Compile interrupt checks (at function entries and loop
        /// back-edges) so that Ctrl-C stops the program with the
        /// "interrupted" trap and its wasm backtrace, exit status 130 (on
        /// with --timeout; off by default: they cost loops 3–23%). Without
        /// them Ctrl-C ends the process as it would any other.
        #[arg(long)]
        interruptible: bool,
        /// The most bytes one linear memory may have (e.g. 512MiB):
        /// `memory.grow` past it returns -1, a module whose memory starts
        /// larger does not instantiate.
        #[arg(long, value_name = "SIZE", value_parser = cli::stream::parse_size)]
        max_memory: Option<usize>,
        /// The most elements one table may have (`table.grow` past it
        /// returns -1).
        #[arg(long, value_name = "N")]
        max_table_elements: Option<u64>,
        /// With --stream: bytes per push (e.g. 64KiB).
        #[arg(long, value_name = "SIZE", requires = "stream", default_value = "64KiB", value_parser = cli::stream::parse_size)]
        chunk: usize,
        /// The program's arguments (everything after FILE, or after `--`).
        #[arg(allow_hyphen_values = true, trailing_var_arg = true)]
        args: Vec<String>,
    },
    /// Validate modules (.wasm or .wat); print `FILE:OFFSET: function N: message`
    /// for each invalid one and exit 1 if any is invalid.
    Validate {
        #[arg(required = true)]
        files: Vec<std::path::PathBuf>,
        /// Threads for stage 2 (function bodies); default: all cores.
        #[arg(long)]
        threads: Option<usize>,
    },
    /// Run `.wast` scripts against the `spectest` host module; print each
    /// file's verdict and exit 1 if any check failed or could not run.
    Wast {
        #[arg(required = true)]
        files: Vec<std::path::PathBuf>,
        /// Which tier compiles the scripts' modules (the same default as
        /// `rung run`'s).
        #[arg(long, value_enum, default_value_t = Tier::Tiered)]
        tier: Tier,
        /// Compile each function on its first call.
        #[arg(long)]
        lazy: bool,
        /// Also list the checks that need a feature no tier supports yet.
        #[arg(long, short)]
        verbose: bool,
    },
    /// Compile functions with a tier (the optimizing one unless --tier says
    /// otherwise) and print their machine code (with wasm offsets and trap
    /// sites), and with --clif the optimizer's CLIF.
    Disas {
        file: std::path::PathBuf,
        /// Functions to show, by index or name (default: all).
        #[arg(long = "func")]
        funcs: Vec<String>,
        /// Also print the CLIF each function translates to (optimized tier).
        #[arg(long)]
        clif: bool,
        /// The tier to compile with.
        #[arg(long, value_enum, default_value = "optimized")]
        tier: DisasTier,
        /// Show the optimized OSR entry into the loop whose `loop`
        /// operator is at this byte offset of the module (the offset
        /// `--clif` prints as the loop header's srcloc).
        #[arg(long, value_name = "OFFSET", value_parser = parse_offset, conflicts_with = "tier")]
        osr_loop: Option<u32>,
    },
    /// Print a module's sections, counts and sizes, imports and exports, and
    /// its largest functions.
    Inspect {
        file: std::path::PathBuf,
        /// How many of the largest functions to list.
        #[arg(long, default_value_t = 10)]
        top: usize,
    },
}

/// The tier `rung disas` compiles with.
#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum DisasTier {
    /// The optimizing tier (Cranelift).
    Optimized,
    /// The single-pass baseline tier.
    Baseline,
}

/// Where `--tier` starts functions on the ladder (by default the baseline,
/// then the optimizer; `--tiers` sets another) and whether they climb.
#[derive(Clone, Copy, clap::ValueEnum)]
enum Tier {
    /// Every function at the top (the optimizing tier).
    Optimized,
    /// Every function at the bottom (the baseline), a tier further up
    /// where it cannot; no tier-up.
    Baseline,
    /// Functions alternately at the bottom and at the top.
    Mixed,
    /// At the bottom first; hot functions climb, compiled in the
    /// background.
    Tiered,
}

impl Tier {
    /// The engine configuration for this tier.
    fn config(self, lazy: bool) -> rung::runtime::Config {
        let tier = match self {
            Tier::Optimized => rung::runtime::TierChoice::Optimized,
            Tier::Baseline => rung::runtime::TierChoice::Baseline,
            Tier::Mixed => rung::runtime::TierChoice::Mixed,
            Tier::Tiered => rung::runtime::TierChoice::Tiered,
        };
        rung::runtime::Config {
            lazy,
            ..tier.config()
        }
    }
}

/// A byte offset, decimal or `0x` hexadecimal.
fn parse_offset(s: &str) -> Result<u32, String> {
    let parsed = match s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        Some(hex) => u32::from_str_radix(hex, 16),
        None => s.parse(),
    };
    parsed.map_err(|e| format!("not a byte offset: {e}"))
}

fn main() -> ExitCode {
    let args = Args::parse();
    if !matches!(args.command, Command::Run { .. }) {
        // SAFETY: restoring a signal's default disposition, before any
        // thread is started.
        unsafe { libc::signal(libc::SIGPIPE, libc::SIG_DFL) };
    }
    match args.command {
        Command::Run {
            file,
            invoke,
            tier,
            lazy,
            ladder,
            dirs,
            envs,
            inherit_env,
            max_stack,
            argv0,
            stats,
            trace,
            stream,
            rate,
            chunk,
            timeout,
            profile,
            interruptible,
            max_memory,
            max_table_elements,
            args,
        } => match ladder.config(rung::runtime::Config {
            interruptible: interruptible || timeout.is_some(),
            max_wasm_stack: max_stack.unwrap_or(tier.config(lazy).max_wasm_stack),
            ..tier.config(lazy)
        }) {
            Ok(config) => cli::run::run(
                &file,
                invoke.as_deref(),
                &args,
                &cli::run::WasiOptions {
                    dirs,
                    envs,
                    inherit_env,
                    argv0,
                    max_memory: max_memory.map(|b| b as u64),
                    max_table_elements,
                },
                config,
                &cli::run::Report {
                    stats,
                    trace,
                    stream: stream.then_some(cli::stream::Feed { rate, chunk }),
                    timeout,
                    profile,
                },
            ),
            Err(e) => {
                eprintln!("rung: {e}");
                ExitCode::from(2)
            }
        },
        Command::Validate { files, threads } => cli::validate::run(&files, threads),
        Command::Inspect { file, top } => cli::inspect::run(&file, top),
        Command::Disas {
            file,
            funcs,
            clif,
            tier,
            osr_loop,
        } => {
            let what = match osr_loop {
                Some(offset) => cli::disas::What::OsrEntry(offset),
                None if tier == DisasTier::Baseline => cli::disas::What::Baseline,
                None => cli::disas::What::Optimized,
            };
            cli::disas::run(&file, &funcs, clif, what)
        }
        Command::Wast {
            files,
            tier,
            lazy,
            verbose,
        } => cli::wast::run(&files, tier.config(lazy), verbose),
    }
}
