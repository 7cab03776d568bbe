//! The decoder's memory invariant, measured: streaming a module whose code
//! section is several MiB in 64 KiB chunks, with a sink that keeps nothing,
//! never has more live heap than the largest item plus one chunk plus a small
//! fixed slack, and `buffered()` never exceeds the largest item plus a chunk.
//!
//! A counting `#[global_allocator]` tracks live and peak bytes. It is the
//! allocator of this test binary only, which is why this test has a file of
//! its own; the file holds one `#[test]` so that no other test allocates
//! while the peak is measured.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

use rung_decoder::{DecodeError, Decoder, DecoderConfig, Event, ModuleEnv, StreamingDecoder};
use wasm_encoder::{
    CodeSection, ExportKind, ExportSection, Function, FunctionSection, Module, TypeSection, ValType,
};

/// `System`, counting the bytes currently allocated and their peak.
struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);
/// The largest single block allocated or reallocated (for the report).
static LARGEST_BLOCK: AtomicUsize = AtomicUsize::new(0);

fn grew(n: usize, block: usize) {
    let live = LIVE.fetch_add(n, Ordering::SeqCst) + n;
    PEAK.fetch_max(live, Ordering::SeqCst);
    LARGEST_BLOCK.fetch_max(block, Ordering::SeqCst);
}

fn shrank(n: usize) {
    LIVE.fetch_sub(n, Ordering::SeqCst);
}

// SAFETY: every method forwards to `System` with the caller's arguments, so
// `System`'s guarantees hold; the counters only observe sizes.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded unchanged; the caller upholds `alloc`'s contract.
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            grew(layout.size(), layout.size());
        }
        p
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: as for `alloc`.
        let p = unsafe { System.alloc_zeroed(layout) };
        if !p.is_null() {
            grew(layout.size(), layout.size());
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from this allocator, i.e. from `System`, with `layout`.
        unsafe { System.dealloc(ptr, layout) };
        shrank(layout.size());
    }

    // Counted as the change in size: the live-bytes view. (A copying realloc
    // briefly holds both blocks; large ones are remapped in place by glibc.)
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: `ptr` came from `System` with `layout`; the caller upholds
        // `realloc`'s contract for `new_size`.
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            if new_size >= layout.size() {
                grew(new_size - layout.size(), new_size);
            } else {
                shrank(layout.size() - new_size);
            }
        }
        p
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

const CHUNK: usize = 64 * 1024;
const SMALL_FUNCTIONS: u32 = 2_000;
const BIG_BODY: usize = 256 * 1024;

/// Tiny deterministic PRNG for body sizes.
struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

/// A body of simple i32 arithmetic on its parameter, at least `size` bytes.
fn body(size: usize, k: i32) -> Function {
    let mut f = Function::new([(1, ValType::I32)]);
    let mut ins = f.instructions();
    ins.local_get(0).local_set(1);
    // Locals (3 bytes), the first two operators (4) and the last two (3).
    let mut n = 10;
    // Each round is 10 bytes: constants below 64 are one-byte LEBs.
    while n < size {
        ins.local_get(1)
            .i32_const(k.wrapping_add(n as i32) & 63)
            .i32_add()
            .i32_const(3)
            .i32_mul()
            .local_set(1);
        n += 10;
    }
    ins.local_get(1).end();
    f
}

/// 2,000 functions of 2–4 KiB and, in the middle, one of 256 KiB. Returns the
/// module and its largest item (the big body, in bytes).
fn module() -> (Vec<u8>, usize) {
    let mut types = TypeSection::new();
    types.ty().function([ValType::I32], [ValType::I32]);
    let mut functions = FunctionSection::new();
    let mut code = CodeSection::new();
    let mut rng = XorShift(0x2545_f491_4f6c_dd1d);
    let mut largest = 0;
    for i in 0..=SMALL_FUNCTIONS {
        let size = if i == SMALL_FUNCTIONS / 2 {
            BIG_BODY
        } else {
            2048 + (rng.next() % 2048) as usize
        };
        let f = body(size, i as i32);
        largest = largest.max(f.byte_len());
        functions.function(0);
        code.function(&f);
    }
    let mut exports = ExportSection::new();
    exports.export("f", ExportKind::Func, 0);
    let mut module = Module::new();
    module
        .section(&types)
        .section(&functions)
        .section(&exports)
        .section(&code);
    (module.finish(), largest)
}

#[test]
fn peak_memory_is_one_item_plus_one_chunk() {
    let (bytes, largest) = module();
    assert!(largest >= BIG_BODY, "the big function is the largest item");
    let code_section = bytes.len() - 8;
    assert!(
        code_section > 5 << 20,
        "code section is {code_section} bytes"
    );

    // Everything the decoder allocates beyond the bytes it holds is small:
    // `ModuleEnv::functions` for 2,001 type indices grows by doubling to a
    // capacity of 2,048 u32s (8 KiB); `ModuleEnv::sections` holds 4
    // `SectionInfo`s and `types` one `SubType` (well under 1 KiB together);
    // wasmparser's `Parser` state lives inside the decoder struct (no heap).
    // 16 KiB covers those twice over. Holding the code section would exceed
    // the bound by more than 4 MiB.
    const SLACK: usize = 16 * 1024;

    let mut sink = |_: &ModuleEnv, _: Event<'_>| Ok::<_, DecodeError>(());
    let mut max_buffered = 0;

    let baseline = LIVE.load(Ordering::SeqCst);
    PEAK.store(baseline, Ordering::SeqCst);
    LARGEST_BLOCK.store(0, Ordering::SeqCst);

    let mut decoder = StreamingDecoder::new(DecoderConfig::default());
    for chunk in bytes.chunks(CHUNK) {
        decoder.push(chunk, &mut sink).expect("decodes");
        max_buffered = max_buffered.max(decoder.buffered());
        assert!(
            decoder.buffered() <= largest + CHUNK,
            "buffered {} bytes at offset {}, more than the largest item ({largest}) plus a chunk",
            decoder.buffered(),
            decoder.offset()
        );
    }
    decoder.finish(&mut sink).expect("finishes");
    let peak = PEAK.load(Ordering::SeqCst) - baseline;
    let largest_block = LARGEST_BLOCK.load(Ordering::SeqCst);
    let env = decoder.into_env();
    assert_eq!(env.num_defined_functions(), SMALL_FUNCTIONS + 1);

    let bound = largest + CHUNK + SLACK;
    println!(
        "module {} bytes, largest item {largest}, max buffered {max_buffered}, \
         peak live {peak} bytes over the baseline (largest block {largest_block}), bound {bound}",
        bytes.len()
    );
    assert!(
        peak <= bound,
        "peak live heap while decoding was {peak} bytes over the baseline (largest single \
         block {largest_block}, max buffered {max_buffered}); the bound is largest item \
         {largest} + chunk {CHUNK} + slack {SLACK} = {bound}"
    );
}
