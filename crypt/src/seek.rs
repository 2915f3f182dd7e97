//! The seekable reader, for Range requests and players that seek: the plaintext length comes from
//! the file's length, any position maps to one chunk, and only that chunk is read and
//! authenticated (one chunk cached). Opening checks the last chunk, so a truncated file is refused
//! at once rather than at its end.

use crate::chunk::Cipher;
use crate::{Error, Header, Key, HEADER_LEN};
use std::io::{Read, Seek, SeekFrom};

pub struct SeekableReader<R: Read + Seek> {
    inner: R,
    header: Header,
    cipher: Cipher,
    len: u64,
    last: u64,
    cached: Option<u64>,
    buf: Vec<u8>,
    pos: u64,
}

impl<R: Read + Seek> SeekableReader<R> {
    pub fn new(mut inner: R, key: &Key) -> Result<SeekableReader<R>, Error> {
        inner.seek(SeekFrom::Start(0))?;
        let header = Header::read_from(&mut inner, Some(key))?;
        let file_len = inner.seek(SeekFrom::End(0))?;
        let cs = header.chunk_size as u64;
        let Some(len) = crate::plaintext_len(file_len, header.chunk_size) else {
            let body = file_len - HEADER_LEN as u64;
            let full = cs + crate::TAG_LEN as u64;
            return Err(Error::Truncated {
                chunks: body / full,
                plaintext: body / full * cs,
                dropped: body % full,
            });
        };
        let mut r = SeekableReader {
            cipher: Cipher::new(key, &header),
            header,
            inner,
            len,
            last: len / cs,
            cached: None,
            buf: Vec::new(),
            pos: 0,
        };
        r.load(r.last)?;
        Ok(r)
    }

    pub fn header(&self) -> &Header {
        &self.header
    }

    /// The plaintext's length.
    pub fn len(&self) -> u64 {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    fn load(&mut self, index: u64) -> Result<(), Error> {
        if self.cached == Some(index) {
            return Ok(());
        }
        self.cached = None;
        let last = index == self.last;
        let cs = self.header.chunk_size as u64;
        let plain = if last { self.len - index * cs } else { cs };
        self.buf.resize(plain as usize + crate::TAG_LEN, 0);
        let offset = self.cipher.offset(index);
        self.inner.seek(SeekFrom::Start(offset))?;
        self.inner.read_exact(&mut self.buf)?;
        if !self.cipher.open(index, last, &mut self.buf)? {
            return Err(Error::Corrupt { chunk: index, offset });
        }
        self.cached = Some(index);
        Ok(())
    }
}

impl<R: Read + Seek> Read for SeekableReader<R> {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        if self.pos >= self.len || out.is_empty() {
            return Ok(0);
        }
        let cs = self.header.chunk_size as u64;
        let index = self.pos / cs;
        self.load(index).map_err(Error::into_io)?;
        let at = (self.pos - index * cs) as usize;
        let n = out.len().min(self.buf.len() - at);
        out[..n].copy_from_slice(&self.buf[at..at + n]);
        self.pos += n as u64;
        Ok(n)
    }
}

impl<R: Read + Seek> Seek for SeekableReader<R> {
    fn seek(&mut self, to: SeekFrom) -> std::io::Result<u64> {
        self.pos = seek_target(self.pos, to, self.len)?;
        Ok(self.pos)
    }
}

/// Where a seek `to` lands from `pos` in a stream of `len` bytes, as `Seek` has it: past the end
/// is allowed (a read there gives nothing), before the start (or beyond u64) is InvalidInput.
/// Public for the server's reader over ranged store reads, which seeks the same way.
pub fn seek_target(pos: u64, to: SeekFrom, len: u64) -> std::io::Result<u64> {
    let target = match to {
        SeekFrom::Start(p) => Some(p),
        SeekFrom::End(d) => len.checked_add_signed(d),
        SeekFrom::Current(d) => pos.checked_add_signed(d),
    };
    target.ok_or_else(|| std::io::Error::new(std::io::ErrorKind::InvalidInput, "seek before the start"))
}
