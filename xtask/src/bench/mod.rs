//! `cargo xtask bench [<what>]`: the options every bench shares, the one
//! timing loop they all use and the cell a measurement fills. Each bench is a
//! module of its own (`decode`, `compile`, `kernels`), and `node` runs the V8
//! peers; adding a bench means a variant of [`Bench`], a module, and a line
//! in [`run`]. With no `<what>`, every bench runs in turn with its defaults.
//!
//! **Invariant:** a measurement times only the work under test: preparing its
//! input (`setup`) and dropping its output happen outside the timed region,
//! and the reported figure is the median of the repetitions. The numbers a
//! bench compares are measured in one interleaved group ([`measure`]), never
//! one after the other, so a change in machine load does not bias a ratio.

mod chart;
pub mod compile;
pub mod decode;
pub mod kernels;
mod node;
pub mod streaming;
pub mod workloads;

use std::hint::black_box;
use std::num::NonZeroUsize;
use std::time::{Duration, Instant};

use clap::{Args, Subcommand};
use serde::Serialize;

use crate::corpus::CorpusArgs;

/// What to measure.
#[derive(Subcommand, Debug, Clone)]
pub enum Bench {
    /// Decode + validate throughput: wasmparser's validator against rung's
    /// decoder and validator on 1 and N threads, and stage 2 alone.
    Decode(DecodeArgs),
    /// Compile throughput on one thread: the baseline tier beside V8's
    /// Liftoff, the optimizing tier beside V8's TurboFan (node).
    Compile(compile::CompileArgs),
    /// Run time of the compute kernels in xtask/kernels in rung's optimized,
    /// baseline and tiered configurations against V8's TurboFan (node),
    /// checksums compared.
    Kernels(kernels::KernelArgs),
    /// Streaming compilation against batch on the large corpus modules:
    /// time from the last byte to ready (unthrottled and at a network's
    /// rate), wall time and peak RSS, each sample a fresh process.
    Streaming(streaming::StreamingArgs),
    /// Whole programs (workloads.json) end to end under rung's
    /// configurations, node's and Wasmtime's, each run a fresh process,
    /// outputs checked: wall time, CPU time, peak RSS.
    Workloads(workloads::WorkloadArgs),
}

/// Options every corpus bench takes.
#[derive(Args, Debug, Clone, Default)]
pub struct CommonArgs {
    /// Only these modules, comma-separated, `.wasm` optional [default: every
    /// module of `compile_modules` in workloads.json]
    #[arg(long, value_delimiter = ',', value_name = "A,B")]
    pub modules: Vec<String>,
    /// Repetitions per measurement [default: at least 3 and at least 1 s of
    /// measured time, at most 15 s of wall time once one has run]
    #[arg(long, value_name = "N")]
    pub iters: Option<NonZeroUsize>,
    #[command(flatten)]
    pub corpus: CorpusArgs,
}

/// `bench decode`'s options.
#[derive(Args, Debug, Clone, Default)]
pub struct DecodeArgs {
    #[command(flatten)]
    pub common: CommonArgs,
    /// Threads for the parallel measurements [default: all available cores]
    #[arg(long, value_name = "N")]
    pub threads: Option<NonZeroUsize>,
}

impl CommonArgs {
    pub fn repeat(&self) -> Repeat {
        match self.iters {
            Some(n) => Repeat::Fixed(n.get()),
            None => Repeat::Auto,
        }
    }
}

impl DecodeArgs {
    pub fn threads(&self) -> usize {
        self.threads
            .map_or_else(crate::report::available_cores, NonZeroUsize::get)
    }
}

/// Runs one bench, or every bench in turn with its defaults (`None`). In
/// turn, a bench that fails does not stop the next; the run fails if any did.
pub fn run(bench: Option<Bench>) -> Result<(), String> {
    match bench {
        Some(Bench::Decode(args)) => decode::run(&args),
        Some(Bench::Compile(args)) => compile::run(&args),
        Some(Bench::Kernels(args)) => kernels::run(&args),
        Some(Bench::Streaming(args)) => streaming::run(&args),
        Some(Bench::Workloads(args)) => workloads::run(&args),
        None => {
            let all = [
                Bench::Decode(DecodeArgs::default()),
                Bench::Compile(compile::CompileArgs::default()),
                Bench::Kernels(kernels::KernelArgs::default()),
                Bench::Streaming(streaming::StreamingArgs::default()),
                Bench::Workloads(workloads::WorkloadArgs::default()),
            ];
            let mut failed = Vec::new();
            for (i, bench) in all.into_iter().enumerate() {
                if i > 0 {
                    println!();
                }
                let name = match &bench {
                    Bench::Decode(_) => "decode",
                    Bench::Compile(_) => "compile",
                    Bench::Kernels(_) => "kernels",
                    Bench::Streaming(_) => "streaming",
                    Bench::Workloads(_) => "workloads",
                };
                if let Err(e) = run(Some(bench)) {
                    eprintln!("xtask: bench {name}: {e}");
                    failed.push(name);
                }
            }
            if failed.is_empty() {
                Ok(())
            } else {
                Err(format!("failed: bench {}", failed.join(", bench ")))
            }
        }
    }
}

/// How many times a measurement repeats.
#[derive(Debug, Clone, Copy, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Repeat {
    /// Exactly this many times (`--iters`).
    Fixed(usize),
    /// Until a case has run [`AUTO_MIN_ITERS`] times and for [`AUTO_MIN_TIME`]
    /// of measured time, whichever takes longer; once it has run at all, a
    /// case also stops when its group has spent [`AUTO_MAX_WALL`] (setup
    /// included): the 68 MB module gets fewer repetitions.
    Auto,
}

pub const AUTO_MIN_ITERS: usize = 3;
pub const AUTO_MIN_TIME: Duration = Duration::from_secs(1);
pub const AUTO_MAX_WALL: Duration = Duration::from_secs(15);

impl Repeat {
    pub fn describe(self) -> String {
        match self {
            Repeat::Fixed(n) => format!("{n} iterations"),
            Repeat::Auto => format!(
                "≥{AUTO_MIN_ITERS} iterations and ≥{} s measured per number (≤{} s per module)",
                AUTO_MIN_TIME.as_secs(),
                AUTO_MAX_WALL.as_secs()
            ),
        }
    }

    fn done(self, iters: usize, measured: Duration, wall: Duration) -> bool {
        match self {
            Repeat::Fixed(n) => iters >= n,
            Repeat::Auto => {
                (iters >= AUTO_MIN_ITERS && measured >= AUTO_MIN_TIME)
                    || (iters >= 1 && wall >= AUTO_MAX_WALL)
            }
        }
    }
}

/// The times of one measurement, in seconds.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Sample {
    pub median_s: f64,
    pub min_s: f64,
    pub max_s: f64,
    pub iters: usize,
}

impl Sample {
    pub fn from_times(mut times: Vec<Duration>) -> Sample {
        times.sort();
        let n = times.len();
        let median = if n % 2 == 1 {
            times[n / 2]
        } else {
            (times[n / 2 - 1] + times[n / 2]) / 2
        };
        Sample {
            median_s: median.as_secs_f64(),
            min_s: times[0].as_secs_f64(),
            max_s: times[n - 1].as_secs_f64(),
            iters: n,
        }
    }

    /// Throughput of the median run over `bytes`, in MB (10^6 bytes) per second.
    pub fn mb_per_s(&self, bytes: usize) -> f64 {
        bytes as f64 / 1e6 / self.median_s
    }
}

/// One measurement: numbers, why there are none, or that it was not run.
#[derive(Debug, Serialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum Outcome {
    Ok {
        #[serde(flatten)]
        sample: Sample,
        /// Over the bytes the bench measures throughput of; absent for
        /// run-time measurements.
        #[serde(skip_serializing_if = "Option::is_none")]
        mb_per_s: Option<f64>,
    },
    /// The work failed; the message is the engine's.
    Error { message: String },
    /// Not measured: the peer is missing or was turned off.
    NotRun { reason: String },
}

impl Outcome {
    /// `result` with its throughput over `bytes`.
    pub fn new(result: Result<Sample, String>, bytes: usize) -> Outcome {
        Outcome::from_result(result, Some(bytes))
    }

    /// `result` as a time alone (`bytes` = `None`) or with its throughput.
    pub fn from_result(result: Result<Sample, String>, bytes: Option<usize>) -> Outcome {
        match result {
            Ok(sample) => Outcome::Ok {
                mb_per_s: bytes.map(|b| sample.mb_per_s(b)),
                sample,
            },
            Err(message) => Outcome::Error { message },
        }
    }

    pub fn sample(&self) -> Option<&Sample> {
        match self {
            Outcome::Ok { sample, .. } => Some(sample),
            Outcome::Error { .. } | Outcome::NotRun { .. } => None,
        }
    }

    pub fn is_error(&self) -> bool {
        matches!(self, Outcome::Error { .. })
    }

    /// The cell for a number, or what stands where it would be.
    fn cell(&self, number: impl FnOnce(&Sample) -> String) -> String {
        match self {
            Outcome::Ok { sample, .. } => number(sample),
            Outcome::Error { message } => format!("error: {message}"),
            Outcome::NotRun { .. } => "n/a".to_string(),
        }
    }

    /// Throughput over the bytes given to [`Outcome::new`], one decimal.
    pub fn mb_per_s_cell(&self) -> String {
        match self {
            Outcome::Ok {
                mb_per_s: Some(m), ..
            } => format!("{m:.1}"),
            _ => self.cell(|_| "—".to_string()),
        }
    }

    /// The median in milliseconds, one decimal.
    pub fn ms_cell(&self) -> String {
        self.cell(|s| format!("{:.1}", s.median_s * 1e3))
    }
}

/// Numbered notes below a table, one per distinct text: an error stands in
/// its cell as `error [n]` and its message in note n, so a long message
/// does not stretch a column.
#[derive(Default)]
pub struct Notes(Vec<String>);

impl Notes {
    /// `number(outcome)`, or `error [n]` with note n saying `what: message`.
    pub fn cell(
        &mut self,
        outcome: &Outcome,
        what: &str,
        number: impl FnOnce(&Outcome) -> String,
    ) -> String {
        match outcome {
            Outcome::Error { message } => {
                format!("error [{}]", self.add(format!("{what}: {message}")))
            }
            _ => number(outcome),
        }
    }

    /// Adds `text` unless it is there already; its number.
    pub fn add(&mut self, text: String) -> usize {
        match self.0.iter().position(|t| *t == text) {
            Some(i) => i + 1,
            None => {
                self.0.push(text);
                self.0.len()
            }
        }
    }

    /// The notes as `[n] text` paragraphs, each after an empty line.
    pub fn print(&self) {
        for (i, note) in self.0.iter().enumerate() {
            println!();
            println!("[{}] {note}", i + 1);
        }
    }
}

/// `a`'s median time over `b`'s, when both have one.
pub fn time_ratio(a: &Outcome, b: &Outcome) -> Option<f64> {
    Some(a.sample()?.median_s / b.sample()?.median_s)
}

/// A ratio cell: `1.23×`, or `—` without one.
pub fn ratio_cell(r: Option<f64>) -> String {
    r.map_or_else(|| "—".to_string(), |r| format!("{r:.2}×"))
}

/// One thing to time: each call prepares its input, runs the work under test
/// and returns how long the work alone took. It repeats as [`Repeat`] says,
/// and at least [`Case::at_least`] times.
pub struct Case<'a> {
    run: Box<dyn FnMut() -> Result<Duration, String> + 'a>,
    min_iters: usize,
}

impl<'a> Case<'a> {
    /// A case that measures itself: `run` does one repetition and returns
    /// the time of the work under test (e.g. a child process that times its
    /// own compile and reports it).
    pub fn timed_by(run: impl FnMut() -> Result<Duration, String> + 'a) -> Case<'a> {
        Case {
            run: Box::new(run),
            min_iters: 1,
        }
    }

    /// Repeats at least `n` times, whatever [`Repeat`] says (a peer whose
    /// samples are noisy, such as a fresh process per sample).
    pub fn at_least(mut self, n: usize) -> Case<'a> {
        self.min_iters = n.max(1);
        self
    }
}

/// A [`Case`] that times `run(setup())`. Only `run` is timed; its output is
/// dropped after the clock stops.
pub fn case<'a, T, R>(
    mut setup: impl FnMut() -> Result<T, String> + 'a,
    mut run: impl FnMut(T) -> Result<R, String> + 'a,
) -> Case<'a> {
    Case::timed_by(move || {
        let input = setup()?;
        let t0 = Instant::now();
        let output = run(black_box(input));
        let dt = t0.elapsed();
        black_box(output)?;
        Ok(dt)
    })
}

/// Times a group of cases, interleaved: each round runs every case that is
/// not done yet once, so a change in machine load hits all of them alike and
/// their ratios stay meaningful on a shared machine. A case is done when
/// `repeat` says so or at its first error, which is then its result.
pub fn measure(repeat: Repeat, mut cases: Vec<Case<'_>>) -> Vec<Result<Sample, String>> {
    struct State {
        times: Vec<Duration>,
        measured: Duration,
        error: Option<String>,
        done: bool,
    }
    let start = Instant::now();
    let mut states: Vec<State> = (0..cases.len())
        .map(|_| State {
            times: Vec::new(),
            measured: Duration::ZERO,
            error: None,
            done: false,
        })
        .collect();
    while states.iter().any(|s| !s.done) {
        for (case, state) in cases.iter_mut().zip(&mut states) {
            if state.done {
                continue;
            }
            match (case.run)() {
                Ok(dt) => {
                    state.times.push(dt);
                    state.measured += dt;
                    let iters = state.times.len();
                    state.done = iters >= case.min_iters
                        && repeat.done(iters, state.measured, start.elapsed());
                }
                Err(e) => {
                    state.error = Some(e);
                    state.done = true;
                }
            }
        }
    }
    states
        .into_iter()
        .map(|s| match s.error {
            Some(e) => Err(e),
            None => Ok(Sample::from_times(s.times)),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_of_even_and_odd() {
        let ms = |v: &[u64]| {
            v.iter()
                .map(|&m| Duration::from_millis(m))
                .collect::<Vec<_>>()
        };
        let s = Sample::from_times(ms(&[30, 10, 20]));
        assert_eq!(
            (s.median_s, s.min_s, s.max_s, s.iters),
            (0.02, 0.01, 0.03, 3)
        );
        assert_eq!(Sample::from_times(ms(&[40, 10, 20, 30])).median_s, 0.025);
    }

    #[test]
    fn measure_interleaves_and_stops_a_case_at_its_first_error() {
        use std::cell::RefCell;
        let log = RefCell::new(Vec::new());
        let results = measure(
            Repeat::Fixed(3),
            vec![
                case(
                    || Ok(()),
                    |()| {
                        log.borrow_mut().push('a');
                        Ok::<_, String>(())
                    },
                ),
                case(
                    || Ok(()),
                    |()| {
                        log.borrow_mut().push('b');
                        if log.borrow().len() > 2 {
                            Err("boom".to_string())
                        } else {
                            Ok(())
                        }
                    },
                ),
            ],
        );
        assert_eq!(log.into_inner(), vec!['a', 'b', 'a', 'b', 'a']);
        assert_eq!(results[0].as_ref().map(|s| s.iters), Ok(3));
        assert_eq!(results[1].as_ref().unwrap_err(), "boom");
    }

    #[test]
    fn at_least_overrides_a_smaller_repeat() {
        let results = measure(
            Repeat::Fixed(1),
            vec![
                Case::timed_by(|| Ok(Duration::from_millis(1))),
                Case::timed_by(|| Ok(Duration::from_millis(2))).at_least(3),
            ],
        );
        let iters: Vec<usize> = results.iter().map(|r| r.as_ref().unwrap().iters).collect();
        assert_eq!(iters, vec![1, 3]);
    }
}
