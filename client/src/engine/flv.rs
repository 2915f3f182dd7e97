//! One FLV file being written: a slice, or the continuous DstPath copy. Every packet is handed to
//! the kernel as it is written (`flush_packets`), so a killed recorder leaves a file readable up to
//! its last frame; the data is fsynced at every keyframe, so a power cut loses at most a GOP.

use super::encode::MS;
use super::Error;
use ffmpeg::codec::{self, Id};
use ffmpeg::Packet;
use ffmpeg_next as ffmpeg;
use std::path::{Path, PathBuf};

pub struct FlvOut {
    octx: ffmpeg::format::context::Output,
    /// Set when the file is encrypted (see `sealed`).
    sealed: Option<super::sealed::Sealed>,
    pub path: PathBuf,
    /// Recording time (ms) this file's 0 stands for.
    pub base_ms: i64,
    /// End (ms of recording time) of the last packet written.
    pub end_ms: i64,
    sync: std::fs::File,
    has_audio: bool,
    /// Last timestamp written per stream (video, audio).
    last_ts: [i64; 2],
}

/// A stream's packet in milliseconds of recording time.
pub struct Timed<'a> {
    pub packet: &'a Packet,
    /// 0 video, 1 audio
    pub stream: usize,
    pub ms: i64,
    pub duration_ms: i64,
}

impl FlvOut {
    pub fn create(
        path: &Path,
        base_ms: i64,
        video: &codec::Parameters,
        audio: Option<&codec::Parameters>,
        key: Option<&localrecord_crypt::Key>,
    ) -> Result<FlvOut, Error> {
        let err = muxer_error("writing", path);
        let (mut octx, sealed) = match key {
            None => (ffmpeg::format::output_as(path, "flv").map_err(err)?, None),
            Some(k) => {
                let (o, s) = super::sealed::create(path, k).map_err(file_error(path))?;
                (o, Some(s))
            }
        };
        for p in std::iter::once(video).chain(audio) {
            let mut s = octx.add_stream(ffmpeg::encoder::find(Id::None)).map_err(err)?;
            s.set_parameters(p.clone());
            s.set_time_base(MS);
            // SAFETY: the stream's own parameters; FLV picks its codec tag itself.
            unsafe { (*s.parameters().as_mut_ptr()).codec_tag = 0 };
        }
        let mut opts = ffmpeg::Dictionary::new();
        opts.set("flush_packets", "1");
        octx.write_header_with(opts).map_err(err)?;
        let sync = std::fs::File::open(path).map_err(file_error(path))?;
        Ok(FlvOut {
            octx,
            sealed,
            path: path.to_owned(),
            base_ms,
            end_ms: base_ms,
            sync,
            has_audio: audio.is_some(),
            last_ts: [i64::MIN; 2],
        })
    }

    pub fn write(&mut self, t: &Timed) -> Result<(), Error> {
        if t.stream == 1 && !self.has_audio {
            return Ok(());
        }
        let ts = t.ms - self.base_ms;
        // FLV itself accepts equal timestamps, but players and ffmpeg (which read at 1/fps or
        // 1/44100) do not: every stream of every file is strictly increasing. Video is already
        // on the frame grid; this is the backstop, and it only ever drops (never reorders).
        if ts <= self.last_ts[t.stream] {
            tracing::debug!(
                "{}: dropped a packet at {ts} ms of stream {}",
                self.path.display(),
                t.stream
            );
            return Ok(());
        }
        self.last_ts[t.stream] = ts;
        let mut p = t.packet.clone();
        p.set_stream(t.stream);
        p.set_pts(Some(ts));
        p.set_dts(Some(ts));
        p.set_duration(t.duration_ms);
        p.set_position(-1);
        p.write(&mut self.octx).map_err(muxer_error("writing", &self.path))?;
        self.end_ms = self.end_ms.max(t.ms + t.duration_ms);
        if t.stream == 0 && t.packet.is_key() {
            self.sync.sync_data().map_err(file_error(&self.path))?;
        }
        Ok(())
    }

    /// Writes the trailer (duration and size in the header) and fsyncs. Returns (ms, bytes).
    pub fn finish(mut self) -> Result<(i64, u64), Error> {
        self.octx
            .write_trailer()
            .map_err(muxer_error("finishing", &self.path))?;
        drop(self.octx);
        if let Some(s) = self.sealed {
            s.finish().map_err(file_error(&self.path))?;
        }
        self.sync.sync_all().map_err(Error::Io)?;
        let size = std::fs::metadata(&self.path).map(|m| m.len()).unwrap_or(0);
        Ok((self.end_ms - self.base_ms, size))
    }
}

fn muxer_error<'a>(step: &'static str, path: &'a Path) -> impl Fn(ffmpeg::Error) -> Error + Copy + 'a {
    move |source| Error::Muxer {
        step,
        path: path.to_owned(),
        source,
    }
}

fn file_error(path: &Path) -> impl FnOnce(std::io::Error) -> Error + '_ {
    move |source| Error::File {
        path: path.to_owned(),
        source,
    }
}

/// How much of a (possibly truncated) FLV file plays: the end of its last readable video packet,
/// in ms; None when not even one video frame survived. An encrypted file is read through `key`.
pub fn readable_ms(path: &Path, key: Option<&localrecord_crypt::Key>) -> Option<i64> {
    let mut ictx = match key {
        Some(k) if super::sealed::is_sealed(path) => super::sealed::input(path, k).ok()?,
        _ => ffmpeg::format::input(path).ok()?,
    };
    let vi = ictx.streams().best(ffmpeg::media::Type::Video)?.index();
    let (mut first, mut last) = (None::<i64>, None::<i64>);
    for (s, p) in ictx.packets() {
        if s.index() != vi {
            continue;
        }
        let Some(ts) = p.dts().or(p.pts()) else { continue };
        let tb = s.time_base();
        let ms = ts * 1000 * tb.numerator() as i64 / tb.denominator().max(1) as i64;
        first.get_or_insert(ms);
        last = Some(ms);
    }
    Some(last? - first? + 1)
}
