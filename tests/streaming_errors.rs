//! Streaming fails fast (issue 18, item 3): in a large generated module, a
//! corrupt opcode and a corrupt body size half way through come back from
//! `push` at the offset `Module::new` reports, long before the last byte,
//! and before `push` returns the stream has given back everything it took:
//! the code mappings (`code_bytes_mapped`) are where they were before the
//! first push, and the heap (a counting `#[global_allocator]`) is too, but
//! for the error the stream keeps and `SLACK` (the pool threads' own
//! bookkeeping), against a peak of 1–3 MB while the stream ran.
//!
//! The allocator counts the whole process, so the tests take one lock and
//! run one at a time.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::Mutex;
use std::sync::atomic::{AtomicI64, Ordering};

use rung_runtime::{
    Config, Engine, Error, Module, StreamingCompiler, TierChoice, code_bytes_mapped,
};

/// Live heap bytes, and the most there were since the last reset.
static LIVE: AtomicI64 = AtomicI64::new(0);
static PEAK: AtomicI64 = AtomicI64::new(0);

struct Counting;

fn count(delta: i64) {
    let now = LIVE.fetch_add(delta, Ordering::Relaxed) + delta;
    PEAK.fetch_max(now, Ordering::Relaxed);
}

// SAFETY: every call is forwarded to `System` unchanged; the counters are
// atomics, which neither allocate nor panic.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count(layout.size() as i64);
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        count(layout.size() as i64);
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        count(-(layout.size() as i64));
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count(new_size as i64 - layout.size() as i64);
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// One test at a time: the counters are process-wide.
static SERIAL: Mutex<()> = Mutex::new(());

const FUNCS: u32 = 6000;
const BAD: u32 = FUNCS / 2;
const CHUNK: usize = 16 << 10;
/// What the heap may be off by after a failed stream: allocations of the
/// engine's pool threads around the stream's tasks (a finished task's
/// closure is freed just after it ran) and of the warm-up's last frees.
const SLACK: i64 = 16 << 10;

/// A module of `FUNCS` functions `(i32) -> i32`, each ~150 bytes of wasm
/// (enough code that the arena flips chunks before the middle); body `bad`
/// (if any) is `raw` instead. Returns the bytes and the absolute offset of
/// each body's size field.
fn large_module(bad: Option<(u32, &[u8])>) -> (Vec<u8>, Vec<usize>) {
    use wasm_encoder::{
        CodeSection, Function, FunctionSection, Instruction as I, TypeSection, ValType,
    };
    let mut types = TypeSection::new();
    types.ty().function([ValType::I32], [ValType::I32]);
    let mut funcs = FunctionSection::new();
    let mut code = CodeSection::new();
    for i in 0..FUNCS {
        funcs.function(0);
        match bad {
            Some((b, raw)) if b == i => {
                code.raw(raw);
            }
            _ => {
                let mut f = Function::new([(1, ValType::I32)]);
                for k in 0..24 {
                    f.instruction(&I::LocalGet(0));
                    f.instruction(&I::I32Const(i as i32 * 31 + k));
                    f.instruction(&I::I32Add);
                    f.instruction(&I::LocalGet(1));
                    f.instruction(&I::I32Xor);
                    f.instruction(&I::LocalSet(1));
                }
                f.instruction(&I::LocalGet(1));
                f.instruction(&I::End);
                code.function(&f);
            }
        }
    }
    let mut module = wasm_encoder::Module::new();
    module.section(&types).section(&funcs).section(&code);
    let bytes = module.finish();
    let mut sizes = Vec::new();
    for payload in wasmparser::Parser::new(0).parse_all(&bytes) {
        if let wasmparser::Payload::CodeSectionEntry(body) = payload.unwrap() {
            let range = body.range();
            let (start, len) = (range.start as usize, (range.end - range.start) as usize);
            let leb = (1..).find(|k| len >> (7 * k) == 0).unwrap();
            sizes.push(start - leb);
        }
    }
    assert_eq!(sizes.len(), FUNCS as usize);
    (bytes, sizes)
}

fn live() -> i64 {
    LIVE.load(Ordering::SeqCst)
}

/// The heap one more copy of the stream's error takes (the stream keeps
/// one: every later call returns it).
fn kept_error_bytes(compiler: &mut StreamingCompiler) -> i64 {
    let before = live();
    let copy = compiler.push(&[0]).expect_err("the stream stays failed");
    let after = live();
    drop(copy);
    after - before
}

/// Streams `bad` in `CHUNK` pieces on `engine` (warmed up on `good`: the
/// compile threads' scratch and the scheduler's queues have their size)
/// until `push` fails. Checks that it fails with `want`, no later than
/// `by` bytes, with the code mappings and the heap back at their start.
fn fails_fast_and_gives_everything_back(
    engine: &Engine,
    good: &[u8],
    bad: &[u8],
    want: &str,
    by: usize,
) {
    let warm = stream_all(engine, good).expect("the good module compiles");
    drop(warm);
    let mapped = code_bytes_mapped();
    let mut compiler = StreamingCompiler::new(engine);
    let start = live();
    PEAK.store(start, Ordering::SeqCst);
    let mut pushed = 0;
    let mut error = None;
    for piece in bad.chunks(CHUNK) {
        pushed += piece.len();
        if let Err(e) = compiler.push(piece) {
            error = Some(e);
            break;
        }
    }
    let error = error.expect("push returned no error: it waited for finish");
    // Before anything else runs: `push` has returned.
    let (mapped_after, live_after) = (code_bytes_mapped(), live());
    let peak = PEAK.load(Ordering::SeqCst);
    assert_eq!(error.to_string(), want);
    assert!(pushed <= by, "reported after {pushed} bytes, due by {by}");
    // The stream did hold memory: compiled code and queued bodies.
    assert!(
        peak - start > 256 << 10,
        "the stream peaked at only {} bytes",
        peak - start
    );
    assert_eq!(mapped_after, mapped, "code mappings left behind");
    let kept = kept_error_bytes(&mut compiler);
    let returned = {
        let before = live();
        drop(error);
        before - live()
    };
    let left = live_after - start - (kept + returned);
    assert!(
        left.abs() <= SLACK,
        "{left} heap bytes left behind beyond the error (kept {kept}, returned {returned})"
    );
    assert_eq!(
        compiler.finish().err().map(|e| e.to_string()).as_deref(),
        Some(want)
    );
}

fn stream_all(engine: &Engine, bytes: &[u8]) -> Result<Module, Error> {
    let mut compiler = StreamingCompiler::new(engine);
    for piece in bytes.chunks(CHUNK) {
        compiler.push(piece)?;
    }
    compiler.finish()
}

fn engines() -> Vec<(&'static str, Engine)> {
    [
        ("baseline", TierChoice::Baseline.config()),
        ("tiered", TierChoice::Tiered.config()),
    ]
    .into_iter()
    .map(|(name, config)| {
        let config = Config {
            compile_threads: 2,
            ..config
        };
        (name, Engine::new(config).unwrap())
    })
    .collect()
}

#[test]
fn a_corrupt_opcode_fails_push_at_its_offset_and_frees_the_stream() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let (good, _) = large_module(None);
    // One local, `i32.const 1`, then 0xff, no opcode.
    let (bad, sizes) = large_module(Some((BAD, &[0x00, 0x41, 0x01, 0xff, 0x0b])));
    assert!(bad.len() > 800 << 10, "{} bytes", bad.len());
    let opcode = sizes[BAD as usize] + 4;
    let want = format!("function {BAD}: illegal opcode ff (at offset {opcode:#x})");
    for (name, engine) in engines() {
        assert_eq!(
            Module::new(&engine, &bad).err().unwrap().to_string(),
            want,
            "{name}: batch"
        );
        // A compile thread reports the error a few bodies after it was
        // queued: the queue holds 4, each chunk ~100 bodies.
        let by = sizes[BAD as usize] + 3 * CHUNK;
        fails_fast_and_gives_everything_back(&engine, &good, &bad, &want, by);
    }
}

#[test]
fn a_corrupt_body_size_fails_push_when_it_is_read_and_frees_the_stream() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let (good, sizes) = large_module(None);
    // Body BAD's size field says 2^28 - 1 bytes (a 4-byte LEB over its
    // 2-byte size and the first 2 bytes of its body), far past the code
    // section's end.
    let at = sizes[BAD as usize];
    let mut bad = good.clone();
    bad[at..at + 4].copy_from_slice(&[0xff, 0xff, 0xff, 0x7f]);
    let want = format!("unexpected end-of-file (at offset {:#x})", at + 4);
    for (name, engine) in engines() {
        assert_eq!(
            Module::new(&engine, &bad).err().unwrap().to_string(),
            want,
            "{name}: batch"
        );
        // In the chunk that holds the size field.
        let by = (at + 4).next_multiple_of(CHUNK);
        fails_fast_and_gives_everything_back(&engine, &good, &bad, &want, by);
    }
}
