//! Robustness of every entry point on broken input: wasm-smith modules,
//! mutated (bytes flipped, set, inserted, deleted, the file cut short),
//! through `Module::new` and through the `StreamingCompiler` fed in random
//! chunks, under the optimized, baseline and lazy tiered configurations,
//! then instantiated (which runs a start function) under a watchdog.
//!
//! What must hold for every input: no panic, no crash, no hang (a start
//! function that runs past [`RUN_LIMIT`] is interrupted and must stop with
//! the "interrupted" trap); the one-shot and the streaming paths give the
//! same verdict with the same message (offset included) in every
//! configuration; and every configuration gives the same verdict and
//! message as the others (the same bad opcode reads the same in both
//! tiers).
//!
//! 300 cases by default; `PROPTEST_CASES=N` for more, or `cargo xtask fuzz
//! --target robustness --cases N`. A failing module is written to
//! `target/robustness-failure.wasm`.

mod common;

use std::sync::mpsc;
use std::time::Duration;

use arbitrary::Unstructured;
use common::{Chunking, XorShift};
use proptest::prelude::*;
use rung::runtime::{
    Config, Engine, Error, Linker, Module, Store, StreamingCompiler, TierChoice, Trap, TrapReason,
};
use rung::tiering::TrapCode;

/// How long a start function may run before the watchdog interrupts it.
const RUN_LIMIT: Duration = Duration::from_secs(2);

fn smith_config() -> wasm_smith::Config {
    wasm_smith::Config {
        simd_enabled: true,
        relaxed_simd_enabled: false,
        threads_enabled: false,
        exceptions_enabled: true,
        gc_enabled: false,
        memory64_enabled: true,
        tail_call_enabled: true,
        reference_types_enabled: true,
        bulk_memory_enabled: true,
        multi_value_enabled: true,
        max_imports: 0,
        max_memories: 2,
        max_memory32_bytes: 4 * 65536,
        max_memory64_bytes: 4 * 65536,
        memory_max_size_required: true,
        max_tables: 2,
        max_table_elements: 100,
        table_max_size_required: true,
        min_funcs: 1,
        max_funcs: 12,
        max_instructions: 300,
        ..wasm_smith::Config::default()
    }
}

/// One mutation: (position, value, kind).
type Mutation = (u32, u8, u8);

fn mutate(bytes: &mut Vec<u8>, mutations: &[Mutation]) {
    for &(pos, value, kind) in mutations {
        if bytes.is_empty() {
            return;
        }
        let p = pos as usize % bytes.len();
        match kind % 5 {
            0 => bytes[p] ^= value | 1,
            1 => bytes[p] = value,
            2 => bytes.insert(p, value),
            3 => {
                bytes.remove(p);
            }
            _ => bytes.truncate(p.max(8)),
        }
    }
}

/// The configurations every input goes through.
fn engines() -> Vec<(&'static str, Engine)> {
    let make = |choice: TierChoice, lazy: bool| {
        Engine::new(Config {
            lazy,
            interruptible: true,
            ..choice.config()
        })
        .expect("engine")
    };
    vec![
        ("optimized", make(TierChoice::Optimized, false)),
        ("baseline", make(TierChoice::Baseline, false)),
        ("tiered lazy", make(TierChoice::Tiered, true)),
    ]
}

/// The module through the streaming compiler, in `chunking`'s pieces.
fn stream(engine: &Engine, bytes: &[u8], chunking: &Chunking) -> Result<Module, String> {
    let mut compiler = StreamingCompiler::new(engine);
    for r in chunking.ranges(bytes.len()) {
        compiler.push(&bytes[r]).map_err(|e| e.to_string())?;
    }
    compiler.finish().map_err(|e| e.to_string())
}

/// Instantiates `module` (running its start function, if any) with a
/// watchdog; returns what happened, for the failure message.
fn instantiate(engine: &Engine, module: &Module) -> Result<String, String> {
    let mut store = Store::new(engine);
    let handle = store.interrupt_handle().ok_or("no interrupt handle")?;
    let (done, wait) = mpsc::channel::<()>();
    let watchdog = std::thread::spawn(move || {
        if wait.recv_timeout(RUN_LIMIT).is_err() {
            handle.interrupt();
        }
    });
    let result = Linker::new().instantiate(&mut store, module);
    drop(done);
    let _ = watchdog.join();
    Ok(match result {
        Ok(_) => "instantiated".into(),
        // A start function stopped by the watchdog says so.
        Err(Error::Trap(Trap {
            reason: TrapReason::Wasm(TrapCode::Interrupt),
            ..
        })) => "interrupted".into(),
        Err(e) => format!("not instantiated: {e}"),
    })
}

fn check(bytes: &[u8], split_seed: u64) -> Result<(), String> {
    let chunking = Chunking::Random {
        seed: split_seed,
        max: (bytes.len() / 3).max(1),
    };
    let mut verdicts: Vec<(&str, Result<(), String>)> = Vec::new();
    for (name, engine) in engines() {
        let one = Module::new(&engine, bytes).map_err(|e| e.to_string());
        let streamed = stream(&engine, bytes, &chunking);
        match (&one, &streamed) {
            (Ok(_), Ok(_)) => {}
            (Err(a), Err(b))
                if a == b || std::env::var_os("RUNG_ROBUST_VERDICT_ONLY").is_some() => {}
            _ => {
                return Err(format!(
                    "{name}: Module::new said {:?}, the streaming compiler {:?}",
                    one.as_ref().map(|_| ()),
                    streamed.as_ref().map(|_| ())
                ));
            }
        }
        if let Ok(module) = &one {
            instantiate(&engine, module)?;
        }
        verdicts.push((name, one.map(|_| ())));
    }
    let (first, want) = &verdicts[0];
    for (name, got) in &verdicts[1..] {
        if got != want {
            return Err(format!("{first} said {want:?}, {name} {got:?}"));
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: common::cases(300),
        max_shrink_iters: 200,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn mutated_modules_are_handled_alike_everywhere(
        input in proptest::collection::vec(any::<u8>(), 256..4096),
        mutations in proptest::collection::vec(any::<Mutation>(), 0..6),
        split_seed in any::<u64>(),
    ) {
        let mut u = Unstructured::new(&input);
        let Ok(module) = wasm_smith::Module::new(smith_config(), &mut u) else {
            return Ok(());
        };
        let mut bytes = module.to_bytes();
        mutate(&mut bytes, &mutations);
        let result = check(&bytes, split_seed);
        if result.is_err() {
            let path = concat!(env!("CARGO_MANIFEST_DIR"), "/target/robustness-failure.wasm");
            let _ = std::fs::write(path, &bytes);
        }
        prop_assert!(result.is_ok(), "{}", result.err().unwrap_or_default());
    }
}

#[test]
fn random_bytes_after_the_header_are_rejected_alike() {
    let mut rng = XorShift::new(7);
    for len in [0usize, 1, 7, 8, 9, 20, 100, 1000] {
        let mut bytes = b"\0asm\x01\0\0\0".to_vec();
        bytes.extend((0..len).map(|_| rng.next_u64() as u8));
        check(&bytes, len as u64).unwrap_or_else(|e| panic!("{len} random bytes: {e}"));
    }
}

/// A module of one `() -> ()` function whose code section is `code`
/// (count and bodies), then `tail`.
fn one_function(code: &[u8], tail: &[u8]) -> Vec<u8> {
    let mut m = b"\0asm\x01\0\0\0".to_vec();
    m.extend([0x01, 0x04, 0x01, 0x60, 0x00, 0x00]); // type section
    m.extend([0x03, 0x02, 0x01, 0x00]); // function section
    m.push(0x0a);
    m.push(code.len() as u8);
    m.extend(code);
    m.extend(tail);
    m
}

/// The error every path and configuration reports for `bytes`, checked
/// to be the same everywhere (one-shot, streamed whole and byte by byte).
fn the_error(bytes: &[u8]) -> String {
    check(bytes, 1).unwrap_or_else(|e| panic!("{e}"));
    let engine = &engines()[0].1;
    let one = Module::new(engine, bytes)
        .err()
        .expect("invalid")
        .to_string();
    let bytewise = stream(engine, bytes, &Chunking::Fixed(1))
        .err()
        .expect("invalid");
    assert_eq!(bytewise, one);
    one
}

#[test]
fn a_bad_body_before_a_malformed_section_is_the_error_everywhere() {
    // Body: no locals, 0xff (no opcode), end; then a type section after
    // the code section (out of order).
    let bytes = one_function(&[0x01, 0x03, 0x00, 0xff, 0x0b], &[0x01, 0x01, 0x00]);
    let at = bytes.iter().position(|&b| b == 0xff).unwrap();
    assert_eq!(
        the_error(&bytes),
        format!("function 0: illegal opcode ff (at offset {at:#x})")
    );
}

#[test]
fn a_body_running_past_its_section_fails_at_its_start_however_it_arrives() {
    // The body claims 5 bytes; the section holds 2 after its size, and a
    // custom section after it makes the file long enough to hold 5.
    let bytes = one_function(
        &[0x01, 0x05, 0x00, 0x0b],
        &[0x00, 0x05, 0x01, b'a', 1, 2, 3],
    );
    let body_start = 8 + 6 + 4 + 4;
    assert_eq!(
        the_error(&bytes),
        format!("unexpected end-of-file (at offset {body_start:#x})")
    );
}

#[test]
fn bytes_after_the_last_body_are_trailing_bytes_however_they_arrive() {
    // A code section of no bodies and one byte more (no function section).
    let mut bytes = b"\0asm\x01\0\0\0".to_vec();
    bytes.extend([0x0a, 0x02, 0x00, 0x02]);
    assert_eq!(
        the_error(&bytes),
        "trailing bytes at end of section (at offset 0xb)"
    );
}
