//! The mixer's sound: the capture thread's samples (stamped with the instant they were captured)
//! placed on the mixer's clock, encoded once to AAC, and handed to the outputs both encoded and
//! raw (`OutputSet::pcm`, for mp3). As in the engine: a device's gap is filled with silence,
//! samples delivered late are skipped, and a device that stalls never leaves the track short.
//! The sound of the layout's media files (`source::Ring`) is added to the device's as it is fed,
//! by its place on the same clock, and the sum clipped to [-1, 1].

use super::source::Ring;
use super::types::OutputSet;
use crate::capture::{Input, AUDIO_RATE};
use crate::engine::encode::AudioEncoder;
use crate::engine::Error;
use std::sync::mpsc::Receiver;
use std::sync::Arc;
use std::time::Instant;

pub struct Sound {
    pub enc: AudioEncoder,
    rx: Receiver<Input>,
    start: Instant,
    /// Samples (per channel) fed so far: the next one's place on the mixer's clock.
    fed: i64,
    /// The media sound mixed in; the mixer thread sets it from the layout at each tick.
    pub media: Vec<Arc<Ring>>,
}

fn samples_ms(n: i64) -> i64 {
    n * 1000 / AUDIO_RATE as i64
}

fn ms_samples(ms: i64) -> usize {
    (ms.max(0) * AUDIO_RATE as i64 / 1000) as usize
}

impl Sound {
    pub fn new(rx: Receiver<Input>, start: Instant) -> Result<Sound, Error> {
        Ok(Sound {
            enc: AudioEncoder::new()?,
            rx,
            start,
            fed: 0,
            media: Vec::new(),
        })
    }

    /// Takes in whatever the capture thread delivered since the last call.
    pub fn drain(&mut self, out: &mut dyn OutputSet) -> Result<(), Error> {
        while let Ok(input) = self.rx.try_recv() {
            match input {
                Input::Audio(samples, at) => {
                    let end_ms = at.saturating_duration_since(self.start).as_millis() as i64;
                    let start_ms = end_ms - samples_ms((samples.len() / 2) as i64);
                    let drift = start_ms - self.enc.position_ms();
                    let mut from = 0;
                    if drift > 100 {
                        self.feed(&vec![0.0; ms_samples(drift) * 2], out)?;
                    } else if drift < -100 {
                        from = ms_samples(-drift).min(samples.len() / 2);
                    }
                    self.feed(&samples[from * 2..], out)?;
                }
                Input::AudioFailed(why) => tracing::warn!("mixer audio: {why}; the rest is silent"),
                _ => {}
            }
        }
        Ok(())
    }

    /// Fills the track with silence up to half a second behind `video_ms` once it lags by more
    /// than a second.
    pub fn pad(&mut self, video_ms: i64, out: &mut dyn OutputSet) -> Result<(), Error> {
        let behind = video_ms - self.enc.position_ms();
        if behind > 1000 {
            self.feed(&vec![0.0; ms_samples(behind - 500) * 2], out)?;
        }
        Ok(())
    }

    fn feed(&mut self, interleaved: &[f32], out: &mut dyn OutputSet) -> Result<(), Error> {
        if interleaved.is_empty() {
            return Ok(());
        }
        let mixed;
        let samples = if self.media.is_empty() {
            interleaved
        } else {
            let mut m = interleaved.to_vec();
            for r in &self.media {
                r.mix(self.fed, &mut m);
            }
            m.iter_mut().for_each(|s| *s = s.clamp(-1.0, 1.0));
            mixed = m;
            &mixed
        };
        self.fed += (samples.len() / 2) as i64;
        out.pcm(samples, self.enc.position_ms());
        let packets = self.enc.push(samples)?;
        route(packets, out);
        Ok(())
    }

    pub fn finish(&mut self, out: &mut dyn OutputSet) -> Result<(), Error> {
        let packets = self.enc.finish()?;
        route(packets, out);
        Ok(())
    }
}

fn route(packets: Vec<ffmpeg_next::Packet>, out: &mut dyn OutputSet) {
    for p in packets {
        match p.pts() {
            // pts < 0: the encoder's priming frame
            Some(pts) if pts >= 0 => out.audio(&p, samples_ms(pts)),
            _ => {}
        }
    }
}
