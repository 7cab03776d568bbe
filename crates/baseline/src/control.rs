//! Control flow: blocks, loops, `if`/`else`, branches, `br_table`, returns,
//! and the merge discipline that makes a single pass possible.
//!
//! ```text
//! block/if entry:  spill everything below the block's parameters (an `if`
//!                  spills its parameters too): below a block's height,
//!                  every entry is Mem or Const on every path through it.
//! loop entry:      the same, and the parameters go to their canonical
//!                  locations, where every back-edge puts them again.
//! branch to a block's end (br, br_if, br_table, fall-through at end):
//!                  the top n values go to the block's canonical result
//!                  locations; nothing else is live at the label.
//! canonical:       value i of a merge goes to the next free register of its
//!                  class in merge order (rax rcx rdx rsi rdi r8 r9 /
//!                  xmm0…xmm7); past those, to the slot of position
//!                  height + i.
//! ```
//!
//! So at a label the whole state is known without looking at the paths that
//! reach it: entries below the height as they were at entry (memory or
//! constants), then the merged values in canonical registers/slots. A block
//! whose end no branch reaches keeps its fall-through state (no merge).
//!
//! A branch to the function's own frame is a return: the results go to the
//! ABI's result locations and the epilogue follows inline. A back-edge
//! subtracts `BUDGET_COST_LOOP_BACKEDGE` from the tier-up budget first.
//!
//! In unreachable code (after `br`, `br_table`, `return`, `unreachable`,
//! tail calls) nothing is emitted; only nested blocks are counted until the
//! current frame's `else`/`end`.

use rung_tiering::abi::{Location, Reg};
use rung_tiering::{BUDGET_COST_CALL, BUDGET_COST_LOOP_BACKEDGE, TrapCode};
use wasmparser::{BlockType, BrTable};

use crate::asm::{Alu, Cc, Label, Mem, Size};
use crate::context::{CodeGen, Result};
use crate::frame::{RET_AREA_SLOT, SAVED_HEAP_BASE, SAVED_PIN_REGS, SAVED_VMCTX};
use crate::moves::{Dst, Move};
use crate::numeric::Cond;
use crate::regalloc::{INT_REGS, MERGE_FLOAT_REGS, SCRATCH, SCRATCH2, VMCTX};
use crate::stack::{Loc, Ty};

/// What kind of frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// The function body; a branch to it returns.
    Func,
    Block,
    /// `label` is the loop header.
    Loop,
    /// An `if` before its `else`; `saved` indexes its parameters.
    If {
        else_label: Label,
        saved: u32,
    },
    Else,
    /// A `try_table` (see `exceptions`): a block with a landing pad.
    TryTable,
    /// A legacy `try` before its first `catch` (a block with a landing
    /// pad); `slot` is its catch depth, which names the frame slot its
    /// catches keep the exception in (see `exceptions`).
    Try {
        slot: u32,
    },
    /// A legacy `try` in one of its `catch` clauses; `CodeGen::clauses`
    /// at `slot` says where its landing pad goes next (kept out of `Kind`
    /// so that every frame stays small to copy).
    Catch {
        slot: u32,
    },
}

/// One open control frame.
#[derive(Debug, Clone, Copy)]
pub struct Control {
    pub kind: Kind,
    /// Where branches go: the end (blocks, ifs) or the header (loops).
    pub label: Label,
    /// Value-stack height below the frame's parameters.
    pub height: u32,
    /// `block_types[types..types + params]` are the parameter types, the
    /// results follow.
    pub types: u32,
    pub params: u32,
    pub results: u32,
    /// Whether a branch (or the end of the then-arm) jumps to the label.
    pub end_reached: bool,
    /// `frame.pin_log`'s length at entry: a loop unpins down to it.
    pub pins: u32,
    /// The write/call clock and the allocator's tick at entry (a loop
    /// preloads a pin only if nothing changed it since).
    pub clock: u32,
    pub tick: u32,
    /// A loop's preheader label (loads of its preloaded pins, out of line)
    /// and the code offset of the `jmp` to it at the loop's entry.
    pub pre: Option<(Label, u32)>,
    /// A loop's OSR exit (index into `masm.osr.loops`), if it has one.
    pub osr: Option<u32>,
}

impl Control {
    pub(crate) fn result_types(&self) -> std::ops::Range<usize> {
        let start = (self.types + self.params) as usize;
        start..start + self.results as usize
    }

    fn param_types(&self) -> std::ops::Range<usize> {
        let start = self.types as usize;
        start..start + self.params as usize
    }

    /// The types a branch to this frame carries.
    fn branch_types(&self) -> std::ops::Range<usize> {
        if self.kind == Kind::Loop {
            self.param_types()
        } else {
            self.result_types()
        }
    }
}

impl CodeGen<'_> {
    /// Pushes a block type's parameter and result types; returns (start,
    /// params, results).
    fn block_sig(&mut self, bt: BlockType) -> Result<(u32, u32, u32)> {
        let start = self.block_types.len() as u32;
        match bt {
            BlockType::Empty => Ok((start, 0, 0)),
            BlockType::Type(t) => {
                let ty = self.block_ty(t)?;
                self.block_types.push(ty);
                Ok((start, 0, 1))
            }
            BlockType::FuncType(idx) => {
                let env = self.env;
                let f = match env.types.get(idx as usize).map(|t| &t.composite_type.inner) {
                    Some(wasmparser::CompositeInnerType::Func(f)) => f,
                    _ => return Err(self.internal("block type is not a function type")),
                };
                for &t in f.params().iter().chain(f.results()) {
                    let ty = self.block_ty(t)?;
                    self.block_types.push(ty);
                }
                Ok((start, f.params().len() as u32, f.results().len() as u32))
            }
        }
    }

    /// A block parameter or result type (a `v128` one means the
    /// function's tier-up routine must save whole xmm registers: loop
    /// parameters live in them at back-edges).
    fn block_ty(&mut self, t: wasmparser::ValType) -> Result<Ty> {
        let ty = Ty::of_simd(t).ok_or_else(|| self.internal("block type"))?;
        if ty == Ty::V128 {
            self.masm.v128 = true;
        }
        Ok(ty)
    }

    fn open(&mut self, kind: Kind, label: Label, sig: (u32, u32, u32)) -> Result<()> {
        let (types, params, results) = sig;
        let height = (self.stack.len() as u32)
            .checked_sub(params)
            .ok_or_else(|| self.internal("block parameters underflow"))?;
        let pins = self.frame.pin_log.len() as u32;
        self.control.push(Control {
            kind,
            label,
            height,
            types,
            params,
            results,
            end_reached: false,
            pins,
            clock: self.clock,
            tick: self.regs.tick,
            pre: None,
            osr: None,
        });
        Ok(())
    }

    /// Opens the function's own frame.
    pub fn open_function(&mut self) -> Result<()> {
        let start = self.block_types.len() as u32;
        self.block_types.extend_from_slice(&self.frame.results);
        let label = self.masm.asm.new_label();
        let n = self.frame.results.len() as u32;
        self.open(Kind::Func, label, (start, 0, n))
    }

    /// Fills `self.moves` with the top `types.len()` values going to the
    /// canonical locations of a merge at `height`.
    pub(crate) fn merge_moves(&mut self, types: std::ops::Range<usize>, height: u32) -> Result<()> {
        self.moves.clear();
        let n = types.len();
        let base = self
            .stack
            .len()
            .checked_sub(n)
            .ok_or_else(|| self.internal("branch values underflow"))?;
        let (mut ki, mut kf) = (0, 0);
        for (i, t) in types.enumerate() {
            let ty = self.block_types[t];
            let dst = canonical(ty, &mut ki, &mut kf)
                .unwrap_or_else(|| Dst::Mem(self.frame.slot_of(height + (i as u32), ty)));
            let v = self.stack[base + i];
            self.moves.push(Move {
                ty: v.ty,
                loc: v.loc,
                pos: (base + i) as u32,
                dst,
            });
        }
        Ok(())
    }

    /// Replaces the top values by their canonical locations after a merge
    /// (everything below is memory, so the register cache holds exactly the
    /// merged values).
    fn settle_canonical(&mut self, types: std::ops::Range<usize>, height: u32) {
        self.stack.truncate(height as usize);
        if self.clean > height as usize {
            self.clean = height as usize;
        }
        self.reset_regs();
        let (mut ki, mut kf) = (0, 0);
        for t in types {
            let ty = self.block_types[t];
            match canonical(ty, &mut ki, &mut kf) {
                Some(Dst::Reg(r)) => {
                    self.regs.take_specific(r);
                    self.push(ty, Loc::Reg(r));
                }
                _ => self.push(ty, Loc::Mem),
            }
        }
    }

    // ---- blocks -------------------------------------------------------------------

    pub fn visit_block(&mut self, bt: BlockType) -> Result<()> {
        let sig = self.block_sig(bt)?;
        self.spill_below(sig.1 as usize);
        let label = self.masm.asm.new_label();
        self.open(Kind::Block, label, sig)
    }

    pub fn visit_loop(&mut self, bt: BlockType) -> Result<()> {
        let sig = self.block_sig(bt)?;
        let (start, params, _) = sig;
        self.spill_below(params as usize);
        let height = self.stack.len() as u32 - params;
        let types = start as usize..(start + params) as usize;
        self.merge_moves(types.clone(), height)?;
        self.emit_moves(true);
        self.settle_canonical(types, height);
        let osr = self.osr_exit();
        // The preheader (out of line) loads the locals the loop pins; it
        // is only known at the loop's end.
        let pre = self.masm.asm.new_label();
        let entry_jmp = self.masm.asm.offset();
        self.masm.asm.jmp(pre);
        let header = self.masm.asm.new_label();
        self.masm.asm.bind(header);
        self.open(Kind::Loop, header, sig)?;
        if let Some(c) = self.control.last_mut() {
            c.pre = Some((pre, entry_jmp));
            c.osr = osr;
        }
        Ok(())
    }

    /// With OSR exits on, records where the loop being entered keeps its
    /// state at its header (and so at every back-edge, which puts it there
    /// again): every local in its slot (pinned registers are
    /// write-through), the values below the loop's height in their slots
    /// or constants, its parameters in their canonical registers (which
    /// the tier-up routine saves) or slots. `None` if a value is somewhere
    /// else (then the loop has no exit).
    fn osr_exit(&mut self) -> Option<u32> {
        // A loop in a handler's scope has no exit: an OSR entry would
        // leave its frame's landing pads behind.
        if !self.osr || !self.handlers.is_empty() {
            return None;
        }
        let mut values = Vec::with_capacity(self.frame.locals.len() + self.stack.len());
        values.extend(
            self.frame
                .locals
                .iter()
                .map(|l| rung_tiering::osr::OsrSource::Frame(l.disp)),
        );
        for pos in 0..self.stack.len() {
            if self.stack[pos].ty == Ty::V128 {
                // OSR slots are 8 bytes: no exit for a loop with a v128
                // in its state.
                return None;
            }
            let source = match self.stack[pos].loc {
                Loc::Mem => rung_tiering::osr::OsrSource::Frame(self.frame.slot(pos as u32).disp),
                Loc::Const(bits) => rung_tiering::osr::OsrSource::Const(bits),
                Loc::Reg(r) => {
                    rung_tiering::osr::OsrSource::Saved(crate::masm::routine_saved_index(r)?)
                }
                Loc::Local(i) => rung_tiering::osr::OsrSource::Frame(self.frame.local(i).disp),
            };
            values.push(source);
        }
        let index = self.masm.osr.loops.len() as u32;
        self.masm.osr.loops.push(rung_tiering::osr::OsrLoop {
            loop_offset: self.offset as u32,
            values,
        });
        Some(index)
    }

    pub fn visit_if(&mut self, bt: BlockType) -> Result<()> {
        let cond = self.take_condition()?;
        let sig = self.block_sig(bt)?;
        // The condition's operands are popped, so spilling leaves them be.
        self.spill_below(0);
        let else_label = self.masm.asm.new_label();
        let end = self.masm.asm.new_label();
        let dead_then = match cond {
            Cond::Const(c) => {
                if !c {
                    self.masm.asm.jmp(else_label);
                }
                !c
            }
            _ => {
                let cc = self.emit_condition(&cond, None);
                self.masm.asm.jcc(cc.invert(), else_label);
                false
            }
        };
        let saved = self.saved.len() as u32;
        let n = sig.1 as usize;
        let from = self.stack.len() - n;
        for i in from..self.stack.len() {
            let v = self.stack[i];
            self.saved.push(v);
        }
        self.open(Kind::If { else_label, saved }, end, sig)?;
        if dead_then {
            self.set_unreachable();
        }
        Ok(())
    }

    pub fn visit_else(&mut self) -> Result<()> {
        let frame = *self
            .control
            .last()
            .ok_or_else(|| self.internal("else without if"))?;
        let Kind::If { else_label, saved } = frame.kind else {
            return Err(self.internal("else outside an if"));
        };
        if self.reachable {
            self.merge_moves(frame.result_types(), frame.height)?;
            self.emit_moves(true);
            self.masm.asm.jmp(frame.label);
        }
        let end_reached = frame.end_reached || self.reachable;
        self.masm.asm.bind(else_label);
        self.restore_if_params(frame.height, saved, frame.params);
        self.saved.truncate(saved as usize);
        if let Some(f) = self.control.last_mut() {
            f.kind = Kind::Else;
            f.end_reached = end_reached;
        }
        self.reachable = true;
        self.unreachable_depth = 0;
        Ok(())
    }

    /// The state at an `if`'s entry: memory below, the saved parameters.
    fn restore_if_params(&mut self, height: u32, saved: u32, params: u32) {
        self.stack.truncate(height as usize);
        if self.clean > height as usize {
            self.clean = height as usize;
        }
        self.reset_regs();
        for i in 0..params {
            let v = self.saved[(saved + i) as usize];
            self.push(v.ty, v.loc);
        }
        self.clean = self.stack.len();
    }

    pub fn visit_end(&mut self) -> Result<()> {
        let mut frame = *self
            .control
            .last()
            .ok_or_else(|| self.internal("end without a block"))?;
        match frame.kind {
            Kind::TryTable => self.close_try_table()?,
            Kind::Try { .. } | Kind::Catch { .. } => self.close_legacy_try(None)?,
            _ => {}
        }
        frame = *self
            .control
            .last()
            .ok_or_else(|| self.internal("end without a block"))?;
        match frame.kind {
            Kind::Func => {
                if self.reachable {
                    self.emit_return()?;
                }
                self.control.pop();
                self.reachable = false;
                return Ok(());
            }
            Kind::Loop => {
                // Nothing branches to a loop's end: the fall-through state
                // stands. Its pinned locals' slots are current.
                let first = self.masm.preheader_loads.len();
                for &(i, preload) in &self.frame.pin_log[frame.pins as usize..] {
                    if let (true, Some(r)) = (preload, self.frame.pin[i as usize]) {
                        let local = self.frame.locals[i as usize];
                        self.masm.preheader_loads.push((r, local.ty, local.disp));
                    }
                }
                if let Some((pre, entry_jmp)) = frame.pre {
                    if self.masm.preheader_loads.len() == first {
                        // Nothing to load: the entry's jump becomes a NOP.
                        self.frame.nop5_sites.push(entry_jmp);
                    }
                    self.masm.preheader(pre, frame.label, first);
                } else {
                    self.masm.preheader_loads.truncate(first);
                }
                self.unpin_to(frame.pins as usize);
                self.control.pop();
                self.block_types.truncate(frame.types as usize);
                return Ok(());
            }
            Kind::Block | Kind::Else | Kind::TryTable | Kind::Try { .. } | Kind::Catch { .. } => {
                if !frame.end_reached {
                    // Only the fall-through (if anything) reaches the end.
                    self.control.pop();
                    self.block_types.truncate(frame.types as usize);
                    return Ok(());
                }
                if self.reachable {
                    self.merge_moves(frame.result_types(), frame.height)?;
                    self.emit_moves(true);
                }
            }
            Kind::If { else_label, saved } => {
                // No else: the parameters flow to the results.
                if self.reachable {
                    self.merge_moves(frame.result_types(), frame.height)?;
                    self.emit_moves(true);
                    if frame.results > 0 {
                        self.masm.asm.jmp(frame.label);
                    }
                }
                self.masm.asm.bind(else_label);
                self.restore_if_params(frame.height, saved, frame.params);
                self.saved.truncate(saved as usize);
                self.merge_moves(frame.result_types(), frame.height)?;
                self.emit_moves(true);
            }
        }
        self.masm.asm.bind(frame.label);
        self.control.pop();
        let results = frame.result_types();
        self.settle_canonical(results, frame.height);
        self.block_types.truncate(frame.types as usize);
        self.reachable = true;
        Ok(())
    }

    // ---- branches -------------------------------------------------------------------

    fn frame_index(&self, depth: u32) -> Result<usize> {
        self.control
            .len()
            .checked_sub(1 + depth as usize)
            .ok_or_else(|| self.internal("branch depth out of range"))
    }

    /// Emits a branch to frame `depth` with the values on top of the stack
    /// (the state is not changed, so a conditional branch can use it).
    pub(crate) fn emit_branch(&mut self, depth: u32) -> Result<()> {
        let i = self.frame_index(depth)?;
        let frame = self.control[i];
        match frame.kind {
            Kind::Func => self.emit_return(),
            Kind::Loop => {
                self.merge_moves(frame.branch_types(), frame.height)?;
                self.emit_moves(true);
                self.emit_interrupt_check();
                self.emit_budget_check(BUDGET_COST_LOOP_BACKEDGE, frame.label, true, frame.osr)?;
                self.masm.asm.jmp(frame.label);
                Ok(())
            }
            _ => {
                self.merge_moves(frame.branch_types(), frame.height)?;
                self.emit_moves(true);
                self.masm.asm.jmp(frame.label);
                self.control[i].end_reached = true;
                Ok(())
            }
        }
    }

    /// Whether a branch to `depth` is a bare jump (no moves, no budget).
    fn branch_is_jump(&mut self, depth: u32) -> Result<Option<Label>> {
        let i = self.frame_index(depth)?;
        let frame = self.control[i];
        if matches!(frame.kind, Kind::Func | Kind::Loop) {
            return Ok(None);
        }
        self.merge_moves(frame.branch_types(), frame.height)?;
        let bare = self.moves_are_noops();
        self.moves.clear();
        if bare {
            self.control[i].end_reached = true;
            Ok(Some(frame.label))
        } else {
            Ok(None)
        }
    }

    pub fn visit_br(&mut self, depth: u32) -> Result<()> {
        self.emit_branch(depth)?;
        self.set_unreachable();
        Ok(())
    }

    pub fn visit_br_if(&mut self, depth: u32) -> Result<()> {
        let cond = self.take_condition()?;
        if let Cond::Const(c) = cond {
            if c {
                self.emit_branch(depth)?;
                self.set_unreachable();
            }
            return Ok(());
        }
        let cc = self.emit_condition(&cond, None);
        if let Some(label) = self.branch_is_jump(depth)? {
            self.masm.asm.jcc(cc, label);
            return Ok(());
        }
        let skip = self.masm.asm.new_label();
        self.masm.asm.jcc(cc.invert(), skip);
        self.emit_branch(depth)?;
        self.masm.asm.bind(skip);
        Ok(())
    }

    /// `br_on_null` (`on_null`) and `br_on_non_null`.
    pub fn visit_br_on_null(&mut self, depth: u32, on_null: bool) -> Result<()> {
        let r = self.pop()?;
        let reg = self.owned_reg(&r)?;
        if !on_null {
            // The reference travels with the branch.
            self.push_reg(r.ty, reg);
        }
        self.masm.asm.test_rr(Size::S64, reg, reg);
        let taken = if on_null { Cc::E } else { Cc::Ne };
        if let Some(label) = self.branch_is_jump(depth)? {
            self.masm.asm.jcc(taken, label);
        } else {
            let skip = self.masm.asm.new_label();
            self.masm.asm.jcc(taken.invert(), skip);
            self.emit_branch(depth)?;
            self.masm.asm.bind(skip);
        }
        if on_null {
            self.push_reg(r.ty, reg);
        } else {
            let top = self.pop()?;
            self.free(&top);
        }
        Ok(())
    }

    pub fn visit_br_table(&mut self, table: &BrTable<'_>) -> Result<()> {
        let index = self.pop()?;
        if let Loc::Const(c) = index.loc {
            let c = c as u32;
            let depth = if c < table.len() {
                table
                    .targets()
                    .nth(c as usize)
                    .ok_or_else(|| self.internal("br_table target"))?
                    .map_err(|e| self.internal(&e.to_string()))?
            } else {
                table.default()
            };
            return self.visit_br(depth);
        }
        // One label per distinct target depth (the moves depend only on
        // it): the target's own label when the branch is a bare jump, else
        // a stub that moves the values and jumps. `by_depth[d]` is
        // `(label, is_stub)`, filled as targets are read: linear in the
        // table's size whatever the number of distinct depths.
        let n = table.len();
        let mut labels = std::mem::take(&mut self.labels);
        labels.clear();
        let mut by_depth = std::mem::take(&mut self.by_depth);
        by_depth.clear();
        by_depth.resize(self.control.len(), None);
        let mut label_for = |cg: &mut CodeGen<'_>, depth: u32| -> Result<Label> {
            if let Some(Some((l, _))) = by_depth.get(depth as usize) {
                return Ok(*l);
            }
            let entry = match cg.branch_is_jump(depth)? {
                Some(l) => (l, false),
                None => (cg.masm.asm.new_label(), true),
            };
            // `branch_is_jump` checked the depth against the control stack.
            by_depth[depth as usize] = Some(entry);
            Ok(entry.0)
        };
        for t in table.targets() {
            let depth = t.map_err(|e| self.internal(&e.to_string()))?;
            let l = label_for(self, depth)?;
            labels.push(l);
        }
        let default = label_for(self, table.default())?;
        // index → r11 (zero-extended); out of range → default.
        let op = self.operand(&index);
        self.masm.mov_int(Size::S32, SCRATCH, op);
        self.free(&index);
        self.masm.asm.alu_ri(Alu::Cmp, Size::S32, SCRATCH, n as i32);
        self.masm.asm.jcc(Cc::Ae, default);
        // Jump table of 5-byte `jmp rel32`s: r10 = table + index * 5.
        let jt = self.masm.asm.new_label();
        self.masm.asm.lea_label(SCRATCH2, jt);
        self.masm.asm.lea_scaled(SCRATCH, SCRATCH, SCRATCH, 4);
        self.masm.asm.alu_rr(Alu::Add, Size::S64, SCRATCH2, SCRATCH);
        self.masm.asm.jmp_r(SCRATCH2);
        self.masm.asm.bind(jt);
        for &l in &labels {
            self.masm.asm.jmp(l);
        }
        for (depth, entry) in by_depth.iter().enumerate() {
            if let Some((l, true)) = *entry {
                self.masm.asm.bind(l);
                self.emit_branch(depth as u32)?;
            }
        }
        self.by_depth = by_depth;
        self.labels = labels;
        self.set_unreachable();
        Ok(())
    }

    pub fn visit_return(&mut self) -> Result<()> {
        self.emit_return()?;
        self.set_unreachable();
        Ok(())
    }

    pub fn set_unreachable(&mut self) {
        self.reachable = false;
        self.unreachable_depth = 0;
    }

    /// Moves the results to the ABI's locations and leaves.
    pub fn emit_return(&mut self) -> Result<()> {
        let n = self.frame.results.len();
        let base = self
            .stack
            .len()
            .checked_sub(n)
            .ok_or_else(|| self.internal("return values underflow"))?;
        let layout = self.take_layout(self.frame.type_index)?;
        if layout.has_ret_area() {
            self.masm
                .asm
                .mov_rm(Size::S64, SCRATCH2, Mem::new(Reg::Rbp, RET_AREA_SLOT));
        }
        self.moves.clear();
        for (i, loc) in layout.results.iter().enumerate() {
            let v = self.stack[base + i];
            let dst = match *loc {
                Location::Reg(r) => Dst::Reg(r),
                Location::Stack(off) => Dst::Mem(Mem::new(SCRATCH2, off as i32)),
            };
            self.moves.push(Move {
                ty: v.ty,
                loc: v.loc,
                pos: (base + i) as u32,
                dst,
            });
        }
        let pop = layout.stack_args_size;
        self.put_layout(self.frame.type_index, layout);
        self.emit_moves(false);
        self.emit_epilogue();
        let pop = u16::try_from(pop).map_err(|_| self.internal("stack arguments over 64 KiB"))?;
        self.masm.asm.ret(pop);
        Ok(())
    }

    /// Restores the callee-saved registers and the caller's frame (all but
    /// the `ret`).
    pub fn emit_epilogue(&mut self) {
        self.restore_pinned();
        self.masm.asm.mov_rr(Size::S64, Reg::Rsp, Reg::Rbp);
        self.masm.asm.pop(Reg::Rbp);
    }

    pub fn restore_pinned(&mut self) {
        self.masm
            .asm
            .mov_rm(Size::S64, VMCTX, Mem::new(Reg::Rbp, SAVED_VMCTX));
        for (r, disp) in SAVED_PIN_REGS {
            let at = self.masm.asm.offset();
            self.masm.asm.mov_rm(Size::S64, r, Mem::new(Reg::Rbp, disp));
            let len = (self.masm.asm.offset() - at) as u8;
            self.frame.pin_save_sites.push((at, len, false));
        }
        let at = self.masm.asm.offset();
        self.masm.asm.mov_rm(
            Size::S64,
            crate::regalloc::HEAP_BASE,
            Mem::new(Reg::Rbp, SAVED_HEAP_BASE),
        );
        if !self.frame.pins_heap {
            // Restored only for a landing pad (see `Frame::pin_save_sites`).
            let len = (self.masm.asm.offset() - at) as u8;
            self.frame.pin_save_sites.push((at, len, true));
        }
    }

    /// Subtracts `cost` from this function's tier-up budget and calls the
    /// `TierUp` libcall out of line when it reaches zero, resuming at
    /// `resume`; if `live` (registers may hold values), through the
    /// function's tier-up routine, which saves every caller-saved register.
    /// Nothing without `CompileOptions::tier_up_checks`.
    pub fn emit_budget_check(
        &mut self,
        cost: i32,
        resume: Label,
        live: bool,
        osr_loop: Option<u32>,
    ) -> Result<()> {
        if !self.tier_up_checks {
            return Ok(());
        }
        let budget = self
            .offsets
            .tier_up_budget(self.func)
            .ok_or_else(|| self.internal("no tier-up budget for the function"))?;
        let budgets = self.offsets.tier_up_budgets();
        self.masm
            .asm
            .mov_rm(Size::S64, SCRATCH, Mem::new(VMCTX, budgets as i32));
        self.masm
            .asm
            .alu_mi(Alu::Sub, Size::S32, Mem::new(SCRATCH, budget as i32), cost);
        let stub = self.masm.tier_up_label(resume, live, osr_loop);
        self.masm.asm.jcc(Cc::Le, stub);
        Ok(())
    }

    /// Traps with `Interrupt` when the host has set `vmctx.interrupt`: at
    /// the function's entry and at every loop back-edge, so that no wasm
    /// code runs on for long once asked to stop (when the tier was built
    /// with interrupt checks).
    pub fn emit_interrupt_check(&mut self) {
        if !self.interrupt_checks {
            return;
        }
        let flag = Mem::new(VMCTX, self.offsets.interrupt() as i32);
        self.masm.asm.alu_mi(Alu::Cmp, Size::S32, flag, 0);
        self.masm.trap_if(Cc::Ne, TrapCode::Interrupt);
    }

    /// The prologue's tier-up check (nothing live).
    pub fn emit_entry_budget_check(&mut self) -> Result<()> {
        if !self.tier_up_checks {
            return Ok(());
        }
        let resume = self.masm.asm.new_label();
        self.emit_budget_check(BUDGET_COST_CALL, resume, false, None)?;
        self.masm.asm.bind(resume);
        Ok(())
    }
}

/// The canonical location of the next merged value of type `ty`, given how
/// many of each class came before; `None` means its own slot.
fn canonical(ty: Ty, ki: &mut usize, kf: &mut usize) -> Option<Dst> {
    if ty.class() == rung_tiering::abi::RegClass::Float {
        let r = MERGE_FLOAT_REGS.get(*kf).copied();
        *kf += 1;
        r.map(Dst::Reg)
    } else {
        let r = INT_REGS.get(*ki).copied();
        *ki += 1;
        r.map(Dst::Reg)
    }
}
