//! Lazy compilation: a module's slots start out pointing at stubs, and the
//! first call of a function compiles it, patches its slot and continues
//! into the new code.
//!
//! ```text
//! entry_i:  mov eax, i ; jmp common                 (one per defined function)
//! common:   push rbp ; mov rbp, rsp ; sub rsp, 176
//!           save rdi rsi rdx rcx r8 r9, xmm0–xmm7   (every argument register of
//!                                                    the Tail convention)
//!           lazy_compile(module, i) → code           (System V call)
//!           restore them ; mov rsp, rbp ; pop rbp
//!           jmp code                                 (the caller's return address
//!                                                    and stack arguments are
//!                                                    untouched: as if called)
//! ```
//!
//! The stubs are machine code the runtime makes for this process (they
//! embed the module's address and `lazy_compile`'s), assembled with
//! iced-x86's code assembler; no tier is involved.
//!
//! **Invariant:** a slot only ever goes from its stub to compiled code, once,
//! under the module's compile lock; callers that raced past the stub find
//! the code in the slot when they get the lock.

use iced_x86::BlockEncoderOptions;
use iced_x86::code_asm::*;

use crate::module::ModuleInner;
use crate::traps::{Trap, raise};

/// Bytes the common stub reserves below its frame pointer: six saved
/// argument registers at `[rbp-8]..[rbp-48]`, eight xmm registers at
/// `[rsp]..[rsp+128]`, 16-byte aligned.
const FRAME: i32 = 176;

/// Assembles the stubs of a module with `count` defined functions whose
/// first is function `first`; returns the code and each entry's offset.
pub(crate) fn assemble(
    module: *const ModuleInner,
    first: u32,
    count: u32,
) -> Result<(Vec<u8>, Vec<u32>), IcedError> {
    let mut a = CodeAssembler::new(64)?;
    let mut common = a.create_label();
    let mut entries = Vec::with_capacity(count as usize);
    for i in 0..count {
        let mut label = a.create_label();
        a.set_label(&mut label)?;
        a.mov(eax, first + i)?;
        a.jmp(common)?;
        entries.push(label);
    }
    a.set_label(&mut common)?;
    a.push(rbp)?;
    a.mov(rbp, rsp)?;
    a.sub(rsp, FRAME)?;
    let gprs = [rdi, rsi, rdx, rcx, r8, r9];
    let xmms = [xmm0, xmm1, xmm2, xmm3, xmm4, xmm5, xmm6, xmm7];
    for (k, r) in gprs.iter().enumerate() {
        a.mov(qword_ptr(rbp - 8 * (k as i32 + 1)), *r)?;
    }
    for (k, x) in xmms.iter().enumerate() {
        a.movdqu(xmmword_ptr(rsp + 16 * k as i32), *x)?;
    }
    a.mov(esi, eax)?;
    a.mov(rdi, module as u64)?;
    a.mov(rax, lazy_compile as *const () as u64)?;
    a.call(rax)?;
    a.mov(r11, rax)?;
    for (k, r) in gprs.iter().enumerate() {
        a.mov(*r, qword_ptr(rbp - 8 * (k as i32 + 1)))?;
    }
    for (k, x) in xmms.iter().enumerate() {
        a.movdqu(*x, xmmword_ptr(rsp + 16 * k as i32))?;
    }
    a.mov(rsp, rbp)?;
    a.pop(rbp)?;
    a.jmp(r11)?;
    let result = a.assemble_options(0, BlockEncoderOptions::RETURN_NEW_INSTRUCTION_OFFSETS)?;
    let offsets = entries
        .iter()
        .map(|l| result.label_ip(l).map(|ip| ip as u32))
        .collect::<Result<_, _>>()?;
    Ok((result.inner.code_buffer, offsets))
}

/// Called by the common stub: compiles function `index` of `module` if no
/// one has yet, and returns its code.
unsafe extern "sysv64" fn lazy_compile(module: *const ModuleInner, index: u32) -> usize {
    // SAFETY: the stub embeds the address of the module that owns it, and a
    // module outlives every call into its code.
    let module = unsafe { &*module };
    match module.compile_lazily(index) {
        Ok(code) => code,
        // SAFETY: the stub is only reached from wasm code, below
        // `catch_traps`; this frame owns nothing but the trap.
        Err(trap) => unsafe { raise(trap) },
    }
}

/// Turns a compile failure into the trap the call ends with.
pub(crate) fn compile_trap(index: u32, error: impl std::fmt::Display) -> Trap {
    Trap::host(format!(
        "lazy compilation of function {index} failed: {error}"
    ))
}
