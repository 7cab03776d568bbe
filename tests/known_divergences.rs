//! Divergences between the tiers that `cargo xtask fuzz --target
//! differential` found, each kept as a module in `tests/data` and a
//! regression test that fails if the tiers disagree on it again. Every one
//! found so far is fixed; none is skipped.

use rung::runtime::{Engine, Extern, Linker, Module, Store, TierChoice, Val};
use wasmparser::ValType;

/// Calls every exported function of `wasm`, in name order, with zero
/// arguments on a fresh instance; the (trap code, function, wasm offset)
/// of each call.
fn outcomes(wasm: &[u8], tier: TierChoice) -> Vec<String> {
    let engine = Engine::new(tier.config()).unwrap();
    let module = Module::new(&engine, wasm).unwrap();
    let mut store = Store::new(&engine);
    let instance = Linker::new().instantiate(&mut store, &module).unwrap();
    let mut exports = instance.exports(&store);
    exports.sort_by(|a, b| a.0.cmp(&b.0));
    let mut out = Vec::new();
    for (name, ext) in exports {
        let Extern::Func(f) = ext else { continue };
        let args: Vec<Val> = f
            .ty(&store)
            .params()
            .iter()
            .map(|p| match p {
                ValType::I32 => Val::I32(0),
                ValType::I64 => Val::I64(0),
                ValType::F32 => Val::F32(0),
                ValType::F64 => Val::F64(0),
                ValType::V128 => Val::V128(0),
                _ => Val::ExternRef(None),
            })
            .collect();
        let r = f.call(&mut store, &args);
        out.push(format!(
            "{name:?}: {:?}",
            r.map_err(|t| (t.code(), t.func, t.wasm_offset))
        ));
    }
    out
}

fn module(name: &str) -> Vec<u8> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Function 1 reaches the `unreachable` at 0x3fd (an `i16x8.extract_lane_u`
/// of zeros does not take the `br_if` before it): the baseline reports
/// 0x3fd (1021), the optimizer the function's last `unreachable`, 0x692
/// (1682). Found by 100,000 wasm-smith cases with threads, relaxed SIMD and
/// exceptions on; the baseline's answer is the right one. Cause: the
/// `brif` had two successors that only trap, both claimed it for their
/// `unreachable`'s offset, and Cranelift folded one of them into a
/// conditional trap at the `brif`'s (last-claimed) location.
#[test]
fn an_unreachable_is_reported_at_its_own_offset() {
    let wasm = module("divergence-unreachable-offset.wasm");
    let base = outcomes(&wasm, TierChoice::Baseline);
    assert!(base[1].contains("Some(1021)"), "{base:?}");
    assert_eq!(outcomes(&wasm, TierChoice::Optimized), base);
}

/// Function 2 reaches the `unreachable` at 0x7e1 (2017), in a block that
/// before it computes only pure values, a readonly load of the vmctx
/// among them: Cranelift folds such a block into its `brif`'s conditional
/// trap, and the optimizer reported the `brif`'s offset, 0x7bb (1979),
/// because it took the load for an effect and did not give the `brif`
/// the `unreachable`'s location. Found by the differential test while the
/// baseline's v128 pinning was built.
#[test]
fn an_unreachable_after_a_pure_load_is_reported_at_its_own_offset() {
    let wasm = module("divergence-unreachable-pure-load.wasm");
    let base = outcomes(&wasm, TierChoice::Baseline);
    assert!(base[2].contains("Some(2017)"), "{base:?}");
    assert_eq!(outcomes(&wasm, TierChoice::Optimized), base);
}
