//! Interrupts: an `InterruptHandle` stops wasm code that would run forever
//! (a loop, a tail-call loop) in every tier, with the "interrupted" trap at
//! the operator it was at, and the store runs normally afterwards.

use std::thread;
use std::time::Duration;

use rung_runtime::{Config, Engine, Linker, Module, Store, TierChoice, Val};
use rung_tiering::TrapCode;

const WAT: &str = r#"(module
    (func (export "spin") (loop $l (br $l)))
    (func (export "spin_counting") (param i32) (result i32)
        (loop $l
            (local.set 0 (i32.add (local.get 0) (i32.const 1)))
            (br_if $l (i32.ne (local.get 0) (i32.const 0))))
        (local.get 0))
    (func $again (export "tail_spin") (param i64) (result i64)
        (return_call $again (i64.add (local.get 0) (i64.const 1))))
    (func (export "square") (param i32) (result i32)
        (i32.mul (local.get 0) (local.get 0))))"#;

/// An engine whose code checks for interrupts, compiling with `tier`.
fn interruptible(tier: TierChoice) -> Engine {
    Engine::new(Config {
        interruptible: true,
        ..tier.config()
    })
    .unwrap()
}

fn configs() -> [(&'static str, TierChoice); 3] {
    [
        ("optimized", TierChoice::Optimized),
        ("baseline", TierChoice::Baseline),
        ("tiered", TierChoice::Tiered),
    ]
}

#[test]
fn a_running_loop_is_interrupted_in_every_tier() {
    for (name, tier) in configs() {
        let engine = interruptible(tier);
        let module = Module::new(&engine, &wat::parse_str(WAT).unwrap()).unwrap();
        let mut store = Store::new(&engine);
        let instance = Linker::new().instantiate(&mut store, &module).unwrap();
        for (export, args) in [
            ("spin", vec![]),
            ("spin_counting", vec![Val::I32(1)]),
            ("tail_spin", vec![Val::I64(0)]),
        ] {
            let f = instance.get_func(&store, export).unwrap();
            let handle = store.interrupt_handle().expect("interruptible");
            let stopper = thread::spawn(move || {
                thread::sleep(Duration::from_millis(20));
                handle.interrupt();
            });
            let trap = f
                .call(&mut store, &args)
                .expect_err("interrupted, not finished");
            stopper.join().unwrap();
            assert_eq!(
                trap.code(),
                Some(TrapCode::Interrupt),
                "{name} {export}: {trap:?}"
            );
            assert_eq!(trap.message(), "interrupted", "{name} {export}");
            assert!(trap.wasm_offset.is_some(), "{name} {export}: {trap:?}");
            // Served: the store runs as usual again.
            let square = instance.get_func(&store, "square").unwrap();
            assert_eq!(
                square.call(&mut store, &[Val::I32(7)]).unwrap(),
                vec![Val::I32(49)],
                "{name} {export}"
            );
        }
    }
}

#[test]
fn an_interrupt_before_a_call_stops_it_at_entry_and_only_it() {
    let engine = interruptible(TierChoice::Baseline);
    let module = Module::new(&engine, &wat::parse_str(WAT).unwrap()).unwrap();
    let mut store = Store::new(&engine);
    let instance = Linker::new().instantiate(&mut store, &module).unwrap();
    let square = instance.get_func(&store, "square").unwrap();
    store.interrupt_handle().expect("interruptible").interrupt();
    let trap = square
        .call(&mut store, &[Val::I32(3)])
        .expect_err("interrupted at entry");
    assert_eq!(trap.code(), Some(TrapCode::Interrupt));
    // The function's first byte of code: its body's offset in the module.
    assert_eq!(trap.func, Some(3));
    assert_eq!(
        square.call(&mut store, &[Val::I32(3)]).unwrap(),
        vec![Val::I32(9)]
    );
}

#[test]
fn a_handle_outliving_its_store_does_nothing() {
    let engine = interruptible(TierChoice::Optimized);
    let module = Module::new(&engine, &wat::parse_str(WAT).unwrap()).unwrap();
    let mut store = Store::new(&engine);
    Linker::new().instantiate(&mut store, &module).unwrap();
    let handle = store.interrupt_handle().expect("interruptible");
    drop(store);
    handle.interrupt();
}

#[test]
fn only_an_interruptible_engine_hands_out_handles() {
    let engine = Engine::new(Config::default()).unwrap();
    let store = Store::new(&engine);
    assert!(store.interrupt_handle().is_none());
}

#[test]
fn a_failed_instantiation_leaves_nothing_to_interrupt() {
    let engine = interruptible(TierChoice::Baseline);
    let mut store = Store::new(&engine);
    // The data segment is out of bounds: instantiation traps after the
    // vmctx was built, and frees it.
    let bad = wat::parse_str(r#"(module (memory 1) (data (i32.const 65535) "ab"))"#).unwrap();
    let bad = Module::new(&engine, &bad).unwrap();
    assert!(Linker::new().instantiate(&mut store, &bad).is_err());
    let module = Module::new(&engine, &wat::parse_str(WAT).unwrap()).unwrap();
    let instance = Linker::new().instantiate(&mut store, &module).unwrap();
    let handle = store.interrupt_handle().expect("interruptible");
    handle.interrupt();
    let square = instance.get_func(&store, "square").unwrap();
    let trap = square
        .call(&mut store, &[Val::I32(2)])
        .expect_err("interrupted");
    assert_eq!(trap.code(), Some(TrapCode::Interrupt));
    assert_eq!(
        square.call(&mut store, &[Val::I32(2)]).unwrap(),
        vec![Val::I32(4)]
    );
}
