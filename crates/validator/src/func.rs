//! Stage 2: one function body's operand and control stacks.
//!
//! A [`FuncJob`] is what stage 1 hands out per body: it is `Send`, so it can be
//! validated on any thread. It turns into a [`WasmFunctionValidator`], which
//! implements [`FunctionValidator`] two ways: over a whole body, or operator
//! by operator, the way a single-pass compiler calls it just before it
//! compiles each operator (Winch's `ValidateThenVisit`).
//!
//! **Invariant:** after an error the validator is in an unspecified state and
//! must not be fed more operators.

use rung_decoder::FunctionBody;
use wasmparser::{
    BinaryReader, FuncToValidate, FuncValidator, FuncValidatorAllocations, Operator, ValType,
    ValidatorResources, VisitOperator,
};

use crate::ValidateError;

/// One function body's stage-2 validation, ready to run on any thread.
pub struct FuncJob {
    index: u32,
    func: FuncToValidate<ValidatorResources>,
}

impl Clone for FuncJob {
    /// A second job for the same body (e.g. to validate it whole after a
    /// single-pass tier gave up on it half-way).
    fn clone(&self) -> Self {
        FuncJob {
            index: self.index,
            func: FuncToValidate {
                resources: self.func.resources.clone(),
                index: self.func.index,
                ty: self.func.ty,
                features: self.func.features,
            },
        }
    }
}

impl FuncJob {
    pub(crate) fn new(index: u32, func: FuncToValidate<ValidatorResources>) -> Self {
        FuncJob { index, func }
    }

    /// The function's index in the function index space.
    pub fn index(&self) -> u32 {
        self.index
    }

    /// Validates the whole `body`, reusing this thread's allocations from
    /// the last body it validated this way.
    pub fn validate(self, body: &FunctionBody<'_>) -> Result<(), ValidateError> {
        thread_local! {
            static ALLOCS: std::cell::Cell<Option<FuncValidatorAllocations>> =
                const { std::cell::Cell::new(None) };
        }
        let allocs = ALLOCS.with(|a| a.take()).unwrap_or_default();
        let mut validator = self.into_validator(allocs);
        let result = validator.validate_body(body);
        ALLOCS.with(|a| a.set(Some(validator.into_allocations())));
        result
    }

    /// Starts validating, reusing `allocs` from an earlier function.
    pub fn into_validator(self, allocs: FuncValidatorAllocations) -> WasmFunctionValidator {
        WasmFunctionValidator {
            index: self.index,
            inner: self.func.into_validator(allocs),
        }
    }
}

/// Validation of one function body, used either on a whole body or operator
/// by operator from inside a compiler's single pass:
///
/// ```text
/// read_locals | define_locals*   then   op*   then   finish
/// ```
pub trait FunctionValidator {
    /// The function's index in the function index space.
    fn index(&self) -> u32;

    /// Validates a whole body: locals, every operator, the final `end`.
    fn validate_body(&mut self, body: &FunctionBody<'_>) -> Result<(), ValidateError> {
        let mut reader = body.reader().get_binary_reader();
        self.read_locals(&mut reader)?;
        let func = self.index();
        let mut ops = wasmparser::OperatorsReader::new(reader);
        while !ops.eof() {
            let offset = ops.original_position();
            let op = ops.read().map_err(|e| ValidateError::in_func(func, e))?;
            self.op(offset, &op)?;
        }
        self.finish(ops.original_position())
    }

    /// Reads and validates the local declarations at the start of a body,
    /// leaving `reader` at the first operator.
    fn read_locals(&mut self, reader: &mut BinaryReader<'_>) -> Result<(), ValidateError>;

    /// Declares `count` locals of type `ty` (after the parameters).
    fn define_locals(&mut self, offset: u64, count: u32, ty: ValType) -> Result<(), ValidateError>;

    /// Validates the next operator, at absolute byte `offset`.
    fn op(&mut self, offset: u64, op: &Operator<'_>) -> Result<(), ValidateError>;

    /// Checks that the body ended where it should: every frame closed and no
    /// operator after the final `end`. `offset` is just past the last operator.
    fn finish(&mut self, offset: u64) -> Result<(), ValidateError>;
}

/// [`FunctionValidator`] on wasmparser's `FuncValidator`.
pub struct WasmFunctionValidator {
    index: u32,
    inner: FuncValidator<ValidatorResources>,
}

impl WasmFunctionValidator {
    /// The operator visitor for one operator at `offset`: the fastest way for
    /// a compiler that itself implements `VisitOperator` to validate as it
    /// goes (`reader.visit_operator(&mut v.visitor(offset))`).
    pub fn visitor<'this, 'a: 'this>(
        &'this mut self,
        offset: u64,
    ) -> impl VisitOperator<'a, Output = wasmparser::Result<()>> + wasmparser::FrameStack + 'this
    {
        self.inner.visitor(offset)
    }

    /// The module as the validator sees it (types, functions, globals, ...).
    pub fn resources(&self) -> &ValidatorResources {
        self.inner.resources()
    }

    /// Number of locals, parameters included.
    pub fn len_locals(&self) -> u32 {
        self.inner.len_locals()
    }

    pub fn local_type(&self, index: u32) -> Option<ValType> {
        self.inner.get_local_type(index)
    }

    /// Height of the operand stack, the values of all open frames included.
    pub fn operand_stack_height(&self) -> u32 {
        self.inner.operand_stack_height()
    }

    /// The type of the operand `depth` entries below the top; `Some(None)`
    /// for an operand of unknown type (after `unreachable`).
    pub fn operand_type(&self, depth: usize) -> Option<Option<ValType>> {
        self.inner.get_operand_type(depth)
    }

    /// Number of open control frames (the function's own frame included).
    pub fn control_stack_height(&self) -> u32 {
        self.inner.control_stack_height()
    }

    /// The control frame `depth` frames below the innermost one.
    pub fn control_frame(&self, depth: usize) -> Option<&wasmparser::Frame> {
        self.inner.get_control_frame(depth)
    }

    /// Ends validation, keeping the allocations for the next function.
    pub fn into_allocations(self) -> FuncValidatorAllocations {
        self.inner.into_allocations()
    }

    fn err(&self, e: wasmparser::BinaryReaderError) -> ValidateError {
        ValidateError::in_func(self.index, e)
    }
}

impl FunctionValidator for WasmFunctionValidator {
    fn index(&self) -> u32 {
        self.index
    }

    fn validate_body(&mut self, body: &FunctionBody<'_>) -> Result<(), ValidateError> {
        // The same walk as the trait's default, through the visitor: no
        // `Operator` values are built. The body is read with the module's
        // features.
        let mut reader =
            wasmparser::BinaryReader::new_features(body.bytes, body.offset, *self.inner.features());
        self.read_locals(&mut reader)?;
        let index = self.index;
        let result = (|| {
            while !reader.eof() {
                let offset = reader.original_position();
                reader.visit_operator(&mut self.inner.visitor(offset))??;
            }
            reader.finish_expression(&self.inner.visitor(reader.original_position()))
        })();
        result.map_err(|e| ValidateError::in_func(index, e))
    }

    fn read_locals(&mut self, reader: &mut BinaryReader<'_>) -> Result<(), ValidateError> {
        self.inner.read_locals(reader).map_err(|e| self.err(e))
    }

    fn define_locals(&mut self, offset: u64, count: u32, ty: ValType) -> Result<(), ValidateError> {
        self.inner
            .define_locals(offset, count, ty)
            .map_err(|e| self.err(e))
    }

    fn op(&mut self, offset: u64, op: &Operator<'_>) -> Result<(), ValidateError> {
        self.inner.op(offset, op).map_err(|e| self.err(e))
    }

    fn finish(&mut self, offset: u64) -> Result<(), ValidateError> {
        if self.inner.control_stack_height() != 0 {
            return Err(ValidateError::new(
                offset,
                Some(self.index),
                "control frames remain at end of function body or expression",
            ));
        }
        Ok(())
    }
}
