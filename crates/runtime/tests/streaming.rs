//! Streaming compilation gives the same module, and the same errors, as
//! compiling the bytes at once, however the bytes are cut.

use rung_runtime::{
    Config, Engine, Error, Linker, Module, Store, StreamingCompiler, TierChoice, Val,
};

const WAT: &str = r#"(module
    (memory 1)
    (data (i32.const 16) "streamed")
    (global $g (mut i32) (i32.const 7))
    (func $fib (export "fib") (param i32) (result i64)
        (if (result i64) (i32.lt_u (local.get 0) (i32.const 2))
            (then (i64.extend_i32_u (local.get 0)))
            (else (i64.add (call $fib (i32.sub (local.get 0) (i32.const 1)))
                           (call $fib (i32.sub (local.get 0) (i32.const 2)))))))
    (func (export "byte") (param i32) (result i32) (i32.load8_u (local.get 0)))
    (func (export "bump") (result i32)
        (global.set $g (i32.add (global.get $g) (i32.const 1)))
        (global.get $g)))"#;

fn stream(engine: &Engine, bytes: &[u8], chunk: usize) -> Result<Module, Error> {
    let mut compiler = StreamingCompiler::new(engine);
    for piece in bytes.chunks(chunk.max(1)) {
        compiler.push(piece)?;
    }
    compiler.finish()
}

fn exercise(engine: &Engine, module: &Module) -> Vec<Val> {
    let mut store = Store::new(engine);
    let instance = Linker::new().instantiate(&mut store, module).unwrap();
    let mut out = Vec::new();
    for (name, args) in [
        ("fib", vec![Val::I32(20)]),
        ("byte", vec![Val::I32(16)]),
        ("byte", vec![Val::I32(23)]),
        ("bump", vec![]),
        ("bump", vec![]),
    ] {
        let f = instance.get_func(&store, name).unwrap();
        out.extend(f.call(&mut store, &args).unwrap());
    }
    out
}

#[test]
fn any_chunking_gives_the_same_module_in_every_configuration() {
    let bytes = wat::parse_str(WAT).unwrap();
    let configs = [
        Config::default(),
        Config {
            ..TierChoice::Baseline.config()
        },
        Config {
            ..TierChoice::Tiered.config()
        },
        Config {
            lazy: true,
            ..Config::default()
        },
    ];
    for config in configs {
        let engine = Engine::new(config).unwrap();
        let whole = exercise(&engine, &Module::new(&engine, &bytes).unwrap());
        assert_eq!(
            whole,
            vec![
                Val::I64(6765),
                Val::I32(b's' as i32),
                Val::I32(b'd' as i32),
                Val::I32(8),
                Val::I32(9)
            ]
        );
        for chunk in [1, 2, 7, 64, 4096] {
            let module = stream(&engine, &bytes, chunk).unwrap();
            assert_eq!(exercise(&engine, &module), whole, "chunks of {chunk}");
        }
        let from_reader = Module::from_reader(&engine, &bytes[..]).unwrap();
        assert_eq!(exercise(&engine, &from_reader), whole);
    }
}

#[test]
fn errors_match_compiling_at_once() {
    let engine = Engine::new(Config {
        ..TierChoice::Baseline.config()
    })
    .unwrap();
    let invalid = wat::parse_str(
        r#"(module (func (result i32) i32.const 1)
                   (func (result i32) i64.const 1)
                   (func (result i32) f32.const 1))"#,
    )
    .unwrap();
    let at_once = Module::new(&engine, &invalid).err().unwrap().to_string();
    assert_eq!(
        at_once,
        "function 1: type mismatch: expected i32, found i64 (at offset 0x21)"
    );
    for chunk in [1, 5, 1000] {
        let streamed = stream(&engine, &invalid, chunk).err().unwrap().to_string();
        assert_eq!(streamed, at_once, "chunks of {chunk}");
    }
    let bytes = wat::parse_str(WAT).unwrap();
    for cut in [3, 20, bytes.len() / 2, bytes.len() - 1] {
        let at_once = Module::new(&engine, &bytes[..cut])
            .err()
            .unwrap()
            .to_string();
        let streamed = stream(&engine, &bytes[..cut], 3).err().unwrap().to_string();
        assert_eq!(streamed, at_once, "cut at {cut}");
        assert!(streamed.contains("unexpected end-of-file"), "{streamed}");
    }
}

/// A module of `n` functions `() -> i32`, each a few operators long; body
/// `bad` (if any) is `raw` instead. Returns the bytes and the absolute
/// offset of each body's size field.
fn many_functions(n: u32, bad: Option<(u32, &[u8])>) -> (Vec<u8>, Vec<usize>) {
    use wasm_encoder::{CodeSection, Function, FunctionSection, Instruction, TypeSection, ValType};
    let mut types = TypeSection::new();
    types.ty().function([], [ValType::I32]);
    let mut funcs = FunctionSection::new();
    let mut code = CodeSection::new();
    for i in 0..n {
        funcs.function(0);
        match bad {
            Some((b, raw)) if b == i => {
                code.raw(raw);
            }
            _ => {
                let mut f = Function::new([]);
                for k in 0..8 {
                    f.instruction(&Instruction::I32Const(i as i32 * 8 + k));
                    f.instruction(&Instruction::Drop);
                }
                f.instruction(&Instruction::I32Const(i as i32));
                f.instruction(&Instruction::End);
                code.function(&f);
            }
        }
    }
    let mut module = wasm_encoder::Module::new();
    module.section(&types).section(&funcs).section(&code);
    let bytes = module.finish();
    // Each body's size field: the LEB before its contents.
    let mut sizes = Vec::new();
    for payload in wasmparser::Parser::new(0).parse_all(&bytes) {
        if let wasmparser::Payload::CodeSectionEntry(body) = payload.unwrap() {
            let range = body.range();
            let (start, len) = (range.start as usize, (range.end - range.start) as usize);
            let leb = (1..).find(|k| len >> (7 * k) == 0).unwrap();
            sizes.push(start - leb);
        }
    }
    assert_eq!(sizes.len(), n as usize);
    (bytes, sizes)
}

/// Pushes `bytes` in chunks of `chunk`; returns the first error and how
/// many bytes had been pushed when it came, or `finish`'s error and `None`.
fn first_error(engine: &Engine, bytes: &[u8], chunk: usize) -> (String, Option<usize>) {
    let mut compiler = StreamingCompiler::new(engine);
    let mut pushed = 0;
    for piece in bytes.chunks(chunk) {
        pushed += piece.len();
        if let Err(e) = compiler.push(piece) {
            let message = e.to_string();
            // The stream stays failed, with the same error.
            let again = compiler.push(&[0]).err().map(|e| e.to_string());
            assert_eq!(again.as_deref(), Some(message.as_str()));
            let at_finish = compiler.finish().err().map(|e| e.to_string());
            assert_eq!(at_finish.as_deref(), Some(message.as_str()));
            return (message, Some(pushed));
        }
    }
    (compiler.finish().err().unwrap().to_string(), None)
}

#[test]
fn push_reports_a_bad_body_while_the_stream_still_runs() {
    // One compile thread: bodies compile in order, and at most 32 wait
    // (streaming.rs, QUEUED_BODIES), so once 40 later bodies have been
    // queued, the bad one has been compiled and its error seen.
    let engine = Engine::new(Config {
        compile_threads: 1,
        ..TierChoice::Baseline.config()
    })
    .unwrap();
    // 0xff is no opcode.
    let (bytes, sizes) = many_functions(3000, Some((50, &[0x00, 0x41, 0x01, 0xff, 0x0b])));
    let at_once = Module::new(&engine, &bytes).err().unwrap().to_string();
    let opcode = sizes[50] + 4;
    assert_eq!(
        at_once,
        format!("function 50: illegal opcode ff (at offset {opcode:#x})")
    );
    let (streamed, pushed) = first_error(&engine, &bytes, 64);
    assert_eq!(streamed, at_once);
    let pushed = pushed.expect("the error waited for finish");
    assert!(
        pushed < sizes[50 + 40],
        "reported after {pushed} bytes; the bad body ends at {}",
        sizes[51]
    );
    // The engine compiles on: the next module is fine.
    let (good, _) = many_functions(100, None);
    stream(&engine, &good, 64).unwrap();
}

#[test]
fn push_reports_a_body_size_past_the_code_section_when_it_reads_it() {
    let engine = Engine::new(TierChoice::Baseline.config()).unwrap();
    let (mut bytes, sizes) = many_functions(3000, None);
    // Body 1000's size field says 2^28 - 1 bytes (a 4-byte LEB over its
    // 1-byte size and the first 3 bytes of its body: the rest is garbage,
    // but the size is read first).
    let at = sizes[1000];
    bytes[at..at + 4].copy_from_slice(&[0xff, 0xff, 0xff, 0x7f]);
    let at_once = Module::new(&engine, &bytes).err().unwrap().to_string();
    assert_eq!(
        at_once,
        format!("unexpected end-of-file (at offset {:#x})", at + 4)
    );
    let (streamed, pushed) = first_error(&engine, &bytes, 64);
    assert_eq!(streamed, at_once);
    let pushed = pushed.expect("the error waited for finish");
    assert!(
        pushed <= at + 64 + 4,
        "reported after {pushed} bytes; the size is at {at}"
    );
}

#[test]
fn progress_and_events_tell_how_far_the_compile_got() {
    use rung_runtime::StreamEvent;
    use std::sync::{Arc, Mutex};
    let engine = Engine::new(TierChoice::Baseline.config()).unwrap();
    let (bytes, sizes) = many_functions(500, None);
    let mut compiler = StreamingCompiler::new(&engine);
    let events = Arc::new(Mutex::new(Vec::new()));
    let seen = events.clone();
    compiler.on_event(move |e| seen.lock().unwrap().push(e));
    let p = compiler.progress();
    assert_eq!(
        (p.bytes_pushed, p.bodies_queued, p.bodies_compiled),
        (0, 0, 0)
    );
    assert!(!p.code_section_received && p.first_compiled.is_none());
    // Up to the middle of body 100: bodies 0..100 are queued, not 100.
    let half = sizes[100] + 3;
    compiler.push(&bytes[..half]).unwrap();
    let p = compiler.progress();
    assert_eq!(p.bytes_pushed, half as u64);
    assert_eq!(p.bodies_queued, 100);
    assert!(p.bodies_compiled <= 100);
    assert!(!p.code_section_received);
    assert_eq!(p.bytes_decoded, sizes[100] as u64);
    compiler.push(&bytes[half..]).unwrap();
    let p = compiler.progress();
    assert_eq!(p.bodies_queued, 500);
    assert!(p.code_section_received);
    let events_before_finish = events.lock().unwrap().clone();
    assert!(
        events_before_finish
            .iter()
            .any(|e| matches!(e, StreamEvent::CodeSectionReceived { bodies: 500, .. })),
        "{events_before_finish:?}"
    );
    compiler.finish().unwrap();
    let events = events.lock().unwrap().clone();
    assert_eq!(events.len(), 2, "{events:?}");
    let first = events
        .iter()
        .find_map(|e| match e {
            StreamEvent::FirstFunctionCompiled { func, .. } => Some(*func),
            _ => None,
        })
        .expect("no FirstFunctionCompiled");
    assert!(first < 100, "the first compiled function is {first}");
}
