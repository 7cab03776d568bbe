//! rung-decoder: a push-based streaming decoder of WebAssembly modules.
//!
//! ```text
//!  chunks ──► StreamingDecoder ──► events ──► EventSink (validator, compiler, inspector)
//!  (any size,  wasmparser::Parser    Header, Section (env updated), CodeSectionStart,
//!   down to    + its readers          FunctionBody, DataSegment, CustomSection, End
//!   one byte)
//! ```
//!
//! Feed bytes with [`Decoder::push`] as they arrive and [`Decoder::finish`] at
//! the end. Every section before the code section is decoded into the
//! [`ModuleEnv`] before its [`Event::Section`] is delivered; each function body
//! is delivered the moment its last byte arrives.
//!
//! **Memory invariant:** beyond what the sink chooses to keep, the decoder
//! holds the bytes of one unfinished item plus the chunk being pushed. An item
//! is a function body, a data section, the `name` section, or any other
//! non-code section. Custom sections other than `name` are skipped as they
//! stream past without being held (a module's DWARF can be larger than its
//! code) unless [`DecoderConfig::retain_custom_sections`] asks for them.
//!
//! **Invariant:** the decoder knows nothing about validation or code
//! generation. It checks the binary format (framing, section order, counts
//! that must agree); whether indices and types make sense is the validator's
//! job, run on the same events.
//!
//! **Invariant:** every error carries the absolute byte offset in the module;
//! no input, however malformed or truncated, panics.

mod env;
mod error;
mod stream;

use std::ops::Range;

pub use env::*;
pub use error::{DecodeError, spec_message};
pub use stream::StreamingDecoder;
pub use wasmparser;

/// Options of a decoder.
#[derive(Debug, Clone)]
pub struct DecoderConfig {
    /// The features the binary format is read with (some encodings, such as
    /// compact imports, exist only under a feature).
    pub features: wasmparser::WasmFeatures,
    /// Deliver every custom section whole in [`Event::CustomSection`]. When
    /// false (the default), only the `name` section is held and decoded; the
    /// others are skipped as they stream past and reported with `data: None`.
    pub retain_custom_sections: bool,
    /// Hold and decode the `name` section into the env's function names
    /// (the default). When false it is skipped like any other custom
    /// section: validation alone has no use for names, and a large module's
    /// name section costs more to decode than its sections before the code.
    pub decode_names: bool,
    /// Hold the `name` section and deliver it whole in
    /// [`Event::CustomSection`] even without `decode_names`, undecoded: a
    /// runtime keeps its bytes and decodes them only if a name is ever
    /// asked for (a backtrace, a profiler).
    pub deliver_names: bool,
}

impl Default for DecoderConfig {
    fn default() -> Self {
        DecoderConfig {
            // WebAssembly 3.0, the legacy exception instructions and wide
            // arithmetic, as `rung_validator::FEATURES`.
            features: wasmparser::WasmFeatures::WASM3
                .union(wasmparser::WasmFeatures::LEGACY_EXCEPTIONS)
                .union(wasmparser::WasmFeatures::WIDE_ARITHMETIC),
            retain_custom_sections: false,
            decode_names: true,
            deliver_names: false,
        }
    }
}

/// A function body as it completed in the input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FunctionBody<'a> {
    /// The function's index in the module's function index space (imported
    /// functions first).
    pub index: u32,
    /// The absolute offset of `bytes[0]` in the module.
    pub offset: u64,
    /// The body: local declarations, then the operators up to the final `end`.
    pub bytes: &'a [u8],
}

impl<'a> FunctionBody<'a> {
    /// wasmparser's view of the same body, with absolute offsets.
    pub fn reader(&self) -> wasmparser::FunctionBody<'a> {
        wasmparser::FunctionBody::new(wasmparser::BinaryReader::new(self.bytes, self.offset))
    }

    /// The absolute byte range of the body in the module.
    pub fn range(&self) -> Range<u64> {
        self.offset..self.offset + self.bytes.len() as u64
    }
}

/// What the decoder reports, in binary order.
#[derive(Debug, Clone)]
pub enum Event<'a> {
    /// The preamble: magic number and version.
    Header { version: u16, range: Range<u64> },
    /// A module section other than custom and code, already decoded into the
    /// env. `payload` is wasmparser's view of it, for sinks (the validator)
    /// that read it again.
    Section {
        id: SectionId,
        range: Range<u64>,
        payload: &'a wasmparser::Payload<'a>,
    },
    /// The code section begins; `count` bodies follow.
    CodeSectionStart { count: u32, range: Range<u64> },
    /// One complete function body.
    FunctionBody(FunctionBody<'a>),
    /// One data segment, after the data section's `Section` event.
    DataSegment {
        index: u32,
        data: &'a wasmparser::Data<'a>,
    },
    /// A custom section. `data` is `None` when it was skipped unread; the
    /// `name` section has been decoded into the env when this arrives.
    CustomSection {
        name: &'a str,
        range: Range<u64>,
        data: Option<&'a [u8]>,
    },
    /// The end of the module; `offset` is its size in bytes.
    End { offset: u64 },
}

/// Receives the decoder's events. Returning an error stops decoding: the
/// decoder is then failed and every later call returns an error.
pub trait EventSink {
    type Error: From<DecodeError>;
    fn event(&mut self, env: &ModuleEnv, event: Event<'_>) -> Result<(), Self::Error>;
}

impl<F, E> EventSink for F
where
    F: FnMut(&ModuleEnv, Event<'_>) -> Result<(), E>,
    E: From<DecodeError>,
{
    type Error = E;
    fn event(&mut self, env: &ModuleEnv, event: Event<'_>) -> Result<(), E> {
        self(env, event)
    }
}

/// A push-based decoder: bytes in, events out.
pub trait Decoder {
    /// Feeds the next chunk (any size, even one byte or none) and delivers
    /// every event that the bytes so far complete.
    fn push<S: EventSink>(&mut self, chunk: &[u8], sink: &mut S) -> Result<(), S::Error>;
    /// Declares the end of the input: delivers [`Event::End`], or an error if
    /// the module is truncated.
    fn finish<S: EventSink>(&mut self, sink: &mut S) -> Result<(), S::Error>;
    /// What has been decoded so far.
    fn env(&self) -> &ModuleEnv;
    /// How many bytes of input have been fully consumed.
    fn offset(&self) -> u64;
    /// How many bytes the decoder holds, waiting for an item to complete.
    fn buffered(&self) -> usize;
}

/// Decodes a module that is entirely in memory, delivering the same events as
/// any chunked push of the same bytes.
pub fn decode_all<S: EventSink>(
    bytes: &[u8],
    config: DecoderConfig,
    sink: &mut S,
) -> Result<ModuleEnv, S::Error> {
    let mut decoder = StreamingDecoder::new(config);
    decoder.push(bytes, sink)?;
    decoder.finish(sink)?;
    Ok(decoder.into_env())
}
