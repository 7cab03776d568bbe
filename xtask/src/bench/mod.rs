//! `cargo xtask bench <what>`: the options every bench shares and the one
//! timing loop they all use. Each bench is a module of its own (`decode`);
//! adding one means a variant of [`Bench`], a module, and a line in [`run`].
//!
//! **Invariant:** a measurement times only the work under test: preparing its
//! input (`setup`) and dropping its output happen outside the timed region,
//! and the reported figure is the median of the repetitions. The numbers a
//! bench compares are measured in one interleaved group ([`measure`]), never
//! one after the other, so a change in machine load does not bias a ratio.

pub mod decode;

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
    Decode(CommonArgs),
}

/// Options every bench takes.
#[derive(Args, Debug, Clone)]
pub struct CommonArgs {
    /// Only these modules, comma-separated, `.wasm` optional [default: every
    /// module of `compile_modules` in workloads.json]
    #[arg(long, value_delimiter = ',', value_name = "A,B")]
    pub modules: Vec<String>,
    /// Repetitions per measurement [default: at least 3 and at least 1 s of
    /// measured time, at most 10 s of wall time once one has run]
    #[arg(long, value_name = "N")]
    pub iters: Option<NonZeroUsize>,
    /// Threads for the parallel measurements [default: all available cores]
    #[arg(long, value_name = "N")]
    pub threads: Option<NonZeroUsize>,
    #[command(flatten)]
    pub corpus: CorpusArgs,
}

impl CommonArgs {
    pub fn repeat(&self) -> Repeat {
        match self.iters {
            Some(n) => Repeat::Fixed(n.get()),
            None => Repeat::Auto,
        }
    }

    pub fn threads(&self) -> usize {
        self.threads
            .map_or_else(crate::report::available_cores, NonZeroUsize::get)
    }
}

pub fn run(bench: Bench) -> Result<(), String> {
    match bench {
        Bench::Decode(args) => decode::run(&args),
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
    fn from_times(mut times: Vec<Duration>) -> Sample {
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

/// One thing to time: each call prepares its input, runs the work under test
/// and returns how long the work alone took.
pub type Case<'a> = Box<dyn FnMut() -> Result<Duration, String> + 'a>;

/// A [`Case`] that times `run(setup())`. Only `run` is timed; its output is
/// dropped after the clock stops.
pub fn case<'a, T, R>(
    mut setup: impl FnMut() -> Result<T, String> + 'a,
    mut run: impl FnMut(T) -> Result<R, String> + 'a,
) -> Case<'a> {
    Box::new(move || {
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
            match case() {
                Ok(dt) => {
                    state.times.push(dt);
                    state.measured += dt;
                    state.done = repeat.done(state.times.len(), state.measured, start.elapsed());
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
}
