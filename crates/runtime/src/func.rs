//! Calls across the host boundary.
//!
//! ```text
//! host ─► Func::call ─► catch_traps ─► host-to-wasm trampoline ─► wasm code
//! wasm ─► import slot ─► wasm-to-host trampoline ─► host_entry ─► closure
//! ```
//!
//! Every function, wasm or host, is called through its funcref record:
//! `code = *record.slot`, `vmctx = record.vmctx`. A host function's record
//! points at its own context, whose slot word holds its wasm-to-host
//! trampoline, so the host calls host functions the same way wasm does.
//!
//! **Invariant:** a host closure's panic or error never unwinds through wasm
//! frames: `host_entry` catches it and raises a trap instead.

use std::panic::AssertUnwindSafe;

use wasmparser::FuncType;

use crate::Error;
use crate::instance::{read_val, write_val};
use crate::store::{Caller, Func, FuncData, FuncKind, FuncRefRecord, HostFunc, Store, StoreInner};
use crate::traps::{Trap, catch_traps, in_wasm_call, raise};
use crate::values::{Val, val_matches};

/// The signature of a host-to-wasm trampoline (`rung_tiering::trampoline`).
type HostToWasm = unsafe extern "sysv64" fn(*mut u8, *const u8, *mut u128);

impl Func {
    /// A host function of type `ty`.
    pub fn new(
        store: &mut Store,
        ty: FuncType,
        f: impl Fn(&mut Caller<'_>, &[Val], &mut [Val]) -> Result<(), Trap> + Send + Sync + 'static,
    ) -> Result<Func, Error> {
        let store = &mut *store.inner;
        let trampoline = store
            .engine
            .wasm_to_host(&ty)
            .map_err(|error| Error::Compile { func: None, error })?;
        let host = Box::new(HostFunc {
            magic: rung_tiering::trampoline::HOST_CONTEXT_MAGIC,
            _pad: 0,
            entry: host_entry_stub,
            trampoline: trampoline.ptr as usize,
            store,
            caller: None,
            ty,
            callback: std::sync::Arc::new(f),
            _trampoline_code: trampoline,
        });
        let index = push_host_func(store, host);
        Ok(Func {
            store: store.id,
            index,
        })
    }

    /// The function's type.
    ///
    /// # Panics
    ///
    /// If the handle belongs to another store.
    pub fn ty<'a>(&self, store: &'a Store) -> &'a FuncType {
        store.inner.owns(self.store, "a Func");
        &store.inner.funcs[self.index as usize].ty
    }

    /// Calls the function with `args`; a trap anywhere below returns `Err`.
    pub fn call(&self, store: &mut Store, args: &[Val]) -> Result<Vec<Val>, Trap> {
        store
            .inner
            .check(self.store)
            .map_err(|e| Trap::host(e.to_string()))?;
        call_raw(&mut store.inner, *self, args)
    }
}

/// Registers a host-function context in the store; returns its index.
pub(crate) fn push_host_func(store: &mut StoreInner, mut host: Box<HostFunc>) -> u32 {
    let type_id = store.engine.type_id(&host.ty);
    let ctx: *mut HostFunc = &mut *host;
    let record = Box::new(FuncRefRecord {
        slot: &host.trampoline,
        vmctx: ctx.cast(),
        type_id,
    });
    let index = store.funcs.len() as u32;
    store
        .func_by_record
        .insert(&*record as *const _ as usize, index);
    store.funcs.push(FuncData {
        ty: host.ty.clone(),
        record: &*record,
        _own_record: Some(record),
        host_to_wasm: None,
        kind: FuncKind::Host(host),
    });
    index
}

/// Calls `f` from the host.
pub(crate) fn call_raw(store: &mut StoreInner, f: Func, args: &[Val]) -> Result<Vec<Val>, Trap> {
    let FuncData { ty, record, .. } = &store.funcs[f.index as usize];
    let (ty, record) = (ty.clone(), *record);
    if args.len() != ty.params().len()
        || !args
            .iter()
            .zip(ty.params())
            .all(|(a, t)| val_matches(a, *t))
    {
        return Err(Trap::host(format!(
            "argument type mismatch: {ty} called with {args:?}"
        )));
    }
    let trampoline = match &store.funcs[f.index as usize].host_to_wasm {
        Some(t) => t.clone(),
        None => {
            let t = store
                .engine
                .host_to_wasm(&ty)
                .map_err(|e| Trap::host(format!("cannot compile a trampoline: {e}")))?;
            store.funcs[f.index as usize].host_to_wasm = Some(t.clone());
            t
        }
    };
    // The values' array: on the stack for up to 8 values (no allocation
    // per call), else on the heap.
    let n = ty.params().len().max(ty.results().len()).max(1);
    let mut inline = [0u128; 8];
    let mut heap = Vec::new();
    let values: &mut [u128] = if n <= inline.len() {
        &mut inline[..n]
    } else {
        heap.resize(n, 0);
        &mut heap
    };
    for ((slot, arg), t) in values.iter_mut().zip(args).zip(ty.params()) {
        // SAFETY: each slot is 16 writable bytes.
        unsafe { write_val(store, (slot as *mut u128).cast(), arg, *t) };
    }
    // SAFETY: `record` is a live funcref record of this store; its slot is
    // a word tier-up workers store to atomically (a module's code-table
    // entry) or that never changes (a host function's trampoline), so it is
    // read as the atomic it is.
    let (code, vmctx) = unsafe {
        let slot = &*(*record).slot.cast::<std::sync::atomic::AtomicUsize>();
        (
            slot.load(std::sync::atomic::Ordering::Acquire),
            (*record).vmctx,
        )
    };
    if !in_wasm_call() {
        set_stack_limits(store);
    }
    // SAFETY: the trampoline has the `HostToWasm` signature (its contract).
    let entry: HostToWasm = unsafe { std::mem::transmute::<*const u8, HostToWasm>(trampoline.ptr) };
    let values_ptr = values.as_mut_ptr();
    // SAFETY: `vmctx` and `code` belong to a live function whose type is
    // `ty`, and `values` has room for its parameters and results. The
    // closure captures only `Copy` values, so a trap's jump skips no drop.
    let outcome = catch_traps(|| unsafe { entry(vmctx, code as *const u8, values_ptr) });
    if let Err(trap) = &outcome
        && trap.code() == Some(rung_tiering::TrapCode::Interrupt)
    {
        // Served: later calls run as usual.
        store.interrupts.set_all(false);
    }
    outcome?;
    let results = ty
        .results()
        .iter()
        .zip(values.iter())
        // SAFETY: each slot is 16 readable bytes written by the trampoline.
        .map(|(t, slot)| unsafe { read_val(store, (slot as *const u128).cast(), *t) })
        .collect();
    Ok(results)
}

/// Writes this thread's stack limit into every vmctx of the store: wasm may
/// use `max_wasm_stack` bytes below here (rounded down to 64 KiB, so that
/// calls from nearby frames agree and write nothing), and never the last part
/// of the thread's stack, which the trap handler and libcalls need.
fn set_stack_limits(store: &mut StoreInner) {
    let here = {
        let marker = 0u8;
        std::hint::black_box(&marker) as *const u8 as usize
    };
    let reserve = 128 * 1024;
    let limit = (here & !0xffff)
        .saturating_sub(store.engine.config().max_wasm_stack)
        .max(thread_stack_low().saturating_add(reserve));
    if store.stack_limit == (limit, store.instances.len()) {
        return;
    }
    store.stack_limit = (limit, store.instances.len());
    for inst in &store.instances {
        let offset = inst.module.inner.offsets.stack_limit() as usize;
        // SAFETY: the stack-limit field of a live vmctx.
        unsafe { inst.vmctx_ptr().add(offset).cast::<usize>().write(limit) };
    }
}

/// The lowest address of the current thread's stack.
fn thread_stack_low() -> usize {
    thread_local! {
        static LOW: usize = {
            // SAFETY: querying the calling thread's attributes into a zeroed
            // `pthread_attr_t`, destroyed after use.
            unsafe {
                let mut attr: libc::pthread_attr_t = std::mem::zeroed();
                let mut low = 0usize;
                if libc::pthread_getattr_np(libc::pthread_self(), &mut attr) == 0 {
                    let mut addr: *mut libc::c_void = std::ptr::null_mut();
                    let mut size = 0usize;
                    if libc::pthread_attr_getstack(&attr, &mut addr, &mut size) == 0 {
                        low = addr as usize;
                    }
                    libc::pthread_attr_destroy(&mut attr);
                }
                low
            }
        };
    }
    LOW.with(|l| *l)
}

/// Where a wasm-to-host trampoline lands (`HOST_CONTEXT_ENTRY`). It passes
/// the trampoline's frame pointer to [`host_entry`] (for backtraces), and
/// if the host function threw a wasm exception, throws it from the
/// import's call site: the trampoline keeps an `rbp` frame, so `[rbp]` and
/// `[rbp + 8]` (once this stub's own frame is popped) are the calling wasm
/// frame's frame pointer and the return address of its call, where
/// `throw_search` starts, as `ThrowRef` does from a wasm frame
/// (ARCHITECTURE.md, "Exception handling": crossing boundaries). No Rust
/// frame is skipped: `host_entry` has returned.
#[unsafe(naked)]
pub(crate) unsafe extern "sysv64" fn host_entry_stub(_ctx: *mut HostFunc, _values: *mut u128) {
    core::arch::naked_asm!(
        "push rbp",
        "mov rdx, rbp",
        "mov rbp, rsp",
        "call {entry}",
        "pop rbp",
        "test rax, rax",
        "jnz 2f",
        "ret",
        "2:",
        "mov rsi, rax",
        "mov rdx, [rbp]",
        "mov rcx, [rbp + 8]",
        "jmp {throw}",
        entry = sym host_entry,
        throw = sym crate::exceptions::throw_from,
    )
}

/// Runs the host function of `ctx` called by wasm through the trampoline
/// whose frame is at `fp`; raises its trap, or returns the wasm exception
/// it threw (0 if none) for `host_entry_stub` to throw.
unsafe extern "sysv64" fn host_entry(ctx: *mut HostFunc, values: *mut u128, fp: usize) -> usize {
    // The trampoline's frame record names its caller: the wasm frame a
    // backtrace continues with once it has walked the frames this host
    // function may enter (`backtrace.rs`).
    let (caller_fp, caller_pc) = crate::backtrace::frame_record_at(fp).unwrap_or((0, 0));
    let exit = crate::backtrace::Exit {
        fp: caller_fp,
        pc: caller_pc,
        prev: crate::backtrace::exits(),
    };
    crate::backtrace::set_exits(&exit);
    // SAFETY: the trampoline passes its own context and a value array sized
    // for the function's type.
    let trap = unsafe { host_call(ctx, values) };
    crate::backtrace::set_exits(exit.prev);
    let Some(mut trap) = trap else {
        return 0;
    };
    if let crate::traps::TrapReason::Exception { exn, .. } = trap.reason {
        // SAFETY: as `host_call`.
        let store = unsafe { &*(*ctx).store };
        // Only an object of this store may be thrown here.
        if store.exns.iter().any(|o| o.as_ptr() as usize == exn) {
            return exn;
        }
    }
    if trap.wasm_backtrace.is_empty() {
        trap.wasm_backtrace =
            crate::backtrace::capture_from(caller_fp, caller_pc, false, exit.prev);
    }
    // SAFETY: we are below `catch_traps` (wasm called us) and this frame
    // owns nothing but `trap`.
    unsafe { raise(trap) }
}

/// Runs a host closure; returns the trap to raise, if any.
///
/// # Safety
///
/// As `host_entry`.
unsafe fn host_call(ctx: *mut HostFunc, values: *mut u128) -> Option<Trap> {
    // SAFETY: `ctx` is a live host-function context of its store.
    let host = unsafe { &*ctx };
    // SAFETY: the store outlives its functions; the host thread that entered
    // wasm is not using it while wasm runs.
    let store = unsafe { &mut *host.store };
    let ty = &host.ty;
    let params: Vec<Val> = ty
        .params()
        .iter()
        .enumerate()
        // SAFETY: slot `i` of the array holds parameter `i`.
        .map(|(i, t)| unsafe { read_val(store, values.add(i).cast(), *t) })
        .collect();
    let mut results: Vec<Val> = ty.results().iter().map(|t| Val::default_for(*t)).collect();
    let callback = host.callback.clone();
    let outcome = std::panic::catch_unwind(AssertUnwindSafe(|| {
        let mut caller = Caller {
            store,
            instance: host.caller,
        };
        callback(&mut caller, &params, &mut results)
    }));
    match outcome {
        Ok(Ok(())) => {
            if !results
                .iter()
                .zip(ty.results())
                .all(|(v, t)| val_matches(v, *t))
            {
                return Some(Trap::host(
                    "host function returned a value of the wrong type",
                ));
            }
            for (i, (v, t)) in results.iter().zip(ty.results()).enumerate() {
                // SAFETY: slot `i` receives result `i`.
                unsafe { write_val(store, values.add(i).cast(), v, *t) };
            }
            None
        }
        Ok(Err(trap)) => Some(trap),
        Err(panic) => {
            let message = rung_tiering::panic_message(&*panic);
            Some(Trap::host(format!("host function panicked: {message}")))
        }
    }
}
