//! Whole programs run in the test executor by the baseline, the optimizer
//! and a mix of both (functions alternately compiled by each, so baseline
//! code calls optimized code and back through the one ABI). Results,
//! memory and globals must agree.

mod common;

use common::Module;
use common::exec::{Instance, TIER_UPS};
use rung_baseline::BaselineTier;
use rung_optimizer::OptimizingTier;
use rung_tiering::Tier;

/// What a run leaves: each call's results, the memory and the globals.
type Outcome = (Vec<Vec<u64>>, Vec<u8>, Vec<u64>);

/// Runs `calls` (function, args) in four configurations and compares.
fn check(wat: &str, calls: &[(u32, &[u64])]) {
    let m = Module::from_wat(wat);
    let b = BaselineTier::new();
    let o = OptimizingTier::new().expect("host");
    // The last configuration runs the baseline with no tier-up budget: every
    // check calls the executor's TierUp, which clobbers every register
    // SysV lets it clobber, so live values must survive the call.
    let configs: [(&[&dyn Tier], i32); 5] = [
        (&[&b], i32::MAX),
        (&[&o], i32::MAX),
        (&[&b, &o], i32::MAX),
        (&[&o, &b], i32::MAX),
        (&[&b], 0),
    ];
    let mut reference: Option<Outcome> = None;
    for (k, &(tiers, budget)) in configs.iter().enumerate() {
        let mut inst = Instance::mixed(&m, tiers, budget);
        let results: Vec<Vec<u64>> = calls
            .iter()
            .map(|&(f, args)| inst.call(&m, f, args))
            .collect();
        let globals: Vec<u64> = (0..m.env.globals.len() as u32)
            .map(|g| inst.global(&m, g))
            .collect();
        let state = (results, inst.memory.clone(), globals);
        match &reference {
            None => reference = Some(state),
            Some(r) => {
                assert_eq!(r.0, state.0, "results differ in configuration {k}");
                assert!(r.1 == state.1, "memory differs in configuration {k}");
                assert_eq!(r.2, state.2, "globals differ in configuration {k}");
            }
        }
    }
}

#[test]
fn recursion_and_loops() {
    check(
        r#"(module
        (func $fib (param i32) (result i32)
          local.get 0 i32.const 2 i32.lt_u
          if (result i32) local.get 0
          else local.get 0 i32.const 1 i32.sub call $fib
               local.get 0 i32.const 2 i32.sub call $fib i32.add end)
        (func $sum (param i32) (result i64) (local i64)
          block loop
            local.get 0 i32.eqz br_if 1
            local.get 1 local.get 0 i64.extend_i32_u i64.add local.set 1
            local.get 0 i32.const 1 i32.sub local.set 0
            br 0
          end end
          local.get 1)
        (func $fib_loop (param i32) (result i64) (local i64 i64)
          i64.const 1 local.set 2
          local.get 0
          loop (param i32) (result i64)
            local.get 1 local.get 2 i64.add
            local.get 2 local.set 1 local.set 2
            i32.const 1 i32.sub local.tee 0
            local.get 0 br_if 0 drop local.get 1
          end))"#,
        &[
            (0, &[0]),
            (0, &[1]),
            (0, &[20]),
            (1, &[0]),
            (1, &[100_000]),
            (2, &[1]),
            (2, &[50]),
        ],
    );
}

#[test]
fn branch_tables_and_multi_value() {
    check(
        r#"(module
        (func $dispatch (param i32 i32) (result i32 i64)
          block (result i32 i64) block (result i32 i64) block (result i32 i64)
            local.get 1 i64.const 7 local.get 0 br_table 0 1 2 1
          end i64.const 1 i64.add return end i64.const 2 i64.mul return end
          i64.const 3 i64.sub)
        (func $swap (param i64 f64 i32) (result i32 f64 i64)
          local.get 2 local.get 1 local.get 0)
        (func $many (param i32) (result i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 f64 f64 f64 f64 f64 f64 f64 f64 f64 f64)
          local.get 0 i64.extend_i32_u
          i64.const 2 i64.const 3 i64.const 4 i64.const 5 i64.const 6
          i64.const 7 i64.const 8 i64.const 9 i64.const 10
          f64.const 1 f64.const 2 f64.const 3 f64.const 4 f64.const 5
          f64.const 6 f64.const 7 f64.const 8 f64.const 9 local.get 0 f64.convert_i32_s)
        (func $use_many (param i32) (result i64)
          (local i64)
          local.get 0 call $many
          i64.trunc_f64_s local.set 1
          drop drop drop drop drop drop drop drop drop
          i64.add i64.add i64.add i64.add i64.add i64.add i64.add i64.add i64.add
          local.get 1 i64.mul)
        (func $block_many (param i32) (result i32)
          local.get 0 i32.const 1 i32.const 2 i32.const 3 i32.const 4 i32.const 5
          i32.const 6 i32.const 7 i32.const 8 i32.const 9
          block (param i32 i32 i32 i32 i32 i32 i32 i32 i32 i32) (result i32 i32 i32 i32 i32 i32 i32 i32 i32 i32)
            local.get 0 br_if 0
            drop i32.const 100
          end
          i32.add i32.add i32.add i32.add i32.add i32.add i32.add i32.add i32.sub))"#,
        &[
            (0, &[0, 5]),
            (0, &[1, 5]),
            (0, &[2, 5]),
            (0, &[3, 5]),
            (0, &[99, 5]),
            (1, &[7, 2.5f64.to_bits(), 9]),
            (3, &[11]),
            (4, &[0]),
            (4, &[1]),
        ],
    );
}

#[test]
fn memory_and_globals() {
    check(
        r#"(module
        (memory 1)
        (global $g (mut i64) (i64.const 3))
        (global $h (mut f32) (f32.const 1.5))
        (func (param i32 i64)
          local.get 0 local.get 1 i64.store
          local.get 0 local.get 1 i64.store32 offset=8
          local.get 0 local.get 1 i64.store16 offset=12
          local.get 0 local.get 1 i64.store8 offset=14
          local.get 0 local.get 1 f64.reinterpret_i64 f64.store offset=16
          local.get 0 local.get 1 i32.wrap_i64 f32.reinterpret_i32 f32.store offset=24
          i32.const 1000 i32.const -1 i32.store8
          i32.const 1001 i32.const 0x1234 i32.store16
          i32.const 1004 i64.const 0x123456789abcdef i64.store
          global.get $g local.get 1 i64.add global.set $g
          global.get $h f32.const 2 f32.mul global.set $h)
        (func (param i32) (result i64)
          local.get 0 i64.load8_s local.get 0 i64.load8_u i64.add
          local.get 0 i64.load16_s offset=1 i64.add local.get 0 i64.load16_u offset=2 i64.add
          local.get 0 i64.load32_s offset=3 i64.add local.get 0 i64.load32_u offset=4 i64.add
          local.get 0 i32.load offset=5 i64.extend_i32_s i64.add
          local.get 0 i32.load8_s offset=6 i64.extend_i32_s i64.add
          local.get 0 i32.load16_u offset=7 i64.extend_i32_u i64.add
          local.get 0 f64.load offset=16 i64.trunc_sat_f64_s i64.add
          i32.const 1004 i64.load i64.add
          memory.size i64.extend_i32_u i64.add
          i32.const 0 memory.grow i64.extend_i32_s i64.add))"#,
        &[
            (0, &[0, 0x8877_6655_4433_2211]),
            (0, &[100, 0xffff_ffff_ffff_fff0]),
            (0, &[65000, 42]),
            (1, &[0]),
            (1, &[100]),
            (1, &[65000]),
            (1, &[64000]),
        ],
    );
}

#[test]
fn register_pressure_spills_and_locals() {
    check(
        r#"(module
        (func (param i32 i32) (result i32)
          local.get 0 local.get 1 i32.add
          local.get 0 local.get 1 i32.sub
          local.get 0 local.get 1 i32.mul
          local.get 0 local.get 1 i32.xor
          local.get 0 local.get 1 i32.or
          local.get 0 local.get 1 i32.and
          local.get 0 local.get 1 i32.shl
          local.get 0 local.get 1 i32.shr_u
          local.get 0 local.get 1 i32.rotl
          local.get 0 i32.const 7 i32.div_u
          local.get 1 i32.const 1 i32.or local.get 0 local.get 1 i32.const 1 i32.or i32.rem_s
          i32.add
          i32.add i32.add i32.add i32.add i32.add i32.add i32.add i32.add i32.add i32.add)
        (func (param i32) (result i32)
          local.get 0 local.get 0 i32.const 1 i32.add local.set 0 local.get 0 i32.sub
          local.get 0 local.tee 0 local.get 0 i32.const 5 i32.add local.tee 0 i32.mul i32.add)
        (func (param f64 f64) (result f64)
          local.get 0 local.get 1 f64.add local.get 0 local.get 1 f64.sub
          local.get 0 local.get 1 f64.mul local.get 0 local.get 1 f64.div
          local.get 0 local.get 1 f64.min local.get 0 local.get 1 f64.max
          local.get 0 f64.sqrt local.get 1 f64.neg local.get 0 f64.abs
          local.get 0 local.get 1 f64.copysign local.get 0 f64.floor
          local.get 0 local.get 1 f64.add local.get 0 local.get 1 f64.sub
          local.get 0 local.get 1 f64.mul local.get 0 local.get 1 f64.div
          local.get 0 local.get 1 f64.min local.get 0 local.get 1 f64.max
          f64.add f64.add f64.add f64.add f64.add f64.add f64.add f64.add
          f64.add f64.add f64.add f64.add f64.add f64.add f64.add f64.add)
        (func (param i32 i32 i32) (result i32)
          local.get 0 local.get 1 local.get 1 local.get 2 i32.lt_s select
          local.get 1 local.get 0 local.get 2 select i32.add
          local.get 0 local.get 2 local.get 0 local.get 1 i32.ne i32.eqz select i32.add
          i32.const 7 local.get 1 local.get 2 i64.extend_i32_u i64.const 2 i64.gt_u select i32.add)
        (func (param i64 i64) (result i64)
          local.get 0 local.get 1 i64.shl local.get 1 local.get 0 i64.shr_s
          local.get 0 local.get 1 i64.div_u local.get 1 i64.const 1 i64.or local.get 0 i64.rem_u
          i64.add i64.add i64.add))"#,
        &[
            (0, &[5, 3]),
            (0, &[0xffff_fff0, 31]),
            (1, &[10]),
            (2, &[3.25f64.to_bits(), (-1.5f64).to_bits()]),
            (2, &[f64::NAN.to_bits(), 0]),
            (3, &[1, 2, 3]),
            (3, &[5, 2, 0]),
            (4, &[1 << 40, 3]),
            (4, &[u64::MAX, 65]),
        ],
    );
}

#[test]
fn calls_with_stack_arguments_and_tail_calls() {
    check(
        r#"(module
        (type $t (func (param i32) (result i32)))
        (table 4 funcref)
        (elem (i32.const 0) $double $inc $double $inc)
        (func $double (param i32) (result i32) local.get 0 i32.const 2 i32.mul)
        (func $inc (param i32) (result i32) local.get 0 i32.const 1 i32.add)
        (func $wide (param i64 i64 i64 i64 i64 i64 i64 i64 i64 f64 f64 f64 f64 f64 f64 f64 f64 f64 f64) (result i64)
          local.get 0 local.get 8 i64.mul local.get 7 i64.add local.get 6 i64.sub
          local.get 18 i64.trunc_f64_s i64.add local.get 9 i64.trunc_f64_s i64.add)
        (func $call_wide (param i64) (result i64)
          local.get 0 i64.const 2 i64.const 3 i64.const 4 i64.const 5 i64.const 6
          i64.const 7 i64.const 8 i64.const 9
          f64.const 1 f64.const 2 f64.const 3 f64.const 4 f64.const 5
          f64.const 6 f64.const 7 f64.const 8 f64.const 9 f64.const 10
          call $wide)
        (func $tail_grow (param i64) (result i64)
          local.get 0 i64.const 20 i64.const 30 i64.const 40 i64.const 50 i64.const 60
          i64.const 70 i64.const 80 i64.const 90
          f64.const 1 f64.const 2 f64.const 3 f64.const 4 f64.const 5
          f64.const 6 f64.const 7 f64.const 8 f64.const 9 f64.const 11
          return_call $wide)
        (func $tail_shrink (param i64 i64 i64 i64 i64 i64 i64 i64 i64 f64 f64 f64 f64 f64 f64 f64 f64 f64 f64) (result i32)
          local.get 8 i32.wrap_i64 return_call $double)
        (func $call_shrink (param i32) (result i32)
          i64.const 1 i64.const 2 i64.const 3 i64.const 4 i64.const 5 i64.const 6
          i64.const 7 i64.const 8 local.get 0 i64.extend_i32_u
          f64.const 1 f64.const 2 f64.const 3 f64.const 4 f64.const 5
          f64.const 6 f64.const 7 f64.const 8 f64.const 9 f64.const 10
          call $tail_shrink)
        (func $count (param i64 i64) (result i64)
          local.get 0 i64.eqz if (result i64) local.get 1
          else local.get 0 i64.const 1 i64.sub local.get 1 i64.const 3 i64.add return_call $count end)
        (func $indirect (param i32 i32) (result i32)
          local.get 1 local.get 0 call_indirect (type $t)
          local.get 1 local.get 0 i32.const 1 i32.add return_call_indirect (type $t))
        (func $self_tail_wide (param i64 i64 i64 i64 i64 i64 i64 i64 i64 f64 f64 f64 f64 f64 f64 f64 f64 f64 f64) (result i64)
          local.get 0 i64.eqz if (result i64) local.get 8
          else
            local.get 0 i64.const 1 i64.sub local.get 1 local.get 2 local.get 3 local.get 4
            local.get 5 local.get 6 local.get 7 local.get 8 local.get 0 i64.add
            local.get 9 local.get 10 local.get 11 local.get 12 local.get 13
            local.get 14 local.get 15 local.get 16 local.get 17 local.get 18
            return_call $self_tail_wide
          end)
        (func $run_self (param i64) (result i64)
          local.get 0 i64.const 0 i64.const 0 i64.const 0 i64.const 0 i64.const 0
          i64.const 0 i64.const 0 i64.const 0
          f64.const 1 f64.const 2 f64.const 3 f64.const 4 f64.const 5
          f64.const 6 f64.const 7 f64.const 8 f64.const 9 f64.const 10
          call $self_tail_wide))"#,
        &[
            (3, &[5]),
            (4, &[5]),
            (6, &[21]),
            (7, &[100_000, 1]),
            (8, &[0, 10]),
            (8, &[1, 10]),
            (8, &[2, 10]),
            (10, &[10_000]),
        ],
    );
}

#[test]
fn loop_back_edges_charge_the_tier_up_budget() {
    let m = Module::from_wat(
        r#"(module (func (param i32) (result i32)
          loop local.get 0 i32.const 1 i32.sub local.tee 0 br_if 0 end local.get 0))"#,
    );
    let before = TIER_UPS.with(|n| n.get());
    // A budget that runs out after the entry and a few back-edges (each
    // exhausted check calls TierUp; the executor never resets the budget).
    let mut inst = Instance::new(&m, &BaselineTier::new(), 100);
    assert_eq!(inst.call(&m, 0, &[10]), vec![0]);
    let fired = TIER_UPS.with(|n| n.get()) - before;
    // 100 - 40 (entry) = 60: back-edges at 40, 20, 0 → fires from the third.
    assert!((6..=8).contains(&fired), "{fired}");
}

#[test]
fn loop_pinned_locals() {
    check(
        r#"(module
        (memory 1)
        (func $id (param f64) (result f64) local.get 0)
        ;; Float and integer locals pinned in nested loops, a call inside
        ;; the inner loop (the float pins are reloaded), writes before the
        ;; pin point, branches to the outer loop and out of both.
        (func (param i32) (result f64) (local i32 i32 f64 f64 i64)
          f64.const 0.5 local.set 3
          loop $outer
            local.get 1 i32.const 1 i32.add local.set 1
            i32.const 0 local.set 2
            loop $inner
              local.get 3 f64.const 1.25 f64.mul local.get 4 f64.add local.set 4
              local.get 2 i32.const 3 i32.rem_u
              if local.get 4 call $id local.set 4 end
              local.get 5 local.get 2 i64.extend_i32_u i64.add local.set 5
              local.get 2 i32.const 1 i32.add local.tee 2
              i32.const 7 i32.eq local.get 1 i32.const 3 i32.lt_u i32.and br_if $outer
              local.get 2 local.get 0 i32.lt_u br_if $inner
            end
            local.get 1 local.get 0 i32.lt_u br_if $outer
          end
          local.get 4 local.get 5 f64.convert_i64_s f64.add local.get 1 f64.convert_i32_u f64.add)
        ;; A local written inside the loop before its pin point, read
        ;; through a reinterpretation and a select.
        (func (param i64) (result i64) (local f64 i32)
          loop $l
            block
              local.get 2 i32.const 2 i32.gt_u br_if 0
              local.get 0 f64.reinterpret_i64 local.set 1
            end
            local.get 1 i64.reinterpret_f64 local.get 0 local.get 2 select
            i64.const 3 i64.mul local.set 0
            local.get 2 i32.const 1 i32.add local.tee 2
            i32.const 9 i32.lt_u br_if $l
          end
          local.get 0 local.get 1 i64.trunc_sat_f64_s i64.add)
        ;; br_table inside a loop, stores of pinned locals.
        (func (param i32) (result i32) (local i32 i32)
          loop $l
            block $a block $b
              local.get 1 i32.const 3 i32.and br_table $a $b $a
            end
            local.get 2 i32.const 5 i32.add local.set 2
            end
            local.get 1 i32.const 4 i32.mul local.get 2 i32.store
            local.get 1 i32.const 1 i32.add local.tee 1
            local.get 0 i32.lt_u br_if $l
          end
          local.get 2))"#,
        &[
            (1, &[0]),
            (1, &[1]),
            (1, &[5]),
            (1, &[20]),
            (2, &[0x4009_21fb_5444_2d18]),
            (2, &[7]),
            (3, &[10]),
            (3, &[100]),
        ],
    );
}

#[test]
fn loop_pinned_v128_locals() {
    // v128 locals pinned to xmm registers in loops: the two lanes differ,
    // so a save, reload or preheader load of only 8 bytes shows; the last
    // configuration's TierUp clobbers every xmm register at each
    // back-edge (the tier-up routine must restore all 16 bytes), and
    // $noise pins a v128 of its own (clobbering the caller's pins: they
    // are reloaded after the call).
    check(
        r#"(module
        (memory 1)
        (func $noise (param i32) (result i32) (local v128 i32)
          loop $l
            local.get 1 local.get 0 i32x4.splat i32x4.add local.get 2 i32x4.replace_lane 3 local.set 1
            local.get 2 i32.const 1 i32.add local.tee 2 i32.const 4 i32.lt_u br_if $l
          end
          local.get 1 i32x4.extract_lane 3)
        (func (param $n i32) (result i64) (local $acc v128) (local $k v128) (local $i i32)
          i64.const 3 i64x2.splat i64.const 5 i64x2.replace_lane 1 local.set $k
          i64.const 1 i64x2.splat i64.const -7 i64x2.replace_lane 0 local.set $acc
          loop $l
            local.get $acc local.get $k i64x2.mul
            local.get $i i64.extend_i32_u i64x2.splat i64x2.add local.set $acc
            local.get $i i32.const 3 i32.and i32.eqz
            if local.get $i call $noise i32.const 0 i32.add drop end
            block
              local.get $i i32.const 5 i32.ne br_if 0
              local.get $k local.get $acc v128.xor local.set $k
            end
            local.get $i i32.const 1 i32.add local.tee $i local.get $n i32.lt_u br_if $l
          end
          local.get $acc i64x2.extract_lane 0
          local.get $acc i64x2.extract_lane 1 i64.const 7 i64.mul i64.add
          local.get $k i64x2.extract_lane 1 i64.add)
        ;; Nested loops: the outer loop's v128 local read in the inner one
        ;; (preloaded there), a tee, a select and a store of pinned v128s,
        ;; a v128 loop parameter beside them.
        (func (param $n i32) (result i64) (local $a v128) (local $b v128) (local $j i32) (local $i i32)
          i32.const 9 i32x4.splat i32.const 4 i32x4.replace_lane 2 local.set $a
          v128.const i32x4 1 2 3 4
          loop $outer (param v128) (result v128)
            i32.const 0 local.set $j
            loop $inner
              local.get $b local.get $a i32x4.add local.tee $b
              local.get $a local.get $b local.get $j i32.const 1 i32.and select
              i32x4.mul local.set $b
              local.get $j i32.const 16 i32.mul local.get $b v128.store
              local.get $j i32.const 1 i32.add local.tee $j i32.const 3 i32.lt_u br_if $inner
            end
            local.get $a i32x4.add
            local.get $a i32.const 1 i32x4.splat i32x4.add local.set $a
            local.get $i i32.const 1 i32.add local.tee $i local.get $n i32.lt_u br_if $outer
          end
          local.get $b i32x4.add
          i32.const 16 v128.load i32x4.add local.set $a
          local.get $a i64x2.extract_lane 0
          local.get $a i64x2.extract_lane 1 i64.const 3 i64.mul i64.add))"#,
        &[
            (1, &[0]),
            (1, &[1]),
            (1, &[6]),
            (1, &[37]),
            (2, &[0]),
            (2, &[1]),
            (2, &[9]),
        ],
    );
}

#[test]
fn pinned_local_sums_as_lea() {
    // `local ± constant` of a loop-pinned integer local, and the sum of
    // two, is one `lea`: the i32 sums wrap at 32 bits, i64 constants that
    // are no 32-bit displacement (or whose negation is none) take the
    // `add`/`sub` path.
    check(
        r#"(module
        (func (param $n i32) (result i64) (local $a i32) (local $b i64) (local $c i64) (local $i i32)
          i32.const -5 local.set $a
          i64.const 0x7fff_fff0 local.set $b
          loop $l
            local.get $a i32.const 0x7fff_ffff i32.add local.set $a
            local.get $a i32.const -2147483648 i32.sub local.set $a
            local.get $b i64.const 0x7fff_ffff i64.add local.set $b
            local.get $b i64.const -2147483648 i64.sub local.set $b
            local.get $b i64.const 0x1_0000_0000 i64.add local.set $b
            local.get $c i64.const -9223372036854775808 i64.sub local.set $c
            local.get $c i64.const 3 i64.sub local.set $c
            local.get $a local.get $a i32.add local.set $a
            local.get $b local.get $c i64.add local.set $b
            i32.const 7 local.get $i i32.add local.set $i
            local.get $i local.get $n i32.lt_u br_if $l
          end
          local.get $a i64.extend_i32_u local.get $b i64.add local.get $c i64.xor
          local.get $i i64.extend_i32_u i64.add))"#,
        &[(0, &[0]), (0, &[1]), (0, &[100])],
    );
}

#[test]
fn pinned_i32_address_is_zero_extended() {
    // A loop-pinned i32 indexes memory with its own register, so every
    // write keeps it zero-extended: here it is set from an `i32.wrap_i64`
    // of a value with high bits set (a copy of its whole register would
    // index 4 GiB past the memory and fault).
    check(
        r#"(module
        (memory 1)
        (func (param $x i64) (param $n i32) (result i32) (local $p i32) (local $s i32) (local $k i32)
          loop $l
            local.get $x local.get $k i64.extend_i32_u i64.add i32.wrap_i64 local.set $p
            local.get $p i32.load8_u local.get $s i32.add local.set $s
            local.get $p local.get $k i32.store8 offset=1
            local.get $p local.get $p v128.load v128.store offset=2
            local.get $k i32.const 1 i32.add local.tee $k local.get $n i32.lt_u br_if $l
          end
          local.get $s))"#,
        &[
            (0, &[0xffff_ffff_0000_0100, 1]),
            (0, &[0xffff_ffff_0000_0100, 50]),
        ],
    );
}

#[test]
fn tail_calls_with_a_return_area() {
    check(
        r#"(module
        (type $many (func (param i64) (result i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 f64)))
        (table 2 funcref)
        (elem (i32.const 0) $leaf $mid)
        (func $leaf (type $many)
          local.get 0 i64.const 1 i64.add local.get 0 i64.const 2 i64.add
          local.get 0 i64.const 3 i64.add local.get 0 i64.const 4 i64.add
          local.get 0 i64.const 5 i64.add local.get 0 i64.const 6 i64.add
          local.get 0 i64.const 7 i64.add local.get 0 i64.const 8 i64.add
          local.get 0 i64.const 9 i64.add local.get 0 i64.const 10 i64.add
          local.get 0 f64.convert_i64_s)
        (func $mid (type $many)
          local.get 0 i64.const 100 i64.mul return_call $leaf)
        (func $top (type $many)
          local.get 0 i64.const 1 i64.add i32.const 1 return_call_indirect (type $many))
        (func (param i64) (result i64)
          (local f64)
          local.get 0 call $top
          local.set 1
          i64.add i64.add i64.add i64.add i64.add i64.add i64.add i64.add i64.add
          local.get 1 i64.trunc_f64_s i64.mul))"#,
        &[(3, &[0]), (3, &[7]), (3, &[u64::MAX])],
    );
}

#[test]
fn extend_u_of_wrapped_values_clears_the_high_bits() {
    // The wrap leaves the high bits in the register (the sums are in
    // registers); a local or a slot is read back with a 32-bit load.
    let m = Module::from_wat(
        r#"(module
        (func (param i64) (result i64)
          local.get 0 i32.wrap_i64 i64.extend_i32_u)
        (func (param i64) (result i64)
          local.get 0 i64.const 1 i64.add i32.wrap_i64 i64.extend_i32_u)
        (func (param i64) (result i64) (local i32)
          local.get 0 i64.const 1 i64.add i32.wrap_i64 local.set 1
          local.get 1 i64.extend_i32_u)
        (func (param i64) (result i64)
          local.get 0 i64.const 1 i64.add i32.wrap_i64
          block (param i32) (result i32) end
          i64.extend_i32_u))"#,
    );
    let mut inst = Instance::new(&m, &BaselineTier::new(), i32::MAX);
    let arg = 0xffff_ffff_8000_0005;
    assert_eq!(inst.call(&m, 0, &[arg]), vec![0x8000_0005]);
    for f in 1..4 {
        assert_eq!(inst.call(&m, f, &[arg]), vec![0x8000_0006], "{f}");
    }
}
