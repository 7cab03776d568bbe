//! `ValidateError`: an invalid (or malformed) module, with the absolute byte
//! offset and, inside a function, the function's index.

use std::fmt;

use rung_decoder::DecodeError;

/// Why a module is not valid. `message` is wasmparser's text, which is the
/// spec testsuite's expected text or close to it.
#[derive(Clone, PartialEq, Eq, thiserror::Error)]
pub struct ValidateError {
    /// Absolute byte offset in the module.
    pub offset: u64,
    /// The function whose body is invalid, by index in the function index
    /// space; `None` for module-level errors.
    pub func: Option<u32>,
    pub message: String,
}

impl ValidateError {
    pub fn new(offset: u64, func: Option<u32>, message: impl Into<String>) -> Self {
        ValidateError {
            offset,
            func,
            message: message.into(),
        }
    }

    pub(crate) fn in_func(func: u32, e: wasmparser::BinaryReaderError) -> Self {
        ValidateError {
            offset: e.offset(),
            func: Some(func),
            message: rung_decoder::spec_message(e.message()),
        }
    }
}

impl fmt::Display for ValidateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.func {
            Some(func) => write!(
                f,
                "function {func}: {} (at offset {:#x})",
                self.message, self.offset
            ),
            None => write!(f, "{} (at offset {:#x})", self.message, self.offset),
        }
    }
}

impl fmt::Debug for ValidateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl From<wasmparser::BinaryReaderError> for ValidateError {
    fn from(e: wasmparser::BinaryReaderError) -> Self {
        ValidateError::new(e.offset(), None, rung_decoder::spec_message(e.message()))
    }
}

impl From<DecodeError> for ValidateError {
    fn from(e: DecodeError) -> Self {
        ValidateError::new(e.offset, None, e.message)
    }
}
