//! WASI preview1: small hand-written programs (hello world, argv and
//! environment, a `cat` over a preopen, `proc_exit`) with their exact
//! output, and a "syscall shim" — a module that re-exports the WASI imports
//! and its memory — through which each function is called with chosen
//! arguments, to check exact errnos, record bytes and the sandbox.

mod common;

use common::*;
use rung_runtime::wasi::{self, OutputBuffer, WasiCtx};
use rung_runtime::{Linker, Module, Store, TrapReason, Val};

/// Runs a WASI command's `_start`; returns the exit status (0 when
/// `_start` returns) or the trap's message.
fn run(wat: &str, ctx: WasiCtx) -> Result<i32, String> {
    let engine = engine();
    let module = Module::new(&engine, &wat::parse_str(wat).unwrap()).unwrap();
    let mut linker = Linker::new();
    wasi::add_to_linker(&mut linker, ctx);
    let mut store = Store::new(&engine);
    let instance = linker.instantiate(&mut store, &module).unwrap();
    let start = instance.get_func(&store, "_start").unwrap();
    match start.call(&mut store, &[]) {
        Ok(_) => Ok(0),
        Err(trap) => wasi::exit_status(&trap).ok_or_else(|| trap.to_string()),
    }
}

const HELLO: &str = r#"(module
  (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 16) "hello, world\n")
  (func (export "_start")
    (i32.store (i32.const 0) (i32.const 16))
    (i32.store (i32.const 4) (i32.const 13))
    (if (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8))
      (then unreachable))
    ;; fd_write reported 13 bytes written
    (if (i32.ne (i32.load (i32.const 8)) (i32.const 13)) (then unreachable))))"#;

#[test]
fn hello_world_writes_its_bytes_to_stdout() {
    let out = OutputBuffer::new();
    let err = OutputBuffer::new();
    let ctx = WasiCtx::builder()
        .stdout_buffer(&out)
        .stderr_buffer(&err)
        .build();
    assert_eq!(run(HELLO, ctx), Ok(0));
    assert_eq!(out.contents(), b"hello, world\n");
    assert_eq!(err.contents(), b"");
}

/// `proc_exit(STATUS)`, then a write that must never happen.
fn exit_with(status: u32) -> String {
    format!(
        r#"(module
      (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
      (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
      (memory (export "memory") 1)
      (data (i32.const 16) "after exit\n")
      (func (export "_start")
        (call $exit (i32.const {status}))
        (i32.store (i32.const 0) (i32.const 16))
        (i32.store (i32.const 4) (i32.const 11))
        (drop (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))))"#,
        status = status as i32
    )
}

#[test]
fn proc_exit_ends_the_run_with_its_status() {
    for status in [0, 1, 42, 125] {
        let out = OutputBuffer::new();
        let ctx = WasiCtx::builder().stdout_buffer(&out).build();
        assert_eq!(run(&exit_with(status), ctx), Ok(status as i32));
        assert_eq!(out.contents(), b"");
    }

    // The trap itself says what it is.
    let engine = engine();
    let module = Module::new(&engine, &wat::parse_str(exit_with(42)).unwrap()).unwrap();
    let mut linker = Linker::new();
    wasi::add_to_linker(&mut linker, WasiCtx::builder().build());
    let mut store = Store::new(&engine);
    let instance = linker.instantiate(&mut store, &module).unwrap();
    let trap = instance
        .get_func(&store, "_start")
        .unwrap()
        .call(&mut store, &[])
        .unwrap_err();
    assert_eq!(trap.reason, TrapReason::Exit(42));
}

#[test]
fn proc_exit_above_125_is_a_trap_never_a_cut_status() {
    // 256 would be 0 in 8 bits: a failing program must not look successful.
    for status in [126, 255, 256, 512, u32::MAX] {
        let out = OutputBuffer::new();
        let ctx = WasiCtx::builder().stdout_buffer(&out).build();
        let err = run(&exit_with(status), ctx).unwrap_err();
        assert_eq!(
            err,
            format!("wasi: proc_exit({status}): exit status outside WASI's range 0..=125"),
        );
        assert_eq!(out.contents(), b"", "nothing runs after proc_exit");
    }
}

/// Writes `argc argv_buf_size` as two little-endian u32, then the argv
/// buffer, then the same for the environment, all to stdout.
const ARGS_ENV: &str = r#"(module
  (import "wasi_snapshot_preview1" "args_sizes_get" (func $args_sizes (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "args_get" (func $args_get (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "environ_sizes_get" (func $env_sizes (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "environ_get" (func $env_get (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (func $write (param $ptr i32) (param $len i32)
    (i32.store (i32.const 0) (local.get $ptr))
    (i32.store (i32.const 4) (local.get $len))
    (if (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8))
      (then unreachable)))
  (func $check (param i32) (if (local.get 0) (then unreachable)))
  ;; sizes at 64/68, pointers at 1024, strings at 2048
  (func $dump (param $sizes i32) (param $get i32)
    (call $check (call_indirect (param i32 i32) (result i32)
      (i32.const 64) (i32.const 68) (local.get $sizes)))
    (call $write (i32.const 64) (i32.const 8))
    (call $check (call_indirect (param i32 i32) (result i32)
      (i32.const 1024) (i32.const 2048) (local.get $get)))
    ;; the first pointer points at the buffer
    (if (i32.ne (i32.load (i32.const 1024)) (i32.const 2048)) (then unreachable))
    (call $write (i32.const 2048) (i32.load (i32.const 68))))
  (table 4 funcref)
  (elem (i32.const 0) $args_sizes $args_get $env_sizes $env_get)
  (func (export "_start")
    (call $dump (i32.const 0) (i32.const 1))
    (call $dump (i32.const 2) (i32.const 3))))"#;

#[test]
fn args_and_environment_reach_the_program() {
    let out = OutputBuffer::new();
    let ctx = WasiCtx::builder()
        .args(["prog", "a", "", "b c"])
        .env("HOME", "/home/x")
        .env("EMPTY", "")
        .stdout_buffer(&out)
        .build();
    assert_eq!(run(ARGS_ENV, ctx), Ok(0));
    let mut expected = Vec::new();
    expected.extend(4u32.to_le_bytes());
    expected.extend(12u32.to_le_bytes());
    expected.extend(b"prog\0a\0\0b c\0");
    expected.extend(2u32.to_le_bytes());
    expected.extend(20u32.to_le_bytes());
    expected.extend(b"HOME=/home/x\0EMPTY=\0");
    assert_eq!(out.contents(), expected);
}

/// `cat /dir/in.txt`: opens the file through preopen 3, copies it to stdout
/// 5 bytes at a time, and exits with the errno of the first failure.
const CAT: &str = r#"(module
  (import "wasi_snapshot_preview1" "path_open" (func $path_open (param i32 i32 i32 i32 i32 i64 i64 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_read" (func $fd_read (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_close" (func $fd_close (param i32) (result i32)))
  (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
  (memory (export "memory") 1)
  (data (i32.const 100) "in.txt")
  (func $try (param i32) (if (local.get 0) (then (call $exit (local.get 0)))))
  (func (export "_start") (local $fd i32)
    (call $try (call $path_open (i32.const 3) (i32.const 0) (i32.const 100) (i32.const 6)
      (i32.const 0) (i64.const 2) (i64.const 0) (i32.const 0) (i32.const 200)))
    (local.set $fd (i32.load (i32.const 200)))
    (i32.store (i32.const 0) (i32.const 300))
    (i32.store (i32.const 4) (i32.const 5))
    (block $eof (loop $more
      (call $try (call $fd_read (local.get $fd) (i32.const 0) (i32.const 1) (i32.const 8)))
      (br_if $eof (i32.eqz (i32.load (i32.const 8))))
      (i32.store (i32.const 16) (i32.const 300))
      (i32.store (i32.const 20) (i32.load (i32.const 8)))
      (call $try (call $fd_write (i32.const 1) (i32.const 16) (i32.const 1) (i32.const 24)))
      (br $more)))
    (call $try (call $fd_close (local.get $fd)))
    ;; closed: a second close is EBADF (8)
    (call $exit (call $fd_close (local.get $fd)))))"#;

#[test]
fn cat_reads_a_file_under_a_preopen() {
    let dir = scratch("cat");
    std::fs::write(dir.join("in.txt"), b"line one\nline two\n").unwrap();
    let out = OutputBuffer::new();
    let ctx = WasiCtx::builder()
        .preopened_dir(&dir, "/dir")
        .unwrap()
        .stdout_buffer(&out)
        .build();
    assert_eq!(run(CAT, ctx), Ok(EBADF));
    assert_eq!(out.contents(), b"line one\nline two\n");

    // No such file: the program exits with ENOENT.
    std::fs::remove_file(dir.join("in.txt")).unwrap();
    let ctx = WasiCtx::builder()
        .preopened_dir(&dir, "/dir")
        .unwrap()
        .build();
    assert_eq!(run(CAT, ctx), Ok(ENOENT));
}

#[test]
fn preopens_are_listed_from_fd_3_and_then_ebadf() {
    let (mut s, _dir) = shim_with_dir("prestat");
    assert_eq!(s.call("fd_prestat_get", &[I(3), I(OUT as i32)]), ESUCCESS);
    assert_eq!(s.read(OUT, 8), [0, 0, 0, 0, 8, 0, 0, 0]);
    assert_eq!(
        s.call("fd_prestat_dir_name", &[I(3), I(BUF as i32), I(8)]),
        ESUCCESS
    );
    assert_eq!(s.read(BUF, 8), b"/sandbox");
    // Too short a buffer.
    assert_eq!(
        s.call("fd_prestat_dir_name", &[I(3), I(BUF as i32), I(7)]),
        37
    );
    // wasi-libc stops its preopen scan at the first EBADF.
    assert_eq!(s.call("fd_prestat_get", &[I(4), I(OUT as i32)]), EBADF);
    // stdio is no preopen.
    assert_eq!(s.call("fd_prestat_get", &[I(1), I(OUT as i32)]), EBADF);

    // fdstat of the preopen: a directory with directory rights and
    // everything inheritable.
    assert_eq!(s.call("fd_fdstat_get", &[I(3), I(OUT as i32)]), ESUCCESS);
    let st = s.read(OUT, 24);
    assert_eq!(st[0], FILETYPE_DIRECTORY);
    let base = s.u64(OUT + 8);
    let inheriting = s.u64(OUT + 16);
    assert_ne!(base & (1 << 13), 0, "path_open right");
    assert_ne!(base & (1 << 14), 0, "fd_readdir right");
    assert_eq!(inheriting, RIGHTS_ALL as u64 & !((1 << 28) | (1 << 29)));
}

#[test]
fn files_are_created_written_read_sought_and_listed() {
    let (mut s, dir) = shim_with_dir("files");
    let fd = s
        .open(3, 0, "data.txt", OFLAGS_CREAT | OFLAGS_TRUNC, RIGHTS_ALL)
        .unwrap();
    assert_eq!(fd, 4, "the lowest free descriptor");
    assert_eq!(s.write_fd(fd, b"hello, file"), (ESUCCESS, 11));
    assert_eq!(std::fs::read(dir.join("data.txt")).unwrap(), b"hello, file");

    // tell, seek back, read.
    assert_eq!(s.call("fd_tell", &[I(fd), I(OUT as i32)]), ESUCCESS);
    assert_eq!(s.u64(OUT), 11);
    assert_eq!(
        s.call("fd_seek", &[I(fd), L(7), I(0), I(OUT as i32)]),
        ESUCCESS
    );
    assert_eq!(s.u64(OUT), 7);
    assert_eq!(s.read_fd(fd, 100), (ESUCCESS, b"file".to_vec()));
    assert_eq!(s.read_fd(fd, 100), (ESUCCESS, Vec::new()), "end of file");
    assert_eq!(
        s.call("fd_seek", &[I(fd), L(-4), I(2), I(OUT as i32)]),
        ESUCCESS
    );
    assert_eq!(s.u64(OUT), 7);
    // Before the start; an unknown whence.
    assert_eq!(
        s.call("fd_seek", &[I(fd), L(-100), I(1), I(OUT as i32)]),
        EINVAL
    );
    assert_eq!(
        s.call("fd_seek", &[I(fd), L(0), I(3), I(OUT as i32)]),
        EINVAL
    );

    // Two iovecs are filled in order.
    s.call("fd_seek", &[I(fd), L(0), I(0), I(OUT as i32)]);
    s.write(IOV, &BUF.to_le_bytes());
    s.write(IOV + 4, &5u32.to_le_bytes());
    s.write(IOV + 8, &(BUF + 100).to_le_bytes());
    s.write(IOV + 12, &100u32.to_le_bytes());
    assert_eq!(
        s.call("fd_read", &[I(fd), I(IOV as i32), I(2), I(OUT as i32)]),
        ESUCCESS
    );
    assert_eq!(s.u32(OUT), 11);
    assert_eq!(s.read(BUF, 5), b"hello");
    assert_eq!(s.read(BUF + 100, 6), b", file");

    // pread / pwrite do not move the position.
    s.write(BUF, b"HELLO");
    s.write(IOV, &BUF.to_le_bytes());
    s.write(IOV + 4, &5u32.to_le_bytes());
    assert_eq!(
        s.call(
            "fd_pwrite",
            &[I(fd), I(IOV as i32), I(1), L(0), I(OUT as i32)]
        ),
        ESUCCESS
    );
    assert_eq!(s.u32(OUT), 5);
    s.write(IOV + 4, &3u32.to_le_bytes());
    assert_eq!(
        s.call(
            "fd_pread",
            &[I(fd), I(IOV as i32), I(1), L(8), I(OUT as i32)]
        ),
        ESUCCESS
    );
    assert_eq!((s.u32(OUT), s.read(BUF, 3)), (3, b"ile".to_vec()));
    assert_eq!(s.call("fd_tell", &[I(fd), I(OUT as i32)]), ESUCCESS);
    assert_eq!(s.u64(OUT), 11);
    assert_eq!(std::fs::read(dir.join("data.txt")).unwrap(), b"HELLO, file");

    // filestat: size and type; set_size truncates.
    assert_eq!(s.call("fd_filestat_get", &[I(fd), I(OUT as i32)]), ESUCCESS);
    assert_eq!(s.read(OUT + 16, 1), [FILETYPE_REGULAR_FILE]);
    assert_eq!(s.u64(OUT + 24), 1, "nlink");
    assert_eq!(s.u64(OUT + 32), 11, "size");
    assert_eq!(s.call("fd_filestat_set_size", &[I(fd), L(5)]), ESUCCESS);
    assert_eq!(std::fs::read(dir.join("data.txt")).unwrap(), b"HELLO");
    // set_times: 1 s and 2 s after the epoch.
    assert_eq!(
        s.call(
            "fd_filestat_set_times",
            &[I(fd), L(1_000_000_000), L(2_000_000_000), I(1 | 4)]
        ),
        ESUCCESS
    );
    assert_eq!(s.call("fd_filestat_get", &[I(fd), I(OUT as i32)]), ESUCCESS);
    assert_eq!(
        (s.u64(OUT + 40), s.u64(OUT + 48)),
        (1_000_000_000, 2_000_000_000)
    );
    // atim and atim_now together.
    assert_eq!(
        s.call("fd_filestat_set_times", &[I(fd), L(0), L(0), I(1 | 2)]),
        EINVAL
    );
    assert_eq!(s.call("fd_close", &[I(fd)]), ESUCCESS);
    assert_eq!(s.call("fd_close", &[I(fd)]), EBADF);

    // Exclusive create of an existing file; opening a missing one.
    assert_eq!(
        s.open(3, 0, "data.txt", OFLAGS_CREAT | OFLAGS_EXCL, RIGHTS_ALL),
        Err(EEXIST)
    );
    assert_eq!(s.open(3, 0, "missing", 0, RIGHTS_ALL), Err(ENOENT));
    assert_eq!(
        s.open(3, 0, "data.txt", OFLAGS_DIRECTORY, RIGHTS_READ_ONLY),
        Err(ENOTDIR)
    );

    // A read-only descriptor cannot write.
    let ro = s.open(3, 0, "data.txt", 0, RIGHTS_READ_ONLY).unwrap();
    assert_eq!(s.write_fd(ro, b"x").0, EBADF);
    assert_eq!(s.call("fd_fdstat_get", &[I(ro), I(OUT as i32)]), ESUCCESS);
    assert_eq!(s.read(OUT, 1)[0], FILETYPE_REGULAR_FILE);
    assert_eq!(
        s.u64(OUT + 8) & ((1 << 1) | (1 << 6)),
        1 << 1,
        "fd_read, no fd_write"
    );
    assert_eq!(s.call("fd_close", &[I(ro)]), ESUCCESS);

    // Directories: create, list, stat, remove.
    assert_eq!(s.path_call("path_create_directory", 3, "sub"), ESUCCESS);
    assert_eq!(s.path_call("path_create_directory", 3, "sub"), EEXIST);
    std::fs::write(dir.join("sub/inner"), b"x").unwrap();
    let listing = s.readdir(3, 4096);
    let mut names: Vec<(String, u8)> = listing.iter().map(|(_, n, t)| (n.clone(), *t)).collect();
    assert_eq!(
        &names[..2],
        [
            (".".to_string(), FILETYPE_DIRECTORY),
            ("..".to_string(), FILETYPE_DIRECTORY)
        ]
    );
    names.sort();
    assert_eq!(
        names,
        [
            (".".to_string(), FILETYPE_DIRECTORY),
            ("..".to_string(), FILETYPE_DIRECTORY),
            ("data.txt".to_string(), FILETYPE_REGULAR_FILE),
            ("sub".to_string(), FILETYPE_DIRECTORY),
        ]
    );
    // d_next is the cookie of the following entry: 1, 2, 3, 4.
    let cookies: Vec<u64> = listing.iter().map(|(c, _, _)| *c).collect();
    assert_eq!(cookies, [1, 2, 3, 4]);
    // A buffer that holds one entry at a time gives the same listing.
    assert_eq!(s.readdir(3, 40), listing);
    // A cookie past the end gives nothing.
    assert_eq!(
        s.call(
            "fd_readdir",
            &[I(3), I(BUF as i32), I(100), L(99), I(OUT as i32)]
        ),
        ESUCCESS
    );
    assert_eq!(s.u32(OUT), 0);

    let (e, st) = s.stat(3, 0, "sub");
    assert_eq!((e, st[16]), (ESUCCESS, FILETYPE_DIRECTORY));
    assert_eq!(s.path_call("path_remove_directory", 3, "sub"), ENOTEMPTY);
    assert_eq!(s.path_call("path_unlink_file", 3, "sub/inner"), ESUCCESS);
    assert_eq!(s.path_call("path_unlink_file", 3, "sub"), EISDIR);
    assert_eq!(s.path_call("path_remove_directory", 3, "sub"), ESUCCESS);
    assert_eq!(s.stat(3, 0, "sub").0, ENOENT);
    // A directory opened with path_open lists too, and is not a file.
    s.path_call("path_create_directory", 3, "d");
    let d = s
        .open(3, 0, "d", OFLAGS_DIRECTORY, RIGHTS_READ_ONLY)
        .unwrap();
    assert_eq!(s.readdir(d, 4096).len(), 2);
    assert_eq!(s.read_fd(d, 10).0, EISDIR);
    assert_eq!(s.call("fd_prestat_get", &[I(d), I(OUT as i32)]), EBADF);

    // Rename and links.
    let [p, l] = s.path_at(PATH, "data.txt");
    let [q, m] = s.path_at(PATH2, "d/moved.txt");
    assert_eq!(s.call("path_rename", &[I(3), p, l, I(3), q, m]), ESUCCESS);
    assert!(dir.join("d/moved.txt").exists() && !dir.join("data.txt").exists());
    let [p, l] = s.path_at(PATH, "d/moved.txt");
    let [q, m] = s.path_at(PATH2, "hard.txt");
    assert_eq!(
        s.call("path_link", &[I(3), I(0), p, l, I(3), q, m]),
        ESUCCESS
    );
    assert_eq!(s.stat(3, 0, "hard.txt").1[24], 2, "nlink after link");
    let [p, l] = s.path_at(PATH, "d/moved.txt");
    let [q, m] = s.path_at(PATH2, "soft");
    assert_eq!(s.call("path_symlink", &[p, l, I(3), q, m]), ESUCCESS);
    assert_eq!(s.stat(3, 0, "soft").1[16], FILETYPE_SYMBOLIC_LINK);
    assert_eq!(
        s.stat(3, LOOKUP_SYMLINK_FOLLOW, "soft").1[16],
        FILETYPE_REGULAR_FILE
    );
    let [p, l] = s.path_at(PATH, "soft");
    assert_eq!(
        s.call(
            "path_readlink",
            &[I(3), p, l, I(BUF as i32), I(100), I(OUT as i32)]
        ),
        ESUCCESS
    );
    assert_eq!(s.read(BUF, s.u32(OUT) as usize), b"d/moved.txt");
    // Opening a symlink without following it.
    assert_eq!(s.open(3, 0, "soft", 0, RIGHTS_READ_ONLY), Err(ELOOP));
    let f = s
        .open(3, LOOKUP_SYMLINK_FOLLOW, "soft", 0, RIGHTS_READ_ONLY)
        .unwrap();
    assert_eq!(s.read_fd(f, 100), (ESUCCESS, b"HELLO".to_vec()));

    // fd_renumber moves a descriptor over another.
    assert_eq!(s.call("fd_renumber", &[I(f), I(d)]), ESUCCESS);
    assert_eq!(
        s.call("fd_seek", &[I(d), L(1), I(0), I(OUT as i32)]),
        ESUCCESS
    );
    assert_eq!(s.read_fd(d, 100), (ESUCCESS, b"ELLO".to_vec()));
    assert_eq!(s.call("fd_close", &[I(f)]), EBADF);
    assert_eq!(s.call("fd_renumber", &[I(d), I(77)]), EBADF);
}

#[test]
fn paths_cannot_leave_their_preopen() {
    let root = scratch("escape");
    let dir = root.join("jail");
    std::fs::create_dir_all(dir.join("sub")).unwrap();
    std::fs::write(root.join("secret"), b"outside").unwrap();
    std::fs::write(dir.join("inside"), b"inside").unwrap();
    std::os::unix::fs::symlink("../secret", dir.join("up")).unwrap();
    std::os::unix::fs::symlink(root.join("secret"), dir.join("abs")).unwrap();
    std::os::unix::fs::symlink("..", dir.join("sub/parent")).unwrap();
    std::os::unix::fs::symlink("loop", dir.join("loop")).unwrap();
    let ctx = WasiCtx::builder()
        .preopened_dir(&dir, "/jail")
        .unwrap()
        .build();
    let mut s = Shim::new(ctx);

    for path in [
        "../secret",
        "sub/../../secret",
        "/etc/passwd",
        "..",
        "sub/../..",
    ] {
        assert_eq!(
            s.open(3, 0, path, 0, RIGHTS_READ_ONLY),
            Err(ENOTCAPABLE),
            "{path}"
        );
        assert_eq!(s.stat(3, 0, path).0, ENOTCAPABLE, "{path}");
    }
    // Symlinks whose targets leave, when followed.
    for path in ["up", "abs", "sub/parent/up", "sub/parent/../secret"] {
        assert_eq!(
            s.open(3, LOOKUP_SYMLINK_FOLLOW, path, 0, RIGHTS_READ_ONLY),
            Err(ENOTCAPABLE),
            "{path}"
        );
    }
    // Not following the last one, the link itself is fine to look at.
    assert_eq!(s.stat(3, 0, "up").1[16], FILETYPE_SYMBOLIC_LINK);
    assert_eq!(s.stat(3, 0, "abs").1[16], FILETYPE_SYMBOLIC_LINK);
    // A symlink in the middle is always followed.
    assert_eq!(s.stat(3, 0, "sub/parent/inside").0, ESUCCESS);
    assert_eq!(s.stat(3, 0, "sub/parent/sub/parent/inside").0, ESUCCESS);
    assert_eq!(s.open(3, 0, "up/x", 0, RIGHTS_READ_ONLY), Err(ENOTCAPABLE));
    assert_eq!(
        s.open(3, LOOKUP_SYMLINK_FOLLOW, "loop", 0, RIGHTS_READ_ONLY),
        Err(ELOOP)
    );
    // Inside-out-inside is fine.
    let fd = s.open(3, 0, "sub/../inside", 0, RIGHTS_READ_ONLY).unwrap();
    assert_eq!(s.read_fd(fd, 100), (ESUCCESS, b"inside".to_vec()));
    let (e, st) = s.stat(3, 0, ".");
    assert_eq!((e, st[16]), (ESUCCESS, FILETYPE_DIRECTORY));
    // Making things outside fails too, and nothing appears there.
    assert_eq!(
        s.path_call("path_create_directory", 3, "../made"),
        ENOTCAPABLE
    );
    assert_eq!(s.path_call("path_unlink_file", 3, "../secret"), ENOTCAPABLE);
    assert_eq!(
        s.open(3, 0, "sub/../../new", OFLAGS_CREAT, RIGHTS_ALL),
        Err(ENOTCAPABLE)
    );
    assert_eq!(
        s.open(
            3,
            LOOKUP_SYMLINK_FOLLOW,
            "up",
            OFLAGS_CREAT | OFLAGS_TRUNC,
            RIGHTS_ALL
        ),
        Err(ENOTCAPABLE)
    );
    let [p, l] = s.path_at(PATH, "inside");
    let [q, m] = s.path_at(PATH2, "../stolen");
    assert_eq!(
        s.call("path_rename", &[I(3), p, l, I(3), q, m]),
        ENOTCAPABLE
    );
    assert_eq!(
        s.call("path_link", &[I(3), I(0), p, l, I(3), q, m]),
        ENOTCAPABLE
    );
    let [p, l] = s.path_at(PATH, "/etc/passwd");
    let [q, m] = s.path_at(PATH2, "pw");
    assert_eq!(s.call("path_symlink", &[p, l, I(3), q, m]), ENOTCAPABLE);
    assert!(
        !root.join("made").exists() && !root.join("new").exists() && !root.join("stolen").exists()
    );
    assert_eq!(std::fs::read(root.join("secret")).unwrap(), b"outside");
    // Paths on something that is not a directory.
    assert_eq!(s.open(1, 0, "x", 0, RIGHTS_READ_ONLY), Err(ENOTDIR));
    assert_eq!(s.open(9, 0, "x", 0, RIGHTS_READ_ONLY), Err(EBADF));
    assert_eq!(s.open(3, 0, "", 0, RIGHTS_READ_ONLY), Err(ENOENT));
    assert_eq!(s.open(3, 0, "inside/x", 0, RIGHTS_READ_ONLY), Err(ENOTDIR));
}

#[test]
fn bad_guest_pointers_are_efault() {
    let (mut s, _dir) = shim_with_dir("efault");
    let end = 65536;
    // An iovec array past the end, and an iovec whose buffer is.
    assert_eq!(
        s.call("fd_write", &[I(1), I(end - 4), I(1), I(OUT as i32)]),
        EFAULT
    );
    s.write(IOV, &((end - 2) as u32).to_le_bytes());
    s.write(IOV + 4, &4u32.to_le_bytes());
    assert_eq!(
        s.call("fd_write", &[I(1), I(IOV as i32), I(1), I(OUT as i32)]),
        EFAULT
    );
    // A huge count that would wrap in 32 bits.
    assert_eq!(
        s.call(
            "fd_write",
            &[I(1), I(IOV as i32), I(0x2000_0001), I(OUT as i32)]
        ),
        EFAULT
    );
    // Result pointers out of bounds.
    assert_eq!(s.call("args_sizes_get", &[I(-4), I(0)]), EFAULT);
    assert_eq!(s.call("args_get", &[I(end - 2), I(0)]), EFAULT);
    assert_eq!(s.call("clock_time_get", &[I(0), L(0), I(end - 7)]), EFAULT);
    assert_eq!(s.call("fd_fdstat_get", &[I(3), I(-1)]), EFAULT);
    assert_eq!(s.call("random_get", &[I(end - 10), I(11)]), EFAULT);
    // Paths out of bounds.
    assert_eq!(
        s.call(
            "path_open",
            &[I(3), I(0), I(end - 3), I(4), I(0), L(0), L(0), I(0), I(0)]
        ),
        EFAULT
    );
    assert_eq!(
        s.call("path_create_directory", &[I(3), I(-1), I(2)]),
        EFAULT
    );
    // A good path but a bad result pointer creates nothing.
    let [p, l] = s.path_at(PATH, "never");
    assert_eq!(
        s.call(
            "path_open",
            &[
                I(3),
                I(0),
                p,
                l,
                I(OFLAGS_CREAT),
                L(RIGHTS_ALL),
                L(0),
                I(0),
                I(end)
            ]
        ),
        EFAULT
    );
    assert_eq!(s.stat(3, 0, "never").0, ENOENT);
    assert_eq!(
        s.call(
            "fd_readdir",
            &[I(3), I(end - 8), I(100), L(0), I(OUT as i32)]
        ),
        EFAULT
    );
    assert_eq!(
        s.call(
            "poll_oneoff",
            &[I(end - 8), I(OUT as i32), I(1), I(OUT as i32)]
        ),
        EFAULT
    );
}

#[test]
fn stdio_clocks_random_poll_and_sockets() {
    let out = OutputBuffer::new();
    let ctx = WasiCtx::builder()
        .stdin_bytes(b"typed input".to_vec())
        .stdout_buffer(&out)
        .build();
    let mut s = Shim::new(ctx);
    assert_eq!(s.read_fd(0, 5), (ESUCCESS, b"typed".to_vec()));
    assert_eq!(s.read_fd(0, 100), (ESUCCESS, b" input".to_vec()));
    assert_eq!(s.read_fd(0, 100), (ESUCCESS, Vec::new()));
    assert_eq!(s.write_fd(1, b"out"), (ESUCCESS, 3));
    assert_eq!(s.write_fd(0, b"x").0, EBADF);
    assert_eq!(out.contents(), b"out");
    // Streams cannot seek.
    assert_eq!(s.call("fd_seek", &[I(1), L(0), I(0), I(OUT as i32)]), 70);
    assert_eq!(s.call("fd_fdstat_get", &[I(1), I(OUT as i32)]), ESUCCESS);
    assert_eq!(s.u64(OUT + 8) & (1 << 2), 0, "no fd_seek right on a stream");

    // Clocks.
    let wall = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64;
    assert_eq!(
        s.call("clock_time_get", &[I(0), L(1), I(OUT as i32)]),
        ESUCCESS
    );
    let t = s.u64(OUT);
    assert!(t.abs_diff(wall) < 60_000_000_000, "realtime {t} vs {wall}");
    assert_eq!(
        s.call("clock_time_get", &[I(1), L(1), I(OUT as i32)]),
        ESUCCESS
    );
    let m1 = s.u64(OUT);
    assert_eq!(
        s.call("clock_time_get", &[I(1), L(1), I(OUT as i32)]),
        ESUCCESS
    );
    assert!(s.u64(OUT) >= m1);
    for id in 0..4 {
        assert_eq!(s.call("clock_res_get", &[I(id), I(OUT as i32)]), ESUCCESS);
        assert!(s.u64(OUT) > 0);
        assert_eq!(
            s.call("clock_time_get", &[I(id), L(0), I(OUT as i32)]),
            ESUCCESS
        );
    }
    assert_eq!(
        s.call("clock_time_get", &[I(4), L(0), I(OUT as i32)]),
        EINVAL
    );
    assert_eq!(s.call("clock_res_get", &[I(99), I(OUT as i32)]), EINVAL);

    // Random bytes.
    s.write(BUF, &[0; 64]);
    assert_eq!(s.call("random_get", &[I(BUF as i32), I(64)]), ESUCCESS);
    assert_ne!(s.read(BUF, 64), [0; 64]);

    // poll_oneoff: a 1 ms relative clock fires with its userdata.
    let mut sub = [0u8; 48];
    sub[0..8].copy_from_slice(&0xfeed_u64.to_le_bytes());
    sub[8] = 0; // clock
    sub[16..20].copy_from_slice(&1u32.to_le_bytes()); // monotonic
    sub[24..32].copy_from_slice(&1_000_000u64.to_le_bytes());
    s.write(BUF, &sub);
    assert_eq!(
        s.call(
            "poll_oneoff",
            &[I(BUF as i32), I(OUT as i32), I(1), I(IOV as i32)]
        ),
        ESUCCESS
    );
    assert_eq!(s.u32(IOV), 1);
    assert_eq!(s.u64(OUT), 0xfeed);
    assert_eq!(s.read(OUT + 8, 3), [0, 0, 0]);
    // A clock far away and an fd read: the fd is ready at once, alone.
    sub[24..32].copy_from_slice(&3_600_000_000_000u64.to_le_bytes());
    let mut fdsub = [0u8; 48];
    fdsub[0..8].copy_from_slice(&7u64.to_le_bytes());
    fdsub[8] = 1; // fd_read
    fdsub[16..20].copy_from_slice(&0u32.to_le_bytes());
    s.write(BUF, &sub);
    s.write(BUF + 48, &fdsub);
    assert_eq!(
        s.call(
            "poll_oneoff",
            &[I(BUF as i32), I(OUT as i32), I(2), I(IOV as i32)]
        ),
        ESUCCESS
    );
    assert_eq!(s.u32(IOV), 1);
    assert_eq!(s.u64(OUT), 7);
    assert_eq!(s.read(OUT + 8, 3), [0, 0, 1]);
    assert_eq!(
        s.call(
            "poll_oneoff",
            &[I(BUF as i32), I(OUT as i32), I(0), I(IOV as i32)]
        ),
        EINVAL
    );

    // Sockets are not there; sched_yield and proc_raise(0) are no-ops.
    assert_eq!(s.call("sock_accept", &[I(3), I(0), I(OUT as i32)]), ENOSYS);
    assert_eq!(
        s.call("sock_recv", &[I(3), I(0), I(0), I(0), I(0), I(0)]),
        ENOSYS
    );
    assert_eq!(s.call("sock_send", &[I(3), I(0), I(0), I(0), I(0)]), ENOSYS);
    assert_eq!(s.call("sock_shutdown", &[I(3), I(0)]), ENOSYS);
    assert_eq!(s.call("sched_yield", &[]), ESUCCESS);
    assert_eq!(s.call("proc_raise", &[I(0)]), ESUCCESS);
    let raise = s.instance.get_func(&s.store, "proc_raise").unwrap();
    let trap = raise.call(&mut s.store, &[Val::I32(6)]).unwrap_err();
    assert!(trap.to_string().contains("proc_raise"), "{trap}");
}

#[test]
fn inherited_stdio_is_a_stream_without_host_identity() {
    // Under `cargo test` stdout may be a pipe, a file or a terminal; the
    // guest sees a terminal as a character device, anything else as a
    // stream of unknown type, and never seek rights, a device, an inode,
    // a size or times.
    let s = &mut Shim::new(WasiCtx::builder().inherit_stdio().build());
    assert_eq!(s.call("fd_fdstat_get", &[I(1), I(OUT as i32)]), ESUCCESS);
    let ty = s.read(OUT, 1)[0];
    let expected = if std::io::IsTerminal::is_terminal(&std::io::stdout()) {
        FILETYPE_CHARACTER_DEVICE
    } else {
        0
    };
    assert_eq!(ty, expected);
    assert_eq!(s.u64(OUT + 8), RIGHT_FD_WRITE);
    assert_eq!(s.call("fd_filestat_get", &[I(1), I(OUT as i32)]), ESUCCESS);
    let mut st = vec![0u8; 64];
    st[16] = ty;
    assert_eq!(s.read(OUT, 64), st);
    assert_eq!(
        s.call("fd_seek", &[I(1), L(0), I(0), I(OUT as i32)]),
        ESPIPE
    );
    assert_eq!(
        s.call("fd_filestat_set_times", &[I(1), L(0), L(0), I(1 | 4)]),
        EBADF
    );
    assert_eq!(s.read_fd(1, 1).0, EBADF);
}

const RIGHT_FD_READ: u64 = 1 << 1;
const RIGHT_FD_WRITE: u64 = 1 << 6;

#[test]
fn stdio_are_one_way_streams() {
    let out = OutputBuffer::new();
    let err = OutputBuffer::new();
    let ctx = WasiCtx::builder()
        .stdin_bytes(b"input".to_vec())
        .stdout_buffer(&out)
        .stderr_buffer(&err)
        .build();
    let mut s = Shim::new(ctx);
    // What fd_fdstat_get says: a stream that reads, two that write.
    for (fd, rights) in [(0, RIGHT_FD_READ), (1, RIGHT_FD_WRITE), (2, RIGHT_FD_WRITE)] {
        assert_eq!(s.call("fd_fdstat_get", &[I(fd), I(OUT as i32)]), ESUCCESS);
        assert_eq!(s.read(OUT, 1)[0], 0, "fd {fd}: filetype unknown");
        assert_eq!(
            (s.u64(OUT + 8), s.u64(OUT + 16)),
            (rights, 0),
            "fd {fd}: rights"
        );
        assert_eq!(s.call("fd_filestat_get", &[I(fd), I(OUT as i32)]), ESUCCESS);
        assert_eq!(
            s.read(OUT, 64),
            [0; 64],
            "fd {fd}: no identity, size or times"
        );
        // No position.
        assert_eq!(
            s.call("fd_seek", &[I(fd), L(0), I(0), I(OUT as i32)]),
            ESPIPE
        );
        assert_eq!(s.call("fd_tell", &[I(fd), I(OUT as i32)]), ESPIPE);
        // Nothing that acts on the host object behind it.
        for (f, args) in [
            ("fd_filestat_set_times", vec![I(fd), L(0), L(0), I(1 | 4)]),
            ("fd_filestat_set_size", vec![I(fd), L(0)]),
            ("fd_advise", vec![I(fd), L(0), L(0), I(0)]),
            ("fd_allocate", vec![I(fd), L(0), L(1)]),
            ("fd_sync", vec![I(fd)]),
            ("fd_datasync", vec![I(fd)]),
            ("fd_fdstat_set_flags", vec![I(fd), I(4)]),
        ] {
            assert_eq!(s.call(f, &args), EBADF, "{f}({fd})");
        }
        assert_eq!(
            s.call(
                "fd_readdir",
                &[I(fd), I(BUF as i32), I(64), L(0), I(OUT as i32)]
            ),
            ENOTDIR
        );
    }
    // One way only.
    assert_eq!(s.read_fd(1, 4).0, EBADF);
    assert_eq!(s.read_fd(2, 4).0, EBADF);
    assert_eq!(s.write_fd(0, b"x").0, EBADF);
    assert_eq!(s.read_fd(0, 5), (ESUCCESS, b"input".to_vec()));
    assert_eq!(s.write_fd(1, b"out"), (ESUCCESS, 3));
    assert_eq!(s.write_fd(2, b"err"), (ESUCCESS, 3));
    // At an offset: the right direction has no position (ESPIPE), the
    // wrong one is not open for it (EBADF).
    s.write(IOV, &BUF.to_le_bytes());
    s.write(IOV + 4, &1u32.to_le_bytes());
    let at = |f: &str, fd: i32, s: &mut Shim| {
        s.call(f, &[I(fd), I(IOV as i32), I(1), L(0), I(OUT as i32)])
    };
    assert_eq!(at("fd_pread", 0, &mut s), ESPIPE);
    assert_eq!(at("fd_pread", 1, &mut s), EBADF);
    assert_eq!(at("fd_pwrite", 1, &mut s), ESPIPE);
    assert_eq!(at("fd_pwrite", 0, &mut s), EBADF);
    assert_eq!(
        (out.contents(), err.contents()),
        (b"out".to_vec(), b"err".to_vec())
    );

    // poll_oneoff: reading stdout or writing stdin is EBADF for the call.
    for (fd, tag) in [(1u32, 1u8), (0, 2)] {
        let mut sub = [0u8; 48];
        sub[8] = tag;
        sub[16..20].copy_from_slice(&fd.to_le_bytes());
        s.write(BUF, &sub);
        assert_eq!(
            s.call(
                "poll_oneoff",
                &[I(BUF as i32), I(OUT as i32), I(1), I(IOV as i32)]
            ),
            EBADF
        );
    }

    // Closing stdin frees number 0 for the next open.
    assert_eq!(s.call("fd_close", &[I(0)]), ESUCCESS);
    assert_eq!(s.read_fd(0, 1).0, EBADF);
}

#[test]
fn a_closed_stdio_number_is_ebadf_and_preopens_still_start_at_3() {
    let dir = scratch("closed-stdio");
    let ctx = WasiCtx::builder()
        .close_stdin()
        .close_stdout()
        .preopened_dir(&dir, "/d")
        .unwrap()
        .build();
    let mut s = Shim::new(ctx);
    assert_eq!(s.read_fd(0, 4).0, EBADF);
    assert_eq!(s.write_fd(1, b"x").0, EBADF);
    assert_eq!(s.call("fd_fdstat_get", &[I(0), I(OUT as i32)]), EBADF);
    assert_eq!(s.call("fd_fdstat_get", &[I(2), I(OUT as i32)]), ESUCCESS);
    assert_eq!(s.call("fd_prestat_get", &[I(3), I(OUT as i32)]), ESUCCESS);
    // POSIX: the lowest free number.
    assert_eq!(s.open(3, 0, "f", OFLAGS_CREAT, RIGHTS_ALL), Ok(0));
}

#[test]
fn paths_must_be_utf8_without_nul() {
    let (mut s, dir) = shim_with_dir("utf8");
    s.write(PATH, b"bad-\xff\xfe");
    for f in ["path_create_directory", "path_unlink_file"] {
        assert_eq!(s.call(f, &[I(3), I(PATH as i32), I(6)]), EILSEQ, "{f}");
    }
    assert_eq!(
        s.call(
            "path_open",
            &[
                I(3),
                I(0),
                I(PATH as i32),
                I(6),
                I(OFLAGS_CREAT),
                L(RIGHTS_ALL),
                L(0),
                I(0),
                I(OUT as i32)
            ]
        ),
        EILSEQ
    );
    s.write(PATH, b"nul\0x");
    assert_eq!(
        s.call("path_create_directory", &[I(3), I(PATH as i32), I(5)]),
        EINVAL
    );
    assert_eq!(
        std::fs::read_dir(&dir).unwrap().count(),
        0,
        "nothing was created"
    );
}

#[test]
fn dangling_links_with_creat_excl_are_eexist_and_readlink_hides_host_paths() {
    let root = scratch("dangling");
    let dir = root.join("jail");
    std::fs::create_dir(&dir).unwrap();
    std::os::unix::fs::symlink("missing", dir.join("inside")).unwrap();
    std::os::unix::fs::symlink("../outside", dir.join("out")).unwrap();
    std::os::unix::fs::symlink("/etc", dir.join("abs")).unwrap();
    let ctx = WasiCtx::builder()
        .preopened_dir(&dir, "/jail")
        .unwrap()
        .build();
    let mut s = Shim::new(ctx);
    // O_CREAT | O_EXCL never follows the link, wherever it points: EEXIST.
    for path in ["inside", "out", "abs"] {
        for lookup in [0, LOOKUP_SYMLINK_FOLLOW] {
            assert_eq!(
                s.open(3, lookup, path, OFLAGS_CREAT | OFLAGS_EXCL, RIGHTS_ALL),
                Err(EEXIST),
                "{path} {lookup}"
            );
        }
    }
    // O_CREAT alone, following: made where the link points, if that is
    // inside; never outside.
    assert!(
        s.open(3, LOOKUP_SYMLINK_FOLLOW, "inside", OFLAGS_CREAT, RIGHTS_ALL)
            .is_ok()
    );
    assert!(dir.join("missing").is_file());
    assert_eq!(
        s.open(3, LOOKUP_SYMLINK_FOLLOW, "out", OFLAGS_CREAT, RIGHTS_ALL),
        Err(ENOTCAPABLE)
    );
    // Not following, the link is there: ELOOP (Linux's O_NOFOLLOW answer).
    assert_eq!(s.open(3, 0, "out", OFLAGS_CREAT, RIGHTS_ALL), Err(ELOOP));
    assert!(!root.join("outside").exists());

    // readlink: a relative target as written; an absolute one is a host
    // path, refused (as Wasmtime does): the guest cannot follow it, and the
    // host's layout is not its to learn.
    let readlink = |s: &mut Shim, path: &str| {
        let [p, l] = s.path_at(PATH, path);
        let e = s.call(
            "path_readlink",
            &[I(3), p, l, I(BUF as i32), I(64), I(OUT as i32)],
        );
        (e, s.read(BUF, s.u32(OUT) as usize))
    };
    assert_eq!(readlink(&mut s, "out"), (ESUCCESS, b"../outside".to_vec()));
    assert_eq!(readlink(&mut s, "abs").0, ENOTCAPABLE);
    assert_eq!(readlink(&mut s, "missing").0, EINVAL, "not a link");
}

/// Linux's answers for paths that end in `/`, the same through WASI (read
/// off Linux 6.18 with the same calls on the same tree).
#[test]
fn trailing_slashes_follow_linux() {
    let (mut s, dir) = shim_with_dir("slashes");
    std::fs::create_dir(dir.join("d")).unwrap();
    std::fs::write(dir.join("f"), b"file").unwrap();
    std::os::unix::fs::symlink("d", dir.join("ld")).unwrap();
    let two = |s: &mut Shim, f: &str, a: &str, b: &str| {
        let [p, l] = s.path_at(PATH, a);
        let [q, m] = s.path_at(PATH2, b);
        match f {
            "path_rename" => s.call(f, &[I(3), p, l, I(3), q, m]),
            "path_link" => s.call(f, &[I(3), I(0), p, l, I(3), q, m]),
            _ => s.call(f, &[p, l, I(3), q, m]), // path_symlink(target, path)
        }
    };
    assert_eq!(s.path_call("path_remove_directory", 3, "ld/"), ENOTDIR);
    assert_eq!(s.path_call("path_unlink_file", 3, "f/"), ENOTDIR);
    assert_eq!(s.path_call("path_unlink_file", 3, "d/"), EISDIR);
    assert_eq!(s.path_call("path_unlink_file", 3, "d"), EISDIR);
    assert_eq!(two(&mut s, "path_symlink", "t", "new/"), ENOENT);
    assert_eq!(two(&mut s, "path_symlink", "t", "f/"), EEXIST);
    assert_eq!(two(&mut s, "path_rename", "f", "g/"), ENOTDIR);
    assert_eq!(two(&mut s, "path_rename", "f/", "g"), ENOTDIR);
    assert_eq!(two(&mut s, "path_rename", "ld/", "g"), ENOTDIR);
    assert_eq!(two(&mut s, "path_link", "f", "new/"), ENOENT);
    assert_eq!(two(&mut s, "path_link", "f/", "new"), ENOTDIR);
    assert_eq!(s.open(3, 0, "x/", OFLAGS_CREAT, RIGHTS_ALL), Err(EISDIR));
    assert_eq!(s.open(3, 0, "d/", OFLAGS_CREAT, RIGHTS_ALL), Err(EISDIR));
    assert_eq!(s.open(3, 0, "f/", 0, RIGHTS_READ_ONLY), Err(ENOTDIR));
    assert_eq!(
        s.open(3, 0, "nd", OFLAGS_CREAT | OFLAGS_DIRECTORY, RIGHTS_ALL),
        Err(EINVAL)
    );
    assert_eq!(s.stat(3, 0, "f/").0, ENOTDIR);
    let (e, st) = s.stat(3, 0, "ld/");
    assert_eq!(
        (e, st[16]),
        (ESUCCESS, FILETYPE_DIRECTORY),
        "a trailing / follows"
    );
    assert_eq!(s.stat(3, 0, "ld").1[16], FILETYPE_SYMBOLIC_LINK);
    assert_eq!(s.path_call("path_create_directory", 3, "ld/"), EEXIST);
    assert_eq!(s.path_call("path_create_directory", 3, "new2/"), ESUCCESS);
    assert!(dir.join("new2").is_dir());
    // The directory through a link and a trailing slash, with write rights
    // asked for: it opens (for reading), and is the right one.
    std::fs::write(dir.join("d/in-d"), b"").unwrap();
    let fd = s.open(3, 0, "ld/", OFLAGS_DIRECTORY, RIGHTS_ALL).unwrap();
    assert_eq!(s.stat(fd, 0, "in-d").0, ESUCCESS);
    // Without O_DIRECTORY, a directory opened for writing is EISDIR.
    assert_eq!(s.open(3, 0, "d", 0, RIGHTS_ALL), Err(EISDIR));
    assert_eq!(std::fs::read(dir.join("f")).unwrap(), b"file");
}

#[test]
fn poll_and_clocks_answer_bad_ids_and_fds_as_wasmtime() {
    let (mut s, _dir) = shim_with_dir("poll-errors");
    let poll = |s: &mut Shim, sub: [u8; 48]| {
        s.write(BUF, &sub);
        s.call(
            "poll_oneoff",
            &[I(BUF as i32), I(OUT as i32), I(1), I(IOV as i32)],
        )
    };
    let clock_sub = |id: u32| {
        let mut sub = [0u8; 48];
        sub[16..20].copy_from_slice(&id.to_le_bytes());
        sub
    };
    let fd_sub = |fd: u32| {
        let mut sub = [0u8; 48];
        sub[8] = 1; // fd_read
        sub[16..20].copy_from_slice(&fd.to_le_bytes());
        sub
    };
    assert_eq!(poll(&mut s, clock_sub(1)), ESUCCESS);
    // CPU time does not pass while the call sleeps; unknown ids are unknown.
    for id in [2, 3, 4, 99] {
        assert_eq!(poll(&mut s, clock_sub(id)), EINVAL, "clock {id}");
    }
    assert_eq!(poll(&mut s, fd_sub(9)), EBADF, "no such fd");
    assert_eq!(poll(&mut s, fd_sub(3)), EBADF, "a directory");
    let mut bad_tag = clock_sub(1);
    bad_tag[8] = 3;
    assert_eq!(poll(&mut s, bad_tag), EINVAL);
    for id in [4, 99, u32::MAX] {
        assert_eq!(
            s.call("clock_time_get", &[I(id as i32), L(0), I(OUT as i32)]),
            EINVAL
        );
        assert_eq!(
            s.call("clock_res_get", &[I(id as i32), I(OUT as i32)]),
            EINVAL
        );
    }
}

#[test]
fn dot_dot_of_a_preopen_shows_no_inode_from_outside() {
    let (mut s, dir) = shim_with_dir("dotdot-ino");
    std::fs::write(dir.join("f"), b"").unwrap();
    let e = s.call(
        "fd_readdir",
        &[I(3), I(BUF as i32), I(4096), L(0), I(OUT as i32)],
    );
    assert_eq!(e, ESUCCESS);
    let data = s.read(BUF, s.u32(OUT) as usize);
    // ".", then "..": 24-byte headers, d_ino at 8.
    let ino = |at: usize| u64::from_le_bytes(data[at + 8..at + 16].try_into().unwrap());
    assert_eq!(&data[24..25], b".");
    assert_eq!(&data[24 + 1 + 24..24 + 1 + 24 + 2], b"..");
    let own = std::os::unix::fs::MetadataExt::ino(&std::fs::metadata(&dir).unwrap());
    assert_eq!((ino(0), ino(25)), (own, own));
}
