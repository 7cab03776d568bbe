//! Run time of a kernel's `run` export on the optimizing and the baseline
//! tier, interleaved, best of N (to see through a noisy machine):
//! `cargo run --release -p rung-baseline --example kernel -- FILE.wat [N]`.

use std::time::{Duration, Instant};

use rung_runtime::{Config, Engine, Linker, Module, Store, TierChoice};

fn main() {
    let mut args = std::env::args().skip(1);
    let path = args.next().expect("a .wat or .wasm file");
    let n: usize = args.next().and_then(|s| s.parse().ok()).unwrap_or(10);
    let bytes = if path.ends_with(".wat") {
        wat::parse_file(&path).expect("wat")
    } else {
        std::fs::read(&path).expect("read")
    };
    let tiers = [TierChoice::Optimized, TierChoice::Baseline];
    let mut best = [Duration::MAX; 2];
    let mut results = [String::new(), String::new()];
    let rigs: Vec<_> = tiers
        .iter()
        .map(|&tier| {
            let engine = Engine::new(Config { ..tier.config() }).expect("engine");
            let module = Module::new(&engine, &bytes).expect("compiles");
            (engine, module)
        })
        .collect();
    for _ in 0..n {
        for (k, (engine, module)) in rigs.iter().enumerate() {
            let mut store = Store::new(engine);
            let inst = Linker::new()
                .instantiate(&mut store, module)
                .expect("instantiates");
            let run = inst.get_func(&store, "run").expect("run export");
            let t = Instant::now();
            let r = run.call(&mut store, &[]).expect("runs");
            best[k] = best[k].min(t.elapsed());
            results[k] = format!("{r:?}");
        }
    }
    assert_eq!(results[0], results[1], "results differ");
    println!(
        "{path}: optimized {:.2} ms, baseline {:.2} ms ({:.2}x)",
        best[0].as_secs_f64() * 1e3,
        best[1].as_secs_f64() * 1e3,
        best[1].as_secs_f64() / best[0].as_secs_f64()
    );
}
