//! The `.wast` script runner behind `rung wast` and the spec-suite tests.
//!
//! Each script runs in its own `Store` against the standard `spectest` host
//! module. Every directive is one check: a module that must compile and
//! instantiate, an `invoke` that must not trap, or an assertion. A check the
//! engine cannot run because a tier does not support a feature yet counts as
//! *unsupported*, which is a failure too unless the caller decides that the
//! whole file is out of scope.

use std::collections::HashMap;

use rung_runtime::{
    AnyRef, AnyRefKind, Engine, Error, Extern, FuncType, Global, Instance, Linker, Memory, Module,
    Store, Table, Trap, Val, ValType,
};
use wast::core::{NanPattern, V128Pattern, WastArgCore, WastRetCore};
use wast::parser::{self, ParseBuffer};
use wast::{QuoteWat, Wast, WastArg, WastDirective, WastExecute, WastInvoke, WastRet};

/// One check that did not pass.
#[derive(Debug, Clone)]
pub struct Failure {
    /// 1-based line of the directive.
    pub line: usize,
    pub message: String,
}

/// Where an expected trap happened: the directive's line, the function
/// and the wasm byte offset the trap reported (which must not depend on
/// the tier that compiled the function).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TrapPlace {
    pub line: usize,
    pub func: Option<u32>,
    pub wasm_offset: Option<u32>,
    /// An `assert_exhaustion`: which function of a recursion runs out of
    /// stack depends on frame sizes, which differ between tiers.
    pub exhaustion: bool,
}

/// What running one script found.
#[derive(Debug, Clone, Default)]
pub struct Report {
    pub passed: usize,
    pub failed: Vec<Failure>,
    /// Checks that need a feature no tier supports yet.
    pub unsupported: Vec<Failure>,
    /// Each passing `assert_trap` and `assert_exhaustion`, in order.
    pub traps: Vec<TrapPlace>,
}

impl Report {
    pub fn total(&self) -> usize {
        self.passed + self.failed.len() + self.unsupported.len()
    }
}

enum Outcome {
    Pass,
    Fail(String),
    Unsupported(String),
}

use Outcome::{Fail, Pass, Unsupported};

/// Runs a script; never panics on a bad script (a parse error is one failure).
pub fn run_script(engine: &Engine, text: &str) -> Report {
    let mut report = Report::default();
    // Spec scripts (names.wast) use bidirectional-text characters in names.
    let mut lexer = wast::lexer::Lexer::new(text);
    lexer.allow_confusing_unicode(true);
    let buf = match ParseBuffer::new_with_lexer(lexer) {
        Ok(buf) => buf,
        Err(e) => {
            report.failed.push(Failure {
                line: 0,
                message: format!("cannot lex: {e}"),
            });
            return report;
        }
    };
    let wast = match parser::parse::<Wast>(&buf) {
        Ok(w) => w,
        Err(e) => {
            report.failed.push(Failure {
                line: 0,
                message: format!("cannot parse: {e}"),
            });
            return report;
        }
    };
    let mut runner = Runner::new(engine);
    for directive in wast.directives {
        let (line, _) = directive.span().linecol_in(text);
        let directive_kind = if matches!(directive, WastDirective::AssertExhaustion { .. }) {
            Kind::Exhaustion
        } else {
            Kind::Other
        };
        let outcome = runner.run(directive);
        let exhaustion = matches!(directive_kind, Kind::Exhaustion);
        let trapped = runner.trapped.take();
        match outcome {
            Pass => {
                report.passed += 1;
                if let Some(trap) = trapped {
                    report.traps.push(TrapPlace {
                        line: line + 1,
                        func: trap.func,
                        wasm_offset: trap.wasm_offset,
                        exhaustion,
                    });
                }
            }
            Fail(message) => report.failed.push(Failure {
                line: line + 1,
                message,
            }),
            Unsupported(message) => report.unsupported.push(Failure {
                line: line + 1,
                message,
            }),
        }
    }
    report
}

/// Which kind of directive a trap came from.
enum Kind {
    Exhaustion,
    Other,
}

struct Runner {
    engine: Engine,
    store: Store,
    linker: Linker,
    current: Option<Result<Instance, String>>,
    named: HashMap<String, Result<Instance, String>>,
    definitions: HashMap<String, Result<Module, String>>,
    /// The trap the last assertion expected and got.
    trapped: Option<Trap>,
}

impl Runner {
    fn new(engine: &Engine) -> Runner {
        let mut store = Store::new(engine);
        let mut linker = Linker::new();
        define_spectest(&mut store, &mut linker);
        Runner {
            engine: engine.clone(),
            store,
            linker,
            current: None,
            named: HashMap::new(),
            definitions: HashMap::new(),
            trapped: None,
        }
    }

    fn compile(&self, module: &mut QuoteWat<'_>) -> Result<Module, Outcome> {
        let bytes = module
            .encode()
            .map_err(|e| Fail(format!("cannot encode the module: {e}")))?;
        Module::new(&self.engine, &bytes).map_err(|e| classify(&e))
    }

    fn instantiate(&mut self, module: &Module) -> Result<Instance, Outcome> {
        self.linker
            .instantiate(&mut self.store, module)
            .map_err(|e| classify(&e))
    }

    fn run(&mut self, directive: WastDirective<'_>) -> Outcome {
        match directive {
            WastDirective::Module(mut module) => {
                let name = module.name().map(|id| id.name().to_string());
                let result = self.compile(&mut module).and_then(|m| self.instantiate(&m));
                let (outcome, state) = match result {
                    Ok(i) => (Pass, Ok(i)),
                    Err(Fail(m)) => (Fail(m.clone()), Err(m)),
                    Err(Unsupported(m)) => (Unsupported(m.clone()), Err(m)),
                    Err(Pass) => (Pass, Err(String::new())),
                };
                if let Some(name) = name {
                    self.named.insert(name, state.clone());
                }
                self.current = Some(state);
                outcome
            }
            WastDirective::ModuleDefinition(mut module) => {
                let name = module.name().map(|id| id.name().to_string());
                let result = self.compile(&mut module);
                let outcome = match &result {
                    Ok(_) => Pass,
                    Err(Fail(m)) => Fail(m.clone()),
                    Err(Unsupported(m)) => Unsupported(m.clone()),
                    Err(Pass) => Pass,
                };
                if let Some(name) = name {
                    let state = result.map_err(|_| "definition failed".to_string());
                    self.definitions.insert(name, state);
                }
                outcome
            }
            WastDirective::ModuleInstance {
                instance, module, ..
            } => {
                let Some(def) = module.and_then(|m| self.definitions.get(m.name()).cloned()) else {
                    return Fail("module instance of an unknown definition".into());
                };
                let result = match def {
                    Ok(m) => self.instantiate(&m),
                    Err(e) => Err(Unsupported(e)),
                };
                let (outcome, state) = match result {
                    Ok(i) => (Pass, Ok(i)),
                    Err(Fail(m)) => (Fail(m.clone()), Err(m)),
                    Err(Unsupported(m)) => (Unsupported(m.clone()), Err(m)),
                    Err(Pass) => (Pass, Err(String::new())),
                };
                if let Some(id) = instance {
                    self.named.insert(id.name().to_string(), state.clone());
                }
                self.current = Some(state);
                outcome
            }
            WastDirective::Register { name, module, .. } => {
                match self.instance(module.map(|m| m.name())) {
                    Ok(instance) => {
                        self.linker.instance(&self.store, name, instance);
                        Pass
                    }
                    Err(o) => o,
                }
            }
            WastDirective::Invoke(invoke) => match self.invoke(&invoke) {
                Ok(Ok(_)) => Pass,
                Ok(Err(trap)) => Fail(format!("unexpected trap: {trap}")),
                Err(o) => o,
            },
            WastDirective::AssertReturn { exec, results, .. } => match self.execute(exec) {
                Ok(Ok(values)) => check_results(&self.store, &values, &results),
                Ok(Err(trap)) => Fail(format!("expected a return, got trap: {trap}")),
                Err(o) => o,
            },
            WastDirective::AssertTrap { exec, message, .. } => match self.execute(exec) {
                Ok(Ok(values)) => Fail(format!("expected trap \"{message}\", got {values:?}")),
                Ok(Err(trap)) => {
                    let outcome = expect_trap(&trap, message);
                    self.trapped = Some(trap);
                    outcome
                }
                Err(o) => o,
            },
            WastDirective::AssertExhaustion { call, message, .. } => match self.invoke(&call) {
                Ok(Ok(values)) => Fail(format!("expected exhaustion, got {values:?}")),
                Ok(Err(trap)) => {
                    let outcome = expect_trap(&trap, message);
                    self.trapped = Some(trap);
                    outcome
                }
                Err(o) => o,
            },
            WastDirective::AssertInvalid { mut module, .. }
            | WastDirective::AssertMalformed { mut module, .. } => {
                let Ok(bytes) = module.encode() else {
                    // The text itself is malformed: the text parser rejected it.
                    return Pass;
                };
                match Module::new(&self.engine, &bytes) {
                    Ok(_) => Fail("module compiled, expected it to be rejected".into()),
                    Err(Error::Invalid(_)) => Pass,
                    Err(e) => Fail(format!("expected a validation error, got: {e}")),
                }
            }
            WastDirective::AssertUnlinkable { module, .. } => {
                let mut module = QuoteWat::Wat(module);
                let module = match self.compile(&mut module) {
                    Ok(m) => m,
                    Err(o) => return o,
                };
                match self.linker.instantiate(&mut self.store, &module) {
                    Ok(_) => Fail("instantiated, expected a link error".into()),
                    Err(Error::Link(_)) => Pass,
                    Err(e) => classify_or_fail(&e, "expected a link error"),
                }
            }
            WastDirective::AssertInvalidCustom { .. }
            | WastDirective::AssertMalformedCustom { .. } => {
                Unsupported("custom-section assertions".into())
            }
            WastDirective::AssertException { exec, .. } => match self.execute(exec) {
                Ok(Ok(values)) => Fail(format!("expected an exception, got {values:?}")),
                Ok(Err(trap)) => match trap.reason {
                    rung_runtime::TrapReason::Exception { .. } => Pass,
                    _ => Fail(format!("expected an exception, got the trap \"{trap}\"")),
                },
                Err(o) => o,
            },
            WastDirective::AssertSuspension { .. } => Unsupported("stack switching".into()),
            WastDirective::Thread(_) | WastDirective::Wait { .. } => Unsupported("threads".into()),
        }
    }

    fn instance(&self, name: Option<&str>) -> Result<Instance, Outcome> {
        let state = match name {
            Some(n) => self.named.get(n).cloned(),
            None => self.current.clone(),
        };
        match state {
            Some(Ok(i)) => Ok(i),
            Some(Err(m)) => Err(Unsupported(format!("its module did not instantiate: {m}"))),
            None => Err(Fail("no module instantiated".into())),
        }
    }

    fn invoke(&mut self, invoke: &WastInvoke<'_>) -> Result<Result<Vec<Val>, Trap>, Outcome> {
        let instance = self.instance(invoke.module.map(|m| m.name()))?;
        let Some(func) = instance.get_func(&self.store, invoke.name) else {
            return Err(Fail(format!("no exported function \"{}\"", invoke.name)));
        };
        let args = invoke
            .args
            .iter()
            .map(|a| arg(&mut self.store, a))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(func.call(&mut self.store, &args))
    }

    fn execute(&mut self, exec: WastExecute<'_>) -> Result<Result<Vec<Val>, Trap>, Outcome> {
        match exec {
            WastExecute::Invoke(invoke) => self.invoke(&invoke),
            WastExecute::Wat(wat) => {
                let mut module = QuoteWat::Wat(wat);
                let module = self.compile(&mut module)?;
                match self.linker.instantiate(&mut self.store, &module) {
                    Ok(_) => Ok(Ok(Vec::new())),
                    Err(Error::Trap(trap)) => Ok(Err(trap)),
                    Err(e) => Err(classify(&e)),
                }
            }
            WastExecute::Get { module, global, .. } => {
                let instance = self.instance(module.map(|m| m.name()))?;
                match instance.get_global(&self.store, global) {
                    Some(g) => Ok(Ok(vec![g.get(&self.store)])),
                    None => Err(Fail(format!("no exported global \"{global}\""))),
                }
            }
        }
    }
}

/// A compile or instantiation error as a check outcome.
fn classify(e: &Error) -> Outcome {
    if e.is_unsupported() {
        Unsupported(e.to_string())
    } else {
        Fail(e.to_string())
    }
}

fn classify_or_fail(e: &Error, what: &str) -> Outcome {
    if e.is_unsupported() {
        Unsupported(e.to_string())
    } else {
        Fail(format!("{what}, got: {e}"))
    }
}

fn expect_trap(trap: &Trap, message: &str) -> Outcome {
    let actual = trap.message();
    if actual.contains(message) || message.contains(&actual) {
        Pass
    } else {
        Fail(format!("expected trap \"{message}\", got \"{trap}\""))
    }
}

fn arg(store: &mut Store, a: &WastArg<'_>) -> Result<Val, Outcome> {
    let WastArg::Core(core) = a else {
        return Err(Unsupported("component values".into()));
    };
    Ok(match core {
        WastArgCore::I32(v) => Val::I32(*v),
        WastArgCore::I64(v) => Val::I64(*v),
        WastArgCore::F32(v) => Val::F32(v.bits),
        WastArgCore::F64(v) => Val::F64(v.bits),
        WastArgCore::V128(v) => Val::V128(u128::from_le_bytes(v.to_le_bytes())),
        WastArgCore::RefNull(wast::core::HeapType::Abstract {
            ty: wast::core::AbstractHeapType::Extern,
            ..
        }) => Val::ExternRef(None),
        WastArgCore::RefNull(
            wast::core::HeapType::Abstract {
                ty: wast::core::AbstractHeapType::Func | wast::core::AbstractHeapType::NoFunc,
                ..
            }
            | wast::core::HeapType::Concrete(_),
        ) => Val::FuncRef(None),
        WastArgCore::RefNull(wast::core::HeapType::Abstract {
            ty: wast::core::AbstractHeapType::NoExtern | wast::core::AbstractHeapType::Exn,
            ..
        }) => Val::ExternRef(None),
        WastArgCore::RefNull(_) => Val::AnyRef(None),
        WastArgCore::RefExtern(n) => Val::ExternRef(Some(u64::from(*n) + 1)),
        // The host value `n` as an `anyref` (what `any.convert_extern`
        // makes of `ref.extern n`).
        WastArgCore::RefHost(n) => Val::AnyRef(Some(AnyRef::from_extern(store, u64::from(*n) + 1))),
    })
}

fn check_results(store: &Store, actual: &[Val], expected: &[WastRet<'_>]) -> Outcome {
    if actual.len() != expected.len() {
        return Fail(format!(
            "expected {} results, got {actual:?}",
            expected.len()
        ));
    }
    for (i, (a, e)) in actual.iter().zip(expected).enumerate() {
        let WastRet::Core(e) = e else {
            return Unsupported("component values".into());
        };
        match matches(store, a, e) {
            Some(true) => {}
            Some(false) => return Fail(format!("result {i}: expected {e:?}, got {a:?}")),
            None => return Unsupported(format!("result pattern {e:?}")),
        }
    }
    Pass
}

fn f32_matches(bits: u32, p: &NanPattern<wast::token::F32>) -> bool {
    let nan = bits & 0x7f80_0000 == 0x7f80_0000 && bits & 0x007f_ffff != 0;
    match p {
        NanPattern::CanonicalNan => bits & 0x7fff_ffff == 0x7fc0_0000,
        NanPattern::ArithmeticNan => nan && bits & 0x0040_0000 != 0,
        NanPattern::Value(v) => v.bits == bits,
    }
}

fn f64_matches(bits: u64, p: &NanPattern<wast::token::F64>) -> bool {
    let nan =
        bits & 0x7ff0_0000_0000_0000 == 0x7ff0_0000_0000_0000 && bits & 0x000f_ffff_ffff_ffff != 0;
    match p {
        NanPattern::CanonicalNan => bits & 0x7fff_ffff_ffff_ffff == 0x7ff8_0000_0000_0000,
        NanPattern::ArithmeticNan => nan && bits & 0x0008_0000_0000_0000 != 0,
        NanPattern::Value(v) => v.bits == bits,
    }
}

/// Whether `a` matches `e`; `None` for patterns this runner cannot check.
fn matches(store: &Store, a: &Val, e: &WastRetCore<'_>) -> Option<bool> {
    let kind = match a {
        Val::AnyRef(Some(r)) => Some(r.kind(store)),
        _ => None,
    };
    Some(match (a, e) {
        (Val::I32(a), WastRetCore::I32(e)) => a == e,
        (Val::I64(a), WastRetCore::I64(e)) => a == e,
        (Val::F32(a), WastRetCore::F32(p)) => f32_matches(*a, p),
        (Val::F64(a), WastRetCore::F64(p)) => f64_matches(*a, p),
        (Val::V128(a), WastRetCore::V128(p)) => {
            let bytes = a.to_le_bytes();
            match p {
                V128Pattern::I8x16(v) => v.iter().enumerate().all(|(i, x)| bytes[i] == *x as u8),
                V128Pattern::I16x8(v) => v
                    .iter()
                    .enumerate()
                    .all(|(i, x)| i16::from_le_bytes([bytes[2 * i], bytes[2 * i + 1]]) == *x),
                V128Pattern::I32x4(v) => v.iter().enumerate().all(|(i, x)| {
                    i32::from_le_bytes(bytes[4 * i..4 * i + 4].try_into().unwrap_or_default()) == *x
                }),
                V128Pattern::I64x2(v) => v.iter().enumerate().all(|(i, x)| {
                    i64::from_le_bytes(bytes[8 * i..8 * i + 8].try_into().unwrap_or_default()) == *x
                }),
                V128Pattern::F32x4(v) => v.iter().enumerate().all(|(i, p)| {
                    f32_matches(
                        u32::from_le_bytes(bytes[4 * i..4 * i + 4].try_into().unwrap_or_default()),
                        p,
                    )
                }),
                V128Pattern::F64x2(v) => v.iter().enumerate().all(|(i, p)| {
                    f64_matches(
                        u64::from_le_bytes(bytes[8 * i..8 * i + 8].try_into().unwrap_or_default()),
                        p,
                    )
                }),
            }
        }
        (Val::FuncRef(f), WastRetCore::RefNull(_)) => f.is_none(),
        (Val::ExternRef(x), WastRetCore::RefNull(_)) => x.is_none(),
        (Val::AnyRef(x), WastRetCore::RefNull(_)) => x.is_none(),
        // An externalized GC value: a non-null externref of no host value.
        (Val::AnyRef(x), WastRetCore::RefExtern(None)) => x.is_some(),
        (Val::AnyRef(_), WastRetCore::RefHost(n)) => {
            kind == Some(AnyRefKind::Extern(u64::from(*n) + 1))
        }
        (Val::AnyRef(x), WastRetCore::RefAny) => x.is_some(),
        (Val::AnyRef(_), WastRetCore::RefEq) => matches!(
            kind,
            Some(AnyRefKind::I31(_) | AnyRefKind::Struct | AnyRefKind::Array(_))
        ),
        (Val::AnyRef(_), WastRetCore::RefStruct) => kind == Some(AnyRefKind::Struct),
        (Val::AnyRef(_), WastRetCore::RefArray) => matches!(kind, Some(AnyRefKind::Array(_))),
        (Val::AnyRef(_), WastRetCore::RefI31) => matches!(kind, Some(AnyRefKind::I31(_))),
        (Val::FuncRef(f), WastRetCore::RefFunc(_)) => f.is_some(),
        (Val::ExternRef(x), WastRetCore::RefExtern(e)) => match e {
            Some(n) => *x == Some(u64::from(*n) + 1),
            None => x.is_some(),
        },
        (_, WastRetCore::Either(options)) => {
            return Some(options.iter().any(|o| matches(store, a, o) == Some(true)));
        }
        (_, WastRetCore::RefI31Shared) => return None,
        _ => false,
    })
}

/// The `spectest` module every script may import from.
fn define_spectest(store: &mut Store, linker: &mut Linker) {
    let print = |params: &[ValType]| FuncType::new(params.iter().copied(), []);
    for (name, params) in [
        ("print", &[][..]),
        ("print_i32", &[ValType::I32][..]),
        ("print_i64", &[ValType::I64][..]),
        ("print_f32", &[ValType::F32][..]),
        ("print_f64", &[ValType::F64][..]),
        ("print_i32_f32", &[ValType::I32, ValType::F32][..]),
        ("print_f64_f64", &[ValType::F64, ValType::F64][..]),
    ] {
        linker.func_new("spectest", name, print(params), |_, _, _| Ok(()));
    }
    let global = |ty: ValType, v: Val, store: &mut Store| {
        let ty = wasmparser::GlobalType {
            content_type: ty,
            mutable: false,
            shared: false,
        };
        Global::new(store, ty, v).ok().map(Extern::Global)
    };
    let globals = [
        ("global_i32", ValType::I32, Val::I32(666)),
        ("global_i64", ValType::I64, Val::I64(666)),
        ("global_f32", ValType::F32, Val::F32(666.6f32.to_bits())),
        ("global_f64", ValType::F64, Val::F64(666.6f64.to_bits())),
    ];
    for (name, ty, v) in globals {
        if let Some(g) = global(ty, v, store) {
            linker.define("spectest", name, g);
        }
    }
    let table_ty = wasmparser::TableType {
        element_type: wasmparser::RefType::FUNCREF,
        table64: false,
        initial: 10,
        maximum: Some(20),
        shared: false,
    };
    if let Ok(t) = Table::new(store, table_ty) {
        linker.define("spectest", "table", Extern::Table(t));
    }
    if let Ok(m) = Memory::new(store, 1, Some(2)) {
        linker.define("spectest", "memory", Extern::Memory(m));
    }
    if let Ok(m) = rung_runtime::SharedMemory::new(1, 2) {
        let m = m.attach(store);
        linker.define("spectest", "shared_memory", Extern::Memory(m));
    }
}

/// Runs a script from a file's text, on a thread with a large stack so that
/// deep (but finite) recursion in a script does not depend on the caller's.
pub fn run_script_on_big_stack(engine: &Engine, text: &str) -> Report {
    std::thread::scope(|s| {
        std::thread::Builder::new()
            .stack_size(64 << 20)
            .spawn_scoped(s, || run_script(engine, text))
            .map(|h| {
                h.join().unwrap_or_else(|_| Report {
                    failed: vec![Failure {
                        line: 0,
                        message: "the runner panicked".into(),
                    }],
                    ..Report::default()
                })
            })
            .unwrap_or_else(|e| Report {
                failed: vec![Failure {
                    line: 0,
                    message: format!("cannot spawn a thread: {e}"),
                }],
                ..Report::default()
            })
    })
}
