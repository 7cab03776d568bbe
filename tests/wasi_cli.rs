//! `rung run` on WASI commands: argv (hyphens included), `--env`, `--dir`,
//! `--argv0`, the exit status of `proc_exit`, traps, and `--invoke` on a
//! WASI module.

use std::path::PathBuf;
use std::process::Command;

fn rung(args: &[&str]) -> (i32, Vec<u8>, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_rung"))
        .args(args)
        .output()
        .expect("run rung");
    (
        out.status.code().unwrap_or(-1),
        out.stdout,
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn scratch(name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join("wasi-cli")
        .join(format!("{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Prints its argv, then its environment, one string a line, then the
/// first 64 bytes of `/data/in.txt` if the preopen is there; exits with
/// argc.
const ECHO: &str = r#"(module
  (import "wasi_snapshot_preview1" "args_sizes_get" (func $args_sizes (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "args_get" (func $args_get (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "environ_sizes_get" (func $env_sizes (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "environ_get" (func $env_get (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_read" (func $fd_read (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "path_open" (func $path_open (param i32 i32 i32 i32 i32 i64 i64 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
  (memory (export "memory") 1)
  (data (i32.const 200) "in.txt")
  (func $print_lines (param $buf i32) (param $len i32) (local $i i32)
    ;; NULs become newlines
    (block $done (loop $next
      (br_if $done (i32.ge_u (local.get $i) (local.get $len)))
      (if (i32.eqz (i32.load8_u (i32.add (local.get $buf) (local.get $i))))
        (then (i32.store8 (i32.add (local.get $buf) (local.get $i)) (i32.const 10))))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br $next)))
    (i32.store (i32.const 0) (local.get $buf))
    (i32.store (i32.const 4) (local.get $len))
    (drop (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8))))
  (func (export "_start")
    (drop (call $args_sizes (i32.const 16) (i32.const 20)))
    (drop (call $args_get (i32.const 1024) (i32.const 4096)))
    (call $print_lines (i32.const 4096) (i32.load (i32.const 20)))
    (drop (call $env_sizes (i32.const 24) (i32.const 28)))
    (drop (call $env_get (i32.const 1024) (i32.const 8192)))
    (call $print_lines (i32.const 8192) (i32.load (i32.const 28)))
    (if (i32.eqz (call $path_open (i32.const 3) (i32.const 0) (i32.const 200) (i32.const 6)
          (i32.const 0) (i64.const 2) (i64.const 0) (i32.const 0) (i32.const 32)))
      (then
        (i32.store (i32.const 0) (i32.const 12288))
        (i32.store (i32.const 4) (i32.const 64))
        (drop (call $fd_read (i32.load (i32.const 32)) (i32.const 0) (i32.const 1) (i32.const 8)))
        (i32.store (i32.const 4) (i32.load (i32.const 8)))
        (drop (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))))
    (call $exit (i32.load (i32.const 16))))
  (func (export "twice") (param i32) (result i32) (i32.mul (local.get 0) (i32.const 2))))"#;

#[test]
fn run_passes_argv_env_and_preopens_and_exits_with_the_status() {
    let dir = scratch("echo");
    let wat = dir.join("echo.wat");
    std::fs::write(&wat, ECHO).unwrap();
    let data = dir.join("data");
    std::fs::create_dir(&data).unwrap();
    std::fs::write(data.join("in.txt"), b"from the preopen\n").unwrap();
    let wat = wat.to_str().unwrap();
    let dir_arg = format!("{}::/data", data.display());

    // ARGS after FILE, hyphens and all, are argv[1..]; argv[0] is FILE.
    let (code, out, err) = rung(&[
        "run", "--env", "A=1", "--env", "B=x=y", "--dir", &dir_arg, wat, "-quiet", "--lazy", "x",
    ]);
    assert_eq!(err, "");
    assert_eq!(code, 4, "exit status = argc");
    let expected = format!("{wat}\n-quiet\n--lazy\nx\nA=1\nB=x=y\nfrom the preopen\n");
    assert_eq!(String::from_utf8(out).unwrap(), expected);

    // `--` separates ARGS too; --argv0 names the program; no preopen, no file.
    let (code, out, _) = rung(&["run", "--argv0", "echo", wat, "--", "--dir"]);
    assert_eq!(code, 2);
    assert_eq!(out, b"echo\n--dir\n");

    // A missing preopen directory is the command's error.
    let (code, _, err) = rung(&["run", "--dir", "/no/such/dir", wat]);
    assert_eq!(code, 1);
    assert!(err.starts_with("rung: --dir /no/such/dir"), "{err}");
    // `--env NAME` passes the host's value, and nothing when it has none.
    let path = std::env::var("PATH").expect("PATH is set");
    let (code, out, err) = rung(&[
        "run",
        "--env",
        "PATH",
        "--env",
        "RUNG_TEST_VARIABLE_NOBODY_SETS",
        wat,
    ]);
    assert_eq!((code, err.as_str()), (1, ""), "exit status = argc");
    assert_eq!(
        String::from_utf8(out).unwrap(),
        format!("{wat}\nPATH={path}\n")
    );

    // --invoke still calls an export with typed arguments.
    let (code, out, _) = rung(&["run", wat, "--invoke", "twice", "21"]);
    assert_eq!((code, out.as_slice()), (0, b"42\n".as_slice()));
}

#[test]
fn a_trap_in_a_wasi_command_is_exit_status_1() {
    let dir = scratch("trap");
    let wat = dir.join("trap.wat");
    std::fs::write(
        &wat,
        r#"(module
          (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
          (memory (export "memory") 1)
          (data (i32.const 16) "before\n")
          (func (export "_start")
            (i32.store (i32.const 0) (i32.const 16))
            (i32.store (i32.const 4) (i32.const 7))
            (drop (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))
            unreachable))"#,
    )
    .unwrap();
    let (code, out, err) = rung(&["run", wat.to_str().unwrap()]);
    assert_eq!(code, 1);
    assert_eq!(out, b"before\n");
    assert!(err.starts_with("rung: trap: unreachable"), "{err}");
}

/// Probes what a guest can do with its stdio, and reports each errno as two
/// digits and a space on stderr, in this order: write to stdin, seek
/// stdout, read stdout, set stdout's times, get stdout's filestat (then
/// `00` if its device and inode are zero, `99` if not), read stdin (then
/// the bytes read, on stdout, after `B\n`).
const STDIO_PROBE: &str = r#"(module
  (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_read" (func $fd_read (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_seek" (func $fd_seek (param i32 i64 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_filestat_get" (func $filestat (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_filestat_set_times" (func $set_times (param i32 i64 i64 i32) (result i32)))
  (memory (export "memory") 1)
  (global $at (mut i32) (i32.const 0x800))
  (data (i32.const 0x100) "X")
  (data (i32.const 0x110) "B\n")
  (func $report (param $e i32)
    (i32.store8 (global.get $at) (i32.add (i32.const 48) (i32.div_u (local.get $e) (i32.const 10))))
    (i32.store8 (i32.add (global.get $at) (i32.const 1)) (i32.add (i32.const 48) (i32.rem_u (local.get $e) (i32.const 10))))
    (i32.store8 (i32.add (global.get $at) (i32.const 2)) (i32.const 32))
    (global.set $at (i32.add (global.get $at) (i32.const 3))))
  (func $write (param $fd i32) (param $ptr i32) (param $len i32) (result i32)
    (i32.store (i32.const 0) (local.get $ptr))
    (i32.store (i32.const 4) (local.get $len))
    (call $fd_write (local.get $fd) (i32.const 0) (i32.const 1) (i32.const 8)))
  (func (export "_start") (local $e i32)
    (call $report (call $write (i32.const 0) (i32.const 0x100) (i32.const 1)))
    (call $report (call $fd_seek (i32.const 1) (i64.const 0) (i32.const 0) (i32.const 0x20)))
    (i32.store (i32.const 0) (i32.const 0x400))
    (i32.store (i32.const 4) (i32.const 16))
    (call $report (call $fd_read (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))
    (call $report (call $set_times (i32.const 1) (i64.const 0) (i64.const 0) (i32.const 5)))
    (call $report (call $filestat (i32.const 1) (i32.const 0x200)))
    (call $report (select (i32.const 0) (i32.const 99)
      (i64.eqz (i64.or (i64.load (i32.const 0x200)) (i64.load (i32.const 0x208))))))
    (drop (call $write (i32.const 1) (i32.const 0x110) (i32.const 2)))
    (i32.store (i32.const 0) (i32.const 0x400))
    (i32.store (i32.const 4) (i32.const 64))
    (local.set $e (call $fd_read (i32.const 0) (i32.const 0) (i32.const 1) (i32.const 8)))
    (call $report (local.get $e))
    (if (i32.eqz (local.get $e))
      (then (drop (call $write (i32.const 1) (i32.const 0x400) (i32.load (i32.const 8))))))
    (drop (call $write (i32.const 2) (i32.const 0x800) (i32.sub (global.get $at) (i32.const 0x800))))))"#;

/// Runs the probe with stdin and stdout as given; returns the exit status
/// and stderr.
fn probe(
    dir: &std::path::Path,
    stdin: std::process::Stdio,
    stdout: std::process::Stdio,
) -> (i32, String) {
    let wat = dir.join("probe.wat");
    std::fs::write(&wat, STDIO_PROBE).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_rung"))
        .args(["run", wat.to_str().unwrap()])
        .stdin(stdin)
        .stdout(stdout)
        .output()
        .expect("run rung");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn host_files_behind_stdio_are_streams_to_the_guest() {
    let dir = scratch("stdio-files");
    // stdin: a file opened read-write (`0<>in.txt`); stdout: a file with a
    // line before the program's own (`(echo A; rung …) > out.txt`).
    std::fs::write(dir.join("in.txt"), b"hello").unwrap();
    let stdin = std::fs::File::options()
        .read(true)
        .write(true)
        .open(dir.join("in.txt"))
        .unwrap();
    let mut stdout = std::fs::File::create(dir.join("out.txt")).unwrap();
    std::io::Write::write_all(&mut stdout, b"A\n").unwrap();
    let (code, err) = probe(&dir, stdin.into(), stdout.into());
    assert_eq!(code, 0, "{err}");
    // EBADF (write stdin), ESPIPE (seek stdout), EBADF (read stdout), EBADF
    // (set stdout's times), success (filestat), no device or inode, and
    // stdin read.
    assert_eq!(err, "08 70 08 08 00 00 00 ");
    assert_eq!(
        std::fs::read(dir.join("in.txt")).unwrap(),
        b"hello",
        "stdin unchanged"
    );
    assert_eq!(
        std::fs::read(dir.join("out.txt")).unwrap(),
        b"A\nB\nhello",
        "the program's output follows what was there"
    );
    let modified = std::fs::metadata(dir.join("out.txt"))
        .unwrap()
        .modified()
        .unwrap();
    assert!(modified > std::time::UNIX_EPOCH + std::time::Duration::from_secs(1 << 30));
}

#[test]
fn a_stdin_the_parent_closed_is_ebadf() {
    let dir = scratch("stdin-closed");
    let wat = dir.join("probe.wat");
    std::fs::write(&wat, STDIO_PROBE).unwrap();
    // The shell closes fd 0 before exec; Rust's runtime would reopen it on
    // /dev/null, which rung must not mistake for the parent's stdin.
    let out = Command::new("sh")
        .args([
            "-c",
            "exec \"$0\" run \"$1\" <&-",
            env!("CARGO_BIN_EXE_rung"),
        ])
        .arg(&wat)
        .output()
        .expect("run sh");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(err.ends_with(" 08 "), "reading stdin: {err}");
    assert_eq!(out.stdout, b"B\n");
    // With /dev/null as stdin, reading it is end of file.
    let (code, err) = probe(
        &dir,
        std::process::Stdio::null(),
        std::process::Stdio::piped(),
    );
    assert_eq!((code, err.ends_with(" 00 ")), (0, true), "{err}");
}

#[test]
fn proc_exit_256_fails_the_run() {
    let dir = scratch("exit-256");
    let wat = dir.join("exit.wat");
    std::fs::write(
        &wat,
        r#"(module
          (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
          (memory (export "memory") 1)
          (func (export "_start") (call $exit (i32.const 256))))"#,
    )
    .unwrap();
    let (code, _, err) = rung(&["run", wat.to_str().unwrap()]);
    assert_eq!(code, 1);
    assert_eq!(
        err,
        "rung: trap: wasi: proc_exit(256): exit status outside WASI's range 0..=125\n\
         wasm backtrace:\n    0: 0x5e - <unknown>!func[1] (func 1, baseline)\n"
    );
}
