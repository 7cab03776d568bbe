//! Tier-up: baseline code that used up its budget calls the `TierUp`
//! libcall; the engine's policy decides; a hot function is compiled again by
//! the optimizing tier, on background threads fed by a crossbeam channel,
//! and its slot is patched when the code is ready.
//!
//! ```text
//! baseline prologue / loop back-edge: budget -= cost; if budget <= 0: TierUp(vmctx, f)
//!   TierUp → policy.on_budget_exhausted(f) → Optimize: budget = i32::MAX, queue (module, f)
//!   worker → ModuleInner::optimize(f) → new CodeMemory → slot[f] = code   (one atomic store)
//! ```
//!
//! There is no on-stack replacement: a frame already running baseline code
//! finishes in it (its loop keeps running baseline code); every later call
//! through the slot, from any instance, runs the optimized code.
//!
//! **Invariant:** the workers hold a `Module` only while they compile it; the
//! channel's sender lives in the engine, so the workers end with it.

use std::sync::atomic::Ordering;

use crossbeam_channel::Sender;
use rung_tiering::{BUDGET_COST_CALL, TierUpDecision};

use crate::engine::Engine;
use crate::module::Module;

/// A function to optimize.
struct Job {
    module: Module,
    func: u32,
}

/// The background workers' queue.
pub(crate) struct Queue {
    sender: Sender<Job>,
}

fn start(threads: usize) -> Queue {
    let (sender, receiver) = crossbeam_channel::unbounded::<Job>();
    for i in 0..threads.max(1) {
        let receiver = receiver.clone();
        // A worker that cannot start leaves its share to the others; with
        // none at all, queued functions simply stay on the baseline tier.
        let _ = std::thread::Builder::new()
            .name(format!("rung-tier-up-{i}"))
            .stack_size(16 << 20)
            .spawn(move || {
                for job in receiver {
                    // A function the optimizer cannot compile keeps running
                    // its baseline code.
                    let _ = job.module.inner.optimize(job.func, false);
                }
            });
    }
    Queue { sender }
}

/// Called by the `TierUp` libcall: function `func` of `module` used up its
/// budget.
pub(crate) fn budget_exhausted(module: &Module, func: u32) {
    let inner = &module.inner;
    let Some(defined) = inner.offsets.defined_func_index(func).map(|d| d as usize) else {
        return;
    };
    let budget = &inner.budgets[defined];
    let Some(bodies) = inner.bodies.as_ref() else {
        budget.store(i32::MAX, Ordering::Relaxed);
        return;
    };
    let engine: &Engine = &bodies.engine;
    let policy = &engine.config().tier_up_policy;
    let len = bodies.body_len(defined);
    let per_round = u64::try_from(policy.initial_budget(func, len as u32) / BUDGET_COST_CALL)
        .unwrap_or(0)
        .max(1);
    let rounds = bodies.exhausted(defined);
    match policy.on_budget_exhausted(func, rounds * per_round) {
        TierUpDecision::Optimize => {
            budget.store(i32::MAX, Ordering::Relaxed);
            if engine.config().tier_up_in_background {
                let queue = engine
                    .inner
                    .tier_up_queue
                    .get_or_init(|| start(engine.config().tier_up_threads));
                let _ = queue.sender.send(Job {
                    module: module.clone(),
                    func,
                });
            } else {
                let _ = inner.optimize(func, true);
            }
        }
        TierUpDecision::Reset(n) => budget.store(n, Ordering::Relaxed),
        TierUpDecision::Never => budget.store(i32::MAX, Ordering::Relaxed),
    }
}
