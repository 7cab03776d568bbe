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
use std::path::Path;

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

#[test]
fn snapshots_match() {
    let tier = BaselineTier::with_features(Features::X86_64_V2);
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/disas");
    rung_testkit::snapshots::check(&root, 6, |wat| render(wat, &tier));
}
