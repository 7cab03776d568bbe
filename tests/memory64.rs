//! 64-bit memories and tables (memory64) with exact values, trap codes and
//! offsets, in every configuration: accesses at the edges of the shift
//! check (ARCHITECTURE.md, "64-bit memories and tables"), addresses with
//! high bits set, static offsets beyond the reservation, `memory.grow` past
//! 4 GiB, 64-bit bulk operands and 64-bit table indices.

use rung::runtime::{Engine, Extern, Linker, Memory, Module, Store, TierChoice, Val};
use rung::tiering::{MEMORY64_MAX_BYTES, TrapCode};

const WAT: &str = r#"(module
  (memory $m i64 1)
  (table $t i64 4 funcref)
  (elem (table $t) (i64.const 1) func $seven)
  (type $v_i (func (result i32)))
  (func $seven (result i32) (i32.const 7))

  (func (export "load") (param i64) (result i64) (i64.load (local.get 0)))
  (func (export "store") (param i64 i64) (i64.store (local.get 0) (local.get 1)))
  ;; A static offset of 8 GiB - 8: in the guard when the address is small.
  (func (export "load_far") (param i64) (result i64)
    (i64.load offset=0x1fffffff8 (local.get 0)))
  ;; A static offset the reservation cannot cover: always out of bounds.
  (func (export "load_huge") (param i64) (result i32)
    (i32.load8_u offset=0xffffffffffffff00 (local.get 0)))
  (func (export "load8_const_high") (result i32)
    (i32.load8_u (i64.const 0x200000000)))
  (func (export "size") (result i64) (memory.size))
  (func (export "grow") (param i64) (result i64) (memory.grow (local.get 0)))
  (func (export "fill") (param i64 i32 i64) (memory.fill (local.get 0) (local.get 1) (local.get 2)))
  (func (export "copy") (param i64 i64 i64) (memory.copy (local.get 0) (local.get 1) (local.get 2)))
  (func (export "rmw") (param i64 i64) (result i64)
    (i64.atomic.rmw.add (local.get 0) (local.get 1)))
  ;; A static offset past 4 GiB on a libcall's operand (found by the
  ;; differential test: the baseline took it for a 32-bit one).
  (func (export "notify_far") (param i64) (result i32)
    (memory.atomic.notify offset=0x100000000 (local.get 0) (i32.const 1)))

  (func (export "table_size") (result i64) (table.size $t))
  (func (export "table_grow") (param i64) (result i64)
    (table.grow $t (ref.null func) (local.get 0)))
  (func (export "table_is_null") (param i64) (result i32)
    (ref.is_null (table.get $t (local.get 0))))
  (func (export "call") (param i64) (result i32)
    (call_indirect $t (type $v_i) (local.get 0)))
)"#;

struct Run {
    store: Store,
    instance: rung::runtime::Instance,
    label: &'static str,
}

impl Run {
    fn new(label: &'static str, tiers: TierChoice) -> Run {
        let engine = Engine::new(tiers.config()).unwrap();
        let module = Module::new(&engine, &wat::parse_str(WAT).unwrap()).unwrap();
        assert_eq!(
            engine.fallbacks(),
            0,
            "{label}: {:?}",
            engine.fallback_reasons()
        );
        let mut store = Store::new(&engine);
        let instance = Linker::new().instantiate(&mut store, &module).unwrap();
        Run {
            store,
            instance,
            label,
        }
    }

    fn call(&mut self, name: &str, args: &[Val]) -> Result<Vec<Val>, rung::runtime::Trap> {
        let f = self.instance.get_func(&self.store, name).unwrap();
        f.call(&mut self.store, args)
    }

    /// The single result of a call that must not trap.
    fn ok(&mut self, name: &str, args: &[Val]) -> Option<Val> {
        match self.call(name, args) {
            Ok(v) => v.first().cloned(),
            Err(t) => panic!("{}: {name}{args:?}: trapped: {t}", self.label),
        }
    }

    fn i64(&mut self, name: &str, args: &[Val]) -> i64 {
        match self.ok(name, args) {
            Some(Val::I64(x)) => x,
            other => panic!("{}: {name}: {other:?}", self.label),
        }
    }

    fn i32(&mut self, name: &str, args: &[Val]) -> i32 {
        match self.ok(name, args) {
            Some(Val::I32(x)) => x,
            other => panic!("{}: {name}: {other:?}", self.label),
        }
    }

    /// The trap code and wasm offset of a call that must trap.
    fn trap(&mut self, name: &str, args: &[Val]) -> (Option<TrapCode>, Option<u32>) {
        match self.call(name, args) {
            Ok(v) => panic!("{}: {name}{args:?}: returned {v:?}", self.label),
            Err(t) => (t.code(), t.wasm_offset),
        }
    }
}

fn runs() -> Vec<Run> {
    vec![
        Run::new("optimized", TierChoice::Optimized),
        Run::new("baseline", TierChoice::Baseline),
        Run::new("mixed", TierChoice::Mixed),
        Run::new("tiered", TierChoice::Tiered),
    ]
}

/// The absolute offset of the first operator of defined function `func`
/// for which `pick` holds.
fn offset_of(func: usize, pick: impl Fn(&wasmparser::Operator<'_>) -> bool) -> u32 {
    let wasm = wat::parse_str(WAT).unwrap();
    let mut bodies = wasmparser::Parser::new(0)
        .parse_all(&wasm)
        .filter_map(|p| match p.unwrap() {
            wasmparser::Payload::CodeSectionEntry(body) => Some(body),
            _ => None,
        });
    let body = bodies.nth(func).unwrap();
    let mut ops = body.get_operators_reader().unwrap();
    while !ops.eof() {
        let (op, at) = ops.read_with_offset().unwrap();
        if pick(&op) {
            return at as u32;
        }
    }
    panic!("no such operator in function {func}")
}

const OOB: Option<TrapCode> = Some(TrapCode::MemoryOutOfBounds);

#[test]
fn accesses_trap_exactly_past_the_length() {
    for mut r in runs() {
        let l = r.label;
        r.ok("store", &[Val::I64(65528), Val::I64(0x1122_3344_5566_7788)]);
        assert_eq!(
            r.i64("load", &[Val::I64(65528)]),
            0x1122_3344_5566_7788,
            "{l}"
        );
        // One byte past the end, then addresses with ever higher bits set:
        // the guard, the shift check, and wrap-around candidates.
        for addr in [
            65529u64,
            65536,
            1 << 32,
            (1 << 33) - 8,
            1 << 33,
            1 << 40,
            u64::MAX - 7,
            u64::MAX,
        ] {
            assert_eq!(
                r.trap("load", &[Val::I64(addr as i64)]).0,
                OOB,
                "{l}: {addr:#x}"
            );
            assert_eq!(
                r.trap("store", &[Val::I64(addr as i64), Val::I64(1)]).0,
                OOB,
                "{l}: {addr:#x}"
            );
        }
        for addr in [0u64, 8, 1 << 33] {
            assert_eq!(
                r.trap("load_far", &[Val::I64(addr as i64)]).0,
                OOB,
                "{l}: {addr:#x}"
            );
        }
        for addr in [0u64, 0x100, u64::MAX] {
            assert_eq!(
                r.trap("load_huge", &[Val::I64(addr as i64)]).0,
                OOB,
                "{l}: {addr:#x}"
            );
        }
        assert_eq!(r.trap("load8_const_high", &[]).0, OOB, "{l}");
        // Atomics: the same check, after the alignment check.
        assert_eq!(
            r.i64("rmw", &[Val::I64(65528), Val::I64(8)]),
            0x1122_3344_5566_7788,
            "{l}"
        );
        assert_eq!(
            r.trap("rmw", &[Val::I64(1 << 33), Val::I64(1)]).0,
            OOB,
            "{l}"
        );
        assert_eq!(
            r.trap("rmw", &[Val::I64((1 << 33) + 4), Val::I64(1)]).0,
            Some(TrapCode::HeapMisaligned),
            "{l}"
        );
        assert_eq!(r.trap("notify_far", &[Val::I64(0)]).0, OOB, "{l}");
    }
}

#[test]
fn a_trap_reports_its_access() {
    // The trap's offset is the access's own, whichever check raised it:
    // the guard, the shift check, or the static offset.
    use wasmparser::Operator as O;
    let load = offset_of(1, |op| matches!(op, O::I64Load { .. }));
    let huge = offset_of(4, |op| matches!(op, O::I32Load8U { .. }));
    for mut r in runs() {
        let l = r.label;
        assert_eq!(r.trap("load", &[Val::I64(65529)]), (OOB, Some(load)), "{l}");
        assert_eq!(
            r.trap("load", &[Val::I64(1 << 33)]),
            (OOB, Some(load)),
            "{l}"
        );
        assert_eq!(
            r.trap("load_huge", &[Val::I64(0)]),
            (OOB, Some(huge)),
            "{l}"
        );
    }
}

#[test]
fn memory_grows_past_four_gib() {
    let mut r = Run::new("optimized", TierChoice::Optimized);
    let mut b = Run::new("baseline", TierChoice::Baseline);
    for r in [&mut r, &mut b] {
        let l = r.label;
        assert_eq!(r.i64("size", &[]), 1, "{l}");
        // To 4 GiB + 64 KiB: committed, never touched but for two pages.
        assert_eq!(r.i64("grow", &[Val::I64(65536)]), 1, "{l}");
        assert_eq!(r.i64("size", &[]), 65537, "{l}");
        let high = 1i64 << 32;
        r.ok("store", &[Val::I64(high + 8), Val::I64(-3)]);
        assert_eq!(r.i64("load", &[Val::I64(high + 8)]), -3, "{l}");
        assert_eq!(r.i64("load", &[Val::I64(high + 65528)]), 0, "{l}");
        assert_eq!(r.trap("load", &[Val::I64(high + 65529)]).0, OOB, "{l}");
        // Bulk operators with 64-bit operands above 4 GiB.
        r.ok("fill", &[Val::I64(high + 100), Val::I32(0xab), Val::I64(8)]);
        assert_eq!(
            r.i64("load", &[Val::I64(high + 100)]),
            0xabababababababab_u64 as i64,
            "{l}"
        );
        r.ok("copy", &[Val::I64(16), Val::I64(high + 100), Val::I64(8)]);
        assert_eq!(
            r.i64("load", &[Val::I64(16)]),
            0xabababababababab_u64 as i64,
            "{l}"
        );
        assert_eq!(
            r.trap("fill", &[Val::I64(high + 65530), Val::I32(0), Val::I64(7)])
                .0,
            OOB,
            "{l}"
        );
        // Past the 8 GiB a 64-bit memory may reach: -1, and nothing changes.
        let max_pages = (MEMORY64_MAX_BYTES / 65536) as i64;
        assert_eq!(r.i64("grow", &[Val::I64(max_pages)]), -1, "{l}");
        assert_eq!(r.i64("grow", &[Val::I64(-1)]), -1, "{l}");
        assert_eq!(r.i64("size", &[]), 65537, "{l}");
    }
}

#[test]
fn table64_indices_are_checked_whole() {
    for mut r in runs() {
        let l = r.label;
        assert_eq!(r.i64("table_size", &[]), 4, "{l}");
        assert_eq!(r.i32("call", &[Val::I64(1)]), 7, "{l}");
        assert_eq!(r.i32("table_is_null", &[Val::I64(0)]), 1, "{l}");
        assert_eq!(r.i32("table_is_null", &[Val::I64(1)]), 0, "{l}");
        // An index that truncates to 1 must not reach element 1.
        let wraps = (1i64 << 32) + 1;
        assert_eq!(
            r.trap("call", &[Val::I64(wraps)]).0,
            Some(TrapCode::UndefinedElement),
            "{l}"
        );
        assert_eq!(
            r.trap("table_is_null", &[Val::I64(wraps)]).0,
            Some(TrapCode::TableOutOfBounds),
            "{l}"
        );
        assert_eq!(
            r.trap("call", &[Val::I64(4)]).0,
            Some(TrapCode::UndefinedElement),
            "{l}"
        );
        assert_eq!(r.i64("table_grow", &[Val::I64(2)]), 4, "{l}");
        assert_eq!(r.i64("table_size", &[]), 6, "{l}");
        assert_eq!(r.i64("table_grow", &[Val::I64(1 << 40)]), -1, "{l}");
    }
}

#[test]
fn host_memories_carry_their_index_type() {
    let engine = Engine::new(TierChoice::Baseline.config()).unwrap();
    let module = Module::new(
        &engine,
        &wat::parse_str(
            r#"(module (import "env" "m" (memory i64 1))
                 (func (export "size") (result i64) (memory.size)))"#,
        )
        .unwrap(),
    )
    .unwrap();
    let mut store = Store::new(&engine);
    let m32 = Memory::new(&mut store, 1, None).unwrap();
    let mut linker = Linker::new();
    linker.define("env", "m", Extern::Memory(m32));
    let err = linker.instantiate(&mut store, &module).err().unwrap();
    assert!(err.to_string().contains("memory index type"), "{err}");
    let m64 = Memory::with_index_type(&mut store, 2, None, true).unwrap();
    let mut linker = Linker::new();
    linker.define("env", "m", Extern::Memory(m64));
    let instance = linker.instantiate(&mut store, &module).unwrap();
    let size = instance.get_func(&store, "size").unwrap();
    assert_eq!(size.call(&mut store, &[]).unwrap(), vec![Val::I64(2)]);
}
