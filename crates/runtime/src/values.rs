//! `Val`: a wasm value as the host sees it, and its 16-byte slot encoding in
//! trampoline value arrays and global storage.

use wasmparser::{RefType, ValType};

use crate::store::Func;

/// A WebAssembly value.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Val {
    I32(i32),
    I64(i64),
    /// An `f32` by its bits, so that NaN payloads survive.
    F32(u32),
    /// An `f64` by its bits.
    F64(u64),
    V128(u128),
    FuncRef(Option<Func>),
    /// An external reference: the host's nonzero word, or null.
    ExternRef(Option<u64>),
}

impl Val {
    /// The default (zero) value of a type.
    pub fn default_for(ty: ValType) -> Val {
        match ty {
            ValType::I32 => Val::I32(0),
            ValType::I64 => Val::I64(0),
            ValType::F32 => Val::F32(0),
            ValType::F64 => Val::F64(0),
            ValType::V128 => Val::V128(0),
            ValType::Ref(r) if is_func_ref(r) => Val::FuncRef(None),
            ValType::Ref(_) => Val::ExternRef(None),
        }
    }

    pub fn unwrap_i32(&self) -> i32 {
        match self {
            Val::I32(v) => *v,
            other => panic!("expected i32, found {other:?}"),
        }
    }
}

/// Whether a reference type is in the function hierarchy (funcref, typed
/// function references, nofunc). A concrete type index is a function
/// type: no tier compiles structs or arrays (GC) yet, so no value of
/// another concrete type reaches the host.
pub fn is_func_ref(r: RefType) -> bool {
    r.is_func_ref() || r.type_index().is_some()
}

/// Whether a value matches a type (for host-provided arguments and globals).
pub fn val_matches(val: &Val, ty: ValType) -> bool {
    match (val, ty) {
        (Val::I32(_), ValType::I32)
        | (Val::I64(_), ValType::I64)
        | (Val::F32(_), ValType::F32)
        | (Val::F64(_), ValType::F64)
        | (Val::V128(_), ValType::V128) => true,
        (Val::FuncRef(f), ValType::Ref(r)) => is_func_ref(r) && (f.is_some() || r.is_nullable()),
        (Val::ExternRef(e), ValType::Ref(r)) => !is_func_ref(r) && (e.is_some() || r.is_nullable()),
        _ => false,
    }
}
