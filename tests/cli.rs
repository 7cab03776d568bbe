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
fn a_printing_command_whose_reader_goes_away_ends_quietly() {
    use std::io::Read;
    let wat = scratch(
        "pipe.wat",
        &format!(
            "(module {})",
            "(func (param i32) (result i32) local.get 0 i32.const 1 i32.add)".repeat(2000)
        ),
    );
    let mut child = Command::new(env!("CARGO_BIN_EXE_rung"))
        .args(["disas", wat.to_str().unwrap()])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run rung");
    let mut first = [0u8; 64];
    child
        .stdout
        .take()
        .unwrap()
        .read_exact(&mut first)
        .expect("some output");
    // The pipe's reader is gone (dropped above): rung's next writes fail.
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    use std::os::unix::process::ExitStatusExt;
    assert!(
        out.status.success() || out.status.signal() == Some(libc::SIGPIPE),
        "{:?}",
        out.status
    );
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
fn run_prints_gc_references_readably() {
    let wat = scratch(
        "gc.wat",
        r#"(module
             (type $s (struct (field i32)))
             (type $a (array i8))
             (func (export "refs") (result i31ref structref arrayref anyref)
               (ref.i31 (i32.const -3))
               (struct.new $s (i32.const 1))
               (array.new_default $a (i32.const 5))
               (ref.null any)))"#,
    );
    let (code, out) = rung(&["run", wat.to_str().unwrap(), "--invoke", "refs"]);
    assert_eq!(
        (code, out.as_str()),
        (0, "i31 -3\nstruct\narray (length 5)\nnull anyref\n")
    );
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
    // memory.fill's libcall traps; the backtrace names its wasm caller.
    assert!(
        out.starts_with("rung: trap: out of bounds memory access\nwasm backtrace:\n    0: 0x"),
        "{out}"
    );
    assert!(out.ends_with(" - fib!sieve (func 2, baseline)\n"), "{out}");
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

#[test]
fn run_prints_stats_on_stderr_and_turns_osr_off() {
    let fib = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/fib.wat");
    let run = |extra: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_rung"))
            .arg("run")
            .args(extra)
            .args([fib, "--invoke", "fib_rec", "20"])
            .output()
            .expect("run rung");
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        assert_eq!((out.status.code(), stdout.as_str()), (Some(0), "6765\n"));
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    let value = |stats: &str, row: &str| -> String {
        let line = stats
            .lines()
            .find(|l| l.starts_with(&format!("rung stats: {row} ")))
            .unwrap_or_else(|| panic!("no row `{row}` in:\n{stats}"));
        line[format!("rung stats: {row}").len()..]
            .trim()
            .to_string()
    };
    // Without --stats, nothing on stderr.
    assert_eq!(run(&[]), "");
    // Baseline only: nothing climbs.
    let stats = run(&["--stats", "--tier", "baseline"]);
    for (row, expected) in [
        ("fall-backs up the ladder", "0"),
        ("tier-ups published", "0"),
        ("tier-ups waiting at exit", "0"),
        ("tier-up compiles failed", "0"),
        ("OSR entries compiled", "0"),
        ("OSR switches", "0"),
    ] {
        assert_eq!(value(&stats, row), expected, "{row}:\n{stats}");
    }
    for row in ["compile (Module::new)", "instantiate", "run"] {
        assert!(value(&stats, row).ends_with(" ms"), "{row}:\n{stats}");
    }
    assert!(value(&stats, "peak RSS").ends_with(" MiB"), "{stats}");
    assert_eq!(value(&stats, "lazy compiles"), "0", "{stats}");
    // Per tier: fib.wat's three functions, all by the baseline.
    let columns = |tier: &str| -> Vec<String> {
        stats
            .lines()
            .find_map(|l| l.strip_prefix(&format!("rung stats: {tier} ")))
            .unwrap_or_else(|| panic!("no row for {tier}:\n{stats}"))
            .split_whitespace()
            .map(str::to_string)
            .collect()
    };
    assert_eq!(columns("baseline")[0], "3", "{stats}");
    assert_eq!(columns("optimizer")[..3], ["0", "0.0", "0.0"], "{stats}");
    let lazy = run(&["--stats", "--tier", "baseline", "--lazy"]);
    assert_eq!(value(&lazy, "lazy compiles"), "1", "{lazy}");
    // Tiered without OSR: fib_rec gets hot, but no entry is compiled.
    let stats = run(&["--stats", "--no-osr", "--tier-up-threshold", "1"]);
    assert_eq!(value(&stats, "OSR entries compiled"), "0", "{stats}");
    assert_eq!(value(&stats, "OSR switches"), "0", "{stats}");
    assert_eq!(value(&stats, "tier-up compiles failed"), "0", "{stats}");
}

#[test]
fn run_streams_a_module_in_chunks_and_reports_when_it_was_ready() {
    let fib = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/fib.wat");
    let out = Command::new(env!("CARGO_BIN_EXE_rung"))
        .args([
            "run", "--stream", "--chunk", "7", "--rate", "100KB/s", "--stats",
        ])
        .args([fib, "--invoke", "fib_rec", "20"])
        .output()
        .expect("run rung");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert_eq!(String::from_utf8_lossy(&out.stdout), "6765\n");
    let bytes = wat::parse_file(fib).unwrap().len();
    assert!(
        stderr.contains("rung stats: stream: bytes") && stderr.contains(&format!(" {bytes}\n")),
        "{stderr}"
    );
    for row in [
        "compile (streaming)",
        "stream: first function compiled",
        "stream: ready after last byte",
    ] {
        assert!(
            stderr.contains(&format!("rung stats: {row} ")),
            "{row}:\n{stderr}"
        );
    }
    // --rate and --chunk only mean something with --stream.
    let (code, out) = rung(&["run", "--rate", "1MB/s", fib, "--invoke", "fib_rec", "3"]);
    assert_eq!(code, 2, "{out}");
    assert!(out.contains("--stream"), "{out}");
    let (code, out) = rung(&[
        "run", "--stream", "--chunk", "ten", fib, "--invoke", "fib_rec", "3",
    ]);
    assert_eq!(code, 2, "{out}");
    assert!(out.contains("`ten` is not a size"), "{out}");
}

#[test]
fn run_stops_a_runaway_program_at_its_timeout() {
    let spin = scratch(
        "spin.wat",
        r#"(module (func (export "spin") (loop (br 0))))"#,
    );
    for tier in ["baseline", "optimized", "tiered"] {
        let (code, out) = rung(&[
            "run",
            "--timeout",
            "200ms",
            "--tier",
            tier,
            spin.to_str().unwrap(),
            "--invoke",
            "spin",
        ]);
        assert_eq!(code, 124, "{tier}: {out}");
        assert!(
            out.starts_with(
                "rung: timed out after 200ms: trap: interrupted (function 0, at offset 0x"
            ),
            "{tier}: {out}"
        );
    }
    // A program that ends in time is not disturbed.
    let fib = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/fib.wat");
    let (code, out) = rung(&["run", "--timeout", "1m", fib, "--invoke", "fib_rec", "20"]);
    assert_eq!((code, out.as_str()), (0, "6765\n"));
    let (code, out) = rung(&["run", "--timeout", "soon", fib, "--invoke", "fib_rec", "20"]);
    assert_eq!(code, 2, "{out}");
    assert!(out.contains("`soon` is not a duration"), "{out}");
}

#[test]
fn run_reads_the_module_from_standard_input_for_a_dash() {
    use std::io::Write;
    let fib = std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/examples/fib.wat")).unwrap();
    for stream in [false, true] {
        let mut child = Command::new(env!("CARGO_BIN_EXE_rung"))
            .arg("run")
            .args(stream.then_some("--stream"))
            .args(["-", "--invoke", "fib_rec", "20"])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("run rung");
        child.stdin.take().unwrap().write_all(&fib).unwrap();
        let out = child.wait_with_output().unwrap();
        assert_eq!(out.status.code(), Some(0));
        assert_eq!(
            String::from_utf8_lossy(&out.stdout),
            "6765\n",
            "stream: {stream}"
        );
    }
}

#[test]
fn disas_shows_the_osr_entry_of_a_loop() {
    let wat = r#"(module (memory 1)
      (func $nest (param $n i32) (local $i i32) (local $j i32)
        (loop $outer
          (local.set $j (i32.const 0))
          (loop $inner
            (i32.store (local.get $j) (local.get $i))
            (br_if $inner (i32.lt_u (local.tee $j (i32.add (local.get $j) (i32.const 4))) (local.get $n))))
          (br_if $outer (i32.lt_u (local.tee $i (i32.add (local.get $i) (i32.const 1))) (local.get $n))))))"#;
    let bytes = wat::parse_str(wat).unwrap();
    // Each `loop`'s offset in the module, as the baseline records it.
    let mut loops = Vec::new();
    for payload in wasmparser::Parser::new(0).parse_all(&bytes) {
        if let wasmparser::Payload::CodeSectionEntry(body) = payload.unwrap() {
            let mut ops = body.get_operators_reader().unwrap();
            while !ops.eof() {
                let at = ops.original_position();
                if let wasmparser::Operator::Loop { .. } = ops.read().unwrap() {
                    loops.push(at);
                }
            }
        }
    }
    let [outer, inner] = loops[..] else {
        panic!("{loops:?}")
    };
    let dir = std::env::temp_dir().join(format!("rung-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("nest.wasm");
    std::fs::write(&file, &bytes).unwrap();
    let file = file.to_str().unwrap();

    // The inner loop's entry goes through a copy of it: the CLIF loads
    // the three locals from the buffer, and the inner loop's store is
    // there twice (the copy's and the original's).
    let (code, out) = rung(&[
        "disas",
        file,
        "--osr-loop",
        &format!("{inner:#x}"),
        "--clif",
    ]);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains(&format!(";; OSR entry at the loop at {inner:#x}")),
        "{out}"
    );
    assert!(out.contains("load.i32 notrap aligned v1+16"), "{out}");
    let stores = out
        .lines()
        .filter(|l| l.contains("store.i32") || l.contains(" store "))
        .count();
    assert_eq!(stores, 2, "{out}");
    assert!(out.contains("bytes of code"), "{out}");

    // The outer loop's entry jumps into the original header: one store.
    let (code, out) = rung(&["disas", file, "--osr-loop", &outer.to_string(), "--clif"]);
    assert_eq!(code, 0, "{out}");
    let stores = out
        .lines()
        .filter(|l| l.contains("store.i32") || l.contains(" store "))
        .count();
    assert_eq!(stores, 1, "{out}");

    // An offset inside the body that is no loop's, and one outside it.
    let (code, out) = rung(&["disas", file, "--osr-loop", &(inner + 2).to_string()]);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains(&format!(
            "unsupported: an OSR entry at a loop that is not reached (at offset {:#x})",
            inner + 2
        )),
        "{out}"
    );
    let (code, out) = rung(&["disas", file, "--osr-loop", "3"]);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("no function body (of those asked for) holds offset 0x3"),
        "{out}"
    );
}

#[test]
fn run_spawns_wasi_threads_over_one_shared_memory() {
    // Four threads each add 1000 to a counter (i32.atomic.rmw.add) and
    // notify; `run` waits (memory.atomic.wait32, with a timeout so that a
    // broken run ends) until the counter is 4000 and returns it.
    let module = scratch(
        "threads.wat",
        r#"(module
             (import "env" "memory" (memory 1 1 shared))
             (import "wasi" "thread-spawn" (func $spawn (param i32) (result i32)))
             (func (export "wasi_thread_start") (param $tid i32) (param $arg i32)
               (local $i i32)
               (loop $l
                 (drop (i32.atomic.rmw.add (i32.const 0) (local.get $arg)))
                 (local.tee $i (i32.add (local.get $i) (i32.const 1)))
                 (br_if $l (i32.lt_u (i32.const 1000))))
               (drop (memory.atomic.notify (i32.const 0) (i32.const -1))))
             (func (export "run") (result i32)
               (local $n i32) (local $v i32)
               (loop $s
                 (if (i32.le_s (call $spawn (i32.const 1)) (i32.const 0)) (then unreachable))
                 (local.tee $n (i32.add (local.get $n) (i32.const 1)))
                 (br_if $s (i32.lt_u (i32.const 4))))
               (loop $w
                 (local.set $v (i32.atomic.load (i32.const 0)))
                 (if (i32.ne (local.get $v) (i32.const 4000))
                   (then
                     (drop (memory.atomic.wait32 (i32.const 0) (local.get $v) (i64.const 100000000)))
                     (br $w))))
               (i32.atomic.load (i32.const 0))))"#,
    );
    for tier in ["optimized", "baseline", "tiered"] {
        let (code, out) = rung(&[
            "run",
            "--tier",
            tier,
            "--invoke",
            "run",
            module.to_str().unwrap(),
        ]);
        assert_eq!((code, out.trim()), (0, "4000"), "{tier}");
    }
}

#[test]
fn resource_limits_from_the_command_line() {
    let wat = scratch(
        "grow.wat",
        r#"(module (memory 1) (table 1 funcref)
             (func (export "grow") (param i32) (result i32) (memory.grow (local.get 0)))
             (func (export "table_grow") (param i32) (result i32)
               (table.grow (ref.null func) (local.get 0))))"#,
    );
    let path = wat.to_str().unwrap();
    let run = |args: &[&str]| {
        let mut all = vec!["run", "--max-memory", "128KiB", "--max-table-elements", "3"];
        all.extend_from_slice(args);
        rung(&all)
    };
    assert_eq!(
        run(&[path, "--invoke", "grow", "1"]),
        (0, "1\n".to_string())
    );
    assert_eq!(
        run(&[path, "--invoke", "grow", "2"]),
        (0, "-1\n".to_string())
    );
    assert_eq!(
        run(&[path, "--invoke", "table_grow", "2"]),
        (0, "1\n".to_string())
    );
    assert_eq!(
        run(&[path, "--invoke", "table_grow", "3"]),
        (0, "-1\n".to_string())
    );
    let (code, text) = rung(&[
        "run",
        "--max-memory",
        "32KiB",
        path,
        "--invoke",
        "grow",
        "0",
    ]);
    assert_eq!(code, 1, "{text}");
    assert!(
        text.ends_with(
            "grow.wat: a memory of 65536 bytes exceeds the store's memory_size limit of 32768 bytes\n"
        ),
        "{text}"
    );
}

#[test]
fn run_says_what_is_wrong_with_its_input_and_arguments() {
    // Neither binary nor text.
    let dir = std::env::temp_dir().join(format!("rung-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let junk = dir.join("junk.bin");
    std::fs::write(&junk, b"\x7fELF\x02\x01\x01\x00\xff\xfe").unwrap();
    let (code, text) = rung(&["run", junk.to_str().unwrap()]);
    assert_eq!(code, 1);
    assert!(
        text.contains(
            "not a wasm module: no `\\0asm` magic number, and not text (invalid UTF-8 at byte 8)"
        ),
        "{text}"
    );
    let fib = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/fib.wat");
    // rung's options after the export's arguments.
    let (code, text) = rung(&[
        "run", fib, "--invoke", "fib_iter", "10", "--tier", "baseline",
    ]);
    assert_eq!(code, 1);
    assert!(
        text.contains("`--tier` comes after `fib_iter`'s arguments, where everything is an argument: put rung's options before FILE"),
        "{text}"
    );
    // The right plural.
    let (code, text) = rung(&["run", fib, "--invoke", "fib_iter"]);
    assert_eq!(code, 1);
    assert!(text.contains("it takes 1 argument, not 0"), "{text}");
    // A function without results says it returned.
    let unit = scratch("unit.wat", r#"(module (func (export "f")))"#);
    let (code, text) = rung(&["run", unit.to_str().unwrap(), "--invoke", "f"]);
    assert_eq!(
        (code, text.as_str()),
        (0, "rung: `f` returned (no results)\n")
    );
}

#[test]
fn max_stack_sets_how_deep_wasm_may_recurse_and_the_backtrace_stays_short() {
    let deep = scratch(
        "deep.wat",
        r#"(module $deep (func $r (export "r") (param i32) (result i32)
          (if (result i32) (i32.eqz (local.get 0)) (then (i32.const 0))
            (else (i32.add (i32.const 1) (call $r (i32.sub (local.get 0) (i32.const 1))))))))"#,
    );
    let deep = deep.to_str().unwrap();
    // 50,000 baseline frames (about 100 bytes each) do not fit the
    // default 1 MiB, and do fit 6 MiB.
    let (code, text) = rung(&["run", "--tier", "baseline", deep, "--invoke", "r", "50000"]);
    assert_eq!(code, 1);
    assert!(text.contains("trap: call stack exhausted"), "{text}");
    // The recursion's frames are one line and a count, not a thousand.
    let lines: Vec<&str> = text.lines().collect();
    assert!(lines.len() < 12, "{text}");
    // The entry's stack check traps; every caller is at its `call`.
    assert_eq!(
        lines[2], "    0: 0x1f - deep!r (func 0, baseline)",
        "{text}"
    );
    assert_eq!(
        lines[3], "    1: 0x2f - deep!r (func 0, baseline)",
        "{text}"
    );
    assert_eq!(
        lines[4], "    2: 0x2f - deep!r (func 0, baseline)",
        "{text}"
    );
    assert_eq!(
        lines[5], "       ... the same frame 997 more times",
        "{text}"
    );
    let (code, text) = rung(&[
        "run",
        "--tier",
        "baseline",
        "--max-stack",
        "6MiB",
        deep,
        "--invoke",
        "r",
        "50000",
    ]);
    assert_eq!((code, text.as_str()), (0, "50000\n"));
}
