//! The V8 peer: node, run as a fresh process per sample with the flags that
//! pick one V8 tier, and the JSON its scripts print.
//!
//! **Invariant:** node being absent or failing never fails a bench: a missing
//! node is "n/a" in every V8 cell (with the reason in the JSON), and an error
//! node reports (a module V8 cannot compile, a crash) is that cell's error
//! text.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use clap::Args;
use serde::de::DeserializeOwned;

/// V8's optimizing compiler alone, eagerly, on one thread.
pub const TURBOFAN_SINGLE_THREADED: &[&str] = &[
    "--no-liftoff",
    "--no-wasm-tier-up",
    "--no-wasm-lazy-compilation",
    "--single-threaded",
];

/// V8's baseline compiler alone, eagerly, on one thread.
pub const LIFTOFF_SINGLE_THREADED: &[&str] = &[
    "--liftoff",
    "--no-wasm-tier-up",
    "--no-wasm-lazy-compilation",
    "--single-threaded",
];

/// TurboFan alone, eagerly (compile threads as V8 likes: the kernels time
/// running code, not compiling it).
pub const TURBOFAN: &[&str] = &[
    "--no-liftoff",
    "--no-wasm-tier-up",
    "--no-wasm-lazy-compilation",
];

/// Where node is.
#[derive(Args, Debug, Clone, Default)]
pub struct NodeArgs {
    /// The node binary for the V8 columns [default: `node` on PATH]
    #[arg(long, value_name = "PATH")]
    pub node: Option<PathBuf>,
    /// Leave out the V8 columns
    #[arg(long)]
    pub no_node: bool,
}

/// A node that answered `--version`.
#[derive(Debug, Clone)]
pub struct Node {
    program: PathBuf,
    pub version: String,
}

impl NodeArgs {
    /// The node to run, or why there is none (turned off, missing, broken).
    pub fn probe(&self) -> Result<Node, String> {
        if self.no_node {
            return Err("--no-node".to_string());
        }
        let program = self.node.clone().unwrap_or_else(|| PathBuf::from("node"));
        let out = Command::new(&program)
            .arg("--version")
            .stdin(Stdio::null())
            .output()
            .map_err(|e| format!("cannot run {}: {e}", program.display()))?;
        if !out.status.success() {
            return Err(format!(
                "{} --version failed: {}",
                program.display(),
                out.status
            ));
        }
        let version = String::from_utf8_lossy(&out.stdout).trim().to_string();
        Ok(Node { program, version })
    }
}

impl Node {
    /// The node executable.
    pub fn program(&self) -> &Path {
        &self.program
    }

    /// Runs `node FLAGS SCRIPT ARGS` in a fresh process and parses the last
    /// line of its stdout as `T`. A failed process is an error with the tail
    /// of its stderr.
    pub fn run_json<T: DeserializeOwned>(
        &self,
        flags: &[&str],
        script: &Path,
        args: &[&std::ffi::OsStr],
    ) -> Result<T, String> {
        let out = Command::new(&self.program)
            .args(flags)
            .arg(script)
            .args(args)
            .stdin(Stdio::null())
            .output()
            .map_err(|e| format!("cannot run {}: {e}", self.program.display()))?;
        let stdout = String::from_utf8_lossy(&out.stdout);
        let last = stdout
            .lines()
            .rev()
            .find(|l| !l.trim().is_empty())
            .filter(|_| out.status.success());
        let Some(last) = last else {
            let stderr = String::from_utf8_lossy(&out.stderr);
            return Err(format!("node {}: {}", out.status, error_line(&stderr)));
        };
        serde_json::from_str(last).map_err(|e| format!("node printed `{last}`: {e}"))
    }
}

/// The line of a peer's (or rung's) stderr that says what went wrong: the
/// first that names an error (`RangeError: …`, `Error: Cannot find module
/// …`, `error: …`), else the last non-empty one (a stack trace's frames
/// say nothing).
pub fn error_line(stderr: &str) -> &str {
    let mut lines = stderr.lines().map(str::trim).filter(|l| !l.is_empty());
    lines
        .clone()
        .find(|l| (l.contains("Error") || l.contains("error:")) && !l.starts_with("at "))
        .or_else(|| lines.next_back())
        .unwrap_or("no output")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_node_is_a_reason_not_a_panic() {
        let args = NodeArgs {
            node: Some(PathBuf::from("/nonexistent/node")),
            no_node: false,
        };
        assert!(args.probe().unwrap_err().contains("cannot run"));
        let off = NodeArgs {
            node: None,
            no_node: true,
        };
        assert_eq!(off.probe().unwrap_err(), "--no-node");
    }

    #[test]
    fn the_error_line_is_the_one_naming_an_error() {
        let stderr = "node:internal/x:1\n  throw err;\n\nError: Cannot find module '/x.mjs'\n    at Module._resolve (node:internal)\n\nNode.js v20\n";
        assert_eq!(error_line(stderr), "Error: Cannot find module '/x.mjs'");
        assert_eq!(error_line("Killed\n"), "Killed");
        assert_eq!(error_line("warning: w\nerror: boom\nmore\n"), "error: boom");
        assert_eq!(error_line(""), "no output");
    }
}
