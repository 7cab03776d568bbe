//! The guest's file descriptors: what each number stands for on the host.
//!
//! Numbers 0–2 are stdin, stdout and stderr (the host's own, or in-memory
//! pipes); the preopened directories follow from 3 in the order they were
//! given; `path_open` takes the lowest free number, as POSIX does.
//!
//! **Invariant:** a directory descriptor's host fd is opened `O_RDONLY |
//! O_DIRECTORY` (never `O_PATH`), so it can be listed and used as the base
//! of every `*at` call; it is the root of its own sandbox (see `path.rs`).

use std::fs::File;
use std::io::Write;
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

    pub(crate) fn append(&self, data: &[u8]) {
        self.0.lock().extend_from_slice(data);
    }
}

/// An in-memory stream.
pub enum Pipe {
    /// Reads return these bytes, then end of file.
    Input { data: Vec<u8>, pos: usize },
    /// Writes are appended to the buffer.
    Output(OutputBuffer),
    /// Reads see end of file, writes vanish.
    Null,
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
    /// One of the host's own stdio streams, inherited (never closed by us).
    Host(BorrowedFd<'static>),
    Pipe(Pipe),
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
            _ => (rights::FILE, 0),
        };
        Descriptor {
            kind,
            flags,
            rights_base,
            rights_inheriting,
        }
    }

    /// The host fd behind a file, a directory or an inherited stream.
    pub fn host_fd(&self) -> Option<BorrowedFd<'_>> {
        match &self.kind {
            Kind::Host(fd) => Some(*fd),
            Kind::File(f) => Some(f.as_fd()),
            Kind::Dir(d) => Some(d.fd.as_fd()),
            Kind::Pipe(_) => None,
        }
    }

    /// The preview1 file type.
    pub fn filetype(&self) -> u8 {
        match &self.kind {
            Kind::Dir(_) => filetype::DIRECTORY,
            Kind::Pipe(_) => filetype::UNKNOWN,
            Kind::Host(fd) => rustix::fs::fstat(fd).map_or(filetype::UNKNOWN, |st| {
                super::fs::filetype_of_mode(st.st_mode)
            }),
            Kind::File(f) => rustix::fs::fstat(f).map_or(filetype::UNKNOWN, |st| {
                super::fs::filetype_of_mode(st.st_mode)
            }),
        }
    }

    /// Writes `data` (one gathered `fd_write`); returns how much was taken.
    pub fn write(&mut self, data: &[u8]) -> Result<usize, Errno> {
        match &mut self.kind {
            Kind::Host(fd) => write_all_fd(*fd, data),
            Kind::File(f) => {
                f.write_all(data)?;
                Ok(data.len())
            }
            Kind::Pipe(Pipe::Output(buf)) => {
                buf.append(data);
                Ok(data.len())
            }
            Kind::Pipe(Pipe::Null) => Ok(data.len()),
            Kind::Pipe(Pipe::Input { .. }) => Err(Errno::BADF),
            Kind::Dir(_) => Err(Errno::ISDIR),
        }
    }

    /// Reads into `buf`; 0 is end of file.
    pub fn read(&mut self, buf: &mut [u8]) -> Result<usize, Errno> {
        match &mut self.kind {
            Kind::Host(fd) => loop {
                match rustix::io::read(*fd, &mut *buf) {
                    Err(rustix::io::Errno::INTR) => continue,
                    r => return Ok(r?),
                }
            },
            Kind::File(f) => loop {
                match rustix::io::read(&*f, &mut *buf) {
                    Err(rustix::io::Errno::INTR) => continue,
                    r => return Ok(r?),
                }
            },
            Kind::Pipe(Pipe::Input { data, pos }) => {
                let rest = data.get(*pos..).unwrap_or_default();
                let n = rest.len().min(buf.len());
                buf[..n].copy_from_slice(&rest[..n]);
                *pos += n;
                Ok(n)
            }
            Kind::Pipe(Pipe::Null) => Ok(0),
            Kind::Pipe(Pipe::Output(_)) => Err(Errno::BADF),
            Kind::Dir(_) => Err(Errno::ISDIR),
        }
    }

    /// Whether a read may be spread over several buffers (a short read
    /// means the end, not "no more yet").
    pub fn is_regular_file(&self) -> bool {
        matches!(self.kind, Kind::File(_) | Kind::Pipe(Pipe::Input { .. }))
    }
}

/// Writes all of `data` unless the host fails; a failure after some bytes
/// went out reports those bytes, as `write(2)` does.
fn write_all_fd(fd: BorrowedFd<'_>, mut data: &[u8]) -> Result<usize, Errno> {
    let total = data.len();
    while !data.is_empty() {
        match rustix::io::write(fd, data) {
            Ok(0) => break,
            Ok(n) => data = &data[n..],
            Err(rustix::io::Errno::INTR) => {}
            Err(e) if data.len() == total => return Err(e.into()),
            Err(_) => break,
        }
    }
    Ok(total - data.len())
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
