//! Tier-up: code below the top of the ladder that used up its budget calls
//! the `TierUp` libcall; the engine's policy decides; a hot function is
//! compiled again further up the ladder, on background threads fed by a
//! crossbeam channel, and its slot is patched when the code is ready.
//!
//! ```text
//! counting code, prologue / loop back-edge: budget -= cost; if budget <= 0: TierUp(vmctx, f)
//!   TierUp → state(f) not queued, below the top? → policy.on_budget_exhausted(f)
//!          → Promote(level): CAS state "queued for level"; the winner queues (module, f, level)
//!   worker → ModuleInner::promote(f, level) → new CodeMemory → budget, slot[f] = code, state
//! ```
//!
//! There is no on-stack replacement yet: a frame already running old code
//! finishes in it (its loop keeps running it); every later call through the
//! slot, from any instance, runs the new code.
//!
//! **Invariant:** each defined function has one [`TierState`] word: the
//! level of its slot's code and the level it is queued for. Only the thread
//! whose compare-and-swap marks it queued enqueues it, so a function is
//! compiled at most once per level, however many threads find it hot at
//! once and however often a long-running frame of old code runs its budget
//! out again.
//!
//! **Invariant:** a queued job holds its module weakly: a job whose module
//! has been dropped is discarded without compiling. At most
//! [`MAX_PENDING`] jobs wait; a request beyond that is refused (the
//! function stays where it is and its budget starts over).

use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering};
use std::sync::{Arc, Weak};

use crossbeam_channel::Sender;
use rung_tiering::{BUDGET_COST_CALL, HotFunction, TierUpDecision};

use crate::engine::Engine;
use crate::module::{Module, ModuleInner};

/// How many tier-up jobs may wait for a worker at once.
pub const MAX_PENDING: usize = 1024;

/// A function's place on the tier ladder: the level of the code in its slot
/// and the level it is queued for, in one atomic word (bits 0–7: level;
/// bits 8–15: queued level + 1, 0 when not queued, `STUCK` when it may
/// never climb again).
pub(crate) struct TierState(AtomicU32);

const NOT_QUEUED: u32 = 0;
/// Compiling it further failed: it stays where it is.
const STUCK: u32 = 0xff;

impl TierState {
    pub fn new(level: usize) -> TierState {
        TierState(AtomicU32::new(level as u32 & 0xff))
    }

    /// The level of the code in the slot.
    pub fn level(&self) -> usize {
        (self.0.load(Ordering::Acquire) & 0xff) as usize
    }

    /// Whether a promotion is queued (or the function may not climb).
    pub fn busy(&self) -> bool {
        self.0.load(Ordering::Acquire) >> 8 != NOT_QUEUED
    }

    /// Marks the function queued for `target`, if it is at `level` and
    /// nothing is queued; true for the one caller that did.
    pub fn try_queue(&self, level: usize, target: usize) -> bool {
        let idle = level as u32;
        let queued = idle | ((target as u32 + 1) << 8);
        self.0
            .compare_exchange(idle, queued, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
    }

    /// Code of `level` is in the slot; nothing is queued.
    pub fn published(&self, level: usize) {
        self.0.store(level as u32 & 0xff, Ordering::Release);
    }

    /// A queued request was dropped: the function may be queued again.
    pub fn unqueue(&self) {
        let level = self.0.load(Ordering::Acquire) & 0xff;
        self.0.store(level, Ordering::Release);
    }

    /// Promotion failed: the function never climbs again.
    pub fn stuck(&self) {
        let level = self.0.load(Ordering::Acquire) & 0xff;
        self.0.store(level | (STUCK << 8), Ordering::Release);
    }
}

/// A function to promote.
struct Job {
    module: Weak<ModuleInner>,
    func: u32,
    level: usize,
}

/// The background workers' queue.
pub(crate) struct Queue {
    sender: Sender<Job>,
    /// Jobs sent and not yet taken by a worker.
    pub pending: Arc<AtomicUsize>,
    /// Jobs whose module was gone when a worker took them.
    pub discarded: Arc<AtomicUsize>,
    /// Requests refused because `MAX_PENDING` jobs were waiting.
    pub refused: AtomicUsize,
}

fn start(threads: usize) -> Queue {
    let (sender, receiver) = crossbeam_channel::unbounded::<Job>();
    let pending = Arc::new(AtomicUsize::new(0));
    let discarded = Arc::new(AtomicUsize::new(0));
    for i in 0..threads.max(1) {
        let receiver = receiver.clone();
        let (pending, discarded) = (pending.clone(), discarded.clone());
        // A worker that cannot start leaves its share to the others; with
        // none at all, queued functions simply stay where they are.
        let _ = std::thread::Builder::new()
            .name(format!("rung-tier-up-{i}"))
            .stack_size(16 << 20)
            .spawn(move || {
                for job in receiver {
                    pending.fetch_sub(1, Ordering::AcqRel);
                    match job.module.upgrade() {
                        Some(module) => module.promote(job.func, job.level, false),
                        None => {
                            discarded.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                }
            });
    }
    Queue {
        sender,
        pending,
        discarded,
        refused: AtomicUsize::new(0),
    }
}

impl Engine {
    /// The background tier-up queue, started on first use.
    pub(crate) fn tier_up_queue(&self) -> &Queue {
        self.inner
            .tier_up_queue
            .get_or_init(|| start(self.config().tier_up_threads))
    }
}

/// The budget that does not run out again for about 10^8 calls or
/// back-edges.
const FULL: i32 = i32::MAX;

/// Called by the `TierUp` libcall: function `func` of `module` used up its
/// budget.
pub(crate) fn budget_exhausted(module: &Module, func: u32) {
    let inner = &module.inner;
    let Some(defined) = inner.offsets.defined_func_index(func).map(|d| d as usize) else {
        return;
    };
    let budget = &inner.budgets[defined];
    let state = &inner.tier_states[defined];
    let Some(bodies) = inner.bodies.as_ref() else {
        budget.store(FULL, Ordering::Relaxed);
        return;
    };
    let engine: &Engine = &bodies.engine;
    let level = state.level();
    let top = engine.top_level();
    // Nothing to decide: already queued (another thread found it hot too,
    // or a long-running frame of old code ran its budget out again), at the
    // top, or in an engine whose functions do not climb.
    if !engine.config().tier_up || level >= top || state.busy() {
        budget.store(FULL, Ordering::Relaxed);
        return;
    }
    let policy = &engine.config().tier_up_policy;
    let len = bodies.body_len(defined) as u32;
    let per_round = u64::try_from(policy.initial_budget(func, len, level) / BUDGET_COST_CALL)
        .unwrap_or(0)
        .max(1);
    let rounds = bodies.exhausted(defined);
    let hot = HotFunction {
        func,
        body_size: len,
        level,
        top,
        calls_observed: rounds * per_round,
    };
    match policy.on_budget_exhausted(&hot) {
        TierUpDecision::Promote(target) if target > level && target <= top => {
            budget.store(FULL, Ordering::Relaxed);
            if !state.try_queue(level, target) {
                return;
            }
            if !engine.config().tier_up_in_background {
                inner.promote(func, target, true);
                return;
            }
            let queue = engine.tier_up_queue();
            if queue.pending.fetch_add(1, Ordering::AcqRel) >= MAX_PENDING {
                // Full: refuse, and ask again after a whole budget.
                queue.pending.fetch_sub(1, Ordering::AcqRel);
                queue.refused.fetch_add(1, Ordering::Relaxed);
                state.unqueue();
                budget.store(policy.initial_budget(func, len, level), Ordering::Relaxed);
                return;
            }
            let job = Job {
                module: Arc::downgrade(inner),
                func,
                level: target,
            };
            if queue.sender.send(job).is_err() {
                queue.pending.fetch_sub(1, Ordering::AcqRel);
                state.unqueue();
            }
        }
        TierUpDecision::Reset(n) => budget.store(n, Ordering::Relaxed),
        TierUpDecision::Promote(_) | TierUpDecision::Never => budget.store(FULL, Ordering::Relaxed),
    }
}
