//! Linear memory: the whole addressable range plus a guard is reserved once
//! (`rung_tiering::MEMORY32_RESERVATION`, 8 GiB of address space, for a
//! 32-bit memory; `MEMORY64_RESERVATION`, 16 GiB, for a 64-bit one, which
//! grows to at most 8 GiB: ARCHITECTURE.md, "64-bit memories and tables") with
//! `PROT_NONE`, and pages are committed (made read-write) as the memory
//! grows, so the base never moves and code may keep it in a register across
//! calls. Every access beyond the length faults, which lets compiled code
//! skip bounds checks (the fault at a recorded trap site is the trap).
//!
//! **Invariant:** `def.base` never changes after creation; `def.length` is
//! the committed size in bytes, a multiple of the page size, and only grows.
//! Compiled code reads both through the vmctx's `MemoryDef`, which is this
//! value's `def` (imported memories point at it).
//!
//! A shared memory (`SharedMemory`, ARCHITECTURE.md "Threads") is an `Arc`
//! that every store holding it shares, across threads: its definition lives
//! in the `Arc`, its length is read and written atomically (growth under a
//! lock), and it has the parking lot of `memory.atomic.wait`/`notify`.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use rustix::mm::{MapFlags, MprotectFlags, ProtFlags};

/// The size of a wasm page.
pub const WASM_PAGE: u64 = 65536;

/// What compiled code sees: `{base, length}`, as `VmOffsets`'s `MemoryLayout`.
#[repr(C)]
#[derive(Debug)]
pub struct MemoryDef {
    pub base: *mut u8,
    pub length: usize,
}

/// A reserved range of address space, unmapped on drop.
struct Reservation {
    base: *mut u8,
    len: usize,
}

impl Reservation {
    /// Reserves the address space a memory of that index type needs
    /// (`MEMORY32_RESERVATION` or `MEMORY64_RESERVATION`), all inaccessible.
    fn new(memory64: bool) -> Result<Reservation, String> {
        let len = if memory64 {
            rung_tiering::MEMORY64_RESERVATION
        } else {
            rung_tiering::MEMORY32_RESERVATION
        };
        let len = usize::try_from(len)
            .map_err(|_| "the host's address space is too small".to_string())?;
        // SAFETY: a fresh anonymous mapping, inaccessible until committed.
        let base = unsafe {
            rustix::mm::mmap_anonymous(
                std::ptr::null_mut(),
                len,
                ProtFlags::empty(),
                MapFlags::PRIVATE | MapFlags::NORESERVE,
            )
        }
        .map_err(|e| format!("cannot reserve linear memory: {e}"))?
        .cast::<u8>();
        Ok(Reservation { base, len })
    }

    /// Makes `old..new` (byte offsets) readable and writable.
    fn commit(&self, old: usize, new: usize) -> Result<(), String> {
        if new > old {
            // SAFETY: `base..base + new` lies in the reservation.
            unsafe {
                rustix::mm::mprotect(
                    self.base.add(old).cast(),
                    new - old,
                    MprotectFlags::READ | MprotectFlags::WRITE,
                )
            }
            .map_err(|e| format!("cannot commit linear memory: {e}"))?;
        }
        Ok(())
    }
}

impl Drop for Reservation {
    fn drop(&mut self) {
        // SAFETY: our own reservation.
        let _ = unsafe { rustix::mm::munmap(self.base.cast(), self.len) };
    }
}

/// The page count a memory of `initial` pages and `maximum` may reach:
/// 4 GiB for a 32-bit memory, `MEMORY64_MAX_BYTES` for a 64-bit one.
fn maximum_pages(initial: u64, maximum: Option<u64>, memory64: bool) -> Result<u64, String> {
    let limit = if memory64 {
        rung_tiering::MEMORY64_MAX_BYTES / WASM_PAGE
    } else {
        65536
    };
    let maximum_pages = maximum.unwrap_or(limit).min(limit);
    if initial > maximum_pages {
        return Err(format!("memory of {initial} pages is too large"));
    }
    Ok(maximum_pages)
}

/// The length field of a definition, as an atomic.
///
/// # Safety
///
/// `def` must be live.
unsafe fn length_of<'a>(def: *mut MemoryDef) -> &'a AtomicUsize {
    // SAFETY: `length` is an aligned `usize` in a live definition; compiled
    // code only reads it.
    unsafe { AtomicUsize::from_ptr(&raw mut (*def).length) }
}

/// A shared linear memory (`(memory n m shared)`): one per definition,
/// shared by every store and thread that holds it (clones are the same
/// memory). It never moves, and its length only grows.
#[derive(Clone)]
pub struct SharedMemory(Arc<SharedInner>);

struct SharedInner {
    /// The definition every holder's compiled code and runtime read
    /// (`Box::into_raw`, freed on drop; `length` accessed atomically).
    def: *mut MemoryDef,
    reservation: Reservation,
    grow_lock: Mutex<()>,
    maximum_pages: u64,
    declared_maximum: Option<u64>,
    memory64: bool,
    /// `memory.atomic.wait`'s queues, by effective address.
    waiters: Mutex<HashMap<u64, VecDeque<Arc<Waiter>>>>,
}

// SAFETY: the definition is only written under `grow_lock` (its length
// atomically), the bytes are the wasm program's shared memory (races on
// them are the program's, as on any shared memory).
unsafe impl Send for SharedInner {}
// SAFETY: see `Send`.
unsafe impl Sync for SharedInner {}

impl Drop for SharedInner {
    fn drop(&mut self) {
        // SAFETY: made by `Box::into_raw` in `SharedMemory::new`.
        drop(unsafe { Box::from_raw(self.def) });
    }
}

/// How often a wait in an interruptible engine checks for an interrupt.
pub(crate) const INTERRUPT_POLL: Duration = Duration::from_millis(10);

/// What [`SharedMemory::wait`] returns when `interrupted` said so.
pub(crate) const WAIT_INTERRUPTED: u32 = u32::MAX;

/// One thread in `memory.atomic.wait`.
struct Waiter {
    notified: AtomicBool,
    wake: Condvar,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl SharedMemory {
    /// A 32-bit shared memory of `initial` pages that may grow to `maximum`.
    pub fn new(initial: u64, maximum: u64) -> Result<SharedMemory, crate::Error> {
        SharedMemory::create(initial, maximum, false).map_err(crate::Error::Resource)
    }

    /// A shared memory of `initial` pages that may grow to `maximum`, with
    /// 64-bit addresses if `memory64`.
    pub fn with_index_type(
        initial: u64,
        maximum: u64,
        memory64: bool,
    ) -> Result<SharedMemory, crate::Error> {
        SharedMemory::create(initial, maximum, memory64).map_err(crate::Error::Resource)
    }

    pub(crate) fn create(
        initial: u64,
        maximum: u64,
        memory64: bool,
    ) -> Result<SharedMemory, String> {
        let maximum_pages = maximum_pages(initial, Some(maximum), memory64)?;
        let reservation = Reservation::new(memory64)?;
        let length = (initial * WASM_PAGE) as usize;
        reservation.commit(0, length)?;
        let def = Box::into_raw(Box::new(MemoryDef {
            base: reservation.base,
            length,
        }));
        Ok(SharedMemory(Arc::new(SharedInner {
            def,
            reservation,
            grow_lock: Mutex::new(()),
            maximum_pages,
            declared_maximum: Some(maximum),
            memory64,
            waiters: Mutex::new(HashMap::new()),
        })))
    }

    /// The current length in bytes.
    pub fn len(&self) -> usize {
        // SAFETY: the definition lives as long as `self.0`.
        unsafe { length_of(self.0.def) }.load(Ordering::Acquire)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The current size in pages.
    pub fn pages(&self) -> u64 {
        self.len() as u64 / WASM_PAGE
    }

    /// The declared maximum in pages.
    pub fn maximum(&self) -> u64 {
        self.0.declared_maximum.unwrap_or(self.0.maximum_pages)
    }

    /// This memory as a `Memory` of `store` (e.g. to define it in a
    /// `Linker` there): one store per thread, all over the same bytes.
    pub fn attach(&self, store: &mut crate::Store) -> crate::Memory {
        let index = store.inner.memories.len() as u32;
        store
            .inner
            .memories
            .push(LinearMemory::from_shared(self.clone()));
        crate::Memory {
            store: store.inner.id,
            index,
        }
    }

    /// The first byte; the memory never moves, so this stays valid while
    /// any clone lives. Bytes below `len()` are accessible.
    pub fn data_ptr(&self) -> *mut u8 {
        self.0.reservation.base
    }

    /// Grows by `delta` pages on any thread; returns the old size in pages,
    /// or `None` when it cannot grow that far.
    pub fn grow(&self, delta: u64) -> Option<u64> {
        let _guard = lock(&self.0.grow_lock);
        let old_len = self.len();
        let old = old_len as u64 / WASM_PAGE;
        let new = old.checked_add(delta)?;
        if new > self.0.maximum_pages {
            return None;
        }
        let new_len = (new * WASM_PAGE) as usize;
        self.0.reservation.commit(old_len, new_len).ok()?;
        // SAFETY: the definition lives as long as `self.0`.
        unsafe { length_of(self.0.def) }.store(new_len, Ordering::Release);
        Some(old)
    }

    /// Whether two handles are the same memory.
    pub fn same(&self, other: &SharedMemory) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }

    /// `memory.atomic.wait`: if `equal()` (read under the queue lock, so no
    /// `notify` slips in between), sleeps at `addr` until notified (0) or
    /// until `timeout` passes (2); else 1. `None` waits forever. With
    /// `interrupted`, wakes every [`INTERRUPT_POLL`] to ask it and gives
    /// up with [`WAIT_INTERRUPTED`] when it says so.
    pub(crate) fn wait(
        &self,
        addr: u64,
        equal: impl FnOnce() -> bool,
        timeout: Option<Duration>,
        interrupted: Option<&dyn Fn() -> bool>,
    ) -> u32 {
        let mut queues = lock(&self.0.waiters);
        if !equal() {
            return 1;
        }
        let me = Arc::new(Waiter {
            notified: AtomicBool::new(false),
            wake: Condvar::new(),
        });
        queues.entry(addr).or_default().push_back(me.clone());
        let deadline = timeout.and_then(|t| Instant::now().checked_add(t));
        loop {
            if me.notified.load(Ordering::Acquire) {
                return 0;
            }
            let now = Instant::now();
            let give_up = if deadline.is_some_and(|d| now >= d) {
                Some(2)
            } else if interrupted.is_some_and(|i| i()) {
                Some(WAIT_INTERRUPTED)
            } else {
                None
            };
            if let Some(result) = give_up {
                if let Some(q) = queues.get_mut(&addr) {
                    q.retain(|w| !Arc::ptr_eq(w, &me));
                    if q.is_empty() {
                        queues.remove(&addr);
                    }
                }
                return result;
            }
            let mut slice = deadline.map(|d| d - now);
            if interrupted.is_some() {
                slice = Some(slice.map_or(INTERRUPT_POLL, |s| s.min(INTERRUPT_POLL)));
            }
            queues = match slice {
                None => me.wake.wait(queues).unwrap_or_else(|e| e.into_inner()),
                Some(s) => {
                    me.wake
                        .wait_timeout(queues, s)
                        .unwrap_or_else(|e| e.into_inner())
                        .0
                }
            };
        }
    }

    /// `memory.atomic.notify`: wakes at most `count` waiters at `addr`, the
    /// longest-waiting first; returns how many.
    pub(crate) fn notify(&self, addr: u64, count: u32) -> u32 {
        let mut queues = lock(&self.0.waiters);
        let Some(q) = queues.get_mut(&addr) else {
            return 0;
        };
        let mut woken = 0;
        while woken < count {
            let Some(w) = q.pop_front() else { break };
            w.notified.store(true, Ordering::Release);
            w.wake.notify_one();
            woken += 1;
        }
        if q.is_empty() {
            queues.remove(&addr);
        }
        woken
    }
}

/// One linear memory, as a store holds it: its own, or a clone of a
/// [`SharedMemory`].
pub struct LinearMemory {
    /// Where the definition compiled code reads lives: in the owning
    /// instance's vmctx (see `place_def_at`), or in `own` for a memory made
    /// by the host, or in the shared memory. Either way its address is
    /// stable.
    def: *mut MemoryDef,
    own: Option<Box<MemoryDef>>,
    /// The reservation of an unshared memory (a shared one's is in `shared`).
    reservation: Option<Reservation>,
    shared: Option<SharedMemory>,
    maximum_pages: u64,
    declared_maximum: Option<u64>,
    /// Addresses are `i64` (memory64).
    memory64: bool,
}

// SAFETY: the memory is plain bytes owned by this value; the runtime
// serializes access per store (a shared memory's shared state is `Sync`).
unsafe impl Send for LinearMemory {}
// SAFETY: see `Send`.
unsafe impl Sync for LinearMemory {}

impl LinearMemory {
    /// Reserves the address space of its index type and commits `initial`
    /// pages; the memory may grow to `maximum` pages (at most 4 GiB, or
    /// `MEMORY64_MAX_BYTES` if `memory64`).
    pub fn new(initial: u64, maximum: Option<u64>, memory64: bool) -> Result<Self, String> {
        let maximum_pages = maximum_pages(initial, maximum, memory64)?;
        let reservation = Reservation::new(memory64)?;
        let mut own = Box::new(MemoryDef {
            base: reservation.base,
            length: 0,
        });
        let mut memory = LinearMemory {
            def: &mut *own,
            own: Some(own),
            reservation: Some(reservation),
            shared: None,
            maximum_pages,
            declared_maximum: maximum,
            memory64,
        };
        memory.commit((initial * WASM_PAGE) as usize)?;
        Ok(memory)
    }

    /// A store's handle on a shared memory.
    pub fn from_shared(shared: SharedMemory) -> Self {
        LinearMemory {
            def: shared.0.def,
            own: None,
            reservation: None,
            maximum_pages: shared.0.maximum_pages,
            declared_maximum: shared.0.declared_maximum,
            memory64: shared.0.memory64,
            shared: Some(shared),
        }
    }

    /// The shared memory this is, if it is one.
    pub fn shared(&self) -> Option<&SharedMemory> {
        self.shared.as_ref()
    }

    /// Moves the definition to `at` (inside the owning instance's vmctx).
    /// A shared memory's definition stays in the shared memory: `at` gets
    /// a copy, whose `base` compiled code reads (it never changes) and
    /// whose `length` nothing reads (`memory.size` of a shared memory is a
    /// libcall).
    ///
    /// # Safety
    ///
    /// `at` must be valid for writes of a `MemoryDef` for as long as this
    /// memory lives.
    pub unsafe fn place_def_at(&mut self, at: *mut MemoryDef) {
        // SAFETY: the caller vouches for `at`; `self.def` is live.
        unsafe {
            at.write(MemoryDef {
                base: (*self.def).base,
                length: self.len(),
            });
        }
        if self.shared.is_none() {
            self.def = at;
            self.own = None;
        }
    }

    fn def(&self) -> &MemoryDef {
        // SAFETY: `def` is live for as long as `self` (see the field docs).
        unsafe { &*self.def }
    }

    fn commit(&mut self, new_length: usize) -> Result<(), String> {
        let old = self.len();
        if let Some(r) = &self.reservation {
            r.commit(old, new_length)?;
        }
        // SAFETY: as `def`.
        unsafe { length_of(self.def) }.store(new_length, Ordering::Release);
        Ok(())
    }

    /// Grows by `delta` pages; returns the old size in pages, or `None` when
    /// the memory cannot grow that far (`memory.grow` then returns -1).
    pub fn grow(&mut self, delta: u64) -> Option<u64> {
        if let Some(s) = &self.shared {
            return s.grow(delta);
        }
        let old = self.pages();
        let new = old.checked_add(delta)?;
        if new > self.maximum_pages {
            return None;
        }
        self.commit((new * WASM_PAGE) as usize).ok()?;
        Some(old)
    }

    pub fn pages(&self) -> u64 {
        self.len() as u64 / WASM_PAGE
    }

    pub fn len(&self) -> usize {
        // SAFETY: as `def`.
        unsafe { length_of(self.def) }.load(Ordering::Acquire)
    }

    /// The maximum the memory was declared with, if any.
    pub fn declared_maximum(&self) -> Option<u64> {
        self.declared_maximum
    }

    /// Whether addresses are `i64` (memory64).
    pub fn memory64(&self) -> bool {
        self.memory64
    }

    /// The definition compiled code reads.
    pub fn def_ptr(&self) -> *mut MemoryDef {
        self.def
    }

    pub fn data(&self) -> &[u8] {
        // SAFETY: `base..base + length` is committed and ours.
        unsafe { std::slice::from_raw_parts(self.def().base, self.len()) }
    }

    pub fn data_mut(&mut self) -> &mut [u8] {
        // SAFETY: as `data`, and `&mut self` makes the access exclusive
        // (for a shared memory: as exclusive as the program's own races).
        unsafe { std::slice::from_raw_parts_mut(self.def().base, self.len()) }
    }
}
