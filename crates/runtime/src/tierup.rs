//! Tier-up: code below the top of the ladder that used up its budget calls
//! the `TierUp` libcall; the engine's policy decides; a hot function is
//! compiled again further up the ladder, as background work on the
//! engine's compile threads, and its slot is patched when the code is
//! ready.
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
//! `tier_up_threads` jobs run at once and [`MAX_PENDING`] wait; a request
//! beyond that is refused (the function stays where it is and its budget
//! starts over).

use std::collections::VecDeque;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering};
use std::sync::{Arc, Weak};

use parking_lot::Mutex;
use rung_tiering::{BUDGET_COST_CALL, HotFunction, TierUpDecision};

use crate::engine::Engine;
use crate::module::{Module, ModuleInner};
use crate::scheduler::{Priority, Scheduler};

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

/// Tier-up jobs on their way to the engine's compile threads: at most
/// `limit` (`Config::tier_up_threads`) run at once, as background work;
/// at most [`MAX_PENDING`] wait.
pub(crate) struct Queue {
    scheduler: Arc<Scheduler>,
    limit: usize,
    state: Mutex<QueueState>,
    /// Jobs whose module was gone when their turn came.
    pub discarded: AtomicUsize,
    /// Requests refused because `MAX_PENDING` jobs were waiting.
    pub refused: AtomicUsize,
}

#[derive(Default)]
struct QueueState {
    waiting: VecDeque<Job>,
    running: usize,
}

impl Queue {
    fn new(scheduler: Arc<Scheduler>, limit: usize) -> Queue {
        Queue {
            scheduler,
            limit: limit.max(1),
            state: Mutex::new(QueueState::default()),
            discarded: AtomicUsize::new(0),
            refused: AtomicUsize::new(0),
        }
    }

    /// (waiting, running) jobs.
    pub fn counts(&self) -> (usize, usize) {
        let st = self.state.lock();
        (st.waiting.len(), st.running)
    }

    /// Queues `job`; false if the queue is full.
    fn push(self: &Arc<Queue>, job: Job) -> bool {
        let mut st = self.state.lock();
        if st.running < self.limit {
            st.running += 1;
            drop(st);
            self.start(job);
            return true;
        }
        if st.waiting.len() >= MAX_PENDING {
            self.refused.fetch_add(1, Ordering::Relaxed);
            return false;
        }
        st.waiting.push_back(job);
        true
    }

    /// Runs `job` as background work, then the next waiting one.
    fn start(self: &Arc<Queue>, job: Job) {
        let queue = self.clone();
        self.scheduler.spawn(Priority::Background, move || {
            let ran = catch_unwind(AssertUnwindSafe(|| match job.module.upgrade() {
                Some(module) => module.promote(job.func, job.level, false),
                None => {
                    queue.discarded.fetch_add(1, Ordering::Relaxed);
                }
            }));
            drop(ran);
            let next = {
                let mut st = queue.state.lock();
                let next = st.waiting.pop_front();
                if next.is_none() {
                    st.running -= 1;
                }
                next
            };
            if let Some(job) = next {
                queue.start(job);
            }
        });
    }
}

impl Engine {
    /// The tier-up queue, made on first use.
    pub(crate) fn tier_up_queue(&self) -> &Arc<Queue> {
        self.inner.tier_up_queue.get_or_init(|| {
            Arc::new(Queue::new(
                self.inner.scheduler.clone(),
                self.config().tier_up_threads,
            ))
        })
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
            let job = Job {
                module: Arc::downgrade(inner),
                func,
                level: target,
            };
            if !engine.tier_up_queue().push(job) {
                // Full: refused; ask again after a whole budget.
                state.unqueue();
                budget.store(policy.initial_budget(func, len, level), Ordering::Relaxed);
            }
        }
        TierUpDecision::Reset(n) => budget.store(n, Ordering::Relaxed),
        TierUpDecision::Promote(_) | TierUpDecision::Never => budget.store(FULL, Ordering::Relaxed),
    }
}
