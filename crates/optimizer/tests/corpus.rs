//! Compiles every function of a real-world module (sql.js's `sql-wasm.wasm`)
//! and reports how many compiled, were unsupported (by proposal), or failed.
//!
//! `#[ignore]`d (it is slow in debug builds and needs the unpacked file at
//! `/tmp/wasm-corpus/sql-wasm.wasm`, or `RUNG_CORPUS_FILE`): run it with
//! `cargo test -p rung-optimizer --test corpus -- --ignored`.

mod common;

use std::time::Instant;

use common::{Module, tier};
use rung_tiering::CompileError;

#[test]
#[ignore = "slow in debug, needs sql-wasm.wasm unpacked: cargo test -p rung-optimizer --test corpus -- --ignored"]
fn sql_wasm_compiles() {
    let path = std::env::var("RUNG_CORPUS_FILE")
        .unwrap_or_else(|_| "/tmp/wasm-corpus/sql-wasm.wasm".to_string());
    let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let m = Module::from_bytes(&bytes);
    let t = tier();
    let start = Instant::now();
    let (mut ok, mut unsupported, mut failed) = (0, 0, Vec::new());
    let mut why = std::collections::BTreeMap::new();
    let mut code_bytes = 0;
    for i in 0..m.bodies.len() {
        match m.compile_with(&t, i, &rung_testkit::TOP) {
            Ok(f) => {
                ok += 1;
                code_bytes += f.code.len();
            }
            Err(CompileError::Unsupported { feature, .. }) => {
                unsupported += 1;
                // By proposal (`simd: …`, `threads: …`) or the whole text.
                let key = feature.split(':').next().unwrap_or("").to_string();
                *why.entry(key).or_insert(0usize) += 1;
            }
            Err(e) => failed.push((m.bodies[i].0, e)),
        }
    }
    let elapsed = start.elapsed();
    eprintln!(
        "{path}: {} functions: {ok} compiled ({code_bytes} bytes of code), {unsupported} unsupported, {} failed, in {elapsed:.2?}",
        m.bodies.len(),
        failed.len()
    );
    for (feature, n) in &why {
        eprintln!("  unsupported: {n} for {feature}");
    }
    for (index, e) in failed.iter().take(10) {
        eprintln!("  function {index}: {e}");
    }
    assert!(failed.is_empty(), "{} functions failed", failed.len());
}
