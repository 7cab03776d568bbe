//! The libcalls: runtime functions compiled code calls through the vmctx's
//! libcall table, with the signatures `rung_tiering::Libcall` documents.
//!
//! Each entry point finds its instance through the vmctx's `runtime_data`
//! word, does the work in a helper that returns `Result<_, TrapCode>`, and
//! raises the trap (if any) from a frame that owns nothing.

use std::sync::LazyLock;

use rung_decoder::ModuleEnv;
use rung_tiering::{Libcall, TrapCode, VmOffsets};

use crate::instance::InstanceData;
use crate::store::StoreInner;
use crate::traps::{Trap, raise};

/// Offsets of the vmctx header, which do not depend on the module.
static HEADER: LazyLock<Option<VmOffsets>> =
    LazyLock::new(|| VmOffsets::for_host(&ModuleEnv::default()).ok());

/// The libcall table, in `Libcall::index()` order.
pub(crate) fn table() -> Box<[usize]> {
    Libcall::ALL
        .iter()
        .map(|l| match l {
            Libcall::MemoryGrow => memory_grow as *const () as usize,
            Libcall::MemoryFill => memory_fill as *const () as usize,
            Libcall::MemoryCopy => memory_copy as *const () as usize,
            Libcall::MemoryInit => memory_init as *const () as usize,
            Libcall::DataDrop => data_drop as *const () as usize,
            Libcall::TableGrow => table_grow as *const () as usize,
            Libcall::TableFill => table_fill as *const () as usize,
            Libcall::TableCopy => table_copy as *const () as usize,
            Libcall::TableInit => table_init as *const () as usize,
            Libcall::ElemDrop => elem_drop as *const () as usize,
            Libcall::TableGet => table_get as *const () as usize,
            Libcall::TableSet => table_set as *const () as usize,
            Libcall::RefFunc => ref_func as *const () as usize,
            Libcall::Trap => trap as *const () as usize,
            Libcall::TierUp => tier_up as *const () as usize,
            Libcall::TierUpOsr => tier_up_osr as *const () as usize,
            Libcall::SharedMemorySize => shared_memory_size as *const () as usize,
            Libcall::MemoryAtomicWait32 => memory_atomic_wait32 as *const () as usize,
            Libcall::MemoryAtomicWait64 => memory_atomic_wait64 as *const () as usize,
            Libcall::MemoryAtomicNotify => memory_atomic_notify as *const () as usize,
            Libcall::ExnNew => crate::exceptions::exn_new as *const () as usize,
            Libcall::ThrowRef => crate::exceptions::throw_ref as *const () as usize,
            Libcall::GcAlloc => gc_alloc as *const () as usize,
            Libcall::GcSubtype => gc_subtype as *const () as usize,
            Libcall::ArrayNewData => array_new_data as *const () as usize,
            Libcall::ArrayNewElem => array_new_elem as *const () as usize,
            Libcall::ArrayInitData => array_init_data as *const () as usize,
            Libcall::ArrayInitElem => array_init_elem as *const () as usize,
            Libcall::ArrayCopy => array_copy as *const () as usize,
        })
        .collect()
}

/// The instance and store behind a vmctx.
///
/// # Safety
///
/// `vmctx` must be the vmctx of a live instance, passed by compiled code.
pub(crate) unsafe fn context<'a>(vmctx: *mut u8) -> (&'a mut InstanceData, &'a mut StoreInner) {
    let offset = HEADER.as_ref().map_or(0, |o| o.runtime_data()) as usize;
    // SAFETY: the instance wrote its own address at `runtime_data`, and its
    // store pointer; both outlive any call into its code.
    unsafe {
        let inst = &mut *vmctx.add(offset).cast::<*mut InstanceData>().read();
        let store = &mut *inst.store;
        (inst, store)
    }
}

fn check(result: Result<(), TrapCode>) {
    if let Err(code) = result {
        // SAFETY: libcalls run below `catch_traps`, in frames that own
        // nothing when they get here.
        unsafe { raise(Trap::wasm(code)) }
    }
}

/// `base..base + len` within `size`, as a `usize` range.
fn range(base: u64, len: u64, size: usize) -> Option<std::ops::Range<usize>> {
    let end = base.checked_add(len)?;
    (end <= size as u64).then_some(base as usize..end as usize)
}

unsafe extern "sysv64" fn memory_grow(vmctx: *mut u8, memory: u32, delta: u64) -> u64 {
    // SAFETY: called by compiled code with its vmctx.
    let (inst, store) = unsafe { context(vmctx) };
    let m = inst.memories[memory as usize] as usize;
    store.grow_memory(m, delta).unwrap_or(u64::MAX)
}

unsafe extern "sysv64" fn shared_memory_size(vmctx: *mut u8, memory: u32) -> u64 {
    // SAFETY: called by compiled code with its vmctx.
    let (inst, store) = unsafe { context(vmctx) };
    let m = inst.memories[memory as usize] as usize;
    store.memories[m].pages()
}

/// The effective address of a wait or notify of `bytes` at `addr +
/// offset`, after the alignment and bounds checks (in that order, as the
/// inline atomics).
fn waitable(
    memory: &crate::memory::LinearMemory,
    addr: u64,
    offset: u64,
    bytes: u64,
) -> Result<u64, TrapCode> {
    let ea = addr
        .checked_add(offset)
        .ok_or(TrapCode::MemoryOutOfBounds)?;
    if ea % bytes != 0 {
        return Err(TrapCode::HeapMisaligned);
    }
    if range(ea, bytes, memory.len()).is_none() {
        return Err(TrapCode::MemoryOutOfBounds);
    }
    Ok(ea)
}

/// `memory.atomic.wait32/64`: `timeout` in nanoseconds, negative for none.
/// In an interruptible engine the wait also ends, with `Interrupt`, when
/// the caller's `interrupt` field is set.
#[allow(clippy::too_many_arguments)]
fn atomic_wait(
    vmctx: *mut u8,
    interruptible: bool,
    memory: &crate::memory::LinearMemory,
    addr: u64,
    offset: u64,
    bytes: u64,
    expected: u64,
    timeout: i64,
) -> Result<u32, TrapCode> {
    let ea = waitable(memory, addr, offset, bytes)?;
    let Some(shared) = memory.shared() else {
        return Err(TrapCode::AtomicWaitNonShared);
    };
    // SAFETY: `ea + bytes` is within the memory (checked above) and aligned.
    let at = unsafe { shared.data_ptr().add(ea as usize) };
    let equal = || {
        use std::sync::atomic::{AtomicU32, AtomicU64, Ordering::SeqCst};
        // SAFETY: as `at`; wasm code accesses these bytes atomically or
        // racily, as any shared memory.
        unsafe {
            if bytes == 4 {
                AtomicU32::from_ptr(at.cast()).load(SeqCst) == expected as u32
            } else {
                AtomicU64::from_ptr(at.cast()).load(SeqCst) == expected
            }
        }
    };
    let timeout = u64::try_from(timeout)
        .ok()
        .map(std::time::Duration::from_nanos);
    let interrupted = || {
        let offset = HEADER.as_ref().map_or(0, |o| o.interrupt()) as usize;
        // SAFETY: the caller's vmctx is live for the whole call; the field
        // is the `u32` that `InterruptHandle`s set from other threads.
        unsafe { std::sync::atomic::AtomicU32::from_ptr(vmctx.add(offset).cast()) }
            .load(std::sync::atomic::Ordering::Relaxed)
            != 0
    };
    let check: Option<&dyn Fn() -> bool> = if interruptible {
        Some(&interrupted)
    } else {
        None
    };
    match shared.wait(ea, equal, timeout, check) {
        crate::memory::WAIT_INTERRUPTED => Err(TrapCode::Interrupt),
        r => Ok(r),
    }
}

fn raise_or<T>(result: Result<T, TrapCode>, default: T) -> T {
    match result {
        Ok(v) => v,
        Err(code) => {
            check(Err(code));
            default
        }
    }
}

unsafe extern "sysv64" fn memory_atomic_wait32(
    vmctx: *mut u8,
    memory: u32,
    addr: u64,
    expected: u32,
    timeout: i64,
    offset: u64,
) -> u32 {
    // SAFETY: called by compiled code with its vmctx.
    unsafe { wait(vmctx, memory, addr, offset, 4, u64::from(expected), timeout) }
}

unsafe extern "sysv64" fn memory_atomic_wait64(
    vmctx: *mut u8,
    memory: u32,
    addr: u64,
    expected: u64,
    timeout: i64,
    offset: u64,
) -> u32 {
    // SAFETY: called by compiled code with its vmctx.
    unsafe { wait(vmctx, memory, addr, offset, 8, expected, timeout) }
}

/// `memory.atomic.wait32/64` (`size` 4 or 8) on the instance's memory
/// `memory`; traps are raised.
///
/// # Safety
///
/// `vmctx` is the vmctx compiled code passed to a libcall.
unsafe fn wait(
    vmctx: *mut u8,
    memory: u32,
    addr: u64,
    offset: u64,
    size: u64,
    expected: u64,
    timeout: i64,
) -> u32 {
    // SAFETY: the caller's contract.
    let (inst, store) = unsafe { context(vmctx) };
    let m = &store.memories[inst.memories[memory as usize] as usize];
    let interruptible = store.engine.config().interruptible;
    raise_or(
        atomic_wait(
            vmctx,
            interruptible,
            m,
            addr,
            offset,
            size,
            expected,
            timeout,
        ),
        0,
    )
}

unsafe extern "sysv64" fn memory_atomic_notify(
    vmctx: *mut u8,
    memory: u32,
    addr: u64,
    count: u32,
    offset: u64,
) -> u32 {
    // SAFETY: called by compiled code with its vmctx.
    let (inst, store) = unsafe { context(vmctx) };
    let m = &store.memories[inst.memories[memory as usize] as usize];
    let woken = waitable(m, addr, offset, 4).map(|ea| match m.shared() {
        Some(shared) => shared.notify(ea, count),
        // Nothing can wait on an unshared memory.
        None => 0,
    });
    raise_or(woken, 0)
}

unsafe extern "sysv64" fn memory_fill(vmctx: *mut u8, memory: u32, dst: u64, value: u32, len: u64) {
    // SAFETY: called by compiled code with its vmctx.
    let (inst, store) = unsafe { context(vmctx) };
    let m = inst.memories[memory as usize] as usize;
    let data = store.memories[m].data_mut();
    check(match range(dst, len, data.len()) {
        Some(r) => {
            data[r].fill(value as u8);
            Ok(())
        }
        None => Err(TrapCode::MemoryOutOfBounds),
    })
}

unsafe extern "sysv64" fn memory_copy(
    vmctx: *mut u8,
    dst_memory: u32,
    src_memory: u32,
    dst: u64,
    src: u64,
    len: u64,
) {
    // SAFETY: called by compiled code with its vmctx.
    let (inst, store) = unsafe { context(vmctx) };
    let d = inst.memories[dst_memory as usize] as usize;
    let s = inst.memories[src_memory as usize] as usize;
    let src_len = store.memories[s].len();
    let dst_len = store.memories[d].len();
    check(match (range(src, len, src_len), range(dst, len, dst_len)) {
        (Some(sr), Some(dr)) => {
            let from = store.memories[s].data()[sr].as_ptr();
            let to = store.memories[d].data_mut()[dr].as_mut_ptr();
            // SAFETY: both ranges were checked against their memories;
            // `copy` allows overlap.
            unsafe { std::ptr::copy(from, to, len as usize) };
            Ok(())
        }
        _ => Err(TrapCode::MemoryOutOfBounds),
    })
}

unsafe extern "sysv64" fn memory_init(
    vmctx: *mut u8,
    memory: u32,
    data: u32,
    dst: u64,
    src: u32,
    len: u32,
) {
    // SAFETY: called by compiled code with its vmctx.
    let (inst, store) = unsafe { context(vmctx) };
    let m = inst.memories[memory as usize] as usize;
    let segment: &[u8] = if inst.data_dropped[data as usize] {
        &[]
    } else {
        &inst.module.inner.data[data as usize].bytes
    };
    let mem = store.memories[m].data_mut();
    check(
        match (
            range(src as u64, len as u64, segment.len()),
            range(dst, len as u64, mem.len()),
        ) {
            (Some(sr), Some(dr)) => {
                mem[dr].copy_from_slice(&segment[sr]);
                Ok(())
            }
            _ => Err(TrapCode::MemoryOutOfBounds),
        },
    )
}

unsafe extern "sysv64" fn data_drop(vmctx: *mut u8, data: u32) {
    // SAFETY: called by compiled code with its vmctx.
    let (inst, _) = unsafe { context(vmctx) };
    inst.data_dropped[data as usize] = true;
}

unsafe extern "sysv64" fn table_grow(vmctx: *mut u8, table: u32, delta: u64, init: usize) -> u64 {
    // SAFETY: called by compiled code with its vmctx.
    let (inst, store) = unsafe { context(vmctx) };
    let t = inst.tables[table as usize] as usize;
    store.grow_table(t, delta, init).map_or(u64::MAX, u64::from)
}

unsafe extern "sysv64" fn table_fill(vmctx: *mut u8, table: u32, dst: u64, value: usize, len: u64) {
    // SAFETY: called by compiled code with its vmctx.
    let (inst, store) = unsafe { context(vmctx) };
    let t = &mut store.tables[inst.tables[table as usize] as usize];
    check(match range(dst, len, t.elements.len()) {
        Some(r) => {
            t.elements[r].fill(value);
            Ok(())
        }
        None => Err(TrapCode::TableOutOfBounds),
    })
}

unsafe extern "sysv64" fn table_copy(
    vmctx: *mut u8,
    dst_table: u32,
    src_table: u32,
    dst: u64,
    src: u64,
    len: u64,
) {
    // SAFETY: called by compiled code with its vmctx.
    let (inst, store) = unsafe { context(vmctx) };
    let d = inst.tables[dst_table as usize] as usize;
    let s = inst.tables[src_table as usize] as usize;
    let src_len = store.tables[s].elements.len();
    let dst_len = store.tables[d].elements.len();
    check(match (range(src, len, src_len), range(dst, len, dst_len)) {
        (Some(sr), Some(dr)) => {
            if d == s {
                store.tables[d].elements.copy_within(sr, dr.start);
            } else {
                let words: Vec<usize> = store.tables[s].elements[sr].to_vec();
                store.tables[d].elements[dr].copy_from_slice(&words);
            }
            Ok(())
        }
        _ => Err(TrapCode::TableOutOfBounds),
    })
}

unsafe extern "sysv64" fn table_init(
    vmctx: *mut u8,
    table: u32,
    elem: u32,
    dst: u64,
    src: u32,
    len: u32,
) {
    // SAFETY: called by compiled code with its vmctx.
    let (inst, store) = unsafe { context(vmctx) };
    let t = &mut store.tables[inst.tables[table as usize] as usize];
    let segment: &[usize] = inst.elements[elem as usize].as_deref().unwrap_or(&[]);
    let tlen = t.elements.len();
    check(
        match (
            range(src as u64, len as u64, segment.len()),
            range(dst, len as u64, tlen),
        ) {
            (Some(sr), Some(dr)) => {
                t.elements[dr].copy_from_slice(&segment[sr]);
                Ok(())
            }
            _ => Err(TrapCode::TableOutOfBounds),
        },
    )
}

unsafe extern "sysv64" fn elem_drop(vmctx: *mut u8, elem: u32) {
    // SAFETY: called by compiled code with its vmctx.
    let (inst, _) = unsafe { context(vmctx) };
    inst.elements[elem as usize] = None;
}

unsafe extern "sysv64" fn table_get(vmctx: *mut u8, table: u32, index: u64) -> usize {
    // SAFETY: called by compiled code with its vmctx.
    let (inst, store) = unsafe { context(vmctx) };
    let t = &store.tables[inst.tables[table as usize] as usize];
    match t.elements.get(index as usize) {
        Some(&w) if index <= usize::MAX as u64 => w,
        _ => {
            check(Err(TrapCode::TableOutOfBounds));
            0
        }
    }
}

unsafe extern "sysv64" fn table_set(vmctx: *mut u8, table: u32, index: u64, value: usize) {
    // SAFETY: called by compiled code with its vmctx.
    let (inst, store) = unsafe { context(vmctx) };
    let t = &mut store.tables[inst.tables[table as usize] as usize];
    check(match t.elements.get_mut(index as usize) {
        Some(w) => {
            *w = value;
            Ok(())
        }
        None => Err(TrapCode::TableOutOfBounds),
    })
}

unsafe extern "sysv64" fn ref_func(vmctx: *mut u8, func: u32) -> usize {
    // SAFETY: called by compiled code with its vmctx.
    let (inst, _) = unsafe { context(vmctx) };
    let offset = inst.module.inner.offsets.funcref(func).unwrap_or(0);
    vmctx as usize + offset as usize
}

unsafe extern "sysv64" fn trap(_vmctx: *mut u8, code: u32) {
    let code = u8::try_from(code)
        .ok()
        .and_then(TrapCode::from_u8)
        .unwrap_or(TrapCode::UnreachableCodeReached);
    check(Err(code))
}

unsafe extern "sysv64" fn tier_up(vmctx: *mut u8, func: u32) {
    // SAFETY: called by compiled code with its vmctx.
    let (inst, _) = unsafe { context(vmctx) };
    crate::tierup::budget_exhausted(&inst.module, func);
}

/// `TierUpOsr`'s answer, in rax:rdx.
#[repr(C)]
pub(crate) struct OsrTarget {
    pub entry: usize,
    pub buffer: usize,
}

unsafe extern "sysv64" fn tier_up_osr(
    vmctx: *mut u8,
    func: u32,
    frame: *const u8,
    saved: *const u8,
    at: *const u8,
) -> OsrTarget {
    // SAFETY: called by compiled code with its vmctx.
    let (inst, _) = unsafe { context(vmctx) };
    // SAFETY: called by a tier-up routine with its frame pointer, its save
    // area and its return address, as `Libcall::TierUpOsr` says.
    unsafe { crate::tierup::osr_switch(&inst.module, func, frame, saved, at as usize) }
}

// ---- GC (see `gc`) -------------------------------------------------------

fn raise_code(code: TrapCode) -> ! {
    // SAFETY: libcalls run below `catch_traps`, in frames that own nothing
    // when they get here.
    unsafe { raise(Trap::wasm(code)) }
}

unsafe extern "sysv64" fn gc_alloc(vmctx: *mut u8, size: u64) -> usize {
    // SAFETY: called by compiled code with its vmctx.
    let (_, store) = unsafe { context(vmctx) };
    match store.gc.alloc(size as usize) {
        Ok(p) => p,
        Err(code) => raise_code(code),
    }
}

unsafe extern "sysv64" fn gc_subtype(vmctx: *mut u8, sub: u32, sup: u32) -> u32 {
    // SAFETY: called by compiled code with its vmctx.
    let (_, store) = unsafe { context(vmctx) };
    u32::from(store.gc.is_subtype(sub, sup))
}

/// The element type and size of the array at `array`.
fn array_elem(store: &StoreInner, array: usize) -> (wasmparser::StorageType, usize) {
    // SAFETY: compiled code passes non-null arrays.
    let id = unsafe { crate::gc::type_of(array) };
    match store.gc.type_info(id).as_deref().map(|t| &t.kind) {
        Some(crate::gc::GcKind::Array {
            elem, elem_size, ..
        }) => (*elem, *elem_size as usize),
        _ => raise_code(TrapCode::CastFailure),
    }
}

fn array_len(array: usize) -> u32 {
    // SAFETY: compiled code passes non-null arrays.
    unsafe { *((array + rung_tiering::gc::GC_ARRAY_LEN as usize) as *const u32) }
}

fn array_elems(array: usize) -> usize {
    array + rung_tiering::gc::GC_ARRAY_ELEMS as usize
}

/// A new array of the module's type `ty` holding `len` elements.
fn new_array(inst: &InstanceData, store: &StoreInner, ty: u32, len: u32) -> (usize, usize) {
    let id = inst.module.inner.type_ids[ty as usize];
    match store.gc.new_array_zeroed(id, len) {
        Ok(p) => (p, array_elem(store, p).1),
        Err(code) => raise_code(code),
    }
}

unsafe extern "sysv64" fn array_new_data(
    vmctx: *mut u8,
    ty: u32,
    data: u32,
    offset: u32,
    len: u32,
) -> usize {
    // SAFETY: called by compiled code with its vmctx.
    let (inst, store) = unsafe { context(vmctx) };
    let id = inst.module.inner.type_ids[ty as usize];
    let elem_size = match store.gc.type_info(id).as_deref().map(|t| &t.kind) {
        Some(crate::gc::GcKind::Array { elem_size, .. }) => *elem_size as u64,
        _ => raise_code(TrapCode::CastFailure),
    };
    let bytes: &[u8] = if inst.data_dropped[data as usize] {
        &[]
    } else {
        &inst.module.inner.data[data as usize].bytes
    };
    let Some(r) = range(offset as u64, len as u64 * elem_size, bytes.len()) else {
        raise_code(TrapCode::MemoryOutOfBounds)
    };
    let (p, _) = new_array(inst, store, ty, len);
    // SAFETY: the new array has room for `len` elements.
    unsafe {
        let n = r.len();
        std::ptr::copy_nonoverlapping(bytes[r].as_ptr(), array_elems(p) as *mut u8, n);
    }
    p
}

unsafe extern "sysv64" fn array_new_elem(
    vmctx: *mut u8,
    ty: u32,
    elem: u32,
    offset: u32,
    len: u32,
) -> usize {
    // SAFETY: called by compiled code with its vmctx.
    let (inst, store) = unsafe { context(vmctx) };
    let segment: &[usize] = inst.elements[elem as usize].as_deref().unwrap_or(&[]);
    let Some(r) = range(offset as u64, len as u64, segment.len()) else {
        raise_code(TrapCode::TableOutOfBounds)
    };
    let (p, _) = new_array(inst, store, ty, len);
    // SAFETY: the new array has room for `len` words.
    unsafe {
        std::ptr::copy_nonoverlapping(
            segment[r].as_ptr(),
            array_elems(p) as *mut usize,
            len as usize,
        );
    }
    p
}

unsafe extern "sysv64" fn array_init_data(
    vmctx: *mut u8,
    data: u32,
    array: usize,
    dst: u32,
    src: u32,
    len: u32,
) {
    // SAFETY: called by compiled code with its vmctx.
    let (inst, store) = unsafe { context(vmctx) };
    let (_, elem_size) = array_elem(store, array);
    if range(dst as u64, len as u64, array_len(array) as usize).is_none() {
        raise_code(TrapCode::ArrayOutOfBounds)
    }
    let bytes: &[u8] = if inst.data_dropped[data as usize] {
        &[]
    } else {
        &inst.module.inner.data[data as usize].bytes
    };
    let Some(r) = range(src as u64, len as u64 * elem_size as u64, bytes.len()) else {
        raise_code(TrapCode::MemoryOutOfBounds)
    };
    // SAFETY: in bounds of the array (checked above).
    unsafe {
        std::ptr::copy_nonoverlapping(
            bytes[r].as_ptr(),
            (array_elems(array) + dst as usize * elem_size) as *mut u8,
            len as usize * elem_size,
        );
    }
}

unsafe extern "sysv64" fn array_init_elem(
    vmctx: *mut u8,
    elem: u32,
    array: usize,
    dst: u32,
    src: u32,
    len: u32,
) {
    // SAFETY: called by compiled code with its vmctx.
    let (inst, _) = unsafe { context(vmctx) };
    if range(dst as u64, len as u64, array_len(array) as usize).is_none() {
        raise_code(TrapCode::ArrayOutOfBounds)
    }
    let segment: &[usize] = inst.elements[elem as usize].as_deref().unwrap_or(&[]);
    let Some(r) = range(src as u64, len as u64, segment.len()) else {
        raise_code(TrapCode::TableOutOfBounds)
    };
    // SAFETY: in bounds of the array (checked above); words.
    unsafe {
        std::ptr::copy_nonoverlapping(
            segment[r].as_ptr(),
            (array_elems(array) as *mut usize).add(dst as usize),
            len as usize,
        );
    }
}

unsafe extern "sysv64" fn array_copy(
    vmctx: *mut u8,
    dst: usize,
    dst_index: u32,
    src: usize,
    src_index: u32,
    len: u32,
) {
    // SAFETY: called by compiled code with its vmctx.
    let (_, store) = unsafe { context(vmctx) };
    if range(dst_index as u64, len as u64, array_len(dst) as usize).is_none()
        || range(src_index as u64, len as u64, array_len(src) as usize).is_none()
    {
        raise_code(TrapCode::ArrayOutOfBounds)
    }
    let (_, elem_size) = array_elem(store, dst);
    // SAFETY: both ranges are in bounds (checked above); they may overlap.
    unsafe {
        std::ptr::copy(
            (array_elems(src) + src_index as usize * elem_size) as *const u8,
            (array_elems(dst) + dst_index as usize * elem_size) as *mut u8,
            len as usize * elem_size,
        );
    }
}
