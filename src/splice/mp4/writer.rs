//! Writes an MP4 with its index at the front in one pass over the media: the payload goes straight
//! to its final place after a reserved room, and the index is written into that room at the end.
//! Should the index outgrow the room (the estimate is generous, so only on odd inputs), the
//! payload is moved once with `copy_file_range` (in the kernel, no copy through user space).
//!
//! Packets of one track are gathered into chunks of about half a second (or 1 MiB) so that the
//! index stays small and players read each track in runs; at most that much is held in memory.

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

pub struct Mp4Writer {
    path: PathBuf,
    file: File,
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
        Ok(Mp4Writer {
            path: path.to_owned(),
            file,
            room,
            pos: room,
            tracks,
            pending,
        })
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
        self.file.write_all(&p.buf)?;
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
        let head = |tracks: &[Track]| {
            let mut h = ftyp();
            h.extend(moov(tracks));
            h
        };
        let mut h = head(&self.tracks);
        let fits = h.len() as u64 + 16 == self.room || h.len() as u64 + 16 + 8 <= self.room;
        if fits {
            let gap = self.room - h.len() as u64 - 16;
            if gap > 0 {
                h.extend(free(gap as usize));
            }
            h.extend(mdat_header(payload));
            self.file.seek(SeekFrom::Start(0))?;
            self.file.write_all(&h)?;
            self.file.sync_data()?;
            return Ok(self.pos);
        }
        // The index outgrew the room: shift the payload to just after the exact header. The
        // header's size depends on the offsets it holds (32- or 64-bit), so settle it first.
        let mut start = h.len() as u64 + 16;
        loop {
            let shifted = shift(&self.tracks, start as i64 - self.room as i64);
            h = head(&shifted);
            if h.len() as u64 + 16 == start {
                self.tracks = shifted;
                break;
            }
            start = h.len() as u64 + 16;
        }
        h.extend(mdat_header(payload));
        let tmp = self.path.with_extension("reindex");
        let mut out = File::create(&tmp)?;
        out.write_all(&h)?;
        copy_range(&self.file, self.room, &out, start, payload)?;
        out.sync_data()?;
        std::fs::rename(&tmp, &self.path)?;
        Ok(start + payload)
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
