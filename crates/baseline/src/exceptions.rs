//! Exception handling: `try_table`, `throw` and `throw_ref` (ARCHITECTURE.md,
//! "Exception handling"); the legacy instructions are `Unsupported` here
//! (the optimizer compiles them).
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
//!                   none matched: rax = exn ; jmp the enclosing try_table's
//!                   pad, or ThrowRef(r14, exn)
//! ```
//!
//! A function with a handler saves and restores all of rbx, r12–r15 (the
//! frames an unwind removes never restore what they changed; without a
//! memory 0 the baseline does not save r15, so such a function is
//! `Unsupported`), and has 16 more bytes at the bottom of its frame
//! (`Frame::handler_area`): `[rsp]` holds the vmctx for its landing pads,
//! `[rsp + 8]` the exception while a pad runs. At a handler's entry the
//! value stack is spilled (all but constants), so at every call in its
//! scope, and so at its pad, everything below the handler's height is
//! where it was at entry.

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
        // A landing pad's function must restore every callee-saved
        // register its caller gave it (the frames an unwind removes never
        // restore theirs); r15 is saved only where it holds the heap base.
        if !self.frame.pins_heap {
            return Err(self.unsupported(
                "exceptions: try_table in a function that does not save r15 (no memory 0)",
            ));
        }
        let count = self.catches.len() as u32 - first;
        self.visit_block(bt)?;
        self.frame.handler_area = true;
        self.masm.asm.mov_mr(Size::S64, vmctx_slot(), VMCTX);
        let landing = self.masm.asm.new_label();
        let id = self.masm.landings.len() as u32;
        self.masm.landings.push(u32::MAX);
        let control = self.control.len() - 1;
        if let Some(c) = self.control.last_mut() {
            c.kind = Kind::TryTable;
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

    /// The payload types of tag `tag` (`Unsupported` for a `v128` one).
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
            .map(|&p| Ty::of(p).ok_or_else(|| self.unsupported("exceptions: a v128 payload")))
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
        if self.reachable {
            self.merge_moves(frame.result_types(), frame.height)?;
            self.emit_moves(true);
            self.masm.asm.jmp(frame.label);
            self.control[h.control].end_reached = true;
        }
        self.masm.asm.bind(h.landing);
        self.masm.landings[h.id as usize] = self.masm.asm.offset();
        self.clock += 1;
        self.landing_clock = self.clock;
        self.masm.asm.mov_mr(Size::S64, exn_slot(), Reg::Rax);
        self.masm.asm.mov_rm(Size::S64, VMCTX, vmctx_slot());
        if self.frame.pins_heap {
            self.load_heap_base()?;
        }
        // Every pinned register: an unwind skipped the epilogues that
        // would have restored the callee-saved ones.
        self.reload_pins(RegClass::Int);
        self.reload_float_pins();
        let clauses: Vec<Clause> =
            self.catches[h.first as usize..(h.first + h.count) as usize].to_vec();
        self.catches.truncate(h.first as usize);
        for clause in clauses {
            self.landing_state(frame.height);
            let next = match clause.tag {
                Some(tag) => {
                    let off = self
                        .offsets
                        .tag(tag)
                        .ok_or_else(|| self.internal("tag index out of range"))?;
                    let next = self.masm.asm.new_label();
                    self.masm.asm.mov_rm(Size::S64, SCRATCH, exn_slot());
                    self.masm
                        .asm
                        .mov_rm(Size::S64, SCRATCH, Mem::new(SCRATCH, EXN_TAG as i32));
                    self.masm
                        .asm
                        .alu_rm(Alu::Cmp, Size::S64, SCRATCH, Mem::new(VMCTX, off as i32));
                    self.masm.asm.jcc(Cc::Ne, next);
                    for (i, ty) in self.tag_types(tag)?.into_iter().enumerate() {
                        let r = self.alloc_for(ty)?;
                        let at =
                            Mem::new(SCRATCH2, (EXN_VALUES + EXN_VALUE_SIZE * i as u32) as i32);
                        self.masm.asm.mov_rm(Size::S64, SCRATCH2, exn_slot());
                        if r.class() == RegClass::Float {
                            self.masm.asm.movs_rm(ty.size(), r, at);
                        } else {
                            self.masm.asm.mov_rm(ty.size(), r, at);
                        }
                        self.push(ty, Loc::Reg(r));
                    }
                    Some(next)
                }
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
        // Nothing matched: the enclosing try_table's pad, or the caller.
        self.masm.asm.mov_rm(Size::S64, Reg::Rax, exn_slot());
        match self.handlers.last_mut() {
            Some(outer) => {
                outer.used = true;
                let pad = outer.landing;
                self.masm.asm.jmp(pad);
                self.set_unreachable();
            }
            None => self.emit_throw_ref_call(Reg::Rax, false),
        }
        Ok(())
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
}
