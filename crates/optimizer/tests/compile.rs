//! Compile-only tests: every function of modules covering each operator
//! family compiles to position-independent code whose metadata keeps
//! `CompiledFunction`'s invariants, with the trap sites each operator needs;
//! operators of unsupported proposals are `Unsupported`, never a panic.

mod common;

use std::collections::BTreeSet;

use common::{Module, tier};
use rung_optimizer::OptimizingTier;
use rung_tiering::Trampolines;
use rung_tiering::{CompileError, CompiledFunction, TrapCode};
use wasmparser::{FuncType, ValType};

fn traps(f: &CompiledFunction) -> BTreeSet<TrapCode> {
    f.trap_sites.iter().map(|s| s.trap).collect()
}

/// Compiles every function, checks the invariants, and returns them by name.
fn compile_all(wat: &str) -> Vec<(String, CompiledFunction)> {
    let m = Module::from_wat(wat);
    let t = tier();
    (0..m.bodies.len())
        .map(|i| {
            let name = m.name(i);
            let f = m
                .compile_with(&t, i, &rung_testkit::TOP)
                .unwrap_or_else(|e| panic!("{name} does not compile: {e}"));
            f.check().unwrap_or_else(|e| panic!("{name}: {e}"));
            assert!(!f.code.is_empty(), "{name}: no code");
            assert_eq!(f.stats.code_bytes, f.code.len());
            assert_eq!(f.stats.tier, "optimizer");
            assert!(!f.offset_map.is_empty(), "{name}: no offset map");
            let (start, end) = (m.bodies[i].1, m.bodies[i].1 + m.bodies[i].2.len() as u64);
            for &(_, w) in &f.offset_map {
                assert!(
                    (start..end).contains(&u64::from(w)),
                    "{name}: wasm offset {w:#x} outside its body {start:#x}..{end:#x}"
                );
            }
            (name, f)
        })
        .collect()
}

fn find<'a>(fs: &'a [(String, CompiledFunction)], name: &str) -> &'a CompiledFunction {
    &fs.iter()
        .find(|(n, _)| n == name)
        .unwrap_or_else(|| panic!("no function {name}"))
        .1
}

/// (wasm operator, parameter types, result type)
const NUMERIC: &[(&str, &str, &str)] = &[
    ("i32.eqz", "i32", "i32"),
    ("i32.eq", "i32 i32", "i32"),
    ("i32.ne", "i32 i32", "i32"),
    ("i32.lt_s", "i32 i32", "i32"),
    ("i32.lt_u", "i32 i32", "i32"),
    ("i32.gt_s", "i32 i32", "i32"),
    ("i32.gt_u", "i32 i32", "i32"),
    ("i32.le_s", "i32 i32", "i32"),
    ("i32.le_u", "i32 i32", "i32"),
    ("i32.ge_s", "i32 i32", "i32"),
    ("i32.ge_u", "i32 i32", "i32"),
    ("i64.eqz", "i64", "i32"),
    ("i64.eq", "i64 i64", "i32"),
    ("i64.ne", "i64 i64", "i32"),
    ("i64.lt_s", "i64 i64", "i32"),
    ("i64.lt_u", "i64 i64", "i32"),
    ("i64.gt_s", "i64 i64", "i32"),
    ("i64.gt_u", "i64 i64", "i32"),
    ("i64.le_s", "i64 i64", "i32"),
    ("i64.le_u", "i64 i64", "i32"),
    ("i64.ge_s", "i64 i64", "i32"),
    ("i64.ge_u", "i64 i64", "i32"),
    ("f32.eq", "f32 f32", "i32"),
    ("f32.ne", "f32 f32", "i32"),
    ("f32.lt", "f32 f32", "i32"),
    ("f32.gt", "f32 f32", "i32"),
    ("f32.le", "f32 f32", "i32"),
    ("f32.ge", "f32 f32", "i32"),
    ("f64.eq", "f64 f64", "i32"),
    ("f64.ne", "f64 f64", "i32"),
    ("f64.lt", "f64 f64", "i32"),
    ("f64.gt", "f64 f64", "i32"),
    ("f64.le", "f64 f64", "i32"),
    ("f64.ge", "f64 f64", "i32"),
    ("i32.clz", "i32", "i32"),
    ("i32.ctz", "i32", "i32"),
    ("i32.popcnt", "i32", "i32"),
    ("i32.add", "i32 i32", "i32"),
    ("i32.sub", "i32 i32", "i32"),
    ("i32.mul", "i32 i32", "i32"),
    ("i32.div_s", "i32 i32", "i32"),
    ("i32.div_u", "i32 i32", "i32"),
    ("i32.rem_s", "i32 i32", "i32"),
    ("i32.rem_u", "i32 i32", "i32"),
    ("i32.and", "i32 i32", "i32"),
    ("i32.or", "i32 i32", "i32"),
    ("i32.xor", "i32 i32", "i32"),
    ("i32.shl", "i32 i32", "i32"),
    ("i32.shr_s", "i32 i32", "i32"),
    ("i32.shr_u", "i32 i32", "i32"),
    ("i32.rotl", "i32 i32", "i32"),
    ("i32.rotr", "i32 i32", "i32"),
    ("i64.clz", "i64", "i64"),
    ("i64.ctz", "i64", "i64"),
    ("i64.popcnt", "i64", "i64"),
    ("i64.add", "i64 i64", "i64"),
    ("i64.sub", "i64 i64", "i64"),
    ("i64.mul", "i64 i64", "i64"),
    ("i64.div_s", "i64 i64", "i64"),
    ("i64.div_u", "i64 i64", "i64"),
    ("i64.rem_s", "i64 i64", "i64"),
    ("i64.rem_u", "i64 i64", "i64"),
    ("i64.and", "i64 i64", "i64"),
    ("i64.or", "i64 i64", "i64"),
    ("i64.xor", "i64 i64", "i64"),
    ("i64.shl", "i64 i64", "i64"),
    ("i64.shr_s", "i64 i64", "i64"),
    ("i64.shr_u", "i64 i64", "i64"),
    ("i64.rotl", "i64 i64", "i64"),
    ("i64.rotr", "i64 i64", "i64"),
    ("f32.abs", "f32", "f32"),
    ("f32.neg", "f32", "f32"),
    ("f32.ceil", "f32", "f32"),
    ("f32.floor", "f32", "f32"),
    ("f32.trunc", "f32", "f32"),
    ("f32.nearest", "f32", "f32"),
    ("f32.sqrt", "f32", "f32"),
    ("f32.add", "f32 f32", "f32"),
    ("f32.sub", "f32 f32", "f32"),
    ("f32.mul", "f32 f32", "f32"),
    ("f32.div", "f32 f32", "f32"),
    ("f32.min", "f32 f32", "f32"),
    ("f32.max", "f32 f32", "f32"),
    ("f32.copysign", "f32 f32", "f32"),
    ("f64.abs", "f64", "f64"),
    ("f64.neg", "f64", "f64"),
    ("f64.ceil", "f64", "f64"),
    ("f64.floor", "f64", "f64"),
    ("f64.trunc", "f64", "f64"),
    ("f64.nearest", "f64", "f64"),
    ("f64.sqrt", "f64", "f64"),
    ("f64.add", "f64 f64", "f64"),
    ("f64.sub", "f64 f64", "f64"),
    ("f64.mul", "f64 f64", "f64"),
    ("f64.div", "f64 f64", "f64"),
    ("f64.min", "f64 f64", "f64"),
    ("f64.max", "f64 f64", "f64"),
    ("f64.copysign", "f64 f64", "f64"),
    ("i32.wrap_i64", "i64", "i32"),
    ("i32.trunc_f32_s", "f32", "i32"),
    ("i32.trunc_f32_u", "f32", "i32"),
    ("i32.trunc_f64_s", "f64", "i32"),
    ("i32.trunc_f64_u", "f64", "i32"),
    ("i64.extend_i32_s", "i32", "i64"),
    ("i64.extend_i32_u", "i32", "i64"),
    ("i64.trunc_f32_s", "f32", "i64"),
    ("i64.trunc_f32_u", "f32", "i64"),
    ("i64.trunc_f64_s", "f64", "i64"),
    ("i64.trunc_f64_u", "f64", "i64"),
    ("f32.convert_i32_s", "i32", "f32"),
    ("f32.convert_i32_u", "i32", "f32"),
    ("f32.convert_i64_s", "i64", "f32"),
    ("f32.convert_i64_u", "i64", "f32"),
    ("f32.demote_f64", "f64", "f32"),
    ("f64.convert_i32_s", "i32", "f64"),
    ("f64.convert_i32_u", "i32", "f64"),
    ("f64.convert_i64_s", "i64", "f64"),
    ("f64.convert_i64_u", "i64", "f64"),
    ("f64.promote_f32", "f32", "f64"),
    ("i32.reinterpret_f32", "f32", "i32"),
    ("i64.reinterpret_f64", "f64", "i64"),
    ("f32.reinterpret_i32", "i32", "f32"),
    ("f64.reinterpret_i64", "i64", "f64"),
    ("i32.extend8_s", "i32", "i32"),
    ("i32.extend16_s", "i32", "i32"),
    ("i64.extend8_s", "i64", "i64"),
    ("i64.extend16_s", "i64", "i64"),
    ("i64.extend32_s", "i64", "i64"),
    ("i32.trunc_sat_f32_s", "f32", "i32"),
    ("i32.trunc_sat_f32_u", "f32", "i32"),
    ("i32.trunc_sat_f64_s", "f64", "i32"),
    ("i32.trunc_sat_f64_u", "f64", "i32"),
    ("i64.trunc_sat_f32_s", "f32", "i64"),
    ("i64.trunc_sat_f32_u", "f32", "i64"),
    ("i64.trunc_sat_f64_s", "f64", "i64"),
    ("i64.trunc_sat_f64_u", "f64", "i64"),
];

#[test]
fn every_numeric_operator_compiles_with_its_traps() {
    let mut wat = String::from("(module\n");
    for (op, params, result) in NUMERIC {
        let gets: String = (0..params.split(' ').count())
            .map(|i| format!("local.get {i} "))
            .collect();
        wat.push_str(&format!(
            "(func ${op} (param {params}) (result {result}) {gets}{op})\n"
        ));
    }
    wat.push_str(
        "(func $div_by_const (param i32) (result i32) local.get 0 i32.const 7 i32.div_s)\n\
         (func $consts (result i32 i64 f32 f64) i32.const -1 i64.const -9 f32.const -0.5 f64.const nan)\n)",
    );
    let fs = compile_all(&wat);
    assert_eq!(fs.len(), NUMERIC.len() + 2);
    use TrapCode::*;
    for (op, _, _) in NUMERIC {
        let t = traps(find(&fs, op));
        let div = op.contains(".div_") || op.contains(".rem_");
        assert_eq!(t.contains(&IntegerDivisionByZero), div, "{op}: {t:?}");
        // `div_s` overflows on INT_MIN / -1; `rem_s` does not trap there.
        if op.contains(".div_s") {
            assert!(t.contains(&IntegerOverflow), "{op}: {t:?}");
        }
        let trapping_trunc = op.contains(".trunc_f");
        assert_eq!(
            t.contains(&BadConversionToInteger),
            trapping_trunc,
            "{op}: {t:?}"
        );
        if trapping_trunc {
            assert!(t.contains(&IntegerOverflow), "{op}: {t:?}");
        }
        // Nothing else traps: no memory, no stack check in a leaf.
        assert!(!t.contains(&MemoryOutOfBounds), "{op}: {t:?}");
    }
    // A constant nonzero divisor other than -1 needs no check at all.
    let t = traps(find(&fs, "div_by_const"));
    assert!(t.is_empty(), "{t:?}");
}

const CONTROL: &str = r#"
(module
  (type $pair (func (param i32 i64) (result i64 i32)))
  (func $if_else (param i32) (result i32)
    local.get 0 (if (result i32) (then i32.const 1) (else i32.const 2)))
  (func $if_no_else (param i32 i32) (result i32)
    local.get 1 local.get 0 (if (param i32) (result i32) (then i32.const 5 i32.add)))
  (func $multi_block (param i32 i64) (result i64 i32)
    local.get 0 local.get 1 (block (type $pair) drop drop local.get 1 local.get 0 local.get 0 br_if 0 drop drop local.get 1 i32.const 3))
  (func $loop_params (param i32) (result i32)
    i32.const 0 local.get 0
    (loop (param i32 i32) (result i32)
      local.tee 0 i32.add local.get 0
      i32.const 1 i32.sub local.tee 0
      local.get 0 br_if 0 drop))
  (func $br_table (param i32) (result i32)
    (block (result i32) (block (result i32) (block (result i32)
      i32.const 10 local.get 0 br_table 0 1 2)
      i32.const 1 i32.add) i32.const 2 i32.add))
  (func $br_table_empty (param i32)
    (block (block local.get 0 br_table 1 0 1)))
  (func $unreachable_tail (param i32) (result i32)
    (block (result i32) i32.const 1 br 0 i32.const 2 i32.add (if (then unreachable) (else nop)) i32.const 0)
    return
    (block (loop (if (i32.const 0) (then) (else))))
    i32.const 9)
  (func $trap (unreachable))
  (func $select (param i32 f64 f64) (result f64) local.get 1 local.get 2 local.get 0 select)
  (func $select_typed (param i32 funcref funcref) (result funcref)
    local.get 1 local.get 2 local.get 0 select (result funcref))
  (func $many_results (result i32 i64 f32 f64 i32 i64 i32 i64 i32 i64 i32 i64)
    i32.const 1 i64.const 2 f32.const 3 f64.const 4 i32.const 5 i64.const 6
    i32.const 7 i64.const 8 i32.const 9 i64.const 10 i32.const 11 i64.const 12)
  (func $nested_unreachable (result i32)
    (block (result i32) (if (result i32) (i32.const 1) (then (br 1 (i32.const 4))) (else (br 1 (i32.const 3))))))
  (global $g (mut i64) (i64.const 0))
  (global $c f32 (f32.const 1))
  (func $globals (result f32) global.get $g i64.const 1 i64.add global.set $g global.get $c)
)"#;

#[test]
fn control_flow_compiles() {
    let fs = compile_all(CONTROL);
    assert!(traps(find(&fs, "trap")).contains(&TrapCode::UnreachableCodeReached));
    // Dead code (after `br`, `return`) emits nothing, its `unreachable` too.
    assert!(traps(find(&fs, "unreachable_tail")).is_empty());
    assert!(traps(find(&fs, "if_else")).is_empty());
}

const MEMORY: &str = r#"
(module
  (import "env" "mem" (memory 1))
  (memory $m2 1 2)
  (data $d "hello")
  (func $loads (param i32) (result i64)
    local.get 0 i32.load drop local.get 0 i64.load offset=4 drop
    local.get 0 f32.load drop local.get 0 f64.load drop
    local.get 0 i32.load8_s drop local.get 0 i32.load8_u drop
    local.get 0 i32.load16_s drop local.get 0 i32.load16_u drop
    local.get 0 i64.load8_s drop local.get 0 i64.load8_u drop
    local.get 0 i64.load16_s drop local.get 0 i64.load16_u drop
    local.get 0 i64.load32_s drop
    local.get 0 i64.load32_u offset=4294967295)
  (func $stores (param i32 i64 f32 f64)
    local.get 0 local.get 1 i64.store local.get 0 local.get 1 i64.store8
    local.get 0 local.get 1 i64.store16 local.get 0 local.get 1 i64.store32
    local.get 0 i32.const 7 i32.store local.get 0 i32.const 7 i32.store8
    local.get 0 i32.const 7 i32.store16 local.get 0 local.get 2 f32.store
    local.get 0 local.get 3 f64.store)
  (func $second_memory (param i32) (result i32) local.get 0 i32.load $m2 offset=16)
  (func $size_grow (result i32) memory.size i32.const 1 memory.grow i32.add memory.size $m2 i32.add)
  (func $bulk (param i32 i32 i32)
    local.get 0 local.get 1 local.get 2 memory.fill
    local.get 0 local.get 1 local.get 2 memory.copy
    local.get 0 local.get 1 local.get 2 memory.copy $m2 0
    local.get 0 local.get 1 local.get 2 memory.init $d
    data.drop $d)
)"#;

#[test]
fn memory_operators_compile_with_bounds_checks() {
    let fs = compile_all(MEMORY);
    for name in ["loads", "stores", "second_memory"] {
        let t = traps(find(&fs, name));
        assert!(t.contains(&TrapCode::MemoryOutOfBounds), "{name}: {t:?}");
    }
    // Bulk operators and memory.grow are libcalls: the stack check is
    // there (not a leaf), bounds are the runtime's.
    for name in ["size_grow", "bulk"] {
        let t = traps(find(&fs, name));
        assert!(t.contains(&TrapCode::StackOverflow), "{name}: {t:?}");
        assert!(!t.contains(&TrapCode::MemoryOutOfBounds), "{name}: {t:?}");
    }
}

const CALLS_TABLES: &str = r#"
(module
  (type $t (func (param i32) (result i32)))
  (import "env" "f" (func $imported (type $t)))
  (import "env" "tab" (table $it 1 funcref))
  (import "env" "g" (global $ig (mut i32)))
  (table $ft 4 funcref)
  (table $et 2 externref)
  (elem $e func $direct $imported)
  (elem declare func $tail)
  (func $direct (type $t) local.get 0 call $imported)
  (func $indirect (param i32 i32) (result i32) local.get 0 local.get 1 call_indirect $ft (type $t))
  (func $indirect_imported_table (param i32) (result i32)
    local.get 0 local.get 0 call_indirect $it (type $t))
  (func $tail (type $t) local.get 0 return_call $direct)
  (func $tail_indirect (type $t) local.get 0 local.get 0 return_call_indirect $ft (type $t))
  (func $tail_imported (type $t) local.get 0 return_call $imported)
  (func $call_ref (param i32) (result i32) local.get 0 ref.func $tail call_ref $t)
  (func $return_call_ref (param i32) (result i32) local.get 0 ref.func $tail return_call_ref $t)
  (func $refs (param externref) (result i32)
    local.get 0 ref.is_null ref.null func ref.is_null i32.add
    ref.func $direct ref.is_null i32.add)
  (func $as_non_null (result funcref) ref.func $direct ref.as_non_null)
  (func $br_on_null (param funcref) (result i32)
    (block (local.get 0) (br_on_null 0) drop (return (i32.const 1))) i32.const 0)
  (func $br_on_non_null (param funcref) (result funcref)
    (block (result (ref func)) (local.get 0) (br_on_non_null 0) (return (ref.func $direct))))
  (func $table_get_set (param i32 externref) (result externref)
    local.get 0 local.get 1 table.set $et local.get 0 table.get $et)
  (func $table_imported (param i32) (result funcref) local.get 0 table.get $it)
  (func $table_ops (param i32) (result i32)
    ref.null func local.get 0 table.grow $ft
    table.size $ft i32.add
    local.get 0 ref.null func local.get 0 table.fill $ft
    local.get 0 local.get 0 local.get 0 table.copy $ft $it
    local.get 0 local.get 0 local.get 0 table.init $ft $e
    elem.drop $e)
  (func $global_import (result i32) global.get $ig i32.const 1 i32.add global.set $ig global.get $ig)
)"#;

#[test]
fn calls_and_tables_compile_with_their_traps() {
    use TrapCode::*;
    let fs = compile_all(CALLS_TABLES);
    for (name, f) in &fs {
        let t = traps(f);
        // Anything that calls has a prologue stack check.
        let calls = ![
            "refs",
            "as_non_null",
            "br_on_null",
            "br_on_non_null",
            "table_get_set",
            "table_imported",
            "global_import",
        ]
        .contains(&name.as_str());
        if calls {
            assert!(t.contains(&StackOverflow), "{name}: {t:?}");
        }
    }
    for name in ["indirect", "indirect_imported_table", "tail_indirect"] {
        let t = traps(find(&fs, name));
        for code in [UndefinedElement, IndirectCallToNull, BadSignature] {
            assert!(t.contains(&code), "{name} lacks {code:?}: {t:?}");
        }
    }
    assert!(traps(find(&fs, "call_ref")).contains(&NullFunctionReference));
    assert!(traps(find(&fs, "as_non_null")).contains(&NullReference));
    assert!(traps(find(&fs, "table_get_set")).contains(&TableOutOfBounds));
    assert!(traps(find(&fs, "table_imported")).contains(&TableOutOfBounds));
}

#[test]
fn other_proposals_compile() {
    // SIMD compiles (issue 9): v128 parameters, locals and operators.
    for wat in [
        "(module (func (param i32) (result i32) local.get 0 i32.const 1 i32.add \
         i32x4.splat i32x4.extract_lane 0))",
        "(module (func (param v128)))",
        "(module (func (local v128)))",
    ] {
        let m = Module::from_wat(wat);
        let f = m
            .compile_with(&tier(), 0, &rung_testkit::TOP)
            .unwrap_or_else(|e| panic!("{wat}: {e}"));
        f.check().expect("invariants");
    }
    // 64-bit memories compile (ARCHITECTURE.md, "64-bit memories and
    // tables"): the access is a trap site, and so is the shift check.
    let m = Module::from_wat(
        "(module (memory i64 1) (func (param i64) (result i32) local.get 0 i32.load))",
    );
    let f = m
        .compile_with(&tier(), 0, &rung_testkit::TOP)
        .expect("memory64");
    f.check().expect("invariants");
    let oob = f
        .trap_sites
        .iter()
        .filter(|s| s.trap == TrapCode::MemoryOutOfBounds)
        .count();
    assert!(oob >= 2, "{:?}", f.trap_sites);
    // Atomics compile (ARCHITECTURE.md, "Threads").
    let m = Module::from_wat(
        "(module (memory 1 1 shared) (func (param i32) (result i32) local.get 0 i32.atomic.load))",
    );
    m.compile_with(&tier(), 0, &rung_testkit::TOP)
        .expect("threads")
        .check()
        .expect("invariants");
    // Exceptions compile (issue 10): a call in a handler's scope gets a
    // landing pad, a call outside one does not.
    let m = Module::from_wat(
        "(module (tag $e) (func $f throw $e) \
         (func block try_table (catch_all 0) call $f end end call $f))",
    );
    let f = m
        .compile_with(&tier(), 1, &rung_testkit::TOP)
        .unwrap_or_else(|e| panic!("try_table: {e}"));
    f.check().expect("invariants");
    assert_eq!(f.handlers.len(), 1, "{:?}", f.handlers);
    assert!(f.handlers[0].landing as usize > f.handlers[0].ret_offset as usize);
    // GC compiles (issue 12): a field access has its null check, an
    // element access its bounds check, a cast its failure.
    let m = Module::from_wat(
        "(module (type $s (struct (field i32))) (type $a (array i8)) \
         (func (param anyref i32) (result i32) \
           (struct.get $s 0 (ref.cast (ref null $s) (local.get 0))) \
           (array.get_u $a (array.new_default $a (i32.const 4)) (local.get 1)) \
           i32.add))",
    );
    let f = m
        .compile_with(&tier(), 0, &rung_testkit::TOP)
        .unwrap_or_else(|e| panic!("gc: {e}"));
    f.check().expect("invariants");
    let t = traps(&f);
    for code in [
        TrapCode::NullStructReference,
        TrapCode::ArrayOutOfBounds,
        TrapCode::CastFailure,
    ] {
        assert!(t.contains(&code), "gc lacks {code:?}: {t:?}");
    }
}

#[test]
fn the_srcloc_of_a_trap_is_its_operator() {
    let wat = "(module (memory 1) (func (param i32) (result i32) local.get 0 i32.load offset=4))";
    let m = Module::from_wat(wat);
    let f = m
        .compile_with(&tier(), 0, &rung_testkit::TOP)
        .expect("compiles");
    let body_start = m.bodies[0].1;
    let load = f
        .trap_sites
        .iter()
        .find(|s| s.trap == TrapCode::MemoryOutOfBounds)
        .expect("a bounds check");
    // Body: size-less bytes [locals=0] [local.get 0: 2 bytes] [i32.load ...]
    assert_eq!(f.wasm_offset(load.code_offset), Some(body_start as u32 + 3));
}

#[test]
fn a_rewritten_load_reports_its_own_operator() {
    // The e-graph turns `popcnt(splat(load8))` into `splat(popcnt(load8))`;
    // the load it emits carries no source location of its own, and took
    // the `global.set`'s before its tag named it (a baseline-vs-optimizer
    // divergence wasm-smith found).
    let wat = "(module (memory 0) (global $g (mut i32) (i32.const 5)) (global $h (mut i32) (i32.const 0)) \
        (func (param i32) (loop $l \
          global.get $g i32.eqz (if (then unreachable)) \
          global.get $g i32.const 1 i32.sub global.set $g \
          local.get 0 v128.load8_splat i8x16.popcnt i8x16.bitmask global.set $h br $l)))";
    let m = Module::from_wat(wat);
    let f = m
        .compile_with(&tier(), 0, &rung_testkit::TOP)
        .expect("compiles");
    let body_start = m.bodies[0].1 as u32;
    // [locals=0] loop (2), global.get, i32.eqz, if (2), unreachable, end,
    // global.get, i32.const 1, i32.sub, global.set, local.get 0: 19 bytes,
    // then v128.load8_splat.
    let load = body_start + 19;
    let sites: Vec<Option<u32>> = f
        .trap_sites
        .iter()
        .filter(|s| s.trap == TrapCode::MemoryOutOfBounds)
        .map(|s| f.wasm_offset(s.code_offset))
        .collect();
    assert!(!sites.is_empty());
    assert!(
        sites.iter().all(|&o| o == Some(load)),
        "{sites:?}, load at {load:#x}"
    );
}

#[test]
fn trampolines_compile_for_many_signatures() {
    let t = OptimizingTier::new().expect("host ISA");
    let all = [
        ValType::I32,
        ValType::I64,
        ValType::F32,
        ValType::F64,
        ValType::FUNCREF,
    ];
    for n in [0usize, 1, 3, 9, 20] {
        let params: Vec<ValType> = (0..n).map(|i| all[i % all.len()]).collect();
        let results: Vec<ValType> = (0..n).rev().map(|i| all[(i * 3) % all.len()]).collect();
        let ty = FuncType::new(params.clone(), results.clone());
        for f in [t.host_to_wasm(&ty), t.wasm_to_host(&ty)] {
            let f = f.unwrap_or_else(|e| panic!("{n}: {e}"));
            f.check().expect("invariants");
            assert!(f.trap_sites.is_empty());
        }
    }
    // v128 travels in its 16-byte value slot.
    let simd = FuncType::new([ValType::V128, ValType::I32], [ValType::V128]);
    for f in [t.host_to_wasm(&simd), t.wasm_to_host(&simd)] {
        let f = f.expect("v128 trampoline");
        f.check().expect("invariants");
        assert!(f.trap_sites.is_empty());
    }
}

#[test]
fn compiling_is_deterministic_and_thread_safe() {
    let m = Module::from_wat(CONTROL);
    let t = tier();
    let first: Vec<_> = (0..m.bodies.len())
        .map(|i| {
            m.compile_with(&t, i, &rung_testkit::TOP)
                .expect("compiles")
                .code
        })
        .collect();
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..4)
            .map(|_| {
                s.spawn(|| {
                    (0..m.bodies.len())
                        .map(|i| {
                            m.compile_with(&t, i, &rung_testkit::TOP)
                                .expect("compiles")
                                .code
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        for h in handles {
            assert_eq!(h.join().expect("thread"), first);
        }
    });
}

#[test]
fn interrupt_checks_at_entry_and_loop_headers_only_when_asked() {
    // The entry and the loop header; the leaf only its entry.
    assert_eq!(rung_testkit::interrupt_checks(&tier(), true), [2, 1]);
    assert_eq!(rung_testkit::interrupt_checks(&tier(), false), [0, 0]);
}

#[test]
fn simd_needs_sse41_and_v128_moves_do_not() {
    use cranelift_codegen::isa;
    use cranelift_codegen::settings::Configurable;
    // Plain x86-64 (SSE2): v128 values move, SIMD operators are refused.
    let sse2 = OptimizingTier::with_isa_builder(isa::lookup_by_name("x86_64").expect("x64"))
        .expect("fixed ISA");
    let m = Module::from_wat(
        "(module (func (param v128 i32) (result v128) (local v128) \
         local.get 0 local.get 2 local.get 1 select)\
         (func (param v128) (result v128) local.get 0 f32x4.ceil))",
    );
    m.compile_with(&sse2, 0, &rung_testkit::TOP)
        .expect("moves need no SSE4.1");
    match m.compile_with(&sse2, 1, &rung_testkit::TOP) {
        Err(CompileError::Unsupported { feature, offset }) => {
            assert_eq!(feature, "simd: F32x4Ceil (needs SSE4.1)");
            assert_eq!(offset, m.bodies[1].1 + 3);
        }
        other => panic!("expected Unsupported, got {other:?}"),
    }
    let mut b = isa::lookup_by_name("x86_64").expect("x64");
    b.enable("has_sse41").expect("x64 flag");
    let sse41 = OptimizingTier::with_isa_builder(b).expect("fixed ISA");
    m.compile_with(&sse41, 1, &rung_testkit::TOP)
        .expect("f32x4.ceil is roundps");
}

/// The offset of the first `loop` in body `i`.
fn first_loop(m: &Module, i: usize) -> u32 {
    let mut ops = m
        .body(i)
        .reader()
        .get_operators_reader()
        .expect("operators");
    while !ops.eof() {
        let (op, at) = ops.read_with_offset().expect("operator");
        if matches!(op, wasmparser::Operator::Loop { .. }) {
            return at as u32;
        }
    }
    panic!("no loop in body {i}");
}

#[test]
fn osr_entries_refuse_v128_state() {
    use rung_tiering::Tier;
    let m = Module::from_wat(
        r#"(module
          (func $local (param i32) (local v128) loop local.get 0 br_if 0 end)
          (func $below (param i32) v128.const i64x2 0 0 loop local.get 0 br_if 0 end drop)
          (func $param (param i32) (result v128)
            v128.const i64x2 0 0 loop (param v128) (result v128) local.get 0 br_if 0 end)
          (func $nested (param i32) (result v128)
            loop (result v128) v128.const i64x2 0 0
              loop (param v128) (result v128) local.get 0 br_if 0 end
              local.get 0 br_if 1
            end)
          (func $after (param i32) (result v128)
            loop local.get 0 br_if 0 end v128.const i64x2 1 2))"#,
    );
    let t = tier();
    let osr = |i: usize, loop_offset: u32| {
        let b = m.body(i);
        t.compile_osr_entry(
            &m.env,
            b.index,
            b,
            &m.offsets,
            &rung_testkit::TOP,
            loop_offset,
        )
    };
    for (i, what) in [
        (0, "an OSR entry into a function with v128 locals"),
        (1, "an OSR entry at a loop with v128 values on the stack"),
        (2, "an OSR entry at a loop with v128 values on the stack"),
    ] {
        match osr(i, first_loop(&m, i)) {
            Err(CompileError::Unsupported { feature, .. }) => assert_eq!(feature, what),
            other => panic!("{i}: expected Unsupported, got {other:?}"),
        }
    }
    // The inner loop of $nested: a copy of a loop with a v128 parameter.
    let inner = {
        let mut ops = m.body(3).reader().get_operators_reader().expect("ops");
        let mut loops = Vec::new();
        while !ops.eof() {
            let (op, at) = ops.read_with_offset().expect("operator");
            if matches!(op, wasmparser::Operator::Loop { .. }) {
                loops.push(at as u32);
            }
        }
        loops[1]
    };
    match osr(3, inner) {
        Err(CompileError::Unsupported { feature, .. }) => {
            assert_eq!(feature, "an OSR entry at a loop with v128 parameters");
        }
        other => panic!("nested: expected Unsupported, got {other:?}"),
    }
    // A v128 result after the loop is no state of the loop's.
    osr(4, first_loop(&m, 4))
        .expect("v128 after the loop")
        .check()
        .expect("invariants");
}
