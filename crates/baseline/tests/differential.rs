//! Differential test: wasm-smith modules, restricted to what both tiers
//! compile (SIMD and relaxed SIMD, which the baseline compiles with the
//! optimizer's answers bit for bit; threads' atomics on a single thread (a
//! module that could `memory.atomic.wait` on a shared memory is skipped:
//! with no other thread to notify it, a wait without a timeout never
//! ends); exceptions (`try_table`, `throw`, `throw_ref`; an uncaught one
//! is compared by its tag); 64-bit memories and tables; wide arithmetic;
//! no GC, no imports; one memory of at most 16 pages), made to terminate with
//! wasm-smith's fuel (`ensure_termination`) and with NaNs canonicalized, are
//! run by the runtime on the optimizing tier, the baseline tier, mixed
//! (function by function alternating) and tiered with OSR forced (every
//! function promoted on its first call, every loop that runs twice moved
//! into an OSR entry at its first back-edge). Every export is called with
//! arguments drawn from the same input; results (NaN equals NaN), traps
//! (the same `TrapCode`, function and byte offset), and afterwards every
//! exported memory and global must agree.
//!
//! 2,000 cases by default; `PROPTEST_CASES=N` for more (or fewer). A
//! divergent module is written to `target/baseline-divergence.wasm`.
//!
//! `DIFF_STATS=1` prints each call's outcome kind on the optimizing tier
//! (how far the generated code runs), and after each case how many frames
//! the OSR configuration has moved so far.
//!
//! A stack overflow in any configuration makes the rest of that case
//! inconclusive (the tiers' frames differ in size, so their depth limits do).

use arbitrary::Unstructured;
use proptest::prelude::*;
use rung_runtime::{
    Config, Engine, Extern, Linker, Module, Store, TierChoice, Trap, TrapReason, Val,
};
use rung_tiering::TrapCode;
use wasmparser::ValType;

fn smith_config(disallow_traps: bool) -> wasm_smith::Config {
    wasm_smith::Config {
        disallow_traps,
        simd_enabled: true,
        relaxed_simd_enabled: true,
        threads_enabled: true,
        exceptions_enabled: true,
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
        max_memories: 1,
        max_memory32_bytes: 16 * 65536,
        max_memory64_bytes: 16 * 65536,
        // A declared maximum keeps memory.grow (and the comparison) small.
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

/// What one configuration did with a module.
#[derive(Debug, Clone, PartialEq)]
enum Outcome {
    Rejected(String),
    InstantiateTrap(TrapAt),
    Ran {
        calls: Vec<Result<Vec<Value>, TrapAt>>,
        memories: Vec<Vec<u8>>,
        globals: Vec<Value>,
    },
    /// A stack overflow somewhere: not comparable.
    Inconclusive,
}

/// A value as the comparison sees it: NaNs are one value, references only
/// null or not (identities differ between stores).
#[derive(Debug, Clone, PartialEq)]
enum Value {
    Bits(u64),
    NaN,
    Ref(bool),
}

fn value(v: &Val) -> Value {
    match *v {
        Val::I32(x) => Value::Bits(u64::from(x as u32)),
        Val::I64(x) => Value::Bits(x as u64),
        Val::F32(b) if f32::from_bits(b).is_nan() => Value::NaN,
        Val::F32(b) => Value::Bits(u64::from(b)),
        Val::F64(b) if f64::from_bits(b).is_nan() => Value::NaN,
        Val::F64(b) => Value::Bits(b),
        Val::V128(x) => Value::Bits(x as u64 ^ (x >> 64) as u64),
        Val::FuncRef(ref f) => Value::Ref(f.is_some()),
        Val::ExternRef(r) => Value::Ref(r.is_some()),
        Val::AnyRef(r) => Value::Ref(r.is_some()),
    }
}

fn trap_code(t: &Trap) -> Option<TrapCode> {
    match t.reason {
        TrapReason::Wasm(c) => Some(c),
        _ => None,
    }
}

/// A trap as the comparison sees it: its code, the function and byte
/// offset it reports (which must not depend on the tier), and for an
/// uncaught exception its tag.
type TrapAt = (Option<TrapCode>, Option<u32>, Option<u32>, Option<u32>);

fn trap_at(t: &Trap) -> TrapAt {
    let tag = match t.reason {
        TrapReason::Exception { tag, .. } => Some(tag),
        _ => None,
    };
    (trap_code(t), t.func, t.wasm_offset, tag)
}

fn argument(ty: ValType, u: &mut Unstructured<'_>) -> Val {
    let pick = |u: &mut Unstructured<'_>| u.int_in_range(0..=7u8).unwrap_or(0);
    match ty {
        ValType::I32 => Val::I32(match pick(u) {
            0 => 0,
            1 => 1,
            2 => -1,
            3 => i32::MIN,
            4 => i32::MAX,
            _ => u.arbitrary().unwrap_or(7),
        }),
        ValType::I64 => Val::I64(match pick(u) {
            0 => 0,
            1 => 1,
            2 => -1,
            3 => i64::MIN,
            4 => i64::MAX,
            _ => u.arbitrary().unwrap_or(7),
        }),
        ValType::F32 => Val::F32(match pick(u) {
            0 => 0,
            1 => (-0.0f32).to_bits(),
            2 => 1.5f32.to_bits(),
            3 => f32::INFINITY.to_bits(),
            4 => 2147483648.0f32.to_bits(),
            _ => u.arbitrary().unwrap_or(0),
        }),
        ValType::F64 => Val::F64(match pick(u) {
            0 => 0,
            1 => (-0.0f64).to_bits(),
            2 => (-2.5f64).to_bits(),
            3 => f64::NEG_INFINITY.to_bits(),
            4 => 4294967296.0f64.to_bits(),
            _ => u.arbitrary().unwrap_or(0),
        }),
        ValType::V128 => Val::V128(match pick(u) {
            0 => 0,
            1 => u128::MAX,
            _ => u.arbitrary().unwrap_or(0),
        }),
        ValType::Ref(r) if r.is_func_ref() => Val::FuncRef(None),
        ValType::Ref(_) => Val::ExternRef(None),
    }
}

fn run(engine: &Engine, bytes: &[u8], args_seed: &[u8]) -> Outcome {
    let module = match Module::new(engine, bytes) {
        Ok(m) => m,
        Err(e) => return Outcome::Rejected(e.to_string()),
    };
    let mut store = Store::new(engine);
    let instance = match Linker::new().instantiate(&mut store, &module) {
        Ok(i) => i,
        Err(rung_runtime::Error::Trap(t)) => {
            if trap_code(&t) == Some(TrapCode::StackOverflow) {
                return Outcome::Inconclusive;
            }
            return Outcome::InstantiateTrap(trap_at(&t));
        }
        Err(e) => return Outcome::Rejected(e.to_string()),
    };
    let mut exports = instance.exports(&store);
    exports.sort_by(|a, b| a.0.cmp(&b.0));
    let mut u = Unstructured::new(args_seed);
    let mut calls = Vec::new();
    for (_, ext) in &exports {
        if let Extern::Func(f) = ext {
            let ty = f.ty(&store).clone();
            let args: Vec<Val> = ty.params().iter().map(|&t| argument(t, &mut u)).collect();
            match f.call(&mut store, &args) {
                Ok(results) => calls.push(Ok(results.iter().map(value).collect())),
                Err(t) if trap_code(&t) == Some(TrapCode::StackOverflow) => {
                    return Outcome::Inconclusive;
                }
                Err(t) => calls.push(Err(trap_at(&t))),
            }
        }
    }
    let mut memories = Vec::new();
    let mut globals = Vec::new();
    for (_, ext) in &exports {
        match ext {
            Extern::Memory(m) => memories.push(m.data(&store).to_vec()),
            Extern::Global(g) => globals.push(value(&g.get(&store))),
            _ => {}
        }
    }
    Outcome::Ran {
        calls,
        memories,
        globals,
    }
}

fn engines() -> Vec<(&'static str, Engine)> {
    let mut engines: Vec<(&'static str, Engine)> = [
        ("optimized", TierChoice::Optimized),
        ("baseline", TierChoice::Baseline),
        ("mixed", TierChoice::Mixed),
    ]
    .into_iter()
    .map(|(name, tier)| {
        let config = Config {
            compile_threads: 1,
            ..tier.config()
        };
        (name, Engine::new(config).expect("engine"))
    })
    .collect();
    // Baseline first, every function promoted on its first call, every
    // loop that runs twice moved into an OSR entry at its first back-edge.
    let osr = Config {
        compile_threads: 1,
        tier_up_policy: std::sync::Arc::new(OsrAtOnce),
        tier_up_in_background: false,
        ..TierChoice::Tiered.config()
    };
    engines.push(("osr", Engine::new(osr).expect("engine")));
    engines
}

/// Promotes on the first call, and runs a frame's budget out at its first
/// back-edge.
struct OsrAtOnce;

impl rung_tiering::TierUpPolicy for OsrAtOnce {
    fn initial_budget(&self, _func: u32, _body_size: u32, _level: usize) -> i32 {
        1
    }
    fn on_budget_exhausted(&self, hot: &rung_tiering::HotFunction) -> rung_tiering::TierUpDecision {
        rung_tiering::TierUpDecision::Promote(hot.next_level())
    }
}

fn cases() -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(2000)
}

fn check_module(
    engines: &[(&'static str, Engine)],
    bytes: &[u8],
    args_seed: &[u8],
) -> Result<(), String> {
    let reference = run(&engines[0].1, bytes, args_seed);
    if std::env::var("DIFF_STATS").is_ok() {
        match &reference {
            Outcome::Ran { calls, .. } => {
                for c in calls {
                    eprintln!("call {:?}", c.as_ref().map(|_| ()));
                }
            }
            other => eprintln!("module {other:?}"),
        }
    }
    for (name, engine) in &engines[1..] {
        let outcome = run(engine, bytes, args_seed);
        if matches!(outcome, Outcome::Inconclusive) || matches!(reference, Outcome::Inconclusive) {
            continue;
        }
        if outcome != reference {
            let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("../../target/baseline-divergence.wasm");
            let _ = std::fs::write(&path, bytes);
            return Err(format!(
                "{name} differs from optimized (module in {}):\n optimized: {reference:?}\n {name}: {outcome:?}",
                path.display()
            ));
        }
    }
    Ok(())
}

thread_local! {
    static ENGINES: Vec<(&'static str, Engine)> = engines();
}

/// Whether the module has a shared memory and a `memory.atomic.wait`
/// (which could wait forever on one thread).
fn waits_on_shared_memory(bytes: &[u8]) -> bool {
    use wasmparser::{Operator, Parser, Payload};
    let (mut shared, mut waits) = (false, false);
    for payload in Parser::new(0).parse_all(bytes) {
        match payload {
            Ok(Payload::MemorySection(r)) => {
                shared |= r.into_iter().any(|m| m.is_ok_and(|m| m.shared));
            }
            Ok(Payload::CodeSectionEntry(body)) => {
                let Ok(mut ops) = body.get_operators_reader() else {
                    return true;
                };
                while !ops.eof() {
                    match ops.read() {
                        Ok(
                            Operator::MemoryAtomicWait32 { .. }
                            | Operator::MemoryAtomicWait64 { .. },
                        ) => {
                            waits = true;
                        }
                        Ok(_) => {}
                        Err(_) => return true,
                    }
                }
            }
            Ok(_) => {}
            Err(_) => return true,
        }
    }
    shared && waits
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: cases(),
        max_shrink_iters: 200,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn baseline_agrees_with_the_optimizer(
        input in proptest::collection::vec(any::<u8>(), 1024..16384),
        args in proptest::collection::vec(any::<u8>(), 64),
    ) {
        // Half the modules avoid traps (wasm-smith guards loads, divisions
        // and conversions), so that calls run further and return values.
        let disallow_traps = input[0] & 1 == 1;
        let mut u = Unstructured::new(&input[1..]);
        let Ok(mut module) = wasm_smith::Module::new(smith_config(disallow_traps), &mut u) else {
            return Ok(());
        };
        // One fuel budget for the whole case (the global is not reset
        // between calls).
        if module.ensure_termination(10_000).is_err() {
            return Ok(());
        }
        let bytes = module.to_bytes();
        if waits_on_shared_memory(&bytes) {
            return Ok(());
        }
        let failures = || -> Vec<usize> {
            ENGINES.with(|e| e.iter().map(|(_, engine)| engine.tier_up_stats().failed).collect())
        };
        let failed_before = failures();
        let result = ENGINES.with(|e| check_module(e, &bytes, &args));
        if std::env::var("DIFF_STATS").is_ok() {
            ENGINES.with(|e| {
                if let Some((_, osr)) = e.iter().find(|(n, _)| *n == "osr") {
                    eprintln!("osr frames moved so far: {}", osr.tier_up_stats().osr_switches);
                }
            });
        }
        prop_assert!(result.is_ok(), "{}", result.err().unwrap_or_default());
        // The osr engine compiles its promotions and OSR entries on the
        // calling thread, so a failure shows in the case that caused it.
        prop_assert_eq!(failures(), failed_before, "a tier-up compile failed (counts per engine)");
    }
}
