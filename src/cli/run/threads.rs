//! wasi-threads in `rung run`: a module that imports a shared `env.memory`
//! gets one shared memory, and `wasi.thread-spawn(arg) -> tid` runs
//! `wasi_thread_start(tid, arg)` of a new instance of the same module, in a
//! store of its own on a new OS thread, over that memory and the same WASI
//! context (ARCHITECTURE.md, "Threads"). A trap on a spawned thread ends
//! the process as it would on the main one (an exit status from
//! `proc_exit` is the process's).

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, OnceLock};

use rung::runtime::wasi;
use rung::runtime::{Engine, Extern, FuncType, Linker, Module, SharedMemory, Store, Val, ValType};
use wasmparser::TypeRef;

/// The largest thread id wasi-threads allows (ids are positive `i32`s
/// below 2^29).
const MAX_TID: u32 = 0x1FFF_FFFF;

struct Spawner {
    engine: Engine,
    module: Module,
    memory: SharedMemory,
    /// The linker every thread instantiates with (WASI and `thread-spawn`,
    /// but not the memory: each store attaches its own handle).
    linker: OnceLock<Linker>,
    next_tid: AtomicU32,
}

impl Spawner {
    /// Starts a thread; its id, or a negative value if it cannot.
    fn spawn(self: &Arc<Self>, arg: i32) -> i32 {
        let tid = self.next_tid.fetch_add(1, Ordering::Relaxed);
        if tid > MAX_TID {
            return -1;
        }
        let me = self.clone();
        let started = std::thread::Builder::new()
            .name(format!("wasi-thread-{tid}"))
            .stack_size(8 << 20)
            .spawn(move || me.run(tid as i32, arg));
        match started {
            Ok(_) => tid as i32,
            Err(_) => -1,
        }
    }

    fn run(&self, tid: i32, arg: i32) {
        let Some(base) = self.linker.get() else {
            return;
        };
        let mut store = Store::new(&self.engine);
        let mut linker = base.clone();
        linker.define(
            "env",
            "memory",
            Extern::Memory(self.memory.attach(&mut store)),
        );
        let outcome = linker
            .instantiate(&mut store, &self.module)
            .map_err(|e| e.to_string())
            .and_then(|instance| {
                let start = instance
                    .get_func(&store, "wasi_thread_start")
                    .ok_or("no exported function `wasi_thread_start`")?;
                start
                    .call(&mut store, &[Val::I32(tid), Val::I32(arg)])
                    .map(drop)
                    .map_err(|trap| match wasi::exit_status(&trap) {
                        Some(code) => std::process::exit(code),
                        None => format!("trap: {trap}"),
                    })
            });
        if let Err(e) = outcome {
            eprintln!("rung: thread {tid}: {e}");
            std::process::exit(1);
        }
    }
}

/// If `module` imports a shared `env.memory`, defines it (in `store`) and
/// `wasi.thread-spawn` in `linker`.
pub fn add_to_linker(
    linker: &mut Linker,
    store: &mut Store,
    engine: &Engine,
    module: &Module,
) -> Result<(), String> {
    let env = module.env();
    let Some(ty) = env.imports.iter().find_map(|i| match i.ty {
        TypeRef::Memory(m) if i.module == "env" && i.name == "memory" && m.shared => Some(m),
        _ => None,
    }) else {
        return Ok(());
    };
    let maximum = ty.maximum.ok_or("a shared memory needs a maximum")?;
    let memory = SharedMemory::new(ty.initial, maximum).map_err(|e| e.to_string())?;
    let spawner = Arc::new(Spawner {
        engine: engine.clone(),
        module: module.clone(),
        memory: memory.clone(),
        linker: OnceLock::new(),
        next_tid: AtomicU32::new(1),
    });
    let s = spawner.clone();
    linker.func_new(
        "wasi",
        "thread-spawn",
        FuncType::new([ValType::I32], [ValType::I32]),
        move |_, args, results| {
            let arg = match args.first() {
                Some(Val::I32(a)) => *a,
                _ => 0,
            };
            results[0] = Val::I32(s.spawn(arg));
            Ok(())
        },
    );
    let _ = spawner.linker.set(linker.clone());
    linker.define("env", "memory", Extern::Memory(memory.attach(store)));
    Ok(())
}
