//! `rung run`'s views into a run: the wasm backtrace of a trap, the
//! profiler files of `--profile`, and Ctrl-C.

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn scratch(name: &str, text: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("rung-observe-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

/// `a` → `b` → `c`, which traps (`unreachable` at 0x3a).
const CHAIN: &str = r#"(module $chain
    (func $a (export "a") (result i32) call $b)
    (func $b (result i32) call $c)
    (func $c (result i32) unreachable))"#;

/// The byte offset of the first operator of function `func`'s body.
fn first_op(bytes: &[u8], func: usize) -> usize {
    wasmparser::Parser::new(0)
        .parse_all(bytes)
        .filter_map(|p| match p {
            Ok(wasmparser::Payload::CodeSectionEntry(body)) => Some(body),
            _ => None,
        })
        .nth(func)
        .map(|body| body.get_operators_reader().unwrap().original_position() as usize)
        .expect("function")
}

#[test]
fn a_trap_prints_its_wasm_backtrace_on_stderr() {
    let wat = scratch("chain.wat", CHAIN);
    for (tier, a, b) in [
        ("baseline", "baseline", "baseline"),
        ("mixed", "baseline", "optimizer"),
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_rung"))
            .args([
                "run",
                "--tier",
                tier,
                wat.to_str().unwrap(),
                "--invoke",
                "a",
            ])
            .output()
            .expect("run rung");
        assert_eq!(out.status.code(), Some(1));
        let stderr = String::from_utf8_lossy(&out.stderr);
        let bytes = wat::parse_str(CHAIN).unwrap();
        let (call_b, call_c, unreachable) = (
            first_op(&bytes, 0),
            first_op(&bytes, 1),
            first_op(&bytes, 2),
        );
        let expected = format!(
            "rung: trap: unreachable (function 2, at offset {unreachable:#x})\n\
             wasm backtrace:\n    \
             0: {unreachable:#x} - chain!c (func 2, {a})\n    \
             1: {call_c:#x} - chain!b (func 1, {b})\n    \
             2: {call_b:#x} - chain!a (func 0, {a})\n"
        );
        assert_eq!(stderr, expected, "--tier {tier}");
    }
}

#[test]
fn profile_perfmap_writes_the_functions_names() {
    let wat = scratch(
        "prof.wat",
        CHAIN.replace("unreachable", "i32.const 7").as_str(),
    );
    let child = Command::new(env!("CARGO_BIN_EXE_rung"))
        .args(["run", "--tier", "baseline", "--profile", "perfmap"])
        .args([wat.to_str().unwrap(), "--invoke", "a"])
        .stdout(Stdio::piped())
        .spawn()
        .expect("run rung");
    let pid = child.id();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    assert_eq!(String::from_utf8_lossy(&out.stdout), "7\n");
    let map = PathBuf::from(format!("/tmp/perf-{pid}.map"));
    let text = std::fs::read_to_string(&map).expect("perf map");
    let _ = std::fs::remove_file(&map);
    let names: Vec<&str> = text
        .lines()
        .map(|l| l.splitn(3, ' ').nth(2).expect("START SIZE name"))
        .collect();
    assert_eq!(
        names,
        [
            "chain!a [baseline]",
            "chain!b [baseline]",
            "chain!c [baseline]",
            "rung!trampoline host_to_wasm (func (result i32))",
        ]
    );
}

#[test]
fn profile_jitdump_writes_jit_pid_dump_in_the_current_directory() {
    let wat = scratch(
        "jd.wat",
        CHAIN.replace("unreachable", "i32.const 7").as_str(),
    );
    let dir = wat.parent().unwrap().join("jitdump-cwd");
    std::fs::create_dir_all(&dir).unwrap();
    let child = Command::new(env!("CARGO_BIN_EXE_rung"))
        .current_dir(&dir)
        .args(["run", "--tier", "optimized", "--profile", "jitdump"])
        .args([wat.to_str().unwrap(), "--invoke", "a"])
        .stdout(Stdio::null())
        .spawn()
        .expect("run rung");
    let pid = child.id();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    let dump = std::fs::read(dir.join(format!("jit-{pid}.dump"))).expect("jitdump");
    assert_eq!(&dump[0..4], b"DTiJ");
    assert_eq!(u32::from_le_bytes(dump[20..24].try_into().unwrap()), pid);
    let text = String::from_utf8_lossy(&dump);
    for name in [
        "chain!a [optimizer]",
        "chain!b [optimizer]",
        "chain!c [optimizer]",
    ] {
        assert!(text.contains(&format!("{name}\0")), "{name}");
    }
}

#[test]
fn ctrl_c_stops_a_runaway_program_with_exit_130() {
    let wat = scratch(
        "spin.wat",
        r#"(module (func $spin (export "spin") (loop $l (br $l))))"#,
    );
    let mut child = Command::new(env!("CARGO_BIN_EXE_rung"))
        .args([
            "run",
            "--interruptible",
            wat.to_str().unwrap(),
            "--invoke",
            "spin",
        ])
        .stderr(Stdio::piped())
        .spawn()
        .expect("run rung");
    std::thread::sleep(Duration::from_millis(300));
    // SAFETY: sending SIGINT to our own child.
    assert_eq!(
        unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGINT) },
        0
    );
    let start = Instant::now();
    loop {
        if child.try_wait().unwrap().is_some() {
            break;
        }
        if start.elapsed() > Duration::from_secs(60) {
            let _ = child.kill();
            panic!("rung did not stop after SIGINT");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(130), "{stderr}");
    assert!(stderr.contains("interrupted"), "{stderr}");
    assert!(stderr.contains("Ctrl-C"), "{stderr}");
    assert!(stderr.contains("wasm backtrace:\n    0: 0x"), "{stderr}");
    assert!(stderr.contains("!spin (func 0, "), "{stderr}");
}

#[test]
fn ctrl_c_during_a_timeout_run_is_still_ctrl_c() {
    let wat = scratch(
        "spin2.wat",
        r#"(module (func $spin (export "spin") (loop $l (br $l))))"#,
    );
    // Interrupt checks are on with --timeout (a long one, never reached).
    let child = Command::new(env!("CARGO_BIN_EXE_rung"))
        .args([
            "run",
            "--timeout",
            "10m",
            wat.to_str().unwrap(),
            "--invoke",
            "spin",
        ])
        .stderr(Stdio::piped())
        .spawn()
        .expect("run rung");
    std::thread::sleep(Duration::from_millis(300));
    // SAFETY: sending SIGINT to our own child.
    assert_eq!(
        unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGINT) },
        0
    );
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(130), "{stderr}");
    assert!(stderr.contains("interrupted"), "{stderr}");
}
