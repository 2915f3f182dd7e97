//! The packet loop over one slice: read it, drop what is corrupt, and hand each kept packet to a
//! [`Place`] (the splice's muxer, or a piece being prepared) with its input times.
//!
//! Defects that never fail the whole recording: a slice cut by a crash is read up to the cut; a
//! packet FFmpeg flags corrupt, or an H.264 packet whose NAL length structure does not add up, is
//! dropped; an empty or unreadable slice is skipped; a slice without audio keeps its place (its
//! video sits at the shared offset and the next slice's audio starts in sync). A slice whose H.264
//! parameter sets differ from the first slice's carries its own SPS/PPS in-band at each keyframe.

use super::clock::Place;
use super::ffparams::{audio_format, extradata, to_us, video_dims, video_out_of_bounds};
use super::h264::{avcc_length_size, avcc_parameter_sets, check_avcc, Verdict};
use super::hold::{Held, HeldVideo, Holding};
use super::input::open_slice;
use super::reencode::Reencoder;
use super::reference::Reference;
use super::timeline::{Micros, MAX_INPUT_US};
use super::verify::{Checkers, Mode};
use super::{SliceOutcome, SliceReport};
use crate::progress::Progress;
use ffmpeg::codec::{self, Id};
use ffmpeg::format::context::Input;
use ffmpeg::{media, Packet, Rational};
use ffmpeg_next as ffmpeg;
use std::path::Path;

/// A slice to read: where it is, the verdicts kept on its keyframes (see `verify`), and its input
/// when the caller opened it already.
pub(super) struct SliceIn<'a> {
    pub(super) path: &'a Path,
    pub(super) known: Option<&'a [u32]>,
    pub(super) opened: Option<Input>,
    /// Its key, when it is encrypted.
    pub(super) key: Option<&'a localrecord_crypt::Key>,
}

impl<'a> SliceIn<'a> {
    pub(super) fn at(path: &'a Path, known: Option<&'a [u32]>) -> SliceIn<'a> {
        SliceIn {
            path,
            known,
            opened: None,
            key: None,
        }
    }
}

/// One slice into the muxer. Err(reason) skips the slice (nothing of it was written).
/// The verdicts of this read, when every keyframe has one, end up in `rep.bad_keyframes`.
#[allow(clippy::too_many_arguments)]
pub(super) fn splice_one(
    mux: &mut impl Place,
    checkers: &mut Checkers,
    mode: Mode,
    r: &Reference,
    ref_extra: &[u8],
    slice: SliceIn,
    rep: &mut SliceReport,
    progress: &Progress,
) -> Result<(), String> {
    checkers.begin_slice(slice.known);
    let done = read_slice(mux, checkers, mode, r, ref_extra, slice, rep, progress);
    let verdicts = checkers.end_slice();
    if done.is_ok() {
        rep.bad_keyframes = verdicts;
    }
    done
}

#[allow(clippy::too_many_arguments)]
fn read_slice(
    mux: &mut impl Place,
    checkers: &mut Checkers,
    mode: Mode,
    r: &Reference,
    ref_extra: &[u8],
    slice: SliceIn,
    rep: &mut SliceReport,
    progress: &Progress,
) -> Result<(), String> {
    let input = match slice.opened {
        Some(input) => input,
        None => open_slice(slice.path, slice.key, progress)?,
    };
    let streams = Streams::pick(&input, r, ref_extra, rep)?;
    if streams.in_band {
        mux.in_band();
    }
    checkers.set_params(&streams.video_params);
    mux.begin_slice();
    let start = mux.end();
    let mut s = SliceSplice {
        mux,
        checkers,
        mode,
        r,
        rep,
        progress,
        input,
        streams,
        hold: Holding::default(),
        gop_check: None,
        gop_dead: false,
    };
    s.read_all()?;
    s.finish(start)
}

/// What is decided about a slice before its first packet is read.
struct Streams {
    video: usize,
    video_tb: Rational,
    video_params: codec::Parameters,
    /// Set when the slice's video differs from the reference's (size or codec).
    reencoder: Option<Reencoder>,
    /// The parameter sets its keyframes carry, should the output need them in-band.
    sets: Option<Vec<u8>>,
    /// The output needs in-band parameter sets from this slice on.
    in_band: bool,
    nal_len: usize,
    /// (index, time base) of its audio, if that has the reference's codec and rate.
    audio: Option<(usize, Rational)>,
}

impl Streams {
    /// The slice's streams as the output takes them; Err(reason): the slice cannot be taken.
    fn pick(input: &Input, r: &Reference, ref_extra: &[u8], rep: &mut SliceReport) -> Result<Streams, String> {
        let vs = input.streams().best(media::Type::Video).ok_or("no video stream")?;
        let (video, video_tb, video_params) = (vs.index(), vs.time_base(), vs.parameters());
        if let Some(why) = video_out_of_bounds(&video_params, vs.avg_frame_rate()) {
            return Err(why);
        }
        let reencoder = reencoder_for(&video_params, video_tb, r)?;
        if reencoder.is_some() {
            rep.outcome = SliceOutcome::Reencoded;
        }
        let (sets, in_band) = match &reencoder {
            Some(re) => (Some(re.param_sets.clone()), true),
            None => {
                let own = extradata(&video_params);
                (avcc_parameter_sets(&own), own != ref_extra)
            }
        };
        let nal_len = avcc_length_size(&extradata(&video_params)).unwrap_or(4);
        let audio = matching_audio(input, r);
        rep.has_audio = audio.is_some();
        Ok(Streams {
            video,
            video_tb,
            video_params,
            reencoder,
            sets,
            in_band,
            nal_len,
            audio,
        })
    }
}

/// A re-encoder to the reference's size and codec if the slice's video differs from it.
fn reencoder_for(vp: &codec::Parameters, vtb: Rational, r: &Reference) -> Result<Option<Reencoder>, String> {
    if vp.id() == r.video_id && video_dims(vp) == (r.width, r.height) {
        return Ok(None);
    }
    if r.video_id != Id::H264 {
        let (w, h) = video_dims(vp);
        return Err(format!(
            "video is {:?} {w}x{h}; only H.264 output can take re-encoded slices",
            vp.id()
        ));
    }
    Reencoder::new(vp, vtb, r.width, r.height, r.fps)
        .map(Some)
        .map_err(|e| format!("cannot re-encode: {e:#}"))
}

fn matching_audio(input: &Input, r: &Reference) -> Option<(usize, Rational)> {
    let s = input.streams().best(media::Type::Audio)?;
    let (sr, _) = audio_format(&s.parameters());
    let same = r
        .audio
        .as_ref()
        .is_some_and(|a| a.id == s.parameters().id() && a.sample_rate == sr);
    same.then(|| (s.index(), s.time_base()))
}

/// What one read from the slice gave.
enum Next {
    /// A packet that passed the container-level checks, with its decode time (its stream's time
    /// base).
    Packet(Packet, i64),
    /// A packet (or a read) that is corrupt.
    Dropped,
    /// The slice ended, or was cut.
    End,
}

/// One slice being read into a [`Place`].
struct SliceSplice<'a, P: Place> {
    mux: &'a mut P,
    checkers: &'a mut Checkers,
    mode: Mode,
    r: &'a Reference,
    rep: &'a mut SliceReport,
    progress: &'a Progress,
    input: Input,
    streams: Streams,
    hold: Holding,
    /// The check the current GOP's packets wait on, and whether the rest of the GOP is lost.
    gop_check: Option<u64>,
    gop_dead: bool,
}

fn writing_failed(e: anyhow::Error) -> String {
    format!("writing failed: {e:#}")
}

impl<P: Place> SliceSplice<'_, P> {
    fn read_all(&mut self) -> Result<(), String> {
        loop {
            match self.next()? {
                Next::End => return Ok(()),
                Next::Dropped => self.rep.dropped += 1,
                Next::Packet(packet, dts) => self.take(packet, dts)?,
            }
        }
    }

    fn next(&mut self) -> Result<Next, String> {
        // A fresh packet per read: av_read_frame does not release what a reused packet holds.
        let mut packet = Packet::empty();
        if self.progress.cancelled() {
            return Err("cancelled".into());
        }
        match packet.read(&mut self.input) {
            Ok(()) => self.progress.tick(packet.size() as u64),
            Err(ffmpeg::Error::Eof) => return Ok(Next::End),
            Err(ffmpeg::Error::InvalidData) => return Ok(Next::Dropped),
            Err(e) => {
                self.rep.outcome = SliceOutcome::Truncated;
                self.rep.note = Some(format!("read stopped: {e}"));
                return Ok(Next::End);
            }
        }
        let Some(dts) = packet.dts().or(packet.pts()) else {
            return Ok(Next::Dropped);
        };
        if packet.is_corrupt() || self.implausible(&packet, dts) {
            return Ok(Next::Dropped);
        }
        Ok(Next::Packet(packet, dts))
    }

    /// A time FLV cannot hold (a garbled packet, or a file that is not FLV at all) would throw
    /// the timeline's arithmetic off, up to overflow: such a packet is corrupt.
    fn implausible(&self, packet: &Packet, dts: i64) -> bool {
        let tb = self
            .input
            .stream(packet.stream())
            .map_or(self.streams.video_tb, |s| s.time_base());
        let out = |t: i64| to_us(t, tb).unsigned_abs() > MAX_INPUT_US as u64;
        out(dts) || packet.pts().is_some_and(out) || out(packet.duration())
    }

    fn take(&mut self, packet: Packet, dts: i64) -> Result<(), String> {
        let si = packet.stream();
        if si == self.streams.video {
            return self.video(packet, dts);
        }
        match self.streams.audio {
            Some((ai, atb)) if si == ai => self.hold_back(Held {
                packet,
                video: None,
                audio_ts: to_us(dts, atb),
            }),
            _ => Ok(()),
        }
    }

    fn video(&mut self, packet: Packet, dts: i64) -> Result<(), String> {
        let tb = self.streams.video_tb;
        let pts = packet.pts().unwrap_or(dts);
        if !self.hold.seen_video {
            // The slice's origin: the presentation time of its first picture.
            self.hold.seen_video = true;
            self.mux.set_origin(to_us(pts, tb));
        }
        if self.streams.reencoder.is_some() {
            self.drain(true)?;
            return self.reencode(Some(&packet));
        }
        if !self.gop_keeps(&packet) {
            self.rep.dropped += 1;
            return Ok(());
        }
        let dur = if packet.duration() > 0 {
            to_us(packet.duration(), tb)
        } else {
            self.r.frame_us
        };
        let video = HeldVideo {
            dts: to_us(dts, tb),
            pts: to_us(pts, tb),
            dur,
            check: self.gop_check,
        };
        self.hold_back(Held {
            packet,
            video: Some(video),
            audio_ts: 0,
        })
    }

    /// Runs the bitstream check on a video packet and follows its GOP: false drops the packet
    /// (malformed, or a frame it depends on was lost). A keyframe may submit a decode check.
    fn gop_keeps(&mut self, packet: &Packet) -> bool {
        let verdict = if self.r.video_id == Id::H264 {
            check_avcc(packet.data().unwrap_or_default(), self.streams.nal_len)
        } else {
            Verdict::Sound
        };
        match verdict {
            Verdict::Malformed(_) => return false,
            Verdict::Suspect(_) if !packet.is_key() => {
                // A non-conformant inter frame: what refers to it is lost up to the next keyframe.
                self.gop_dead = true;
            }
            _ => {}
        }
        if packet.is_key() {
            self.gop_dead = false;
            let decode = self.mode == Mode::Keyframes || matches!(verdict, Verdict::Suspect(_));
            self.gop_check = self.checkers.keyframe(packet, decode);
        }
        !self.gop_dead
    }

    fn hold_back(&mut self, h: Held) -> Result<(), String> {
        self.hold.push(h);
        self.drain(false)
    }

    fn drain(&mut self, all: bool) -> Result<(), String> {
        let sets = self.streams.sets.as_deref();
        self.hold
            .drain(&mut *self.mux, self.checkers, self.rep, sets, all)
            .map_err(writing_failed)
    }

    /// Re-encodes `packet` (None: the slice ended) and writes what the encoder gives back.
    fn reencode(&mut self, packet: Option<&Packet>) -> Result<(), String> {
        let re = self.streams.reencoder.as_mut().expect("a slice being re-encoded");
        let sets = self.streams.sets.as_deref();
        let mut n = 0;
        for p in re.push(packet).map_err(writing_failed)? {
            let (dts, pts) = (p.dts().unwrap_or(0), p.pts().unwrap_or(0));
            self.mux
                .video(p, dts, pts, self.r.frame_us, sets)
                .map_err(writing_failed)?;
            n += 1;
        }
        // Counted only once all the encoder gave back is written: a failed write leaves the count.
        self.rep.packets += n;
        Ok(())
    }

    fn finish(mut self, start: Micros) -> Result<(), String> {
        self.drain(true)?;
        if self.streams.reencoder.is_some() {
            self.reencode(None)?;
        }
        if self.rep.packets == 0 {
            return Err(self.rep.note.clone().unwrap_or_else(|| "no packets".into()));
        }
        self.rep.duration_ms = (self.mux.end() - start) / 1000;
        Ok(())
    }
}
