//! Exception handling: `try_table`, `throw`, `throw_ref`, and the legacy
//! `try`/`catch`/`catch_all`/`rethrow`/`delegate` (ARCHITECTURE.md,
//! "Exception handling").
//!
//! ```text
//! try_table entry:  spill everything below the parameters; mov [rsp], r14
//! call in scope:    recorded (return offset → landing pad); rsp at the
//!                   call site is the frame's nominal rbp - frame_bytes
//! end:              jmp over the landing pad (if the end is reached), then
//! landing pad:      mov [rsp+8], rax (the exception) ; mov r14, [rsp]
//!                   reload r15 and the pinned locals (every register is
//!                   undefined after an unwind)
//!                   per clause: cmp [exn + EXN_TAG], [r14 + tag(t)] ; jne next
//!                               payload from [exn + 16 + 16 i], then a branch
//!                   none matched: rax = exn ; jmp the enclosing handler's
//!                   pad, or ThrowRef(r14, exn)
//! ```
//!
//! A function with a handler saves and restores all of rbx, r12–r15 (the
//! frames an unwind removes never restore what they changed; r15 too where
//! it holds no heap base: `Frame::pin_save_sites`), and has 16 more bytes at
//! the bottom of its frame (`Frame::handler_area`): `[rsp]` holds the vmctx
//! for its landing pads, `[rsp + 8]` the exception while a pad runs. At a
//! handler's entry the value stack is spilled (all but constants), so at
//! every call in its scope, and so at its pad, everything below the
//! handler's height is where it was at entry.
//!
//! A legacy `try` is compiled in one pass too, its clauses interleaved with
//! their bodies: the landing pad is emitted at the first `catch` and each
//! clause's tag test falls into its body or jumps to the next clause's
//! test, emitted at the next `catch` (the last one's "no match" at `end`
//! forwards the exception outwards). The exception a `catch` holds, which
//! `rethrow` throws again, stays in the slot of its catch depth,
//! `[rsp + 16 + 8 d]`, until the clause ends. `delegate l` ends a `try`
//! whose landing pad forwards to the pad of the innermost handler at or
//! outside label `l`.

use rung_tiering::abi::RegClass;
use rung_tiering::{EXN_TAG, EXN_VALUE_SIZE, EXN_VALUES, Libcall};
use wasmparser::{BlockType, TryTable};

use crate::asm::{Alu, Cc, Label, Mem, Size};
use crate::call::LArg;
use crate::context::{CodeGen, Result};
use crate::control::Kind;
use crate::regalloc::{HEAP_BASE, SCRATCH, SCRATCH2, VMCTX};
use crate::stack::{Loc, Ty};
use rung_tiering::abi::Reg;

/// One clause of a `try_table`.
#[derive(Debug, Clone, Copy)]
pub struct Clause {
    /// The tag it catches; `None` for `catch_all`.
    tag: Option<u32>,
    /// Whether the `exnref` is passed too.
    with_ref: bool,
    /// The branch target, an index into `CodeGen::control`.
    target: usize,
}

/// Where the landing pad of a legacy `try` in a `catch` clause goes next:
/// `next` when this clause's tag did not match (`None` after `catch_all`);
/// `live` is false when no call reaches the landing pad, so no clause runs.
#[derive(Debug, Clone, Copy, Default)]
pub struct ClauseState {
    next: Option<Label>,
    live: bool,
}

/// An open `try_table`.
#[derive(Debug, Clone, Copy)]
pub struct Handler {
    /// Its frame's index in `CodeGen::control`.
    control: usize,
    /// `CodeGen::catches[first..first + count]` are its clauses.
    first: u32,
    count: u32,
    /// Its landing pad, and its index in `masm.landings`.
    landing: Label,
    id: u32,
    /// Whether a call (or an inner pad) goes to the landing pad.
    used: bool,
}

/// Where a landing pad keeps the vmctx and the exception.
fn vmctx_slot() -> Mem {
    Mem::new(Reg::Rsp, 0)
}

fn exn_slot() -> Mem {
    Mem::new(Reg::Rsp, 8)
}

impl CodeGen<'_> {
    /// After a call instruction: records its return address for the
    /// innermost handler's landing pad, if one covers it.
    pub fn note_call_site(&mut self) {
        if let Some(h) = self.handlers.last_mut() {
            h.used = true;
            let ret = self.masm.asm.offset();
            self.masm.handler_sites.push((ret, h.id));
        }
    }

    pub fn visit_try_table(&mut self, t: &TryTable) -> Result<()> {
        let len = self.control.len();
        let first = self.catches.len() as u32;
        for c in &t.catches {
            let (tag, with_ref, label) = rung_tiering::catch_clause(c);
            if let Some(tag) = tag {
                self.tag_types(tag)?;
            }
            // Labels are relative to the frames outside the try_table.
            let target = len
                .checked_sub(1 + label as usize)
                .ok_or_else(|| self.internal("catch label out of range"))?;
            self.catches.push(Clause {
                tag,
                with_ref,
                target,
            });
        }
        self.open_try_table(t.ty, first)
    }

    fn open_try_table(&mut self, bt: BlockType, first: u32) -> Result<()> {
        self.open_handler(bt, first, Kind::TryTable)
    }

    /// Opens a block of kind `kind` with a landing pad whose clauses are
    /// `catches[first..]`.
    fn open_handler(&mut self, bt: BlockType, first: u32, kind: Kind) -> Result<()> {
        let count = self.catches.len() as u32 - first;
        self.visit_block(bt)?;
        self.frame.handler_area = true;
        self.masm.asm.mov_mr(Size::S64, vmctx_slot(), VMCTX);
        let landing = self.masm.asm.new_label();
        let id = self.masm.landings.len() as u32;
        self.masm.landings.push(u32::MAX);
        let control = self.control.len() - 1;
        if let Some(c) = self.control.last_mut() {
            c.kind = kind;
        }
        self.handlers.push(Handler {
            control,
            first,
            count,
            landing,
            id,
            used: false,
        });
        Ok(())
    }

    /// The payload types of tag `tag`.
    fn tag_types(&self, tag: u32) -> Result<Vec<Ty>> {
        let t = self
            .env
            .tags
            .get(tag as usize)
            .ok_or_else(|| self.internal("tag index out of range"))?;
        let f = match self
            .env
            .types
            .get(t.func_type_idx as usize)
            .map(|t| &t.composite_type.inner)
        {
            Some(wasmparser::CompositeInnerType::Func(f)) => f,
            _ => return Err(self.internal("tag type is not a function type")),
        };
        f.params()
            .iter()
            .map(|&p| Ty::of_simd(p).ok_or_else(|| self.internal("tag payload type")))
            .collect()
    }

    /// At the `end` of a `try_table` (its frame still open): if a call
    /// used its landing pad, jumps over it (when the end is reached by
    /// falling through) and emits it; the walk is then unreachable, and
    /// the frame's `end_reached` says whether its end is.
    pub fn close_try_table(&mut self) -> Result<()> {
        let h = self
            .handlers
            .pop()
            .ok_or_else(|| self.internal("end of a try_table without a handler"))?;
        if !h.used {
            self.catches.truncate(h.first as usize);
            return Ok(());
        }
        let frame = self.control[h.control];
        self.leave_clause()?;
        self.enter_landing(&h, exn_slot())?;
        let clauses: Vec<Clause> =
            self.catches[h.first as usize..(h.first + h.count) as usize].to_vec();
        self.catches.truncate(h.first as usize);
        for clause in clauses {
            self.landing_state(frame.height);
            let next = match clause.tag {
                Some(tag) => Some(self.match_tag(tag, exn_slot())?),
                None => None,
            };
            if clause.with_ref {
                let r = self.alloc_for(Ty::Ref)?;
                self.masm.asm.mov_rm(Size::S64, r, exn_slot());
                self.push(Ty::Ref, Loc::Reg(r));
            }
            let depth = (self.control.len() - 1 - clause.target) as u32;
            self.emit_branch(depth)?;
            match next {
                Some(next) => self.masm.asm.bind(next),
                // `catch_all`: the later clauses are dead.
                None => {
                    self.landing_state(frame.height);
                    self.set_unreachable();
                    return Ok(());
                }
            }
        }
        self.landing_state(frame.height);
        // Nothing matched: the enclosing handler's pad, or the caller.
        self.masm.asm.mov_rm(Size::S64, Reg::Rax, exn_slot());
        self.forward_exception(self.handlers.len());
        Ok(())
    }

    /// At a landing pad's start (`rax` = the exception): records it for
    /// handler `h`, keeps the exception at `exn`, and restores r14, r15
    /// and the pinned locals' registers (an unwind skipped the epilogues
    /// that would have restored the callee-saved ones).
    fn enter_landing(&mut self, h: &Handler, exn: Mem) -> Result<()> {
        self.bind_landing(h);
        self.masm.asm.mov_mr(Size::S64, exn, Reg::Rax);
        self.masm.asm.mov_rm(Size::S64, VMCTX, vmctx_slot());
        if self.frame.pins_heap {
            self.load_heap_base()?;
        }
        self.reload_pins(RegClass::Int);
        self.reload_float_pins();
        Ok(())
    }

    /// Binds handler `h`'s landing pad here.
    fn bind_landing(&mut self, h: &Handler) {
        self.masm.asm.bind(h.landing);
        self.masm.landings[h.id as usize] = self.masm.asm.offset();
        self.clock += 1;
        self.landing_clock = self.clock;
    }

    /// A clause's test for tag `tag`: jumps to the returned label unless
    /// the exception at `exn` has that tag, else pushes its payload.
    fn match_tag(&mut self, tag: u32, exn: Mem) -> Result<Label> {
        let off = self
            .offsets
            .tag(tag)
            .ok_or_else(|| self.internal("tag index out of range"))?;
        let next = self.masm.asm.new_label();
        self.masm.asm.mov_rm(Size::S64, SCRATCH, exn);
        self.masm
            .asm
            .mov_rm(Size::S64, SCRATCH, Mem::new(SCRATCH, EXN_TAG as i32));
        self.masm
            .asm
            .alu_rm(Alu::Cmp, Size::S64, SCRATCH, Mem::new(VMCTX, off as i32));
        self.masm.asm.jcc(Cc::Ne, next);
        self.push_payload(tag, exn)?;
        Ok(next)
    }

    /// Pushes the payload of the exception at `exn` (of tag `tag`) in
    /// registers.
    fn push_payload(&mut self, tag: u32, exn: Mem) -> Result<()> {
        for (i, ty) in self.tag_types(tag)?.into_iter().enumerate() {
            let r = self.alloc_for(ty)?;
            let at = Mem::new(SCRATCH2, (EXN_VALUES + EXN_VALUE_SIZE * i as u32) as i32);
            self.masm.asm.mov_rm(Size::S64, SCRATCH2, exn);
            if ty == Ty::V128 {
                self.masm.asm.movdqu_rm(r, at);
            } else if r.class() == RegClass::Float {
                self.masm.asm.movs_rm(ty.size(), r, at);
            } else {
                self.masm.asm.mov_rm(ty.size(), r, at);
            }
            self.push(ty, Loc::Reg(r));
        }
        Ok(())
    }

    /// With the exception in `rax`, on to the landing pad of the innermost
    /// of `handlers[..outer]`, or out of the function (`ThrowRef`, not a
    /// call site of any handler here). The code after it is unreachable.
    fn forward_exception(&mut self, outer: usize) {
        match outer.checked_sub(1).and_then(|i| self.handlers.get_mut(i)) {
            Some(h) => {
                h.used = true;
                let pad = h.landing;
                self.masm.asm.jmp(pad);
                self.set_unreachable();
            }
            None => {
                self.masm.asm.mov_rm(Size::S64, VMCTX, vmctx_slot());
                self.emit_throw_ref_call(Reg::Rax, false);
            }
        }
    }

    /// The compile-time state at a landing pad: the handler's height, no
    /// register in use but the pinned ones.
    fn landing_state(&mut self, height: u32) {
        self.stack.truncate(height as usize);
        if self.clean > height as usize {
            self.clean = height as usize;
        }
        self.reset_regs();
        self.reachable = true;
    }

    /// `r15` = memory 0's base, from the vmctx in `r14`.
    pub fn load_heap_base(&mut self) -> Result<()> {
        let base = self.offsets.memory_layout().base as i32;
        match self.offsets.memory_definition(0) {
            Some(rung_tiering::Definition::Local(off)) => {
                self.masm
                    .asm
                    .mov_rm(Size::S64, HEAP_BASE, Mem::new(VMCTX, off as i32 + base));
            }
            Some(rung_tiering::Definition::Imported(off)) => {
                self.masm
                    .asm
                    .mov_rm(Size::S64, HEAP_BASE, Mem::new(VMCTX, off as i32));
                self.masm
                    .asm
                    .mov_rm(Size::S64, HEAP_BASE, Mem::new(HEAP_BASE, base));
            }
            None => return Err(self.internal("memory 0 has no definition")),
        }
        Ok(())
    }

    /// Calls `ThrowRef(vmctx, exn)` with the exception in `exn`; a call
    /// site of the innermost handler if `covered`. Never returns.
    fn emit_throw_ref_call(&mut self, exn: Reg, covered: bool) {
        self.masm.asm.mov_rr(Size::S64, Reg::Rsi, exn);
        self.masm.asm.mov_rr(Size::S64, Reg::Rdi, VMCTX);
        self.masm.asm.mov_rm(
            Size::S64,
            Reg::Rax,
            Mem::new(VMCTX, self.offsets.libcalls() as i32),
        );
        self.masm.asm.call_m(Mem::new(
            Reg::Rax,
            self.offsets.libcall(Libcall::ThrowRef) as i32,
        ));
        if covered {
            self.note_call_site();
        }
        self.masm.asm.ud2();
        self.set_unreachable();
    }

    pub fn visit_throw(&mut self, tag: u32) -> Result<()> {
        let types = self.tag_types(tag)?;
        let n = types.len();
        let base = self
            .stack
            .len()
            .checked_sub(n)
            .ok_or_else(|| self.internal("throw operands underflow"))?;
        // Spills the operands too: they are read from their slots below.
        self.libcall(Libcall::ExnNew, &[LArg::Imm(tag)], Some(Ty::Ref))?;
        let exn = self.pop()?;
        let Loc::Reg(exn) = exn.loc else {
            return Err(self.internal("exn_new's result is not in a register"));
        };
        for (i, ty) in types.into_iter().enumerate() {
            let pos = (base + i) as u32;
            let v = self.stack[base + i];
            let at = Mem::new(exn, (EXN_VALUES + EXN_VALUE_SIZE * i as u32) as i32);
            if ty == Ty::V128 {
                let x = self.alloc_for(Ty::V128)?;
                self.load_into(x, ty, v.loc, pos);
                self.masm.asm.movdqu_mr(at, x);
                self.free_reg(x);
                continue;
            }
            match v.loc {
                Loc::Const(bits) => self.masm.asm.mov_r64_imm(SCRATCH, bits as i64),
                Loc::Mem => self.masm.asm.mov_rm(Size::S64, SCRATCH, self.slot(pos)),
                Loc::Local(l) => self
                    .masm
                    .asm
                    .mov_rm(Size::S64, SCRATCH, self.frame.local(l)),
                Loc::Reg(_) => {
                    return Err(self.internal("a spilled throw operand is in a register"));
                }
            }
            self.masm.asm.mov_mr(ty.size(), at, SCRATCH);
        }
        self.drop_n(n)?;
        let covered = !self.handlers.is_empty();
        self.emit_throw_ref_call(exn, covered);
        Ok(())
    }

    pub fn visit_throw_ref(&mut self) -> Result<()> {
        let o = self.pop()?;
        let r = self.owned_reg(&o)?;
        self.spill_below(0);
        self.masm.asm.mov_rr(Size::S64, SCRATCH, r);
        let covered = !self.handlers.is_empty();
        self.emit_throw_ref_call(SCRATCH, covered);
        Ok(())
    }

    // ---- legacy exception handling ------------------------------------------------

    /// The slot of the exception a legacy `catch` at catch depth `slot`
    /// holds.
    fn catch_slot(slot: u32) -> Mem {
        Mem::new(Reg::Rsp, 16 + 8 * slot as i32)
    }

    /// `try bt`: a block with a landing pad and no clauses yet.
    pub fn visit_try(&mut self, bt: BlockType) -> Result<()> {
        let slot = self.clauses.len() as u32;
        self.clauses.push(ClauseState::default());
        self.frame.legacy_slots = self.frame.legacy_slots.max(slot + 1);
        let first = self.catches.len() as u32;
        self.open_handler(bt, first, Kind::Try { slot })
    }

    /// Ends the code before a landing pad (a `try_table`'s, or a legacy
    /// clause's): a reachable end jumps to the innermost frame's end.
    fn leave_clause(&mut self) -> Result<()> {
        if self.reachable {
            let frame = *self
                .control
                .last()
                .ok_or_else(|| self.internal("catch without a try"))?;
            self.merge_moves(frame.result_types(), frame.height)?;
            self.emit_moves(true);
            self.masm.asm.jmp(frame.label);
            if let Some(f) = self.control.last_mut() {
                f.end_reached = true;
            }
        }
        Ok(())
    }

    /// Pops the handler of the innermost legacy `try`, whose frame is the
    /// innermost one.
    fn pop_legacy_handler(&mut self) -> Result<Handler> {
        let h = self
            .handlers
            .pop()
            .ok_or_else(|| self.internal("legacy try without a handler"))?;
        if h.control != self.control.len() - 1 {
            return Err(self.internal("legacy try's handler is not innermost"));
        }
        Ok(h)
    }

    /// `catch $tag` (`Some(tag)`) or `catch_all` (`None`).
    pub fn visit_catch(&mut self, tag: Option<u32>) -> Result<()> {
        let frame = *self
            .control
            .last()
            .ok_or_else(|| self.internal("catch without a try"))?;
        self.leave_clause()?;
        self.unreachable_depth = 0;
        let (slot, live) = match frame.kind {
            Kind::Try { slot } => {
                // The first clause: the try body's calls are done, the
                // landing pad starts here.
                let h = self.pop_legacy_handler()?;
                if h.used {
                    self.enter_landing(&h, Self::catch_slot(slot))?;
                }
                (slot, h.used)
            }
            Kind::Catch { slot } => match self.clause_state(slot)? {
                ClauseState {
                    next: Some(next),
                    live: true,
                } => {
                    self.masm.asm.bind(next);
                    // The clause before may have pinned more locals of an
                    // enclosing loop.
                    self.reload_pins(RegClass::Int);
                    self.reload_float_pins();
                    (slot, true)
                }
                _ => (slot, false),
            },
            _ => return Err(self.internal("catch outside a try")),
        };
        self.set_kind(Kind::Catch { slot });
        if !live {
            // No call reaches the landing pad: no clause runs.
            self.set_clause_state(slot, ClauseState::default());
            self.set_unreachable();
            return Ok(());
        }
        self.landing_state(frame.height);
        let next = match tag {
            Some(tag) => Some(self.match_tag(tag, Self::catch_slot(slot))?),
            None => None,
        };
        self.set_clause_state(slot, ClauseState { next, live: true });
        Ok(())
    }

    fn clause_state(&self, slot: u32) -> Result<ClauseState> {
        self.clauses
            .get(slot as usize)
            .copied()
            .ok_or_else(|| self.internal("catch clause state missing"))
    }

    fn set_clause_state(&mut self, slot: u32, state: ClauseState) {
        if let Some(s) = self.clauses.get_mut(slot as usize) {
            *s = state;
        }
    }

    fn set_kind(&mut self, kind: Kind) {
        if let Some(f) = self.control.last_mut() {
            f.kind = kind;
        }
    }

    /// `delegate l`: ends a legacy `try` whose landing pad forwards the
    /// exception to the innermost handler at or outside label `l`
    /// (counted from the frames outside the `try`), or out of the
    /// function.
    pub fn visit_delegate(&mut self, depth: u32) -> Result<()> {
        let target = (self.control.len() - 1)
            .checked_sub(1 + depth as usize)
            .ok_or_else(|| self.internal("delegate label out of range"))?;
        self.close_legacy_try(Some(target))?;
        self.visit_end()
    }

    /// At a legacy `try`'s `end` or `delegate` (its frame still open):
    /// emits what its landing pad still needs, forwarding an exception no
    /// clause caught to the enclosing handler (`delegate`: the innermost
    /// one at or outside frame `delegate_to`), and leaves a plain block
    /// for `visit_end` to close.
    pub fn close_legacy_try(&mut self, delegate_to: Option<usize>) -> Result<()> {
        let frame = *self
            .control
            .last()
            .ok_or_else(|| self.internal("end without a block"))?;
        // This try's clause state; the next try at this depth starts afresh.
        let state = self.clauses.pop().unwrap_or_default();
        match frame.kind {
            Kind::Try { .. } => {
                let h = self.pop_legacy_handler()?;
                if h.used {
                    self.leave_clause()?;
                    self.bind_landing(&h);
                    let outer = match delegate_to {
                        Some(target) => {
                            self.handlers.iter().filter(|h| h.control <= target).count()
                        }
                        None => self.handlers.len(),
                    };
                    self.forward_exception(outer);
                }
            }
            Kind::Catch { slot } => {
                let ClauseState {
                    next: Some(next),
                    live: true,
                } = state
                else {
                    // After `catch_all`, or no clause can run: the block's
                    // end.
                    self.set_kind(Kind::Block);
                    return Ok(());
                };
                self.leave_clause()?;
                self.masm.asm.bind(next);
                self.landing_state(frame.height);
                self.masm
                    .asm
                    .mov_rm(Size::S64, Reg::Rax, Self::catch_slot(slot));
                self.forward_exception(self.handlers.len());
            }
            _ => return Err(self.internal("end of a legacy try outside one")),
        }
        self.set_kind(Kind::Block);
        Ok(())
    }

    /// `rethrow l`: throws again the exception the legacy `catch` at label
    /// `l` holds.
    pub fn visit_rethrow(&mut self, depth: u32) -> Result<()> {
        let i = (self.control.len())
            .checked_sub(1 + depth as usize)
            .ok_or_else(|| self.internal("rethrow label out of range"))?;
        let Kind::Catch { slot } = self.control[i].kind else {
            return Err(self.internal("rethrow of a label that is not a catch"));
        };
        self.spill_below(0);
        self.masm
            .asm
            .mov_rm(Size::S64, SCRATCH, Self::catch_slot(slot));
        let covered = !self.handlers.is_empty();
        self.emit_throw_ref_call(SCRATCH, covered);
        Ok(())
    }
}
