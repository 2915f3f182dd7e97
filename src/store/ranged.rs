//! A stored file (one object, or several read back to back: `store::parts`) as a blocking
//! `Read + Seek` (for `localrecord_crypt::SeekableReader`, which maps a plaintext range to the
//! chunks holding it): each read past the window it holds fetches the next window with one ranged
//! read of the store (a window never spans two objects). Use it on a blocking thread only.

use super::parts::{self, Extent};
use super::Store;
use std::io::{Read, Seek, SeekFrom};

/// Bytes fetched per ranged read: 16 of the crypt format's default chunks.
const WINDOW: u64 = 1 << 20;

pub struct RangedReader {
    store: Store,
    parts: Vec<Extent>,
    /// The one object the parts are being composed into (see `Store::read_parts`).
    fallback: Option<String>,
    len: u64,
    pos: u64,
    window: bytes::Bytes,
    window_at: u64,
    rt: tokio::runtime::Handle,
}

impl RangedReader {
    /// The file made of `parts` (their sizes when the caller looked), or from the first failed
    /// read on, of `fallback`; `rt` runs the reads.
    pub fn new(store: Store, parts: Vec<Extent>, fallback: Option<String>, rt: tokio::runtime::Handle) -> RangedReader {
        RangedReader {
            store,
            len: parts::total(&parts),
            parts,
            fallback,
            pos: 0,
            window: bytes::Bytes::new(),
            window_at: 0,
            rt,
        }
    }

    fn fetch(&mut self) -> std::io::Result<()> {
        match self.fetch_from_parts() {
            Err(_) if self.fallback.is_some() => {
                let key = self.fallback.take().expect("checked");
                self.parts = vec![Extent { key, len: self.len }];
                self.fetch_from_parts()
            }
            r => r,
        }
    }

    fn fetch_from_parts(&mut self) -> std::io::Result<()> {
        let want = self.pos..(self.pos + WINDOW).min(self.len);
        let Some((i, range)) = parts::locate(&self.parts, want).into_iter().next() else {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        };
        let mut buf = bytes::BytesMut::with_capacity((range.end - range.start) as usize);
        self.rt
            .block_on(self.store.read_into(&self.parts[i].key, range, &mut buf))
            .map_err(std::io::Error::other)?;
        self.window = buf.freeze();
        self.window_at = self.pos;
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
