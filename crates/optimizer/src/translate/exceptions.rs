//! Exception handling: `try_table`, `throw`, `throw_ref`, and the legacy
//! `try`/`catch`/`catch_all`/`rethrow`/`delegate` (ARCHITECTURE.md,
//! "Exception handling").
//!
//! Every call in the scope of a handler is a `try_call` whose exception
//! table has one entry, `default: landing(exn0)`: the unwinder resumes at
//! the landing pad with the exception object in `rax`, whatever it is, and
//! the pad does the matching:
//!
//! ```text
//! landing(exn):  tag = [exn + EXN_TAG]
//!                tag == [vmctx + tag(t0)] ? → clause 0 (payload loaded from exn)
//!                tag == [vmctx + tag(t1)] ? → clause 1
//!                catch_all                  → clause n
//!                otherwise: the enclosing handler's landing(exn), or ThrowRef(exn)
//! ```
//!
//! A landing pad is emitted when its handler's frame ends (all its clauses
//! and call sites are known then; the frames it branches to are still
//! open). `ThrowRef` is called with the `Tail` convention (the registers
//! are the System V ones for its two arguments): a `try_call` under
//! `Tail` clobbers every register, which is what the unwinder provides,
//! while a System V `try_call` would promise callee-saved registers it
//! does not restore.

use cranelift_codegen::ir::condcodes::IntCC;
use cranelift_codegen::ir::{
    self, AbiParam, BlockArg, ExceptionTableData, ExceptionTableItem, InstBuilder, MemFlagsData,
    Signature, Value, types,
};
use cranelift_codegen::isa::CallConv;
use rung_tiering::{CompileError, EXN_TAG, EXN_VALUE_SIZE, EXN_VALUES, Libcall, TrapCode};
use wasmparser::BlockType;

use super::{Frame, FrameKind, Translator, block_args};
use crate::env::{FuncEnv, clif_type};

/// One clause of a `try_table`.
pub(crate) struct Clause {
    /// The tag it catches; `None` for `catch_all`.
    tag: Option<u32>,
    /// Whether the `exnref` is passed too (`catch_ref`, `catch_all_ref`).
    with_ref: bool,
    /// The branch target, an index into `Translator::control`.
    target: usize,
}

/// An exception object's memory: trusted (the runtime allocates it
/// aligned and never frees it while code can reach it).
fn exn_flags() -> MemFlagsData {
    MemFlagsData::trusted()
}

impl Translator<'_, '_> {
    /// The value types of tag `tag`'s payload.
    fn tag_params(&self, tag: u32) -> Result<Vec<ir::Type>, CompileError> {
        let t = self
            .env
            .module
            .tags
            .get(tag as usize)
            .ok_or_else(|| self.internal("tag index out of range"))?;
        let ty = self.env.func_type(t.func_type_idx)?;
        ty.params()
            .iter()
            .map(|&p| clif_type(p, self.offset))
            .collect()
    }

    /// The landing pad of the innermost handler covering a call here, if
    /// any; created on first use.
    pub(crate) fn current_landing(&mut self) -> Option<ir::Block> {
        let &i = self.handlers.last()?;
        Some(self.landing_of(i))
    }

    fn landing_of(&mut self, i: usize) -> ir::Block {
        let slot = match &mut self.control[i].kind {
            FrameKind::TryTable { landing, .. } | FrameKind::Try { landing, .. } => landing,
            _ => unreachable!("handlers lists only try frames"),
        };
        match *slot {
            Some(b) => b,
            None => {
                let b = self.builder.create_block();
                self.builder.append_block_param(b, types::I64);
                self.builder.set_cold_block(b);
                // Re-borrow: `create_block` needed `self.builder`.
                if let FrameKind::TryTable { landing, .. } | FrameKind::Try { landing, .. } =
                    &mut self.control[i].kind
                {
                    *landing = Some(b);
                }
                b
            }
        }
    }

    /// Calls `sig` at `code` with `args`: a plain call, or a `try_call`
    /// to the current landing pad when a handler covers this point.
    /// Returns the call's results.
    pub(crate) fn covered_call(
        &mut self,
        sig: ir::SigRef,
        code: Value,
        args: &[Value],
    ) -> Vec<Value> {
        let Some(landing) = self.current_landing() else {
            let call = self.builder.ins().call_indirect(sig, code, args);
            return self.builder.inst_results(call).to_vec();
        };
        let returns: Vec<ir::Type> = self.builder.func.dfg.signatures[sig]
            .returns
            .iter()
            .map(|r| r.value_type)
            .collect();
        let normal = self.builder.create_block();
        for &ty in &returns {
            self.builder.append_block_param(normal, ty);
        }
        let rets: Vec<BlockArg> = (0..returns.len() as u32)
            .map(BlockArg::TryCallRet)
            .collect();
        let dfg = &mut self.builder.func.dfg;
        let normal_call = dfg.block_call(normal, &rets);
        let exn_call = dfg.block_call(landing, &[BlockArg::TryCallExn(0)]);
        let table =
            ExceptionTableData::new(sig, normal_call, [ExceptionTableItem::Default(exn_call)]);
        let table = dfg.exception_tables.push(table);
        self.builder.ins().try_call_indirect(code, args, table);
        self.builder.seal_block(normal);
        self.builder.switch_to_block(normal);
        self.builder.block_params(normal).to_vec()
    }

    /// Throws `exn` (`ThrowRef`), caught by the current handler if one
    /// covers this point; the walk is unreachable afterwards.
    pub(crate) fn throw_ref(&mut self, exn: Value) -> Result<(), CompileError> {
        // One imported signature per function, however many throws.
        let sig = match self.throw_sig {
            Some(s) => s,
            None => {
                let mut sig = Signature::new(CallConv::Tail);
                sig.params.push(AbiParam::new(types::I64));
                sig.params.push(AbiParam::new(types::I64));
                let s = self.builder.import_signature(sig);
                self.throw_sig = Some(s);
                s
            }
        };
        let table = self
            .env
            .load_vmctx_readonly(&mut self.builder, self.env.offsets.libcalls())?;
        let entry = FuncEnv::load_readonly(
            &mut self.builder,
            types::I64,
            table,
            self.env.offsets.libcall(Libcall::ThrowRef),
        )?;
        let vmctx = self.env.vmctx;
        self.covered_call(sig, entry, &[vmctx, exn]);
        // `ThrowRef` never returns.
        self.trap(TrapCode::UnreachableCodeReached);
        self.set_unreachable();
        Ok(())
    }

    pub(crate) fn op_throw(&mut self, tag: u32) -> Result<(), CompileError> {
        let params = self.tag_params(tag)?;
        let values = self.popn(params.len())?;
        let tag_arg = self.iconst(types::I32, i64::from(tag));
        let exn = self
            .env
            .libcall(&mut self.builder, Libcall::ExnNew, &[tag_arg])?
            .ok_or_else(|| self.internal("exn_new without a result"))?;
        for (i, v) in values.into_iter().enumerate() {
            let off = EXN_VALUES + EXN_VALUE_SIZE * i as u32;
            self.builder.ins().store(exn_flags(), v, exn, off as i32);
        }
        self.throw_ref(exn)
    }

    pub(crate) fn op_try_table(&mut self, t: &wasmparser::TryTable) -> Result<(), CompileError> {
        let len = self.control.len();
        let mut catches = Vec::with_capacity(t.catches.len());
        for c in &t.catches {
            let (tag, with_ref, label) = rung_tiering::catch_clause(c);
            // Labels are relative to the frames outside the try_table.
            let target = len
                .checked_sub(1 + label as usize)
                .ok_or_else(|| self.internal("catch label out of range"))?;
            catches.push(Clause {
                tag,
                with_ref,
                target,
            });
        }
        self.push_try_frame(
            t.ty,
            FrameKind::TryTable {
                catches,
                landing: None,
            },
        )
    }

    pub(crate) fn op_try(&mut self, bt: BlockType) -> Result<(), CompileError> {
        let exn = self.builder.declare_var(types::I64);
        self.push_try_frame(
            bt,
            FrameKind::Try {
                landing: None,
                clauses: Vec::new(),
                exn,
                catching: false,
            },
        )
    }

    fn push_try_frame(&mut self, bt: BlockType, kind: FrameKind) -> Result<(), CompileError> {
        self.open_frame(bt, kind)?;
        self.handlers.push(self.control.len() - 1);
        Ok(())
    }

    /// `catch $t` (`Some(t)`) or `catch_all` (`None`) of a legacy `try`:
    /// ends the previous body as `else` does, then starts the clause's
    /// body in a block that takes the payload and the exception.
    pub(crate) fn op_catch(&mut self, tag: Option<u32>) -> Result<(), CompileError> {
        let i = self
            .control
            .len()
            .checked_sub(1)
            .ok_or_else(|| self.internal("catch outside a block"))?;
        let reachable = self.reachable;
        let n = self.control[i].num_results;
        let results = if reachable { self.popn(n)? } else { Vec::new() };
        let params = match tag {
            Some(t) => self.tag_params(t)?,
            None => Vec::new(),
        };
        let block = self.builder.create_block();
        for &ty in &params {
            self.builder.append_block_param(block, ty);
        }
        let exn_param = self.builder.append_block_param(block, types::I64);
        let frame = &mut self.control[i];
        let FrameKind::Try {
            clauses,
            exn,
            catching,
            ..
        } = &mut frame.kind
        else {
            return Err(CompileError::Internal("catch outside a try frame".into()));
        };
        let was_catching = std::mem::replace(catching, true);
        clauses.push((tag, block));
        let exn = *exn;
        let (dest, height) = (frame.dest, frame.height);
        if reachable {
            frame.exit_reached = true;
            self.builder.ins().jump(dest, &block_args(&results));
        }
        if !was_catching && self.handlers.pop() != Some(i) {
            return Err(self.internal("handler stack out of step with try frames"));
        }
        self.stack.truncate(height);
        self.builder.switch_to_block(block);
        self.builder.def_var(exn, exn_param);
        let payload = self.builder.block_params(block)[..params.len()].to_vec();
        self.stack.extend(payload);
        self.reachable = true;
        Ok(())
    }

    /// `delegate l`: ends a legacy `try` whose calls are handled as if
    /// they were thrown at label `l` (relative to the frames outside the
    /// `try`): by the innermost handler at or outside `l`.
    pub(crate) fn op_delegate(&mut self, depth: u32) -> Result<(), CompileError> {
        let i = self
            .control
            .len()
            .checked_sub(1)
            .ok_or_else(|| self.internal("delegate outside a block"))?;
        let target = i
            .checked_sub(1 + depth as usize)
            .ok_or_else(|| self.internal("delegate label out of range"))?;
        let landing = match &mut self.control[i].kind {
            FrameKind::Try { landing, .. } => landing.take(),
            _ => return Err(self.internal("delegate outside a try frame")),
        };
        // `end`, whose `close_handler` sends the landing pad on.
        self.control[i].kind = FrameKind::Delegated { landing, target };
        self.op_end()
    }

    /// `rethrow l`: throws again the exception caught by the legacy `catch`
    /// at label `l`.
    pub(crate) fn op_rethrow(&mut self, depth: u32) -> Result<(), CompileError> {
        let frame = self.frame_at(depth)?;
        let FrameKind::Try { exn, .. } = frame.kind else {
            return Err(self.internal("rethrow of a label that is not a catch"));
        };
        let exn = self.builder.use_var(exn);
        self.throw_ref(exn)
    }

    /// At the `end` of a `try_table` or legacy `try` (popped from
    /// `control` already, its body's last block filled): emits its landing
    /// pad, if a call used it.
    pub(crate) fn close_handler(&mut self, frame: &Frame) -> Result<(), CompileError> {
        let index = self.control.len();
        if self.handlers.last() == Some(&index) {
            self.handlers.pop();
        }
        let (landing, clauses): (_, Vec<(Option<u32>, bool, ClauseDest)>) = match &frame.kind {
            FrameKind::TryTable { catches, landing } => (
                *landing,
                catches
                    .iter()
                    .map(|c| (c.tag, c.with_ref, ClauseDest::Frame(c.target)))
                    .collect(),
            ),
            FrameKind::Try {
                landing, clauses, ..
            } => (
                *landing,
                clauses
                    .iter()
                    .map(|&(tag, b)| (tag, true, ClauseDest::Block(b)))
                    .collect(),
            ),
            FrameKind::Delegated { landing, target } => {
                if let Some(landing) = *landing {
                    let outer = self.handlers.iter().rev().find(|&&h| h <= *target).copied();
                    self.builder.seal_block(landing);
                    self.builder.switch_to_block(landing);
                    let exn = self.builder.block_params(landing)[0];
                    self.continue_unwinding(outer, exn)?;
                }
                return Ok(());
            }
            _ => return Ok(()),
        };
        let Some(landing) = landing else {
            // No call in scope: the catch bodies of a legacy `try` are
            // never entered.
            for (_, _, dest) in &clauses {
                if let ClauseDest::Block(b) = dest {
                    self.builder.seal_block(*b);
                }
            }
            return Ok(());
        };
        self.builder.seal_block(landing);
        self.builder.switch_to_block(landing);
        let exn = self.builder.block_params(landing)[0];
        let mut tag_word = None;
        for (tag, with_ref, dest) in clauses {
            let matched = match tag {
                None => None,
                Some(t) => {
                    let word = match tag_word {
                        Some(w) => w,
                        None => {
                            let w = self.builder.ins().load(
                                types::I64,
                                exn_flags(),
                                exn,
                                EXN_TAG as i32,
                            );
                            tag_word = Some(w);
                            w
                        }
                    };
                    let off = self
                        .env
                        .offsets
                        .tag(t)
                        .ok_or_else(|| self.internal("tag index out of range"))?;
                    let expected = self.env.load_vmctx_readonly(&mut self.builder, off)?;
                    Some((t, self.builder.ins().icmp(IntCC::Equal, word, expected)))
                }
            };
            let on_match = match matched {
                Some((_, cond)) => {
                    let yes = self.builder.create_block();
                    let no = self.builder.create_block();
                    self.builder.ins().brif(cond, yes, &[], no, &[]);
                    self.builder.seal_block(yes);
                    self.builder.seal_block(no);
                    self.builder.switch_to_block(yes);
                    Some(no)
                }
                None => None,
            };
            let mut args = match matched {
                Some((t, _)) => {
                    let params = self.tag_params(t)?;
                    let mut values = Vec::with_capacity(params.len() + 1);
                    for (i, ty) in params.into_iter().enumerate() {
                        let off = EXN_VALUES + EXN_VALUE_SIZE * i as u32;
                        values.push(self.builder.ins().load(ty, exn_flags(), exn, off as i32));
                    }
                    values
                }
                None => Vec::new(),
            };
            if with_ref {
                args.push(exn);
            }
            let block = match dest {
                ClauseDest::Frame(i) => self.branch_target_at(i).0,
                ClauseDest::Block(b) => b,
            };
            self.builder.ins().jump(block, &block_args(&args));
            if let ClauseDest::Block(b) = dest {
                self.builder.seal_block(b);
            }
            match on_match {
                Some(no) => self.builder.switch_to_block(no),
                // `catch_all`: later clauses are dead.
                None => return Ok(()),
            }
        }
        let outer = self.handlers.last().copied();
        self.continue_unwinding(outer, exn)
    }

    /// Ends a landing pad whose clauses did not match: on to the landing
    /// pad of handler frame `outer`, or out of the function.
    fn continue_unwinding(&mut self, outer: Option<usize>, exn: Value) -> Result<(), CompileError> {
        match outer {
            Some(h) => {
                let pad = self.landing_of(h);
                self.builder.ins().jump(pad, &[BlockArg::Value(exn)]);
                Ok(())
            }
            None => {
                // Not covered by anything in this function: call `ThrowRef`
                // with no handler in scope.
                let saved = std::mem::take(&mut self.handlers);
                let result = self.throw_ref(exn);
                self.handlers = saved;
                result
            }
        }
    }
}

/// Where a matching clause goes.
#[derive(Clone, Copy)]
enum ClauseDest {
    /// A `try_table` clause: a branch to this frame of `control`.
    Frame(usize),
    /// A legacy `catch`: its body's block (payload, then the exception).
    Block(ir::Block),
}
