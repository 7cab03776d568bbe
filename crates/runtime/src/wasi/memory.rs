//! Bounds-checked access to the guest's linear memory.
//!
//! **Invariant:** every guest pointer and length goes through [`GuestMemory`],
//! whose accessors check `ptr + len <= memory size` in 64-bit arithmetic and
//! answer `EFAULT` otherwise: a bad pointer from the guest is an errno, never
//! a host panic. Values are little-endian; alignment is not demanded.

use super::types::{Errno, layout};

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

    /// The `count` iovecs of an array at `ptr`, each checked to lie inside
    /// memory.
    pub fn iovecs(&self, ptr: u32, count: u32) -> Result<Vec<IoVec>, Errno> {
        self.range(ptr, u64::from(count) * u64::from(layout::IOVEC_SIZE))?;
        let mut out = Vec::with_capacity(count.min(1024) as usize);
        for i in 0..count {
            let at = ptr + i * layout::IOVEC_SIZE;
            let v = IoVec {
                ptr: self.read_u32(at)?,
                len: self.read_u32(at + 4)?,
            };
            self.range(v.ptr, v.len.into())?;
            out.push(v);
        }
        Ok(out)
    }

    /// The bytes of a guest path (not NUL-terminated). A NUL inside cannot
    /// name a host file: `EINVAL`.
    pub fn path(&self, ptr: u32, len: u32) -> Result<Vec<u8>, Errno> {
        let bytes = self.slice(ptr, len)?;
        if bytes.contains(&0) {
            return Err(Errno::INVAL);
        }
        Ok(bytes.to_vec())
    }
}
