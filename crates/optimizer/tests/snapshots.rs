//! Snapshot tests, after Cranelift's filetests: for every
//! `tests/snapshots/<family>/<name>.wat`, each function's CLIF right after
//! translation and its final x86-64 disassembly (iced-x86, Intel syntax, with
//! trap sites marked) are compared with `<name>.expected` beside it.
//!
//! `BLESS=1 cargo test -p rung-optimizer --test snapshots` rewrites the
//! `.expected` files; without it a difference fails with a diff.
//!
//! The code is generated for a fixed x86-64 feature set (x86-64-v2: SSE4.2
//! and POPCNT, no AVX, BMI or LZCNT), not the host's, so the snapshots are
//! the same on every machine.

mod common;

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use common::Module;
use cranelift_codegen::isa;
use cranelift_codegen::settings::Configurable;
use iced_x86::{Decoder, DecoderOptions, Formatter, Instruction, IntelFormatter};
use rung_optimizer::OptimizingTier;
use rung_tiering::{CompiledFunction, Tier};

fn snapshot_tier() -> OptimizingTier {
    let mut b = isa::lookup_by_name("x86_64").expect("x86_64 is built in");
    for flag in [
        "has_sse3",
        "has_ssse3",
        "has_cmpxchg16b",
        "has_sse41",
        "has_sse42",
        "has_popcnt",
    ] {
        b.enable(flag).expect("x64 flag");
    }
    OptimizingTier::with_isa_builder(b).expect("fixed ISA")
}

/// Intel-syntax disassembly with code offsets and trap sites.
pub fn disassemble(f: &CompiledFunction) -> String {
    let mut out = String::new();
    let mut decoder = Decoder::with_ip(64, &f.code, 0, DecoderOptions::NONE);
    let mut formatter = IntelFormatter::new();
    formatter.options_mut().set_first_operand_char_index(8);
    let mut ins = Instruction::default();
    let mut text = String::new();
    while decoder.can_decode() {
        decoder.decode_out(&mut ins);
        text.clear();
        formatter.format(&ins, &mut text);
        let off = ins.ip() as u32;
        let _ = write!(out, "  {off:4x}: {text}");
        if let Some(trap) = f.trap_at(off) {
            let _ = write!(out, "  ; trap: {trap:?}");
        }
        out.push('\n');
    }
    out
}

fn render(path: &Path, tier: &OptimizingTier) -> String {
    let wat = std::fs::read_to_string(path).expect("read .wat");
    let m = Module::from_wat(&wat);
    let mut out = String::new();
    for i in 0..m.bodies.len() {
        let body = m.body(i);
        let name = m.name(i);
        let clif = tier
            .translate_to_clif(&m.env, body.index, body, &m.offsets)
            .unwrap_or_else(|e| panic!("{}: {name}: {e}", path.display()));
        let f = tier
            .compile(&m.env, body.index, body, &m.offsets)
            .unwrap_or_else(|e| panic!("{}: {name}: {e}", path.display()));
        let _ = writeln!(out, ";; ==== function {} ${name} ====", body.index);
        let _ = writeln!(out, ";; ---- clif (translated) ----");
        out.push_str(&clif);
        let _ = writeln!(
            out,
            ";; ---- x86-64 ({} bytes, frame {}) ----",
            f.code.len(),
            f.frame_size
        );
        out.push_str(&disassemble(&f));
        out.push('\n');
    }
    out
}

fn wat_files() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/snapshots");
    let mut files = Vec::new();
    for family in std::fs::read_dir(&root).expect("tests/snapshots") {
        let family = family.expect("dir entry").path();
        if !family.is_dir() {
            continue;
        }
        for f in std::fs::read_dir(&family).expect("family dir") {
            let f = f.expect("dir entry").path();
            if f.extension().is_some_and(|e| e == "wat") {
                files.push(f);
            }
        }
    }
    files.sort();
    files
}

/// A short line diff: the first differing lines with some context.
fn diff(expected: &str, actual: &str) -> String {
    let e: Vec<&str> = expected.lines().collect();
    let a: Vec<&str> = actual.lines().collect();
    let first = e
        .iter()
        .zip(&a)
        .position(|(x, y)| x != y)
        .unwrap_or(e.len().min(a.len()));
    let mut out = String::new();
    let from = first.saturating_sub(3);
    for (i, line) in e.iter().enumerate().skip(from).take(12) {
        let _ = writeln!(out, "-{:5} {line}", i + 1);
    }
    for (i, line) in a.iter().enumerate().skip(from).take(12) {
        let _ = writeln!(out, "+{:5} {line}", i + 1);
    }
    out
}

#[test]
fn snapshots_match() {
    let bless = std::env::var("BLESS").is_ok_and(|v| v == "1");
    let tier = snapshot_tier();
    let files = wat_files();
    assert!(files.len() >= 5, "snapshot files missing: {}", files.len());
    let mut failures = Vec::new();
    for wat in files {
        let expected_path = wat.with_extension("expected");
        let actual = render(&wat, &tier);
        if bless {
            std::fs::write(&expected_path, &actual).expect("write .expected");
            continue;
        }
        match std::fs::read_to_string(&expected_path) {
            Ok(expected) if expected == actual => {}
            Ok(expected) => failures.push(format!(
                "{} differs (BLESS=1 to accept):\n{}",
                expected_path.display(),
                diff(&expected, &actual)
            )),
            Err(_) => failures.push(format!(
                "{} is missing (BLESS=1 to create it)",
                expected_path.display()
            )),
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn the_snapshot_diff_shows_the_first_difference() {
    let d = diff("a\nb\nc\n", "a\nx\nc\n");
    assert!(d.contains("-    2 b"), "{d}");
    assert!(d.contains("+    2 x"), "{d}");
}
