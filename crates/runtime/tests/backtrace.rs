//! Backtraces: a trap reports the wasm frames it went through, innermost
//! first, with names, function indices, wasm offsets and tiers, in every
//! tier configuration and across host functions.

use rung_runtime::{
    Engine, Extern, Frame, FuncType, Linker, Module, Store, TierChoice, Trap, Val, ValType,
};
use rung_tiering::TrapCode;

/// `a` (0) calls `b` (1) calls `c` (2): `c` traps with `unreachable` when
/// its argument is 0, else loads at its argument.
const CHAIN: &str = r#"(module $chain
    (memory 1)
    (func $a (export "a") (param i32) (result i32)
        local.get 0
        call $b)
    (func $b (param i32) (result i32)
        local.get 0
        call $c)
    (func $c (param i32) (result i32)
        local.get 0
        i32.eqz
        if
            unreachable
        end
        local.get 0
        i32.load))"#;

/// The byte offset of the first operator of function `func`'s body that
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

fn is_call(op: &wasmparser::Operator<'_>) -> bool {
    matches!(op, wasmparser::Operator::Call { .. })
}

/// A frame as (function index, name, offset, tier).
type Summary<'a> = (u32, Option<&'a str>, Option<u32>, Option<&'a str>);

/// Each frame's [`Summary`].
fn summary(frames: &[Frame]) -> Vec<Summary<'_>> {
    frames
        .iter()
        .map(|f| (f.func, f.func_name.as_deref(), f.wasm_offset, f.tier))
        .collect()
}

/// The tier each function of `CHAIN` runs in under `choice`.
fn tier_of(choice: TierChoice, func: u32) -> &'static str {
    match choice {
        TierChoice::Optimized => "optimizer",
        TierChoice::Baseline | TierChoice::Tiered => "baseline",
        TierChoice::Mixed if func.is_multiple_of(2) => "baseline",
        TierChoice::Mixed => "optimizer",
    }
}

fn run_chain(choice: TierChoice, arg: i32) -> (Trap, Vec<u8>) {
    let engine = Engine::new(choice.config()).expect("engine");
    let bytes = wat::parse_str(CHAIN).expect("wat");
    let module = Module::new(&engine, &bytes).expect("compile");
    let mut store = Store::new(&engine);
    let instance = Linker::new()
        .instantiate(&mut store, &module)
        .expect("instantiate");
    let a = instance.get_func(&store, "a").expect("a");
    let trap = a.call(&mut store, &[Val::I32(arg)]).unwrap_err();
    (trap, bytes)
}

fn check_chain(choice: TierChoice, arg: i32, code: TrapCode, trapping: u32) {
    let (trap, bytes) = run_chain(choice, arg);
    assert_eq!(trap.code(), Some(code), "{choice:?}");
    let expected = vec![
        (2, Some("c"), Some(trapping), Some(tier_of(choice, 2))),
        (
            1,
            Some("b"),
            Some(operator_offset(&bytes, 1, is_call)),
            Some(tier_of(choice, 1)),
        ),
        (
            0,
            Some("a"),
            Some(operator_offset(&bytes, 0, is_call)),
            Some(tier_of(choice, 0)),
        ),
    ];
    assert_eq!(summary(trap.backtrace()), expected, "{choice:?}");
    assert!(
        trap.backtrace()
            .iter()
            .all(|f| f.module_name.as_deref() == Some("chain"))
    );
}

const CHOICES: [TierChoice; 3] = [
    TierChoice::Baseline,
    TierChoice::Optimized,
    TierChoice::Mixed,
];

#[test]
fn unreachable_in_c_shows_c_b_a_in_every_tier() {
    let bytes = wat::parse_str(CHAIN).expect("wat");
    let unreachable = operator_offset(&bytes, 2, |op| {
        matches!(op, wasmparser::Operator::Unreachable)
    });
    for choice in CHOICES {
        check_chain(choice, 0, TrapCode::UnreachableCodeReached, unreachable);
    }
}

#[test]
fn out_of_bounds_load_in_c_shows_c_b_a_in_every_tier() {
    let bytes = wat::parse_str(CHAIN).expect("wat");
    let load = operator_offset(&bytes, 2, |op| {
        matches!(op, wasmparser::Operator::I32Load { .. })
    });
    for choice in CHOICES {
        check_chain(choice, 70_000, TrapCode::MemoryOutOfBounds, load);
    }
}

#[test]
fn the_backtrace_prints_one_line_per_frame() {
    let (trap, bytes) = run_chain(TierChoice::Baseline, 0);
    let unreachable = operator_offset(&bytes, 2, |op| {
        matches!(op, wasmparser::Operator::Unreachable)
    });
    let b = operator_offset(&bytes, 1, is_call);
    let a = operator_offset(&bytes, 0, is_call);
    assert_eq!(
        trap.wasm_backtrace.to_string(),
        format!(
            "    0: {unreachable:#x} - chain!c (func 2, baseline)\n    \
             1: {b:#x} - chain!b (func 1, baseline)\n    \
             2: {a:#x} - chain!a (func 0, baseline)\n"
        )
    );
}

/// `outer` (1) calls `x` (2) calls the host function `h` (0), which calls
/// `inner` (3), which calls `z` (4), which traps unless `h` was asked to
/// fail itself.
const HOST: &str = r#"(module $host
    (import "env" "h" (func $h (param i32)))
    (func $outer (export "outer") (param i32)
        local.get 0
        call $x)
    (func $x (param i32)
        local.get 0
        call $h)
    (func $inner (export "inner")
        call $z)
    (func $z
        unreachable))"#;

fn host_setup(choice: TierChoice) -> (Store, rung_runtime::Instance, Vec<u8>) {
    let engine = Engine::new(choice.config()).expect("engine");
    let bytes = wat::parse_str(HOST).expect("wat");
    let module = Module::new(&engine, &bytes).expect("compile");
    let mut store = Store::new(&engine);
    let mut linker = Linker::new();
    linker.func_new(
        "env",
        "h",
        FuncType::new([ValType::I32], []),
        |caller, args, _| {
            if args[0] == Val::I32(1) {
                return Err(Trap::host("h refuses"));
            }
            let Some(Extern::Func(inner)) = caller.get_export("inner") else {
                return Err(Trap::host("no inner"));
            };
            caller.call(inner, &[]).map(|_| ())
        },
    );
    let instance = linker
        .instantiate(&mut store, &module)
        .expect("instantiate");
    (store, instance, bytes)
}

#[test]
fn a_trap_under_a_host_function_shows_the_frames_on_both_sides() {
    for choice in CHOICES {
        let (mut store, instance, bytes) = host_setup(choice);
        let outer = instance.get_func(&store, "outer").expect("outer");
        let trap = outer.call(&mut store, &[Val::I32(0)]).unwrap_err();
        assert_eq!(trap.code(), Some(TrapCode::UnreachableCodeReached));
        let frames = summary(trap.backtrace());
        let names: Vec<(u32, Option<&str>)> = frames.iter().map(|f| (f.0, f.1)).collect();
        assert_eq!(
            names,
            [
                (4, Some("z")),
                (3, Some("inner")),
                (2, Some("x")),
                (1, Some("outer"))
            ],
            "{choice:?}"
        );
        // Code entries count defined functions only: `x` is the second.
        assert_eq!(frames[2].2, Some(operator_offset(&bytes, 1, is_call)));
        assert_eq!(frames[3].2, Some(operator_offset(&bytes, 0, is_call)));
    }
}

#[test]
fn a_host_function_error_shows_its_wasm_callers() {
    for choice in CHOICES {
        let (mut store, instance, bytes) = host_setup(choice);
        let outer = instance.get_func(&store, "outer").expect("outer");
        let trap = outer.call(&mut store, &[Val::I32(1)]).unwrap_err();
        assert_eq!(trap.message(), "h refuses");
        assert_eq!(
            summary(trap.backtrace()),
            [
                (
                    2,
                    Some("x"),
                    Some(operator_offset(&bytes, 1, is_call)),
                    Some(tier_of(choice, 2))
                ),
                (
                    1,
                    Some("outer"),
                    Some(operator_offset(&bytes, 0, is_call)),
                    Some(tier_of(choice, 1))
                ),
            ],
            "{choice:?}"
        );
        // The store is still usable, and a later trap's backtrace is its own.
        let trap = outer.call(&mut store, &[Val::I32(0)]).unwrap_err();
        assert_eq!(trap.backtrace().len(), 4, "{choice:?}");
    }
}

#[test]
fn deep_recursion_records_at_most_max_frames_and_counts_the_rest() {
    let engine = Engine::new(TierChoice::Baseline.config()).expect("engine");
    let bytes = wat::parse_str(
        r#"(module (func $f (export "f") (param i32)
            local.get 0
            i32.eqz
            if unreachable end
            local.get 0
            i32.const 1
            i32.sub
            call $f))"#,
    )
    .expect("wat");
    let module = Module::new(&engine, &bytes).expect("compile");
    let mut store = Store::new(&engine);
    let instance = Linker::new()
        .instantiate(&mut store, &module)
        .expect("instantiate");
    let f = instance.get_func(&store, "f").expect("f");
    let trap = f.call(&mut store, &[Val::I32(1500)]).unwrap_err();
    assert_eq!(trap.backtrace().len(), rung_runtime::MAX_FRAMES);
    assert_eq!(
        trap.wasm_backtrace.skipped(),
        1501 - rung_runtime::MAX_FRAMES
    );
    // Stack exhaustion: every frame is walked without a fault.
    let trap = f.call(&mut store, &[Val::I32(i32::MAX)]).unwrap_err();
    assert_eq!(trap.code(), Some(TrapCode::StackOverflow));
    assert_eq!(trap.backtrace().len(), rung_runtime::MAX_FRAMES);
}

#[test]
fn an_uncaught_exception_shows_the_thrower_and_its_callers() {
    let engine = Engine::new(TierChoice::Mixed.config()).expect("engine");
    let bytes = wat::parse_str(
        r#"(module $exn
            (tag $t)
            (func $main (export "main") call $thrower)
            (func $thrower throw $t))"#,
    )
    .expect("wat");
    let module = Module::new(&engine, &bytes).expect("compile");
    let mut store = Store::new(&engine);
    let instance = Linker::new()
        .instantiate(&mut store, &module)
        .expect("instantiate");
    let main = instance.get_func(&store, "main").expect("main");
    let trap = main.call(&mut store, &[]).unwrap_err();
    let names: Vec<Option<&str>> = trap
        .backtrace()
        .iter()
        .map(|f| f.func_name.as_deref())
        .collect();
    assert_eq!(names, [Some("thrower"), Some("main")]);
    let throw = operator_offset(&bytes, 1, |op| {
        matches!(op, wasmparser::Operator::Throw { .. })
    });
    assert_eq!(trap.backtrace()[0].wasm_offset, Some(throw));
}

#[test]
fn a_trap_in_a_libcall_shows_the_wasm_frames_that_called_it() {
    // `memory.fill` out of bounds traps in the runtime's Rust code.
    let wat = r#"(module $fill
        (memory 1)
        (func $a (export "a") call $b)
        (func $b call $c)
        (func $c
            i32.const 65000
            i32.const 0
            i32.const 1000
            memory.fill))"#;
    let bytes = wat::parse_str(wat).expect("wat");
    let fill = operator_offset(&bytes, 2, |op| {
        matches!(op, wasmparser::Operator::MemoryFill { .. })
    });
    for choice in CHOICES {
        let engine = Engine::new(choice.config()).expect("engine");
        let module = Module::new(&engine, &bytes).expect("compile");
        let mut store = Store::new(&engine);
        let instance = Linker::new()
            .instantiate(&mut store, &module)
            .expect("instantiate");
        let a = instance.get_func(&store, "a").expect("a");
        let trap = a.call(&mut store, &[]).unwrap_err();
        assert_eq!(trap.code(), Some(TrapCode::MemoryOutOfBounds));
        assert_eq!(
            summary(trap.backtrace()),
            [
                (2, Some("c"), Some(fill), Some(tier_of(choice, 2))),
                (
                    1,
                    Some("b"),
                    Some(operator_offset(&bytes, 1, is_call)),
                    Some(tier_of(choice, 1))
                ),
                (
                    0,
                    Some("a"),
                    Some(operator_offset(&bytes, 0, is_call)),
                    Some(tier_of(choice, 0))
                ),
            ],
            "{choice:?}"
        );
    }
}

#[test]
fn after_tier_up_the_frames_name_the_optimizer() {
    let config = rung_runtime::Config {
        tier_up_policy: std::sync::Arc::new(rung_tiering::CallCountPolicy::new(2)),
        tier_up_in_background: false,
        ..TierChoice::Tiered.config()
    };
    let engine = Engine::new(config).expect("engine");
    let bytes = wat::parse_str(CHAIN).expect("wat");
    let module = Module::new(&engine, &bytes).expect("compile");
    let mut store = Store::new(&engine);
    let instance = Linker::new()
        .instantiate(&mut store, &module)
        .expect("instantiate");
    let a = instance.get_func(&store, "a").expect("a");
    for _ in 0..3 {
        a.call(&mut store, &[Val::I32(4)]).expect("no trap");
    }
    assert_eq!(engine.tier_ups(), 3);
    let trap = a.call(&mut store, &[Val::I32(0)]).unwrap_err();
    let tiers: Vec<(u32, Option<&str>)> =
        trap.backtrace().iter().map(|f| (f.func, f.tier)).collect();
    assert_eq!(
        tiers,
        [
            (2, Some("optimizer")),
            (1, Some("optimizer")),
            (0, Some("optimizer"))
        ]
    );
}

#[test]
fn a_streamed_module_names_its_frames_too() {
    let engine = Engine::new(TierChoice::Baseline.config()).expect("engine");
    let bytes = wat::parse_str(CHAIN).expect("wat");
    let mut streaming = rung_runtime::StreamingCompiler::new(&engine);
    for chunk in bytes.chunks(7) {
        streaming.push(chunk).expect("push");
    }
    let module = streaming.finish().expect("finish");
    let mut store = Store::new(&engine);
    let instance = Linker::new()
        .instantiate(&mut store, &module)
        .expect("instantiate");
    let a = instance.get_func(&store, "a").expect("a");
    let trap = a.call(&mut store, &[Val::I32(0)]).unwrap_err();
    let names: Vec<(Option<&str>, Option<&str>)> = trap
        .backtrace()
        .iter()
        .map(|f| (f.module_name.as_deref(), f.func_name.as_deref()))
        .collect();
    assert_eq!(
        names,
        [
            (Some("chain"), Some("c")),
            (Some("chain"), Some("b")),
            (Some("chain"), Some("a"))
        ]
    );
}
