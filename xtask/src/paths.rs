//! Where things are: the workspace root, the shared directory beside it (the
//! corpus lives in `<root>/../shared/corpus`, never in the repo) and the
//! target directory that bench results go under.
//!
//! **Invariant:** every path is derived from xtask's own manifest directory or
//! from an explicit override, never from the current directory alone, so the
//! tasks behave the same from any directory of the workspace.

use std::path::{Path, PathBuf};

/// The workspace root: the parent of xtask's manifest directory.
pub fn workspace_root() -> PathBuf {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest.parent().unwrap_or(manifest).to_path_buf()
}

/// `xtask/kernels`: the compute kernels (`.wat`) and their node runner.
pub fn kernels_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("kernels")
}

/// `<root>/../shared`, where the corpus and the design documents live
/// (canonical when it exists, for readable messages).
pub fn shared_dir() -> PathBuf {
    let dir = workspace_root().join("..").join("shared");
    std::fs::canonicalize(&dir).unwrap_or(dir)
}

/// `CARGO_TARGET_DIR` when set (relative to the current directory, as cargo
/// reads it), else `<root>/target`.
pub fn target_dir() -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) if !dir.is_empty() => {
            let dir = PathBuf::from(dir);
            if dir.is_absolute() {
                dir
            } else {
                std::env::current_dir()
                    .map(|cwd| cwd.join(&dir))
                    .unwrap_or(dir)
            }
        }
        _ => workspace_root().join("target"),
    }
}
