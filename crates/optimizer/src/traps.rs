//! The mapping between rung's [`TrapCode`] and Cranelift's trap codes: the
//! one place that knows which Cranelift code stands for which rung trap.
//!
//! Cranelift's five built-in codes map to their rung namesakes; every other
//! rung code `c` is Cranelift's user code `c.as_u8() + 1` (user codes start
//! at 1). **Invariant:** the mapping is a bijection between the codes the
//! translator emits and the rung codes; [`rung_trap`] returns `None` for a
//! Cranelift code that no rung code maps to, and `emit` turns that into an
//! `Internal` error.

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

/// The rung trap code a Cranelift trap code stands for, if any.
pub fn rung_trap(code: ClifTrap) -> Option<TrapCode> {
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
    }
}
