//! `rung validate` on the real modules of `../shared/corpus`: every module is
//! valid, and a copy cut at half its length is rejected with an offset inside
//! the copy. The modules are unpacked (xz) into cargo's test scratch
//! directory on first use. Without `../shared/corpus` (or `xz`) the test
//! says so and checks nothing.

use std::path::{Path, PathBuf};
use std::process::Command;

fn corpus_dir() -> Option<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus/wasm");
    dir.is_dir().then_some(dir)
}

#[test]
fn rung_validate_accepts_the_corpus_and_rejects_truncated_copies() {
    let corpus =
        corpus_dir().expect("../shared/corpus/wasm is missing: CI has it beside the checkout");
    let scratch = Path::new(env!("CARGO_TARGET_TMPDIR")).join("corpus");
    std::fs::create_dir_all(&scratch).unwrap();
    let mut modules = Vec::new();
    let mut entries: Vec<_> = std::fs::read_dir(&corpus).unwrap().flatten().collect();
    entries.sort_by_key(|e| e.file_name());
    for entry in entries {
        let name = entry.file_name().to_string_lossy().to_string();
        let Some(stem) = name.strip_suffix(".xz") else {
            continue;
        };
        let whole = scratch.join(stem);
        if !whole.exists() {
            let out = Command::new("xz").arg("-dc").arg(entry.path()).output();
            let out = out
                .ok()
                .filter(|o| o.status.success())
                .unwrap_or_else(|| panic!("cannot unpack {} with xz", entry.path().display()));
            std::fs::write(&whole, out.stdout).unwrap();
        }
        let bytes = std::fs::read(&whole).unwrap();
        let cut = scratch.join(format!("truncated-{stem}"));
        std::fs::write(&cut, &bytes[..bytes.len() / 2]).unwrap();
        modules.push((whole, cut, bytes.len() / 2));
    }
    assert!(
        modules.len() >= 15,
        "expected the 15 stored corpus modules, found {}",
        modules.len()
    );

    let mut args: Vec<&Path> = Vec::new();
    for (whole, cut, _) in &modules {
        args.push(whole);
        args.push(cut);
    }
    let out = Command::new(env!("CARGO_BIN_EXE_rung"))
        .arg("validate")
        .args(&args)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{text}");
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 2 * modules.len(), "{text}");
    for ((whole, cut, cut_len), pair) in modules.iter().zip(lines.chunks(2)) {
        let whole = whole.display().to_string();
        assert!(
            pair[0].starts_with(&format!("{whole}: valid (")),
            "{}",
            pair[0]
        );
        let prefix = format!("{}:0x", cut.display());
        let rest = pair[1]
            .strip_prefix(&prefix)
            .unwrap_or_else(|| panic!("{}", pair[1]));
        let hex = rest.split(':').next().unwrap();
        let offset = u64::from_str_radix(hex, 16).unwrap();
        assert!(offset <= *cut_len as u64, "{}", pair[1]);
        assert!(pair[1].ends_with("unexpected end-of-file"), "{}", pair[1]);
    }
    println!(
        "rung validate: {} corpus modules valid, {} truncated copies rejected",
        modules.len(),
        modules.len()
    );
}
