//! `cargo xtask bench <what>`: the options every bench shares and the one
//! timing loop they all use. Each bench is a module of its own (`decode`);
//! adding one means a variant of [`Bench`], a module, and a line in [`run`].
//!
//! **Invariant:** a measurement times only the work under test: preparing its
//! input (`setup`) and dropping its output happen outside the timed region,
//! and the reported figure is the median of the repetitions.

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
    /// [`AUTO_MIN_ITERS`] times and [`AUTO_MIN_TIME`] of measured time,
    /// whichever takes longer, cut at [`AUTO_MAX_WALL`] (setup included) once
    /// at least one repetition ran: the 68 MB module gets fewer.
    Auto,
}

pub const AUTO_MIN_ITERS: usize = 3;
pub const AUTO_MIN_TIME: Duration = Duration::from_secs(1);
pub const AUTO_MAX_WALL: Duration = Duration::from_secs(10);

impl Repeat {
    pub fn describe(self) -> String {
        match self {
            Repeat::Fixed(n) => format!("{n} iterations"),
            Repeat::Auto => format!(
                "≥{AUTO_MIN_ITERS} iterations and ≥{} s measured (≤{} s wall)",
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

/// Times `run(setup())` as often as `repeat` says. Only `run` is timed; its
/// output is dropped after the clock stops. The first error, from either
/// closure, ends the measurement.
pub fn measure<T, R>(
    repeat: Repeat,
    mut setup: impl FnMut() -> Result<T, String>,
    mut run: impl FnMut(T) -> Result<R, String>,
) -> Result<Sample, String> {
    let start = Instant::now();
    let mut times = Vec::new();
    let mut measured = Duration::ZERO;
    loop {
        let input = setup()?;
        let t0 = Instant::now();
        let output = run(black_box(input));
        let dt = t0.elapsed();
        black_box(output)?;
        times.push(dt);
        measured += dt;
        if repeat.done(times.len(), measured, start.elapsed()) {
            return Ok(Sample::from_times(times));
        }
    }
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
    fn measure_stops_at_the_first_error() {
        let mut runs = 0;
        let r = measure(
            Repeat::Fixed(5),
            || Ok(()),
            |()| {
                runs += 1;
                if runs == 2 {
                    Err("boom".to_string())
                } else {
                    Ok(())
                }
            },
        );
        assert_eq!(r.unwrap_err(), "boom");
        assert_eq!(runs, 2);
        let s = measure(Repeat::Fixed(4), || Ok(()), |()| Ok::<_, String>(())).unwrap();
        assert_eq!(s.iters, 4);
    }
}
