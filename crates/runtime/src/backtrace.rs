//! Backtraces: the wasm frames a trap or an uncaught exception went
//! through, innermost first, with names from the name section.
//!
//! ```text
//!  host ─ catch_traps ─ entry ─► wasm A ─► wasm B ─► host fn ─► catch_traps ─ entry ─► wasm C ─► trap
//!                               ▲  fp chain  ▲     (Exit: B's fp, pc)                 ▲ fp chain ▲
//!                               └── walk 3 ──┘◄──────── walk 2 continues ◄────────────┘ walk 1 ─┘
//! ```
//!
//! Both tiers and every trampoline keep `push rbp; mov rbp, rsp` frames,
//! so a wasm frame's caller is `pc = [fp + 8]`, `fp = [fp]`. The walk
//! starts where the trap was raised (the faulting instruction and `rbp`
//! from the signal context; `ThrowRef`'s caller; a host function's
//! caller) and follows the chain while the return address is in a wasm
//! function of the code registry. The first other return address is the
//! host-to-wasm trampoline of this `catch_traps` level. If wasm reached
//! this level through a host function (`func.rs`: `host_entry` pushes an
//! [`Exit`] record with its wasm caller's frame), the walk goes on from
//! that record, and so on down to the outermost entry.
//!
//! A trap raised by a libcall's Rust code (bulk memory and table
//! operations out of bounds, `memory.atomic.wait` errors, a failed lazy
//! compile) starts below Rust frames that keep no frame pointer chain
//! (the runtime is built without forced frame pointers). There the system
//! unwinder (`_Unwind_Backtrace`, as `std::backtrace` uses) walks the Rust
//! frames by their unwind tables up to the first return address in a wasm
//! function, and gives that frame's `rbp` ([`capture_from_rust`]); JIT
//! code has no unwind tables, so the unwinder ends there and the frame
//! pointer walk takes over.
//!
//! **Invariant:** the walk never faults: every frame pointer it reads is
//! 8-aligned, inside this thread's stack, and above the previous one, and
//! it follows a return address only if the code registry knows it. It
//! allocates nothing: it runs once to count the frames, and again, after
//! one allocation, to record them; names are looked up afterwards.

use std::cell::Cell;
use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, OnceLock, Weak};

use crate::code_memory::{FrameAt, NO_LEVEL, frame_at, frame_info};

/// Frames recorded at most; deeper ones are counted (`WasmBacktrace::skipped`).
pub const MAX_FRAMES: usize = 1000;

/// Names of a module's functions, for backtraces and profilers.
pub(crate) trait FrameSymbols: Send + Sync {
    /// The module's name from its name section.
    fn module_name(&self) -> Option<&str>;
    /// Function `index`'s name from the name section.
    fn function_name(&self, index: u32) -> Option<&str>;
}

/// A module's name section, kept as bytes and decoded the first time a
/// name is asked for.
#[derive(Default)]
pub(crate) struct LazyNames {
    section: OnceLock<Box<[u8]>>,
    decoded: OnceLock<Names>,
}

/// What a name section says (the parts backtraces use).
#[derive(Default)]
pub(crate) struct Names {
    pub module: Option<String>,
    pub functions: HashMap<u32, String>,
}

impl LazyNames {
    /// Keeps the name section's contents (before any name is asked for).
    pub fn set_section(&self, section: Option<Box<[u8]>>) {
        if let Some(section) = section {
            let _ = self.section.set(section);
        }
    }

    /// The names, decoded now if not yet. A malformed name section gives
    /// the names before the error, as the decoder's own does.
    pub fn get(&self) -> &Names {
        self.decoded.get_or_init(|| {
            let mut names = Names::default();
            let Some(data) = self.section.get() else {
                return names;
            };
            let reader = wasmparser::NameSectionReader::new(wasmparser::BinaryReader::new(data, 0));
            for name in reader {
                match name {
                    Ok(wasmparser::Name::Module { name, .. }) => names.module = Some(name.into()),
                    Ok(wasmparser::Name::Function(map)) => {
                        for naming in map.into_iter().map_while(Result::ok) {
                            names.functions.insert(naming.index, naming.name.into());
                        }
                    }
                    Ok(_) => {}
                    Err(_) => break,
                }
            }
            names
        })
    }
}

/// Whose code a `CodeMemory` holds: the module (weakly) and the ladder's
/// tier names, by level.
#[derive(Clone)]
pub(crate) struct CodeOwner {
    pub module: Weak<dyn FrameSymbols>,
    pub tiers: Arc<[&'static str]>,
}

/// One wasm frame of a [`WasmBacktrace`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Frame {
    /// The function's index in its module.
    pub func: u32,
    /// Its name from the name section, demangled (Rust, C++) when it is a
    /// mangled symbol.
    pub func_name: Option<String>,
    /// The module's name from the name section.
    pub module_name: Option<String>,
    /// Byte offset in the module of the operator that trapped (innermost
    /// frame) or of the call that is running (the others).
    pub wasm_offset: Option<u32>,
    /// The tier whose code the frame runs (its `Tier::name`).
    pub tier: Option<&'static str>,
}

/// The wasm frames a trap went through, innermost first.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WasmBacktrace {
    frames: Vec<Frame>,
    /// Frames past [`MAX_FRAMES`], not recorded.
    skipped: usize,
    /// A walk made it (possibly finding no frame): `raise` looks no
    /// further.
    walked: bool,
}

impl WasmBacktrace {
    /// The frames, innermost first.
    pub fn frames(&self) -> &[Frame] {
        &self.frames
    }

    /// Frames past [`MAX_FRAMES`] that were counted but not recorded.
    pub fn skipped(&self) -> usize {
        self.skipped
    }

    pub fn is_empty(&self) -> bool {
        self.frames.is_empty()
    }

    /// Whether a frame walk made this backtrace (else nobody looked yet).
    pub(crate) fn walked(&self) -> bool {
        self.walked
    }
}

impl fmt::Display for Frame {
    /// `0x1a3 - mod!name (func 3, baseline)`, as Wasmtime's frames with the
    /// index and tier added; `<unknown>` for a module without a name,
    /// `func[3]` for a function without one.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.wasm_offset {
            Some(offset) => write!(f, "{offset:#x}")?,
            None => write!(f, "?")?,
        }
        write!(
            f,
            " - {}!",
            self.module_name.as_deref().unwrap_or("<unknown>")
        )?;
        match &self.func_name {
            Some(name) => write!(f, "{name}")?,
            None => write!(f, "func[{}]", self.func)?,
        }
        write!(f, " (func {}", self.func)?;
        if let Some(tier) = self.tier {
            write!(f, ", {tier}")?;
        }
        write!(f, ")")
    }
}

impl fmt::Display for WasmBacktrace {
    /// One line per frame, `  0: 0x1a3 - mod!c (func 3, baseline)`; a run
    /// of more than three frames that print alike (deep recursion) shows
    /// its first two and a count of the rest.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let lines: Vec<String> = self.frames.iter().map(ToString::to_string).collect();
        let mut i = 0;
        while i < lines.len() {
            let run = lines[i..].iter().take_while(|l| **l == lines[i]).count();
            if run > 3 {
                writeln!(f, "{i:>5}: {}", lines[i])?;
                writeln!(f, "{:>5}: {}", i + 1, lines[i])?;
                writeln!(f, "       ... the same frame {} more times", run - 2)?;
            } else {
                for (j, line) in lines[i..i + run].iter().enumerate() {
                    writeln!(f, "{:>5}: {line}", i + j)?;
                }
            }
            i += run;
        }
        if self.skipped > 0 {
            writeln!(f, "       ... {} more frames", self.skipped)?;
        }
        Ok(())
    }
}

/// A host function's wasm caller: its frame pointer and the return address
/// into it. `host_entry` keeps one on its stack while the host function
/// runs, linked to the one before.
pub(crate) struct Exit {
    pub fp: usize,
    pub pc: usize,
    pub prev: *const Exit,
}

thread_local! {
    static EXITS: Cell<*const Exit> = const { Cell::new(std::ptr::null()) };
    static STACK: (usize, usize) = thread_stack();
}

/// The innermost exit record of this thread.
pub(crate) fn exits() -> *const Exit {
    EXITS.with(Cell::get)
}

/// Makes `exit` the innermost exit record (push, or pop with the one
/// saved before).
pub(crate) fn set_exits(exit: *const Exit) {
    EXITS.with(|e| e.set(exit));
}

/// The current thread's stack: (lowest, highest) address, or (0, 0) if
/// unknown.
fn thread_stack() -> (usize, usize) {
    // SAFETY: querying the calling thread's attributes into a zeroed
    // `pthread_attr_t`, destroyed after use.
    unsafe {
        let mut attr: libc::pthread_attr_t = std::mem::zeroed();
        let mut bounds = (0, 0);
        if libc::pthread_getattr_np(libc::pthread_self(), &mut attr) == 0 {
            let mut addr: *mut libc::c_void = std::ptr::null_mut();
            let mut size = 0usize;
            if libc::pthread_attr_getstack(&attr, &mut addr, &mut size) == 0 {
                bounds = (addr as usize, addr as usize + size);
            }
            libc::pthread_attr_destroy(&mut attr);
        }
        bounds
    }
}

/// Reads the frame record at `fp` (saved frame pointer, return address) if
/// it lies inside the stack `(lo, hi)` and above `floor`.
fn frame_record(fp: usize, floor: usize, (lo, hi): (usize, usize)) -> Option<(usize, usize)> {
    if !fp.is_multiple_of(8) || fp <= floor || fp < lo || fp.checked_add(16)? > hi {
        return None;
    }
    // SAFETY: `fp..fp + 16` is inside this thread's stack, which is mapped.
    unsafe { Some((*(fp as *const usize), *((fp + 8) as *const usize))) }
}

/// The frame record at `fp` (saved frame pointer, return address) if `fp`
/// is a frame pointer inside this thread's stack.
pub(crate) fn frame_record_at(fp: usize) -> Option<(usize, usize)> {
    frame_record(fp, 0, STACK.with(|s| *s))
}

/// Walks the wasm frames from the one running `pc` with frame pointer
/// `fp` (`exact`: `pc` trapped; else it is a return address), then on
/// through the exit records from `exit`; calls `visit(pc, exact)` for
/// each wasm frame. Allocates nothing.
fn walk(fp: usize, pc: usize, exact: bool, exit: *const Exit, mut visit: impl FnMut(usize, bool)) {
    let stack = STACK.with(|s| *s);
    let (mut fp, mut pc, mut exact, mut exit) = (fp, pc, exact, exit);
    // The frame pointer below which nothing is read (the chain only goes
    // up the stack).
    let mut floor = 0;
    loop {
        let wasm = frame_at(pc) != FrameAt::Other;
        if wasm {
            visit(pc, exact);
            exact = false;
            if let Some((next_fp, next_pc)) = frame_record(fp, floor, stack) {
                floor = fp;
                fp = next_fp;
                pc = next_pc;
                continue;
            }
        }
        // The entry trampoline of this level, or a frame we cannot read:
        // on to the host function's caller, if wasm called one.
        if exit.is_null() {
            return;
        }
        // SAFETY: exit records live on the stack of `host_entry` frames
        // that are still running (`catch_traps` restores the list when it
        // returns, so no record outlives its frame).
        let e = unsafe { &*exit };
        if e.fp <= floor && floor != 0 {
            return;
        }
        (fp, pc, exact, exit) = (e.fp, e.pc, false, e.prev);
    }
}

/// The backtrace from the frame running `pc` with frame pointer `fp`
/// (`exact`: `pc` is the trapping instruction), through the exit records of
/// this thread.
pub(crate) fn capture(fp: usize, pc: usize, exact: bool) -> WasmBacktrace {
    capture_from(fp, pc, exact, exits())
}

/// [`capture`], continuing with the exit record `exit`.
pub(crate) fn capture_from(fp: usize, pc: usize, exact: bool, exit: *const Exit) -> WasmBacktrace {
    let mut count = 0usize;
    walk(fp, pc, exact, exit, |_, _| count += 1);
    let mut raw: Vec<(usize, bool)> = Vec::with_capacity(count.min(MAX_FRAMES));
    walk(fp, pc, exact, exit, |pc, exact| {
        if raw.len() < raw.capacity() {
            raw.push((pc, exact));
        }
    });
    let frames: Vec<Frame> = raw
        .iter()
        .filter_map(|&(pc, exact)| symbolize(pc, exact))
        .collect();
    WasmBacktrace {
        skipped: count.saturating_sub(frames.len()),
        frames,
        walked: true,
    }
}

/// The unwinder's interface (libgcc_s, which std links for panics).
mod unwind {
    use std::ffi::{c_int, c_void};

    pub type Trace = extern "C" fn(*mut c_void, *mut c_void) -> c_int;
    /// `_URC_NO_REASON`: go on.
    pub const NO_REASON: c_int = 0;
    /// `_URC_END_OF_STACK`: stop.
    pub const END_OF_STACK: c_int = 5;
    /// DWARF register 6 on x86-64: `rbp`.
    pub const RBP: c_int = 6;

    unsafe extern "C" {
        pub fn _Unwind_Backtrace(trace: Trace, arg: *mut c_void) -> c_int;
        pub fn _Unwind_GetIP(ctx: *mut c_void) -> usize;
        pub fn _Unwind_GetGR(ctx: *mut c_void, index: c_int) -> usize;
    }
}

/// The backtrace of a trap raised by Rust code that wasm called: the Rust
/// frames are unwound by their unwind tables to the first frame of a wasm
/// function, whose `rbp` starts the frame pointer walk. Empty if no wasm
/// frame is found.
pub(crate) fn capture_from_rust() -> WasmBacktrace {
    extern "C" fn trace(ctx: *mut std::ffi::c_void, arg: *mut std::ffi::c_void) -> std::ffi::c_int {
        // SAFETY: `ctx` is the unwinder's context for this callback; `arg`
        // is the `Option<(usize, usize)>` below, alive for the walk.
        unsafe {
            let pc = unwind::_Unwind_GetIP(ctx);
            if frame_at(pc) == FrameAt::Other {
                return unwind::NO_REASON;
            }
            let fp = unwind::_Unwind_GetGR(ctx, unwind::RBP);
            *arg.cast::<Option<(usize, usize)>>() = Some((fp, pc));
        }
        unwind::END_OF_STACK
    }
    let mut found: Option<(usize, usize)> = None;
    // SAFETY: `trace` has the unwinder's callback signature and `found`
    // outlives the call.
    unsafe { unwind::_Unwind_Backtrace(trace, (&raw mut found).cast()) };
    match found {
        Some((fp, pc)) => capture(fp, pc, false),
        None => WasmBacktrace::default(),
    }
}

/// The frame of code address `pc`, with its names.
fn symbolize(pc: usize, exact: bool) -> Option<Frame> {
    let (func, wasm_offset, level, owner) = frame_info(pc, exact)?;
    let tier = owner
        .as_ref()
        .filter(|_| level != NO_LEVEL)
        .and_then(|o| o.tiers.get(usize::from(level)).copied());
    let module = owner.and_then(|o| o.module.upgrade());
    let (module_name, func_name) = match &module {
        Some(m) => (
            m.module_name().map(str::to_string),
            m.function_name(func).map(demangle),
        ),
        None => (None, None),
    };
    Some(Frame {
        func,
        func_name,
        module_name,
        wasm_offset,
        tier,
    })
}

/// `name` demangled if it is a Rust (legacy or v0) or Itanium C++ symbol;
/// as it is otherwise.
pub fn demangle(name: &str) -> String {
    if let Ok(d) = rustc_demangle::try_demangle(name) {
        // `{:#}` leaves out the hash suffix, as Rust's own backtraces do.
        return format!("{d:#}");
    }
    if name.starts_with("_Z")
        && let Ok(symbol) = cpp_demangle::Symbol::new(name)
        && let Ok(d) = symbol.demangle()
    {
        return d;
    }
    name.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rust_and_cpp_names_are_demangled_and_others_kept() {
        assert_eq!(
            demangle("_ZN4core3fmt5write17h0123456789abcdefE"),
            "core::fmt::write"
        );
        assert_eq!(demangle("_RNvCs1234_7mycrate3foo"), "mycrate::foo");
        assert_eq!(demangle("_Z3addii"), "add(int, int)");
        assert_eq!(demangle("main"), "main");
        assert_eq!(demangle("_Znot_a_symbol!"), "_Znot_a_symbol!");
    }

    #[test]
    fn a_frame_prints_offset_names_index_and_tier() {
        let frame = Frame {
            func: 3,
            func_name: Some("c".into()),
            module_name: None,
            wasm_offset: Some(0x1a3),
            tier: Some("baseline"),
        };
        assert_eq!(frame.to_string(), "0x1a3 - <unknown>!c (func 3, baseline)");
        let bt = WasmBacktrace {
            frames: vec![frame],
            skipped: 2,
            walked: true,
        };
        assert_eq!(
            bt.to_string(),
            "    0: 0x1a3 - <unknown>!c (func 3, baseline)\n       ... 2 more frames\n"
        );
    }
}
