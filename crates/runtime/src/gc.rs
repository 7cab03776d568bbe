//! The per-store GC heap (ARCHITECTURE.md, "Garbage collection"): blocks
//! that code bump-allocates in through the store's [`GcCtx`], the
//! `GcAlloc` slow path, type information per canonical type, host roots,
//! and a non-moving mark-sweep collector that `Store::gc` runs when no wasm
//! frame is live.
//!
//! Object and word layouts are `rung_tiering::gc`'s.
//!
//! **Invariants:** (1) every object lies in one block (or is a large
//! object of its own) between the block's start and its `used` end, and
//! objects in a block follow one another without gaps, so a block can be
//! walked by object sizes; (2) the current block's `used` end is the
//! context's `bump`, which code moves; (3) objects never move; (4) the
//! collector runs only with no wasm frame of the store live (`Store::gc`
//! takes the whole store, which a host function called from wasm cannot
//! reach), so every reference is in a place it walks: globals, tables,
//! element segments, exception payloads, host roots and other objects.

use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::Arc;

use rung_tiering::TrapCode;
use rung_tiering::gc::{
    EXTERN_TAG, GC_ARRAY_ELEMS, GC_ARRAY_LEN, GC_BIT_ARRAY, GC_BIT_MARK, GC_CTX_BUMP, GC_CTX_LIMIT,
    GC_HEADER_BITS, GC_HEADER_TYPE, I31_TAG, TAG_MASK, array_size, storage_size, struct_layout,
};
use wasmparser::{AbstractHeapType, CompositeInnerType, HeapType, StorageType, ValType};

use crate::module::Module;
use crate::types::{CanonHeap, CanonVal, Kind};

/// Bytes of one block.
pub(crate) const BLOCK_SIZE: usize = 32 << 10;

/// The default heap limit (`Config::gc_heap_limit`).
pub const DEFAULT_GC_HEAP_LIMIT: usize = 1 << 30;

/// What code bumps: `rung_tiering::gc`'s `GcCtx`.
#[repr(C)]
pub(crate) struct GcCtx {
    pub bump: usize,
    pub limit: usize,
}

const _: () = assert!(GC_CTX_BUMP == 0 && GC_CTX_LIMIT == 8);

/// What the runtime knows of one canonical type.
#[derive(Debug)]
pub(crate) struct GcType {
    pub kind: GcKind,
    /// The supertype chain from the root down to this type (its display).
    pub display: Box<[u32]>,
}

#[derive(Debug)]
pub(crate) enum GcKind {
    Func,
    Struct {
        size: u32,
        /// Offset and storage type of each field.
        fields: Box<[(u32, StorageType)]>,
        /// Offsets of the fields the collector traces.
        traced: Box<[u32]>,
    },
    Array {
        elem: StorageType,
        elem_size: u32,
        traced: bool,
    },
}

struct Block {
    mem: Box<[u64]>,
    /// Bytes in use (for the current block: only up to date after
    /// `retire`).
    used: usize,
}

impl Block {
    fn base(&self) -> usize {
        self.mem.as_ptr() as usize
    }
}

struct State {
    /// Blocks with objects; `current` is the one the context bumps in.
    blocks: Vec<Block>,
    current: Option<usize>,
    free: Vec<Box<[u64]>>,
    /// Objects larger than a block's half, one per allocation.
    large: Vec<Block>,
    /// Bytes of blocks and large objects held (free blocks included).
    bytes: usize,
    limit: usize,
    types: HashMap<u32, Arc<GcType>>,
    /// Host roots: the words `AnyRef` handles stand for.
    roots: Vec<usize>,
    root_of: HashMap<usize, u32>,
    /// Host externref values too large for the word encoding.
    big_externs: Vec<u64>,
    collections: usize,
}

/// A store's GC heap.
pub(crate) struct GcHeap {
    ctx: *mut GcCtx,
    state: RefCell<State>,
}

// SAFETY: the context is owned by the heap and touched only by the thread
// that uses the store.
unsafe impl Send for GcHeap {}

impl Drop for GcHeap {
    fn drop(&mut self) {
        // SAFETY: made by `Box::into_raw` in `new`, freed once.
        drop(unsafe { Box::from_raw(self.ctx) });
    }
}

/// Whether a word is a pointer to an object.
pub(crate) fn is_object(word: usize) -> bool {
    word != 0 && word as u64 & TAG_MASK == 0
}

/// Whether values of a canonical reference type may be GC words (the
/// `any` and `extern` hierarchies).
pub(crate) fn traced_canon(v: CanonVal) -> bool {
    use AbstractHeapType as A;
    match v {
        CanonVal::Num(_) => false,
        CanonVal::Ref { heap, .. } => match heap {
            CanonHeap::Abstract(A::Func | A::NoFunc | A::Exn | A::NoExn) => false,
            CanonHeap::Abstract(_) => true,
            CanonHeap::Concrete { kind, .. } => matches!(kind, Kind::Struct | Kind::Array),
        },
    }
}

/// As `traced_canon`, for a storage type of a module with `types`.
fn traced_storage(module_types: &[wasmparser::SubType], s: StorageType) -> bool {
    use AbstractHeapType as A;
    let StorageType::Val(ValType::Ref(r)) = s else {
        return false;
    };
    match r.heap_type() {
        HeapType::Abstract { ty, .. } => !matches!(ty, A::Func | A::NoFunc | A::Exn | A::NoExn),
        HeapType::Concrete(i) | HeapType::Exact(i) => match i.as_module_index() {
            Some(i) => !matches!(
                module_types
                    .get(i as usize)
                    .map(|t| &t.composite_type.inner),
                Some(CompositeInnerType::Func(_)) | None
            ),
            None => true,
        },
    }
}

impl GcHeap {
    pub fn new(limit: usize) -> GcHeap {
        GcHeap {
            ctx: Box::into_raw(Box::new(GcCtx { bump: 0, limit: 0 })),
            state: RefCell::new(State {
                blocks: Vec::new(),
                current: None,
                free: Vec::new(),
                large: Vec::new(),
                bytes: 0,
                limit,
                types: HashMap::new(),
                roots: Vec::new(),
                root_of: HashMap::new(),
                big_externs: Vec::new(),
                collections: 0,
            }),
        }
    }

    /// The context every vmctx of the store points at.
    pub fn ctx(&self) -> *mut GcCtx {
        self.ctx
    }

    /// Bytes the heap holds.
    pub fn bytes(&self) -> usize {
        self.state.borrow().bytes
    }

    /// How many collections ran.
    pub fn collections(&self) -> usize {
        self.state.borrow().collections
    }

    /// Registers the struct, array and function types of `module` by
    /// canonical id (supertypes come first: a supertype's index is lower).
    pub fn register_types(&self, module: &Module) {
        let env = module.env();
        let ids = &module.inner.type_ids;
        let mut st = self.state.borrow_mut();
        for (i, sub) in env.types.iter().enumerate() {
            let Some(&id) = ids.get(i) else { continue };
            if st.types.contains_key(&id) {
                continue;
            }
            let kind = match &sub.composite_type.inner {
                CompositeInnerType::Func(_) => GcKind::Func,
                CompositeInnerType::Struct(s) => {
                    let layout = struct_layout(s);
                    let fields: Box<[(u32, StorageType)]> = layout
                        .offsets
                        .iter()
                        .zip(s.fields.iter())
                        .map(|(&o, f)| (o, f.element_type))
                        .collect();
                    let traced = fields
                        .iter()
                        .filter(|(_, s)| traced_storage(&env.types, *s))
                        .map(|(o, _)| *o)
                        .collect();
                    GcKind::Struct {
                        size: layout.size,
                        fields,
                        traced,
                    }
                }
                CompositeInnerType::Array(a) => GcKind::Array {
                    elem: a.0.element_type,
                    elem_size: storage_size(a.0.element_type),
                    traced: traced_storage(&env.types, a.0.element_type),
                },
                _ => continue,
            };
            let mut display: Vec<u32> = sub
                .supertype_idxs
                .first()
                .and_then(|s| s.as_module_index())
                .and_then(|s| ids.get(s as usize))
                .and_then(|s| st.types.get(s))
                .map(|t| t.display.to_vec())
                .unwrap_or_default();
            display.push(id);
            st.types.insert(
                id,
                Arc::new(GcType {
                    kind,
                    display: display.into(),
                }),
            );
        }
    }

    /// The type information of canonical type `id`.
    pub fn type_info(&self, id: u32) -> Option<Arc<GcType>> {
        self.state.borrow().types.get(&id).cloned()
    }

    /// Whether canonical type `sub` is `sup` or one of its subtypes.
    pub fn is_subtype(&self, sub: u32, sup: u32) -> bool {
        if sub == sup {
            return true;
        }
        let st = self.state.borrow();
        let (Some(a), Some(b)) = (st.types.get(&sub), st.types.get(&sup)) else {
            return false;
        };
        let depth = b.display.len() - 1;
        a.display.get(depth) == Some(&sup)
    }

    /// `size` bytes (a multiple of 8) for a new object: bumped in the
    /// current block, else in a new block, else a large object.
    pub fn alloc(&self, size: usize) -> Result<usize, TrapCode> {
        // SAFETY: the context is live; no code runs while the runtime bumps.
        let ctx = unsafe { &mut *self.ctx };
        if ctx.bump != 0 && ctx.bump + size <= ctx.limit {
            let p = ctx.bump;
            ctx.bump += size;
            return Ok(p);
        }
        self.alloc_slow(size)
    }

    /// The `GcAlloc` libcall's work: the current block is full.
    pub fn alloc_slow(&self, size: usize) -> Result<usize, TrapCode> {
        let mut st = self.state.borrow_mut();
        // SAFETY: as in `alloc`.
        let ctx = unsafe { &mut *self.ctx };
        if size > BLOCK_SIZE / 2 {
            let words = size.div_ceil(8);
            if st.bytes.saturating_add(words * 8) > st.limit {
                return Err(TrapCode::GcHeapExhausted);
            }
            let mut mem: Vec<u64> = Vec::new();
            mem.try_reserve_exact(words)
                .map_err(|_| TrapCode::GcHeapExhausted)?;
            mem.resize(words, 0);
            let block = Block {
                mem: mem.into_boxed_slice(),
                used: size,
            };
            let p = block.base();
            st.bytes += words * 8;
            st.large.push(block);
            return Ok(p);
        }
        // Retire the current block at the context's bump.
        if let Some(c) = st.current {
            let base = st.blocks[c].base();
            st.blocks[c].used = ctx.bump - base;
        }
        let mem = match st.free.pop() {
            Some(mem) => mem,
            None => {
                if st.bytes.saturating_add(BLOCK_SIZE) > st.limit {
                    st.current = None;
                    ctx.bump = 0;
                    ctx.limit = 0;
                    return Err(TrapCode::GcHeapExhausted);
                }
                st.bytes += BLOCK_SIZE;
                vec![0u64; BLOCK_SIZE / 8].into_boxed_slice()
            }
        };
        let block = Block { mem, used: 0 };
        let base = block.base();
        st.blocks.push(block);
        st.current = Some(st.blocks.len() - 1);
        ctx.bump = base + size;
        ctx.limit = base + BLOCK_SIZE;
        Ok(base)
    }

    /// A new struct of canonical type `id` with every field zero.
    pub fn new_struct_zeroed(&self, id: u32) -> Result<usize, TrapCode> {
        let info = self.type_info(id).ok_or(TrapCode::CastFailure)?;
        let GcKind::Struct { size, .. } = info.kind else {
            return Err(TrapCode::CastFailure);
        };
        let p = self.alloc(size as usize)?;
        // SAFETY: `size` fresh bytes at `p`.
        unsafe {
            std::ptr::write_bytes(p as *mut u8, 0, size as usize);
            header(p, id, 0);
        }
        Ok(p)
    }

    /// A new array of canonical type `id` with `len` zero elements.
    pub fn new_array_zeroed(&self, id: u32, len: u32) -> Result<usize, TrapCode> {
        let info = self.type_info(id).ok_or(TrapCode::CastFailure)?;
        let GcKind::Array { elem_size, .. } = info.kind else {
            return Err(TrapCode::CastFailure);
        };
        let size = array_size(elem_size, len).ok_or(TrapCode::GcHeapExhausted)?;
        let p = self.alloc(size as usize)?;
        // SAFETY: `size` fresh bytes at `p`.
        unsafe {
            std::ptr::write_bytes(p as *mut u8, 0, size as usize);
            header(p, id, GC_BIT_ARRAY);
            ((p + GC_ARRAY_LEN as usize) as *mut u32).write(len);
        }
        Ok(p)
    }

    // ---- host words --------------------------------------------------

    /// The word of a host externref value.
    pub fn extern_word(&self, v: u64) -> usize {
        if v < 1 << 60 {
            ((v << 3) | EXTERN_TAG) as usize
        } else {
            let mut st = self.state.borrow_mut();
            let i = st.big_externs.len() as u64;
            st.big_externs.push(v);
            ((i << 3) | 4 | EXTERN_TAG) as usize
        }
    }

    /// The host value of an externref word made by `extern_word`.
    pub fn extern_value(&self, word: usize) -> Option<u64> {
        let w = word as u64;
        if w & 3 != EXTERN_TAG {
            return None;
        }
        if w & 4 == 0 {
            Some(w >> 3)
        } else {
            self.state
                .borrow()
                .big_externs
                .get((w >> 3) as usize)
                .copied()
        }
    }

    /// A root for `word` (the same root for the same word).
    pub fn root(&self, word: usize) -> u32 {
        let mut st = self.state.borrow_mut();
        if let Some(&r) = st.root_of.get(&word) {
            return r;
        }
        let r = st.roots.len() as u32;
        st.roots.push(word);
        st.root_of.insert(word, r);
        r
    }

    /// The word root `r` holds.
    pub fn root_word(&self, r: u32) -> usize {
        self.state
            .borrow()
            .roots
            .get(r as usize)
            .copied()
            .unwrap_or(0)
    }

    // ---- collection --------------------------------------------------

    /// Marks from `roots` (words, any form) and frees every block without
    /// a marked object and every unmarked large object.
    pub fn collect(&self, roots: impl IntoIterator<Item = usize>) {
        let mut st = self.state.borrow_mut();
        // SAFETY: as in `alloc`.
        let ctx = unsafe { &mut *self.ctx };
        if let Some(c) = st.current.take() {
            let base = st.blocks[c].base();
            st.blocks[c].used = ctx.bump - base;
        }
        ctx.bump = 0;
        ctx.limit = 0;
        let mut stack: Vec<usize> = roots.into_iter().filter(|&w| is_object(w)).collect();
        stack.extend(st.roots.iter().copied().filter(|&w| is_object(w)));
        while let Some(p) = stack.pop() {
            // SAFETY: `p` is an object of this heap (precise roots and
            // traced fields hold only object pointers with tag 000).
            unsafe {
                let bits = (p + GC_HEADER_BITS as usize) as *mut u32;
                if *bits & GC_BIT_MARK != 0 {
                    continue;
                }
                *bits |= GC_BIT_MARK;
                let id = *((p + GC_HEADER_TYPE as usize) as *const u32);
                let Some(info) = st.types.get(&id) else {
                    continue;
                };
                match &info.kind {
                    GcKind::Struct { traced, .. } => {
                        for &o in traced.iter() {
                            let w = *((p + o as usize) as *const usize);
                            if is_object(w) {
                                stack.push(w);
                            }
                        }
                    }
                    GcKind::Array { traced: true, .. } => {
                        let len = *((p + GC_ARRAY_LEN as usize) as *const u32) as usize;
                        let elems = (p + GC_ARRAY_ELEMS as usize) as *const usize;
                        for i in 0..len {
                            let w = *elems.add(i);
                            if is_object(w) {
                                stack.push(w);
                            }
                        }
                    }
                    _ => {}
                }
            }
        }
        // Sweep: walk each block, clear marks, keep blocks with a mark.
        let blocks = std::mem::take(&mut st.blocks);
        for block in blocks {
            let mut live = false;
            let mut at = block.base();
            let end = at + block.used;
            while at < end {
                // SAFETY: objects follow one another up to `used`.
                unsafe {
                    let bits = (at + GC_HEADER_BITS as usize) as *mut u32;
                    live |= *bits & GC_BIT_MARK != 0;
                    *bits &= !GC_BIT_MARK;
                    let size = object_size(&st.types, at);
                    if size == 0 {
                        break;
                    }
                    at += size;
                }
            }
            if live {
                st.blocks.push(block);
            } else {
                st.free.push(block.mem);
            }
        }
        let large = std::mem::take(&mut st.large);
        for block in large {
            // SAFETY: a large block holds one object at its start.
            let bits = (block.base() + GC_HEADER_BITS as usize) as *mut u32;
            unsafe {
                if *bits & GC_BIT_MARK != 0 {
                    *bits &= !GC_BIT_MARK;
                    st.large.push(block);
                } else {
                    st.bytes -= block.mem.len() * 8;
                }
            }
        }
        // Give free blocks back beyond a small reserve.
        while st.free.len() > 4 {
            st.free.pop();
            st.bytes -= BLOCK_SIZE;
        }
        st.collections += 1;
    }
}

/// Writes an object header.
///
/// # Safety
///
/// `p` must be 8 writable bytes.
pub(crate) unsafe fn header(p: usize, id: u32, bits: u32) {
    // SAFETY: the caller vouches for `p`.
    unsafe {
        ((p + GC_HEADER_TYPE as usize) as *mut u32).write(id);
        ((p + GC_HEADER_BITS as usize) as *mut u32).write(bits);
    }
}

/// The size of the object at `p`.
///
/// # Safety
///
/// `p` must be an object of a heap whose types are `types`.
unsafe fn object_size(types: &HashMap<u32, Arc<GcType>>, p: usize) -> usize {
    // SAFETY: the caller vouches for `p`.
    unsafe {
        let id = *((p + GC_HEADER_TYPE as usize) as *const u32);
        match types.get(&id).map(|t| &t.kind) {
            Some(GcKind::Struct { size, .. }) => *size as usize,
            Some(GcKind::Array { elem_size, .. }) => {
                let len = *((p + GC_ARRAY_LEN as usize) as *const u32);
                array_size(*elem_size, len).unwrap_or(0) as usize
            }
            _ => 0,
        }
    }
}

/// The canonical type id in an object's header.
///
/// # Safety
///
/// `p` must be an object.
pub(crate) unsafe fn type_of(p: usize) -> u32 {
    // SAFETY: the caller vouches for `p`.
    unsafe { *((p + GC_HEADER_TYPE as usize) as *const u32) }
}

/// The `i31` word of `v` (its low 31 bits).
pub(crate) fn i31_word(v: i32) -> usize {
    (((v as u32 as u64) << 1 | I31_TAG) & 0xffff_ffff) as usize
}

/// The value of an `i31` word, sign-extended.
pub(crate) fn i31_value(word: usize) -> Option<i32> {
    (word as u64 & I31_TAG != 0).then_some(((word as u32) as i32) >> 1)
}

/// Writes `v` into a field or element of storage type `s` at `addr`.
///
/// # Safety
///
/// `addr` must be the field's writable bytes.
pub(crate) unsafe fn write_field(
    store: &crate::store::StoreInner,
    addr: usize,
    s: StorageType,
    v: &crate::Val,
) {
    use crate::Val;
    // SAFETY: the caller vouches for `addr`.
    unsafe {
        match (s, v) {
            (StorageType::I8, Val::I32(x)) => (addr as *mut u8).write(*x as u8),
            (StorageType::I16, Val::I32(x)) => (addr as *mut u16).write_unaligned(*x as u16),
            (_, Val::I32(x)) => (addr as *mut i32).write_unaligned(*x),
            (_, Val::I64(x)) => (addr as *mut i64).write_unaligned(*x),
            (_, Val::F32(x)) => (addr as *mut u32).write_unaligned(*x),
            (_, Val::F64(x)) => (addr as *mut u64).write_unaligned(*x),
            (_, Val::V128(x)) => (addr as *mut u128).write_unaligned(*x),
            (StorageType::Val(ValType::Ref(r)), v) => {
                (addr as *mut usize).write_unaligned(store.ref_word(v, r))
            }
            _ => {}
        }
    }
}

/// Reads a field or element of storage type `s` at `addr` (packed types
/// zero-extended).
///
/// # Safety
///
/// `addr` must be the field's readable bytes.
pub(crate) unsafe fn read_field(
    store: &crate::store::StoreInner,
    addr: usize,
    s: StorageType,
) -> crate::Val {
    use crate::Val;
    // SAFETY: the caller vouches for `addr`.
    unsafe {
        match s {
            StorageType::I8 => Val::I32(i32::from((addr as *const u8).read())),
            StorageType::I16 => Val::I32(i32::from((addr as *const u16).read_unaligned())),
            StorageType::Val(ValType::I32) => Val::I32((addr as *const i32).read_unaligned()),
            StorageType::Val(ValType::I64) => Val::I64((addr as *const i64).read_unaligned()),
            StorageType::Val(ValType::F32) => Val::F32((addr as *const u32).read_unaligned()),
            StorageType::Val(ValType::F64) => Val::F64((addr as *const u64).read_unaligned()),
            StorageType::Val(ValType::V128) => Val::V128((addr as *const u128).read_unaligned()),
            StorageType::Val(ValType::Ref(r)) => {
                store.word_ref((addr as *const usize).read_unaligned(), r)
            }
        }
    }
}
