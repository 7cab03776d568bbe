//! Wasm GC (issue 12, part 1): structs, arrays, `i31`, casts and the
//! heap, with exact values and trap messages, in every configuration (the
//! baseline falls back to the optimizer for functions with GC operators);
//! `Store::gc` frees what nothing reaches and keeps what globals, tables
//! and host handles reach; a program that keeps everything alive traps
//! with the heap-limit message.

use rung::runtime::{
    AnyRef, AnyRefKind, Config, Engine, Linker, Module, Store, TierChoice, Trap, Val,
};
use rung::tiering::TrapCode;

const WAT: &str = r#"(module
  (type $point (struct (field $x (mut i32)) (field $y i64) (field $tag i8) (field $w i16)))
  (type $node (struct (field $v i32) (field $next (ref null $node))))
  (type $bytes (array (mut i8)))
  (type $longs (array (mut i64)))
  (type $refs (array (mut anyref)))
  (type $base (sub (struct (field i32))))
  (type $derived (sub $base (struct (field i32) (field f64))))
  (type $other (sub $base (struct (field i32) (field i64))))
  (data $d "\01\02\03\04\05")
  (global $keep (mut anyref) (ref.null any))

  (func (export "point") (param i32 i64) (result i32 i64 i32 i32)
    (local $p (ref $point))
    (local.set $p (struct.new $point (local.get 0) (local.get 1) (i32.const -1) (i32.const 0x18001)))
    (struct.set $point $x (local.get $p) (i32.add (struct.get $point $x (local.get $p)) (i32.const 1)))
    (struct.get $point $x (local.get $p))
    (struct.get $point $y (local.get $p))
    (struct.get_s $point $tag (local.get $p))
    (struct.get_u $point $w (local.get $p)))

  (func (export "default_y") (result i64)
    (struct.get $point $y (struct.new_default $point)))

  ;; A list of n nodes, summed.
  (func (export "list_sum") (param $n i32) (result i32)
    (local $l (ref null $node)) (local $s i32)
    (block $done
      (loop $build
        (br_if $done (i32.eqz (local.get $n)))
        (local.set $l (struct.new $node (local.get $n) (local.get $l)))
        (local.set $n (i32.sub (local.get $n) (i32.const 1)))
        (br $build)))
    (block $end
      (loop $walk
        (br_if $end (ref.is_null (local.get $l)))
        (local.set $s (i32.add (local.get $s) (struct.get $node $v (local.get $l))))
        (local.set $l (struct.get $node $next (local.get $l)))
        (br $walk)))
    (local.get $s))

  (func (export "bytes") (param $len i32) (param $i i32) (result i32 i32 i32)
    (local $a (ref $bytes))
    (local.set $a (array.new $bytes (i32.const 0xff) (local.get $len)))
    (array.set $bytes (local.get $a) (i32.const 0) (i32.const 7))
    (array.len (local.get $a))
    (array.get_s $bytes (local.get $a) (local.get $i))
    (array.get_u $bytes (local.get $a) (local.get $i)))

  (func (export "data") (param $i i32) (result i32)
    (array.get_u $bytes (array.new_data $bytes $d (i32.const 1) (i32.const 4)) (local.get $i)))

  (func (export "copy_fill") (result i64)
    (local $a (ref $longs))
    (local.set $a (array.new_fixed $longs 4 (i64.const 1) (i64.const 2) (i64.const 3) (i64.const 4)))
    (array.copy $longs $longs (local.get $a) (i32.const 1) (local.get $a) (i32.const 0) (i32.const 3))
    (array.fill $longs (local.get $a) (i32.const 0) (i64.const 10) (i32.const 1))
    ;; 10, 1, 2, 3: 10 + 20 + 300 + 4000 weights.
    (i64.add
      (i64.add (array.get $longs (local.get $a) (i32.const 0))
               (i64.mul (array.get $longs (local.get $a) (i32.const 1)) (i64.const 20)))
      (i64.add (i64.mul (array.get $longs (local.get $a) (i32.const 2)) (i64.const 150))
               (i64.mul (array.get $longs (local.get $a) (i32.const 3)) (i64.const 1333)))))

  (func (export "i31") (param i32) (result i32 i32)
    (i31.get_s (ref.i31 (local.get 0)))
    (i31.get_u (ref.i31 (local.get 0))))

  ;; 1 derived, 2 other, 3 base, 4 i31, 0 null.
  (func (export "classify") (param $k i32) (result i32)
    (local $r anyref)
    (local.set $r
      (if (result anyref) (i32.eq (local.get $k) (i32.const 1))
        (then (struct.new $derived (i32.const 1) (f64.const 2)))
        (else (if (result anyref) (i32.eq (local.get $k) (i32.const 2))
          (then (struct.new $other (i32.const 1) (i64.const 2)))
          (else (if (result anyref) (i32.eq (local.get $k) (i32.const 3))
            (then (struct.new $base (i32.const 1)))
            (else (if (result anyref) (i32.eq (local.get $k) (i32.const 4))
              (then (ref.i31 (i32.const 5)))
              (else (ref.null any))))))))))
    (i32.add
      (i32.add (i32.mul (ref.test (ref $base) (local.get $r)) (i32.const 1))
               (i32.mul (ref.test (ref $derived) (local.get $r)) (i32.const 10)))
      (i32.add (i32.mul (ref.test (ref i31) (local.get $r)) (i32.const 100))
               (i32.add (i32.mul (ref.test (ref struct) (local.get $r)) (i32.const 1000))
                        (i32.mul (ref.test (ref null eq) (local.get $r)) (i32.const 10000))))))

  (func (export "cast_derived") (param $k i32) (result f64)
    (struct.get $derived 1
      (ref.cast (ref $derived)
        (if (result (ref $base)) (local.get $k)
          (then (struct.new $derived (i32.const 1) (f64.const 2.5)))
          (else (struct.new $base (i32.const 1)))))))

  (func (export "br_on_cast") (param $k i32) (result i32)
    (block $is_i31 (result (ref i31))
      (br_on_cast $is_i31 anyref (ref i31)
        (if (result anyref) (local.get $k)
          (then (ref.i31 (i32.const 42)))
          (else (struct.new $base (i32.const 9)))))
      (drop)
      (return (i32.const -1)))
    (i31.get_u))

  (func (export "eq") (result i32)
    (local $a eqref)
    (local.set $a (struct.new $base (i32.const 1)))
    (i32.add
      (i32.add (ref.eq (local.get $a) (local.get $a))
               (i32.mul (ref.eq (local.get $a) (struct.new $base (i32.const 1))) (i32.const 10)))
      (i32.mul (ref.eq (ref.i31 (i32.const 3)) (ref.i31 (i32.const 3))) (i32.const 100))))

  (func (export "externalize") (param anyref) (result externref)
    (extern.convert_any (local.get 0)))
  (func (export "internalize") (param externref) (result anyref)
    (any.convert_extern (local.get 0)))

  (func (export "null_struct") (result i32)
    (struct.get $node $v (ref.null $node)))
  (func (export "null_array") (result i32)
    (array.len (ref.null $bytes)))
  (func (export "null_i31") (result i32)
    (i31.get_s (ref.null i31)))
  (func (export "oob") (param i32) (result i32)
    (array.get_u $bytes (array.new_default $bytes (i32.const 3)) (local.get 0)))
  (func (export "bad_cast") (result i32)
    (struct.get $derived 0 (ref.cast (ref $derived) (struct.new $other (i32.const 1) (i64.const 2)))))

  ;; Keeps every node it makes reachable from a global: the heap can only
  ;; grow.
  (func (export "hoard") (param $n i32)
    (loop $again
      (global.set $keep (struct.new $node (local.get $n)
        (ref.cast (ref null $node) (global.get $keep))))
      (local.set $n (i32.sub (local.get $n) (i32.const 1)))
      (br_if $again (local.get $n))))
  ;; Makes n nodes and keeps none.
  (func (export "churn") (param $n i32)
    (loop $again
      (drop (struct.new $node (local.get $n) (ref.null $node)))
      (local.set $n (i32.sub (local.get $n) (i32.const 1)))
      (br_if $again (local.get $n))))
  ;; An array of n longs, each its index; returns the sum of its elements.
  (func (export "big") (param $n i32) (result i64)
    (local $a (ref $longs)) (local $i i32) (local $s i64)
    (local.set $a (array.new_default $longs (local.get $n)))
    (block $done
      (loop $fill
        (br_if $done (i32.ge_u (local.get $i) (local.get $n)))
        (array.set $longs (local.get $a) (local.get $i) (i64.extend_i32_u (local.get $i)))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $fill)))
    (local.set $i (i32.const 0))
    (block $done
      (loop $sum
        (br_if $done (i32.ge_u (local.get $i) (array.len (local.get $a))))
        (local.set $s (i64.add (local.get $s) (array.get $longs (local.get $a) (local.get $i))))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $sum)))
    (local.get $s))
  (func (export "drop_hoard") (global.set $keep (ref.null any)))
  (func (export "make_refs") (param $n i32) (result (ref $refs))
    (array.new $refs (struct.new $base (i32.const 77)) (local.get $n)))
  (func (export "refs_first") (param (ref $refs)) (result i32)
    (struct.get $base 0 (ref.cast (ref $base) (array.get $refs (local.get 0) (i32.const 0)))))
)"#;

fn configs() -> Vec<(&'static str, Config)> {
    vec![
        ("optimized", Config::default()),
        ("baseline", TierChoice::Baseline.config()),
        ("tiered", TierChoice::Tiered.config()),
    ]
}

struct Run {
    store: Store,
    instance: rung::runtime::Instance,
}

impl Run {
    fn new(config: Config) -> Run {
        let engine = Engine::new(config).unwrap();
        let module = Module::new(&engine, &wat::parse_str(WAT).unwrap()).unwrap();
        let mut store = Store::new(&engine);
        let instance = Linker::new().instantiate(&mut store, &module).unwrap();
        Run { store, instance }
    }

    fn call(&mut self, name: &str, args: &[Val]) -> Result<Vec<Val>, Trap> {
        let f = self.instance.get_func(&self.store, name).unwrap();
        f.call(&mut self.store, args)
    }

    fn ok(&mut self, name: &str, args: &[Val]) -> Vec<Val> {
        self.call(name, args)
            .unwrap_or_else(|t| panic!("{name}: trapped: {t}"))
    }

    fn trap(&mut self, name: &str, args: &[Val]) -> Trap {
        match self.call(name, args) {
            Ok(v) => panic!("{name}: expected a trap, got {v:?}"),
            Err(t) => t,
        }
    }
}

#[test]
fn structs_arrays_and_i31_give_exact_values_in_every_configuration() {
    for (label, config) in configs() {
        let mut r = Run::new(config);
        assert_eq!(
            r.ok("point", &[Val::I32(41), Val::I64(-9)]),
            vec![Val::I32(42), Val::I64(-9), Val::I32(-1), Val::I32(0x8001)],
            "{label}"
        );
        assert_eq!(r.ok("default_y", &[]), vec![Val::I64(0)], "{label}");
        assert_eq!(
            r.ok("list_sum", &[Val::I32(1000)]),
            vec![Val::I32(500_500)],
            "{label}"
        );
        assert_eq!(
            r.ok("bytes", &[Val::I32(5), Val::I32(3)]),
            vec![Val::I32(5), Val::I32(-1), Val::I32(255)],
            "{label}"
        );
        assert_eq!(
            r.ok("bytes", &[Val::I32(5), Val::I32(0)]),
            vec![Val::I32(5), Val::I32(7), Val::I32(7)],
            "{label}"
        );
        assert_eq!(r.ok("data", &[Val::I32(3)]), vec![Val::I32(5)], "{label}");
        assert_eq!(
            r.ok("copy_fill", &[]),
            vec![Val::I64(10 + 20 + 300 + 3999)],
            "{label}"
        );
        assert_eq!(
            r.ok("i31", &[Val::I32(-5)]),
            vec![Val::I32(-5), Val::I32(0x7fff_fffb)],
            "{label}"
        );
        assert_eq!(
            r.ok("i31", &[Val::I32(0x4000_0000)]),
            vec![Val::I32(-0x4000_0000), Val::I32(0x4000_0000)],
            "{label}"
        );
        assert_eq!(r.ok("eq", &[]), vec![Val::I32(101)], "{label}");
    }
}

#[test]
fn casts_follow_declared_subtyping() {
    for (label, config) in configs() {
        let mut r = Run::new(config);
        let classify = |r: &mut Run, k| r.ok("classify", &[Val::I32(k)])[0].unwrap_i32();
        assert_eq!(classify(&mut r, 1), 11011, "{label}: derived");
        assert_eq!(classify(&mut r, 2), 11001, "{label}: other");
        assert_eq!(classify(&mut r, 3), 11001, "{label}: base");
        assert_eq!(classify(&mut r, 4), 10100, "{label}: i31");
        assert_eq!(classify(&mut r, 0), 10000, "{label}: null");
        assert_eq!(
            r.ok("cast_derived", &[Val::I32(1)]),
            vec![Val::F64(2.5f64.to_bits())],
            "{label}"
        );
        assert_eq!(
            r.ok("br_on_cast", &[Val::I32(1)]),
            vec![Val::I32(42)],
            "{label}"
        );
        assert_eq!(
            r.ok("br_on_cast", &[Val::I32(0)]),
            vec![Val::I32(-1)],
            "{label}"
        );
    }
}

#[test]
fn gc_traps_have_the_spec_messages() {
    for (label, config) in configs() {
        let mut r = Run::new(config);
        let cases: [(&str, &[Val], TrapCode, &str); 6] = [
            (
                "null_struct",
                &[],
                TrapCode::NullStructReference,
                "null structure reference",
            ),
            (
                "null_array",
                &[],
                TrapCode::NullArrayReference,
                "null array reference",
            ),
            (
                "null_i31",
                &[],
                TrapCode::NullI31Reference,
                "null i31 reference",
            ),
            (
                "oob",
                &[Val::I32(3)],
                TrapCode::ArrayOutOfBounds,
                "out of bounds array access",
            ),
            ("bad_cast", &[], TrapCode::CastFailure, "cast failure"),
            (
                "cast_derived",
                &[Val::I32(0)],
                TrapCode::CastFailure,
                "cast failure",
            ),
        ];
        for (name, args, code, message) in cases {
            let t = r.trap(name, args);
            assert_eq!(t.code(), Some(code), "{label}: {name}");
            assert_eq!(t.message(), message, "{label}: {name}");
        }
        assert_eq!(r.ok("oob", &[Val::I32(2)]), vec![Val::I32(0)], "{label}");
    }
}

#[test]
fn host_references_round_trip() {
    let mut r = Run::new(Config::default());
    let i31 = AnyRef::i31(&mut r.store, -7);
    assert_eq!(i31.kind(&r.store), AnyRefKind::I31(-7));
    // An i31 externalized and back is the same value.
    let ext = r.ok("externalize", &[Val::AnyRef(Some(i31))]);
    let Val::AnyRef(Some(e)) = ext[0] else {
        panic!("externalized i31: {ext:?}");
    };
    assert_eq!(e.kind(&r.store), AnyRefKind::I31(-7));
    assert_eq!(r.ok("internalize", &ext), vec![Val::AnyRef(Some(i31))]);
    // A host externref internalized is a host value in the any hierarchy.
    let any = r.ok("internalize", &[Val::ExternRef(Some(1234))]);
    let Val::AnyRef(Some(a)) = any[0] else {
        panic!("internalized: {any:?}");
    };
    assert_eq!(a.kind(&r.store), AnyRefKind::Extern(1234));
    assert_eq!(r.ok("externalize", &any), vec![Val::ExternRef(Some(1234))]);
    // Host values too large for the word's payload keep their value.
    let big = u64::MAX - 3;
    let any = r.ok("internalize", &[Val::ExternRef(Some(big))]);
    assert_eq!(r.ok("externalize", &any), vec![Val::ExternRef(Some(big))]);
    // A struct in an array, held by the host across a collection.
    let refs = r.ok("make_refs", &[Val::I32(3)]);
    let Val::AnyRef(Some(arr)) = refs[0] else {
        panic!("make_refs: {refs:?}");
    };
    assert_eq!(arr.kind(&r.store), AnyRefKind::Array(3));
    let Some(Val::AnyRef(Some(first))) = arr.element(&r.store, 2) else {
        panic!("element 2 of {arr:?}");
    };
    assert_eq!(first.kind(&r.store), AnyRefKind::Struct);
    assert_eq!(first.field(&r.store, 0), Some(Val::I32(77)));
    assert_eq!(first.field(&r.store, 1), None);
    assert_eq!(arr.element(&r.store, 3), None);
    assert_eq!(arr.field(&r.store, 0), None);
    r.ok("churn", &[Val::I32(20_000)]);
    r.store.gc();
    assert_eq!(r.ok("refs_first", &refs), vec![Val::I32(77)]);
}

#[test]
fn arrays_larger_than_a_block_and_larger_than_the_heap() {
    for (label, config) in configs() {
        let mut r = Run::new(config);
        // 80 KB: an allocation of its own; 2 KB: inline in a block.
        assert_eq!(
            r.ok("big", &[Val::I32(10_000)]),
            vec![Val::I64(49_995_000)],
            "{label}"
        );
        assert_eq!(
            r.ok("big", &[Val::I32(256)]),
            vec![Val::I64(32_640)],
            "{label}"
        );
        assert_eq!(r.ok("big", &[Val::I32(0)]), vec![Val::I64(0)], "{label}");
        // 16 GiB of longs, beyond the default 1 GiB limit.
        let t = r.trap("big", &[Val::I32(i32::MAX)]);
        assert_eq!(t.message(), "GC heap exhausted", "{label}");
    }
}

#[test]
fn collection_frees_garbage_and_keeps_what_globals_reach() {
    let mut r = Run::new(Config::default());
    // 100,000 nodes of 24 bytes: 2.4 MB, about 74 blocks.
    r.ok("hoard", &[Val::I32(100_000)]);
    let full = r.store.gc_heap_bytes();
    assert!(full >= 2_400_000, "{full}");
    r.store.gc();
    // Everything is still reachable from the global.
    assert!(r.store.gc_heap_bytes() >= 2_400_000);
    assert_eq!(r.store.gc_collections(), 1);
    r.ok("drop_hoard", &[]);
    r.ok("churn", &[Val::I32(100_000)]);
    r.store.gc();
    // All blocks are garbage: at most the reserve of free blocks stays.
    let after = r.store.gc_heap_bytes();
    assert!(
        after <= 4 * 32 * 1024,
        "{after} bytes after collecting garbage"
    );
    // And the heap is usable again.
    assert_eq!(r.ok("list_sum", &[Val::I32(100)]), vec![Val::I32(5050)]);
}

#[test]
fn a_program_that_keeps_everything_alive_traps_at_the_heap_limit() {
    for (label, config) in configs() {
        let config = Config {
            gc_heap_limit: 4 << 20,
            ..config
        };
        let mut r = Run::new(config);
        let t = r.trap("hoard", &[Val::I32(10_000_000)]);
        assert_eq!(t.code(), Some(TrapCode::GcHeapExhausted), "{label}");
        assert_eq!(t.message(), "GC heap exhausted", "{label}");
        assert!(r.store.gc_heap_bytes() <= 4 << 20, "{label}");
        // The store is still usable: a collection after dropping the
        // hoard makes room again.
        r.ok("drop_hoard", &[]);
        r.store.gc();
        assert_eq!(
            r.ok("list_sum", &[Val::I32(1000)]),
            vec![Val::I32(500_500)],
            "{label}"
        );
    }
}

/// An exception in flight between calls (kept as an `exnref` in a global)
/// keeps its struct payload alive across a collection.
#[test]
fn exception_payloads_are_roots() {
    let wat = r#"(module
      (type $box (struct (field i32)))
      (tag $e (param (ref $box)))
      (global $held (mut exnref) (ref.null exn))
      (func (export "hold") (param i32)
        (block $h (result (ref $box) exnref)
          (try_table (catch_ref $e $h)
            (throw $e (struct.new $box (local.get 0))))
          (unreachable))
        (global.set $held)
        (drop))
      (func (export "churn") (param $n i32)
        (loop $again
          (drop (struct.new $box (local.get $n)))
          (local.set $n (i32.sub (local.get $n) (i32.const 1)))
          (br_if $again (local.get $n))))
      (func (export "rethrow") (result i32)
        (block $h (result (ref $box))
          (try_table (catch $e $h) (throw_ref (global.get $held)))
          (unreachable))
        (struct.get $box 0)))"#;
    for (label, config) in configs() {
        let engine = Engine::new(config).unwrap();
        let module = Module::new(&engine, &wat::parse_str(wat).unwrap()).unwrap();
        let mut store = Store::new(&engine);
        let instance = Linker::new().instantiate(&mut store, &module).unwrap();
        let call = |store: &mut Store, name: &str, args: &[Val]| {
            let f = instance.get_func(store, name).unwrap();
            f.call(store, args)
                .unwrap_or_else(|t| panic!("{label}: {name}: {t}"))
        };
        call(&mut store, "hold", &[Val::I32(31337)]);
        // Fill blocks with garbage around the payload's, then collect: the
        // payload's block must survive, the others are freed.
        call(&mut store, "churn", &[Val::I32(50_000)]);
        let before = store.gc_heap_bytes();
        store.gc();
        assert!(store.gc_heap_bytes() < before, "{label}");
        call(&mut store, "churn", &[Val::I32(50_000)]);
        assert_eq!(
            call(&mut store, "rethrow", &[]),
            vec![Val::I32(31337)],
            "{label}"
        );
    }
}

/// The baseline compiles the GC operators that neither allocate nor read
/// objects (`i31`, `ref.eq`, the conversions) itself: no fall-back.
#[test]
fn the_baseline_compiles_i31_ref_eq_and_conversions() {
    let wat = r#"(module
      (func (export "i31") (param i32) (result i32 i32)
        (i31.get_s (ref.i31 (local.get 0)))
        (i31.get_u (ref.i31 (local.get 0))))
      (func (export "eq") (param i32 i32) (result i32)
        (ref.eq (ref.i31 (local.get 0)) (ref.i31 (local.get 1))))
      (func (export "round_trip") (param externref) (result externref)
        (extern.convert_any (any.convert_extern (local.get 0))))
      (func (export "null_i31") (result i32)
        (i31.get_u (ref.null i31))))"#;
    for (label, config) in configs() {
        let engine = Engine::new(config).unwrap();
        let module = Module::new(&engine, &wat::parse_str(wat).unwrap()).unwrap();
        let mut store = Store::new(&engine);
        let instance = Linker::new().instantiate(&mut store, &module).unwrap();
        let mut call = |name: &str, args: &[Val]| {
            let f = instance.get_func(&store, name).unwrap();
            f.call(&mut store, args)
        };
        assert_eq!(
            call("i31", &[Val::I32(-1)]).unwrap(),
            vec![Val::I32(-1), Val::I32(0x7fff_ffff)],
            "{label}"
        );
        assert_eq!(
            call("i31", &[Val::I32(0x7fff_ffff)]).unwrap(),
            vec![Val::I32(-1), Val::I32(0x7fff_ffff)],
            "{label}"
        );
        // Equal in their low 31 bits: the same i31.
        assert_eq!(
            call("eq", &[Val::I32(5), Val::I32(5 | i32::MIN)]).unwrap(),
            vec![Val::I32(1)],
            "{label}"
        );
        assert_eq!(
            call("eq", &[Val::I32(5), Val::I32(6)]).unwrap(),
            vec![Val::I32(0)],
            "{label}"
        );
        assert_eq!(
            call("round_trip", &[Val::ExternRef(Some(9))]).unwrap(),
            vec![Val::ExternRef(Some(9))],
            "{label}"
        );
        let t = call("null_i31", &[]).unwrap_err();
        assert_eq!(t.message(), "null i31 reference", "{label}");
        assert_eq!(engine.fallbacks(), 0, "{label}");
    }
}

/// The baseline reads struct fields and array lengths itself: a function
/// that only reads (its objects made by another, optimized, function)
/// does not fall back.
#[test]
fn the_baseline_reads_fields_and_lengths() {
    let wat = r#"(module
      (type $s (struct (field i8) (field i16) (field i32) (field i64) (field f32) (field f64) (field anyref)))
      (type $a (array i8))
      (func $make (export "make") (result (ref $s))
        (struct.new $s (i32.const -2) (i32.const -3) (i32.const -4) (i64.const -5)
          (f32.const 1.5) (f64.const -2.25) (ref.i31 (i32.const 6))))
      (func $arr (export "arr") (param i32) (result (ref null $a))
        (if (result (ref null $a)) (local.get 0)
          (then (array.new_default $a (local.get 0)))
          (else (ref.null $a))))
      (func (export "read") (param (ref null $s)) (result i32 i32 i32 i32 i64 f32 f64 i32)
        (struct.get_s $s 0 (local.get 0))
        (struct.get_u $s 0 (local.get 0))
        (struct.get_s $s 1 (local.get 0))
        (struct.get $s 2 (local.get 0))
        (struct.get $s 3 (local.get 0))
        (struct.get $s 4 (local.get 0))
        (struct.get $s 5 (local.get 0))
        (ref.is_null (struct.get $s 6 (local.get 0))))
      (func (export "len") (param (ref null $a)) (result i32)
        (array.len (local.get 0))))"#;
    for (label, config) in configs() {
        let engine = Engine::new(config).unwrap();
        let module = Module::new(&engine, &wat::parse_str(wat).unwrap()).unwrap();
        let mut store = Store::new(&engine);
        let instance = Linker::new().instantiate(&mut store, &module).unwrap();
        let mut call = |name: &str, args: &[Val]| {
            let f = instance.get_func(&store, name).unwrap();
            f.call(&mut store, args)
        };
        let s = call("make", &[]).unwrap();
        assert_eq!(
            call("read", &s).unwrap(),
            vec![
                Val::I32(-2),
                Val::I32(0xfe),
                Val::I32(-3),
                Val::I32(-4),
                Val::I64(-5),
                Val::F32(1.5f32.to_bits()),
                Val::F64((-2.25f64).to_bits()),
                Val::I32(0),
            ],
            "{label}"
        );
        let a = call("arr", &[Val::I32(7)]).unwrap();
        assert_eq!(call("len", &a).unwrap(), vec![Val::I32(7)], "{label}");
        let null = call("arr", &[Val::I32(0)]).unwrap();
        let t = call("len", &null).unwrap_err();
        assert_eq!(t.message(), "null array reference", "{label}");
        let t = call("read", &[Val::AnyRef(None)]).unwrap_err();
        assert_eq!(t.message(), "null structure reference", "{label}");
        // `make` and `arr` allocate: only they fall back.
        let expected = if label == "optimized" { 0 } else { 2 };
        assert_eq!(engine.fallbacks(), expected, "{label}");
    }
}
