//! Exception handling with exact values, in every configuration: the
//! optimizer compiles the functions that throw or catch, and in the
//! baseline, mixed and tiered configurations the frames between them
//! (`$mid`, `$relay`) are baseline code the unwinder walks through.
//!
//! The spec suite (`proposals/exceptions/*`) has no legacy `try`; the
//! legacy instructions are checked here. The baseline compiles every
//! function of both modules (no fall-back to the optimizer).

use rung::runtime::{Engine, Linker, Module, Store, TierChoice, TrapReason, Val};
use rung::tiering::TrapCode;

const WAT: &str = r#"(module
  ;; A memory: the baseline compiles try_table only where it saves r15.
  (memory 1)
  (tag $e (param i32))
  (tag $pair (param i64 f64))
  (tag $empty)
  (func $thrower (param i32) (throw $e (local.get 0)))
  (func $throw_pair (throw $pair (i64.const -5) (f64.const 2.5)))
  ;; Plain frames between the handler and the thrower.
  (func $mid (param i32) (result i32)
    (call $thrower (local.get 0)) (i32.const 7))
  (func $relay (param i32) (result i32)
    (i32.add (call $mid (local.get 0)) (i32.const 1)))

  (func (export "catch") (param i32) (result i32)
    (block $h (result i32)
      (try_table (catch $e $h) (drop (call $relay (local.get 0))))
      (i32.const -1)))

  (func (export "pair") (result f64)
    (local $f f64)
    (block $h (result i64 f64)
      (try_table (catch $pair $h) (call $throw_pair))
      (return (f64.const -1)))
    (local.set $f)
    (f64.add (f64.convert_i64_s) (local.get $f)))

  ;; The inner handler does not match: the outer one, in the same
  ;; function, does.
  (func (export "nested") (param i32) (result i32)
    (block $outer (result i32)
      (block $inner
        (try_table (catch $e $outer)
          (try_table (catch $empty $inner)
            (drop (call $relay (local.get 0)))))
        (return (i32.const -1)))
      (i32.const -2)))

  ;; catch_ref, then throw_ref: caught again by the caller's handler.
  (func $rethrower (param i32) (result i32)
    (block $h (result i32 exnref)
      (try_table (catch_ref $e $h) (drop (call $relay (local.get 0))))
      (return (i32.const -1)))
    (throw_ref))
  (func (export "rethrow_ref") (param i32) (result i32)
    (block $h (result i32)
      (try_table (catch $e $h) (drop (call $rethrower (local.get 0))))
      (i32.const -1)))

  ;; A loop that throws and catches 10,000 times: the stack pointer a
  ;; landing pad gets must be the frame's own, or this runs off it.
  (func (export "loop") (result i32)
    (local $i i32) (local $sum i32)
    (loop $again
      (block $h (result i32)
        (try_table (catch $e $h) (drop (call $relay (local.get $i))))
        (i32.const 0))
      (local.set $sum (i32.add (local.get $sum)))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $again (i32.lt_u (local.get $i) (i32.const 10000))))
    (local.get $sum))

  ;; Catches, then goes round the loop again until the thrower stops.
  (func $maybe (param i32) (result i32)
    (if (i32.lt_u (local.get 0) (i32.const 5)) (then (throw $e (local.get 0))))
    (local.get 0))
  (func (export "retry") (result i32)
    (local $n i32)
    (loop $again (result i32)
      (block $h (result i32)
        (try_table (result i32) (catch $e $h) (call $maybe (local.get $n)))
        (return))
      (local.set $n (i32.add (i32.const 1)))
      (br $again)))

  ;; A tail call leaves the handler's frame: the caller's handler catches.
  (func $tail (param i32) (result i32)
    (block $h (result i32)
      (try_table (catch $e $h) (return_call $mid (local.get 0)))
      (unreachable))
    (i32.const 1000) (i32.add))
  (func (export "tail") (param i32) (result i32)
    (block $h (result i32)
      (try_table (catch $e $h) (drop (call $tail (local.get 0))))
      (i32.const -1))
    (i32.const 2000) (i32.add))

  (func (export "uncaught") (param i32) (result i32) (call $relay (local.get 0)))
  (func (export "throw_null") (throw_ref (ref.null exn)))

  ;; Legacy exceptions (flat syntax: the text format has no folded `try`).
  (func (export "legacy") (param i32) (result i32)
    try (result i32)
      local.get 0
      call $relay
    catch $empty
      i32.const -3
    catch $e
      i32.const 100
      i32.add
    end)
  (func (export "legacy_all") (param i32) (result i32)
    try (result i32)
      local.get 0
      call $thrower
      i32.const -1
    catch_all
      i32.const 55
    end)
  (func $legacy_rethrow (param i32) (result i32)
    try (result i32)
      local.get 0
      call $relay
    catch $e
      drop
      rethrow 0
    end)
  (func (export "legacy_rethrow") (param i32) (result i32)
    try (result i32)
      local.get 0
      call $legacy_rethrow
    catch $e
      i32.const 3
      i32.mul
    end)
  (func (export "delegate") (param i32) (result i32)
    try $outer (result i32)
      try (result i32)
        local.get 0
        call $relay
      delegate $outer
    catch $e
      i32.const 4
      i32.mul
    end)
)"#;

struct Run {
    store: Store,
    instance: rung::runtime::Instance,
    label: &'static str,
}

impl Run {
    fn new(label: &'static str, tiers: TierChoice) -> Run {
        Run::of(WAT, label, tiers)
    }

    fn of(wat: &str, label: &'static str, tiers: TierChoice) -> Run {
        let engine = Engine::new(tiers.config()).unwrap();
        let module = Module::new(&engine, &wat::parse_str(wat).unwrap()).unwrap();
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

    fn i32(&mut self, name: &str, arg: Option<i32>) -> i32 {
        let args: Vec<Val> = arg.into_iter().map(Val::I32).collect();
        match self.call(name, &args) {
            Ok(v) => match v.as_slice() {
                [Val::I32(x)] => *x,
                other => panic!("{}: {name}: {other:?}", self.label),
            },
            Err(t) => panic!("{}: {name}: trapped: {t}", self.label),
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

#[test]
fn handlers_catch_through_frames_of_either_tier() {
    for mut r in runs() {
        assert_eq!(r.i32("catch", Some(42)), 42, "{}", r.label);
        assert_eq!(r.i32("catch", Some(-9)), -9, "{}", r.label);
        assert_eq!(r.i32("nested", Some(5)), 5, "{}", r.label);
        assert_eq!(r.i32("rethrow_ref", Some(8)), 8, "{}", r.label);
        // 0 + 1 + … + 9999.
        assert_eq!(r.i32("loop", None), 49_995_000, "{}", r.label);
        assert_eq!(r.i32("retry", None), 5, "{}", r.label);
        assert_eq!(r.i32("tail", Some(6)), 2006, "{}", r.label);
        match r.call("pair", &[]).unwrap().as_slice() {
            [Val::F64(bits)] => assert_eq!(f64::from_bits(*bits), -2.5, "{}", r.label),
            other => panic!("{}: pair: {other:?}", r.label),
        }
    }
}

#[test]
fn legacy_try_catch_rethrow_and_delegate() {
    for mut r in runs() {
        assert_eq!(r.i32("legacy", Some(1)), 101, "{}", r.label);
        assert_eq!(r.i32("legacy_all", Some(1)), 55, "{}", r.label);
        assert_eq!(r.i32("legacy_rethrow", Some(7)), 21, "{}", r.label);
        assert_eq!(r.i32("delegate", Some(6)), 24, "{}", r.label);
    }
}

#[test]
fn an_uncaught_exception_reaches_the_host_naming_its_tag() {
    for mut r in runs() {
        let trap = r.call("uncaught", &[Val::I32(3)]).unwrap_err();
        // Tag $e is the store's first tag.
        assert!(
            matches!(trap.reason, TrapReason::Exception { tag: 0, .. }),
            "{}: {trap:?}",
            r.label
        );
        assert_eq!(
            trap.to_string(),
            "uncaught exception (tag 0)",
            "{}",
            r.label
        );
        // The store is still usable afterwards.
        assert_eq!(r.i32("catch", Some(4)), 4, "{}", r.label);
        let trap = r.call("throw_null", &[]).unwrap_err();
        assert_eq!(
            trap.code(),
            Some(TrapCode::NullExceptionReference),
            "{}",
            r.label
        );
        assert_eq!(trap.message(), "null exception reference", "{}", r.label);
    }
}

/// No memory (the baseline then keeps nothing in r15 but must still
/// restore it after an unwind), legacy handlers nested in each other's
/// clauses, a `rethrow` of an outer clause's exception after an inner one
/// caught another, `delegate` to the caller, a handler in a loop, and
/// `v128` payloads.
const LEGACY: &str = r#"(module
  (tag $a (param i32))
  (tag $b (param i64))
  (tag $v (param v128 i32))
  (func $throw_a (param i32) (throw $a (local.get 0)))
  (func $throw_b (param i64) (throw $b (local.get 0)))

  ;; Catches $a, then inside that clause catches $b, then rethrows $a.
  (func $nested (param i32) (result i32)
    try (result i32)
      local.get 0
      call $throw_a
      i32.const -1
    catch $a
      drop
      try (result i32)
        i64.const 9
        call $throw_b
        i32.const -2
      catch $b
        drop
        rethrow 1
      end
    end)
  (func (export "nested") (param i32) (result i32)
    try (result i32)
      local.get 0
      call $nested
    catch $a
      i32.const 1000
      i32.add
    end)

  ;; delegate 0 from the function's outermost try: past this function's
  ;; own handler, to the caller.
  (func $delegate_out (param i32) (result i32)
    try (result i32)
      try (result i32)
        local.get 0
        call $throw_a
        i32.const -1
      delegate 1
    catch_all
      i32.const -5
    end)
  (func (export "delegate_out") (param i32) (result i32)
    try (result i32)
      local.get 0
      call $delegate_out
    catch $a
      i32.const 7
      i32.mul
    end)

  ;; A legacy handler in a loop: 1,000 catches, a running sum in locals.
  (func (export "loop") (result i64)
    (local $i i32) (local $sum i64)
    loop $again
      try
        local.get $i
        i64.extend_i32_u
        call $throw_b
      catch $b
        local.get $sum
        i64.add
        local.set $sum
      end
      local.get $i
      i32.const 1
      i32.add
      local.tee $i
      i32.const 1000
      i32.lt_u
      br_if $again
    end
    local.get $sum)

  ;; An unmatched clause list forwards to the enclosing try_table.
  (func (export "forward") (param i32) (result i32)
    (block $h (result i32)
      (try_table (catch $a $h)
        try
          local.get 0
          call $throw_a
        catch $b
          drop
        end)
      (i32.const -1)))

  ;; A v128 payload, thrown and caught by both kinds of handler.
  (func $throw_v (param i32)
    (throw $v (i32x4.splat (local.get 0)) (i32.const 3)))
  (func (export "v128") (param i32) (result i32)
    (local $x v128)
    (block $h (result v128 i32)
      (try_table (catch $v $h) (call $throw_v (local.get 0)))
      (return (i32.const -1)))
    (drop)
    (local.set $x)
    try (result i32)
      (call $throw_v (i32.add (i32x4.extract_lane 2 (local.get $x)) (i32.const 1)))
      i32.const -1
    catch $v
      local.set 0
      i32x4.extract_lane 3
      local.get 0
      i32.add
    end)
)"#;

#[test]
fn legacy_handlers_nest_delegate_and_loop_without_a_memory() {
    for (label, tiers) in [
        ("optimized", TierChoice::Optimized),
        ("baseline", TierChoice::Baseline),
        ("mixed", TierChoice::Mixed),
        ("tiered", TierChoice::Tiered),
    ] {
        let mut r = Run::of(LEGACY, label, tiers);
        assert_eq!(r.i32("nested", Some(5)), 1005, "{label}");
        assert_eq!(r.i32("delegate_out", Some(6)), 42, "{label}");
        match r.call("loop", &[]).unwrap().as_slice() {
            // 0 + 1 + … + 999.
            [Val::I64(x)] => assert_eq!(*x, 499_500, "{label}"),
            other => panic!("{label}: loop: {other:?}"),
        }
        assert_eq!(r.i32("forward", Some(8)), 8, "{label}");
        // A lane of splat(4 + 1), plus the payload's 3.
        assert_eq!(r.i32("v128", Some(4)), 8, "{label}");
    }
}

/// A host function throws a wasm exception (`Caller::exception`): a wasm
/// handler around the import's call catches it with its payload, in code
/// of either tier; uncaught, it reaches the host naming the tag; a
/// payload of the wrong type is a trap saying so.
#[test]
fn a_host_function_throws_through_wasm_frames() {
    use rung::runtime::{Extern, Func, Tag};
    use wasmparser::{FuncType, ValType};
    const HOST: &str = r#"(module
      (import "host" "tag" (tag $h (param i32 f64)))
      (import "host" "throw" (func $throw (param i32)))
      (func $mid (param i32) (result i32) (call $throw (local.get 0)) (i32.const -1))
      (func (export "catch") (param i32) (result i32)
        (local $f f64)
        (block $c (result i32 f64)
          (try_table (catch $h $c) (drop (call $mid (local.get 0))))
          (return (i32.const -2)))
        (local.set $f)
        (i32.add (i32.trunc_f64_s (local.get $f))))
      (func (export "legacy") (param i32) (result i32)
        try (result i32)
          local.get 0
          call $mid
        catch $h
          drop
        end)
      (func (export "uncaught") (param i32) (result i32) (call $mid (local.get 0))))"#;
    for (label, tiers) in [
        ("optimized", TierChoice::Optimized),
        ("baseline", TierChoice::Baseline),
        ("mixed", TierChoice::Mixed),
        ("tiered", TierChoice::Tiered),
    ] {
        let engine = Engine::new(tiers.config()).unwrap();
        let module = Module::new(&engine, &wat::parse_str(HOST).unwrap()).unwrap();
        let mut store = Store::new(&engine);
        let tag = Tag::new(&mut store, FuncType::new([ValType::I32, ValType::F64], []));
        let throw = Func::new(
            &mut store,
            FuncType::new([ValType::I32], []),
            move |caller, args, _| {
                let x = args[0].unwrap_i32();
                if x < 0 {
                    // The wrong payload type: a trap, not an exception.
                    return Err(caller.exception(tag, &[Val::I32(x)]));
                }
                Err(caller.exception(tag, &[Val::I32(x), Val::F64(100.5f64.to_bits())]))
            },
        )
        .unwrap();
        let mut linker = Linker::new();
        linker.define("host", "tag", Extern::Tag(tag));
        linker.define("host", "throw", Extern::Func(throw));
        let instance = linker.instantiate(&mut store, &module).unwrap();
        let mut call = |name: &str, x: i32| {
            let f = instance.get_func(&store, name).unwrap();
            f.call(&mut store, &[Val::I32(x)])
        };
        assert_eq!(call("catch", 7).unwrap(), vec![Val::I32(107)], "{label}");
        assert_eq!(call("legacy", 9).unwrap(), vec![Val::I32(9)], "{label}");
        let trap = call("uncaught", 3).unwrap_err();
        assert!(
            matches!(trap.reason, TrapReason::Exception { tag: 0, .. }),
            "{label}: {trap:?}"
        );
        let trap = call("catch", -1).unwrap_err();
        assert!(
            trap.to_string().contains("does not match the tag's type"),
            "{label}: {trap}"
        );
        // Still usable afterwards.
        assert_eq!(call("catch", 1).unwrap(), vec![Val::I32(101)], "{label}");
    }
}
