//! The signal handlers: turn a trapping instruction of compiled code into a
//! [`Trap`] raised to the host entry.
//!
//! Tiers emit their trap conditions as conditional jumps to `ud2` (SIGILL)
//! and record each one in `CompiledFunction::trap_sites` (Cranelift does this
//! natively, including the prologue's stack-limit check). A linear-memory
//! access whose bounds check was left out (the guard region of
//! `MEMORY32_RESERVATION` makes it safe) is a trap site too, and faults with
//! SIGSEGV or SIGBUS. The handler looks the
//! faulting address up in the code registry; if it is a trap site and the
//! thread is inside `catch_traps`, it stores the trap in a thread-local and
//! rewrites the interrupted context so that, when the handler returns, the
//! thread resumes in [`trap_stub`] on a realigned stack. The stub raises the
//! trap from ordinary (non-signal) context. Anything else is not ours: it
//! goes to the handler that was installed before (Rust's own SIGSEGV handler
//! reports stack overflows of host code), or the default disposition is
//! restored and the instruction re-runs, so a crash stays a crash.
//!
//! **Invariant:** the handler allocates nothing and takes only the code
//! registry's read lock, which no code running JIT code can hold.

use std::cell::Cell;
use std::sync::{Once, OnceLock};

use rung_tiering::TrapCode;

use crate::code_memory::lookup_trap;
use crate::traps::{Trap, TrapReason, in_wasm_call, raise};

/// A trap site the handler found (code, function, wasm offset), with the
/// faulting `pc` and `rbp`.
type Pending = ((TrapCode, u32, Option<u32>), usize, usize);

thread_local! {
    static PENDING: Cell<Option<Pending>> = const { Cell::new(None) };
}

static INSTALL: Once = Once::new();

/// The signals we handle, and what was installed for them before us.
const SIGNALS: [libc::c_int; 3] = [libc::SIGILL, libc::SIGSEGV, libc::SIGBUS];
static PREVIOUS: [OnceLock<libc::sigaction>; 3] =
    [OnceLock::new(), OnceLock::new(), OnceLock::new()];

/// Installs the handlers once per process.
pub fn install() {
    INSTALL.call_once(|| {
        for (signal, previous_slot) in SIGNALS.iter().zip(&PREVIOUS) {
            // SAFETY: a zeroed `sigaction` is a valid starting point; we fill
            // the handler, flags and an empty mask, and keep the previous
            // action. SA_ONSTACK: a stack overflow of host code is reported
            // on the alternate stack Rust's runtime set up.
            unsafe {
                let mut action: libc::sigaction = std::mem::zeroed();
                action.sa_sigaction = handler as *const () as usize;
                action.sa_flags = libc::SA_SIGINFO | libc::SA_NODEFER | libc::SA_ONSTACK;
                libc::sigemptyset(&mut action.sa_mask);
                let mut previous: libc::sigaction = std::mem::zeroed();
                if libc::sigaction(*signal, &action, &mut previous) == 0 {
                    let _ = previous_slot.set(previous);
                }
            }
        }
    });
}

unsafe extern "C" fn handler(
    signal: libc::c_int,
    info: *mut libc::siginfo_t,
    context: *mut libc::c_void,
) {
    let raw_context = context;
    // SAFETY: the kernel passes a valid `ucontext_t` to an SA_SIGINFO handler.
    let context = unsafe { &mut *context.cast::<libc::ucontext_t>() };
    let gregs = &mut context.uc_mcontext.gregs;
    let pc = gregs[libc::REG_RIP as usize] as usize;
    if in_wasm_call()
        && let Some(site) = lookup_trap(pc)
    {
        let fp = gregs[libc::REG_RBP as usize] as usize;
        PENDING.with(|p| p.set(Some((site, pc, fp))));
        let sp = gregs[libc::REG_RSP as usize] as usize;
        // Resume in the stub as if it had been called: rsp ≡ 8 (mod 16).
        gregs[libc::REG_RSP as usize] = ((sp & !15) - 8) as i64;
        gregs[libc::REG_RIP as usize] = trap_stub as *const () as usize as i64;
        return;
    }
    // Not a trap of ours: hand it to whoever handled it before us, or
    // restore the default and let the instruction fault again.
    let slot = SIGNALS
        .iter()
        .position(|&s| s == signal)
        .map(|i| &PREVIOUS[i]);
    let previous = slot.and_then(|p| p.get().copied());
    match previous {
        Some(p)
            if p.sa_sigaction != libc::SIG_DFL
                && p.sa_sigaction != libc::SIG_IGN
                && p.sa_flags & libc::SA_SIGINFO != 0 =>
        {
            // SAFETY: the previous handler was installed for this signal
            // with SA_SIGINFO, so it takes these three arguments.
            unsafe {
                let f: unsafe extern "C" fn(libc::c_int, *mut libc::siginfo_t, *mut libc::c_void) =
                    std::mem::transmute(p.sa_sigaction);
                f(signal, info, raw_context);
            }
        }
        Some(p) if p.sa_sigaction != libc::SIG_DFL && p.sa_sigaction != libc::SIG_IGN => {
            // SAFETY: a plain handler takes the signal number.
            unsafe {
                let f: unsafe extern "C" fn(libc::c_int) = std::mem::transmute(p.sa_sigaction);
                f(signal);
            }
        }
        _ => {
            // SAFETY: restoring the default disposition of this signal.
            unsafe {
                let mut d: libc::sigaction = std::mem::zeroed();
                d.sa_sigaction = libc::SIG_DFL;
                libc::sigaction(signal, &d, std::ptr::null_mut());
            }
        }
    }
}

/// Where a trapping thread resumes after the handler: raises the pending trap.
extern "sysv64" fn trap_stub() -> ! {
    let site = PENDING.with(|p| p.take());
    let trap = match site {
        Some(((code, func, wasm_offset), pc, fp)) => Trap {
            reason: TrapReason::Wasm(code),
            func: Some(func),
            wasm_offset,
            // Both tiers set up their frame before any trap site (the
            // stack check comes after `push rbp; mov rbp, rsp`).
            wasm_backtrace: crate::backtrace::capture(fp, pc, true),
        },
        None => Trap::host("trap without a pending trap site"),
    };
    // SAFETY: we are below `catch_traps` (the handler checked) and this frame
    // owns nothing but `trap`, which `raise` takes.
    unsafe { raise(trap) }
}
