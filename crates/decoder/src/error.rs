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
            message: spec_message(e.message()),
        }
    }
}

/// wasmparser messages whose meaning is exactly one of the spec testsuite's
/// texts, which is put first: `malformed import kind (invalid leading byte
/// (0x5) for external kind)`. The spec's reference interpreter accepts any
/// message that starts with the expected text; the detail stays.
const SPEC_TEXTS: &[(&str, &str)] = &[
    (
        "section out of order",
        "unexpected content after last section",
    ),
    ("invalid leading byte", "malformed import kind"),
    ("malformed global flags", "malformed mutability"),
    ("invalid memory limits flags", "malformed limits flags"),
    (
        "invalid table resizable limits flags",
        "malformed limits flags",
    ),
    ("global is immutable", "immutable global"),
    (
        "malformed memop: reserved flags bits set",
        "malformed memop flags",
    ),
    (
        "function section is absent but code section has non-zero count",
        "function and code section have inconsistent lengths",
    ),
    (
        "function section has non-zero count but code section is absent",
        "function and code section have inconsistent lengths",
    ),
    (
        "data count is non-zero but data section is absent",
        "data count and data section have inconsistent lengths",
    ),
];

/// The message for a wasmparser error, led by the spec's text where one
/// means the same (see `SPEC_TEXTS`).
pub fn spec_message(message: &str) -> String {
    if let Some(opcode) = message.strip_prefix("illegal opcode: 0x") {
        return format!("illegal opcode {opcode}");
    }
    for (ours, spec) in SPEC_TEXTS {
        let applies = match *ours {
            // Only the external-kind byte of an import or export.
            "invalid leading byte" => message.ends_with("for external kind"),
            prefix => message.starts_with(prefix),
        };
        if applies {
            return format!("{spec} ({message})");
        }
    }
    message.to_string()
}
