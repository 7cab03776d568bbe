//! WASI fuzz target: generated guests call every `wasi_snapshot_preview1`
//! function with random and edge-case arguments against a scratch preopen,
//! and the host must survive it: no panic (a host function that panics
//! becomes a "host function panicked" trap, which fails the case), no
//! abort, no hang, bounded host memory, and nothing changed outside the
//! preopen.
//!
//! Each case is a module built with wasm-encoder: one exported memory of 1
//! or 2 pages whose data segments lay out paths (valid ones, `..` escapes,
//! symlinks that lead out, absolute paths, paths of 4095, 4096 and 5000
//! bytes, invalid UTF-8, a NUL inside), iovec arrays (1100 aliased iovecs
//! on one buffer, 300 on the whole page, iovecs that fault or cross the end
//! of a page) and `poll_oneoff` subscriptions; and an exported `_start`
//! that makes 1–40 calls with constant arguments, storing each errno in
//! memory or dropping it. Every function of the runtime's table is drawn
//! (`common::SIGNATURES`), `proc_exit` and
//! `proc_raise` (which end the run with a trap: fine) and the `sock_*`
//! functions included. Half the calls take their arguments from the edges
//! (pointers 0, small, into the structures, `memory_size - k`,
//! `u32::MAX - k`, random; lengths 0, 1, small, the laid-out ones,
//! `0x2000_0001`, `0x7fff_ffff`, `u32::MAX`; fds 0–8, 100, `u32::MAX`, random;
//! i64 0, ±1, `i64::MIN`, `i64::MAX`, small, large; flags valid or random
//! bits), half mean well (open fds, pointers that fit, the usual flags), and
//! up to 3 working `path_open`s may come first, so that the calls after
//! them reach real files and directories through fds 5–8.
//!
//! Two restrictions keep every case quick. `poll_oneoff` reads only the
//! subscription table, which `_start` copies afresh from a passive data
//! segment (`memory.init`) just before each call, so whatever earlier calls
//! wrote there, its clocks only wait 0, a few microseconds or until an
//! absolute time in the past; its `in` pointer is a subscription of the
//! table (with a count that stays inside it) or one that faults. And
//! `random_get` lengths stay within memory.
//!
//! The world of each case, under one scratch root: a fresh `jail`,
//! preopened as fd 3 (`/jail`), with `jail/sub` preopened as fd 4
//! (`/jail/sub`), holding files, nested directories, symlinks that stay
//! inside, symlinks that lead out (`../outside`, `../../outside/secret`, an
//! absolute one to the canary), a dangling link and link loops (no FIFOs,
//! sockets or devices: opening a FIFO would block); and `outside`, with
//! canary files of known content and a subdirectory, whose access and
//! modification times (and those of `outside`, its subdirectory and the
//! root) are set to a fixed old date. stdin is `stdin_bytes`, stdout and
//! stderr are `OutputBuffer`s (never the host's stdio).
//!
//! What a case must satisfy:
//! - `_start` returns, or traps from `proc_exit`, `proc_raise` or the
//!   guest itself; a host function that panicked (or any other host trap)
//!   fails the case, and so would a panic anywhere in this process.
//! - Host memory: a counting global allocator tracks the live bytes of this
//!   thread; their peak during `_start` stays under 64 MiB plus four times
//!   what stdout and stderr grew by (a `Vec` doubles, and a reallocation is
//!   counted as holding both blocks), and each output buffer grows by at
//!   most 16 MiB (the implementation's cap on one write) per call.
//! - Outside the preopen: the root's, `outside`'s, its subdirectory's and
//!   every canary's device, inode, mode, size, link count and access,
//!   modification and change times are as before (checked first: reading
//!   changes an access time, and so does any read or listing by an escaped
//!   guest), then the listings of the root, `outside`, its subdirectory and
//!   the directory above the root, then the canaries' content. Guest memory
//!   must not hold an outside entry's `filestat` record (a stat that
//!   escaped moves no time) nor a canary's bytes.
//! - No host fd is left open once the store is dropped.
//! - No case runs for two minutes: a watchdog thread then prints the case
//!   and ends the process (a hang).
//!
//! 300 cases by default (a few seconds in a debug build); `PROPTEST_CASES=N`
//! for more, `PROPTEST_RNG_SEED=S` to repeat a run; `cargo xtask fuzz
//! --target wasi` runs it in release. A failing case is shrunk; the message
//! lists its calls (function, arguments, what each pointer points at) and
//! the module is written to `target/wasi-fuzz-failure.wasm`.
//! `WASI_FUZZ_TRACE=1` prints each case before it runs (for a crash that
//! takes the process down), each call with its errno as it returns, and
//! each run's outcome and host memory peak.

mod common;

use std::alloc::{GlobalAlloc, Layout as AllocLayout, System};
use std::cell::Cell;
use std::fmt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{LazyLock, Mutex, Once};
use std::time::{Duration, Instant, SystemTime};

use proptest::prelude::*;
use proptest::sample::select;
use rung_runtime::wasi::{self, OutputBuffer, WasiCtx};
use rung_runtime::{Config, Engine, Linker, Module, Store, TrapReason};
use wasm_encoder::{
    CodeSection, ConstExpr, DataCountSection, DataSection, EntityType, ExportKind, ExportSection,
    Function, FunctionSection, ImportSection, MemArg, MemArgTarget, MemorySection, MemoryType,
    TypeSection, ValType,
};

// ---- the counting allocator --------------------------------------------

/// The system allocator, counting the live bytes of each thread and their
/// peak. It never allocates or panics itself: the counters are const
/// thread-locals without a destructor, updated with wrapping arithmetic.
struct Counting;

thread_local! {
    static LIVE: Cell<isize> = const { Cell::new(0) };
    static PEAK: Cell<isize> = const { Cell::new(0) };
}

fn count(delta: isize) {
    let _ = LIVE.try_with(|live| {
        let now = live.get().wrapping_add(delta);
        live.set(now);
        let _ = PEAK.try_with(|peak| {
            if now > peak.get() {
                peak.set(now);
            }
        });
    });
}

// SAFETY: every call is forwarded to `System` unchanged; the counting on
// the side touches only thread-locals.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: AllocLayout) -> *mut u8 {
        // SAFETY: the caller's contract, passed on.
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            count(layout.size() as isize);
        }
        p
    }

    unsafe fn alloc_zeroed(&self, layout: AllocLayout) -> *mut u8 {
        // SAFETY: the caller's contract, passed on.
        let p = unsafe { System.alloc_zeroed(layout) };
        if !p.is_null() {
            count(layout.size() as isize);
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: AllocLayout) {
        // SAFETY: the caller's contract, passed on.
        unsafe { System.dealloc(ptr, layout) };
        count(-(layout.size() as isize));
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: AllocLayout, new_size: usize) -> *mut u8 {
        // SAFETY: the caller's contract, passed on.
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            // Both blocks may be live for a moment (a copy): count the new
            // one before freeing the old.
            count(new_size as isize);
            count(-(layout.size() as isize));
        }
        p
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// Starts a measurement: the peak is reset to the live bytes now, which
/// are returned.
fn reset_peak() -> isize {
    let live = LIVE.with(Cell::get);
    PEAK.with(|p| p.set(live));
    live
}

fn peak() -> isize {
    PEAK.with(Cell::get)
}

// ---- the memory layout -------------------------------------------------

const PAGE: u32 = 65536;
/// 0..0x100 stays zero (small pointers land there).
const PATHS: u32 = 0x100;
const PATHS_END: u32 = 0x4000;
const IOVS: u32 = 0x4000;
const IOVS_END: u32 = 0x7000;
const SUBS: u32 = 0x7000;
const RESULTS: u32 = 0x7400;
/// Scratch for results a call writes (fdstat, filestat, counts, fds).
const OUT: u32 = 0x7800;
/// Data buffers the iovecs point at.
const BUF: u32 = 0x8000;
const BUF_SIZE: u32 = 0x8000;
/// One buffer many iovecs alias.
const ALIASED: u32 = BUF + 0x1000;

/// The paths laid out in memory: (label, bytes, how often drawn: the
/// everyday ones, which make calls succeed, more often). Long ones are
/// appended by [`layout`].
const PATH_LIST: &[(&str, &[u8], u32)] = &[
    ("a", b"a", 4),
    ("sub/b", b"sub/b", 4),
    ("../outside", b"../outside", 1),
    ("x/", b"x/", 4),
    ("x/.", b"x/.", 1),
    ("a//b/./c/..", b"a//b/./c/..", 1),
    ("/jail/f.txt", b"/jail/f.txt", 1),
    ("/etc/passwd", b"/etc/passwd", 1),
    ("f.txt", b"f.txt", 4),
    ("empty", b"empty", 4),
    ("big", b"big", 4),
    ("x/secret.txt", b"x/secret.txt", 4),
    ("a/file", b"a/file", 4),
    ("a/b/c", b"a/b/c", 1),
    ("sub", b"sub", 4),
    ("sub/", b"sub/", 1),
    ("sub/deeper/c", b"sub/deeper/c", 1),
    ("sub/up", b"sub/up", 1),
    ("sub/out2", b"sub/out2", 1),
    ("link_f", b"link_f", 4),
    ("link_sub/", b"link_sub/", 1),
    ("link_sub/b", b"link_sub/b", 4),
    ("link_dot/link_dot/f.txt", b"link_dot/link_dot/f.txt", 1),
    ("out1", b"out1", 1),
    ("out1/", b"out1/", 1),
    ("out1/.", b"out1/.", 1),
    ("out1/secret", b"out1/secret", 1),
    ("out3", b"out3", 1),
    ("abs", b"abs", 1),
    ("dangle", b"dangle", 1),
    ("deep_dangle", b"deep_dangle", 1),
    ("loop1", b"loop1", 1),
    ("self", b"self", 1),
    (".", b".", 4),
    ("..", b"..", 1),
    ("sub/..", b"sub/..", 1),
    ("sub/../..", b"sub/../..", 1),
    ("link_sub/../..", b"link_sub/../..", 1),
    ("x/../../outside/secret", b"x/../../outside/secret", 1),
    ("new", b"new", 4),
    ("new/", b"new/", 1),
    ("new2", b"new2", 4),
    ("sub/new", b"sub/new", 4),
    ("newdir/", b"newdir/", 4),
    // Relative to fd 4 (`sub`).
    ("b", b"b", 4),
    ("deeper/c", b"deeper/c", 4),
    ("up", b"up", 1),
    ("out2", b"out2", 1),
    ("../f.txt", b"../f.txt", 1),
    ("", b"", 1),
    ("invalid UTF-8 \\xff\\xfe/a", b"\xff\xfe/a", 1),
    ("f.txt\\0x (NUL inside)", b"f.txt\0x", 1),
];

/// The iovec arrays: (label, entries); the address of each is in [`Layout`].
fn iovec_arrays() -> Vec<(&'static str, Vec<(u32, u32)>)> {
    vec![
        (
            "1100 iovecs aliasing one 4 KiB buffer",
            vec![(ALIASED, 4096); 1100],
        ),
        ("300 iovecs aliasing all of page 0", vec![(0, PAGE); 300]),
        ("one iovec of 64 bytes", vec![(BUF, 64)]),
        ("two iovecs", vec![(BUF, 16), (BUF + 100, 200)]),
        (
            "zero-length iovecs, one wild",
            vec![(BUF, 0), (0, 0), (u32::MAX, 0)],
        ),
        ("second iovec faults", vec![(BUF, 10), (u32::MAX - 3, 10)]),
        ("iovec of u32::MAX bytes", vec![(BUF, u32::MAX)]),
        (
            "iovecs crossing the end of page 0",
            vec![(PAGE - 16, 16), (PAGE - 8, 16)],
        ),
        ("iovec in page 1", vec![(PAGE, 4096)]),
        (
            "iovecs over the whole buffer area",
            vec![(BUF, BUF_SIZE); 4],
        ),
    ]
}

/// `poll_oneoff` subscriptions: (label, tag, u32 at 16, timeout, flags).
/// Clocks only ever wait a few microseconds, or until a time in the past.
const SUBSCRIPTIONS: &[(&str, u8, u32, u64, u16)] = &[
    ("clock realtime +0", 0, 0, 0, 0),
    ("clock monotonic +1us", 0, 1, 1_000, 0),
    ("clock monotonic abs 1 (past)", 0, 1, 1, 1),
    ("clock realtime abs 0 (past)", 0, 0, 0, 1),
    ("fd_read 0", 1, 0, 0, 0),
    ("fd_write 1", 2, 1, 0, 0),
    ("fd_read 3 (a directory)", 1, 3, 0, 0),
    ("fd_read 5", 1, 5, 0, 0),
    ("fd_write 100", 2, 100, 0, 0),
    ("clock process cputime", 0, 2, 1_000, 0),
    ("clock id 7", 0, 7, 0, 0),
    ("tag 3", 3, 0, 0, 0),
    ("clock monotonic +5us, odd flags", 0, 1, 5_000, 0xfffe),
    ("clock realtime +2us", 0, 0, 2_000, 0),
    ("fd_read 2 (stderr)", 1, 2, 0, 0),
    ("fd_write 5", 2, 5, 0, 0),
];
const SUB_SIZE: u32 = 48;

struct Layout {
    /// (address, length, label, weight)
    paths: Vec<(u32, u32, &'static str, u32)>,
    /// (address, count, label)
    iovs: Vec<(u32, u32, &'static str)>,
    /// Active segments: (address, bytes).
    segments: Vec<(u32, Vec<u8>)>,
    /// The subscription table, copied to [`SUBS`] before each poll.
    subs: Vec<u8>,
}

static LAYOUT: LazyLock<Layout> = LazyLock::new(|| {
    let mut paths = Vec::new();
    let mut segments = Vec::new();
    let mut at = PATHS;
    let mut add_path = |label: &'static str, bytes: Vec<u8>, weight: u32| {
        paths.push((at, bytes.len() as u32, label, weight));
        segments.push((at, bytes.clone()));
        at += bytes.len() as u32 + 1;
    };
    for &(label, bytes, weight) in PATH_LIST {
        add_path(label, bytes.to_vec(), weight);
    }
    // "./" repeated, then "f.txt": valid, and exactly at (or one past) the
    // longest path accepted.
    let dotted = |len: usize| {
        let mut p = b"./".repeat((len - 5) / 2);
        if p.len() + 5 < len {
            p.push(b'/');
        }
        p.extend_from_slice(b"f.txt");
        assert_eq!(p.len(), len);
        p
    };
    add_path("4095-byte path to f.txt", dotted(4095), 1);
    add_path("4096-byte path to f.txt", dotted(4096), 1);
    add_path("5000-byte path", b"a/b/../".repeat(715)[..5000].to_vec(), 1);
    assert!(at <= PATHS_END, "paths overflow their area: {at:#x}");

    let mut iovs = Vec::new();
    let mut at = IOVS;
    for (label, entries) in iovec_arrays() {
        let bytes: Vec<u8> = entries
            .iter()
            .flat_map(|&(p, l)| p.to_le_bytes().into_iter().chain(l.to_le_bytes()))
            .collect();
        iovs.push((at, entries.len() as u32, label));
        at += bytes.len() as u32;
        segments.push((iovs.last().unwrap().0, bytes));
        at = at.next_multiple_of(16);
    }
    assert!(at <= IOVS_END, "iovecs overflow their area: {at:#x}");

    let mut subs = Vec::new();
    for (i, &(_, tag, word, timeout, flags)) in SUBSCRIPTIONS.iter().enumerate() {
        let mut s = [0u8; SUB_SIZE as usize];
        s[0..8].copy_from_slice(&(0x5eed_0000 + i as u64).to_le_bytes());
        s[8] = tag;
        s[16..20].copy_from_slice(&word.to_le_bytes());
        s[24..32].copy_from_slice(&timeout.to_le_bytes());
        s[40..42].copy_from_slice(&flags.to_le_bytes());
        subs.extend_from_slice(&s);
    }
    assert!(SUBS + subs.len() as u32 <= RESULTS);
    segments.push((SUBS, subs.clone()));

    // Some recognisable data in the buffers.
    let text: Vec<u8> = b"The quick brown fox jumps over the lazy dog.\n"
        .iter()
        .copied()
        .cycle()
        .take(BUF_SIZE as usize)
        .collect();
    segments.push((BUF, text));
    Layout {
        paths,
        iovs,
        segments,
        subs,
    }
});

fn layout() -> &'static Layout {
    &LAYOUT
}

// ---- calls and their arguments -------------------------------------------

/// An argument value: a number, or `memory_size - k`.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum V {
    N(i64),
    End(u32),
}

/// One argument as generated: its value, a note saying what it points at,
/// and whether it reads best in hex.
#[derive(Clone, Copy, Debug)]
struct A {
    v: V,
    note: Option<&'static str>,
    hex: bool,
}

fn int(v: impl Into<i64>) -> A {
    A {
        v: V::N(v.into()),
        note: None,
        hex: false,
    }
}

fn uint(v: u32) -> A {
    int(i64::from(v))
}

fn hex(v: u32) -> A {
    A {
        v: V::N(i64::from(v)),
        note: None,
        hex: true,
    }
}

fn hex64(v: i64) -> A {
    A {
        hex: true,
        ..int(v)
    }
}

fn at(v: u32, note: &'static str) -> A {
    A {
        note: Some(note),
        ..hex(v)
    }
}

fn end(k: u32) -> A {
    A {
        v: V::End(k),
        note: None,
        hex: true,
    }
}

impl A {
    fn value(&self, pages: u32) -> i64 {
        match self.v {
            V::N(v) => v,
            V::End(k) => i64::from((pages * PAGE).wrapping_sub(k)),
        }
    }
}

/// What a parameter (or a group of them) means.
#[derive(Clone, Copy, Debug)]
enum K {
    Fd,
    /// The directory a path is relative to.
    DirFd,
    /// A pointer the call writes a result to.
    Out,
    I64,
    Clock,
    Lookup,
    OFlags,
    FdFlags,
    Rights,
    FstFlags,
    Whence,
    Advice,
    Signal,
    Exit,
    /// Flags nobody reads (`riflags`, `siflags`, `sdflags`).
    Bits,
    /// (pointer, length) of a path.
    Path,
    /// (pointer, count) of an iovec array.
    Iovs,
    /// (pointer, length) of an output buffer.
    Buf,
    /// `random_get`'s (pointer, length): a length within memory.
    Random,
    /// `poll_oneoff`'s (in, out, nsubscriptions, nevents).
    Poll,
}

impl K {
    fn wasm_types(self) -> &'static [ValType] {
        use ValType::{I32, I64};
        match self {
            K::I64 | K::Rights => &[I64],
            K::Path | K::Iovs | K::Buf | K::Random => &[I32, I32],
            K::Poll => &[I32, I32, I32, I32],
            _ => &[I32],
        }
    }
}

/// Every preview1 function (`SIGNATURES` in `common`), what its
/// parameters mean, and how often it is drawn.
const FUNCS: &[(&str, &[K], u32)] = {
    use K::*;
    &[
        ("args_get", &[Out, Out], 2),
        ("args_sizes_get", &[Out, Out], 2),
        ("environ_get", &[Out, Out], 2),
        ("environ_sizes_get", &[Out, Out], 2),
        ("clock_res_get", &[Clock, Out], 2),
        ("clock_time_get", &[Clock, I64, Out], 2),
        ("fd_advise", &[Fd, I64, I64, Advice], 3),
        ("fd_allocate", &[Fd, I64, I64], 3),
        ("fd_close", &[Fd], 4),
        ("fd_datasync", &[Fd], 2),
        ("fd_fdstat_get", &[Fd, Out], 3),
        ("fd_fdstat_set_flags", &[Fd, FdFlags], 3),
        ("fd_fdstat_set_rights", &[Fd, Rights, Rights], 3),
        ("fd_filestat_get", &[Fd, Out], 3),
        ("fd_filestat_set_size", &[Fd, I64], 3),
        ("fd_filestat_set_times", &[Fd, I64, I64, FstFlags], 3),
        ("fd_pread", &[Fd, Iovs, I64, Out], 4),
        ("fd_prestat_get", &[Fd, Out], 2),
        ("fd_prestat_dir_name", &[Fd, Buf], 2),
        ("fd_pwrite", &[Fd, Iovs, I64, Out], 4),
        ("fd_read", &[Fd, Iovs, Out], 5),
        ("fd_readdir", &[Fd, Buf, I64, Out], 4),
        ("fd_renumber", &[Fd, Fd], 3),
        ("fd_seek", &[Fd, I64, Whence, Out], 3),
        ("fd_sync", &[Fd], 2),
        ("fd_tell", &[Fd, Out], 2),
        ("fd_write", &[Fd, Iovs, Out], 5),
        ("path_create_directory", &[DirFd, Path], 4),
        ("path_filestat_get", &[DirFd, Lookup, Path, Out], 4),
        (
            "path_filestat_set_times",
            &[DirFd, Lookup, Path, I64, I64, FstFlags],
            4,
        ),
        ("path_link", &[DirFd, Lookup, Path, DirFd, Path], 4),
        (
            "path_open",
            &[DirFd, Lookup, Path, OFlags, Rights, Rights, FdFlags, Out],
            14,
        ),
        ("path_readlink", &[DirFd, Path, Buf, Out], 4),
        ("path_remove_directory", &[DirFd, Path], 4),
        ("path_rename", &[DirFd, Path, DirFd, Path], 4),
        ("path_symlink", &[Path, DirFd, Path], 4),
        ("path_unlink_file", &[DirFd, Path], 4),
        ("poll_oneoff", &[Poll], 3),
        // Both usually end the run: rarer, so that sequences go on.
        ("proc_exit", &[Exit], 1),
        ("proc_raise", &[Signal], 1),
        ("random_get", &[Random], 2),
        ("sched_yield", &[], 1),
        ("sock_accept", &[Fd, FdFlags, Out], 1),
        ("sock_recv", &[Fd, Iovs, Bits, Out, Out], 1),
        ("sock_send", &[Fd, Iovs, Bits, Out], 1),
        ("sock_shutdown", &[Fd, Bits], 1),
    ]
};

fn params_of(kinds: &[K]) -> Vec<ValType> {
    kinds.iter().flat_map(|k| k.wasm_types()).copied().collect()
}

fn has_result(name: &str) -> bool {
    name != "proc_exit"
}

// ---- argument distributions ---------------------------------------------

/// A descriptor for the `fd_*` calls: mostly one `path_open` may have
/// made (the preopens are 3 and 4, so new ones start at 5).
fn fd() -> BoxedStrategy<A> {
    prop_oneof![
        8 => (5u32..=8).prop_map(uint),
        3 => (0u32..=2).prop_map(uint),
        3 => (3u32..=4).prop_map(uint),
        1 => Just(uint(100)),
        1 => Just(uint(u32::MAX)),
        1 => any::<u32>().prop_map(uint),
    ]
    .boxed()
}

/// A directory descriptor for the `path_*` calls: mostly a preopen.
fn dir_fd() -> BoxedStrategy<A> {
    prop_oneof![
        10 => Just(uint(3)),
        4 => Just(uint(4)),
        3 => (5u32..=8).prop_map(uint),
        1 => (0u32..=2).prop_map(uint),
        1 => Just(uint(100)),
        1 => Just(uint(u32::MAX)),
        1 => any::<u32>().prop_map(uint),
    ]
    .boxed()
}

/// Addresses of the laid-out structures, with what they are.
fn structures() -> Vec<(u32, &'static str)> {
    let l = layout();
    let mut v: Vec<(u32, &'static str)> = l.paths.iter().map(|&(a, _, n, _)| (a, n)).collect();
    v.extend(l.iovs.iter().map(|&(a, _, n)| (a, n)));
    v.extend([
        (SUBS, "subscriptions"),
        (RESULTS, "results"),
        (BUF, "buf"),
        (ALIASED, "aliased buffer"),
    ]);
    v
}

/// A pointer, mostly one a call writes through.
fn ptr() -> BoxedStrategy<A> {
    prop_oneof![
        6 => Just(at(OUT, "out")),
        2 => (1u32..1024).prop_map(|o| at(OUT + o, "in out")),
        1 => Just(hex(0)),
        1 => (1u32..256).prop_map(hex),
        2 => select(structures()).prop_map(|(a, n)| at(a, n)),
        1 => (0u32..=64).prop_map(end),
        1 => (0u32..=64).prop_map(|k| hex(u32::MAX - k)),
        1 => any::<u32>().prop_map(hex),
    ]
    .boxed()
}

/// A length or count.
fn len() -> BoxedStrategy<A> {
    prop_oneof![
        2 => Just(uint(0)),
        2 => Just(uint(1)),
        2 => (2u32..64).prop_map(uint),
        2 => select(vec![4095u32, 4096, 5000, PAGE, 2 * PAGE, BUF_SIZE]).prop_map(uint),
        1 => Just(hex(0x2000_0001)),
        1 => Just(hex(0x7fff_ffff)),
        1 => Just(hex(u32::MAX)),
        1 => (0u32..=64).prop_map(end),
        1 => any::<u32>().prop_map(hex),
    ]
    .boxed()
}

fn i64s() -> BoxedStrategy<A> {
    prop_oneof![
        3 => Just(int(0)),
        2 => Just(int(1)),
        2 => Just(int(-1)),
        1 => Just(int(i64::MIN)),
        1 => Just(int(i64::MAX)),
        3 => (0i64..10_000).prop_map(int),
        2 => select(vec![
            1i64 << 31,
            1 << 32,
            1 << 40,
            1 << 62,
            i64::MAX - 1,
            1_000_000_000_000_000_000,
        ])
        .prop_map(int),
        1 => any::<i64>().prop_map(int),
    ]
    .boxed()
}

/// Flags: `usual` values most of the time, then any combination of the
/// defined bits (`0..valid`), then random bits.
fn flags(usual: &[u32], valid: u32) -> BoxedStrategy<A> {
    prop_oneof![
        6 => select(usual.to_vec()).prop_map(uint),
        3 => (0..valid).prop_map(uint),
        1 => any::<u32>().prop_map(hex),
    ]
    .boxed()
}

fn rights() -> BoxedStrategy<A> {
    prop_oneof![
        3 => Just(hex64(common::RIGHTS_ALL)),
        2 => Just(hex64(common::RIGHTS_READ_ONLY)),
        1 => Just(hex64(1 << 6)), // fd_write only
        1 => Just(hex64(0)),
        1 => Just(hex64(-1)),
        1 => any::<i64>().prop_map(hex64),
    ]
    .boxed()
}

/// A laid-out path: (address, length, label).
type LaidOut = (u32, u32, &'static str);

/// A laid-out path, the everyday ones more often.
fn laid_out_path() -> BoxedStrategy<LaidOut> {
    let arms: Vec<(u32, BoxedStrategy<LaidOut>)> = layout()
        .paths
        .iter()
        .map(|&(a, l, n, w)| (w, Just((a, l, n)).boxed()))
        .collect();
    proptest::strategy::Union::new_weighted(arms).boxed()
}

/// (pointer, length) of a path.
fn path() -> BoxedStrategy<Vec<A>> {
    prop_oneof![
        12 => laid_out_path().prop_map(|(a, l, n)| vec![at(a, n), uint(l)]),
        2 => (laid_out_path(), -2i64..=2).prop_map(|((a, l, n), d)| {
            vec![at(a, n), hex((i64::from(l) + d) as u32)]
        }),
        1 => (ptr(), len()).prop_map(|(p, l)| vec![p, l]),
    ]
    .boxed()
}

/// (pointer, count) of an iovec array.
fn iovs() -> BoxedStrategy<Vec<A>> {
    let arrays = layout().iovs.clone();
    let counts = vec![
        0u32,
        1,
        2,
        1023,
        1024,
        1025,
        0x2000_0001,
        0x7fff_ffff,
        u32::MAX,
    ];
    prop_oneof![
        8 => select(arrays.clone()).prop_map(|(a, c, n)| vec![at(a, n), uint(c)]),
        2 => (select(arrays), select(counts)).prop_map(|((a, _, n), c)| vec![at(a, n), uint(c)]),
        1 => (ptr(), len()).prop_map(|(p, l)| vec![p, l]),
    ]
    .boxed()
}

/// (pointer, length) of a buffer a call fills.
fn buf() -> BoxedStrategy<Vec<A>> {
    prop_oneof![
        4 => (0u32..=BUF_SIZE).prop_map(|n| vec![at(BUF, "buf"), uint(n)]),
        2 => (0u32..=64).prop_map(|n| vec![at(OUT, "out"), uint(n)]),
        1 => (1u32..=64).prop_map(|k| vec![end(k), uint(k)]),
        1 => (ptr(), len()).prop_map(|(p, l)| vec![p, l]),
    ]
    .boxed()
}

/// `random_get`'s (pointer, length): any pointer, a length within memory.
fn random_buf() -> BoxedStrategy<Vec<A>> {
    let len = prop_oneof![
        Just(uint(0)),
        Just(uint(1)),
        (2u32..64).prop_map(uint),
        Just(uint(4096)),
        (0u32..=PAGE).prop_map(uint),
    ];
    (ptr(), len).prop_map(|(p, l)| vec![p, l]).boxed()
}

/// (in, nsubscriptions) of `poll_oneoff`: a run of the table.
fn subscriptions() -> BoxedStrategy<(A, A)> {
    let n = SUBSCRIPTIONS.len() as u32;
    (0..n)
        .prop_flat_map(move |i| (Just(i), 0..=n - i))
        .prop_map(|(i, count)| {
            (
                at(SUBS + i * SUB_SIZE, SUBSCRIPTIONS[i as usize].0),
                uint(count),
            )
        })
        .boxed()
}

/// `poll_oneoff`'s (in, out, nsubscriptions, nevents): `in` is a
/// subscription of the table with a count that stays inside it, or a
/// pointer that faults.
fn poll() -> BoxedStrategy<Vec<A>> {
    let n = SUBSCRIPTIONS.len() as u32;
    let table = subscriptions();
    let faulting_in = (
        prop_oneof![
            (1u32..SUB_SIZE).prop_map(end),
            (0u32..=64).prop_map(|k| hex(u32::MAX - k)),
        ],
        prop_oneof![Just(uint(1)), Just(uint(2))],
    );
    // Counts whose table cannot fit in memory (checked before any is read).
    let faulting_count = (
        select((0..n).collect::<Vec<_>>()).prop_map(|i| at(SUBS + i * SUB_SIZE, "subscriptions")),
        select(vec![3000u32, 0x2000_0001, 0x7fff_ffff, u32::MAX]).prop_map(hex),
    );
    let pair = prop_oneof![
        8 => table,
        1 => faulting_in,
        1 => faulting_count,
    ];
    (pair, ptr(), ptr())
        .prop_map(|((input, count), out, nevents)| vec![input, out, count, nevents])
        .boxed()
}

/// The arguments of a call that means well: descriptors that may be
/// open, pointers and lengths that fit, the usual flags.
fn sane_arg(k: K) -> BoxedStrategy<Vec<A>> {
    let one = |s: BoxedStrategy<A>| s.prop_map(|a| vec![a]).boxed();
    let usual = |values: &[u32]| one(select(values.to_vec()).prop_map(uint).boxed());
    let out = || {
        prop_oneof![
            3 => Just(at(OUT, "out")),
            1 => (1u32..128).prop_map(|o| at(OUT + 8 * o, "in out")),
        ]
        .boxed()
    };
    match k {
        K::Fd => usual(&[5, 5, 5, 6, 6, 7, 8, 0, 1, 2, 3, 4]),
        K::DirFd => usual(&[3, 3, 3, 4, 5, 6]),
        K::Out => one(out()),
        K::I64 => {
            one(prop_oneof![Just(int(0)), Just(int(1)), (0i64..10_000).prop_map(int),].boxed())
        }
        K::Clock => usual(&[0, 1, 2, 3]),
        K::Lookup => usual(&[0, 1]),
        K::OFlags => usual(&[0, 0, 1, 5, 9, 2, 8]),
        K::FdFlags => usual(&[0, 0, 0, 1, 4, 5]),
        K::Rights => one(prop_oneof![
            Just(hex64(common::RIGHTS_ALL)),
            Just(hex64(common::RIGHTS_READ_ONLY)),
        ]
        .boxed()),
        K::FstFlags => usual(&[0, 1, 2, 4, 5, 6, 8, 9, 10]),
        K::Whence => usual(&[0, 1, 2]),
        K::Advice => usual(&[0, 1, 2, 3, 4, 5]),
        K::Signal => usual(&[0, 16, 17, 22, 27, 2, 9, 15]),
        K::Exit => one((0u32..=125).prop_map(uint).boxed()),
        K::Bits => usual(&[0, 1, 2, 3]),
        K::Path => laid_out_path()
            .prop_map(|(a, l, n)| vec![at(a, n), uint(l)])
            .boxed(),
        K::Iovs => select(layout().iovs.clone())
            .prop_map(|(a, c, n)| vec![at(a, n), uint(c)])
            .boxed(),
        K::Buf | K::Random => (0u32..=BUF_SIZE)
            .prop_map(|n| vec![at(BUF, "buf"), uint(n)])
            .boxed(),
        K::Poll => (subscriptions(), 0u32..64)
            .prop_map(|((input, count), o)| {
                vec![
                    input,
                    at(OUT + 0x400 + 8 * o, "in out"),
                    count,
                    at(OUT, "out"),
                ]
            })
            .boxed(),
    }
}

/// The arguments of a call from the edges: anything goes.
fn arg(k: K) -> BoxedStrategy<Vec<A>> {
    let one = |s: BoxedStrategy<A>| s.prop_map(|a| vec![a]).boxed();
    match k {
        K::Fd => one(fd()),
        K::Out => one(ptr()),
        K::I64 => one(i64s()),
        K::DirFd => one(dir_fd()),
        K::Clock => one(flags(&[0, 1, 2, 3], 5)),
        K::Lookup => one(flags(&[0, 1], 2)),
        // 0, creat, creat|excl, creat|trunc, directory, trunc.
        K::OFlags => one(flags(&[0, 1, 5, 9, 2, 8], 16)),
        // 0, append, nonblock, both.
        K::FdFlags => one(flags(&[0, 1, 4, 5], 32)),
        K::Rights => one(rights()),
        // Each time left, set, or set to now.
        K::FstFlags => one(flags(&[0, 1, 2, 4, 5, 6, 8, 9, 10], 16)),
        K::Whence => one(flags(&[0, 1, 2], 4)),
        K::Advice => one(flags(&[0, 1, 2, 3, 4, 5], 7)),
        // Signals preview1 ignores, and some that end the run.
        K::Signal => one(flags(&[0, 16, 17, 22, 27, 2, 9, 15], 31)),
        K::Exit => one(prop_oneof![
            4 => (0u32..=125).prop_map(uint),
            1 => Just(uint(126)),
            1 => Just(uint(u32::MAX)),
            1 => any::<u32>().prop_map(uint),
        ]
        .boxed()),
        K::Bits => one(flags(&[0, 1, 2, 3], 8)),
        K::Path => path(),
        K::Iovs => iovs(),
        K::Buf => buf(),
        K::Random => random_buf(),
        K::Poll => poll(),
    }
}

#[derive(Clone, Debug)]
struct Call {
    /// Index in [`FUNCS`].
    func: usize,
    args: Vec<A>,
    /// Store the errno (at `RESULTS + 4 * index`) rather than drop it.
    store: bool,
}

fn call() -> impl Strategy<Value = Call> {
    let arms: Vec<(u32, BoxedStrategy<Call>)> = FUNCS
        .iter()
        .enumerate()
        .flat_map(|(func, &(_, kinds, weight))| {
            // Half the calls mean well, half come from the edges.
            [sane_arg as fn(K) -> BoxedStrategy<Vec<A>>, arg].map(|arg| {
                let parts: Vec<BoxedStrategy<Vec<A>>> = kinds.iter().map(|&k| arg(k)).collect();
                let s = (parts, any::<bool>())
                    .prop_map(move |(parts, store)| Call {
                        func,
                        args: parts.concat(),
                        store,
                    })
                    .boxed();
                (weight, s)
            })
        })
        .collect();
    proptest::strategy::Union::new_weighted(arms)
}

#[derive(Clone)]
struct Case {
    pages: u32,
    stdin: Vec<u8>,
    calls: Vec<Call>,
}

/// A `path_open` that works, so that the `fd_*` calls after it find
/// descriptors 5, 6, 7 open: a file of fd 3 or 4 (opened plainly,
/// created, truncated, or for appending) or a directory.
fn opener() -> impl Strategy<Value = Call> {
    let func = FUNCS.iter().position(|f| f.0 == "path_open").unwrap();
    // (directory fd, path, is a directory)
    let targets = vec![
        (3u32, "f.txt", false),
        (3, "big", false),
        (3, "empty", false),
        (3, "new", false),
        (3, "link_f", false),
        (3, "sub/b", false),
        (4, "b", false),
        (4, "deeper/c", false),
        (3, "sub", true),
        (3, "x/", true),
        (3, ".", true),
        (4, ".", true),
    ];
    (
        select(targets),
        select(vec![0u32, 0, 1, 9]),
        select(vec![0u32, 0, 1]),
        any::<bool>(),
    )
        .prop_map(move |((dir, name, is_dir), oflags, fdflags, follow)| {
            let &(a, l, n, _) = layout().paths.iter().find(|p| p.2 == name).unwrap();
            // O_DIRECTORY for a directory (one opened for writing is EISDIR).
            let oflags = if is_dir { 2 } else { oflags };
            Call {
                func,
                args: vec![
                    uint(dir),
                    uint(follow.into()),
                    at(a, n),
                    uint(l),
                    uint(oflags),
                    hex64(common::RIGHTS_ALL),
                    hex64(common::RIGHTS_ALL),
                    uint(fdflags),
                    at(OUT, "out"),
                ],
                store: true,
            }
        })
}

fn case() -> impl Strategy<Value = Case> {
    (
        1u32..=2,
        proptest::collection::vec(any::<u8>(), 0..512),
        proptest::collection::vec(opener(), 0..=3),
        proptest::collection::vec(call(), 1..=37),
    )
        .prop_map(|(pages, stdin, mut calls, more)| {
            calls.extend(more);
            Case {
                pages,
                stdin,
                calls,
            }
        })
}

impl fmt::Debug for Case {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "memory of {} page(s) ({:#x} bytes), {} bytes of stdin {:?}, {} calls:",
            self.pages,
            self.pages * PAGE,
            self.stdin.len(),
            String::from_utf8_lossy(&self.stdin[..self.stdin.len().min(32)]),
            self.calls.len()
        )?;
        for (i, c) in self.calls.iter().enumerate() {
            let (name, kinds, _) = FUNCS[c.func];
            let types = params_of(kinds);
            write!(f, "  {i:2}: {name}(")?;
            for (j, (a, ty)) in c.args.iter().zip(&types).enumerate() {
                if j > 0 {
                    write!(f, ", ")?;
                }
                let v = a.value(self.pages);
                match (ty, a.hex) {
                    (ValType::I64, true) => write!(f, "{:#x}", v as u64)?,
                    (ValType::I64, false) => write!(f, "{v}")?,
                    (_, true) => write!(f, "{:#x}", v as u32)?,
                    (_, false) => write!(f, "{}", v as u32)?,
                }
                if let V::End(k) = a.v {
                    write!(f, " /* memory_size - {k} */")?;
                }
                if let Some(note) = a.note {
                    write!(f, " /* {note} */")?;
                }
            }
            write!(f, ")")?;
            if !has_result(name) {
                writeln!(f)?;
            } else if c.store {
                writeln!(f, " -> errno stored at {:#x}", RESULTS + 4 * i as u32)?;
            } else {
                writeln!(f, " -> dropped")?;
            }
        }
        Ok(())
    }
}

// ---- the module ---------------------------------------------------------

const MODULE_NAME: &str = wasi::MODULE;

fn module_bytes(case: &Case) -> Vec<u8> {
    let l = layout();
    // The functions used, in order of first use: import i is used[i].
    let mut used: Vec<usize> = Vec::new();
    for c in &case.calls {
        if !used.contains(&c.func) {
            used.push(c.func);
        }
    }
    let mut types = TypeSection::new();
    let mut imports = ImportSection::new();
    for (i, &func) in used.iter().enumerate() {
        let (name, kinds, _) = FUNCS[func];
        let results: &[ValType] = if has_result(name) {
            &[ValType::I32]
        } else {
            &[]
        };
        types
            .ty()
            .function(params_of(kinds), results.iter().copied());
        imports.import(MODULE_NAME, name, EntityType::Function(i as u32));
    }
    let start_type = used.len() as u32;
    types.ty().function([], []);
    let mut functions = FunctionSection::new();
    functions.function(start_type);
    let mut memories = MemorySection::new();
    memories.memory(MemoryType {
        minimum: u64::from(case.pages),
        maximum: None,
        memory64: false,
        shared: false,
        page_size_log2: None,
    });
    let start_index = used.len() as u32;
    let mut exports = ExportSection::new();
    exports.export("memory", ExportKind::Memory, 0);
    exports.export("_start", ExportKind::Func, start_index);

    let mut body = Function::new([]);
    let mut ins = body.instructions();
    let store = MemArg {
        offset: 0,
        align: 2,
        target: MemArgTarget::Memory(0),
        ordering: None,
    };
    for (i, c) in case.calls.iter().enumerate() {
        let (name, kinds, _) = FUNCS[c.func];
        if name == "poll_oneoff" {
            // A fresh subscription table: data segment 0.
            ins.i32_const(SUBS as i32)
                .i32_const(0)
                .i32_const(l.subs.len() as i32)
                .memory_init(0, 0);
        }
        let keep = has_result(name) && c.store;
        if keep {
            ins.i32_const((RESULTS + 4 * i as u32) as i32);
        }
        for (a, ty) in c.args.iter().zip(params_of(kinds)) {
            let v = a.value(case.pages);
            match ty {
                ValType::I64 => ins.i64_const(v),
                _ => ins.i32_const(v as i32),
            };
        }
        let import = used.iter().position(|&u| u == c.func).unwrap() as u32;
        ins.call(import);
        if keep {
            ins.i32_store(store);
        } else if has_result(name) {
            ins.drop();
        }
    }
    ins.end();
    let mut code = CodeSection::new();
    code.function(&body);

    let mut data = DataSection::new();
    data.passive(l.subs.iter().copied());
    for (addr, bytes) in &l.segments {
        data.active(
            0,
            &ConstExpr::i32_const(*addr as i32),
            bytes.iter().copied(),
        );
    }

    let mut module = wasm_encoder::Module::new();
    module
        .section(&types)
        .section(&imports)
        .section(&functions)
        .section(&memories)
        .section(&exports)
        .section(&DataCountSection {
            count: 1 + l.segments.len() as u32,
        })
        .section(&code)
        .section(&data);
    module.finish()
}

// ---- the scratch world --------------------------------------------------

/// A fixed, recognisable time for the canaries (2001-09-09).
const CANARY_TIME: u64 = 1_000_000_000;
/// The canary files under `outside`, with their content.
const CANARIES: &[(&str, &[u8])] = &[
    ("secret", b"canary: outside the preopen"),
    ("other", b"another canary"),
    ("inner/deep", b"a canary one level down"),
];

fn set_time(path: &Path) {
    let t = SystemTime::UNIX_EPOCH + Duration::from_secs(CANARY_TIME);
    let f = std::fs::File::options()
        .write(!path.is_dir())
        .read(path.is_dir())
        .open(path)
        .unwrap();
    f.set_times(std::fs::FileTimes::new().set_accessed(t).set_modified(t))
        .unwrap();
}

/// Builds `root/jail` and `root/outside` afresh.
fn build_world(root: &Path) {
    use std::os::unix::fs::symlink;
    let _ = std::fs::remove_dir_all(root);
    let jail = root.join("jail");
    let outside = root.join("outside");
    for d in ["a/b/c", "x", "sub/deeper"] {
        std::fs::create_dir_all(jail.join(d)).unwrap();
    }
    std::fs::create_dir_all(outside.join("inner")).unwrap();
    let files: &[(&str, &[u8])] = &[
        ("f.txt", b"file f: inside the preopen\n"),
        ("empty", b""),
        ("a/file", b"a/file\n"),
        ("x/secret.txt", b"inside"),
        ("sub/b", b"sub/b\n"),
        ("sub/deeper/c", b"sub/deeper/c\n"),
    ];
    for (name, data) in files {
        std::fs::write(jail.join(name), data).unwrap();
    }
    // Bigger than a page of guest memory.
    std::fs::write(jail.join("big"), vec![b'z'; 70_000]).unwrap();
    let links: &[(&str, &str)] = &[
        ("link_f", "f.txt"),
        ("link_sub", "sub"),
        ("link_dot", "."),
        ("sub/up", "../f.txt"),
        ("out1", "../outside"),
        ("out3", "../outside/secret"),
        ("sub/out2", "../../outside/secret"),
        ("dangle", "nowhere"),
        ("deep_dangle", "a/b/c/missing"),
        ("loop1", "loop2"),
        ("loop2", "loop1"),
        ("self", "self"),
    ];
    for (name, target) in links {
        symlink(target, jail.join(name)).unwrap();
    }
    symlink(outside.join("secret"), jail.join("abs")).unwrap();
    for (name, data) in CANARIES {
        std::fs::write(outside.join(name), data).unwrap();
        set_time(&outside.join(name));
    }
    set_time(&outside.join("inner"));
    set_time(&outside);
    set_time(root);
}

/// What is checked of an entry outside the preopen.
#[derive(Debug, PartialEq, Eq)]
struct Meta {
    dev: u64,
    ino: u64,
    mode: u32,
    nlink: u64,
    size: u64,
    atime: (i64, i64),
    mtime: (i64, i64),
    ctime: (i64, i64),
}

/// The entries outside the preopen that are checked, relative to `root`
/// (`""` is the root itself).
const WATCHED: &[&str] = &[
    "",
    "outside",
    "outside/inner",
    "outside/secret",
    "outside/other",
    "outside/inner/deep",
];

/// Stats only: reads nothing, so no access time moves.
fn snapshot(root: &Path) -> Vec<(&'static str, Meta)> {
    WATCHED
        .iter()
        .map(|&p| {
            let m = std::fs::symlink_metadata(root.join(p)).unwrap();
            let meta = Meta {
                dev: m.dev(),
                ino: m.ino(),
                mode: m.mode(),
                nlink: m.nlink(),
                size: m.size(),
                atime: (m.atime(), m.atime_nsec()),
                mtime: (m.mtime(), m.mtime_nsec()),
                ctime: (m.ctime(), m.ctime_nsec()),
            };
            (p, meta)
        })
        .collect()
}

fn listing(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// Nothing outside the preopen changed: times and metadata first (before
/// anything is read), then listings, then contents.
fn check_outside(root: &Path, before: &[(&'static str, Meta)]) -> Result<(), String> {
    let after = snapshot(root);
    for ((path, b), (_, a)) in before.iter().zip(&after) {
        if a != b {
            let path = if path.is_empty() { "." } else { path };
            return Err(format!(
                "outside the preopen, `{path}` (under the scratch root) changed (metadata or times):\n before {b:?}\n after  {a:?}"
            ));
        }
    }
    let expect: &[(&str, &[&str])] = &[
        ("..", &["case"]),
        ("", &["jail", "outside"]),
        ("outside", &["inner", "other", "secret"]),
        ("outside/inner", &["deep"]),
    ];
    for (dir, names) in expect {
        let got = listing(&root.join(dir));
        if got != *names {
            return Err(format!(
                "outside the preopen, the listing of `{}` changed: {got:?}",
                if dir.is_empty() { "." } else { dir }
            ));
        }
    }
    for (name, data) in CANARIES {
        let got = std::fs::read(root.join("outside").join(name)).unwrap();
        if got != *data {
            return Err(format!("the canary outside/{name} was rewritten: {got:?}"));
        }
    }
    Ok(())
}

/// The `filestat` record a stat of `m` writes (as `fd_filestat_get` lays
/// it out).
fn filestat_record(m: &Meta) -> [u8; 64] {
    let ns = |(sec, nsec): (i64, i64)| (sec as u64 * 1_000_000_000 + nsec as u64).to_le_bytes();
    let mut b = [0u8; 64];
    b[0..8].copy_from_slice(&m.dev.to_le_bytes());
    b[8..16].copy_from_slice(&m.ino.to_le_bytes());
    b[16] = if m.mode & 0o170000 == 0o040000 { 3 } else { 4 };
    b[24..32].copy_from_slice(&m.nlink.to_le_bytes());
    b[32..40].copy_from_slice(&m.size.to_le_bytes());
    b[40..48].copy_from_slice(&ns(m.atime));
    b[48..56].copy_from_slice(&ns(m.mtime));
    b[56..64].copy_from_slice(&ns(m.ctime));
    b
}

/// Nothing from outside the preopen reached the guest without moving an
/// access time (reading a canary or listing an outside directory does,
/// and the times are checked): guest memory holds no `filestat` record of
/// an outside entry (a stat that escaped), nor a canary's first bytes.
///
/// The whole 64-byte record must match, not only the inode number: a jail
/// entry's inode often shares its high bytes with an outside one, and a
/// later call overwriting the low byte of a jail record's inode field can
/// forge an outside inode number (a false alarm this check once gave). The
/// scratch root is not checked: it is the jail's `..`, whose inode
/// `fd_readdir` lists.
fn seen_from_outside(memory: &[u8], before: &[(&'static str, Meta)]) -> Result<(), String> {
    // (8 bytes to look for, the whole record they are bytes 8..16 of)
    let mut marks: Vec<(u64, Option<[u8; 64]>, String)> = before
        .iter()
        .filter(|(path, _)| !path.is_empty())
        .map(|(path, m)| {
            let record = filestat_record(m);
            (m.ino, Some(record), format!("a filestat of {path}"))
        })
        .collect();
    for (name, data) in CANARIES {
        let head = u64::from_le_bytes(data[..8].try_into().unwrap());
        marks.push((head, None, format!("the content of outside/{name}")));
    }
    // The first byte of each mark filters the positions (quick even in a
    // debug build).
    let mut first = [false; 256];
    for (m, _, _) in &marks {
        first[(m & 0xff) as usize] = true;
    }
    for at in 0..memory.len().saturating_sub(7) {
        if !first[usize::from(memory[at])] {
            continue;
        }
        let v = u64::from_le_bytes(memory[at..at + 8].try_into().unwrap());
        for (mark, record, what) in &marks {
            if *mark != v {
                continue;
            }
            let whole = match record {
                Some(r) => at >= 8 && memory.get(at - 8..at + 56) == Some(&r[..]),
                None => true,
            };
            if whole {
                return Err(format!("{what} is in guest memory at {:#x}", at - 8));
            }
        }
    }
    Ok(())
}

fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").unwrap().count()
}

// ---- running a case -------------------------------------------------------

/// Host memory `_start` may hold at its peak, beyond what the output
/// buffers legitimately grew by.
const MEMORY_BOUND: isize = 64 << 20;
/// The implementation's cap on one write (`wasi/memory.rs`).
const MAX_IO_BYTES: usize = 16 << 20;
/// A case running longer than this is a hang.
const HANG_LIMIT: Duration = Duration::from_secs(120);

thread_local! {
    static ENGINE: Engine = Engine::new(Config::default()).expect("engine");
}

/// The case now running, for the watchdog.
static CURRENT: Mutex<Option<(Instant, Case)>> = Mutex::new(None);

fn start_watchdog() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        std::thread::spawn(|| {
            loop {
                std::thread::sleep(Duration::from_secs(1));
                let current = CURRENT.lock().unwrap_or_else(|e| e.into_inner());
                if let Some((started, case)) = &*current
                    && started.elapsed() > HANG_LIMIT
                {
                    eprintln!(
                        "wasi_fuzz: a case has run for {:?}: a hang. The case:\n{case:?}",
                        started.elapsed()
                    );
                    std::process::exit(101);
                }
            }
        });
    });
}

/// How the runs ended, for the progress line.
static OUTCOMES: [AtomicU64; 4] = [const { AtomicU64::new(0) }; 4];
static STARTED: LazyLock<Instant> = LazyLock::new(Instant::now);

fn scratch_root() -> &'static Path {
    static ROOT: LazyLock<PathBuf> = LazyLock::new(|| common::scratch("fuzz").join("case"));
    &ROOT
}

/// Checks once that the table covers `common::SIGNATURES` with the same
/// types, and that the runtime defines every function in it.
fn check_table() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let fmt_sig = |name: &str, kinds: &[K]| {
            let mut s = String::new();
            let params = params_of(kinds);
            if !params.is_empty() {
                s += "(param";
                for p in params {
                    s += if p == ValType::I64 { " i64" } else { " i32" };
                }
                s += ")";
            }
            if has_result(name) {
                if !s.is_empty() {
                    s += " ";
                }
                s += "(result i32)";
            }
            s
        };
        for (name, sig) in common::SIGNATURES {
            let Some((_, kinds, _)) = FUNCS.iter().find(|f| f.0 == *name) else {
                panic!("{name} is not fuzzed");
            };
            assert_eq!(fmt_sig(name, kinds), *sig, "{name}: parameters");
        }
        let mut linker = Linker::new();
        wasi::add_to_linker(&mut linker, WasiCtx::builder().build());
        for (name, _, _) in FUNCS {
            assert!(linker.contains(MODULE_NAME, name), "{name} is not defined");
        }
    });
}

/// `WASI_FUZZ_TRACE=1`: print each case, and each call with its errno.
fn trace_on() -> bool {
    static ON: LazyLock<bool> = LazyLock::new(|| std::env::var_os("WASI_FUZZ_TRACE").is_some());
    *ON
}

fn run_case(case: &Case) -> Result<(), String> {
    let root = scratch_root();
    build_world(root);
    let before = snapshot(root);
    let fds_before = open_fds();
    let bytes = module_bytes(case);
    let module = ENGINE
        .with(|e| Module::new(e, &bytes))
        .map_err(|e| format!("the generated module does not compile: {e}"))?;
    let stdout = OutputBuffer::new();
    let stderr = OutputBuffer::new();
    let jail = root.join("jail");
    let ctx = WasiCtx::builder()
        .args(["fuzz", "--flag", "argument"])
        .env("HOME", "/jail")
        .env("FUZZ", "1")
        .stdin_bytes(case.stdin.clone())
        .stdout_buffer(&stdout)
        .stderr_buffer(&stderr)
        .preopened_dir(&jail, "/jail")
        .unwrap()
        .preopened_dir(jail.join("sub"), "/jail/sub")
        .unwrap()
        .trace(trace_on())
        .build();
    let mut linker = Linker::new();
    wasi::add_to_linker(&mut linker, ctx);
    let mut store = ENGINE.with(Store::new);
    let instance = linker
        .instantiate(&mut store, &module)
        .map_err(|e| format!("instantiation failed: {e}"))?;
    let start = instance.get_func(&store, "_start").unwrap();

    *CURRENT.lock().unwrap() = Some((Instant::now(), case.clone()));
    let base = reset_peak();
    let result = start.call(&mut store, &[]);
    let peak = peak() - base;
    *CURRENT.lock().unwrap() = None;

    let outcome = match &result {
        Ok(_) => 0,
        Err(trap) => match &trap.reason {
            TrapReason::Exit(_) => 1,
            TrapReason::Host(m)
                if m.starts_with("wasi: proc_exit(") || m.starts_with("wasi: proc_raise: ") =>
            {
                2
            }
            TrapReason::Wasm(_) => 3,
            TrapReason::Exception { tag, .. } => {
                return Err(format!(
                    "an uncaught exception (tag {tag}): the guests throw none"
                ));
            }
            TrapReason::Host(m) => {
                return Err(format!("a host trap that is not proc_exit/proc_raise: {m}"));
            }
        },
    };
    OUTCOMES[outcome].fetch_add(1, Ordering::Relaxed);
    let memory = instance.get_memory(&store, "memory").unwrap();
    seen_from_outside(memory.data(&store), &before)?;
    drop(store);
    drop(linker);

    let out_len = stdout.contents().len();
    let err_len = stderr.contents().len();
    if trace_on() {
        eprintln!(
            "wasi_fuzz: {:?}; host memory peak during _start {peak} bytes; stdout {out_len}, stderr {err_len} bytes",
            result.as_ref().map(drop)
        );
    }
    let calls = case.calls.len();
    for (name, n) in [("stdout", out_len), ("stderr", err_len)] {
        if n > MAX_IO_BYTES * calls {
            return Err(format!(
                "{name} grew by {n} bytes in {calls} calls (at most {MAX_IO_BYTES} a call)"
            ));
        }
    }
    let bound = MEMORY_BOUND + 4 * (out_len + err_len) as isize;
    if peak > bound {
        return Err(format!(
            "host memory peaked at {peak} bytes during _start (bound {bound}; stdout {out_len}, stderr {err_len} bytes)"
        ));
    }
    check_outside(root, &before)?;
    let fds_after = open_fds();
    if fds_after != fds_before {
        return Err(format!(
            "host fds open: {fds_before} before the case, {fds_after} after it"
        ));
    }
    // A failing case's world stays on disk to be looked at.
    let _ = std::fs::remove_dir_all(root);
    Ok(())
}

fn report_progress() {
    let done: u64 = OUTCOMES.iter().map(|c| c.load(Ordering::Relaxed)).sum();
    if done > 0 && done.is_multiple_of(10_000) {
        let [ok, exit, trap, wasm] = OUTCOMES.each_ref().map(|c| c.load(Ordering::Relaxed));
        eprintln!(
            "wasi_fuzz: {done} runs in {:.0?} (returned {ok}, proc_exit {exit}, proc_exit/proc_raise trap {trap}, guest trap {wasm})",
            STARTED.elapsed()
        );
    }
}

fn cases() -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(300)
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: cases(),
        max_shrink_iters: 500,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn wasi_survives_generated_guests(case in case()) {
        check_table();
        start_watchdog();
        LazyLock::force(&STARTED);
        if trace_on() {
            eprintln!("wasi_fuzz: running\n{case:?}");
        }
        let result = run_case(&case);
        report_progress();
        if result.is_err() {
            let path = Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("../../target/wasi-fuzz-failure.wasm");
            let _ = std::fs::write(&path, module_bytes(&case));
        }
        prop_assert!(
            result.is_ok(),
            "{}\n(module in target/wasi-fuzz-failure.wasm) {case:?}",
            result.as_ref().err().cloned().unwrap_or_default()
        );
    }
}
