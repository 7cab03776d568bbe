//! rung-testkit: what the tier crates' tests share, so that each tier's
//! tests say only what is particular to it.
//!
//! - [`Module`]: a test module (text or binary) validated, decoded as the
//!   tiers see it, its bodies kept, compiled function by function.
//! - [`disassemble`]: Intel-syntax text of compiled code with trap sites.
//! - [`snapshots`]: `.wat` files rendered to text and compared with the
//!   `.expected` file beside each (`BLESS=1` rewrites them).
//!
//! **Invariant:** a dev-dependency only; it depends on the contract
//! (`rung-tiering`) and the decoder, never on a tier or the runtime, so every
//! tier may use it.

pub mod snapshots;

use std::fmt::Write as _;

use iced_x86::{Decoder, DecoderOptions, Formatter, Instruction, IntelFormatter};
use rung_decoder::{DecoderConfig, Event, FunctionBody, ModuleEnv, decode_all};
use rung_tiering::{CompileError, CompileOptions, CompiledFunction, Tier, TrapCode, VmOffsets};

/// The options of a function below the top of a tiered ladder: it counts
/// its tier-up budget (what the baseline's snapshots and executors show).
pub const TIERED: CompileOptions = CompileOptions {
    interrupt_checks: false,
    tier_up_checks: true,
    osr: false,
};

/// The options of a function at the top of the ladder, or in an engine
/// that does not tier up: nothing asked (what the optimizer's tests show).
pub const TOP: CompileOptions = CompileOptions {
    interrupt_checks: false,
    tier_up_checks: false,
    osr: false,
};

/// A decoded module with its bodies copied out.
pub struct Module {
    pub env: ModuleEnv,
    pub offsets: VmOffsets,
    /// (function index, absolute offset, body bytes)
    pub bodies: Vec<(u32, u64, Vec<u8>)>,
    pub bytes: Vec<u8>,
}

impl Module {
    /// Parses, validates (every feature wasmparser knows) and decodes.
    pub fn from_wat(wat: &str) -> Module {
        let bytes = wat::parse_str(wat).unwrap_or_else(|e| panic!("test module parses: {e}"));
        Module::from_bytes(&bytes)
    }

    /// Validates (every feature wasmparser knows) and decodes.
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

    /// The `i`th body (in code-section order).
    pub fn body(&self, i: usize) -> FunctionBody<'_> {
        let (index, offset, bytes) = &self.bodies[i];
        FunctionBody {
            index: *index,
            offset: *offset,
            bytes,
        }
    }

    /// Compiles the `i`th body with `tier` as a tiered engine compiles a
    /// function below the top of its ladder: with tier-up checks
    /// ([`TIERED`]).
    pub fn compile(&self, tier: &dyn Tier, i: usize) -> Result<CompiledFunction, CompileError> {
        self.compile_with(tier, i, &TIERED)
    }

    /// Compiles the `i`th body with `tier` and `options`.
    pub fn compile_with(
        &self,
        tier: &dyn Tier,
        i: usize,
        options: &CompileOptions,
    ) -> Result<CompiledFunction, CompileError> {
        let b = self.body(i);
        tier.compile(&self.env, b.index, b, &self.offsets, options)
    }

    /// Compiles every body and checks each result's invariants; panics on
    /// the first error.
    pub fn compile_all(&self, tier: &dyn Tier) -> Vec<CompiledFunction> {
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

    /// The `i`th body's function name from the name section, or
    /// `func<index>`.
    pub fn name(&self, i: usize) -> String {
        let index = self.bodies[i].0;
        self.env
            .function_name(index)
            .map_or_else(|| format!("func{index}"), str::to_string)
    }
}

/// How many `Interrupt` trap sites `tier` emits in a function with one
/// loop and in a leaf function, in that order, compiled with or without
/// `CompileOptions::interrupt_checks` (`on`): `[2, 1]` when it checks at
/// function entries and loops, `[0, 0]` when it does not check.
pub fn interrupt_checks(tier: &dyn Tier, on: bool) -> [usize; 2] {
    let m = Module::from_wat(
        r#"(module
        (func (param i32) (result i32)
          (loop $l (br_if $l (local.tee 0 (i32.sub (local.get 0) (i32.const 1)))))
          (local.get 0))
        (func (result i32) i32.const 7))"#,
    );
    let options = CompileOptions {
        interrupt_checks: on,
        ..TOP
    };
    [0, 1].map(|i| {
        let f = m.compile_with(tier, i, &options).expect("compiles");
        f.trap_sites
            .iter()
            .filter(|s| s.trap == TrapCode::Interrupt)
            .count()
    })
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
