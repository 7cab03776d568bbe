//! Bounds-checked access to the guest's linear memory.
//!
//! **Invariant:** every guest pointer and length goes through [`GuestMemory`],
//! whose accessors check `ptr + len <= memory size` in 64-bit arithmetic and
//! answer `EFAULT` otherwise: a bad pointer from the guest is an errno, never
//! a host panic. Values are little-endian; alignment is not demanded.
//!
//! **Invariant:** what one call makes the host allocate does not grow with
//! the guest's numbers: reads and writes use guest memory in place (at most
//! [`MAX_IOVECS`] slices and [`MAX_IO_BYTES`] bytes a call), and a path is
//! copied only once it is known to be at most [`MAX_PATH_LEN`] bytes.

use std::io::IoSlice;

use super::path::MAX_PATH_LEN;
use super::types::{Errno, layout};

/// At most this many bytes move in one `fd_read`, `fd_write`, `fd_pread` or
/// `fd_pwrite`: a longer request is a short read or write, which POSIX
/// allows and every libc loops over. It bounds what one call can make the
/// host buffer (a captured stdout) and how long it runs.
pub const MAX_IO_BYTES: usize = 16 << 20;

/// At most this many iovecs of one call are used (Linux's `IOV_MAX`); the
/// rest make the call short.
pub const MAX_IOVECS: u32 = 1024;

/// The calling instance's memory, for the length of one WASI call.
pub struct GuestMemory<'a> {
    bytes: &'a mut [u8],
}

/// The host view of one `iovec`: a range of guest memory.
#[derive(Clone, Copy)]
pub struct IoVec {
    pub ptr: u32,
    pub len: u32,
}

impl<'a> GuestMemory<'a> {
    pub fn new(bytes: &'a mut [u8]) -> Self {
        GuestMemory { bytes }
    }

    fn range(&self, ptr: u32, len: u64) -> Result<std::ops::Range<usize>, Errno> {
        let end = u64::from(ptr) + len;
        if end > self.bytes.len() as u64 {
            return Err(Errno::FAULT);
        }
        Ok(ptr as usize..end as usize)
    }

    /// `len` bytes at `ptr`.
    pub fn slice(&self, ptr: u32, len: u32) -> Result<&[u8], Errno> {
        let r = self.range(ptr, len.into())?;
        Ok(&self.bytes[r])
    }

    /// `len` writable bytes at `ptr`.
    pub fn slice_mut(&mut self, ptr: u32, len: u32) -> Result<&mut [u8], Errno> {
        let r = self.range(ptr, len.into())?;
        Ok(&mut self.bytes[r])
    }

    fn array<const N: usize>(&self, ptr: u32) -> Result<[u8; N], Errno> {
        let r = self.range(ptr, N as u64)?;
        let mut out = [0u8; N];
        out.copy_from_slice(&self.bytes[r]);
        Ok(out)
    }

    pub fn read_u8(&self, ptr: u32) -> Result<u8, Errno> {
        Ok(self.array::<1>(ptr)?[0])
    }

    pub fn read_u16(&self, ptr: u32) -> Result<u16, Errno> {
        Ok(u16::from_le_bytes(self.array(ptr)?))
    }

    pub fn read_u32(&self, ptr: u32) -> Result<u32, Errno> {
        Ok(u32::from_le_bytes(self.array(ptr)?))
    }

    pub fn read_u64(&self, ptr: u32) -> Result<u64, Errno> {
        Ok(u64::from_le_bytes(self.array(ptr)?))
    }

    /// Writes `data` at `ptr`.
    pub fn write(&mut self, ptr: u32, data: &[u8]) -> Result<(), Errno> {
        let r = self.range(ptr, data.len() as u64)?;
        self.bytes[r].copy_from_slice(data);
        Ok(())
    }

    pub fn write_u8(&mut self, ptr: u32, v: u8) -> Result<(), Errno> {
        self.write(ptr, &[v])
    }

    pub fn write_u32(&mut self, ptr: u32, v: u32) -> Result<(), Errno> {
        self.write(ptr, &v.to_le_bytes())
    }

    pub fn write_u64(&mut self, ptr: u32, v: u64) -> Result<(), Errno> {
        self.write(ptr, &v.to_le_bytes())
    }

    /// The `i`th iovec of the array at `base`, its buffer checked to lie
    /// inside memory. The caller has checked the array with
    /// [`GuestMemory::iovec_array`].
    pub fn iovec(&self, base: u32, i: u32) -> Result<IoVec, Errno> {
        let at = base
            .checked_add(i.checked_mul(layout::IOVEC_SIZE).ok_or(Errno::FAULT)?)
            .ok_or(Errno::FAULT)?;
        let v = IoVec {
            ptr: self.read_u32(at)?,
            len: self.read_u32(at.checked_add(4).ok_or(Errno::FAULT)?)?,
        };
        self.range(v.ptr, v.len.into())?;
        Ok(v)
    }

    /// Checks that an array of `count` iovecs at `ptr` lies inside memory
    /// (`EFAULT` otherwise, however large `count` is); answers how many of
    /// them one call uses: at most [`MAX_IOVECS`].
    pub fn iovec_array(&self, ptr: u32, count: u32) -> Result<u32, Errno> {
        self.range(ptr, u64::from(count) * u64::from(layout::IOVEC_SIZE))?;
        Ok(count.min(MAX_IOVECS))
    }

    /// The iovecs one gathering write uses, as slices of guest memory (no
    /// copy): at most [`MAX_IOVECS`] of them and [`MAX_IO_BYTES`] in all,
    /// the last one cut to fit. Bounded host memory, whatever the guest
    /// asks: a longer request becomes a short write.
    pub fn gather(&self, ptr: u32, count: u32) -> Result<Vec<IoSlice<'_>>, Errno> {
        let used = self.iovec_array(ptr, count)?;
        let mut out = Vec::with_capacity(used.min(64) as usize);
        let mut total = 0usize;
        for i in 0..used {
            let v = self.iovec(ptr, i)?;
            let take = (v.len as usize).min(MAX_IO_BYTES - total);
            if take > 0 {
                out.push(IoSlice::new(&self.slice(v.ptr, v.len)?[..take]));
                total += take;
            }
            if total == MAX_IO_BYTES {
                break;
            }
        }
        Ok(out)
    }

    /// The bytes of a guest path (not NUL-terminated): `ENAMETOOLONG` beyond
    /// [`MAX_PATH_LEN`] bytes (checked before anything is copied), `EILSEQ`
    /// if not UTF-8 (preview1 paths are `string`s), `EINVAL` for a NUL
    /// inside (it cannot name a host file).
    pub fn path(&self, ptr: u32, len: u32) -> Result<Vec<u8>, Errno> {
        let bytes = self.slice(ptr, len)?;
        if len > MAX_PATH_LEN {
            return Err(Errno::NAMETOOLONG);
        }
        if std::str::from_utf8(bytes).is_err() {
            return Err(Errno::ILSEQ);
        }
        if bytes.contains(&0) {
            return Err(Errno::INVAL);
        }
        Ok(bytes.to_vec())
    }
}
