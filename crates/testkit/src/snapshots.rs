//! Snapshot files: every `<root>/<family>/<name>.wat` is rendered to text
//! and compared with `<name>.expected` beside it. `BLESS=1` in the
//! environment writes the rendered text instead of comparing.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// Renders every `.wat` under `root` with `render` and compares (or, with
/// `BLESS=1`, writes) its `.expected` file. Panics listing every file that
/// differs or is missing, and if fewer than `min_files` files were found.
pub fn check(root: &Path, min_files: usize, render: impl Fn(&Path) -> String) {
    let bless = std::env::var("BLESS").is_ok_and(|v| v == "1");
    let files = wat_files(root);
    assert!(
        files.len() >= min_files,
        "snapshot files missing under {}: {} of at least {min_files}",
        root.display(),
        files.len()
    );
    let mut failures = Vec::new();
    for wat in files {
        let expected_path = wat.with_extension("expected");
        let actual = render(&wat);
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

/// The `.wat` files one directory below `root`, sorted.
pub fn wat_files(root: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let families = std::fs::read_dir(root).unwrap_or_else(|e| panic!("{}: {e}", root.display()));
    for family in families {
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
pub fn diff(expected: &str, actual: &str) -> String {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_diff_shows_the_first_difference() {
        let d = diff("a\nb\nc\n", "a\nx\nc\n");
        assert!(d.contains("-    2 b"), "{d}");
        assert!(d.contains("+    2 x"), "{d}");
        assert!(!d.contains("-    1 a\n+"), "{d}");
    }
}
