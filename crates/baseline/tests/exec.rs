//! Execution tests: the same functions compiled by the baseline and the
//! optimizer, run on edge-case inputs (that cannot trap) in the test
//! executor, must agree bit for bit (any NaN equals any NaN).

mod common;

use common::Module;
use common::exec::Instance;
use rung_baseline::{BaselineTier, Features};
use rung_optimizer::OptimizingTier;

const I32S: &[i64] = &[
    0,
    1,
    -1,
    2,
    7,
    -7,
    31,
    32,
    33,
    63,
    64,
    0x1234_5678,
    -0x7fff_ffff,
    0x7fff_ffff,
    -0x8000_0000,
    0x8000_0001,
    0xffff,
    0x10000,
    255,
    256,
    -128,
];
const I64S: &[i64] = &[
    0,
    1,
    -1,
    2,
    7,
    -7,
    63,
    64,
    65,
    0x1234_5678_9abc_def0,
    i64::MIN,
    i64::MAX,
    i64::MIN + 1,
    0xffff_ffff,
    0x1_0000_0000,
    -0x8000_0000,
    0x8000_0000,
    255,
];
const F64S: &[f64] = &[
    0.0,
    -0.0,
    1.0,
    -1.0,
    0.5,
    -0.5,
    1.5,
    2.5,
    -2.5,
    3.7,
    -3.7,
    f64::NAN,
    f64::INFINITY,
    f64::NEG_INFINITY,
    f64::MAX,
    f64::MIN_POSITIVE,
    2147483647.0,
    2147483648.0,
    -2147483648.0,
    -2147483649.0,
    4294967295.0,
    4294967296.0,
    9223372036854775807.0,
    9223372036854775808.0,
    -9223372036854775808.0,
    18446744073709551615.0,
    18446744073709551616.0,
    1e-310,
    -0.99,
    0.99999,
    4503599627370497.0,
];

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum T {
    I32,
    I64,
    F32,
    F64,
}

impl T {
    fn name(self) -> &'static str {
        match self {
            T::I32 => "i32",
            T::I64 => "i64",
            T::F32 => "f32",
            T::F64 => "f64",
        }
    }

    fn values(self) -> Vec<u64> {
        match self {
            T::I32 => I32S.iter().map(|&v| v as u32 as u64).collect(),
            T::I64 => I64S.iter().map(|&v| v as u64).collect(),
            T::F32 => F64S
                .iter()
                .map(|&v| u64::from((v as f32).to_bits()))
                .chain([
                    u64::from(f32::from_bits(0x7fc0_0001).to_bits()),
                    0xff80_0000,
                    0x0000_0001,
                ])
                .collect(),
            T::F64 => F64S.iter().map(|v| v.to_bits()).collect(),
        }
    }

    fn is_nan(self, bits: u64) -> bool {
        match self {
            T::F32 => f32::from_bits(bits as u32).is_nan(),
            T::F64 => f64::from_bits(bits).is_nan(),
            _ => false,
        }
    }

    fn konst(self, bits: u64) -> String {
        match self {
            T::I32 => format!("i32.const {}", bits as u32 as i32),
            T::I64 => format!("i64.const {}", bits as i64),
            T::F32 => format!("f32.const nan:0x{:x}", 0).replace(
                "nan:0x0",
                &if f32::from_bits(bits as u32).is_nan() {
                    "nan".to_string()
                } else {
                    format!("{:e}", f32::from_bits(bits as u32)).replace("inf", "inf")
                },
            ),
            T::F64 => {
                let v = f64::from_bits(bits);
                if v.is_nan() {
                    "f64.const nan".into()
                } else {
                    format!("f64.const {v:e}")
                }
            }
        }
    }
}

/// Whether an operator may trap on these inputs (then the input is skipped).
type Traps = fn(&[u64]) -> bool;

fn never(_: &[u64]) -> bool {
    false
}

struct Case {
    op: &'static str,
    params: &'static [T],
    result: T,
    traps: Traps,
}

const fn case(op: &'static str, params: &'static [T], result: T) -> Case {
    Case {
        op,
        params,
        result,
        traps: never,
    }
}

fn div32(a: &[u64]) -> bool {
    a[1] as u32 == 0 || (a[0] as u32 == 0x8000_0000 && a[1] as u32 == u32::MAX)
}
fn div64(a: &[u64]) -> bool {
    a[1] == 0 || (a[0] == 1 << 63 && a[1] == u64::MAX)
}
fn rem32(a: &[u64]) -> bool {
    a[1] as u32 == 0
}
fn rem64(a: &[u64]) -> bool {
    a[1] == 0
}
fn f32_of(a: u64) -> f64 {
    f64::from(f32::from_bits(a as u32))
}
fn f64_of(a: u64) -> f64 {
    f64::from_bits(a)
}
fn out(x: f64, lo: f64, hi: f64) -> bool {
    x.is_nan() || x <= lo || x >= hi
}
fn t32s32(a: &[u64]) -> bool {
    out(f32_of(a[0]), -2147483649.0, 2147483648.0)
}
fn t32s64(a: &[u64]) -> bool {
    out(f64_of(a[0]), -2147483649.0, 2147483648.0)
}
fn t32u32(a: &[u64]) -> bool {
    out(f32_of(a[0]), -1.0, 4294967296.0)
}
fn t32u64(a: &[u64]) -> bool {
    out(f64_of(a[0]), -1.0, 4294967296.0)
}
fn t64s32(a: &[u64]) -> bool {
    let x = f32_of(a[0]);
    !(-9223372036854775808.0..9223372036854775808.0).contains(&x)
}
fn t64s64(a: &[u64]) -> bool {
    let x = f64_of(a[0]);
    !(-9223372036854775808.0..9223372036854775808.0).contains(&x)
}
fn t64u32(a: &[u64]) -> bool {
    out(f32_of(a[0]), -1.0, 18446744073709551616.0)
}
fn t64u64(a: &[u64]) -> bool {
    out(f64_of(a[0]), -1.0, 18446744073709551616.0)
}

use T::{F32, F64, I32, I64};

fn cases() -> Vec<Case> {
    let mut v = vec![];
    for (t, ops) in [
        (
            I32,
            &[
                "add", "sub", "mul", "and", "or", "xor", "shl", "shr_s", "shr_u", "rotl", "rotr",
            ][..],
        ),
        (
            I64,
            &[
                "add", "sub", "mul", "and", "or", "xor", "shl", "shr_s", "shr_u", "rotl", "rotr",
            ][..],
        ),
    ] {
        for op in ops {
            let name: &'static str = Box::leak(format!("{}.{op}", t.name()).into_boxed_str());
            v.push(case(
                name,
                if t == I32 { &[I32, I32] } else { &[I64, I64] },
                t,
            ));
        }
    }
    for (t, ops) in [
        (
            I32,
            &[
                "eq", "ne", "lt_s", "lt_u", "gt_s", "gt_u", "le_s", "le_u", "ge_s", "ge_u",
            ][..],
        ),
        (
            I64,
            &[
                "eq", "ne", "lt_s", "lt_u", "gt_s", "gt_u", "le_s", "le_u", "ge_s", "ge_u",
            ][..],
        ),
        (F32, &["eq", "ne", "lt", "gt", "le", "ge"][..]),
        (F64, &["eq", "ne", "lt", "gt", "le", "ge"][..]),
    ] {
        for op in ops {
            let name: &'static str = Box::leak(format!("{}.{op}", t.name()).into_boxed_str());
            let params: &'static [T] = match t {
                I32 => &[I32, I32],
                I64 => &[I64, I64],
                F32 => &[F32, F32],
                F64 => &[F64, F64],
            };
            v.push(case(name, params, I32));
        }
    }
    for (t, ops) in [
        (
            F32,
            &["add", "sub", "mul", "div", "min", "max", "copysign"][..],
        ),
        (
            F64,
            &["add", "sub", "mul", "div", "min", "max", "copysign"][..],
        ),
    ] {
        for op in ops {
            let name: &'static str = Box::leak(format!("{}.{op}", t.name()).into_boxed_str());
            v.push(case(
                name,
                if t == F32 { &[F32, F32] } else { &[F64, F64] },
                t,
            ));
        }
    }
    for (t, ops) in [
        (
            F32,
            &["abs", "neg", "sqrt", "ceil", "floor", "trunc", "nearest"][..],
        ),
        (
            F64,
            &["abs", "neg", "sqrt", "ceil", "floor", "trunc", "nearest"][..],
        ),
    ] {
        for op in ops {
            let name: &'static str = Box::leak(format!("{}.{op}", t.name()).into_boxed_str());
            v.push(case(name, if t == F32 { &[F32] } else { &[F64] }, t));
        }
    }
    v.extend([
        Case {
            traps: div32,
            ..case("i32.div_s", &[I32, I32], I32)
        },
        Case {
            traps: rem32,
            ..case("i32.div_u", &[I32, I32], I32)
        },
        Case {
            traps: rem32,
            ..case("i32.rem_s", &[I32, I32], I32)
        },
        Case {
            traps: rem32,
            ..case("i32.rem_u", &[I32, I32], I32)
        },
        Case {
            traps: div64,
            ..case("i64.div_s", &[I64, I64], I64)
        },
        Case {
            traps: rem64,
            ..case("i64.div_u", &[I64, I64], I64)
        },
        Case {
            traps: rem64,
            ..case("i64.rem_s", &[I64, I64], I64)
        },
        Case {
            traps: rem64,
            ..case("i64.rem_u", &[I64, I64], I64)
        },
        case("i32.clz", &[I32], I32),
        case("i32.ctz", &[I32], I32),
        case("i32.popcnt", &[I32], I32),
        case("i64.clz", &[I64], I64),
        case("i64.ctz", &[I64], I64),
        case("i64.popcnt", &[I64], I64),
        case("i32.eqz", &[I32], I32),
        case("i64.eqz", &[I64], I32),
        case("i32.extend8_s", &[I32], I32),
        case("i32.extend16_s", &[I32], I32),
        case("i64.extend8_s", &[I64], I64),
        case("i64.extend16_s", &[I64], I64),
        case("i64.extend32_s", &[I64], I64),
        case("i32.wrap_i64", &[I64], I32),
        case("i64.extend_i32_s", &[I32], I64),
        case("i64.extend_i32_u", &[I32], I64),
        Case {
            traps: t32s32,
            ..case("i32.trunc_f32_s", &[F32], I32)
        },
        Case {
            traps: t32s64,
            ..case("i32.trunc_f64_s", &[F64], I32)
        },
        Case {
            traps: t32u32,
            ..case("i32.trunc_f32_u", &[F32], I32)
        },
        Case {
            traps: t32u64,
            ..case("i32.trunc_f64_u", &[F64], I32)
        },
        Case {
            traps: t64s32,
            ..case("i64.trunc_f32_s", &[F32], I64)
        },
        Case {
            traps: t64s64,
            ..case("i64.trunc_f64_s", &[F64], I64)
        },
        Case {
            traps: t64u32,
            ..case("i64.trunc_f32_u", &[F32], I64)
        },
        Case {
            traps: t64u64,
            ..case("i64.trunc_f64_u", &[F64], I64)
        },
        case("i32.trunc_sat_f32_s", &[F32], I32),
        case("i32.trunc_sat_f64_s", &[F64], I32),
        case("i32.trunc_sat_f32_u", &[F32], I32),
        case("i32.trunc_sat_f64_u", &[F64], I32),
        case("i64.trunc_sat_f32_s", &[F32], I64),
        case("i64.trunc_sat_f64_s", &[F64], I64),
        case("i64.trunc_sat_f32_u", &[F32], I64),
        case("i64.trunc_sat_f64_u", &[F64], I64),
        case("f32.convert_i32_s", &[I32], F32),
        case("f32.convert_i32_u", &[I32], F32),
        case("f32.convert_i64_s", &[I64], F32),
        case("f32.convert_i64_u", &[I64], F32),
        case("f64.convert_i32_s", &[I32], F64),
        case("f64.convert_i32_u", &[I32], F64),
        case("f64.convert_i64_s", &[I64], F64),
        case("f64.convert_i64_u", &[I64], F64),
        case("f32.demote_f64", &[F64], F32),
        case("f64.promote_f32", &[F32], F64),
        case("i32.reinterpret_f32", &[F32], I32),
        case("i64.reinterpret_f64", &[F64], I64),
        case("f32.reinterpret_i32", &[I32], F32),
        case("f64.reinterpret_i64", &[I64], F64),
    ]);
    v
}

/// The shapes each operator is compiled in: operands from locals, from
/// registers (computed), and with a constant right operand.
fn module_for(c: &Case) -> String {
    let sig: String = c.params.iter().map(|p| format!(" {}", p.name())).collect();
    let r = c.result.name();
    let gets: String = (0..c.params.len())
        .map(|i| format!(" local.get {i}"))
        .collect();
    // Operands that went through registers (a no-op arithmetic on each).
    let regs: String = c
        .params
        .iter()
        .enumerate()
        .map(|(i, p)| match p {
            I32 => format!(" local.get {i} i32.const 0 i32.or"),
            I64 => format!(" local.get {i} i64.const 0 i64.or"),
            F32 => format!(
                " local.get {i} f32.const 0 f32.sub f32.const 0 f32.add local.get {i} f32.copysign"
            ),
            F64 => format!(
                " local.get {i} f64.const 0 f64.sub f64.const 0 f64.add local.get {i} f64.copysign"
            ),
        })
        .collect();
    format!(
        "(module
          (func (param{sig}) (result {r}){gets} {op})
          (func (param{sig}) (result {r}){regs} {op})
          (func (param{sig}) (result {r}) (local {r}){gets} {op} local.tee {n} local.get {n} drop))",
        op = c.op,
        n = c.params.len()
    )
}

fn same(t: T, a: u64, b: u64) -> bool {
    a == b || (t.is_nan(a) && t.is_nan(b))
}

fn run_cases(baseline: &BaselineTier) {
    let opt = OptimizingTier::new().expect("host");
    let mut checked = 0;
    for c in cases() {
        let m = Module::from_wat(&module_for(&c));
        let mut b = Instance::new(&m, baseline, i32::MAX);
        let mut o = Instance::new(&m, &opt, i32::MAX);
        let inputs: Vec<Vec<u64>> = match c.params {
            [p] => p.values().into_iter().map(|v| vec![v]).collect(),
            [p, q] => p
                .values()
                .into_iter()
                .flat_map(|x| q.values().into_iter().map(move |y| vec![x, y]))
                .collect(),
            _ => unreachable!(),
        };
        for args in inputs {
            if (c.traps)(&args) {
                continue;
            }
            for f in 0..3 {
                let rb = b.call(&m, f, &args);
                let ro = o.call(&m, f, &args);
                assert!(
                    same(c.result, rb[0], ro[0]),
                    "{} (shape {f}) of {args:x?}: baseline {:#x}, optimizer {:#x}",
                    c.op,
                    rb[0],
                    ro[0]
                );
                checked += 1;
            }
        }
        // The right operand as a constant.
        if c.params.len() == 2 {
            for k in c.params[1].values() {
                let wat = format!(
                    "(module (func (param {p}) (result {r}) local.get 0 {k} {op}))",
                    p = c.params[0].name(),
                    r = c.result.name(),
                    k = c.params[1].konst(k),
                    op = c.op
                );
                let m = Module::from_wat(&wat);
                let mut b = Instance::new(&m, baseline, i32::MAX);
                let mut o = Instance::new(&m, &opt, i32::MAX);
                for x in c.params[0].values() {
                    let args = [x, k];
                    if (c.traps)(&args) {
                        continue;
                    }
                    let rb = b.call(&m, 0, &args[..1]);
                    let ro = o.call(&m, 0, &args[..1]);
                    assert!(
                        same(c.result, rb[0], ro[0]),
                        "{} with constant {k:#x} of {x:#x}: baseline {:#x}, optimizer {:#x}",
                        c.op,
                        rb[0],
                        ro[0]
                    );
                    checked += 1;
                }
            }
        }
    }
    assert!(checked > 10_000, "{checked}");
}

#[test]
fn numeric_operators_agree_with_the_optimizer() {
    run_cases(&BaselineTier::new());
}

#[test]
fn numeric_fallbacks_agree_with_the_optimizer() {
    run_cases(&BaselineTier::with_features(Features {
        sse41: true,
        ..Features::NONE
    }));
}
