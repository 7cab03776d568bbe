//! The guest's file descriptors: what each number stands for on the host.
//!
//! Numbers 0–2 are stdin, stdout and stderr (streams over the host's own
//! fds or in memory; a number is free if the host's fd was closed); the
//! preopened directories follow from 3 in the order they were given;
//! `path_open` takes the lowest free number, as POSIX does.
//!
//! **Invariant:** a directory descriptor's host fd is opened `O_RDONLY |
//! O_DIRECTORY` (never `O_PATH`), so it can be listed and used as the base
//! of every `*at` call; it is the root of its own sandbox (see `path.rs`).
//!
//! **Invariant:** the guest reaches a host stdio fd only through
//! [`Stream::read`] (stdin) and [`Stream::write`] (stdout, stderr): no
//! seek, stat, times, flags, sync or close of it, so it cannot write
//! through a stdin the shell opened read-write, overwrite output before
//! its own, read a terminal through stdout, or learn the host file's
//! device, inode, size or times.

use std::fs::File;
use std::io::IoSlice;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::sync::Arc;

use parking_lot::Mutex;

use super::types::{Errno, filetype, rights};

/// Bytes a program writes to a captured stdout or stderr; clone the handle
/// before building the context and read it after the run.
#[derive(Clone, Default, Debug)]
pub struct OutputBuffer(Arc<Mutex<Vec<u8>>>);

impl OutputBuffer {
    pub fn new() -> Self {
        Self::default()
    }

    /// Everything written so far.
    pub fn contents(&self) -> Vec<u8> {
        self.0.lock().clone()
    }
}

/// Which way a stream flows: stdin is read, stdout and stderr are written.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum End {
    Read,
    Write,
}

/// Where a stream's bytes come from or go.
pub enum Source {
    /// One of the host's own stdio fds (0, 1, 2), used only to read or
    /// write (never seeked, stat'ed, timed or closed).
    Host(BorrowedFd<'static>),
    /// Reads return these bytes, then end of file.
    Bytes { data: Vec<u8>, pos: usize },
    /// Writes are appended to the buffer.
    Buffer(OutputBuffer),
    /// Reads see end of file, writes vanish.
    Null,
}

/// stdin, stdout or stderr as the guest sees them: a stream that flows one
/// way, with no position, no times and no host identity, whatever the host
/// fd behind it is (a terminal, a pipe, a file the shell opened read-write),
/// as Wasmtime presents stdio.
pub struct Stream {
    pub end: End,
    pub source: Source,
    /// The host fd is a terminal (the guest sees a character device, so
    /// wasi-libc's `isatty` answers yes).
    pub tty: bool,
}

impl Stream {
    /// Reads into `buf`; 0 is end of file. `EBADF` on a write end.
    pub fn read(&mut self, buf: &mut [u8]) -> Result<usize, Errno> {
        if self.end != End::Read {
            return Err(Errno::BADF);
        }
        match &mut self.source {
            Source::Host(fd) => read_fd(*fd, buf),
            Source::Bytes { data, pos } => {
                let rest = data.get(*pos..).unwrap_or_default();
                let n = rest.len().min(buf.len());
                buf[..n].copy_from_slice(&rest[..n]);
                *pos += n;
                Ok(n)
            }
            Source::Buffer(_) | Source::Null => Ok(0),
        }
    }

    /// Writes the slices in order; returns how much was taken. `EBADF` on a
    /// read end.
    pub fn write(&mut self, bufs: &mut [IoSlice<'_>]) -> Result<usize, Errno> {
        if self.end != End::Write {
            return Err(Errno::BADF);
        }
        match &self.source {
            Source::Host(fd) => writev_all(*fd, bufs),
            Source::Buffer(b) => {
                let mut out = b.0.lock();
                for s in bufs.iter() {
                    out.extend_from_slice(s);
                }
                Ok(bufs.iter().map(|s| s.len()).sum())
            }
            Source::Bytes { .. } | Source::Null => Ok(bufs.iter().map(|s| s.len()).sum()),
        }
    }

    /// Bytes known to be ready to read (`poll_oneoff`'s `nbytes`).
    pub fn available(&self) -> u64 {
        match &self.source {
            Source::Bytes { data, pos } => data.len().saturating_sub(*pos) as u64,
            _ => 0,
        }
    }
}

/// One entry of a directory listing, as `fd_readdir` reports it.
pub struct DirEntry {
    pub name: Vec<u8>,
    pub ino: u64,
    pub filetype: u8,
}

/// An open directory.
pub struct Dir {
    pub fd: OwnedFd,
    /// The guest path of a preopened directory (what `fd_prestat_dir_name`
    /// says), `None` for one opened by `path_open`.
    pub preopen: Option<Vec<u8>>,
    /// The listing `fd_readdir` is walking (taken afresh at cookie 0).
    pub listing: Option<Vec<DirEntry>>,
}

/// What a descriptor stands for.
pub enum Kind {
    Stream(Stream),
    File(File),
    Dir(Dir),
}

pub struct Descriptor {
    pub kind: Kind,
    /// `fdflags` the guest set or opened with.
    pub flags: u16,
    pub rights_base: u64,
    pub rights_inheriting: u64,
}

impl Descriptor {
    pub fn new(kind: Kind, flags: u16) -> Self {
        let (rights_base, rights_inheriting) = match &kind {
            Kind::Dir(_) => (rights::DIRECTORY, rights::INHERITING),
            Kind::Stream(Stream { end: End::Read, .. }) => (rights::FD_READ, 0),
            Kind::Stream(Stream {
                end: End::Write, ..
            }) => (rights::FD_WRITE, 0),
            Kind::File(_) => (rights::FILE, 0),
        };
        Descriptor {
            kind,
            flags,
            rights_base,
            rights_inheriting,
        }
    }

    /// The host fd behind a file or a directory (a stream has none the
    /// guest may reach).
    pub fn host_fd(&self) -> Option<BorrowedFd<'_>> {
        match &self.kind {
            Kind::File(f) => Some(f.as_fd()),
            Kind::Dir(d) => Some(d.fd.as_fd()),
            Kind::Stream(_) => None,
        }
    }

    /// The preview1 file type.
    pub fn filetype(&self) -> u8 {
        match &self.kind {
            Kind::Dir(_) => filetype::DIRECTORY,
            Kind::Stream(s) if s.tty => filetype::CHARACTER_DEVICE,
            Kind::Stream(_) => filetype::UNKNOWN,
            Kind::File(f) => rustix::fs::fstat(f).map_or(filetype::UNKNOWN, |st| {
                super::fs::filetype_of_mode(st.st_mode)
            }),
        }
    }
}

/// Reads from a host fd, retrying when a signal interrupts.
pub fn read_fd(fd: BorrowedFd<'_>, buf: &mut [u8]) -> Result<usize, Errno> {
    loop {
        match rustix::io::read(fd, &mut *buf) {
            Err(rustix::io::Errno::INTR) => continue,
            r => return Ok(r?),
        }
    }
}

/// Writes every slice unless the host fails; a failure after some bytes
/// went out reports those bytes, as `write(2)` does.
pub fn writev_all(fd: BorrowedFd<'_>, mut bufs: &mut [IoSlice<'_>]) -> Result<usize, Errno> {
    let mut done = 0;
    while !bufs.is_empty() {
        match rustix::io::writev(fd, bufs) {
            Ok(0) => break,
            Ok(n) => {
                done += n;
                IoSlice::advance_slices(&mut bufs, n);
            }
            Err(rustix::io::Errno::INTR) => {}
            Err(e) if done == 0 => return Err(e.into()),
            Err(_) => break,
        }
    }
    Ok(done)
}

/// Like [`writev_all`], at a file offset (`pwritev`).
pub fn pwritev_all(
    fd: BorrowedFd<'_>,
    mut bufs: &mut [IoSlice<'_>],
    offset: u64,
) -> Result<usize, Errno> {
    let mut done = 0;
    while !bufs.is_empty() {
        let at = offset.checked_add(done as u64).ok_or(Errno::INVAL)?;
        match rustix::io::pwritev(fd, bufs, at) {
            Ok(0) => break,
            Ok(n) => {
                done += n;
                IoSlice::advance_slices(&mut bufs, n);
            }
            Err(rustix::io::Errno::INTR) => {}
            Err(e) if done == 0 => return Err(e.into()),
            Err(_) => break,
        }
    }
    Ok(done)
}

/// The descriptor table.
#[derive(Default)]
pub struct Table {
    slots: Vec<Option<Descriptor>>,
}

impl Table {
    pub fn get(&self, fd: u32) -> Result<&Descriptor, Errno> {
        self.slots
            .get(fd as usize)
            .and_then(Option::as_ref)
            .ok_or(Errno::BADF)
    }

    pub fn get_mut(&mut self, fd: u32) -> Result<&mut Descriptor, Errno> {
        self.slots
            .get_mut(fd as usize)
            .and_then(Option::as_mut)
            .ok_or(Errno::BADF)
    }

    /// The directory behind `fd` (`ENOTDIR` for anything else).
    pub fn dir(&self, fd: u32) -> Result<&Dir, Errno> {
        match &self.get(fd)?.kind {
            Kind::Dir(d) => Ok(d),
            _ => Err(Errno::NOTDIR),
        }
    }

    /// Makes sure slot `fd` exists (free), so the numbers after it are
    /// not taken by what is pushed next.
    pub fn reserve(&mut self, fd: u32) {
        let want = fd as usize + 1;
        if self.slots.len() < want {
            self.slots.resize_with(want, || None);
        }
    }

    /// Puts `d` at number `fd`, closing what was there.
    pub fn set(&mut self, fd: u32, d: Descriptor) {
        self.reserve(fd);
        self.slots[fd as usize] = Some(d);
    }

    /// Puts `d` at the lowest free number.
    pub fn push(&mut self, d: Descriptor) -> Result<u32, Errno> {
        let index = match self.slots.iter().position(Option::is_none) {
            Some(i) => i,
            None => {
                self.slots.push(None);
                self.slots.len() - 1
            }
        };
        let fd = u32::try_from(index).map_err(|_| Errno::MFILE)?;
        self.slots[index] = Some(d);
        Ok(fd)
    }

    pub fn remove(&mut self, fd: u32) -> Result<Descriptor, Errno> {
        let d = self
            .slots
            .get_mut(fd as usize)
            .and_then(Option::take)
            .ok_or(Errno::BADF)?;
        while self.slots.last().is_some_and(Option::is_none) {
            self.slots.pop();
        }
        Ok(d)
    }

    /// Moves `from` to `to`, closing what `to` was; both must be open.
    pub fn renumber(&mut self, from: u32, to: u32) -> Result<(), Errno> {
        self.get(from)?;
        self.get(to)?;
        if from == to {
            return Ok(());
        }
        let d = self.remove(from)?;
        // `to` is still open, so its slot exists.
        if let Some(slot) = self.slots.get_mut(to as usize) {
            *slot = Some(d);
        }
        Ok(())
    }
}
