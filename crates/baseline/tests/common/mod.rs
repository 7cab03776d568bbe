//! Shared test helpers: decode and validate a module, compile its functions
//! with the baseline tier, disassemble the result.
#![allow(dead_code)]

pub mod exec;

use std::fmt::Write as _;

use iced_x86::{Decoder, DecoderOptions, Formatter, Instruction, IntelFormatter};
use rung_baseline::BaselineTier;
use rung_decoder::{DecoderConfig, Event, FunctionBody, ModuleEnv, decode_all};
use rung_tiering::{CompileError, CompiledFunction, Tier, VmOffsets};

/// A decoded module with its bodies copied out.
pub struct Module {
    pub env: ModuleEnv,
    pub offsets: VmOffsets,
    /// (function index, absolute offset, body bytes)
    pub bodies: Vec<(u32, u64, Vec<u8>)>,
    pub bytes: Vec<u8>,
}

impl Module {
    pub fn from_wat(wat: &str) -> Module {
        let bytes = wat::parse_str(wat).unwrap_or_else(|e| panic!("test module parses: {e}"));
        Module::from_bytes(&bytes)
    }

    pub fn from_bytes(bytes: &[u8]) -> Module {
        wasmparser::Validator::new_with_features(wasmparser::WasmFeatures::all())
            .validate_all(bytes)
            .unwrap_or_else(|e| panic!("test module validates: {e}"));
        Module::decode(bytes)
    }

    /// Decodes without validating.
    pub fn decode(bytes: &[u8]) -> Module {
        let mut bodies = Vec::new();
        let mut sink = |_: &ModuleEnv, e: Event<'_>| {
            if let Event::FunctionBody(b) = e {
                bodies.push((b.index, b.offset, b.bytes.to_vec()));
            }
            Ok::<_, rung_decoder::DecodeError>(())
        };
        let env = decode_all(bytes, DecoderConfig::default(), &mut sink).expect("decodes");
        let offsets = VmOffsets::for_host(&env).expect("vmctx layout");
        Module {
            env,
            offsets,
            bodies,
            bytes: bytes.to_vec(),
        }
    }

    pub fn body(&self, i: usize) -> FunctionBody<'_> {
        let (index, offset, bytes) = &self.bodies[i];
        FunctionBody {
            index: *index,
            offset: *offset,
            bytes,
        }
    }

    pub fn compile(&self, tier: &dyn Tier, i: usize) -> Result<CompiledFunction, CompileError> {
        let b = self.body(i);
        tier.compile(&self.env, b.index, b, &self.offsets)
    }

    /// Compiles every body; panics on the first error.
    pub fn compile_all(&self, tier: &BaselineTier) -> Vec<CompiledFunction> {
        (0..self.bodies.len())
            .map(|i| {
                let f = self
                    .compile(tier, i)
                    .unwrap_or_else(|e| panic!("function {}: {e}", self.name(i)));
                f.check().expect("invariants");
                f
            })
            .collect()
    }

    /// The function's name from the name section, or its index.
    pub fn name(&self, i: usize) -> String {
        let index = self.bodies[i].0;
        self.env
            .function_name(index)
            .map_or_else(|| format!("func{index}"), str::to_string)
    }
}

pub fn tier() -> BaselineTier {
    BaselineTier::new()
}

/// Intel-syntax disassembly with code offsets and trap sites.
pub fn disassemble(f: &CompiledFunction) -> String {
    let mut out = String::new();
    let mut decoder = Decoder::with_ip(64, &f.code, 0, DecoderOptions::NONE);
    let mut formatter = IntelFormatter::new();
    formatter.options_mut().set_first_operand_char_index(8);
    let mut ins = Instruction::default();
    let mut text = String::new();
    while decoder.can_decode() {
        decoder.decode_out(&mut ins);
        text.clear();
        formatter.format(&ins, &mut text);
        let off = ins.ip() as u32;
        let _ = write!(out, "  {off:4x}: {text}");
        if let Some(trap) = f.trap_at(off) {
            let _ = write!(out, "  ; trap: {trap:?}");
        }
        out.push('\n');
    }
    out
}
