//! `rung run FILE [ARGS...]`: compile and instantiate a module, then
//! either run it as a WASI command (`_start`, ARGS as argv[1..], `--dir` and
//! `--env` for its sandbox; the process exits with the program's status), or
//! with `--invoke NAME` call an export with ARGS parsed as typed arguments
//! and print its results. A trap ends the run with its message and wasm
//! backtrace on stderr and exit status 1; `--timeout` and Ctrl-C stop the
//! program with the "interrupted" trap (exit 124 and 130).

use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::RecvTimeoutError;
use std::time::{Duration, Instant};

use rung::runtime::wasi::{self, WasiCtx};
use rung::runtime::{
    Config, Engine, JitDumpAgent, Linker, Module, PerfMapAgent, ProfilingAgent, Store, Trap, Val,
    ValType,
};

mod threads;

/// What the WASI side of a run gets from the command line.
pub struct WasiOptions {
    /// `HOST[::GUEST]` preopens.
    pub dirs: Vec<String>,
    /// `NAME=VALUE` variables; `NAME` alone inherits the host's.
    pub envs: Vec<String>,
    /// `--inherit-env`: every host variable (before `envs`, which win).
    pub inherit_env: bool,
    /// argv[0], if not FILE.
    pub argv0: Option<String>,
    /// `--max-memory`: bytes per linear memory.
    pub max_memory: Option<u64>,
    /// `--max-table-elements`: elements per table.
    pub max_table_elements: Option<u64>,
}

/// How the module is compiled and what is reported.
pub struct Report {
    /// `--stats`, in its format.
    pub stats: Option<crate::cli::stats::Format>,
    /// `--trace`: Chrome trace events to this file.
    pub trace: Option<std::path::PathBuf>,
    /// `--stream`: through the streaming compiler, fed so.
    pub stream: Option<crate::cli::stream::Feed>,
    /// `--timeout`: interrupt the program after this long.
    pub timeout: Option<Duration>,
    /// `--profile`: which profiler to tell about compiled code.
    pub profile: Option<Profile>,
}

/// The profiler interfaces `--profile` offers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Profile {
    /// /tmp/perf-PID.map: `START SIZE name` per function (perf's JIT map).
    Perfmap,
    /// jit-PID.dump in the current directory (perf's jitdump, for
    /// `perf inject --jit`).
    Jitdump,
}

/// The exit status of a run stopped by Ctrl-C (128 + SIGINT, as a shell
/// reports a process SIGINT killed).
pub const INTERRUPTED: u8 = 130;

/// The agent `--profile` asks for.
fn profiling_agent(profile: Profile) -> Result<Arc<dyn ProfilingAgent>, String> {
    Ok(match profile {
        Profile::Perfmap => {
            Arc::new(PerfMapAgent::new().map_err(|e| format!("--profile perfmap: {e}"))?)
        }
        Profile::Jitdump => Arc::new(
            JitDumpAgent::new(Path::new(".")).map_err(|e| format!("--profile jitdump: {e}"))?,
        ),
    })
}

/// A trap's message and, if it has one, its wasm backtrace.
fn trap_report(trap: &Trap) -> String {
    if trap.wasm_backtrace.is_empty() {
        format!("trap: {trap}")
    } else {
        format!("trap: {trap}\nwasm backtrace:\n{}", trap.wasm_backtrace)
            .trim_end()
            .to_string()
    }
}

/// The exit status of a run stopped by `--timeout` (as GNU `timeout`).
pub const TIMED_OUT: u8 = 124;

/// A duration such as `5s`, `500ms`, `2m` or `1.5s`.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let t = text.trim();
    let split = t
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .unwrap_or(t.len());
    let (number, unit) = t.split_at(split);
    let bad = || format!("`{text}` is not a duration (e.g. 5s, 500ms, 2m)");
    let number: f64 = number.parse().map_err(|_| bad())?;
    let seconds = match unit {
        "ms" => number / 1e3,
        "s" | "" => number,
        "m" => number * 60.0,
        "h" => number * 3600.0,
        _ => return Err(bad()),
    };
    Duration::try_from_secs_f64(seconds).map_err(|_| bad())
}

/// The WASI context: argv, environment, preopens, inherited stdio.
fn wasi_ctx(file: &Path, argv: &[String], opts: &WasiOptions) -> Result<WasiCtx, String> {
    let argv0 = opts
        .argv0
        .clone()
        .unwrap_or_else(|| file.to_string_lossy().into_owned());
    let mut b = WasiCtx::builder()
        .arg(argv0)
        .args(argv)
        .inherit_stdio()
        .trace(std::env::var_os("RUNG_WASI_TRACE").is_some_and(|v| v == "1"));
    if opts.inherit_env {
        for (name, value) in std::env::vars_os() {
            if let (Some(name), Some(value)) = (name.to_str(), value.to_str()) {
                b = b.env(name, value);
            }
        }
    }
    for kv in &opts.envs {
        match kv.split_once('=') {
            Some((name, value)) => b = b.env(name, value),
            // `--env NAME`: the host's value, if it has one (as Wasmtime).
            None => match std::env::var(kv) {
                Ok(value) => b = b.env(kv, &value),
                Err(std::env::VarError::NotUnicode(_)) => {
                    return Err(format!("--env {kv}: the host's value is not UTF-8"));
                }
                Err(std::env::VarError::NotPresent) => {}
            },
        }
    }
    for dir in &opts.dirs {
        let (host, guest) = dir.split_once("::").unwrap_or((dir, dir));
        b = b
            .preopened_dir(host, guest)
            .map_err(|e| format!("--dir {dir}: {host}: {e}"))?;
    }
    Ok(b.build())
}

pub fn run(
    file: &Path,
    invoke: Option<&str>,
    args: &[String],
    opts: &WasiOptions,
    config: Config,
    report: &Report,
) -> ExitCode {
    let trace = match report.trace.as_deref().map(crate::cli::trace::start) {
        Some(Ok(t)) => Some(t),
        Some(Err(e)) => {
            eprintln!("rung: {e}");
            return ExitCode::from(1);
        }
        None => None,
    };
    let mut module = None;
    let code = run_traced(file, invoke, args, opts, config, report, &mut module);
    if let Some(trace) = trace
        && let Err(e) = trace.finish(module.as_ref())
    {
        eprintln!("rung: {e}");
    }
    code
}

/// `run`, keeping the module (for the trace's function names).
fn run_traced(
    file: &Path,
    invoke: Option<&str>,
    args: &[String],
    opts: &WasiOptions,
    config: Config,
    report: &Report,
    kept: &mut Option<Module>,
) -> ExitCode {
    let fail = |message: String| {
        eprintln!("rung: {message}");
        ExitCode::from(1)
    };
    let bytes = match read_input(file) {
        Ok(b) => b,
        Err(e) => return fail(format!("{}: {e}", file.display())),
    };
    let mut config = config;
    if let Some(profile) = report.profile {
        match profiling_agent(profile) {
            Ok(agent) => config.profiler = Some(agent),
            Err(e) => return fail(e),
        }
    }
    let engine = match Engine::new(config) {
        Ok(e) => e,
        Err(e) => return fail(format!("cannot create the engine: {e}")),
    };
    let started = Instant::now();
    let compiled = match report.stream {
        Some(feed) => crate::cli::stream::compile(&engine, &bytes, feed).map(|(m, t)| (m, Some(t))),
        None => Module::new(&engine, &bytes).map(|m| (m, None)),
    };
    let (module, streamed) = match compiled {
        Ok(m) => m,
        Err(e) => return fail(format!("{}: {e}", file.display())),
    };
    if report.trace.is_some() {
        *kept = Some(module.clone());
    }
    let imports_wasi = module
        .env()
        .imports
        .iter()
        .any(|i| i.module == wasi::MODULE);
    let mut linker = Linker::new();
    if imports_wasi {
        let argv: &[String] = if invoke.is_none() { args } else { &[] };
        match wasi_ctx(file, argv, opts) {
            Ok(ctx) => wasi::add_to_linker(&mut linker, ctx),
            Err(e) => return fail(e),
        }
    }
    let compiled_at = Instant::now();
    let mut store = Store::new(&engine);
    if opts.max_memory.is_some() || opts.max_table_elements.is_some() {
        let mut limits = rung::runtime::StoreLimitsBuilder::new();
        if let Some(bytes) = opts.max_memory {
            limits = limits.memory_size(bytes);
        }
        if let Some(n) = opts.max_table_elements {
            limits = limits.table_elements(n);
        }
        store.limiter(limits.build());
    }
    if let Err(e) = threads::add_to_linker(&mut linker, &mut store, &engine, &module) {
        return fail(format!("{}: {e}", file.display()));
    }
    let instance = match linker.instantiate(&mut store, &module) {
        Ok(i) => i,
        Err(e) => return fail(format!("{}: {e}", file.display())),
    };
    let instantiated = Instant::now();
    let name = invoke.unwrap_or("_start");
    let Some(func) = instance.get_func(&store, name) else {
        return fail(format!(
            "{}: no exported function `{name}` (name one with --invoke)",
            file.display()
        ));
    };
    let ty = func.ty(&store).clone();
    // Without --invoke a module is a command and ARGS are its argv; only a
    // module that is not WASI and whose `_start` takes parameters keeps the
    // typed reading.
    let command = invoke.is_none() && (imports_wasi || ty.params().is_empty());
    let typed_args: &[String] = if command { &[] } else { args };
    // rung's options after the export's arguments are arguments too (as
    // everything after FILE is a program's): say so instead of "cannot
    // read `--tier`".
    if let Some(option) = typed_args
        .iter()
        .find(|a| a.starts_with("--") && a.len() > 2)
    {
        return fail(format!(
            "`{option}` comes after `{name}`'s arguments, where everything is an argument: put rung's options before FILE (e.g. `rung run {option} ... FILE --invoke {name} ...`)"
        ));
    }
    if typed_args.len() != ty.params().len() {
        let n = ty.params().len();
        return fail(format!(
            "`{name}` has type {ty}: it takes {n} argument{}, not {}",
            if n == 1 { "" } else { "s" },
            typed_args.len()
        ));
    }
    let mut values = Vec::with_capacity(typed_args.len());
    for (arg, param) in typed_args.iter().zip(ty.params()) {
        match parse_arg(arg, *param) {
            Some(v) => values.push(v),
            None => return fail(format!("cannot read `{arg}` as {param}")),
        }
    }
    // --timeout: a watchdog interrupts the store when the time is up; the
    // call then ends with the "interrupted" trap.
    let timed_out = Arc::new(AtomicBool::new(false));
    let watchdog = match (report.timeout, store.interrupt_handle()) {
        (Some(limit), Some(handle)) => {
            let (done, wait) = std::sync::mpsc::channel::<()>();
            let flag = timed_out.clone();
            let thread = std::thread::spawn(move || {
                if wait.recv_timeout(limit) == Err(RecvTimeoutError::Timeout) {
                    flag.store(true, Ordering::SeqCst);
                    handle.interrupt();
                }
            });
            Some((done, thread))
        }
        _ => None,
    };
    // Ctrl-C: the first interrupts the store (the call ends with the
    // "interrupted" trap, exit 130); a second, should wasm be blocked in a
    // host call that does not check, exits at once.
    let interrupted = Arc::new(AtomicBool::new(false));
    if let Some(handle) = store.interrupt_handle() {
        let flag = interrupted.clone();
        // ctrlc runs this on a thread of its own, not in the signal handler.
        let _ = ctrlc::set_handler(move || {
            if flag.swap(true, Ordering::SeqCst) {
                std::process::exit(i32::from(INTERRUPTED));
            }
            handle.interrupt();
        });
    }
    let outcome = func.call(&mut store, &values);
    if let Some((done, thread)) = watchdog {
        drop(done);
        let _ = thread.join();
    }
    if let Some(format) = report.stats {
        let phases = crate::cli::stats::Phases {
            compile: compiled_at - started,
            streamed,
            instantiate: instantiated - compiled_at,
            run: instantiated.elapsed(),
        };
        crate::cli::stats::print(&engine, &phases, format);
    }
    match outcome {
        Ok(results) => {
            if invoke.is_some() && results.is_empty() {
                // Nothing to print on stdout, but say it returned.
                eprintln!("rung: `{name}` returned (no results)");
            }
            for r in results {
                println!("{}", show(&store, &r));
            }
            ExitCode::SUCCESS
        }
        Err(trap) => match wasi::exit_status(&trap) {
            // proc_exit allows 0..=125 only (larger is a trap), so the
            // status is the program's, uncut.
            Some(code) => ExitCode::from(code as u8),
            None if timed_out.load(Ordering::SeqCst) => {
                let limit = report.timeout.unwrap_or_default();
                eprintln!("rung: timed out after {limit:?}: {}", trap_report(&trap));
                ExitCode::from(TIMED_OUT)
            }
            None if interrupted.load(Ordering::SeqCst) => {
                eprintln!("rung: stopped by Ctrl-C: {}", trap_report(&trap));
                ExitCode::from(INTERRUPTED)
            }
            None => fail(trap_report(&trap)),
        },
    }
}

/// The module's bytes: FILE, or standard input for `-` (binary, or text
/// if it is not).
fn read_input(file: &Path) -> Result<Vec<u8>, String> {
    if file.as_os_str() != "-" {
        return rung::read_module(file).map_err(|e| e.to_string());
    }
    let mut bytes = Vec::new();
    std::io::Read::read_to_end(&mut std::io::stdin(), &mut bytes)
        .map_err(|e| format!("cannot read standard input: {e}"))?;
    rung::parse_module_bytes(bytes).map_err(|e| e.to_string())
}

fn parse_arg(text: &str, ty: ValType) -> Option<Val> {
    Some(match ty {
        ValType::I32 => Val::I32(
            text.parse::<i32>()
                .or_else(|_| text.parse::<u32>().map(|v| v as i32))
                .ok()?,
        ),
        ValType::I64 => Val::I64(
            text.parse::<i64>()
                .or_else(|_| text.parse::<u64>().map(|v| v as i64))
                .ok()?,
        ),
        ValType::F32 => Val::F32(text.parse::<f32>().ok()?.to_bits()),
        ValType::F64 => Val::F64(text.parse::<f64>().ok()?.to_bits()),
        _ => return None,
    })
}

fn show(store: &Store, v: &Val) -> String {
    match v {
        Val::I32(v) => v.to_string(),
        Val::I64(v) => v.to_string(),
        Val::F32(b) => f32::from_bits(*b).to_string(),
        Val::F64(b) => f64::from_bits(*b).to_string(),
        Val::V128(v) => format!("{v:#034x}"),
        Val::FuncRef(f) => {
            if f.is_some() {
                "funcref".into()
            } else {
                "null funcref".into()
            }
        }
        Val::ExternRef(e) => e.map_or("null externref".into(), |e| format!("externref {e}")),
        Val::AnyRef(None) => "null anyref".into(),
        Val::AnyRef(Some(r)) => match r.kind(store) {
            rung::runtime::AnyRefKind::I31(v) => format!("i31 {v}"),
            rung::runtime::AnyRefKind::Struct => "struct".into(),
            rung::runtime::AnyRefKind::Array(len) => format!("array (length {len})"),
            rung::runtime::AnyRefKind::Extern(v) => format!("anyref of externref {v}"),
        },
    }
}
