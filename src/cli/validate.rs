//! `rung validate FILE...`: decode and validate each module, stage 2 on all
//! cores; one line per file.

use std::path::PathBuf;
use std::process::ExitCode;

pub fn run(files: &[PathBuf], threads: Option<usize>) -> ExitCode {
    let threads =
        threads.unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    let mut failed = false;
    for file in files {
        let name = file.display();
        let bytes = match rung::read_module(file) {
            Ok(bytes) => bytes,
            Err(e) => {
                println!("{name}: {e}");
                failed = true;
                continue;
            }
        };
        match rung::validator::validate(&bytes, threads) {
            Ok(env) => println!(
                "{name}: valid ({} functions, {} bytes)",
                env.functions.len(),
                bytes.len()
            ),
            Err(e) => {
                failed = true;
                match e.func {
                    Some(func) => {
                        println!("{name}:{:#x}: function {func}: {}", e.offset, e.message)
                    }
                    None => println!("{name}:{:#x}: {}", e.offset, e.message),
                }
            }
        }
    }
    if failed {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}
