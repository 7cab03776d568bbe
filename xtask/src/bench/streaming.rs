//! `cargo xtask bench streaming`: what streaming compilation is for, on the
//! large corpus modules, in rung's baseline and tiered configurations.
//!
//! Every sample is a fresh process (this xtask binary, re-run with the
//! hidden `stream-once` command) so its peak RSS is its own:
//!
//! ```text
//! batch      read the file, Module::new
//! stream     StreamingCompiler fed from the file in --chunk pieces as fast
//!            as it reads (never holding the whole file)
//! stream@R   the same at most R bytes a second (--rate, a network)
//! ```
//!
//! Reported (medians of --iters samples, interleaved): batch and
//! unthrottled streaming wall time and their ratio, the time from the last
//! byte to the module ready (unthrottled and at R), the time to the first
//! compiled function at R, and peak RSS of streaming against batch. Goals
//! (issue 18): ready ≤ [`GOAL_READY_MS`] after the last byte, streaming RSS
//! ≤ ½ of batch, unthrottled streaming ≤ 1.05× batch.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use clap::Args;
use rung_runtime::{Engine, Module, StreamEvent, StreamingCompiler, TierChoice};
use serde::{Deserialize, Serialize};

use super::CommonArgs;
use crate::corpus::Corpus;
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
    /// The throttled rate, bytes a second (10000000 = 10 MB/s).
    #[arg(long, default_value_t = 10_000_000.0)]
    pub rate: f64,
    /// Bytes per push.
    #[arg(long, default_value_t = 64 << 10)]
    pub chunk: usize,
}

impl Default for StreamingArgs {
    fn default() -> Self {
        StreamingArgs {
            common: CommonArgs::default(),
            rate: 10_000_000.0,
            chunk: 64 << 10,
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

/// One sample.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub struct Sample {
    pub total_ms: f64,
    /// Stream only.
    pub after_last_byte_ms: Option<f64>,
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

/// One sample in a fresh process.
fn sample(
    path: &Path,
    mode: &str,
    config: &str,
    rate: Option<f64>,
    chunk: usize,
) -> Result<Sample, String> {
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
    let out = cmd.output().map_err(|e| e.to_string())?;
    if !out.status.success() {
        return Err(String::from_utf8_lossy(&out.stderr).trim().to_string());
    }
    serde_json::from_slice(&out.stdout).map_err(|e| e.to_string())
}

fn median(mut v: Vec<f64>) -> f64 {
    v.retain(|x| !x.is_nan());
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// The medians of one (module, config).
#[derive(Debug, Serialize)]
struct Row {
    module: String,
    config: String,
    batch_ms: f64,
    stream_ms: f64,
    stream_vs_batch: f64,
    ready_after_last_byte_ms: f64,
    ready_after_last_byte_at_rate_ms: f64,
    first_compiled_at_rate_ms: f64,
    batch_rss_mib: f64,
    stream_rss_mib: f64,
    stream_vs_batch_rss: f64,
}

#[derive(Serialize)]
struct Report {
    machine: Machine,
    rate_bytes_per_s: f64,
    chunk: usize,
    iters: usize,
    rows: Vec<Row>,
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
    let machine = Machine::describe();
    let mut rows = Vec::new();
    for module in &modules {
        for config in ["baseline", "tiered"] {
            eprintln!("  {} ({config})", module.name);
            let mut samples: [Vec<Sample>; 3] = Default::default();
            for _ in 0..iters {
                samples[0].push(sample(&module.path, "batch", config, None, args.chunk)?);
                samples[1].push(sample(&module.path, "stream", config, None, args.chunk)?);
                samples[2].push(sample(
                    &module.path,
                    "stream",
                    config,
                    Some(args.rate),
                    args.chunk,
                )?);
            }
            let m = |i: usize, f: fn(&Sample) -> f64| median(samples[i].iter().map(f).collect());
            let (batch_ms, stream_ms) = (m(0, |s| s.total_ms), m(1, |s| s.total_ms));
            let (batch_rss, stream_rss) = (m(0, |s| s.peak_rss_mib), m(1, |s| s.peak_rss_mib));
            rows.push(Row {
                module: module.name.clone(),
                config: config.into(),
                batch_ms,
                stream_ms,
                stream_vs_batch: stream_ms / batch_ms,
                ready_after_last_byte_ms: m(1, |s| s.after_last_byte_ms.unwrap_or(f64::NAN)),
                ready_after_last_byte_at_rate_ms: m(2, |s| {
                    s.after_last_byte_ms.unwrap_or(f64::NAN)
                }),
                first_compiled_at_rate_ms: m(2, |s| s.first_compiled_ms.unwrap_or(f64::NAN)),
                batch_rss_mib: batch_rss,
                stream_rss_mib: stream_rss,
                stream_vs_batch_rss: stream_rss / batch_rss,
            });
        }
    }
    let rate_mb = args.rate / 1e6;
    let mut table = Table::new(&[
        ("module", false),
        ("config", false),
        ("batch ms", true),
        ("stream ms", true),
        ("stream / batch", true),
        ("ready after last byte ms", true),
        (&format!("ready after last byte @{rate_mb} MB/s ms"), true),
        (&format!("first function @{rate_mb} MB/s ms"), true),
        ("batch RSS MiB", true),
        ("stream RSS MiB", true),
        ("stream / batch RSS", true),
    ]);
    let mut misses = Vec::new();
    for r in &rows {
        table.row(vec![
            r.module.clone(),
            r.config.clone(),
            format!("{:.0}", r.batch_ms),
            format!("{:.0}", r.stream_ms),
            format!("{:.2}×", r.stream_vs_batch),
            format!("{:.1}", r.ready_after_last_byte_ms),
            format!("{:.1}", r.ready_after_last_byte_at_rate_ms),
            format!("{:.1}", r.first_compiled_at_rate_ms),
            format!("{:.0}", r.batch_rss_mib),
            format!("{:.0}", r.stream_rss_mib),
            format!("{:.2}×", r.stream_vs_batch_rss),
        ]);
        let ready = r
            .ready_after_last_byte_ms
            .max(r.ready_after_last_byte_at_rate_ms);
        if ready > GOAL_READY_MS {
            misses.push(format!(
                "{} ({}): ready {ready:.0} ms after the last byte, over {GOAL_READY_MS} ms",
                r.module, r.config
            ));
        }
        if r.stream_vs_batch_rss > 0.5 {
            misses.push(format!(
                "{} ({}): streaming peak RSS is {:.2}× batch, over 0.5×",
                r.module, r.config, r.stream_vs_batch_rss
            ));
        }
        if r.stream_vs_batch > 1.05 {
            misses.push(format!(
                "{} ({}): unthrottled streaming takes {:.2}× batch, over 1.05×",
                r.module, r.config, r.stream_vs_batch
            ));
        }
    }
    println!("## bench streaming\n");
    println!("{}", machine.summary());
    println!(
        "median of {iters} fresh processes per number, interleaved; {} KiB chunks; batch = read the file, Module::new; stream = StreamingCompiler fed from the file as it reads (unthrottled) or at {rate_mb} MB/s; RSS = the process's peak (VmHWM)",
        args.chunk / 1024
    );
    println!(
        "goals (issue 18): ready ≤ {GOAL_READY_MS} ms after the last byte; streaming RSS ≤ 0.5× batch; unthrottled streaming ≤ 1.05× batch\n"
    );
    println!("{}", table.to_markdown());
    for m in &misses {
        println!("{m}\n");
    }
    let path = report::write_json(
        "streaming",
        &Report {
            machine,
            rate_bytes_per_s: args.rate,
            chunk: args.chunk,
            iters,
            rows,
        },
    )?;
    eprintln!("bench streaming: wrote {}", path.display());
    Ok(())
}
