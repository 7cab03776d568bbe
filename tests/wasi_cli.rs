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

    // A missing preopen directory or a bad --env is the command's error.
    let (code, _, err) = rung(&["run", "--dir", "/no/such/dir", wat]);
    assert_eq!(code, 1);
    assert!(err.starts_with("rung: --dir /no/such/dir"), "{err}");
    let (code, _, err) = rung(&["run", "--env", "NOVALUE", wat]);
    assert_eq!(code, 1);
    assert!(err.contains("NAME=VALUE"), "{err}");

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
