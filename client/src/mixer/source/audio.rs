//! A media file's sound, for a mixer that has sound. It is decoded on the source's thread beside
//! the file's pictures, converted to the mixer's format (interleaved f32 stereo at 44.1 kHz),
//! placed on the wall clock by the same pacing as the pictures (so it stays with them, and a loop
//! restarts both), and kept in a small [`Ring`] that the mixer's sound (`mixer::sound`) takes
//! from and adds to its own. What the mixer does not take in time is dropped; a file whose sound
//! cannot be decoded plays on silent.

use super::stream::{micros, Pacer};
use crate::capture::device::ToMixerFormat;
use crate::capture::AUDIO_RATE;
use ffmpeg::format::context::Input;
use ffmpeg::{frame, media, Packet};
use ffmpeg_next as ffmpeg;
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Instant;

const RATE: i64 = AUDIO_RATE as i64;
/// Samples (per channel) a ring holds at the most: 3 s, of which at most 1.5 s ahead of the wall
/// clock (the demuxer hands sound over somewhat ahead of the pictures, and the mixer takes it up
/// to about a second late when silence pads a stalled device), the rest behind it.
const CAPACITY: i64 = 3 * RATE;
const AHEAD: i64 = 3 * RATE / 2;
/// A piece that starts within this of where the previous one ended follows it (timestamps jitter
/// by a sample or two); farther away, the gap is silence or the overlap goes to the newer piece.
const SLACK: i64 = RATE / 50;

/// `param.volume` 0..=100 (checked by `validate`) as a gain; 100 when absent.
pub fn gain(param: &serde_json::Value) -> f32 {
    let v = param.get("volume").and_then(serde_json::Value::as_f64).unwrap_or(100.0);
    (v.clamp(0.0, 100.0) / 100.0) as f32
}

/// Sound waiting for the mixer, by its place on the mixer's clock: sample `p` is due at
/// `epoch + p / 44100 s`, `epoch` being the instant the mixer's sound starts.
pub struct Ring {
    epoch: Instant,
    gain: f32,
    buf: Mutex<Buf>,
}

#[derive(Default)]
struct Buf {
    /// The place of the first sample held.
    front: i64,
    /// Interleaved stereo.
    data: VecDeque<f32>,
}

impl Buf {
    fn end(&self) -> i64 {
        self.front + (self.data.len() / 2) as i64
    }

    /// Drops the first `n` samples (per channel).
    fn pop(&mut self, n: i64) {
        let n = n.clamp(0, (self.data.len() / 2) as i64);
        self.data.drain(..n as usize * 2);
        self.front += n;
    }
}

impl Ring {
    pub fn new(epoch: Instant, gain: f32) -> Ring {
        Ring {
            epoch,
            gain,
            buf: Mutex::default(),
        }
    }

    fn place(&self, at: Instant) -> i64 {
        match at.checked_duration_since(self.epoch) {
            Some(d) => (d.as_nanos() * RATE as u128 / 1_000_000_000) as i64,
            None => -((self.epoch.duration_since(at).as_nanos() * RATE as u128 / 1_000_000_000) as i64),
        }
    }

    /// Adds `samples` (interleaved stereo) whose first one is due at `at`.
    pub fn write(&self, at: Instant, samples: &[f32]) {
        let pos = self.place(at);
        let limit = self.place(Instant::now()) + AHEAD;
        let n = ((samples.len() / 2) as i64).min(limit - pos).max(0) as usize;
        if n == 0 {
            return;
        }
        let mut b = super::lock(&self.buf);
        let end = b.end();
        if b.data.is_empty() || pos > end + CAPACITY || pos < b.front {
            b.data.clear();
            b.front = pos;
        } else if pos > end + SLACK {
            b.data.extend(std::iter::repeat_n(0.0, (pos - end) as usize * 2));
        } else if pos < end - SLACK {
            let keep = (pos - b.front) as usize * 2;
            b.data.truncate(keep);
        }
        b.data.extend(samples[..n * 2].iter().map(|s| s * self.gain));
        let over = b.end() - b.front - CAPACITY;
        b.pop(over);
    }

    /// Adds what is due from place `pos` on into `out` (interleaved stereo), and forgets it along
    /// with anything older: the mixer never goes back.
    pub fn mix(&self, pos: i64, out: &mut [f32]) {
        let mut b = super::lock(&self.buf);
        let front = b.front;
        b.pop(pos - front);
        let n = (out.len() / 2) as i64;
        let skip = (b.front - pos).clamp(0, n);
        let take = (n - skip).min((b.data.len() / 2) as i64);
        let from = skip as usize * 2;
        for (o, s) in out[from..].iter_mut().zip(b.data.iter().take(take as usize * 2)) {
            *o += s;
        }
        b.pop(take);
    }
}

/// The file's sound being decoded into a ring.
pub struct Track {
    index: usize,
    tb: ffmpeg::Rational,
    decoder: ffmpeg::decoder::Audio,
    conv: ToMixerFormat,
    decoded: frame::Audio,
    /// Where the next frame starts when it has no timestamp (µs of the file).
    next_us: i64,
    ring: Arc<Ring>,
    dead: bool,
}

impl Track {
    /// The file's best sound stream, or None when it has none (or none FFmpeg can decode: the
    /// file then plays silent, its pictures as before).
    pub fn open(ictx: &Input, ring: Arc<Ring>) -> Option<Track> {
        let stream = ictx.streams().best(media::Type::Audio)?;
        let ctx = ffmpeg::codec::context::Context::from_parameters(stream.parameters()).ok()?;
        let decoder = match ctx.decoder().audio() {
            Ok(d) => d,
            Err(e) => {
                tracing::warn!("mixer media: cannot decode the file's sound ({e}); it plays silent");
                return None;
            }
        };
        Some(Track {
            index: stream.index(),
            tb: stream.time_base(),
            decoder,
            conv: ToMixerFormat::default(),
            decoded: frame::Audio::empty(),
            next_us: 0,
            ring,
            dead: false,
        })
    }

    /// Whether `packet` is this track's.
    pub fn takes(&self, packet: &Packet) -> bool {
        packet.stream() == self.index
    }

    pub fn packet(&mut self, packet: &Packet, pace: &mut Pacer) {
        // A damaged packet is skipped, as the pictures' are.
        if !self.dead && self.decoder.send_packet(packet).is_ok() {
            self.receive(pace);
        }
    }

    /// The end of one pass through the file: what the decoder still holds, then a fresh start.
    pub fn end_pass(&mut self, pace: &mut Pacer) {
        if !self.dead && self.decoder.send_eof().is_ok() {
            self.receive(pace);
        }
        self.decoder.flush();
    }

    fn receive(&mut self, pace: &mut Pacer) {
        while self.decoder.receive_frame(&mut self.decoded).is_ok() {
            let ts = self.decoded.timestamp().or(self.decoded.pts());
            let us = ts.map_or(self.next_us, |t| micros(t, self.tb));
            let rate = self.decoded.rate().max(1) as i64;
            self.next_us = us + self.decoded.samples() as i64 * 1_000_000 / rate;
            match self.conv.convert(&mut self.decoded) {
                Ok(samples) => self.ring.write(pace.at(us), &samples),
                Err(e) => {
                    tracing::warn!("mixer media: the file's sound cannot be converted ({e}); it plays silent");
                    self.dead = true;
                    return;
                }
            }
        }
    }
}
