//! Where an output's muxer writes: its own file, opened by us (never by FFmpeg) so that an
//! existing file is refused rather than truncated (`O_EXCL`), the first I/O error is kept with its
//! errno (ENOSPC tells "disk full" from other write errors), and a second handle can fsync and
//! size the file while FFmpeg owns the writer. Encrypted outputs go through
//! `localrecord_crypt::EncryptWriter`, so no plaintext byte reaches the disk.

use super::super::types::{err, CrError};
use ffmpeg::format::context::StreamIo;
use ffmpeg_next as ffmpeg;
use localrecord_crypt::{EncryptWriter, Key};
use std::fs::File;
use std::io::{Seek, SeekFrom, Write};
use std::path::Path;
use std::sync::{Arc, Mutex};

/// The first errno a write hit (0: none yet).
type ErrSlot = Arc<Mutex<i32>>;

type Sealed = Arc<Mutex<Option<EncryptWriter<File>>>>;

/// FFmpeg's buffer before our writer: large enough that a packet or an mp4 fragment (each
/// flushed at once) is one `write` call, so a kill does not cut one in the middle.
const BUFFER: usize = 1 << 20;

/// What stays with the output while FFmpeg owns the writer.
pub struct Handle {
    /// A second descriptor of the same file: fsync and size.
    file: File,
    errno: ErrSlot,
    sealed: Option<Sealed>,
}

/// Creates `path` (refusing an existing one) and the FFmpeg I/O context writing it; encrypted
/// with `key` when given (then not seekable).
pub fn create(path: &Path, key: Option<&Key>) -> Result<(StreamIo, Handle), CrError> {
    let file = File::options()
        .write(true)
        .create_new(true)
        .open(path)
        .map_err(|e| open_error(path, &e))?;
    let file2 = file.try_clone().map_err(|e| open_error(path, &e))?;
    let errno = ErrSlot::default();
    let (io, sealed) = match key {
        None => (
            StreamIo::from_write_seek_with_capacity(Plain(file, errno.clone()), BUFFER),
            None,
        ),
        Some(k) => {
            let w = EncryptWriter::new(file, k, crate::engine::sealed::CHUNK_SIZE)
                .map_err(|e| open_error(path, &e.into_io_error()))?;
            let slot: Sealed = Arc::new(Mutex::new(Some(w)));
            (
                StreamIo::from_write_with_capacity(Shared(slot.clone(), errno.clone()), BUFFER),
                Some(slot),
            )
        }
    };
    let io = io.map_err(|e| CrError::new(err::INNER_ERR, format!("FFmpeg I/O context: {e}")))?;
    let handle = Handle {
        file: file2,
        errno,
        sealed,
    };
    Ok((io, handle))
}

/// The code for a file that could not be created.
fn open_error(path: &Path, e: &std::io::Error) -> CrError {
    let code = match e.kind() {
        std::io::ErrorKind::AlreadyExists => err::FILE_ALREADY_EXIST,
        _ if is_no_space(e.raw_os_error().unwrap_or(0)) => err::RECORD_NO_DISK,
        _ => err::FILE_WRITE_ERR,
    };
    CrError::new(code, format!("cannot create {}: {e}", path.display()))
}

fn is_no_space(errno: i32) -> bool {
    errno == libc::ENOSPC || errno == libc::EDQUOT
}

/// The code for FFmpeg's own write error (a file it opened itself).
pub fn ffmpeg_code(e: &ffmpeg::Error) -> i64 {
    match e {
        ffmpeg::Error::Other { errno } if is_no_space(*errno) => err::RECORD_NO_DISK,
        _ => err::FILE_WRITE_ERR,
    }
}

/// The code for a failed write, fsync or finish: RECORD_NO_DISK for a full disk or quota.
pub fn io_error(e: &std::io::Error, what: &str) -> CrError {
    let code = if is_no_space(e.raw_os_error().unwrap_or(0)) {
        err::RECORD_NO_DISK
    } else {
        err::FILE_WRITE_ERR
    };
    CrError::new(code, format!("{what}: {e}"))
}

impl Handle {
    /// Bytes on disk now.
    pub fn size(&self) -> u64 {
        self.file.metadata().map(|m| m.len()).unwrap_or(0)
    }

    pub fn sync(&self) -> std::io::Result<()> {
        self.file.sync_data()
    }

    /// The code for a failed write: the errno our writer saw, else FFmpeg's.
    pub fn write_error(&self, e: &ffmpeg::Error, what: &str) -> CrError {
        let seen = *self.errno.lock().expect("errno slot");
        let ff = match e {
            ffmpeg::Error::Other { errno } => *errno,
            _ => 0,
        };
        let code = if is_no_space(seen) || is_no_space(ff) {
            err::RECORD_NO_DISK
        } else {
            err::FILE_WRITE_ERR
        };
        CrError::new(code, format!("{what}: {e}"))
    }

    /// The code for a muxer that would not start: a write error as such, else the muxer refused
    /// the mixer's streams (INNER_ERR).
    pub fn header_error(&self, e: &ffmpeg::Error, what: &str) -> CrError {
        if *self.errno.lock().expect("errno slot") != 0 {
            return self.write_error(e, what);
        }
        CrError::new(err::INNER_ERR, format!("{what}: the muxer refused the streams: {e}"))
    }

    /// Removes the file this handle created (an output refused after its file was made).
    pub fn discard(self, path: &Path) {
        drop(self);
        let _ = std::fs::remove_file(path);
    }

    /// After the muxer's trailer and after dropping its context: seals the last encrypted chunk
    /// and fsyncs. Returns the size on disk.
    pub fn finish(self) -> std::io::Result<u64> {
        if let Some(slot) = &self.sealed {
            let w = slot.lock().expect("sealed writer").take();
            if let Some(w) = w {
                w.finish().map_err(localrecord_crypt::Error::into_io_error)?;
            }
        }
        let seen = *self.errno.lock().expect("errno slot");
        if seen != 0 {
            return Err(std::io::Error::from_raw_os_error(seen));
        }
        self.file.sync_all()?;
        Ok(self.size())
    }
}

fn keep(slot: &ErrSlot, r: std::io::Result<usize>) -> std::io::Result<usize> {
    if let Err(e) = &r {
        let mut s = slot.lock().expect("errno slot");
        if *s == 0 {
            *s = e.raw_os_error().unwrap_or(libc::EIO);
        }
    }
    r
}

struct Plain(File, ErrSlot);

impl Write for Plain {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        let r = self.0.write(b);
        keep(&self.1, r)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Seek for Plain {
    fn seek(&mut self, pos: SeekFrom) -> std::io::Result<u64> {
        self.0.seek(pos)
    }
}

/// The encrypting writer, shared with [`Handle::finish`] (FFmpeg owns this end).
struct Shared(Sealed, ErrSlot);

impl Write for Shared {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        let r = match self.0.lock().expect("sealed writer").as_mut() {
            Some(w) => w.write(b),
            None => Err(std::io::ErrorKind::BrokenPipe.into()),
        };
        keep(&self.1, r)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}
