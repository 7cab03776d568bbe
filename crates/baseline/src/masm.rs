//! The macro assembler: the instruction sequences that implement wasm
//! operations, given registers and operands the code generator chose, and
//! the bookkeeping every sequence needs (trap sites, the offset map, the
//! out-of-line code emitted after the body).
//!
//! The code generator speaks to this layer in wasm's vocabulary (an `i32`
//! add of a register and an operand, a float minimum, a trapping
//! truncation); `asm.rs` below it knows how each instruction is encoded.
//! What is x86-64 here is the choice of sequence: e.g. `ucomiss` and parity
//! for NaN, `cvttss2si` returning `INT_MIN` for every failure.
//!
//! ```text
//!   body code                           out-of-line code (after the body)
//!   ─────────                           ─────────────────────────────────
//!   cmp  r10, [r14+len]                 trap_k:  ud2        ; TrapSite{code}
//!   ja   trap_k ──────────────────────►          (one ud2 per check, so the
//!   …                                             offset map names its operator)
//!   sub  dword [r11+budget], 20         tierup_j: save live registers
//!   jle  tierup_j ─────────────────────►          call TierUp(vmctx, func)
//!   jmp  header   ◄───────────────────────────── restore; jmp header
//! ```
//!
//! **Invariants:**
//! - every trap is a `ud2` recorded as a [`TrapSite`]; nothing here ever
//!   executes `div` with a zero divisor or `INT_MIN / -1` (checked first);
//! - scratch registers (`r10`, `r11`, `xmm15`) are clobbered freely by a
//!   sequence and never hold a value across sequences;
//! - the offset map gets an entry at the first instruction of every
//!   operator that emits code and at every out-of-line `ud2`, so trap and
//!   call sites map to their operator.

use rung_tiering::abi::Reg;
use rung_tiering::osr::OsrExits;
use rung_tiering::{TrapCode, TrapSite};

use crate::asm::{Alu, Assembler, BitOp, Cc, FLogic, FOp, Label, Mem, Shift, Size};
use crate::regalloc::{FLOAT_REGS, FSCRATCH, INT_REGS, SCRATCH, SCRATCH2, VMCTX};
use crate::stack::Ty;

/// CPU features the code may use; without them fallbacks are emitted (or,
/// for SSE4.1 rounding, the function is `Unsupported`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Features {
    /// `lzcnt` (ABM); otherwise `bsr`.
    pub lzcnt: bool,
    /// `tzcnt` (BMI1); otherwise `bsf`.
    pub bmi1: bool,
    /// `popcnt`; otherwise a bit-twiddling sequence.
    pub popcnt: bool,
    /// `roundss`/`roundsd` (SSE4.1), for `ceil`, `floor`, `trunc`, `nearest`.
    pub sse41: bool,
}

impl Features {
    /// What the host CPU has.
    pub fn host() -> Features {
        #[cfg(target_arch = "x86_64")]
        {
            Features {
                lzcnt: std::arch::is_x86_feature_detected!("lzcnt"),
                bmi1: std::arch::is_x86_feature_detected!("bmi1"),
                popcnt: std::arch::is_x86_feature_detected!("popcnt"),
                sse41: std::arch::is_x86_feature_detected!("sse4.1"),
            }
        }
        #[cfg(not(target_arch = "x86_64"))]
        {
            Features::NONE
        }
    }

    /// Plain x86-64 (SSE2 only): every fallback.
    pub const NONE: Features = Features {
        lzcnt: false,
        bmi1: false,
        popcnt: false,
        sse41: false,
    };

    /// x86-64-v2 (SSE4.2, POPCNT; no LZCNT or BMI1), the fixed set the
    /// snapshot tests use, as the optimizer's do.
    pub const X86_64_V2: Features = Features {
        lzcnt: false,
        bmi1: false,
        popcnt: true,
        sse41: true,
    };
}

/// A source operand.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operand {
    Reg(Reg),
    Mem(Mem),
    /// Raw bits (an `i32` zero-extended, a float's bit pattern).
    Imm(u64),
}

/// Float comparisons.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FCmp {
    Eq,
    Ne,
    Lt,
    Gt,
    Le,
    Ge,
}

enum OutOfLine {
    Trap {
        label: Label,
        code: TrapCode,
        wasm_offset: u32,
    },
    /// Call the `TierUp` libcall (through the function's tier-up routine
    /// if registers may be live), then back to `resume`; `osr_loop`: the
    /// back-edge of that loop of `MacroAssembler::osr`.
    TierUp {
        label: Label,
        resume: Label,
        save_all: bool,
        wasm_offset: u32,
        osr_loop: Option<u32>,
    },
    /// A loop's preheader: loads of its preloaded pinned locals (register,
    /// type, rbp-relative slot), then on to the header.
    Preheader {
        label: Label,
        header: Label,
        /// The range of `MacroAssembler::preheader_loads`.
        loads: std::ops::Range<u32>,
    },
}

/// What the out-of-line tier-up calls need.
#[derive(Debug, Clone, Copy)]
pub struct TierUpCall {
    /// `VmOffsets::libcalls()`.
    pub libcalls: i32,
    /// The `TierUp` entry within the libcall table.
    pub entry: i32,
    /// The `TierUpOsr` entry, and where the routine goes when it answers an
    /// OSR entry, if the function has OSR exits.
    pub osr: Option<(i32, Label)>,
    /// The function's absolute index.
    pub func: u32,
}

/// The registers the tier-up routine saves, in save-area order (what an
/// `OsrSource::Saved` index counts).
pub const ROUTINE_SAVED: [Reg; INT_REGS.len() + FLOAT_REGS.len()] = {
    let mut saved = [Reg::Rax; INT_REGS.len() + FLOAT_REGS.len()];
    let mut i = 0;
    while i < INT_REGS.len() {
        saved[i] = INT_REGS[i];
        i += 1;
    }
    let mut j = 0;
    while j < FLOAT_REGS.len() {
        saved[INT_REGS.len() + j] = FLOAT_REGS[j];
        j += 1;
    }
    saved
};

/// The save-area index of `r`, if the tier-up routine saves it.
pub fn routine_saved_index(r: Reg) -> Option<u8> {
    ROUTINE_SAVED.iter().position(|&s| s == r).map(|i| i as u8)
}

pub struct MacroAssembler {
    pub asm: Assembler,
    pub features: Features,
    /// The absolute wasm offset of the operator being compiled.
    pub wasm_offset: u32,
    out_of_line: Vec<OutOfLine>,
    /// The loads of every preheader, each `OutOfLine::Preheader` a range.
    pub preheader_loads: Vec<(Reg, Ty, i32)>,
    /// The function's one tier-up routine (see `emit_out_of_line`), once
    /// a budget check needs it.
    tier_up_routine: Option<Label>,
    /// The function's OSR exits: its loops (filled by the code generator)
    /// and their back-edges (filled when the out-of-line calls are laid
    /// out).
    pub osr: OsrExits,
    /// Whether the function has v128 values (then the tier-up routine
    /// saves all 16 bytes of every xmm register).
    pub v128: bool,
    pub trap_sites: Vec<TrapSite>,
    pub offset_map: Vec<(u32, u32)>,
    /// Calls in a handler's scope: (return offset, landing pad id).
    pub handler_sites: Vec<(u32, u32)>,
    /// Each landing pad's code offset, by id.
    pub landings: Vec<u32>,
}

fn fits_i32(v: i64) -> bool {
    i32::try_from(v).is_ok()
}

impl MacroAssembler {
    pub fn new() -> MacroAssembler {
        MacroAssembler {
            asm: Assembler::new(),
            features: Features::NONE,
            wasm_offset: 0,
            out_of_line: Vec::new(),
            preheader_loads: Vec::new(),
            tier_up_routine: None,
            osr: OsrExits::default(),
            v128: false,
            trap_sites: Vec::new(),
            offset_map: Vec::new(),
            handler_sites: Vec::new(),
            landings: Vec::new(),
        }
    }

    /// Prepares for a new function.
    pub fn reset(&mut self, features: Features, body_bytes: usize) {
        self.features = features;
        self.wasm_offset = 0;
        self.out_of_line.clear();
        self.preheader_loads.clear();
        self.tier_up_routine = None;
        self.v128 = false;
        self.asm.v128_slot_patches.clear();
        self.osr.loops.clear();
        self.osr.back_edges.clear();
        self.trap_sites.clear();
        self.offset_map.clear();
        self.handler_sites.clear();
        self.landings.clear();
        self.asm.reserve(body_bytes * 8 + 256);
    }

    /// Starts operator code at `wasm_offset` (an offset-map entry once it
    /// emits something).
    pub fn begin_op(&mut self, wasm_offset: u32) {
        self.wasm_offset = wasm_offset;
        let here = self.asm.offset();
        match self.offset_map.last_mut() {
            Some(last) if last.0 == here => last.1 = wasm_offset,
            Some(last) if last.1 == wasm_offset => {}
            _ => self.offset_map.push((here, wasm_offset)),
        }
    }

    // ---- traps -------------------------------------------------------------

    /// A label of a new out-of-line `ud2` raising `code` for this operator.
    pub fn trap_label(&mut self, code: TrapCode) -> Label {
        let label = self.asm.new_label();
        self.out_of_line.push(OutOfLine::Trap {
            label,
            code,
            wasm_offset: self.wasm_offset,
        });
        label
    }

    /// Traps with `code` when `cc` holds.
    pub fn trap_if(&mut self, cc: Cc, code: TrapCode) {
        let l = self.trap_label(code);
        self.asm.jcc(cc, l);
    }

    /// An inline `ud2` (for `unreachable`).
    pub fn trap_here(&mut self, code: TrapCode) {
        let at = self.asm.offset();
        self.asm.ud2();
        self.trap_sites.push(TrapSite {
            code_offset: at,
            trap: code,
        });
    }

    /// Emits, through `emit`, one instruction that may fault (a linear
    /// memory access in the guard region) and records it as a trap site.
    pub fn guarded(&mut self, code: TrapCode, emit: impl FnOnce(&mut Assembler)) {
        let at = self.asm.offset();
        emit(&mut self.asm);
        self.trap_sites.push(TrapSite {
            code_offset: at,
            trap: code,
        });
    }

    /// Jumps to an out-of-line trap unconditionally.
    pub fn trap_always(&mut self, code: TrapCode) {
        let l = self.trap_label(code);
        self.asm.jmp(l);
    }

    /// A tier-up check's out-of-line libcall, which continues at `resume`:
    /// through the function's tier-up routine if `save_all` (registers may
    /// be live), else directly (nothing is live: the prologue's check).
    pub fn tier_up_label(&mut self, resume: Label, save_all: bool, osr_loop: Option<u32>) -> Label {
        let label = self.asm.new_label();
        if save_all && self.tier_up_routine.is_none() {
            self.tier_up_routine = Some(self.asm.new_label());
        }
        self.out_of_line.push(OutOfLine::TierUp {
            label,
            resume,
            save_all,
            wasm_offset: self.wasm_offset,
            osr_loop,
        });
        label
    }

    /// A loop's preheader, emitted out of line: the loop's entry jumps to
    /// `label`, which loads the pinned locals `preheader_loads[first..]`
    /// and goes on to `header`.
    pub fn preheader(&mut self, label: Label, header: Label, first: usize) {
        self.out_of_line.push(OutOfLine::Preheader {
            label,
            header,
            loads: first as u32..self.preheader_loads.len() as u32,
        });
    }

    /// Emits the out-of-line code after the body.
    pub fn emit_out_of_line(&mut self, tier_up: TierUpCall) {
        let items = std::mem::take(&mut self.out_of_line);
        for item in &items {
            match *item {
                OutOfLine::Trap {
                    label,
                    code,
                    wasm_offset,
                } => {
                    self.asm.bind(label);
                    let at = self.asm.offset();
                    self.push_offset(at, wasm_offset);
                    self.asm.ud2();
                    self.trap_sites.push(TrapSite {
                        code_offset: at,
                        trap: code,
                    });
                }
                OutOfLine::TierUp {
                    label,
                    resume,
                    save_all,
                    wasm_offset,
                    osr_loop,
                } => {
                    self.asm.bind(label);
                    let at = self.asm.offset();
                    self.push_offset(at, wasm_offset);
                    match self.tier_up_routine {
                        Some(routine) if save_all => {
                            self.asm.call_label(routine);
                            // The routine's return address names this
                            // back-edge.
                            if let (Some(l), Some(_)) = (osr_loop, tier_up.osr) {
                                let ret = self.asm.offset();
                                self.osr.back_edges.push((ret, l));
                            }
                        }
                        _ => self.call_tier_up(tier_up),
                    }
                    self.asm.jmp(resume);
                }
                OutOfLine::Preheader {
                    label,
                    header,
                    ref loads,
                } => {
                    self.asm.bind(label);
                    for i in loads.clone() {
                        let (r, ty, disp) = self.preheader_loads[i as usize];
                        let slot = Mem::new(Reg::Rbp, disp);
                        match ty {
                            Ty::V128 => self.asm.movdqu_rm(r, slot),
                            _ if ty.is_float() => self.asm.movs_rm(ty.size(), r, slot),
                            _ => self.asm.mov_rm(ty.size(), r, slot),
                        }
                    }
                    self.asm.jmp(header);
                }
            }
        }
        self.out_of_line = items;
        self.out_of_line.clear();
        if let Some(routine) = self.tier_up_routine {
            self.emit_tier_up_routine(routine, tier_up);
        }
    }

    /// The function's tier-up routine, called from its budget checks with
    /// the stack 16-byte aligned before the call: saves every allocatable
    /// register that SysV does not preserve (any may hold a value: 8 bytes
    /// of each, as `OsrSource::Saved` reads them; in a function with v128
    /// values also all 16 bytes of each xmm, in a second area above the
    /// first, restored from there), calls the `TierUp`
    /// libcall, restores them and returns. One per function with loops, so
    /// that each back-edge's check costs a `call` and a `jmp` of code.
    fn emit_tier_up_routine(&mut self, routine: Label, tier_up: TierUpCall) {
        self.asm.bind(routine);
        let saved = ROUTINE_SAVED;
        // 8 (return address) + area is a multiple of 16.
        let low = (saved.len() * 8).next_multiple_of(16) as i32;
        let wide = if self.v128 {
            16 * FLOAT_REGS.len() as i32
        } else {
            0
        };
        let area = low + wide + 8;
        self.asm.alu_ri(Alu::Sub, Size::S64, Reg::Rsp, area);
        for (i, &r) in saved.iter().enumerate() {
            self.store_reg(Mem::new(Reg::Rsp, 8 * i as i32), r);
        }
        if self.v128 {
            for (j, &r) in FLOAT_REGS.iter().enumerate() {
                self.asm
                    .movdqu_mr(Mem::new(Reg::Rsp, low + 16 * j as i32), r);
            }
        }
        match tier_up.osr {
            None => self.call_tier_up(tier_up),
            Some((entry, switch)) => {
                // TierUpOsr(vmctx, func, frame, saved, at) -> (entry, buffer)
                self.asm.mov_rr(Size::S64, Reg::Rdi, VMCTX);
                self.asm.mov_r32_imm(Reg::Rsi, tier_up.func);
                self.asm.mov_rr(Size::S64, Reg::Rdx, Reg::Rbp);
                self.asm.mov_rr(Size::S64, Reg::Rcx, Reg::Rsp);
                self.asm
                    .mov_rm(Size::S64, Reg::R8, Mem::new(Reg::Rsp, area));
                self.asm
                    .mov_rm(Size::S64, Reg::Rax, Mem::new(VMCTX, tier_up.libcalls));
                self.asm.call_m(Mem::new(Reg::Rax, entry));
                // An entry: leave this frame for it (the code generator's
                // switch sequence; nothing saved here is needed any more).
                self.asm.test_rr(Size::S64, Reg::Rax, Reg::Rax);
                self.asm.jcc(Cc::Ne, switch);
            }
        }
        for (i, &r) in saved.iter().enumerate() {
            if self.v128 && r.class() == rung_tiering::abi::RegClass::Float {
                continue;
            }
            self.load_reg(r, Mem::new(Reg::Rsp, 8 * i as i32));
        }
        if self.v128 {
            for (j, &r) in FLOAT_REGS.iter().enumerate() {
                self.asm
                    .movdqu_rm(r, Mem::new(Reg::Rsp, low + 16 * j as i32));
            }
        }
        self.asm.alu_ri(Alu::Add, Size::S64, Reg::Rsp, area);
        self.asm.ret(0);
    }

    /// The `TierUp` libcall itself (the stack 16-byte aligned).
    fn call_tier_up(&mut self, tier_up: TierUpCall) {
        self.asm.mov_rr(Size::S64, Reg::Rdi, VMCTX);
        self.asm.mov_r32_imm(Reg::Rsi, tier_up.func);
        self.asm
            .mov_rm(Size::S64, Reg::Rax, Mem::new(VMCTX, tier_up.libcalls));
        self.asm.call_m(Mem::new(Reg::Rax, tier_up.entry));
    }

    fn push_offset(&mut self, at: u32, wasm_offset: u32) {
        match self.offset_map.last_mut() {
            Some(last) if last.0 == at => last.1 = wasm_offset,
            Some(last) if last.1 == wasm_offset => {}
            _ => self.offset_map.push((at, wasm_offset)),
        }
    }

    /// Stores all 64 bits of `r` (an xmm register's low 64).
    fn store_reg(&mut self, m: Mem, r: Reg) {
        if r.class() == rung_tiering::abi::RegClass::Float {
            self.asm.movs_mr(Size::S64, m, r);
        } else {
            self.asm.mov_mr(Size::S64, m, r);
        }
    }

    fn load_reg(&mut self, r: Reg, m: Mem) {
        if r.class() == rung_tiering::abi::RegClass::Float {
            self.asm.movs_rm(Size::S64, r, m);
        } else {
            self.asm.mov_rm(Size::S64, r, m);
        }
    }

    // ---- moves -------------------------------------------------------------

    /// Sets integer register `dst` to `bits` (`size` wide). Never touches
    /// the flags, so it may run between a compare and its branch.
    pub fn mov_int_imm(&mut self, size: Size, dst: Reg, bits: u64) {
        match size {
            Size::S32 => self.asm.mov_r32_imm(dst, bits as u32),
            Size::S64 => self.asm.mov_r64_imm(dst, bits as i64),
        }
    }

    /// Sets xmm register `dst` to the float with bit pattern `bits`.
    /// Never touches the flags.
    pub fn mov_float_imm(&mut self, size: Size, dst: Reg, bits: u64) {
        if bits == 0 {
            self.asm.flogic_rr(FLogic::Xor, dst, dst);
        } else {
            self.mov_int_imm(size, SCRATCH, bits);
            self.asm.mov_xr(size, dst, SCRATCH);
        }
    }

    /// Loads an operand into integer register `dst`; a 32-bit operand is
    /// zero-extended (addresses and indices rely on it).
    pub fn mov_int(&mut self, size: Size, dst: Reg, src: Operand) {
        match src {
            Operand::Reg(r) if r == dst && size == Size::S64 => {}
            Operand::Reg(r) => self.asm.mov_rr(size, dst, r),
            Operand::Mem(m) => self.asm.mov_rm(size, dst, m),
            Operand::Imm(bits) => self.mov_int_imm(size, dst, bits),
        }
    }

    /// Loads an operand into xmm register `dst`.
    pub fn mov_float(&mut self, size: Size, dst: Reg, src: Operand) {
        match src {
            Operand::Reg(r) if r == dst => {}
            Operand::Reg(r) => self.asm.movaps(dst, r),
            Operand::Mem(m) => self.asm.movs_rm(size, dst, m),
            Operand::Imm(bits) => self.mov_float_imm(size, dst, bits),
        }
    }

    /// An xmm register holding `src`: itself, or `FSCRATCH` loaded with it.
    fn float_reg(&mut self, size: Size, src: Operand) -> Reg {
        match src {
            Operand::Reg(r) => r,
            other => {
                self.mov_float(size, FSCRATCH, other);
                FSCRATCH
            }
        }
    }

    // ---- integer arithmetic ---------------------------------------------------

    /// `dst = dst op src` (also `cmp dst, src`).
    pub fn int_alu(&mut self, op: Alu, size: Size, dst: Reg, src: Operand) {
        match src {
            Operand::Reg(r) => self.asm.alu_rr(op, size, dst, r),
            Operand::Mem(m) => self.asm.alu_rm(op, size, dst, m),
            Operand::Imm(bits) => {
                let v = imm_value(size, bits);
                if fits_i32(v) {
                    self.asm.alu_ri(op, size, dst, v as i32);
                } else {
                    self.asm.mov_r64_imm(SCRATCH, v);
                    self.asm.alu_rr(op, size, dst, SCRATCH);
                }
            }
        }
    }

    /// `dst = dst ± src ± CF`, 64-bit (`adc`, or `sbb` if `sub`); a `mov`
    /// of a wide immediate into the scratch register leaves the flags be.
    pub fn carry(&mut self, sub: bool, dst: Reg, src: Operand) {
        match src {
            Operand::Reg(r) => self.asm.carry_rr(sub, dst, r),
            Operand::Mem(m) => self.asm.carry_rm(sub, dst, m),
            Operand::Imm(bits) => {
                let v = bits as i64;
                if fits_i32(v) {
                    self.asm.carry_ri(sub, dst, v as i32);
                } else {
                    self.asm.mov_r64_imm(SCRATCH, v);
                    self.asm.carry_rr(sub, dst, SCRATCH);
                }
            }
        }
    }

    /// Compares `lhs` with `rhs` (`lhs` may be memory when `rhs` is an
    /// immediate or register).
    pub fn int_cmp(&mut self, size: Size, lhs: Operand, rhs: Operand) {
        match (lhs, rhs) {
            (Operand::Reg(l), rhs) => self.int_alu(Alu::Cmp, size, l, rhs),
            (Operand::Mem(m), Operand::Imm(bits)) if fits_i32(imm_value(size, bits)) => self
                .asm
                .alu_mi(Alu::Cmp, size, m, imm_value(size, bits) as i32),
            (lhs, rhs) => {
                self.mov_int(size, SCRATCH2, lhs);
                self.int_alu(Alu::Cmp, size, SCRATCH2, rhs);
            }
        }
    }

    /// Sets the flags so that `E` means `v == 0`.
    pub fn test_zero(&mut self, size: Size, v: Operand) {
        match v {
            Operand::Reg(r) => self.asm.test_rr(size, r, r),
            Operand::Mem(m) => self.asm.alu_mi(Alu::Cmp, size, m, 0),
            Operand::Imm(bits) => {
                self.mov_int_imm(size, SCRATCH, bits);
                self.asm.test_rr(size, SCRATCH, SCRATCH);
            }
        }
    }

    /// `dst = cc ? 1 : 0` as an `i32`.
    pub fn set_bool(&mut self, cc: Cc, dst: Reg) {
        self.asm.setcc(cc, dst);
        self.asm.movzx_r8(dst, dst);
    }

    pub fn int_mul(&mut self, size: Size, dst: Reg, src: Operand) {
        match src {
            Operand::Reg(r) => self.asm.imul_rr(size, dst, r),
            Operand::Mem(m) => self.asm.imul_rm(size, dst, m),
            Operand::Imm(bits) => {
                let v = imm_value(size, bits);
                if fits_i32(v) {
                    self.asm.imul_rri(size, dst, dst, v as i32);
                } else {
                    self.asm.mov_r64_imm(SCRATCH, v);
                    self.asm.imul_rr(size, dst, SCRATCH);
                }
            }
        }
    }

    /// Shift or rotate by a constant (taken modulo the width, as wasm does).
    pub fn shift_imm(&mut self, op: Shift, size: Size, dst: Reg, count: u64) {
        let mask = if size == Size::S32 { 31 } else { 63 };
        let c = (count & mask) as u8;
        if c != 0 {
            self.asm.shift_ri(op, size, dst, c);
        }
    }

    /// `clz` of `src` into `dst` (which may equal `src`).
    pub fn clz(&mut self, size: Size, dst: Reg, src: Reg) {
        if self.features.lzcnt {
            self.asm.bit_rr(BitOp::Lzcnt, size, dst, src);
            return;
        }
        let top = if size == Size::S32 { 31 } else { 63 };
        // bsr gives the index of the highest set bit (ZF and an undefined
        // result for 0); clz = top - index, with index -1 for 0.
        self.asm.bit_rr(BitOp::Bsr, size, dst, src);
        self.asm.mov_r64_imm(SCRATCH, -1);
        self.asm.cmov_rr(Cc::E, size, dst, SCRATCH);
        self.asm.mov_r32_imm(SCRATCH, top);
        self.asm.alu_rr(Alu::Sub, size, SCRATCH, dst);
        self.asm.mov_rr(size, dst, SCRATCH);
    }

    /// `ctz` of `src` into `dst`.
    pub fn ctz(&mut self, size: Size, dst: Reg, src: Reg) {
        if self.features.bmi1 {
            self.asm.bit_rr(BitOp::Tzcnt, size, dst, src);
            return;
        }
        let width = if size == Size::S32 { 32 } else { 64 };
        self.asm.bit_rr(BitOp::Bsf, size, dst, src);
        self.asm.mov_r32_imm(SCRATCH, width);
        self.asm.cmov_rr(Cc::E, size, dst, SCRATCH);
    }

    /// `popcnt` of `src` into `dst`.
    pub fn popcnt(&mut self, size: Size, dst: Reg, src: Reg) {
        if self.features.popcnt {
            self.asm.bit_rr(BitOp::Popcnt, size, dst, src);
            return;
        }
        // SWAR: pairs, nibbles, bytes, then a multiply sums the bytes.
        let (m1, m2, m4, h01, shift): (u64, u64, u64, u64, u8) = match size {
            Size::S32 => (0x5555_5555, 0x3333_3333, 0x0f0f_0f0f, 0x0101_0101, 24),
            Size::S64 => (
                0x5555_5555_5555_5555,
                0x3333_3333_3333_3333,
                0x0f0f_0f0f_0f0f_0f0f,
                0x0101_0101_0101_0101,
                56,
            ),
        };
        if dst != src {
            self.asm.mov_rr(Size::S64, dst, src);
        }
        // x -= (x >> 1) & m1
        self.asm.mov_rr(Size::S64, SCRATCH, dst);
        self.asm.shift_ri(Shift::Shr, size, SCRATCH, 1);
        self.and_imm(size, SCRATCH, m1);
        self.asm.alu_rr(Alu::Sub, size, dst, SCRATCH);
        // x = (x & m2) + ((x >> 2) & m2)
        self.asm.mov_rr(Size::S64, SCRATCH, dst);
        self.asm.shift_ri(Shift::Shr, size, SCRATCH, 2);
        self.and_imm(size, SCRATCH, m2);
        self.and_imm(size, dst, m2);
        self.asm.alu_rr(Alu::Add, size, dst, SCRATCH);
        // x = (x + (x >> 4)) & m4
        self.asm.mov_rr(Size::S64, SCRATCH, dst);
        self.asm.shift_ri(Shift::Shr, size, SCRATCH, 4);
        self.asm.alu_rr(Alu::Add, size, dst, SCRATCH);
        self.and_imm(size, dst, m4);
        // x = (x * h01) >> (width - 8)
        self.int_mul(size, dst, Operand::Imm(h01));
        self.asm.shift_ri(Shift::Shr, size, dst, shift);
    }

    fn and_imm(&mut self, size: Size, dst: Reg, bits: u64) {
        // Uses SCRATCH2 for a 64-bit mask (SCRATCH may be an operand).
        let v = imm_value(size, bits);
        if fits_i32(v) {
            self.asm.alu_ri(Alu::And, size, dst, v as i32);
        } else {
            self.asm.mov_r64_imm(SCRATCH2, v);
            self.asm.alu_rr(Alu::And, size, dst, SCRATCH2);
        }
    }

    /// Integer division or remainder. The dividend is in rax, rdx is
    /// reserved; `rhs` is the divisor (a register other than rax/rdx, or
    /// memory; an immediate is loaded into a scratch register). Leaves the
    /// quotient in rax or the remainder in rdx. Traps as wasm wants:
    /// divisor 0 (`IntegerDivisionByZero`), `INT_MIN / -1`
    /// (`IntegerOverflow`); `INT_MIN % -1` is 0.
    pub fn div_rem(&mut self, signed: bool, rem: bool, size: Size, rhs: Operand) {
        let done = self.asm.new_label();
        let rhs = match rhs {
            Operand::Imm(bits) => {
                // A constant divisor needs only the checks its value calls for.
                let v = imm_value(size, bits);
                if v == 0 {
                    self.trap_always(TrapCode::IntegerDivisionByZero);
                } else if v == -1 && signed {
                    self.minus_one_divisor(rem, size, done);
                }
                self.asm.mov_r64_imm(SCRATCH, v);
                Operand::Reg(SCRATCH)
            }
            other => {
                self.test_zero(size, other);
                self.trap_if(Cc::E, TrapCode::IntegerDivisionByZero);
                if signed {
                    // -1 needs care: INT_MIN / -1 overflows, INT_MIN % -1 is
                    // 0 (and `idiv` would fault on both).
                    let normal = self.asm.new_label();
                    self.int_cmp(size, other, Operand::Imm(u64::MAX));
                    self.asm.jcc(Cc::Ne, normal);
                    self.minus_one_divisor(rem, size, done);
                    self.asm.bind(normal);
                }
                other
            }
        };
        if signed {
            self.asm.sign_extend_rax(size);
        } else {
            self.asm.mov_r32_imm(Reg::Rdx, 0);
        }
        match rhs {
            Operand::Reg(r) => self.asm.div_r(signed, size, r),
            Operand::Mem(m) => self.asm.div_m(signed, size, m),
            Operand::Imm(_) => unreachable!("immediates were loaded above"),
        }
        self.asm.bind(done);
    }

    /// Division by -1: the remainder is 0 (jump to `done` with rdx = 0);
    /// the quotient overflows for INT_MIN and is otherwise computed by the
    /// division that follows.
    fn minus_one_divisor(&mut self, rem: bool, size: Size, done: Label) {
        if rem {
            self.asm.mov_r32_imm(Reg::Rdx, 0);
            self.asm.jmp(done);
        } else if size == Size::S32 {
            self.asm.alu_ri(Alu::Cmp, size, Reg::Rax, i32::MIN);
            self.trap_if(Cc::E, TrapCode::IntegerOverflow);
        } else {
            self.asm.mov_r64_imm(SCRATCH2, i64::MIN);
            self.asm.alu_rr(Alu::Cmp, size, Reg::Rax, SCRATCH2);
            self.trap_if(Cc::E, TrapCode::IntegerOverflow);
        }
    }

    // ---- float arithmetic -----------------------------------------------------

    /// `dst = dst op src` for add, sub, mul, div; `dst = sqrt(src)` for sqrt.
    pub fn fop(&mut self, op: FOp, size: Size, dst: Reg, src: Operand) {
        match src {
            Operand::Reg(r) => self.asm.fop_rr(op, size, dst, r),
            Operand::Mem(m) => self.asm.fop_rm(op, size, dst, m),
            Operand::Imm(bits) => {
                self.mov_float_imm(size, FSCRATCH, bits);
                self.asm.fop_rr(op, size, dst, FSCRATCH);
            }
        }
    }

    /// wasm `min`/`max`: a NaN operand gives NaN, and `-0 < +0`.
    pub fn fmin_max(&mut self, is_min: bool, size: Size, dst: Reg, src: Operand) {
        let src = self.float_reg(size, src);
        let done = self.asm.new_label();
        let not_equal = self.asm.new_label();
        let nan = self.asm.new_label();
        self.asm.ucomis_rr(size, dst, src);
        self.asm.jcc(Cc::Ne, not_equal);
        self.asm.jcc(Cc::P, nan);
        // Equal: only the signs of zeros can differ; min ORs them (so -0
        // wins), max ANDs them.
        let logic = if is_min { FLogic::Or } else { FLogic::And };
        self.asm.flogic_rr(logic, dst, src);
        self.asm.jmp(done);
        self.asm.bind(nan);
        // Either is NaN: an addition yields a NaN.
        self.asm.fop_rr(FOp::Add, size, dst, src);
        self.asm.jmp(done);
        self.asm.bind(not_equal);
        // Ordered and different: keep dst if it is the one we want.
        self.asm.jcc(if is_min { Cc::B } else { Cc::A }, done);
        self.asm.movaps(dst, src);
        self.asm.bind(done);
    }

    fn sign_mask(size: Size) -> u64 {
        match size {
            Size::S32 => 0x8000_0000,
            Size::S64 => 0x8000_0000_0000_0000,
        }
    }

    /// `abs`: clears the sign bit.
    pub fn fabs(&mut self, size: Size, dst: Reg) {
        let mask = !Self::sign_mask(size) & size_mask(size);
        self.mov_int_imm(size, SCRATCH, mask);
        self.asm.mov_xr(size, FSCRATCH, SCRATCH);
        self.asm.flogic_rr(FLogic::And, dst, FSCRATCH);
    }

    /// `neg`: flips the sign bit.
    pub fn fneg(&mut self, size: Size, dst: Reg) {
        self.mov_int_imm(size, SCRATCH, Self::sign_mask(size));
        self.asm.mov_xr(size, FSCRATCH, SCRATCH);
        self.asm.flogic_rr(FLogic::Xor, dst, FSCRATCH);
    }

    /// `copysign`: `dst`'s magnitude with `src`'s sign.
    pub fn fcopysign(&mut self, size: Size, dst: Reg, src: Operand) {
        match src {
            Operand::Reg(r) => self.asm.mov_rx(size, SCRATCH, r),
            Operand::Mem(m) => self.asm.mov_rm(size, SCRATCH, m),
            Operand::Imm(bits) => self.mov_int_imm(size, SCRATCH, bits),
        }
        self.asm.mov_rx(size, SCRATCH2, dst);
        let top = if size == Size::S32 { 31 } else { 63 };
        // SCRATCH = sign only; SCRATCH2 = magnitude only.
        self.asm.shift_ri(Shift::Shr, size, SCRATCH, top);
        self.asm.shift_ri(Shift::Shl, size, SCRATCH, top);
        self.asm.shift_ri(Shift::Shl, size, SCRATCH2, 1);
        self.asm.shift_ri(Shift::Shr, size, SCRATCH2, 1);
        self.asm.alu_rr(Alu::Or, size, SCRATCH2, SCRATCH);
        self.asm.mov_xr(size, dst, SCRATCH2);
    }

    /// Float comparison into `dst` (an `i32` 0 or 1).
    pub fn fcmp(&mut self, cmp: FCmp, size: Size, dst: Reg, a: Reg, b: Operand) {
        match cmp {
            FCmp::Eq | FCmp::Ne => {
                match b {
                    Operand::Reg(r) => self.asm.ucomis_rr(size, a, r),
                    Operand::Mem(m) => self.asm.ucomis_rm(size, a, m),
                    Operand::Imm(bits) => {
                        self.mov_float_imm(size, FSCRATCH, bits);
                        self.asm.ucomis_rr(size, a, FSCRATCH);
                    }
                }
                let (main, parity, logic) = if cmp == FCmp::Eq {
                    (Cc::E, Cc::Np, Alu::And)
                } else {
                    (Cc::Ne, Cc::P, Alu::Or)
                };
                self.asm.setcc(main, dst);
                self.asm.setcc(parity, SCRATCH);
                self.asm.movzx_r8(dst, dst);
                self.asm.movzx_r8(SCRATCH, SCRATCH);
                self.asm.alu_rr(logic, Size::S32, dst, SCRATCH);
            }
            FCmp::Gt | FCmp::Ge => {
                match b {
                    Operand::Reg(r) => self.asm.ucomis_rr(size, a, r),
                    Operand::Mem(m) => self.asm.ucomis_rm(size, a, m),
                    Operand::Imm(bits) => {
                        self.mov_float_imm(size, FSCRATCH, bits);
                        self.asm.ucomis_rr(size, a, FSCRATCH);
                    }
                }
                // Unordered sets CF, so `a`/`ae` are false for NaN.
                self.set_bool(if cmp == FCmp::Gt { Cc::A } else { Cc::Ae }, dst);
            }
            FCmp::Lt | FCmp::Le => {
                // a < b is b > a.
                let b = self.float_reg(size, b);
                self.asm.ucomis_rr(size, b, a);
                self.set_bool(if cmp == FCmp::Lt { Cc::A } else { Cc::Ae }, dst);
            }
        }
    }

    /// `ceil` (mode 2), `floor` (1), `trunc` (3), `nearest` (0, ties to even).
    pub fn fround(&mut self, size: Size, dst: Reg, mode: u8) {
        self.asm.rounds(size, dst, dst, mode);
    }

    // ---- conversions ------------------------------------------------------------

    /// Loads float constant `value` (of width `size`) into `FSCRATCH` and
    /// compares `x` with it.
    fn ucomis_const(&mut self, size: Size, x: Reg, value: f64) {
        let bits = match size {
            Size::S32 => u64::from((value as f32).to_bits()),
            Size::S64 => value.to_bits(),
        };
        self.mov_float_imm(size, FSCRATCH, bits);
        self.asm.ucomis_rr(size, x, FSCRATCH);
    }

    /// Trapping `iN.trunc_fM_s/u`: `src` (an owned xmm register that may be
    /// clobbered) into integer register `dst`.
    pub fn trunc(&mut self, fsize: Size, isize: Size, signed: bool, dst: Reg, src: Reg) {
        let done = self.asm.new_label();
        if signed {
            // cvtt returns INT_MIN for NaN and out-of-range values; only
            // then look closer.
            self.asm.cvtt_float_to_int(fsize, isize, dst, src);
            self.asm.alu_ri(Alu::Cmp, isize, dst, 1);
            self.asm.jcc(Cc::No, done);
            self.asm.ucomis_rr(fsize, src, src);
            self.trap_if(Cc::P, TrapCode::BadConversionToInteger);
            let (lo, lo_cc, hi) = match (isize, fsize) {
                // -2^31 - 1 < x < 2^31 (f64 can express the bound).
                (Size::S32, Size::S64) => (-2147483649.0, Cc::Be, 2147483648.0),
                // -2^31 <= x < 2^31 (no f32 lies between -2^31-1 and -2^31).
                (Size::S32, Size::S32) => (-2147483648.0, Cc::B, 2147483648.0),
                // -2^63 <= x < 2^63 (nothing representable in between).
                (Size::S64, _) => (-9223372036854775808.0, Cc::B, 9223372036854775808.0),
            };
            self.ucomis_const(fsize, src, lo);
            self.trap_if(lo_cc, TrapCode::IntegerOverflow);
            self.ucomis_const(fsize, src, hi);
            self.trap_if(Cc::Ae, TrapCode::IntegerOverflow);
        } else {
            // -1 < x < 2^N.
            self.asm.ucomis_rr(fsize, src, src);
            self.trap_if(Cc::P, TrapCode::BadConversionToInteger);
            self.ucomis_const(fsize, src, -1.0);
            self.trap_if(Cc::Be, TrapCode::IntegerOverflow);
            match isize {
                Size::S32 => {
                    self.ucomis_const(fsize, src, 4294967296.0);
                    self.trap_if(Cc::Ae, TrapCode::IntegerOverflow);
                    self.asm.cvtt_float_to_int(fsize, Size::S64, dst, src);
                }
                Size::S64 => {
                    self.ucomis_const(fsize, src, 18446744073709551616.0);
                    self.trap_if(Cc::Ae, TrapCode::IntegerOverflow);
                    self.trunc_u64_in_range(fsize, dst, src, done);
                }
            }
        }
        self.asm.bind(done);
    }

    /// `src` in [0, 2^64) to u64: below 2^63 directly, else subtract 2^63
    /// first and set the top bit after. Clobbers `src`.
    fn trunc_u64_in_range(&mut self, fsize: Size, dst: Reg, src: Reg, done: Label) {
        let big = self.asm.new_label();
        self.ucomis_const(fsize, src, 9223372036854775808.0);
        self.asm.jcc(Cc::Ae, big);
        self.asm.cvtt_float_to_int(fsize, Size::S64, dst, src);
        self.asm.jmp(done);
        self.asm.bind(big);
        // FSCRATCH still holds 2^63.
        self.asm.fop_rr(FOp::Sub, fsize, src, FSCRATCH);
        self.asm.cvtt_float_to_int(fsize, Size::S64, dst, src);
        self.asm.mov_r64_imm(SCRATCH, i64::MIN);
        self.asm.alu_rr(Alu::Xor, Size::S64, dst, SCRATCH);
        self.asm.jmp(done);
    }

    /// Saturating `iN.trunc_sat_fM_s/u`: NaN is 0, out of range clamps.
    /// Clobbers `src`.
    pub fn trunc_sat(&mut self, fsize: Size, isize: Size, signed: bool, dst: Reg, src: Reg) {
        let done = self.asm.new_label();
        let zero = self.asm.new_label();
        if signed {
            self.asm.cvtt_float_to_int(fsize, isize, dst, src);
            self.asm.alu_ri(Alu::Cmp, isize, dst, 1);
            self.asm.jcc(Cc::No, done);
            // INT_MIN: NaN → 0, negative → INT_MIN (exact or clamped),
            // positive → INT_MAX.
            self.asm.ucomis_rr(fsize, src, src);
            self.asm.jcc(Cc::P, zero);
            self.mov_float_imm(fsize, FSCRATCH, 0);
            self.asm.ucomis_rr(fsize, src, FSCRATCH);
            self.asm.jcc(Cc::B, done);
            let max = match isize {
                Size::S32 => i32::MAX as u64,
                Size::S64 => i64::MAX as u64,
            };
            self.mov_int_imm(isize, dst, max);
            self.asm.jmp(done);
        } else {
            let max = self.asm.new_label();
            // NaN and x <= 0 give 0 (unordered sets ZF and CF).
            self.mov_float_imm(fsize, FSCRATCH, 0);
            self.asm.ucomis_rr(fsize, src, FSCRATCH);
            self.asm.jcc(Cc::Be, zero);
            match isize {
                Size::S32 => {
                    self.ucomis_const(fsize, src, 4294967296.0);
                    self.asm.jcc(Cc::Ae, max);
                    self.asm.cvtt_float_to_int(fsize, Size::S64, dst, src);
                    self.asm.jmp(done);
                    self.asm.bind(max);
                    self.asm.mov_r32_imm(dst, u32::MAX);
                    self.asm.jmp(done);
                }
                Size::S64 => {
                    self.ucomis_const(fsize, src, 18446744073709551616.0);
                    self.asm.jcc(Cc::Ae, max);
                    self.trunc_u64_in_range(fsize, dst, src, done);
                    self.asm.bind(max);
                    self.asm.mov_r64_imm(dst, -1);
                    self.asm.jmp(done);
                }
            }
        }
        self.asm.bind(zero);
        self.asm.mov_r32_imm(dst, 0);
        self.asm.bind(done);
    }

    /// `fN.convert_iM_s/u` from integer register `src` (clobbered for u64)
    /// into `dst`.
    pub fn convert(&mut self, fsize: Size, isize: Size, signed: bool, dst: Reg, src: Reg) {
        // cvtsi2ss merges into dst; clearing it first breaks the dependency.
        self.asm.flogic_rr(FLogic::Xor, dst, dst);
        match (isize, signed) {
            (Size::S32, true) => self.asm.cvt_int_to_float(fsize, Size::S32, dst, src),
            (Size::S32, false) => {
                // Zero-extend and convert as a (non-negative) i64.
                self.asm.mov_rr(Size::S32, SCRATCH, src);
                self.asm.cvt_int_to_float(fsize, Size::S64, dst, SCRATCH);
            }
            (Size::S64, true) => self.asm.cvt_int_to_float(fsize, Size::S64, dst, src),
            (Size::S64, false) => {
                let big = self.asm.new_label();
                let done = self.asm.new_label();
                self.asm.test_rr(Size::S64, src, src);
                self.asm.jcc(Cc::S, big);
                self.asm.cvt_int_to_float(fsize, Size::S64, dst, src);
                self.asm.jmp(done);
                self.asm.bind(big);
                // Halve, keeping the low bit for correct rounding, convert,
                // double.
                self.asm.mov_rr(Size::S64, SCRATCH, src);
                self.asm.shift_ri(Shift::Shr, Size::S64, SCRATCH, 1);
                self.asm.alu_ri(Alu::And, Size::S32, src, 1);
                self.asm.alu_rr(Alu::Or, Size::S64, SCRATCH, src);
                self.asm.cvt_int_to_float(fsize, Size::S64, dst, SCRATCH);
                self.asm.fop_rr(FOp::Add, fsize, dst, dst);
                self.asm.bind(done);
            }
        }
    }
}

impl Default for MacroAssembler {
    fn default() -> Self {
        MacroAssembler::new()
    }
}

/// An immediate's value as the instruction sees it: an `i32` sign-extended
/// from its 32 bits (32-bit instructions only look at those), an `i64` as is.
fn imm_value(size: Size, bits: u64) -> i64 {
    match size {
        Size::S32 => i64::from(bits as u32 as i32),
        Size::S64 => bits as i64,
    }
}

fn size_mask(size: Size) -> u64 {
    match size {
        Size::S32 => 0xffff_ffff,
        Size::S64 => u64::MAX,
    }
}
