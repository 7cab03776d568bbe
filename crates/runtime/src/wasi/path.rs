//! Sandboxed path resolution: a guest path, relative to a directory
//! descriptor, becomes a host directory fd plus one final component.
//!
//! The path is walked one component at a time with `openat(O_PATH |
//! O_NOFOLLOW | O_DIRECTORY)` from the descriptor's directory, keeping the
//! stack of directories walked through: `..` pops it, and popping the
//! descriptor's own directory is an escape. A symlink met on the way is read
//! with `readlinkat` and its target's components are walked in its place (at
//! most [`MAX_SYMLINKS`] of them); an absolute target is an escape.
//!
//! What happens to the last component depends on the operation ([`Last`]):
//! one that acts on what the path names (open, stat, set times) follows a
//! final symlink when the guest asks (`lookupflags::symlink_follow`) or
//! writes a trailing `/` (or `/.`), and then requires a directory if it
//! wrote one; one that acts on the directory entry itself (create, remove,
//! rename, link) never follows it, and reports the trailing `/` to the
//! caller, which applies Linux's rules for it.
//!
//! **Invariant:** the host never resolves a path for us. Every `*at` call
//! the WASI functions make gets a directory fd from here (opened component
//! by component with `O_NOFOLLOW`) and [`Resolved::name`]: exactly one
//! component, with no `/`, never `..`, `.` only when the path names that
//! directory itself. Every such call uses `NOFOLLOW` (or an `AT_` flag
//! that does not follow), so the kernel looks up one name in one directory
//! we hold and follows nothing, and no name is handed over that the kernel
//! would resolve again (a trailing `/` would make it follow a symlink even
//! under `O_NOFOLLOW`). If the entry is swapped for a symlink between the
//! walk and the call, the call acts on the link itself, which is inside the
//! sandbox (or fails with `ELOOP`, and [`retry_swapped`] walks again). So no
//! path, however crafted and however raced, names a host file outside the
//! descriptor's directory; an attempt is `ENOTCAPABLE`, as node's uvwasi
//! (and Wasmtime's older wasi-common) say.

use std::collections::VecDeque;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};

use rustix::fs::{AtFlags, Mode, OFlags};
use rustix::io::Errno as HostErrno;

use super::types::Errno;

/// How many symlinks one resolution may expand (Linux's `MAXSYMLINKS`).
pub const MAX_SYMLINKS: usize = 40;

/// The longest path a guest may pass, in bytes: Linux's `PATH_MAX` (4096,
/// which counts the terminating NUL a preview1 path does not have).
pub const MAX_PATH_LEN: u32 = 4095;

/// A directory fd: the descriptor's own, or one opened on the way.
pub enum DirFd<'a> {
    Root(BorrowedFd<'a>),
    Owned(OwnedFd),
}

impl AsFd for DirFd<'_> {
    fn as_fd(&self) -> BorrowedFd<'_> {
        match self {
            DirFd::Root(fd) => *fd,
            DirFd::Owned(fd) => fd.as_fd(),
        }
    }
}

/// What an operation does with the last component of its path.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Last {
    /// It acts on what the path names (`path_open`, `path_filestat_get`,
    /// `path_filestat_set_times`, `path_link`'s source): a final symlink is
    /// followed if `follow` (the guest's `symlink_follow`) or the path ends
    /// in `/` or `/.`; such a path must then name a directory (`ENOTDIR`).
    Target { follow: bool },
    /// It acts on the directory entry (creating, removing, renaming,
    /// linking, reading a link): a final symlink is never followed, and a
    /// trailing `/` is only reported ([`Resolved::must_be_dir`]).
    Entry,
}

/// Where a guest path leads: the directory holding the last component, and
/// that component.
pub struct Resolved<'a> {
    pub dir: DirFd<'a>,
    /// One component: no `/` inside, never `..`; `.` when the path names
    /// `dir` itself.
    pub name: Vec<u8>,
    /// The guest's path ended in `/` or `/.`: what it names must be a
    /// directory. With [`Last::Target`] the walk has checked it for an
    /// existing entry; with [`Last::Entry`] the operation must.
    pub must_be_dir: bool,
}

/// Resolves `path` under `root`.
pub fn resolve<'a>(root: BorrowedFd<'a>, path: &[u8], last: Last) -> Result<Resolved<'a>, Errno> {
    if path.is_empty() {
        return Err(Errno::NOENT);
    }
    if path.starts_with(b"/") {
        return Err(Errno::NOTCAPABLE);
    }
    let mut must_be_dir = names_a_directory(path);
    let follow_last = match last {
        Last::Target { follow } => follow || must_be_dir,
        Last::Entry => false,
    };
    let mut queue: VecDeque<Vec<u8>> = components(path).collect();
    let mut stack: Vec<OwnedFd> = Vec::new();
    let mut expanded = 0usize;
    fn top<'s>(stack: &'s [OwnedFd], root: BorrowedFd<'s>) -> BorrowedFd<'s> {
        stack.last().map_or(root, |fd| fd.as_fd())
    }
    let finish = |mut stack: Vec<OwnedFd>, name: Vec<u8>, must_be_dir: bool| -> Resolved<'a> {
        let dir = stack.pop().map_or(DirFd::Root(root), DirFd::Owned);
        Resolved {
            dir,
            name,
            must_be_dir,
        }
    };
    while let Some(comp) = queue.pop_front() {
        if comp == b".." {
            if stack.pop().is_none() {
                return Err(Errno::NOTCAPABLE);
            }
            continue;
        }
        let last_comp = queue.is_empty();
        if last_comp && !follow_last {
            return Ok(finish(stack, comp, must_be_dir));
        }
        let opened = rustix::fs::openat(
            top(&stack, root),
            comp.as_slice(),
            OFlags::PATH | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::empty(),
        );
        match opened {
            Ok(fd) => {
                if last_comp {
                    // A directory: what the path names. The fd is dropped;
                    // the caller's own call on (parent, name) uses NOFOLLOW.
                    drop(fd);
                    return Ok(finish(stack, comp, must_be_dir));
                }
                stack.push(fd);
            }
            Err(HostErrno::NOTDIR | HostErrno::LOOP) => {
                match rustix::fs::readlinkat(top(&stack, root), comp.as_slice(), Vec::new()) {
                    Ok(target) => {
                        expanded += 1;
                        if expanded > MAX_SYMLINKS {
                            return Err(Errno::LOOP);
                        }
                        let target = target.into_bytes();
                        if target.is_empty() {
                            return Err(Errno::NOENT);
                        }
                        if target.starts_with(b"/") {
                            return Err(Errno::NOTCAPABLE);
                        }
                        if last_comp && names_a_directory(&target) {
                            must_be_dir = true;
                        }
                        // A target of "." adds nothing: the walk goes on from
                        // the directory holding the link.
                        let parts: Vec<Vec<u8>> = components(&target).collect();
                        if parts.is_empty() && last_comp {
                            return Ok(finish_dir(stack, root, must_be_dir));
                        }
                        for p in parts.into_iter().rev() {
                            queue.push_front(p);
                        }
                    }
                    // Not a symlink (any more): swapped for a directory since
                    // the open? Walk this component again, counted like a link.
                    Err(HostErrno::INVAL) if is_dir_entry(top(&stack, root), &comp) => {
                        expanded += 1;
                        if expanded > MAX_SYMLINKS {
                            return Err(Errno::LOOP);
                        }
                        queue.push_front(comp);
                    }
                    // A file: in the middle of a path, or where a directory
                    // is required, an error; at the end, the answer.
                    Err(_) if last_comp && !must_be_dir => {
                        return Ok(finish(stack, comp, must_be_dir));
                    }
                    Err(HostErrno::NOENT) => return Err(Errno::NOENT),
                    Err(_) => return Err(Errno::NOTDIR),
                }
            }
            // Nothing there: at the end, that is for the caller to judge
            // (it may be about to create it).
            Err(HostErrno::NOENT) if last_comp => return Ok(finish(stack, comp, must_be_dir)),
            Err(e) => return Err(e.into()),
        }
    }
    // The path ended in `.` or `..`: it names the directory on top.
    Ok(finish_dir(stack, root, must_be_dir))
}

/// Whether `name` in `dir` is (now) a directory, without following it.
fn is_dir_entry(dir: BorrowedFd<'_>, name: &[u8]) -> bool {
    rustix::fs::statat(dir, name, AtFlags::SYMLINK_NOFOLLOW)
        .is_ok_and(|st| st.st_mode & libc::S_IFMT == libc::S_IFDIR)
}

/// The directory on top of the stack, as "." relative to itself.
fn finish_dir<'a>(
    mut stack: Vec<OwnedFd>,
    root: BorrowedFd<'a>,
    must_be_dir: bool,
) -> Resolved<'a> {
    let dir = stack.pop().map_or(DirFd::Root(root), DirFd::Owned);
    Resolved {
        dir,
        name: b".".to_vec(),
        must_be_dir,
    }
}

/// Whether a path can only name a directory: it ends in `/`, `/.` or `.`
/// (`..` pops the walk's stack, so the walk knows that case itself).
fn names_a_directory(path: &[u8]) -> bool {
    path.ends_with(b"/") || path == b"." || path.ends_with(b"/.")
}

/// The components of a path, without empty ones and `.`.
fn components(path: &[u8]) -> impl Iterator<Item = Vec<u8>> + '_ {
    path.split(|&b| b == b'/')
        .filter(|c| !c.is_empty() && *c != b".")
        .map(<[u8]>::to_vec)
}

/// Runs `op` on a path resolved with [`Last::Target`], and walks again
/// when the entry the walk found was swapped for a symlink before `op`
/// reached it (`op` answers `ELOOP` for that, since it uses `NOFOLLOW`):
/// bounded by [`MAX_SYMLINKS`], after which the `ELOOP` stands.
pub fn retry_swapped<T>(
    root: BorrowedFd<'_>,
    path: &[u8],
    follow: bool,
    mut op: impl FnMut(&Resolved<'_>) -> Result<T, Errno>,
) -> Result<T, Errno> {
    let mut tries = 0;
    loop {
        let r = resolve(root, path, Last::Target { follow })?;
        let follows = follow || r.must_be_dir;
        match op(&r) {
            Err(Errno::LOOP) if follows && tries < MAX_SYMLINKS => tries += 1,
            other => return other,
        }
    }
}
