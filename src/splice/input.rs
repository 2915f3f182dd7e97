//! Opening a slice, which is untrusted input. FFmpeg would otherwise pick any of its formats by
//! probing the content (an uploaded HLS playlist names other files and absurd durations; other
//! formats reach network and nested-file protocols). Here: the FLV demuxer is forced (no probing),
//! only the `file` protocol is allowed, stream analysis is bounded, and an interrupt callback ends
//! any blocking read once the job is cancelled.
//!
//! An encrypted slice (issue 14) is read the same way through FFmpeg's custom IO: a
//! `localrecord_crypt::SeekableReader` over the file decrypts and authenticates chunk by chunk in
//! memory, so its plaintext never reaches the disk. A slice cut by a crash (no final chunk) is read
//! with the streaming `DecryptReader` up to its last whole chunk, as a cut plain slice is read up to
//! its cut.

use crate::progress::Progress;
use ffmpeg::format::context::{Input, StreamIo};
use ffmpeg::util::interrupt;
use ffmpeg::{ffi, Dictionary};
use ffmpeg_next as ffmpeg;
use localrecord_crypt::{DecryptReader, Key, SeekableReader};
use std::ffi::CString;
use std::io::{Read, Seek, SeekFrom};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

/// Bytes FFmpeg may read to learn the streams' parameters (the first keyframe of a 4K slice fits).
const PROBE_BYTES: &str = "4000000";
/// Microseconds of media it may analyse for the same purpose.
const ANALYZE_US: &str = "5000000";

/// Opens a slice: plain (`key` None) or encrypted with `key`. Err says why it cannot be read.
pub fn open_slice(path: &Path, key: Option<&Key>, progress: &Progress) -> Result<Input, String> {
    match key {
        None => open_flv(path, progress).map_err(|e| format!("unreadable as FLV: {e}")),
        Some(key) => open_sealed(path, key, progress),
    }
}

/// Opens `path` as FLV, or fails; a cancelled `progress` interrupts every read.
pub fn open_flv(path: &Path, progress: &Progress) -> Result<Input, ffmpeg::Error> {
    if std::fs::metadata(path).map(|m| m.len()).unwrap_or(0) == 0 {
        return Err(ffmpeg::Error::Eof);
    }
    // "file:" makes the path a path, whatever it starts with ("concat:", "http:" ...).
    let mut url = b"file:".to_vec();
    url.extend_from_slice(path.as_os_str().as_bytes());
    let url = CString::new(url).map_err(|_| ffmpeg::Error::InvalidData)?;
    open_forced(&url, None, progress)
}

/// Opens the encrypted slice at `path` with `key` as FLV, decrypting in memory.
fn open_sealed(path: &Path, key: &Key, progress: &Progress) -> Result<Input, String> {
    use localrecord_crypt::Error as E;
    let open = || std::fs::File::open(path).map_err(|e| format!("cannot open: {e}"));
    let io = match SeekableReader::new(open()?, key) {
        Ok(r) => StreamIo::from_read_seek(Watched::new(r, path, progress)),
        Err(E::Truncated { .. }) => {
            // Cut by a crash: its whole chunks, read in order, then the end.
            let r = DecryptReader::new(open()?, key).map_err(|e| format!("cannot decrypt: {e}"))?;
            StreamIo::from_read(Watched::new(r, path, progress))
        }
        Err(e) => return Err(format!("cannot decrypt: {e}")),
    };
    let io = io.map_err(|e| format!("cannot decrypt: {e}"))?;
    open_forced(c"slice.flv", Some(io), progress).map_err(|e| format!("unreadable as FLV once decrypted: {e}"))
}

/// A decrypting reader as FFmpeg's IO: stops once the job is cancelled, and logs why a read
/// failed (FFmpeg only keeps an errno).
struct Watched<R> {
    inner: R,
    path: std::path::PathBuf,
    progress: Progress,
}

impl<R> Watched<R> {
    fn new(inner: R, path: &Path, progress: &Progress) -> Watched<R> {
        Watched {
            inner,
            path: path.to_owned(),
            progress: progress.clone(),
        }
    }
}

impl<R: Read> Read for Watched<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.progress.cancelled() {
            return Err(std::io::Error::other("cancelled"));
        }
        self.inner.read(buf).inspect_err(|e| {
            tracing::warn!(slice = %self.path.display(), error = %e, "encrypted slice: read stopped");
        })
    }
}

impl<R: Seek> Seek for Watched<R> {
    fn seek(&mut self, to: SeekFrom) -> std::io::Result<u64> {
        self.inner.seek(to)
    }
}

/// avformat_open_input with the FLV demuxer forced, on `url` through the file protocol, or on
/// the custom IO `io` (then `url` only names it).
fn open_forced(url: &std::ffi::CStr, io: Option<StreamIo>, progress: &Progress) -> Result<Input, ffmpeg::Error> {
    let mut io = io;
    let mut opts = Dictionary::new();
    opts.set("protocol_whitelist", "file");
    opts.set("probesize", PROBE_BYTES);
    opts.set("analyzeduration", ANALYZE_US);
    let watched = progress.clone();
    let interrupt = interrupt::new(Box::new(move || watched.cancelled()));
    // SAFETY: the FFmpeg calls below follow avformat_open_input's contract: `ps` is freshly
    // allocated (and freed by avformat_open_input itself on failure), the options dictionary is
    // handed over and taken back, and a context that opened is closed on every later failure or
    // owned by the returned Input, together with the interrupt closure it calls and the custom IO
    // it reads through (which AVFMT_FLAG_CUSTOM_IO keeps FFmpeg from freeing: `io` outlives it).
    unsafe {
        let fmt = ffi::av_find_input_format(c"flv".as_ptr());
        if fmt.is_null() {
            return Err(ffmpeg::Error::DemuxerNotFound);
        }
        let mut ps = ffi::avformat_alloc_context();
        if ps.is_null() {
            return Err(ffmpeg::Error::Other {
                errno: ffmpeg::util::error::ENOMEM,
            });
        }
        (*ps).interrupt_callback = interrupt.interrupt;
        if let Some(io) = io.as_mut() {
            (*ps).pb = io.as_mut_ptr();
            (*ps).flags |= ffi::AVFMT_FLAG_CUSTOM_IO;
        }
        let mut raw = opts.disown();
        let r = ffi::avformat_open_input(&mut ps, url.as_ptr(), fmt, &mut raw);
        Dictionary::own(raw);
        if r < 0 {
            return Err(ffmpeg::Error::from(r));
        }
        let r = ffi::avformat_find_stream_info(ps, std::ptr::null_mut());
        if r < 0 {
            ffi::avformat_close_input(&mut ps);
            return Err(ffmpeg::Error::from(r));
        }
        Ok(match io {
            Some(io) => Input::wrap_with_custom_io_and_interrupt(ps, io, interrupt.guard),
            None => Input::wrap_with_interrupt(ps, interrupt.guard),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, name: &str, bytes: &[u8]) -> std::path::PathBuf {
        let p = dir.join(name);
        std::fs::write(&p, bytes).unwrap();
        p
    }

    #[test]
    fn only_flv_opens_and_nothing_else_is_followed() {
        super::super::remux::init();
        let dir = tempfile::tempdir().unwrap();
        let p = Progress::new();
        let playlist = write(
            dir.path(),
            "0.flv",
            b"#EXTM3U\n#EXT-X-TARGETDURATION:100000000\n#EXTINF:100000000,\nmissing.ts\n",
        );
        assert!(open_flv(&playlist, &p).is_err(), "a playlist is not FLV");
        let concat = write(dir.path(), "1.flv", b"ffconcat version 1.0\nfile /etc/passwd\n");
        assert!(open_flv(&concat, &p).is_err());
        assert!(open_flv(&write(dir.path(), "2.flv", b""), &p).is_err(), "empty");
        // A path that reads like a protocol is still a (missing) file.
        assert!(open_flv(Path::new("http://127.0.0.1:9/x.flv"), &p).is_err());
    }
}
