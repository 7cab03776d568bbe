//! `rung disas FILE [--func F]... [--tier optimized|baseline] [--clif]
//! [--osr-loop OFFSET]`: compile functions with a tier and print their
//! machine code (and, for the optimizer, the CLIF it translated to), or the
//! optimizer's OSR entry into one loop.

use std::path::Path;
use std::process::ExitCode;

use rung::tiering::{CompileOptions, Tier, VmOffsets};

/// The options `rung run`'s default (tiered) ladder compiles with: the
/// baseline counts its tier-up budget; the optimizer, at the top, is asked
/// for nothing.
fn options(baseline: bool) -> CompileOptions {
    CompileOptions {
        interrupt_checks: false,
        tier_up_checks: baseline,
        osr: false,
    }
}

/// What `rung disas` compiles.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum What {
    Optimized,
    Baseline,
    /// The optimizer's OSR entry into the loop at this module offset.
    OsrEntry(u32),
}

pub fn run(file: &Path, funcs: &[String], clif: bool, what: What) -> ExitCode {
    let baseline = what == What::Baseline;
    let fail = |m: String| {
        eprintln!("rung: {m}");
        ExitCode::from(1)
    };
    let bytes = match rung::read_module(file) {
        Ok(b) => b,
        Err(e) => return fail(format!("{}: {e}", file.display())),
    };
    if let Err(e) = rung::validator::validate(&bytes, 1) {
        return fail(format!("{}: {e}", file.display()));
    }
    let (env, bodies) = match rung::decode_bodies(&bytes) {
        Ok(decoded) => decoded,
        Err(e) => return fail(format!("{}: {e}", file.display())),
    };
    let offsets = match VmOffsets::for_host(&env) {
        Ok(o) => o,
        Err(e) => return fail(e.to_string()),
    };
    let optimizer = match rung::optimizer::OptimizingTier::new() {
        Ok(t) => t,
        Err(e) => return fail(e.to_string()),
    };
    let baseline_tier = rung::baseline::BaselineTier::new();
    let tier: &dyn Tier = if baseline { &baseline_tier } else { &optimizer };
    let wanted = |index: u32| {
        funcs.is_empty()
            || funcs.iter().any(|f| {
                f.parse::<u32>().ok() == Some(index) || env.function_name(index) == Some(f.as_str())
            })
    };
    let mut found = false;
    for &(index, offset, len) in &bodies {
        if !wanted(index) {
            continue;
        }
        let start = offset as usize;
        let body = rung::decoder::FunctionBody {
            index,
            offset,
            bytes: &bytes[start..start + len],
        };
        if let What::OsrEntry(at) = what {
            let (at, start) = (u64::from(at), offset);
            if at < start || at >= start + len as u64 {
                continue;
            }
            found = true;
        }
        let name = env.function_name(index).unwrap_or("");
        println!(";; function {index} {name} ({len} bytes of wasm at {offset:#x})");
        if let What::OsrEntry(at) = what {
            println!(";; OSR entry at the loop at {at:#x}");
        }
        if clif && !baseline {
            let text = match what {
                What::OsrEntry(at) => optimizer.translate_osr_entry_to_clif(
                    &env,
                    index,
                    body,
                    &offsets,
                    &options(false),
                    at,
                ),
                _ => optimizer.translate_to_clif(&env, index, body, &offsets, &options(false)),
            };
            match text {
                Ok(text) => println!("{text}"),
                Err(e) => println!(";; {e}"),
            }
        }
        let compiled = match what {
            What::OsrEntry(at) => {
                optimizer.compile_osr_entry(&env, index, body, &offsets, &options(false), at)
            }
            _ => tier.compile(&env, index, body, &offsets, &options(baseline)),
        };
        match compiled {
            Ok(f) => {
                println!(";; {} bytes of code, frame {}", f.code.len(), f.frame_size);
                print!("{}", rung::disas::disassemble(&f));
            }
            Err(e) => println!(";; {e}"),
        }
        println!();
    }
    if let What::OsrEntry(at) = what
        && !found
    {
        return fail(format!(
            "no function body (of those asked for) holds offset {at:#x}"
        ));
    }
    ExitCode::SUCCESS
}
