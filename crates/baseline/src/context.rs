//! The code generator's state and its value-stack primitives: push and pop,
//! register allocation with spill on demand, materializing entries, and the
//! spills at calls and control-flow merges.
//!
//! `CodeGen` is one function's compilation: the macro assembler, the value
//! stack (`stack.rs`), the register cache (`regalloc.rs`), the frame
//! (`frame.rs`) and the control stack (`control.rs`). The operator
//! functions (`visitor.rs` and the modules it delegates to) only use the
//! primitives here to get their operands into registers or operands.
//!
//! **Invariants:**
//! - `stack[..clean]` holds only `Mem` and `Const` entries: nothing below
//!   the watermark needs spilling, so the spills at calls and block entries
//!   only look above it;
//! - every register in use is owned by exactly one stack entry or popped
//!   operand (`RegAlloc`'s invariant), and a popped operand's register is
//!   released by the operator that popped it;
//! - allocation (which may spill, using `r11`) happens before an operator
//!   loads anything into a scratch register.

use rung_tiering::abi::{Reg, RegClass};
use rung_tiering::{CompileError, ModuleEnv, VmOffsets};

use crate::asm::{Label, Mem, Size};
use crate::control::Control;
use crate::frame::Frame;
use crate::masm::{MacroAssembler, Operand};
use crate::moves::Move;
use crate::regalloc::{RegAlloc, SCRATCH};
use crate::stack::{Loc, Opnd, Ty, Val};

/// The code generator's result: the error is boxed, so that `Result<()>`
/// (returned by every operator, millions of times per module) is one word
/// and travels in a register.
pub type Result<T> = std::result::Result<T, Box<CompileError>>;

/// Allocations kept from one function to the next (per thread).
#[derive(Default)]
pub struct Pool {
    pub masm: MacroAssembler,
    pub stack: Vec<Val>,
    pub control: Vec<Control>,
    pub block_types: Vec<Ty>,
    pub saved: Vec<Val>,
    pub moves: Vec<Move>,
    pub reg_moves: Vec<(Reg, Reg)>,
    pub frame: Frame,
    pub labels: Vec<Label>,
    pub by_depth: Vec<Option<(Label, bool)>>,
    pub layouts: Vec<Option<(wasmparser::FuncType, Option<rung_tiering::abi::CallLayout>)>>,
    pub reader: wasmparser::OperatorsReaderAllocations,
}

/// One function's compilation.
pub struct CodeGen<'a> {
    pub masm: MacroAssembler,
    pub env: &'a ModuleEnv,
    pub offsets: &'a VmOffsets,
    /// The function's absolute index.
    pub func: u32,
    pub stack: Vec<Val>,
    pub regs: RegAlloc,
    /// `stack[..clean]` is all `Mem`/`Const`.
    pub clean: usize,
    pub frame: Frame,
    pub control: Vec<Control>,
    /// Parameter and result types of open blocks.
    pub block_types: Vec<Ty>,
    /// The parameters of open `if`s, restored at `else`.
    pub saved: Vec<Val>,
    pub moves: Vec<Move>,
    pub reg_moves: Vec<(Reg, Reg)>,
    pub labels: Vec<Label>,
    /// `br_table`'s label per branch depth and whether it is a stub.
    pub by_depth: Vec<Option<(Label, bool)>>,
    /// Call layouts by type index, with the function type each is for
    /// (kept across functions and modules; see `take_layout`).
    pub layouts: Vec<Option<(wasmparser::FuncType, Option<rung_tiering::abi::CallLayout>)>>,
    /// The operator reader's block stack, kept from one function to the next.
    pub reader: wasmparser::OperatorsReaderAllocations,
    pub reachable: bool,
    /// Blocks opened in unreachable code and not closed yet.
    pub unreachable_depth: u32,
    /// Absolute byte offset of the operator being compiled.
    pub offset: u64,
    /// A comparison whose operands are still on the stack, waiting to see
    /// whether the next operator branches or selects on it.
    pub pending: Option<crate::numeric::Pending>,
    /// Counts local writes and calls (for the loop-pin preheader decision).
    pub clock: u32,
    /// The clock at the last call.
    pub call_clock: u32,
    /// Whether function entries and loop back-edges check `vmctx.interrupt`.
    pub interrupt_checks: bool,
    /// Whether function entries and loop back-edges count against the
    /// tier-up budget (`CompileOptions::tier_up_checks`).
    pub tier_up_checks: bool,
    /// Whether loops record OSR exits (`CompileOptions::osr`, in a function
    /// whose signature allows an OSR switch).
    pub osr: bool,
    /// A v128 value had to go where the baseline cannot put it (a spill
    /// at a position past those a v128 slot tag names, see
    /// `Frame::v128_slot`; never in practice): the function is
    /// `Unsupported` (checked at the end of the walk and by `internal`).
    pub v128_spill: bool,
    /// The open `try_table`s, innermost last, and their clauses.
    pub handlers: Vec<crate::exceptions::Handler>,
    pub catches: Vec<crate::exceptions::Clause>,
    /// `clock` when the last landing pad was emitted: an unwind into it
    /// clobbers every register, so a loop that has one preloads no pin.
    pub landing_clock: u32,
    /// One entry per open legacy `try`, by catch depth (so its length is
    /// the catch depth of the next one): the state of its `catch` clause
    /// (see `Kind::Catch`).
    pub clauses: Vec<crate::exceptions::ClauseState>,
}

impl<'a> CodeGen<'a> {
    pub fn new(pool: Pool, env: &'a ModuleEnv, offsets: &'a VmOffsets, func: u32) -> CodeGen<'a> {
        let Pool {
            masm,
            mut stack,
            mut control,
            mut block_types,
            mut saved,
            mut moves,
            mut reg_moves,
            frame,
            mut labels,
            by_depth,
            layouts,
            reader,
        } = pool;
        stack.clear();
        control.clear();
        block_types.clear();
        saved.clear();
        moves.clear();
        reg_moves.clear();
        labels.clear();
        CodeGen {
            masm,
            env,
            offsets,
            func,
            stack,
            regs: RegAlloc::default(),
            clean: 0,
            frame,
            control,
            block_types,
            saved,
            moves,
            reg_moves,
            labels,
            by_depth,
            layouts,
            reader,
            reachable: true,
            unreachable_depth: 0,
            offset: 0,
            pending: None,
            clock: 0,
            call_clock: 0,
            interrupt_checks: false,
            tier_up_checks: false,
            osr: false,
            v128_spill: false,
            handlers: Vec::new(),
            catches: Vec::new(),
            landing_clock: 0,
            clauses: Vec::new(),
        }
    }

    /// Gives the allocations back.
    pub fn into_pool(self) -> Pool {
        Pool {
            masm: self.masm,
            stack: self.stack,
            control: self.control,
            block_types: self.block_types,
            saved: self.saved,
            moves: self.moves,
            reg_moves: self.reg_moves,
            frame: self.frame,
            labels: self.labels,
            by_depth: self.by_depth,
            layouts: self.layouts,
            reader: self.reader,
        }
    }

    // ---- errors ---------------------------------------------------------------

    #[cold]
    #[inline(never)]
    pub fn internal(&self, what: &str) -> Box<CompileError> {
        if self.v128_spill {
            // The state went wrong after a v128 spill was refused.
            return self.unsupported("simd: a v128 spill past the positions a slot tag names");
        }
        Box::new(CompileError::Internal(format!(
            "baseline: function {}: {what} at offset {:#x}",
            self.func, self.offset
        )))
    }

    #[cold]
    #[inline(never)]
    pub fn unsupported(&self, feature: impl Into<String>) -> Box<CompileError> {
        Box::new(CompileError::Unsupported {
            feature: feature.into(),
            offset: self.offset,
        })
    }

    // ---- the value stack ------------------------------------------------------

    #[inline]
    pub fn push(&mut self, ty: Ty, loc: Loc) {
        self.stack.push(Val::new(ty, loc));
        let depth = self.stack.len() as u32;
        if depth > self.frame.max_depth {
            self.frame.max_depth = depth;
        }
    }

    #[inline]
    pub fn push_reg(&mut self, ty: Ty, r: Reg) {
        self.push(ty, Loc::Reg(r));
    }

    /// The height below which the innermost block's values are.
    #[inline]
    fn floor(&self) -> usize {
        self.control.last().map_or(0, |c| c.height as usize)
    }

    #[inline]
    pub fn pop(&mut self) -> Result<Opnd> {
        if self.stack.len() <= self.floor() {
            return Err(self.internal("value stack underflow"));
        }
        let Some(v) = self.stack.pop() else {
            return Err(self.internal("value stack underflow"));
        };
        let pos = self.stack.len();
        if self.clean > pos {
            self.clean = pos;
        }
        Ok(Opnd {
            ty: v.ty,
            loc: v.loc,
            pos: pos as u32,
        })
    }

    /// Pops `rhs` then `lhs`.
    #[inline]
    pub fn pop2(&mut self) -> Result<(Opnd, Opnd)> {
        let b = self.pop()?;
        let a = self.pop()?;
        Ok((a, b))
    }

    pub fn top(&self) -> Option<Val> {
        self.stack.last().copied()
    }

    /// Drops `n` values from the top, releasing their registers.
    pub fn drop_n(&mut self, n: usize) -> Result<()> {
        for _ in 0..n {
            let o = self.pop()?;
            self.free(&o);
        }
        Ok(())
    }

    pub fn slot(&self, pos: u32) -> Mem {
        self.frame.slot(pos)
    }

    /// Where local `i` is read from as a `ty`: its pinned register if it has
    /// one of that class, else its slot (always current).
    pub fn local_operand(&self, i: u32, ty: Ty) -> Operand {
        match self.frame.pinned(i, ty.class()) {
            Some(r) => Operand::Reg(r),
            None => Operand::Mem(self.frame.local(i)),
        }
    }

    /// The operand form of a popped value.
    pub fn operand(&self, o: &Opnd) -> Operand {
        match o.loc {
            Loc::Const(c) => Operand::Imm(c),
            Loc::Reg(r) => Operand::Reg(r),
            Loc::Local(i) => self.local_operand(i, o.ty),
            Loc::Mem => Operand::Mem(self.frame.slot_of(o.pos, o.ty)),
        }
    }

    /// Releases a popped operand's register.
    #[inline]
    pub fn free(&mut self, o: &Opnd) {
        if let Loc::Reg(r) = o.loc {
            self.regs.release(r);
        }
    }

    pub fn free_reg(&mut self, r: Reg) {
        self.regs.release(r);
    }

    // ---- registers --------------------------------------------------------------

    /// A free register of `class`, spilling the deepest stack entry that
    /// holds one if none is free.
    #[inline]
    pub fn alloc(&mut self, class: RegClass) -> Result<Reg> {
        match self.regs.take(class) {
            Some(r) => Ok(r),
            None => self.alloc_by_spilling(class),
        }
    }

    /// [`alloc`](Self::alloc) when every register of `class` is taken.
    #[cold]
    fn alloc_by_spilling(&mut self, class: RegClass) -> Result<Reg> {
        for i in self.clean..self.stack.len() {
            if let Loc::Reg(r) = self.stack[i].loc
                && r.class() == class
            {
                self.spill_entry(i);
                if let Some(r) = self.regs.take(class) {
                    return Ok(r);
                }
            }
        }
        Err(self.internal("out of registers"))
    }

    pub fn alloc_for(&mut self, ty: Ty) -> Result<Reg> {
        self.alloc(ty.class())
    }

    /// Makes `r` ours: if a stack entry holds it, that entry moves to
    /// another register (or its slot).
    pub fn alloc_specific(&mut self, r: Reg) -> Result<()> {
        if self.regs.take_specific(r) {
            return Ok(());
        }
        let Some(i) = self.stack.iter().rposition(|v| v.loc == Loc::Reg(r)) else {
            return Err(self.internal("a fixed register is held by an operand"));
        };
        if let Some(n) = self.regs.take(r.class()) {
            if r.class() == RegClass::Float {
                self.masm.asm.movaps(n, r);
            } else {
                self.masm.asm.mov_rr(Size::S64, n, r);
            }
            self.stack[i].loc = Loc::Reg(n);
        } else {
            self.spill_entry(i);
            if !self.regs.take_specific(r) {
                return Err(self.internal("a fixed register is still in use"));
            }
        }
        Ok(())
    }

    /// A register holding `o`'s value that the caller owns (and may
    /// overwrite): `o`'s own register, or a new one loaded with it.
    pub fn owned_reg(&mut self, o: &Opnd) -> Result<Reg> {
        if let Loc::Reg(r) = o.loc {
            return Ok(r);
        }
        let r = self.alloc(o.ty.class())?;
        self.load_into(r, o.ty, o.loc, o.pos);
        Ok(r)
    }

    /// Emits a load of the value at (`loc`, `pos`) into `dst`.
    pub fn load_into(&mut self, dst: Reg, ty: Ty, loc: Loc, pos: u32) {
        if ty == Ty::V128 {
            return self.load_v128_into(dst, loc, pos);
        }
        let size = ty.size();
        if dst.class() == RegClass::Float {
            match loc {
                Loc::Const(bits) => self.masm.mov_float_imm(size, dst, bits),
                Loc::Reg(r) if r == dst => {}
                Loc::Reg(r) => self.masm.asm.movaps(dst, r),
                Loc::Local(i) => {
                    let src = self.local_operand(i, ty);
                    self.masm.mov_float(size, dst, src);
                }
                Loc::Mem => self.masm.asm.movs_rm(size, dst, self.frame.slot(pos)),
            }
        } else {
            match loc {
                Loc::Const(bits) => self.masm.mov_int_imm(size, dst, bits),
                Loc::Reg(r) if r == dst => {}
                Loc::Reg(r) => self.masm.asm.mov_rr(Size::S64, dst, r),
                Loc::Local(i) => {
                    let src = self.local_operand(i, ty);
                    self.masm.mov_int(size, dst, src);
                }
                Loc::Mem => self.masm.asm.mov_rm(size, dst, self.frame.slot(pos)),
            }
        }
    }

    /// Emits a store of the value at (`loc`, `pos`) to `m`, using `scratch`
    /// (an integer register other than `m`'s) for memory-to-memory copies
    /// and large constants.
    pub fn store_to(&mut self, m: Mem, ty: Ty, loc: Loc, pos: u32, scratch: Reg) {
        if ty == Ty::V128 {
            return self.store_v128_to(m, loc, pos);
        }
        let size = ty.size();
        match loc {
            Loc::Reg(r) if r.class() == RegClass::Float => self.masm.asm.movs_mr(size, m, r),
            Loc::Reg(r) => self.masm.asm.mov_mr(size, m, r),
            Loc::Const(bits) => {
                let v = match size {
                    Size::S32 => i64::from(bits as u32 as i32),
                    Size::S64 => bits as i64,
                };
                if let Ok(v) = i32::try_from(v) {
                    self.masm.asm.mov_mi(size, m, v);
                } else {
                    self.masm.asm.mov_r64_imm(scratch, v);
                    self.masm.asm.mov_mr(size, m, scratch);
                }
            }
            Loc::Local(i) => match self.local_operand(i, ty) {
                Operand::Reg(r) if r.class() == RegClass::Float => {
                    self.masm.asm.movs_mr(size, m, r)
                }
                Operand::Reg(r) => self.masm.asm.mov_mr(size, m, r),
                Operand::Mem(src) if src != m => {
                    self.masm.asm.mov_rm(size, scratch, src);
                    self.masm.asm.mov_mr(size, m, scratch);
                }
                _ => {}
            },
            Loc::Mem => {
                let src = self.frame.slot(pos);
                if src != m {
                    self.masm.asm.mov_rm(size, scratch, src);
                    self.masm.asm.mov_mr(size, m, scratch);
                }
            }
        }
    }

    // ---- spilling -----------------------------------------------------------------

    /// Moves stack entry `i` to its slot (registers and locals; a constant
    /// stays a constant).
    pub fn spill_entry(&mut self, i: usize) {
        let v = self.stack[i];
        if v.ty == Ty::V128 && self.frame.v128_slot(i as u32).is_none() {
            // Too deep for a v128 slot: refuse the function (the entry
            // stays where it is, so the walk stays consistent until it
            // stops).
            self.v128_spill = true;
            return;
        }
        match v.loc {
            Loc::Const(_) | Loc::Mem => return,
            Loc::Reg(r) => {
                let m = self.frame.slot_of(i as u32, v.ty);
                self.store_to(m, v.ty, v.loc, i as u32, SCRATCH);
                self.regs.release(r);
            }
            Loc::Local(_) => {
                let m = self.frame.slot_of(i as u32, v.ty);
                self.store_to(m, v.ty, v.loc, i as u32, SCRATCH);
            }
        }
        self.stack[i].loc = Loc::Mem;
    }

    /// Spills every entry but the top `keep`: what calls and block entries
    /// do, so that nothing below lives in a register or reads a local.
    pub fn spill_below(&mut self, keep: usize) {
        let end = self.stack.len().saturating_sub(keep);
        for i in self.clean..end {
            self.spill_entry(i);
        }
        if end > self.clean {
            self.clean = end;
        }
    }

    /// Everything free again but the pinned registers (after a call or at a
    /// merge, when no stack entry holds a register).
    pub fn reset_regs(&mut self) {
        self.regs.reset();
        for k in 0..self.frame.pin_log.len() {
            let i = self.frame.pin_log[k].0;
            if let Some(r) = self.frame.pin[i as usize] {
                self.regs.take_specific(r);
            }
        }
    }

    /// After a call: the pinned xmm registers (float and `v128` locals)
    /// were clobbered; their slots are current.
    pub fn reload_float_pins(&mut self) {
        self.clock += 1;
        self.call_clock = self.clock;
        self.reload_pins(RegClass::Float);
    }

    /// Loads every local pinned to a register of `class` from its slot
    /// (which is always current).
    pub fn reload_pins(&mut self, class: RegClass) {
        for k in 0..self.frame.pin_log.len() {
            let i = self.frame.pin_log[k].0;
            if let Some(r) = self.frame.pin[i as usize]
                && r.class() == class
            {
                let ty = self.frame.locals[i as usize].ty;
                let slot = self.frame.local(i);
                self.load_local_slot(r, ty, slot);
            }
        }
    }

    /// Loads a local's slot into its pinned register `r` (a `v128` with
    /// `movdqu`, all 16 bytes).
    pub fn load_local_slot(&mut self, r: Reg, ty: Ty, slot: Mem) {
        match ty {
            Ty::V128 => self.masm.asm.movdqu_rm(r, slot),
            _ if ty.is_float() => self.masm.asm.movs_rm(ty.size(), r, slot),
            _ => self.masm.asm.mov_rm(ty.size(), r, slot),
        }
    }

    /// The registers pinned locals are in.
    pub fn pinned_regs(&self) -> crate::regalloc::RegSet {
        let mut set = crate::regalloc::RegSet::EMPTY;
        for &(i, _) in &self.frame.pin_log {
            if let Some(r) = self.frame.pin[i as usize] {
                set.insert(r);
            }
        }
        set
    }

    /// Pins local `i` to a register if we are at the top level of a loop
    /// (so this point dominates the rest of the loop body) and a register
    /// is free. The register is loaded in the loop's preheader if nothing
    /// since the loop's entry can have changed it or the local, else here
    /// (when `load`; a `local.set` writes it anyway). See `frame.rs`.
    pub fn maybe_pin(&mut self, i: u32, load: bool) {
        let Some(lp) = self.control.last().copied() else {
            return;
        };
        if lp.kind != crate::control::Kind::Loop {
            return;
        }
        let Some(&local) = self.frame.locals.get(i as usize) else {
            return;
        };
        if self.frame.pin[i as usize].is_some() {
            return;
        }
        // Floats and v128s go to xmm registers (taken from the free list
        // while pinned), integers to callee-saved ones (outside it).
        let xmm = local.ty.class() == RegClass::Float;
        let used = self.pinned_regs();
        let reg = if xmm {
            crate::frame::FLOAT_PIN_REGS
                .iter()
                .copied()
                .find(|&r| !used.contains(r) && self.regs.is_free(r))
        } else {
            crate::frame::INT_PIN_REGS
                .iter()
                .copied()
                .find(|&r| !used.contains(r))
        };
        let Some(r) = reg else {
            return;
        };
        // Preloading needs the register untouched since the loop's entry
        // (an inner loop may have pinned another local to it) and the
        // local unwritten; an xmm register must also have survived calls,
        // and any register unwinds to a landing pad (which reloads only
        // the pins it knows of).
        let unwritten = self.frame.write_stamp[i as usize] <= lp.clock;
        let preload = unwritten
            && !self.regs.taken_since(r, lp.tick)
            && (!xmm || self.call_clock <= lp.clock)
            && self.landing_clock <= lp.clock;
        if xmm {
            self.regs.take_specific(r);
        } else {
            self.regs.mark(r);
        }
        if load && !preload {
            let slot = self.frame.local(i);
            self.load_local_slot(r, local.ty, slot);
        }
        if !xmm {
            self.frame.int_pins_used = true;
        }
        if local.ty == Ty::V128 {
            // The tier-up routine must save and restore all 16 bytes of
            // the pinned register (a back-edge's check calls it).
            self.masm.v128 = true;
        }
        self.frame.pin[i as usize] = Some(r);
        self.frame.pin_log.push((i, preload));
    }

    /// Records a write of local `i` (for the preheader decision).
    pub fn note_local_write(&mut self, i: u32) {
        self.clock += 1;
        if let Some(s) = self.frame.write_stamp.get_mut(i as usize) {
            *s = self.clock;
        }
    }

    /// Unpins the locals pinned since `mark` (a loop's end).
    pub fn unpin_to(&mut self, mark: usize) {
        while self.frame.pin_log.len() > mark {
            let Some((i, _)) = self.frame.pin_log.pop() else {
                break;
            };
            if let Some(r) = self.frame.pin[i as usize].take()
                && r.class() == RegClass::Float
            {
                self.regs.release(r);
            }
        }
    }

    /// Materializes every entry that reads local `i` (before it changes).
    pub fn materialize_local(&mut self, i: u32) -> Result<()> {
        for p in self.clean..self.stack.len() {
            let v = self.stack[p];
            if v.loc == Loc::Local(i) {
                match self.regs.take(v.ty.class()) {
                    Some(r) => {
                        self.load_into(r, v.ty, v.loc, p as u32);
                        self.stack[p].loc = Loc::Reg(r);
                    }
                    None => self.spill_entry(p),
                }
            }
        }
        Ok(())
    }
}
