//! Where placed packets' times come from ([`Clock`]) and where the packet loop puts what it kept
//! ([`Place`]): shared by the splice's muxer (`remux`), the preparation of pieces (`piece`) and
//! their assembly (`assemble`), so all three place every packet exactly alike.

use super::ffparams::from_us;
use super::timeline::{Micros, Timeline};
use ffmpeg::{Packet, Rational};
use ffmpeg_next as ffmpeg;

/// Output timestamps: the [`Timeline`] in microseconds, turned into the output's time bases with
/// decode times strictly increasing per stream. Shared by the packet loop's muxer and the assembly
/// of prepared pieces (`piece`), so both place every packet exactly alike.
pub(super) struct Clock {
    pub(super) tl: Timeline,
    v_tb: Rational,
    a_tb: Option<Rational>,
    rate: i64,
    frame: i64,
    last_v: Option<i64>,
    last_a: Option<i64>,
}

impl Clock {
    pub(super) fn new(frame_us: Micros, v_tb: Rational, a_tb: Option<Rational>, rate: i64, frame: i64) -> Clock {
        Clock {
            tl: Timeline::new(rate, frame).with_video_frame(frame_us),
            v_tb,
            a_tb,
            rate,
            frame,
            last_v: None,
            last_a: None,
        }
    }

    /// A video packet's input (dts, pts, duration) in microseconds -> (dts, pts, duration) in the
    /// video time base.
    pub(super) fn video(&mut self, dts: Micros, pts: Micros, dur: Micros) -> (i64, i64, i64) {
        let (od, op) = self.tl.video(dts, pts, dur);
        let mut d = from_us(od, self.v_tb);
        if let Some(l) = self.last_v {
            d = d.max(l + 1);
        }
        self.last_v = Some(d);
        (d, from_us(op, self.v_tb).max(d), from_us(dur, self.v_tb))
    }

    /// An audio packet at input time `ts` -> (time, duration) in the audio time base; None: dropped,
    /// it overlapped the audio already written (or there is no audio track).
    pub(super) fn audio(&mut self, ts: Micros) -> Option<(i64, i64)> {
        let tb = self.a_tb?;
        let per_sample = |n: i64| n * tb.denominator() as i64 / (self.rate * tb.numerator() as i64).max(1);
        let at = self.tl.audio(ts)?;
        let mut t = per_sample(at);
        if let Some(l) = self.last_a {
            t = t.max(l + 1);
        }
        self.last_a = Some(t);
        Some((t, per_sample(self.frame)))
    }
}

/// Where the packet loop puts what it read and kept: the muxer (a splice), or a piece being
/// prepared for a later assembly (`piece`), which keeps input times and places nothing.
pub(super) trait Place {
    /// Starts the next slice.
    fn begin_slice(&mut self);
    /// The current slice's origin (see [`Timeline::set_origin`]).
    fn set_origin(&mut self, ts: Micros);
    /// End of everything placed so far (0 where nothing is placed yet).
    fn end(&self) -> Micros;
    /// From now on every keyframe carries its parameter sets in-band.
    fn in_band(&mut self);
    /// A video packet, times in microseconds of its slice's clock.
    fn video(&mut self, p: Packet, dts: Micros, pts: Micros, dur: Micros, sets: Option<&[u8]>) -> anyhow::Result<()>;
    /// An audio packet; false: dropped, it overlapped the audio already written.
    fn audio(&mut self, p: Packet, ts: Micros) -> anyhow::Result<bool>;
}
