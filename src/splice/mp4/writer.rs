//! Writes an MP4 with its index at the front in one pass over the media: the payload goes straight
//! to its final place after a reserved room, and the index is written into that room at the end.
//! Should the index outgrow the room (the estimate is generous, so only on odd inputs), the
//! payload is moved once with `copy_file_range` (in the kernel, no copy through user space).
//!
//! An encrypted output (issue 14) cannot be written back into: its media goes to an encrypted body
//! instead, and the finished file is written front to back from it (see `sealed`).
//!
//! Packets of one track are gathered into chunks of about half a second (or 1 MiB) so that the
//! index stays small and players read each track in runs; at most that much is held in memory.

use super::sealed::SealedBody;
use super::{free, ftyp, mdat_header, moov, Codec, Sample, Track};
use std::fs::File;
use std::io::{Seek, SeekFrom, Write};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

const CHUNK_BYTES: usize = 1 << 20;

struct Pending {
    buf: Vec<u8>,
    samples: Vec<Sample>,
}

/// Where the media goes as it is written.
enum Out {
    /// The output itself, from `room` on.
    Plain(File),
    /// An encrypted body, from 0 on (`room` is 0).
    Sealed(Box<SealedBody>),
}

pub struct Mp4Writer {
    path: PathBuf,
    out: Out,
    room: u64,
    pos: u64,
    tracks: Vec<Track>,
    pending: Vec<Pending>,
}

impl Mp4Writer {
    /// An output at `path` for tracks of these codecs and timescales, with `room` bytes kept for
    /// the header and index.
    pub fn create(path: &Path, tracks: Vec<(Codec, u32)>, room: u64) -> std::io::Result<Mp4Writer> {
        // Read as well as write: a fallback copies the payload out of it.
        let mut file = File::options()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(path)?;
        file.seek(SeekFrom::Start(room))?;
        Ok(Mp4Writer::with(path, Out::Plain(file), tracks, room))
    }

    /// An encrypted output at `path` (made by [`Mp4Writer::finish`]), sealed with `key`: no byte
    /// of it, nor of the body it is made from, is plaintext on disk.
    pub fn create_sealed(
        path: &Path,
        tracks: Vec<(Codec, u32)>,
        key: &localrecord_crypt::Key,
    ) -> std::io::Result<Mp4Writer> {
        let body = SealedBody::create(path, key)?;
        Ok(Mp4Writer::with(path, Out::Sealed(Box::new(body)), tracks, 0))
    }

    fn with(path: &Path, out: Out, tracks: Vec<(Codec, u32)>, room: u64) -> Mp4Writer {
        let pending = tracks
            .iter()
            .map(|_| Pending {
                buf: Vec::new(),
                samples: Vec::new(),
            })
            .collect();
        let tracks = tracks
            .into_iter()
            .map(|(codec, timescale)| Track {
                timescale,
                codec,
                samples: Vec::new(),
            })
            .collect();
        Mp4Writer {
            path: path.to_owned(),
            out,
            room,
            pos: room,
            tracks,
            pending,
        }
    }

    /// One packet of `track`, times in that track's timescale; decode times must increase.
    pub fn write(
        &mut self,
        track: usize,
        data: &[u8],
        dts: i64,
        pts: i64,
        duration: i64,
        sync: bool,
    ) -> std::io::Result<()> {
        let half_second = self.tracks[track].timescale as i64 / 2;
        let p = &mut self.pending[track];
        p.samples.push(Sample {
            offset: p.buf.len() as u64,
            size: data.len() as u32,
            dts,
            cts: (pts - dts).clamp(0, u32::MAX as i64) as u32,
            duration: duration.clamp(0, u32::MAX as i64) as u32,
            sync,
        });
        p.buf.extend_from_slice(data);
        let span = dts - p.samples[0].dts;
        if p.buf.len() >= CHUNK_BYTES || span >= half_second {
            self.flush(track)?;
        }
        Ok(())
    }

    fn flush(&mut self, track: usize) -> std::io::Result<()> {
        let p = &mut self.pending[track];
        if p.samples.is_empty() {
            return Ok(());
        }
        match &mut self.out {
            Out::Plain(f) => f.write_all(&p.buf)?,
            Out::Sealed(b) => b.write_all(&p.buf)?,
        }
        let base = self.pos;
        self.pos += p.buf.len() as u64;
        p.buf.clear();
        self.tracks[track].samples.extend(p.samples.drain(..).map(|s| Sample {
            offset: base + s.offset,
            ..s
        }));
        Ok(())
    }

    /// Samples written so far to `track` (flushed or not).
    pub fn samples(&self, track: usize) -> usize {
        self.tracks[track].samples.len() + self.pending[track].samples.len()
    }

    /// Writes the index; returns the file's size. Tracks without samples are left out.
    pub fn finish(mut self) -> std::io::Result<u64> {
        for t in 0..self.tracks.len() {
            self.flush(t)?;
        }
        self.tracks.retain(|t| !t.samples.is_empty());
        for t in &mut self.tracks {
            t.settle_durations();
        }
        let payload = self.pos - self.room;
        let file = match self.out {
            Out::Plain(f) => f,
            Out::Sealed(body) => return body.finish(&self.path, &self.tracks, payload),
        };
        Mp4Writer::finish_plain(file, &self.path, self.room, self.tracks, payload)
    }

    fn finish_plain(mut file: File, path: &Path, room: u64, tracks: Vec<Track>, payload: u64) -> std::io::Result<u64> {
        let mut h = head(&tracks);
        let fits = h.len() as u64 + 16 == room || h.len() as u64 + 16 + 8 <= room;
        if fits {
            let gap = room - h.len() as u64 - 16;
            if gap > 0 {
                h.extend(free(gap as usize));
            }
            h.extend(mdat_header(payload));
            file.seek(SeekFrom::Start(0))?;
            file.write_all(&h)?;
            file.sync_data()?;
            return Ok(room + payload);
        }
        // The index outgrew the room: shift the payload to just after the exact header.
        let (mut h, _) = exact_head(&tracks, room);
        let start = h.len() as u64;
        h.extend(mdat_header(payload));
        let tmp = path.with_extension("reindex");
        let mut out = File::create(&tmp)?;
        out.write_all(&h)?;
        copy_range(&file, room, &out, start + 16, payload)?;
        out.sync_data()?;
        std::fs::rename(&tmp, path)?;
        Ok(start + 16 + payload)
    }
}

/// `ftyp` and `moov` for these tracks.
fn head(tracks: &[Track]) -> Vec<u8> {
    let mut h = ftyp();
    h.extend(moov(tracks));
    h
}

/// `ftyp` and `moov` for `tracks`, whose samples lie from `base` on, moved to lie right after
/// them and a 16-byte `mdat` header; with the tracks as moved. The header's size depends on the
/// offsets it holds (32- or 64-bit), so it is settled first.
pub(super) fn exact_head(tracks: &[Track], base: u64) -> (Vec<u8>, Vec<Track>) {
    let mut start = head(tracks).len() as u64 + 16;
    loop {
        let shifted = shift(tracks, start as i64 - base as i64);
        let h = head(&shifted);
        if h.len() as u64 + 16 == start {
            return (h, shifted);
        }
        start = h.len() as u64 + 16;
    }
}

/// `tracks` with every sample's offset moved by `by` bytes.
pub(crate) fn shift(tracks: &[Track], by: i64) -> Vec<Track> {
    let mut t = tracks.to_vec();
    shift_in_place(&mut t, by);
    t
}

/// [`shift`] without a copy (the index of a long class is megabytes).
pub(crate) fn shift_in_place(tracks: &mut [Track], by: i64) {
    for s in tracks.iter_mut().flat_map(|t| t.samples.iter_mut()) {
        s.offset = (s.offset as i64 + by) as u64;
    }
}

/// `len` bytes from `src` at `from` to `dst` at `to`, in the kernel.
pub(crate) fn copy_range(src: &File, from: u64, dst: &File, to: u64, len: u64) -> std::io::Result<()> {
    let (mut from, mut to, mut left) = (from as i64, to as i64, len);
    while left > 0 {
        // SAFETY: both descriptors are open for the call; the offsets are our own locals, which
        // the kernel advances.
        let n = unsafe {
            libc::copy_file_range(
                src.as_raw_fd(),
                &mut from,
                dst.as_raw_fd(),
                &mut to,
                left.min(1 << 30) as usize,
                0,
            )
        };
        if n < 0 {
            return Err(std::io::Error::last_os_error());
        }
        if n == 0 {
            return Err(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                "source ended early",
            ));
        }
        left -= n as u64;
    }
    Ok(())
}
