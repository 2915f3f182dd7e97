//! The streaming writer: buffers one chunk of plaintext, writes each chunk sealed as soon as it
//! is full, and the last one on [`EncryptWriter::finish`]. Dropped without `finish` (a crash), it
//! leaves a truncated file whose whole chunks still decrypt; at most one chunk of plaintext (the
//! one being filled) is lost. Memory: two chunks.

use crate::chunk::Cipher;
use crate::{Error, Header, Key};
use std::io::Write;

pub struct EncryptWriter<W: Write> {
    inner: W,
    cipher: Cipher,
    buf: Vec<u8>,
    index: u64,
    written: u64,
}

impl<W: Write> EncryptWriter<W> {
    /// Writes the header to `inner` at once; then every `write` is encrypted.
    pub fn new(mut inner: W, key: &Key, chunk_size: u32) -> Result<EncryptWriter<W>, Error> {
        let header = Header::new(key, chunk_size)?;
        inner.write_all(&header.to_bytes())?;
        Ok(EncryptWriter {
            inner,
            cipher: Cipher::new(key, &header),
            buf: Vec::with_capacity(chunk_size as usize + crate::TAG_LEN),
            index: 0,
            written: crate::HEADER_LEN as u64,
        })
    }

    fn seal_and_write(&mut self, last: bool) -> Result<(), Error> {
        self.cipher.seal(self.index, last, &mut self.buf)?;
        self.inner.write_all(&self.buf)?;
        self.written += self.buf.len() as u64;
        self.buf.clear();
        self.index += 1;
        Ok(())
    }

    /// Bytes handed to the inner writer so far (header and sealed chunks).
    pub fn written(&self) -> u64 {
        self.written
    }

    /// Whole chunks written so far (the authentic prefix a crash would leave).
    pub fn chunks(&self) -> u64 {
        self.index
    }

    /// Seals the last chunk, flushes, and gives the inner writer back.
    pub fn finish(mut self) -> Result<W, Error> {
        self.seal_and_write(true)?;
        self.inner.flush()?;
        Ok(self.inner)
    }

    pub fn get_ref(&self) -> &W {
        &self.inner
    }
}

impl<W: Write> Write for EncryptWriter<W> {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        let room = self.cipher.chunk_size as usize - self.buf.len();
        let n = data.len().min(room);
        self.buf.extend_from_slice(&data[..n]);
        if self.buf.len() == self.cipher.chunk_size as usize {
            self.seal_and_write(false).map_err(Error::into_io)?;
        }
        Ok(n)
    }

    /// Flushes the sealed chunks; the partial chunk being filled stays in memory (a chunk is sealed
    /// only when full, or by `finish`).
    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}
