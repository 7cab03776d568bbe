//! `cargo xtask bench streaming`: what streaming compilation is for, on the
//! large corpus modules, in rung's baseline and tiered configurations and
//! beside V8's streaming compiler.
//!
//! Every sample is a fresh process (this xtask binary, re-run with the
//! hidden `stream-once` command; node running `xtask/peers/node_stream.mjs`)
//! so its peak RSS is its own. Each configuration is fed the same bytes:
//!
//! ```text
//! batch        read the file, then compile it (Module::new; WebAssembly.compile)
//! unthrottled  a streaming compiler fed from the file in --chunk pieces as
//!              fast as it reads (never holding the whole file): rung's
//!              StreamingCompiler, V8's WebAssembly.compileStreaming over a
//!              Response whose body is a ReadableStream
//! R MB/s       the same at most R bytes a second (--rates, a network)
//! ```
//!
//! Configurations: rung `baseline` and `tiered`; `node` (V8's default:
//! lazy, so streaming there validates and compiles functions on first call)
//! and `node-liftoff` (eager Liftoff, compiling every function as rung
//! does) when node is present.
//!
//! Reported (medians of --iters samples, interleaved): wall time, the time
//! from the last byte to the module ready, the time to the first compiled
//! function (rung only: V8 does not tell), peak RSS, and wall time and RSS
//! against batch of the same configuration. Goals (issues 14 and 18): ready
//! ≤ [`GOAL_READY_MS`] after the last byte at every rate, streaming RSS ≤ ½
//! of batch, unthrottled streaming ≤ 1.05× batch.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use clap::Args;
use rung_runtime::{Engine, Module, StreamEvent, StreamingCompiler, TierChoice};
use serde::{Deserialize, Serialize};

use super::CommonArgs;
use super::chart::{self, Bar, Chart};
use super::node::{Node, NodeArgs};
use crate::corpus::Corpus;
use crate::paths;
use crate::report::{self, Machine, Table};

/// Ready at most this long after the last byte.
pub const GOAL_READY_MS: f64 = 50.0;

/// The modules measured unless `--modules` names others.
const DEFAULT_MODULES: &[&str] = &["cc1", "python-3.12.0", "esbuild", "swc", "ruby-3.4"];

/// `bench streaming`'s options.
#[derive(Args, Debug, Clone)]
pub struct StreamingArgs {
    #[command(flatten)]
    pub common: CommonArgs,
    /// The throttled rates, MB (10^6 bytes) a second, comma-separated
    #[arg(long, value_delimiter = ',', value_name = "MB/s", default_values_t = [10.0, 50.0, 100.0])]
    pub rates: Vec<f64>,
    /// Bytes per push.
    #[arg(long, default_value_t = 64 << 10)]
    pub chunk: usize,
    #[command(flatten)]
    pub node: NodeArgs,
}

impl Default for StreamingArgs {
    fn default() -> Self {
        StreamingArgs {
            common: CommonArgs::default(),
            rates: vec![10.0, 50.0, 100.0],
            chunk: 64 << 10,
            node: NodeArgs::default(),
        }
    }
}

/// The hidden `stream-once` command: one sample, printed as JSON.
#[derive(Args, Debug, Clone)]
pub struct OnceArgs {
    pub path: PathBuf,
    /// `batch` or `stream`.
    pub mode: String,
    /// `baseline` or `tiered`.
    pub config: String,
    /// Bytes a second (stream only; none: as fast as the file reads).
    #[arg(long)]
    pub rate: Option<f64>,
    #[arg(long, default_value_t = 64 << 10)]
    pub chunk: usize,
}

/// One sample (also what `node_stream.mjs` prints).
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub struct Sample {
    pub total_ms: f64,
    /// Stream only.
    pub after_last_byte_ms: Option<f64>,
    /// rung only.
    #[serde(default)]
    pub first_compiled_ms: Option<f64>,
    pub peak_rss_mib: f64,
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn peak_rss_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            let line = s.lines().find(|l| l.starts_with("VmHWM:"))?;
            line.split_whitespace().nth(1)?.parse::<f64>().ok()
        })
        .map_or(f64::NAN, |kib| kib / 1024.0)
}

/// Runs one sample in this process (the `stream-once` command).
pub fn once(args: &OnceArgs) -> Result<(), String> {
    let config = match args.config.as_str() {
        "baseline" => TierChoice::Baseline.config(),
        "tiered" => TierChoice::Tiered.config(),
        other => return Err(format!("no config {other}")),
    };
    let engine = Engine::new(config).map_err(|e| e.to_string())?;
    let start = Instant::now();
    let sample = match args.mode.as_str() {
        "batch" => {
            let bytes = std::fs::read(&args.path).map_err(|e| e.to_string())?;
            let module = Module::new(&engine, &bytes).map_err(|e| e.to_string())?;
            let total = start.elapsed();
            drop(module);
            Sample {
                total_ms: ms(total),
                after_last_byte_ms: None,
                first_compiled_ms: None,
                peak_rss_mib: peak_rss_mib(),
            }
        }
        "stream" => {
            let mut file = std::fs::File::open(&args.path).map_err(|e| e.to_string())?;
            let mut compiler = StreamingCompiler::new(&engine);
            let first = std::sync::Arc::new(std::sync::OnceLock::new());
            let seen = first.clone();
            compiler.on_event(move |e| {
                if let StreamEvent::FirstFunctionCompiled { after, .. } = e {
                    let _ = seen.set(after);
                }
            });
            let mut chunk = vec![0; args.chunk.max(1)];
            let mut sent = 0usize;
            loop {
                let n = file.read(&mut chunk).map_err(|e| e.to_string())?;
                if n == 0 {
                    break;
                }
                if let Some(rate) = args.rate {
                    let due = Duration::from_secs_f64((sent + n) as f64 / rate);
                    if let Some(wait) = due.checked_sub(start.elapsed()) {
                        std::thread::sleep(wait);
                    }
                }
                compiler.push(&chunk[..n]).map_err(|e| e.to_string())?;
                sent += n;
            }
            let last = start.elapsed();
            let module = compiler.finish().map_err(|e| e.to_string())?;
            let total = start.elapsed();
            drop(module);
            Sample {
                total_ms: ms(total),
                after_last_byte_ms: Some(ms(total - last)),
                first_compiled_ms: first.get().copied().map(ms),
                peak_rss_mib: peak_rss_mib(),
            }
        }
        other => return Err(format!("no mode {other}")),
    };
    println!(
        "{}",
        serde_json::to_string(&sample).map_err(|e| e.to_string())?
    );
    Ok(())
}

/// How the bytes are fed.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Feed {
    Batch,
    Unthrottled,
    /// Bytes a second.
    Rate(f64),
}

impl Feed {
    fn label(self) -> String {
        match self {
            Feed::Batch => "batch".into(),
            Feed::Unthrottled => "unthrottled".into(),
            Feed::Rate(r) => format!("{} MB/s", r / 1e6),
        }
    }
}

/// Who compiles.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Compiler {
    /// rung, in the `stream-once` config named.
    Rung(&'static str),
    /// node with these V8 flags.
    Node(&'static str, &'static [&'static str]),
}

impl Compiler {
    fn name(self) -> &'static str {
        match self {
            Compiler::Rung(c) => c,
            Compiler::Node(n, _) => n,
        }
    }
}

const COMPILERS: &[Compiler] = &[
    Compiler::Rung("baseline"),
    Compiler::Rung("tiered"),
    Compiler::Node("node", &[]),
    Compiler::Node(
        "node-liftoff",
        &[
            "--liftoff",
            "--no-wasm-tier-up",
            "--no-wasm-lazy-compilation",
        ],
    ),
];

/// One sample in a fresh process.
fn sample(
    compiler: Compiler,
    node: Option<&Node>,
    path: &Path,
    feed: Feed,
    chunk: usize,
) -> Result<Sample, String> {
    let (mode, rate) = match feed {
        Feed::Batch => ("batch", None),
        Feed::Unthrottled => ("stream", None),
        Feed::Rate(r) => ("stream", Some(r)),
    };
    let out = match compiler {
        Compiler::Rung(config) => {
            let exe = std::env::current_exe().map_err(|e| e.to_string())?;
            let mut cmd = Command::new(exe);
            cmd.arg("stream-once")
                .arg(path)
                .arg(mode)
                .arg(config)
                .arg("--chunk")
                .arg(chunk.to_string());
            if let Some(rate) = rate {
                cmd.arg("--rate").arg(rate.to_string());
            }
            cmd.output().map_err(|e| e.to_string())?
        }
        Compiler::Node(_, flags) => {
            let node = node.ok_or("node is not installed")?;
            Command::new(node.program())
                .args(flags)
                .arg(paths::workspace_root().join("xtask/peers/node_stream.mjs"))
                .arg(path)
                .arg(mode)
                .arg(rate.unwrap_or(0.0).to_string())
                .arg(chunk.to_string())
                .output()
                .map_err(|e| e.to_string())?
        }
    };
    if !out.status.success() {
        let stderr = String::from_utf8_lossy(&out.stderr);
        return Err(format!(
            "{}: {}",
            out.status,
            super::node::error_line(&stderr)
        ));
    }
    let stdout = String::from_utf8_lossy(&out.stdout);
    let last = stdout
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("");
    serde_json::from_str(last).map_err(|e| format!("`{last}`: {e}"))
}

fn median(mut v: Vec<f64>) -> f64 {
    v.retain(|x| !x.is_nan());
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// The medians of one (module, configuration, feed).
#[derive(Debug, Serialize)]
struct Row {
    module: String,
    config: String,
    feed: String,
    /// Bytes a second; none for batch and unthrottled.
    rate_bytes_per_s: Option<f64>,
    total_ms: f64,
    total_min_ms: f64,
    total_max_ms: f64,
    /// Against batch of the same configuration.
    vs_batch: f64,
    ready_after_last_byte_ms: f64,
    first_compiled_ms: f64,
    peak_rss_mib: f64,
    rss_vs_batch: f64,
    error: Option<String>,
}

#[derive(Serialize)]
struct Report {
    machine: Machine,
    node: Option<String>,
    chunk: usize,
    iters: usize,
    rows: Vec<Row>,
    goal_misses: Vec<String>,
}

fn fmt(v: f64, digits: usize) -> String {
    if v.is_nan() {
        String::new()
    } else {
        format!("{v:.digits$}")
    }
}

pub fn run(args: &StreamingArgs) -> Result<(), String> {
    let corpus = Corpus::locate(&args.common.corpus);
    let wanted: Vec<String> = if args.common.modules.is_empty() {
        DEFAULT_MODULES.iter().map(|m| m.to_string()).collect()
    } else {
        args.common.modules.clone()
    };
    let (modules, skipped) = corpus.prepare(&wanted)?;
    for s in &skipped {
        eprintln!("bench streaming: skipped {}: {}", s.name, s.reason);
    }
    let iters = args.common.iters.map_or(3, |n| n.get());
    let node = args.node.probe();
    match &node {
        Ok(n) => eprintln!("bench streaming: node {} (node, node-liftoff)", n.version),
        Err(e) => eprintln!("bench streaming: node not used: {e}"),
    }
    let compilers: Vec<Compiler> = COMPILERS
        .iter()
        .copied()
        .filter(|c| matches!(c, Compiler::Rung(_)) || node.is_ok())
        .collect();
    let mut feeds = vec![Feed::Batch, Feed::Unthrottled];
    let mut rates = args.rates.clone();
    rates.sort_by(|a, b| b.total_cmp(a));
    feeds.extend(rates.iter().map(|r| Feed::Rate(r * 1e6)));
    let machine = Machine::describe();
    let progress = super::workloads::progress_bar(
        (modules.len() * compilers.len() * feeds.len() * iters) as u64,
    )?;
    let mut rows = Vec::new();
    for module in &modules {
        // samples[c][f]: this module's samples per compiler and feed.
        let mut samples = vec![vec![Vec::<Sample>::new(); feeds.len()]; compilers.len()];
        let mut errors = vec![vec![None::<String>; feeds.len()]; compilers.len()];
        for _ in 0..iters {
            for (c, compiler) in compilers.iter().enumerate() {
                for (f, feed) in feeds.iter().enumerate() {
                    progress.set_message(format!(
                        "{} {} {}",
                        module.name,
                        compiler.name(),
                        feed.label()
                    ));
                    if errors[c][f].is_none() {
                        match sample(
                            *compiler,
                            node.as_ref().ok(),
                            &module.path,
                            *feed,
                            args.chunk,
                        ) {
                            Ok(s) => samples[c][f].push(s),
                            Err(e) => errors[c][f] = Some(e),
                        }
                    }
                    progress.inc(1);
                }
            }
        }
        for (c, compiler) in compilers.iter().enumerate() {
            let m =
                |f: usize, get: fn(&Sample) -> f64| median(samples[c][f].iter().map(get).collect());
            let (batch_ms, batch_rss) = (m(0, |s| s.total_ms), m(0, |s| s.peak_rss_mib));
            for (f, feed) in feeds.iter().enumerate() {
                let totals = samples[c][f].iter().map(|s| s.total_ms);
                let (total_ms, rss) = (m(f, |s| s.total_ms), m(f, |s| s.peak_rss_mib));
                rows.push(Row {
                    module: module.name.clone(),
                    config: compiler.name().to_string(),
                    feed: feed.label(),
                    rate_bytes_per_s: match feed {
                        Feed::Rate(r) => Some(*r),
                        _ => None,
                    },
                    total_ms,
                    total_min_ms: totals.clone().fold(f64::NAN, f64::min),
                    total_max_ms: totals.fold(f64::NAN, f64::max),
                    vs_batch: total_ms / batch_ms,
                    ready_after_last_byte_ms: m(f, |s| s.after_last_byte_ms.unwrap_or(f64::NAN)),
                    first_compiled_ms: m(f, |s| s.first_compiled_ms.unwrap_or(f64::NAN)),
                    peak_rss_mib: rss,
                    rss_vs_batch: rss / batch_rss,
                    error: errors[c][f].clone(),
                });
            }
        }
    }
    progress.finish_and_clear();

    let mut table = Table::new(&[
        ("module", false),
        ("config", false),
        ("feed", false),
        ("wall ms", true),
        ("× batch", true),
        ("ready after last byte ms", true),
        ("first function ms", true),
        ("peak RSS MiB", true),
        ("RSS × batch", true),
    ]);
    let mut misses = Vec::new();
    for r in &rows {
        if let Some(e) = &r.error {
            table.row(vec![
                r.module.clone(),
                r.config.clone(),
                r.feed.clone(),
                e.clone(),
            ]);
            continue;
        }
        let batch = r.feed == "batch";
        table.row(vec![
            r.module.clone(),
            r.config.clone(),
            r.feed.clone(),
            fmt(r.total_ms, 0),
            if batch {
                String::new()
            } else {
                format!("{}×", fmt(r.vs_batch, 2))
            },
            fmt(r.ready_after_last_byte_ms, 1),
            fmt(r.first_compiled_ms, 1),
            fmt(r.peak_rss_mib, 0),
            if batch {
                String::new()
            } else {
                format!("{}×", fmt(r.rss_vs_batch, 2))
            },
        ]);
        if batch || r.config.starts_with("node") {
            continue;
        }
        let what = format!("{} ({}, {})", r.module, r.config, r.feed);
        if r.ready_after_last_byte_ms > GOAL_READY_MS {
            misses.push(format!(
                "{what}: ready {:.0} ms after the last byte, over {GOAL_READY_MS} ms",
                r.ready_after_last_byte_ms
            ));
        }
        if r.feed == "unthrottled" {
            if r.rss_vs_batch > 0.5 {
                misses.push(format!(
                    "{what}: streaming peak RSS is {:.2}× batch, over 0.5×",
                    r.rss_vs_batch
                ));
            }
            if r.vs_batch > 1.05 {
                misses.push(format!(
                    "{what}: streaming takes {:.2}× batch, over 1.05×",
                    r.vs_batch
                ));
            }
        }
    }
    println!("## bench streaming\n");
    println!("{}\n", machine.summary());
    println!(
        "median of {iters} fresh processes per number, interleaved; {} KiB chunks; batch = read the file, then compile (rung: Module::new; node: WebAssembly.compile); streaming = rung's StreamingCompiler, node's WebAssembly.compileStreaming over a ReadableStream, fed from the file as it reads (unthrottled) or at a rate; × batch = against batch of the same configuration; RSS = the process's peak. node is V8's default (lazy: functions compile on first call), node-liftoff eager Liftoff.",
        args.chunk / 1024
    );
    println!(
        "goals (issues 14 and 18), rung: ready ≤ {GOAL_READY_MS} ms after the last byte at every rate; streaming RSS ≤ 0.5× batch; unthrottled streaming ≤ 1.05× batch\n"
    );
    println!("{}", table.to_markdown());
    if misses.is_empty() {
        println!("every goal met");
    }
    for m in &misses {
        println!("- missed: {m}");
    }
    let chart_path = chart::write_svg("streaming", &streaming_chart(&modules, &rows))?;
    let path = report::write_json(
        "streaming",
        &Report {
            machine,
            node: node.as_ref().ok().map(|n| n.version.clone()),
            chunk: args.chunk,
            iters,
            rows,
            goal_misses: misses,
        },
    )?;
    eprintln!(
        "bench streaming: wrote {} and {}",
        path.display(),
        chart_path.display()
    );
    Ok(())
}

/// Ready after the last byte, per module: each configuration unthrottled
/// and at the slowest rate.
fn streaming_chart(modules: &[crate::corpus::Module], rows: &[Row]) -> Chart<'static> {
    let slowest = rows
        .iter()
        .filter_map(|r| r.rate_bytes_per_s.map(|b| (b, r.feed.clone())))
        .min_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, f)| f);
    let mut series: Vec<(String, String)> = Vec::new();
    for r in rows {
        let keep = r.feed == "unthrottled" || Some(&r.feed) == slowest.as_ref();
        let key = (r.config.clone(), r.feed.clone());
        if keep && !series.contains(&key) {
            series.push(key);
        }
    }
    let values = modules
        .iter()
        .map(|m| {
            series
                .iter()
                .map(|(config, feed)| {
                    let r = rows
                        .iter()
                        .find(|r| r.module == m.name && &r.config == config && &r.feed == feed)?;
                    let v = r.ready_after_last_byte_ms;
                    (r.error.is_none() && v.is_finite()).then_some(Bar {
                        median: v,
                        min: v,
                        max: v,
                    })
                })
                .collect()
        })
        .collect();
    Chart {
        title: "cargo xtask bench streaming: ready after the last byte (median)",
        y_label: "milliseconds",
        groups: modules
            .iter()
            .map(|m| m.name.trim_end_matches(".wasm").to_string())
            .collect(),
        series: series.iter().map(|(c, f)| format!("{c} {f}")).collect(),
        values,
    }
}
