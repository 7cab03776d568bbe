//! `cargo xtask bench workloads`: whole programs, end to end, beside the
//! peer engines in one run. Every workload of `../shared/corpus/workloads.json`
//! whose module is present (CPython running pyperformance, GCC's cc1
//! compiling Lua's `lvm.c`, Yosys synthesising PicoRV32, Flite speaking),
//! each run a fresh process under each configuration:
//!
//! ```text
//! rung-tiered          rung run              (baseline at once, hot code optimized)
//! rung-tiered-lazy     rung run --lazy
//! rung-baseline        rung run --tier baseline
//! rung-optimized       rung run --tier optimized
//! rung-optimized-lazy  rung run --tier optimized --lazy
//! node                 node 20, V8's default (lazy Liftoff, TurboFan tier-up)
//! node-liftoff         --liftoff --no-wasm-tier-up --no-wasm-lazy-compilation
//! node-turbofan        --no-liftoff --no-wasm-tier-up
//! wasmtime-cranelift   Wasmtime (PyPI `wasmtime`), Cranelift
//! wasmtime-winch       Wasmtime, Winch
//! ```
//!
//! The peers run `../shared/corpus/peers/node_wasi_run.mjs` and
//! `wasmtime_wasi_run.py` with the same spec (argv, env, preopens). Each
//! round runs every configuration once (A B C … A B C …), so drift in the
//! machine's load hits all alike. Wall time is measured around the process
//! (start-up, compile and run, as a user waits for it); CPU time (user +
//! system) and peak RSS come from `wait4`.
//!
//! **Invariant:** every run's output is checked (the workload's `check`:
//! stdout, or the file it names) against one reference: the checked-in
//! `tests/data/workloads/<name>.expected` where there is one, else node's
//! (default configuration) output, else Wasmtime's, else the first rung
//! run's (and the report says which). A rung run that fails or differs
//! fails the bench after the report is printed; a peer that fails or differs
//! is an error in its cell and left out of the ratios.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use clap::Args;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde::{Deserialize, Serialize};

use super::chart::{self, Bar, Chart};
use super::node::NodeArgs;
use crate::corpus::{Corpus, CorpusArgs};
use crate::paths;
use crate::report::{self, Machine, Table};

/// Which engine a configuration runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Engine {
    Rung,
    Node,
    Wasmtime,
}

/// A configuration: an engine and its flags.
#[derive(Debug, Clone, Copy)]
pub struct Config {
    pub name: &'static str,
    pub engine: Engine,
    /// rung's or node's flags; Wasmtime's strategy.
    pub flags: &'static [&'static str],
}

pub const CONFIGS: &[Config] = &[
    Config {
        name: "rung-tiered",
        engine: Engine::Rung,
        flags: &[],
    },
    Config {
        name: "rung-tiered-lazy",
        engine: Engine::Rung,
        flags: &["--lazy"],
    },
    Config {
        name: "rung-baseline",
        engine: Engine::Rung,
        flags: &["--tier", "baseline"],
    },
    Config {
        name: "rung-optimized",
        engine: Engine::Rung,
        flags: &["--tier", "optimized"],
    },
    Config {
        name: "rung-optimized-lazy",
        engine: Engine::Rung,
        flags: &["--tier", "optimized", "--lazy"],
    },
    Config {
        name: "node",
        engine: Engine::Node,
        flags: &[],
    },
    Config {
        name: "node-liftoff",
        engine: Engine::Node,
        flags: &[
            "--liftoff",
            "--no-wasm-tier-up",
            "--no-wasm-lazy-compilation",
        ],
    },
    Config {
        name: "node-turbofan",
        engine: Engine::Node,
        flags: &["--no-liftoff", "--no-wasm-tier-up"],
    },
    Config {
        name: "wasmtime-cranelift",
        engine: Engine::Wasmtime,
        flags: &["cranelift"],
    },
    Config {
        name: "wasmtime-winch",
        engine: Engine::Wasmtime,
        flags: &["winch"],
    },
];

/// The single-tier rung configurations "the best single rung tier" means.
const SINGLE_TIERS: &[&str] = &["rung-baseline", "rung-optimized", "rung-optimized-lazy"];

/// The workload `--quick` runs: the shortest of the corpus's.
const QUICK_WORKLOAD: &str = "cc1-lvm";

/// Goal (issue 14): tiered rung's total at most this fraction of node's.
const GOAL_VS_NODE_TOTAL: f64 = 0.8;
/// Goal: tiered rung at most this much slower than its best single tier.
const GOAL_VS_BEST_TIER: f64 = 1.05;

/// `bench workloads`' options.
#[derive(Args, Debug, Clone)]
pub struct WorkloadArgs {
    /// Only these workloads, comma-separated (names in workloads.json)
    /// [default: every workload whose module is present]
    #[arg(long, value_delimiter = ',', value_name = "A,B")]
    pub only: Vec<String>,
    /// Only these configurations, comma-separated [default: all; rung-tiered,
    /// rung-tiered-lazy, rung-baseline, rung-optimized, rung-optimized-lazy,
    /// node, node-liftoff, node-turbofan, wasmtime-cranelift, wasmtime-winch]
    #[arg(long, value_delimiter = ',', value_name = "A,B")]
    pub configs: Vec<String>,
    /// Rounds (each configuration once per round)
    #[arg(long, default_value_t = 3, value_name = "N")]
    pub reps: usize,
    /// One small workload (cc1-lvm), one round, rung tiered only, no peers:
    /// checks that the bench and its output check still work (CI runs it)
    #[arg(long)]
    pub quick: bool,
    /// A run still going after this many seconds is killed and is an error
    #[arg(long, default_value_t = 900, value_name = "SECONDS")]
    pub timeout: u64,
    /// The `rung` executable [default: built by this task, with its profile]
    #[arg(long, value_name = "PATH")]
    pub rung: Option<PathBuf>,
    /// A python with the `wasmtime` package for the Wasmtime columns
    /// [env: RUNG_BENCH_PYTHON] [default: <target>/wasmtime-venv/bin/python,
    /// else python3]
    #[arg(long, value_name = "PATH")]
    pub python: Option<PathBuf>,
    /// Leave out the Wasmtime columns
    #[arg(long)]
    pub no_wasmtime: bool,
    #[command(flatten)]
    pub node: NodeArgs,
    #[command(flatten)]
    pub corpus: CorpusArgs,
}

impl Default for WorkloadArgs {
    fn default() -> Self {
        WorkloadArgs {
            only: Vec::new(),
            configs: Vec::new(),
            reps: 3,
            quick: false,
            timeout: 900,
            rung: None,
            python: None,
            no_wasmtime: false,
            node: NodeArgs::default(),
            corpus: CorpusArgs::default(),
        }
    }
}

/// A workload as `workloads.json` writes it (placeholders unexpanded).
#[derive(Debug, Clone, Deserialize)]
pub struct Workload {
    pub name: String,
    pub wasm: String,
    pub args: Vec<String>,
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    #[serde(default)]
    pub preopens: BTreeMap<String, String>,
    pub check: Check,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Check {
    /// `stdout` or `file`.
    pub what: String,
    pub file: Option<String>,
}

#[derive(Deserialize)]
struct WorkloadsJson {
    workloads: Vec<Workload>,
}

/// What the placeholders stand for in one run.
struct Places<'a> {
    wasm: &'a Path,
    wl: &'a Path,
    tmp: &'a Path,
}

impl Places<'_> {
    fn expand(&self, s: &str) -> String {
        s.replace("{wasm}", &self.wasm.to_string_lossy())
            .replace("{wl}", &self.wl.to_string_lossy())
            .replace("{tmp}", &self.tmp.to_string_lossy())
    }
}

/// The workload's module file name (`{wasm}/cc1.wasm` → `cc1.wasm`).
fn module_name(wl: &Workload) -> &str {
    wl.wasm.rsplit('/').next().unwrap_or(&wl.wasm)
}

/// The peers found on this machine, or why not.
struct Peers {
    node: Result<super::node::Node, String>,
    /// A python that imports `wasmtime`, and the package's version.
    wasmtime: Result<(PathBuf, String), String>,
}

impl Peers {
    fn has(&self, engine: Engine) -> Result<(), &str> {
        match engine {
            Engine::Rung => Ok(()),
            Engine::Node => self.node.as_ref().map(|_| ()).map_err(String::as_str),
            Engine::Wasmtime => self.wasmtime.as_ref().map(|_| ()).map_err(String::as_str),
        }
    }

    fn describe(&self) -> Vec<String> {
        let node = match &self.node {
            Ok(n) => format!("node {} (node, node-liftoff, node-turbofan)", n.version),
            Err(e) => format!("node: not used ({e})"),
        };
        let wasmtime = match &self.wasmtime {
            Ok((python, v)) => format!(
                "Wasmtime {v} through the PyPI package, {} (wasmtime-cranelift, wasmtime-winch)",
                python.display()
            ),
            Err(e) => format!("Wasmtime: not installed ({e})"),
        };
        vec![node, wasmtime]
    }
}

fn probe_wasmtime(args: &WorkloadArgs) -> Result<(PathBuf, String), String> {
    if args.no_wasmtime {
        return Err("--no-wasmtime".into());
    }
    let venv = paths::target_dir().join("wasmtime-venv/bin/python");
    let candidates: Vec<PathBuf> = match (&args.python, std::env::var_os("RUNG_BENCH_PYTHON")) {
        (Some(p), _) => vec![p.clone()],
        (None, Some(p)) if !p.is_empty() => vec![PathBuf::from(p)],
        _ => vec![venv.clone(), PathBuf::from("python3")],
    };
    for python in &candidates {
        let out = Command::new(python)
            .args([
                "-c",
                "import importlib.metadata as m, wasmtime; print(m.version('wasmtime'))",
            ])
            .stdin(Stdio::null())
            .output();
        if let Ok(out) = out
            && out.status.success()
        {
            let version = String::from_utf8_lossy(&out.stdout).trim().to_string();
            return Ok((python.clone(), version));
        }
    }
    Err(format!(
        "no python with the `wasmtime` package among {}; install it with `python3 -m venv {v} && {v}/bin/pip install wasmtime`, or pass --python",
        candidates
            .iter()
            .map(|p| p.display().to_string())
            .collect::<Vec<_>>()
            .join(", "),
        v = venv
            .parent()
            .and_then(Path::parent)
            .unwrap_or(&venv)
            .display(),
    ))
}

/// The `rung` executable: `--rung`, else the one beside this xtask (same
/// cargo profile), built first so it is never stale.
fn rung_exe(args: &WorkloadArgs) -> Result<PathBuf, String> {
    if let Some(p) = &args.rung {
        return Ok(p.clone());
    }
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let dir = exe.parent().ok_or("xtask has no directory")?;
    let profile = match dir.file_name().and_then(|n| n.to_str()) {
        Some("debug") => "dev",
        Some(p) => p,
        None => return Err("cannot tell xtask's cargo profile".into()),
    };
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    eprintln!("bench workloads: building rung (cargo build --profile {profile} --bin rung)");
    let status = Command::new(cargo)
        .args([
            "build",
            "--profile",
            profile,
            "--package",
            "rung",
            "--bin",
            "rung",
        ])
        .current_dir(paths::workspace_root())
        .stdin(Stdio::null())
        .stdout(Stdio::from(std::io::stderr()))
        .status()
        .map_err(|e| format!("running cargo: {e}"))?;
    if !status.success() {
        return Err(format!("building rung failed: {status}"));
    }
    Ok(dir.join("rung"))
}

/// What one process measured.
#[derive(Debug, Clone, Copy, Serialize)]
struct Measured {
    wall_s: f64,
    cpu_s: f64,
    peak_rss_mib: f64,
}

/// The process's end, from `wait4`.
struct Ended {
    status: i32,
    measured: Measured,
}

/// Runs `cmd` (stdout and stderr to files), kills it after `timeout`.
fn run_process(mut cmd: Command, timeout: Duration) -> Result<Ended, String> {
    let start = Instant::now();
    let child = cmd
        .stdin(Stdio::null())
        .spawn()
        .map_err(|e| format!("cannot start {:?}: {e}", cmd.get_program()))?;
    let pid = child.id() as libc::pid_t;
    // std's Child is not waited on: wait4 reaps it and gives its rusage.
    let mut status = 0;
    // SAFETY: rusage is plain data; wait4 fills it for our own child.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let mut killed = false;
    loop {
        // SAFETY: pid is our child, not yet reaped; the pointers are live.
        let r = unsafe { libc::wait4(pid, &mut status, libc::WNOHANG, &mut usage) };
        if r == pid {
            break;
        }
        if r < 0 {
            let err = std::io::Error::last_os_error();
            if err.kind() == std::io::ErrorKind::Interrupted {
                continue;
            }
            return Err(format!("wait4: {err}"));
        }
        if !killed && start.elapsed() > timeout {
            // SAFETY: signalling our own unreaped child.
            unsafe { libc::kill(pid, libc::SIGKILL) };
            killed = true;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    let wall_s = start.elapsed().as_secs_f64();
    drop(child);
    if killed {
        return Err(format!("killed after {} s (--timeout)", timeout.as_secs()));
    }
    let tv = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    let code = if libc::WIFEXITED(status) {
        libc::WEXITSTATUS(status)
    } else if libc::WIFSIGNALED(status) {
        let signal = libc::WTERMSIG(status);
        // SAFETY: strsignal returns a NUL-terminated description (or null).
        let name = unsafe {
            let s = libc::strsignal(signal);
            if s.is_null() {
                String::new()
            } else {
                std::ffi::CStr::from_ptr(s).to_string_lossy().into_owned()
            }
        };
        return Err(format!("crashed: signal {signal} ({name})"));
    } else {
        -1
    };
    Ok(Ended {
        status: code,
        measured: Measured {
            wall_s,
            cpu_s: tv(usage.ru_utime) + tv(usage.ru_stime),
            peak_rss_mib: usage.ru_maxrss as f64 / 1024.0,
        },
    })
}

/// The spec the peer scripts take (see `peers/node_wasi_run.mjs`).
#[derive(Serialize)]
struct PeerSpec<'a> {
    wasm: &'a Path,
    args: &'a [String],
    env: &'a BTreeMap<String, String>,
    preopens: &'a BTreeMap<String, String>,
    stdin: Option<()>,
    stdout: &'a Path,
    stderr: &'a Path,
    timing: &'a Path,
}

/// The peer scripts' timing file.
#[derive(Deserialize)]
struct PeerTiming {
    exit: serde_json::Value,
}

/// Everything one run needs that does not change between runs.
struct Runner<'a> {
    rung: &'a Path,
    peers: &'a Peers,
    corpus_dir: &'a Path,
    wl_dir: PathBuf,
    peers_dir: PathBuf,
    scratch: PathBuf,
    timeout: Duration,
}

impl Runner<'_> {
    /// One run of `wl` under `config`: its measurements and checked output.
    fn run(
        &self,
        wl: &Workload,
        config: &Config,
        round: usize,
    ) -> Result<(Measured, Vec<u8>), String> {
        let run_dir = self
            .scratch
            .join(format!("{}-{}-{round}", wl.name, config.name));
        let _ = std::fs::remove_dir_all(&run_dir);
        let tmp = run_dir.join("tmp");
        std::fs::create_dir_all(&tmp).map_err(|e| format!("{}: {e}", tmp.display()))?;
        let places = Places {
            wasm: self.corpus_dir,
            wl: &self.wl_dir,
            tmp: &tmp,
        };
        let wasm = PathBuf::from(places.expand(&wl.wasm));
        let args: Vec<String> = wl.args.iter().map(|a| places.expand(a)).collect();
        let env: BTreeMap<String, String> = wl
            .env
            .iter()
            .map(|(k, v)| (k.clone(), places.expand(v)))
            .collect();
        let preopens: BTreeMap<String, String> = wl
            .preopens
            .iter()
            .map(|(k, v)| (k.clone(), places.expand(v)))
            .collect();
        let stdout = run_dir.join("stdout");
        let stderr = run_dir.join("stderr");
        let timing = run_dir.join("timing.json");
        let file = |p: &Path| std::fs::File::create(p).map_err(|e| format!("{}: {e}", p.display()));
        let cmd = match config.engine {
            Engine::Rung => {
                let mut cmd = Command::new(self.rung);
                cmd.arg("run").args(config.flags);
                for (guest, host) in &preopens {
                    cmd.arg("--dir").arg(format!("{host}::{guest}"));
                }
                for (k, v) in &env {
                    cmd.arg("--env").arg(format!("{k}={v}"));
                }
                if let Some(argv0) = args.first() {
                    cmd.arg("--argv0").arg(argv0);
                }
                cmd.arg(&wasm).arg("--").args(args.iter().skip(1));
                cmd.stdout(file(&stdout)?).stderr(file(&stderr)?);
                cmd
            }
            Engine::Node | Engine::Wasmtime => {
                let spec = serde_json::to_string(&PeerSpec {
                    wasm: &wasm,
                    args: &args,
                    env: &env,
                    preopens: &preopens,
                    stdin: None,
                    stdout: &stdout,
                    stderr: &stderr,
                    timing: &timing,
                })
                .map_err(|e| e.to_string())?;
                let mut cmd;
                if config.engine == Engine::Node {
                    let node = self.peers.node.as_ref().map_err(Clone::clone)?;
                    cmd = Command::new(node.program());
                    cmd.args(config.flags)
                        .arg(self.peers_dir.join("node_wasi_run.mjs"));
                } else {
                    let (python, _) = self.peers.wasmtime.as_ref().map_err(Clone::clone)?;
                    cmd = Command::new(python);
                    cmd.arg(self.peers_dir.join("wasmtime_wasi_run.py"))
                        .args(config.flags);
                }
                cmd.arg(spec);
                // The script's own output (errors) goes beside the guest's.
                cmd.stdout(file(&run_dir.join("peer.stdout"))?)
                    .stderr(file(&run_dir.join("peer.stderr"))?);
                cmd
            }
        };
        let ended = run_process(cmd, self.timeout)?;
        let tail = |p: &Path| {
            super::node::error_line(&std::fs::read_to_string(p).unwrap_or_default()).to_string()
        };
        match config.engine {
            Engine::Rung if ended.status != 0 => {
                return Err(format!("exit status {}: {}", ended.status, tail(&stderr)));
            }
            Engine::Node | Engine::Wasmtime => {
                let exit = std::fs::read(&timing)
                    .ok()
                    .and_then(|t| serde_json::from_slice::<PeerTiming>(&t).ok())
                    .map(|t| t.exit);
                match exit {
                    Some(serde_json::Value::Number(n)) if n.as_i64() == Some(0) => {}
                    Some(other) => return Err(format!("exit {other}: {}", tail(&stderr))),
                    None => {
                        return Err(format!(
                            "status {}: {}",
                            ended.status,
                            tail(&run_dir.join("peer.stderr"))
                        ));
                    }
                }
            }
            Engine::Rung => {}
        }
        let checked = match (wl.check.what.as_str(), &wl.check.file) {
            ("stdout", _) => stdout,
            ("file", Some(f)) => PathBuf::from(places.expand(f)),
            (what, _) => return Err(format!("unknown check {what:?}")),
        };
        let output =
            std::fs::read(&checked).map_err(|e| format!("no output {}: {e}", checked.display()))?;
        let _ = std::fs::remove_dir_all(&run_dir);
        Ok((ended.measured, output))
    }
}

/// Where the first difference between two outputs is.
fn first_difference(a: &[u8], b: &[u8]) -> String {
    match a.iter().zip(b).position(|(x, y)| x != y) {
        Some(i) => format!("differs at byte {i}"),
        None => format!("{} bytes instead of {}", a.len(), b.len()),
    }
}

/// One (workload, configuration): its samples or why there are none.
#[derive(Debug, Serialize)]
struct Cell {
    workload: String,
    config: String,
    engine: Engine,
    /// Per round.
    runs: Vec<Measured>,
    wall_s: Option<Stat>,
    cpu_s: Option<Stat>,
    peak_rss_mib: Option<Stat>,
    error: Option<String>,
}

#[derive(Debug, Clone, Copy, Serialize)]
struct Stat {
    median: f64,
    min: f64,
    max: f64,
}

impl Stat {
    fn of(mut v: Vec<f64>) -> Option<Stat> {
        v.retain(|x| x.is_finite());
        if v.is_empty() {
            return None;
        }
        v.sort_by(f64::total_cmp);
        let n = v.len();
        let median = if n % 2 == 1 {
            v[n / 2]
        } else {
            (v[n / 2 - 1] + v[n / 2]) / 2.0
        };
        Some(Stat {
            median,
            min: v[0],
            max: v[n - 1],
        })
    }
}

#[derive(Serialize)]
struct WorkloadReport {
    name: String,
    /// What the outputs were checked against.
    reference: String,
}

#[derive(Serialize)]
struct Report {
    machine: Machine,
    reps: usize,
    peers: Vec<String>,
    workloads: Vec<WorkloadReport>,
    skipped: Vec<crate::corpus::Skipped>,
    cells: Vec<Cell>,
    goal_misses: Vec<String>,
}

fn load_workloads() -> Result<Vec<Workload>, String> {
    let path = paths::shared_dir().join("corpus/workloads.json");
    let text =
        std::fs::read_to_string(&path).map_err(|e| format!("reading {}: {e}", path.display()))?;
    let json: WorkloadsJson =
        serde_json::from_str(&text).map_err(|e| format!("parsing {}: {e}", path.display()))?;
    Ok(json.workloads)
}

/// The checked-in expected output of a workload node cannot run.
fn expected_file(name: &str) -> PathBuf {
    paths::workspace_root()
        .join("tests/data/workloads")
        .join(format!("{name}.expected"))
}

pub fn run(args: &WorkloadArgs) -> Result<(), String> {
    let mut args = args.clone();
    if args.quick {
        if args.only.is_empty() {
            args.only = vec![QUICK_WORKLOAD.to_string()];
        }
        if args.configs.is_empty() {
            args.configs = vec!["rung-tiered".into()];
        }
        args.reps = 1;
        args.no_wasmtime = true;
        args.node.no_node = true;
    }
    let corpus = Corpus::locate(&args.corpus);
    let all = load_workloads()?;
    for name in &args.only {
        if !all.iter().any(|w| &w.name == name) {
            let known: Vec<&str> = all.iter().map(|w| w.name.as_str()).collect();
            return Err(format!(
                "no workload {name}; workloads.json has {}",
                known.join(", ")
            ));
        }
    }
    let chosen: Vec<Workload> = all
        .into_iter()
        .filter(|w| args.only.is_empty() || args.only.contains(&w.name))
        .collect();
    let configs: Vec<Config> = if args.configs.is_empty() {
        CONFIGS.to_vec()
    } else {
        args.configs
            .iter()
            .map(|c| {
                CONFIGS
                    .iter()
                    .copied()
                    .find(|k| k.name == c)
                    .ok_or_else(|| {
                        let known: Vec<&str> = CONFIGS.iter().map(|k| k.name).collect();
                        format!("no configuration {c}; there are {}", known.join(", "))
                    })
            })
            .collect::<Result<_, _>>()?
    };
    // The modules: present, unpacked, or fetched (fetch-only ones are
    // skipped with the reason when they cannot be).
    let names: Vec<String> = chosen.iter().map(|w| module_name(w).to_string()).collect();
    let (present, skipped) = corpus.prepare(&names)?;
    let workloads: Vec<&Workload> = chosen
        .iter()
        .filter(|w| present.iter().any(|m| m.name == module_name(w)))
        .collect();
    for s in &skipped {
        eprintln!("bench workloads: skipped {}: {}", s.name, s.reason);
    }
    if workloads.is_empty() {
        return Err("no workload has its module present".into());
    }
    let peers = Peers {
        node: if configs.iter().any(|c| c.engine == Engine::Node) {
            args.node.probe()
        } else {
            Err("not asked for".into())
        },
        wasmtime: if configs.iter().any(|c| c.engine == Engine::Wasmtime) {
            probe_wasmtime(&args)
        } else {
            Err("not asked for".into())
        },
    };
    for line in peers.describe() {
        eprintln!("bench workloads: {line}");
    }
    let rung = rung_exe(&args)?;
    let machine = Machine::describe();
    // A failed run's directory is kept for a look; the next bench starts clean.
    let scratch = paths::target_dir().join("bench/workloads-scratch");
    let _ = std::fs::remove_dir_all(&scratch);
    let runner = Runner {
        rung: &rung,
        peers: &peers,
        corpus_dir: corpus.dir(),
        wl_dir: paths::shared_dir().join("corpus/workloads"),
        peers_dir: paths::shared_dir().join("corpus/peers"),
        scratch,
        timeout: Duration::from_secs(args.timeout),
    };

    let runnable: Vec<&Config> = configs
        .iter()
        .filter(|c| peers.has(c.engine).is_ok())
        .collect();
    let progress = progress_bar((workloads.len() * runnable.len() * args.reps) as u64)?;

    let mut cells = Vec::new();
    let mut reports = Vec::new();
    let mut rung_failures = Vec::new();
    for wl in &workloads {
        // Outputs per configuration (per round), checked once the reference is known.
        let mut outputs: Vec<Vec<Vec<u8>>> = vec![Vec::new(); configs.len()];
        let mut runs: Vec<Vec<Measured>> = vec![Vec::new(); configs.len()];
        let mut errors: Vec<Option<String>> = configs
            .iter()
            .map(|c| {
                peers
                    .has(c.engine)
                    .err()
                    .map(|e| format!("not installed: {e}"))
            })
            .collect();
        for round in 0..args.reps {
            for (i, config) in configs.iter().enumerate() {
                if errors[i].is_some() {
                    if peers.has(config.engine).is_ok() {
                        progress.inc(1);
                    }
                    continue;
                }
                progress.set_message(format!("{} {} (round {})", wl.name, config.name, round + 1));
                match runner.run(wl, config, round) {
                    Ok((m, out)) => {
                        runs[i].push(m);
                        outputs[i].push(out);
                    }
                    Err(e) => errors[i] = Some(e),
                }
                progress.inc(1);
            }
        }
        // The reference output.
        let expected = std::fs::read(expected_file(&wl.name)).ok();
        let index = |name: &str| configs.iter().position(|c| c.name == name);
        let from = |name: &str| -> Option<Vec<u8>> {
            let i = index(name)?;
            errors[i]
                .is_none()
                .then(|| outputs[i].first().cloned())
                .flatten()
        };
        let (reference, source) = if let Some(e) = expected {
            (
                Some(e),
                format!("tests/data/workloads/{}.expected", wl.name),
            )
        } else if let Some(o) = from("node") {
            (Some(o), "node's output (default configuration)".to_string())
        } else if let Some(o) = from("wasmtime-cranelift") {
            (Some(o), "Wasmtime Cranelift's output".to_string())
        } else if let Some(o) = configs
            .iter()
            .position(|c| c.engine == Engine::Rung)
            .and_then(|i| outputs[i].first().cloned())
        {
            (
                Some(o),
                "no peer ran and nothing is checked in: the first rung run's output (rung's configurations agree with each other)".to_string(),
            )
        } else {
            (None, "nothing ran".to_string())
        };
        for (i, config) in configs.iter().enumerate() {
            if let Some(reference) = &reference
                && errors[i].is_none()
                && let Some(bad) = outputs[i].iter().find(|o| *o != reference)
            {
                errors[i] = Some(format!(
                    "output differs from {source}: {}",
                    first_difference(bad, reference)
                ));
            }
            if config.engine == Engine::Rung
                && let Some(e) = &errors[i]
            {
                rung_failures.push(format!("{} {}: {e}", wl.name, config.name));
            }
            let ok = errors[i].is_none();
            let stat = |f: fn(&Measured) -> f64| {
                if ok {
                    Stat::of(runs[i].iter().map(f).collect())
                } else {
                    None
                }
            };
            cells.push(Cell {
                workload: wl.name.clone(),
                config: config.name.to_string(),
                engine: config.engine,
                wall_s: stat(|m| m.wall_s),
                cpu_s: stat(|m| m.cpu_s),
                peak_rss_mib: stat(|m| m.peak_rss_mib),
                runs: std::mem::take(&mut runs[i]),
                error: errors[i].clone(),
            });
        }
        progress.println(format!(
            "bench workloads: {} done (checked against {source})",
            wl.name
        ));
        reports.push(WorkloadReport {
            name: wl.name.clone(),
            reference: source,
        });
    }
    progress.finish_and_clear();

    let goal_misses = print_report(
        &machine, &args, &peers, &workloads, &configs, &cells, &reports,
    );
    let chart_path = chart::write_svg("workloads", &workloads_chart(&workloads, &configs, &cells))?;
    let json = report::write_json(
        "workloads",
        &Report {
            machine,
            reps: args.reps,
            peers: peers.describe(),
            workloads: reports,
            skipped,
            cells,
            goal_misses,
        },
    )?;
    eprintln!(
        "bench workloads: wrote {} and {}",
        json.display(),
        chart_path.display()
    );
    if rung_failures.is_empty() {
        Ok(())
    } else {
        Err(format!("rung failed: {}", rung_failures.join("; ")))
    }
}

/// A progress bar on stderr for `total` runs: what runs, how many are
/// left, the ETA (hidden when stderr is not a terminal).
pub fn progress_bar(total: u64) -> Result<ProgressBar, String> {
    let progress = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr());
    progress.set_style(
        ProgressStyle::with_template(
            "{elapsed_precise} [{bar:30}] {pos}/{len} runs, ETA {eta}: {msg}",
        )
        .map_err(|e| e.to_string())?
        .progress_chars("=> "),
    );
    Ok(progress)
}

fn cell<'a>(cells: &'a [Cell], workload: &str, config: &str) -> Option<&'a Cell> {
    cells
        .iter()
        .find(|c| c.workload == workload && c.config == config)
}

fn median_wall(cells: &[Cell], workload: &str, config: &str) -> Option<f64> {
    cell(cells, workload, config)?.wall_s.map(|s| s.median)
}

/// Prints the Markdown report; returns the goals missed.
fn print_report(
    machine: &Machine,
    args: &WorkloadArgs,
    peers: &Peers,
    workloads: &[&Workload],
    configs: &[Config],
    cells: &[Cell],
    reports: &[WorkloadReport],
) -> Vec<String> {
    let mut table = Table::new(&[
        ("workload", false),
        ("configuration", false),
        ("wall s", true),
        ("min–max s", true),
        ("CPU s", true),
        ("peak RSS MiB", true),
        ("× best peer", true),
        ("× node", true),
    ]);
    for wl in workloads {
        let best_peer = configs
            .iter()
            .filter(|c| c.engine != Engine::Rung)
            .filter_map(|c| median_wall(cells, &wl.name, c.name))
            .fold(f64::INFINITY, f64::min);
        let node = median_wall(cells, &wl.name, "node");
        for config in configs {
            let Some(c) = cell(cells, &wl.name, config.name) else {
                continue;
            };
            let ratio = |base: Option<f64>| match (c.wall_s, base) {
                (Some(w), Some(b)) if b.is_finite() && b > 0.0 => format!("{:.2}×", w.median / b),
                _ => String::new(),
            };
            match (&c.wall_s, &c.error) {
                (Some(w), None) => table.row(vec![
                    wl.name.clone(),
                    config.name.to_string(),
                    format!("{:.2}", w.median),
                    format!("{:.2}–{:.2}", w.min, w.max),
                    c.cpu_s
                        .map_or(String::new(), |s| format!("{:.2}", s.median)),
                    c.peak_rss_mib
                        .map_or(String::new(), |s| format!("{:.0}", s.median)),
                    ratio(Some(best_peer)),
                    ratio(node),
                ]),
                (_, e) => table.row(vec![
                    wl.name.clone(),
                    config.name.to_string(),
                    e.clone().unwrap_or_else(|| "no runs".into()),
                ]),
            }
        }
    }
    // Goals (issue 14), where the numbers exist.
    let mut misses = Vec::new();
    let mut checked = Vec::new();
    let (mut tiered_total, mut node_total) = (0.0, 0.0);
    for wl in workloads {
        let Some(tiered) = median_wall(cells, &wl.name, "rung-tiered") else {
            continue;
        };
        if let Some(node) = median_wall(cells, &wl.name, "node") {
            tiered_total += tiered;
            node_total += node;
            if tiered >= node {
                misses.push(format!(
                    "{}: rung-tiered {tiered:.2} s is not ahead of node's {node:.2} s",
                    wl.name
                ));
            }
        }
        let best = SINGLE_TIERS
            .iter()
            .filter_map(|t| median_wall(cells, &wl.name, t).map(|s| (s, *t)))
            .min_by(|a, b| a.0.total_cmp(&b.0));
        if let Some((best, tier)) = best {
            checked.push(format!(
                "{}: rung-tiered {:.2}× its best single tier ({tier})",
                wl.name,
                tiered / best
            ));
            if tiered > best * GOAL_VS_BEST_TIER {
                misses.push(format!(
                    "{}: rung-tiered {tiered:.2} s is {:.2}× {tier}'s {best:.2} s, over {GOAL_VS_BEST_TIER}×",
                    wl.name,
                    tiered / best
                ));
            }
        }
    }
    if node_total > 0.0 {
        checked.push(format!(
            "total over the workloads node ran: rung-tiered {tiered_total:.2} s, node {node_total:.2} s ({:.2}×)",
            tiered_total / node_total
        ));
        if tiered_total > node_total * GOAL_VS_NODE_TOTAL {
            misses.push(format!(
                "rung-tiered's total {tiered_total:.2} s is {:.2}× node's {node_total:.2} s, over {GOAL_VS_NODE_TOTAL}×",
                tiered_total / node_total
            ));
        }
    }
    println!("## bench workloads\n");
    println!("{}\n", machine.summary());
    println!(
        "`cargo xtask bench workloads{}`: {} round(s), configurations interleaved round by round, each run a fresh process; wall time around the process (start-up, compile, run), CPU time (user + system) and peak RSS from wait4; medians.\n",
        if args.quick { " --quick" } else { "" },
        args.reps
    );
    for line in peers.describe() {
        println!("- {line}");
    }
    for r in reports {
        println!("- {}: outputs checked against {}", r.name, r.reference);
    }
    println!();
    println!("{}", table.to_markdown());
    for line in &checked {
        println!("- {line}");
    }
    println!(
        "\ngoals (issue 14): rung-tiered ahead of node on every workload and ≤ {GOAL_VS_NODE_TOTAL}× its total; ≤ {GOAL_VS_BEST_TIER}× the best single rung tier on each"
    );
    if misses.is_empty() {
        println!("all goals that these numbers can check are met");
    }
    for m in &misses {
        println!("- missed: {m}");
    }
    misses
}

fn workloads_chart(workloads: &[&Workload], configs: &[Config], cells: &[Cell]) -> Chart<'static> {
    let values = workloads
        .iter()
        .map(|wl| {
            configs
                .iter()
                .map(|c| {
                    let s = cell(cells, &wl.name, c.name)?.wall_s?;
                    Some(Bar {
                        median: s.median,
                        min: s.min,
                        max: s.max,
                    })
                })
                .collect()
        })
        .collect();
    Chart {
        title: "cargo xtask bench workloads: wall time per run (median, min–max)",
        y_label: "seconds",
        groups: workloads.iter().map(|w| w.name.clone()).collect(),
        series: configs.iter().map(|c| c.name.to_string()).collect(),
        values,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_expand() {
        let p = Places {
            wasm: Path::new("/c"),
            wl: Path::new("/w"),
            tmp: Path::new("/t"),
        };
        assert_eq!(p.expand("{wasm}/cc1.wasm"), "/c/cc1.wasm");
        assert_eq!(p.expand("{tmp}/lvm.s and {wl}/x"), "/t/lvm.s and /w/x");
    }

    #[test]
    fn stats_and_differences() {
        let s = Stat::of(vec![3.0, 1.0, f64::NAN, 2.0, 10.0]).unwrap();
        assert_eq!((s.median, s.min, s.max), (2.5, 1.0, 10.0));
        assert!(Stat::of(vec![]).is_none());
        assert_eq!(first_difference(b"abc", b"abd"), "differs at byte 2");
        assert_eq!(first_difference(b"ab", b"abc"), "2 bytes instead of 3");
    }

    #[test]
    fn a_process_is_measured_and_its_status_kept() {
        let mut cmd = Command::new("sh");
        cmd.args(["-c", "exit 3"]);
        let ended = run_process(cmd, Duration::from_secs(60)).unwrap();
        assert_eq!(ended.status, 3);
        assert!(ended.measured.wall_s > 0.0 && ended.measured.peak_rss_mib > 0.0);
        let mut slow = Command::new("sleep");
        slow.arg("30");
        let err = run_process(slow, Duration::from_millis(50)).err().unwrap();
        assert_eq!(err, "killed after 0 s (--timeout)");
    }
}
