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
//! Every later call through the slot, from any instance, runs the new
//! code. A frame already running old code finishes in it, unless it keeps
//! looping after the promotion: then its back-edge asks for an OSR entry
//! of that loop ([`osr_switch`]; see ARCHITECTURE.md "On-stack
//! replacement").
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
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use rung_tiering::{BUDGET_COST_CALL, HotFunction, TierUpDecision};

use crate::engine::Engine;
use crate::libcalls::OsrTarget;
use crate::module::{Module, ModuleInner, OsrEntry};
use crate::scheduler::{Priority, Scheduler};
use rung_tiering::osr::OsrSource;

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

    /// Whether a promotion is queued (not stuck).
    pub fn queued(&self) -> bool {
        let queued = self.0.load(Ordering::Acquire) >> 8;
        queued != NOT_QUEUED && queued != STUCK
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

/// A function to promote, or an OSR entry to compile.
struct Job {
    module: Weak<ModuleInner>,
    func: u32,
    what: Work,
    /// When it was requested (for the queue-wait statistics).
    requested: Instant,
}

enum Work {
    /// Compile the function from this level up.
    Promote(usize),
    /// Compile its OSR entry at the loop at this offset.
    OsrEntry(u32),
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
    /// How long each job waited from its request to its start, in
    /// microseconds (the first [`MAX_WAITS_KEPT`]).
    waits: Mutex<Vec<u32>>,
}

/// Queue waits kept for the statistics: 4 MiB at most.
const MAX_WAITS_KEPT: usize = 1 << 20;

#[derive(Default)]
struct QueueState {
    waiting: VecDeque<Job>,
    running: usize,
}

impl QueueState {
    /// The job to run next: an OSR entry (they wait at the front), else
    /// the hottest waiting promotion, the one whose function ran its budget
    /// out most often (while it waited, too), the oldest among equals. As
    /// HotSpot's compile queue takes the method with the highest event
    /// rate: when more functions get hot than the tier-up threads can
    /// compile (cc1: ~1,900 compiled of ~3,000 hot in a run), the order
    /// decides which ones the program runs optimized.
    fn next(&mut self) -> Option<Job> {
        if let Some(Job {
            what: Work::OsrEntry(_),
            ..
        }) = self.waiting.front()
        {
            return self.waiting.pop_front();
        }
        let heat = |job: &Job| {
            let Some(module) = job.module.upgrade() else {
                // Discarding it is cheap: do it first.
                return u32::MAX;
            };
            let defined = module.offsets.defined_func_index(job.func);
            match (module.bodies.as_ref(), defined) {
                (Some(bodies), Some(d)) => bodies.heat(d as usize),
                _ => 0,
            }
        };
        let mut best: Option<(usize, u32)> = None;
        for (i, job) in self.waiting.iter().enumerate() {
            let h = heat(job);
            if best.is_none_or(|(_, b)| h > b) {
                best = Some((i, h));
            }
        }
        self.waiting.remove(best?.0)
    }
}

impl Queue {
    fn new(scheduler: Arc<Scheduler>, limit: usize) -> Queue {
        Queue {
            scheduler,
            limit: limit.max(1),
            state: Mutex::new(QueueState::default()),
            discarded: AtomicUsize::new(0),
            refused: AtomicUsize::new(0),
            waits: Mutex::new(Vec::new()),
        }
    }

    fn waited(&self, wait: Duration) {
        let mut waits = self.waits.lock();
        if waits.len() < MAX_WAITS_KEPT {
            waits.push(u32::try_from(wait.as_micros()).unwrap_or(u32::MAX));
        }
    }

    /// The median and the longest wait from request to start, of the jobs
    /// started so far (zero when none has).
    pub fn wait_median_max(&self) -> (Duration, Duration) {
        let mut waits = self.waits.lock().clone();
        if waits.is_empty() {
            return (Duration::ZERO, Duration::ZERO);
        }
        waits.sort_unstable();
        let micros = |m: u32| Duration::from_micros(u64::from(m));
        (
            micros(waits[waits.len() / 2]),
            micros(waits[waits.len() - 1]),
        )
    }

    /// (waiting, running) jobs.
    pub fn counts(&self) -> (usize, usize) {
        let st = self.state.lock();
        (st.waiting.len(), st.running)
    }

    /// Queues `job`; false if the queue is full.
    fn push(self: &Arc<Queue>, job: Job) -> bool {
        match job.what {
            Work::Promote(level) => {
                tracing::info!(name: "tier-up request", func = job.func, to_level = level);
            }
            Work::OsrEntry(loop_offset) => {
                tracing::info!(name: "OSR entry request", func = job.func, loop_offset);
            }
        }
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
        // An OSR entry goes first: a frame is running that loop now, and
        // waits for it on every budget; a promotion only speeds up calls
        // yet to come. Among entries, the newest first: the loop that ran
        // its budget out last is the one most likely still running.
        match job.what {
            Work::OsrEntry(_) => st.waiting.push_front(job),
            Work::Promote(_) => st.waiting.push_back(job),
        }
        true
    }

    /// Runs `job` as background work, then the next waiting one.
    fn start(self: &Arc<Queue>, job: Job) {
        let queue = self.clone();
        self.scheduler.spawn(Priority::Background, move || {
            queue.waited(job.requested.elapsed());
            let ran = catch_unwind(AssertUnwindSafe(|| match job.module.upgrade() {
                Some(module) => match job.what {
                    Work::Promote(level) => module.promote(job.func, level, false),
                    Work::OsrEntry(loop_offset) => module.compile_osr(job.func, loop_offset, false),
                },
                None => {
                    queue.discarded.fetch_add(1, Ordering::Relaxed);
                }
            }));
            drop(ran);
            let next = {
                let mut st = queue.state.lock();
                let next = st.next();
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
/// budget. Returns whether the function is hot: promoted, queued for it,
/// or already at the top while this frame runs older code (what makes a
/// frame's loop worth an OSR switch).
pub(crate) fn budget_exhausted(module: &Module, func: u32) -> bool {
    let inner = &module.inner;
    let Some(defined) = inner.offsets.defined_func_index(func).map(|d| d as usize) else {
        return false;
    };
    let budget = &inner.budgets[defined];
    let state = &inner.tier_states[defined];
    let Some(bodies) = inner.bodies.as_ref() else {
        budget.store(FULL, Ordering::Relaxed);
        return false;
    };
    let engine: &Engine = &bodies.engine;
    let level = state.level();
    let top = engine.top_level();
    if !engine.config().tier_up {
        budget.store(FULL, Ordering::Relaxed);
        return false;
    }
    let policy = &engine.config().tier_up_policy;
    let len = bodies.body_len(defined) as u32;
    // Once the function is hot, frames of older code still running its
    // loops come back after a budget to look for an OSR entry (the new
    // code does not count, so this costs nothing once they are gone).
    let hot_budget = if engine.config().osr {
        policy.initial_budget(func, len, level)
    } else {
        FULL
    };
    // Still waiting in the queue: count how hot it is (the queue takes the
    // hottest first) and come back after another budget.
    if state.queued() && level < top {
        bodies.exhausted(defined);
        budget.store(policy.initial_budget(func, len, level), Ordering::Relaxed);
        return true;
    }
    // Nothing to decide: stuck (a promotion failed), or at the top while a
    // long-running frame of old code ran its budget out again.
    if level >= top || state.busy() {
        budget.store(hot_budget, Ordering::Relaxed);
        return true;
    }
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
            let after = hot_budget;
            budget.store(after, Ordering::Relaxed);
            if !state.try_queue(level, target) {
                return true;
            }
            if !engine.config().tier_up_in_background {
                inner.promote(func, target, true);
                budget.store(after, Ordering::Relaxed);
                return true;
            }
            let job = Job {
                module: Arc::downgrade(inner),
                func,
                what: Work::Promote(target),
                requested: Instant::now(),
            };
            if !engine.tier_up_queue().push(job) {
                // Full: refused; ask again after a whole budget.
                state.unqueue();
                budget.store(policy.initial_budget(func, len, level), Ordering::Relaxed);
                return false;
            }
            true
        }
        TierUpDecision::Reset(n) => {
            budget.store(n, Ordering::Relaxed);
            false
        }
        TierUpDecision::Promote(_) | TierUpDecision::Never => {
            budget.store(FULL, Ordering::Relaxed);
            false
        }
    }
}

thread_local! {
    /// The OSR buffer of this thread: an entry reads it before anything
    /// else, so one per thread is enough.
    static OSR_BUFFER: std::cell::Cell<Vec<u64>> = const { std::cell::Cell::new(Vec::new()) };
}

/// Called by the `TierUpOsr` libcall from a loop back-edge of code that
/// recorded OSR exits: the usual tier-up bookkeeping, then, if the function
/// is hot and an OSR entry for the loop exists, the frame's values in the
/// OSR layout and the entry to jump to. The first time a hot loop asks, its
/// entry is compiled (in the background, or at once in a deterministic
/// engine); meanwhile the frame asks again after a budget.
///
/// # Safety
///
/// `frame` is the frame pointer of the calling code's frame, `saved` its
/// tier-up routine's save area, and `at` that routine's return address, as
/// `Libcall::TierUpOsr` passes them: the exit's sources are read from them.
pub(crate) unsafe fn osr_switch(
    module: &Module,
    func: u32,
    frame: *const u8,
    saved: *const u8,
    at: usize,
) -> OsrTarget {
    let stay = OsrTarget {
        entry: 0,
        buffer: 0,
    };
    if !budget_exhausted(module, func) {
        return stay;
    }
    let inner = &module.inner;
    let (Some(bodies), Some(defined)) = (
        inner.bodies.as_ref(),
        inner.offsets.defined_func_index(func).map(|d| d as usize),
    ) else {
        return stay;
    };
    let engine = &bodies.engine;
    let budget = &inner.budgets[defined];
    if !engine.config().osr {
        return stay;
    }
    let Some((f, exit)) = crate::code_memory::lookup_osr_exit(at) else {
        return stay;
    };
    if f != func {
        return stay;
    }
    // Only a frame that outlived its function's promotion moves: while
    // the promotion waits or compiles, the budget also runs out in frames
    // that will return long before an entry is ready (a function called
    // often whose loops run a few iterations per call), and their entries
    // would be compiled for nothing. Once the top tier's code is in the
    // slot, new calls do not count, so a budget that runs out comes from
    // a frame that has run a whole budget in its loop since then.
    if inner.tier_states[defined].level() < engine.top_level() {
        return stay;
    }
    let key = (defined, exit.loop_offset);
    let recheck = || {
        let len = bodies.body_len(defined) as u32;
        let level = inner.tier_states[defined].level();
        engine
            .config()
            .tier_up_policy
            .initial_budget(func, len, level)
    };
    // Looked up and, the first time, claimed under one lock: one compile.
    let state = {
        let mut entries = inner.osr_entries.lock();
        let state = entries.get(&key).copied();
        if state.is_none() {
            entries.insert(key, OsrEntry::Pending);
        }
        state
    };
    let entry = match state {
        Some(OsrEntry::Ready(entry)) => entry,
        // No entry at this loop; another loop of the frame may have one,
        // so the budget runs out again (a lookup per budget, no compile).
        Some(OsrEntry::Failed) => {
            budget.store(recheck(), Ordering::Relaxed);
            return stay;
        }
        Some(OsrEntry::Pending) => {
            budget.store(recheck(), Ordering::Relaxed);
            return stay;
        }
        None => {
            if engine.config().tier_up_in_background {
                let job = Job {
                    module: Arc::downgrade(&module.inner),
                    func,
                    what: Work::OsrEntry(exit.loop_offset),
                    requested: Instant::now(),
                };
                if !engine.tier_up_queue().push(job) {
                    inner.osr_entries.lock().remove(&key);
                }
                budget.store(recheck(), Ordering::Relaxed);
                return stay;
            }
            inner.compile_osr(func, exit.loop_offset, true);
            match inner.osr_entries.lock().get(&key) {
                Some(&OsrEntry::Ready(entry)) => entry,
                _ => {
                    budget.store(recheck(), Ordering::Relaxed);
                    return stay;
                }
            }
        }
    };
    let mut buffer = OSR_BUFFER.take();
    buffer.clear();
    for source in &exit.values {
        buffer.push(match *source {
            // SAFETY: the exit describes this frame: its slots are 8
            // readable bytes at these offsets from its frame pointer.
            OsrSource::Frame(disp) => unsafe {
                frame.offset(disp as isize).cast::<u64>().read_unaligned()
            },
            OsrSource::Const(bits) => bits,
            // SAFETY: the routine's save area holds 8 bytes per saved
            // register, in the order the exit's indices count.
            OsrSource::Saved(i) => unsafe {
                saved.add(8 * usize::from(i)).cast::<u64>().read_unaligned()
            },
        });
    }
    let pointer = buffer.as_ptr() as usize;
    OSR_BUFFER.set(buffer);
    // The switch leaves the frame: nothing of it counts any more.
    budget.store(FULL, Ordering::Relaxed);
    engine.inner.osr_switches.fetch_add(1, Ordering::Relaxed);
    OsrTarget {
        entry,
        buffer: pointer,
    }
}
