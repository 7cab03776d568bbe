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
