//! Sequential little-endian reads over a [`ByteSource`], buffered in chunks so that the many small
//! fields of a GGUF header (a vocabulary is hundreds of thousands of strings) cost few source
//! reads (each one is a system call natively, a `FileReaderSync` call in a browser worker).
//! Every read is checked against the end of the file first: a length field from a hostile file
//! can never make it allocate more than the file holds.
use crate::error::{Error, Result};
use crate::model::ByteSource;

/// Bytes fetched from the source per refill.
const CHUNK: u64 = 1 << 20;

pub struct Cursor<'a, S: ByteSource> {
    src: &'a S,
    /// Absolute position of the next byte.
    pos: u64,
    buf: Vec<u8>,
    /// Absolute offset of `buf[0]`.
    buf_start: u64,
}

impl<'a, S: ByteSource> Cursor<'a, S> {
    pub fn new(src: &'a S) -> Self {
        Cursor {
            src,
            pos: 0,
            buf: Vec::new(),
            buf_start: 0,
        }
    }

    pub fn pos(&self) -> u64 {
        self.pos
    }

    /// Bytes left after the position.
    pub fn remaining(&self) -> u64 {
        self.src.len().saturating_sub(self.pos)
    }

    /// An error about the file at the current position.
    pub fn error(&self, message: impl std::fmt::Display) -> Error {
        Error::input(self.src.name(), format!("{message} (at byte {})", self.pos))
    }

    /// The next `n` bytes; `what` names the field in the error when the file ends first.
    pub fn take(&mut self, n: u64, what: &str) -> Result<&[u8]> {
        if n > self.remaining() {
            return Err(self.error(format!(
                "truncated: {what} needs {n} bytes, but the file ({} bytes) ends {} bytes later",
                self.src.len(),
                self.remaining()
            )));
        }
        let buf_end = self.buf_start + self.buf.len() as u64;
        if self.pos < self.buf_start || self.pos + n > buf_end {
            let len = n.max(CHUNK).min(self.remaining());
            let len = usize::try_from(len)
                .map_err(|_| self.error(format!("{what} is too large for this platform")))?;
            self.buf = self.src.read_at(self.pos, len)?;
            self.buf_start = self.pos;
        }
        let start = (self.pos - self.buf_start) as usize;
        self.pos += n;
        Ok(&self.buf[start..start + n as usize])
    }

    fn array<const N: usize>(&mut self, what: &str) -> Result<[u8; N]> {
        let bytes = self.take(N as u64, what)?;
        let mut out = [0u8; N];
        out.copy_from_slice(bytes);
        Ok(out)
    }

    pub fn u8(&mut self, what: &str) -> Result<u8> {
        Ok(self.array::<1>(what)?[0])
    }
    pub fn u16(&mut self, what: &str) -> Result<u16> {
        Ok(u16::from_le_bytes(self.array(what)?))
    }
    pub fn u32(&mut self, what: &str) -> Result<u32> {
        Ok(u32::from_le_bytes(self.array(what)?))
    }
    pub fn u64(&mut self, what: &str) -> Result<u64> {
        Ok(u64::from_le_bytes(self.array(what)?))
    }
    pub fn f32(&mut self, what: &str) -> Result<f32> {
        Ok(f32::from_le_bytes(self.array(what)?))
    }
    pub fn f64(&mut self, what: &str) -> Result<f64> {
        Ok(f64::from_le_bytes(self.array(what)?))
    }

    /// A string: u64 byte length, then UTF-8 bytes (at most `max` of them).
    pub fn string(&mut self, what: &str, max: u64) -> Result<String> {
        let len = self.u64(what)?;
        if len > max {
            return Err(self.error(format!(
                "{what} claims {len} bytes, more than the {max} allowed"
            )));
        }
        let at = self.pos;
        let bytes = self.take(len, what)?.to_vec();
        String::from_utf8(bytes).map_err(|e| {
            Error::input(
                self.src.name(),
                format!("{what} at byte {at} is not UTF-8 text: {e}"),
            )
        })
    }

    /// Moves to `pos` (reads after it fetch again when it is outside the buffer).
    pub fn seek(&mut self, pos: u64) {
        self.pos = pos;
    }
}
