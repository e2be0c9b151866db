//! Byte-level reading and writing for the record formats: a bounds-checked cursor that returns
//! errors instead of panicking on short or malformed input, and big-endian writers.

use thiserror::Error;

/// Why bytes could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum WireError {
    /// The input ended early.
    #[error("truncated: needed {needed} more bytes at offset {offset}")]
    Truncated {
        /// Where the read started.
        offset: usize,
        /// How many bytes it needed.
        needed: usize,
    },
    /// Bytes were left after the end of the structure.
    #[error("{0} trailing bytes")]
    TrailingBytes(usize),
}

/// A cursor over a byte slice.
pub(crate) struct Reader<'a> {
    bytes: &'a [u8],
    offset: usize,
}

impl<'a> Reader<'a> {
    pub(crate) fn new(bytes: &'a [u8]) -> Self {
        Self { bytes, offset: 0 }
    }

    /// The next `n` bytes.
    pub(crate) fn take(&mut self, n: usize) -> Result<&'a [u8], WireError> {
        let rest = &self.bytes[self.offset..];
        if rest.len() < n {
            return Err(WireError::Truncated {
                offset: self.offset,
                needed: n - rest.len(),
            });
        }
        self.offset += n;
        Ok(&rest[..n])
    }

    pub(crate) fn array<const N: usize>(&mut self) -> Result<[u8; N], WireError> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(N)?);
        Ok(out)
    }

    pub(crate) fn u8(&mut self) -> Result<u8, WireError> {
        Ok(self.array::<1>()?[0])
    }

    pub(crate) fn u32(&mut self) -> Result<u32, WireError> {
        Ok(u32::from_be_bytes(self.array()?))
    }

    pub(crate) fn u64(&mut self) -> Result<u64, WireError> {
        Ok(u64::from_be_bytes(self.array()?))
    }

    /// A `u32`-length-prefixed byte string.
    pub(crate) fn prefixed(&mut self) -> Result<&'a [u8], WireError> {
        let len = self.u32()? as usize;
        self.take(len)
    }

    pub(crate) fn remaining(&self) -> usize {
        self.bytes.len() - self.offset
    }

    /// Succeeds only if every byte was consumed.
    pub(crate) fn finish(self) -> Result<(), WireError> {
        match self.remaining() {
            0 => Ok(()),
            n => Err(WireError::TrailingBytes(n)),
        }
    }
}

/// Appends a `u32`-length-prefixed byte string. Callers bound `bytes` well below 4 GiB.
pub(crate) fn put_prefixed(out: &mut Vec<u8>, bytes: &[u8]) {
    let len = u32::try_from(bytes.len()).unwrap_or(u32::MAX);
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(bytes);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_and_reports_truncation_and_trailing_bytes() {
        let mut bytes = vec![7u8];
        bytes.extend_from_slice(&3u32.to_be_bytes());
        bytes.extend_from_slice(b"abc");
        bytes.extend_from_slice(&9u64.to_be_bytes());
        let mut r = Reader::new(&bytes);
        assert_eq!(r.u8(), Ok(7));
        assert_eq!(r.prefixed(), Ok(&b"abc"[..]));
        assert_eq!(r.u64(), Ok(9));
        assert_eq!(r.finish(), Ok(()));

        let mut r = Reader::new(&bytes[..6]);
        r.u8().unwrap();
        assert_eq!(
            r.prefixed(),
            Err(WireError::Truncated {
                offset: 5,
                needed: 2
            })
        );

        let r = Reader::new(&bytes);
        assert_eq!(r.finish(), Err(WireError::TrailingBytes(bytes.len())));
    }

    #[test]
    fn huge_length_prefix_is_an_error_not_an_allocation() {
        let bytes = u32::MAX.to_be_bytes();
        let mut r = Reader::new(&bytes);
        assert!(matches!(r.prefixed(), Err(WireError::Truncated { .. })));
    }
}
