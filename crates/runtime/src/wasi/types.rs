//! The numbers of `wasi_snapshot_preview1`: errno values, file types, flags,
//! rights, clock ids, and the byte layouts of the records the functions read
//! and write in guest memory (all little-endian, as `witx` lays them out).
//!
//! **Invariant:** every number here is the one of the preview1 witx
//! (`typenames.witx`); nothing else in `wasi/` writes a literal errno or
//! offset.

// The tables are the spec's, whole; not every entry has a user here.
#![allow(dead_code)]

use rustix::io::Errno as HostErrno;

/// A preview1 `errno` (a `u16` on the wire).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Errno(pub u16);

impl Errno {
    pub const SUCCESS: Errno = Errno(0);
    pub const TOOBIG: Errno = Errno(1);
    pub const ACCES: Errno = Errno(2);
    pub const ADDRINUSE: Errno = Errno(3);
    pub const ADDRNOTAVAIL: Errno = Errno(4);
    pub const AFNOSUPPORT: Errno = Errno(5);
    pub const AGAIN: Errno = Errno(6);
    pub const ALREADY: Errno = Errno(7);
    pub const BADF: Errno = Errno(8);
    pub const BADMSG: Errno = Errno(9);
    pub const BUSY: Errno = Errno(10);
    pub const CANCELED: Errno = Errno(11);
    pub const CHILD: Errno = Errno(12);
    pub const CONNABORTED: Errno = Errno(13);
    pub const CONNREFUSED: Errno = Errno(14);
    pub const CONNRESET: Errno = Errno(15);
    pub const DEADLK: Errno = Errno(16);
    pub const DESTADDRREQ: Errno = Errno(17);
    pub const DOM: Errno = Errno(18);
    pub const DQUOT: Errno = Errno(19);
    pub const EXIST: Errno = Errno(20);
    pub const FAULT: Errno = Errno(21);
    pub const FBIG: Errno = Errno(22);
    pub const HOSTUNREACH: Errno = Errno(23);
    pub const IDRM: Errno = Errno(24);
    pub const ILSEQ: Errno = Errno(25);
    pub const INPROGRESS: Errno = Errno(26);
    pub const INTR: Errno = Errno(27);
    pub const INVAL: Errno = Errno(28);
    pub const IO: Errno = Errno(29);
    pub const ISCONN: Errno = Errno(30);
    pub const ISDIR: Errno = Errno(31);
    pub const LOOP: Errno = Errno(32);
    pub const MFILE: Errno = Errno(33);
    pub const MLINK: Errno = Errno(34);
    pub const MSGSIZE: Errno = Errno(35);
    pub const MULTIHOP: Errno = Errno(36);
    pub const NAMETOOLONG: Errno = Errno(37);
    pub const NETDOWN: Errno = Errno(38);
    pub const NETRESET: Errno = Errno(39);
    pub const NETUNREACH: Errno = Errno(40);
    pub const NFILE: Errno = Errno(41);
    pub const NOBUFS: Errno = Errno(42);
    pub const NODEV: Errno = Errno(43);
    pub const NOENT: Errno = Errno(44);
    pub const NOEXEC: Errno = Errno(45);
    pub const NOLCK: Errno = Errno(46);
    pub const NOLINK: Errno = Errno(47);
    pub const NOMEM: Errno = Errno(48);
    pub const NOMSG: Errno = Errno(49);
    pub const NOPROTOOPT: Errno = Errno(50);
    pub const NOSPC: Errno = Errno(51);
    pub const NOSYS: Errno = Errno(52);
    pub const NOTCONN: Errno = Errno(53);
    pub const NOTDIR: Errno = Errno(54);
    pub const NOTEMPTY: Errno = Errno(55);
    pub const NOTRECOVERABLE: Errno = Errno(56);
    pub const NOTSOCK: Errno = Errno(57);
    pub const NOTSUP: Errno = Errno(58);
    pub const NOTTY: Errno = Errno(59);
    pub const NXIO: Errno = Errno(60);
    pub const OVERFLOW: Errno = Errno(61);
    pub const OWNERDEAD: Errno = Errno(62);
    pub const PERM: Errno = Errno(63);
    pub const PIPE: Errno = Errno(64);
    pub const PROTO: Errno = Errno(65);
    pub const PROTONOSUPPORT: Errno = Errno(66);
    pub const PROTOTYPE: Errno = Errno(67);
    pub const RANGE: Errno = Errno(68);
    pub const ROFS: Errno = Errno(69);
    pub const SPIPE: Errno = Errno(70);
    pub const SRCH: Errno = Errno(71);
    pub const STALE: Errno = Errno(72);
    pub const TIMEDOUT: Errno = Errno(73);
    pub const TXTBSY: Errno = Errno(74);
    pub const XDEV: Errno = Errno(75);
    pub const NOTCAPABLE: Errno = Errno(76);
}

impl From<HostErrno> for Errno {
    /// The preview1 errno for a host errno (Linux numbers differ from
    /// preview1's, which are alphabetical).
    fn from(e: HostErrno) -> Errno {
        match e {
            HostErrno::TOOBIG => Errno::TOOBIG,
            HostErrno::ACCESS => Errno::ACCES,
            HostErrno::ADDRINUSE => Errno::ADDRINUSE,
            HostErrno::ADDRNOTAVAIL => Errno::ADDRNOTAVAIL,
            HostErrno::AFNOSUPPORT => Errno::AFNOSUPPORT,
            HostErrno::AGAIN => Errno::AGAIN,
            HostErrno::ALREADY => Errno::ALREADY,
            HostErrno::BADF => Errno::BADF,
            HostErrno::BADMSG => Errno::BADMSG,
            HostErrno::BUSY => Errno::BUSY,
            HostErrno::CANCELED => Errno::CANCELED,
            HostErrno::CHILD => Errno::CHILD,
            HostErrno::CONNABORTED => Errno::CONNABORTED,
            HostErrno::CONNREFUSED => Errno::CONNREFUSED,
            HostErrno::CONNRESET => Errno::CONNRESET,
            HostErrno::DEADLK => Errno::DEADLK,
            HostErrno::DESTADDRREQ => Errno::DESTADDRREQ,
            HostErrno::DOM => Errno::DOM,
            HostErrno::DQUOT => Errno::DQUOT,
            HostErrno::EXIST => Errno::EXIST,
            HostErrno::FAULT => Errno::FAULT,
            HostErrno::FBIG => Errno::FBIG,
            HostErrno::HOSTUNREACH => Errno::HOSTUNREACH,
            HostErrno::IDRM => Errno::IDRM,
            HostErrno::ILSEQ => Errno::ILSEQ,
            HostErrno::INPROGRESS => Errno::INPROGRESS,
            HostErrno::INTR => Errno::INTR,
            HostErrno::INVAL => Errno::INVAL,
            HostErrno::IO => Errno::IO,
            HostErrno::ISCONN => Errno::ISCONN,
            HostErrno::ISDIR => Errno::ISDIR,
            HostErrno::LOOP => Errno::LOOP,
            HostErrno::MFILE => Errno::MFILE,
            HostErrno::MLINK => Errno::MLINK,
            HostErrno::MSGSIZE => Errno::MSGSIZE,
            HostErrno::MULTIHOP => Errno::MULTIHOP,
            HostErrno::NAMETOOLONG => Errno::NAMETOOLONG,
            HostErrno::NETDOWN => Errno::NETDOWN,
            HostErrno::NETRESET => Errno::NETRESET,
            HostErrno::NETUNREACH => Errno::NETUNREACH,
            HostErrno::NFILE => Errno::NFILE,
            HostErrno::NOBUFS => Errno::NOBUFS,
            HostErrno::NODEV => Errno::NODEV,
            HostErrno::NOENT => Errno::NOENT,
            HostErrno::NOEXEC => Errno::NOEXEC,
            HostErrno::NOLCK => Errno::NOLCK,
            HostErrno::NOLINK => Errno::NOLINK,
            HostErrno::NOMEM => Errno::NOMEM,
            HostErrno::NOMSG => Errno::NOMSG,
            HostErrno::NOPROTOOPT => Errno::NOPROTOOPT,
            HostErrno::NOSPC => Errno::NOSPC,
            HostErrno::NOSYS => Errno::NOSYS,
            HostErrno::NOTCONN => Errno::NOTCONN,
            HostErrno::NOTDIR => Errno::NOTDIR,
            HostErrno::NOTEMPTY => Errno::NOTEMPTY,
            HostErrno::NOTRECOVERABLE => Errno::NOTRECOVERABLE,
            HostErrno::NOTSOCK => Errno::NOTSOCK,
            HostErrno::NOTSUP => Errno::NOTSUP,
            HostErrno::NOTTY => Errno::NOTTY,
            HostErrno::NXIO => Errno::NXIO,
            HostErrno::OVERFLOW => Errno::OVERFLOW,
            HostErrno::OWNERDEAD => Errno::OWNERDEAD,
            HostErrno::PERM => Errno::PERM,
            HostErrno::PIPE => Errno::PIPE,
            HostErrno::PROTO => Errno::PROTO,
            HostErrno::PROTONOSUPPORT => Errno::PROTONOSUPPORT,
            HostErrno::PROTOTYPE => Errno::PROTOTYPE,
            HostErrno::RANGE => Errno::RANGE,
            HostErrno::ROFS => Errno::ROFS,
            HostErrno::SPIPE => Errno::SPIPE,
            HostErrno::SRCH => Errno::SRCH,
            HostErrno::STALE => Errno::STALE,
            HostErrno::TIMEDOUT => Errno::TIMEDOUT,
            HostErrno::TXTBSY => Errno::TXTBSY,
            HostErrno::XDEV => Errno::XDEV,
            _ => Errno::IO,
        }
    }
}

impl From<std::io::Error> for Errno {
    fn from(e: std::io::Error) -> Errno {
        match e.raw_os_error() {
            Some(raw) => HostErrno::from_raw_os_error(raw).into(),
            None => match e.kind() {
                std::io::ErrorKind::NotFound => Errno::NOENT,
                std::io::ErrorKind::PermissionDenied => Errno::ACCES,
                std::io::ErrorKind::AlreadyExists => Errno::EXIST,
                std::io::ErrorKind::InvalidInput => Errno::INVAL,
                std::io::ErrorKind::WouldBlock => Errno::AGAIN,
                std::io::ErrorKind::BrokenPipe => Errno::PIPE,
                std::io::ErrorKind::Unsupported => Errno::NOTSUP,
                _ => Errno::IO,
            },
        }
    }
}

/// `filetype`.
pub mod filetype {
    pub const UNKNOWN: u8 = 0;
    pub const BLOCK_DEVICE: u8 = 1;
    pub const CHARACTER_DEVICE: u8 = 2;
    pub const DIRECTORY: u8 = 3;
    pub const REGULAR_FILE: u8 = 4;
    pub const SOCKET_DGRAM: u8 = 5;
    pub const SOCKET_STREAM: u8 = 6;
    pub const SYMBOLIC_LINK: u8 = 7;
}

/// `fdflags` (u16).
pub mod fdflags {
    pub const APPEND: u16 = 1;
    pub const DSYNC: u16 = 2;
    pub const NONBLOCK: u16 = 4;
    pub const RSYNC: u16 = 8;
    pub const SYNC: u16 = 16;
}

/// `oflags` (u16).
pub mod oflags {
    pub const CREAT: u16 = 1;
    pub const DIRECTORY: u16 = 2;
    pub const EXCL: u16 = 4;
    pub const TRUNC: u16 = 8;
}

/// `lookupflags` (u32).
pub mod lookupflags {
    pub const SYMLINK_FOLLOW: u32 = 1;
}

/// `fstflags` (u16).
pub mod fstflags {
    pub const ATIM: u16 = 1;
    pub const ATIM_NOW: u16 = 2;
    pub const MTIM: u16 = 4;
    pub const MTIM_NOW: u16 = 8;
}

/// `whence` (u8).
pub mod whence {
    pub const SET: u8 = 0;
    pub const CUR: u8 = 1;
    pub const END: u8 = 2;
}

/// `clockid` (u32).
pub mod clockid {
    pub const REALTIME: u32 = 0;
    pub const MONOTONIC: u32 = 1;
    pub const PROCESS_CPUTIME: u32 = 2;
    pub const THREAD_CPUTIME: u32 = 3;
}

/// `advice` (u8).
pub mod advice {
    pub const NORMAL: u8 = 0;
    pub const SEQUENTIAL: u8 = 1;
    pub const RANDOM: u8 = 2;
    pub const WILLNEED: u8 = 3;
    pub const DONTNEED: u8 = 4;
    pub const NOREUSE: u8 = 5;
}

/// `eventtype` (u8) and `subclockflags` / `eventrwflags`.
pub mod event {
    pub const CLOCK: u8 = 0;
    pub const FD_READ: u8 = 1;
    pub const FD_WRITE: u8 = 2;
    /// `subclockflags::subscription_clock_abstime`.
    pub const ABSTIME: u16 = 1;
}

/// `rights` (u64): one bit per operation.
pub mod rights {
    pub const FD_DATASYNC: u64 = 1 << 0;
    pub const FD_READ: u64 = 1 << 1;
    pub const FD_SEEK: u64 = 1 << 2;
    pub const FD_FDSTAT_SET_FLAGS: u64 = 1 << 3;
    pub const FD_SYNC: u64 = 1 << 4;
    pub const FD_TELL: u64 = 1 << 5;
    pub const FD_WRITE: u64 = 1 << 6;
    pub const FD_ADVISE: u64 = 1 << 7;
    pub const FD_ALLOCATE: u64 = 1 << 8;
    pub const PATH_CREATE_DIRECTORY: u64 = 1 << 9;
    pub const PATH_CREATE_FILE: u64 = 1 << 10;
    pub const PATH_LINK_SOURCE: u64 = 1 << 11;
    pub const PATH_LINK_TARGET: u64 = 1 << 12;
    pub const PATH_OPEN: u64 = 1 << 13;
    pub const FD_READDIR: u64 = 1 << 14;
    pub const PATH_READLINK: u64 = 1 << 15;
    pub const PATH_RENAME_SOURCE: u64 = 1 << 16;
    pub const PATH_RENAME_TARGET: u64 = 1 << 17;
    pub const PATH_FILESTAT_GET: u64 = 1 << 18;
    pub const PATH_FILESTAT_SET_SIZE: u64 = 1 << 19;
    pub const PATH_FILESTAT_SET_TIMES: u64 = 1 << 20;
    pub const FD_FILESTAT_GET: u64 = 1 << 21;
    pub const FD_FILESTAT_SET_SIZE: u64 = 1 << 22;
    pub const FD_FILESTAT_SET_TIMES: u64 = 1 << 23;
    pub const PATH_SYMLINK: u64 = 1 << 24;
    pub const PATH_REMOVE_DIRECTORY: u64 = 1 << 25;
    pub const PATH_UNLINK_FILE: u64 = 1 << 26;
    pub const POLL_FD_READWRITE: u64 = 1 << 27;
    pub const SOCK_SHUTDOWN: u64 = 1 << 28;
    pub const SOCK_ACCEPT: u64 = 1 << 29;

    /// What a regular file (or a stream) may be asked to do.
    pub const FILE: u64 = FD_DATASYNC
        | FD_READ
        | FD_SEEK
        | FD_FDSTAT_SET_FLAGS
        | FD_SYNC
        | FD_TELL
        | FD_WRITE
        | FD_ADVISE
        | FD_ALLOCATE
        | FD_FILESTAT_GET
        | FD_FILESTAT_SET_SIZE
        | FD_FILESTAT_SET_TIMES
        | POLL_FD_READWRITE;
    /// What a directory may be asked to do.
    pub const DIRECTORY: u64 = FD_FDSTAT_SET_FLAGS
        | FD_SYNC
        | FD_ADVISE
        | PATH_CREATE_DIRECTORY
        | PATH_CREATE_FILE
        | PATH_LINK_SOURCE
        | PATH_LINK_TARGET
        | PATH_OPEN
        | FD_READDIR
        | PATH_READLINK
        | PATH_RENAME_SOURCE
        | PATH_RENAME_TARGET
        | PATH_FILESTAT_GET
        | PATH_FILESTAT_SET_SIZE
        | PATH_FILESTAT_SET_TIMES
        | FD_FILESTAT_GET
        | FD_FILESTAT_SET_TIMES
        | PATH_SYMLINK
        | PATH_REMOVE_DIRECTORY
        | PATH_UNLINK_FILE;
    /// Every right a directory hands to what is opened below it.
    pub const INHERITING: u64 = FILE | DIRECTORY;
}

/// Sizes and field offsets of the records in guest memory.
pub mod layout {
    /// `iovec` / `ciovec`: `buf: u32 @0`, `buf_len: u32 @4`.
    pub const IOVEC_SIZE: u32 = 8;
    /// `fdstat`: `fs_filetype: u8 @0`, `fs_flags: u16 @2`,
    /// `fs_rights_base: u64 @8`, `fs_rights_inheriting: u64 @16`.
    pub const FDSTAT_SIZE: u32 = 24;
    /// `filestat`: `dev @0`, `ino @8`, `filetype: u8 @16`, `nlink @24`,
    /// `size @32`, `atim @40`, `mtim @48`, `ctim @56` (u64 unless said).
    pub const FILESTAT_SIZE: u32 = 64;
    /// `prestat`: tag `u8 @0` (0 = dir), `pr_name_len: u32 @4`.
    pub const PRESTAT_SIZE: u32 = 8;
    /// `dirent`: `d_next: u64 @0`, `d_ino: u64 @8`, `d_namlen: u32 @16`,
    /// `d_type: u8 @20`; the name follows the 24 bytes.
    pub const DIRENT_SIZE: u32 = 24;
    /// `subscription`: `userdata: u64 @0`, tag `u8 @8`, then at 16 either
    /// `subscription_clock` (`id: u32 @16`, `timeout: u64 @24`,
    /// `precision: u64 @32`, `flags: u16 @40`) or `subscription_fd_readwrite`
    /// (`file_descriptor: u32 @16`).
    pub const SUBSCRIPTION_SIZE: u32 = 48;
    /// `event`: `userdata: u64 @0`, `error: u16 @8`, `type: u8 @10`,
    /// `fd_readwrite.nbytes: u64 @16`, `fd_readwrite.flags: u16 @24`.
    pub const EVENT_SIZE: u32 = 32;
}
