//! A slice's video packets: each is checked (its NAL structure, its GOP's keyframe decode), held
//! back until what it waits on is known, or re-encoded when the slice's video differs from the
//! reference's.

use super::{writing_failed, SliceSplice};
use crate::splice::clock::Place;
use crate::splice::ffparams::to_us;
use crate::splice::h264::{check_avcc, Verdict};
use crate::splice::hold::{Held, HeldVideo};
use crate::splice::verify::Mode;
use ffmpeg::codec::Id;
use ffmpeg::Packet;
use ffmpeg_next as ffmpeg;

impl<P: Place> SliceSplice<'_, '_, P> {
    pub(super) fn video(&mut self, packet: Packet, dts: i64) -> Result<(), String> {
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
            self.ctx.reference.frame_us
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
        let verdict = if self.ctx.reference.video_id == Id::H264 {
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
            let decode = self.ctx.mode == Mode::Keyframes || matches!(verdict, Verdict::Suspect(_));
            self.gop_check = self.ctx.checkers.keyframe(packet, decode);
        }
        !self.gop_dead
    }

    pub(super) fn hold_back(&mut self, h: Held) -> Result<(), String> {
        self.hold.push(h);
        self.drain(false)
    }

    /// Writes what is held and no longer waits on a check (`all`: everything held).
    pub(super) fn drain(&mut self, all: bool) -> Result<(), String> {
        let sets = self.streams.sets.as_deref();
        self.hold
            .drain(&mut *self.mux, &mut self.ctx.checkers, self.rep, sets, all)
            .map_err(writing_failed)
    }

    /// Re-encodes `packet` (None: the slice ended) and writes what the encoder gives back.
    pub(super) fn reencode(&mut self, packet: Option<&Packet>) -> Result<(), String> {
        let re = self.streams.reencoder.as_mut().expect("a slice being re-encoded");
        let sets = self.streams.sets.as_deref();
        let mut n = 0;
        for p in re.push(packet).map_err(writing_failed)? {
            let (dts, pts) = (p.dts().unwrap_or(0), p.pts().unwrap_or(0));
            self.mux
                .video(p, dts, pts, self.ctx.reference.frame_us, sets)
                .map_err(writing_failed)?;
            n += 1;
        }
        // Counted only once all the encoder gave back is written: a failed write leaves the count.
        self.rep.packets += n;
        Ok(())
    }
}
