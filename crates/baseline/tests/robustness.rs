//! The validating compile walk on bodies wasm-smith makes invalid
//! (`allow_invalid_funcs`) and on truncated bodies: every outcome is a
//! value — compiled, `Invalid` or `Unsupported` — never a panic or an
//! internal error, and a valid body compiles the same with and without the
//! validator.

mod common;

use arbitrary::Unstructured;
use proptest::prelude::*;
use rung_baseline::BaselineTier;
use rung_decoder::{DecoderConfig, Event, FunctionBody, ModuleEnv, decode_all};
use rung_testkit::TIERED;
use rung_tiering::{CompileError, Tier, VmOffsets};
use rung_validator::ModuleValidator;

fn config(invalid: bool) -> wasm_smith::Config {
    wasm_smith::Config {
        allow_invalid_funcs: invalid,
        min_funcs: 1,
        max_funcs: 8,
        max_imports: 3,
        ..wasm_smith::Config::default()
    }
}

/// A body (index, offset, length) with its stage-2 job.
type Job = (u32, u64, usize, rung_validator::FuncJob);

/// Every body of `bytes` with its stage-2 job, if stage 1 accepts the
/// module.
fn bodies(bytes: &[u8]) -> Option<(ModuleEnv, Vec<Job>)> {
    let mut v = ModuleValidator::default();
    let mut out = Vec::new();
    let mut sink = |_: &ModuleEnv, e: Event<'_>| {
        let job = v
            .event(&e)
            .map_err(|_| rung_decoder::DecodeError::new(0, "stage 1"))?;
        if let (Some(job), Event::FunctionBody(b)) = (job, &e) {
            out.push((b.index, b.offset, b.bytes.len(), job));
        }
        Ok::<_, rung_decoder::DecodeError>(())
    };
    let env = decode_all(bytes, DecoderConfig::default(), &mut sink).ok()?;
    Some((env, out))
}

fn check(bytes: &[u8], tier: &BaselineTier) -> Result<(), String> {
    let Some((env, jobs)) = bodies(bytes) else {
        return Ok(());
    };
    let Ok(offsets) = VmOffsets::for_host(&env) else {
        return Ok(());
    };
    for (index, offset, len, job) in jobs {
        let start = offset as usize;
        let body = FunctionBody {
            index,
            offset,
            bytes: &bytes[start..start + len],
        };
        match tier.compile_validating(&env, index, body, &offsets, &TIERED, job) {
            Ok(f) => {
                f.check().map_err(|e| e.to_string())?;
                let again = tier
                    .compile(&env, index, body, &offsets, &TIERED)
                    .map_err(|e| e.to_string())?;
                if again.code != f.code {
                    return Err(format!("function {index}: validation changed the code"));
                }
            }
            Err(CompileError::Invalid { offset: at, .. }) => {
                if at < offset || at > offset + len as u64 {
                    return Err(format!(
                        "function {index}: error offset {at:#x} outside the body"
                    ));
                }
            }
            Err(CompileError::Unsupported { .. }) => {}
            Err(e) => return Err(format!("function {index}: {e}")),
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 300,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn invalid_and_unsupported_bodies_are_values(input in proptest::collection::vec(any::<u8>(), 256..4096)) {
        let invalid = input[0] & 1 == 1;
        let mut u = Unstructured::new(&input[1..]);
        let Ok(module) = wasm_smith::Module::new(config(invalid), &mut u) else {
            return Ok(());
        };
        let bytes = module.to_bytes();
        let tier = BaselineTier::new();
        let result = check(&bytes, &tier);
        prop_assert!(result.is_ok(), "{}", result.err().unwrap_or_default());
    }
}

#[test]
fn truncated_bodies_are_invalid_not_panics() {
    let m = common::Module::from_wat(
        r#"(module (memory 1)
        (func (param i32) (result i32) (local i64 f32)
          block (result i32) local.get 0 local.get 0 i32.load offset=8 br_if 0 drop i32.const 3 end
          loop local.get 0 i32.const 1 i32.sub local.tee 0 br_if 0 end
          local.get 0 i32.add))"#,
    );
    let (index, offset, full) = m.bodies[0].clone();
    let tier = BaselineTier::new();
    // Cut the body short at every length: the same prefix as a whole body.
    for cut in 1..full.len() {
        let body = FunctionBody {
            index,
            offset,
            bytes: &full[..cut],
        };
        match tier.compile(&m.env, index, body, &m.offsets, &TIERED) {
            Ok(_) => panic!("a body cut at {cut} compiled"),
            Err(CompileError::Internal(e)) if e.contains("panic") => panic!("{e}"),
            Err(_) => {}
        }
    }
}
