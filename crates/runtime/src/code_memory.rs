//! Executable memory: compiled functions copied into fresh pages that are
//! written while read-write and then made read-execute, never both (W^X).
//! A module's functions go into a [`CodeArena`] as they are compiled; a
//! single function (a promotion, an OSR entry, a trampoline) is published
//! alone with [`CodeMemory::publish`].
//!
//! A [`CodeMemory`] is immutable once published: tier-up links new code into
//! a new `CodeMemory` and keeps the old one mapped while any frame may still
//! run it (its owner keeps it alive).
//!
//! Every published range is registered in a process-wide map from code
//! address to (module code, function), so that the `Trap` libcall can turn a
//! return address into a function index and a wasm byte offset.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};

use parking_lot::RwLock;
use rung_tiering::osr::{OsrExits, OsrLoop, OsrSource};
use rung_tiering::{CompiledFunction, HandlerSite, TrapCode, TrapSite};

use crate::backtrace::CodeOwner;

/// One function's place inside a [`CodeMemory`].
#[derive(Debug, Clone)]
pub struct FunctionLocation {
    /// Absolute function index in its module.
    pub func: u32,
    /// Byte offset of the function's first instruction in the mapping.
    pub start: usize,
    pub len: usize,
    /// Its trapping instructions and its code offset → wasm byte offset
    /// map, as the tier produced them, encoded compactly.
    pub sites: Sites,
    /// Its loops' OSR exits, if it has any.
    pub osr: Option<OsrTable>,
    /// Its call sites with a landing pad, sorted by return offset.
    pub handlers: Box<[HandlerSite]>,
    /// The ladder level that compiled it ([`NO_LEVEL`] for stubs and
    /// trampolines), for backtraces and profilers.
    pub level: u8,
}

/// A function's trap sites and offset map, compactly: about 2–3 bytes an
/// entry instead of 8 (cc1's baseline code has 4.1 million offset-map
/// entries and 1.2 million trap sites: 42 MiB as vectors, the largest part
/// of a module after its code). Read by a linear walk, which allocates
/// nothing (the signal handler looks up trap sites): only traps, backtraces
/// and the exception unwinder look.
///
/// Layout: the number of trap sites (LEB128); per trap site, in code
/// order, its code offset's distance from the previous site's (LEB128) and
/// its trap code (one byte); then, to the end, per offset-map entry in code
/// order, its code offset's distance from the previous entry's (LEB128) and
/// its wasm offset's difference from the previous entry's (zigzag LEB128).
/// Both walks start at offset 0.
#[derive(Debug, Clone, Default)]
pub struct Sites(Box<[u8]>);

impl Sites {
    /// Encodes `trap_sites` (any order) and `offset_map` (sorted by code
    /// offset).
    pub fn new(trap_sites: &[TrapSite], offset_map: &[(u32, u32)]) -> Sites {
        let mut traps: Vec<(u32, u8)> = trap_sites
            .iter()
            .map(|s| (s.code_offset, s.trap.as_u8()))
            .collect();
        traps.sort_by_key(|&(at, _)| at);
        let mut out = Vec::with_capacity(3 + traps.len() * 3 + offset_map.len() * 3);
        put_leb(&mut out, traps.len() as u64);
        let mut prev = 0u32;
        for (at, trap) in traps {
            put_leb(&mut out, u64::from(at - prev));
            out.push(trap);
            prev = at;
        }
        let (mut code, mut wasm) = (0u32, 0u32);
        for &(c, w) in offset_map {
            put_leb(&mut out, u64::from(c.wrapping_sub(code)));
            let delta = i64::from(w) - i64::from(wasm);
            put_leb(&mut out, ((delta << 1) ^ (delta >> 63)) as u64);
            (code, wasm) = (c, w);
        }
        Sites(out.into_boxed_slice())
    }

    /// The trap sites, in code order, then the position of the offset map.
    fn traps(&self) -> (impl Iterator<Item = (u32, u8)> + '_, usize) {
        let mut pos = 0;
        let count = get_leb(&self.0, &mut pos);
        let start = pos;
        // Skip to the offset map.
        for _ in 0..count {
            get_leb(&self.0, &mut pos);
            pos += 1;
        }
        let map = pos;
        let mut pos = start;
        let mut at = 0u32;
        let iter = (0..count).map(move |_| {
            at = at.wrapping_add(get_leb(&self.0, &mut pos) as u32);
            let trap = self.0.get(pos).copied().unwrap_or(u8::MAX);
            pos += 1;
            (at, trap)
        });
        (iter, map)
    }

    /// The trap code of the trapping instruction at code offset `at`.
    pub fn trap_at(&self, at: u32) -> Option<TrapCode> {
        let (mut traps, _) = self.traps();
        let (_, trap) = traps.find(|&(c, _)| c >= at).filter(|&(c, _)| c == at)?;
        TrapCode::ALL.get(usize::from(trap)).copied()
    }

    /// The wasm offset of the last offset-map entry at or before code
    /// offset `at`.
    pub fn wasm_offset(&self, at: u32) -> Option<u32> {
        let (_, mut pos) = self.traps();
        let (mut code, mut wasm) = (0u32, 0i64);
        let mut found = None;
        while pos < self.0.len() {
            code = code.wrapping_add(get_leb(&self.0, &mut pos) as u32);
            let zigzag = get_leb(&self.0, &mut pos);
            wasm += ((zigzag >> 1) as i64) ^ -((zigzag & 1) as i64);
            if code > at {
                break;
            }
            found = Some(wasm as u32);
        }
        found
    }

    /// The encoded size in bytes.
    #[cfg(test)]
    fn encoded_len(&self) -> usize {
        self.0.len()
    }
}

/// A function's OSR exits ([`OsrExits`]), compactly as [`Sites`] are:
/// 2–3 bytes a value instead of 16 (cc1's tiered baseline code has 31,000
/// loops, whose layouts took 11 MiB as vectors). Decoded only when a
/// back-edge asks for an OSR entry.
///
/// Layout (LEB128 throughout): the number of back-edges; per back-edge in
/// code order, its code offset's distance from the previous one's and its
/// loop's index; the number of loops; per loop, its `loop` offset, its
/// number of values, and per value `Frame(d)` as `zigzag(d) << 2`,
/// `Saved(n)` as `n << 2 | 2`, `Const(c)` as `1` then `c`.
#[derive(Debug, Clone)]
pub struct OsrTable(Box<[u8]>);

impl OsrTable {
    /// `None` for a function without OSR exits.
    pub fn new(exits: &OsrExits) -> Option<OsrTable> {
        if exits.back_edges.is_empty() {
            return None;
        }
        let mut out = Vec::new();
        put_leb(&mut out, exits.back_edges.len() as u64);
        let mut prev = 0u32;
        for &(at, lp) in &exits.back_edges {
            put_leb(&mut out, u64::from(at.wrapping_sub(prev)));
            put_leb(&mut out, u64::from(lp));
            prev = at;
        }
        put_leb(&mut out, exits.loops.len() as u64);
        for lp in &exits.loops {
            put_leb(&mut out, u64::from(lp.loop_offset));
            put_leb(&mut out, lp.values.len() as u64);
            for v in &lp.values {
                match *v {
                    OsrSource::Frame(d) => {
                        let z = ((i64::from(d) << 1) ^ (i64::from(d) >> 63)) as u64;
                        put_leb(&mut out, z << 2);
                    }
                    OsrSource::Saved(n) => put_leb(&mut out, u64::from(n) << 2 | 2),
                    OsrSource::Const(c) => {
                        put_leb(&mut out, 1);
                        put_leb(&mut out, c);
                    }
                }
            }
        }
        Some(OsrTable(out.into_boxed_slice()))
    }

    /// The loop of the back-edge whose tier-up call returns to `offset`.
    pub fn at(&self, offset: u32) -> Option<OsrLoop> {
        let b = &self.0;
        let mut pos = 0;
        let edges = get_leb(b, &mut pos);
        let (mut at, mut found) = (0u32, None);
        for _ in 0..edges {
            at = at.wrapping_add(get_leb(b, &mut pos) as u32);
            let lp = get_leb(b, &mut pos);
            if at == offset && found.is_none() {
                found = Some(lp);
            }
        }
        let want = found?;
        let loops = get_leb(b, &mut pos);
        for i in 0..loops {
            let loop_offset = get_leb(b, &mut pos) as u32;
            let count = get_leb(b, &mut pos);
            let mut values = Vec::with_capacity(if i == want { count as usize } else { 0 });
            for _ in 0..count {
                let v = get_leb(b, &mut pos);
                let value = match v & 3 {
                    0 => {
                        let z = v >> 2;
                        OsrSource::Frame((((z >> 1) as i64) ^ -((z & 1) as i64)) as i32)
                    }
                    2 => OsrSource::Saved((v >> 2) as u8),
                    _ => OsrSource::Const(get_leb(b, &mut pos)),
                };
                if i == want {
                    values.push(value);
                }
            }
            if i == want {
                return Some(OsrLoop {
                    loop_offset,
                    values,
                });
            }
        }
        None
    }
}

fn put_leb(out: &mut Vec<u8>, mut v: u64) {
    loop {
        let byte = (v & 0x7f) as u8;
        v >>= 7;
        if v == 0 {
            out.push(byte);
            return;
        }
        out.push(byte | 0x80);
    }
}

/// Reads a LEB128 at `pos` and moves past it (0 past the end: never for
/// what `put_leb` wrote).
fn get_leb(bytes: &[u8], pos: &mut usize) -> u64 {
    let mut v = 0u64;
    let mut shift = 0;
    while let Some(&b) = bytes.get(*pos) {
        *pos += 1;
        if shift < 64 {
            v |= u64::from(b & 0x7f) << shift;
        }
        shift += 7;
        if b & 0x80 == 0 {
            break;
        }
    }
    v
}

/// The level of code no tier of the ladder compiled.
pub const NO_LEVEL: u8 = u8::MAX;

/// A read-execute mapping holding one or more functions.
pub struct CodeMemory {
    ptr: *mut u8,
    len: usize,
    functions: Vec<FunctionLocation>,
    /// Whose code this is, set once when it is published into a module:
    /// names for backtraces (`backtrace.rs`).
    owner: OnceLock<CodeOwner>,
}

// SAFETY: the mapping is immutable (read-execute) after `publish` and owned
// by this value; sharing its address between threads is what it is for.
unsafe impl Send for CodeMemory {}
// SAFETY: see `Send`: no interior mutability.
unsafe impl Sync for CodeMemory {}

const FUNCTION_ALIGN: usize = 16;

/// Bytes of address space mapped for code (published memories and arena
/// reservations alike), process-wide: the memory accounting a failed
/// compile must return to its start ([`code_bytes_mapped`]).
static MAPPED: AtomicUsize = AtomicUsize::new(0);

/// How many bytes of address space the process has mapped for code right
/// now: every [`CodeMemory`] and every arena region still reserved. A
/// compile that fails gives all of its own back before it returns.
pub fn code_bytes_mapped() -> usize {
    MAPPED.load(Ordering::Acquire)
}

impl CodeMemory {
    /// Copies `functions` (index, code) into new pages, makes them
    /// read-execute and registers them for trap lookup.
    pub fn publish<'a>(
        functions: impl IntoIterator<Item = (u32, &'a CompiledFunction)>,
    ) -> std::io::Result<Arc<CodeMemory>> {
        Self::publish_at(NO_LEVEL, functions)
    }

    /// [`publish`](Self::publish) for code the tier at ladder `level`
    /// compiled.
    pub fn publish_at<'a>(
        level: u8,
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
                sites: Sites::new(&compiled.trap_sites, &compiled.offset_map),
                osr: OsrTable::new(&compiled.osr),
                handlers: compiled.handlers.clone().into_boxed_slice(),
                level,
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
        MAPPED.fetch_add(map_len, Ordering::AcqRel);
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
            owner: OnceLock::new(),
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

    /// Records whose code this is (the first call wins).
    pub(crate) fn set_owner(&self, owner: CodeOwner) {
        let _ = self.owner.set(owner);
    }

    /// Each function's code address, length in bytes, index and level.
    pub(crate) fn functions(&self) -> impl Iterator<Item = (usize, usize, u32, u8)> + '_ {
        self.functions
            .iter()
            .map(|f| (self.ptr as usize + f.start, f.len, f.func, f.level))
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
        self.sites.wasm_offset(at)
    }
}

impl Drop for CodeMemory {
    fn drop(&mut self) {
        REGISTRY.write().remove(&(self.ptr as usize));
        // SAFETY: our own mapping, no longer referenced by any code (whoever
        // could run it held an `Arc` to us).
        let _ = unsafe { rustix::mm::munmap(self.ptr.cast(), self.len) };
        MAPPED.fetch_sub(self.len, Ordering::AcqRel);
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
    let exit = f.osr.as_ref()?.at(offset)?;
    Some((f.func, exit))
}

/// What a frame whose code returns to `pc` is, to the exception unwinder.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FrameAt {
    /// A wasm function's call site with a landing pad: resume at `landing`
    /// (an address) with the stack pointer `sp_to_fp` below the frame
    /// pointer.
    Handler { landing: usize, sp_to_fp: u32 },
    /// A wasm function's call site without one: the caller is next.
    Wasm,
    /// Not wasm code: a trampoline, a stub, or no code of ours.
    Other,
}

/// The frame `pc` returns into (see [`FrameAt`]). Allocates nothing.
pub(crate) fn frame_at(pc: usize) -> FrameAt {
    let Some(memory) = memory_at(pc) else {
        return FrameAt::Other;
    };
    let Some((f, at)) = memory.locate(pc) else {
        return FrameAt::Other;
    };
    if f.func == u32::MAX {
        return FrameAt::Other;
    }
    match f.handlers.binary_search_by_key(&at, |h| h.ret_offset) {
        Ok(i) => {
            let h = f.handlers[i];
            FrameAt::Handler {
                landing: pc - at as usize + h.landing as usize,
                sp_to_fp: h.sp_to_fp,
            }
        }
        Err(_) => FrameAt::Wasm,
    }
}

/// The function and wasm offset of the call that returns to `pc`, if `pc`
/// is in a wasm function.
pub(crate) fn call_site(pc: usize) -> Option<(u32, Option<u32>)> {
    let memory = memory_at(pc)?;
    let (f, at) = memory.locate(pc)?;
    (f.func != u32::MAX).then(|| (f.func, f.wasm_offset(at.saturating_sub(1))))
}

/// What a backtrace says of the wasm frame at `pc`: function index, wasm
/// offset, level and owner. `exact`: `pc` is the instruction that trapped;
/// else a return address, whose call is the instruction before it.
pub(crate) fn frame_info(
    pc: usize,
    exact: bool,
) -> Option<(u32, Option<u32>, u8, Option<CodeOwner>)> {
    let memory = memory_at(pc)?;
    let (f, at) = memory.locate(pc)?;
    if f.func == u32::MAX {
        return None;
    }
    let at = if exact { at } else { at.saturating_sub(1) };
    Some((
        f.func,
        f.wasm_offset(at),
        f.level,
        memory.owner.get().cloned(),
    ))
}

/// What a trapping instruction at `pc` means: its trap code, function and
/// wasm offset. `None` when `pc` is not a trap site of published code.
pub fn lookup_trap(pc: usize) -> Option<(TrapCode, u32, Option<u32>)> {
    let memory = memory_at(pc)?;
    let (f, at) = memory.locate(pc)?;
    let trap = f.sites.trap_at(at)?;
    Some((trap, f.func, f.wasm_offset(at)))
}

/// Executable memory filled while a module compiles: each compile thread
/// copies its function into the arena the moment it is compiled (and frees
/// its buffer), and the arena makes each chunk read-execute once every
/// function placed in it is written, so `finish` has only the last chunk
/// to flip and no code to copy (issue 18: cc1's `finish` spent ~70% of its
/// ~100 ms faulting in a fresh mapping, copying code and freeing buffers).
///
/// **Invariant (W^X):** a page is read-write until the last function placed
/// on it has been written and no later function can be placed on it, then
/// read-execute, never both. Nothing runs arena code before `finish`.
///
/// The arena reserves address space in regions (read-write, not committed
/// until written); a function that does not fit in the current region
/// starts a new one. Each region becomes one [`CodeMemory`].
pub struct CodeArena {
    state: parking_lot::Mutex<ArenaState>,
    region_size: usize,
}

struct ArenaState {
    regions: Vec<Region>,
}

struct Region {
    base: *mut u8,
    reserved: usize,
    /// Bump pointer: bytes placed so far.
    used: usize,
    /// Bytes before this are read-execute (a multiple of `CHUNK`).
    sealed: usize,
    /// Writers still copying into each chunk (by chunk index).
    writers: Vec<u32>,
    /// Functions placed, in placement order.
    functions: Vec<FunctionLocation>,
}

// SAFETY: the raw pointer is our own mapping; all access goes through the
// mutex or through ranges handed out to exactly one writer.
unsafe impl Send for ArenaState {}

/// How much an arena flips at once.
const CHUNK: usize = 1 << 20;

/// Where [`CodeArena::place`] put a function: region and offset.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Placement {
    region: usize,
    start: usize,
}

impl CodeArena {
    /// An arena whose regions reserve `region_size` bytes of address space
    /// each (more for a function larger than that).
    pub fn new(region_size: usize) -> CodeArena {
        CodeArena {
            state: parking_lot::Mutex::new(ArenaState {
                regions: Vec::new(),
            }),
            region_size: region_size.max(CHUNK).next_multiple_of(CHUNK),
        }
    }

    /// Copies `function`'s code into the arena (its metadata moves in,
    /// trap sites and offset map encoded as [`Sites`]; its buffers are
    /// freed) and returns where it went.
    pub fn place(
        &self,
        func: u32,
        level: u8,
        function: &mut CompiledFunction,
    ) -> std::io::Result<Placement> {
        let code = std::mem::take(&mut function.code);
        let len = code.len();
        // Encoded on this (compile) thread, outside the lock.
        let sites = Sites::new(
            &std::mem::take(&mut function.trap_sites),
            &std::mem::take(&mut function.offset_map),
        );
        let osr = OsrTable::new(&std::mem::take(&mut function.osr));
        let handlers = std::mem::take(&mut function.handlers).into_boxed_slice();
        // Reserve the range and count this writer on its chunks.
        let (placement, dst) = {
            let mut st = self.state.lock();
            let fits = st
                .regions
                .last()
                .is_some_and(|r| r.used.next_multiple_of(FUNCTION_ALIGN) + len <= r.reserved);
            if !fits {
                let reserved = self.region_size.max(len.next_multiple_of(CHUNK));
                st.regions.push(Region::reserve(reserved)?);
            }
            let region = st.regions.len() - 1;
            let r = &mut st.regions[region];
            let start = r.used.next_multiple_of(FUNCTION_ALIGN);
            r.used = start + len;
            for chunk in start / CHUNK..=(start + len.max(1) - 1) / CHUNK {
                r.writers[chunk] += 1;
            }
            r.functions.push(FunctionLocation {
                func,
                start,
                len,
                sites,
                osr,
                handlers,
                level,
            });
            // SAFETY: `start + len <= reserved`.
            (Placement { region, start }, unsafe { r.base.add(start) })
        };
        // SAFETY: `dst..dst + len` was handed to this writer alone, is
        // inside the region and read-write until its chunks' writers are
        // done (counted above).
        unsafe { std::ptr::copy_nonoverlapping(code.as_ptr(), dst, len) };
        drop(code);
        let mut st = self.state.lock();
        let r = &mut st.regions[placement.region];
        for chunk in placement.start / CHUNK..=(placement.start + len.max(1) - 1) / CHUNK {
            r.writers[chunk] -= 1;
        }
        r.seal(false)?;
        Ok(placement)
    }

    /// Every function is placed: flips what is left, gives back the
    /// unused address space, and maps each region as a [`CodeMemory`]
    /// registered for trap lookup. Returns the memories (by region; turn
    /// placements into code addresses with [`address`]); the arena is
    /// empty afterwards.
    pub fn finish(&self) -> std::io::Result<Vec<Arc<CodeMemory>>> {
        let mut regions = std::mem::take(&mut self.state.lock().regions);
        let mut memories = Vec::with_capacity(regions.len());
        for r in &mut regions {
            r.seal(true)?;
            let len = r.used.max(1).next_multiple_of(rustix::param::page_size());
            if len < r.reserved {
                // SAFETY: the tail of our reservation: nothing was placed
                // there.
                unsafe { rustix::mm::munmap(r.base.add(len).cast(), r.reserved - len) }?;
                MAPPED.fetch_sub(r.reserved - len, Ordering::AcqRel);
            }
            let mut functions = std::mem::take(&mut r.functions);
            functions.sort_by_key(|f| f.start);
            let memory = Arc::new(CodeMemory {
                ptr: r.base,
                len,
                functions,
                owner: OnceLock::new(),
            });
            // From here on `memory` owns the mapping.
            r.reserved = 0;
            REGISTRY
                .write()
                .insert(r.base as usize, (len, Arc::downgrade(&memory)));
            memories.push(memory);
        }
        Ok(memories)
    }
}

/// The code address of a placement, in the memories `finish` returned.
pub fn address(memories: &[Arc<CodeMemory>], placement: Placement) -> usize {
    memories[placement.region].ptr as usize + placement.start
}

impl Region {
    fn reserve(reserved: usize) -> std::io::Result<Region> {
        // SAFETY: a fresh anonymous private mapping; no existing memory is
        // affected. NORESERVE: pages are committed as they are written.
        let base = unsafe {
            rustix::mm::mmap_anonymous(
                std::ptr::null_mut(),
                reserved,
                rustix::mm::ProtFlags::READ | rustix::mm::ProtFlags::WRITE,
                rustix::mm::MapFlags::PRIVATE | rustix::mm::MapFlags::NORESERVE,
            )
        }?
        .cast::<u8>();
        MAPPED.fetch_add(reserved, Ordering::AcqRel);
        Ok(Region {
            base,
            reserved,
            used: 0,
            sealed: 0,
            writers: vec![0; reserved / CHUNK + 1],
            functions: Vec::new(),
        })
    }

    /// Flips every chunk that nothing more can be written to: all of its
    /// writers are done and the bump pointer has passed it (or, `last`,
    /// everything up to the bump pointer).
    fn seal(&mut self, last: bool) -> std::io::Result<()> {
        let end = if last {
            self.used.next_multiple_of(rustix::param::page_size())
        } else {
            self.used / CHUNK * CHUNK
        };
        let mut to = self.sealed;
        while to < end && self.writers[to / CHUNK] == 0 {
            to = (to + CHUNK).min(end);
        }
        if to > self.sealed {
            // SAFETY: `sealed..to` is inside our reservation and no writer
            // has a range in it any more; it is never written again.
            unsafe {
                rustix::mm::mprotect(
                    self.base.add(self.sealed).cast(),
                    to - self.sealed,
                    rustix::mm::MprotectFlags::READ | rustix::mm::MprotectFlags::EXEC,
                )
            }?;
            self.sealed = to;
        }
        Ok(())
    }
}

impl Drop for Region {
    /// A region that never became a `CodeMemory` (the compile failed).
    fn drop(&mut self) {
        if self.reserved > 0 {
            // SAFETY: our own reservation; no code in it ever ran.
            let _ = unsafe { rustix::mm::munmap(self.base.cast(), self.reserved) };
            MAPPED.fetch_sub(self.reserved, Ordering::AcqRel);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The permissions (`r-xp`, ...) of the mapping holding `addr`, from
    /// /proc/self/maps.
    fn perms(addr: usize) -> String {
        let maps = std::fs::read_to_string("/proc/self/maps").unwrap();
        for line in maps.lines() {
            let mut parts = line.split_whitespace();
            let range = parts.next().unwrap();
            let (lo, hi) = range.split_once('-').unwrap();
            let lo = usize::from_str_radix(lo, 16).unwrap();
            let hi = usize::from_str_radix(hi, 16).unwrap();
            if (lo..hi).contains(&addr) {
                return parts.next().unwrap().to_string();
            }
        }
        "unmapped".into()
    }

    #[test]
    fn arena_chunks_turn_read_execute_once_written_and_never_both() {
        let arena = CodeArena::new(8 << 20);
        let mut placements = Vec::new();
        // 2.5 MiB of functions: chunks 0 and 1 are full and done.
        for i in 0..10 {
            let mut f = function(256 << 10, i, 0);
            placements.push(arena.place(u32::from(i), 0, &mut f).unwrap());
        }
        let base = arena.state.lock().regions[0].base as usize;
        assert_eq!(perms(base), "r-xp");
        assert_eq!(perms(base + CHUNK + 5), "r-xp");
        assert_eq!(perms(base + 2 * CHUNK + 5), "rw-p");
        let memories = arena.finish().unwrap();
        assert_eq!(memories.len(), 1);
        assert_eq!(perms(base + 2 * CHUNK + 5), "r-xp");
        // The reservation's unused tail is given back.
        let end = base + (10 << 18);
        assert_eq!(perms(end - 1), "r-xp");
        assert_eq!(memories[0].len, 10 << 18);
        assert_eq!(address(&memories, placements[3]), base + 3 * (256 << 10));
    }

    #[test]
    fn sites_answer_as_the_vectors_they_encode() {
        use TrapCode::*;
        // Unsorted trap sites; an offset map whose wasm offsets go back
        // (out-of-line code) and jump far; a code offset past 2^14.
        let traps = [
            (40_000, IntegerOverflow),
            (3, MemoryOutOfBounds),
            (17, UnreachableCodeReached),
            (200, NullExceptionReference),
        ];
        let trap_sites: Vec<TrapSite> = traps
            .iter()
            .map(|&(code_offset, trap)| TrapSite { code_offset, trap })
            .collect();
        let map = [
            (0, 1_000_000),
            (3, 1_000_002),
            (9, 1_000_002 + 300),
            (150, 999_990),
            (40_000, 5),
            (40_010, u32::MAX - 1),
        ];
        let sites = Sites::new(&trap_sites, &map);
        assert!(sites.encoded_len() < (traps.len() + map.len()) * 8);
        for at in 0..40_100 {
            let want = traps.iter().find(|t| t.0 == at).map(|t| t.1);
            assert_eq!(sites.trap_at(at), want, "trap at {at}");
            let j = map.partition_point(|&(c, _)| c <= at);
            let want = j.checked_sub(1).map(|j| map[j].1);
            assert_eq!(sites.wasm_offset(at), want, "wasm offset at {at}");
        }
        assert_eq!(sites.wasm_offset(u32::MAX), Some(u32::MAX - 1));
        let empty = Sites::new(&[], &[]);
        assert_eq!((empty.trap_at(0), empty.wasm_offset(7)), (None, None));
        // A map that does not start at 0.
        let late = Sites::new(&[], &[(5, 9)]);
        assert_eq!((late.wasm_offset(4), late.wasm_offset(5)), (None, Some(9)));
    }

    #[test]
    fn osr_tables_answer_as_the_exits_they_encode() {
        use OsrSource::*;
        let exits = OsrExits {
            loops: vec![
                OsrLoop {
                    loop_offset: 70_000,
                    values: vec![Frame(-8), Frame(-4096), Const(0), Const(u64::MAX), Saved(3)],
                },
                OsrLoop {
                    loop_offset: 12,
                    values: vec![],
                },
                OsrLoop {
                    loop_offset: 90,
                    values: vec![Frame(i32::MIN), Frame(i32::MAX), Saved(255), Const(1 << 40)],
                },
            ],
            back_edges: vec![(5, 2), (300, 0), (301, 1), (20_000, 0)],
        };
        let table = OsrTable::new(&exits).unwrap();
        for at in 0..20_100 {
            assert_eq!(table.at(at), exits.at(at).cloned(), "back-edge at {at}");
        }
        assert!(OsrTable::new(&OsrExits::default()).is_none());
    }

    /// A function of `len` bytes of `fill`, with a trap site at its last
    /// byte mapped to wasm offset `wasm`.
    fn function(len: usize, fill: u8, wasm: u32) -> CompiledFunction {
        CompiledFunction {
            code: vec![fill; len],
            trap_sites: vec![TrapSite {
                code_offset: len as u32 - 1,
                trap: TrapCode::UnreachableCodeReached,
            }],
            offset_map: vec![(0, wasm)],
            ..CompiledFunction::default()
        }
    }

    #[test]
    fn an_arena_places_code_from_many_threads_into_several_regions() {
        // Regions of 1 MiB (the minimum): 400 functions of up to ~20 KiB,
        // and one of 3 MiB, need several.
        let arena = CodeArena::new(0);
        let sizes: Vec<usize> = (0..400).map(|i| 1 + (i * 7919) % 20_000).collect();
        let placements: Vec<(u32, usize, Placement)> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..4)
                .map(|t| {
                    let (arena, sizes) = (&arena, &sizes);
                    s.spawn(move || {
                        let mut out = Vec::new();
                        for i in (t..sizes.len()).step_by(4) {
                            let mut f = function(sizes[i], i as u8, i as u32 * 10);
                            let p = arena.place(i as u32, 0, &mut f).unwrap();
                            // The code moved into the arena.
                            assert!(f.code.is_empty() && f.trap_sites.is_empty());
                            out.push((i as u32, sizes[i], p));
                        }
                        out
                    })
                })
                .collect();
            handles
                .into_iter()
                .flat_map(|h| h.join().unwrap())
                .collect()
        });
        let mut big = function(3 << 20, 0xab, 7);
        let big_at = arena.place(1000, 0, &mut big).unwrap();
        let memories = arena.finish().unwrap();
        assert!(memories.len() >= 3, "{} regions", memories.len());
        for (func, len, p) in placements.iter().copied().chain([(1000, 3 << 20, big_at)]) {
            let at = address(&memories, p);
            // SAFETY: `finish` made the region readable; the function is
            // `len` bytes there.
            let code = unsafe { std::slice::from_raw_parts(at as *const u8, len) };
            let fill = if func == 1000 { 0xab } else { func as u8 };
            assert!(code.iter().all(|&b| b == fill), "function {func}");
            // Its trap site is found from its address, in its own region.
            let (trap, f, wasm) = lookup_trap(at + len - 1).unwrap();
            assert_eq!(trap, TrapCode::UnreachableCodeReached);
            assert_eq!(f, func);
            let expected = if func == 1000 { 7 } else { func * 10 };
            assert_eq!(wasm, Some(expected));
        }
    }
}
