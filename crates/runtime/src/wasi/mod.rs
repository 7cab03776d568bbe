//! WASI preview1 (`wasi_snapshot_preview1`) as host functions on a
//! [`Linker`]: what a WASI command needs to run — arguments, environment,
//! stdio, clocks, randomness, and files under preopened directories.
//!
//! ```no_run
//! use rung_runtime::{Engine, Linker, Module, Store, Config};
//! use rung_runtime::wasi::{self, WasiCtx};
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let engine = Engine::new(Config::default())?;
//! let module = Module::new(&engine, &std::fs::read("hello.wasm")?)?;
//! let ctx = WasiCtx::builder()
//!     .args(["hello", "world"])
//!     .env("HOME", "/")
//!     .preopened_dir("/tmp/data", "/data")?
//!     .inherit_stdio()
//!     .build();
//! let mut linker = Linker::new();
//! wasi::add_to_linker(&mut linker, ctx);
//! let mut store = Store::new(&engine);
//! let instance = linker.instantiate(&mut store, &module)?;
//! let start = instance.get_func(&store, "_start").ok_or("no _start")?;
//! match start.call(&mut store, &[]) {
//!     Ok(_) => {}
//!     Err(trap) => match wasi::exit_status(&trap) {
//!         Some(code) => std::process::exit(code),
//!         None => return Err(trap.into()),
//!     },
//! }
//! # Ok(()) }
//! ```
//!
//! Code map: `types.rs` (errnos, flags, record layouts), `memory.rs`
//! (bounds-checked guest memory), `table.rs` (descriptors), `path.rs` (the
//! sandbox: path resolution under a directory descriptor), `fs.rs` (`fd_*`,
//! `path_*`), `process.rs` (args, environment, clocks, random, poll,
//! sockets); this file has the context, its builder and the registration.
//!
//! **Invariant:** nothing a guest passes makes the host panic: every pointer
//! is checked (`EFAULT`), every number converted with a check (`EINVAL`),
//! and every path resolved inside its directory (`ENOTCAPABLE`).
//! `proc_exit` is a trap with [`TrapReason::Exit`]; [`exit_status`] reads it.

mod fs;
mod memory;
mod path;
mod process;
mod table;
mod types;

use std::io::IsTerminal;
use std::os::fd::{BorrowedFd, RawFd};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use parking_lot::Mutex;
use wasmparser::{FuncType, ValType};

use crate::linker::Linker;
use crate::store::{Caller, Extern};
use crate::traps::{Trap, TrapReason};
use crate::values::Val;

use memory::GuestMemory;
pub use table::OutputBuffer;
use table::{Descriptor, Dir, End, Kind, Source, Stream, Table};
pub use types::Errno;

/// The state of one WASI program: its arguments, environment and open files.
pub struct WasiCtx {
    args: Vec<Vec<u8>>,
    env: Vec<Vec<u8>>,
    table: Table,
    trace: bool,
}

impl WasiCtx {
    pub fn builder() -> WasiCtxBuilder {
        WasiCtxBuilder::default()
    }
}

/// Where one of stdin, stdout, stderr goes.
enum Stdio {
    Inherit,
    Null,
    Input(Vec<u8>),
    Output(OutputBuffer),
    /// No descriptor: the number is free (`EBADF` until something is
    /// opened there).
    Closed,
}

/// Builds a [`WasiCtx`]. By default there are no arguments, no environment,
/// no preopens, and stdio is closed to the program (reads see end of file,
/// writes vanish).
pub struct WasiCtxBuilder {
    args: Vec<Vec<u8>>,
    env: Vec<Vec<u8>>,
    preopens: Vec<(std::fs::File, Vec<u8>)>,
    stdio: [Stdio; 3],
    trace: bool,
}

impl Default for WasiCtxBuilder {
    fn default() -> Self {
        WasiCtxBuilder {
            args: Vec::new(),
            env: Vec::new(),
            preopens: Vec::new(),
            stdio: [Stdio::Null, Stdio::Null, Stdio::Null],
            trace: false,
        }
    }
}

/// A string a C program receives: its bytes up to the first NUL.
fn c_bytes(s: impl AsRef<[u8]>) -> Vec<u8> {
    let s = s.as_ref();
    let end = s.iter().position(|&b| b == 0).unwrap_or(s.len());
    s[..end].to_vec()
}

impl WasiCtxBuilder {
    /// Appends one argument (`argv[0]` first, conventionally the program name).
    pub fn arg(mut self, arg: impl AsRef<[u8]>) -> Self {
        self.args.push(c_bytes(arg));
        self
    }

    /// Appends arguments.
    pub fn args<I: IntoIterator<Item = S>, S: AsRef<[u8]>>(mut self, args: I) -> Self {
        self.args.extend(args.into_iter().map(c_bytes));
        self
    }

    /// Sets an environment variable (`NAME=VALUE`).
    pub fn env(mut self, name: impl AsRef<[u8]>, value: impl AsRef<[u8]>) -> Self {
        let mut kv = c_bytes(name);
        kv.push(b'=');
        kv.extend(c_bytes(value));
        self.env.push(kv);
        self
    }

    /// Makes the host directory `host` visible to the program as `guest`
    /// (the next descriptor number, from 3). Everything the program reaches
    /// through it stays inside `host`.
    pub fn preopened_dir(
        mut self,
        host: impl AsRef<Path>,
        guest: impl AsRef<str>,
    ) -> std::io::Result<Self> {
        let host = host.as_ref();
        let file = std::fs::File::open(host)?;
        if !file.metadata()?.is_dir() {
            return Err(std::io::Error::new(
                std::io::ErrorKind::NotADirectory,
                format!("{} is not a directory", host.display()),
            ));
        }
        self.preopens.push((file, c_bytes(guest.as_ref())));
        Ok(self)
    }

    /// The program reads the host's stdin and writes the host's stdout and
    /// stderr, as streams: stdin only reads, stdout and stderr only write,
    /// none can seek, and none shows the host's device, inode, size or
    /// times or lets the guest change its times or flags. A host fd that is
    /// closed (see [`record_host_stdio`]) stays closed for the guest.
    pub fn inherit_stdio(mut self) -> Self {
        self.stdio = [Stdio::Inherit, Stdio::Inherit, Stdio::Inherit];
        self
    }

    pub fn inherit_stdin(mut self) -> Self {
        self.stdio[0] = Stdio::Inherit;
        self
    }

    pub fn inherit_stdout(mut self) -> Self {
        self.stdio[1] = Stdio::Inherit;
        self
    }

    pub fn inherit_stderr(mut self) -> Self {
        self.stdio[2] = Stdio::Inherit;
        self
    }

    /// The program's stdin reads these bytes, then end of file.
    pub fn stdin_bytes(mut self, data: impl Into<Vec<u8>>) -> Self {
        self.stdio[0] = Stdio::Input(data.into());
        self
    }

    /// The program's stdout goes to `buf`.
    pub fn stdout_buffer(mut self, buf: &OutputBuffer) -> Self {
        self.stdio[1] = Stdio::Output(buf.clone());
        self
    }

    /// The program's stderr goes to `buf`.
    pub fn stderr_buffer(mut self, buf: &OutputBuffer) -> Self {
        self.stdio[2] = Stdio::Output(buf.clone());
        self
    }

    /// The program has no stdin (fd 0 is `EBADF`), as a process whose
    /// parent closed it. Inheriting a host stdin that is closed does the
    /// same; this is for a host that knows better than the fd it has now
    /// (Rust's runtime reopens a closed stdio fd on `/dev/null` before
    /// `main`).
    pub fn close_stdin(mut self) -> Self {
        self.stdio[0] = Stdio::Closed;
        self
    }

    /// The program has no stdout (fd 1 is `EBADF`); see [`Self::close_stdin`].
    pub fn close_stdout(mut self) -> Self {
        self.stdio[1] = Stdio::Closed;
        self
    }

    /// The program has no stderr (fd 2 is `EBADF`); see [`Self::close_stdin`].
    pub fn close_stderr(mut self) -> Self {
        self.stdio[2] = Stdio::Closed;
        self
    }

    /// Prints every call, its arguments and its errno on the host's stderr
    /// (`wasi: fd_write(1, 1024, 1, 1036) -> 0`).
    pub fn trace(mut self, on: bool) -> Self {
        self.trace = on;
        self
    }

    pub fn build(self) -> WasiCtx {
        let mut table = Table::default();
        for (i, s) in self.stdio.into_iter().enumerate() {
            let end = if i == 0 { End::Read } else { End::Write };
            let (source, tty) = match s {
                Stdio::Inherit
                    if host_fd_is_open(i as RawFd)
                        && !CLOSED_AT_START[i].load(Ordering::Relaxed) =>
                {
                    // SAFETY: fds 0, 1 and 2 are the process's stdio, open
                    // (just checked) for its whole life: Rust's std never
                    // closes them, and neither does the guest (it reaches
                    // them only through `Stream::read` and `Stream::write`).
                    let fd = unsafe { BorrowedFd::borrow_raw(i as RawFd) };
                    (Source::Host(fd), fd.is_terminal())
                }
                Stdio::Inherit | Stdio::Closed => {
                    table.reserve(i as u32);
                    continue;
                }
                Stdio::Null => (Source::Null, false),
                Stdio::Input(data) => (Source::Bytes { data, pos: 0 }, false),
                Stdio::Output(buf) => (Source::Buffer(buf), false),
            };
            table.set(
                i as u32,
                Descriptor::new(Kind::Stream(Stream { end, source, tty }), 0),
            );
        }
        // Preopens from 3, even when a stdio number is free.
        for (fd, (file, guest)) in (3u32..).zip(self.preopens) {
            let dir = Dir {
                fd: file.into(),
                preopen: Some(guest),
                listing: None,
            };
            table.set(fd, Descriptor::new(Kind::Dir(dir), 0));
        }
        WasiCtx {
            args: self.args,
            env: self.env,
            table,
            trace: self.trace,
        }
    }
}

/// Whether the host's fd `fd` is open.
fn host_fd_is_open(fd: RawFd) -> bool {
    // SAFETY: F_GETFD reads the descriptor's flags and touches no memory;
    // a closed fd is an EBADF answer, not undefined behaviour.
    unsafe { libc::fcntl(fd, libc::F_GETFD) != -1 }
}

/// Which of the host's fds 0–2 were closed when the process started, as
/// [`record_host_stdio`] saw them.
static CLOSED_AT_START: [AtomicBool; 3] = [const { AtomicBool::new(false) }; 3];

/// Remembers which of fds 0, 1, 2 the parent process left closed, so that
/// inheriting stdio leaves them closed for the guest too (`EBADF`, as the
/// program would see natively). Rust's runtime reopens a closed stdio fd
/// on `/dev/null` before `main`, so this must run earlier: a binary lists
/// it in `.init_array`, as `rung` does:
///
/// ```ignore
/// #[used]
/// #[unsafe(link_section = ".init_array")]
/// static RECORD_STDIO: extern "C" fn() = rung_runtime::wasi::record_host_stdio;
/// ```
pub extern "C" fn record_host_stdio() {
    for (fd, closed) in (0..).zip(&CLOSED_AT_START) {
        if !host_fd_is_open(fd) {
            closed.store(true, Ordering::Relaxed);
        }
    }
}

/// The largest status `proc_exit` ends a program with: the witx's rule
/// (`wasi_ephemeral_proc`): 0–125 report success or failure to the
/// environment, anything larger "behaves as if it were implemented by an
/// unreachable instruction" (a trap), as Wasmtime does; so no status is
/// ever cut to 8 bits and a failing program never looks successful.
pub const MAX_EXIT_STATUS: u32 = 125;

/// The exit status of a program that called `proc_exit`, if `trap` is that.
pub fn exit_status(trap: &Trap) -> Option<i32> {
    match trap.reason {
        TrapReason::Exit(code) => Some(code),
        _ => None,
    }
}

/// The arguments of one call, read by position and type.
pub(crate) struct Args<'a>(&'a [Val]);

impl Args<'_> {
    pub fn u32(&self, i: usize) -> u32 {
        match self.0.get(i) {
            Some(Val::I32(v)) => *v as u32,
            Some(Val::I64(v)) => *v as u32,
            _ => 0,
        }
    }

    pub fn u64(&self, i: usize) -> u64 {
        match self.0.get(i) {
            Some(Val::I64(v)) => *v as u64,
            Some(Val::I32(v)) => *v as u32 as u64,
            _ => 0,
        }
    }
}

/// The module name the functions are defined under.
pub const MODULE: &str = "wasi_snapshot_preview1";

type Handler = fn(&mut WasiCtx, &mut GuestMemory<'_>, &Args<'_>) -> Result<(), Errno>;

/// Every function that answers an errno: name, parameter types (`I` = i32,
/// `L` = i64), implementation.
const FUNCTIONS: &[(&str, &str, Handler)] = &[
    ("args_get", "II", process::args_get),
    ("args_sizes_get", "II", process::args_sizes_get),
    ("environ_get", "II", process::environ_get),
    ("environ_sizes_get", "II", process::environ_sizes_get),
    ("clock_res_get", "II", process::clock_res_get),
    ("clock_time_get", "ILI", process::clock_time_get),
    ("fd_advise", "ILLI", fs::fd_advise),
    ("fd_allocate", "ILL", fs::fd_allocate),
    ("fd_close", "I", fs::fd_close),
    ("fd_datasync", "I", fs::fd_datasync),
    ("fd_fdstat_get", "II", fs::fd_fdstat_get),
    ("fd_fdstat_set_flags", "II", fs::fd_fdstat_set_flags),
    ("fd_fdstat_set_rights", "ILL", fs::fd_fdstat_set_rights),
    ("fd_filestat_get", "II", fs::fd_filestat_get),
    ("fd_filestat_set_size", "IL", fs::fd_filestat_set_size),
    ("fd_filestat_set_times", "ILLI", fs::fd_filestat_set_times),
    ("fd_pread", "IIILI", fs::fd_pread),
    ("fd_prestat_get", "II", fs::fd_prestat_get),
    ("fd_prestat_dir_name", "III", fs::fd_prestat_dir_name),
    ("fd_pwrite", "IIILI", fs::fd_pwrite),
    ("fd_read", "IIII", fs::fd_read),
    ("fd_readdir", "IIILI", fs::fd_readdir),
    ("fd_renumber", "II", fs::fd_renumber),
    ("fd_seek", "ILII", fs::fd_seek),
    ("fd_sync", "I", fs::fd_sync),
    ("fd_tell", "II", fs::fd_tell),
    ("fd_write", "IIII", fs::fd_write),
    ("path_create_directory", "III", fs::path_create_directory),
    ("path_filestat_get", "IIIII", fs::path_filestat_get),
    (
        "path_filestat_set_times",
        "IIIILLI",
        fs::path_filestat_set_times,
    ),
    ("path_link", "IIIIIII", fs::path_link),
    ("path_open", "IIIIILLII", fs::path_open),
    ("path_readlink", "IIIIII", fs::path_readlink),
    ("path_remove_directory", "III", fs::path_remove_directory),
    ("path_rename", "IIIIII", fs::path_rename),
    ("path_symlink", "IIIII", fs::path_symlink),
    ("path_unlink_file", "III", fs::path_unlink_file),
    ("poll_oneoff", "IIII", process::poll_oneoff),
    ("random_get", "II", process::random_get),
    ("sched_yield", "", process::sched_yield),
    ("sock_accept", "III", process::nosys),
    ("sock_recv", "IIIIII", process::nosys),
    ("sock_send", "IIIII", process::nosys),
    ("sock_shutdown", "II", process::nosys),
];

fn func_type(params: &str, results: &[ValType]) -> FuncType {
    let params = params.bytes().map(|c| match c {
        b'L' => ValType::I64,
        _ => ValType::I32,
    });
    FuncType::new(params, results.iter().copied())
}

/// The calling instance's exported `memory` (none: every pointer is
/// `EFAULT`).
fn guest_memory<'a>(caller: &'a mut Caller<'_>) -> GuestMemory<'a> {
    let memory = match caller.get_export("memory") {
        Some(Extern::Memory(m)) => Some(m),
        _ => caller.default_memory(),
    };
    match memory {
        Some(m) => GuestMemory::new(caller.memory_data_mut(m)),
        None => GuestMemory::new(&mut []),
    }
}

fn trace(name: &str, args: &[Val], errno: Errno) {
    let args: Vec<String> = args
        .iter()
        .map(|a| match a {
            Val::I32(v) => v.to_string(),
            Val::I64(v) => v.to_string(),
            other => format!("{other:?}"),
        })
        .collect();
    eprintln!("wasi: {name}({}) -> {}", args.join(", "), errno.0);
}

/// Defines every preview1 function under `wasi_snapshot_preview1`, all
/// sharing `ctx`.
pub fn add_to_linker(linker: &mut Linker, ctx: WasiCtx) {
    let ctx = Arc::new(Mutex::new(ctx));
    for &(name, params, handler) in FUNCTIONS {
        let ctx = ctx.clone();
        let ty = func_type(params, &[ValType::I32]);
        linker.func_new(MODULE, name, ty, move |caller, args, results| {
            let mut mem = guest_memory(caller);
            let mut ctx = ctx.lock();
            let errno = match handler(&mut ctx, &mut mem, &Args(args)) {
                Ok(()) => Errno::SUCCESS,
                Err(e) => e,
            };
            if ctx.trace {
                trace(name, args, errno);
            }
            results[0] = Val::I32(i32::from(errno.0));
            Ok(())
        });
    }
    linker.func_new(MODULE, "proc_exit", func_type("I", &[]), |_, args, _| {
        let status = Args(args).u32(0);
        if status > MAX_EXIT_STATUS {
            return Err(Trap::host(format!(
                "wasi: proc_exit({status}): exit status outside WASI's range 0..=125"
            )));
        }
        Err(Trap::new(TrapReason::Exit(status as i32)))
    });
    linker.func_new(
        MODULE,
        "proc_raise",
        func_type("I", &[ValType::I32]),
        |_, args, results| {
            let sig = Args(args).u32(0);
            // Signals whose default action is to do nothing (preview1's
            // numbering: 0 none, 16 CHLD, 17 CONT, 22 URG, 27 WINCH).
            if matches!(sig, 0 | 16 | 17 | 22 | 27) {
                results[0] = Val::I32(0);
                return Ok(());
            }
            Err(Trap::host(format!("wasi: proc_raise: signal {sig}")))
        },
    );
}
