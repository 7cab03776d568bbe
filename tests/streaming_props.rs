//! Streaming equivalence: any split of a module's bytes into chunks gives the
//! same events, the same verdict and the same `ModuleEnv` as one-shot
//! [`decode_all`] of the same bytes, with and without the validator.
//!
//! - `smith_modules_stream_like_one_shot` (proptest): wasm-smith modules with
//!   WebAssembly 3.0 features, custom sections spliced in at random section
//!   boundaries, some truncated or with a flipped byte.
//! - `custom_sections_between_and_after`: a hand-built module with a 1 MiB
//!   custom section between the function and code sections, a `name` section
//!   after the code section, pushed in 1-byte, 7-byte and 64 KiB chunks.
//! - `truncated_at_every_offset`: every prefix of a small valid module fails
//!   in `finish` at an offset inside the prefix, and nothing panics.

mod common;

use std::borrow::Cow;
use std::panic::{AssertUnwindSafe, catch_unwind};

use common::{
    Chunking, Ev, Run, custom_section, run_chunked, run_decode_all, section_boundaries,
    stream_validate, verdict,
};
use proptest::prelude::*;
use proptest::sample::Index;
use rung_decoder::{
    DecodeError, Decoder, DecoderConfig, Event, ModuleEnv, StreamingDecoder, decode_all,
};
use rung_validator::{Discard, FEATURES, Validating};
use wasm_encoder as we;

/// wasm-smith restricted to what `WasmFeatures::WASM3` validates (the
/// property test asserts that every generated module validates; wasm-smith's
/// own `Config::features` is behind a cargo feature we do not enable).
fn smith_config() -> wasm_smith::Config {
    wasm_smith::Config {
        // Not part of 3.0 (all others wasm-smith enables by default are).
        wide_arithmetic_enabled: false,
        compact_imports_enabled: false,
        custom_page_sizes_enabled: false,
        custom_descriptors_enabled: false,
        shared_everything_threads_enabled: false,
        acquire_release_atomics_enabled: false,
        multibyte_array_access_enabled: false,
        // Multi-memory is 3.0; more tables exercise reference types.
        max_memories: 3,
        max_tables: 3,
        max_funcs: 40,
        max_data_segments: 10,
        max_element_segments: 10,
        ..wasm_smith::Config::default()
    }
}

/// A custom section to splice in: where (an index into the section
/// boundaries), which name, how many payload bytes, whether its size is a
/// padded (5-byte) LEB; or raw contents after the id and size, which are
/// mostly malformed (a name length past the end, invalid UTF-8).
#[derive(Debug, Clone)]
struct Custom {
    at: Index,
    name: &'static str,
    len: usize,
    padded: bool,
    raw: Option<Vec<u8>>,
}

fn custom_strategy() -> impl Strategy<Value = Custom> {
    let name = prop::sample::select(vec!["dwarf", ".debug_info", "name", "", "producers", "x"]);
    let len = prop_oneof![
        6 => 0usize..64,
        3 => 64usize..2048,
        // Larger than most chunks below, so that skipping spans many pushes.
        1 => 60_000usize..70_000,
    ];
    let raw = prop_oneof![
        9 => Just(None),
        1 => prop::collection::vec(any::<u8>(), 0..16).prop_map(Some),
    ];
    (any::<Index>(), name, len, any::<bool>(), raw).prop_map(|(at, name, len, padded, raw)| {
        Custom {
            at,
            name,
            len,
            padded,
            raw,
        }
    })
}

impl Custom {
    fn bytes(&self, fill: u8) -> Vec<u8> {
        let contents = match &self.raw {
            Some(raw) => raw.clone(),
            None => {
                let mut contents = leb_vec(self.name.len() as u32);
                contents.extend_from_slice(self.name.as_bytes());
                contents.extend((0..self.len).map(|j| fill.wrapping_add(j as u8)));
                contents
            }
        };
        let mut out = vec![0];
        if self.padded {
            let v = contents.len() as u32;
            out.extend([0, 7, 14, 21].map(|s| ((v >> s) & 0x7f) as u8 | 0x80));
            out.push((v >> 28) as u8);
        } else {
            out.extend(leb_vec(contents.len() as u32));
        }
        out.extend(contents);
        out
    }
}

fn leb_vec(v: u32) -> Vec<u8> {
    let mut out = Vec::new();
    common::leb(&mut out, v);
    out
}

#[derive(Debug, Clone)]
enum Mutation {
    None,
    Truncate(Index),
    Flip(Index, u8),
}

fn mutation_strategy() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        3 => Just(Mutation::None),
        1 => any::<Index>().prop_map(Mutation::Truncate),
        1 => (any::<Index>(), 1u8..=255).prop_map(|(i, x)| Mutation::Flip(i, x)),
    ]
}

/// Splices custom sections in at section boundaries of a well-formed module.
fn splice_customs(bytes: &[u8], customs: &[Custom]) -> Vec<u8> {
    let Some(bounds) = section_boundaries(bytes) else {
        return bytes.to_vec();
    };
    let mut at: Vec<(usize, Vec<u8>)> = customs
        .iter()
        .enumerate()
        .map(|(i, c)| (*c.at.get(&bounds), c.bytes((i * 31) as u8)))
        .collect();
    // From the back, so that earlier offsets stay put.
    at.sort_by_key(|&(pos, _)| std::cmp::Reverse(pos));
    let mut out = bytes.to_vec();
    for (pos, section) in at {
        out.splice(pos..pos, section);
    }
    out
}

/// Checks that `got` (a chunked run) observed what `want` (decode_all) did.
fn same_run(got: &Run, want: &Run, what: &str) -> Result<(), TestCaseError> {
    prop_assert_eq!(&got.verdict, &want.verdict, "verdict differs: {}", what);
    prop_assert!(
        got.events == want.events,
        "events differ: {what}\n chunked: {:?}\n one-shot: {:?}",
        got.events,
        want.events
    );
    if want.verdict.is_ok() {
        prop_assert_eq!(&got.env, &want.env, "env differs: {}", what);
    }
    Ok(())
}

proptest! {
    // 256 cases unless PROPTEST_CASES says otherwise; no regression files in
    // the source tree (a failure prints its minimal input).
    #![proptest_config(ProptestConfig {
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn smith_modules_stream_like_one_shot(
        seed in prop::collection::vec(any::<u8>(), 0..8192),
        customs in prop::collection::vec(custom_strategy(), 0..5),
        mutation in mutation_strategy(),
        chunk_seed in any::<u64>(),
        max_chunk in prop_oneof![Just(1usize), 1usize..=16, 1usize..=4096],
        cuts in prop::collection::vec(any::<Index>(), 0..24),
    ) {
        let mut u = arbitrary::Unstructured::new(&seed);
        let module = wasm_smith::Module::new(smith_config(), &mut u);
        prop_assume!(module.is_ok());
        let original = module.expect("checked").to_bytes();
        prop_assert!(
            rung_validator::validate(&original, 1).is_ok(),
            "wasm-smith module rejected: {:?}",
            rung_validator::validate(&original, 1).err()
        );
        let mut bytes = splice_customs(&original, &customs);
        let mutated = match mutation {
            Mutation::None => false,
            Mutation::Truncate(i) => {
                bytes.truncate(i.index(bytes.len()));
                true
            }
            Mutation::Flip(i, x) => {
                let i = i.index(bytes.len());
                bytes[i] ^= x;
                true
            }
        };
        let raw_customs = customs.iter().any(|c| c.raw.is_some());
        if !mutated && !raw_customs {
            prop_assert_eq!(
                verdict(&rung_validator::validate(&bytes, 1)),
                Ok(()),
                "custom sections made a valid module invalid"
            );
        }

        let cuts: Vec<usize> = cuts.iter().map(|c| c.index(bytes.len() + 1)).collect();
        let plans = [
            Chunking::Random { seed: chunk_seed, max: max_chunk },
            Chunking::At(cuts),
        ];
        let configs = [
            DecoderConfig::default(),
            DecoderConfig { retain_custom_sections: true, ..DecoderConfig::default() },
        ];
        for config in &configs {
            for validate in [false, true] {
                let want = run_decode_all(&bytes, config, validate);
                for plan in &plans {
                    let got = run_chunked(&bytes, plan, config, validate);
                    let what = format!(
                        "{plan:?}, retain_custom_sections: {}, validate: {validate}",
                        config.retain_custom_sections
                    );
                    same_run(&got, &want, &what)?;
                }
            }
        }
        // The validating decode is `validate(bytes, 1)`, which skips the
        // name section (so a truncated one ends where the bytes end).
        let no_names = DecoderConfig { decode_names: false, ..DecoderConfig::default() };
        let with_validation = run_decode_all(&bytes, &no_names, true);
        prop_assert_eq!(
            &with_validation.verdict,
            &verdict(&rung_validator::validate(&bytes, 1))
        );
    }
}

const DWARF_LEN: usize = 1 << 20;

/// A module with every kind of section the env decodes, plus custom sections:
/// `dwarf_len` bytes of "dwarf" between the function and code sections, a
/// "name" section after the code section, and `tail_len` bytes of
/// ".debug_line" at the very end.
fn hand_built(dwarf_len: usize, tail_len: usize) -> Vec<u8> {
    use we::{
        CodeSection, ConstExpr, CustomSection, DataCountSection, DataSection, ElementSection,
        Elements, ExportKind, ExportSection, Function, FunctionSection, GlobalSection, GlobalType,
        ImportSection, MemorySection, MemoryType, Module, NameMap, NameSection, RefType,
        TableSection, TableType, TypeSection, ValType,
    };
    let mut module = Module::new();

    let mut types = TypeSection::new();
    types.ty().function([], []);
    types.ty().function([ValType::I32], [ValType::I32]);
    module.section(&types);

    let mut imports = ImportSection::new();
    imports.import("env", "f", we::EntityType::Function(1));
    module.section(&imports);

    let mut functions = FunctionSection::new();
    for _ in 0..3 {
        functions.function(1);
    }
    module.section(&functions);

    module.section(&CustomSection {
        name: Cow::Borrowed("after-functions"),
        data: Cow::Borrowed(b"small"),
    });

    let mut tables = TableSection::new();
    tables.table(TableType {
        element_type: RefType::FUNCREF,
        table64: false,
        minimum: 4,
        maximum: None,
        shared: false,
    });
    module.section(&tables);

    let mut memories = MemorySection::new();
    memories.memory(MemoryType {
        minimum: 1,
        maximum: Some(2),
        memory64: false,
        shared: false,
        page_size_log2: None,
    });
    module.section(&memories);

    let mut globals = GlobalSection::new();
    globals.global(
        GlobalType {
            val_type: ValType::I32,
            mutable: true,
            shared: false,
        },
        &ConstExpr::i32_const(7),
    );
    module.section(&globals);

    let mut exports = ExportSection::new();
    exports.export("add", ExportKind::Func, 1);
    exports.export("mem", ExportKind::Memory, 0);
    module.section(&exports);

    let mut elements = ElementSection::new();
    elements.active(
        Some(0),
        &ConstExpr::i32_const(0),
        Elements::Functions(Cow::Borrowed(&[1, 2, 3])),
    );
    module.section(&elements);

    module.section(&DataCountSection { count: 2 });

    let dwarf: Vec<u8> = (0..dwarf_len).map(|i| (i * 7) as u8).collect();
    module.section(&CustomSection {
        name: Cow::Borrowed("dwarf"),
        data: Cow::Owned(dwarf),
    });

    let mut code = CodeSection::new();
    for k in 0..3 {
        let mut f = Function::new([(1, ValType::I32)]);
        f.instructions()
            .local_get(0)
            .i32_const(k)
            .i32_add()
            .local_set(1)
            .local_get(1)
            .global_get(0)
            .i32_add()
            .end();
        code.function(&f);
    }
    module.section(&code);

    let mut names = NameSection::new();
    names.module("hand_built");
    let mut funcs = NameMap::new();
    funcs.append(0, "imported_f");
    funcs.append(1, "add");
    funcs.append(2, "second");
    funcs.append(3, "third");
    names.functions(&funcs);
    module.section(&names);

    let mut data = DataSection::new();
    data.active(0, &ConstExpr::i32_const(16), b"hello".iter().copied());
    data.passive(b"passive segment".iter().copied());
    module.section(&data);

    let tail: Vec<u8> = (0..tail_len).map(|i| (i * 13) as u8).collect();
    module.section(&CustomSection {
        name: Cow::Borrowed(".debug_line"),
        data: Cow::Owned(tail),
    });

    module.finish()
}

#[test]
fn custom_sections_between_and_after() {
    let bytes = hand_built(DWARF_LEN, 300_000);
    let config = DecoderConfig::default();

    for validate in [false, true] {
        let want = run_decode_all(&bytes, &config, validate);
        assert_eq!(want.verdict, Ok(()), "validate: {validate}");
        let bodies = want
            .events
            .iter()
            .filter(|e| matches!(e, Ev::FunctionBody { .. }))
            .count();
        let segments = want
            .events
            .iter()
            .filter(|e| matches!(e, Ev::DataSegment { .. }))
            .count();
        assert_eq!((bodies, segments), (3, 2), "{:?}", want.events);
        for plan in [
            Chunking::Fixed(1),
            Chunking::Fixed(7),
            Chunking::Fixed(64 * 1024),
        ] {
            let got = run_chunked(&bytes, &plan, &config, validate);
            assert_eq!(got.verdict, want.verdict, "{plan:?}, validate: {validate}");
            assert!(
                got.events == want.events,
                "{plan:?}, validate: {validate}\n chunked: {:?}\n one-shot: {:?}",
                got.events,
                want.events
            );
            assert_eq!(got.env, want.env, "{plan:?}, validate: {validate}");
        }
    }

    let mut events = Vec::new();
    let env = decode_all(&bytes, config, &mut |_: &ModuleEnv, e: Event<'_>| {
        events.push(Ev::of(&e));
        Ok::<_, DecodeError>(())
    })
    .expect("decodes");
    let custom = |name: &str| {
        events
            .iter()
            .find_map(|e| match e {
                Ev::CustomSection {
                    name: n,
                    data,
                    range,
                } if n == name => Some((*data, range.clone())),
                _ => None,
            })
            .unwrap_or_else(|| panic!("no {name:?} custom section event"))
    };
    let (dwarf, dwarf_range) = custom("dwarf");
    assert_eq!(
        dwarf, None,
        "the skipped dwarf section must arrive without data"
    );
    assert_eq!(
        dwarf_range.end - dwarf_range.start,
        (1 + "dwarf".len() + DWARF_LEN) as u64,
        "the range covers the section's contents (name included)"
    );
    assert_eq!(custom(".debug_line").0, None);
    assert_eq!(custom("after-functions").0, None);
    assert!(custom("name").0.is_some(), "the name section is held");

    assert_eq!(env.module_name.as_deref(), Some("hand_built"));
    for (index, name) in [(0, "imported_f"), (1, "add"), (2, "second"), (3, "third")] {
        assert_eq!(env.function_name(index), Some(name), "function {index}");
    }
    assert_eq!(env.num_defined_functions(), 3);
    assert_eq!(env.data_count, Some(2));
    assert_eq!(env.data_segments, 2);

    // Asked to, the decoder delivers the custom sections whole.
    let retain = DecoderConfig {
        retain_custom_sections: true,
        ..DecoderConfig::default()
    };
    let want = run_decode_all(&bytes, &retain, true);
    assert_eq!(want.verdict, Ok(()));
    let dwarf_data = want.events.iter().find_map(|e| match e {
        Ev::CustomSection { name, data, .. } if name == "dwarf" => Some(*data),
        _ => None,
    });
    assert!(
        matches!(dwarf_data, Some(Some((DWARF_LEN, _)))),
        "{dwarf_data:?}"
    );
    let got = run_chunked(&bytes, &Chunking::Fixed(7), &retain, true);
    assert_eq!(got, want);

    // The whole-module validator and the streaming one agree.
    rung_validator::validate(&bytes, 1).expect("validates on one thread");
    rung_validator::validate(&bytes, 2).expect("validates on two threads");
}

/// Custom sections at every section boundary: each one makes the decoder
/// restart its parser (see `crates/decoder/src/stream.rs`), after every kind
/// of section, the function and data-count sections included.
#[test]
fn custom_section_at_every_boundary_validates() {
    let plain = hand_built(0, 0);
    let bounds = section_boundaries(&plain).expect("well-formed");
    let mut bytes = plain.clone();
    for (i, &pos) in bounds.iter().enumerate().rev() {
        let payload = vec![i as u8; 3 + i];
        bytes.splice(pos..pos, custom_section(&format!("c{i}"), &payload));
    }
    rung_validator::validate(&bytes, 1).expect("validates");
    for plan in [
        Chunking::Whole,
        Chunking::Fixed(1),
        Chunking::Fixed(2),
        Chunking::Fixed(5),
        Chunking::Random { seed: 7, max: 64 },
    ] {
        if let Err(e) = stream_validate(&bytes, &plan) {
            panic!("{plan:?}: {e}");
        }
        let want = run_decode_all(&bytes, &DecoderConfig::default(), true);
        let got = run_chunked(&bytes, &plan, &DecoderConfig::default(), true);
        assert_eq!(got, want, "{plan:?}");
    }
}

/// Pushes `prefix` (whole, or one byte at a time) and finishes; the error if
/// any, or a description of a panic.
fn finish_prefix(prefix: &[u8], one_byte: bool, validate: bool) -> Result<Option<u64>, String> {
    catch_unwind(AssertUnwindSafe(|| {
        let mut decoder = StreamingDecoder::new(DecoderConfig::default());
        let mut validating = Validating::new(FEATURES, Discard);
        let mut plain = |_: &ModuleEnv, _: Event<'_>| Ok::<_, rung_validator::ValidateError>(());
        let chunks: Vec<&[u8]> = if one_byte {
            prefix.chunks(1).collect()
        } else {
            vec![prefix]
        };
        for chunk in chunks {
            let pushed = if validate {
                decoder.push(chunk, &mut validating)
            } else {
                decoder.push(chunk, &mut plain)
            };
            if let Err(e) = pushed {
                return Err(format!("push failed on a prefix of a valid module: {e}"));
            }
        }
        let finished = if validate {
            decoder.finish(&mut validating)
        } else {
            decoder.finish(&mut plain)
        };
        Ok(finished.err().map(|e| e.offset))
    }))
    .unwrap_or_else(|_| Err("panicked".to_string()))
}

#[test]
fn truncated_at_every_offset() {
    let bytes = hand_built(40, 20);
    let bounds = section_boundaries(&bytes).expect("well-formed");
    rung_validator::validate(&bytes, 1).expect("the whole module is valid");
    let mut failures = Vec::new();
    for cut in 0..bytes.len() {
        for one_byte in [false, true] {
            for validate in [false, true] {
                let what = format!("cut at {cut}, one byte: {one_byte}, validate: {validate}");
                match finish_prefix(&bytes[..cut], one_byte, validate) {
                    Err(why) => failures.push(format!("{what}: {why}")),
                    Ok(Some(offset)) if offset > cut as u64 => failures.push(format!(
                        "{what}: error offset {offset} is past the end of the input"
                    )),
                    Ok(Some(_)) => {}
                    // A prefix that ends at a section boundary can be a whole
                    // module (the sections after it are optional); anywhere
                    // else the input is cut off.
                    Ok(None) if bounds.contains(&cut) => {}
                    Ok(None) => failures.push(format!("{what}: finish succeeded")),
                }
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} failures (first 50):\n{}",
        failures.len(),
        failures
            .iter()
            .take(50)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    );
}
