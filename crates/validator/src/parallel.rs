//! Whole-module validation with stage 2 on many threads.
//!
//! The calling thread decodes and runs stage 1; each body's [`FuncJob`] goes
//! over a bounded crossbeam channel to `threads` workers, which validate with
//! allocations reused across functions. Bodies are borrowed from the input,
//! never copied.
//!
//! **Invariant:** the verdict and the reported error do not depend on the
//! thread count: when several things are wrong, the error with the smallest
//! byte offset is reported, as a one-thread walk in binary order finds it.

use parking_lot::Mutex;
use rung_decoder::{DecoderConfig, Event, FunctionBody, ModuleEnv, decode_all};
use wasmparser::{FuncValidatorAllocations, WasmFeatures};

use crate::{
    Discard, FEATURES, FuncJob, FunctionValidator, ModuleValidator, ValidateError, Validating,
};

/// A body together with its stage-2 job.
pub struct BodyJob<'a> {
    pub job: FuncJob,
    pub body: FunctionBody<'a>,
}

/// Validates a module in memory with WebAssembly 3.0 features, stage 2 on
/// `threads` threads (1 = all on the calling thread). Returns what it decoded.
pub fn validate(bytes: &[u8], threads: usize) -> Result<ModuleEnv, ValidateError> {
    validate_with(bytes, threads, FEATURES)
}

/// [`validate`] with a chosen feature set.
pub fn validate_with(
    bytes: &[u8],
    threads: usize,
    features: WasmFeatures,
) -> Result<ModuleEnv, ValidateError> {
    let config = DecoderConfig {
        features,
        decode_names: false,
        ..DecoderConfig::default()
    };
    if threads <= 1 {
        return decode_all(bytes, config, &mut Validating::new(features, Discard));
    }
    let first_error = Mutex::new(None::<ValidateError>);
    let decoded = std::thread::scope(|scope| {
        let (tx, rx) = crossbeam_channel::bounded::<BodyJob<'_>>(1024);
        for _ in 0..threads {
            let rx = rx.clone();
            let first_error = &first_error;
            scope.spawn(move || run_worker(rx.iter(), first_error));
        }
        drop(rx);
        let mut stage1 = ModuleValidator::new(features);
        decode_all(bytes, config, &mut |_: &ModuleEnv, event: Event<'_>| {
            if let Some(job) = stage1.event(&event)? {
                let Event::FunctionBody(body) = event else {
                    unreachable!("only function bodies make jobs")
                };
                // Re-borrow the body from the input: offsets are absolute.
                let start = body.offset as usize;
                let body = FunctionBody {
                    bytes: &bytes[start..start + body.bytes.len()],
                    ..body
                };
                // Workers only stop when the channel closes, so this send
                // cannot fail while `tx` lives.
                let _ = tx.send(BodyJob { job, body });
            }
            Ok::<_, ValidateError>(())
        })
        // `tx` drops here, the workers drain the channel, the scope joins them.
    });
    let func_error = first_error.into_inner();
    match (decoded, func_error) {
        (Ok(env), None) => Ok(env),
        (Ok(_), Some(e)) | (Err(e), None) => Err(e),
        // A tie goes to the function: a one-thread walk meets it first.
        (Err(a), Some(b)) => Err(if b.offset <= a.offset { b } else { a }),
    }
}

/// Stage 2 alone: validates prepared jobs on `threads` threads.
pub fn validate_functions(jobs: Vec<BodyJob<'_>>, threads: usize) -> Result<(), ValidateError> {
    let first_error = Mutex::new(None::<ValidateError>);
    if threads <= 1 {
        run_worker(jobs.into_iter(), &first_error);
    } else {
        let (tx, rx) = crossbeam_channel::unbounded();
        for job in jobs {
            let _ = tx.send(job);
        }
        drop(tx);
        std::thread::scope(|scope| {
            for _ in 0..threads {
                let rx = rx.clone();
                let first_error = &first_error;
                scope.spawn(move || run_worker(rx.into_iter(), first_error));
            }
        });
    }
    match first_error.into_inner() {
        None => Ok(()),
        Some(e) => Err(e),
    }
}

/// Validates jobs until they run out, keeping the error with the smallest
/// offset in `first_error`.
fn run_worker<'a>(
    jobs: impl Iterator<Item = BodyJob<'a>>,
    first_error: &Mutex<Option<ValidateError>>,
) {
    let mut allocs = FuncValidatorAllocations::default();
    for BodyJob { job, body } in jobs {
        let mut func = job.into_validator(allocs);
        let result = func.validate_body(&body);
        allocs = func.into_allocations();
        if let Err(e) = result {
            let mut first = first_error.lock();
            if first.as_ref().is_none_or(|f| e.offset < f.offset) {
                *first = Some(e);
            }
        }
    }
}
