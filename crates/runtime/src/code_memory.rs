//! Executable memory: compiled functions copied into fresh pages that are
//! written while read-write and then made read-execute, never both (W^X).
//!
//! A [`CodeMemory`] is immutable once published: tier-up links new code into
//! a new `CodeMemory` and keeps the old one mapped while any frame may still
//! run it (its owner keeps it alive).
//!
//! Every published range is registered in a process-wide map from code
//! address to (module code, function), so that the `Trap` libcall can turn a
//! return address into a function index and a wasm byte offset.

use std::collections::BTreeMap;
use std::sync::Arc;

use parking_lot::RwLock;
use rung_tiering::osr::{OsrExits, OsrLoop};
use rung_tiering::{CompiledFunction, TrapCode, TrapSite};

/// One function's place inside a [`CodeMemory`].
#[derive(Debug, Clone)]
pub struct FunctionLocation {
    /// Absolute function index in its module.
    pub func: u32,
    /// Byte offset of the function's first instruction in the mapping.
    pub start: usize,
    pub len: usize,
    /// Code offset → wasm byte offset, as the tier produced it.
    pub offset_map: Vec<(u32, u32)>,
    /// Trapping instructions, sorted by code offset.
    pub trap_sites: Vec<TrapSite>,
    /// Its loops' OSR exits, if it has any.
    pub osr: Option<Arc<OsrExits>>,
}

/// A read-execute mapping holding one or more functions.
pub struct CodeMemory {
    ptr: *mut u8,
    len: usize,
    functions: Vec<FunctionLocation>,
}

// SAFETY: the mapping is immutable (read-execute) after `publish` and owned
// by this value; sharing its address between threads is what it is for.
unsafe impl Send for CodeMemory {}
// SAFETY: see `Send`: no interior mutability.
unsafe impl Sync for CodeMemory {}

const FUNCTION_ALIGN: usize = 16;

impl CodeMemory {
    /// Copies `functions` (index, code) into new pages, makes them
    /// read-execute and registers them for trap lookup.
    pub fn publish<'a>(
        functions: impl IntoIterator<Item = (u32, &'a CompiledFunction)>,
    ) -> std::io::Result<Arc<CodeMemory>> {
        let functions: Vec<(u32, &CompiledFunction)> = functions.into_iter().collect();
        let mut locations = Vec::with_capacity(functions.len());
        let mut len = 0usize;
        for (func, compiled) in &functions {
            len = len.next_multiple_of(FUNCTION_ALIGN);
            locations.push(FunctionLocation {
                func: *func,
                start: len,
                len: compiled.code.len(),
                offset_map: compiled.offset_map.clone(),
                trap_sites: {
                    let mut sites = compiled.trap_sites.clone();
                    sites.sort_by_key(|s| s.code_offset);
                    sites
                },
                osr: (!compiled.osr.back_edges.is_empty()).then(|| Arc::new(compiled.osr.clone())),
            });
            len += compiled.code.len();
        }
        let page = rustix::param::page_size();
        let map_len = len.max(1).next_multiple_of(page);
        // SAFETY: a fresh anonymous private mapping; no existing memory is
        // affected.
        let ptr = unsafe {
            rustix::mm::mmap_anonymous(
                std::ptr::null_mut(),
                map_len,
                rustix::mm::ProtFlags::READ | rustix::mm::ProtFlags::WRITE,
                rustix::mm::MapFlags::PRIVATE,
            )
        }?
        .cast::<u8>();
        for ((_, compiled), loc) in functions.iter().zip(&locations) {
            // SAFETY: `loc.start + loc.len <= len <= map_len`, the mapping is
            // writable and does not overlap `compiled.code`.
            unsafe {
                std::ptr::copy_nonoverlapping(
                    compiled.code.as_ptr(),
                    ptr.add(loc.start),
                    compiled.code.len(),
                )
            };
        }
        // SAFETY: `ptr..ptr + map_len` is our mapping; from here on it is
        // never written again.
        unsafe {
            rustix::mm::mprotect(
                ptr.cast(),
                map_len,
                rustix::mm::MprotectFlags::READ | rustix::mm::MprotectFlags::EXEC,
            )
        }?;
        let memory = Arc::new(CodeMemory {
            ptr,
            len: map_len,
            functions: locations,
        });
        REGISTRY
            .write()
            .insert(ptr as usize, (map_len, Arc::downgrade(&memory)));
        Ok(memory)
    }

    /// The address of function number `i` of this mapping (in `publish`
    /// order).
    pub fn function_ptr(&self, i: usize) -> *const u8 {
        // SAFETY: `start` is inside the mapping.
        unsafe { self.ptr.add(self.functions[i].start) }
    }

    /// The function containing code address `pc` and `pc`'s offset in it.
    fn locate(&self, pc: usize) -> Option<(&FunctionLocation, u32)> {
        let offset = pc.checked_sub(self.ptr as usize)?;
        let i = self
            .functions
            .partition_point(|f| f.start <= offset)
            .checked_sub(1)?;
        let f = &self.functions[i];
        let within = offset - f.start;
        (within <= f.len).then_some((f, within as u32))
    }
}

impl FunctionLocation {
    /// The wasm offset of the instruction that starts at or before code
    /// offset `at` (for a faulting instruction, its own operator).
    fn wasm_offset(&self, at: u32) -> Option<u32> {
        let j = self.offset_map.partition_point(|&(code, _)| code <= at);
        j.checked_sub(1).map(|j| self.offset_map[j].1)
    }
}

impl Drop for CodeMemory {
    fn drop(&mut self) {
        REGISTRY.write().remove(&(self.ptr as usize));
        // SAFETY: our own mapping, no longer referenced by any code (whoever
        // could run it held an `Arc` to us).
        let _ = unsafe { rustix::mm::munmap(self.ptr.cast(), self.len) };
    }
}

type Registry = BTreeMap<usize, (usize, std::sync::Weak<CodeMemory>)>;

static REGISTRY: RwLock<Registry> = RwLock::new(BTreeMap::new());

/// The published code `pc` is in.
fn memory_at(pc: usize) -> Option<Arc<CodeMemory>> {
    let memory = {
        let registry = REGISTRY.read();
        let (&start, (len, memory)) = registry.range(..=pc).next_back()?;
        if pc >= start + len {
            return None;
        }
        memory.clone()
    };
    // Upgraded outside the lock: should this be the last strong reference,
    // its drop takes the lock again.
    memory.upgrade()
}

/// The OSR exit of the back-edge whose call of the tier-up routine returns
/// to `at`: the function's index and the loop.
pub fn lookup_osr_exit(at: usize) -> Option<(u32, OsrLoop)> {
    let memory = memory_at(at)?;
    let (f, offset) = memory.locate(at)?;
    let exit = f.osr.as_ref()?.at(offset)?.clone();
    Some((f.func, exit))
}

/// What a trapping instruction at `pc` means: its trap code, function and
/// wasm offset. `None` when `pc` is not a trap site of published code.
pub fn lookup_trap(pc: usize) -> Option<(TrapCode, u32, Option<u32>)> {
    let memory = memory_at(pc)?;
    let (f, at) = memory.locate(pc)?;
    let i = f
        .trap_sites
        .binary_search_by_key(&at, |s| s.code_offset)
        .ok()?;
    Some((f.trap_sites[i].trap, f.func, f.wasm_offset(at)))
}
