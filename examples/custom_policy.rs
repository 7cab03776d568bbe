//! A tier-up policy of one's own, plugged into rung without touching its
//! crates: `cargo run --release --example custom_policy -- [calls|size|small]`.
//!
//! A `TierUpPolicy` answers two questions: what budget a function starts
//! with (`initial_budget`: the code subtracts 40 per call and 20 per loop
//! iteration, and calls the runtime when it runs out), and what to do then
//! (`on_budget_exhausted`: promote to a level, wait another budget, or
//! not now). This example runs `examples/fib.wat` under three of them and
//! prints which functions each promoted:
//!
//! - `calls`: rung's default, promote after 1000 calls;
//! - `size`: promote after about 20,000 bytes of body executed, so a small
//!   function needs many calls and a large one few;
//! - `small`: the default for functions under 64 bytes of body, never for
//!   larger ones.

use std::sync::Arc;

use rung::runtime::{Config, Engine, Linker, Module, Store, TierChoice, Val};
use rung::tiering::{BUDGET_COST_CALL, CallCountPolicy, HotFunction, TierUpDecision, TierUpPolicy};

/// Promotes after about `work` bytes of the function's body have run.
struct SizeScaled {
    work: u32,
}

impl TierUpPolicy for SizeScaled {
    fn initial_budget(&self, _func: u32, body_size: u32, _level: usize) -> i32 {
        let calls = (self.work / body_size.max(1)).max(1);
        i32::try_from(calls).map_or(i32::MAX, |c| c.saturating_mul(BUDGET_COST_CALL))
    }

    fn on_budget_exhausted(&self, hot: &HotFunction) -> TierUpDecision {
        TierUpDecision::Promote(hot.next_level())
    }
}

/// The default policy for small functions; large ones stay where they are.
struct SmallOnly {
    max_body: u32,
    inner: CallCountPolicy,
}

impl TierUpPolicy for SmallOnly {
    fn initial_budget(&self, func: u32, body_size: u32, level: usize) -> i32 {
        self.inner.initial_budget(func, body_size, level)
    }

    fn on_budget_exhausted(&self, hot: &HotFunction) -> TierUpDecision {
        if hot.body_size > self.max_body {
            TierUpDecision::Never
        } else {
            self.inner.on_budget_exhausted(hot)
        }
    }
}

/// The policy called `name`.
fn policy(name: &str) -> Option<Arc<dyn TierUpPolicy>> {
    Some(match name {
        "calls" => Arc::new(CallCountPolicy::default()),
        "size" => Arc::new(SizeScaled { work: 20_000 }),
        "small" => Arc::new(SmallOnly {
            max_body: 64,
            inner: CallCountPolicy::default(),
        }),
        _ => return None,
    })
}

/// Runs the workload under policy `name`; returns what it printed.
fn run(name: &str) -> Result<String, String> {
    let policy = policy(name).ok_or_else(|| format!("no policy `{name}` (calls, size, small)"))?;
    let engine = Engine::new(Config {
        tier_up_policy: policy,
        // Deterministic: a hot function is compiled before the call goes on.
        tier_up_in_background: false,
        ..TierChoice::Tiered.config()
    })?;
    let wat = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/examples/fib.wat"))
        .map_err(|e| e.to_string())?;
    let bytes = wat::parse_str(&wat).map_err(|e| e.to_string())?;
    let module = Module::new(&engine, &bytes).map_err(|e| e.to_string())?;
    let mut store = Store::new(&engine);
    let instance = Linker::new()
        .instantiate(&mut store, &module)
        .map_err(|e| e.to_string())?;
    let mut out = String::new();
    let mut promoted_before = 0;
    for (export, arg, times) in [
        ("fib_iter", 90, 30),
        ("fib_rec", 20, 1),
        ("sieve", 50_000, 1),
    ] {
        let f = instance
            .get_func(&store, export)
            .ok_or_else(|| format!("no export {export}"))?;
        let mut result = Vec::new();
        for _ in 0..times {
            result = f
                .call(&mut store, &[Val::I32(arg)])
                .map_err(|t| t.to_string())?;
        }
        let promoted = engine.tier_ups() - promoted_before;
        promoted_before = engine.tier_ups();
        out += &format!(
            "{name}: {export}({arg}) x{times} = {:?}, {promoted} promoted\n",
            result[0]
        );
    }
    Ok(out)
}

fn main() -> std::process::ExitCode {
    let name = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "size".to_string());
    match run(&name) {
        Ok(out) => {
            print!("{out}");
            std::process::ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("custom_policy: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::run;

    #[test]
    fn each_policy_promotes_what_it_says() {
        // The default: fib_iter's 30 calls and 2700 iterations are over
        // 1000 calls' worth; fib_rec's 21,891 calls are; sieve's loops are.
        assert_eq!(
            run("calls").unwrap(),
            "calls: fib_iter(90) x30 = I64(2880067194370816120), 1 promoted\n\
             calls: fib_rec(20) x1 = I64(6765), 1 promoted\n\
             calls: sieve(50000) x1 = I32(5133), 1 promoted\n"
        );
        // By size: the same three, each after less or more work.
        assert_eq!(
            run("size").unwrap(),
            "size: fib_iter(90) x30 = I64(2880067194370816120), 1 promoted\n\
             size: fib_rec(20) x1 = I64(6765), 1 promoted\n\
             size: sieve(50000) x1 = I32(5133), 1 promoted\n"
        );
        // Small only: sieve's body is over 64 bytes: it stays baseline.
        assert_eq!(
            run("small").unwrap(),
            "small: fib_iter(90) x30 = I64(2880067194370816120), 1 promoted\n\
             small: fib_rec(20) x1 = I64(6765), 1 promoted\n\
             small: sieve(50000) x1 = I32(5133), 0 promoted\n"
        );
        assert!(run("nope").is_err());
    }
}
