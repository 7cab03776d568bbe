//! Disassembly snapshots, after Winch's `tests/disas` and the optimizer's
//! snapshot tests: for every `tests/disas/<family>/<name>.wat`, each
//! function's x86-64 disassembly (iced-x86, Intel syntax, trap sites
//! marked) is compared with `<name>.expected` beside it.
//!
//! `BLESS=1 cargo test -p rung-baseline --test disas` rewrites the
//! `.expected` files; without it a difference fails with a diff.
//!
//! The code is generated for a fixed feature set (x86-64-v2: SSE4.2 and
//! POPCNT, no LZCNT or BMI1), not the host's, so the snapshots are the same
//! on every machine.

mod common;

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use common::{Module, disassemble};
use rung_baseline::{BaselineTier, Features};

fn render(path: &Path, tier: &BaselineTier) -> String {
    let wat = std::fs::read_to_string(path).expect("read .wat");
    let m = Module::from_wat(&wat);
    let mut out = String::new();
    for i in 0..m.bodies.len() {
        let f = m
            .compile(tier, i)
            .unwrap_or_else(|e| panic!("{}: {}: {e}", path.display(), m.name(i)));
        let _ = writeln!(
            out,
            ";; ==== function {} ${} ({} bytes, frame {}) ====",
            m.bodies[i].0,
            m.name(i),
            f.code.len(),
            f.frame_size
        );
        out.push_str(&disassemble(&f));
        out.push('\n');
    }
    out
}

fn wat_files() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/disas");
    let mut files = Vec::new();
    for family in std::fs::read_dir(&root).expect("tests/disas") {
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
    let tier = BaselineTier::with_features(Features::X86_64_V2);
    let files = wat_files();
    assert!(files.len() >= 6, "snapshot files missing: {}", files.len());
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
