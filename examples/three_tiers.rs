//! A third tier plugged into rung's ladder without touching its crates:
//! `cargo run --release --example three_tiers`.
//!
//! The ladder here is the baseline, then Cranelift without optimizations
//! (quick to compile, counting its own tier-up budget), then Cranelift at
//! `opt_level=speed`. Any `Arc<dyn Tier>` can stand on a ladder; this one
//! wraps each tier in `Counted` to show which compiled what. A hot
//! function climbs one level at a time (`CallCountPolicy` promotes to the
//! next level), so `fib_rec` goes baseline → quick optimizer → optimizer.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use rung::optimizer::OptimizingTier;
use rung::runtime::{Config, Engine, Linker, Module, Store, TierChoice, Val};
use rung::tiering::{
    CallCountPolicy, CompileError, CompileOptions, CompiledFunction, FunctionBody, ModuleEnv, Tier,
    VmOffsets,
};

/// A tier that counts what it compiles.
struct Counted {
    name: &'static str,
    inner: Arc<dyn Tier>,
    compiled: AtomicUsize,
}

impl Tier for Counted {
    fn name(&self) -> &'static str {
        self.name
    }

    fn compile(
        &self,
        env: &ModuleEnv,
        index: u32,
        body: FunctionBody<'_>,
        offsets: &VmOffsets,
        options: &CompileOptions,
    ) -> Result<CompiledFunction, CompileError> {
        let f = self.inner.compile(env, index, body, offsets, options)?;
        self.compiled.fetch_add(1, Ordering::Relaxed);
        Ok(f)
    }
}

fn counted(name: &'static str, inner: Arc<dyn Tier>) -> Arc<Counted> {
    Arc::new(Counted {
        name,
        inner,
        compiled: AtomicUsize::new(0),
    })
}

/// Runs `fib_rec(n)` on the three-level ladder; returns what it printed.
fn run(n: i32) -> Result<String, String> {
    let quick =
        OptimizingTier::with_settings(&[("opt_level", "none")]).map_err(|e| e.to_string())?;
    let full = OptimizingTier::new().map_err(|e| e.to_string())?;
    let ladder = [
        counted("baseline", Arc::new(rung::baseline::BaselineTier::new())),
        counted("optimizer (opt_level=none)", Arc::new(quick)),
        counted("optimizer (opt_level=speed)", Arc::new(full)),
    ];
    let engine = Engine::new(Config {
        tiers: ladder.iter().map(|t| t.clone() as Arc<dyn Tier>).collect(),
        tier_up_policy: Arc::new(CallCountPolicy::new(100)),
        // Deterministic: a hot function is compiled before the call goes on.
        tier_up_in_background: false,
        ..TierChoice::Tiered.config()
    })?;
    let wat = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/examples/fib.wat"))
        .map_err(|e| e.to_string())?;
    let module = Module::new(&engine, &wat::parse_str(&wat).map_err(|e| e.to_string())?)
        .map_err(|e| e.to_string())?;
    let mut store = Store::new(&engine);
    let instance = Linker::new()
        .instantiate(&mut store, &module)
        .map_err(|e| e.to_string())?;
    let fib = instance.get_func(&store, "fib_rec").ok_or("no fib_rec")?;
    let result = fib
        .call(&mut store, &[Val::I32(n)])
        .map_err(|t| t.to_string())?;
    let mut out = format!("fib_rec({n}) = {:?}\n", result[0]);
    for (level, tier) in ladder.iter().enumerate() {
        out += &format!(
            "level {level}, {}: {} functions compiled\n",
            tier.name,
            tier.compiled.load(Ordering::Relaxed)
        );
    }
    out += &format!("{} promotions\n", engine.tier_ups());
    Ok(out)
}

fn main() -> std::process::ExitCode {
    match run(25) {
        Ok(out) => {
            print!("{out}");
            std::process::ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("three_tiers: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::run;

    #[test]
    fn a_hot_function_climbs_every_level() {
        // The module's three functions start at the baseline; fib_rec is
        // called 242,785 times: it is promoted twice, once per level.
        assert_eq!(
            run(25).unwrap(),
            "fib_rec(25) = I64(75025)\n\
             level 0, baseline: 3 functions compiled\n\
             level 1, optimizer (opt_level=none): 1 functions compiled\n\
             level 2, optimizer (opt_level=speed): 1 functions compiled\n\
             2 promotions\n"
        );
    }
}
