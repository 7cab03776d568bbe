//! The mapping between rung's [`TrapCode`] and Cranelift's trap codes: the
//! one place that knows which Cranelift code stands for which rung trap.
//!
//! Cranelift's five built-in codes map to their rung namesakes; every other
//! rung code `c` is Cranelift's user code `c.as_u8() + 1` (user codes start
//! at 1). Linear-memory accesses use user codes [`HEAP_TAG_BASE`] and up
//! instead of `HEAP_OUT_OF_BOUNDS`: each is `MemoryOutOfBounds` with a tag,
//! the access's number in its function modulo [`HEAP_TAGS`], which tells
//! `emit` which access a fault belongs to when Cranelift merged the load
//! into the instruction that uses its value (which carries that
//! instruction's source location). **Invariant:** the mapping is a
//! bijection between the codes the translator emits and the rung codes
//! (with their tags); [`rung_trap`] returns `None` for a Cranelift code that
//! no rung code maps to, and `emit` turns that into an `Internal` error.

use cranelift_codegen::ir::TrapCode as ClifTrap;
use rung_tiering::TrapCode;

/// The Cranelift trap code the translator emits for `trap`.
pub fn cranelift_trap(trap: TrapCode) -> ClifTrap {
    match trap {
        TrapCode::StackOverflow => ClifTrap::STACK_OVERFLOW,
        TrapCode::MemoryOutOfBounds => ClifTrap::HEAP_OUT_OF_BOUNDS,
        TrapCode::IntegerOverflow => ClifTrap::INTEGER_OVERFLOW,
        TrapCode::IntegerDivisionByZero => ClifTrap::INTEGER_DIVISION_BY_ZERO,
        TrapCode::BadConversionToInteger => ClifTrap::BAD_CONVERSION_TO_INTEGER,
        // `as_u8() < TrapCode::COUNT`, far below Cranelift's reserved codes.
        other => ClifTrap::unwrap_user(other.as_u8() + 1),
    }
}

/// The first user code of the tagged linear-memory accesses.
pub const HEAP_TAG_BASE: u8 = 128;

/// How many tags there are (user codes `HEAP_TAG_BASE..=250`, below
/// Cranelift's reserved codes).
pub const HEAP_TAGS: u32 = 123;

/// The Cranelift trap code of a function's `n`th linear-memory access.
pub fn heap_access(n: u32) -> ClifTrap {
    ClifTrap::unwrap_user(HEAP_TAG_BASE + (n % HEAP_TAGS) as u8)
}

/// The tag of a linear-memory access's trap code, if `code` is one.
pub fn heap_tag(code: ClifTrap) -> Option<u32> {
    let raw = code.as_raw().get();
    (raw >= HEAP_TAG_BASE && u32::from(raw - HEAP_TAG_BASE) < HEAP_TAGS)
        .then(|| u32::from(raw - HEAP_TAG_BASE))
}

/// The rung trap code a Cranelift trap code stands for, if any.
pub fn rung_trap(code: ClifTrap) -> Option<TrapCode> {
    if heap_tag(code).is_some() {
        return Some(TrapCode::MemoryOutOfBounds);
    }
    Some(match code {
        ClifTrap::STACK_OVERFLOW => TrapCode::StackOverflow,
        ClifTrap::HEAP_OUT_OF_BOUNDS => TrapCode::MemoryOutOfBounds,
        ClifTrap::INTEGER_OVERFLOW => TrapCode::IntegerOverflow,
        ClifTrap::INTEGER_DIVISION_BY_ZERO => TrapCode::IntegerDivisionByZero,
        ClifTrap::BAD_CONVERSION_TO_INTEGER => TrapCode::BadConversionToInteger,
        other => {
            let t = TrapCode::from_u8(other.as_raw().get().checked_sub(1)?)?;
            // A built-in rung code never travels as a user code.
            if cranelift_trap(t) != other {
                return None;
            }
            t
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_rung_code_round_trips() {
        for t in TrapCode::ALL {
            assert_eq!(rung_trap(cranelift_trap(t)), Some(t), "{t:?}");
        }
        // User codes past the last rung code, and the user code that would
        // alias a built-in, map to nothing.
        assert_eq!(
            rung_trap(ClifTrap::unwrap_user(TrapCode::COUNT as u8 + 1)),
            None
        );
        assert_eq!(
            rung_trap(ClifTrap::unwrap_user(TrapCode::StackOverflow.as_u8() + 1)),
            None
        );
        assert_eq!(
            cranelift_trap(TrapCode::UnreachableCodeReached).to_string(),
            "user11"
        );
        // Every tagged access is a memory trap, tags wrap around, and no
        // tag code is a rung code's.
        for n in [0, 1, HEAP_TAGS - 1, HEAP_TAGS, 5 * HEAP_TAGS + 7] {
            let code = heap_access(n);
            assert_eq!(rung_trap(code), Some(TrapCode::MemoryOutOfBounds));
            assert_eq!(heap_tag(code), Some(n % HEAP_TAGS));
        }
        assert!(TrapCode::COUNT < usize::from(HEAP_TAG_BASE));
        assert_eq!(heap_tag(ClifTrap::HEAP_OUT_OF_BOUNDS), None);
    }
}
