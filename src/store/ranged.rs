//! A stored object as a blocking `Read + Seek` (for `localrecord_crypt::SeekableReader`, which maps
//! a plaintext range to the chunks holding it): each read past the window it holds fetches the
//! next window with one ranged read of the store. Use it on a blocking thread only.

use super::Store;
use futures::TryStreamExt;
use std::io::{Read, Seek, SeekFrom};

/// Bytes fetched per ranged read: 16 of the crypt format's default chunks.
const WINDOW: u64 = 1 << 20;

pub struct RangedReader {
    store: Store,
    key: String,
    len: u64,
    pos: u64,
    window: bytes::Bytes,
    window_at: u64,
    rt: tokio::runtime::Handle,
}

impl RangedReader {
    /// The object at `key`, of `len` bytes (its size when the caller looked); `rt` runs the reads.
    pub fn new(store: Store, key: &str, len: u64, rt: tokio::runtime::Handle) -> RangedReader {
        RangedReader {
            store,
            key: key.to_owned(),
            len,
            pos: 0,
            window: bytes::Bytes::new(),
            window_at: 0,
            rt,
        }
    }

    fn fetch(&mut self) -> std::io::Result<()> {
        let range = self.pos..(self.pos + WINDOW).min(self.len);
        let (store, key) = (&self.store, &self.key);
        let got = self.rt.block_on(async {
            let mut s = store
                .read_stream(key, range.clone())
                .await
                .map_err(std::io::Error::other)?;
            let mut buf = bytes::BytesMut::with_capacity((range.end - range.start) as usize);
            while let Some(b) = s.try_next().await? {
                buf.extend_from_slice(&b);
            }
            Ok::<_, std::io::Error>(buf.freeze())
        })?;
        if got.len() as u64 != range.end - range.start {
            return Err(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                format!("the stored object {} is shorter than it was", self.key),
            ));
        }
        self.window = got;
        self.window_at = range.start;
        Ok(())
    }
}

impl Read for RangedReader {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        if self.pos >= self.len || out.is_empty() {
            return Ok(0);
        }
        let end = self.window_at + self.window.len() as u64;
        if !(self.window_at..end).contains(&self.pos) {
            self.fetch()?;
        }
        let at = (self.pos - self.window_at) as usize;
        let n = out.len().min(self.window.len() - at);
        out[..n].copy_from_slice(&self.window[at..at + n]);
        self.pos += n as u64;
        Ok(n)
    }
}

impl Seek for RangedReader {
    fn seek(&mut self, to: SeekFrom) -> std::io::Result<u64> {
        self.pos = localrecord_crypt::seek_target(self.pos, to, self.len)?;
        Ok(self.pos)
    }
}
