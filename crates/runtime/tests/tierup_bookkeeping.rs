//! Tier-up's bookkeeping (issue 17): a configuration that does not tier up
//! never does; a function is compiled at most once per level however many
//! threads find it hot and however long an old frame keeps running; queued
//! jobs of a dropped module are discarded; a full queue refuses; and
//! results stay right while slots are patched under running threads.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use rung_runtime::tiering::{
    CallCountPolicy, CompileError, CompileOptions, CompiledFunction, FunctionBody, HotFunction,
    ModuleEnv, Tier, TierUpDecision, TierUpPolicy, VmOffsets,
};
use rung_runtime::{Config, Engine, FuncType, Linker, Module, Store, TierChoice, Val, ValType};

/// `spin(n)`: n iterations of a countdown loop that adds to an
/// accumulator; returns the accumulator.
const SPIN: &str = r#"(module
  (func (export "spin") (param $n i64) (result i64) (local $acc i64)
    (block $done (loop $next
      (br_if $done (i64.eqz (local.get $n)))
      (local.set $acc (i64.add (local.get $acc) (local.get $n)))
      (br_if $next (i64.ne (local.tee $n (i64.sub (local.get $n) (i64.const 1))) (i64.const 0)))))
    (local.get $acc)))"#;

fn spin_sum(n: u64) -> i64 {
    (u128::from(n) * (u128::from(n) + 1) / 2) as u64 as i64
}

fn run_spin(engine: &Engine, module: &Module, n: u64) {
    let mut store = Store::new(engine);
    let instance = Linker::new().instantiate(&mut store, module).unwrap();
    let spin = instance.get_func(&store, "spin").unwrap();
    assert_eq!(
        spin.call(&mut store, &[Val::I64(n as i64)]).unwrap(),
        [Val::I64(spin_sum(n))]
    );
}

/// A budget of one call: every function would tier up at once, if its
/// configuration let it.
fn tiny() -> Arc<CallCountPolicy> {
    Arc::new(CallCountPolicy::new(1))
}

#[test]
fn a_lazy_baseline_never_tiers_up() {
    // 2·10^8 back-edges: enough to run an i32::MAX budget out (before the
    // fix, baseline code counted one down even when nothing could follow).
    for choice in [TierChoice::Baseline, TierChoice::Mixed] {
        for lazy in [false, true] {
            let engine = Engine::new(Config {
                lazy,
                tier_up_policy: tiny(),
                tier_up_in_background: false,
                ..choice.config()
            })
            .unwrap();
            let module = Module::new(&engine, &wat::parse_str(SPIN).unwrap()).unwrap();
            run_spin(&engine, &module, 200_000_000);
            assert_eq!(engine.tier_ups(), 0, "{choice:?}, lazy: {lazy}");
        }
    }
    // The same policy in a tiered engine does tier up: the test can fail.
    let engine = Engine::new(Config {
        lazy: true,
        tier_up_policy: tiny(),
        tier_up_in_background: false,
        ..TierChoice::Tiered.config()
    })
    .unwrap();
    let module = Module::new(&engine, &wat::parse_str(SPIN).unwrap()).unwrap();
    run_spin(&engine, &module, 10);
    assert_eq!(engine.tier_ups(), 1);
}

#[test]
fn one_long_loop_is_optimized_once() {
    // Before the fix, a frame that stays in baseline code reset its budget
    // to i32::MAX and ran it out again every 10^8 back-edges, compiling its
    // function again each time (10 times for spin(10^9)).
    for background in [false, true] {
        let engine = Engine::new(Config {
            tier_up_policy: tiny(),
            tier_up_in_background: background,
            ..TierChoice::Tiered.config()
        })
        .unwrap();
        let module = Module::new(&engine, &wat::parse_str(SPIN).unwrap()).unwrap();
        run_spin(&engine, &module, 400_000_000);
        wait_until_idle(&engine);
        assert_eq!(engine.tier_ups(), 1, "background: {background}");
    }
}

/// Calls `$f` n times from a loop; both functions get hot.
const HAMMER: &str = r#"(module
  (func $f (param i32) (result i32) (i32.add (local.get 0) (i32.const 1)))
  (func (export "run") (param $n i32) (result i32) (local $acc i32)
    (block $done (loop $next
      (br_if $done (i32.eqz (local.get $n)))
      (local.set $acc (call $f (local.get $acc)))
      (local.set $n (i32.sub (local.get $n) (i32.const 1)))
      (br $next)))
    (local.get $acc)))"#;

#[test]
fn four_threads_finding_a_function_hot_compile_it_once() {
    // Before the fix, two threads could both see the budget run out (the
    // baseline's `sub` is not atomic) and both compile: in 122 of 200
    // rounds one function was compiled twice.
    let engine = Engine::new(Config {
        tier_up_policy: Arc::new(CallCountPolicy::new(1000)),
        tier_up_in_background: false,
        ..TierChoice::Tiered.config()
    })
    .unwrap();
    let bytes = wat::parse_str(HAMMER).unwrap();
    const ROUNDS: usize = 200;
    for round in 0..ROUNDS {
        let module = Module::new(&engine, &bytes).unwrap();
        std::thread::scope(|s| {
            for _ in 0..4 {
                s.spawn(|| {
                    let mut store = Store::new(&engine);
                    let instance = Linker::new().instantiate(&mut store, &module).unwrap();
                    let run = instance.get_func(&store, "run").unwrap();
                    let out = run.call(&mut store, &[Val::I32(20_000)]).unwrap();
                    assert_eq!(out, [Val::I32(20_000)]);
                });
            }
        });
        assert_eq!(engine.tier_ups(), 2 * (round + 1), "round {round}");
    }
}

/// The optimizer behind a gate: its compiles wait until the test opens it,
/// and are counted.
struct Gate {
    inner: Arc<dyn Tier>,
    open: Mutex<bool>,
    opened: Condvar,
    compiles: AtomicUsize,
    /// The functions compiled, in order.
    order: Mutex<Vec<u32>>,
}

impl Gate {
    fn new(inner: Arc<dyn Tier>) -> Arc<Gate> {
        Arc::new(Gate {
            inner,
            open: Mutex::new(false),
            opened: Condvar::new(),
            compiles: AtomicUsize::new(0),
            order: Mutex::new(Vec::new()),
        })
    }

    fn open(&self) {
        *self.open.lock().unwrap() = true;
        self.opened.notify_all();
    }
}

impl Tier for Gate {
    fn name(&self) -> &'static str {
        "gated optimizer"
    }

    fn compile(
        &self,
        env: &ModuleEnv,
        index: u32,
        body: FunctionBody<'_>,
        offsets: &VmOffsets,
        options: &CompileOptions,
    ) -> Result<CompiledFunction, CompileError> {
        let mut open = self.open.lock().unwrap();
        while !*open {
            open = self.opened.wait(open).unwrap();
        }
        drop(open);
        self.compiles.fetch_add(1, Ordering::SeqCst);
        self.order.lock().unwrap().push(index);
        self.inner.compile(env, index, body, offsets, options)
    }

    fn compile_osr_entry(
        &self,
        env: &ModuleEnv,
        index: u32,
        body: FunctionBody<'_>,
        offsets: &VmOffsets,
        options: &CompileOptions,
        loop_offset: u32,
    ) -> Result<CompiledFunction, CompileError> {
        self.inner
            .compile_osr_entry(env, index, body, offsets, options, loop_offset)
    }
}

fn gated_engine(gate: &Arc<Gate>, threshold: u32) -> Engine {
    let baseline: Arc<dyn Tier> = Arc::new(rung_baseline::BaselineTier::new());
    Engine::new(Config {
        tiers: vec![baseline, gate.clone()],
        tier_up_policy: Arc::new(CallCountPolicy::new(threshold)),
        tier_up_threads: 1,
        ..TierChoice::Tiered.config()
    })
    .unwrap()
}

fn optimizer() -> Arc<dyn Tier> {
    Arc::new(rung_optimizer::OptimizingTier::new().unwrap())
}

/// Waits until no tier-up job is queued or running.
fn wait_until_idle(engine: &Engine) {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let stats = engine.tier_up_stats();
        if stats.queued == 0 && stats.running == 0 {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "tier-up never finished: {stats:?}"
        );
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// Waits until every queued tier-up job has been taken (the running ones
/// may be waiting at a gate).
fn wait_until_taken(engine: &Engine) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while engine.tier_up_stats().queued > 0 {
        assert!(Instant::now() < deadline, "{:?}", engine.tier_up_stats());
        std::thread::sleep(Duration::from_millis(1));
    }
}

const ONE: &str = r#"(module (func (export "f") (result i32) (i32.const 7)))"#;

fn call_f(engine: &Engine, module: &Module) {
    let mut store = Store::new(engine);
    let instance = Linker::new().instantiate(&mut store, module).unwrap();
    let f = instance.get_func(&store, "f").unwrap();
    assert_eq!(f.call(&mut store, &[]).unwrap(), [Val::I32(7)]);
}

/// `$f` runs a loop of 50 iterations per call; `run(n)` calls it n times.
const SHORT_LOOPS: &str = r#"(module
  (func $f (param $x i32) (result i32) (local $i i32)
    (loop $l
      (local.set $x (i32.add (local.get $x) (local.get $i)))
      (br_if $l (i32.ne (local.tee $i (i32.add (local.get $i) (i32.const 1))) (i32.const 50))))
    (local.get $x))
  (func (export "run") (param $n i32) (result i32) (local $acc i32)
    (block $done (loop $next
      (br_if $done (i32.eqz (local.get $n)))
      (local.set $acc (call $f (local.get $acc)))
      (local.set $n (i32.sub (local.get $n) (i32.const 1)))
      (br $next)))
    (local.get $acc)))"#;

#[test]
fn frames_that_return_before_their_function_is_promoted_get_no_osr_entry() {
    // `$f`'s loops run its budget out again and again while its promotion
    // waits at the gate, but every frame returns after 50 iterations: an
    // OSR entry would be compiled for nothing (on cc1, ~690 entries per
    // run, queued ahead of promotions, crowded out half the promotions).
    let gate = Gate::new(optimizer());
    let engine = gated_engine(&gate, 10);
    let module = Module::new(&engine, &wat::parse_str(SHORT_LOOPS).unwrap()).unwrap();
    let mut store = Store::new(&engine);
    let instance = Linker::new().instantiate(&mut store, &module).unwrap();
    let run = instance.get_func(&store, "run").unwrap();
    let n = 20_000;
    assert_eq!(
        run.call(&mut store, &[Val::I32(n)]).unwrap(),
        [Val::I32(n * (49 * 50 / 2))]
    );
    gate.open();
    wait_until_idle(&engine);
    let stats = engine.tier_up_stats();
    assert_eq!(stats.promoted, 2, "{stats:?}");
    assert_eq!(stats.osr_entries, 0, "{stats:?}");
    assert_eq!(stats.osr_switches, 0, "{stats:?}");
    // Promoted code does not count: calls after the promotion ask nothing.
    assert_eq!(
        run.call(&mut store, &[Val::I32(n)]).unwrap(),
        [Val::I32(n * (49 * 50 / 2))]
    );
    wait_until_idle(&engine);
    assert_eq!(engine.tier_up_stats().osr_entries, 0);
}

#[test]
fn the_hottest_waiting_function_is_compiled_first() {
    // `$a` gets hot first, `$b` second but is called 100 times while it
    // waits: when the worker is free again, `$b` goes first.
    let gate = Gate::new(optimizer());
    let engine = gated_engine(&gate, 1);
    let wat = r#"(module
      (func (export "blocker") (result i32) (i32.const 0))
      (func (export "a") (result i32) (i32.const 1))
      (func (export "b") (result i32) (i32.const 2)))"#;
    let module = Module::new(&engine, &wat::parse_str(wat).unwrap()).unwrap();
    let mut store = Store::new(&engine);
    let instance = Linker::new().instantiate(&mut store, &module).unwrap();
    let mut call = |name: &str, times: usize| {
        let f = instance.get_func(&store, name).unwrap();
        for _ in 0..times {
            f.call(&mut store, &[]).unwrap();
        }
    };
    call("blocker", 1);
    wait_until_taken(&engine);
    call("a", 1);
    call("b", 100);
    assert_eq!(engine.tier_up_stats().queued, 2);
    gate.open();
    wait_until_idle(&engine);
    assert_eq!(*gate.order.lock().unwrap(), [0, 2, 1]);
}

#[test]
fn queued_jobs_of_a_dropped_module_are_discarded() {
    let gate = Gate::new(optimizer());
    let engine = gated_engine(&gate, 1);
    let bytes = wat::parse_str(ONE).unwrap();
    // The first module's job occupies the one worker, at the gate.
    let kept = Module::new(&engine, &bytes).unwrap();
    call_f(&engine, &kept);
    wait_until_taken(&engine);
    // Ten more modules queue a job each, and are dropped.
    for _ in 0..10 {
        let module = Module::new(&engine, &bytes).unwrap();
        call_f(&engine, &module);
    }
    assert_eq!(engine.tier_up_stats().queued, 10);
    gate.open();
    let deadline = Instant::now() + Duration::from_secs(60);
    while engine.tier_up_stats().discarded < 10 {
        assert!(Instant::now() < deadline, "{:?}", engine.tier_up_stats());
        std::thread::sleep(Duration::from_millis(2));
    }
    wait_until_idle(&engine);
    assert_eq!(
        gate.compiles.load(Ordering::SeqCst),
        1,
        "only the live module's"
    );
    assert_eq!(engine.tier_ups(), 1);
    call_f(&engine, &kept);
}

/// One module with `n` functions, each exported as `f{i}`.
fn many(n: usize) -> Vec<u8> {
    let mut wat = String::from("(module\n");
    for i in 0..n {
        wat += &format!("(func (export \"f{i}\") (result i32) (i32.const {i}))\n");
    }
    wat += ")";
    wat::parse_str(wat).unwrap()
}

#[test]
fn a_full_queue_refuses_and_the_function_asks_again_later() {
    const MAX: usize = 1024; // rung_runtime's tierup::MAX_PENDING
    let gate = Gate::new(optimizer());
    let engine = gated_engine(&gate, 1);
    let n = MAX + 20;
    let module = Module::new(&engine, &many(n)).unwrap();
    let mut store = Store::new(&engine);
    let instance = Linker::new().instantiate(&mut store, &module).unwrap();
    let call = |store: &mut Store, i: usize| {
        let f = instance.get_func(store, &format!("f{i}")).unwrap();
        assert_eq!(f.call(store, &[]).unwrap(), [Val::I32(i as i32)]);
    };
    // f0 is taken by the worker (and waits at the gate); f1..=f1024 fill the
    // queue; the rest are refused.
    call(&mut store, 0);
    wait_until_taken(&engine);
    for i in 1..n {
        call(&mut store, i);
    }
    let stats = engine.tier_up_stats();
    assert_eq!(
        (stats.queued, stats.refused),
        (MAX, n - 1 - MAX),
        "{stats:?}"
    );
    gate.open();
    wait_until_idle(&engine);
    assert_eq!(engine.tier_ups(), 1 + MAX);
    // A refused function's budget started over: its next call asks again.
    for i in MAX + 1..n {
        call(&mut store, i);
    }
    wait_until_idle(&engine);
    assert_eq!(engine.tier_ups(), n);
    assert_eq!(
        gate.compiles.load(Ordering::SeqCst),
        n,
        "each function once"
    );
}

/// Promotes to a level given at construction, to test that a policy names
/// the target.
struct ToLevel(usize);

impl TierUpPolicy for ToLevel {
    fn initial_budget(&self, _func: u32, _body_size: u32, _level: usize) -> i32 {
        40
    }
    fn on_budget_exhausted(&self, _hot: &HotFunction) -> TierUpDecision {
        TierUpDecision::Promote(self.0)
    }
}

#[test]
fn a_policy_names_the_level_and_an_invalid_one_is_never() {
    // A three-level ladder: baseline, a counted middle, the top. Promote
    // straight to the top: the middle tier never compiles.
    let middle = Gate::new(optimizer());
    middle.open();
    let top = Gate::new(optimizer());
    top.open();
    let tiers: Vec<Arc<dyn Tier>> = vec![
        Arc::new(rung_baseline::BaselineTier::new()),
        middle.clone(),
        top.clone(),
    ];
    for (target, promoted, via_middle, via_top) in
        [(2, 1, 0, 1), (1, 1, 1, 0), (0, 0, 0, 0), (7, 0, 0, 0)]
    {
        let engine = Engine::new(Config {
            tiers: tiers.clone(),
            tier_up_policy: Arc::new(ToLevel(target)),
            tier_up_in_background: false,
            ..TierChoice::Tiered.config()
        })
        .unwrap();
        let before = (
            middle.compiles.load(Ordering::SeqCst),
            top.compiles.load(Ordering::SeqCst),
        );
        let module = Module::new(&engine, &wat::parse_str(ONE).unwrap()).unwrap();
        call_f(&engine, &module);
        call_f(&engine, &module);
        assert_eq!(engine.tier_ups(), promoted, "target {target}");
        assert_eq!(
            (
                middle.compiles.load(Ordering::SeqCst) - before.0,
                top.compiles.load(Ordering::SeqCst) - before.1
            ),
            (via_middle, via_top),
            "target {target}"
        );
    }
}

/// Direct, indirect and imported calls of functions being promoted under
/// four threads, in tiered and lazy modes: every result checked.
#[test]
fn calls_stay_right_while_slots_are_patched_under_running_threads() {
    let wat = r#"(module
      (import "host" "add" (func $host_add (param i32 i32) (result i32)))
      (type $bin (func (param i32 i32) (result i32)))
      (table 2 funcref)
      (elem (i32.const 0) $mul $host_add)
      (func $mul (type $bin) (i32.mul (local.get 0) (local.get 1)))
      (func $sq (param i32) (result i32) (call $mul (local.get 0) (local.get 0)))
      (func (export "step") (param $i i32) (result i32)
        ;; i*i (direct, through $sq) + i*3 (indirect) + (i + 1) (import, indirect)
        (i32.add
          (i32.add (call $sq (local.get $i))
                   (call_indirect (type $bin) (local.get $i) (i32.const 3) (i32.const 0)))
          (call_indirect (type $bin) (local.get $i) (i32.const 1) (i32.const 1)))))"#;
    let bytes = wat::parse_str(wat).unwrap();
    for lazy in [false, true] {
        let engine = Engine::new(Config {
            lazy,
            tier_up_policy: Arc::new(CallCountPolicy::new(50)),
            tier_up_threads: 2,
            ..TierChoice::Tiered.config()
        })
        .unwrap();
        let module = Module::new(&engine, &bytes).unwrap();
        let failed = AtomicBool::new(false);
        std::thread::scope(|s| {
            for t in 0..4 {
                let (engine, module, failed) = (&engine, &module, &failed);
                s.spawn(move || {
                    let mut store = Store::new(engine);
                    let mut linker = Linker::new();
                    let ty = FuncType::new([ValType::I32, ValType::I32], [ValType::I32]);
                    linker.func_new("host", "add", ty, |_, args, results| {
                        let (Val::I32(a), Val::I32(b)) = (&args[0], &args[1]) else {
                            unreachable!("typed by the linker")
                        };
                        results[0] = Val::I32(a.wrapping_add(*b));
                        Ok(())
                    });
                    let instance = linker.instantiate(&mut store, module).unwrap();
                    let step = instance.get_func(&store, "step").unwrap();
                    for k in 0..100_000i32 {
                        let i = k.wrapping_mul(7).wrapping_add(t);
                        let want = i
                            .wrapping_mul(i)
                            .wrapping_add(i.wrapping_mul(3))
                            .wrapping_add(i.wrapping_add(1));
                        let got = step.call(&mut store, &[Val::I32(i)]).unwrap();
                        if got != [Val::I32(want)] {
                            failed.store(true, Ordering::Relaxed);
                            panic!("thread {t}, step({i}) = {got:?}, not {want}");
                        }
                    }
                });
            }
        });
        assert!(!failed.load(Ordering::Relaxed));
        wait_until_idle(&engine);
        // step, $sq and $mul got hot; each was compiled once.
        assert_eq!(engine.tier_ups(), 3, "lazy: {lazy}");
    }
}

/// A bottom tier that compiles nothing: every function falls back.
struct Refuses;

impl Tier for Refuses {
    fn name(&self) -> &'static str {
        "refuses"
    }

    fn compile(
        &self,
        _env: &ModuleEnv,
        index: u32,
        body: FunctionBody<'_>,
        _offsets: &VmOffsets,
        _options: &CompileOptions,
    ) -> Result<CompiledFunction, CompileError> {
        let feature = if index.is_multiple_of(2) {
            "even: operator nop"
        } else {
            "odd"
        };
        Err(CompileError::Unsupported {
            feature: feature.into(),
            offset: body.offset,
        })
    }
}

#[test]
fn compile_stats_count_each_tier_and_fall_backs_by_reason() {
    let engine = Engine::new(Config {
        tiers: vec![Arc::new(Refuses), optimizer()],
        ..TierChoice::Baseline.config()
    })
    .unwrap();
    let wat = r#"(module
      (func (result i32) (i32.const 0))
      (func (result i32) (i32.const 1))
      (func (result i32) (i32.const 2)))"#;
    let bytes = wat::parse_str(wat).unwrap();
    Module::new(&engine, &bytes).unwrap();
    assert_eq!(engine.fallbacks(), 3);
    assert_eq!(
        engine.fallback_reasons(),
        [("even".to_string(), 2), ("odd".to_string(), 1)]
    );
    let stats = engine.compile_stats();
    assert_eq!(stats.len(), 2);
    assert_eq!((stats[0].tier, stats[0].functions), ("refuses", 0));
    assert_eq!(stats[1].functions, 3);
    // Each body is 4 bytes: no locals, i32.const n, end.
    assert_eq!(stats[1].wasm_bytes, 3 * 4);
    assert!(stats[1].code_bytes > 0);
    assert_eq!(engine.lazy_compiles(), 0);
}
