//! The streaming reader: decrypts chunk by chunk, handing out a chunk's plaintext only once it has
//! authenticated. Memory: one chunk. A file that ends without its last chunk gives every whole
//! chunk, then [`Error::Truncated`]; a changed or misplaced chunk with more data after it gives
//! [`Error::Corrupt`]. After an error every further read fails.

use crate::chunk::Cipher;
use crate::{Error, Header, Key};
use std::io::Read;

pub struct DecryptReader<R: Read> {
    inner: R,
    header: Header,
    cipher: Cipher,
    buf: Vec<u8>,
    pos: usize,
    index: u64,
    plaintext: u64,
    state: State,
}

#[derive(PartialEq)]
enum State {
    Reading,
    Done,
    Failed,
}

impl<R: Read> DecryptReader<R> {
    /// Reads the header; fails if it is not this format or names another key.
    pub fn new(mut inner: R, key: &Key) -> Result<DecryptReader<R>, Error> {
        let header = Header::read_from(&mut inner, Some(key))?;
        Ok(DecryptReader {
            cipher: Cipher::new(key, &header),
            buf: Vec::with_capacity(header.chunk_size as usize + crate::TAG_LEN),
            header,
            inner,
            pos: 0,
            index: 0,
            plaintext: 0,
            state: State::Reading,
        })
    }

    pub fn header(&self) -> &Header {
        &self.header
    }

    /// Plaintext bytes authenticated so far.
    pub fn authenticated(&self) -> u64 {
        self.plaintext
    }

    /// Reads and opens the next chunk into `buf`.
    fn next_chunk(&mut self) -> Result<(), Error> {
        let full = self.cipher.sealed_len();
        self.buf.resize(full, 0);
        let got = read_full(&mut self.inner, &mut self.buf)?;
        self.buf.truncate(got);
        let last = got < full;
        let truncated = |dropped: usize, s: &Self| Error::Truncated {
            chunks: s.index,
            plaintext: s.plaintext,
            dropped: dropped as u64,
        };
        if !self.cipher.open(self.index, last, &mut self.buf)? {
            // A damaged chunk at the very end is what a crash mid-write leaves: truncated.
            let at_end = last || read_full(&mut self.inner, &mut [0u8; 1])? == 0;
            return Err(if at_end {
                truncated(got, self)
            } else {
                Error::Corrupt {
                    chunk: self.index,
                    offset: self.cipher.offset(self.index),
                }
            });
        }
        self.index += 1;
        self.plaintext += self.buf.len() as u64;
        self.pos = 0;
        if last {
            self.state = State::Done;
        }
        Ok(())
    }
}

impl<R: Read> Read for DecryptReader<R> {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        while self.pos == self.buf.len() {
            match self.state {
                State::Done => return Ok(0),
                State::Failed => return Err(std::io::Error::other("read after a decryption error")),
                State::Reading => {
                    if let Err(e) = self.next_chunk() {
                        self.state = State::Failed;
                        self.buf.clear();
                        self.pos = 0;
                        return Err(e.into_io());
                    }
                }
            }
        }
        let n = out.len().min(self.buf.len() - self.pos);
        out[..n].copy_from_slice(&self.buf[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

/// Reads until `buf` is full or the input ends; returns the bytes read.
pub(crate) fn read_full(r: &mut impl Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}
