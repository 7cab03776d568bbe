//! rung-tiering: the contract every compiler tier and the runtime share.
//!
//! ```text
//! bytes ──► decoder ──► validator ──► Tier::compile ──────────► runtime
//!           ModuleEnv   stage 1 + 2   (this crate's contract)   code memory, slots,
//!           + bodies                  CompiledFunction:         vmctx (VmOffsets),
//!                                     PIC bytes + metadata      libcalls, traps,
//!                                          ▲                    tier-up (TierUpPolicy)
//!                         baseline ────────┤
//!                         optimizer ───────┘  one ABI (abi), one vmctx layout
//! ```
//!
//! What lives here, and nothing else (no code generation):
//! - [`Tier`]: a compiler, a pure function from one function body (and
//!   [`CompileOptions`]) to a [`CompiledFunction`] or a [`CompileError`];
//!   [`Trampolines`]: the code between the host and wasm;
//! - [`TrapCode`]: why code trapped, with the spec interpreter's messages;
//! - [`Libcall`]: the runtime functions compiled code may call;
//! - [`VmOffsets`]: where everything is in the vmctx;
//! - [`TierUpPolicy`]: when a function climbs the tier ladder, and to
//!   which level;
//! - [`abi`]: the one calling convention of all wasm functions;
//! - [`trampoline`]: how the host enters wasm and wasm calls the host.
//!
//! **Invariant:** the arrows only point down: this crate depends on the
//! decoder and the validator (whose stage-2 job a tier may validate with)
//! alone, and tiers and the runtime depend on it, never the reverse.
//! Any number a tier and the runtime must agree on (an offset, an index, a
//! register, a trap number) is defined here once.

pub mod abi;
mod atomic;
pub mod gc;
mod libcall;
pub mod osr;
mod policy;
pub mod trampoline;
mod trap;
mod vmoffsets;

use std::time::Duration;

pub use atomic::{AtomicKind, AtomicOp, RmwOp, atomic_op};
pub use libcall::{Libcall, LibcallType};
pub use policy::{
    BUDGET_COST_CALL, BUDGET_COST_LOOP_BACKEDGE, CallCountPolicy, HotFunction, PromoteTo,
    TierUpDecision, TierUpPolicy,
};
use rung_decoder::wasmparser::FuncType;
pub use rung_decoder::{FunctionBody, ModuleEnv};
pub use rung_validator::FuncJob;
pub use trap::TrapCode;
pub use vmoffsets::{
    Definition, EXN_TAG, EXN_VALUE_SIZE, EXN_VALUES, FUNCREF_SIZE, FUNCREF_SLOT, FUNCREF_TYPE_ID,
    FUNCREF_VMCTX, FuncRefLayout, GLOBAL_SIZE, HOST_POINTER_SIZE, MAX_VMCTX_SIZE, MemoryLayout,
    TABLE_ELEMENT_LAZY_BIT, TableLayout, VMCTX_MAGIC, VmOffsets, VmRegion,
};

/// Bytes of address space the runtime reserves for every 32-bit linear
/// memory: the 4 GiB a 32-bit address can reach, a 4 GiB guard beyond it
/// (the largest static `offset`), and 64 KiB for the access size. Only the
/// memory's current length is accessible; every other byte faults.
///
/// So an access at `base + zext(addr) + offset` of at most 16 bytes either
/// touches the memory or faults: a tier may leave out the explicit bounds
/// check and instead record the access itself as a
/// [`TrapCode::MemoryOutOfBounds`] trap site. The runtime maps a fault at a
/// recorded site (SIGSEGV or SIGBUS) to that trap, exactly as it maps a
/// `ud2` at a trap site. Tiers that keep explicit checks stay correct.
pub const MEMORY32_RESERVATION: u64 = (8 << 30) + (64 << 10);

/// A 64-bit memory's index bits: it may grow to at most
/// `1 << MEMORY64_INDEX_BITS` bytes (8 GiB), and an access whose address
/// has a bit set at or above this one is out of bounds (ARCHITECTURE.md,
/// "64-bit memories and tables").
pub const MEMORY64_INDEX_BITS: u32 = 33;

/// The most bytes a 64-bit memory may hold: `memory.grow` beyond returns -1.
pub const MEMORY64_MAX_BYTES: u64 = 1 << MEMORY64_INDEX_BITS;

/// Bytes of address space the runtime reserves for every 64-bit memory:
/// [`MEMORY64_MAX_BYTES`], as large a guard beyond it (static offsets
/// below `MEMORY64_MAX_BYTES`), and 64 KiB for the access size.
///
/// So once a tier has trapped on `addr >> MEMORY64_INDEX_BITS != 0` and on
/// a static `offset >= MEMORY64_MAX_BYTES`, an access at `base + addr +
/// offset` of at most 16 bytes either touches the memory or faults, and
/// the access itself is a [`TrapCode::MemoryOutOfBounds`] trap site, as for
/// 32-bit memories.
pub const MEMORY64_RESERVATION: u64 = 2 * MEMORY64_MAX_BYTES + (64 << 10);

/// What the runtime asks of one compilation, beyond the body itself. The
/// default asks for nothing: code that runs as fast as the tier can make it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
pub struct CompileOptions {
    /// Check `vmctx.interrupt` at every function entry and loop back-edge
    /// and trap with [`TrapCode::Interrupt`] when it is set
    /// (`Config::interruptible`).
    pub interrupt_checks: bool,
    /// The function may climb the tier ladder: count calls and loop
    /// back-edges against its tier-up budget and call [`Libcall::TierUp`]
    /// when it runs out (see [`policy`](TierUpPolicy)). A tier that does not
    /// count (an optimizing tier at the top) ignores this; the answer's
    /// [`CompiledFunction::counts_budget`] says what the code does.
    pub tier_up_checks: bool,
    /// With `tier_up_checks`: record, for each loop, where its state is at
    /// its back-edges ([`osr::OsrExits`]), so that a running frame can move
    /// to an OSR entry further up the ladder. A tier that cannot leaves
    /// [`CompiledFunction::osr`] empty.
    pub osr: bool,
}

/// A compiler tier: turns one function body into machine code.
///
/// A tier is a pure function from a body to bytes: it keeps no global state,
/// allocates no executable memory and may be called from any thread, for any
/// functions in any order (hence `Send + Sync`). Everything it needs to know
/// about the instance it will run in comes from `env` and `offsets`, and
/// what the runtime wants of the code from `options`; the code it returns
/// must follow [`abi`] and reach the outside world only through the vmctx.
///
/// `CompileError::Unsupported` means "not this tier": the runtime then
/// compiles the function with the next tier up its ladder (as V8's Liftoff
/// bails out to TurboFan), so a tier may ship before it covers every
/// proposal. Any other error fails the module.
pub trait Tier: Send + Sync {
    /// A short name for logs, stats and command-line flags, e.g. `"baseline"`.
    fn name(&self) -> &'static str;

    /// Compiles function `index` (absolute: imported functions come first,
    /// so `index >= env.num_imported_functions()`) whose body is `body`,
    /// which has been validated. `offsets` is the vmctx layout of `env`'s
    /// module.
    fn compile(
        &self,
        env: &ModuleEnv,
        index: u32,
        body: FunctionBody<'_>,
        offsets: &VmOffsets,
        options: &CompileOptions,
    ) -> Result<CompiledFunction, CompileError>;

    /// Compiles a body that has not been validated yet, validating it with
    /// `job` (stage 2) on the way. A validation error is
    /// `CompileError::Invalid` with the validator's message and offset.
    /// After `Unsupported` the body may be validated only in part: the
    /// caller validates it again before the next tier compiles it.
    ///
    /// The default validates the whole body, then compiles it. A
    /// single-pass tier overrides this to validate each operator just
    /// before it compiles it: one walk, no second decode.
    fn compile_validating(
        &self,
        env: &ModuleEnv,
        index: u32,
        body: FunctionBody<'_>,
        offsets: &VmOffsets,
        options: &CompileOptions,
        job: FuncJob,
    ) -> Result<CompiledFunction, CompileError> {
        job.validate(&body).map_err(|e| CompileError::Invalid {
            message: e.message,
            offset: e.offset,
            func: e.func.unwrap_or(index),
        })?;
        self.compile(env, index, body, offsets, options)
    }

    /// Compiles an OSR entry of function `index` (a valid body) at the
    /// loop whose `loop` operator is at absolute offset `loop_offset`: code
    /// entered by a jump, with the caller's return address on the stack,
    /// as a function of the abi's convention taking `(vmctx, buffer)` and
    /// returning the function's results. It reads the loop's OSR layout
    /// ([`osr`]) from `buffer` before anything else (the buffer is reused)
    /// and goes on from the loop's header. The default: `Unsupported`.
    fn compile_osr_entry(
        &self,
        env: &ModuleEnv,
        index: u32,
        body: FunctionBody<'_>,
        offsets: &VmOffsets,
        options: &CompileOptions,
        loop_offset: u32,
    ) -> Result<CompiledFunction, CompileError> {
        let _ = (env, index, offsets, options);
        Err(CompileError::Unsupported {
            feature: format!("OSR entries (the loop at {loop_offset:#x})"),
            offset: body.offset,
        })
    }
}

/// Makes the code through which the host enters wasm and wasm calls the
/// host, one pair per function type (see [`trampoline`] for the contract).
/// The optimizing tier provides them; an embedder that links only the
/// baseline can supply its own.
pub trait Trampolines: Send + Sync {
    /// Host → wasm: the SysV `fn(callee vmctx, code, args_and_results)`
    /// described in [`trampoline`].
    fn host_to_wasm(&self, ty: &FuncType) -> Result<CompiledFunction, CompileError>;

    /// Wasm → host: a function with `ty`'s wasm signature that calls the
    /// host function behind its vmctx (see [`trampoline`]).
    fn wasm_to_host(&self, ty: &FuncType) -> Result<CompiledFunction, CompileError>;
}

/// A place in the code that traps, and why.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TrapSite {
    /// Offset of the trapping instruction (a faulting access, a `ud2`, or
    /// the call to the `Trap` libcall) in [`CompiledFunction::code`].
    pub code_offset: u32,
    /// The trap it raises.
    pub trap: TrapCode,
}

/// A call site in the scope of an exception handler: where a throw below
/// it resumes (see ARCHITECTURE.md, "Exception handling").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct HandlerSite {
    /// Offset of the call's return address in [`CompiledFunction::code`].
    pub ret_offset: u32,
    /// Offset of the landing pad, entered with the exception object in
    /// `rax` and every other register undefined.
    pub landing: u32,
    /// The call site's stack pointer is the frame pointer minus this: the
    /// stack pointer the landing pad expects.
    pub sp_to_fp: u32,
}

/// What compiling one function cost and produced.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CompileStats {
    /// Bytes of the wasm body (locals and operators).
    pub wasm_bytes: usize,
    /// Bytes of machine code produced.
    pub code_bytes: usize,
    /// Wall time spent in [`Tier::compile`].
    pub compile_time: Duration,
    /// The [`Tier::name`] of the tier that produced it.
    pub tier: &'static str,
}

/// One compiled function: machine code and the metadata the runtime needs.
///
/// **Invariants** (see [`CompiledFunction::check`]):
/// - `code` is position independent: it has no relocations; every call and
///   libcall goes through the vmctx, so the bytes may be copied anywhere,
///   cached, and shared by instances;
/// - `trap_sites` is sorted by `code_offset`, without duplicates, each inside
///   `code`;
/// - `offset_map` is sorted by code offset, without duplicates, each inside
///   `code`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CompiledFunction {
    /// The machine code, entered at offset 0 with the [`abi`] convention.
    pub code: Vec<u8>,
    /// Every instruction that may trap.
    pub trap_sites: Vec<TrapSite>,
    /// `(code offset, wasm byte offset)`: from each code offset on, until
    /// the next entry, the code belongs to the operator at that absolute
    /// byte offset in the module.
    pub offset_map: Vec<(u32, u32)>,
    /// Bytes of stack the function's frame takes below the return address.
    pub frame_size: u32,
    /// The code decrements the function's tier-up budget and calls
    /// [`Libcall::TierUp`] when it runs out (it was compiled with
    /// [`CompileOptions::tier_up_checks`] by a tier that counts). The
    /// runtime gives such code the policy's initial budget, any other code
    /// one that never runs out.
    pub counts_budget: bool,
    /// Its call sites in the scope of an exception handler, sorted by
    /// return offset.
    pub handlers: Vec<HandlerSite>,
    /// Its loops' OSR exits (empty unless compiled with
    /// [`CompileOptions::osr`] by a tier that records them).
    pub osr: osr::OsrExits,
    /// Compile statistics.
    pub stats: CompileStats,
}

impl CompiledFunction {
    /// The wasm byte offset of the operator that the instruction at
    /// `code_offset` belongs to: the last `offset_map` entry at or before
    /// `code_offset`, or `None` if there is none.
    pub fn wasm_offset(&self, code_offset: u32) -> Option<u32> {
        let i = self.offset_map.partition_point(|&(c, _)| c <= code_offset);
        i.checked_sub(1).map(|i| self.offset_map[i].1)
    }

    /// The trap raised by the instruction at exactly `code_offset`, if it is
    /// a trap site (what a signal handler asks).
    pub fn trap_at(&self, code_offset: u32) -> Option<TrapCode> {
        self.trap_sites
            .binary_search_by_key(&code_offset, |s| s.code_offset)
            .ok()
            .map(|i| self.trap_sites[i].trap)
    }

    /// Checks the invariants above; the runtime runs it before it trusts
    /// code from a cache.
    ///
    /// # Errors
    ///
    /// `Internal` naming the first broken invariant.
    pub fn check(&self) -> Result<(), CompileError> {
        let len = self.code.len();
        let inside = |off: u32| (off as usize) < len;
        let sorted_inside = |offsets: &mut dyn Iterator<Item = u32>, what: &str| {
            let mut prev: Option<u32> = None;
            for off in offsets {
                if !inside(off) {
                    return Err(CompileError::Internal(format!(
                        "{what} at code offset {off} is outside {len} bytes of code"
                    )));
                }
                if prev.is_some_and(|p| p >= off) {
                    return Err(CompileError::Internal(format!(
                        "{what} are not strictly sorted at code offset {off}"
                    )));
                }
                prev = Some(off);
            }
            Ok(())
        };
        sorted_inside(
            &mut self.trap_sites.iter().map(|s| s.code_offset),
            "trap sites",
        )?;
        sorted_inside(
            &mut self.handlers.iter().map(|h| h.ret_offset),
            "handler call sites",
        )?;
        if let Some(h) = self.handlers.iter().find(|h| !inside(h.landing)) {
            return Err(CompileError::Internal(format!(
                "landing pad at code offset {} is outside {len} bytes of code",
                h.landing
            )));
        }
        sorted_inside(
            &mut self.offset_map.iter().map(|&(c, _)| c),
            "offset map entries",
        )
    }
}

/// Why a tier could not compile a function.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CompileError {
    /// Not this tier: the function uses something the tier does not
    /// implement. The runtime falls back to the next tier.
    #[error("unsupported: {feature} (at offset {offset:#x})")]
    Unsupported {
        /// What is missing, e.g. `"simd"` or `"operator i8x16.swizzle"`.
        feature: String,
        /// Absolute byte offset in the module of the first use.
        offset: u64,
    },
    /// The function is invalid; found while compiling (a tier that validates
    /// in the same pass, like the baseline, reports validation errors here).
    #[error("function {func}: {message} (at offset {offset:#x})")]
    Invalid {
        /// The validator's message.
        message: String,
        /// Absolute byte offset in the module.
        offset: u64,
        /// The function's absolute index.
        func: u32,
    },
    /// A limit of the implementation, not of wasm (code too large, too many
    /// locals for a frame, a vmctx over 2 GiB, …).
    #[error("implementation limit: {message} (at offset {offset:#x})")]
    ImplLimit {
        /// What was exceeded.
        message: String,
        /// Absolute byte offset in the module (0 for the module as a whole).
        offset: u64,
    },
    /// A bug in the tier or its caller.
    #[error("internal compiler error: {0}")]
    Internal(String),
}

impl CompileError {
    /// An `Invalid` error from wasmparser's error while reading function
    /// `func` (a malformed or invalid operator).
    pub fn invalid(func: u32, e: &rung_decoder::wasmparser::BinaryReaderError) -> CompileError {
        CompileError::Invalid {
            // The decoder's and validator's wording (the spec's where it
            // has one), so every tier reports an error alike.
            message: rung_decoder::spec_message(e.message()),
            offset: e.offset(),
            func,
        }
    }

    /// Whether the runtime should try the next tier instead of failing.
    pub fn is_unsupported(&self) -> bool {
        matches!(self, CompileError::Unsupported { .. })
    }
}

/// The text of a caught panic's payload. Tiers turn a panic inside a
/// compiler into `CompileError::Internal`, and the runtime turns a panic in a
/// host function into a trap; both say what the panic said.
pub fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".to_string())
}

/// A `try_table` clause as `(tag, passes the exnref, label)`: the tag is
/// `None` for `catch_all`/`catch_all_ref`. One reading for both tiers.
pub fn catch_clause(c: &rung_decoder::wasmparser::Catch) -> (Option<u32>, bool, u32) {
    use rung_decoder::wasmparser::Catch;
    match *c {
        Catch::One { tag, label } => (Some(tag), false, label),
        Catch::OneRef { tag, label } => (Some(tag), true, label),
        Catch::All { label } => (None, false, label),
        Catch::AllRef { label } => (None, true, label),
    }
}

/// A name for an operator a tier does not compile, led by its proposal
/// (`simd: I32x4Add`, `gc: StructNew`, `exceptions: TryTable`): the text of
/// `CompileError::Unsupported`'s `feature`, the same from every tier.
pub fn describe_unsupported(op: &rung_decoder::wasmparser::Operator<'_>) -> String {
    let debug = format!("{op:?}");
    let name = debug
        .split([' ', '{', '('])
        .next()
        .unwrap_or("unknown")
        .to_string();
    let proposal = if ["V128", "I8x16", "I16x8", "I32x4", "I64x2", "F32x4", "F64x2"]
        .iter()
        .any(|p| name.starts_with(p))
    {
        "simd"
    } else if name.contains("Atomic") {
        "threads"
    } else if ["Try", "Catch", "Throw", "Rethrow", "Delegate"]
        .iter()
        .any(|p| name.starts_with(p))
    {
        "exceptions"
    } else if [
        "Struct",
        "Array",
        "RefI31",
        "I31",
        "RefTest",
        "RefCast",
        "BrOnCast",
        "AnyConvert",
        "ExternConvert",
        "RefEq",
    ]
    .iter()
    .any(|p| name.starts_with(p))
    {
        "gc"
    } else {
        "operator"
    };
    format!("{proposal}: {name}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    /// A tier that "compiles" every function to a `ret` and bails out on
    /// function 1, to show the trait is usable as an object from threads.
    struct Stub;

    impl Tier for Stub {
        fn name(&self) -> &'static str {
            "stub"
        }

        fn compile(
            &self,
            _env: &ModuleEnv,
            index: u32,
            body: FunctionBody<'_>,
            _offsets: &VmOffsets,
            _options: &CompileOptions,
        ) -> Result<CompiledFunction, CompileError> {
            let start = Instant::now();
            if index == 1 {
                return Err(CompileError::Unsupported {
                    feature: "function 1".into(),
                    offset: body.offset,
                });
            }
            let code = vec![0xc3];
            Ok(CompiledFunction {
                stats: CompileStats {
                    wasm_bytes: body.bytes.len(),
                    code_bytes: code.len(),
                    compile_time: start.elapsed(),
                    tier: self.name(),
                },
                code,
                trap_sites: vec![],
                offset_map: vec![(0, body.offset as u32)],
                frame_size: 0,
                handlers: vec![],
                counts_budget: false,
                osr: Default::default(),
            })
        }
    }

    #[test]
    fn tiers_are_objects_usable_from_any_thread() {
        let tier: std::sync::Arc<dyn Tier> = std::sync::Arc::new(Stub);
        let env = ModuleEnv::default();
        let offsets = VmOffsets::for_host(&env).expect("layout");
        let body = FunctionBody {
            index: 0,
            offset: 40,
            bytes: &[0x00, 0x0b],
        };
        let f = std::thread::scope(|s| {
            s.spawn(|| tier.compile(&env, 0, body, &offsets, &CompileOptions::default()))
                .join()
                .expect("thread")
        })
        .expect("compiles");
        f.check().expect("invariants");
        assert_eq!(f.stats.tier, "stub");
        assert_eq!(f.wasm_offset(0), Some(40));
        let err = tier
            .compile(&env, 1, body, &offsets, &CompileOptions::default())
            .expect_err("bails");
        assert!(err.is_unsupported());
        assert_eq!(err.to_string(), "unsupported: function 1 (at offset 0x28)");
    }

    fn function(code_len: usize, offset_map: Vec<(u32, u32)>) -> CompiledFunction {
        CompiledFunction {
            code: vec![0x90; code_len],
            trap_sites: vec![
                TrapSite {
                    code_offset: 3,
                    trap: TrapCode::IntegerDivisionByZero,
                },
                TrapSite {
                    code_offset: 9,
                    trap: TrapCode::MemoryOutOfBounds,
                },
            ],
            offset_map,
            frame_size: 16,
            handlers: vec![],
            counts_budget: false,
            osr: Default::default(),
            stats: CompileStats {
                wasm_bytes: 0,
                code_bytes: code_len,
                compile_time: Duration::ZERO,
                tier: "test",
            },
        }
    }

    #[test]
    fn wasm_offset_is_the_entry_at_or_before() {
        let f = function(20, vec![(2, 100), (5, 104), (12, 110)]);
        f.check().expect("invariants");
        assert_eq!(f.wasm_offset(0), None);
        assert_eq!(f.wasm_offset(1), None);
        assert_eq!(f.wasm_offset(2), Some(100));
        assert_eq!(f.wasm_offset(4), Some(100));
        assert_eq!(f.wasm_offset(5), Some(104));
        assert_eq!(f.wasm_offset(11), Some(104));
        assert_eq!(f.wasm_offset(12), Some(110));
        assert_eq!(f.wasm_offset(u32::MAX), Some(110));
        assert_eq!(function(20, vec![]).wasm_offset(3), None);
        assert_eq!(f.trap_at(3), Some(TrapCode::IntegerDivisionByZero));
        assert_eq!(f.trap_at(4), None);
        assert_eq!(f.trap_at(9), Some(TrapCode::MemoryOutOfBounds));
    }

    #[test]
    fn check_rejects_unsorted_or_out_of_range_metadata() {
        assert!(function(20, vec![(5, 1), (2, 0)]).check().is_err());
        assert!(function(20, vec![(2, 1), (2, 0)]).check().is_err());
        assert!(function(20, vec![(20, 1)]).check().is_err());
        // A trap site past the end of the code.
        assert!(function(9, vec![]).check().is_err());
    }

    #[test]
    fn errors_say_where() {
        let e = CompileError::Invalid {
            message: "type mismatch".into(),
            offset: 0x1f,
            func: 3,
        };
        assert_eq!(e.to_string(), "function 3: type mismatch (at offset 0x1f)");
        assert!(!e.is_unsupported());
    }
}
