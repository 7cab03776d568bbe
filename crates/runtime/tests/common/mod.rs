//! The "syscall shim" the WASI tests share: a module that imports every
//! preview1 function and re-exports it with its memory, so a test calls
//! each function with chosen arguments and reads the records it wrote.
#![allow(dead_code)] // each test binary uses a part

use std::path::{Path, PathBuf};

use rung_runtime::wasi::{self, WasiCtx};
use rung_runtime::{Config, Engine, Linker, Memory, Module, Store, Val};

// Preview1 numbers the tests use.
pub const ESUCCESS: i32 = 0;
pub const EBADF: i32 = 8;
pub const EEXIST: i32 = 20;
pub const EFAULT: i32 = 21;
pub const EINVAL: i32 = 28;
pub const EISDIR: i32 = 31;
pub const ELOOP: i32 = 32;
pub const ENOENT: i32 = 44;
pub const ENOSYS: i32 = 52;
pub const ENOTDIR: i32 = 54;
pub const ENAMETOOLONG: i32 = 37;
pub const EILSEQ: i32 = 25;
pub const ENOTEMPTY: i32 = 55;
pub const ESPIPE: i32 = 70;
pub const ENOTCAPABLE: i32 = 76;

pub const FILETYPE_CHARACTER_DEVICE: u8 = 2;
pub const FILETYPE_DIRECTORY: u8 = 3;
pub const FILETYPE_REGULAR_FILE: u8 = 4;
pub const FILETYPE_SYMBOLIC_LINK: u8 = 7;

pub const OFLAGS_CREAT: i32 = 1;
pub const OFLAGS_DIRECTORY: i32 = 2;
pub const OFLAGS_EXCL: i32 = 4;
pub const OFLAGS_TRUNC: i32 = 8;
pub const LOOKUP_SYMLINK_FOLLOW: i32 = 1;
pub const RIGHTS_ALL: i64 = (1 << 30) - 1;
pub const RIGHTS_READ_ONLY: i64 = (1 << 1) | (1 << 2) | (1 << 5) | (1 << 14) | (1 << 21);

pub fn engine() -> Engine {
    Engine::new(Config::default()).unwrap()
}

/// A fresh, empty scratch directory for one test.
pub fn scratch(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join("wasi")
        .join(format!("{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

// ---- the syscall shim -------------------------------------------------

/// Every preview1 function with its parameter types.
pub const SIGNATURES: &[(&str, &str)] = &[
    ("args_get", "(param i32 i32) (result i32)"),
    ("args_sizes_get", "(param i32 i32) (result i32)"),
    ("environ_get", "(param i32 i32) (result i32)"),
    ("environ_sizes_get", "(param i32 i32) (result i32)"),
    ("clock_res_get", "(param i32 i32) (result i32)"),
    ("clock_time_get", "(param i32 i64 i32) (result i32)"),
    ("fd_advise", "(param i32 i64 i64 i32) (result i32)"),
    ("fd_allocate", "(param i32 i64 i64) (result i32)"),
    ("fd_close", "(param i32) (result i32)"),
    ("fd_datasync", "(param i32) (result i32)"),
    ("fd_fdstat_get", "(param i32 i32) (result i32)"),
    ("fd_fdstat_set_flags", "(param i32 i32) (result i32)"),
    ("fd_fdstat_set_rights", "(param i32 i64 i64) (result i32)"),
    ("fd_filestat_get", "(param i32 i32) (result i32)"),
    ("fd_filestat_set_size", "(param i32 i64) (result i32)"),
    (
        "fd_filestat_set_times",
        "(param i32 i64 i64 i32) (result i32)",
    ),
    ("fd_pread", "(param i32 i32 i32 i64 i32) (result i32)"),
    ("fd_prestat_get", "(param i32 i32) (result i32)"),
    ("fd_prestat_dir_name", "(param i32 i32 i32) (result i32)"),
    ("fd_pwrite", "(param i32 i32 i32 i64 i32) (result i32)"),
    ("fd_read", "(param i32 i32 i32 i32) (result i32)"),
    ("fd_readdir", "(param i32 i32 i32 i64 i32) (result i32)"),
    ("fd_renumber", "(param i32 i32) (result i32)"),
    ("fd_seek", "(param i32 i64 i32 i32) (result i32)"),
    ("fd_sync", "(param i32) (result i32)"),
    ("fd_tell", "(param i32 i32) (result i32)"),
    ("fd_write", "(param i32 i32 i32 i32) (result i32)"),
    ("path_create_directory", "(param i32 i32 i32) (result i32)"),
    (
        "path_filestat_get",
        "(param i32 i32 i32 i32 i32) (result i32)",
    ),
    (
        "path_filestat_set_times",
        "(param i32 i32 i32 i32 i64 i64 i32) (result i32)",
    ),
    (
        "path_link",
        "(param i32 i32 i32 i32 i32 i32 i32) (result i32)",
    ),
    (
        "path_open",
        "(param i32 i32 i32 i32 i32 i64 i64 i32 i32) (result i32)",
    ),
    (
        "path_readlink",
        "(param i32 i32 i32 i32 i32 i32) (result i32)",
    ),
    ("path_remove_directory", "(param i32 i32 i32) (result i32)"),
    (
        "path_rename",
        "(param i32 i32 i32 i32 i32 i32) (result i32)",
    ),
    ("path_symlink", "(param i32 i32 i32 i32 i32) (result i32)"),
    ("path_unlink_file", "(param i32 i32 i32) (result i32)"),
    ("poll_oneoff", "(param i32 i32 i32 i32) (result i32)"),
    ("proc_exit", "(param i32)"),
    ("proc_raise", "(param i32) (result i32)"),
    ("random_get", "(param i32 i32) (result i32)"),
    ("sched_yield", "(result i32)"),
    ("sock_accept", "(param i32 i32 i32) (result i32)"),
    ("sock_recv", "(param i32 i32 i32 i32 i32 i32) (result i32)"),
    ("sock_send", "(param i32 i32 i32 i32 i32) (result i32)"),
    ("sock_shutdown", "(param i32 i32) (result i32)"),
];

/// Scratch areas of the shim's memory (one 64 KiB page).
pub const PATH: u32 = 0x1000;
pub const PATH2: u32 = 0x1800;
pub const OUT: u32 = 0x2000;
pub const BUF: u32 = 0x4000;
pub const IOV: u32 = 0x100;

pub struct Shim {
    pub store: Store,
    pub instance: rung_runtime::Instance,
    pub memory: Memory,
}

impl Shim {
    pub fn new(ctx: WasiCtx) -> Shim {
        Shim::with_pages(ctx, 1)
    }

    /// A shim whose memory has `pages` 64 KiB pages.
    pub fn with_pages(ctx: WasiCtx, pages: u32) -> Shim {
        let mut wat = String::from("(module\n");
        for (name, sig) in SIGNATURES {
            wat += &format!(
                "(import \"wasi_snapshot_preview1\" \"{name}\" (func ${name} {sig}))\n(export \"{name}\" (func ${name}))\n"
            );
        }
        wat += &format!("(memory (export \"memory\") {pages}))");
        let engine = engine();
        let module = Module::new(&engine, &wat::parse_str(&wat).unwrap()).unwrap();
        let mut linker = Linker::new();
        wasi::add_to_linker(&mut linker, ctx);
        let mut store = Store::new(&engine);
        let instance = linker.instantiate(&mut store, &module).unwrap();
        let memory = instance.get_memory(&store, "memory").unwrap();
        Shim {
            store,
            instance,
            memory,
        }
    }

    /// Calls `name` with i32 (`I`) and i64 (`L`) arguments; returns the errno.
    pub fn call(&mut self, name: &str, args: &[Arg]) -> i32 {
        let f = self.instance.get_func(&self.store, name).unwrap();
        let args: Vec<Val> = args
            .iter()
            .map(|a| match *a {
                Arg::I(v) => Val::I32(v),
                Arg::L(v) => Val::I64(v),
            })
            .collect();
        match f.call(&mut self.store, &args).unwrap().as_slice() {
            [Val::I32(e)] => *e,
            other => panic!("{name} returned {other:?}"),
        }
    }

    pub fn write(&mut self, at: u32, bytes: &[u8]) {
        self.memory.data_mut(&mut self.store)[at as usize..][..bytes.len()].copy_from_slice(bytes);
    }

    pub fn read(&self, at: u32, len: usize) -> Vec<u8> {
        self.memory.data(&self.store)[at as usize..][..len].to_vec()
    }

    pub fn u32(&self, at: u32) -> u32 {
        u32::from_le_bytes(self.read(at, 4).try_into().unwrap())
    }

    pub fn u64(&self, at: u32) -> u64 {
        u64::from_le_bytes(self.read(at, 8).try_into().unwrap())
    }

    /// Puts `path` at `at`; returns the (ptr, len) arguments.
    pub fn path_at(&mut self, at: u32, path: &str) -> [Arg; 2] {
        self.write(at, path.as_bytes());
        [I(at as i32), I(path.len() as i32)]
    }

    /// `path_open(dirfd, lookup, path, oflags, rights, rights, fdflags)`;
    /// the new fd or the errno.
    pub fn open(
        &mut self,
        dirfd: i32,
        lookup: i32,
        path: &str,
        oflags: i32,
        rights: i64,
    ) -> Result<i32, i32> {
        let [p, l] = self.path_at(PATH, path);
        let e = self.call(
            "path_open",
            &[
                I(dirfd),
                I(lookup),
                p,
                l,
                I(oflags),
                L(rights),
                L(rights),
                I(0),
                I(OUT as i32),
            ],
        );
        if e == ESUCCESS {
            Ok(self.u32(OUT) as i32)
        } else {
            Err(e)
        }
    }

    /// A one-path call such as `path_create_directory(3, path)`.
    pub fn path_call(&mut self, name: &str, dirfd: i32, path: &str) -> i32 {
        let [p, l] = self.path_at(PATH, path);
        self.call(name, &[I(dirfd), p, l])
    }

    pub fn write_fd(&mut self, fd: i32, data: &[u8]) -> (i32, u32) {
        self.write(BUF, data);
        self.write(IOV, &BUF.to_le_bytes());
        self.write(IOV + 4, &(data.len() as u32).to_le_bytes());
        let e = self.call("fd_write", &[I(fd), I(IOV as i32), I(1), I(OUT as i32)]);
        (e, self.u32(OUT))
    }

    pub fn read_fd(&mut self, fd: i32, len: u32) -> (i32, Vec<u8>) {
        self.write(IOV, &BUF.to_le_bytes());
        self.write(IOV + 4, &len.to_le_bytes());
        let e = self.call("fd_read", &[I(fd), I(IOV as i32), I(1), I(OUT as i32)]);
        let n = self.u32(OUT) as usize;
        (e, self.read(BUF, n))
    }

    /// `path_filestat_get`: the errno and the 64-byte record.
    pub fn stat(&mut self, dirfd: i32, lookup: i32, path: &str) -> (i32, Vec<u8>) {
        let [p, l] = self.path_at(PATH, path);
        let e = self.call(
            "path_filestat_get",
            &[I(dirfd), I(lookup), p, l, I(OUT as i32)],
        );
        (e, self.read(OUT, 64))
    }

    /// Every entry of `fd_readdir(fd)` as (d_next, name, type), reading with
    /// a buffer of `buf_len` bytes and following the cookies.
    pub fn readdir(&mut self, fd: i32, buf_len: u32) -> Vec<(u64, String, u8)> {
        let mut entries = Vec::new();
        let mut cookie = 0u64;
        loop {
            let e = self.call(
                "fd_readdir",
                &[
                    I(fd),
                    I(BUF as i32),
                    I(buf_len as i32),
                    L(cookie as i64),
                    I(OUT as i32),
                ],
            );
            assert_eq!(e, ESUCCESS);
            let used = self.u32(OUT);
            let data = self.read(BUF, used as usize);
            let mut at = 0usize;
            let mut progressed = false;
            while at + 24 <= data.len() {
                let next = u64::from_le_bytes(data[at..at + 8].try_into().unwrap());
                let namlen =
                    u32::from_le_bytes(data[at + 16..at + 20].try_into().unwrap()) as usize;
                let ty = data[at + 20];
                if at + 24 + namlen > data.len() {
                    break; // cut: ask again from this entry's cookie
                }
                let name = String::from_utf8(data[at + 24..at + 24 + namlen].to_vec()).unwrap();
                entries.push((next, name, ty));
                cookie = next;
                progressed = true;
                at += 24 + namlen;
            }
            if used < buf_len {
                return entries;
            }
            assert!(
                progressed,
                "buffer of {buf_len} bytes too small for one entry"
            );
        }
    }
}

#[derive(Clone, Copy)]
pub enum Arg {
    I(i32),
    L(i64),
}
pub use Arg::{I, L};

pub fn shim_with_dir(name: &str) -> (Shim, PathBuf) {
    let dir = scratch(name);
    let ctx = WasiCtx::builder()
        .args(["shim"])
        .preopened_dir(&dir, "/sandbox")
        .unwrap()
        .build();
    (Shim::new(ctx), dir)
}
