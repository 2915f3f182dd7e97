//! Where each packet lands on the output timeline. Pure arithmetic, kept apart from FFmpeg so the
//! splicing rules are unit-tested:
//!
//! - one offset per slice, shared by audio and video: the end of the video written so far (or of
//!   the audio, when that runs on past the video by more than a video frame), so A/V stay in sync
//!   at every join whatever the slices' own timestamps (they usually restart at 0);
//! - a slice's origin is the presentation time of its first video frame, not the first timestamp
//!   in the file: encoders with B-frames start video PTS a few frames after DTS (0.13 s with x264's
//!   defaults) and AAC priming puts the first audio packet ~21-46 ms before the picture. Anchoring
//!   on the first DTS left that much frozen video and silence at every join (gapless joins);
//! - offsets come from the packet timestamps actually read, never from a container's header duration;
//! - AAC packets are placed on whole frame steps (FLV stores milliseconds, which jitter by up to a
//!   millisecond against 1024-sample frames); a slice's audio continues the previous slice's audio
//!   without a gap when it starts within one frame of it, and a packet that would overlap the audio
//!   already written by more than half a frame (priming, or the tail of the previous slice's
//!   audio past its video) is dropped, so audio never drifts from video by more than half a frame;
//! - DTS strictly increase per stream (the caller enforces it again in the muxer's time base).

/// Microseconds.
pub type Micros = i64;

/// The largest input timestamp or duration the timeline takes, about 101 days: FLV counts 32-bit
/// milliseconds (49.7 days), so anything larger is corruption. Inputs this small keep the sums here
/// and the muxer's products (at the sample rates FLV carries) far from overflow.
pub const MAX_INPUT_US: Micros = 1 << 43;

#[derive(Debug)]
pub struct Timeline {
    sample_rate: i64,
    frame: i64,
    /// One video frame, the tolerance for audio running on past the video at a join.
    video_frame: Micros,
    video_written: bool,
    /// Output position of the current slice's first packet.
    slice_offset: Micros,
    /// Input timestamp of the current slice's first packet.
    slice_base: Option<Micros>,
    video_last_dts: Option<Micros>,
    video_end: Micros,
    /// (ideal sample position, placed sample position) of the slice's first audio packet.
    audio_anchor: Option<(i64, i64)>,
    /// End of the written audio, in samples.
    audio_end: i64,
}

impl Timeline {
    /// `sample_rate` and `frame` (samples per AAC packet, 1024 for AAC-LC) of the output audio.
    pub fn new(sample_rate: i64, frame: i64) -> Timeline {
        Timeline {
            sample_rate: sample_rate.max(1),
            frame: frame.max(1),
            video_frame: 66_667,
            video_written: false,
            slice_offset: 0,
            slice_base: None,
            video_last_dts: None,
            video_end: 0,
            audio_anchor: None,
            audio_end: 0,
        }
    }

    /// The duration of one video frame (default: 1/15 s).
    pub fn with_video_frame(mut self, us: Micros) -> Timeline {
        self.video_frame = us.max(1);
        self
    }

    fn samples(&self, us: Micros) -> i64 {
        (us as i128 * self.sample_rate as i128 + 500_000).div_euclid(1_000_000) as i64
    }

    pub fn audio_end_us(&self) -> Micros {
        (self.audio_end as i128 * 1_000_000 / self.sample_rate as i128) as i64
    }

    /// End of everything written so far.
    pub fn end(&self) -> Micros {
        self.video_end.max(self.audio_end_us())
    }

    /// End of the video written so far.
    pub fn video_end(&self) -> Micros {
        self.video_end
    }

    /// Starts the next slice where the video ends, or where the audio ends when it runs on past
    /// the video by more than a video frame (a slice whose video was cut before its audio).
    pub fn begin_slice(&mut self) {
        let audio = self.audio_end_us();
        self.slice_offset = if self.video_written && audio - self.video_end < self.video_frame {
            self.video_end
        } else {
            self.end()
        };
        self.slice_base = None;
        self.audio_anchor = None;
    }

    /// Sets the current slice's origin (input time placed at the slice's offset): the PTS of its
    /// first video frame. Without one, the first packet's timestamp is the origin.
    pub fn set_origin(&mut self, ts: Micros) {
        self.slice_base.get_or_insert(ts);
    }

    /// Whether the current slice's origin is known.
    pub fn has_origin(&self) -> bool {
        self.slice_base.is_some()
    }

    fn place(&mut self, ts: Micros) -> Micros {
        let base = *self.slice_base.get_or_insert(ts);
        ts - base + self.slice_offset
    }

    /// A video packet: input (dts, pts, duration) -> output (dts, pts).
    pub fn video(&mut self, dts: Micros, pts: Micros, duration: Micros) -> (Micros, Micros) {
        let mut out_dts = self.place(dts);
        let mut out_pts = out_dts + (pts - dts).max(0);
        if let Some(last) = self.video_last_dts {
            if out_dts <= last {
                let shift = last + 1 - out_dts;
                out_dts += shift;
                out_pts += shift;
            }
        }
        self.video_last_dts = Some(out_dts);
        self.video_written = true;
        self.video_end = self.video_end.max(out_pts + duration.max(0));
        (out_dts, out_pts)
    }

    /// An audio packet at input time `ts` -> its output position in samples, or None: drop it, it
    /// would overlap the audio already written by more than half a frame.
    pub fn audio(&mut self, ts: Micros) -> Option<i64> {
        let placed = self.place(ts);
        let ideal = self.samples(placed);
        let out = match self.audio_anchor {
            None => {
                if ideal + self.frame / 2 < self.audio_end {
                    return None;
                }
                // Continue the previous audio seamlessly when the slice starts within a frame of it.
                let placed = if ideal - self.audio_end < self.frame {
                    self.audio_end
                } else {
                    ideal
                };
                self.audio_anchor = Some((ideal, placed));
                placed
            }
            Some((a_ideal, a_placed)) => {
                let k = ((ideal - a_ideal) as f64 / self.frame as f64).round() as i64;
                (a_placed + k * self.frame).max(self.audio_end)
            }
        };
        self.audio_end = out + self.frame;
        Some(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FRAME_US: f64 = 1024.0 * 1e6 / 44100.0;

    #[test]
    fn slices_restarting_at_zero_follow_each_other() {
        let mut t = Timeline::new(44100, 1024);
        for slice in 0..3 {
            let before = t.end();
            t.begin_slice();
            // 2 s of 15 fps video and AAC at millisecond precision, as FLV stores them.
            for f in 0..30 {
                let ts = f * 66_667 / 1000 * 1000;
                let (d, p) = t.video(ts, ts, 66_667);
                assert_eq!(d, p);
                if f == 0 {
                    assert_eq!(d, before, "slice {slice} starts where the last ended");
                }
            }
            for k in 0..86 {
                let ms = ((k as f64 * FRAME_US) / 1000.0).floor() as i64 * 1000;
                let s = t.audio(ms).unwrap();
                assert_eq!(s % 1024, 0, "audio on whole frames");
            }
        }
        // Audio stays contiguous across joins, no gap: 86 frames (1.997 s) per 2 s slice.
        assert_eq!(t.audio_end, 3 * 86 * 1024);
    }

    #[test]
    fn one_offset_per_slice_keeps_av_in_sync() {
        let mut t = Timeline::new(48000, 1024);
        t.begin_slice();
        t.video(0, 0, 40_000);
        t.video(960_000, 960_000, 40_000); // video ends at 1.0 s
        t.audio(0); // audio ends at 21 ms: the slice had almost no audio
        t.begin_slice();
        let (d, _) = t.video(5_000_000, 5_000_000, 40_000); // timestamps continue from the recorder
        assert_eq!(d, 1_000_000);
        // The next slice's audio starts where its video starts, not where the audio ended.
        let s = t.audio(5_000_000).unwrap();
        assert_eq!(s, 48_000);
    }

    #[test]
    fn dts_strictly_increase_even_when_input_goes_back() {
        let mut t = Timeline::new(44100, 1024);
        t.begin_slice();
        let (a, _) = t.video(1000, 1000, 0);
        let (b, pb) = t.video(500, 600, 0);
        assert!(b > a && pb >= b);
        let x = t.audio(0).unwrap();
        let y = t.audio(0).unwrap();
        assert!(y > x);
    }

    /// x264 with B-frames and AAC priming, as the ffmpeg CLI writes FLV: video DTS from 0, PTS from
    /// 133 ms (two frames of reorder delay), audio from 112 ms (1024 samples of priming at 48 kHz
    /// before the picture). Each 2 s slice must add exactly 2 s: no frozen video, no silence.
    #[test]
    fn b_frames_and_priming_leave_no_gap_at_joins() {
        let mut t = Timeline::new(48000, 1024);
        let frame = 1_000_000 / 15;
        let af = 1024 * 1_000_000 / 48000; // 21.333 ms
        for slice in 0..4i64 {
            t.begin_slice();
            let join = slice * 30 * frame;
            // Decode order I P B B ...: dts k, pts k + 2 frames (reordering kept simple here).
            t.set_origin(2 * frame);
            for k in 0..30 {
                let (d, p) = t.video(k * frame, k * frame + 2 * frame, frame);
                assert!(p >= d);
                if k == 0 {
                    assert_eq!(p, join, "slice {slice}: its first picture at the join");
                }
            }
            let mut first_kept = None;
            for k in 0..95i64 {
                let ts = 112_000 + k * af;
                if let Some(s) = t.audio(ts) {
                    first_kept.get_or_insert((k, s));
                }
            }
            let (k, s) = first_kept.unwrap();
            // The priming packet (at -21 ms) is dropped at every join, and one more when the audio
            // already written runs on (here each slice's audio outlasts its video by 5 ms); the
            // first packet kept sits within half a frame of where it belongs against the video.
            assert!((1..=2).contains(&k), "slice {slice}: first kept audio packet {k}");
            let at_us = s * 1_000_000 / 48000;
            let ideal = join + 112_000 + k * af - 2 * frame;
            assert!(
                (at_us - ideal).abs() <= af / 2 + 1,
                "slice {slice}: audio {at_us} vs {ideal}"
            );
        }
        // 4 slices of 30 frames: the video ends at exactly 8 s.
        assert_eq!(t.video_end(), 120 * frame);
    }
}
