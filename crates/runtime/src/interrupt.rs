//! Stopping running wasm from another thread: [`InterruptHandle`].
//!
//! With `Config::interruptible`, both tiers check their vmctx's `interrupt`
//! field at every function entry and every loop back-edge (the optimizer:
//! every loop header) and trap with
//! `TrapCode::Interrupt` ("interrupted") when it is nonzero. A store keeps
//! the address of each of its instances' fields in one [`Interrupts`] that
//! its handles share: [`InterruptHandle::interrupt`] sets them all, so the
//! code running in the store, or the next call into it, traps; the runtime
//! clears them when that trap reaches the host, and later calls run as usual.
//!
//! **Invariant:** the list holds only fields of live vmctxs: the store
//! empties it (under the lock) before anything of it is freed, so a handle
//! that outlives its store interrupts nothing.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use parking_lot::Mutex;

/// The interrupt fields of one store's instances.
#[derive(Default)]
pub(crate) struct Interrupts {
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    /// Addresses of the `interrupt: u32` fields, one per instance.
    fields: Vec<usize>,
    /// Whether an interrupt is pending (new instances start with it).
    pending: bool,
}

impl Interrupts {
    /// Registers the interrupt field of a new instance's vmctx.
    ///
    /// # Safety
    ///
    /// `field` must be an aligned `u32` of a vmctx that lives until
    /// [`Interrupts::forget_all`].
    pub unsafe fn add(&self, field: *mut u32) {
        let mut state = self.state.lock();
        // SAFETY: the caller vouches for the field.
        unsafe { AtomicU32::from_ptr(field).store(u32::from(state.pending), Ordering::SeqCst) };
        state.fields.push(field as usize);
    }

    /// Sets (or, with `false`, clears) every field.
    pub fn set_all(&self, on: bool) {
        let mut state = self.state.lock();
        state.pending = on;
        for &field in &state.fields {
            // SAFETY: the list holds only fields of live vmctxs (the module
            // invariant), and each is an aligned `u32`.
            unsafe {
                AtomicU32::from_ptr(field as *mut u32).store(u32::from(on), Ordering::SeqCst)
            };
        }
    }

    /// Forgets every field (the store is going away).
    pub fn forget_all(&self) {
        self.state.lock().fields.clear();
    }
}

/// Asks the wasm code of one store to stop: whatever runs in it now, or
/// the next call into it, traps with "interrupted" at its next function
/// entry or loop back-edge. Cheap to clone, and usable from any thread,
/// also after the store is gone (then it does nothing).
#[derive(Clone)]
pub struct InterruptHandle {
    pub(crate) interrupts: Arc<Interrupts>,
}

impl InterruptHandle {
    /// Requests the interrupt.
    pub fn interrupt(&self) {
        self.interrupts.set_all(true);
    }
}

impl std::fmt::Debug for InterruptHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InterruptHandle").finish_non_exhaustive()
    }
}
