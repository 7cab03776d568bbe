//! Traps end a call with the spec's message and the exact place, never crash
//! the host, and leave the instance usable.

use rung_runtime::{
    Config, Engine, Extern, Func, FuncType, Instance, Linker, Module, Store, Trap, TrapReason, Val,
    ValType,
};
use rung_tiering::TrapCode;

fn setup(wat: &str, linker: &Linker) -> (Store, Instance, Vec<u8>) {
    let engine = Engine::new(Config::default()).expect("engine");
    let bytes = wat::parse_str(wat).expect("wat");
    let module = Module::new(&engine, &bytes).expect("compile");
    let mut store = Store::new(&engine);
    let instance = linker
        .instantiate(&mut store, &module)
        .expect("instantiate");
    (store, instance, bytes)
}

fn call(store: &mut Store, instance: Instance, name: &str, args: &[Val]) -> Result<Vec<Val>, Trap> {
    let f = instance.get_func(store, name).expect("export");
    f.call(store, args)
}

/// The byte offset of the first operator in function `func`'s body that
/// `pick` selects.
fn operator_offset(
    bytes: &[u8],
    func: u32,
    pick: impl Fn(&wasmparser::Operator<'_>) -> bool,
) -> u32 {
    let mut index = 0;
    for payload in wasmparser::Parser::new(0).parse_all(bytes) {
        if let Ok(wasmparser::Payload::CodeSectionEntry(body)) = payload {
            if index == func {
                let mut ops = body.get_operators_reader().expect("ops");
                while !ops.eof() {
                    let offset = ops.original_position();
                    if pick(&ops.read().expect("op")) {
                        return offset as u32;
                    }
                }
            }
            index += 1;
        }
    }
    panic!("no such operator");
}

#[test]
fn out_of_bounds_load_traps_with_message_function_and_offset() {
    let wat = r#"(module
        (memory 1)
        (func $helper (result i32) i32.const 7)
        (func (export "load") (param i32) (result i32)
            local.get 0
            i32.load offset=4))"#;
    let (mut store, instance, bytes) = setup(wat, &Linker::new());
    let trap = call(&mut store, instance, "load", &[Val::I32(65532)]).unwrap_err();
    assert_eq!(trap.reason, TrapReason::Wasm(TrapCode::MemoryOutOfBounds));
    assert_eq!(trap.message(), "out of bounds memory access");
    assert_eq!(trap.func, Some(1));
    let load = operator_offset(&bytes, 1, |op| {
        matches!(op, wasmparser::Operator::I32Load { .. })
    });
    assert_eq!(trap.wasm_offset, Some(load));
    // The instance stays usable after a trap.
    assert_eq!(
        call(&mut store, instance, "load", &[Val::I32(0)]).unwrap(),
        vec![Val::I32(0)]
    );
}

#[test]
fn infinite_recursion_is_call_stack_exhausted_and_recoverable() {
    let wat = r#"(module
        (func $down (export "down") (param i32) (result i32)
            local.get 0
            i32.const 1
            i32.add
            call $down)
        (func (export "fine") (result i32) i32.const 42))"#;
    let (mut store, instance, _) = setup(wat, &Linker::new());
    for _ in 0..3 {
        let trap = call(&mut store, instance, "down", &[Val::I32(0)]).unwrap_err();
        assert_eq!(trap.message(), "call stack exhausted");
        assert_eq!(trap.func, Some(0));
    }
    assert_eq!(
        call(&mut store, instance, "fine", &[]).unwrap(),
        vec![Val::I32(42)]
    );
}

#[test]
fn every_arithmetic_trap_has_the_spec_message() {
    let wat = r#"(module
        (func (export "div") (param i32 i32) (result i32) local.get 0 local.get 1 i32.div_s)
        (func (export "trunc") (param f64) (result i32) local.get 0 i32.trunc_f64_s)
        (func (export "unreachable") unreachable)
        (table 2 funcref)
        (type $v (func))
        (func (export "indirect") (param i32) local.get 0 call_indirect (type $v)))"#;
    let (mut store, instance, _) = setup(wat, &Linker::new());
    let cases: [(&str, Vec<Val>, &str); 6] = [
        (
            "div",
            vec![Val::I32(1), Val::I32(0)],
            "integer divide by zero",
        ),
        (
            "div",
            vec![Val::I32(i32::MIN), Val::I32(-1)],
            "integer overflow",
        ),
        (
            "trunc",
            vec![Val::F64(f64::NAN.to_bits())],
            "invalid conversion to integer",
        ),
        ("unreachable", vec![], "unreachable"),
        ("indirect", vec![Val::I32(0)], "uninitialized element"),
        ("indirect", vec![Val::I32(5)], "undefined element"),
    ];
    for (name, args, message) in cases {
        let trap = call(&mut store, instance, name, &args).unwrap_err();
        assert_eq!(trap.message(), message, "{name}({args:?})");
    }
}

#[test]
fn a_panicking_host_function_becomes_a_trap() {
    let mut linker = Linker::new();
    linker.func_new(
        "host",
        "boom",
        FuncType::new([ValType::I32], [ValType::I32]),
        |_, args, results| {
            if args[0] == Val::I32(13) {
                panic!("unlucky number");
            }
            if args[0] == Val::I32(7) {
                return Err(Trap::host("seven is refused"));
            }
            results[0] = Val::I32(args[0].unwrap_i32() * 2);
            Ok(())
        },
    );
    let wat = r#"(module
        (import "host" "boom" (func $boom (param i32) (result i32)))
        (func (export "call") (param i32) (result i32) local.get 0 call $boom i32.const 1 i32.add))"#;
    let (mut store, instance, _) = setup(wat, &linker);
    assert_eq!(
        call(&mut store, instance, "call", &[Val::I32(5)]).unwrap(),
        vec![Val::I32(11)]
    );
    let trap = call(&mut store, instance, "call", &[Val::I32(13)]).unwrap_err();
    assert_eq!(
        trap.reason,
        TrapReason::Host("host function panicked: unlucky number".into())
    );
    let trap = call(&mut store, instance, "call", &[Val::I32(7)]).unwrap_err();
    assert_eq!(trap.message(), "seven is refused");
    assert_eq!(
        call(&mut store, instance, "call", &[Val::I32(1)]).unwrap(),
        vec![Val::I32(3)]
    );
}

#[test]
fn host_to_wasm_to_host_to_wasm_nests_and_traps_unwind_to_the_right_level() {
    // wasm calls the host, which calls wasm again; the inner trap is caught
    // by the inner call and the outer call goes on.
    let engine = Engine::new(Config::default()).unwrap();
    let inner = wat::parse_str(
        r#"(module (func (export "inner") (param i32) (result i32)
            local.get 0 i32.const 0 i32.div_u))"#,
    )
    .unwrap();
    let inner = Module::new(&engine, &inner).unwrap();
    let mut store = Store::new(&engine);
    let inner_instance = Linker::new().instantiate(&mut store, &inner).unwrap();
    let inner_fn = inner_instance.get_func(&store, "inner").unwrap();
    let host = Func::new(
        &mut store,
        FuncType::new([], [ValType::I32]),
        move |caller, _, results| {
            let trap = caller.call(inner_fn, &[Val::I32(1)]).unwrap_err();
            assert_eq!(trap.message(), "integer divide by zero");
            let ok = caller.call(inner_fn, &[Val::I32(0)]);
            assert_eq!(ok.unwrap_err().message(), "integer divide by zero");
            results[0] = Val::I32(99);
            Ok(())
        },
    )
    .unwrap();
    let outer = wat::parse_str(
        r#"(module (import "h" "f" (func $f (result i32)))
            (func (export "outer") (result i32) call $f i32.const 1 i32.add))"#,
    )
    .unwrap();
    let outer = Module::new(&engine, &outer).unwrap();
    let mut linker = Linker::new();
    linker.define("h", "f", Extern::Func(host));
    let outer_instance = linker.instantiate(&mut store, &outer).unwrap();
    let trap = inner_fn.call(&mut store, &[Val::I32(1)]).unwrap_err();
    assert_eq!(trap.message(), "integer divide by zero");
    let f = outer_instance.get_func(&store, "outer").unwrap();
    assert_eq!(f.call(&mut store, &[]).unwrap(), vec![Val::I32(100)]);
}

#[test]
fn typed_calls_check_the_signature_once() {
    let wat = r#"(module
        (func (export "mix") (param i32 i64 f32 f64) (result f64 i32)
            local.get 3 local.get 2 f64.promote_f32 f64.add
            local.get 0 local.get 1 i32.wrap_i64 i32.add))"#;
    let (mut store, instance, _) = setup(wat, &Linker::new());
    let f = instance.get_func(&store, "mix").unwrap();
    let typed = f.typed::<(i32, i64, f32, f64), (f64, i32)>(&store).unwrap();
    assert_eq!(
        typed.call(&mut store, (1, 2, 0.5, 0.25)).unwrap(),
        (0.75, 3)
    );
    assert!(f.typed::<(i32, i64), f64>(&store).is_err());
}

#[test]
fn the_guard_region_catches_every_out_of_bounds_access() {
    let wat = r#"(module
        (memory 1 3)
        (func (export "load_far") (param i32) (result i64)
            local.get 0
            i64.load offset=0xffffffff)
        (func (export "store8") (param i32) (i32.store8 (local.get 0) (i32.const 1)))
        (func (export "grow") (result i32) (memory.grow (i32.const 1))))"#;
    let (mut store, instance, _) = setup(wat, &Linker::new());
    for addr in [0u32, 1, 65535, u32::MAX] {
        let trap = call(&mut store, instance, "load_far", &[Val::I32(addr as i32)]).unwrap_err();
        assert_eq!(
            trap.message(),
            "out of bounds memory access",
            "address {addr:#x}"
        );
    }
    assert!(call(&mut store, instance, "store8", &[Val::I32(65535)]).is_ok());
    let trap = call(&mut store, instance, "store8", &[Val::I32(65536)]).unwrap_err();
    assert_eq!(trap.message(), "out of bounds memory access");
    assert_eq!(
        call(&mut store, instance, "grow", &[]).unwrap(),
        vec![Val::I32(1)]
    );
    assert!(call(&mut store, instance, "store8", &[Val::I32(65536)]).is_ok());
    let trap = call(&mut store, instance, "store8", &[Val::I32(131072)]).unwrap_err();
    assert_eq!(trap.message(), "out of bounds memory access");
}

#[test]
fn lazy_modules_compile_each_function_on_its_first_call() {
    let engine = Engine::new(Config {
        lazy: true,
        ..Config::default()
    })
    .unwrap();
    let wat = r#"(module
        (type $ii (func (param i32) (result i32)))
        (table funcref (elem $double $fact))
        (func $double (type $ii) (i32.mul (local.get 0) (i32.const 2)))
        (func $fact (export "fact") (type $ii)
            (if (result i32) (i32.le_s (local.get 0) (i32.const 1))
                (then (i32.const 1))
                (else (i32.mul (local.get 0)
                    (call $fact (i32.sub (local.get 0) (i32.const 1)))))))
        (func (export "indirect") (param i32 i32) (result i32)
            (call_indirect (type $ii) (local.get 1) (local.get 0)))
        (func (export "many") (param i32 i64 f32 f64 i32 i64 f32 f64 i32 i64)
                              (result f64)
            (f64.add (f64.convert_i64_s (local.get 9)) (f64.promote_f32 (local.get 6))))
        (func (export "div") (param i32) (result i32) (i32.div_u (i32.const 1) (local.get 0))))"#;
    let module = Module::new(&engine, &wat::parse_str(wat).unwrap()).unwrap();
    let mut store = Store::new(&engine);
    let instance = Linker::new().instantiate(&mut store, &module).unwrap();
    let run = |store: &mut Store, name: &str, args: &[Val]| call(store, instance, name, args);
    assert_eq!(
        run(&mut store, "fact", &[Val::I32(10)]).unwrap(),
        vec![Val::I32(3628800)]
    );
    assert_eq!(
        run(&mut store, "indirect", &[Val::I32(0), Val::I32(21)]).unwrap(),
        vec![Val::I32(42)]
    );
    assert_eq!(
        run(&mut store, "indirect", &[Val::I32(1), Val::I32(5)]).unwrap(),
        vec![Val::I32(120)]
    );
    // Every argument register, and stack arguments, survive the stub.
    let args = [
        Val::I32(1),
        Val::I64(2),
        Val::F32(3.0f32.to_bits()),
        Val::F64(4.0f64.to_bits()),
        Val::I32(5),
        Val::I64(6),
        Val::F32(7.5f32.to_bits()),
        Val::F64(8.0f64.to_bits()),
        Val::I32(9),
        Val::I64(10),
    ];
    assert_eq!(
        run(&mut store, "many", &args).unwrap(),
        vec![Val::F64(17.5f64.to_bits())]
    );
    let trap = run(&mut store, "div", &[Val::I32(0)]).unwrap_err();
    assert_eq!(trap.message(), "integer divide by zero");
    assert_eq!(trap.func, Some(4));
    assert_eq!(
        run(&mut store, "div", &[Val::I32(1)]).unwrap(),
        vec![Val::I32(1)]
    );
}
