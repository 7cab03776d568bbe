//! `rung run --trace FILE.json`: what the engine did, as Chrome trace
//! events that Perfetto (ui.perfetto.dev, "Open trace file") and
//! chrome://tracing load.
//!
//! The runtime emits `tracing` spans and events (a cached check when no
//! subscriber listens): a `compile` slice per function compile attempt, on
//! the thread that did it (args: tier, func, wasm_bytes, code_bytes, or
//! fell_back with the feature that sent it up the ladder); `Module::new`
//! around a batch compile; instants for `tier-up request`, `OSR entry
//! request`, `publish` (a function's new code patched in) and the
//! module-level phases V8 names (`StartStreamingCompilation`,
//! `BaselineFinished`, `TopTierFinished`; `LazyModuleReady` for a lazy
//! module). `tracing-chrome` writes them; when the run ends, every event
//! that names a function gets its name from the name section as an arg.

use std::path::{Path, PathBuf};

use rung::runtime::Module;
use tracing_chrome::{ChromeLayerBuilder, FlushGuard};
use tracing_subscriber::prelude::*;

/// A trace being written.
pub struct Trace {
    path: PathBuf,
    guard: FlushGuard,
}

/// Starts writing the trace to `path` (the process's global subscriber).
pub fn start(path: &Path) -> Result<Trace, String> {
    // Fail early on a path that cannot be written (tracing-chrome would
    // panic on its writer thread).
    std::fs::File::create(path).map_err(|e| format!("--trace {}: {e}", path.display()))?;
    let (layer, guard) = ChromeLayerBuilder::new()
        .file(path)
        .include_args(true)
        .build();
    // Only rung's own spans and events: not `log` records bridged in (the
    // optimizer's Cranelift logs every pass), so no LogTracer.
    tracing::subscriber::set_global_default(tracing_subscriber::registry().with(layer))
        .map_err(|e| format!("--trace: {e}"))?;
    Ok(Trace {
        path: path.to_path_buf(),
        guard,
    })
}

impl Trace {
    /// Flushes the trace, turns its args back into JSON values
    /// (tracing-chrome writes each as its Debug text: `"\"baseline\""`,
    /// `"12"`) and names the functions its events mention.
    pub fn finish(self, module: Option<&Module>) -> Result<(), String> {
        let Trace { path, guard } = self;
        drop(guard);
        let text = std::fs::read_to_string(&path)
            .map_err(|e| format!("--trace {}: {e}", path.display()))?;
        let mut events: Vec<serde_json::Value> = serde_json::from_str(&text)
            .map_err(|e| format!("--trace {}: not the JSON written: {e}", path.display()))?;
        for event in &mut events {
            let Some(args) = event.get_mut("args").and_then(|a| a.as_object_mut()) else {
                continue;
            };
            for value in args.values_mut() {
                if let Some(parsed) = value
                    .as_str()
                    .and_then(|s| serde_json::from_str::<serde_json::Value>(s).ok())
                {
                    *value = parsed;
                }
            }
            let Some(module) = module else {
                continue;
            };
            let Some(func) = args.get("func").and_then(serde_json::Value::as_u64) else {
                continue;
            };
            if let Some(name) = u32::try_from(func)
                .ok()
                .and_then(|f| module.function_name(f))
            {
                args.insert("name".into(), name.into());
            }
        }
        let text = serde_json::to_string(&events).map_err(|e| e.to_string())?;
        std::fs::write(&path, text).map_err(|e| format!("--trace {}: {e}", path.display()))
    }
}
