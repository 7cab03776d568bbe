//! Concurrency stress: one module, instantiated in four stores on four
//! threads, each making 10^6 calls (direct, `call_indirect` and to an
//! imported host function) while tier-up compiles and patches the shared
//! code slots in the background: eager and lazy, results checked exactly;
//! a trap on one thread while the others run; and stores instantiated and
//! dropped in a loop on several threads leaving no mapping behind.
//!
//! One test function runs the phases in order, so that the mapping count
//! of the last phase sees no other test's stores.

use std::sync::Arc;

use rung::runtime::{
    Config, Engine, Extern, Func, Linker, Module, Store, TierChoice, TrapReason, Val,
};
use rung::tiering::{CallCountPolicy, TrapCode};
use wasmparser::{FuncType, ValType};

const WAT: &str = r#"(module
  (import "host" "mix" (func $mix (param i32 i32) (result i32)))
  (type $t (func (param i32) (result i32)))
  ;; A memory: each store reserves its 8 GiB, which must be unmapped.
  (memory 1)
  (table 3 funcref)
  (elem (i32.const 0) $inc $triple $flip)
  (func $inc (param i32) (result i32) (i32.add (local.get 0) (i32.const 1)))
  (func $triple (param i32) (result i32) (i32.mul (local.get 0) (i32.const 3)))
  (func $flip (param i32) (result i32) (i32.xor (local.get 0) (i32.const 0x55)))
  ;; One step: a direct call, an indirect one, a host call.
  (func $step (param $acc i32) (param $i i32) (result i32)
    (call $mix
      (call_indirect (type $t)
        (call $inc (local.get $acc))
        (i32.rem_u (local.get $i) (i32.const 3)))
      (local.get $i)))
  (func (export "run") (param $n i32) (param $acc i32) (result i32)
    (local $i i32)
    (loop $l
      (local.set $acc (call $step (local.get $acc) (local.get $i)))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $l (i32.lt_u (local.get $i) (local.get $n))))
    (local.get $acc))
  (func (export "boom") (unreachable)))"#;

/// What `run(n, acc)` computes.
fn expected(n: u32, mut acc: u32) -> u32 {
    for i in 0..n {
        let a = acc.wrapping_add(1);
        let b = match i % 3 {
            0 => a.wrapping_add(1),
            1 => a.wrapping_mul(3),
            _ => a ^ 0x55,
        };
        acc = mix(b, i);
    }
    acc
}

fn mix(a: u32, b: u32) -> u32 {
    a.rotate_left(5) ^ b.wrapping_mul(0x9e37_79b9)
}

fn instantiate(engine: &Engine, module: &Module) -> (Store, rung::runtime::Instance) {
    let mut store = Store::new(engine);
    let f = Func::new(
        &mut store,
        FuncType::new([ValType::I32, ValType::I32], [ValType::I32]),
        |_, args, results| {
            let (a, b) = (args[0].unwrap_i32() as u32, args[1].unwrap_i32() as u32);
            results[0] = Val::I32(mix(a, b) as i32);
            Ok(())
        },
    )
    .unwrap();
    let mut linker = Linker::new();
    linker.define("host", "mix", Extern::Func(f));
    let instance = linker.instantiate(&mut store, module).unwrap();
    (store, instance)
}

/// Four threads, 1,000 `run` calls of 333 steps each (about 10^6 calls
/// apiece), one of them trapping every 100th round.
fn hammer(engine: &Engine, label: &str) {
    let module = Arc::new(Module::new(engine, &wat::parse_str(WAT).unwrap()).unwrap());
    let threads: Vec<_> = (0..4u32)
        .map(|t| {
            let engine = engine.clone();
            let module = module.clone();
            std::thread::spawn(move || {
                let (mut store, instance) = instantiate(&engine, &module);
                let run = instance.get_func(&store, "run").unwrap();
                let boom = instance.get_func(&store, "boom").unwrap();
                for round in 0..1000u32 {
                    let seed = t * 7919 + round;
                    let r = run
                        .call(&mut store, &[Val::I32(333), Val::I32(seed as i32)])
                        .unwrap();
                    assert_eq!(
                        r,
                        vec![Val::I32(expected(333, seed) as i32)],
                        "thread {t} round {round}"
                    );
                    if t == 0 && round % 100 == 0 {
                        let trap = boom.call(&mut store, &[]).unwrap_err();
                        assert!(matches!(
                            trap.reason,
                            TrapReason::Wasm(TrapCode::UnreachableCodeReached)
                        ));
                    }
                }
            })
        })
        .collect();
    for t in threads {
        t.join()
            .unwrap_or_else(|_| panic!("{label}: a thread failed"));
    }
}

/// Lines of /proc/self/maps: every reservation and code mapping is one or
/// more.
fn mappings() -> usize {
    std::fs::read_to_string("/proc/self/maps").map_or(0, |m| m.lines().count())
}

#[test]
fn threads_call_through_code_that_tier_up_patches() {
    for lazy in [false, true] {
        let config = Config {
            tier_up_policy: Arc::new(CallCountPolicy::new(50)),
            lazy,
            ..TierChoice::Tiered.config()
        };
        let engine = Engine::new(config).unwrap();
        hammer(&engine, if lazy { "lazy" } else { "eager" });
        assert!(engine.tier_ups() > 0, "nothing tiered up (lazy: {lazy})");
    }

    // Stores made and dropped on three threads at once leave nothing
    // mapped (memory reservations, vmctxs, host trampolines).
    let engine = Engine::new(TierChoice::Baseline.config()).unwrap();
    let module = Arc::new(Module::new(&engine, &wat::parse_str(WAT).unwrap()).unwrap());
    // Warm up what is made once per engine (trampolines, code).
    drop(instantiate(&engine, &module));
    let before = mappings();
    let threads: Vec<_> = (0..3)
        .map(|_| {
            let engine = engine.clone();
            let module = module.clone();
            std::thread::spawn(move || {
                for _ in 0..200 {
                    let (mut store, instance) = instantiate(&engine, &module);
                    let run = instance.get_func(&store, "run").unwrap();
                    run.call(&mut store, &[Val::I32(3), Val::I32(1)]).unwrap();
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let after = mappings();
    // Thread stacks come and go; allow their few lines, not 600 stores'.
    assert!(
        after <= before + 8,
        "mappings: {before} before, {after} after"
    );
}
