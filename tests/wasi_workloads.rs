//! Real WASI programs from `../shared/corpus/workloads.json`, run with
//! `rung run` and compared byte for byte with Node's `node:wasi` running
//! the same spec (`peers/node_wasi_run.mjs`): CPython 3.12 running the
//! pyperformance driver (stdout), and GCC's cc1 compiling Lua's lvm.c to
//! AVR assembly (the `.s` file). Each is compared with its checked-in
//! `tests/data/workloads/<name>.expected` (see the README there: node 20's
//! output for CPython and cc1; for Yosys, whose C++ exceptions node 20
//! cannot compile, the `stat.txt` that Wasmtime 51 (PyPI, Winch) wrote for
//! the same spec); a workload without one is compared with node's run.
//!
//! They take minutes, so the test is `#[ignore]`d: run it with `cargo test
//! --release --test wasi_workloads -- --ignored` (`RUNG_WORKLOADS=name,...`
//! picks some, `RUNG_WORKLOAD_FLAGS` sets rung's tier flags). The modules are unpacked with
//! `xz` into cargo's test scratch directory, as `corpus_validate.rs` does;
//! a workload with neither an expected file nor `node` is checked only for
//! exit status 0 and some output. `cargo xtask bench workloads` runs the
//! same workloads timed, beside node and Wasmtime.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

const WORKLOADS: &[&str] = &["python-pyperformance", "cc1-lvm", "yosys-picorv32"];

/// A workload's checked-in expected output (tests/data/workloads/README.md
/// says which engine wrote each).
fn expected(name: &str) -> Option<Vec<u8>> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/workloads")
        .join(format!("{name}.expected"));
    std::fs::read(path).ok()
}

fn corpus() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus")
}

fn scratch() -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR")).join("corpus")
}

/// `name` unpacked from `wasm/NAME.xz` into the scratch directory.
fn unpack_module(name: &str) -> Result<PathBuf, String> {
    let out = scratch().join(name);
    if out.exists() {
        return Ok(out);
    }
    std::fs::create_dir_all(scratch()).map_err(|e| e.to_string())?;
    let xz = corpus().join("wasm").join(format!("{name}.xz"));
    let data = Command::new("xz")
        .arg("-dc")
        .arg(&xz)
        .output()
        .map_err(|e| format!("cannot run xz: {e}"))?;
    if !data.status.success() {
        return Err(format!("xz -dc {} failed", xz.display()));
    }
    let part = out.with_extension("part");
    std::fs::write(&part, data.stdout).map_err(|e| e.to_string())?;
    std::fs::rename(&part, &out).map_err(|e| e.to_string())?;
    Ok(out)
}

/// `workloads/data/NAME.tar.xz` unpacked as the scratch directory's `NAME`
/// (what `{wasm}/NAME` means in workloads.json).
fn unpack_data(name: &str) -> Result<(), String> {
    let out = scratch().join(name);
    if out.exists() {
        return Ok(());
    }
    let part = scratch().join(format!("{name}.part"));
    let _ = std::fs::remove_dir_all(&part);
    std::fs::create_dir_all(&part).map_err(|e| e.to_string())?;
    let tar = corpus()
        .join("workloads/data")
        .join(format!("{name}.tar.xz"));
    let ok = Command::new("tar")
        .arg("xJf")
        .arg(&tar)
        .arg("-C")
        .arg(&part)
        .arg("--strip-components=1")
        .status()
        .map_err(|e| format!("cannot run tar: {e}"))?
        .success();
    if !ok {
        return Err(format!("tar xJf {} failed", tar.display()));
    }
    std::fs::rename(&part, &out).map_err(|e| e.to_string())
}

/// One workload of workloads.json, placeholders expanded.
struct Workload {
    name: String,
    wasm: PathBuf,
    args: Vec<String>,
    env: BTreeMap<String, String>,
    preopens: BTreeMap<String, String>,
    /// `None`: compare stdout; `Some(file)`: compare this file.
    check_file: Option<String>,
}

fn load(name: &str, tmp: &Path) -> Result<Workload, String> {
    let text = std::fs::read_to_string(corpus().join("workloads.json"))
        .map_err(|e| format!("workloads.json: {e}"))?;
    let json = json::parse(&text)?;
    let wl = json
        .get("workloads")
        .and_then(json::Value::as_array)
        .and_then(|a| {
            a.iter()
                .find(|w| w.get("name").and_then(json::Value::as_str) == Some(name))
        })
        .ok_or(format!("no workload {name}"))?;
    let expand = |s: &str| {
        s.replace("{wasm}", &scratch().to_string_lossy())
            .replace("{wl}", &corpus().join("workloads").to_string_lossy())
            .replace("{tmp}", &tmp.to_string_lossy())
    };
    let strings = |key: &str| -> BTreeMap<String, String> {
        wl.get(key)
            .and_then(json::Value::as_object)
            .map(|o| {
                o.iter()
                    .filter_map(|(k, v)| Some((k.clone(), expand(v.as_str()?))))
                    .collect()
            })
            .unwrap_or_default()
    };
    let wasm = wl
        .get("wasm")
        .and_then(json::Value::as_str)
        .ok_or("no wasm")?;
    let module = wasm.rsplit('/').next().unwrap_or(wasm);
    let check = wl.get("check").ok_or("no check")?;
    Ok(Workload {
        name: name.to_string(),
        wasm: unpack_module(module)?,
        args: wl
            .get("args")
            .and_then(json::Value::as_array)
            .ok_or("no args")?
            .iter()
            .filter_map(|a| a.as_str().map(expand))
            .collect(),
        env: strings("env"),
        preopens: strings("preopens"),
        check_file: match check.get("what").and_then(json::Value::as_str) {
            Some("file") => Some(expand(
                check
                    .get("file")
                    .and_then(json::Value::as_str)
                    .ok_or("no file")?,
            )),
            _ => None,
        },
    })
}

/// What one engine produced: the compared bytes and the time it took.
struct Outcome {
    output: Vec<u8>,
    seconds: f64,
}

fn fresh_dir(name: &str) -> PathBuf {
    let dir = scratch().join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// rung's tier flags: `RUNG_WORKLOAD_FLAGS`, or none (`rung run`'s default,
/// tiered).
fn flags() -> String {
    std::env::var("RUNG_WORKLOAD_FLAGS").unwrap_or_default()
}

fn run_rung(name: &str) -> Result<Outcome, String> {
    let tmp = fresh_dir(&format!("{name}-rung-tmp"));
    let wl = load(name, &tmp)?;
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_rung"));
    cmd.arg("run").args(flags().split_whitespace());
    for (guest, host) in &wl.preopens {
        cmd.arg("--dir").arg(format!("{host}::{guest}"));
    }
    for (k, v) in &wl.env {
        cmd.arg("--env").arg(format!("{k}={v}"));
    }
    if let Some(argv0) = wl.args.first() {
        cmd.arg("--argv0").arg(argv0);
    }
    cmd.arg(&wl.wasm).arg("--").args(wl.args.iter().skip(1));
    let start = Instant::now();
    let out = cmd.output().map_err(|e| format!("cannot run rung: {e}"))?;
    let seconds = start.elapsed().as_secs_f64();
    if !out.status.success() {
        return Err(format!(
            "{}: rung exited with {:?}\nstderr: {}",
            wl.name,
            out.status.code(),
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    let output = match &wl.check_file {
        None => out.stdout,
        Some(f) => std::fs::read(f).map_err(|e| format!("{f}: {e}"))?,
    };
    Ok(Outcome { output, seconds })
}

/// The same workload under node, or `None` without node.
fn run_node(name: &str) -> Result<Option<Outcome>, String> {
    if Command::new("node").arg("--version").output().is_err() {
        return Ok(None);
    }
    let tmp = fresh_dir(&format!("{name}-node-tmp"));
    let wl = load(name, &tmp)?;
    let stdout = scratch().join(format!("{name}-node.stdout"));
    let q = |s: &str| format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""));
    let map = |m: &BTreeMap<String, String>| {
        let items: Vec<String> = m
            .iter()
            .map(|(k, v)| format!("{}: {}", q(k), q(v)))
            .collect();
        format!("{{{}}}", items.join(", "))
    };
    let args: Vec<String> = wl.args.iter().map(|a| q(a)).collect();
    let spec = format!(
        "{{\"wasm\": {}, \"args\": [{}], \"env\": {}, \"preopens\": {}, \"stdout\": {}}}",
        q(&wl.wasm.to_string_lossy()),
        args.join(", "),
        map(&wl.env),
        map(&wl.preopens),
        q(&stdout.to_string_lossy()),
    );
    let start = Instant::now();
    let out = Command::new("node")
        .arg(corpus().join("peers/node_wasi_run.mjs"))
        .arg(spec)
        .output()
        .map_err(|e| format!("cannot run node: {e}"))?;
    let seconds = start.elapsed().as_secs_f64();
    if !out.status.success() {
        return Err(format!(
            "node failed: {}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    let file = wl
        .check_file
        .clone()
        .unwrap_or_else(|| stdout.to_string_lossy().into_owned());
    let output = std::fs::read(&file).map_err(|e| format!("{file}: {e}"))?;
    Ok(Some(Outcome { output, seconds }))
}

#[test]
#[ignore = "minutes of CPython, cc1 and Yosys: cargo test --release --test wasi_workloads -- --ignored"]
fn wasi_workloads_match_node() {
    assert!(
        corpus().join("workloads.json").exists(),
        "../shared/corpus/workloads.json is missing: the workloads cannot run"
    );
    unpack_data("avr-include").unwrap();
    unpack_data("yosys-share").unwrap();
    let only = std::env::var("RUNG_WORKLOADS").ok();
    for name in WORKLOADS {
        if only
            .as_deref()
            .is_some_and(|o| !o.split(',').any(|n| n == *name))
        {
            continue;
        }
        let rung = run_rung(name).unwrap_or_else(|e| panic!("{e}"));
        assert!(!rung.output.is_empty(), "{name}: rung produced nothing");
        if let Some(want) = expected(name) {
            assert!(
                rung.output == want,
                "{name}: rung's output differs from the expected one\nrung:\n{}\nexpected:\n{}",
                String::from_utf8_lossy(&rung.output),
                String::from_utf8_lossy(&want)
            );
            println!(
                "{name}: {} bytes identical to the checked-in expected output; rung {:.1} s",
                rung.output.len(),
                rung.seconds
            );
            continue;
        }
        match run_node(name).unwrap_or_else(|e| panic!("{name}: {e}")) {
            Some(node) => {
                assert!(
                    rung.output == node.output,
                    "{name}: rung's output differs from node's\nrung:\n{}\nnode:\n{}",
                    String::from_utf8_lossy(&rung.output),
                    String::from_utf8_lossy(&node.output)
                );
                println!(
                    "{name}: {} bytes identical to node's; rung ({}) {:.1} s, node {:.1} s",
                    rung.output.len(),
                    Some(flags())
                        .filter(|f| !f.is_empty())
                        .unwrap_or_else(|| "tiered, the default".to_string()),
                    rung.seconds,
                    node.seconds
                );
            }
            None => println!(
                "{name}: rung ran in {:.1} s ({} bytes); node is missing, not compared",
                rung.seconds,
                rung.output.len()
            ),
        }
    }
}

/// Just enough JSON for workloads.json: objects, arrays, strings (with the
/// common escapes), numbers, booleans and null.
mod json {
    #[derive(Debug)]
    pub enum Value {
        /// A number, a boolean or null: workloads.json reads none of them.
        Scalar,
        String(String),
        Array(Vec<Value>),
        Object(Vec<(String, Value)>),
    }

    impl Value {
        pub fn get(&self, key: &str) -> Option<&Value> {
            self.as_object()?
                .iter()
                .find(|(k, _)| k == key)
                .map(|(_, v)| v)
        }

        pub fn as_object(&self) -> Option<&[(String, Value)]> {
            match self {
                Value::Object(o) => Some(o),
                _ => None,
            }
        }

        pub fn as_array(&self) -> Option<&[Value]> {
            match self {
                Value::Array(a) => Some(a),
                _ => None,
            }
        }

        pub fn as_str(&self) -> Option<&str> {
            match self {
                Value::String(s) => Some(s),
                _ => None,
            }
        }
    }

    pub fn parse(text: &str) -> Result<Value, String> {
        let mut p = Parser {
            s: text.as_bytes(),
            i: 0,
        };
        let v = p.value()?;
        p.ws();
        if p.i != p.s.len() {
            return Err(format!("JSON: trailing bytes at {}", p.i));
        }
        Ok(v)
    }

    struct Parser<'a> {
        s: &'a [u8],
        i: usize,
    }

    impl Parser<'_> {
        fn ws(&mut self) {
            while self.s.get(self.i).is_some_and(u8::is_ascii_whitespace) {
                self.i += 1;
            }
        }

        fn eat(&mut self, c: u8) -> Result<(), String> {
            self.ws();
            if self.s.get(self.i) == Some(&c) {
                self.i += 1;
                Ok(())
            } else {
                Err(format!("JSON: expected `{}` at {}", c as char, self.i))
            }
        }

        fn value(&mut self) -> Result<Value, String> {
            self.ws();
            match self.s.get(self.i) {
                Some(b'{') => {
                    self.i += 1;
                    let mut o = Vec::new();
                    self.ws();
                    if self.s.get(self.i) == Some(&b'}') {
                        self.i += 1;
                        return Ok(Value::Object(o));
                    }
                    loop {
                        self.ws();
                        let k = self.string()?;
                        self.eat(b':')?;
                        o.push((k, self.value()?));
                        self.ws();
                        match self.s.get(self.i) {
                            Some(b',') => self.i += 1,
                            Some(b'}') => {
                                self.i += 1;
                                return Ok(Value::Object(o));
                            }
                            _ => return Err(format!("JSON: bad object at {}", self.i)),
                        }
                    }
                }
                Some(b'[') => {
                    self.i += 1;
                    let mut a = Vec::new();
                    self.ws();
                    if self.s.get(self.i) == Some(&b']') {
                        self.i += 1;
                        return Ok(Value::Array(a));
                    }
                    loop {
                        a.push(self.value()?);
                        self.ws();
                        match self.s.get(self.i) {
                            Some(b',') => self.i += 1,
                            Some(b']') => {
                                self.i += 1;
                                return Ok(Value::Array(a));
                            }
                            _ => return Err(format!("JSON: bad array at {}", self.i)),
                        }
                    }
                }
                Some(b'"') => Ok(Value::String(self.string()?)),
                Some(b't') if self.s[self.i..].starts_with(b"true") => {
                    self.i += 4;
                    Ok(Value::Scalar)
                }
                Some(b'f') if self.s[self.i..].starts_with(b"false") => {
                    self.i += 5;
                    Ok(Value::Scalar)
                }
                Some(b'n') if self.s[self.i..].starts_with(b"null") => {
                    self.i += 4;
                    Ok(Value::Scalar)
                }
                _ => {
                    let start = self.i;
                    while self
                        .s
                        .get(self.i)
                        .is_some_and(|c| c.is_ascii_digit() || b"+-.eE".contains(c))
                    {
                        self.i += 1;
                    }
                    std::str::from_utf8(&self.s[start..self.i])
                        .ok()
                        .and_then(|t| t.parse::<f64>().ok())
                        .map(|_| Value::Scalar)
                        .ok_or(format!("JSON: bad value at {start}"))
                }
            }
        }

        fn string(&mut self) -> Result<String, String> {
            self.eat(b'"')?;
            let mut out = Vec::new();
            loop {
                let c = *self.s.get(self.i).ok_or("JSON: unterminated string")?;
                self.i += 1;
                match c {
                    b'"' => return String::from_utf8(out).map_err(|e| e.to_string()),
                    b'\\' => {
                        let e = *self.s.get(self.i).ok_or("JSON: bad escape")?;
                        self.i += 1;
                        match e {
                            b'n' => out.push(b'\n'),
                            b't' => out.push(b'\t'),
                            b'r' => out.push(b'\r'),
                            b'u' => {
                                let hex = self.s.get(self.i..self.i + 4).ok_or("JSON: bad \\u")?;
                                let code = u32::from_str_radix(
                                    std::str::from_utf8(hex).map_err(|e| e.to_string())?,
                                    16,
                                )
                                .map_err(|e| e.to_string())?;
                                self.i += 4;
                                let ch = char::from_u32(code).unwrap_or('\u{fffd}');
                                out.extend(ch.to_string().as_bytes());
                            }
                            other => out.push(other),
                        }
                    }
                    c => out.push(c),
                }
            }
        }
    }
}
