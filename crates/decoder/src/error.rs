//! `DecodeError`: what went wrong while decoding, and the absolute byte offset
//! in the module where it did.

use std::fmt;

/// A malformed, truncated or otherwise undecodable module.
///
/// `offset` is the absolute byte offset in the module (0 = the first byte of
/// the magic number). `message` is wasmparser's text, which for malformed
/// binaries is the spec testsuite's text or a close paraphrase of it.
#[derive(Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message} (at offset {offset:#x})")]
pub struct DecodeError {
    pub offset: u64,
    pub message: String,
}

impl DecodeError {
    pub fn new(offset: u64, message: impl Into<String>) -> Self {
        DecodeError {
            offset,
            message: message.into(),
        }
    }
}

impl fmt::Debug for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl From<wasmparser::BinaryReaderError> for DecodeError {
    fn from(e: wasmparser::BinaryReaderError) -> Self {
        DecodeError {
            offset: e.offset(),
            message: e.message().to_string(),
        }
    }
}
