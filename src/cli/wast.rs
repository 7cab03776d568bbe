//! `rung wast FILE...`: runs `.wast` scripts; one line per file, totals, and
//! exit 1 if any check failed or could not run.

use std::path::PathBuf;
use std::process::ExitCode;

use rung::runtime::{Config, Engine};

pub fn run(files: &[PathBuf], config: Config, verbose: bool) -> ExitCode {
    let engine = match Engine::new(config) {
        Ok(e) => e,
        Err(e) => {
            eprintln!("rung: cannot create the engine: {e}");
            return ExitCode::from(2);
        }
    };
    let (mut passed, mut failed, mut unsupported) = (0, 0, 0);
    for file in files {
        let name = file.display();
        let text = match std::fs::read_to_string(file) {
            Ok(t) => t,
            Err(e) => {
                println!("{name}: cannot read: {e}");
                failed += 1;
                continue;
            }
        };
        let report = rung::wast::run_script_on_big_stack(&engine, &text);
        let verdict = if report.failed.is_empty() && report.unsupported.is_empty() {
            "ok"
        } else {
            "FAILED"
        };
        println!(
            "{name}: {verdict}: {} passed, {} failed, {} unsupported",
            report.passed,
            report.failed.len(),
            report.unsupported.len()
        );
        for f in &report.failed {
            println!("  {name}:{}: {}", f.line, f.message);
        }
        if verbose {
            for f in &report.unsupported {
                println!("  {name}:{}: unsupported: {}", f.line, f.message);
            }
        }
        passed += report.passed;
        failed += report.failed.len();
        unsupported += report.unsupported.len();
    }
    if engine.fallbacks() > 0 {
        println!(
            "{} functions fell back from a tier to the next one up the ladder",
            engine.fallbacks()
        );
    }
    println!("{passed} passed, {failed} failed, {unsupported} unsupported");
    if failed + unsupported > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}
