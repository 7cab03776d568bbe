//! What one WASI call can make the host allocate: bounded, whatever the
//! guest's numbers say. A counting allocator measures the peak of the
//! calling thread's live heap during each call (per thread, so the tests
//! run in parallel without seeing each other's allocations).
//!
//! Before the fix, `fd_write` with 16,383 iovecs all pointing at one
//! 256 KiB buffer gathered them into one 4 GiB vector on the host.

mod common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use common::*;
use rung_runtime::wasi::{OutputBuffer, WasiCtx};

struct Counting;

thread_local! {
    static LIVE: Cell<i64> = const { Cell::new(0) };
    static PEAK: Cell<i64> = const { Cell::new(0) };
}

fn count(delta: i64) {
    let _ = LIVE.try_with(|live| {
        let now = live.get() + delta;
        live.set(now);
        let _ = PEAK.try_with(|peak| peak.set(peak.get().max(now)));
    });
}

// SAFETY: every call is forwarded to `System` unchanged; the counters are
// thread-local cells with constant initializers, which neither allocate
// nor panic.
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

/// Runs `f`; returns its result and the most this thread's heap grew by
/// while it ran.
fn peak_growth<R>(f: impl FnOnce() -> R) -> (R, u64) {
    let start = LIVE.with(Cell::get);
    PEAK.with(|p| p.set(start));
    let r = f();
    (r, (PEAK.with(Cell::get) - start).max(0) as u64)
}

const KIB: u64 = 1024;
const MIB: u64 = 1024 * KIB;
/// The implementation's per-call cap on bytes moved (`memory::MAX_IO_BYTES`).
const MAX_IO: u32 = 16 << 20;

/// Memory layout of the aliased-iovec tests (8 pages): a 256 KiB buffer
/// and 16,383 iovecs that all point at it.
const ALIASED_BUF: u32 = 0x1_0000;
const ALIASED_LEN: u32 = 256 * 1024;
const ALIASED_IOVS: u32 = 0x6_0000;
const ALIASED_COUNT: u32 = 16_383;

fn pattern(i: usize) -> u8 {
    (i % 251) as u8
}

/// A shim with 8 pages, a preopen, the 256 KiB pattern buffer and the
/// 16,383 aliased iovecs in place.
fn aliased(name: &str, out: &OutputBuffer) -> (Shim, std::path::PathBuf) {
    let dir = scratch(name);
    let ctx = WasiCtx::builder()
        .preopened_dir(&dir, "/d")
        .unwrap()
        .stdout_buffer(out)
        .build();
    let mut s = Shim::with_pages(ctx, 8);
    let data: Vec<u8> = (0..ALIASED_LEN as usize).map(pattern).collect();
    s.write(ALIASED_BUF, &data);
    let mut iovs = Vec::with_capacity(ALIASED_COUNT as usize * 8);
    for _ in 0..ALIASED_COUNT {
        iovs.extend(ALIASED_BUF.to_le_bytes());
        iovs.extend(ALIASED_LEN.to_le_bytes());
    }
    s.write(ALIASED_IOVS, &iovs);
    (s, dir)
}

/// The first `n` bytes the aliased iovecs describe, concatenated.
fn aliased_bytes(n: usize) -> Vec<u8> {
    (0..n).map(|i| pattern(i % ALIASED_LEN as usize)).collect()
}

#[test]
fn sixteen_thousand_aliased_iovecs_are_a_short_write_in_bounded_memory() {
    let out = OutputBuffer::new();
    let (mut s, dir) = aliased("aliased-write", &out);
    let fd = s
        .open(3, 0, "big", OFLAGS_CREAT | OFLAGS_TRUNC, RIGHTS_ALL)
        .unwrap();

    // To a file: one writev straight from guest memory.
    let (e, peak) = peak_growth(|| {
        s.call(
            "fd_write",
            &[
                I(fd),
                I(ALIASED_IOVS as i32),
                I(ALIASED_COUNT as i32),
                I(OUT as i32),
            ],
        )
    });
    assert_eq!(e, ESUCCESS);
    assert_eq!(s.u32(OUT), MAX_IO, "a short write of exactly the cap");
    assert!(
        peak < 256 * KIB,
        "fd_write to a file grew the heap by {peak} bytes"
    );
    let written = std::fs::read(dir.join("big")).unwrap();
    assert_eq!(written.len(), MAX_IO as usize);
    assert!(
        written == aliased_bytes(MAX_IO as usize),
        "the bytes written are the first ones asked for, in order"
    );

    // The guest writes the rest, as every libc does after a short write:
    // the file position moved by what was reported.
    assert_eq!(s.call("fd_tell", &[I(fd), I(OUT as i32)]), ESUCCESS);
    assert_eq!(s.u64(OUT), u64::from(MAX_IO));

    // At an offset: the same bound.
    let (e, peak) = peak_growth(|| {
        s.call(
            "fd_pwrite",
            &[
                I(fd),
                I(ALIASED_IOVS as i32),
                I(ALIASED_COUNT as i32),
                L(7),
                I(OUT as i32),
            ],
        )
    });
    assert_eq!((e, s.u32(OUT)), (ESUCCESS, MAX_IO));
    assert!(peak < 256 * KIB, "fd_pwrite grew the heap by {peak} bytes");

    // To a captured stdout: the capture grows by what was written, no more.
    let (e, peak) = peak_growth(|| {
        s.call(
            "fd_write",
            &[
                I(1),
                I(ALIASED_IOVS as i32),
                I(ALIASED_COUNT as i32),
                I(OUT as i32),
            ],
        )
    });
    assert_eq!((e, s.u32(OUT)), (ESUCCESS, MAX_IO));
    assert!(
        peak <= u64::from(MAX_IO) + MIB,
        "fd_write to a captured stdout grew the heap by {peak} bytes"
    );
    assert!(out.contents() == aliased_bytes(MAX_IO as usize));
}

#[test]
fn aliased_reads_are_short_and_allocate_nothing_per_byte() {
    let out = OutputBuffer::new();
    let (mut s, dir) = aliased("aliased-read", &out);
    let src = std::fs::File::create(dir.join("zeros")).unwrap();
    src.set_len(64 * MIB).unwrap();
    let fd = s.open(3, 0, "zeros", 0, RIGHTS_READ_ONLY).unwrap();
    let (e, peak) = peak_growth(|| {
        s.call(
            "fd_read",
            &[
                I(fd),
                I(ALIASED_IOVS as i32),
                I(ALIASED_COUNT as i32),
                I(OUT as i32),
            ],
        )
    });
    assert_eq!((e, s.u32(OUT)), (ESUCCESS, MAX_IO));
    assert!(peak < 256 * KIB, "fd_read grew the heap by {peak} bytes");
    let (e, peak) = peak_growth(|| {
        s.call(
            "fd_pread",
            &[
                I(fd),
                I(ALIASED_IOVS as i32),
                I(ALIASED_COUNT as i32),
                L(3),
                I(OUT as i32),
            ],
        )
    });
    assert_eq!((e, s.u32(OUT)), (ESUCCESS, MAX_IO));
    assert!(peak < 256 * KIB, "fd_pread grew the heap by {peak} bytes");
    // The buffer holds what was read last: zeros.
    assert!(
        s.read(ALIASED_BUF, ALIASED_LEN as usize)
            .iter()
            .all(|&b| b == 0)
    );
}

#[test]
fn iovec_counts_that_wrap_are_efault_and_only_1024_are_used() {
    let out = OutputBuffer::new();
    let (mut s, _dir) = aliased("iov-count", &out);
    // 2^29 + 1 iovecs would wrap a 32-bit byte count: the array is past
    // the end of memory.
    assert_eq!(
        s.call("fd_write", &[I(1), I(0), I(0x2000_0001), I(OUT as i32)]),
        EFAULT
    );
    // 1025 one-byte iovecs: the first 1024 are written.
    let mut iovs = Vec::new();
    for i in 0..1025u32 {
        iovs.extend((ALIASED_BUF + i).to_le_bytes());
        iovs.extend(1u32.to_le_bytes());
    }
    s.write(ALIASED_IOVS, &iovs);
    assert_eq!(
        s.call(
            "fd_write",
            &[I(1), I(ALIASED_IOVS as i32), I(1025), I(OUT as i32)]
        ),
        ESUCCESS
    );
    assert_eq!(s.u32(OUT), 1024);
    assert_eq!(out.contents(), aliased_bytes(1024));
}

#[test]
fn long_paths_are_enametoolong_before_anything_is_copied() {
    let dir = scratch("long-paths");
    let ctx = WasiCtx::builder()
        .preopened_dir(&dir, "/d")
        .unwrap()
        .build();
    let mut s = Shim::with_pages(ctx, 4);
    let long = |len: usize| "a/".repeat(len / 2 + 1)[..len].to_string();
    const AT: u32 = 0x1_0000;
    // A first call sets up the call path (its trampoline): not measured.
    assert_eq!(s.open(3, 0, "warm-up", 0, RIGHTS_READ_ONLY), Err(ENOENT));
    for len in [4096usize, 5 * 1024, 100 * 1024] {
        let path = long(len);
        s.write(AT, path.as_bytes());
        let (e, peak) = peak_growth(|| {
            s.call(
                "path_open",
                &[
                    I(3),
                    I(0),
                    I(AT as i32),
                    I(len as i32),
                    I(OFLAGS_CREAT),
                    L(RIGHTS_ALL),
                    L(0),
                    I(0),
                    I(OUT as i32),
                ],
            )
        });
        assert_eq!(e, ENAMETOOLONG, "path of {len} bytes");
        assert!(
            peak < 4 * KIB,
            "a rejected path of {len} bytes grew the heap by {peak}"
        );
        for f in [
            "path_create_directory",
            "path_unlink_file",
            "path_remove_directory",
        ] {
            assert_eq!(
                s.call(f, &[I(3), I(AT as i32), I(len as i32)]),
                ENAMETOOLONG,
                "{f} {len}"
            );
        }
        assert_eq!(
            s.call(
                "path_filestat_get",
                &[I(3), I(0), I(AT as i32), I(len as i32), I(OUT as i32)]
            ),
            ENAMETOOLONG
        );
        // As a symlink's target too.
        let [q, m] = s.path_at(PATH, "link");
        assert_eq!(
            s.call("path_symlink", &[I(AT as i32), I(len as i32), I(3), q, m]),
            ENAMETOOLONG
        );
    }
    // 4095 bytes is a path (Linux's PATH_MAX counts the NUL): it is walked
    // and not found.
    let path = long(4095);
    s.write(AT, path.as_bytes());
    assert_eq!(
        s.call(
            "path_filestat_get",
            &[I(3), I(0), I(AT as i32), I(4095), I(OUT as i32)]
        ),
        ENOENT
    );
    assert_eq!(
        std::fs::read_dir(&dir).unwrap().count(),
        0,
        "nothing was created"
    );
}

#[test]
fn huge_readdir_poll_and_random_buffers_allocate_nothing_per_byte() {
    let dir = scratch("huge-buffers");
    for i in 0..20 {
        std::fs::write(dir.join(format!("file-{i:02}")), b"x").unwrap();
    }
    let ctx = WasiCtx::builder()
        .preopened_dir(&dir, "/d")
        .unwrap()
        .build();
    let mut s = Shim::with_pages(ctx, 64);
    let mem = 64 * 65536u32;

    // fd_readdir into a buffer as big as memory.
    const AT: u32 = 0x1_0000;
    let len = mem - AT;
    let (e, peak) = peak_growth(|| {
        s.call(
            "fd_readdir",
            &[I(3), I(AT as i32), I(len as i32), L(0), I(OUT as i32)],
        )
    });
    assert_eq!(e, ESUCCESS);
    // ".", ".." and 20 names of 7 bytes, each after a 24-byte header.
    assert_eq!(s.u32(OUT), 24 + 1 + 24 + 2 + 20 * (24 + 7));
    assert!(peak < 64 * KIB, "fd_readdir grew the heap by {peak} bytes");

    // poll_oneoff with 40,000 clock subscriptions that fire at once.
    let n = 40_000u32;
    let mut subs = Vec::with_capacity(n as usize * 48);
    for i in 0..n {
        let mut sub = [0u8; 48];
        sub[0..8].copy_from_slice(&u64::from(i).to_le_bytes());
        sub[16..20].copy_from_slice(&1u32.to_le_bytes()); // monotonic, relative 0
        subs.extend(sub);
    }
    s.write(AT, &subs);
    let events = AT + n * 48;
    let (e, peak) = peak_growth(|| {
        s.call(
            "poll_oneoff",
            &[I(AT as i32), I(events as i32), I(n as i32), I(OUT as i32)],
        )
    });
    assert_eq!((e, s.u32(OUT)), (ESUCCESS, n));
    assert_eq!(
        s.u64(events + (n - 1) * 32),
        u64::from(n - 1),
        "the last event's userdata"
    );
    assert!(peak < 64 * KIB, "poll_oneoff grew the heap by {peak} bytes");

    // random_get of almost all of memory.
    let (e, peak) = peak_growth(|| s.call("random_get", &[I(AT as i32), I(len as i32)]));
    assert_eq!(e, ESUCCESS);
    assert!(peak < 64 * KIB, "random_get grew the heap by {peak} bytes");
}
