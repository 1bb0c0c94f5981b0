//! Reading the inferior's memory. Every read can fail with a [`ReadError`]
//! naming the address; nothing here panics on a bad address.

use std::fmt;

/// A read touched bytes the image does not have.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReadError {
    /// First address of the failed read.
    pub addr: u64,
    /// Its length.
    pub len: usize,
}

impl fmt::Display for ReadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "cannot read {} bytes at {:#x}: not in the core or the executable", self.len, self.addr)
    }
}

impl std::error::Error for ReadError {}

/// Little-endian reads from an address space.
pub trait Memory {
    /// The bytes from `addr` to the end of the mapped range holding it.
    fn tail(&self, addr: u64) -> Option<&[u8]>;

    /// `len` bytes at `addr`, all from one mapped range.
    fn slice(&self, addr: u64, len: usize) -> Result<&[u8], ReadError> {
        match self.tail(addr) {
            Some(t) if t.len() >= len => Ok(&t[..len]),
            _ => Err(ReadError { addr, len }),
        }
    }

    /// Copies the bytes at `addr` into `buf`; may cross adjacent ranges.
    fn read(&self, addr: u64, buf: &mut [u8]) -> Result<(), ReadError> {
        let mut done = 0;
        while done < buf.len() {
            let a = addr.wrapping_add(done as u64);
            let t = self.tail(a).ok_or(ReadError { addr, len: buf.len() })?;
            let n = t.len().min(buf.len() - done);
            buf[done..done + n].copy_from_slice(&t[..n]);
            done += n;
        }
        Ok(())
    }

    /// Whether every byte of [addr, addr + len) is readable (across
    /// adjacent ranges). Costs one lookup a range, whatever `len`.
    fn covers(&self, addr: u64, len: u64) -> bool {
        let mut done = 0u64;
        while done < len {
            let Some(t) = self.tail(addr.wrapping_add(done)) else { return false };
            done = done.saturating_add(t.len() as u64);
        }
        true
    }

    /// A copy of the `len` bytes at `addr` (which may cross adjacent
    /// ranges). The buffer is allocated only once the image is known to
    /// hold them all, so a length read from damaged data costs nothing.
    fn read_vec(&self, addr: u64, len: u64) -> Result<Vec<u8>, ReadError> {
        let err = ReadError { addr, len: usize::try_from(len).unwrap_or(usize::MAX) };
        if !self.covers(addr, len) {
            return Err(err);
        }
        let mut buf = vec![0u8; err.len];
        self.read(addr, &mut buf)?;
        Ok(buf)
    }

    /// A byte.
    fn u8(&self, addr: u64) -> Result<u8, ReadError> {
        Ok(self.slice(addr, 1)?[0])
    }

    /// A little-endian u16.
    fn u16(&self, addr: u64) -> Result<u16, ReadError> {
        let mut b = [0; 2];
        self.read(addr, &mut b)?;
        Ok(u16::from_le_bytes(b))
    }

    /// A little-endian u32.
    fn u32(&self, addr: u64) -> Result<u32, ReadError> {
        let mut b = [0; 4];
        self.read(addr, &mut b)?;
        Ok(u32::from_le_bytes(b))
    }

    /// A little-endian u64 (also a pointer: refgraph reads 64-bit targets only).
    fn u64(&self, addr: u64) -> Result<u64, ReadError> {
        if let Some(t) = self.tail(addr).and_then(|t| t.get(..8)) {
            return Ok(u64::from_le_bytes(t.try_into().expect("8 bytes")));
        }
        let mut b = [0; 8];
        self.read(addr, &mut b)?;
        Ok(u64::from_le_bytes(b))
    }
}
