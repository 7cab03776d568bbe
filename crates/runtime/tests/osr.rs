//! On-stack replacement: a frame that runs one long loop in baseline code
//! moves into an OSR entry of the optimizer at the loop's header, with its
//! locals and operand stack, and finishes there with the same results.

use std::sync::Arc;

use rung_runtime::tiering::{HotFunction, TierUpDecision, TierUpPolicy};
use rung_runtime::{Config, Engine, Linker, Module, Store, TierChoice, Val};

/// Promotes every function on its first call and makes its frames look
/// for an OSR entry at their first back-edge.
struct AtOnce;

impl TierUpPolicy for AtOnce {
    fn initial_budget(&self, _func: u32, _body_size: u32, _level: usize) -> i32 {
        1
    }
    fn on_budget_exhausted(&self, hot: &HotFunction) -> TierUpDecision {
        TierUpDecision::Promote(hot.next_level())
    }
}

fn engine(osr: bool) -> Engine {
    Engine::new(Config {
        tier_up_policy: Arc::new(AtOnce),
        tier_up_in_background: false,
        osr,
        ..TierChoice::Tiered.config()
    })
    .unwrap()
}

/// Calls `name(args)` once in a fresh instance; returns the results and
/// how many frames switched.
fn run(osr: bool, wat: &str, name: &str, args: &[Val]) -> (Vec<Val>, usize) {
    let engine = engine(osr);
    let module = Module::new(&engine, &wat::parse_str(wat).unwrap()).unwrap();
    let mut store = Store::new(&engine);
    let instance = Linker::new().instantiate(&mut store, &module).unwrap();
    let f = instance.get_func(&store, name).unwrap();
    let results = f.call(&mut store, args).unwrap();
    let stats = engine.tier_up_stats();
    assert_eq!(stats.failed, 0, "{name}: a tier-up compile failed");
    (results, stats.osr_switches)
}

/// With and without OSR: the same results; with it, the frame switched.
fn check(wat: &str, name: &str, args: &[Val], expected: &[Val]) {
    let (without, switched) = run(false, wat, name, args);
    assert_eq!(without, expected, "{name}: without OSR");
    assert_eq!(switched, 0);
    let (with, switched) = run(true, wat, name, args);
    assert_eq!(with, expected, "{name}: with OSR");
    assert!(switched >= 1, "{name}: no frame switched");
}

#[test]
fn a_counting_loop_switches_and_finishes_in_optimized_code() {
    let wat = r#"(module
      (func (export "spin") (param $n i64) (result i64) (local $acc i64) (local $f f64)
        (loop $next
          (local.set $acc (i64.add (local.get $acc) (local.get $n)))
          (local.set $f (f64.add (local.get $f) (f64.const 0.5)))
          (br_if $next (i64.ne (local.tee $n (i64.sub (local.get $n) (i64.const 1))) (i64.const 0))))
        (i64.add (local.get $acc) (i64.trunc_f64_s (local.get $f)))))"#;
    let n = 100_000i64;
    check(
        wat,
        "spin",
        &[Val::I64(n)],
        &[Val::I64(n * (n + 1) / 2 + n / 2)],
    );
}

#[test]
fn values_below_the_loop_and_its_parameters_move_too() {
    // 7 and 1000 wait below the loop on the operand stack; the loop takes
    // two parameters and yields two results.
    let wat = r#"(module
      (type $two (func (param i32 i32) (result i32 i32)))
      (func (export "f") (param $n i32) (result i32)
        (i32.const 7)
        (i32.const 1000)
        (i32.const 0) (i32.const 1)
        (loop $l (type $two)
          ;; (a, b) -> (a + b, b + 1) while n-- > 0
          (local.set $n (i32.sub (local.get $n) (i32.const 1)))
          (call $step)
          (br_if $l (local.get $n)))
        (i32.add)
        (i32.add)
        (i32.mul))
      (func $step (type $two) (i32.add (local.get 0) (local.get 1)) (i32.add (local.get 1) (i32.const 1))))"#;
    // After n steps: a = sum of 1..=n, b = n + 1.
    let n = 50_000i32;
    let a = (n as i64 * (n as i64 + 1) / 2) as i32;
    let expected = 7i32.wrapping_mul(1000i32.wrapping_add(a.wrapping_add(n + 1)));
    check(wat, "f", &[Val::I32(n)], &[Val::I32(expected)]);
}

#[test]
fn a_nested_loop_inside_blocks_switches_at_the_loop_that_ran_out() {
    let wat = r#"(module
      (memory 1)
      (func (export "sieve") (param $n i32) (result i32) (local $i i32) (local $j i32) (local $count i32)
        (memory.fill (i32.const 0) (i32.const 1) (local.get $n))
        (local.set $i (i32.const 2))
        (block $done
          (loop $outer
            (br_if $done (i32.ge_u (local.get $i) (local.get $n)))
            (if (i32.load8_u (local.get $i))
              (then
                (local.set $count (i32.add (local.get $count) (i32.const 1)))
                (local.set $j (i32.mul (local.get $i) (local.get $i)))
                (block $marked
                  (loop $mark
                    (br_if $marked (i32.ge_u (local.get $j) (local.get $n)))
                    (i32.store8 (local.get $j) (i32.const 0))
                    (local.set $j (i32.add (local.get $j) (local.get $i)))
                    (br $mark)))))
            (local.set $i (i32.add (local.get $i) (i32.const 1)))
            (br $outer)))
        (local.get $count)))"#;
    check(wat, "sieve", &[Val::I32(65536)], &[Val::I32(6542)]);
}

/// A loop nest whose innermost loop has a result and a way out of the
/// whole nest: the OSR entry's copy of the inner loop (it sits inside
/// loops, with nothing below it on the operand stack) leaves through its
/// `end` into the original `$lj`, and, when `stop` is met at once, through
/// `br_if $done` straight out of the copy.
const NEST: &str = r#"(module
  (func (export "nest") (param $n i32) (param $stop i32) (result i32)
    (local $i i32) (local $j i32) (local $k i32) (local $sum i32)
    (block $done
      (loop $li
        (local.set $j (i32.const 0))
        (loop $lj
          (local.set $k (i32.const 0))
          (local.set $k
            (loop $lk (result i32)
              (br_if $done (i32.eq (i32.mul (local.get $i) (local.get $j)) (local.get $stop)))
              (local.set $k (i32.add (local.get $k) (i32.const 1)))
              (br_if $lk (i32.lt_u (i32.mul (local.get $k) (local.get $k))
                                   (i32.add (i32.mul (local.get $i) (local.get $j)) (i32.const 1))))
              (local.get $k)))
          (local.set $sum (i32.add (local.get $sum) (local.get $k)))
          (br_if $lj (i32.lt_u (local.tee $j (i32.add (local.get $j) (i32.const 1))) (local.get $n))))
        (br_if $li (i32.lt_u (local.tee $i (i32.add (local.get $i) (i32.const 1))) (local.get $n)))))
    (local.get $sum)))"#;

/// What `nest` computes.
fn nest(n: u32, stop: u32) -> i32 {
    let mut sum = 0u32;
    for i in 0..n {
        for j in 0..n {
            if i * j == stop {
                return sum as i32;
            }
            let mut k = 1;
            while k * k < i * j + 1 {
                k += 1;
            }
            sum = sum.wrapping_add(k);
        }
    }
    sum as i32
}

#[test]
fn the_copy_of_an_inner_loop_leaves_by_its_end_and_by_a_branch_out_of_the_nest() {
    // The first back-edge is `$lk`'s at i = j = 1, where the frame moves.
    // stop = 1: the copy's first iteration leaves the nest; 30000: the
    // original loops do, later; u32::MAX: nothing does.
    for stop in [1u32, 30_000, u32::MAX] {
        let args = [Val::I32(300), Val::I32(stop as i32)];
        check(NEST, "nest", &args, &[Val::I32(nest(300, stop))]);
    }
}

#[test]
fn a_value_of_an_outer_loop_below_the_inner_one_keeps_the_inner_loop_in_its_frame() {
    // `$inner` has 5 (pushed before `$outer`) below it: its OSR entry is
    // refused as unsupported (not a failure), and the frame moves at
    // `$outer`'s back-edge instead, 5 and all.
    let wat = r#"(module
      (func (export "f") (param $n i32) (result i32) (local $i i32) (local $j i32) (local $acc i32)
        (i32.const 5)
        (loop $outer
          (local.set $j (i32.const 0))
          (loop $inner
            (local.set $acc (i32.add (local.get $acc) (local.get $j)))
            (br_if $inner (i32.lt_u (local.tee $j (i32.add (local.get $j) (i32.const 1))) (i32.const 10))))
          (br_if $outer (i32.lt_u (local.tee $i (i32.add (local.get $i) (i32.const 1))) (local.get $n))))
        (i32.add (local.get $acc))))"#;
    check(wat, "f", &[Val::I32(1000)], &[Val::I32(5 + 45 * 1000)]);
}

#[test]
fn a_trap_after_the_switch_reports_the_optimized_code_s_offset() {
    // Divides by n - 1000 on the way down: the 1000th iteration traps, in
    // the OSR entry's code.
    let wat = r#"(module
      (func (export "f") (param $n i32) (result i32) (local $acc i32)
        (loop $l
          (local.set $acc (i32.add (local.get $acc) (i32.div_s (i32.const 1) (i32.sub (local.get $n) (i32.const 1000)))))
          (br_if $l (local.tee $n (i32.sub (local.get $n) (i32.const 1)))))
        (local.get $acc)))"#;
    let mut offsets = Vec::new();
    for osr in [false, true] {
        let engine = engine(osr);
        let module = Module::new(&engine, &wat::parse_str(wat).unwrap()).unwrap();
        let mut store = Store::new(&engine);
        let instance = Linker::new().instantiate(&mut store, &module).unwrap();
        let f = instance.get_func(&store, "f").unwrap();
        let trap = f.call(&mut store, &[Val::I32(5000)]).unwrap_err();
        assert_eq!(
            trap.to_string().split(" (").next(),
            Some("integer divide by zero")
        );
        offsets.push((trap.func, trap.wasm_offset));
        assert_eq!(engine.tier_up_stats().osr_switches, usize::from(osr));
        // The store runs on afterwards.
        assert_eq!(f.call(&mut store, &[Val::I32(500)]).unwrap().len(), 1);
    }
    assert_eq!(offsets[0], offsets[1]);
}

#[test]
fn every_value_type_moves_and_the_entry_returns_to_a_baseline_caller() {
    // i64, f32 and f64 locals and stack values. `f`'s frame switches; it
    // returns into `outer`'s frame, which is still baseline code (its
    // function was promoted on the call that made the frame).
    let wat = r#"(module
      (func $outer (export "outer") (param $n i32) (result f64)
        (f64.add (f64.const 3) (call $f (local.get $n))))
      (func $f (param $n i32) (result f64)
        (local $i i64) (local $x f32) (local $y f64)
        (f64.const 0.25)
        (i64.const 3)
        (loop $l (param i64) (result i64)
          (local.set $i (i64.add (local.get $i) (i64.const 2)))
          (local.set $x (f32.add (local.get $x) (f32.const 1.5)))
          (local.set $y (f64.add (local.get $y) (f64.const 0.5)))
          (i64.add (i64.const 1))
          (br_if $l (local.tee $n (i32.sub (local.get $n) (i32.const 1)))))
        (f64.convert_i64_s)
        (f64.add)
        (f64.add (f64.promote_f32 (local.get $x)))
        (f64.add (local.get $y))
        (f64.add (f64.convert_i64_s (local.get $i)))))"#;
    let n = 10_000;
    // 0.25 + (3 + n) + 1.5n + 0.5n + 2n, plus 3 from `outer`.
    let expected = 0.25 + (3 + n) as f64 + 1.5 * n as f64 + 0.5 * n as f64 + 2.0 * n as f64 + 3.0;
    check(
        wat,
        "outer",
        &[Val::I32(n)],
        &[Val::F64(expected.to_bits())],
    );
}

#[test]
fn a_function_with_stack_parameters_keeps_its_frame() {
    // Ten i64 parameters: four go on the stack, which an OSR entry could
    // not pop, so the loop has no exit and finishes in baseline code.
    let wat = r#"(module
      (func (export "f") (param i64 i64 i64 i64 i64 i64 i64 i64 i64) (param $n i64) (result i64) (local $acc i64)
        (loop $l
          (local.set $acc (i64.add (local.get $acc) (local.get 8)))
          (br_if $l (i64.ne (local.tee $n (i64.sub (local.get $n) (i64.const 1))) (i64.const 0))))
        (local.get $acc)))"#;
    let mut args = vec![Val::I64(0); 8];
    args.push(Val::I64(3));
    args.push(Val::I64(1000));
    let (results, switched) = run(true, wat, "f", &args);
    assert_eq!(results, [Val::I64(3000)]);
    assert_eq!(switched, 0);
}

#[test]
fn a_background_compile_reaches_a_running_loop() {
    // The loop asks the host every 2^16 iterations whether a frame has
    // switched yet, and stops when one has: it runs until OSR reaches it,
    // however long the background compile takes.
    use rung_runtime::{FuncType, ValType};
    let wat = r#"(module
      (import "host" "switched" (func $switched (result i32)))
      (func (export "f") (result i64) (local $i i64)
        (loop $l
          (local.set $i (i64.add (local.get $i) (i64.const 1)))
          (br_if $l (i64.ne (i64.and (local.get $i) (i64.const 0xffff)) (i64.const 0)))
          (br_if $l (i32.eqz (call $switched))))
        (local.get $i)))"#;
    let engine = Engine::new(Config {
        tier_up_policy: Arc::new(rung_runtime::tiering::CallCountPolicy::new(100)),
        ..TierChoice::Tiered.config()
    })
    .unwrap();
    let module = Module::new(&engine, &wat::parse_str(wat).unwrap()).unwrap();
    let mut store = Store::new(&engine);
    let mut linker = Linker::new();
    let e = engine.clone();
    linker.func_new(
        "host",
        "switched",
        FuncType::new([], [ValType::I32]),
        move |_, _, results| {
            results[0] = Val::I32(i32::from(e.tier_up_stats().osr_switches > 0));
            Ok(())
        },
    );
    let instance = linker.instantiate(&mut store, &module).unwrap();
    let f = instance.get_func(&store, "f").unwrap();
    let results = f.call(&mut store, &[]).unwrap();
    let [Val::I64(i)] = results[..] else {
        panic!("{results:?}")
    };
    assert_eq!(i % 0x10000, 0);
    assert_eq!(engine.tier_up_stats().osr_switches, 1);
}
