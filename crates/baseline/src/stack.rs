//! The value stack's entries: where each wasm operand lives at compile time.
//!
//! ```text
//!   Const(bits)  a constant, folded into the instruction that uses it
//!   Reg(r)       in a register the allocator handed out
//!   Local(i)     the current value of local i, read lazily from its slot
//!   Mem          in the stack slot of its own position (see `frame`)
//! ```
//!
//! **Invariants:**
//! - an entry at position `p` that is `Mem` lives in slot `p`, so entries
//!   never move between slots and a spill never needs a free slot;
//! - a `Local(i)` entry is materialized before local `i` is written
//!   (`local.set`/`local.tee`), so it always means the local's value at the
//!   time it was pushed;
//! - a comparison emits nothing by itself: it leaves its operands on the
//!   stack and records a pending condition (`numeric.rs`), which the next
//!   operator either branches or selects on directly or materializes;
//! - constants are kept as raw bits: an `i32` zero-extended, an `f32` in
//!   the low 32 bits, a null reference as 0.

use rung_tiering::abi::{Reg, RegClass};
use wasmparser::ValType;

use crate::asm::Size;

/// A wasm value type as the baseline handles it. References are one
/// 64-bit integer word. `V128` lives in an xmm register (class `Float`,
/// but not `is_float`), a local's 16-byte slot or its position's 16-byte
/// spill slot (see `simd.rs`); `Ty::of` answers `None` for it, `Ty::of_simd`
/// is for the places that handle it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ty {
    I32,
    I64,
    F32,
    F64,
    Ref,
    V128,
}

impl Ty {
    /// The baseline type of a wasm value type; `None` for `v128`.
    pub fn of(ty: ValType) -> Option<Ty> {
        match ty {
            ValType::I32 => Some(Ty::I32),
            ValType::I64 => Some(Ty::I64),
            ValType::F32 => Some(Ty::F32),
            ValType::F64 => Some(Ty::F64),
            ValType::Ref(_) => Some(Ty::Ref),
            ValType::V128 => None,
        }
    }

    pub fn is_float(self) -> bool {
        matches!(self, Ty::F32 | Ty::F64)
    }

    /// The baseline type of a wasm value type, `v128` included (only where
    /// the caller handles `Ty::V128`).
    pub fn of_simd(ty: ValType) -> Option<Ty> {
        match ty {
            ValType::V128 => Some(Ty::V128),
            other => Ty::of(other),
        }
    }

    pub fn class(self) -> RegClass {
        if self.is_float() || self == Ty::V128 {
            RegClass::Float
        } else {
            RegClass::Int
        }
    }

    /// The operand width of the type's instructions.
    pub fn size(self) -> Size {
        match self {
            Ty::I32 | Ty::F32 => Size::S32,
            Ty::I64 | Ty::F64 | Ty::Ref | Ty::V128 => Size::S64,
        }
    }
}

/// Where a value stack entry is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Loc {
    Const(u64),
    Reg(Reg),
    Local(u32),
    Mem,
}

/// One value stack entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Val {
    pub ty: Ty,
    pub loc: Loc,
}

impl Val {
    pub fn new(ty: Ty, loc: Loc) -> Val {
        Val { ty, loc }
    }
}

/// An entry taken off the stack, with the position it had (which names its
/// stack slot if it is `Mem`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Opnd {
    pub ty: Ty,
    pub loc: Loc,
    pub pos: u32,
}

impl Opnd {
    pub fn konst(&self) -> Option<u64> {
        match self.loc {
            Loc::Const(c) => Some(c),
            _ => None,
        }
    }

    pub fn reg(&self) -> Option<Reg> {
        match self.loc {
            Loc::Reg(r) => Some(r),
            _ => None,
        }
    }
}
