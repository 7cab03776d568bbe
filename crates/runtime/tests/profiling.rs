//! Profiling agents: every published function (and trampoline) reaches
//! the agent, with its name and tier, in the file formats perf reads (perf map lines, jitdump
//! header and `JIT_CODE_LOAD` records); tier-up adds entries.

use std::path::PathBuf;
use std::sync::Arc;

use rung_runtime::{
    Config, Engine, JIT_CODE_LOAD, JITDUMP_MAGIC, JITDUMP_VERSION, JitDumpAgent, Linker, Module,
    PerfMapAgent, ProfilingAgent, Store, TierChoice, Val,
};
use rung_tiering::CallCountPolicy;

/// `hot` (1) is called by `main` (0) in a loop; `cold` (2) never runs.
const WAT: &str = r#"(module $prof
    (func $main (export "main") (param i32) (result i32)
        (local $s i32)
        (loop $l
            (local.set $s (i32.add (local.get $s) (call $hot (local.get 0))))
            (local.set 0 (i32.sub (local.get 0) (i32.const 1)))
            (br_if $l (local.get 0)))
        (local.get $s))
    (func $hot (param i32) (result i32)
        (i32.mul (local.get 0) (i32.const 3)))
    (func $_ZN4core3fmt5write17h0123456789abcdefE (export "cold")))"#;

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("rung-profiling-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

/// Tiered, promoting on the second call, compiled on the calling thread
/// (so the promotion is published before `main` returns). Returns what
/// keeps the code mapped.
fn run_tiered(agent: Arc<dyn ProfilingAgent>) -> (Engine, Module, Store) {
    let config = Config {
        tier_up_policy: Arc::new(CallCountPolicy::new(2)),
        tier_up_in_background: false,
        osr: false,
        // One thread places the functions in index order.
        compile_threads: 1,
        profiler: Some(agent),
        ..TierChoice::Tiered.config()
    };
    let engine = Engine::new(config).expect("engine");
    let bytes = wat::parse_str(WAT).expect("wat");
    let module = Module::new(&engine, &bytes).expect("compile");
    let mut store = Store::new(&engine);
    let instance = Linker::new()
        .instantiate(&mut store, &module)
        .expect("instantiate");
    let main = instance.get_func(&store, "main").expect("main");
    for _ in 0..3 {
        main.call(&mut store, &[Val::I32(50)]).expect("main");
    }
    assert_eq!(engine.tier_ups(), 2, "`hot`, then `main`");
    (engine, module, store)
}

/// The executable mappings of this process, from /proc/self/maps.
fn executable_ranges() -> Vec<(usize, usize)> {
    let maps = std::fs::read_to_string("/proc/self/maps").unwrap();
    maps.lines()
        .filter_map(|line| {
            let mut parts = line.split_whitespace();
            let (lo, hi) = parts.next()?.split_once('-')?;
            let perms = parts.next()?;
            perms.contains('x').then(|| {
                (
                    usize::from_str_radix(lo, 16).unwrap(),
                    usize::from_str_radix(hi, 16).unwrap(),
                )
            })
        })
        .collect()
}

#[test]
fn the_perf_map_lists_every_function_and_each_promotion() {
    let path = scratch("perf.map");
    let _ = std::fs::remove_file(&path);
    let _alive = run_tiered(Arc::new(PerfMapAgent::at(&path).expect("perf map")));
    let text = std::fs::read_to_string(&path).unwrap();
    let exec = executable_ranges();
    let mut names = Vec::new();
    for line in text.lines() {
        // `START SIZE name`: hex without 0x, the name is the rest.
        let mut parts = line.splitn(3, ' ');
        let start = parts.next().unwrap();
        let size = parts.next().unwrap();
        let name = parts.next().unwrap();
        assert!(
            !start.starts_with("0x") && !size.starts_with("0x"),
            "{line}"
        );
        let start = usize::from_str_radix(start, 16).unwrap();
        let size = usize::from_str_radix(size, 16).unwrap();
        assert!(size > 0, "{line}");
        assert!(
            exec.iter()
                .any(|&(lo, hi)| lo <= start && start + size <= hi),
            "{line} is not in an executable mapping"
        );
        names.push(name.to_string());
    }
    assert_eq!(
        names,
        [
            "prof!main [baseline]",
            "prof!hot [baseline]",
            "prof!core::fmt::write [baseline]",
            "rung!trampoline host_to_wasm (func (param i32) (result i32))",
            "prof!hot [optimizer]",
            "prof!main [optimizer]",
        ]
    );
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(b[at..at + 4].try_into().unwrap())
}

fn u64_at(b: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(b[at..at + 8].try_into().unwrap())
}

#[test]
fn the_jitdump_has_a_header_and_one_load_record_per_function() {
    let dir = scratch("jitdump");
    std::fs::create_dir_all(&dir).unwrap();
    let agent = Arc::new(JitDumpAgent::new(&dir).expect("jitdump"));
    let path = agent.path().to_path_buf();
    assert_eq!(
        path.file_name().unwrap().to_str().unwrap(),
        format!("jit-{}.dump", std::process::id())
    );
    let _alive = run_tiered(agent);
    let b = std::fs::read(&path).unwrap();
    // The header.
    assert_eq!(u32_at(&b, 0), JITDUMP_MAGIC);
    assert_eq!(&b[0..4], b"DTiJ", "little-endian `JiTD`");
    assert_eq!(u32_at(&b, 4), JITDUMP_VERSION);
    let header = u32_at(&b, 8) as usize;
    assert_eq!(header, 40);
    assert_eq!(u32_at(&b, 12), 62, "EM_X86_64");
    assert_eq!(u32_at(&b, 20), std::process::id());
    // The file is mapped executable once (the marker perf records).
    let maps = std::fs::read_to_string("/proc/self/maps").unwrap();
    let marker = maps
        .lines()
        .filter(|l| l.ends_with(path.to_str().unwrap()))
        .collect::<Vec<_>>();
    assert_eq!(marker.len(), 1, "{marker:?}");
    assert!(marker[0].split_whitespace().nth(1).unwrap().contains('x'));
    // The records.
    let mut at = header;
    let mut loads = Vec::new();
    let mut last_time = 0;
    while at < b.len() {
        let id = u32_at(&b, at);
        let size = u32_at(&b, at + 4) as usize;
        let time = u64_at(&b, at + 8);
        assert_eq!(id, JIT_CODE_LOAD);
        assert!(time >= last_time, "timestamps go forward");
        last_time = time;
        let body = &b[at + 16..at + size];
        assert_eq!(u32_at(body, 0), std::process::id());
        let (vma, code_addr, code_size, index) = (
            u64_at(body, 8),
            u64_at(body, 16),
            u64_at(body, 24) as usize,
            u64_at(body, 32),
        );
        assert_eq!(vma, code_addr);
        let rest = &body[40..];
        let nul = rest.iter().position(|&c| c == 0).unwrap();
        let name = std::str::from_utf8(&rest[..nul]).unwrap().to_string();
        let code = &rest[nul + 1..];
        assert_eq!(code.len(), code_size, "{name}");
        assert!(code_size > 0);
        loads.push((index, name));
        at += size;
    }
    assert_eq!(at, b.len());
    assert_eq!(
        loads,
        [
            (0, "prof!main [baseline]".to_string()),
            (1, "prof!hot [baseline]".to_string()),
            (2, "prof!core::fmt::write [baseline]".to_string()),
            (
                3,
                "rung!trampoline host_to_wasm (func (param i32) (result i32))".to_string(),
            ),
            (4, "prof!hot [optimizer]".to_string()),
            (5, "prof!main [optimizer]".to_string()),
        ]
    );
}
