//! The SIGILL handler: turns a trapping instruction (`ud2`) of compiled code
//! into a [`Trap`] raised to the host entry.
//!
//! Tiers emit their trap conditions as conditional jumps to `ud2` and record
//! each one in `CompiledFunction::trap_sites` (Cranelift does this natively,
//! including the prologue's stack-limit check). The handler looks the
//! faulting address up in the code registry; if it is a trap site and the
//! thread is inside `catch_traps`, it stores the trap in a thread-local and
//! rewrites the interrupted context so that, when the handler returns, the
//! thread resumes in [`trap_stub`] on a realigned stack. The stub raises the
//! trap from ordinary (non-signal) context. Anything else is not ours: the
//! previous handler's disposition is restored and the instruction re-runs,
//! so a crash stays a crash.
//!
//! **Invariant:** the handler allocates nothing and takes only the code
//! registry's read lock, which no code running JIT code can hold.

use std::cell::Cell;
use std::sync::{Once, OnceLock};

use rung_tiering::TrapCode;

use crate::code_memory::lookup_trap;
use crate::traps::{Trap, TrapReason, in_wasm_call, raise};

thread_local! {
    static PENDING: Cell<Option<(TrapCode, u32, Option<u32>)>> = const { Cell::new(None) };
}

static INSTALL: Once = Once::new();
static PREVIOUS: OnceLock<libc::sigaction> = OnceLock::new();

/// Installs the handler once per process.
pub fn install() {
    INSTALL.call_once(|| {
        // SAFETY: a zeroed `sigaction` is a valid starting point; we fill the
        // handler, flags and an empty mask, and keep the previous action.
        unsafe {
            let mut action: libc::sigaction = std::mem::zeroed();
            action.sa_sigaction = handler as *const () as usize;
            action.sa_flags = libc::SA_SIGINFO | libc::SA_NODEFER;
            libc::sigemptyset(&mut action.sa_mask);
            let mut previous: libc::sigaction = std::mem::zeroed();
            if libc::sigaction(libc::SIGILL, &action, &mut previous) == 0 {
                let _ = PREVIOUS.set(previous);
            }
        }
    });
}

unsafe extern "C" fn handler(
    _signal: libc::c_int,
    _info: *mut libc::siginfo_t,
    context: *mut libc::c_void,
) {
    // SAFETY: the kernel passes a valid `ucontext_t` to an SA_SIGINFO handler.
    let context = unsafe { &mut *context.cast::<libc::ucontext_t>() };
    let gregs = &mut context.uc_mcontext.gregs;
    let pc = gregs[libc::REG_RIP as usize] as usize;
    if in_wasm_call()
        && let Some(site) = lookup_trap(pc)
    {
        PENDING.with(|p| p.set(Some(site)));
        let sp = gregs[libc::REG_RSP as usize] as usize;
        // Resume in the stub as if it had been called: rsp ≡ 8 (mod 16).
        gregs[libc::REG_RSP as usize] = ((sp & !15) - 8) as i64;
        gregs[libc::REG_RIP as usize] = trap_stub as *const () as usize as i64;
        return;
    }
    // Not a trap of ours: restore the previous disposition and let the
    // instruction fault again.
    // SAFETY: restoring a disposition the kernel gave us (or the default).
    unsafe {
        let previous = PREVIOUS.get().copied().unwrap_or_else(|| {
            let mut d: libc::sigaction = std::mem::zeroed();
            d.sa_sigaction = libc::SIG_DFL;
            d
        });
        libc::sigaction(libc::SIGILL, &previous, std::ptr::null_mut());
    }
}

/// Where a trapping thread resumes after the handler: raises the pending trap.
extern "sysv64" fn trap_stub() -> ! {
    let site = PENDING.with(|p| p.take());
    let trap = match site {
        Some((code, func, wasm_offset)) => Trap {
            reason: TrapReason::Wasm(code),
            func: Some(func),
            wasm_offset,
        },
        None => Trap::host("trap without a pending trap site"),
    };
    // SAFETY: we are below `catch_traps` (the handler checked) and this frame
    // owns nothing but `trap`, which `raise` takes.
    unsafe { raise(trap) }
}
