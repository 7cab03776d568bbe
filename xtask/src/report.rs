//! Bench output: a Markdown table people read (stdout) and JSON machines read
//! (`<target>/bench/<name>.json`), with a description of the machine that
//! produced the numbers.
//!
//! **Invariant:** a cell never breaks the table: `|` is escaped and line
//! breaks become spaces, so an error message can stand where a number would.

use std::path::PathBuf;
use std::process::Command;
use std::time::{SystemTime, UNIX_EPOCH};

use serde::Serialize;

use crate::paths;

/// A Markdown table, columns padded to line up in a terminal.
pub struct Table {
    headers: Vec<String>,
    /// Right-align this column (numbers).
    numeric: Vec<bool>,
    rows: Vec<Vec<String>>,
}

impl Table {
    /// `columns` are (header, numeric) pairs.
    pub fn new(columns: &[(&str, bool)]) -> Table {
        Table {
            headers: columns.iter().map(|(h, _)| cell(h)).collect(),
            numeric: columns.iter().map(|(_, n)| *n).collect(),
            rows: Vec::new(),
        }
    }

    /// Adds a row; missing cells are left empty, extra cells are dropped.
    pub fn row(&mut self, cells: Vec<String>) {
        let mut cells: Vec<String> = cells.iter().map(|c| cell(c)).collect();
        cells.resize(self.headers.len(), String::new());
        self.rows.push(cells);
    }

    pub fn to_markdown(&self) -> String {
        let widths: Vec<usize> = (0..self.headers.len())
            .map(|i| {
                self.rows
                    .iter()
                    .map(|r| r[i].chars().count())
                    .chain([self.headers[i].chars().count(), 3])
                    .max()
                    .unwrap_or(3)
            })
            .collect();
        let line = |cells: &[String]| {
            let padded: Vec<String> = cells
                .iter()
                .enumerate()
                .map(|(i, c)| {
                    if self.numeric[i] {
                        format!("{c:>w$}", w = widths[i])
                    } else {
                        format!("{c:<w$}", w = widths[i])
                    }
                })
                .collect();
            format!("| {} |\n", padded.join(" | "))
        };
        let mut out = line(&self.headers);
        let rule: Vec<String> = widths
            .iter()
            .zip(&self.numeric)
            .map(|(w, n)| {
                if *n {
                    format!("{}:", "-".repeat(w - 1))
                } else {
                    "-".repeat(*w)
                }
            })
            .collect();
        out.push_str(&format!(
            "|{}|\n",
            rule.iter()
                .map(|r| format!(" {r} "))
                .collect::<Vec<_>>()
                .join("|")
        ));
        for row in &self.rows {
            out.push_str(&line(row));
        }
        out
    }
}

fn cell(text: &str) -> String {
    text.replace('|', "\\|").replace(['\n', '\r'], " ")
}

/// The machine and the source a bench ran on.
#[derive(Serialize, Debug, Clone)]
pub struct Machine {
    /// `std::thread::available_parallelism`.
    pub cores: usize,
    /// `model name` from /proc/cpuinfo, where there is one.
    pub cpu: Option<String>,
    pub os: &'static str,
    pub arch: &'static str,
    /// UTC, ISO 8601.
    pub date: String,
    pub unix_time: u64,
    /// `git rev-parse HEAD` in the workspace, if git answers.
    pub git_commit: Option<String>,
    /// Whether tracked files differ from that commit.
    pub git_dirty: Option<bool>,
    /// 1, 5 and 15 minute load averages from /proc/loadavg when the bench
    /// started: other work on the machine skews every number.
    pub load_average: Option<[f64; 3]>,
    /// The cargo profile this xtask (and the rung it links) was built
    /// with: the name of the directory its executable is in (`dist` through
    /// the `cargo xtask` alias).
    pub build_profile: Option<String>,
}

impl Machine {
    pub fn describe() -> Machine {
        let unix_time = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        let cpu = std::fs::read_to_string("/proc/cpuinfo")
            .ok()
            .and_then(|info| {
                info.lines()
                    .find(|l| l.starts_with("model name"))
                    .and_then(|l| l.split_once(':'))
                    .map(|(_, v)| v.trim().to_string())
            });
        Machine {
            cores: available_cores(),
            cpu,
            os: std::env::consts::OS,
            arch: std::env::consts::ARCH,
            date: iso8601_utc(unix_time),
            unix_time,
            git_commit: git(&["rev-parse", "HEAD"]),
            git_dirty: git(&["status", "--porcelain", "--untracked-files=no"])
                .map(|s| !s.is_empty()),
            load_average: load_average(),
            build_profile: build_profile(),
        }
    }

    /// One line for the top of a report.
    pub fn summary(&self) -> String {
        let commit = match (&self.git_commit, self.git_dirty) {
            (Some(c), Some(true)) => format!("{} (dirty)", short(c)),
            (Some(c), _) => short(c).to_string(),
            (None, _) => "unknown".to_string(),
        };
        let load = match self.load_average {
            Some([one, five, _]) => format!(", load {one:.2}/{five:.2} (1/5 min)"),
            None => String::new(),
        };
        format!(
            "{} cores, {}, {}-{}, {}, commit {}, profile {}{load}",
            self.cores,
            self.cpu.as_deref().unwrap_or("unknown CPU"),
            self.os,
            self.arch,
            self.date,
            commit,
            self.build_profile.as_deref().unwrap_or("unknown"),
        )
    }
}

fn build_profile() -> Option<String> {
    let exe = std::env::current_exe().ok()?;
    let dir = exe.parent()?.file_name()?.to_str()?;
    Some(if dir == "debug" { "dev" } else { dir }.to_string())
}

fn load_average() -> Option<[f64; 3]> {
    let text = std::fs::read_to_string("/proc/loadavg").ok()?;
    let mut fields = text.split_whitespace().map(|f| f.parse::<f64>().ok());
    Some([fields.next()??, fields.next()??, fields.next()??])
}

fn short(commit: &str) -> &str {
    commit.get(..12).unwrap_or(commit)
}

/// `std::thread::available_parallelism`, 1 when it cannot tell.
pub fn available_cores() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
}

fn git(args: &[&str]) -> Option<String> {
    let out = Command::new("git")
        .args(args)
        .current_dir(paths::workspace_root())
        .output()
        .ok()?;
    if !out.status.success() {
        return None;
    }
    Some(String::from_utf8_lossy(&out.stdout).trim().to_string())
}

/// Seconds since the epoch as `YYYY-MM-DDTHH:MM:SSZ`.
fn iso8601_utc(unix: u64) -> String {
    let days = (unix / 86_400) as i64;
    let secs = unix % 86_400;
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        secs / 3_600,
        secs / 60 % 60,
        secs % 60
    )
}

/// Writes `value` as pretty JSON to `<target>/bench/<name>.json`.
pub fn write_json(name: &str, value: &impl Serialize) -> Result<PathBuf, String> {
    let dir = paths::target_dir().join("bench");
    std::fs::create_dir_all(&dir).map_err(|e| format!("creating {}: {e}", dir.display()))?;
    let path = dir.join(format!("{name}.json"));
    let mut text =
        serde_json::to_string_pretty(value).map_err(|e| format!("serializing {name}: {e}"))?;
    text.push('\n');
    std::fs::write(&path, text).map_err(|e| format!("writing {}: {e}", path.display()))?;
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates() {
        assert_eq!(iso8601_utc(0), "1970-01-01T00:00:00Z");
        assert_eq!(iso8601_utc(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(iso8601_utc(1_763_771_045), "2025-11-22T00:24:05Z");
    }

    #[test]
    fn table_escapes_and_aligns() {
        let mut t = Table::new(&[("name", false), ("n", true)]);
        t.row(vec!["a|b".into(), "1.5".into()]);
        t.row(vec!["line\nbreak".into()]);
        assert_eq!(
            t.to_markdown(),
            "| name       |   n |\n\
             | ---------- | --: |\n\
             | a\\|b       | 1.5 |\n\
             | line break |     |\n"
        );
    }
}
