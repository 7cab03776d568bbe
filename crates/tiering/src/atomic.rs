//! The threads proposal's atomic operators, classified once for both tiers
//! (ARCHITECTURE.md, "Threads"): what each one does, on which type and how
//! many bytes it touches. The tiers decide how to lower each class.

use rung_decoder::wasmparser::{MemArg, Operator};

/// The read-modify-write operations of `*.atomic.rmw*`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RmwOp {
    Add,
    Sub,
    And,
    Or,
    Xor,
    Xchg,
}

/// What an atomic operator does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AtomicKind {
    /// `*.atomic.load*`: pushes the value, zero-extended.
    Load,
    /// `*.atomic.store*`.
    Store,
    /// `*.atomic.rmw*.<op>`: pushes the old value, zero-extended.
    Rmw(RmwOp),
    /// `*.atomic.rmw*.cmpxchg`: pushes the old value, zero-extended.
    Cmpxchg,
    /// `memory.atomic.wait32` / `wait64` (`bytes` says which).
    Wait,
    /// `memory.atomic.notify`.
    Notify,
}

/// One atomic memory operator: `kind` on a value of type `i64` (`wide`) or
/// `i32`, touching `bytes` bytes at the effective address, which must be a
/// multiple of `bytes`.
#[derive(Debug, Clone, Copy)]
pub struct AtomicOp {
    pub kind: AtomicKind,
    pub wide: bool,
    pub bytes: u32,
    pub memarg: MemArg,
}

/// `op` classified, if it is an atomic memory operator (`atomic.fence` is
/// not: it has no memory operand).
pub fn atomic_op(op: &Operator<'_>) -> Option<AtomicOp> {
    use AtomicKind::*;
    use Operator as O;
    use RmwOp::*;
    let (kind, wide, bytes, memarg) = match *op {
        O::MemoryAtomicNotify { memarg } => (Notify, false, 4, memarg),
        O::MemoryAtomicWait32 { memarg } => (Wait, false, 4, memarg),
        O::MemoryAtomicWait64 { memarg } => (Wait, true, 8, memarg),
        O::I32AtomicLoad { memarg } => (Load, false, 4, memarg),
        O::I64AtomicLoad { memarg } => (Load, true, 8, memarg),
        O::I32AtomicLoad8U { memarg } => (Load, false, 1, memarg),
        O::I32AtomicLoad16U { memarg } => (Load, false, 2, memarg),
        O::I64AtomicLoad8U { memarg } => (Load, true, 1, memarg),
        O::I64AtomicLoad16U { memarg } => (Load, true, 2, memarg),
        O::I64AtomicLoad32U { memarg } => (Load, true, 4, memarg),
        O::I32AtomicStore { memarg } => (Store, false, 4, memarg),
        O::I64AtomicStore { memarg } => (Store, true, 8, memarg),
        O::I32AtomicStore8 { memarg } => (Store, false, 1, memarg),
        O::I32AtomicStore16 { memarg } => (Store, false, 2, memarg),
        O::I64AtomicStore8 { memarg } => (Store, true, 1, memarg),
        O::I64AtomicStore16 { memarg } => (Store, true, 2, memarg),
        O::I64AtomicStore32 { memarg } => (Store, true, 4, memarg),
        O::I32AtomicRmwAdd { memarg } => (Rmw(Add), false, 4, memarg),
        O::I64AtomicRmwAdd { memarg } => (Rmw(Add), true, 8, memarg),
        O::I32AtomicRmw8AddU { memarg } => (Rmw(Add), false, 1, memarg),
        O::I32AtomicRmw16AddU { memarg } => (Rmw(Add), false, 2, memarg),
        O::I64AtomicRmw8AddU { memarg } => (Rmw(Add), true, 1, memarg),
        O::I64AtomicRmw16AddU { memarg } => (Rmw(Add), true, 2, memarg),
        O::I64AtomicRmw32AddU { memarg } => (Rmw(Add), true, 4, memarg),
        O::I32AtomicRmwSub { memarg } => (Rmw(Sub), false, 4, memarg),
        O::I64AtomicRmwSub { memarg } => (Rmw(Sub), true, 8, memarg),
        O::I32AtomicRmw8SubU { memarg } => (Rmw(Sub), false, 1, memarg),
        O::I32AtomicRmw16SubU { memarg } => (Rmw(Sub), false, 2, memarg),
        O::I64AtomicRmw8SubU { memarg } => (Rmw(Sub), true, 1, memarg),
        O::I64AtomicRmw16SubU { memarg } => (Rmw(Sub), true, 2, memarg),
        O::I64AtomicRmw32SubU { memarg } => (Rmw(Sub), true, 4, memarg),
        O::I32AtomicRmwAnd { memarg } => (Rmw(And), false, 4, memarg),
        O::I64AtomicRmwAnd { memarg } => (Rmw(And), true, 8, memarg),
        O::I32AtomicRmw8AndU { memarg } => (Rmw(And), false, 1, memarg),
        O::I32AtomicRmw16AndU { memarg } => (Rmw(And), false, 2, memarg),
        O::I64AtomicRmw8AndU { memarg } => (Rmw(And), true, 1, memarg),
        O::I64AtomicRmw16AndU { memarg } => (Rmw(And), true, 2, memarg),
        O::I64AtomicRmw32AndU { memarg } => (Rmw(And), true, 4, memarg),
        O::I32AtomicRmwOr { memarg } => (Rmw(Or), false, 4, memarg),
        O::I64AtomicRmwOr { memarg } => (Rmw(Or), true, 8, memarg),
        O::I32AtomicRmw8OrU { memarg } => (Rmw(Or), false, 1, memarg),
        O::I32AtomicRmw16OrU { memarg } => (Rmw(Or), false, 2, memarg),
        O::I64AtomicRmw8OrU { memarg } => (Rmw(Or), true, 1, memarg),
        O::I64AtomicRmw16OrU { memarg } => (Rmw(Or), true, 2, memarg),
        O::I64AtomicRmw32OrU { memarg } => (Rmw(Or), true, 4, memarg),
        O::I32AtomicRmwXor { memarg } => (Rmw(Xor), false, 4, memarg),
        O::I64AtomicRmwXor { memarg } => (Rmw(Xor), true, 8, memarg),
        O::I32AtomicRmw8XorU { memarg } => (Rmw(Xor), false, 1, memarg),
        O::I32AtomicRmw16XorU { memarg } => (Rmw(Xor), false, 2, memarg),
        O::I64AtomicRmw8XorU { memarg } => (Rmw(Xor), true, 1, memarg),
        O::I64AtomicRmw16XorU { memarg } => (Rmw(Xor), true, 2, memarg),
        O::I64AtomicRmw32XorU { memarg } => (Rmw(Xor), true, 4, memarg),
        O::I32AtomicRmwXchg { memarg } => (Rmw(Xchg), false, 4, memarg),
        O::I64AtomicRmwXchg { memarg } => (Rmw(Xchg), true, 8, memarg),
        O::I32AtomicRmw8XchgU { memarg } => (Rmw(Xchg), false, 1, memarg),
        O::I32AtomicRmw16XchgU { memarg } => (Rmw(Xchg), false, 2, memarg),
        O::I64AtomicRmw8XchgU { memarg } => (Rmw(Xchg), true, 1, memarg),
        O::I64AtomicRmw16XchgU { memarg } => (Rmw(Xchg), true, 2, memarg),
        O::I64AtomicRmw32XchgU { memarg } => (Rmw(Xchg), true, 4, memarg),
        O::I32AtomicRmwCmpxchg { memarg } => (Cmpxchg, false, 4, memarg),
        O::I64AtomicRmwCmpxchg { memarg } => (Cmpxchg, true, 8, memarg),
        O::I32AtomicRmw8CmpxchgU { memarg } => (Cmpxchg, false, 1, memarg),
        O::I32AtomicRmw16CmpxchgU { memarg } => (Cmpxchg, false, 2, memarg),
        O::I64AtomicRmw8CmpxchgU { memarg } => (Cmpxchg, true, 1, memarg),
        O::I64AtomicRmw16CmpxchgU { memarg } => (Cmpxchg, true, 2, memarg),
        O::I64AtomicRmw32CmpxchgU { memarg } => (Cmpxchg, true, 4, memarg),
        _ => return None,
    };
    Some(AtomicOp {
        kind,
        wide,
        bytes,
        memarg,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_follow_the_names() {
        let m = MemArg {
            align: 0,
            max_align: 0,
            offset: 0,
            target: rung_decoder::wasmparser::MemArgTarget::Memory(0),
            ordering: None,
        };
        let a = atomic_op(&Operator::I64AtomicRmw32CmpxchgU { memarg: m }).unwrap();
        assert_eq!((a.kind, a.wide, a.bytes), (AtomicKind::Cmpxchg, true, 4));
        let a = atomic_op(&Operator::I32AtomicRmw16XorU { memarg: m }).unwrap();
        assert_eq!(
            (a.kind, a.wide, a.bytes),
            (AtomicKind::Rmw(RmwOp::Xor), false, 2)
        );
        assert!(atomic_op(&Operator::I32Load { memarg: m }).is_none());
    }
}
