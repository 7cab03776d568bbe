//! Sandboxed path resolution: a guest path, relative to a directory
//! descriptor, becomes a host directory fd plus one final component.
//!
//! The path is walked one component at a time with `openat(O_PATH |
//! O_NOFOLLOW | O_DIRECTORY)` from the descriptor's directory, keeping the
//! stack of directories walked through: `..` pops it, and popping the
//! descriptor's own directory is an escape. A symlink met on the way is read
//! with `readlinkat` and its target's components are walked in its place (at
//! most [`MAX_SYMLINKS`] of them); an absolute target is an escape. The final
//! component is followed only when asked (`lookupflags::symlink_follow`, or a
//! trailing `/`).
//!
//! **Invariant:** the host never resolves `..` or a symlink for us: every
//! `*at` call the WASI functions make gets a directory fd from here and a
//! single component with no `/` (plus a trailing `/` if the guest wrote
//! one), and uses `NOFOLLOW` on it. So no path, however crafted, names a
//! host file outside the descriptor's directory; an attempt is
//! `ENOTCAPABLE`, as node's uvwasi (and Wasmtime's older wasi-common) say.

use std::collections::VecDeque;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};

use rustix::fs::{Mode, OFlags};
use rustix::io::Errno as HostErrno;

use super::types::Errno;

/// How many symlinks one resolution may expand (Linux's `MAXSYMLINKS`).
pub const MAX_SYMLINKS: usize = 40;

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

/// Where a guest path leads: the directory holding the last component, and
/// that component (`.` when the path names the directory itself).
pub struct Resolved<'a> {
    pub dir: DirFd<'a>,
    /// One component, no `/` inside; ends in `/` if the guest's path did.
    pub name: Vec<u8>,
}

/// Resolves `path` under `root`, following a final symlink if `follow`.
pub fn resolve<'a>(root: BorrowedFd<'a>, path: &[u8], follow: bool) -> Result<Resolved<'a>, Errno> {
    if path.is_empty() {
        return Err(Errno::NOENT);
    }
    if path.starts_with(b"/") {
        return Err(Errno::NOTCAPABLE);
    }
    let mut trailing = path.ends_with(b"/");
    let mut queue: VecDeque<Vec<u8>> = components(path).collect();
    let mut stack: Vec<OwnedFd> = Vec::new();
    let mut expanded = 0usize;
    fn top<'s>(stack: &'s [OwnedFd], root: BorrowedFd<'s>) -> BorrowedFd<'s> {
        stack.last().map_or(root, |fd| fd.as_fd())
    }
    let finish = |mut stack: Vec<OwnedFd>, name: Vec<u8>, trailing: bool| -> Resolved<'a> {
        let dir = stack.pop().map_or(DirFd::Root(root), DirFd::Owned);
        let mut name = name;
        if trailing {
            name.push(b'/');
        }
        Resolved { dir, name }
    };
    while let Some(comp) = queue.pop_front() {
        if comp == b".." {
            if stack.pop().is_none() {
                return Err(Errno::NOTCAPABLE);
            }
            continue;
        }
        let last = queue.is_empty();
        if last && !follow && !trailing {
            return Ok(finish(stack, comp, trailing));
        }
        let opened = rustix::fs::openat(
            top(&stack, root),
            comp.as_slice(),
            OFlags::PATH | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::empty(),
        );
        match opened {
            Ok(fd) => {
                if last {
                    return Ok(finish(stack, comp, trailing));
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
                        if last && target.ends_with(b"/") {
                            trailing = true;
                        }
                        // A target of "." adds nothing: the walk goes on from
                        // the directory holding the link.
                        let parts: Vec<Vec<u8>> = components(&target).collect();
                        for p in parts.into_iter().rev() {
                            queue.push_front(p);
                        }
                    }
                    // Not a symlink: a file in the middle of a path is an error,
                    // at the end it is the answer.
                    Err(_) if last => return Ok(finish(stack, comp, trailing)),
                    Err(_) => return Err(Errno::NOTDIR),
                }
            }
            Err(HostErrno::NOENT) if last => return Ok(finish(stack, comp, trailing)),
            Err(e) => return Err(e.into()),
        }
    }
    // The path ended in `.` or `..`: it names the directory on top.
    Ok(finish_dir(stack, root, trailing))
}

/// The directory on top of the stack, as "." relative to itself.
fn finish_dir<'a>(mut stack: Vec<OwnedFd>, root: BorrowedFd<'a>, trailing: bool) -> Resolved<'a> {
    let dir = stack.pop().map_or(DirFd::Root(root), DirFd::Owned);
    let mut name = b".".to_vec();
    if trailing {
        name.push(b'/');
    }
    Resolved { dir, name }
}

/// The components of a path, without empty ones and `.`.
fn components(path: &[u8]) -> impl Iterator<Item = Vec<u8>> + '_ {
    path.split(|&b| b == b'/')
        .filter(|c| !c.is_empty() && *c != b".")
        .map(<[u8]>::to_vec)
}
