//! The `fd_*` and `path_*` functions of preview1: reads and writes,
//! seeking, file metadata, directories and their listings, links.
//!
//! Each function takes the context, the guest's memory and its arguments,
//! and answers an errno. Paths go through `path::resolve` (the sandbox);
//! every host call on a path's last component uses `NOFOLLOW`, since
//! `resolve` has already followed what the guest asked to follow. Reads
//! and writes use guest memory in place, bounded per call (`memory.rs`).

use std::io::{Seek, SeekFrom};
use std::num::NonZeroU64;
use std::os::fd::{AsFd, BorrowedFd};

use rustix::fs::{AtFlags, Mode, OFlags, Timespec, Timestamps};

use super::memory::{GuestMemory, MAX_IO_BYTES};
use super::path::{Last, Resolved, resolve, retry_swapped};
use super::table::{Descriptor, Dir, DirEntry, End, Kind, pwritev_all, read_fd, writev_all};
use super::types::{
    Errno, advice, fdflags, filetype, fstflags, layout, lookupflags, oflags, rights, whence,
};
use super::{Args, WasiCtx};

type R = Result<(), Errno>;

/// The preview1 file type of a host `st_mode`.
pub fn filetype_of_mode(mode: u32) -> u8 {
    match mode & libc::S_IFMT {
        libc::S_IFREG => filetype::REGULAR_FILE,
        libc::S_IFDIR => filetype::DIRECTORY,
        libc::S_IFLNK => filetype::SYMBOLIC_LINK,
        libc::S_IFCHR => filetype::CHARACTER_DEVICE,
        libc::S_IFBLK => filetype::BLOCK_DEVICE,
        libc::S_IFSOCK => filetype::SOCKET_STREAM,
        _ => filetype::UNKNOWN,
    }
}

fn nanos(sec: i64, nsec: u64) -> u64 {
    u64::try_from(sec)
        .unwrap_or(0)
        .saturating_mul(1_000_000_000)
        .saturating_add(nsec)
}

/// Writes a `filestat` for `st` at `ptr`.
// `Stat`'s field types differ between architectures: the casts are needed
// on some.
#[allow(clippy::unnecessary_cast)]
fn write_filestat(mem: &mut GuestMemory<'_>, ptr: u32, st: &rustix::fs::Stat) -> R {
    let mut b = [0u8; layout::FILESTAT_SIZE as usize];
    b[0..8].copy_from_slice(&st.st_dev.to_le_bytes());
    b[8..16].copy_from_slice(&st.st_ino.to_le_bytes());
    b[16] = filetype_of_mode(st.st_mode);
    b[24..32].copy_from_slice(&(st.st_nlink as u64).to_le_bytes());
    b[32..40].copy_from_slice(&(st.st_size.max(0) as u64).to_le_bytes());
    let atim = nanos(st.st_atime, st.st_atime_nsec as u64);
    let mtim = nanos(st.st_mtime, st.st_mtime_nsec as u64);
    let ctim = nanos(st.st_ctime, st.st_ctime_nsec as u64);
    b[40..48].copy_from_slice(&atim.to_le_bytes());
    b[48..56].copy_from_slice(&mtim.to_le_bytes());
    b[56..64].copy_from_slice(&ctim.to_le_bytes());
    mem.write(ptr, &b)
}

/// The `Timestamps` `utimensat` wants for preview1's `(atim, mtim, fst_flags)`.
fn timestamps(atim: u64, mtim: u64, flags: u32) -> Result<Timestamps, Errno> {
    let flags = u16::try_from(flags).map_err(|_| Errno::INVAL)?;
    let one = |t: u64, set: u16, now: u16| -> Result<Timespec, Errno> {
        match (flags & set != 0, flags & now != 0) {
            (true, true) => Err(Errno::INVAL),
            (true, false) => Ok(Timespec {
                tv_sec: (t / 1_000_000_000) as i64,
                tv_nsec: (t % 1_000_000_000) as _,
            }),
            (false, true) => Ok(Timespec {
                tv_sec: 0,
                tv_nsec: rustix::fs::UTIME_NOW,
            }),
            (false, false) => Ok(Timespec {
                tv_sec: 0,
                tv_nsec: rustix::fs::UTIME_OMIT,
            }),
        }
    };
    if flags & !(fstflags::ATIM | fstflags::ATIM_NOW | fstflags::MTIM | fstflags::MTIM_NOW) != 0 {
        return Err(Errno::INVAL);
    }
    Ok(Timestamps {
        last_access: one(atim, fstflags::ATIM, fstflags::ATIM_NOW)?,
        last_modification: one(mtim, fstflags::MTIM, fstflags::MTIM_NOW)?,
    })
}

// ---- fd_* -------------------------------------------------------------

/// The file behind `fd`: a directory is `EISDIR`, a stream `ESPIPE` (the
/// calls that need a file to seek or size; Wasmtime answers the same).
fn file(d: &Descriptor) -> Result<&std::fs::File, Errno> {
    match &d.kind {
        Kind::File(f) => Ok(f),
        Kind::Dir(_) => Err(Errno::ISDIR),
        Kind::Stream(_) => Err(Errno::SPIPE),
    }
}

/// The host fd of a file or directory for the calls that act on the host
/// object itself (sync, advise, times, size, flags): a stream is `EBADF`,
/// as Wasmtime answers, since the guest may not touch the host's stdio.
fn object(d: &Descriptor) -> Result<BorrowedFd<'_>, Errno> {
    d.host_fd().ok_or(Errno::BADF)
}

pub fn fd_advise(ctx: &mut WasiCtx, _: &mut GuestMemory<'_>, a: &Args) -> R {
    let (fd, offset, len, adv) = (a.u32(0), a.u64(1), a.u64(2), a.u32(3));
    let advice = match u8::try_from(adv).map_err(|_| Errno::INVAL)? {
        advice::NORMAL => rustix::fs::Advice::Normal,
        advice::SEQUENTIAL => rustix::fs::Advice::Sequential,
        advice::RANDOM => rustix::fs::Advice::Random,
        advice::WILLNEED => rustix::fs::Advice::WillNeed,
        advice::DONTNEED => rustix::fs::Advice::DontNeed,
        advice::NOREUSE => rustix::fs::Advice::NoReuse,
        _ => return Err(Errno::INVAL),
    };
    let d = ctx.table.get(fd)?;
    object(d)?;
    let f = file(d).map_err(|_| Errno::BADF)?;
    Ok(rustix::fs::fadvise(
        f,
        offset,
        NonZeroU64::new(len),
        advice,
    )?)
}

pub fn fd_allocate(ctx: &mut WasiCtx, _: &mut GuestMemory<'_>, a: &Args) -> R {
    let (fd, offset, len) = (a.u32(0), a.u64(1), a.u64(2));
    let d = ctx.table.get(fd)?;
    object(d)?;
    let f = file(d).map_err(|_| Errno::BADF)?;
    let end = offset.checked_add(len).ok_or(Errno::FBIG)?;
    let size = f.metadata()?.len();
    if end > size {
        f.set_len(end)?;
    }
    Ok(())
}

pub fn fd_close(ctx: &mut WasiCtx, _: &mut GuestMemory<'_>, a: &Args) -> R {
    ctx.table.remove(a.u32(0)).map(drop)
}

pub fn fd_datasync(ctx: &mut WasiCtx, _: &mut GuestMemory<'_>, a: &Args) -> R {
    Ok(rustix::fs::fdatasync(object(ctx.table.get(a.u32(0))?)?)?)
}

pub fn fd_sync(ctx: &mut WasiCtx, _: &mut GuestMemory<'_>, a: &Args) -> R {
    Ok(rustix::fs::fsync(object(ctx.table.get(a.u32(0))?)?)?)
}

pub fn fd_fdstat_get(ctx: &mut WasiCtx, mem: &mut GuestMemory<'_>, a: &Args) -> R {
    let (fd, ptr) = (a.u32(0), a.u32(1));
    let d = ctx.table.get(fd)?;
    let mut b = [0u8; layout::FDSTAT_SIZE as usize];
    b[0] = d.filetype();
    b[2..4].copy_from_slice(&d.flags.to_le_bytes());
    b[8..16].copy_from_slice(&d.rights_base.to_le_bytes());
    b[16..24].copy_from_slice(&d.rights_inheriting.to_le_bytes());
    mem.write(ptr, &b)
}

pub fn fd_fdstat_set_flags(ctx: &mut WasiCtx, _: &mut GuestMemory<'_>, a: &Args) -> R {
    let (fd, flags) = (a.u32(0), a.u32(1));
    let d = ctx.table.get_mut(fd)?;
    object(d)?;
    let flags = u16::try_from(flags).map_err(|_| Errno::INVAL)?;
    if flags & (fdflags::DSYNC | fdflags::RSYNC | fdflags::SYNC) != 0 {
        return Err(Errno::NOTSUP);
    }
    if let Kind::File(f) = &d.kind {
        let mut fl = rustix::fs::fcntl_getfl(f)?;
        fl.set(OFlags::APPEND, flags & fdflags::APPEND != 0);
        fl.set(OFlags::NONBLOCK, flags & fdflags::NONBLOCK != 0);
        rustix::fs::fcntl_setfl(f, fl)?;
    }
    d.flags = (d.flags & !(fdflags::APPEND | fdflags::NONBLOCK)) | flags;
    Ok(())
}

pub fn fd_fdstat_set_rights(ctx: &mut WasiCtx, _: &mut GuestMemory<'_>, a: &Args) -> R {
    let (fd, base, inheriting) = (a.u32(0), a.u64(1), a.u64(2));
    let d = ctx.table.get_mut(fd)?;
    if base & !d.rights_base != 0 || inheriting & !d.rights_inheriting != 0 {
        return Err(Errno::NOTCAPABLE);
    }
    d.rights_base = base;
    d.rights_inheriting = inheriting;
    Ok(())
}

pub fn fd_filestat_get(ctx: &mut WasiCtx, mem: &mut GuestMemory<'_>, a: &Args) -> R {
    let (fd, ptr) = (a.u32(0), a.u32(1));
    let d = ctx.table.get(fd)?;
    match d.host_fd() {
        Some(h) => write_filestat(mem, ptr, &rustix::fs::fstat(h)?),
        None => {
            // A stream: its type, and zeros where a file has its device,
            // inode, links, size and times (the host's are not the guest's
            // to see).
            let mut b = [0u8; layout::FILESTAT_SIZE as usize];
            b[16] = d.filetype();
            mem.write(ptr, &b)
        }
    }
}

pub fn fd_filestat_set_size(ctx: &mut WasiCtx, _: &mut GuestMemory<'_>, a: &Args) -> R {
    let (fd, size) = (a.u32(0), a.u64(1));
    let d = ctx.table.get(fd)?;
    object(d)?;
    match &d.kind {
        Kind::File(f) => Ok(rustix::fs::ftruncate(f, size)?),
        _ => Err(Errno::ISDIR),
    }
}

pub fn fd_filestat_set_times(ctx: &mut WasiCtx, _: &mut GuestMemory<'_>, a: &Args) -> R {
    let (fd, atim, mtim, flags) = (a.u32(0), a.u64(1), a.u64(2), a.u32(3));
    let ts = timestamps(atim, mtim, flags)?;
    Ok(rustix::fs::futimens(object(ctx.table.get(fd)?)?, &ts)?)
}

/// Reads into the iovecs, in place in guest memory: a file fills them in
/// order until a short read; a stream fills the first non-empty one only (a
/// second read could block). At most [`MAX_IOVECS`](super::memory::MAX_IOVECS) iovecs and
/// [`MAX_IO_BYTES`] bytes: more is a short read.
fn read_into(
    d: &mut Descriptor,
    mem: &mut GuestMemory<'_>,
    iovs: u32,
    count: u32,
    offset: Option<u64>,
) -> Result<u32, Errno> {
    let used = mem.iovec_array(iovs, count)?;
    let mut total = 0usize;
    for i in 0..used {
        let v = mem.iovec(iovs, i)?;
        let want = (v.len as usize).min(MAX_IO_BYTES - total);
        if want == 0 {
            if total == MAX_IO_BYTES {
                break;
            }
            continue;
        }
        let buf = &mut mem.slice_mut(v.ptr, v.len)?[..want];
        let n = match (&mut d.kind, offset) {
            (Kind::File(f), Some(off)) => loop {
                let at = off.checked_add(total as u64).ok_or(Errno::INVAL)?;
                match rustix::io::pread(&*f, &mut *buf, at) {
                    Err(rustix::io::Errno::INTR) => {}
                    r => break r?,
                }
            },
            (Kind::File(f), None) => read_fd(f.as_fd(), buf)?,
            (Kind::Stream(s), None) => s.read(buf)?,
            (Kind::Stream(s), Some(_)) => {
                // Reading a position of a stream: there is none.
                return Err(if s.end == End::Read {
                    Errno::SPIPE
                } else {
                    Errno::BADF
                });
            }
            (Kind::Dir(_), _) => return Err(Errno::ISDIR),
        };
        total += n;
        if n < want || matches!(d.kind, Kind::Stream(_)) {
            break;
        }
    }
    u32::try_from(total).map_err(|_| Errno::OVERFLOW)
}

pub fn fd_read(ctx: &mut WasiCtx, mem: &mut GuestMemory<'_>, a: &Args) -> R {
    let (fd, iovs, count, nread) = (a.u32(0), a.u32(1), a.u32(2), a.u32(3));
    let d = ctx.table.get_mut(fd)?;
    let n = read_into(d, mem, iovs, count, None)?;
    mem.write_u32(nread, n)
}

pub fn fd_pread(ctx: &mut WasiCtx, mem: &mut GuestMemory<'_>, a: &Args) -> R {
    let (fd, iovs, count, offset, nread) = (a.u32(0), a.u32(1), a.u32(2), a.u64(3), a.u32(4));
    let d = ctx.table.get_mut(fd)?;
    let n = read_into(d, mem, iovs, count, Some(offset))?;
    mem.write_u32(nread, n)
}

/// Writes the iovecs, straight from guest memory, at the position (`None`)
/// or at an offset: one host `writev`/`pwritev` of at most [`MAX_IOVECS`](super::memory::MAX_IOVECS)
/// slices and [`MAX_IO_BYTES`] bytes, so one `fd_write` is one host write
/// and a longer request is a short write.
fn write_from(
    d: &mut Descriptor,
    mem: &GuestMemory<'_>,
    iovs: u32,
    count: u32,
    offset: Option<u64>,
) -> Result<u32, Errno> {
    let mut bufs = mem.gather(iovs, count)?;
    let n = match (&mut d.kind, offset) {
        (Kind::File(f), None) => writev_all(f.as_fd(), &mut bufs)?,
        (Kind::File(f), Some(off)) => pwritev_all(f.as_fd(), &mut bufs, off)?,
        (Kind::Stream(s), None) => s.write(&mut bufs)?,
        (Kind::Stream(s), Some(_)) => {
            return Err(if s.end == End::Write {
                Errno::SPIPE
            } else {
                Errno::BADF
            });
        }
        (Kind::Dir(_), _) => return Err(Errno::ISDIR),
    };
    // At most MAX_IO_BYTES, which fits.
    Ok(n as u32)
}

pub fn fd_write(ctx: &mut WasiCtx, mem: &mut GuestMemory<'_>, a: &Args) -> R {
    let (fd, iovs, count, nwritten) = (a.u32(0), a.u32(1), a.u32(2), a.u32(3));
    let n = write_from(ctx.table.get_mut(fd)?, mem, iovs, count, None)?;
    mem.write_u32(nwritten, n)
}

pub fn fd_pwrite(ctx: &mut WasiCtx, mem: &mut GuestMemory<'_>, a: &Args) -> R {
    let (fd, iovs, count, offset, nwritten) = (a.u32(0), a.u32(1), a.u32(2), a.u64(3), a.u32(4));
    let n = write_from(ctx.table.get_mut(fd)?, mem, iovs, count, Some(offset))?;
    mem.write_u32(nwritten, n)
}

pub fn fd_prestat_get(ctx: &mut WasiCtx, mem: &mut GuestMemory<'_>, a: &Args) -> R {
    let (fd, ptr) = (a.u32(0), a.u32(1));
    match &ctx.table.get(fd)?.kind {
        Kind::Dir(Dir {
            preopen: Some(name),
            ..
        }) => {
            let mut b = [0u8; layout::PRESTAT_SIZE as usize];
            b[4..8].copy_from_slice(&(name.len() as u32).to_le_bytes());
            mem.write(ptr, &b)
        }
        _ => Err(Errno::BADF),
    }
}

pub fn fd_prestat_dir_name(ctx: &mut WasiCtx, mem: &mut GuestMemory<'_>, a: &Args) -> R {
    let (fd, ptr, len) = (a.u32(0), a.u32(1), a.u32(2));
    match &ctx.table.get(fd)?.kind {
        Kind::Dir(Dir {
            preopen: Some(name),
            ..
        }) => {
            if (len as usize) < name.len() {
                return Err(Errno::NAMETOOLONG);
            }
            mem.write(ptr, name)
        }
        _ => Err(Errno::BADF),
    }
}

/// Lists a directory: `.` and `..` first, as Wasmtime does, then the rest
/// in the host's order. Both carry the directory's own inode: `..` may be
/// outside the sandbox, whose inodes are not the guest's to see.
fn list(dir: &Dir) -> Result<Vec<DirEntry>, Errno> {
    let own = rustix::fs::fstat(&dir.fd)?.st_ino;
    let mut out = Vec::new();
    let mut entries = Vec::new();
    for entry in rustix::fs::Dir::read_from(&dir.fd)? {
        let entry = entry?;
        let name = entry.file_name().to_bytes().to_vec();
        let ft = match entry.file_type() {
            rustix::fs::FileType::RegularFile => filetype::REGULAR_FILE,
            rustix::fs::FileType::Directory => filetype::DIRECTORY,
            rustix::fs::FileType::Symlink => filetype::SYMBOLIC_LINK,
            rustix::fs::FileType::CharacterDevice => filetype::CHARACTER_DEVICE,
            rustix::fs::FileType::BlockDevice => filetype::BLOCK_DEVICE,
            rustix::fs::FileType::Socket => filetype::SOCKET_STREAM,
            rustix::fs::FileType::Fifo => filetype::UNKNOWN,
            _ => rustix::fs::statat(&dir.fd, name.as_slice(), AtFlags::SYMLINK_NOFOLLOW)
                .map_or(filetype::UNKNOWN, |st| filetype_of_mode(st.st_mode)),
        };
        let e = DirEntry {
            ino: entry.ino(),
            filetype: ft,
            name,
        };
        if e.name == b"." || e.name == b".." {
            out.push(DirEntry { ino: own, ..e });
        } else {
            entries.push(e);
        }
    }
    out.sort_by_key(|e| e.name.len());
    out.extend(entries);
    Ok(out)
}

pub fn fd_readdir(ctx: &mut WasiCtx, mem: &mut GuestMemory<'_>, a: &Args) -> R {
    let (fd, buf, buf_len, cookie, bufused) = (a.u32(0), a.u32(1), a.u32(2), a.u64(3), a.u32(4));
    let d = ctx.table.get_mut(fd)?;
    let Kind::Dir(dir) = &mut d.kind else {
        return Err(Errno::NOTDIR);
    };
    // Check the whole buffer first: a bad pointer is EFAULT even for an
    // empty listing.
    mem.slice(buf, buf_len)?;
    if cookie == 0 || dir.listing.is_none() {
        dir.listing = Some(list(dir)?);
    }
    let listing = dir.listing.as_deref().unwrap_or_default();
    // Records go straight into the guest's buffer. A last one that does not
    // fit is cut: the guest sees a full buffer and asks again from its
    // cookie with a bigger one.
    let mut used = 0u32;
    let start = usize::try_from(cookie).unwrap_or(usize::MAX);
    for (i, e) in listing.iter().enumerate().skip(start) {
        if used == buf_len {
            break;
        }
        let mut head = [0u8; layout::DIRENT_SIZE as usize];
        head[0..8].copy_from_slice(&(i as u64 + 1).to_le_bytes());
        head[8..16].copy_from_slice(&e.ino.to_le_bytes());
        head[16..20].copy_from_slice(&(e.name.len() as u32).to_le_bytes());
        head[20] = e.filetype;
        for part in [&head[..], &e.name] {
            let n = (part.len() as u32).min(buf_len - used);
            mem.write(buf + used, &part[..n as usize])?;
            used += n;
        }
    }
    mem.write_u32(bufused, used)
}

pub fn fd_renumber(ctx: &mut WasiCtx, _: &mut GuestMemory<'_>, a: &Args) -> R {
    ctx.table.renumber(a.u32(0), a.u32(1))
}

pub fn fd_seek(ctx: &mut WasiCtx, mem: &mut GuestMemory<'_>, a: &Args) -> R {
    let (fd, offset, wh, newoffset) = (a.u32(0), a.u64(1) as i64, a.u32(2), a.u32(3));
    let pos = match u8::try_from(wh).map_err(|_| Errno::INVAL)? {
        whence::SET => SeekFrom::Start(u64::try_from(offset).map_err(|_| Errno::INVAL)?),
        whence::CUR => SeekFrom::Current(offset),
        whence::END => SeekFrom::End(offset),
        _ => return Err(Errno::INVAL),
    };
    let new = seek(ctx.table.get_mut(fd)?, pos)?;
    mem.write_u64(newoffset, new)
}

fn seek(d: &mut Descriptor, pos: SeekFrom) -> Result<u64, Errno> {
    match &mut d.kind {
        Kind::File(f) => Ok(f.seek(pos)?),
        Kind::Dir(_) => Err(Errno::BADF),
        // A stream has no position, even when the host's fd behind it is
        // a file (seeking it would rewrite output before the guest's own).
        Kind::Stream(_) => Err(Errno::SPIPE),
    }
}

pub fn fd_tell(ctx: &mut WasiCtx, mem: &mut GuestMemory<'_>, a: &Args) -> R {
    let (fd, ptr) = (a.u32(0), a.u32(1));
    let new = seek(ctx.table.get_mut(fd)?, SeekFrom::Current(0))?;
    mem.write_u64(ptr, new)
}

// ---- path_* -----------------------------------------------------------
//
// Each resolves its path with `path::resolve` (or `retry_swapped`) and
// makes one `*at` call on the `(dir, name)` it gets back, never following
// the name (see `path.rs` for why that is the whole sandbox).

/// The directory behind `fd`, as the root of a path.
fn root(ctx: &WasiCtx, fd: u32) -> Result<BorrowedFd<'_>, Errno> {
    Ok(ctx.table.dir(fd)?.fd.as_fd())
}

/// The entry `name` in `dir`, not followed.
fn lstat(dir: &impl AsFd, name: &[u8]) -> Result<rustix::fs::Stat, Errno> {
    Ok(rustix::fs::statat(dir, name, AtFlags::SYMLINK_NOFOLLOW)?)
}

fn is_dir(st: &rustix::fs::Stat) -> bool {
    filetype_of_mode(st.st_mode) == filetype::DIRECTORY
}

/// A new entry at a path the guest wrote with a trailing `/` (a link or a
/// symlink to be made there): Linux's answers, `EEXIST` if something is
/// there, else `ENOENT`.
fn new_entry_with_slash(r: &Resolved<'_>) -> R {
    match lstat(&r.dir, &r.name) {
        Ok(_) => Err(Errno::EXIST),
        Err(_) => Err(Errno::NOENT),
    }
}

pub fn path_create_directory(ctx: &mut WasiCtx, mem: &mut GuestMemory<'_>, a: &Args) -> R {
    let (fd, path) = (a.u32(0), mem.path(a.u32(1), a.u32(2))?);
    let r = resolve(root(ctx, fd)?, &path, Last::Entry)?;
    Ok(rustix::fs::mkdirat(
        &r.dir,
        r.name.as_slice(),
        Mode::from_bits_truncate(0o777),
    )?)
}

pub fn path_filestat_get(ctx: &mut WasiCtx, mem: &mut GuestMemory<'_>, a: &Args) -> R {
    let (fd, flags, buf) = (a.u32(0), a.u32(1), a.u32(4));
    let path = mem.path(a.u32(2), a.u32(3))?;
    let follow = flags & lookupflags::SYMLINK_FOLLOW != 0;
    let st = retry_swapped(root(ctx, fd)?, &path, follow, |r| {
        let st = lstat(&r.dir, &r.name)?;
        let ft = filetype_of_mode(st.st_mode);
        if ft == filetype::SYMBOLIC_LINK && (follow || r.must_be_dir) {
            // Swapped for a link since the walk: walk again.
            return Err(Errno::LOOP);
        }
        if r.must_be_dir && ft != filetype::DIRECTORY {
            return Err(Errno::NOTDIR);
        }
        Ok(st)
    })?;
    write_filestat(mem, buf, &st)
}

pub fn path_filestat_set_times(ctx: &mut WasiCtx, mem: &mut GuestMemory<'_>, a: &Args) -> R {
    let (fd, flags) = (a.u32(0), a.u32(1));
    let path = mem.path(a.u32(2), a.u32(3))?;
    let ts = timestamps(a.u64(4), a.u64(5), a.u32(6))?;
    let follow = flags & lookupflags::SYMLINK_FOLLOW != 0;
    // If the entry is swapped for a symlink after the walk, this sets the
    // link's own times: inside the sandbox either way.
    let r = resolve(root(ctx, fd)?, &path, Last::Target { follow })?;
    Ok(rustix::fs::utimensat(
        &r.dir,
        r.name.as_slice(),
        &ts,
        AtFlags::SYMLINK_NOFOLLOW,
    )?)
}

pub fn path_link(ctx: &mut WasiCtx, mem: &mut GuestMemory<'_>, a: &Args) -> R {
    let (old_fd, old_flags) = (a.u32(0), a.u32(1));
    let old_path = mem.path(a.u32(2), a.u32(3))?;
    let new_fd = a.u32(4);
    let new_path = mem.path(a.u32(5), a.u32(6))?;
    let follow = old_flags & lookupflags::SYMLINK_FOLLOW != 0;
    let old = resolve(root(ctx, old_fd)?, &old_path, Last::Target { follow })?;
    let new = resolve(root(ctx, new_fd)?, &new_path, Last::Entry)?;
    if new.must_be_dir {
        return new_entry_with_slash(&new);
    }
    // Flags 0: linkat does not follow old's name, which the walk resolved.
    Ok(rustix::fs::linkat(
        &old.dir,
        old.name.as_slice(),
        &new.dir,
        new.name.as_slice(),
        AtFlags::empty(),
    )?)
}

pub fn path_open(ctx: &mut WasiCtx, mem: &mut GuestMemory<'_>, a: &Args) -> R {
    let (fd, dirflags) = (a.u32(0), a.u32(1));
    let path = mem.path(a.u32(2), a.u32(3))?;
    // The rights only say how to open (read, write or both): like Wasmtime,
    // rights are not a second permission system here.
    let (of, base, fdf, out) = (a.u32(4), a.u64(5), a.u32(7), a.u32(8));
    let of = u16::try_from(of).map_err(|_| Errno::INVAL)?;
    let fdf = u16::try_from(fdf).map_err(|_| Errno::INVAL)?;
    // Fail on a bad result pointer before anything is created.
    mem.slice(out, 4)?;
    let parent = ctx.table.get(fd)?;
    let Kind::Dir(dir) = &parent.kind else {
        return Err(Errno::NOTDIR);
    };
    let directory = of & oflags::DIRECTORY != 0;
    let create = of & oflags::CREAT != 0;
    let exclusive = create && of & oflags::EXCL != 0;
    // A directory is not created, nor truncated, by path_open (Linux says
    // EINVAL to O_CREAT | O_DIRECTORY; Wasmtime to these three).
    if directory && of & (oflags::CREAT | oflags::EXCL | oflags::TRUNC) != 0 {
        return Err(Errno::INVAL);
    }
    if fdf & (fdflags::DSYNC | fdflags::SYNC | fdflags::RSYNC) != 0 {
        return Err(Errno::NOTSUP);
    }
    let read = base & (rights::FD_READ | rights::FD_READDIR) != 0;
    // A directory opens for reading, whatever rights the guest asked for.
    let write = !directory
        && base
            & (rights::FD_WRITE
                | rights::FD_ALLOCATE
                | rights::FD_FILESTAT_SET_SIZE
                | rights::FD_DATASYNC)
            != 0;
    let mut flags = OFlags::CLOEXEC | OFlags::NOFOLLOW | OFlags::NOCTTY;
    flags |= match (read, write) {
        (_, false) => OFlags::RDONLY,
        (false, true) => OFlags::WRONLY,
        (true, true) => OFlags::RDWR,
    };
    for (bit, host) in [
        (oflags::CREAT, OFlags::CREATE),
        (oflags::EXCL, OFlags::EXCL),
        (oflags::TRUNC, OFlags::TRUNC),
        (oflags::DIRECTORY, OFlags::DIRECTORY),
    ] {
        if of & bit != 0 {
            flags |= host;
        }
    }
    if fdf & fdflags::APPEND != 0 {
        flags |= OFlags::APPEND;
    }
    if fdf & fdflags::NONBLOCK != 0 {
        flags |= OFlags::NONBLOCK;
    }
    // O_CREAT | O_EXCL never follows a final symlink (POSIX): a dangling
    // one is EEXIST, not a file made wherever it points.
    let follow = dirflags & lookupflags::SYMLINK_FOLLOW != 0 && !exclusive;
    let host = retry_swapped(dir.fd.as_fd(), &path, follow, |r| {
        let mut flags = flags;
        if r.must_be_dir {
            if create {
                // Linux: open("x/", O_CREAT) is EISDIR.
                return Err(Errno::ISDIR);
            }
            flags |= OFlags::DIRECTORY;
        }
        Ok(rustix::fs::openat(
            &r.dir,
            r.name.as_slice(),
            flags,
            Mode::from_bits_truncate(0o666),
        )?)
    })?;
    let st = rustix::fs::fstat(&host)?;
    let kind = if filetype_of_mode(st.st_mode) == filetype::DIRECTORY {
        Kind::Dir(Dir {
            fd: host,
            preopen: None,
            listing: None,
        })
    } else {
        Kind::File(std::fs::File::from(host))
    };
    let is_file = matches!(kind, Kind::File(_));
    let mut d = Descriptor::new(kind, fdf & (fdflags::APPEND | fdflags::NONBLOCK));
    if is_file && !read {
        d.rights_base &= !rights::FD_READ;
    }
    if is_file && !write {
        d.rights_base &= !(rights::FD_WRITE | rights::FD_ALLOCATE | rights::FD_FILESTAT_SET_SIZE);
    }
    let new = ctx.table.push(d)?;
    mem.write_u32(out, new)
}

pub fn path_readlink(ctx: &mut WasiCtx, mem: &mut GuestMemory<'_>, a: &Args) -> R {
    let (fd, buf, buf_len, used) = (a.u32(0), a.u32(3), a.u32(4), a.u32(5));
    let path = mem.path(a.u32(1), a.u32(2))?;
    // Not following: the link itself (a trailing `/` follows, as in Linux,
    // and readlink of the directory is then EINVAL).
    let r = resolve(root(ctx, fd)?, &path, Last::Target { follow: false })?;
    let target = rustix::fs::readlinkat(&r.dir, r.name.as_slice(), Vec::new())?;
    let bytes = target.as_bytes();
    // An absolute target names a host path: the guest could never follow
    // it, and the host's layout is not the guest's to learn (Wasmtime
    // refuses it too).
    if bytes.starts_with(b"/") {
        return Err(Errno::NOTCAPABLE);
    }
    let n = bytes.len().min(buf_len as usize);
    mem.write(buf, &bytes[..n])?;
    mem.write_u32(used, n as u32)
}

pub fn path_remove_directory(ctx: &mut WasiCtx, mem: &mut GuestMemory<'_>, a: &Args) -> R {
    let (fd, path) = (a.u32(0), mem.path(a.u32(1), a.u32(2))?);
    // A trailing `/` needs nothing more: rmdir wants a directory anyway.
    let r = resolve(root(ctx, fd)?, &path, Last::Entry)?;
    Ok(rustix::fs::unlinkat(
        &r.dir,
        r.name.as_slice(),
        AtFlags::REMOVEDIR,
    )?)
}

pub fn path_rename(ctx: &mut WasiCtx, mem: &mut GuestMemory<'_>, a: &Args) -> R {
    let (old_fd, new_fd) = (a.u32(0), a.u32(3));
    let old_path = mem.path(a.u32(1), a.u32(2))?;
    let new_path = mem.path(a.u32(4), a.u32(5))?;
    let old = resolve(root(ctx, old_fd)?, &old_path, Last::Entry)?;
    let new = resolve(root(ctx, new_fd)?, &new_path, Last::Entry)?;
    // A trailing `/` on either side: only a directory moves (Linux).
    if (old.must_be_dir || new.must_be_dir) && !is_dir(&lstat(&old.dir, &old.name)?) {
        return Err(Errno::NOTDIR);
    }
    Ok(rustix::fs::renameat(
        &old.dir,
        old.name.as_slice(),
        &new.dir,
        new.name.as_slice(),
    )?)
}

pub fn path_symlink(ctx: &mut WasiCtx, mem: &mut GuestMemory<'_>, a: &Args) -> R {
    let target = mem.path(a.u32(0), a.u32(1))?;
    let fd = a.u32(2);
    let path = mem.path(a.u32(3), a.u32(4))?;
    // The target is stored as written; following it later stays inside the
    // sandbox, but an absolute one could only ever escape.
    if target.starts_with(b"/") {
        return Err(Errno::NOTCAPABLE);
    }
    let r = resolve(root(ctx, fd)?, &path, Last::Entry)?;
    if r.must_be_dir {
        return new_entry_with_slash(&r);
    }
    Ok(rustix::fs::symlinkat(
        target.as_slice(),
        &r.dir,
        r.name.as_slice(),
    )?)
}

pub fn path_unlink_file(ctx: &mut WasiCtx, mem: &mut GuestMemory<'_>, a: &Args) -> R {
    let (fd, path) = (a.u32(0), mem.path(a.u32(1), a.u32(2))?);
    let r = resolve(root(ctx, fd)?, &path, Last::Entry)?;
    if r.must_be_dir {
        // Linux: a directory is EISDIR, anything else ENOTDIR.
        return Err(if is_dir(&lstat(&r.dir, &r.name)?) {
            Errno::ISDIR
        } else {
            Errno::NOTDIR
        });
    }
    Ok(rustix::fs::unlinkat(
        &r.dir,
        r.name.as_slice(),
        AtFlags::empty(),
    )?)
}
