//! The encrypted MP4 (issue 14), index at the front, in one sequential pass: an encrypted file
//! cannot be written back into (a rewritten chunk would reuse its nonce), so the media goes into an
//! encrypted body next to the output while the splice runs; at the end the index is computed from
//! the sample tables, and the output is written front to back into a new `EncryptWriter`: `ftyp`,
//! `moov`, the `mdat` header, then the body's plaintext, decrypted chunk by chunk in memory. No
//! plaintext byte reaches the disk; the body is removed once the output is complete.

use super::writer::exact_head;
use super::{mdat_header, Track};
use localrecord_crypt::{DecryptReader, EncryptWriter, Key, DEFAULT_CHUNK_SIZE};
use std::fs::File;
use std::io::{Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

/// The media of an encrypted output, sealed as it is written.
pub(crate) struct SealedBody {
    w: EncryptWriter<File>,
    path: PathBuf,
    key: Key,
}

fn crypt(e: localrecord_crypt::Error) -> std::io::Error {
    e.into_io_error()
}

impl SealedBody {
    /// A new body beside `output` (`<output>.body`).
    pub(crate) fn create(output: &Path, key: &Key) -> std::io::Result<SealedBody> {
        let path = output.with_extension("body");
        let f = File::options()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(&path)?;
        Ok(SealedBody {
            w: EncryptWriter::new(f, key, DEFAULT_CHUNK_SIZE).map_err(crypt)?,
            path,
            key: key.clone(),
        })
    }

    pub(crate) fn write_all(&mut self, b: &[u8]) -> std::io::Result<()> {
        self.w.write_all(b)
    }

    /// Writes the encrypted MP4 at `output` for `tracks` (sample offsets from the body's start,
    /// `payload` bytes of it) and removes the body. Returns the output's size on disk.
    pub(crate) fn finish(self, output: &Path, tracks: &[Track], payload: u64) -> std::io::Result<u64> {
        let SealedBody { w, path, key } = self;
        let done = w
            .finish()
            .map_err(crypt)
            .and_then(|body| write_output(body, &key, output, tracks, payload));
        std::fs::remove_file(&path).ok();
        done
    }
}

fn write_output(mut body: File, key: &Key, output: &Path, tracks: &[Track], payload: u64) -> std::io::Result<u64> {
    body.seek(SeekFrom::Start(0))?;
    let (mut h, _) = exact_head(tracks, 0);
    h.extend(mdat_header(payload));
    let mut out = EncryptWriter::new(File::create(output)?, key, DEFAULT_CHUNK_SIZE).map_err(crypt)?;
    out.write_all(&h)?;
    let mut plain = DecryptReader::new(body, key).map_err(crypt)?;
    let copied = std::io::copy(&mut plain, &mut out)?;
    if copied != payload {
        return Err(std::io::Error::other(format!(
            "the encrypted body held {copied} bytes, not {payload}"
        )));
    }
    let f = out.finish().map_err(crypt)?;
    f.sync_data()?;
    f.metadata().map(|m| m.len())
}
