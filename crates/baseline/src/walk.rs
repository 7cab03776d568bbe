//! The walk: one pass over a body's operators, each validated (when a
//! validator is given) and then compiled, without building an operator
//! twice. `Walker` is wasmparser's `VisitOperator` (the reader decodes each
//! operator once and calls one method); each method hands the operator to
//! the validator's visitor and then to the code generator — Winch's
//! `ValidateThenVisit`.
//!
//! SIMD operators are validated too, then compiled by `simd.rs` (or
//! reported `Unsupported`).

// The generated methods clone every immediate for the validator, `Copy`
// ones included.
#![allow(clippy::clone_on_copy)]

use rung_tiering::CompileError;
use rung_validator::WasmFunctionValidator;
use wasmparser::{Operator, VisitOperator, VisitSimdOperator};

use crate::context::CodeGen;

pub struct Walker<'c, 'e, 'v> {
    pub cg: &'c mut CodeGen<'e>,
    pub validator: Option<&'v mut WasmFunctionValidator>,
}

impl Walker<'_, '_, '_> {
    fn invalid(&self, e: &wasmparser::BinaryReaderError) -> Box<CompileError> {
        Box::new(CompileError::invalid(self.cg.func, e))
    }
}

macro_rules! define_visit {
    ($(@$proposal:ident $op:ident $({ $($arg:ident: $argty:ty),* })? => $visit:ident ($($ann:tt)*))*) => {
        $(
            fn $visit(&mut self $($(, $arg: $argty)*)?) -> Self::Output {
                if let Some(v) = self.validator.as_deref_mut() {
                    let offset = self.cg.offset;
                    let result = v.visitor(offset).$visit($($($arg.clone()),*)?);
                    if let Err(e) = result {
                        return Err(self.invalid(&e));
                    }
                }
                self.cg.step(&Operator::$op $({ $($arg),* })?)
            }
        )*
    };
}

macro_rules! define_visit_simd {
    ($(@$proposal:ident $op:ident $({ $($arg:ident: $argty:ty),* })? => $visit:ident ($($ann:tt)*))*) => {
        $(
            fn $visit(&mut self $($(, $arg: $argty)*)?) -> Self::Output {
                if let Some(v) = self.validator.as_deref_mut() {
                    let offset = self.cg.offset;
                    let result = {
                        let mut visitor = v.visitor(offset);
                        match visitor.simd_visitor() {
                            Some(s) => s.$visit($($($arg.clone()),*)?),
                            None => Ok(()),
                        }
                    };
                    if let Err(e) = result {
                        return Err(self.invalid(&e));
                    }
                }
                if !self.cg.reachable {
                    return Ok(());
                }
                self.cg.step_simd(&Operator::$op $({ $($arg),* })?)
            }
        )*
    };
}

impl<'a> VisitOperator<'a> for Walker<'_, '_, '_> {
    type Output = crate::context::Result<()>;

    fn simd_visitor(&mut self) -> Option<&mut dyn VisitSimdOperator<'a, Output = Self::Output>> {
        Some(self)
    }

    wasmparser::for_each_visit_operator!(define_visit);
}

impl<'a> VisitSimdOperator<'a> for Walker<'_, '_, '_> {
    wasmparser::for_each_visit_simd_operator!(define_visit_simd);
}
