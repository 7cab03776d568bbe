//! One pool of compile threads per engine, fed by crossbeam channels of
//! three priorities, taken in order:
//!
//! ```text
//! urgent      a thread is blocked on it            lazy compilation (run_urgent)
//! normal      a module is being compiled           Module::new, streaming (Batch, Stream)
//! background  nobody waits for it                  tier-up (tierup::Queue)
//! ```
//!
//! A module compile is a [`Batch`] (or a [`Stream`] while bytes arrive):
//! the calling thread works on it too, and pool threads join it one job at
//! a time: a pool task runs one job and queues itself again, so more urgent
//! work waits for at most one function's compile, and a busy pool never
//! stalls `Module::new` (its own thread keeps going).
//!
//! **Invariant:** a worker never waits for another task, so the pool cannot
//! deadlock; only threads outside it (a `Module::new` caller, a lazy stub's
//! thread) wait, and only for work that is queued or running.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};

use crossbeam_channel::{Receiver, Sender, select_biased};
use parking_lot::{Condvar, Mutex};

/// How urgent a task is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Priority {
    Urgent = 0,
    Normal = 1,
    Background = 2,
}

type Task = Box<dyn FnOnce() + Send + 'static>;

/// The engine's compile threads.
pub(crate) struct Scheduler {
    threads: usize,
    senders: OnceLock<[Sender<Task>; 3]>,
}

/// The stack compile threads get: a compiler wants more than a deep wasm
/// call chain may have left, and Cranelift recurses.
const STACK: usize = 16 << 20;

impl Scheduler {
    /// A pool of `threads` workers, started on first use.
    pub fn new(threads: usize) -> Scheduler {
        Scheduler {
            threads: threads.max(1),
            senders: OnceLock::new(),
        }
    }

    fn senders(&self) -> &[Sender<Task>; 3] {
        self.senders.get_or_init(|| {
            let channels = [(); 3].map(|()| crossbeam_channel::unbounded::<Task>());
            let receivers: [Receiver<Task>; 3] = [
                channels[0].1.clone(),
                channels[1].1.clone(),
                channels[2].1.clone(),
            ];
            for i in 0..self.threads {
                let [urgent, normal, background] = receivers.clone();
                // A worker that cannot start leaves its share to the others
                // (and the callers of batches do their own work anyway).
                let _ = std::thread::Builder::new()
                    .name(format!("rung-compile-{i}"))
                    .stack_size(STACK)
                    .spawn(move || {
                        loop {
                            let task = select_biased! {
                                recv(urgent) -> t => t,
                                recv(normal) -> t => t,
                                recv(background) -> t => t,
                            };
                            match task {
                                // A task catches its own panics (see `spawn`).
                                Ok(task) => task(),
                                Err(_) => break,
                            }
                        }
                    });
            }
            channels.map(|(s, _)| s)
        })
    }

    /// Queues `task`; a panic in it is caught (and its result is whatever
    /// the task left behind: tasks record their outcome before they end).
    pub fn spawn(&self, priority: Priority, task: impl FnOnce() + Send + 'static) {
        let task: Task = Box::new(move || {
            let _ = catch_unwind(AssertUnwindSafe(task));
        });
        // The receivers live as long as the workers, which end only when
        // the senders are dropped with the scheduler.
        let _ = self.senders()[priority as usize].send(task);
    }

    /// Runs `f` on a pool thread as urgent work and waits for its result
    /// (the caller may be deep in wasm code, with little stack left).
    pub fn run_urgent<T: Send + 'static>(
        &self,
        f: impl FnOnce() -> T + Send + 'static,
    ) -> Option<T> {
        let (send, receive) = crossbeam_channel::bounded(1);
        self.spawn(Priority::Urgent, move || {
            let _ = send.send(f());
        });
        receive.recv().ok()
    }
}

impl Drop for Scheduler {
    fn drop(&mut self) {
        // Dropping the senders ends the workers once the queues are empty.
        self.senders.take();
    }
}

/// Jobs `0..count`, shared by the calling thread and pool threads.
pub(crate) struct Batch {
    next: AtomicUsize,
    count: usize,
    done: Mutex<usize>,
    all_done: Condvar,
    work: Box<dyn Fn(usize) + Send + Sync>,
}

impl Batch {
    /// Runs `work(i)` for every `i` in `0..count`, on the calling thread and
    /// on up to `helpers` pool threads at `priority`; returns when every
    /// job has run. `work` records its own results (and must not panic; a
    /// panic is caught and counts as the job done).
    pub fn run(
        scheduler: &Arc<Scheduler>,
        priority: Priority,
        helpers: usize,
        count: usize,
        work: impl Fn(usize) + Send + Sync + 'static,
    ) {
        if count == 0 {
            return;
        }
        let batch = Arc::new(Batch {
            next: AtomicUsize::new(0),
            count,
            done: Mutex::new(0),
            all_done: Condvar::new(),
            work: Box::new(work),
        });
        for _ in 0..helpers.min(count - 1) {
            Batch::token(&batch, scheduler, priority);
        }
        while batch.run_one() {}
        let mut done = batch.done.lock();
        while *done < count {
            batch.all_done.wait(&mut done);
        }
    }

    /// A pool task that runs one job, then queues itself again while jobs
    /// are left.
    fn token(batch: &Arc<Batch>, scheduler: &Arc<Scheduler>, priority: Priority) {
        let (b, s) = (batch.clone(), scheduler.clone());
        scheduler.spawn(priority, move || {
            if b.run_one() {
                Batch::token(&b, &s, priority);
            }
        });
    }

    /// Runs the next job, if any is left; false when none was.
    fn run_one(&self) -> bool {
        let i = self.next.fetch_add(1, Ordering::AcqRel);
        if i >= self.count {
            return false;
        }
        let _ = catch_unwind(AssertUnwindSafe(|| (self.work)(i)));
        let mut done = self.done.lock();
        *done += 1;
        if *done == self.count {
            self.all_done.notify_all();
        }
        true
    }
}

/// Jobs that arrive over time (a module's bodies while its bytes stream
/// in): `push` queues one, pool threads at normal priority take them one at
/// a time, and `finish` runs what is left on the calling thread and waits
/// for the rest.
pub(crate) struct Stream<J: Send + 'static> {
    scheduler: Arc<Scheduler>,
    jobs: Option<Sender<(J, usize)>>,
    shared: Arc<StreamShared<J>>,
}

struct StreamShared<J> {
    /// Each job with its weight.
    receiver: Receiver<(J, usize)>,
    /// The weight of the jobs waiting, and the most that may wait.
    weight: AtomicUsize,
    max_weight: usize,
    /// Pool tasks queued or running for this stream.
    tasks: Mutex<usize>,
    idle: Condvar,
    limit: usize,
    work: Box<dyn Fn(J) + Send + Sync>,
}

impl<J: Send + 'static> Stream<J> {
    /// A stream whose jobs `work` runs, on up to `helpers` pool threads at
    /// once; at most `capacity` jobs, of at most `max_weight` in all (one
    /// job alone may weigh more), wait (see `push` beyond that).
    pub fn new(
        scheduler: &Arc<Scheduler>,
        helpers: usize,
        capacity: usize,
        max_weight: usize,
        work: impl Fn(J) + Send + Sync + 'static,
    ) -> Stream<J> {
        let (jobs, receiver) = crossbeam_channel::bounded(capacity.max(1));
        Stream {
            scheduler: scheduler.clone(),
            jobs: Some(jobs),
            shared: Arc::new(StreamShared {
                receiver,
                weight: AtomicUsize::new(0),
                max_weight,
                tasks: Mutex::new(0),
                idle: Condvar::new(),
                limit: helpers.max(1),
                work: Box::new(work),
            }),
        }
    }

    /// Queues a job of `weight`; false if the stream has finished. While
    /// the queue is full (`capacity` jobs, or `max_weight` with this one),
    /// the caller runs the oldest itself instead of blocking: a source
    /// faster than the pool gets a compiler more (as a `Batch`'s caller
    /// works on its batch), and one slower than it never fills the queue.
    pub fn push(&self, job: J, weight: usize) -> bool {
        let Some(jobs) = &self.jobs else {
            return false;
        };
        let sh = &self.shared;
        let mut job = job;
        loop {
            let waiting = sh.weight.load(Ordering::Acquire);
            if waiting > 0
                && waiting.saturating_add(weight) > sh.max_weight
                && let Some(oldest) = sh.take()
            {
                let _ = catch_unwind(AssertUnwindSafe(|| (sh.work)(oldest)));
                continue;
            }
            // Counted before it is sent, so a taker never counts it down
            // first.
            sh.weight.fetch_add(weight, Ordering::AcqRel);
            match jobs.try_send((job, weight)) {
                Ok(()) => break,
                Err(crossbeam_channel::TrySendError::Full((back, _))) => {
                    sh.weight.fetch_sub(weight, Ordering::AcqRel);
                    job = back;
                    if let Some(oldest) = sh.take() {
                        let _ = catch_unwind(AssertUnwindSafe(|| (sh.work)(oldest)));
                    }
                }
                Err(crossbeam_channel::TrySendError::Disconnected(_)) => return false,
            }
        }
        let mut tasks = self.shared.tasks.lock();
        if *tasks < self.shared.limit {
            *tasks += 1;
            drop(tasks);
            Stream::task(&self.shared, &self.scheduler);
        }
        true
    }

    fn task(shared: &Arc<StreamShared<J>>, scheduler: &Arc<Scheduler>) {
        let (sh, s) = (shared.clone(), scheduler.clone());
        scheduler.spawn(Priority::Normal, move || match sh.take() {
            Some(job) => {
                let _ = catch_unwind(AssertUnwindSafe(|| (sh.work)(job)));
                Stream::task(&sh, &s);
            }
            None => {
                let mut tasks = sh.tasks.lock();
                *tasks -= 1;
                // A push may have queued a job after the `try_recv` and
                // found no room for another task: take it on.
                if !sh.receiver.is_empty() && *tasks < sh.limit {
                    *tasks += 1;
                    drop(tasks);
                    Stream::task(&sh, &s);
                    return;
                }
                if *tasks == 0 {
                    sh.idle.notify_all();
                }
            }
        });
    }

    /// No more jobs: runs what is queued on this thread too, and returns
    /// when every job has run.
    pub fn finish(mut self) {
        drop(self.jobs.take());
        while let Some(job) = self.shared.take() {
            let _ = catch_unwind(AssertUnwindSafe(|| (self.shared.work)(job)));
        }
        let mut tasks = self.shared.tasks.lock();
        while *tasks > 0 {
            self.shared.idle.wait(&mut tasks);
        }
        drop(tasks);
        // The pool task that ran last holds `shared` for a moment after it
        // said it is done: wait for it to let go, so that `work` (and all
        // its closure holds: a module's compile state) is dropped on this
        // thread before `finish` returns, not on a pool thread later.
        while Arc::strong_count(&self.shared) > 1 {
            std::thread::yield_now();
        }
    }
}

impl<J> StreamShared<J> {
    /// The oldest waiting job, if any.
    fn take(&self) -> Option<J> {
        let (job, weight) = self.receiver.try_recv().ok()?;
        self.weight.fetch_sub(weight, Ordering::AcqRel);
        Some(job)
    }
}

impl<J: Send + 'static> Drop for Stream<J> {
    /// An abandoned stream (not finished): the jobs that have not started
    /// are dropped, not run.
    fn drop(&mut self) {
        if self.jobs.take().is_some() {
            while self.shared.receiver.try_recv().is_ok() {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc;

    /// A task that holds the pool's only worker until the returned sender
    /// speaks (or is dropped).
    fn occupy(s: &Scheduler) -> mpsc::Sender<()> {
        let (open, gate) = mpsc::channel::<()>();
        let (started, wait_started) = mpsc::channel();
        s.spawn(Priority::Background, move || {
            let _ = started.send(());
            let _ = gate.recv();
        });
        wait_started.recv().unwrap();
        open
    }

    #[test]
    fn urgent_work_goes_first_then_normal_then_background() {
        let s = Scheduler::new(1);
        let open = occupy(&s);
        let order = Arc::new(Mutex::new(Vec::new()));
        for (p, name) in [
            (Priority::Background, "background"),
            (Priority::Normal, "normal"),
            (Priority::Urgent, "urgent"),
            (Priority::Background, "background 2"),
            (Priority::Urgent, "urgent 2"),
        ] {
            let order = order.clone();
            s.spawn(p, move || order.lock().push(name));
        }
        drop(open);
        assert_eq!(s.run_urgent(|| 7), Some(7));
        let (tell, told) = mpsc::channel();
        s.spawn(Priority::Background, move || tell.send(()).unwrap());
        told.recv().unwrap();
        assert_eq!(
            *order.lock(),
            ["urgent", "urgent 2", "normal", "background", "background 2"]
        );
    }

    #[test]
    fn a_batch_runs_each_job_once_and_does_not_wait_for_a_busy_pool() {
        let s = Arc::new(Scheduler::new(2));
        let runs: Arc<Vec<AtomicUsize>> = Arc::new((0..500).map(|_| AtomicUsize::new(0)).collect());
        let r = runs.clone();
        Batch::run(&s, Priority::Normal, 1, 500, move |i| {
            r[i].fetch_add(1, Ordering::Relaxed);
        });
        assert!(runs.iter().all(|n| n.load(Ordering::Relaxed) == 1));
        // With every worker held, the caller does the whole batch itself.
        let s = Arc::new(Scheduler::new(1));
        let open = occupy(&s);
        let count = Arc::new(AtomicUsize::new(0));
        let c = count.clone();
        Batch::run(&s, Priority::Normal, 1, 50, move |_| {
            c.fetch_add(1, Ordering::Relaxed);
        });
        assert_eq!(count.load(Ordering::Relaxed), 50);
        drop(open);
    }

    #[test]
    fn a_stream_runs_every_job_pushed_and_a_panic_is_one_job() {
        let s = Arc::new(Scheduler::new(2));
        let sum = Arc::new(AtomicUsize::new(0));
        let t = sum.clone();
        let stream = Stream::new(&s, 2, 4, usize::MAX, move |n: usize| {
            if n == 13 {
                panic!("job 13");
            }
            t.fetch_add(n, Ordering::Relaxed);
        });
        for n in 0..100 {
            assert!(stream.push(n, 1));
        }
        stream.finish();
        assert_eq!(sum.load(Ordering::Relaxed), (0..100).sum::<usize>() - 13);
    }

    #[test]
    fn an_abandoned_stream_drops_what_has_not_started() {
        let s = Arc::new(Scheduler::new(1));
        let open = occupy(&s);
        let ran = Arc::new(AtomicUsize::new(0));
        let r = ran.clone();
        let stream = Stream::new(&s, 1, 8, usize::MAX, move |_: usize| {
            r.fetch_add(1, Ordering::Relaxed);
        });
        for n in 0..5 {
            assert!(stream.push(n, 1));
        }
        drop(stream);
        drop(open);
        assert_eq!(s.run_urgent(|| ()), Some(()));
        let (tell, told) = mpsc::channel();
        s.spawn(Priority::Background, move || tell.send(()).unwrap());
        told.recv().unwrap();
        assert_eq!(ran.load(Ordering::Relaxed), 0);
    }
}
