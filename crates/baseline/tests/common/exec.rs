//! A minimal executor for modules without imports whose functions do not
//! trap: enough of a vmctx (stack limit, code table, budgets, type ids,
//! memory 0, globals) to run compiled code of either tier, entered through
//! the optimizer's host-to-wasm trampoline. Traps and most libcalls abort
//! the process, so tests only run inputs that cannot trap; the runtime's
//! differential test covers traps.

use dynasmrt::mmap::{ExecutableBuffer, MutableBuffer};
use rung_optimizer::OptimizingTier;
use rung_tiering::{Definition, Libcall, Tier, Trampolines};
use wasmparser::{FuncType, Operator, ValType};

use super::Module;

thread_local! {
    /// TierUp libcalls made on this thread (compiled code runs on the
    /// thread that calls it, so tests running in parallel do not mix).
    pub static TIER_UPS: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

/// Counts, then overwrites every register SysV lets a callee clobber, so
/// that compiled code which keeps a value in one across the call fails.
extern "sysv64" fn tier_up(_vmctx: *mut u8, _func: u32) {
    TIER_UPS.with(|n| n.set(n.get() + 1));
    // SAFETY: writes only registers declared as outputs.
    unsafe {
        std::arch::asm!(
            "mov rax, -1", "mov rcx, -1", "mov rdx, -1", "mov rsi, -1", "mov rdi, -1",
            "mov r8, -1", "mov r9, -1", "mov r10, -1", "mov r11, -1",
            "pcmpeqd xmm0, xmm0", "pcmpeqd xmm1, xmm1", "pcmpeqd xmm2, xmm2",
            "pcmpeqd xmm3, xmm3", "pcmpeqd xmm4, xmm4", "pcmpeqd xmm5, xmm5",
            "pcmpeqd xmm6, xmm6", "pcmpeqd xmm7, xmm7", "pcmpeqd xmm8, xmm8",
            "pcmpeqd xmm9, xmm9", "pcmpeqd xmm10, xmm10", "pcmpeqd xmm11, xmm11",
            "pcmpeqd xmm12, xmm12", "pcmpeqd xmm13, xmm13", "pcmpeqd xmm14, xmm14",
            "pcmpeqd xmm15, xmm15",
            out("rax") _, out("rcx") _, out("rdx") _, out("rsi") _, out("rdi") _,
            out("r8") _, out("r9") _, out("r10") _, out("r11") _,
            out("xmm0") _, out("xmm1") _, out("xmm2") _, out("xmm3") _,
            out("xmm4") _, out("xmm5") _, out("xmm6") _, out("xmm7") _,
            out("xmm8") _, out("xmm9") _, out("xmm10") _, out("xmm11") _,
            out("xmm12") _, out("xmm13") _, out("xmm14") _, out("xmm15") _,
        );
    }
}

extern "sysv64" fn trap(_vmctx: *mut u8, code: u32) {
    eprintln!("trap {code} in the test executor");
    std::process::abort();
}

extern "sysv64" fn unexpected(_vmctx: *mut u8) {
    eprintln!("unexpected libcall in the test executor");
    std::process::abort();
}

extern "sysv64" fn memory_grow(_vmctx: *mut u8, _mem: u32, delta: u64) -> u64 {
    // The executor's memory cannot grow; growing by 0 reports the size.
    if delta == 0 {
        MEMORY_PAGES.with(|p| p.get()) as u64
    } else {
        u64::MAX
    }
}

thread_local! {
    /// Memory 0's size in pages of the instance made last on this thread
    /// (tests run in parallel, one thread each).
    static MEMORY_PAGES: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

/// Compiled code and a vmctx for one instance.
pub struct Instance {
    _code: ExecutableBuffer,
    slots: Box<[usize]>,
    budgets: Box<[i32]>,
    type_ids: Box<[u32]>,
    libcalls: Box<[usize]>,
    vmctx: Box<[u128]>,
    pub memory: Vec<u8>,
    types: Vec<FuncType>,
    optimizer: OptimizingTier,
    trampolines: Vec<(u32, ExecutableBuffer)>,
    /// Table elements (funcref record pointers), one vector per table.
    tables: Vec<Vec<usize>>,
}

fn bits_of_const(bytes: &rung_decoder::ConstExprBytes) -> u128 {
    let mut ops = bytes.expr().get_operators_reader();
    match ops.read() {
        Ok(Operator::I32Const { value }) => u128::from(value as u32),
        Ok(Operator::I64Const { value }) => u128::from(value as u64),
        Ok(Operator::F32Const { value }) => u128::from(value.bits()),
        Ok(Operator::F64Const { value }) => u128::from(value.bits()),
        _ => 0,
    }
}

impl Instance {
    /// Compiles every function of `m` with `tier` and sets up a vmctx.
    pub fn new(m: &Module, tier: &dyn Tier, budget: i32) -> Instance {
        Instance::mixed(m, &[tier], budget)
    }

    /// Compiles function `i` with `tiers[i % tiers.len()]`.
    pub fn mixed(m: &Module, tiers: &[&dyn Tier], budget: i32) -> Instance {
        assert_eq!(m.env.num_imported_functions(), 0, "no imports");
        let funcs: Vec<_> = (0..m.bodies.len())
            .map(|i| {
                m.compile(tiers[i % tiers.len()], i)
                    .unwrap_or_else(|e| panic!("{}: {e}", m.name(i)))
            })
            .collect();
        let mut offsets_in_code = Vec::new();
        let mut total = 0;
        for f in &funcs {
            offsets_in_code.push(total);
            total += f.code.len().next_multiple_of(16);
        }
        let mut buf = MutableBuffer::new(total.max(16)).expect("mmap");
        buf.set_len(total.max(16));
        for (f, &at) in funcs.iter().zip(&offsets_in_code) {
            buf[at..at + f.code.len()].copy_from_slice(&f.code);
        }
        let code = buf.make_exec().expect("mprotect");
        let base = code.as_ptr() as usize;
        let slots: Box<[usize]> = offsets_in_code.iter().map(|&o| base + o).collect();
        let budgets: Box<[i32]> = vec![budget; funcs.len()].into_boxed_slice();
        // Type ids: structurally equal types share an id.
        let mut types: Vec<FuncType> = Vec::new();
        let type_ids: Box<[u32]> = m
            .env
            .types
            .iter()
            .map(|t| match &t.composite_type.inner {
                wasmparser::CompositeInnerType::Func(f) => {
                    let id = types.iter().position(|x| x == f).unwrap_or_else(|| {
                        types.push(f.clone());
                        types.len() - 1
                    });
                    id as u32
                }
                _ => u32::MAX,
            })
            .collect();
        let libcalls: Box<[usize]> = Libcall::ALL
            .iter()
            .map(|l| match l {
                Libcall::TierUp => tier_up as *const () as usize,
                Libcall::Trap => trap as *const () as usize,
                Libcall::MemoryGrow => memory_grow as *const () as usize,
                _ => unexpected as *const () as usize,
            })
            .collect();
        let pages = m.env.memories.first().map_or(0, |t| t.initial as usize);
        MEMORY_PAGES.with(|p| p.set(pages));
        let memory = vec![0u8; pages << 16];
        let vmctx = vec![0u128; (m.offsets.size() as usize).div_ceil(16)].into_boxed_slice();
        let mut inst = Instance {
            _code: code,
            slots,
            budgets,
            type_ids,
            libcalls,
            vmctx,
            memory,
            types: m
                .env
                .types
                .iter()
                .filter_map(|t| match &t.composite_type.inner {
                    wasmparser::CompositeInnerType::Func(f) => Some(f.clone()),
                    _ => None,
                })
                .collect(),
            optimizer: OptimizingTier::new().expect("host ISA"),
            trampolines: Vec::new(),
            tables: Vec::new(),
        };
        inst.fill_vmctx(m);
        inst
    }

    fn put(&mut self, off: u32, value: usize) {
        let p = self.vmctx.as_mut_ptr().cast::<u8>();
        // SAFETY: `off` is inside the vmctx (VmOffsets), word-aligned.
        unsafe { p.add(off as usize).cast::<usize>().write(value) };
    }

    fn put128(&mut self, off: u32, value: u128) {
        let p = self.vmctx.as_mut_ptr().cast::<u8>();
        // SAFETY: a global's 16 bytes inside the vmctx.
        unsafe { p.add(off as usize).cast::<u128>().write_unaligned(value) };
    }

    fn fill_vmctx(&mut self, m: &Module) {
        let o = &m.offsets;
        let here = 0u8;
        let sp = std::hint::black_box(&here) as *const u8 as usize;
        self.put(o.stack_limit(), sp - (256 << 10));
        self.put(o.libcalls(), self.libcalls.as_ptr() as usize);
        self.put(o.func_slots(), self.slots.as_ptr() as usize);
        let budgets = self.budgets.as_mut_ptr() as usize;
        self.put(o.tier_up_budgets(), budgets);
        self.put(o.type_ids(), self.type_ids.as_ptr() as usize);
        if let Some(Definition::Local(off)) = o.memory_definition(0) {
            let base = self.memory.as_mut_ptr() as usize;
            let len = self.memory.len();
            self.put(off + o.memory_layout().base, base);
            self.put(off + o.memory_layout().length, len);
        }
        // Funcref records, then tables filled by active element segments.
        let vm = self.vmctx_ptr() as usize;
        let layout = o.funcref_layout();
        for f in 0..m.env.functions.len() as u32 {
            let rec = o.funcref(f).expect("record");
            let slot = &self.slots[f as usize] as *const usize as usize;
            let ty = m.env.functions[f as usize] as usize;
            self.put(rec + layout.slot, slot);
            self.put(rec + layout.vmctx, vm);
            let id = self.type_ids[ty];
            // SAFETY: the record's type-id field inside the vmctx.
            unsafe {
                (vm as *mut u8)
                    .add((rec + layout.type_id) as usize)
                    .cast::<u32>()
                    .write(id)
            };
        }
        for t in &m.env.tables {
            self.tables.push(vec![0usize; t.ty.initial as usize]);
        }
        for seg in &m.env.elements {
            if let (
                rung_decoder::ElementMode::Active { table, offset },
                rung_decoder::ElementItemsOwned::Functions(funcs),
            ) = (&seg.mode, &seg.items)
            {
                let at = bits_of_const(offset) as usize;
                for (k, &f) in funcs.iter().enumerate() {
                    self.tables[*table as usize][at + k] =
                        vm + o.funcref(f).expect("record") as usize;
                }
            }
        }
        for t in 0..self.tables.len() {
            if let Some(Definition::Local(off)) = o.table_definition(t as u32) {
                let base = self.tables[t].as_mut_ptr() as usize;
                let len = self.tables[t].len();
                self.put(off + o.table_layout().base, base);
                let p = self.vmctx_ptr();
                // SAFETY: the table's length field inside the vmctx.
                unsafe {
                    p.add((off + o.table_layout().current_elements) as usize)
                        .cast::<u32>()
                        .write(len as u32)
                };
            }
        }
        for (g, global) in m.env.globals.iter().enumerate() {
            if let (Some(off), Some(init)) = (o.global(g as u32), &global.init) {
                let v = bits_of_const(init);
                self.put128(off, v);
            }
        }
    }

    fn vmctx_ptr(&mut self) -> *mut u8 {
        self.vmctx.as_mut_ptr().cast()
    }

    /// Reads global `g`'s low 64 bits.
    pub fn global(&self, m: &Module, g: u32) -> u64 {
        let off = m.offsets.global(g).expect("defined global");
        let p = self.vmctx.as_ptr().cast::<u8>();
        // SAFETY: the global's cell inside the vmctx.
        unsafe { p.add(off as usize).cast::<u64>().read_unaligned() }
    }

    /// Calls function `func` with raw argument bits; returns result bits.
    pub fn call(&mut self, m: &Module, func: u32, args: &[u64]) -> Vec<u64> {
        let ty = m.env.func_type(func).expect("function type").clone();
        assert_eq!(args.len(), ty.params().len(), "argument count");
        if !self.trampolines.iter().any(|(f, _)| *f == func) {
            let tramp = self.optimizer.host_to_wasm(&ty).expect("trampoline");
            let mut buf = MutableBuffer::new(tramp.code.len()).expect("mmap");
            buf.set_len(tramp.code.len());
            buf[..].copy_from_slice(&tramp.code);
            self.trampolines
                .push((func, buf.make_exec().expect("mprotect")));
        }
        let tramp_ptr = self
            .trampolines
            .iter()
            .find(|(f, _)| *f == func)
            .map(|(_, b)| b.as_ptr())
            .expect("trampoline");
        let n = ty.params().len().max(ty.results().len()).max(1);
        let mut values = vec![0u128; n];
        for (v, a) in values.iter_mut().zip(args) {
            *v = u128::from(*a);
        }
        let code = self.slots[(func - m.env.num_imported_functions()) as usize];
        let vmctx = self.vmctx_ptr();
        type Entry = unsafe extern "sysv64" fn(*mut u8, *const u8, *mut u128);
        // SAFETY: the trampoline follows `rung_tiering::trampoline`; `code`
        // is a compiled function of type `ty`; `values` is large enough.
        unsafe {
            let entry: Entry = std::mem::transmute::<*const u8, Entry>(tramp_ptr);
            entry(vmctx, code as *const u8, values.as_mut_ptr());
        }
        ty.results()
            .iter()
            .zip(&values)
            .map(|(t, v)| match t {
                ValType::I32 | ValType::F32 => *v as u32 as u64,
                _ => *v as u64,
            })
            .collect()
    }

    pub fn num_types(&self) -> usize {
        self.types.len()
    }
}
