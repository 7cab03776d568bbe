//! Shared test helpers: decode and validate a module, compile its functions.
#![allow(dead_code)]

use rung_decoder::{DecoderConfig, Event, FunctionBody, ModuleEnv, decode_all};
use rung_optimizer::OptimizingTier;
use rung_tiering::{CompileError, CompiledFunction, Tier, VmOffsets};

/// A decoded module with its bodies copied out.
pub struct Module {
    pub env: ModuleEnv,
    pub offsets: VmOffsets,
    /// (function index, absolute offset, body bytes)
    pub bodies: Vec<(u32, u64, Vec<u8>)>,
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

    pub fn compile(
        &self,
        tier: &OptimizingTier,
        i: usize,
    ) -> Result<CompiledFunction, CompileError> {
        let b = self.body(i);
        tier.compile(&self.env, b.index, b, &self.offsets)
    }

    /// The function's name from the name section, or its index.
    pub fn name(&self, i: usize) -> String {
        let index = self.bodies[i].0;
        self.env
            .function_name(index)
            .map_or_else(|| format!("func{index}"), str::to_string)
    }
}

pub fn tier() -> OptimizingTier {
    OptimizingTier::new().expect("host ISA")
}
