//! One audio+video output file (mp4, ts, flv, avi) fed the mixer's H.264 and AAC packets as they
//! are, no second encode. It starts at the first video keyframe it sees, at its own time 0.
//! Every packet is handed to the kernel as it is written (`flush_packets`) and the file is
//! fsynced at keyframes, so a killed recorder leaves flv and ts readable up to its last frame.
//! mp4 is written fragmented (a fragment per keyframe and at least one a second) for the same
//! reason and made a normal MP4 on close (see `finalize`).

use super::super::types::{CrError, Streams};
use super::sink::{self, Handle};
use super::spec::Format;
use crate::engine::encode::MS;
use ffmpeg::codec::{self, Id};
use ffmpeg::{Packet, Rational, Rescale};
use ffmpeg_next as ffmpeg;
use std::path::{Path, PathBuf};

pub struct AvOut {
    octx: ffmpeg::format::context::Output,
    handle: Handle,
    pub format: Format,
    pub path: PathBuf,
    encrypted: bool,
    /// Mixer time (ms) of this file's 0: its first keyframe. None until then.
    base_ms: Option<i64>,
    /// End of the media written, ms of this file's time.
    end_ms: i64,
    /// Time base of each stream (video, audio) as the muxer chose it.
    tb: [Rational; 2],
    /// Last timestamp written per stream, in its time base.
    last: [i64; 2],
    has_audio: bool,
    /// Nominal packet lengths (ms): a video frame, an AAC frame.
    frame_ms: [i64; 2],
}

impl AvOut {
    /// Creates the file (never over an existing one) and writes the muxer's header. A file whose
    /// header cannot be written is removed again.
    pub fn create(
        path: &Path,
        format: Format,
        s: &Streams,
        key: Option<&localrecord_crypt::Key>,
    ) -> Result<AvOut, CrError> {
        let (io, handle) = sink::create(path, key)?;
        let fps = s.frame_rate.max(1) as i32;
        let audio_rate = s.audio.as_ref().map_or(44_100, |a| sample_rate(a).max(1));
        let octx = match open(io, format, s, fps, audio_rate) {
            Ok(o) => o,
            Err(e) => {
                let e = handle.header_error(&e, &format!("{}", path.display()));
                handle.discard(path);
                return Err(e);
            }
        };
        let tb = [0, 1].map(|i| octx.stream(i).map_or(MS, |st| st.time_base()));
        Ok(AvOut {
            octx,
            handle,
            format,
            path: path.to_owned(),
            encrypted: key.is_some(),
            base_ms: None,
            end_ms: 0,
            tb,
            last: [i64::MIN; 2],
            has_audio: s.audio.is_some(),
            frame_ms: [(1000 / fps as i64).max(1), (1024 * 1000 / audio_rate as i64).max(1)],
        })
    }

    /// Whether the file has begun (seen its first keyframe).
    pub fn started(&self) -> bool {
        self.base_ms.is_some()
    }

    /// Writes a video packet; before the first keyframe, packets are skipped.
    pub fn video(&mut self, p: &Packet, ms: i64) -> Result<(), CrError> {
        if self.base_ms.is_none() {
            if !p.is_key() {
                return Ok(());
            }
            self.base_ms = Some(ms);
        }
        self.write(p, 0, ms)?;
        if p.is_key() {
            let what = format!("fsync {}", self.path.display());
            self.handle.sync().map_err(|e| sink::io_error(&e, &what))?;
        }
        Ok(())
    }

    /// Writes an AAC packet (from the file's first keyframe on).
    pub fn audio(&mut self, p: &Packet, ms: i64) -> Result<(), CrError> {
        match self.base_ms {
            Some(base) if self.has_audio && ms >= base => self.write(p, 1, ms),
            _ => Ok(()),
        }
    }

    fn write(&mut self, p: &Packet, stream: usize, ms: i64) -> Result<(), CrError> {
        let rel = ms - self.base_ms.unwrap_or(ms);
        let tb = self.tb[stream];
        let ts = rel.rescale(MS, tb);
        // Every stream of every file is strictly increasing (players and AVI need it); this only
        // ever drops a packet that would not be, it never reorders.
        if ts <= self.last[stream] {
            tracing::debug!(
                "{}: dropped a packet at {rel} ms of stream {stream}",
                self.path.display()
            );
            return Ok(());
        }
        self.last[stream] = ts;
        let mut q = p.clone();
        q.set_stream(stream);
        q.set_pts(Some(ts));
        q.set_dts(Some(ts));
        q.set_duration(self.frame_ms[stream].rescale(MS, tb).max(1));
        q.set_position(-1);
        q.write(&mut self.octx)
            .map_err(|e| self.handle.write_error(&e, &format!("writing {}", self.path.display())))?;
        self.end_ms = self.end_ms.max(rel + self.frame_ms[stream]);
        Ok(())
    }

    /// Milliseconds written so far.
    pub fn duration_ms(&self) -> i64 {
        self.end_ms
    }

    pub fn size(&self) -> u64 {
        self.handle.size()
    }

    /// Removes the file again (an output that could not start).
    pub fn discard(self) {
        drop(self.octx);
        self.handle.discard(&self.path);
    }

    /// Writes the trailer, seals and fsyncs; a plain mp4 is then rewritten as a normal MP4.
    /// Returns (duration ms, bytes).
    pub fn finish(mut self) -> Result<(i64, u64), CrError> {
        let what = format!("finishing {}", self.path.display());
        let trailer = self.octx.write_trailer();
        // Dropping the context hands its last buffered bytes to the writer.
        drop(self.octx);
        if let Err(e) = trailer {
            return Err(self.handle.write_error(&e, &what));
        }
        let mut size = self.handle.finish().map_err(|e| sink::io_error(&e, &what))?;
        if self.format == Format::Mp4 && !self.encrypted && self.base_ms.is_some() {
            size = super::finalize::mp4_in_place(&self.path)?;
        }
        Ok((self.end_ms, size))
    }
}

/// The muxer on `io` with the mixer's streams, header written.
fn open(
    io: ffmpeg::format::context::StreamIo,
    format: Format,
    s: &Streams,
    fps: i32,
    audio_rate: i32,
) -> Result<ffmpeg::format::context::Output, ffmpeg::Error> {
    let mut octx = ffmpeg::format::output_to_stream(io, None, Some(format.muxer()))?;
    let hints = [
        if format == Format::Avi { Rational(1, fps) } else { MS },
        Rational(1, audio_rate),
    ];
    for (i, p) in std::iter::once(&s.video).chain(s.audio.as_ref()).enumerate() {
        let mut st = octx.add_stream(ffmpeg::encoder::find(Id::None))?;
        st.set_parameters(p.clone());
        // AVI counts frames (1/fps); the others take ms and choose their own time base.
        st.set_time_base(hints[i]);
        if i == 0 {
            st.set_avg_frame_rate(Rational(fps, 1));
            st.set_rate(Rational(fps, 1));
        }
        // SAFETY: the stream's own parameters; each muxer picks its own codec tag.
        unsafe { (*st.parameters().as_mut_ptr()).codec_tag = 0 };
    }
    octx.write_header_with(options(format))?;
    Ok(octx)
}

/// Options of each muxer: every packet to the kernel at once; mp4 fragmented.
fn options(format: Format) -> ffmpeg::Dictionary<'static> {
    let mut o = ffmpeg::Dictionary::new();
    o.set("flush_packets", "1");
    if format == Format::Mp4 {
        o.set("movflags", "frag_keyframe+empty_moov+default_base_moof");
        // A fragment at least every second, keyframe or not: a crash loses at most that.
        o.set("frag_duration", "1000000");
    }
    o
}

fn sample_rate(p: &codec::Parameters) -> i32 {
    // SAFETY: reading a plain field of parameters we hold.
    unsafe { (*p.as_ptr()).sample_rate }
}
