//! The packet loop over one slice: read it, drop what is corrupt, and hand each kept packet to a
//! [`Place`] (the splice's muxer, or a piece being prepared) with its input times.
//!
//! Defects that never fail the whole recording: a slice cut by a crash is read up to the cut; a
//! packet FFmpeg flags corrupt, or an H.264 packet whose NAL length structure does not add up, is
//! dropped; an empty or unreadable slice is skipped; a slice without audio keeps its place (its
//! video sits at the shared offset and the next slice's audio starts in sync). A slice whose H.264
//! parameter sets differ from the first slice's carries its own SPS/PPS in-band at each keyframe.
//!
//! `streams` decides how a slice's streams are taken before its first packet; `video` follows its
//! video packets (GOP checks, holding back, re-encoding).

mod streams;
mod video;

use super::clock::Place;
use super::ffparams::{extradata, to_us};
use super::hold::{Held, Holding};
use super::input::open_slice;
use super::reference::Reference;
use super::timeline::{Micros, MAX_INPUT_US};
use super::verify::{Checkers, Mode};
use super::{SliceOutcome, SliceReport};
use crate::progress::Progress;
use ffmpeg::format::context::Input;
use ffmpeg::Packet;
use ffmpeg_next as ffmpeg;
use std::path::Path;
use streams::Streams;

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

/// What every slice of one output (a splice, or a piece) is read against.
pub(super) struct SliceCtx<'a> {
    /// The keyframe decode checks; their verdicts are kept per slice.
    checkers: Checkers,
    /// Which keyframes are decoded (`LOCALRECORD_SPLICE_VERIFY`).
    mode: Mode,
    /// The output's streams: a slice whose video differs is re-encoded to it.
    reference: &'a Reference,
    /// The reference's video extradata: a slice with other parameter sets carries its own in-band.
    ref_extra: Vec<u8>,
    /// Cancellation, and the bytes read.
    progress: &'a Progress,
}

impl<'a> SliceCtx<'a> {
    /// Slices read against `reference`, with a checker per core and the mode the environment sets.
    pub(super) fn new(reference: &'a Reference, progress: &'a Progress) -> SliceCtx<'a> {
        SliceCtx {
            checkers: Checkers::per_core(),
            mode: Mode::from_env(),
            reference,
            ref_extra: extradata(&reference.video),
            progress,
        }
    }
}

/// One slice into the muxer. Err(reason) skips the slice (nothing of it was written).
/// The verdicts of this read, when every keyframe has one, end up in `rep.bad_keyframes`.
pub(super) fn splice_one(
    mux: &mut impl Place,
    ctx: &mut SliceCtx,
    slice: SliceIn,
    rep: &mut SliceReport,
) -> Result<(), String> {
    ctx.checkers.begin_slice(slice.known);
    let done = read_slice(mux, ctx, slice, rep);
    let verdicts = ctx.checkers.end_slice();
    if done.is_ok() {
        rep.bad_keyframes = verdicts;
    }
    done
}

fn read_slice(mux: &mut impl Place, ctx: &mut SliceCtx, slice: SliceIn, rep: &mut SliceReport) -> Result<(), String> {
    let input = match slice.opened {
        Some(input) => input,
        None => open_slice(slice.path, slice.key, ctx.progress)?,
    };
    let streams = Streams::pick(&input, ctx.reference, &ctx.ref_extra, rep)?;
    if streams.in_band {
        mux.in_band();
    }
    ctx.checkers.set_params(&streams.video_params);
    mux.begin_slice();
    let start = mux.end();
    let mut s = SliceSplice {
        mux,
        ctx,
        rep,
        input,
        streams,
        hold: Holding::default(),
        gop_check: None,
        gop_dead: false,
    };
    s.read_all()?;
    s.finish(start)
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
struct SliceSplice<'a, 'c, P: Place> {
    mux: &'a mut P,
    ctx: &'a mut SliceCtx<'c>,
    rep: &'a mut SliceReport,
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

impl<P: Place> SliceSplice<'_, '_, P> {
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
        if self.ctx.progress.cancelled() {
            return Err("cancelled".into());
        }
        match packet.read(&mut self.input) {
            Ok(()) => self.ctx.progress.tick(packet.size() as u64),
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
