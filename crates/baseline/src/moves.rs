//! Parallel moves: putting several values into their destinations at once
//! (branch and block results, loop parameters, call arguments, function
//! results), when sources and destinations may overlap.
//!
//! A move list only emits code; it never changes the value stack or the
//! register cache, so a `br_if` can move values on its taken path while the
//! fall-through keeps its state. The callers update the state themselves
//! where the moved values stay (a merge).
//!
//! Order of emission:
//! 1. destinations that are not frame slots (outgoing arguments, the return
//!    area): written first, since no source lives there;
//! 2. register-to-register moves, as a parallel move: a move whose
//!    destination no other move still reads goes first; a cycle is broken
//!    with `xchg` (integers) or through `xmm15` (floats);
//! 3. constants, locals and slots into registers.
//!
//! When destinations are value-stack slots (a merge with more results than
//! registers), a destination slot may be the source slot of another value.
//! Then every register source is first written to its own slot (harmless:
//! a position's slot belongs to the value at that position), registers are
//! loaded, and slot destinations are written in increasing position order:
//! value `i` goes to position `height + i` from position `base + i` with
//! `base >= height`, so a slot is only overwritten after its value moved.
//!
//! **Invariant:** only `r11` and `xmm15` are used as temporaries, so `r10`
//! may hold an address (the return-area pointer, a funcref record) across
//! the moves.

use rung_tiering::abi::{Reg, RegClass};

use crate::asm::{Mem, Size};
use crate::context::CodeGen;
use crate::regalloc::{FSCRATCH, SCRATCH};
use crate::stack::{Loc, Ty};

/// Where a moved value goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dst {
    Reg(Reg),
    Mem(Mem),
}

/// One value to move.
#[derive(Debug, Clone, Copy)]
pub struct Move {
    pub ty: Ty,
    pub loc: Loc,
    /// The source's value-stack position (names its slot if `Mem`).
    pub pos: u32,
    pub dst: Dst,
}

impl CodeGen<'_> {
    fn is_noop(&self, m: &Move) -> bool {
        match (m.loc, m.dst) {
            (Loc::Reg(r), Dst::Reg(d)) => r == d,
            (Loc::Mem, Dst::Mem(d)) => self.frame.slot_of(m.pos, m.ty) == d,
            _ => false,
        }
    }

    /// Whether `self.moves` would emit anything.
    pub fn moves_are_noops(&self) -> bool {
        self.moves.iter().all(|m| self.is_noop(m))
    }

    /// Emits `self.moves` as one parallel move and clears the list.
    /// `slot_dsts` says whether destinations may be value-stack slots.
    pub fn emit_moves(&mut self, slot_dsts: bool) {
        let mut moves = std::mem::take(&mut self.moves);
        moves.retain(|m| !self.is_noop(m));
        let any_mem = moves.iter().any(|m| matches!(m.dst, Dst::Mem(_)));
        if any_mem && slot_dsts {
            for m in moves.iter_mut() {
                if let Loc::Reg(_) = m.loc {
                    let slot = self.frame.slot_of(m.pos, m.ty);
                    self.store_to(slot, m.ty, m.loc, m.pos, SCRATCH);
                    m.loc = Loc::Mem;
                }
            }
            for m in &moves {
                if let Dst::Reg(r) = m.dst {
                    self.load_into(r, m.ty, m.loc, m.pos);
                }
            }
            for m in &moves {
                if let Dst::Mem(d) = m.dst {
                    self.store_to(d, m.ty, m.loc, m.pos, SCRATCH);
                }
            }
        } else {
            for m in &moves {
                if let Dst::Mem(d) = m.dst {
                    self.store_to(d, m.ty, m.loc, m.pos, SCRATCH);
                }
            }
            let mut pending = std::mem::take(&mut self.reg_moves);
            pending.clear();
            for m in &moves {
                if let (Loc::Reg(s), Dst::Reg(d)) = (m.loc, m.dst) {
                    pending.push((s, d));
                }
            }
            self.parallel_reg_moves(&mut pending);
            self.reg_moves = pending;
            for m in &moves {
                if let Dst::Reg(d) = m.dst
                    && !matches!(m.loc, Loc::Reg(_))
                {
                    self.load_into(d, m.ty, m.loc, m.pos);
                }
            }
        }
        moves.clear();
        self.moves = moves;
    }

    fn parallel_reg_moves(&mut self, pending: &mut Vec<(Reg, Reg)>) {
        while !pending.is_empty() {
            let free = (0..pending.len()).find(|&k| {
                let d = pending[k].1;
                !pending.iter().any(|&(s, _)| s == d)
            });
            match free {
                Some(k) => {
                    let (s, d) = pending.swap_remove(k);
                    self.copy_reg(d, s);
                }
                None => {
                    let (s, d) = pending.swap_remove(0);
                    if d.class() == RegClass::Int {
                        self.masm.asm.xchg_rr(s, d);
                        for p in pending.iter_mut() {
                            if p.0 == d {
                                p.0 = s;
                            }
                        }
                    } else {
                        self.masm.asm.movaps(FSCRATCH, d);
                        self.masm.asm.movaps(d, s);
                        for p in pending.iter_mut() {
                            if p.0 == d {
                                p.0 = FSCRATCH;
                            }
                        }
                    }
                }
            }
        }
    }

    fn copy_reg(&mut self, dst: Reg, src: Reg) {
        if dst.class() == RegClass::Float {
            self.masm.asm.movaps(dst, src);
        } else {
            self.masm.asm.mov_rr(Size::S64, dst, src);
        }
    }
}
