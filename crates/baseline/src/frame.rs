//! The stack frame of a baseline function, and its prologue and epilogue.
//!
//! ```text
//!            ┌─────────────────────────────┐
//!  rbp+16+o  │ stack parameter at offset o │  the caller's outgoing area; we
//!            │ …                           │  pop it (`ret stack_args_size`)
//!  rbp+8     │ return address              │
//!  rbp ───►  │ caller's rbp                │  push rbp; mov rbp, rsp
//!  rbp-8     │ saved r14                   │  r14 = vmctx for the whole body
//!  rbp-16    │ saved r15                   │  r15 = memory 0's base (if any)
//!  rbp-24    │ saved rbx, r12, r13         │  loop-pinned integer locals
//!  rbp-48    │ return-area pointer         │  only if the signature has one
//!            ├─────────────────────────────┤
//!            │ locals: register parameters │  8 bytes each (v128: 16, aligned), in index order;
//!            │ then declared locals        │  stack parameters stay in the
//!            │                             │  caller's area above
//!            ├─────────────────────────────┤  stack_base
//!            │ slot of value-stack pos 0   │  [rbp - stack_base - 8]
//!            │ slot of pos 1 …             │  each position owns one slot
//!            ├─────────────────────────────┤  S = stack_base + 8 * max_depth, rounded to 16
//!            │ v128 slot of pos 0          │  [rbp - S - 16], 16 bytes, 16-aligned
//!            │ v128 slot of pos 1 …        │  (only as many as v128 spills reached)
//!  rsp ───►  └─────────────────────────────┘  16-aligned; rbp - frame_bytes
//!            outgoing call area (sub rsp, args + return area) during calls
//! ```
//!
//! The frame size is known only after the body (the value stack's deepest
//! point), so the prologue reserves it with a `lea r11, [rsp - disp32]`
//! whose displacement is patched at the end, followed by the stack-limit
//! check on that value:
//!
//! ```text
//!   push rbp ; mov rbp, rsp
//!   lea  r11, [rsp - frame]        ; patched
//!   cmp  r11, [vmctx + stack_limit]
//!   jb   trap(StackOverflow)
//!   mov  rsp, r11
//!   mov  [rbp-8], r14 ; (mov [rbp-16], r15) ; save rbx, r12, r13 ; mov r14, vmctx
//!   parameters → local slots ; zero the declared locals
//!   (mov r15, memory 0 base)
//!   tier-up check: sub dword [budgets + f], BUDGET_COST_CALL ; jle out-of-line TierUp
//! ```
//!
//! **Loop-pinned locals.** Inside a loop, a local used at the loop's top
//! level (where an access dominates the rest of the loop body) may be
//! pinned to a register until the loop's `end`: integers to rbx, r12, r13
//! (callee-saved, so they survive calls), floats and `v128`s to xmm14 down
//! to xmm11 (all 16 bytes for a `v128`, `movdqu` to and from its 16-byte
//! slot; reloaded after calls and at landing pads, and saved whole by the
//! tier-up routine). Writes go to the register *and* the slot
//! (write-through), so the slot is always current: code outside the loop,
//! at merges, or before the pin point simply reads the slot, and nothing is
//! written back when the loop is left. If nothing in the loop before the
//! pin point wrote the local, used the register or (for a float) called
//! out, the register is loaded once, in the loop's preheader (entered by a
//! `jmp` at the loop's entry, out of line, resuming at the header), so the
//! value stays in the register across back-edges; otherwise it is loaded at
//! the pin point. This takes the locals of a hot loop out of the
//! store-to-load latency chain. A pinned `i32` is zero-extended in its
//! register (every write and load of it is a 32-bit move), so a linear
//! memory access indexes with the register itself. The saves and
//! restores of rbx, r12 and r13 are 7-byte instructions, turned into
//! 7-byte NOPs when no integer local was pinned.
//!
//! **Invariants:** `rsp` is 16-aligned between operators (so calls need no
//! realignment); `r14`/`r15` hold the vmctx and the heap base from the end
//! of the prologue to every exit, and are restored (with rbx, r12, r13)
//! before every return and tail call; every slot is 8 bytes and 8-aligned
//! but the v128 slots (16 bytes, 16-aligned; a v128 at position `p` uses
//! only the v128 slot of `p`, so a position's two slots are never both live);
//! a pinned local's register and slot hold the same value.

use rung_tiering::abi::{CallLayout, Location, Reg};

use crate::asm::Mem;
use crate::stack::Ty;

/// Where r14 is saved.
pub const SAVED_VMCTX: i32 = -8;
/// Where r15 is saved.
pub const SAVED_HEAP_BASE: i32 = -16;
/// Where rbx, r12 and r13 are saved.
pub const SAVED_PIN_REGS: [(Reg, i32); 3] = [(Reg::Rbx, -24), (Reg::R12, -32), (Reg::R13, -40)];
/// The return-area pointer's slot (when the signature has one).
pub const RET_AREA_SLOT: i32 = -48;
/// Registers integer locals are pinned to inside loops (callee-saved).
pub const INT_PIN_REGS: [Reg; 3] = [Reg::Rbx, Reg::R12, Reg::R13];
/// Registers float and `v128` locals are pinned to inside loops, in the
/// order tried.
pub const FLOAT_PIN_REGS: [Reg; 4] = [Reg::Xmm14, Reg::Xmm13, Reg::Xmm12, Reg::Xmm11];

/// Value-stack v128 slots are named by a displacement of `V128_SLOT_TAG +
/// 16 * pos` (far below any real one: frames are at most 1 GiB) until
/// they are patched.
const V128_SLOT_TAG: i32 = i32::MIN;
const V128_SLOT_POSITIONS: u32 = 1 << 26;

/// The position of the value-stack v128 slot `m` names, if it is one.
pub fn v128_slot_pos(m: Mem) -> Option<u32> {
    let limit = V128_SLOT_TAG + 16 * V128_SLOT_POSITIONS as i32;
    (m.base == Reg::Rbp && m.index.is_none() && m.disp < limit)
        .then(|| (m.disp.wrapping_sub(V128_SLOT_TAG) as u32) / 16)
}

/// One local: its type and its slot, as an rbp-relative displacement.
#[derive(Debug, Clone, Copy)]
pub struct LocalSlot {
    pub ty: Ty,
    pub disp: i32,
}

/// The frame of the function being compiled.
#[derive(Debug, Default)]
pub struct Frame {
    pub locals: Vec<LocalSlot>,
    /// Bytes below rbp before the first value-stack slot.
    pub stack_base: i32,
    /// The deepest value stack seen.
    pub max_depth: u32,
    /// The function's type index (its layout is in the layout cache).
    pub type_index: u32,
    /// Bytes of stack arguments the caller pushed (popped by our `ret`).
    pub stack_args_size: u32,
    /// Parameter types of the function.
    pub params: Vec<Ty>,
    /// Result types of the function.
    pub results: Vec<Ty>,
    /// Declared locals: (count, type) groups.
    pub declared: Vec<(u32, Ty)>,
    /// Whether r15 holds memory 0's base.
    pub pins_heap: bool,
    /// Code offset of the frame-size displacement to patch.
    pub frame_patch: u32,
    /// Bytes of locals below the fixed part.
    pub locals_bytes: i32,
    /// Each local's pinned register, if it has one now.
    pub pin: Vec<Option<Reg>>,
    /// Pinned locals in pinning order (a loop unpins down to its mark),
    /// and whether the pin is loaded in the loop's preheader (else at the
    /// pin point, on every iteration).
    pub pin_log: Vec<(u32, bool)>,
    /// Per local, the write clock of its last `local.set`/`local.tee`.
    pub write_stamp: Vec<u32>,
    /// Whether an integer local was ever pinned (rbx/r12/r13 used).
    pub int_pins_used: bool,
    /// Code offsets and lengths of the saves and restores of rbx, r12,
    /// r13 (NOPs once it is known no integer local was pinned and there is
    /// no landing pad), and, marked `true`, of r15 in a function without
    /// memory 0, which does not use r15 (NOPs unless the function has a
    /// landing pad, which must restore what an unwind left in r15).
    pub pin_save_sites: Vec<(u32, u8, bool)>,
    /// Code offsets of 5-byte jumps to preheaders that load nothing.
    pub nop5_sites: Vec<u32>,
    /// The function has a `try_table` or legacy `try`: 16 more bytes at
    /// the frame's bottom, `[rsp]` and `[rsp + 8]`, for its landing pads,
    /// and above them `legacy_slots` 8-byte slots for the exceptions its
    /// legacy `catch`es hold (see `exceptions`).
    pub handler_area: bool,
    pub legacy_slots: u32,
}

impl Frame {
    /// The slot of value-stack position `pos`.
    pub fn slot(&self, pos: u32) -> Mem {
        Mem::new(Reg::Rbp, -(self.stack_base + 8 * (pos as i32 + 1)))
    }

    /// The 16-byte slot of a `v128` at value-stack position `pos`: in an
    /// area below the 8-byte slots, whose place is known only at the end
    /// (the value stack's deepest point), so the operand carries a tag
    /// (see [`v128_slot_pos`]) and every `movdqu` of it is patched by
    /// `lib.rs` with the real displacement. `None` past the positions a
    /// tag can name (no body has so deep a stack in practice).
    pub fn v128_slot(&self, pos: u32) -> Option<Mem> {
        (pos < V128_SLOT_POSITIONS).then(|| Mem::new(Reg::Rbp, V128_SLOT_TAG + 16 * pos as i32))
    }

    /// The slot of a value of type `ty` at position `pos` (a `v128` past
    /// the taggable positions gets its 8-byte slot, which nothing reads:
    /// `CodeGen::v128_spill` refuses the function first).
    pub fn slot_of(&self, pos: u32, ty: Ty) -> Mem {
        if ty == Ty::V128
            && let Some(m) = self.v128_slot(pos)
        {
            return m;
        }
        self.slot(pos)
    }

    /// The displacement of the 16-byte slot of `v128` position `pos`,
    /// given the number of 8-byte slots (`max_depth`): 16-aligned (rbp
    /// is), below the 8-byte slots.
    pub fn v128_slot_disp(&self, pos: u32) -> i32 {
        let scalar = (self.stack_base as u32 + 8 * self.max_depth).next_multiple_of(16);
        -((scalar + 16 * (pos + 1)) as i32)
    }

    /// Local `i`'s slot.
    pub fn local(&self, i: u32) -> Mem {
        Mem::new(Reg::Rbp, self.locals[i as usize].disp)
    }

    /// Local `i`'s pinned register, if it has one of `class`.
    pub fn pinned(&self, i: u32, class: rung_tiering::abi::RegClass) -> Option<Reg> {
        self.pin
            .get(i as usize)
            .copied()
            .flatten()
            .filter(|r| r.class() == class)
    }

    /// Bytes from rsp to rbp: fixed part, locals and value-stack slots,
    /// rounded up to 16, then `v128_slots` 16-byte slots, then (a function
    /// with a `try_table` or `try`) the handler area at the very bottom.
    pub fn frame_bytes(&self, v128_slots: u32) -> u32 {
        (self.stack_base as u32 + 8 * self.max_depth).next_multiple_of(16)
            + 16 * v128_slots
            + if self.handler_area {
                (16 + 8 * self.legacy_slots).next_multiple_of(16)
            } else {
                0
            }
    }

    /// Lays out `self.params` (with `layout`, the function's own) and
    /// `self.declared` more locals. Returns the slots of the declared locals
    /// (contiguous, descending) as `(lowest displacement, count)`, `count`
    /// in 8-byte words (a v128 local takes two, 16-aligned, so padding
    /// may be among them).
    pub fn lay_out(&mut self, layout: &CallLayout) -> (i32, u32) {
        self.locals.clear();
        let fixed: i32 = if layout.has_ret_area() { 48 } else { 40 };
        let mut next = fixed;
        for (i, &ty) in self.params.iter().enumerate() {
            let disp = match layout.params[i + 1] {
                Location::Stack(off) => 16 + off as i32,
                Location::Reg(_) if ty == Ty::V128 => {
                    next = (next + 31) & !15;
                    -next
                }
                Location::Reg(_) => {
                    next += 8;
                    -next
                }
            };
            self.locals.push(LocalSlot { ty, disp });
        }
        let top = next;
        for &(n, ty) in &self.declared {
            for _ in 0..n {
                if ty == Ty::V128 {
                    // 16 bytes, 16-aligned (rbp is 16-aligned).
                    next = (next + 31) & !15;
                } else {
                    next += 8;
                }
                self.locals.push(LocalSlot { ty, disp: -next });
            }
        }
        let count = ((next - top) / 8) as u32;
        self.locals_bytes = next - fixed;
        self.stack_base = next;
        self.max_depth = 0;
        self.stack_args_size = layout.stack_args_size;
        self.pin.clear();
        self.pin.resize(self.locals.len(), None);
        self.write_stamp.clear();
        self.write_stamp.resize(self.locals.len(), 0);
        self.pin_log.clear();
        self.int_pins_used = false;
        self.pin_save_sites.clear();
        self.nop5_sites.clear();
        self.handler_area = false;
        self.legacy_slots = 0;
        (-next, count)
    }
}
