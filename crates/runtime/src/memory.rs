//! Linear memory: the whole addressable range plus a guard is reserved once
//! (`rung_tiering::MEMORY32_RESERVATION`, 8 GiB of address space) with
//! `PROT_NONE`, and pages are committed (made read-write) as the memory
//! grows, so the base never moves and code may keep it in a register across
//! calls. Every access beyond the length faults, which lets compiled code
//! skip bounds checks (the fault at a recorded trap site is the trap).
//!
//! **Invariant:** `def.base` never changes after creation; `def.length` is
//! the committed size in bytes, a multiple of the page size, and only grows.
//! Compiled code reads both through the vmctx's `MemoryDef`, which is this
//! value's `def` (imported memories point at it).

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

/// One linear memory.
pub struct LinearMemory {
    /// Where the definition compiled code reads lives: in the owning
    /// instance's vmctx (see `place_def_at`), or in `own` for a memory made
    /// by the host. Either way its address is stable.
    def: *mut MemoryDef,
    own: Option<Box<MemoryDef>>,
    /// The reservation's start (== the definition's base), kept here so that
    /// drop does not read a definition whose vmctx may be gone already.
    base: *mut u8,
    reserved: usize,
    maximum_pages: u64,
    declared_maximum: Option<u64>,
}

// SAFETY: the memory is plain bytes owned by this value; the runtime
// serializes access per store.
unsafe impl Send for LinearMemory {}
// SAFETY: see `Send`.
unsafe impl Sync for LinearMemory {}

impl LinearMemory {
    /// Reserves `MEMORY32_RESERVATION` bytes of address space and commits
    /// `initial` pages; the memory may grow to `maximum` pages (at most 4 GiB).
    pub fn new(initial: u64, maximum: Option<u64>) -> Result<Self, String> {
        let maximum_pages = maximum.unwrap_or(65536).min(65536);
        if initial > maximum_pages {
            return Err(format!("memory of {initial} pages is too large"));
        }
        let reserved = usize::try_from(rung_tiering::MEMORY32_RESERVATION)
            .map_err(|_| "the host's address space is too small".to_string())?;
        // SAFETY: a fresh anonymous mapping, inaccessible until committed.
        let base = unsafe {
            rustix::mm::mmap_anonymous(
                std::ptr::null_mut(),
                reserved,
                ProtFlags::empty(),
                MapFlags::PRIVATE | MapFlags::NORESERVE,
            )
        }
        .map_err(|e| format!("cannot reserve linear memory: {e}"))?
        .cast::<u8>();
        let mut own = Box::new(MemoryDef { base, length: 0 });
        let mut memory = LinearMemory {
            def: &mut *own,
            own: Some(own),
            base,
            reserved,
            maximum_pages,
            declared_maximum: maximum,
        };
        memory.commit((initial * WASM_PAGE) as usize)?;
        Ok(memory)
    }

    /// Moves the definition to `at` (inside the owning instance's vmctx).
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
                length: (*self.def).length,
            });
        }
        self.def = at;
        self.own = None;
    }

    fn def(&self) -> &MemoryDef {
        // SAFETY: `def` is live for as long as `self` (see the field docs).
        unsafe { &*self.def }
    }

    fn commit(&mut self, new_length: usize) -> Result<(), String> {
        let (base, old) = (self.def().base, self.def().length);
        if new_length > old {
            // SAFETY: `base..base + new_length` lies in our reservation.
            unsafe {
                rustix::mm::mprotect(
                    base.add(old).cast(),
                    new_length - old,
                    MprotectFlags::READ | MprotectFlags::WRITE,
                )
            }
            .map_err(|e| format!("cannot commit linear memory: {e}"))?;
        }
        // SAFETY: as `def`; `&mut self` makes the write exclusive.
        unsafe { (*self.def).length = new_length };
        Ok(())
    }

    /// Grows by `delta` pages; returns the old size in pages, or `None` when
    /// the memory cannot grow that far (`memory.grow` then returns -1).
    pub fn grow(&mut self, delta: u64) -> Option<u64> {
        let old = self.pages();
        let new = old.checked_add(delta)?;
        if new > self.maximum_pages {
            return None;
        }
        self.commit((new * WASM_PAGE) as usize).ok()?;
        Some(old)
    }

    pub fn pages(&self) -> u64 {
        self.def().length as u64 / WASM_PAGE
    }

    pub fn len(&self) -> usize {
        self.def().length
    }

    /// The maximum the memory was declared with, if any.
    pub fn declared_maximum(&self) -> Option<u64> {
        self.declared_maximum
    }

    /// The definition compiled code reads.
    pub fn def_ptr(&self) -> *mut MemoryDef {
        self.def
    }

    pub fn data(&self) -> &[u8] {
        // SAFETY: `base..base + length` is committed and ours.
        unsafe { std::slice::from_raw_parts(self.def().base, self.def().length) }
    }

    pub fn data_mut(&mut self) -> &mut [u8] {
        // SAFETY: as `data`, and `&mut self` makes the access exclusive.
        unsafe { std::slice::from_raw_parts_mut(self.def().base, self.def().length) }
    }
}

impl Drop for LinearMemory {
    fn drop(&mut self) {
        // SAFETY: our own reservation.
        let _ = unsafe { rustix::mm::munmap(self.base.cast(), self.reserved) };
    }
}
