//! Typed calls: `func.typed::<(i32, i64), f64>(&store)?.call(&mut store, (1, 2))`.
//! The signature is checked once, when the `TypedFunc` is made.

use std::marker::PhantomData;

use wasmparser::ValType;

use crate::Error;
use crate::store::{Func, Store};
use crate::traps::Trap;
use crate::values::Val;

/// A Rust type that is a wasm value type.
pub trait WasmTy: Copy {
    const TYPE: ValType;
    fn to_val(self) -> Val;
    fn from_val(val: &Val) -> Option<Self>;
}

macro_rules! wasm_ty {
    ($t:ty, $vt:ident, $var:ident, $to:expr, $from:expr) => {
        impl WasmTy for $t {
            const TYPE: ValType = ValType::$vt;
            fn to_val(self) -> Val {
                Val::$var($to(self))
            }
            fn from_val(val: &Val) -> Option<Self> {
                match val {
                    Val::$var(v) => Some($from(*v)),
                    _ => None,
                }
            }
        }
    };
}

wasm_ty!(i32, I32, I32, |v| v, |v| v);
wasm_ty!(i64, I64, I64, |v| v, |v| v);
wasm_ty!(u32, I32, I32, |v: u32| v as i32, |v: i32| v as u32);
wasm_ty!(u64, I64, I64, |v: u64| v as i64, |v: i64| v as u64);
wasm_ty!(f32, F32, F32, f32::to_bits, f32::from_bits);
wasm_ty!(f64, F64, F64, f64::to_bits, f64::from_bits);

/// Parameters of a typed call: `()`, one value, or a tuple.
pub trait WasmParams {
    fn types() -> Vec<ValType>;
    fn into_vals(self) -> Vec<Val>;
}

/// Results of a typed call: `()`, one value, or a tuple.
pub trait WasmResults: Sized {
    fn types() -> Vec<ValType>;
    fn from_vals(vals: &[Val]) -> Option<Self>;
}

impl<T: WasmTy> WasmParams for T {
    fn types() -> Vec<ValType> {
        vec![T::TYPE]
    }
    fn into_vals(self) -> Vec<Val> {
        vec![self.to_val()]
    }
}

impl<T: WasmTy> WasmResults for T {
    fn types() -> Vec<ValType> {
        vec![T::TYPE]
    }
    fn from_vals(vals: &[Val]) -> Option<Self> {
        match vals {
            [v] => T::from_val(v),
            _ => None,
        }
    }
}

macro_rules! tuples {
    ($(($($t:ident),*))*) => {$(
        impl<$($t: WasmTy),*> WasmParams for ($($t,)*) {
            fn types() -> Vec<ValType> {
                vec![$($t::TYPE),*]
            }
            #[allow(non_snake_case)]
            fn into_vals(self) -> Vec<Val> {
                let ($($t,)*) = self;
                vec![$($t.to_val()),*]
            }
        }
        impl<$($t: WasmTy),*> WasmResults for ($($t,)*) {
            fn types() -> Vec<ValType> {
                vec![$($t::TYPE),*]
            }
            #[allow(non_snake_case, unused_mut, unused_variables)]
            fn from_vals(vals: &[Val]) -> Option<Self> {
                let mut it = vals.iter();
                let r = ($($t::from_val(it.next()?)?,)*);
                it.next().is_none().then_some(r)
            }
        }
    )*};
}

tuples! { () (A, B) (A, B, C) (A, B, C, D) (A, B, C, D, E) (A, B, C, D, E, F) }

/// A function whose signature was checked against `P -> R`.
pub struct TypedFunc<P, R> {
    func: Func,
    _signature: PhantomData<fn(P) -> R>,
}

impl Func {
    /// This function as a typed function, if its signature is `P -> R`.
    pub fn typed<P: WasmParams, R: WasmResults>(
        &self,
        store: &Store,
    ) -> Result<TypedFunc<P, R>, Error> {
        let ty = self.ty(store);
        if ty.params() != P::types().as_slice() || ty.results() != R::types().as_slice() {
            return Err(Error::Link(format!(
                "function type {ty} does not match the requested {:?} -> {:?}",
                P::types(),
                R::types()
            )));
        }
        Ok(TypedFunc {
            func: *self,
            _signature: PhantomData,
        })
    }
}

impl<P: WasmParams, R: WasmResults> TypedFunc<P, R> {
    pub fn call(&self, store: &mut Store, params: P) -> Result<R, Trap> {
        let results = self.func.call(store, &params.into_vals())?;
        R::from_vals(&results).ok_or_else(|| Trap::host("results do not match the signature"))
    }

    pub fn func(&self) -> Func {
        self.func
    }
}
