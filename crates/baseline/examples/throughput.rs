//! One-thread compile throughput of the baseline tier on wasm files:
//! `cargo run --release -p rung-baseline --example throughput -- FILE...`
//!
//! For each module: stage-1 validation and decoding (not timed), then every
//! body compiled three ways, each timed on one thread: validation alone
//! (rung-validator), the baseline without validation (`Tier::compile`), and
//! the baseline validating as it compiles (`compile_validating`, what the
//! runtime uses). Throughput is module bytes per second, as the issue's
//! goals state it, over the thread's CPU time (best of several rounds).
//! Functions the tier does not support are counted. `OPTIMIZER=1` also
//! times the optimizing tier (compile only, one round) for the ratio.

use std::time::Duration;

use rung_baseline::BaselineTier;
use rung_decoder::{DecoderConfig, Event, FunctionBody, ModuleEnv, decode_all};
use rung_tiering::{CompileOptions, Tier, VmOffsets};

/// As a tiered engine compiles below the top of its ladder.
const OPTIONS: CompileOptions = CompileOptions {
    interrupt_checks: false,
    tier_up_checks: true,
    osr: false,
};
use rung_validator::{FuncJob, FunctionValidator, ModuleValidator};

fn jobs(bytes: &[u8]) -> (ModuleEnv, Vec<(u32, u64, usize)>, Vec<FuncJob>) {
    let mut v = ModuleValidator::default();
    let mut bodies = Vec::new();
    let mut jobs = Vec::new();
    let mut sink = |_: &ModuleEnv, e: Event<'_>| {
        if let Some(job) = v.event(&e).expect("stage 1") {
            if let Event::FunctionBody(b) = &e {
                bodies.push((b.index, b.offset, b.bytes.len()));
            }
            jobs.push(job);
        }
        Ok::<_, rung_decoder::DecodeError>(())
    };
    let env = decode_all(bytes, DecoderConfig::default(), &mut sink).expect("decode");
    (env, bodies, jobs)
}

/// This thread's CPU time (`CLOCK_THREAD_CPUTIME_ID`), so that other
/// processes competing for the CPU do not count.
struct Clock(Duration);

impl Clock {
    fn now() -> Duration {
        let mut ts = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        // SAFETY: `ts` is a valid out-pointer; the clock id is a constant.
        let ok = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) } == 0;
        if ok {
            Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
        } else {
            Duration::ZERO
        }
    }

    fn start() -> Clock {
        Clock(Clock::now())
    }

    fn elapsed(&self) -> Duration {
        Clock::now().saturating_sub(self.0)
    }
}

fn mbps(bytes: usize, t: Duration) -> f64 {
    bytes as f64 / t.as_secs_f64() / 1e6
}

fn main() {
    let tier = BaselineTier::new();
    let files: Vec<String> = std::env::args().skip(1).collect();
    println!(
        "{:<28} {:>10} {:>10} {:>10} {:>10} {:>8} {:>10}",
        "module", "bytes", "validate", "compile", "both", "unsupp", "code/wasm"
    );
    for file in files {
        let bytes = std::fs::read(&file).expect("read");
        let name = std::path::Path::new(&file)
            .file_name()
            .map_or(file.clone(), |n| n.to_string_lossy().into_owned());
        let mut best = [Duration::MAX; 3];
        let mut unsupported = 0;
        let mut features = std::collections::BTreeMap::new();
        let mut code = 0usize;
        let mut body_bytes = 0usize;
        let only_both = std::env::var("ONLY_BOTH").is_ok();
        let rounds = if only_both { 20 } else { 3 };
        for _round in 0..rounds {
            let (env, bodies, js) = jobs(&bytes);
            let offsets = VmOffsets::for_host(&env).expect("layout");
            let body = |&(index, offset, len): &(u32, u64, usize)| FunctionBody {
                index,
                offset,
                bytes: &bytes[offset as usize..offset as usize + len],
            };
            // Validation alone.
            let (_, _, js2) = jobs(&bytes);
            if !only_both {
                let mut allocs = Default::default();
                let t = Clock::start();
                for (b, j) in bodies.iter().zip(js2) {
                    let mut v = j.into_validator(allocs);
                    v.validate_body(&body(b)).expect("valid");
                    allocs = v.into_allocations();
                }
                best[0] = best[0].min(t.elapsed());
                // Compile only.
                let t = Clock::start();
                for b in &bodies {
                    let _ = tier.compile(&env, b.0, body(b), &offsets, &OPTIONS);
                }
                best[1] = best[1].min(t.elapsed());
            }
            // Validate and compile in one walk.
            unsupported = 0;
            features.clear();
            code = 0;
            body_bytes = 0;
            let t = Clock::start();
            for (b, j) in bodies.iter().zip(js) {
                match tier.compile_validating(&env, b.0, body(b), &offsets, &OPTIONS, j) {
                    Ok(f) => {
                        code += f.code.len();
                        body_bytes += b.2;
                    }
                    Err(rung_tiering::CompileError::Unsupported { feature, .. }) => {
                        unsupported += 1;
                        *features.entry(feature).or_insert(0usize) += 1;
                    }
                    Err(e) => panic!("{name}: function {}: {e}", b.0),
                }
            }
            best[2] = best[2].min(t.elapsed());
        }
        for (f, n) in &features {
            println!("{name}: {n} functions unsupported: {f}");
        }
        if std::env::var("OPTIMIZER").is_ok() {
            let (env, bodies, _) = jobs(&bytes);
            let offsets = VmOffsets::for_host(&env).expect("layout");
            let opt = rung_optimizer::OptimizingTier::new().expect("host");
            let t = Clock::start();
            for &(index, offset, len) in &bodies {
                let body = FunctionBody {
                    index,
                    offset,
                    bytes: &bytes[offset as usize..offset as usize + len],
                };
                let _ = opt.compile(&env, index, body, &offsets, &CompileOptions::default());
            }
            let t = t.elapsed();
            println!(
                "{name}: optimizer {:.2} MB/s; baseline (validating) is {:.1}x faster",
                mbps(bytes.len(), t),
                t.as_secs_f64() / best[2].as_secs_f64()
            );
        }
        println!(
            "{:<28} {:>10} {:>7.1} MB/s {:>5.1} MB/s {:>5.1} MB/s {:>8} {:>9.1}x",
            name,
            bytes.len(),
            mbps(bytes.len(), best[0]),
            mbps(bytes.len(), best[1]),
            mbps(bytes.len(), best[2]),
            unsupported,
            code as f64 / body_bytes.max(1) as f64
        );
    }
}
