//! The `rung` command, run as a user runs it: exit codes and what it prints.

use std::path::PathBuf;
use std::process::Command;

fn rung(args: &[&str]) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_rung"))
        .args(args)
        .output()
        .expect("run rung");
    let text =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    (out.status.code().unwrap_or(-1), text)
}

fn scratch(name: &str, text: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("rung-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn wast_passes_a_good_script_and_fails_a_wrong_assert_return() {
    let good = scratch(
        "good.wast",
        r#"(module (func (export "add") (param i32 i32) (result i32) local.get 0 local.get 1 i32.add))
           (assert_return (invoke "add" (i32.const 2) (i32.const 3)) (i32.const 5))"#,
    );
    let (code, out) = rung(&["wast", good.to_str().unwrap()]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("2 passed, 0 failed, 0 unsupported"), "{out}");

    let bad = scratch(
        "bad.wast",
        r#"(module (func (export "add") (param i32 i32) (result i32) local.get 0 local.get 1 i32.add))
           (assert_return (invoke "add" (i32.const 2) (i32.const 3)) (i32.const 5))
           (assert_return (invoke "add" (i32.const 2) (i32.const 2)) (i32.const 5))"#,
    );
    let (code, out) = rung(&["wast", bad.to_str().unwrap()]);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("bad.wast:3: result 0: expected I32(5), got I32(4)"),
        "{out}"
    );
    assert!(out.contains("2 passed, 1 failed, 0 unsupported"), "{out}");
}

#[test]
fn wast_reports_runaway_recursion_and_wild_loads_as_traps() {
    let script = scratch(
        "traps.wast",
        r#"(module
             (memory 1)
             (func $f (export "forever") (call $f))
             (func (export "wild") (result i32) (i32.load (i32.const 70000))))
           (invoke "forever")
           (invoke "wild")
           (assert_exhaustion (invoke "forever") "call stack exhausted")
           (assert_trap (invoke "wild") "out of bounds memory access")"#,
    );
    let (code, out) = rung(&["wast", script.to_str().unwrap()]);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("traps.wast:5: unexpected trap: call stack exhausted (function 0"),
        "{out}"
    );
    assert!(
        out.contains("traps.wast:6: unexpected trap: out of bounds memory access (function 1"),
        "{out}"
    );
    assert!(out.contains("3 passed, 2 failed, 0 unsupported"), "{out}");
}

#[test]
fn validate_reports_file_offset_function_and_message() {
    let bad = scratch("bad.wat", r#"(module (func (result i32) i64.const 1))"#);
    let (code, out) = rung(&["validate", bad.to_str().unwrap()]);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("bad.wat:0x1a: function 0: type mismatch: expected i32, found i64"),
        "{out}"
    );
    let good = scratch("good.wat", r#"(module (func (result i32) i32.const 1))"#);
    let (code, out) = rung(&["validate", good.to_str().unwrap()]);
    assert_eq!(code, 0, "{out}");
}

#[test]
fn run_calls_an_export_with_arguments_and_reports_traps() {
    let example = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/fib.wat");
    let (code, out) = rung(&["run", example, "--invoke", "fib_iter", "50"]);
    assert_eq!((code, out.as_str()), (0, "12586269025\n"));
    let (code, out) = rung(&["run", example, "--invoke", "sieve", "65536"]);
    assert_eq!((code, out.as_str()), (0, "6542\n"));
    let (code, out) = rung(&["run", example, "--invoke", "sieve", "65537"]);
    assert_eq!(code, 1);
    assert_eq!(out, "rung: trap: out of bounds memory access\n");
    let (code, out) = rung(&["run", example]);
    assert_eq!(code, 1);
    assert!(out.contains("no exported function `_start`"), "{out}");
}

#[test]
fn disas_shows_either_tiers_code_with_trap_sites() {
    let wat = scratch(
        "load.wat",
        r#"(module (memory 1) (func $load (param i32) (result i32) local.get 0 i32.load offset=8))"#,
    );
    let (code, out) = rung(&["disas", "--tier", "baseline", wat.to_str().unwrap()]);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains(";; function 0 load (7 bytes of wasm at 0x1d)"),
        "{out}"
    );
    // The baseline's access is a guarded load (no bounds check), its
    // prologue charges the tier-up budget.
    assert!(
        out.contains(
            "mov     eax,[r15+r11+8]                      ; trap: out of bounds memory access"
        ),
        "{out}"
    );
    assert!(out.contains("sub     dword ptr [r11],28h"), "{out}");
    let (code, out) = rung(&["disas", wat.to_str().unwrap()]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("; trap: out of bounds memory access"), "{out}");
    assert!(!out.contains("dword ptr [r11],28h"), "{out}");
}

#[test]
fn run_takes_a_tier_ladder_and_its_policy_from_the_command_line() {
    let fib = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/fib.wat");
    let run = |extra: &[&str]| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_rung"))
            .arg("run")
            .args(extra)
            .args([fib, "--invoke", "fib_rec", "20"])
            .output()
            .expect("run rung");
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    for ladder in [
        &[
            "--tiers",
            "baseline,optimizer-none,optimizer",
            "--tier-up-threshold",
            "10",
        ][..],
        &["--tiers", "optimizer-none", "--tier", "optimized"],
        &["--tier-up-policy", "top", "--tier-up-threads", "2"],
        &["--tiers", "baseline", "--tier", "baseline"],
    ] {
        assert_eq!(
            run(ladder),
            (Some(0), "6765\n".to_string(), String::new()),
            "{ladder:?}"
        );
    }
    let (code, _, err) = run(&["--tiers", "baseline,turbo"]);
    assert_eq!(code, Some(2));
    assert_eq!(
        err,
        "rung: --tiers: no tier named `turbo` (baseline, optimizer, optimizer-none)\n"
    );
    let (code, _, err) = run(&["--tier-up-policy", "sideways"]);
    assert_eq!(code, Some(2));
    assert_eq!(
        err,
        "rung: --tier-up-policy: `sideways` is not next or top\n"
    );
}
