//! `VmOffsets`: the layout of the vmctx, the per-instance block every wasm
//! function receives as its first argument. This module is the one place that
//! knows where anything is in it; tiers read offsets from here and never
//! hard-code a number, and the runtime allocates and fills the block by the
//! same offsets.
//!
//! ```text
//! vmctx ──►┌──────────────────────────────────────────────┐ header (fixed)
//!   +0     │ magic: u32            = VMCTX_MAGIC ("rung") │ for debug checks
//!   +4     │ interrupt: u32        != 0: host asks to stop│ checked on back-edges
//!   +8     │ stack_limit: usize    prologue: sp < limit   │ → Trap(StackOverflow)
//!          │ runtime_data: usize   opaque to code         │ the runtime's instance
//!          │ libcalls: *const [usize; Libcall::COUNT]     │ shared host function table
//!          │ func_slots: *const usize                     │ module code table, one slot
//!          │                                              │ per defined function
//!          │ tier_up_budgets: *mut i32                    │ one per defined function
//!          │ type_ids: *const u32                         │ canonical id per type index
//!          ├──────────────────────────────────────────────┤ arrays (sized by the module)
//!          │ imported functions: [(slot, vmctx); n]       │ 2 words each
//!          │ imported memories:  [*mut MemoryDef; n]      │ → owner's definition
//!          │ defined memories:   [MemoryDef; n]           │ {base, length_bytes}
//!          │ imported tables:    [*mut TableDef; n]       │ → owner's definition
//!          │ defined tables:     [TableDef; n]            │ {base, current_elements: u32}
//!          │ imported globals:   [*mut [u8; 16]; n]       │ → owner's storage
//!          │ (align 16)                                   │
//!          │ defined globals:    [[u8; 16]; n]            │ any value type, v128 too
//!          │ funcref records:    [FuncRef; n_functions]   │ {slot, vmctx, type_id: u32}
//!          │ tags:               [usize; n_tags]          │ each tag's identity (imports too)
//!          │ gc_heap:            *mut GcCtx               │ the store's GC bump context
//!          └──────────────────────────────────────────────┘ size(), a multiple of 16
//! ```
//!
//! "word" and `usize` mean the target pointer size, `p`: 8 on x86-64, where
//! the header is 56 bytes. Every index an accessor takes is the module's
//! absolute index (imports first, then definitions), as it appears in the
//! operators.
//!
//! How code uses it (x86-64, vmctx in `rdi`):
//! - call of defined function `f`: `mov rax, [rdi + func_slots()]` then
//!   `call [rax + func_slot(f)]`; the callee gets the caller's vmctx.
//! - call of imported function `f`: `mov rax, [rdi + imported_function_slot(f)]`,
//!   `mov rdi, [rdi + imported_function_vmctx(f)]`, `call [rax]`.
//! - `call_indirect`/`call_ref`: an element or reference is a pointer to a
//!   funcref record (null is 0). Bounds-check the index against
//!   `table_len` (`UndefinedElement`), load the element, null-check it
//!   (`IndirectCallToNull`), compare `[rec + FUNCREF_TYPE_ID]` with
//!   `[[rdi + type_ids()] + type_id(t)]` (`BadSignature`), then
//!   `mov rax, [rec + FUNCREF_SLOT]`, `mov rdi, [rec + FUNCREF_VMCTX]`,
//!   `call [rax]`. Calls through a record see tier-up because they read the
//!   slot, not a copy of the code pointer.
//! - baseline tier-up check: `mov rax, [rdi + tier_up_budgets()]`,
//!   `sub dword [rax + tier_up_budget(f)], cost`, call `TierUp` if the
//!   result is ≤ 0.
//!
//! Records, all little-endian, word-aligned:
//! - `MemoryDef` ([`MemoryLayout`]): `base: usize` (never moves), then
//!   `length_bytes: usize` (changes on `memory.grow`).
//! - `TableDef` ([`TableLayout`]): `base: *mut usize` (may move on
//!   `table.grow`), then `current_elements: u32`. Elements are one word: 0 is
//!   null, a funcref is a pointer to its funcref record, an externref is the
//!   host's pointer. An element with [`TABLE_ELEMENT_LAZY_BIT`] set is not
//!   materialized yet: code that would use it calls the `TableGet` libcall
//!   instead (a runtime that initializes tables eagerly never sets the bit).
//! - globals: 16 bytes, the value in the low bytes (an `i32` at +0, a
//!   reference as one word at +0, a `v128` in all 16).
//! - `FuncRef` ([`FuncRefLayout`]): `slot: *const usize` (where the code
//!   pointer is), `vmctx: usize` (what to pass), `type_id: u32` (canonical).
//!   There is one record per function of the module, imported ones too: the
//!   runtime copies an imported function's record from its exporter, so its
//!   `slot` is the exporter's slot.
//!
//! **Invariants** (checked by the tests below for both pointer sizes):
//! - every field is aligned to its own size (globals to 16), no two fields
//!   overlap, and `size()` covers them all and is a multiple of 16: the
//!   runtime allocates the vmctx 16-byte aligned;
//! - every offset is below 2³¹, so it fits in an x86-64 32-bit displacement;
//!   a module whose vmctx would be larger is an `ImplLimit` error from
//!   [`VmOffsets::new`];
//! - the layout depends only on the module's counts and the pointer size,
//!   so every instance of a module, and all tiers, agree on it.

use rung_decoder::ModuleEnv;

use crate::{CompileError, Libcall};

/// The value of the vmctx's `magic` field ("rung" in little-endian bytes).
pub const VMCTX_MAGIC: u32 = u32::from_le_bytes(*b"rung");

/// A table element with this bit set is not materialized: code calls the
/// `TableGet` libcall for it instead of using it. Funcref records are
/// word-aligned, so the bit is never set in a real reference.
pub const TABLE_ELEMENT_LAZY_BIT: usize = 1;

/// Bytes of one global's storage, defined or imported (enough for a `v128`).
pub const GLOBAL_SIZE: u32 = 16;

/// Offset of the tag word (the identity [`VmOffsets::tag`] holds) in an
/// exception object, the target of an `exnref`.
pub const EXN_TAG: u32 = 0;
/// Offset of an exception object's first payload value; value `i` is at
/// `EXN_VALUES + i * EXN_VALUE_SIZE`, in a cell like a global's.
pub const EXN_VALUES: u32 = 16;
/// Bytes of one payload value's cell (enough for a `v128`).
pub const EXN_VALUE_SIZE: u32 = GLOBAL_SIZE;

/// The largest vmctx (and so the largest offset) this layout produces.
pub const MAX_VMCTX_SIZE: u32 = i32::MAX as u32;

/// The host's pointer size, the default for [`VmOffsets::for_host`].
pub const HOST_POINTER_SIZE: u8 = std::mem::size_of::<usize>() as u8;

const fn align_to(n: u32, align: u32) -> u32 {
    (n + align - 1) & !(align - 1)
}

/// The fields of a funcref record `{slot, vmctx, type_id}` for a pointer size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FuncRefLayout {
    /// `slot: *const usize`: the code pointer is loaded from `*slot`.
    pub slot: u32,
    /// `vmctx: usize`: the callee's vmctx.
    pub vmctx: u32,
    /// `type_id: u32`: the callee's canonical type id.
    pub type_id: u32,
    /// The record's size, padded to a word.
    pub size: u32,
}

impl FuncRefLayout {
    /// The layout for pointers of `p` bytes (4 or 8).
    pub const fn for_pointer_size(p: u8) -> FuncRefLayout {
        let p = p as u32;
        FuncRefLayout {
            slot: 0,
            vmctx: p,
            type_id: 2 * p,
            size: align_to(2 * p + 4, p),
        }
    }
}

/// The fields of a memory definition `{base, length_bytes}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MemoryLayout {
    /// `base: usize`, the start of linear memory.
    pub base: u32,
    /// `length_bytes: usize`, the current size in bytes.
    pub length: u32,
    /// The definition's size.
    pub size: u32,
}

impl MemoryLayout {
    /// The layout for pointers of `p` bytes (4 or 8).
    pub const fn for_pointer_size(p: u8) -> MemoryLayout {
        let p = p as u32;
        MemoryLayout {
            base: 0,
            length: p,
            size: 2 * p,
        }
    }
}

/// The fields of a table definition `{base, current_elements}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TableLayout {
    /// `base: *mut usize`, the first element.
    pub base: u32,
    /// `current_elements: u32`, the current length.
    pub current_elements: u32,
    /// The definition's size, padded to a word.
    pub size: u32,
}

impl TableLayout {
    /// The layout for pointers of `p` bytes (4 or 8).
    pub const fn for_pointer_size(p: u8) -> TableLayout {
        let p = p as u32;
        TableLayout {
            base: 0,
            current_elements: p,
            size: align_to(p + 4, p),
        }
    }
}

const HOST_FUNCREF: FuncRefLayout = FuncRefLayout::for_pointer_size(HOST_POINTER_SIZE);
/// Offset of `slot` in a funcref record, on the host.
pub const FUNCREF_SLOT: u32 = HOST_FUNCREF.slot;
/// Offset of `vmctx` in a funcref record, on the host.
pub const FUNCREF_VMCTX: u32 = HOST_FUNCREF.vmctx;
/// Offset of `type_id` in a funcref record, on the host.
pub const FUNCREF_TYPE_ID: u32 = HOST_FUNCREF.type_id;
/// Size of a funcref record, on the host.
pub const FUNCREF_SIZE: u32 = HOST_FUNCREF.size;

/// Where one instance finds an entity's definition (memory, table, global).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Definition {
    /// Defined by this module: the definition is inline in the vmctx at this
    /// offset.
    Local(u32),
    /// Imported: the vmctx holds a pointer to the owner's definition at this
    /// offset. The definition it points to has the same layout.
    Imported(u32),
}

/// One field or array of the vmctx, for layout dumps and tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VmRegion {
    /// What it holds, e.g. `"stack_limit"` or `"defined_memories"`.
    pub name: &'static str,
    /// Offset of the first element.
    pub offset: u32,
    /// Number of elements (1 for a header field).
    pub count: u32,
    /// Bytes per element; elements are contiguous.
    pub stride: u32,
    /// The alignment every element keeps.
    pub align: u32,
}

impl VmRegion {
    /// The end of the region (exclusive).
    pub fn end(&self) -> u64 {
        u64::from(self.offset) + u64::from(self.count) * u64::from(self.stride)
    }
}

/// How many of each entity a module has; all the layout depends on.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Counts {
    imported_functions: u32,
    functions: u32,
    imported_memories: u32,
    memories: u32,
    imported_tables: u32,
    tables: u32,
    imported_globals: u32,
    globals: u32,
    types: u32,
    tags: u32,
}

impl Counts {
    fn of(env: &ModuleEnv) -> Result<Counts, CompileError> {
        fn count(what: &str, n: usize) -> Result<u32, CompileError> {
            u32::try_from(n).map_err(|_| CompileError::ImplLimit {
                message: format!("too many {what} for a vmctx: {n}"),
                offset: 0,
            })
        }
        let c = &env.counts;
        let counts = Counts {
            imported_functions: c.imported_functions,
            functions: count("functions", env.functions.len())?,
            imported_memories: c.imported_memories,
            memories: count("memories", env.memories.len())?,
            imported_tables: c.imported_tables,
            tables: count("tables", env.tables.len())?,
            imported_globals: c.imported_globals,
            globals: count("globals", env.globals.len())?,
            types: count("types", env.types.len())?,
            tags: count("tags", env.tags.len())?,
        };
        Ok(counts)
    }

    fn consistent(&self) -> bool {
        self.imported_functions <= self.functions
            && self.imported_memories <= self.memories
            && self.imported_tables <= self.tables
            && self.imported_globals <= self.globals
    }
}

/// The vmctx layout of one module for one pointer size. See the module
/// documentation for the picture and the invariants.
///
/// All offsets are `u32` bytes from the vmctx pointer, except those
/// documented as "within" a separately allocated array (a slot in the code
/// table, a budget, a type id, a libcall), which are from that array's start.
/// Indexed accessors return `None` when the index is out of range or names
/// the other kind (an imported entity asked for as defined, or the reverse).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VmOffsets {
    pointer_size: u8,
    counts: Counts,
    // Header.
    interrupt: u32,
    stack_limit: u32,
    runtime_data: u32,
    libcalls: u32,
    func_slots: u32,
    tier_up_budgets: u32,
    type_ids: u32,
    gc_heap: u32,
    // Arrays.
    imported_functions: u32,
    imported_memories: u32,
    defined_memories: u32,
    imported_tables: u32,
    defined_tables: u32,
    imported_globals: u32,
    defined_globals: u32,
    funcrefs: u32,
    tags: u32,
    size: u32,
}

/// Lays fields out one after another, in 64-bit arithmetic so that no count
/// can overflow before the final size check.
struct Cursor {
    next: u64,
}

impl Cursor {
    fn place(&mut self, count: u32, stride: u32, align: u32) -> u64 {
        let align = u64::from(align);
        self.next = self.next.div_ceil(align) * align;
        let offset = self.next;
        self.next += u64::from(count) * u64::from(stride);
        offset
    }
}

impl VmOffsets {
    /// The layout of `env`'s vmctx for pointers of `pointer_size` bytes (4 or
    /// 8).
    ///
    /// # Errors
    ///
    /// `ImplLimit` if the vmctx would exceed [`MAX_VMCTX_SIZE`] (no module
    /// within wasmparser's limits does), `Internal` for a pointer size other
    /// than 4 or 8 or an env whose import counts exceed its entity counts.
    pub fn new(env: &ModuleEnv, pointer_size: u8) -> Result<VmOffsets, CompileError> {
        VmOffsets::from_counts(Counts::of(env)?, pointer_size)
    }

    /// [`VmOffsets::new`] for the host's pointer size.
    pub fn for_host(env: &ModuleEnv) -> Result<VmOffsets, CompileError> {
        VmOffsets::new(env, HOST_POINTER_SIZE)
    }

    fn from_counts(counts: Counts, pointer_size: u8) -> Result<VmOffsets, CompileError> {
        if pointer_size != 4 && pointer_size != 8 {
            return Err(CompileError::Internal(format!(
                "unsupported pointer size {pointer_size} (expected 4 or 8)"
            )));
        }
        if !counts.consistent() {
            return Err(CompileError::Internal(
                "module env counts more imports than entities".to_string(),
            ));
        }
        let p = u32::from(pointer_size);
        let memory = MemoryLayout::for_pointer_size(pointer_size);
        let table = TableLayout::for_pointer_size(pointer_size);
        let funcref = FuncRefLayout::for_pointer_size(pointer_size);
        let c = counts;

        let mut cur = Cursor { next: 0 };
        let _magic = cur.place(1, 4, 4);
        let interrupt = cur.place(1, 4, 4);
        let stack_limit = cur.place(1, p, p);
        let runtime_data = cur.place(1, p, p);
        let libcalls = cur.place(1, p, p);
        let func_slots = cur.place(1, p, p);
        let tier_up_budgets = cur.place(1, p, p);
        let type_ids = cur.place(1, p, p);
        let imported_functions = cur.place(c.imported_functions, 2 * p, p);
        let imported_memories = cur.place(c.imported_memories, p, p);
        let defined_memories = cur.place(c.memories - c.imported_memories, memory.size, p);
        let imported_tables = cur.place(c.imported_tables, p, p);
        let defined_tables = cur.place(c.tables - c.imported_tables, table.size, p);
        let imported_globals = cur.place(c.imported_globals, p, p);
        let defined_globals = cur.place(c.globals - c.imported_globals, GLOBAL_SIZE, 16);
        let funcrefs = cur.place(c.functions, funcref.size, p);
        let tags = cur.place(c.tags, p, p);
        // Last: the fields before it keep the offsets they had before GC,
        // so code that does not use GC is the same.
        let gc_heap = cur.place(1, p, p);
        let size = cur.place(0, 0, 16);

        let size = u32::try_from(size)
            .ok()
            .filter(|&s| s <= MAX_VMCTX_SIZE)
            .ok_or_else(|| CompileError::ImplLimit {
                message: format!(
                    "the module's vmctx would take {size} bytes, more than {MAX_VMCTX_SIZE}"
                ),
                offset: 0,
            })?;
        // Every offset is at most `size`, which fits.
        let o = |x: u64| x as u32;
        Ok(VmOffsets {
            pointer_size,
            counts,
            interrupt: o(interrupt),
            stack_limit: o(stack_limit),
            runtime_data: o(runtime_data),
            libcalls: o(libcalls),
            func_slots: o(func_slots),
            tier_up_budgets: o(tier_up_budgets),
            type_ids: o(type_ids),
            gc_heap: o(gc_heap),
            imported_functions: o(imported_functions),
            imported_memories: o(imported_memories),
            defined_memories: o(defined_memories),
            imported_tables: o(imported_tables),
            defined_tables: o(defined_tables),
            imported_globals: o(imported_globals),
            defined_globals: o(defined_globals),
            funcrefs: o(funcrefs),
            tags: o(tags),
            size,
        })
    }

    fn p(&self) -> u32 {
        u32::from(self.pointer_size)
    }

    /// The pointer size this layout is for.
    pub fn pointer_size(&self) -> u8 {
        self.pointer_size
    }

    /// The vmctx's size in bytes (a multiple of 16; allocate it 16-aligned).
    pub fn size(&self) -> u32 {
        self.size
    }

    // ---- header ---------------------------------------------------------

    /// `magic: u32`, always 0; holds [`VMCTX_MAGIC`].
    pub fn magic(&self) -> u32 {
        0
    }

    /// `interrupt: u32`: the host stores nonzero to ask running code to stop;
    /// code that checks it (loop back-edges, function entries) calls
    /// `Trap(Interrupt)`.
    pub fn interrupt(&self) -> u32 {
        self.interrupt
    }

    /// `stack_limit: usize`: every prologue traps with `StackOverflow` when
    /// the stack pointer, after reserving its frame, would be below it.
    pub fn stack_limit(&self) -> u32 {
        self.stack_limit
    }

    /// `runtime_data: usize`: the runtime's own pointer (its instance).
    /// Compiled code never reads it; libcalls do.
    pub fn runtime_data(&self) -> u32 {
        self.runtime_data
    }

    /// `libcalls: *const [usize; Libcall::COUNT]`: the libcall table pointer.
    pub fn libcalls(&self) -> u32 {
        self.libcalls
    }

    /// The offset of `libcall`'s entry *within* the libcall table.
    pub fn libcall(&self, libcall: Libcall) -> u32 {
        libcall.index() as u32 * self.p()
    }

    /// `func_slots: *const usize`: the module's code table, one code pointer
    /// per defined function, shared by all instances (DESIGN.md, "Every call
    /// is indirect through a slot").
    pub fn func_slots(&self) -> u32 {
        self.func_slots
    }

    /// The offset of defined function `func`'s slot *within* the code table.
    pub fn func_slot(&self, func: u32) -> Option<u32> {
        Some(self.defined_func_index(func)? * self.p())
    }

    /// `tier_up_budgets: *mut i32`: one budget per defined function.
    pub fn tier_up_budgets(&self) -> u32 {
        self.tier_up_budgets
    }

    /// The offset of defined function `func`'s budget *within* the budgets
    /// array.
    pub fn tier_up_budget(&self, func: u32) -> Option<u32> {
        Some(self.defined_func_index(func)? * 4)
    }

    /// `type_ids: *const u32`: the canonical type id of each of the module's
    /// type indices.
    pub fn type_ids(&self) -> u32 {
        self.type_ids
    }

    /// `gc_heap: *mut GcCtx`: the store's GC allocation context
    /// (`{bump, limit}`, see [`gc`](crate::gc)), the same for every
    /// instance of a store. Readonly for code; the context's fields change.
    pub fn gc_heap(&self) -> u32 {
        self.gc_heap
    }

    /// The offset of type `type_index`'s canonical id *within* the type-ids
    /// array.
    pub fn type_id(&self, type_index: u32) -> Option<u32> {
        (type_index < self.counts.types).then_some(type_index * 4)
    }

    // ---- functions ------------------------------------------------------

    /// `func - imported functions` for a defined function: its index in the
    /// code table and the budgets array.
    pub fn defined_func_index(&self, func: u32) -> Option<u32> {
        let c = &self.counts;
        (func >= c.imported_functions && func < c.functions).then(|| func - c.imported_functions)
    }

    /// The number of functions the module imports.
    pub fn num_imported_functions(&self) -> u32 {
        self.counts.imported_functions
    }

    /// The number of functions the module defines (the code table's length).
    pub fn num_defined_functions(&self) -> u32 {
        self.counts.functions - self.counts.imported_functions
    }

    /// Imported function `func`'s slot pointer (`*const usize`): the code
    /// pointer is loaded from `*slot`, so a call of an import sees the
    /// exporter's tier-up just as a call through a funcref record does. For a
    /// host function the slot holds its wasm-to-host trampoline.
    pub fn imported_function_slot(&self, func: u32) -> Option<u32> {
        (func < self.counts.imported_functions)
            .then(|| self.imported_functions + func * 2 * self.p())
    }

    /// Imported function `func`'s vmctx (`usize`), to pass as its first
    /// argument.
    pub fn imported_function_vmctx(&self, func: u32) -> Option<u32> {
        Some(self.imported_function_slot(func)? + self.p())
    }

    /// Function `func`'s funcref record (any function, imported or defined);
    /// `ref.func` is `vmctx + funcref(func)`.
    pub fn funcref(&self, func: u32) -> Option<u32> {
        (func < self.counts.functions).then(|| self.funcrefs + func * self.funcref_layout().size)
    }

    /// The fields of a funcref record for this pointer size.
    pub fn funcref_layout(&self) -> FuncRefLayout {
        FuncRefLayout::for_pointer_size(self.pointer_size)
    }

    /// The word that identifies tag `tag` (imported or defined) in this
    /// instance: exception objects carry the same word, and `catch $t`
    /// compares the two (see ARCHITECTURE.md, "Exception handling").
    pub fn tag(&self, tag: u32) -> Option<u32> {
        (tag < self.counts.tags).then(|| self.tags + tag * self.p())
    }

    /// The number of tags, imported ones included.
    pub fn num_tags(&self) -> u32 {
        self.counts.tags
    }

    // ---- memories -------------------------------------------------------

    /// Where memory `mem`'s definition is.
    pub fn memory_definition(&self, mem: u32) -> Option<Definition> {
        if let Some(p) = self.imported_memory_ptr(mem) {
            return Some(Definition::Imported(p));
        }
        self.memory_base(mem).map(Definition::Local)
    }

    /// Defined memory `mem`'s `base: usize`.
    pub fn memory_base(&self, mem: u32) -> Option<u32> {
        let c = &self.counts;
        (mem >= c.imported_memories && mem < c.memories).then(|| {
            self.defined_memories + (mem - c.imported_memories) * self.memory_layout().size
        })
    }

    /// Defined memory `mem`'s `length_bytes: usize`.
    pub fn memory_length(&self, mem: u32) -> Option<u32> {
        Some(self.memory_base(mem)? + self.memory_layout().length)
    }

    /// Imported memory `mem`'s pointer to its owner's definition.
    pub fn imported_memory_ptr(&self, mem: u32) -> Option<u32> {
        (mem < self.counts.imported_memories).then(|| self.imported_memories + mem * self.p())
    }

    /// The fields of a memory definition for this pointer size.
    pub fn memory_layout(&self) -> MemoryLayout {
        MemoryLayout::for_pointer_size(self.pointer_size)
    }

    // ---- tables ---------------------------------------------------------

    /// Where table `table`'s definition is.
    pub fn table_definition(&self, table: u32) -> Option<Definition> {
        if let Some(p) = self.imported_table_ptr(table) {
            return Some(Definition::Imported(p));
        }
        self.table_base(table).map(Definition::Local)
    }

    /// Defined table `table`'s `base: *mut usize`.
    pub fn table_base(&self, table: u32) -> Option<u32> {
        let c = &self.counts;
        (table >= c.imported_tables && table < c.tables)
            .then(|| self.defined_tables + (table - c.imported_tables) * self.table_layout().size)
    }

    /// Defined table `table`'s `current_elements: u32`.
    pub fn table_len(&self, table: u32) -> Option<u32> {
        Some(self.table_base(table)? + self.table_layout().current_elements)
    }

    /// Imported table `table`'s pointer to its owner's definition.
    pub fn imported_table_ptr(&self, table: u32) -> Option<u32> {
        (table < self.counts.imported_tables).then(|| self.imported_tables + table * self.p())
    }

    /// The fields of a table definition for this pointer size.
    pub fn table_layout(&self) -> TableLayout {
        TableLayout::for_pointer_size(self.pointer_size)
    }

    // ---- globals --------------------------------------------------------

    /// Where global `global`'s storage is.
    pub fn global_definition(&self, global: u32) -> Option<Definition> {
        if let Some(p) = self.imported_global_ptr(global) {
            return Some(Definition::Imported(p));
        }
        self.global(global).map(Definition::Local)
    }

    /// Defined global `global`'s 16 bytes of storage (16-aligned).
    pub fn global(&self, global: u32) -> Option<u32> {
        let c = &self.counts;
        (global >= c.imported_globals && global < c.globals)
            .then(|| self.defined_globals + (global - c.imported_globals) * GLOBAL_SIZE)
    }

    /// Imported global `global`'s pointer to its owner's storage.
    pub fn imported_global_ptr(&self, global: u32) -> Option<u32> {
        (global < self.counts.imported_globals).then(|| self.imported_globals + global * self.p())
    }

    // ---- the whole picture ----------------------------------------------

    /// Every field and array, in layout order.
    pub fn regions(&self) -> Vec<VmRegion> {
        let p = self.p();
        let c = &self.counts;
        let r = |name, offset, count, stride, align| VmRegion {
            name,
            offset,
            count,
            stride,
            align,
        };
        vec![
            r("magic", self.magic(), 1, 4, 4),
            r("interrupt", self.interrupt, 1, 4, 4),
            r("stack_limit", self.stack_limit, 1, p, p),
            r("runtime_data", self.runtime_data, 1, p, p),
            r("libcalls", self.libcalls, 1, p, p),
            r("func_slots", self.func_slots, 1, p, p),
            r("tier_up_budgets", self.tier_up_budgets, 1, p, p),
            r("type_ids", self.type_ids, 1, p, p),
            r(
                "imported_functions",
                self.imported_functions,
                c.imported_functions,
                2 * p,
                p,
            ),
            r(
                "imported_memories",
                self.imported_memories,
                c.imported_memories,
                p,
                p,
            ),
            r(
                "defined_memories",
                self.defined_memories,
                c.memories - c.imported_memories,
                self.memory_layout().size,
                p,
            ),
            r(
                "imported_tables",
                self.imported_tables,
                c.imported_tables,
                p,
                p,
            ),
            r(
                "defined_tables",
                self.defined_tables,
                c.tables - c.imported_tables,
                self.table_layout().size,
                p,
            ),
            r(
                "imported_globals",
                self.imported_globals,
                c.imported_globals,
                p,
                p,
            ),
            r(
                "defined_globals",
                self.defined_globals,
                c.globals - c.imported_globals,
                GLOBAL_SIZE,
                16,
            ),
            r(
                "funcrefs",
                self.funcrefs,
                c.functions,
                self.funcref_layout().size,
                p,
            ),
            r("tags", self.tags, c.tags, p, p),
            r("gc_heap", self.gc_heap, 1, p, p),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rung_decoder::{DecoderConfig, decode_all};

    const MIXED: &str = r#"
        (module
          (type $t (func (param i32) (result i32)))
          (import "env" "f" (func $f (type $t)))
          (import "env" "g" (func $g))
          (import "env" "mem" (memory 1))
          (import "env" "tab" (table 1 funcref))
          (import "env" "gi" (global i32))
          (import "env" "gv" (global (mut v128)))
          (import "env" "mem2" (memory 1 2))
          (memory 1)
          (memory 0 1)
          (table 2 externref)
          (table 3 funcref)
          (global i64 (i64.const 0))
          (global (mut f64) (f64.const 0))
          (global v128 (v128.const i64x2 0 0))
          (func (type $t) local.get 0)
          (func)
          (func (result i32) i32.const 1))
    "#;

    fn env(wat: &str) -> ModuleEnv {
        let bytes = wat::parse_str(wat).expect("test module parses");
        let mut sink =
            |_: &ModuleEnv, _: rung_decoder::Event<'_>| Ok::<_, rung_decoder::DecodeError>(());
        decode_all(&bytes, DecoderConfig::default(), &mut sink).expect("test module decodes")
    }

    /// Every concrete field an accessor names: (what, offset, size, align).
    fn fields(o: &VmOffsets) -> Vec<(String, u32, u32, u32)> {
        let p = u32::from(o.pointer_size());
        let c = o.counts;
        let mut f = vec![
            ("magic".to_string(), o.magic(), 4, 4),
            ("interrupt".to_string(), o.interrupt(), 4, 4),
            ("stack_limit".to_string(), o.stack_limit(), p, p),
            ("runtime_data".to_string(), o.runtime_data(), p, p),
            ("libcalls".to_string(), o.libcalls(), p, p),
            ("func_slots".to_string(), o.func_slots(), p, p),
            ("tier_up_budgets".to_string(), o.tier_up_budgets(), p, p),
            ("type_ids".to_string(), o.type_ids(), p, p),
            ("gc_heap".to_string(), o.gc_heap(), p, p),
        ];
        let some = |x: Option<u32>, what: &str| x.unwrap_or_else(|| panic!("{what} is None"));
        for i in 0..c.functions {
            if i < c.imported_functions {
                let code = some(o.imported_function_slot(i), "import code");
                let vmctx = some(o.imported_function_vmctx(i), "import vmctx");
                f.push((format!("import {i} code"), code, p, p));
                f.push((format!("import {i} vmctx"), vmctx, p, p));
                assert_eq!(o.func_slot(i), None);
                assert_eq!(o.tier_up_budget(i), None);
            } else {
                assert_eq!(o.imported_function_slot(i), None);
                assert_eq!(o.imported_function_vmctx(i), None);
                let d = i - c.imported_functions;
                assert_eq!(o.func_slot(i), Some(d * p));
                assert_eq!(o.tier_up_budget(i), Some(d * 4));
            }
            let rec = some(o.funcref(i), "funcref");
            let l = o.funcref_layout();
            f.push((format!("funcref {i} slot"), rec + l.slot, p, p));
            f.push((format!("funcref {i} vmctx"), rec + l.vmctx, p, p));
            f.push((format!("funcref {i} type_id"), rec + l.type_id, 4, 4));
        }
        for i in 0..c.memories {
            if i < c.imported_memories {
                let ptr = some(o.imported_memory_ptr(i), "memory ptr");
                assert_eq!(o.memory_definition(i), Some(Definition::Imported(ptr)));
                assert_eq!(o.memory_base(i), None);
                assert_eq!(o.memory_length(i), None);
                f.push((format!("memory {i} ptr"), ptr, p, p));
            } else {
                let base = some(o.memory_base(i), "memory base");
                assert_eq!(o.memory_definition(i), Some(Definition::Local(base)));
                assert_eq!(o.imported_memory_ptr(i), None);
                f.push((format!("memory {i} base"), base, p, p));
                let len = some(o.memory_length(i), "memory length");
                f.push((format!("memory {i} length"), len, p, p));
            }
        }
        for i in 0..c.tables {
            if i < c.imported_tables {
                let ptr = some(o.imported_table_ptr(i), "table ptr");
                assert_eq!(o.table_definition(i), Some(Definition::Imported(ptr)));
                assert_eq!(o.table_base(i), None);
                f.push((format!("table {i} ptr"), ptr, p, p));
            } else {
                let base = some(o.table_base(i), "table base");
                assert_eq!(o.table_definition(i), Some(Definition::Local(base)));
                assert_eq!(o.imported_table_ptr(i), None);
                f.push((format!("table {i} base"), base, p, p));
                let len = some(o.table_len(i), "table len");
                f.push((format!("table {i} len"), len, 4, 4));
            }
        }
        for i in 0..c.globals {
            if i < c.imported_globals {
                let ptr = some(o.imported_global_ptr(i), "global ptr");
                assert_eq!(o.global_definition(i), Some(Definition::Imported(ptr)));
                assert_eq!(o.global(i), None);
                f.push((format!("global {i} ptr"), ptr, p, p));
            } else {
                let g = some(o.global(i), "global");
                assert_eq!(o.global_definition(i), Some(Definition::Local(g)));
                assert_eq!(o.imported_global_ptr(i), None);
                f.push((format!("global {i}"), g, GLOBAL_SIZE, 16));
            }
        }
        for i in 0..c.tags {
            f.push((format!("tag {i}"), some(o.tag(i), "tag"), p, p));
        }
        // Past the end of every index space.
        assert_eq!(o.tag(c.tags), None);
        assert_eq!(o.funcref(c.functions), None);
        assert_eq!(o.func_slot(c.functions), None);
        assert_eq!(o.memory_definition(c.memories), None);
        assert_eq!(o.table_definition(c.tables), None);
        assert_eq!(o.global_definition(c.globals), None);
        assert_eq!(o.type_id(c.types), None);
        f
    }

    fn check_layout(o: &VmOffsets) {
        assert_eq!(o.size() % 16, 0);
        let mut f = fields(o);
        for (what, offset, size, align) in &f {
            assert_eq!(
                offset % align,
                0,
                "{what} at {offset} is not {align}-aligned"
            );
            assert!(offset + size <= o.size(), "{what} ends past size()");
        }
        f.sort_by_key(|&(_, offset, _, _)| offset);
        for w in f.windows(2) {
            let (a, a_off, a_size, _) = &w[0];
            let (b, b_off, _, _) = &w[1];
            assert!(a_off + a_size <= *b_off, "{a} overlaps {b}");
        }
        // The regions agree with the accessors and are in order.
        let regions = o.regions();
        let mut end = 0u64;
        for r in &regions {
            assert!(u64::from(r.offset) >= end, "{} overlaps", r.name);
            assert_eq!(r.offset % r.align, 0, "{}", r.name);
            assert_eq!(r.stride % r.align, 0, "{}", r.name);
            end = r.end();
        }
        assert!(end <= u64::from(o.size()));
        assert!(o.size() as u64 - end < 16, "size() only pads to 16");
    }

    #[test]
    fn mixed_module_layout_is_aligned_and_disjoint() {
        let env = env(MIXED);
        for p in [4, 8] {
            let o = VmOffsets::new(&env, p).expect("layout");
            assert_eq!(o.num_imported_functions(), 2);
            assert_eq!(o.num_defined_functions(), 3);
            check_layout(&o);
            // Spot checks against the picture.
            assert_eq!(
                o.memory_definition(0),
                o.imported_memory_ptr(0).map(Definition::Imported)
            );
            assert_eq!(
                o.memory_definition(1),
                o.imported_memory_ptr(1).map(Definition::Imported)
            );
            assert!(matches!(o.memory_definition(2), Some(Definition::Local(_))));
            assert_eq!(
                o.libcall(Libcall::TierUp),
                Libcall::TierUp.index() as u32 * u32::from(p)
            );
            assert_eq!(o.type_id(0), Some(0));
        }
        let o = VmOffsets::new(&env, 8).expect("layout");
        assert_eq!(o.stack_limit(), 8);
        assert_eq!(o.type_ids(), 48);
        assert_eq!(o.imported_function_slot(0), Some(56));
        assert_eq!(o.imported_function_vmctx(1), Some(56 + 16 + 8));
    }

    #[test]
    fn empty_module_is_just_the_header() {
        let o = VmOffsets::new(&env("(module)"), 8).expect("layout");
        check_layout(&o);
        // The 56-byte header, the (empty) globals aligned to 16, `gc_heap`.
        assert_eq!(o.size(), 80);
        assert_eq!(o.gc_heap(), 64);
        assert_eq!(o.funcref(0), None);
        assert_eq!(o.memory_definition(0), None);
    }

    #[test]
    fn host_constants_match_the_host_layout() {
        let o = VmOffsets::for_host(&env(MIXED)).expect("layout");
        let l = o.funcref_layout();
        assert_eq!(
            (FUNCREF_SLOT, FUNCREF_VMCTX, FUNCREF_TYPE_ID, FUNCREF_SIZE),
            (l.slot, l.vmctx, l.type_id, l.size)
        );
        if HOST_POINTER_SIZE == 8 {
            assert_eq!((FUNCREF_VMCTX, FUNCREF_TYPE_ID, FUNCREF_SIZE), (8, 16, 24));
        }
        assert_eq!(VMCTX_MAGIC.to_le_bytes(), *b"rung");
    }

    #[test]
    fn huge_counts_are_an_impl_limit_not_a_panic() {
        let counts = Counts {
            functions: u32::MAX,
            globals: u32::MAX,
            ..Counts::default()
        };
        let err = VmOffsets::from_counts(counts, 8).expect_err("too big");
        assert!(matches!(err, CompileError::ImplLimit { .. }), "{err}");
        let err = VmOffsets::from_counts(Counts::default(), 2).expect_err("bad pointer size");
        assert!(matches!(err, CompileError::Internal(_)), "{err}");
    }

    #[test]
    fn inconsistent_env_is_an_error() {
        let mut env = env(MIXED);
        env.counts.imported_globals = 99;
        assert!(VmOffsets::new(&env, 8).is_err());
    }
}
