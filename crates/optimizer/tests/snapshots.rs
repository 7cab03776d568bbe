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
use std::path::Path;

use common::Module;
use cranelift_codegen::isa;
use cranelift_codegen::settings::Configurable;
use rung_optimizer::OptimizingTier;
use rung_testkit::{TOP, disassemble};
use rung_tiering::Tier;

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

fn render(path: &Path, tier: &OptimizingTier) -> String {
    let wat = std::fs::read_to_string(path).expect("read .wat");
    let m = Module::from_wat(&wat);
    let mut out = String::new();
    for i in 0..m.bodies.len() {
        let body = m.body(i);
        let name = m.name(i);
        let clif = tier
            .translate_to_clif(&m.env, body.index, body, &m.offsets, &TOP)
            .unwrap_or_else(|e| panic!("{}: {name}: {e}", path.display()));
        let f = tier
            .compile(&m.env, body.index, body, &m.offsets, &TOP)
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

#[test]
fn snapshots_match() {
    let tier = snapshot_tier();
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/snapshots");
    rung_testkit::snapshots::check(&root, 13, |wat| render(wat, &tier));
}
