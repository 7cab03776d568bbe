//! `rung run --stats`: what the engine did, on stderr after the run: the
//! phases' wall times, streaming's times, what each tier compiled
//! (functions, wasm bytes in, code bytes out, compile time summed over
//! threads, throughput), lazy compiles, the ladder's fall-backs by reason,
//! tier-up counts and queue waits, OSR, and peak memory. `--stats=json`
//! prints the same numbers as one JSON object (milliseconds and bytes) for
//! scripts.

use std::time::Duration;

use rung::runtime::Engine;

/// What `rung run` measured around the engine.
pub struct Phases {
    /// `Module::new`, or the whole stream with `--stream`.
    pub compile: Duration,
    /// With `--stream`: its times.
    pub streamed: Option<crate::cli::stream::StreamTimes>,
    /// Instantiation.
    pub instantiate: Duration,
    /// The call of `_start` or the `--invoke`d export.
    pub run: Duration,
}

/// How `--stats` prints.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// A table on stderr, each line prefixed `rung stats:`.
    Text,
    /// One JSON object on stderr.
    Json,
}

/// Prints the statistics on stderr in `format`.
pub fn print(engine: &Engine, phases: &Phases, format: Format) {
    match format {
        Format::Text => print_text(engine, phases),
        Format::Json => eprintln!("{}", to_json(engine, phases)),
    }
}

/// The statistics as JSON: times in milliseconds, sizes in bytes.
pub fn to_json(engine: &Engine, phases: &Phases) -> serde_json::Value {
    use serde_json::json;
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    let t = engine.tier_up_stats();
    let tiers: Vec<_> = engine
        .compile_stats()
        .into_iter()
        .map(|c| {
            json!({
                "tier": c.tier,
                "functions": c.functions,
                "wasm_bytes": c.wasm_bytes,
                "code_bytes": c.code_bytes,
                "compile_ms": ms(c.compile_time),
            })
        })
        .collect();
    let fallbacks: serde_json::Map<String, serde_json::Value> = engine
        .fallback_reasons()
        .into_iter()
        .map(|(reason, count)| (reason, count.into()))
        .collect();
    json!({
        "phases_ms": {
            "compile": ms(phases.compile),
            "instantiate": ms(phases.instantiate),
            "run": ms(phases.run),
        },
        "streaming": phases.streamed.map(|s| json!({
            "bytes": s.bytes,
            "first_function_compiled_ms": s.first_compiled.map(ms),
            "last_byte_ms": ms(s.last_byte),
            "ready_after_last_byte_ms": ms(s.ready_after_last_byte),
        })),
        "tiers": tiers,
        "lazy_compiles": engine.lazy_compiles(),
        "fallbacks": engine.fallbacks(),
        "fallback_reasons": fallbacks,
        "tier_up": {
            "published": t.promoted,
            "waiting_at_exit": t.queued,
            "running_at_exit": t.running,
            "refused": t.refused,
            "discarded": t.discarded,
            "failed": t.failed,
            "queue_wait_median_ms": ms(t.queue_wait_median),
            "queue_wait_max_ms": ms(t.queue_wait_max),
        },
        "osr": {
            "entries_compiled": t.osr_entries,
            "switches": t.osr_switches,
        },
        "peak_rss_bytes": peak_rss_kib().map(|k| k * 1024),
    })
}

/// The table, one `name value` row per line, prefixed `rung stats:`.
fn print_text(engine: &Engine, phases: &Phases) {
    let t = engine.tier_up_stats();
    let ms = |d: Duration| format!("{:.1} ms", d.as_secs_f64() * 1e3);
    let mut rows = vec![(
        if phases.streamed.is_some() {
            "compile (streaming)"
        } else {
            "compile (Module::new)"
        },
        ms(phases.compile),
    )];
    if let Some(s) = phases.streamed {
        rows.push(("stream: bytes", s.bytes.to_string()));
        rows.push((
            "stream: first function compiled",
            s.first_compiled.map_or("-".into(), ms),
        ));
        rows.push(("stream: last byte pushed", ms(s.last_byte)));
        rows.push(("stream: ready after last byte", ms(s.ready_after_last_byte)));
    }
    rows.extend([
        ("instantiate", ms(phases.instantiate)),
        ("run", ms(phases.run)),
        ("fall-backs up the ladder", engine.fallbacks().to_string()),
        ("tier-ups published", t.promoted.to_string()),
        ("tier-ups waiting at exit", t.queued.to_string()),
        ("tier-ups running at exit", t.running.to_string()),
        (
            "tier-up requests refused (queue full)",
            t.refused.to_string(),
        ),
        ("tier-up jobs discarded", t.discarded.to_string()),
        (
            "tier-up queue wait (median, max)",
            format!("{}, {}", ms(t.queue_wait_median), ms(t.queue_wait_max)),
        ),
        ("tier-up compiles failed", t.failed.to_string()),
        ("OSR entries compiled", t.osr_entries.to_string()),
        ("OSR switches", t.osr_switches.to_string()),
    ]);
    if let Some(kib) = peak_rss_kib() {
        rows.push(("peak RSS", format!("{:.1} MiB", kib as f64 / 1024.0)));
    }
    rows.push(("lazy compiles", engine.lazy_compiles().to_string()));
    for (reason, count) in engine.fallback_reasons() {
        rows.push(("fall-backs because of", format!("{reason}: {count}")));
    }
    let width = rows.iter().map(|(name, _)| name.len()).max().unwrap_or(0);
    for (name, value) in rows {
        eprintln!("rung stats: {name:<width$}  {value}");
    }
    eprintln!(
        "rung stats: {:<16} {:>9} {:>11} {:>11} {:>11} {:>9}",
        "tier", "functions", "wasm KiB", "code KiB", "compile ms", "wasm MB/s"
    );
    for t in engine.compile_stats() {
        let secs = t.compile_time.as_secs_f64();
        let rate = if secs > 0.0 {
            format!("{:.1}", t.wasm_bytes as f64 / 1e6 / secs)
        } else {
            "-".into()
        };
        eprintln!(
            "rung stats: {:<16} {:>9} {:>11.1} {:>11.1} {:>11.1} {:>9}",
            t.tier,
            t.functions,
            t.wasm_bytes as f64 / 1024.0,
            t.code_bytes as f64 / 1024.0,
            secs * 1e3,
            rate
        );
    }
}

/// The process's peak resident set (`VmHWM` in /proc/self/status), where
/// the system reports it.
fn peak_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}
