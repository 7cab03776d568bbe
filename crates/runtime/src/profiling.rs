//! Profiling agents: tell an external profiler (Linux `perf`) where each
//! compiled function lives, so that samples in JIT code get wasm names.
//!
//! The runtime calls [`ProfilingAgent::register`] for every function it
//! makes executable: a module's code when the module is built (eager,
//! streaming), a lazy compile, each tier-up promotion and OSR entry (new
//! code at a new address: the old entry stays valid for frames still in
//! it), and each host ↔ wasm trampoline (`rung!trampoline host_to_wasm
//! (func (param i32) (result i32))`). Nothing is called, and nothing computed, without an agent in
//! `Config::profiler` (the default).
//!
//! Two agents ship: [`PerfMapAgent`] (`/tmp/perf-PID.map`, the format of
//! perf's `Documentation/jit-interface.txt`) and [`JitDumpAgent`]
//! (`jit-PID.dump`, perf's `Documentation/jitdump-specification.txt`, for
//! `perf inject --jit`).

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use parking_lot::Mutex;
use rung_tiering::Tier;

use crate::backtrace::FrameSymbols;
use crate::code_memory::{CodeMemory, NO_LEVEL};

/// One function's code, just published.
#[derive(Debug, Clone, Copy)]
pub struct PublishedCode<'a> {
    /// The address of its first instruction.
    pub address: usize,
    /// Its machine code (`address..address + code.len()`, read-execute).
    pub code: &'a [u8],
    /// Its index in its module (`u32::MAX` for a trampoline).
    pub func: u32,
    /// `module!name [tier]`: the module's and function's names from the
    /// name section (`<unknown>`, `func[N]` without them; demangled), and
    /// the tier that compiled it (`[optimizer OSR]` for an OSR entry).
    pub name: &'a str,
}

/// Something that wants to know where code is (a profiler's JIT
/// interface). Called from whichever thread published the code (compile
/// threads included), possibly from several at once.
pub trait ProfilingAgent: Send + Sync {
    fn register(&self, code: &PublishedCode<'_>);
}

/// Tells `agent` about every function of `memory` (published for the
/// module `names`, by the ladder `tiers`; `osr`: OSR entries, named
/// `[tier OSR]`).
pub(crate) fn announce(
    agent: &dyn ProfilingAgent,
    names: &dyn FrameSymbols,
    tiers: &[Arc<dyn Tier>],
    memory: &CodeMemory,
    osr: bool,
) {
    for (address, len, func, level) in memory.functions() {
        let module = names.module_name().unwrap_or("<unknown>");
        let function = match names.function_name(func) {
            Some(name) => crate::backtrace::demangle(name),
            None => format!("func[{func}]"),
        };
        let tier = match level {
            NO_LEVEL => "stub",
            level => tiers.get(usize::from(level)).map_or("?", |t| t.name()),
        };
        let osr = if osr { " OSR" } else { "" };
        let name = format!("{module}!{function} [{tier}{osr}]");
        // SAFETY: the function's code lies inside `memory`'s mapping, which
        // is read-execute and alive for this call.
        let code = unsafe { std::slice::from_raw_parts(address as *const u8, len) };
        agent.register(&PublishedCode {
            address,
            code,
            func,
            name: &name,
        });
    }
}

/// Tells `agent` about a trampoline (`memory` holds one), named
/// `rung!trampoline NAME`.
pub(crate) fn announce_trampoline(agent: &dyn ProfilingAgent, memory: &CodeMemory, name: &str) {
    for (address, len, func, _) in memory.functions() {
        // SAFETY: as in `announce`.
        let code = unsafe { std::slice::from_raw_parts(address as *const u8, len) };
        agent.register(&PublishedCode {
            address,
            code,
            func,
            name: &format!("rung!trampoline {name}"),
        });
    }
}

/// Appends `START SIZE name` lines (hex, no `0x`) to `/tmp/perf-PID.map`,
/// which `perf report` reads for a process's JIT code. A re-published
/// function (tier-up) gets a new line for its new range.
pub struct PerfMapAgent {
    file: Mutex<File>,
    path: PathBuf,
}

impl PerfMapAgent {
    /// `/tmp/perf-PID.map` for this process (created, or appended to).
    ///
    /// # Errors
    ///
    /// If the file cannot be opened.
    pub fn new() -> std::io::Result<PerfMapAgent> {
        Self::at(Path::new(&format!("/tmp/perf-{}.map", std::process::id())))
    }

    /// The agent writing to `path`.
    ///
    /// # Errors
    ///
    /// If the file cannot be opened.
    pub fn at(path: &Path) -> std::io::Result<PerfMapAgent> {
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)?;
        Ok(PerfMapAgent {
            file: Mutex::new(file),
            path: path.to_path_buf(),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl ProfilingAgent for PerfMapAgent {
    fn register(&self, code: &PublishedCode<'_>) {
        // One `write` per line (an append), so lines of several threads
        // never interleave; a failed write loses a line, not the program.
        let line = format!("{:x} {:x} {}\n", code.address, code.code.len(), code.name);
        let _ = self.file.lock().write_all(line.as_bytes());
    }
}

/// `JiTD`, as a little-endian `u32`.
pub const JITDUMP_MAGIC: u32 = 0x4A69_5444;
/// The jitdump format version.
pub const JITDUMP_VERSION: u32 = 1;
/// `JIT_CODE_LOAD`'s record id.
pub const JIT_CODE_LOAD: u32 = 0;
/// `EM_X86_64`.
const ELF_MACHINE_X86_64: u32 = 62;
/// The file header's size.
const HEADER_SIZE: u32 = 40;

/// Writes a jitdump file: a header, then one `JIT_CODE_LOAD` record (with
/// the code bytes) per function published. `perf record -k mono` sees the
/// file through an executable mapping of it that the agent makes once
/// (the spec's marker), and `perf inject --jit` turns the records into ELF
/// images that `perf report` symbolizes.
pub struct JitDumpAgent {
    state: Mutex<JitDump>,
    path: PathBuf,
}

struct JitDump {
    file: File,
    /// The next record's `code_index` (unique per load).
    next_index: u64,
}

/// `CLOCK_MONOTONIC` in nanoseconds, the clock `perf record -k mono` uses.
fn timestamp() -> u64 {
    let t = rustix::time::clock_gettime(rustix::time::ClockId::Monotonic);
    (t.tv_sec as u64)
        .wrapping_mul(1_000_000_000)
        .wrapping_add(t.tv_nsec as u64)
}

impl JitDumpAgent {
    /// `DIR/jit-PID.dump` for this process (created, or truncated).
    ///
    /// # Errors
    ///
    /// If the file cannot be created, written or mapped.
    pub fn new(dir: &Path) -> std::io::Result<JitDumpAgent> {
        let path = dir.join(format!("jit-{}.dump", std::process::id()));
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(true)
            .read(true)
            .write(true)
            .open(&path)?;
        let mut header = Vec::with_capacity(HEADER_SIZE as usize);
        header.extend(JITDUMP_MAGIC.to_le_bytes());
        header.extend(JITDUMP_VERSION.to_le_bytes());
        header.extend(HEADER_SIZE.to_le_bytes());
        header.extend(ELF_MACHINE_X86_64.to_le_bytes());
        header.extend(0u32.to_le_bytes()); // pad1
        header.extend(std::process::id().to_le_bytes());
        header.extend(timestamp().to_le_bytes());
        header.extend(0u64.to_le_bytes()); // flags
        file.write_all(&header)?;
        // The marker perf looks for: an executable mapping of the file.
        // It stays mapped for the life of the process (perf only needs the
        // mmap event; nothing reads through it).
        // SAFETY: a fresh shared-nothing mapping of our own file's first
        // page; no existing memory is affected.
        unsafe {
            rustix::mm::mmap(
                std::ptr::null_mut(),
                rustix::param::page_size(),
                rustix::mm::ProtFlags::READ | rustix::mm::ProtFlags::EXEC,
                rustix::mm::MapFlags::PRIVATE,
                &file,
                0,
            )
        }?;
        Ok(JitDumpAgent {
            state: Mutex::new(JitDump {
                file,
                next_index: 0,
            }),
            path,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl ProfilingAgent for JitDumpAgent {
    fn register(&self, code: &PublishedCode<'_>) {
        let name = code.name.as_bytes();
        // Record header (16), pid, tid, vma, code_addr, code_size,
        // code_index (40), name and its NUL, code.
        let total = 16 + 40 + name.len() + 1 + code.code.len();
        let Ok(total_u32) = u32::try_from(total) else {
            return;
        };
        let mut record = Vec::with_capacity(total);
        record.extend(JIT_CODE_LOAD.to_le_bytes());
        record.extend(total_u32.to_le_bytes());
        record.extend(timestamp().to_le_bytes());
        record.extend(std::process::id().to_le_bytes());
        record.extend((rustix::thread::gettid().as_raw_nonzero().get() as u32).to_le_bytes());
        let address = code.address as u64;
        record.extend(address.to_le_bytes()); // vma
        record.extend(address.to_le_bytes()); // code_addr
        record.extend((code.code.len() as u64).to_le_bytes());
        let mut state = self.state.lock();
        record.extend(state.next_index.to_le_bytes());
        record.extend(name);
        record.push(0);
        record.extend(code.code);
        // A failed write loses the record, not the program.
        if state.file.write_all(&record).is_ok() {
            state.next_index += 1;
        }
    }
}
