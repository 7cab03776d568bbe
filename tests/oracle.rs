//! Differential test against an independent oracle: wasm-smith modules run
//! by rung (optimized, baseline, and tiered with every function promoted
//! on its first call) and by wasmi 1.1, a pure-Rust interpreter that shares
//! no code with rung: not the decoder, the validator's use, the libcalls,
//! instantiation nor the trap machinery, which the baseline-vs-optimizer
//! differential (`crates/baseline/tests/differential.rs`) cannot see into.
//!
//! Every export is called in name order with arguments drawn from the
//! input; the results (NaN equals NaN), the kind of each trap (not its
//! message or offset: wasmi reports neither the same way), and afterwards
//! every exported memory and global must agree. The proposals covered are
//! those both engines implement: 2.0, tail calls, extended constants,
//! multi-memory, memory64, wide arithmetic and SIMD (NaNs canonicalized by
//! wasm-smith, so results are deterministic). Modules terminate through
//! wasm-smith's fuel global (`ensure_termination`); a stack overflow in
//! either engine makes the case inconclusive (their limits differ).
//!
//! 2,000 cases by default; `PROPTEST_CASES=N` for more, or
//! `cargo xtask fuzz --target oracle --cases N`. A divergent module is
//! written to `target/oracle-divergence.wasm`.

mod common;

use arbitrary::Unstructured;
use proptest::prelude::*;
use rung::runtime::{
    Config, Engine, Extern, Linker, Module, Store, TierChoice, Trap, TrapReason, Val,
};
use rung::tiering::TrapCode;
use wasmparser::ValType;

fn smith_config(disallow_traps: bool) -> wasm_smith::Config {
    wasm_smith::Config {
        disallow_traps,
        simd_enabled: true,
        relaxed_simd_enabled: false,
        threads_enabled: false,
        exceptions_enabled: false,
        gc_enabled: false,
        memory64_enabled: true,
        wide_arithmetic_enabled: true,
        custom_page_sizes_enabled: false,
        shared_everything_threads_enabled: false,
        reference_types_enabled: true,
        bulk_memory_enabled: true,
        multi_value_enabled: true,
        tail_call_enabled: true,
        saturating_float_to_int_enabled: true,
        sign_extension_ops_enabled: true,
        canonicalize_nans: true,
        export_everything: true,
        max_imports: 0,
        max_memories: 2,
        max_memory32_bytes: 16 * 65536,
        max_memory64_bytes: 16 * 65536,
        memory_max_size_required: true,
        table_max_size_required: true,
        max_tables: 2,
        max_table_elements: 1000,
        min_funcs: 3,
        max_funcs: 20,
        max_instructions: 500,
        ..wasm_smith::Config::default()
    }
}

/// What one engine did with a module.
#[derive(Debug, Clone, PartialEq)]
enum Outcome {
    Rejected,
    InstantiateTrap(Kind),
    Ran {
        calls: Vec<Result<Vec<Value>, Kind>>,
        memories: Vec<Vec<u8>>,
        globals: Vec<Value>,
    },
    Inconclusive,
}

/// A value as the comparison sees it: NaNs are one value, references only
/// null or not.
#[derive(Debug, Clone, PartialEq)]
enum Value {
    Bits(u128),
    NaN,
    Ref(bool),
}

/// The kind of a trap, in terms both engines report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Unreachable,
    MemoryOutOfBounds,
    /// `table.get/set/...` out of bounds, or `call_indirect` past the end
    /// (rung: "undefined element"; wasmi: table out of bounds).
    TableOutOfBounds,
    /// `call_indirect` of a null entry, or `call_ref` of null.
    NullCall,
    DivisionByZero,
    Overflow,
    BadConversion,
    BadSignature,
    Other,
}

fn rung_kind(t: &Trap) -> Option<Kind> {
    let TrapReason::Wasm(code) = t.reason else {
        return Some(Kind::Other);
    };
    Some(match code {
        TrapCode::StackOverflow => return None,
        TrapCode::UnreachableCodeReached => Kind::Unreachable,
        TrapCode::MemoryOutOfBounds => Kind::MemoryOutOfBounds,
        TrapCode::TableOutOfBounds | TrapCode::UndefinedElement => Kind::TableOutOfBounds,
        TrapCode::IndirectCallToNull | TrapCode::NullFunctionReference => Kind::NullCall,
        TrapCode::IntegerDivisionByZero => Kind::DivisionByZero,
        TrapCode::IntegerOverflow => Kind::Overflow,
        TrapCode::BadConversionToInteger => Kind::BadConversion,
        TrapCode::BadSignature => Kind::BadSignature,
        _ => Kind::Other,
    })
}

fn wasmi_kind(e: &wasmi::Error) -> Option<Kind> {
    use wasmi::TrapCode as W;
    use wasmi::errors::{ErrorKind, InstantiationError, MemoryError, TableError};
    // Bulk operators and active segments out of bounds are errors of the
    // table, memory or instantiation, not trap codes, in wasmi.
    match e.kind() {
        ErrorKind::Instantiation(InstantiationError::ElementSegmentDoesNotFit { .. }) => {
            return Some(Kind::TableOutOfBounds);
        }
        ErrorKind::Table(
            TableError::CopyOutOfBounds
            | TableError::InitOutOfBounds
            | TableError::FillOutOfBounds
            | TableError::SetOutOfBounds,
        ) => return Some(Kind::TableOutOfBounds),
        ErrorKind::Memory(MemoryError::OutOfBoundsAccess) => return Some(Kind::MemoryOutOfBounds),
        _ => {}
    }
    Some(match e.as_trap_code() {
        Some(W::StackOverflow) => return None,
        Some(W::UnreachableCodeReached) => Kind::Unreachable,
        Some(W::MemoryOutOfBounds) => Kind::MemoryOutOfBounds,
        Some(W::TableOutOfBounds) => Kind::TableOutOfBounds,
        Some(W::IndirectCallToNull) => Kind::NullCall,
        Some(W::IntegerDivisionByZero) => Kind::DivisionByZero,
        Some(W::IntegerOverflow) => Kind::Overflow,
        Some(W::BadConversionToInteger) => Kind::BadConversion,
        Some(W::BadSignature) => Kind::BadSignature,
        _ => Kind::Other,
    })
}

fn float32(bits: u32) -> Value {
    if f32::from_bits(bits).is_nan() {
        Value::NaN
    } else {
        Value::Bits(u128::from(bits))
    }
}

fn float64(bits: u64) -> Value {
    if f64::from_bits(bits).is_nan() {
        Value::NaN
    } else {
        Value::Bits(u128::from(bits))
    }
}

fn rung_value(v: &Val) -> Value {
    match *v {
        Val::I32(x) => Value::Bits(u128::from(x as u32)),
        Val::I64(x) => Value::Bits(u128::from(x as u64)),
        Val::F32(b) => float32(b),
        Val::F64(b) => float64(b),
        Val::V128(x) => Value::Bits(x),
        Val::FuncRef(ref f) => Value::Ref(f.is_some()),
        Val::ExternRef(r) => Value::Ref(r.is_some()),
        Val::AnyRef(r) => Value::Ref(r.is_some()),
    }
}

fn wasmi_value(v: &wasmi::Val) -> Value {
    match v {
        wasmi::Val::I32(x) => Value::Bits(u128::from(*x as u32)),
        wasmi::Val::I64(x) => Value::Bits(u128::from(*x as u64)),
        wasmi::Val::F32(x) => float32(x.to_bits()),
        wasmi::Val::F64(x) => float64(x.to_bits()),
        wasmi::Val::V128(x) => Value::Bits(x.as_u128()),
        wasmi::Val::FuncRef(f) => Value::Ref(!f.is_null()),
        wasmi::Val::ExternRef(e) => Value::Ref(!e.is_null()),
    }
}

/// The arguments of one call, drawn from `u` (the same for both engines).
fn arguments(params: &[ValType], u: &mut Unstructured<'_>) -> Vec<Val> {
    params
        .iter()
        .map(|ty| {
            let pick = u.int_in_range(0..=5u8).unwrap_or(0);
            match ty {
                ValType::I32 => Val::I32(match pick {
                    0 => 0,
                    1 => -1,
                    2 => i32::MIN,
                    _ => u.arbitrary().unwrap_or(7),
                }),
                ValType::I64 => Val::I64(match pick {
                    0 => 0,
                    1 => -1,
                    2 => i64::MIN,
                    _ => u.arbitrary().unwrap_or(7),
                }),
                ValType::F32 => Val::F32(match pick {
                    0 => (-0.0f32).to_bits(),
                    1 => f32::INFINITY.to_bits(),
                    _ => number_bits32(u.arbitrary().unwrap_or(0.0)),
                }),
                ValType::F64 => Val::F64(match pick {
                    0 => (-0.0f64).to_bits(),
                    1 => 4294967296.0f64.to_bits(),
                    _ => number_bits64(u.arbitrary().unwrap_or(0.0)),
                }),
                ValType::V128 => Val::V128(u.arbitrary().unwrap_or(0)),
                ValType::Ref(r) if r.is_func_ref() => Val::FuncRef(None),
                ValType::Ref(_) => Val::ExternRef(None),
            }
        })
        .collect()
}

/// A float argument's bits, a NaN replaced by 0 (NaN payloads may differ
/// between engines where the spec allows it).
fn number_bits32(f: f32) -> u32 {
    if f.is_nan() { 0 } else { f.to_bits() }
}

fn number_bits64(f: f64) -> u64 {
    if f.is_nan() { 0 } else { f.to_bits() }
}

fn to_wasmi(v: &Val) -> wasmi::Val {
    match *v {
        Val::I32(x) => wasmi::Val::I32(x),
        Val::I64(x) => wasmi::Val::I64(x),
        Val::F32(b) => wasmi::Val::F32(wasmi::F32::from_bits(b)),
        Val::F64(b) => wasmi::Val::F64(wasmi::F64::from_bits(b)),
        Val::V128(x) => wasmi::Val::V128(wasmi::V128::from(x)),
        Val::FuncRef(_) => wasmi::Val::FuncRef(wasmi::Ref::Null),
        Val::ExternRef(_) | Val::AnyRef(_) => wasmi::Val::ExternRef(wasmi::Ref::Null),
    }
}

/// The module's exported functions' parameter types, in export-name order,
/// read from the binary (the same list for both engines).
fn export_params(bytes: &[u8]) -> Vec<(String, Vec<ValType>)> {
    use wasmparser::{ExternalKind, Parser, Payload, TypeRef};
    let mut types = Vec::new();
    let mut funcs = Vec::new();
    let mut exports = Vec::new();
    for payload in Parser::new(0).parse_all(bytes).flatten() {
        match payload {
            Payload::TypeSection(r) => {
                for ty in r.into_iter_err_on_gc_types().flatten() {
                    types.push(ty.params().to_vec());
                }
            }
            Payload::ImportSection(r) => {
                for imp in r.into_imports().flatten() {
                    if let TypeRef::Func(t) = imp.ty {
                        funcs.push(t);
                    }
                }
            }
            Payload::FunctionSection(r) => funcs.extend(r.into_iter().flatten()),
            Payload::ExportSection(r) => {
                for e in r.into_iter().flatten() {
                    if e.kind == ExternalKind::Func {
                        exports.push((e.name.to_string(), e.index));
                    }
                }
            }
            _ => {}
        }
    }
    exports.sort();
    exports
        .into_iter()
        .filter_map(|(name, f)| {
            let t = *funcs.get(f as usize)?;
            Some((name, types.get(t as usize)?.clone()))
        })
        .collect()
}

fn run_rung(engine: &Engine, bytes: &[u8], calls: &[(String, Vec<Val>)]) -> Outcome {
    let Ok(module) = Module::new(engine, bytes) else {
        return Outcome::Rejected;
    };
    let mut store = Store::new(engine);
    let instance = match Linker::new().instantiate(&mut store, &module) {
        Ok(i) => i,
        Err(rung::runtime::Error::Trap(t)) => {
            return rung_kind(&t).map_or(Outcome::Inconclusive, Outcome::InstantiateTrap);
        }
        Err(_) => return Outcome::Rejected,
    };
    let mut results = Vec::new();
    for (name, args) in calls {
        let Some(f) = instance.get_func(&store, name) else {
            return Outcome::Rejected;
        };
        match f.call(&mut store, args) {
            Ok(r) => results.push(Ok(r.iter().map(rung_value).collect())),
            Err(t) => match rung_kind(&t) {
                Some(k) => results.push(Err(k)),
                None => return Outcome::Inconclusive,
            },
        }
    }
    let mut exports = instance.exports(&store);
    exports.sort_by(|a, b| a.0.cmp(&b.0));
    let (mut memories, mut globals) = (Vec::new(), Vec::new());
    for (_, ext) in &exports {
        match ext {
            Extern::Memory(m) => memories.push(m.data(&store).to_vec()),
            Extern::Global(g) => globals.push(rung_value(&g.get(&store))),
            _ => {}
        }
    }
    Outcome::Ran {
        calls: results,
        memories,
        globals,
    }
}

fn wasmi_engine() -> wasmi::Engine {
    let mut config = wasmi::Config::default();
    config
        .wasm_multi_memory(true)
        .wasm_memory64(true)
        .wasm_wide_arithmetic(true)
        .wasm_simd(true)
        .wasm_tail_call(true)
        .wasm_extended_const(true);
    wasmi::Engine::new(&config)
}

fn run_wasmi(engine: &wasmi::Engine, bytes: &[u8], calls: &[(String, Vec<Val>)]) -> Outcome {
    let Ok(module) = wasmi::Module::new(engine, bytes) else {
        return Outcome::Rejected;
    };
    let mut store = wasmi::Store::new(engine, ());
    let linker = wasmi::Linker::<()>::new(engine);
    let instance = match linker.instantiate_and_start(&mut store, &module) {
        Ok(i) => i,
        Err(e) => {
            return match wasmi_kind(&e) {
                None => Outcome::Inconclusive,
                Some(Kind::Other) => Outcome::Rejected,
                Some(k) => Outcome::InstantiateTrap(k),
            };
        }
    };
    let mut results = Vec::new();
    for (name, args) in calls {
        let Some(f) = instance.get_func(&store, name) else {
            return Outcome::Rejected;
        };
        let args: Vec<wasmi::Val> = args.iter().map(to_wasmi).collect();
        let mut out: Vec<wasmi::Val> = f
            .ty(&store)
            .results()
            .iter()
            .map(|t| wasmi::Val::default(*t))
            .collect();
        match f.call(&mut store, &args, &mut out) {
            Ok(()) => results.push(Ok(out.iter().map(wasmi_value).collect())),
            Err(e) => match wasmi_kind(&e) {
                Some(k) => results.push(Err(k)),
                None => return Outcome::Inconclusive,
            },
        }
    }
    let mut exports: Vec<(String, wasmi::Extern)> = instance
        .exports(&store)
        .map(|e| (e.name().to_string(), e.into_extern()))
        .collect();
    exports.sort_by(|a, b| a.0.cmp(&b.0));
    let (mut memories, mut globals) = (Vec::new(), Vec::new());
    for (_, ext) in &exports {
        match ext {
            wasmi::Extern::Memory(m) => memories.push(m.data(&store).to_vec()),
            wasmi::Extern::Global(g) => globals.push(wasmi_value(&g.get(&store))),
            _ => {}
        }
    }
    Outcome::Ran {
        calls: results,
        memories,
        globals,
    }
}

struct Engines {
    wasmi: wasmi::Engine,
    rung: Vec<(&'static str, Engine)>,
}

fn engines() -> Engines {
    let rung = [
        ("optimized", TierChoice::Optimized),
        ("baseline", TierChoice::Baseline),
        ("tiered", TierChoice::Tiered),
    ]
    .into_iter()
    .map(|(name, tier)| {
        let config = Config {
            compile_threads: 1,
            tier_up_in_background: false,
            ..tier.config()
        };
        (name, Engine::new(config).expect("engine"))
    })
    .collect();
    Engines {
        wasmi: wasmi_engine(),
        rung,
    }
}

thread_local! {
    static ENGINES: Engines = engines();
}

fn check(bytes: &[u8], args_seed: &[u8]) -> Result<(), String> {
    let mut u = Unstructured::new(args_seed);
    let calls: Vec<(String, Vec<Val>)> = export_params(bytes)
        .into_iter()
        .map(|(name, params)| {
            let args = arguments(&params, &mut u);
            (name, args)
        })
        .collect();
    ENGINES.with(|e| {
        let oracle = run_wasmi(&e.wasmi, bytes, &calls);
        if matches!(oracle, Outcome::Inconclusive) {
            return Ok(());
        }
        for (name, engine) in &e.rung {
            let outcome = run_rung(engine, bytes, &calls);
            if matches!(outcome, Outcome::Inconclusive) || outcome == oracle {
                continue;
            }
            let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("target/oracle-divergence.wasm");
            let _ = std::fs::write(&path, bytes);
            return Err(format!(
                "rung ({name}) differs from wasmi (module in {}):\n wasmi: {oracle:?}\n rung ({name}): {outcome:?}",
                path.display()
            ));
        }
        Ok(())
    })
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: common::cases(2000),
        max_shrink_iters: 100,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn rung_agrees_with_wasmi(
        input in proptest::collection::vec(any::<u8>(), 1024..16384),
        args in proptest::collection::vec(any::<u8>(), 64),
    ) {
        let disallow_traps = input[0] & 1 == 1;
        let mut u = Unstructured::new(&input[1..]);
        let Ok(mut module) = wasm_smith::Module::new(smith_config(disallow_traps), &mut u) else {
            return Ok(());
        };
        if module.ensure_termination(10_000).is_err() {
            return Ok(());
        }
        let bytes = module.to_bytes();
        let result = check(&bytes, &args);
        prop_assert!(result.is_ok(), "{}", result.err().unwrap_or_default());
    }
}
