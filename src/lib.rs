//! rung: a WebAssembly engine with pluggable compiler tiers.
//!
//! This is the facade: it re-exports the workspace's crates under one name,
//! so an embedder depends on `rung` alone.
//!
//! - [`decoder`]: push-based streaming decoding into a `ModuleEnv`;
//! - [`validator`]: two-stage validation, stage 2 in parallel;
//! - [`tiering`]: the contract between tiers and the runtime;
//! - [`runtime`]: engine, modules, instances (in progress).

pub use rung_baseline as baseline;
pub use rung_decoder as decoder;
pub use rung_optimizer as optimizer;
pub use rung_runtime as runtime;
pub use rung_tiering as tiering;
pub use rung_validator as validator;

pub mod disas;
pub mod wast;

use std::path::Path;

/// A function body's place in a module: function index, absolute offset,
/// length in bytes.
pub type BodyLocation = (u32, u64, usize);

/// Decodes a module (without validating it) and lists its function bodies.
pub fn decode_bodies(
    bytes: &[u8],
) -> Result<(decoder::ModuleEnv, Vec<BodyLocation>), decoder::DecodeError> {
    let mut bodies = Vec::new();
    let mut sink = |_: &decoder::ModuleEnv, event: decoder::Event<'_>| {
        if let decoder::Event::FunctionBody(body) = event {
            bodies.push((body.index, body.offset, body.bytes.len()));
        }
        Ok::<_, decoder::DecodeError>(())
    };
    let env = decoder::decode_all(bytes, decoder::DecoderConfig::default(), &mut sink)?;
    Ok((env, bodies))
}

/// Why a file could not be read as a module.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("{0}")]
    Text(#[from] wat::Error),
    /// Neither the binary format (no `\0asm` magic) nor text (not UTF-8).
    #[error(
        "not a wasm module: no `\\0asm` magic number, and not text (invalid UTF-8 at byte {0})"
    )]
    NotWasm(usize),
}

/// The bytes of a module that may be binary or text: binary as it is,
/// text compiled; bytes that are neither are [`LoadError::NotWasm`].
pub fn parse_module_bytes(bytes: Vec<u8>) -> Result<Vec<u8>, LoadError> {
    if bytes.starts_with(b"\0asm") {
        return Ok(bytes);
    }
    if let Err(e) = std::str::from_utf8(&bytes) {
        return Err(LoadError::NotWasm(e.valid_up_to()));
    }
    Ok(wat::parse_bytes(&bytes)?.into_owned())
}

/// Reads a module from a file: the binary format as it is, the text format
/// (`.wat`, or any UTF-8 file that does not start with the wasm magic
/// number) compiled to binary.
pub fn read_module(path: &Path) -> Result<Vec<u8>, LoadError> {
    let bytes = std::fs::read(path)?;
    parse_module_bytes(bytes).map_err(|e| match e {
        LoadError::Text(mut e) => {
            e.set_path(path);
            LoadError::Text(e)
        }
        e => e,
    })
}
