//! The operator walk: one pass over a validated function body, building CLIF
//! with a value stack (SSA values) and a control stack (one frame per
//! `block`/`loop`/`if`).
//!
//! ```text
//! block:  values on entry stay on the stack (they dominate the body);
//!         `dest` (after `end`) has one block parameter per result.
//! loop:   `header` has one block parameter per loop parameter (back edges
//!         carry new values); branches to a loop go to `header`.
//! if:     `brif cond, then, else`; both arms start with the if's parameters
//!         (kept in the frame); without `else`, the else arm jumps to `dest`
//!         with the parameters (validation makes them the results).
//! ```
//!
//! **Invariants** (the hazards Wasmtime's translator warns about):
//! - values only flow between CLIF blocks as block arguments, or as values
//!   defined in a dominating block (a block's parameters, an `if`'s
//!   parameters): never "jump into the middle" of a block;
//! - a block is sealed as soon as all its predecessors are known (`then`,
//!   `else`, the fall-through of `br_if` at once; `dest` and a loop header at
//!   `end`);
//! - after `br`, `br_table`, `return`, `unreachable` and tail calls the walk
//!   is unreachable: it emits nothing and only counts nested blocks until the
//!   `else`/`end` of the current frame, whose `dest` is reachable only if
//!   something branched to it;
//! - every operator gets its absolute byte offset as source location, which
//!   `emit` turns into the offset map.
//!
//! Input is validated; anything impossible (a stack underflow, a bad index)
//! is `CompileError::Internal`, never a panic. Operators of proposals this
//! tier does not implement are `CompileError::Unsupported` naming them.

mod atomic;
mod call;
mod exceptions;
mod gc;
mod memory;
mod numeric;
mod simd;
mod table;

use cranelift_codegen::Context;
use cranelift_codegen::entity::{EntitySet, SecondaryMap};
use cranelift_codegen::ir::{
    self, BlockArg, Function, InstBuilder, SourceLoc, Type, UserFuncName, Value, types,
};
use cranelift_codegen::isa::TargetIsa;
use cranelift_frontend::{FunctionBuilder, FunctionBuilderContext, Variable};
use rung_tiering::{
    BUDGET_COST_CALL, BUDGET_COST_LOOP_BACKEDGE, CompileError, FunctionBody, Libcall, ModuleEnv,
    TrapCode, VmOffsets,
};
use wasmparser::{BlockType, Operator};

use crate::env::{FuncEnv, clif_type, wasm_signature, zero};
use crate::traps::cranelift_trap;

/// What the tier translates for: its ISA, and whether code checks for
/// interrupts.
pub(crate) struct Target<'a> {
    pub isa: &'a dyn TargetIsa,
    pub interrupt_checks: bool,
    /// Count the tier-up budget at function entries and loop headers
    /// (`CompileOptions::tier_up_checks`).
    pub tier_up_checks: bool,
    /// Translate an OSR entry at the loop at this offset instead of the
    /// function (see `OsrEntry`).
    pub osr_loop: Option<u32>,
    /// Whether the ISA has SSE4.1: without it, SIMD operators are
    /// `Unsupported` (Cranelift would call libcalls for some of them,
    /// which position-independent code cannot).
    pub simd: bool,
}

/// An OSR entry being translated: the function takes `(vmctx, buffer)`;
/// its entry block jumps to `block`, which, once the translation reaches
/// the loop at `loop_offset`, loads the loop's OSR layout from the buffer
/// and jumps into the loop. The function's own start (and everything
/// before the loop) is translated as usual but never reached; Cranelift
/// drops it.
///
/// Where it jumps: when the loop sits inside another loop and nothing is
/// on the operand stack below it (what compilers emit), into a copy of the
/// loop whose exits lead into the original code (`Translator::osr_copy`),
/// so that the original loop nest is entered only at its headers, from
/// outside, and keeps its shape (a jump into the original inner header
/// would make it the header of one loop holding the whole nest, and
/// Cranelift would hoist nothing out of it). Otherwise into the original
/// loop's header (`Translator::enter_from_osr_buffer`).
struct OsrEntry {
    loop_offset: u32,
    buffer: Value,
    block: ir::Block,
    /// Filled: the loop was reached.
    done: bool,
    /// The `dest` the copy of the loop made, for the original loop to
    /// share, and whether the copy reaches it.
    copy_dest: Option<(ir::Block, bool)>,
}

/// Translates function `index` into `ctx.func` (CLIF, not yet optimized);
/// returns the byte offset of each of its linear-memory accesses, in order
/// (what `emit` needs to place their faults).
pub(crate) fn translate_function(
    target: &Target<'_>,
    env: &ModuleEnv,
    index: u32,
    body: FunctionBody<'_>,
    offsets: &VmOffsets,
    ctx: &mut Context,
    fctx: &mut FunctionBuilderContext,
) -> Result<Vec<u32>, CompileError> {
    let (isa, interrupt_checks) = (target.isa, target.interrupt_checks);
    let tier_up_checks = target.tier_up_checks;
    if offsets.pointer_size() != 8 || isa.pointer_bytes() != 8 {
        return Err(CompileError::Internal(format!(
            "the optimizer targets 64-bit pointers; vmctx layout has {}",
            offsets.pointer_size()
        )));
    }
    if index < env.num_imported_functions() {
        return Err(CompileError::Internal(format!(
            "function {index} is imported and has no body"
        )));
    }
    let ty = env
        .func_type(index)
        .ok_or_else(|| CompileError::Internal(format!("function {index} has no function type")))?;
    let mut sig = wasm_signature(ty, body.offset)?;
    if target.osr_loop.is_some() {
        // (vmctx, buffer) -> the function's results.
        sig.params.truncate(1);
        sig.params.push(ir::AbiParam::new(types::I64));
    }
    ctx.func = Function::with_name_signature(UserFuncName::user(0, index), sig);
    let mut builder = FunctionBuilder::new(&mut ctx.func, fctx);

    let entry = builder.create_block();
    builder.append_block_params_for_function_params(entry);
    builder.switch_to_block(entry);
    builder.seal_block(entry);
    builder.set_srcloc(srcloc(body.offset));
    let params = builder.block_params(entry).to_vec();
    let vmctx = *params
        .first()
        .ok_or_else(|| CompileError::Internal("signature without vmctx".into()))?;
    let fenv = FuncEnv::new(&mut builder, env, offsets, vmctx)?;

    let reader = env.body_reader(&body);
    let mut t = Translator {
        builder,
        env: fenv,
        stack: Vec::new(),
        control: Vec::new(),
        locals: Vec::new(),
        reachable: true,
        unreachable_depth: 0,
        offset: body.offset,
        func: index,
        interrupt_checks,
        tier_up_checks,
        branch_sources: SecondaryMap::new(),
        claimed_branches: EntitySet::new(),
        heap_accesses: Vec::new(),
        osr: None,
        local_types: Vec::new(),
        simd: target.simd,
        handlers: Vec::new(),
        throw_sig: None,
    };
    if let Some(loop_offset) = target.osr_loop {
        let block = t.builder.create_block();
        t.builder.ins().jump(block, &[]);
        t.builder.seal_block(block);
        // The function's own start: no predecessor.
        let start = t.builder.create_block();
        t.builder.seal_block(start);
        t.builder.switch_to_block(start);
        t.osr = Some(OsrEntry {
            loop_offset,
            buffer: params[1],
            block,
            done: false,
            copy_dest: None,
        });
    }

    // Locals: parameters first, then the declared ones, zeroed.
    for (i, &ty) in ty.params().iter().enumerate() {
        let cty = clif_type(ty, body.offset)?;
        let var = t.builder.declare_var(cty);
        let value = match t.osr {
            // An OSR entry has no wasm parameters: this start is never
            // reached, the buffer defines them.
            Some(_) => zero(&mut t.builder, cty),
            None => params[i + 1],
        };
        t.builder.def_var(var, value);
        t.locals.push(var);
        t.local_types.push(cty);
    }
    let mut locals = reader
        .get_locals_reader()
        .map_err(|e| read_error(index, &e))?;
    for _ in 0..locals.get_count() {
        let (count, ty) = locals.read().map_err(|e| read_error(index, &e))?;
        let cty = clif_type(ty, locals.original_position())?;
        for _ in 0..count {
            let var = t.builder.declare_var(cty);
            let z = zero(&mut t.builder, cty);
            t.builder.def_var(var, z);
            t.locals.push(var);
            t.local_types.push(cty);
        }
    }

    // The OSR layout has 8-byte slots: no v128 fits (the baseline, which
    // records OSR exits, does not compile SIMD functions either).
    if target.osr_loop.is_some() && t.local_types.iter().any(|ty| ty.is_vector()) {
        return Err(t.unsupported("an OSR entry into a function with v128 locals"));
    }

    // The function body is a block whose `dest` returns.
    let exit = t.builder.create_block();
    let mut result_types = Vec::with_capacity(ty.results().len());
    for &r in ty.results() {
        result_types.push(clif_type(r, body.offset)?);
    }
    for &r in &result_types {
        t.builder.append_block_param(exit, r);
    }
    t.control.push(Frame {
        kind: FrameKind::Block,
        dest: exit,
        num_params: 0,
        num_results: result_types.len(),
        height: 0,
        exit_reached: false,
    });

    t.interrupt_check();
    t.budget_check(BUDGET_COST_CALL)?;
    let mut ops = reader
        .get_operators_reader()
        .map_err(|e| read_error(index, &e))?;
    while !ops.eof() {
        let offset = ops.original_position();
        let op = ops.read().map_err(|e| read_error(index, &e))?;
        t.offset = offset;
        t.builder.set_srcloc(srcloc(offset));
        if t.control.is_empty() {
            return Err(CompileError::Internal(format!(
                "operator after the function's end at {offset:#x}"
            )));
        }
        if t.reachable {
            if let Operator::Loop { blockty } = op
                && t.wants_osr_copy(blockty)?
            {
                t.osr_copy(blockty, ops.clone())?;
                t.offset = offset;
                t.builder.set_srcloc(srcloc(offset));
            }
            t.op(op)?;
        } else {
            t.unreachable_op(&op)?;
        }
    }
    if !t.control.is_empty() {
        return Err(CompileError::Internal(
            "function body ends inside a block".into(),
        ));
    }
    if t.osr.as_ref().is_some_and(|o| !o.done) {
        return Err(CompileError::Unsupported {
            feature: "an OSR entry at a loop that is not reached".into(),
            offset: u64::from(target.osr_loop.unwrap_or(0)),
        });
    }
    t.builder.finalize(isa.frontend_config());
    Ok(t.heap_accesses)
}

fn srcloc(offset: u64) -> SourceLoc {
    // Modules are below 4 GiB (wasmparser's limits); saturate otherwise.
    SourceLoc::new(u32::try_from(offset).unwrap_or(u32::MAX - 1))
}

fn read_error(func: u32, e: &wasmparser::BinaryReaderError) -> CompileError {
    // The body was validated, so a read error is a caller bug.
    CompileError::Internal(format!(
        "function {func}: reading a validated body failed: {} at {:#x}",
        e.message(),
        e.offset()
    ))
}

pub(crate) enum FrameKind {
    Block,
    Loop {
        header: ir::Block,
    },
    If {
        else_block: ir::Block,
        else_seen: bool,
        params: Vec<Value>,
    },
    /// `try_table`: its clauses, branch targets as indices into
    /// `Translator::control`; the landing pad, once a call needs it.
    TryTable {
        catches: Vec<exceptions::Clause>,
        landing: Option<ir::Block>,
    },
    /// Legacy `try`: the landing pad, the `catch`/`catch_all` bodies seen so
    /// far (tag, entry block), the variable holding the caught exception
    /// (for `rethrow`), and whether the walk is past the first `catch`.
    Try {
        landing: Option<ir::Block>,
        clauses: Vec<(Option<u32>, ir::Block)>,
        exn: Variable,
        catching: bool,
    },
    /// A legacy `try` ended by `delegate`: its landing pad goes on to the
    /// innermost handler at or outside frame `target`.
    Delegated {
        landing: Option<ir::Block>,
        target: usize,
    },
}

pub(crate) struct Frame {
    kind: FrameKind,
    /// The block after `end`, with one parameter per result.
    dest: ir::Block,
    num_params: usize,
    num_results: usize,
    /// Stack height below the frame's parameters.
    height: usize,
    /// Whether anything jumps to `dest`.
    exit_reached: bool,
}

/// The state of one function's translation.
pub(crate) struct Translator<'a, 'b> {
    pub(crate) builder: FunctionBuilder<'b>,
    pub(crate) env: FuncEnv<'a>,
    pub(crate) stack: Vec<Value>,
    control: Vec<Frame>,
    locals: Vec<Variable>,
    reachable: bool,
    /// Blocks opened inside unreachable code, not yet closed.
    unreachable_depth: u32,
    /// Absolute offset of the operator being translated.
    pub(crate) offset: u64,
    func: u32,
    /// Whether function entries and loop headers check `vmctx.interrupt`.
    interrupt_checks: bool,
    /// Whether function entries and loop headers count the tier-up budget.
    tier_up_checks: bool,
    /// The `brif`s that branch to each block (an `if`'s arms, a `br_if`'s
    /// target and fall-through). Cranelift folds a `brif` to a block that
    /// does nothing but trap into a conditional trap that keeps the `brif`'s
    /// source location, so an `unreachable` in a block that has done
    /// nothing with an effect so far gives those `brif`s its own offset:
    /// the trap then reports the `unreachable`, as the baseline's does.
    branch_sources: SecondaryMap<ir::Block, Vec<ir::Inst>>,
    /// The `brif`s an `unreachable` gave its source location to.
    claimed_branches: EntitySet<ir::Inst>,
    /// The byte offset of each linear-memory access, in order (see
    /// `traps::heap_access`).
    pub(crate) heap_accesses: Vec<u32>,
    /// Translating an OSR entry.
    osr: Option<OsrEntry>,
    /// Each local's type, in index order.
    local_types: Vec<Type>,
    /// Whether SIMD operators may be compiled (`Target::simd`).
    pub(crate) simd: bool,
    /// The frames (indices into `control`) whose handlers cover a call
    /// here, innermost last: `try_table` bodies and legacy `try` bodies
    /// before their first `catch`.
    handlers: Vec<usize>,
    /// `ThrowRef`'s `Tail` signature, once a throw imported it.
    throw_sig: Option<ir::SigRef>,
}

fn block_args(values: &[Value]) -> Vec<BlockArg> {
    values.iter().map(|&v| BlockArg::Value(v)).collect()
}

/// Cranelift's test of an instruction a "just trap" block may contain
/// (`inst_predicates::is_pure_for_egraph`, which it does not export): one
/// result, and no load or side effect but a readonly, non-trapping,
/// movable load. A block of such instructions and a `trap` is folded into
/// the conditional trap of the `brif` that reaches it
/// (`branch_to_trap.rs`), which keeps the `brif`'s source location.
fn pure_for_egraph(func: &ir::Function, inst: ir::Inst) -> bool {
    let data = &func.dfg.insts[inst];
    let pure_load = match *data {
        ir::InstructionData::Load {
            opcode: ir::Opcode::Load,
            flags,
            ..
        } => {
            let flags = func.dfg.mem_flags[flags];
            flags.readonly() && flags.notrap() && flags.can_move()
        }
        _ => false,
    };
    let op = data.opcode();
    let side_effects = op.is_call()
        || op.is_branch()
        || op.is_terminator()
        || op.is_return()
        || op.can_trap()
        || op.other_side_effects()
        || op.can_store();
    func.dfg.inst_results(inst).len() == 1 && (pure_load || (!op.can_load() && !side_effects))
}

impl Translator<'_, '_> {
    // ---- stack ------------------------------------------------------------

    pub(crate) fn internal(&self, what: &str) -> CompileError {
        CompileError::Internal(format!(
            "function {}: {what} at offset {:#x}",
            self.func, self.offset
        ))
    }

    pub(crate) fn pop(&mut self) -> Result<Value, CompileError> {
        let floor = self.control.last().map_or(0, |f| f.height);
        if self.stack.len() <= floor {
            return Err(self.internal("value stack underflow"));
        }
        self.stack
            .pop()
            .ok_or_else(|| self.internal("value stack underflow"))
    }

    pub(crate) fn pop2(&mut self) -> Result<(Value, Value), CompileError> {
        let b = self.pop()?;
        let a = self.pop()?;
        Ok((a, b))
    }

    pub(crate) fn pop3(&mut self) -> Result<(Value, Value, Value), CompileError> {
        let c = self.pop()?;
        let (a, b) = self.pop2()?;
        Ok((a, b, c))
    }

    /// Removes and returns the top `n` values, bottom first.
    pub(crate) fn popn(&mut self, n: usize) -> Result<Vec<Value>, CompileError> {
        let args = self.peekn(n)?.to_vec();
        self.stack.truncate(self.stack.len() - n);
        Ok(args)
    }

    pub(crate) fn peekn(&self, n: usize) -> Result<&[Value], CompileError> {
        let len = self.stack.len();
        if n > len {
            return Err(self.internal("value stack underflow"));
        }
        Ok(&self.stack[len - n..])
    }

    pub(crate) fn push(&mut self, v: Value) {
        self.stack.push(v);
    }

    pub(crate) fn unsupported(&self, feature: impl Into<String>) -> CompileError {
        CompileError::Unsupported {
            feature: feature.into(),
            offset: self.offset,
        }
    }

    /// Records that `brif` branches to `block`.
    fn branch_source(&mut self, block: ir::Block, brif: ir::Inst) {
        self.branch_sources[block].push(brif);
    }

    /// At an `unreachable`: if its block has done nothing with an effect so
    /// far, gives the `brif`s that branch to it the `unreachable`'s source
    /// location (see `branch_sources`).
    fn claim_branch_srcloc(&mut self) {
        let Some(block) = self.builder.current_block() else {
            return;
        };
        let func = &self.builder.func;
        if !func
            .layout
            .block_insts(block)
            .all(|inst| pure_for_egraph(func, inst))
        {
            // Cranelift keeps the trap where it is, with its own location.
            return;
        }
        // A `brif` whose other successor claimed it already branches to
        // two trapping blocks, and Cranelift folds only one of them into a
        // conditional trap, which one is not ours to choose. A `nop` (it
        // emits nothing) makes this block more than "just a trap", so its
        // `trap` stays and keeps its own source location.
        if self.branch_sources[block]
            .iter()
            .any(|brif| self.claimed_branches.contains(*brif))
        {
            self.builder.ins().nop();
            return;
        }
        let at = srcloc(self.offset);
        for &brif in &self.branch_sources[block] {
            self.builder.func.set_srcloc(brif, at);
            self.claimed_branches.insert(brif);
        }
    }

    pub(crate) fn trap(&mut self, code: TrapCode) {
        self.builder.ins().trap(cranelift_trap(code));
    }

    /// Traps with `Interrupt` when the host has set `vmctx.interrupt`: at
    /// the function's entry and at every loop header, so that no wasm code
    /// runs on for long once asked to stop. The host writes the field from
    /// another thread, so the read is an atomic load: a plain one would be
    /// merged with the entry's (nothing in the function stores to it) and
    /// leave the loop.
    fn interrupt_check(&mut self) {
        if !self.interrupt_checks {
            return;
        }
        let offset = i64::from(self.env.offsets.interrupt());
        let ins = self.builder.ins();
        let field = ins.iadd_imm_u(self.env.vmctx, offset);
        let flag = self
            .builder
            .ins()
            .atomic_load(types::I32, ir::MemFlagsData::trusted(), field);
        self.trapnz(flag, TrapCode::Interrupt);
    }

    /// Subtracts `cost` from this function's tier-up budget and calls
    /// `TierUp` (out of line) when it is used up: at the function's entry
    /// and at every loop header, as the baseline counts, so that an
    /// optimizer configuration below the top of a ladder climbs too. Only
    /// with `CompileOptions::tier_up_checks`.
    fn budget_check(&mut self, cost: i32) -> Result<(), CompileError> {
        if !self.tier_up_checks {
            return Ok(());
        }
        let offset = self
            .env
            .offsets
            .tier_up_budget(self.func)
            .ok_or_else(|| self.internal("no tier-up budget for the function"))?;
        let budgets = self.env.tier_up_budgets(&mut self.builder)?;
        let offset = i32::try_from(offset).map_err(|_| self.internal("budget offset"))?;
        // The runtime stores budgets from other threads; a plain load and
        // store, as the baseline's `sub`, may lose an update, never tear.
        let flags = ir::MemFlagsData::trusted();
        let ins = self.builder.ins();
        let budget = ins.load(types::I32, flags, budgets, offset);
        let left = self.builder.ins().iadd_imm_s(budget, -i64::from(cost));
        self.builder.ins().store(flags, left, budgets, offset);
        let out =
            self.builder
                .ins()
                .icmp_imm_s(ir::condcodes::IntCC::SignedLessThanOrEqual, left, 0);
        let call = self.builder.create_block();
        let next = self.builder.create_block();
        self.builder.set_cold_block(call);
        self.builder.ins().brif(out, call, &[], next, &[]);
        self.builder.seal_block(call);
        self.builder.switch_to_block(call);
        let func = self.builder.ins().iconst(types::I32, i64::from(self.func));
        self.env
            .libcall(&mut self.builder, Libcall::TierUp, &[func])?;
        self.builder.ins().jump(next, &[]);
        self.builder.seal_block(next);
        self.builder.switch_to_block(next);
        Ok(())
    }

    pub(crate) fn trapnz(&mut self, cond: Value, code: TrapCode) {
        self.builder.ins().trapnz(cond, cranelift_trap(code));
    }

    pub(crate) fn trapz(&mut self, cond: Value, code: TrapCode) {
        self.builder.ins().trapz(cond, cranelift_trap(code));
    }

    /// Marks the rest of the current block unreachable.
    pub(crate) fn set_unreachable(&mut self) {
        self.reachable = false;
        self.unreachable_depth = 0;
    }

    /// `i32.const`-style constant, with the immediate zero-extended as the
    /// verifier wants it.
    pub(crate) fn iconst(&mut self, ty: Type, value: i64) -> Value {
        let v = if ty == types::I32 {
            i64::from(value as u32)
        } else {
            value
        };
        self.builder.ins().iconst(ty, v)
    }

    // ---- block types ------------------------------------------------------

    fn block_types(&self, bt: BlockType) -> Result<(Vec<Type>, Vec<Type>), CompileError> {
        match bt {
            BlockType::Empty => Ok((vec![], vec![])),
            BlockType::Type(t) => Ok((vec![], vec![clif_type(t, self.offset)?])),
            BlockType::FuncType(idx) => {
                let f = self.env.func_type(idx)?;
                let p = f
                    .params()
                    .iter()
                    .map(|&t| clif_type(t, self.offset))
                    .collect::<Result<_, _>>()?;
                let r = f
                    .results()
                    .iter()
                    .map(|&t| clif_type(t, self.offset))
                    .collect::<Result<_, _>>()?;
                Ok((p, r))
            }
        }
    }

    fn new_dest(&mut self, results: &[Type]) -> ir::Block {
        let dest = self.builder.create_block();
        for &r in results {
            self.builder.append_block_param(dest, r);
        }
        dest
    }

    fn frame_at(&mut self, depth: u32) -> Result<&mut Frame, CompileError> {
        let len = self.control.len();
        let i = len
            .checked_sub(1 + depth as usize)
            .ok_or_else(|| self.internal("branch depth out of range"))?;
        Ok(&mut self.control[i])
    }

    /// The target of a branch to `depth` and how many values it takes; marks
    /// a block's `dest` as reached.
    fn branch_target(&mut self, depth: u32) -> Result<(ir::Block, usize), CompileError> {
        let len = self.control.len();
        let i = len
            .checked_sub(1 + depth as usize)
            .ok_or_else(|| self.internal("branch depth out of range"))?;
        Ok(self.branch_target_at(i))
    }

    /// [`Translator::branch_target`] for the frame at index `i` of
    /// `control`.
    fn branch_target_at(&mut self, i: usize) -> (ir::Block, usize) {
        let frame = &mut self.control[i];
        match frame.kind {
            FrameKind::Loop { header } => (header, frame.num_params),
            _ => {
                frame.exit_reached = true;
                (frame.dest, frame.num_results)
            }
        }
    }

    // ---- control ----------------------------------------------------------

    fn op_block(&mut self, bt: BlockType) -> Result<(), CompileError> {
        self.open_frame(bt, FrameKind::Block)
    }

    /// Opens a frame of `kind` (a block or a handler) whose `dest` follows
    /// its `end`.
    fn open_frame(&mut self, bt: BlockType, kind: FrameKind) -> Result<(), CompileError> {
        let (params, results) = self.block_types(bt)?;
        let dest = self.new_dest(&results);
        let height = self
            .stack
            .len()
            .checked_sub(params.len())
            .ok_or_else(|| self.internal("block parameters underflow"))?;
        self.control.push(Frame {
            kind,
            dest,
            num_params: params.len(),
            num_results: results.len(),
            height,
            exit_reached: false,
        });
        Ok(())
    }

    fn op_loop(&mut self, bt: BlockType) -> Result<(), CompileError> {
        let (params, results) = self.block_types(bt)?;
        let copied = self.osr.as_mut().and_then(|o| o.copy_dest.take());
        let dest = match copied {
            Some((dest, _)) => dest,
            None => self.new_dest(&results),
        };
        let header = self.new_dest(&params);
        let args = self.popn(params.len())?;
        let height = self.stack.len();
        let osr_here = self
            .osr
            .as_ref()
            .is_some_and(|o| !o.done && u64::from(o.loop_offset) == self.offset);
        let osr_vars = if osr_here {
            // Into the original header, values below the loop and all: the
            // values below an enclosing loop's height were defined before
            // that loop, where the entry does not pass (it re-enters the
            // enclosing loop at its header), so none may be there.
            let outer = self
                .control
                .iter()
                .rev()
                .find(|f| matches!(f.kind, FrameKind::Loop { .. }));
            if outer.is_some_and(|f| f.height > 0) {
                return Err(self.unsupported(
                    "an OSR entry at a loop inside a loop with values below it on the operand stack",
                ));
            }
            Some(self.enter_from_osr_buffer(header, &args)?)
        } else {
            self.builder.ins().jump(header, &block_args(&args));
            None
        };
        self.builder.switch_to_block(header);
        // The loop's parameters (read first: the variables below add
        // block parameters of their own).
        let header_params = self.builder.block_params(header).to_vec();
        // From the header on, the values below the height are the
        // variables both ways in define.
        for (k, var) in osr_vars.into_iter().flatten().enumerate() {
            self.stack[k] = self.builder.use_var(var);
        }
        self.stack.extend(header_params);
        self.interrupt_check();
        self.budget_check(BUDGET_COST_LOOP_BACKEDGE)?;
        self.control.push(Frame {
            kind: FrameKind::Loop { header },
            dest,
            num_params: params.len(),
            num_results: results.len(),
            height,
            exit_reached: copied.is_some_and(|(_, reached)| reached),
        });
        Ok(())
    }

    /// Whether the loop about to be translated is the OSR entry's and gets
    /// a copy (see `OsrEntry`): it sits inside another loop, and nothing
    /// is on the operand stack below it.
    fn wants_osr_copy(&self, bt: BlockType) -> Result<bool, CompileError> {
        if !self
            .osr
            .as_ref()
            .is_some_and(|o| !o.done && u64::from(o.loop_offset) == self.offset)
        {
            return Ok(false);
        }
        let (params, _) = self.block_types(bt)?;
        let nested = self
            .control
            .iter()
            .any(|f| matches!(f.kind, FrameKind::Loop { .. }));
        Ok(nested && self.stack.len() == params.len())
    }

    /// Translates the OSR entry's copy of the loop at hand, `ops` being
    /// the operators after its `loop`: from the OSR buffer (every local,
    /// then the loop's parameters) into a header of its own, the body once
    /// more, its `end` jumping to the `dest` the original loop will share;
    /// every branch out of it goes to the original's blocks (enclosing
    /// loops' headers, enclosing blocks' ends), none of them sealed yet.
    /// Then puts the translation back where it was, before the original
    /// `loop`. Nothing lies below the loop on the operand stack
    /// (`wants_osr_copy`), so every value live across the way in is a
    /// local: a variable, merged by the SSA builder.
    fn osr_copy(
        &mut self,
        bt: BlockType,
        mut ops: wasmparser::OperatorsReader<'_>,
    ) -> Result<(), CompileError> {
        let (params, results) = self.block_types(bt)?;
        if params.iter().any(|ty| ty.is_vector()) {
            return Err(self.unsupported("an OSR entry at a loop with v128 parameters"));
        }
        let dest = self.new_dest(&results);
        let (block, buffer) = match &self.osr {
            Some(o) => (o.block, o.buffer),
            None => return Err(self.internal("no OSR entry")),
        };
        // The original goes on in a block of its own, entered from here
        // (Cranelift lays the jump out as a fall-through).
        let back = self.builder.create_block();
        self.builder.ins().jump(back, &[]);
        self.builder.seal_block(back);
        let saved_stack = std::mem::take(&mut self.stack);

        self.builder.switch_to_block(block);
        let flags = ir::MemFlagsData::trusted();
        let mut slot = 0i32;
        let mut load = |b: &mut FunctionBuilder<'_>, ty: Type| {
            let v = b.ins().load(ty, flags, buffer, slot * 8);
            slot += 1;
            v
        };
        // The buffer is the thread's: everything is read before anything
        // else happens.
        for (i, &ty) in self.local_types.iter().enumerate() {
            let v = load(&mut self.builder, ty);
            self.builder.def_var(self.locals[i], v);
        }
        let args: Vec<Value> = params
            .iter()
            .map(|&ty| load(&mut self.builder, ty))
            .collect();
        let header = self.new_dest(&params);
        self.builder.ins().jump(header, &block_args(&args));
        self.builder.switch_to_block(header);
        let header_params = self.builder.block_params(header).to_vec();
        self.stack.extend(header_params);
        self.interrupt_check();
        self.budget_check(BUDGET_COST_LOOP_BACKEDGE)?;
        self.control.push(Frame {
            kind: FrameKind::Loop { header },
            dest,
            num_params: params.len(),
            num_results: results.len(),
            height: 0,
            exit_reached: false,
        });
        let depth = self.control.len();
        let mut reached = false;
        while self.control.len() >= depth {
            let offset = ops.original_position();
            let op = ops.read().map_err(|e| read_error(self.func, &e))?;
            self.offset = offset;
            self.builder.set_srcloc(srcloc(offset));
            let own_end = self.control.len() == depth
                && matches!(op, Operator::End)
                && (self.reachable || self.unreachable_depth == 0);
            if own_end {
                // The copy's own end: into the shared `dest`, left open
                // for the original loop's end.
                let frame = self
                    .control
                    .pop()
                    .ok_or_else(|| self.internal("end without a block"))?;
                if self.reachable {
                    let results = self.popn(frame.num_results)?;
                    self.builder.ins().jump(dest, &block_args(&results));
                    reached = true;
                }
                self.builder.seal_block(header);
                break;
            }
            if self.reachable {
                self.op(op)?;
            } else {
                self.unreachable_op(&op)?;
            }
        }
        if let Some(o) = &mut self.osr {
            o.done = true;
            o.copy_dest = Some((dest, reached));
        }
        self.stack = saved_stack;
        self.reachable = true;
        self.unreachable_depth = 0;
        self.builder.switch_to_block(back);
        Ok(())
    }

    /// At the OSR entry's loop, just before its header: the way in from
    /// the function's start (the values below the loop's height become
    /// variables, so that both ways define them) and the way in from the
    /// OSR buffer (the loop's OSR layout: every local, then the operand
    /// stack, 8 bytes each), both jumping to `header`.
    fn enter_from_osr_buffer(
        &mut self,
        header: ir::Block,
        args: &[Value],
    ) -> Result<Vec<Variable>, CompileError> {
        let dfg = &self.builder.func.dfg;
        if self
            .stack
            .iter()
            .chain(args)
            .any(|&v| dfg.value_type(v).is_vector())
        {
            return Err(self.unsupported("an OSR entry at a loop with v128 values on the stack"));
        }
        let below: Vec<(Variable, Type)> = self
            .stack
            .iter()
            .map(|&v| {
                let ty = self.builder.func.dfg.value_type(v);
                (self.builder.declare_var(ty), ty)
            })
            .collect();
        for (&(var, _), &v) in below.iter().zip(&self.stack) {
            self.builder.def_var(var, v);
        }
        self.builder.ins().jump(header, &block_args(args));
        let (block, buffer) = match &self.osr {
            Some(o) => (o.block, o.buffer),
            None => return Err(self.internal("no OSR entry")),
        };
        self.builder.switch_to_block(block);
        // The buffer is the thread's: everything is read before anything
        // else happens.
        let flags = ir::MemFlagsData::trusted();
        let mut slot = 0i32;
        let mut load = |b: &mut FunctionBuilder<'_>, ty: Type| {
            let v = b.ins().load(ty, flags, buffer, slot * 8);
            slot += 1;
            v
        };
        for (i, &ty) in self.local_types.iter().enumerate() {
            let v = load(&mut self.builder, ty);
            self.builder.def_var(self.locals[i], v);
        }
        for &(var, ty) in &below {
            let v = load(&mut self.builder, ty);
            self.builder.def_var(var, v);
        }
        let params: Vec<Value> = args
            .iter()
            .map(|&a| {
                let ty = self.builder.func.dfg.value_type(a);
                load(&mut self.builder, ty)
            })
            .collect();
        self.builder.ins().jump(header, &block_args(&params));
        if let Some(o) = &mut self.osr {
            o.done = true;
        }
        Ok(below.into_iter().map(|(var, _)| var).collect())
    }

    fn op_if(&mut self, bt: BlockType) -> Result<(), CompileError> {
        let cond = self.pop()?;
        let (params, results) = self.block_types(bt)?;
        let dest = self.new_dest(&results);
        let then_block = self.builder.create_block();
        let else_block = self.builder.create_block();
        let brif = self
            .builder
            .ins()
            .brif(cond, then_block, &[], else_block, &[]);
        self.branch_source(then_block, brif);
        self.branch_source(else_block, brif);
        self.builder.seal_block(then_block);
        self.builder.seal_block(else_block);
        self.builder.switch_to_block(then_block);
        let saved = self.peekn(params.len())?.to_vec();
        self.control.push(Frame {
            kind: FrameKind::If {
                else_block,
                else_seen: false,
                params: saved,
            },
            dest,
            num_params: params.len(),
            num_results: results.len(),
            height: self.stack.len() - params.len(),
            exit_reached: false,
        });
        Ok(())
    }

    fn op_else(&mut self) -> Result<(), CompileError> {
        let reachable = self.reachable;
        let results = if reachable {
            let n = self
                .control
                .last()
                .ok_or_else(|| self.internal("else without if"))?
                .num_results;
            self.popn(n)?
        } else {
            Vec::new()
        };
        let frame = self
            .control
            .last_mut()
            .ok_or_else(|| CompileError::Internal("else without if".into()))?;
        let FrameKind::If {
            else_block,
            else_seen,
            params,
        } = &mut frame.kind
        else {
            return Err(CompileError::Internal("else outside an if frame".into()));
        };
        if reachable {
            frame.exit_reached = true;
        }
        *else_seen = true;
        let else_block = *else_block;
        let params = params.clone();
        let (dest, height) = (frame.dest, frame.height);
        if reachable {
            self.builder.ins().jump(dest, &block_args(&results));
        }
        self.stack.truncate(height);
        self.stack.extend(params);
        self.builder.switch_to_block(else_block);
        self.reachable = true;
        Ok(())
    }

    fn op_end(&mut self) -> Result<(), CompileError> {
        let n = self
            .control
            .last()
            .ok_or_else(|| self.internal("end without a block"))?
            .num_results;
        let results = if self.reachable {
            self.popn(n)?
        } else {
            Vec::new()
        };
        let mut frame = self
            .control
            .pop()
            .ok_or_else(|| self.internal("end without a block"))?;
        if self.reachable {
            self.builder.ins().jump(frame.dest, &block_args(&results));
            frame.exit_reached = true;
        }
        match &frame.kind {
            FrameKind::If {
                else_block,
                else_seen: false,
                params,
            } => {
                // The implicit else passes the parameters through.
                self.builder.switch_to_block(*else_block);
                self.builder.ins().jump(frame.dest, &block_args(params));
                frame.exit_reached = true;
            }
            FrameKind::Loop { header } => self.builder.seal_block(*header),
            FrameKind::TryTable { .. } | FrameKind::Try { .. } | FrameKind::Delegated { .. } => {
                self.close_handler(&frame)?
            }
            _ => {}
        }
        self.stack.truncate(frame.height);
        self.builder.seal_block(frame.dest);
        if !frame.exit_reached {
            self.set_unreachable();
            return Ok(());
        }
        self.builder.switch_to_block(frame.dest);
        let values = self.builder.block_params(frame.dest).to_vec();
        if self.control.is_empty() {
            // The function's end: return the results.
            self.builder.ins().return_(&values);
            self.set_unreachable();
        } else {
            self.stack.extend(values);
            self.reachable = true;
        }
        Ok(())
    }

    fn op_br(&mut self, depth: u32) -> Result<(), CompileError> {
        let (target, n) = self.branch_target(depth)?;
        let args = self.peekn(n)?.to_vec();
        self.builder.ins().jump(target, &block_args(&args));
        self.set_unreachable();
        Ok(())
    }

    fn op_br_if(&mut self, depth: u32) -> Result<(), CompileError> {
        let cond = self.pop()?;
        let (target, n) = self.branch_target(depth)?;
        let args = self.peekn(n)?.to_vec();
        let next = self.builder.create_block();
        let brif = self
            .builder
            .ins()
            .brif(cond, target, &block_args(&args), next, &[]);
        self.branch_source(target, brif);
        self.branch_source(next, brif);
        self.builder.seal_block(next);
        self.builder.switch_to_block(next);
        Ok(())
    }

    fn op_br_table(&mut self, targets: &wasmparser::BrTable<'_>) -> Result<(), CompileError> {
        let index = self.pop()?;
        let (default, n) = self.branch_target(targets.default())?;
        let args = block_args(self.peekn(n)?);
        let mut calls = Vec::with_capacity(targets.len() as usize);
        for depth in targets.targets() {
            let depth = depth.map_err(|e| read_error(self.func, &e))?;
            let (block, m) = self.branch_target(depth)?;
            if m != n {
                return Err(self.internal("br_table targets of different arity"));
            }
            calls.push(self.builder.func.dfg.block_call(block, &args));
        }
        let default = self.builder.func.dfg.block_call(default, &args);
        let jt = self
            .builder
            .create_jump_table(ir::JumpTableData::new(default, &calls));
        self.builder.ins().br_table(index, jt);
        self.set_unreachable();
        Ok(())
    }

    fn op_return(&mut self) -> Result<(), CompileError> {
        let n = self
            .control
            .first()
            .ok_or_else(|| self.internal("return outside the function"))?
            .num_results;
        let values = self.peekn(n)?.to_vec();
        self.builder.ins().return_(&values);
        self.set_unreachable();
        Ok(())
    }

    /// An operator in unreachable code: only the block structure matters.
    fn unreachable_op(&mut self, op: &Operator<'_>) -> Result<(), CompileError> {
        match op {
            Operator::Block { .. }
            | Operator::Loop { .. }
            | Operator::If { .. }
            | Operator::TryTable { .. }
            | Operator::Try { .. } => {
                self.unreachable_depth += 1;
            }
            Operator::Delegate { .. } if self.unreachable_depth > 0 => self.unreachable_depth -= 1,
            Operator::Delegate { relative_depth } => self.op_delegate(*relative_depth)?,
            Operator::Catch { tag_index } if self.unreachable_depth == 0 => {
                self.op_catch(Some(*tag_index))?
            }
            Operator::CatchAll if self.unreachable_depth == 0 => self.op_catch(None)?,
            Operator::Else if self.unreachable_depth == 0 => self.op_else()?,
            Operator::End if self.unreachable_depth == 0 => self.op_end()?,
            Operator::End => self.unreachable_depth -= 1,
            _ => {}
        }
        Ok(())
    }

    fn local(&self, index: u32) -> Result<Variable, CompileError> {
        self.locals
            .get(index as usize)
            .copied()
            .ok_or_else(|| self.internal("local index out of range"))
    }

    fn global_type(&self, index: u32) -> Result<(Type, bool), CompileError> {
        let g = self
            .env
            .module
            .globals
            .get(index as usize)
            .ok_or_else(|| self.internal("global index out of range"))?;
        Ok((clif_type(g.ty.content_type, self.offset)?, g.ty.mutable))
    }

    /// One reachable operator.
    fn op(&mut self, op: Operator<'_>) -> Result<(), CompileError> {
        use Operator as O;
        match op {
            O::Nop => {}
            O::Unreachable => {
                self.claim_branch_srcloc();
                self.trap(TrapCode::UnreachableCodeReached);
                self.set_unreachable();
            }
            O::Block { blockty } => self.op_block(blockty)?,
            O::Loop { blockty } => self.op_loop(blockty)?,
            O::If { blockty } => self.op_if(blockty)?,
            O::Else => self.op_else()?,
            O::End => self.op_end()?,
            O::Br { relative_depth } => self.op_br(relative_depth)?,
            O::BrIf { relative_depth } => self.op_br_if(relative_depth)?,
            O::BrTable { targets } => self.op_br_table(&targets)?,
            O::Return => self.op_return()?,
            O::Drop => {
                self.pop()?;
            }
            O::Select | O::TypedSelect { .. } => {
                let (a, b, c) = self.pop3()?;
                let v = self.builder.ins().select(c, a, b);
                self.push(v);
            }
            O::LocalGet { local_index } => {
                let var = self.local(local_index)?;
                let v = self.builder.use_var(var);
                self.push(v);
            }
            O::LocalSet { local_index } => {
                let var = self.local(local_index)?;
                let v = self.pop()?;
                self.builder.def_var(var, v);
            }
            O::LocalTee { local_index } => {
                let var = self.local(local_index)?;
                let v = self.pop()?;
                self.builder.def_var(var, v);
                self.push(v);
            }
            O::GlobalGet { global_index } => {
                let (ty, mutable) = self.global_type(global_index)?;
                let addr = self.env.global_addr(&mut self.builder, global_index)?;
                let flags = if mutable {
                    self.env.mutable()
                } else {
                    FuncEnv::readonly()
                };
                let v = self.builder.ins().load(ty, flags, addr.ptr, addr.offset);
                self.push(v);
            }
            O::GlobalSet { global_index } => {
                let v = self.pop()?;
                let addr = self.env.global_addr(&mut self.builder, global_index)?;
                let flags = self.env.mutable();
                self.builder.ins().store(flags, v, addr.ptr, addr.offset);
            }
            O::I32Const { value } => {
                let v = self.iconst(types::I32, i64::from(value));
                self.push(v);
            }
            O::I64Const { value } => {
                let v = self.iconst(types::I64, value);
                self.push(v);
            }
            O::F32Const { value } => {
                let v = self
                    .builder
                    .ins()
                    .f32const(ir::immediates::Ieee32::with_bits(value.bits()));
                self.push(v);
            }
            O::F64Const { value } => {
                let v = self
                    .builder
                    .ins()
                    .f64const(ir::immediates::Ieee64::with_bits(value.bits()));
                self.push(v);
            }
            // Reference types.
            O::RefNull { .. } => {
                let v = self.iconst(types::I64, 0);
                self.push(v);
            }
            O::RefIsNull => {
                let r = self.pop()?;
                let c = self
                    .builder
                    .ins()
                    .icmp_imm_u(ir::condcodes::IntCC::Equal, r, 0);
                let v = self.builder.ins().uextend(types::I32, c);
                self.push(v);
            }
            O::RefFunc { function_index } => {
                let v = self.env.funcref(&mut self.builder, function_index)?;
                self.push(v);
            }
            O::RefAsNonNull => {
                let r = self.pop()?;
                self.trapz(r, TrapCode::NullReference);
                self.push(r);
            }
            O::BrOnNull { relative_depth } => {
                let r = self.pop()?;
                let (target, n) = self.branch_target(relative_depth)?;
                let args = block_args(self.peekn(n)?);
                let next = self.builder.create_block();
                let brif = self.builder.ins().brif(r, next, &[], target, &args);
                self.branch_source(next, brif);
                self.branch_source(target, brif);
                self.builder.seal_block(next);
                self.builder.switch_to_block(next);
                self.push(r);
            }
            O::BrOnNonNull { relative_depth } => {
                let (target, n) = self.branch_target(relative_depth)?;
                // The reference is the last of the target's values.
                let args = block_args(self.peekn(n)?);
                let r = self.pop()?;
                let next = self.builder.create_block();
                let brif = self.builder.ins().brif(r, target, &args, next, &[]);
                self.branch_source(next, brif);
                self.branch_source(target, brif);
                self.builder.seal_block(next);
                self.builder.switch_to_block(next);
            }
            // Calls.
            O::Call { function_index } => self.op_call(function_index, false)?,
            O::ReturnCall { function_index } => self.op_call(function_index, true)?,
            O::CallIndirect {
                type_index,
                table_index,
            } => self.op_call_indirect(type_index, table_index, false)?,
            O::ReturnCallIndirect {
                type_index,
                table_index,
            } => self.op_call_indirect(type_index, table_index, true)?,
            O::CallRef { type_index } => self.op_call_ref(type_index, false)?,
            O::ReturnCallRef { type_index } => self.op_call_ref(type_index, true)?,
            // Exceptions (see `exceptions`).
            O::TryTable { try_table } => self.op_try_table(&try_table)?,
            O::Throw { tag_index } => self.op_throw(tag_index)?,
            O::ThrowRef => {
                let exn = self.pop()?;
                self.throw_ref(exn)?;
            }
            O::Try { blockty } => self.op_try(blockty)?,
            O::Catch { tag_index } => self.op_catch(Some(tag_index))?,
            O::CatchAll => self.op_catch(None)?,
            O::Delegate { relative_depth } => self.op_delegate(relative_depth)?,
            O::Rethrow { relative_depth } => self.op_rethrow(relative_depth)?,
            op => {
                if !self.memory_op(&op)?
                    && !self.table_op(&op)?
                    && !self.numeric_op(&op)?
                    && !self.simd_op(&op)?
                    && !self.atomic_op(&op)?
                    && !self.gc_op(&op)?
                {
                    return Err(self.unsupported(rung_tiering::describe_unsupported(&op)));
                }
            }
        }
        Ok(())
    }
}
