//! The x86-64 encoder: the only module that knows dynasmrt.
//!
//! Every instruction the baseline emits is one method here, named after the
//! instruction and its operand forms (`_rr` register ← register, `_rm`
//! register ← memory, `_mr` memory ← register, `_ri`/`_mi` with an
//! immediate). Nothing here decides *what* to emit: that is `masm.rs` (which
//! sequences implement a wasm operation) and the code generator (which
//! registers and operands). Labels are dynasmrt's dynamic labels; every
//! label reference is a 32-bit PC-relative displacement, so the code is
//! position independent and has no relocations once [`Assembler::finish`]
//! resolved them.
//!
//! Encoding notes (what dynasmrt does with run-time operands, which the
//! snapshots show): a run-time register always gets a REX prefix, a
//! run-time displacement is always 32 bits and a run-time base register
//! always gets a SIB byte. Memory operands based on `rbp` (locals and spill
//! slots, the most common ones) are therefore spelled with a static `rbp`,
//! which drops the SIB byte. Immediates given as run-time values are 32 bits.
//!
//! **Invariant:** [`Assembler::patch_i32`] is only used on the 32-bit field
//! that [`Assembler::lea_rsp_minus_patchable`] returned, whose encoding is
//! fixed (`lea r, [rsp + disp32]`), and on the displacements of the
//! `movdqu`s of value-stack v128 slots (`v128_slot_patches`).

// dynasmrt's generated code converts run-time register numbers with
// `.into()`, which clippy sees as a no-op conversion in our code.
#![allow(clippy::useless_conversion)]

use dynasmrt::{DynamicLabel, DynasmApi, DynasmLabelApi, VecAssembler, dynasm, x64::X64Relocation};
use rung_tiering::abi::Reg;

/// A code label (a dynasmrt dynamic label).
pub type Label = DynamicLabel;

/// Operand width of an integer or float instruction: 32 bits (`i32`, `f32`)
/// or 64 bits (`i64`, `f64`, references, pointers).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Size {
    S32,
    S64,
}

/// A memory operand `[base + index + disp]` (the index is scaled by one).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Mem {
    pub base: Reg,
    pub index: Option<Reg>,
    pub disp: i32,
}

impl Mem {
    pub fn new(base: Reg, disp: i32) -> Mem {
        Mem {
            base,
            index: None,
            disp,
        }
    }

    pub fn indexed(base: Reg, index: Reg, disp: i32) -> Mem {
        Mem {
            base,
            index: Some(index),
            disp,
        }
    }
}

/// SSE instructions of the form `op xmm, xmm` (SIMD, `simd.rs`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VOp {
    Pminsb,
    Pminsw,
    Pminsd,
    Pmaxsb,
    Pmaxsw,
    Pmaxsd,
    Pabsb,
    Pabsw,
    Pabsd,
    Pavgb,
    Pavgw,
    Pmullw,
    Pmulld,
    Pmaddwd,
    Packsswb,
    Packuswb,
    Packssdw,
    Packusdw,
    Pmovsxbw,
    Pmovzxbw,
    Pmovsxwd,
    Pmovzxwd,
    Pmovsxdq,
    Pmovzxdq,
    Psllw,
    Pslld,
    Psllq,
    Psrlw,
    Psrld,
    Psrlq,
    Psraw,
    Psrad,
    Paddb,
    Paddw,
    Paddd,
    Paddq,
    Psubb,
    Psubw,
    Psubd,
    Psubq,
    Paddsb,
    Paddsw,
    Paddusb,
    Paddusw,
    Psubsb,
    Psubsw,
    Psubusb,
    Psubusw,
    Pand,
    Pandn,
    Por,
    Pxor,
    Pcmpeqb,
    Pcmpeqw,
    Pcmpeqd,
    Pcmpeqq,
    Pcmpgtb,
    Pcmpgtw,
    Pcmpgtd,
    Pminub,
    Pminuw,
    Pminud,
    Pmaxub,
    Pmaxuw,
    Pmaxud,
    Pshufb,
    Punpcklqdq,
    Addps,
    Addpd,
    Subps,
    Subpd,
    Mulps,
    Mulpd,
    Divps,
    Divpd,
    Sqrtps,
    Sqrtpd,
    Andps,
    Xorps,
    Movsd,
    Movlhps,
    Pmulhrsw,
    Pmaddubsw,
    Phaddw,
    Phaddd,
    Pmuludq,
    Pmuldq,
    Minps,
    Minpd,
    Maxps,
    Maxpd,
    Cvtdq2ps,
    Cvttps2dq,
    Cvtdq2pd,
    Cvttpd2dq,
    Cvtpd2ps,
    Cvtps2pd,
    Unpcklps,
    Punpcklbw,
    Punpckhbw,
}

/// Loads into an xmm register (`Assembler::vload`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VLoad {
    Zero32,
    Zero64,
    Sxbw,
    Zxbw,
    Sxwd,
    Zxwd,
    Sxdq,
    Zxdq,
}

/// Lane shifts by an immediate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VShift {
    Psrld,
    Pslld,
    Psrlq,
    Psllq,
    Psrlw,
    Psllw,
    Psrad,
}

/// x86 condition codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cc {
    O,
    No,
    B,
    Ae,
    E,
    Ne,
    Be,
    A,
    S,
    Ns,
    P,
    Np,
    L,
    Ge,
    Le,
    G,
}

impl Cc {
    /// The condition that holds exactly when `self` does not.
    pub fn invert(self) -> Cc {
        match self {
            Cc::O => Cc::No,
            Cc::No => Cc::O,
            Cc::B => Cc::Ae,
            Cc::Ae => Cc::B,
            Cc::E => Cc::Ne,
            Cc::Ne => Cc::E,
            Cc::Be => Cc::A,
            Cc::A => Cc::Be,
            Cc::S => Cc::Ns,
            Cc::Ns => Cc::S,
            Cc::P => Cc::Np,
            Cc::Np => Cc::P,
            Cc::L => Cc::Ge,
            Cc::Ge => Cc::L,
            Cc::Le => Cc::G,
            Cc::G => Cc::Le,
        }
    }

    /// The condition after swapping the operands of the compare.
    pub fn swap(self) -> Cc {
        match self {
            Cc::B => Cc::A,
            Cc::A => Cc::B,
            Cc::Ae => Cc::Be,
            Cc::Be => Cc::Ae,
            Cc::L => Cc::G,
            Cc::G => Cc::L,
            Cc::Le => Cc::Ge,
            Cc::Ge => Cc::Le,
            other => other,
        }
    }
}

/// Two-operand integer ALU instructions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Alu {
    Add,
    Sub,
    And,
    Or,
    Xor,
    Cmp,
}

/// Shifts and rotates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shift {
    Shl,
    Shr,
    Sar,
    Rol,
    Ror,
}

/// Bit-counting instructions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BitOp {
    Lzcnt,
    Tzcnt,
    Popcnt,
    Bsr,
    Bsf,
}

/// Scalar SSE arithmetic (`ss`/`sd` forms).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FOp {
    Add,
    Sub,
    Mul,
    Div,
    Sqrt,
}

/// SSE bitwise operations (`ps` forms, register operands only: a memory
/// operand would read 16 bytes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FLogic {
    And,
    Or,
    Xor,
}

/// The assembler: a byte buffer with dynasmrt's labels.
pub struct Assembler {
    ops: VecAssembler<X64Relocation>,
    /// `movdqu`s of value-stack v128 slots (`Frame::v128_slot`): the code
    /// offset of each one's 32-bit displacement and the slot's position,
    /// patched once the frame's size is known (`lib.rs`).
    pub v128_slot_patches: Vec<(u32, u32)>,
}

impl Default for Assembler {
    fn default() -> Self {
        Assembler::new()
    }
}

fn e(r: Reg) -> u8 {
    r.hw_enc()
}

const RBP: u8 = 5;

// ---- operand-form helpers ---------------------------------------------------
//
// `$dfam($d)` is a dynasm register family with a run-time number (`Rd(n)`,
// `Rq(n)`, `Rx(n)`, `Rb(n)`, `Rw(n)`), `$sz` a dynasm size keyword.

macro_rules! op_rm {
    ($ops:expr, $mn:ident, $dfam:ident($d:expr), $sz:ident, $m:expr) => {{
        let m: Mem = $m;
        let b = e(m.base);
        let disp = m.disp;
        match m.index {
            None if b == RBP => dynasm!($ops ; .arch x64 ; $mn $dfam($d), $sz [rbp + disp]),
            None => dynasm!($ops ; .arch x64 ; $mn $dfam($d), $sz [Rq(b) + disp]),
            Some(i) => {
                let i = e(i);
                dynasm!($ops ; .arch x64 ; $mn $dfam($d), $sz [Rq(b) + Rq(i) + disp])
            }
        }
    }};
}

macro_rules! op_mr {
    ($ops:expr, $mn:ident, $sz:ident, $m:expr, $sfam:ident($s:expr)) => {{
        let m: Mem = $m;
        let b = e(m.base);
        let disp = m.disp;
        match m.index {
            None if b == RBP => dynasm!($ops ; .arch x64 ; $mn $sz [rbp + disp], $sfam($s)),
            None => dynasm!($ops ; .arch x64 ; $mn $sz [Rq(b) + disp], $sfam($s)),
            Some(i) => {
                let i = e(i);
                dynasm!($ops ; .arch x64 ; $mn $sz [Rq(b) + Rq(i) + disp], $sfam($s))
            }
        }
    }};
}

macro_rules! op_mi {
    ($ops:expr, $mn:ident, $sz:ident, $m:expr, $imm:expr) => {{
        let m: Mem = $m;
        let b = e(m.base);
        let disp = m.disp;
        let imm = $imm;
        match m.index {
            None if b == RBP => dynasm!($ops ; .arch x64 ; $mn $sz [rbp + disp], imm),
            None => dynasm!($ops ; .arch x64 ; $mn $sz [Rq(b) + disp], imm),
            Some(i) => {
                let i = e(i);
                dynasm!($ops ; .arch x64 ; $mn $sz [Rq(b) + Rq(i) + disp], imm)
            }
        }
    }};
}

macro_rules! op_m {
    ($ops:expr, $mn:ident, $sz:ident, $m:expr) => {{
        let m: Mem = $m;
        let b = e(m.base);
        let disp = m.disp;
        match m.index {
            None if b == RBP => dynasm!($ops ; .arch x64 ; $mn $sz [rbp + disp]),
            None => dynasm!($ops ; .arch x64 ; $mn $sz [Rq(b) + disp]),
            Some(i) => {
                let i = e(i);
                dynasm!($ops ; .arch x64 ; $mn $sz [Rq(b) + Rq(i) + disp])
            }
        }
    }};
}

/// Dispatches on a condition code: `by_cc!(cc, m!(args))` expands to
/// `m!(jo, args)` … for the matching mnemonic family given as the first
/// ident list.
macro_rules! by_cc {
    ($cc:expr, [$o:ident, $no:ident, $b:ident, $ae:ident, $e:ident, $ne:ident, $be:ident, $a:ident,
      $s:ident, $ns:ident, $p:ident, $np:ident, $l:ident, $ge:ident, $le:ident, $g:ident],
     $mac:ident!($($args:tt)*)) => {
        match $cc {
            Cc::O => $mac!($o, $($args)*),
            Cc::No => $mac!($no, $($args)*),
            Cc::B => $mac!($b, $($args)*),
            Cc::Ae => $mac!($ae, $($args)*),
            Cc::E => $mac!($e, $($args)*),
            Cc::Ne => $mac!($ne, $($args)*),
            Cc::Be => $mac!($be, $($args)*),
            Cc::A => $mac!($a, $($args)*),
            Cc::S => $mac!($s, $($args)*),
            Cc::Ns => $mac!($ns, $($args)*),
            Cc::P => $mac!($p, $($args)*),
            Cc::Np => $mac!($np, $($args)*),
            Cc::L => $mac!($l, $($args)*),
            Cc::Ge => $mac!($ge, $($args)*),
            Cc::Le => $mac!($le, $($args)*),
            Cc::G => $mac!($g, $($args)*),
        }
    };
}

macro_rules! jcc_label {
    ($mn:ident, $ops:expr, $l:expr) => {
        dynasm!($ops ; .arch x64 ; $mn =>$l)
    };
}
macro_rules! setcc_r {
    ($mn:ident, $ops:expr, $r:expr) => {
        dynasm!($ops ; .arch x64 ; $mn Rb($r))
    };
}
macro_rules! cmov_rr {
    ($mn:ident, $ops:expr, $fam:ident, $d:expr, $s:expr) => {
        dynasm!($ops ; .arch x64 ; $mn $fam($d), $fam($s))
    };
}
macro_rules! cmov_rm {
    ($mn:ident, $ops:expr, $fam:ident, $d:expr, $sz:ident, $m:expr) => {
        op_rm!($ops, $mn, $fam($d), $sz, $m)
    };
}

macro_rules! by_alu {
    ($op:expr, $mac:ident!($($args:tt)*)) => {
        match $op {
            Alu::Add => $mac!(add, $($args)*),
            Alu::Sub => $mac!(sub, $($args)*),
            Alu::And => $mac!(and, $($args)*),
            Alu::Or => $mac!(or, $($args)*),
            Alu::Xor => $mac!(xor, $($args)*),
            Alu::Cmp => $mac!(cmp, $($args)*),
        }
    };
}

macro_rules! by_shift {
    ($op:expr, $mac:ident!($($args:tt)*)) => {
        match $op {
            Shift::Shl => $mac!(shl, $($args)*),
            Shift::Shr => $mac!(shr, $($args)*),
            Shift::Sar => $mac!(sar, $($args)*),
            Shift::Rol => $mac!(rol, $($args)*),
            Shift::Ror => $mac!(ror, $($args)*),
        }
    };
}

macro_rules! by_bitop {
    ($op:expr, $mac:ident!($($args:tt)*)) => {
        match $op {
            BitOp::Lzcnt => $mac!(lzcnt, $($args)*),
            BitOp::Tzcnt => $mac!(tzcnt, $($args)*),
            BitOp::Popcnt => $mac!(popcnt, $($args)*),
            BitOp::Bsr => $mac!(bsr, $($args)*),
            BitOp::Bsf => $mac!(bsf, $($args)*),
        }
    };
}

macro_rules! rr {
    ($mn:ident, $ops:expr, $fam:ident, $d:expr, $s:expr) => {
        dynasm!($ops ; .arch x64 ; $mn $fam($d), $fam($s))
    };
}
macro_rules! rm {
    ($mn:ident, $ops:expr, $fam:ident, $d:expr, $sz:ident, $m:expr) => {
        op_rm!($ops, $mn, $fam($d), $sz, $m)
    };
}
macro_rules! ri {
    ($mn:ident, $ops:expr, $fam:ident, $d:expr, $imm:expr) => {
        dynasm!($ops ; .arch x64 ; $mn $fam($d), $imm)
    };
}
macro_rules! ri_dword {
    ($mn:ident, $ops:expr, $fam:ident, $d:expr, $imm:expr) => {
        dynasm!($ops ; .arch x64 ; $mn $fam($d), DWORD $imm)
    };
}
macro_rules! mi {
    ($mn:ident, $ops:expr, $sz:ident, $m:expr, $imm:expr) => {
        op_mi!($ops, $mn, $sz, $m, $imm)
    };
}
macro_rules! shift_cl {
    ($mn:ident, $ops:expr, $fam:ident, $d:expr) => {
        dynasm!($ops ; .arch x64 ; $mn $fam($d), cl)
    };
}

macro_rules! by_fop {
    ($op:expr, $size:expr, $mac:ident!($($args:tt)*)) => {
        match ($op, $size) {
            (FOp::Add, Size::S32) => $mac!(addss, $($args)*),
            (FOp::Add, Size::S64) => $mac!(addsd, $($args)*),
            (FOp::Sub, Size::S32) => $mac!(subss, $($args)*),
            (FOp::Sub, Size::S64) => $mac!(subsd, $($args)*),
            (FOp::Mul, Size::S32) => $mac!(mulss, $($args)*),
            (FOp::Mul, Size::S64) => $mac!(mulsd, $($args)*),
            (FOp::Div, Size::S32) => $mac!(divss, $($args)*),
            (FOp::Div, Size::S64) => $mac!(divsd, $($args)*),
            (FOp::Sqrt, Size::S32) => $mac!(sqrtss, $($args)*),
            (FOp::Sqrt, Size::S64) => $mac!(sqrtsd, $($args)*),
        }
    };
}

macro_rules! by_vop {
    ($op:expr, $mac:ident!($($args:tt)*)) => {
        match $op {
            VOp::Pminsb => $mac!(pminsb, $($args)*),
            VOp::Pminsw => $mac!(pminsw, $($args)*),
            VOp::Pminsd => $mac!(pminsd, $($args)*),
            VOp::Pmaxsb => $mac!(pmaxsb, $($args)*),
            VOp::Pmaxsw => $mac!(pmaxsw, $($args)*),
            VOp::Pmaxsd => $mac!(pmaxsd, $($args)*),
            VOp::Pabsb => $mac!(pabsb, $($args)*),
            VOp::Pabsw => $mac!(pabsw, $($args)*),
            VOp::Pabsd => $mac!(pabsd, $($args)*),
            VOp::Pavgb => $mac!(pavgb, $($args)*),
            VOp::Pavgw => $mac!(pavgw, $($args)*),
            VOp::Pmullw => $mac!(pmullw, $($args)*),
            VOp::Pmulld => $mac!(pmulld, $($args)*),
            VOp::Pmaddwd => $mac!(pmaddwd, $($args)*),
            VOp::Packsswb => $mac!(packsswb, $($args)*),
            VOp::Packuswb => $mac!(packuswb, $($args)*),
            VOp::Packssdw => $mac!(packssdw, $($args)*),
            VOp::Packusdw => $mac!(packusdw, $($args)*),
            VOp::Pmovsxbw => $mac!(pmovsxbw, $($args)*),
            VOp::Pmovzxbw => $mac!(pmovzxbw, $($args)*),
            VOp::Pmovsxwd => $mac!(pmovsxwd, $($args)*),
            VOp::Pmovzxwd => $mac!(pmovzxwd, $($args)*),
            VOp::Pmovsxdq => $mac!(pmovsxdq, $($args)*),
            VOp::Pmovzxdq => $mac!(pmovzxdq, $($args)*),
            VOp::Psllw => $mac!(psllw, $($args)*),
            VOp::Pslld => $mac!(pslld, $($args)*),
            VOp::Psllq => $mac!(psllq, $($args)*),
            VOp::Psrlw => $mac!(psrlw, $($args)*),
            VOp::Psrld => $mac!(psrld, $($args)*),
            VOp::Psrlq => $mac!(psrlq, $($args)*),
            VOp::Psraw => $mac!(psraw, $($args)*),
            VOp::Psrad => $mac!(psrad, $($args)*),
            VOp::Paddb => $mac!(paddb, $($args)*),
            VOp::Paddw => $mac!(paddw, $($args)*),
            VOp::Paddd => $mac!(paddd, $($args)*),
            VOp::Paddq => $mac!(paddq, $($args)*),
            VOp::Psubb => $mac!(psubb, $($args)*),
            VOp::Psubw => $mac!(psubw, $($args)*),
            VOp::Psubd => $mac!(psubd, $($args)*),
            VOp::Psubq => $mac!(psubq, $($args)*),
            VOp::Paddsb => $mac!(paddsb, $($args)*),
            VOp::Paddsw => $mac!(paddsw, $($args)*),
            VOp::Paddusb => $mac!(paddusb, $($args)*),
            VOp::Paddusw => $mac!(paddusw, $($args)*),
            VOp::Psubsb => $mac!(psubsb, $($args)*),
            VOp::Psubsw => $mac!(psubsw, $($args)*),
            VOp::Psubusb => $mac!(psubusb, $($args)*),
            VOp::Psubusw => $mac!(psubusw, $($args)*),
            VOp::Pand => $mac!(pand, $($args)*),
            VOp::Pandn => $mac!(pandn, $($args)*),
            VOp::Por => $mac!(por, $($args)*),
            VOp::Pxor => $mac!(pxor, $($args)*),
            VOp::Pcmpeqb => $mac!(pcmpeqb, $($args)*),
            VOp::Pcmpeqw => $mac!(pcmpeqw, $($args)*),
            VOp::Pcmpeqd => $mac!(pcmpeqd, $($args)*),
            VOp::Pcmpeqq => $mac!(pcmpeqq, $($args)*),
            VOp::Pcmpgtb => $mac!(pcmpgtb, $($args)*),
            VOp::Pcmpgtw => $mac!(pcmpgtw, $($args)*),
            VOp::Pcmpgtd => $mac!(pcmpgtd, $($args)*),
            VOp::Pminub => $mac!(pminub, $($args)*),
            VOp::Pminuw => $mac!(pminuw, $($args)*),
            VOp::Pminud => $mac!(pminud, $($args)*),
            VOp::Pmaxub => $mac!(pmaxub, $($args)*),
            VOp::Pmaxuw => $mac!(pmaxuw, $($args)*),
            VOp::Pmaxud => $mac!(pmaxud, $($args)*),
            VOp::Pshufb => $mac!(pshufb, $($args)*),
            VOp::Punpcklqdq => $mac!(punpcklqdq, $($args)*),
            VOp::Addps => $mac!(addps, $($args)*),
            VOp::Addpd => $mac!(addpd, $($args)*),
            VOp::Subps => $mac!(subps, $($args)*),
            VOp::Subpd => $mac!(subpd, $($args)*),
            VOp::Mulps => $mac!(mulps, $($args)*),
            VOp::Mulpd => $mac!(mulpd, $($args)*),
            VOp::Divps => $mac!(divps, $($args)*),
            VOp::Divpd => $mac!(divpd, $($args)*),
            VOp::Sqrtps => $mac!(sqrtps, $($args)*),
            VOp::Sqrtpd => $mac!(sqrtpd, $($args)*),
            VOp::Andps => $mac!(andps, $($args)*),
            VOp::Xorps => $mac!(xorps, $($args)*),
            VOp::Movsd => $mac!(movsd, $($args)*),
            VOp::Movlhps => $mac!(movlhps, $($args)*),
            VOp::Pmulhrsw => $mac!(pmulhrsw, $($args)*),
            VOp::Pmaddubsw => $mac!(pmaddubsw, $($args)*),
            VOp::Phaddw => $mac!(phaddw, $($args)*),
            VOp::Phaddd => $mac!(phaddd, $($args)*),
            VOp::Pmuludq => $mac!(pmuludq, $($args)*),
            VOp::Pmuldq => $mac!(pmuldq, $($args)*),
            VOp::Minps => $mac!(minps, $($args)*),
            VOp::Minpd => $mac!(minpd, $($args)*),
            VOp::Maxps => $mac!(maxps, $($args)*),
            VOp::Maxpd => $mac!(maxpd, $($args)*),
            VOp::Cvtdq2ps => $mac!(cvtdq2ps, $($args)*),
            VOp::Cvttps2dq => $mac!(cvttps2dq, $($args)*),
            VOp::Cvtdq2pd => $mac!(cvtdq2pd, $($args)*),
            VOp::Cvttpd2dq => $mac!(cvttpd2dq, $($args)*),
            VOp::Cvtpd2ps => $mac!(cvtpd2ps, $($args)*),
            VOp::Cvtps2pd => $mac!(cvtps2pd, $($args)*),
            VOp::Unpcklps => $mac!(unpcklps, $($args)*),
            VOp::Punpcklbw => $mac!(punpcklbw, $($args)*),
            VOp::Punpckhbw => $mac!(punpckhbw, $($args)*),
        }
    };
}

impl Assembler {
    pub fn new() -> Assembler {
        Assembler {
            ops: VecAssembler::new(0),
            v128_slot_patches: Vec::new(),
        }
    }

    /// The current code offset.
    pub fn offset(&self) -> u32 {
        self.ops.offset().0 as u32
    }

    /// Reserves room for `bytes` more bytes of code.
    pub fn reserve(&mut self, bytes: usize) {
        self.ops.reserve_ops(bytes);
    }

    pub fn new_label(&mut self) -> Label {
        self.ops.new_dynamic_label()
    }

    /// Binds `label` to the current offset.
    pub fn bind(&mut self, label: Label) {
        dynasm!(self.ops ; .arch x64 ; =>label);
    }

    /// Resolves every label reference and returns the code (in a vector of
    /// its exact size), leaving the assembler empty; its buffer and label
    /// tables keep their allocations for the next function.
    pub fn finish(&mut self) -> Result<Vec<u8>, String> {
        let code = self.ops.drain().map_err(|e| format!("assembler: {e}"))?;
        Ok(code.collect())
    }

    /// Discards everything emitted so far (after an error).
    pub fn reset(&mut self) {
        self.ops = VecAssembler::new(0);
        self.v128_slot_patches.clear();
    }

    /// Overwrites the `len` (1 to 9) bytes at `at` with one NOP of that
    /// length (the forms Intel's manual recommends).
    pub fn patch_nop(code: &mut [u8], at: u32, len: u8) {
        const NOPS: [&[u8]; 9] = [
            &[0x90],
            &[0x66, 0x90],
            &[0x0f, 0x1f, 0x00],
            &[0x0f, 0x1f, 0x40, 0],
            &[0x0f, 0x1f, 0x44, 0, 0],
            &[0x66, 0x0f, 0x1f, 0x44, 0, 0],
            &[0x0f, 0x1f, 0x80, 0, 0, 0, 0],
            &[0x0f, 0x1f, 0x84, 0, 0, 0, 0, 0],
            &[0x66, 0x0f, 0x1f, 0x84, 0, 0, 0, 0, 0],
        ];
        let at = at as usize;
        let nop = NOPS[usize::from(len) - 1];
        code[at..at + nop.len()].copy_from_slice(nop);
    }

    /// Overwrites the 32-bit little-endian field at `at` in `code`.
    pub fn patch_i32(code: &mut [u8], at: u32, value: i32) {
        let at = at as usize;
        code[at..at + 4].copy_from_slice(&value.to_le_bytes());
    }

    // ---- integer moves ------------------------------------------------------

    pub fn mov_rr(&mut self, size: Size, dst: Reg, src: Reg) {
        match size {
            Size::S32 => dynasm!(self.ops ; .arch x64 ; mov Rd(e(dst)), Rd(e(src))),
            Size::S64 => dynasm!(self.ops ; .arch x64 ; mov Rq(e(dst)), Rq(e(src))),
        }
    }

    pub fn mov_rm(&mut self, size: Size, dst: Reg, m: Mem) {
        match size {
            Size::S32 => op_rm!(self.ops, mov, Rd(e(dst)), DWORD, m),
            Size::S64 => op_rm!(self.ops, mov, Rq(e(dst)), QWORD, m),
        }
    }

    pub fn mov_mr(&mut self, size: Size, m: Mem, src: Reg) {
        match size {
            Size::S32 => op_mr!(self.ops, mov, DWORD, m, Rd(e(src))),
            Size::S64 => op_mr!(self.ops, mov, QWORD, m, Rq(e(src))),
        }
    }

    /// Stores the low 8 bits of `src`.
    pub fn mov_mr8(&mut self, m: Mem, src: Reg) {
        op_mr!(self.ops, mov, BYTE, m, Rb(e(src)))
    }

    /// Stores the low 16 bits of `src`.
    pub fn mov_mr16(&mut self, m: Mem, src: Reg) {
        op_mr!(self.ops, mov, WORD, m, Rw(e(src)))
    }

    /// `mov dst32, imm32`: sets the register to the zero-extended value.
    pub fn mov_r32_imm(&mut self, dst: Reg, imm: u32) {
        let imm = imm as i32;
        dynasm!(self.ops ; .arch x64 ; mov Rd(e(dst)), imm)
    }

    /// Sets the 64-bit register to `imm`, in the shortest of the three forms.
    pub fn mov_r64_imm(&mut self, dst: Reg, imm: i64) {
        if let Ok(v) = u32::try_from(imm) {
            self.mov_r32_imm(dst, v);
        } else if let Ok(v) = i32::try_from(imm) {
            dynasm!(self.ops ; .arch x64 ; mov Rq(e(dst)), DWORD v)
        } else {
            dynasm!(self.ops ; .arch x64 ; mov Rq(e(dst)), QWORD imm)
        }
    }

    /// Stores an immediate (sign-extended to 64 bits for `S64`).
    pub fn mov_mi(&mut self, size: Size, m: Mem, imm: i32) {
        match size {
            Size::S32 => op_mi!(self.ops, mov, DWORD, m, imm),
            Size::S64 => op_mi!(self.ops, mov, QWORD, m, imm),
        }
    }

    pub fn mov_mi8(&mut self, m: Mem, imm: i8) {
        op_mi!(self.ops, mov, BYTE, m, imm)
    }

    pub fn mov_mi16(&mut self, m: Mem, imm: i16) {
        op_mi!(self.ops, mov, WORD, m, imm)
    }

    /// Loads 8, 16 or 32 bits, zero- or sign-extended to `to`.
    pub fn load_ext(&mut self, dst: Reg, m: Mem, from_bytes: u32, signed: bool, to: Size) {
        let d = e(dst);
        match (from_bytes, signed, to) {
            (1, false, _) => op_rm!(self.ops, movzx, Rd(d), BYTE, m),
            (2, false, _) => op_rm!(self.ops, movzx, Rd(d), WORD, m),
            (1, true, Size::S32) => op_rm!(self.ops, movsx, Rd(d), BYTE, m),
            (2, true, Size::S32) => op_rm!(self.ops, movsx, Rd(d), WORD, m),
            (1, true, Size::S64) => op_rm!(self.ops, movsx, Rq(d), BYTE, m),
            (2, true, Size::S64) => op_rm!(self.ops, movsx, Rq(d), WORD, m),
            (4, true, Size::S64) => op_rm!(self.ops, movsxd, Rq(d), DWORD, m),
            (4, _, _) => op_rm!(self.ops, mov, Rd(d), DWORD, m),
            _ => op_rm!(self.ops, mov, Rq(d), QWORD, m),
        }
    }

    /// Sign-extends the low `from_bytes` of `src` into `dst` (`to` wide).
    pub fn sext_rr(&mut self, dst: Reg, src: Reg, from_bytes: u32, to: Size) {
        let (d, s) = (e(dst), e(src));
        match (from_bytes, to) {
            (1, Size::S32) => dynasm!(self.ops ; .arch x64 ; movsx Rd(d), Rb(s)),
            (2, Size::S32) => dynasm!(self.ops ; .arch x64 ; movsx Rd(d), Rw(s)),
            (1, Size::S64) => dynasm!(self.ops ; .arch x64 ; movsx Rq(d), Rb(s)),
            (2, Size::S64) => dynasm!(self.ops ; .arch x64 ; movsx Rq(d), Rw(s)),
            _ => dynasm!(self.ops ; .arch x64 ; movsxd Rq(d), Rd(s)),
        }
    }

    /// `movzx dst32, src8`.
    pub fn movzx_r8(&mut self, dst: Reg, src: Reg) {
        dynasm!(self.ops ; .arch x64 ; movzx Rd(e(dst)), Rb(e(src)))
    }

    pub fn lea(&mut self, dst: Reg, m: Mem) {
        let d = e(dst);
        let b = e(m.base);
        let disp = m.disp;
        match m.index {
            None => dynasm!(self.ops ; .arch x64 ; lea Rq(d), [Rq(b) + disp]),
            Some(i) => {
                let i = e(i);
                dynasm!(self.ops ; .arch x64 ; lea Rq(d), [Rq(b) + Rq(i) + disp])
            }
        }
    }

    /// `lea dst, [base + disp]` at `size` (a 32-bit `lea` keeps the low
    /// 32 bits of the sum, zero-extended).
    pub fn lea_disp(&mut self, size: Size, dst: Reg, base: Reg, disp: i32) {
        let (d, b) = (e(dst), e(base));
        match size {
            Size::S32 => dynasm!(self.ops ; .arch x64 ; lea Rd(d), [Rq(b) + disp]),
            Size::S64 => dynasm!(self.ops ; .arch x64 ; lea Rq(d), [Rq(b) + disp]),
        }
    }

    /// `lea dst, [a + b]` at `size` (a 32-bit `lea` keeps the low 32 bits
    /// of the sum, zero-extended).
    pub fn lea_sum(&mut self, size: Size, dst: Reg, a: Reg, b: Reg) {
        let (d, a, b) = (e(dst), e(a), e(b));
        match size {
            Size::S32 => dynasm!(self.ops ; .arch x64 ; lea Rd(d), [Rq(a) + Rq(b)]),
            Size::S64 => dynasm!(self.ops ; .arch x64 ; lea Rq(d), [Rq(a) + Rq(b)]),
        }
    }

    /// `lea dst, [base + index * scale]`, scale 1, 2, 4 or 8.
    pub fn lea_scaled(&mut self, dst: Reg, base: Reg, index: Reg, scale: u8) {
        let (d, b, i) = (e(dst), e(base), e(index));
        match scale {
            1 => dynasm!(self.ops ; .arch x64 ; lea Rq(d), [Rq(b) + Rq(i)]),
            2 => dynasm!(self.ops ; .arch x64 ; lea Rq(d), [Rq(b) + Rq(i) * 2]),
            4 => dynasm!(self.ops ; .arch x64 ; lea Rq(d), [Rq(b) + Rq(i) * 4]),
            _ => dynasm!(self.ops ; .arch x64 ; lea Rq(d), [Rq(b) + Rq(i) * 8]),
        }
    }

    /// `lea dst, [rip + label]`.
    pub fn lea_label(&mut self, dst: Reg, label: Label) {
        dynasm!(self.ops ; .arch x64 ; lea Rq(e(dst)), [=>label])
    }

    /// `lea dst, [rsp - disp32]` with a displacement to patch later; returns
    /// the offset of the 32-bit displacement field.
    pub fn lea_rsp_minus_patchable(&mut self, dst: Reg) -> u32 {
        let placeholder: i32 = -0x7fff_fff0;
        dynasm!(self.ops ; .arch x64 ; lea Rq(e(dst)), [rsp + placeholder]);
        self.offset() - 4
    }

    pub fn xchg_rr(&mut self, a: Reg, b: Reg) {
        dynasm!(self.ops ; .arch x64 ; xchg Rq(e(a)), Rq(e(b)))
    }

    // ---- integer arithmetic -------------------------------------------------

    pub fn alu_rr(&mut self, op: Alu, size: Size, dst: Reg, src: Reg) {
        let (d, s) = (e(dst), e(src));
        match size {
            Size::S32 => by_alu!(op, rr!(self.ops, Rd, d, s)),
            Size::S64 => by_alu!(op, rr!(self.ops, Rq, d, s)),
        }
    }

    pub fn alu_rm(&mut self, op: Alu, size: Size, dst: Reg, m: Mem) {
        let d = e(dst);
        match size {
            Size::S32 => by_alu!(op, rm!(self.ops, Rd, d, DWORD, m)),
            Size::S64 => by_alu!(op, rm!(self.ops, Rq, d, QWORD, m)),
        }
    }

    /// `op dst, imm32` (sign-extended for `S64`).
    pub fn alu_ri(&mut self, op: Alu, size: Size, dst: Reg, imm: i32) {
        let d = e(dst);
        match size {
            Size::S32 => by_alu!(op, ri!(self.ops, Rd, d, imm)),
            Size::S64 => by_alu!(op, ri_dword!(self.ops, Rq, d, imm)),
        }
    }

    pub fn alu_mi(&mut self, op: Alu, size: Size, m: Mem, imm: i32) {
        match size {
            Size::S32 => by_alu!(op, mi!(self.ops, DWORD, m, imm)),
            Size::S64 => by_alu!(op, mi!(self.ops, QWORD, m, imm)),
        }
    }

    pub fn test_rr(&mut self, size: Size, a: Reg, b: Reg) {
        match size {
            Size::S32 => dynasm!(self.ops ; .arch x64 ; test Rd(e(a)), Rd(e(b))),
            Size::S64 => dynasm!(self.ops ; .arch x64 ; test Rq(e(a)), Rq(e(b))),
        }
    }

    pub fn imul_rr(&mut self, size: Size, dst: Reg, src: Reg) {
        let (d, s) = (e(dst), e(src));
        match size {
            Size::S32 => dynasm!(self.ops ; .arch x64 ; imul Rd(d), Rd(s)),
            Size::S64 => dynasm!(self.ops ; .arch x64 ; imul Rq(d), Rq(s)),
        }
    }

    pub fn imul_rm(&mut self, size: Size, dst: Reg, m: Mem) {
        let d = e(dst);
        match size {
            Size::S32 => op_rm!(self.ops, imul, Rd(d), DWORD, m),
            Size::S64 => op_rm!(self.ops, imul, Rq(d), QWORD, m),
        }
    }

    pub fn imul_rri(&mut self, size: Size, dst: Reg, src: Reg, imm: i32) {
        let (d, s) = (e(dst), e(src));
        match size {
            Size::S32 => dynasm!(self.ops ; .arch x64 ; imul Rd(d), Rd(s), imm),
            Size::S64 => dynasm!(self.ops ; .arch x64 ; imul Rq(d), Rq(s), DWORD imm),
        }
    }

    /// `cdq`/`cqo`: sign-extends rax into rdx.
    pub fn sign_extend_rax(&mut self, size: Size) {
        match size {
            Size::S32 => dynasm!(self.ops ; .arch x64 ; cdq),
            Size::S64 => dynasm!(self.ops ; .arch x64 ; cqo),
        }
    }

    /// `div`/`idiv` of rdx:rax by `src`.
    /// `dst += src + CF` (`sbb`: `dst -= src + CF`), 64-bit: the high
    /// halves of wide arithmetic. Kept out of [`Alu`]: a larger match there
    /// stops the hot `alu_*` emitters from inlining their byte pushes.
    pub fn carry_rr(&mut self, sub: bool, dst: Reg, src: Reg) {
        let (d, s) = (e(dst), e(src));
        if sub {
            dynasm!(self.ops ; .arch x64 ; sbb Rq(d), Rq(s));
        } else {
            dynasm!(self.ops ; .arch x64 ; adc Rq(d), Rq(s));
        }
    }

    /// As [`Assembler::carry_rr`] with a memory operand.
    pub fn carry_rm(&mut self, sub: bool, dst: Reg, m: Mem) {
        let d = e(dst);
        if sub {
            op_rm!(self.ops, sbb, Rq(d), QWORD, m);
        } else {
            op_rm!(self.ops, adc, Rq(d), QWORD, m);
        }
    }

    /// As [`Assembler::carry_rr`] with a sign-extended 32-bit immediate.
    pub fn carry_ri(&mut self, sub: bool, dst: Reg, imm: i32) {
        let d = e(dst);
        if sub {
            dynasm!(self.ops ; .arch x64 ; sbb Rq(d), DWORD imm);
        } else {
            dynasm!(self.ops ; .arch x64 ; adc Rq(d), DWORD imm);
        }
    }

    /// `rdx:rax = rax * src`, 64 × 64 → 128 bits (one-operand `imul`/`mul`).
    pub fn mul_wide_r(&mut self, signed: bool, src: Reg) {
        let s = e(src);
        if signed {
            dynasm!(self.ops ; .arch x64 ; imul Rq(s));
        } else {
            dynasm!(self.ops ; .arch x64 ; mul Rq(s));
        }
    }

    pub fn div_r(&mut self, signed: bool, size: Size, src: Reg) {
        let s = e(src);
        match (signed, size) {
            (true, Size::S32) => dynasm!(self.ops ; .arch x64 ; idiv Rd(s)),
            (true, Size::S64) => dynasm!(self.ops ; .arch x64 ; idiv Rq(s)),
            (false, Size::S32) => dynasm!(self.ops ; .arch x64 ; div Rd(s)),
            (false, Size::S64) => dynasm!(self.ops ; .arch x64 ; div Rq(s)),
        }
    }

    pub fn div_m(&mut self, signed: bool, size: Size, m: Mem) {
        match (signed, size) {
            (true, Size::S32) => op_m!(self.ops, idiv, DWORD, m),
            (true, Size::S64) => op_m!(self.ops, idiv, QWORD, m),
            (false, Size::S32) => op_m!(self.ops, div, DWORD, m),
            (false, Size::S64) => op_m!(self.ops, div, QWORD, m),
        }
    }

    /// Shift or rotate `dst` by `cl`.
    pub fn shift_cl(&mut self, op: Shift, size: Size, dst: Reg) {
        let d = e(dst);
        match size {
            Size::S32 => by_shift!(op, shift_cl!(self.ops, Rd, d)),
            Size::S64 => by_shift!(op, shift_cl!(self.ops, Rq, d)),
        }
    }

    /// Shift or rotate `dst` by an immediate.
    pub fn shift_ri(&mut self, op: Shift, size: Size, dst: Reg, imm: u8) {
        let d = e(dst);
        let imm = imm as i8;
        match size {
            Size::S32 => by_shift!(op, ri!(self.ops, Rd, d, imm)),
            Size::S64 => by_shift!(op, ri!(self.ops, Rq, d, imm)),
        }
    }

    pub fn bit_rr(&mut self, op: BitOp, size: Size, dst: Reg, src: Reg) {
        let (d, s) = (e(dst), e(src));
        match size {
            Size::S32 => by_bitop!(op, rr!(self.ops, Rd, d, s)),
            Size::S64 => by_bitop!(op, rr!(self.ops, Rq, d, s)),
        }
    }

    pub fn setcc(&mut self, cc: Cc, dst: Reg) {
        let d = e(dst);
        by_cc!(
            cc,
            [
                seto, setno, setb, setae, sete, setne, setbe, seta, sets, setns, setp, setnp, setl,
                setge, setle, setg
            ],
            setcc_r!(self.ops, d)
        )
    }

    pub fn cmov_rr(&mut self, cc: Cc, size: Size, dst: Reg, src: Reg) {
        let (d, s) = (e(dst), e(src));
        match size {
            Size::S32 => by_cc!(
                cc,
                [
                    cmovo, cmovno, cmovb, cmovae, cmove, cmovne, cmovbe, cmova, cmovs, cmovns,
                    cmovp, cmovnp, cmovl, cmovge, cmovle, cmovg
                ],
                cmov_rr!(self.ops, Rd, d, s)
            ),
            Size::S64 => by_cc!(
                cc,
                [
                    cmovo, cmovno, cmovb, cmovae, cmove, cmovne, cmovbe, cmova, cmovs, cmovns,
                    cmovp, cmovnp, cmovl, cmovge, cmovle, cmovg
                ],
                cmov_rr!(self.ops, Rq, d, s)
            ),
        }
    }

    pub fn cmov_rm(&mut self, cc: Cc, size: Size, dst: Reg, m: Mem) {
        let d = e(dst);
        match size {
            Size::S32 => by_cc!(
                cc,
                [
                    cmovo, cmovno, cmovb, cmovae, cmove, cmovne, cmovbe, cmova, cmovs, cmovns,
                    cmovp, cmovnp, cmovl, cmovge, cmovle, cmovg
                ],
                cmov_rm!(self.ops, Rd, d, DWORD, m)
            ),
            Size::S64 => by_cc!(
                cc,
                [
                    cmovo, cmovno, cmovb, cmovae, cmove, cmovne, cmovbe, cmova, cmovs, cmovns,
                    cmovp, cmovnp, cmovl, cmovge, cmovle, cmovg
                ],
                cmov_rm!(self.ops, Rq, d, QWORD, m)
            ),
        }
    }

    // ---- control --------------------------------------------------------------

    pub fn jcc(&mut self, cc: Cc, label: Label) {
        by_cc!(
            cc,
            [
                jo, jno, jb, jae, je, jne, jbe, ja, js, jns, jp, jnp, jl, jge, jle, jg
            ],
            jcc_label!(self.ops, label)
        )
    }

    pub fn jmp(&mut self, label: Label) {
        dynasm!(self.ops ; .arch x64 ; jmp =>label)
    }

    pub fn jmp_r(&mut self, r: Reg) {
        dynasm!(self.ops ; .arch x64 ; jmp Rq(e(r)))
    }

    pub fn call_label(&mut self, label: Label) {
        dynasm!(self.ops ; .arch x64 ; call =>label)
    }

    pub fn call_m(&mut self, m: Mem) {
        op_m!(self.ops, call, QWORD, m)
    }

    pub fn push(&mut self, r: Reg) {
        dynasm!(self.ops ; .arch x64 ; push Rq(e(r)))
    }

    pub fn pop(&mut self, r: Reg) {
        dynasm!(self.ops ; .arch x64 ; pop Rq(e(r)))
    }

    /// `ret` popping `pop` bytes of stack arguments.
    pub fn ret(&mut self, pop: u16) {
        if pop == 0 {
            dynasm!(self.ops ; .arch x64 ; ret)
        } else {
            let pop = pop as i16;
            dynasm!(self.ops ; .arch x64 ; ret pop)
        }
    }

    pub fn ud2(&mut self) {
        dynasm!(self.ops ; .arch x64 ; ud2)
    }

    /// `rep stosq`: stores rax to `[rdi]`, rcx times.
    pub fn rep_stosq(&mut self) {
        dynasm!(self.ops ; .arch x64 ; rep stosq)
    }

    // ---- SSE ------------------------------------------------------------------

    pub fn fop_rr(&mut self, op: FOp, size: Size, dst: Reg, src: Reg) {
        let (d, s) = (e(dst), e(src));
        by_fop!(op, size, rr!(self.ops, Rx, d, s))
    }

    pub fn fop_rm(&mut self, op: FOp, size: Size, dst: Reg, m: Mem) {
        let d = e(dst);
        match (op, size) {
            (FOp::Add, Size::S32) => rm!(addss, self.ops, Rx, d, DWORD, m),
            (FOp::Add, Size::S64) => rm!(addsd, self.ops, Rx, d, QWORD, m),
            (FOp::Sub, Size::S32) => rm!(subss, self.ops, Rx, d, DWORD, m),
            (FOp::Sub, Size::S64) => rm!(subsd, self.ops, Rx, d, QWORD, m),
            (FOp::Mul, Size::S32) => rm!(mulss, self.ops, Rx, d, DWORD, m),
            (FOp::Mul, Size::S64) => rm!(mulsd, self.ops, Rx, d, QWORD, m),
            (FOp::Div, Size::S32) => rm!(divss, self.ops, Rx, d, DWORD, m),
            (FOp::Div, Size::S64) => rm!(divsd, self.ops, Rx, d, QWORD, m),
            (FOp::Sqrt, Size::S32) => rm!(sqrtss, self.ops, Rx, d, DWORD, m),
            (FOp::Sqrt, Size::S64) => rm!(sqrtsd, self.ops, Rx, d, QWORD, m),
        }
    }

    pub fn flogic_rr(&mut self, op: FLogic, dst: Reg, src: Reg) {
        let (d, s) = (e(dst), e(src));
        match op {
            FLogic::And => rr!(andps, self.ops, Rx, d, s),
            FLogic::Or => rr!(orps, self.ops, Rx, d, s),
            FLogic::Xor => rr!(xorps, self.ops, Rx, d, s),
        }
    }

    /// Copies a whole xmm register.
    pub fn movaps(&mut self, dst: Reg, src: Reg) {
        dynasm!(self.ops ; .arch x64 ; movaps Rx(e(dst)), Rx(e(src)))
    }

    /// `movss`/`movsd` load.
    pub fn movs_rm(&mut self, size: Size, dst: Reg, m: Mem) {
        match size {
            Size::S32 => op_rm!(self.ops, movss, Rx(e(dst)), DWORD, m),
            Size::S64 => op_rm!(self.ops, movsd, Rx(e(dst)), QWORD, m),
        }
    }

    /// `movss`/`movsd` store.
    pub fn movs_mr(&mut self, size: Size, m: Mem, src: Reg) {
        match size {
            Size::S32 => op_mr!(self.ops, movss, DWORD, m, Rx(e(src))),
            Size::S64 => op_mr!(self.ops, movsd, QWORD, m, Rx(e(src))),
        }
    }

    /// `movd`/`movq` xmm ← gpr.
    pub fn mov_xr(&mut self, size: Size, dst: Reg, src: Reg) {
        match size {
            Size::S32 => dynasm!(self.ops ; .arch x64 ; movd Rx(e(dst)), Rd(e(src))),
            Size::S64 => dynasm!(self.ops ; .arch x64 ; movq Rx(e(dst)), Rq(e(src))),
        }
    }

    /// `movd`/`movq` gpr ← xmm.
    pub fn mov_rx(&mut self, size: Size, dst: Reg, src: Reg) {
        match size {
            Size::S32 => dynasm!(self.ops ; .arch x64 ; movd Rd(e(dst)), Rx(e(src))),
            Size::S64 => dynasm!(self.ops ; .arch x64 ; movq Rq(e(dst)), Rx(e(src))),
        }
    }

    pub fn ucomis_rr(&mut self, size: Size, a: Reg, b: Reg) {
        let (a, b) = (e(a), e(b));
        match size {
            Size::S32 => dynasm!(self.ops ; .arch x64 ; ucomiss Rx(a), Rx(b)),
            Size::S64 => dynasm!(self.ops ; .arch x64 ; ucomisd Rx(a), Rx(b)),
        }
    }

    pub fn ucomis_rm(&mut self, size: Size, a: Reg, m: Mem) {
        match size {
            Size::S32 => op_rm!(self.ops, ucomiss, Rx(e(a)), DWORD, m),
            Size::S64 => op_rm!(self.ops, ucomisd, Rx(e(a)), QWORD, m),
        }
    }

    /// `cvtsi2ss`/`cvtsi2sd` of a signed `int_size` integer.
    pub fn cvt_int_to_float(&mut self, fsize: Size, int_size: Size, dst: Reg, src: Reg) {
        let (d, s) = (e(dst), e(src));
        match (fsize, int_size) {
            (Size::S32, Size::S32) => dynasm!(self.ops ; .arch x64 ; cvtsi2ss Rx(d), Rd(s)),
            (Size::S32, Size::S64) => dynasm!(self.ops ; .arch x64 ; cvtsi2ss Rx(d), Rq(s)),
            (Size::S64, Size::S32) => dynasm!(self.ops ; .arch x64 ; cvtsi2sd Rx(d), Rd(s)),
            (Size::S64, Size::S64) => dynasm!(self.ops ; .arch x64 ; cvtsi2sd Rx(d), Rq(s)),
        }
    }

    /// `cvttss2si`/`cvttsd2si` into a signed `int_size` integer.
    pub fn cvtt_float_to_int(&mut self, fsize: Size, int_size: Size, dst: Reg, src: Reg) {
        let (d, s) = (e(dst), e(src));
        match (fsize, int_size) {
            (Size::S32, Size::S32) => dynasm!(self.ops ; .arch x64 ; cvttss2si Rd(d), Rx(s)),
            (Size::S32, Size::S64) => dynasm!(self.ops ; .arch x64 ; cvttss2si Rq(d), Rx(s)),
            (Size::S64, Size::S32) => dynasm!(self.ops ; .arch x64 ; cvttsd2si Rd(d), Rx(s)),
            (Size::S64, Size::S64) => dynasm!(self.ops ; .arch x64 ; cvttsd2si Rq(d), Rx(s)),
        }
    }

    /// `cvtss2sd` (to `S64`) or `cvtsd2ss` (to `S32`).
    pub fn cvt_float_to_float(&mut self, to: Size, dst: Reg, src: Reg) {
        let (d, s) = (e(dst), e(src));
        match to {
            Size::S64 => dynasm!(self.ops ; .arch x64 ; cvtss2sd Rx(d), Rx(s)),
            Size::S32 => dynasm!(self.ops ; .arch x64 ; cvtsd2ss Rx(d), Rx(s)),
        }
    }

    /// `roundss`/`roundsd` with rounding mode `mode` (0 nearest, 1 floor,
    /// 2 ceil, 3 trunc).
    pub fn rounds(&mut self, size: Size, dst: Reg, src: Reg, mode: u8) {
        let (d, s) = (e(dst), e(src));
        let mode = mode as i8;
        match size {
            Size::S32 => dynasm!(self.ops ; .arch x64 ; roundss Rx(d), Rx(s), mode),
            Size::S64 => dynasm!(self.ops ; .arch x64 ; roundsd Rx(d), Rx(s), mode),
        }
    }

    // ---- SIMD (v128, SSE up to SSE4.1) --------------------------------------

    /// `movdqu` load of a whole xmm register.
    pub fn movdqu_rm(&mut self, dst: Reg, m: Mem) {
        op_rm!(self.ops, movdqu, Rx(e(dst)), OWORD, m);
        self.note_v128_slot(m);
    }

    /// `movdqu` store of a whole xmm register.
    pub fn movdqu_mr(&mut self, m: Mem, src: Reg) {
        op_mr!(self.ops, movdqu, OWORD, m, Rx(e(src)));
        self.note_v128_slot(m);
    }

    /// Records the displacement of a `movdqu` just emitted if `m` is a
    /// value-stack v128 slot (its run-time displacement is the last four
    /// bytes of the instruction: dynasmrt always encodes it in 32 bits).
    fn note_v128_slot(&mut self, m: Mem) {
        if let Some(pos) = crate::frame::v128_slot_pos(m) {
            self.v128_slot_patches.push((self.offset() - 4, pos));
        }
    }

    /// A two-operand SSE instruction `dst = dst op src`.
    pub fn vop_rr(&mut self, op: VOp, dst: Reg, src: Reg) {
        let (d, s) = (e(dst), e(src));
        by_vop!(op, rr!(self.ops, Rx, d, s))
    }

    /// `cmpps`/`cmppd` with predicate `pred`.
    pub fn cmpp_rr(&mut self, double: bool, dst: Reg, src: Reg, pred: u8) {
        let (d, s, p) = (e(dst), e(src), pred as i8);
        if double {
            dynasm!(self.ops ; .arch x64 ; cmppd Rx(d), Rx(s), p)
        } else {
            dynasm!(self.ops ; .arch x64 ; cmpps Rx(d), Rx(s), p)
        }
    }

    /// A shift of every lane by an immediate.
    pub fn vshift_ri(&mut self, op: VShift, dst: Reg, imm: u8) {
        let (d, i) = (e(dst), imm as i8);
        match op {
            VShift::Psrld => dynasm!(self.ops ; .arch x64 ; psrld Rx(d), i),
            VShift::Pslld => dynasm!(self.ops ; .arch x64 ; pslld Rx(d), i),
            VShift::Psrlq => dynasm!(self.ops ; .arch x64 ; psrlq Rx(d), i),
            VShift::Psllq => dynasm!(self.ops ; .arch x64 ; psllq Rx(d), i),
            VShift::Psrlw => dynasm!(self.ops ; .arch x64 ; psrlw Rx(d), i),
            VShift::Psllw => dynasm!(self.ops ; .arch x64 ; psllw Rx(d), i),
            VShift::Psrad => dynasm!(self.ops ; .arch x64 ; psrad Rx(d), i),
        }
    }

    /// `roundps`/`roundpd dst, src, mode` (0 nearest, 1 floor, 2 ceil,
    /// 3 trunc).
    pub fn roundp(&mut self, double: bool, dst: Reg, src: Reg, mode: u8) {
        let (d, s, m) = (e(dst), e(src), mode as i8);
        if double {
            dynasm!(self.ops ; .arch x64 ; roundpd Rx(d), Rx(s), m)
        } else {
            dynasm!(self.ops ; .arch x64 ; roundps Rx(d), Rx(s), m)
        }
    }

    /// `shufps dst, src, imm`.
    pub fn shufps(&mut self, dst: Reg, src: Reg, imm: u8) {
        let (d, s, i) = (e(dst), e(src), imm as i8);
        dynasm!(self.ops ; .arch x64 ; shufps Rx(d), Rx(s), i)
    }

    /// `pshufd dst, src, imm`.
    pub fn pshufd(&mut self, dst: Reg, src: Reg, imm: u8) {
        let (d, s, i) = (e(dst), e(src), imm as i8);
        dynasm!(self.ops ; .arch x64 ; pshufd Rx(d), Rx(s), i)
    }

    /// `pshuflw dst, src, imm`.
    pub fn pshuflw(&mut self, dst: Reg, src: Reg, imm: u8) {
        let (d, s, i) = (e(dst), e(src), imm as i8);
        dynasm!(self.ops ; .arch x64 ; pshuflw Rx(d), Rx(s), i)
    }

    /// `insertps dst, src, imm`.
    pub fn insertps(&mut self, dst: Reg, src: Reg, imm: u8) {
        let (d, s, i) = (e(dst), e(src), imm as i8);
        dynasm!(self.ops ; .arch x64 ; insertps Rx(d), Rx(s), i)
    }

    /// `pextrb/w/d/q gpr, xmm, lane` (`bytes` the lane width); b, w and d
    /// zero-extend into the 32-bit register.
    pub fn pextr(&mut self, bytes: u32, dst: Reg, src: Reg, lane: u8) {
        let (d, s, l) = (e(dst), e(src), lane as i8);
        match bytes {
            1 => dynasm!(self.ops ; .arch x64 ; pextrb Rd(d), Rx(s), l),
            2 => dynasm!(self.ops ; .arch x64 ; pextrw Rd(d), Rx(s), l),
            4 => dynasm!(self.ops ; .arch x64 ; pextrd Rd(d), Rx(s), l),
            _ => dynasm!(self.ops ; .arch x64 ; pextrq Rq(d), Rx(s), l),
        }
    }

    /// `pinsrb/w/d/q xmm, gpr, lane` (`bytes` the lane width).
    pub fn pinsr(&mut self, bytes: u32, dst: Reg, src: Reg, lane: u8) {
        let (d, s, l) = (e(dst), e(src), lane as i8);
        match bytes {
            1 => dynasm!(self.ops ; .arch x64 ; pinsrb Rx(d), Rd(s), l),
            2 => dynasm!(self.ops ; .arch x64 ; pinsrw Rx(d), Rd(s), l),
            4 => dynasm!(self.ops ; .arch x64 ; pinsrd Rx(d), Rd(s), l),
            _ => dynasm!(self.ops ; .arch x64 ; pinsrq Rx(d), Rq(s), l),
        }
    }

    /// `pmovmskb`/`movmskps`/`movmskpd r32, xmm` (`bytes` the lane width).
    pub fn movmsk(&mut self, bytes: u32, dst: Reg, src: Reg) {
        let (d, s) = (e(dst), e(src));
        match bytes {
            1 => dynasm!(self.ops ; .arch x64 ; pmovmskb Rd(d), Rx(s)),
            4 => dynasm!(self.ops ; .arch x64 ; movmskps Rd(d), Rx(s)),
            _ => dynasm!(self.ops ; .arch x64 ; movmskpd Rd(d), Rx(s)),
        }
    }

    /// A load that widens or zero-fills into an xmm register: `movd`/`movq`
    /// (`Zero32`/`Zero64`) or `pmovsx`/`pmovzx` of 64 bits.
    pub fn vload(&mut self, op: VLoad, dst: Reg, m: Mem) {
        let d = e(dst);
        match op {
            VLoad::Zero32 => op_rm!(self.ops, movd, Rx(d), DWORD, m),
            VLoad::Zero64 => op_rm!(self.ops, movq, Rx(d), QWORD, m),
            VLoad::Sxbw => op_rm!(self.ops, pmovsxbw, Rx(d), QWORD, m),
            VLoad::Zxbw => op_rm!(self.ops, pmovzxbw, Rx(d), QWORD, m),
            VLoad::Sxwd => op_rm!(self.ops, pmovsxwd, Rx(d), QWORD, m),
            VLoad::Zxwd => op_rm!(self.ops, pmovzxwd, Rx(d), QWORD, m),
            VLoad::Sxdq => op_rm!(self.ops, pmovsxdq, Rx(d), QWORD, m),
            VLoad::Zxdq => op_rm!(self.ops, pmovzxdq, Rx(d), QWORD, m),
        }
    }

    /// `ptest a, b`.
    pub fn ptest(&mut self, a: Reg, b: Reg) {
        dynasm!(self.ops ; .arch x64 ; ptest Rx(e(a)), Rx(e(b)))
    }
}

// ---- atomics (threads; ARCHITECTURE.md, "Threads") ----------------------------

/// `$pre $mn $sz [m], $fam(s)`: a locked (or implicitly locked) memory
/// operation with a register source.
macro_rules! atomic_mr {
    ($ops:expr, $($mn:ident)+, $sz:ident, $m:expr, $sfam:ident($s:expr)) => {{
        let m: Mem = $m;
        let b = e(m.base);
        let disp = m.disp;
        match m.index {
            None => dynasm!($ops ; .arch x64 ; $($mn)+ $sz [Rq(b) + disp], $sfam($s)),
            Some(i) => {
                let i = e(i);
                dynasm!($ops ; .arch x64 ; $($mn)+ $sz [Rq(b) + Rq(i) + disp], $sfam($s))
            }
        }
    }};
}

/// An atomic read-modify-write instruction of `atomic_rmw`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AtomicRmw {
    /// `lock xadd [m], r`: adds r to memory, r gets the old value.
    Xadd,
    /// `xchg [m], r` (implicitly locked): r gets the old value.
    Xchg,
    /// `lock cmpxchg [m], r`: if memory equals rax (its low `bytes`), it
    /// becomes r; else rax gets the memory's value. ZF says which.
    Cmpxchg,
}

impl Assembler {
    /// One atomic read-modify-write of `bytes` (1, 2, 4 or 8) at `m` with
    /// register `r` (see [`AtomicRmw`]).
    pub fn atomic_rmw(&mut self, op: AtomicRmw, bytes: u32, m: Mem, r: Reg) {
        let s = e(r);
        match (op, bytes) {
            (AtomicRmw::Xadd, 1) => atomic_mr!(self.ops, lock xadd, BYTE, m, Rb(s)),
            (AtomicRmw::Xadd, 2) => atomic_mr!(self.ops, lock xadd, WORD, m, Rw(s)),
            (AtomicRmw::Xadd, 4) => atomic_mr!(self.ops, lock xadd, DWORD, m, Rd(s)),
            (AtomicRmw::Xadd, _) => atomic_mr!(self.ops, lock xadd, QWORD, m, Rq(s)),
            (AtomicRmw::Xchg, 1) => atomic_mr!(self.ops, xchg, BYTE, m, Rb(s)),
            (AtomicRmw::Xchg, 2) => atomic_mr!(self.ops, xchg, WORD, m, Rw(s)),
            (AtomicRmw::Xchg, 4) => atomic_mr!(self.ops, xchg, DWORD, m, Rd(s)),
            (AtomicRmw::Xchg, _) => atomic_mr!(self.ops, xchg, QWORD, m, Rq(s)),
            (AtomicRmw::Cmpxchg, 1) => atomic_mr!(self.ops, lock cmpxchg, BYTE, m, Rb(s)),
            (AtomicRmw::Cmpxchg, 2) => atomic_mr!(self.ops, lock cmpxchg, WORD, m, Rw(s)),
            (AtomicRmw::Cmpxchg, 4) => atomic_mr!(self.ops, lock cmpxchg, DWORD, m, Rd(s)),
            (AtomicRmw::Cmpxchg, _) => atomic_mr!(self.ops, lock cmpxchg, QWORD, m, Rq(s)),
        }
    }

    /// Zero-extends the low `bytes` (1, 2 or 4) of `r` into all of it.
    pub fn zext_r(&mut self, bytes: u32, r: Reg) {
        let d = e(r);
        match bytes {
            1 => dynasm!(self.ops ; .arch x64 ; movzx Rd(d), Rb(d)),
            2 => dynasm!(self.ops ; .arch x64 ; movzx Rd(d), Rw(d)),
            _ => dynasm!(self.ops ; .arch x64 ; mov Rd(d), Rd(d)),
        }
    }

    pub fn neg_r(&mut self, size: Size, r: Reg) {
        match size {
            Size::S32 => dynasm!(self.ops ; .arch x64 ; neg Rd(e(r))),
            Size::S64 => dynasm!(self.ops ; .arch x64 ; neg Rq(e(r))),
        }
    }

    pub fn mfence(&mut self) {
        dynasm!(self.ops ; .arch x64 ; mfence)
    }
}

#[cfg(test)]
mod tests {
    use iced_x86::{Decoder, DecoderOptions, Formatter, IntelFormatter};

    use super::*;

    /// A `movdqu` of a value-stack v128 slot records where its 32-bit
    /// displacement is, and patching it there gives the real slot.
    #[test]
    fn v128_slot_displacements_are_recorded_and_patchable() {
        let frame = crate::frame::Frame::default();
        let mut a = Assembler::new();
        a.mov_rr(Size::S64, Reg::Rax, Reg::R9);
        let m = frame.v128_slot(3).expect("taggable");
        a.movdqu_mr(m, Reg::Xmm9);
        a.movdqu_rm(Reg::Xmm1, m);
        // A local's slot is not a v128 slot.
        a.movdqu_rm(Reg::Xmm2, Mem::new(Reg::Rbp, -64));
        let patches = a.v128_slot_patches.clone();
        assert_eq!(patches.len(), 2);
        let mut code = a.finish().unwrap();
        for &(at, pos) in &patches {
            assert_eq!(pos, 3);
            Assembler::patch_i32(&mut code, at, -0x100 - 16 * (pos as i32 + 1));
        }
        let mut decoder = Decoder::new(64, &code, DecoderOptions::NONE);
        let mut text = Vec::new();
        while decoder.can_decode() {
            let inst = decoder.decode();
            let mut t = String::new();
            IntelFormatter::new().format(&inst, &mut t);
            text.push(t);
        }
        assert_eq!(
            text,
            [
                "mov rax,r9",
                "movdqu [rbp-140h],xmm9",
                "movdqu xmm1,[rbp-140h]",
                "movdqu xmm2,[rbp-40h]"
            ]
        );
        assert_eq!(crate::frame::v128_slot_pos(Mem::new(Reg::Rbp, -64)), None);
        assert_eq!(
            crate::frame::v128_slot_pos(Mem::new(Reg::Rsp, m.disp)),
            None
        );
    }

    #[test]
    fn nops_of_every_length_decode_as_one_nop() {
        for len in 1..=9u8 {
            let mut code = vec![0xcc; usize::from(len)];
            Assembler::patch_nop(&mut code, 0, len);
            let mut decoder = Decoder::new(64, &code, DecoderOptions::NONE);
            let inst = decoder.decode();
            assert_eq!(inst.len(), code.len(), "{len}: not one instruction");
            let mut text = String::new();
            IntelFormatter::new().format(&inst, &mut text);
            // 66 90 is `xchg ax, ax` to a disassembler.
            assert!(
                text.starts_with("nop") || text == "xchg ax,ax",
                "{len}: {text}"
            );
        }
    }
}
