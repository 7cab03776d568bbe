//! Divergences the differential test found, kept as regression tests: each
//! module runs in the runtime on the optimizing tier and on the baseline,
//! and every export's outcome (results or trap) must be the same.

use rung_runtime::{Config, Engine, Linker, Module, Store, TierChoice, Val};

fn outcomes(tier: TierChoice, wat: &str, calls: &[(&str, &[Val])]) -> Vec<String> {
    let engine = Engine::new(Config {
        compile_threads: 1,
        ..tier.config()
    })
    .expect("engine");
    let bytes = wat::parse_str(wat).expect("wat");
    let module = Module::new(&engine, &bytes).expect("compiles");
    let mut store = Store::new(&engine);
    let inst = Linker::new()
        .instantiate(&mut store, &module)
        .expect("instantiates");
    calls
        .iter()
        .map(|(name, args)| {
            let f = inst.get_func(&store, name).expect("export");
            format!("{:?}", f.call(&mut store, args).map_err(|t| t.reason))
        })
        .collect()
}

fn same_on_both(wat: &str, calls: &[(&str, &[Val])]) {
    let o = outcomes(TierChoice::Optimized, wat, calls);
    let b = outcomes(TierChoice::Baseline, wat, calls);
    assert_eq!(o, b, "baseline differs from optimized");
}

/// An `i32` in a register has undefined upper bits (here: memory.grow's
/// failed -1 is an i64 in rax); the address of an access must be
/// zero-extended from 32 bits, not copied as 64.
#[test]
fn addresses_are_zero_extended_from_registers() {
    same_on_both(
        r#"(module (memory 1)
          (func (export "grow_then_load") (result i32)
            i32.const -774875500 memory.grow i32.load16_u offset=6896)
          (func (export "grow_then_store")
            i32.const 100000 memory.grow i32.const 1 i32.store8)
          (table 2 funcref)
          (func (export "grow_then_table_get") (result funcref)
            i32.const 100000 memory.grow table.get 0)
          (type $t (func))
          (func (export "grow_then_call_indirect")
            i32.const 100000 memory.grow call_indirect (type $t))
          (func (export "grow_then_br_table") (result i32)
            block block i32.const 100000 memory.grow br_table 0 1 end i32.const 1 return end
            i32.const 2))"#,
        &[
            ("grow_then_load", &[]),
            ("grow_then_store", &[]),
            ("grow_then_table_get", &[]),
            ("grow_then_call_indirect", &[]),
            ("grow_then_br_table", &[]),
        ],
    );
}

/// Traps with their codes, on both tiers.
#[test]
fn traps_agree() {
    same_on_both(
        r#"(module (memory 1)
          (func (export "div0") (param i32) (result i32) i32.const 1 local.get 0 i32.div_u)
          (func (export "ovf") (param i32) (result i32) i32.const 0x80000000 local.get 0 i32.div_s)
          (func (export "rem") (param i32) (result i32) i32.const 0x80000000 local.get 0 i32.rem_s)
          (func (export "trunc") (param f64) (result i32) local.get 0 i32.trunc_f64_u)
          (func (export "oob") (param i32) (result i32) local.get 0 i32.load offset=65533)
          (func (export "unreachable") unreachable)
          (func $rec (export "deep") (param i32) (result i32) local.get 0 i32.const 1 i32.add call $rec))"#,
        &[
            ("div0", &[Val::I32(0)]),
            ("ovf", &[Val::I32(-1)]),
            ("rem", &[Val::I32(-1)]),
            ("trunc", &[Val::F64(f64::NAN.to_bits())]),
            ("trunc", &[Val::F64((-1.0f64).to_bits())]),
            ("trunc", &[Val::F64(4294967295.0f64.to_bits())]),
            ("oob", &[Val::I32(0)]),
            ("oob", &[Val::I32(-1)]),
            ("unreachable", &[]),
            ("deep", &[Val::I32(0)]),
        ],
    );
}
