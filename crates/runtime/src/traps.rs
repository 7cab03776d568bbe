//! Traps: how a trap raised deep inside wasm code gets back to the host call
//! that entered wasm.
//!
//! ```text
//!  host ── catch_traps ── setjmp_call ──► entry trampoline ──► wasm ──► wasm ──► Trap libcall
//!            ▲              (saves rbx, rbp, r12–r15, rsp, return address)          │
//!            └──────────────────────── longjmp (restores them, returns 1) ◄─────────┘
//! ```
//!
//! Compiled code checks its trap conditions explicitly and calls the `Trap`
//! libcall, which records a [`Trap`] in the innermost [`catch_traps`] frame of
//! this thread and `longjmp`s to it. A host function that fails or panics does
//! the same through [`raise`].
//!
//! **Invariant:** between `setjmp_call` and a `longjmp` there are only JIT
//! frames, trampolines and Rust frames that own nothing needing a drop: the
//! closure passed to `catch_traps` moves its captures out before calling into
//! wasm, and host-call shims drop everything before they raise. Panics never
//! unwind through JIT frames: every host call catches them.
//!
//! **Invariant:** `catch_traps` nests (wasm → host → wasm); each level has its
//! own jump buffer, linked through a thread-local.

use std::cell::Cell;
use std::fmt;

use rung_tiering::TrapCode;

use crate::backtrace::{Frame, WasmBacktrace};

/// Why execution stopped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TrapReason {
    /// A trap of the wasm semantics (the spec's message).
    Wasm(TrapCode),
    /// A host function returned an error or panicked.
    Host(String),
    /// The program asked to exit (WASI `proc_exit`) with this status.
    Exit(i32),
    /// A wasm exception no handler caught: its tag (the store's index) and
    /// the exception object (an `exnref`, alive as long as the store).
    Exception { tag: u32, exn: usize },
}

/// A trap: what happened and, when raised by wasm code, where.
///
/// Two traps are equal when their reason and place are: the backtrace is
/// left out of the comparison.
#[derive(Debug, Clone, thiserror::Error)]
pub struct Trap {
    pub reason: TrapReason,
    /// The function (index in its module) whose code trapped, if known.
    pub func: Option<u32>,
    /// The byte offset in the module of the operator that trapped, if known.
    pub wasm_offset: Option<u32>,
    /// The wasm frames it went through (`backtrace.rs`; empty when the
    /// trap was raised where no frame is known).
    pub wasm_backtrace: WasmBacktrace,
}

impl PartialEq for Trap {
    fn eq(&self, other: &Trap) -> bool {
        (&self.reason, self.func, self.wasm_offset)
            == (&other.reason, other.func, other.wasm_offset)
    }
}

impl Eq for Trap {}

impl Trap {
    pub fn new(reason: TrapReason) -> Self {
        Trap {
            reason,
            func: None,
            wasm_offset: None,
            wasm_backtrace: WasmBacktrace::default(),
        }
    }

    /// The wasm frames the trap went through, innermost first.
    pub fn backtrace(&self) -> &[Frame] {
        self.wasm_backtrace.frames()
    }

    pub fn wasm(code: TrapCode) -> Self {
        Trap::new(TrapReason::Wasm(code))
    }

    pub fn host(message: impl Into<String>) -> Self {
        Trap::new(TrapReason::Host(message.into()))
    }

    /// The spec's message for a wasm trap; the host's message otherwise.
    pub fn message(&self) -> String {
        match &self.reason {
            TrapReason::Wasm(code) => code.message().to_string(),
            TrapReason::Host(m) => m.clone(),
            TrapReason::Exit(status) => format!("exit with status {status}"),
            TrapReason::Exception { tag, .. } => format!("uncaught exception (tag {tag})"),
        }
    }

    /// The trap code, for wasm traps.
    pub fn code(&self) -> Option<TrapCode> {
        match self.reason {
            TrapReason::Wasm(code) => Some(code),
            _ => None,
        }
    }
}

impl fmt::Display for Trap {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.message())?;
        match (self.func, self.wasm_offset) {
            (Some(func), Some(off)) => write!(f, " (function {func}, at offset {off:#x})"),
            (Some(func), None) => write!(f, " (function {func})"),
            (None, Some(off)) => write!(f, " (at offset {off:#x})"),
            (None, None) => Ok(()),
        }
    }
}

/// Callee-saved registers, stack pointer and return address of a
/// `setjmp_call`, in the order the assembly below uses.
#[repr(C)]
#[derive(Default)]
struct JmpBuf {
    regs: [usize; 8],
}

/// One level of `catch_traps`.
struct Catch {
    buf: JmpBuf,
    trap: Option<Trap>,
}

thread_local! {
    static INNERMOST: Cell<*mut Catch> = const { Cell::new(std::ptr::null_mut()) };
}

/// Saves the callee-saved registers, the stack pointer and the return address
/// in `buf`, then calls `f(data)` and returns 0; a later `longjmp(buf, v)`
/// returns from here again with `v`.
#[unsafe(naked)]
unsafe extern "C" fn setjmp_call(
    buf: *mut JmpBuf,
    f: unsafe extern "C" fn(*mut u8),
    data: *mut u8,
) -> u32 {
    core::arch::naked_asm!(
        "mov [rdi], rbx",
        "mov [rdi + 8], rbp",
        "mov [rdi + 16], r12",
        "mov [rdi + 24], r13",
        "mov [rdi + 32], r14",
        "mov [rdi + 40], r15",
        // The stack pointer as it will be after our `ret`, and where `ret` goes.
        "lea rax, [rsp + 8]",
        "mov [rdi + 48], rax",
        "mov rax, [rsp]",
        "mov [rdi + 56], rax",
        // Realign to 16 for the call (entry left rsp at 8 mod 16).
        "sub rsp, 8",
        "mov rax, rsi",
        "mov rdi, rdx",
        "call rax",
        "add rsp, 8",
        "xor eax, eax",
        "ret",
    )
}

/// Returns from the `setjmp_call` that filled `buf`, with `value` (≠ 0).
#[unsafe(naked)]
unsafe extern "C" fn longjmp(buf: *const JmpBuf, value: u32) -> ! {
    core::arch::naked_asm!(
        "mov rbx, [rdi]",
        "mov rbp, [rdi + 8]",
        "mov r12, [rdi + 16]",
        "mov r13, [rdi + 24]",
        "mov r14, [rdi + 32]",
        "mov r15, [rdi + 40]",
        "mov rsp, [rdi + 48]",
        "mov eax, esi",
        "jmp qword ptr [rdi + 56]",
    )
}

/// Runs `f`, which calls into wasm; a trap raised anywhere below returns here
/// as `Err`. See the module docs for what `f` may hold.
pub fn catch_traps<F: FnOnce()>(f: F) -> Result<(), Trap> {
    unsafe extern "C" fn call<F: FnOnce()>(data: *mut u8) {
        // SAFETY: `data` is the `Option<F>` on `catch_traps`'s frame, alive
        // for the whole call; it is taken exactly once.
        let f = unsafe { (*(data as *mut Option<F>)).take() };
        if let Some(f) = f {
            f();
        }
    }
    let mut catch = Catch {
        buf: JmpBuf::default(),
        trap: None,
    };
    let mut f = Some(f);
    let outer = INNERMOST.with(|c| c.replace(&mut catch));
    // A trap may jump over `host_entry` frames that had pushed exit
    // records: the list is put back as it was at this level's entry.
    let exits = crate::backtrace::exits();
    // SAFETY: `call::<F>` matches the signature `setjmp_call` calls, `buf`
    // and `f` outlive the call, and a `longjmp` to `buf` happens only from
    // below this frame while `INNERMOST` points at `catch`.
    let jumped = unsafe { setjmp_call(&mut catch.buf, call::<F>, (&raw mut f).cast()) };
    INNERMOST.with(|c| c.set(outer));
    crate::backtrace::set_exits(exits);
    if jumped == 0 {
        return Ok(());
    }
    Err(catch
        .trap
        .take()
        .unwrap_or_else(|| Trap::host("trap without a reason")))
}

/// Whether the current thread is inside [`catch_traps`].
pub fn in_wasm_call() -> bool {
    INNERMOST.with(|c| !c.get().is_null())
}

/// Raises `trap` to the innermost [`catch_traps`] of this thread.
///
/// # Safety
///
/// Must be called below a `catch_traps` (see [`in_wasm_call`]) from a frame
/// that owns nothing needing a drop, with only JIT frames and such frames in
/// between.
pub unsafe fn raise(mut trap: Trap) -> ! {
    let catch = INNERMOST.with(|c| c.get());
    assert!(
        !catch.is_null(),
        "trap raised outside of a wasm call: {trap}"
    );
    if !trap.wasm_backtrace.walked() {
        // Raised by Rust code that wasm called (a libcall), not where a
        // trap site, a throw or a host call gave the frame to start from:
        // the Rust unwinder finds the first wasm frame.
        trap.wasm_backtrace = crate::backtrace::capture_from_rust();
    }
    // SAFETY: `catch` points at the live `Catch` of the innermost
    // `catch_traps` frame (it resets the pointer before returning).
    unsafe {
        (*catch).trap = Some(trap);
        longjmp(&(*catch).buf, 1)
    }
}
