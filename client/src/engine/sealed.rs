//! Encrypted FLV files (issue 14): the muxer writes through a custom AVIO context into a
//! `localrecord_crypt::EncryptWriter`, so no plaintext byte of a slice or DstPath reaches the disk.
//! Each muxed packet is flushed into the writer (`flush_packets`), which seals a chunk as soon as it
//! fills: a killed recorder leaves every whole chunk decryptable and loses at most the last
//! [`CHUNK_SIZE`] bytes of plaintext. The stream is not seekable, so the muxer does not go back to
//! write the duration into the FLV header (nothing here trusts that field anyway).

use localrecord_crypt::{DecryptReader, EncryptWriter, Key};
use std::fs::File;
use std::io::Write;
use std::path::Path;
use std::sync::{Arc, Mutex};

use ffmpeg_next as ffmpeg;

/// Plaintext bytes per chunk in the recorder's files: at most this much is lost to a crash.
pub const CHUNK_SIZE: u32 = 16 * 1024;

type Slot = Arc<Mutex<Option<EncryptWriter<File>>>>;

/// The writer, shared between the AVIO context (which FFmpeg owns) and [`Sealed::finish`].
#[derive(Clone)]
struct Shared(Slot);

impl Write for Shared {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        match self.0.lock().expect("sealed writer").as_mut() {
            Some(w) => w.write(b),
            None => Err(std::io::ErrorKind::BrokenPipe.into()),
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        match self.0.lock().expect("sealed writer").as_mut() {
            Some(w) => w.flush(),
            None => Ok(()),
        }
    }
}

/// The end of an encrypted output: finishing seals the last chunk.
pub struct Sealed(Slot);

impl Sealed {
    /// Call after the muxer's trailer and after dropping the output context (which hands its last
    /// buffered bytes to the writer).
    pub fn finish(self) -> std::io::Result<File> {
        let w = self.0.lock().expect("sealed writer").take();
        let w = w.ok_or_else(|| std::io::Error::other("encrypted output finished twice"))?;
        w.finish().map_err(localrecord_crypt::Error::into_io_error)
    }
}

/// An FLV muxer writing `path` encrypted with `key` (the file is created or truncated).
pub fn create(path: &Path, key: &Key) -> std::io::Result<(ffmpeg::format::context::Output, Sealed)> {
    let file = File::create(path)?;
    let w = EncryptWriter::new(file, key, CHUNK_SIZE).map_err(localrecord_crypt::Error::into_io_error)?;
    let slot: Slot = Arc::new(Mutex::new(Some(w)));
    let io = ffmpeg::format::context::StreamIo::from_write(Shared(slot.clone())).map_err(std::io::Error::other)?;
    let octx = ffmpeg::format::output_to_stream(io, None, Some("flv")).map_err(std::io::Error::other)?;
    Ok((octx, Sealed(slot)))
}

/// Whether the file at `path` is in the encrypted format.
pub fn is_sealed(path: &Path) -> bool {
    let mut start = [0u8; 8];
    File::open(path)
        .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut start))
        .is_ok_and(|()| localrecord_crypt::is_encrypted(&start))
}

/// An encrypted FLV opened for demuxing, decrypted as it is read (a truncated file reads up to
/// its last whole chunk, then ends).
pub fn input(path: &Path, key: &Key) -> std::io::Result<ffmpeg::format::context::Input> {
    let r = DecryptReader::new(File::open(path)?, key).map_err(localrecord_crypt::Error::into_io_error)?;
    let io = ffmpeg::format::context::StreamIo::from_read(r).map_err(std::io::Error::other)?;
    ffmpeg::format::input_from_stream(io, Some("slice.flv"), None).map_err(std::io::Error::other)
}

/// Makes a file a crash cut complete again: its whole chunks are re-encrypted (fresh nonce prefix)
/// into a sealed file that replaces it. No plaintext touches the disk. Returns the plaintext
/// bytes kept.
pub fn reseal(path: &Path, key: &Key) -> std::io::Result<u64> {
    let tmp = path.with_extension("reseal");
    let kept = copy_prefix(path, &tmp, key);
    if kept.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    let kept = kept?;
    std::fs::rename(&tmp, path)?;
    crate::durable::sync_dir(path.parent().unwrap_or(Path::new(".")))?;
    Ok(kept)
}

fn copy_prefix(from: &Path, to: &Path, key: &Key) -> std::io::Result<u64> {
    use localrecord_crypt::Error as E;
    let mut r = DecryptReader::new(File::open(from)?, key).map_err(E::into_io_error)?;
    let mut w = EncryptWriter::new(File::create(to)?, key, CHUNK_SIZE).map_err(E::into_io_error)?;
    match std::io::copy(&mut r, &mut w) {
        Ok(_) => {}
        Err(e) if matches!(E::from_io(&e), Some(E::Truncated { .. })) => {}
        Err(e) => return Err(e),
    }
    w.finish().map_err(E::into_io_error)?.sync_all()?;
    Ok(r.authenticated())
}
