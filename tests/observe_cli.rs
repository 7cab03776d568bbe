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

/// A loop that calls `$inc` 3·10^6 times: hot enough that tier-up
/// promotes both functions while it runs.
const HOT: &str = r#"(module $hot
    (func $inc (param i32) (result i32) local.get 0 i32.const 1 i32.add)
    (func $spin (export "spin") (result i32) (local $i i32) (local $n i32)
      (loop $l
        (local.set $n (call $inc (local.get $n)))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br_if $l (i32.lt_u (local.get $i) (i32.const 3000000))))
      local.get $n))"#;

#[test]
fn trace_writes_nested_compile_slices_and_tier_up_events() {
    let wat = scratch("hot.wat", HOT);
    let trace = wat.with_file_name("trace.json");
    let out = Command::new(env!("CARGO_BIN_EXE_rung"))
        .args(["run", "--tier-up-threshold", "1000", "--trace"])
        .arg(&trace)
        .args([wat.to_str().unwrap(), "--invoke", "spin"])
        .output()
        .expect("run rung");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout), "3000000\n");
    let text = std::fs::read_to_string(&trace).unwrap();
    let events: Vec<serde_json::Value> = serde_json::from_str(&text).expect("a JSON array");
    let name = |e: &serde_json::Value| e["name"].as_str().unwrap_or_default().to_string();
    // B/E slices nest per thread, and time runs forward on each.
    let mut stacks: std::collections::HashMap<u64, Vec<String>> = Default::default();
    let mut last_ts: std::collections::HashMap<u64, f64> = Default::default();
    // (func, tier) of every finished compile slice.
    let mut compiled = Vec::new();
    let mut published = Vec::new();
    let mut phases = Vec::new();
    for e in &events {
        let tid = e["tid"].as_u64().unwrap();
        if let Some(ts) = e["ts"].as_f64() {
            let last = last_ts.entry(tid).or_insert(0.0);
            assert!(ts >= *last, "time went back on thread {tid}: {e}");
            *last = ts;
        }
        let args = &e["args"];
        match e["ph"].as_str().unwrap() {
            "B" => stacks.entry(tid).or_default().push(name(e)),
            "E" => {
                let open = stacks.entry(tid).or_default().pop();
                assert_eq!(open.as_deref(), Some(name(e).as_str()), "unbalanced at {e}");
                if name(e) == "compile" {
                    assert!(args["wasm_bytes"].as_u64().unwrap() > 0, "{e}");
                    assert!(args["code_bytes"].as_u64().unwrap() > 0, "{e}");
                    let tier = args["tier"].as_str().unwrap().to_string();
                    compiled.push((args["func"].as_u64().unwrap(), tier));
                    // Names come from the name section.
                    let expect = ["inc", "spin"][args["func"].as_u64().unwrap() as usize];
                    assert_eq!(args["name"], expect, "{e}");
                }
            }
            "i" if name(e) == "publish" => published.push((
                args["func"].as_u64().unwrap(),
                args["level"].as_u64().unwrap(),
            )),
            "i" => phases.push(name(e)),
            _ => {}
        }
    }
    for (tid, stack) in &stacks {
        assert!(stack.is_empty(), "thread {tid} left {stack:?} open");
    }
    assert_eq!(phases.first().map(String::as_str), Some("BaselineFinished"));
    assert!(phases.iter().any(|p| p == "tier-up request"), "{phases:?}");
    for func in [0, 1] {
        assert!(
            compiled.contains(&(func, "baseline".into())),
            "{compiled:?}"
        );
    }
    assert!(
        !published.is_empty(),
        "no tier-up published in 3·10^6 calls"
    );
    for (func, level) in &published {
        assert_eq!(*level, 1, "the default ladder's top is level 1");
        assert!(
            compiled.contains(&(*func, "optimizer".into())),
            "function {func} was published without an optimizer compile slice: {compiled:?}"
        );
    }
}

#[test]
fn stats_json_is_one_object_with_every_section() {
    let wat = scratch("hot-stats.wat", HOT);
    let out = Command::new(env!("CARGO_BIN_EXE_rung"))
        .args(["run", "--tier", "baseline", "--stats=json"])
        .args([wat.to_str().unwrap(), "--invoke", "spin"])
        .output()
        .expect("run rung");
    assert!(out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    let stats: serde_json::Value =
        serde_json::from_str(stderr.lines().last().unwrap()).expect("JSON on stderr");
    let tiers = stats["tiers"].as_array().unwrap();
    assert_eq!(tiers[0]["tier"], "baseline");
    assert_eq!(tiers[0]["functions"], 2);
    assert_eq!(tiers[1]["functions"], 0, "baseline only: {stats}");
    assert_eq!(stats["fallbacks"], 0);
    assert_eq!(stats["tier_up"]["published"], 0);
    assert!(stats["phases_ms"]["run"].as_f64().unwrap() > 0.0);
    assert!(stats["peak_rss_bytes"].as_u64().unwrap() > 1 << 20);
    assert!(stats["streaming"].is_null());
    // Plain --stats is the table, and FILE after it is not its value.
    let out = Command::new(env!("CARGO_BIN_EXE_rung"))
        .args(["run", "--stats", wat.to_str().unwrap(), "--invoke", "spin"])
        .output()
        .expect("run rung");
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("rung stats: tier-up queue wait"));
}
