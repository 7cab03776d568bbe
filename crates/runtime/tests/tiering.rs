//! Tier-up: baseline code counts down its budget, the policy decides, the
//! optimizing tier's code is patched into the slot, and every later call —
//! from any instance — runs it.

use std::sync::Arc;
use std::time::{Duration, Instant};

use rung_runtime::{Config, Engine, Linker, Module, Store, TierChoice, Val};
use rung_tiering::{CallCountPolicy, HotFunction, TierUpDecision, TierUpPolicy};

const WAT: &str = r#"(module
    (func $square (export "square") (param i32) (result i32)
        (i32.mul (local.get 0) (local.get 0)))
    (func (export "sum_squares") (param i32) (result i32)
        (local $acc i32)
        (block $done (loop $next
            (br_if $done (i32.eqz (local.get 0)))
            (local.set $acc (i32.add (local.get $acc) (call $square (local.get 0))))
            (local.set 0 (i32.sub (local.get 0) (i32.const 1)))
            (br $next)))
        (local.get $acc)))"#;

fn engine(policy: Arc<dyn TierUpPolicy>, background: bool) -> Engine {
    Engine::new(Config {
        tier_up_policy: policy,
        tier_up_in_background: background,
        ..TierChoice::Tiered.config()
    })
    .unwrap()
}

#[test]
fn a_hot_function_is_optimized_once_and_results_stay_the_same() {
    let engine = engine(Arc::new(CallCountPolicy::new(10)), false);
    let module = Module::new(&engine, &wat::parse_str(WAT).unwrap()).unwrap();
    let mut store = Store::new(&engine);
    let instance = Linker::new().instantiate(&mut store, &module).unwrap();
    let square = instance.get_func(&store, "square").unwrap();
    for i in 0..9 {
        assert_eq!(
            square.call(&mut store, &[Val::I32(i)]).unwrap(),
            vec![Val::I32(i * i)]
        );
    }
    assert_eq!(
        engine.tier_ups(),
        0,
        "nine calls stay under a threshold of ten"
    );
    for i in 9..100 {
        assert_eq!(
            square.call(&mut store, &[Val::I32(i)]).unwrap(),
            vec![Val::I32(i * i)]
        );
    }
    assert_eq!(engine.tier_ups(), 1, "the tenth call optimizes it, once");
    // The loop's own frame keeps running baseline code, but its back-edges
    // make it hot too, and the calls it makes go to the optimized `square`.
    let sum = instance.get_func(&store, "sum_squares").unwrap();
    assert_eq!(
        sum.call(&mut store, &[Val::I32(100)]).unwrap(),
        vec![Val::I32(338350)]
    );
    assert_eq!(engine.tier_ups(), 2);
    assert_eq!(
        sum.call(&mut store, &[Val::I32(100)]).unwrap(),
        vec![Val::I32(338350)]
    );
    // A second instance shares the module's code table: already optimized.
    let other = Linker::new().instantiate(&mut store, &module).unwrap();
    let sum = other.get_func(&store, "sum_squares").unwrap();
    assert_eq!(
        sum.call(&mut store, &[Val::I32(10)]).unwrap(),
        vec![Val::I32(385)]
    );
    assert_eq!(engine.tier_ups(), 2);
}

/// Asks to be called back three times before optimizing.
struct Patient;

impl TierUpPolicy for Patient {
    fn initial_budget(&self, _func: u32, _body_size: u32, _level: usize) -> i32 {
        40
    }
    fn on_budget_exhausted(&self, hot: &HotFunction) -> TierUpDecision {
        if hot.calls_observed >= 3 {
            TierUpDecision::Promote(hot.next_level())
        } else {
            TierUpDecision::Reset(40)
        }
    }
}

#[test]
fn a_policy_decides_when() {
    let engine = engine(Arc::new(Patient), false);
    let module = Module::new(&engine, &wat::parse_str(WAT).unwrap()).unwrap();
    let mut store = Store::new(&engine);
    let instance = Linker::new().instantiate(&mut store, &module).unwrap();
    let square = instance.get_func(&store, "square").unwrap();
    for i in 0..2 {
        square.call(&mut store, &[Val::I32(i)]).unwrap();
    }
    assert_eq!(engine.tier_ups(), 0);
    square.call(&mut store, &[Val::I32(3)]).unwrap();
    assert_eq!(engine.tier_ups(), 1);
}

#[test]
fn background_workers_patch_the_slot() {
    let engine = engine(Arc::new(CallCountPolicy::new(5)), true);
    let module = Module::new(&engine, &wat::parse_str(WAT).unwrap()).unwrap();
    let mut store = Store::new(&engine);
    let instance = Linker::new().instantiate(&mut store, &module).unwrap();
    let square = instance.get_func(&store, "square").unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut i = 0;
    while engine.tier_ups() == 0 {
        assert!(Instant::now() < deadline, "no tier-up within a minute");
        assert_eq!(
            square.call(&mut store, &[Val::I32(i)]).unwrap(),
            vec![Val::I32(i * i)]
        );
        i = (i + 1) % 1000;
        std::thread::sleep(Duration::from_millis(1));
    }
    assert_eq!(
        square.call(&mut store, &[Val::I32(12)]).unwrap(),
        vec![Val::I32(144)]
    );
    assert_eq!(engine.tier_ups(), 1);
}
