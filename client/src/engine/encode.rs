//! The two encoders: H.264 (libx264) with millisecond timestamps of the recording clock, and AAC
//! fed from a sample FIFO in exact 1024-sample frames.

use super::Error;
use crate::capture::AUDIO_RATE;
use ffmpeg::codec::{self, Id};
use ffmpeg::format::{Pixel, Sample};
use ffmpeg::util::channel_layout::ChannelLayout;
use ffmpeg::{frame, picture, Packet, Rational};
use ffmpeg_next as ffmpeg;

/// Millisecond time base of the video encoder and of every FLV stream.
pub const MS: Rational = Rational(1, 1000);

pub struct VideoEncoder {
    enc: ffmpeg::encoder::video::Encoder,
    pub params: codec::Parameters,
}

/// How libx264 spends its bits.
#[derive(Debug, Clone, Copy)]
pub enum Rate {
    /// The recorder's slices: this average bit rate, peaks up to 1.5 times it.
    Average(u32),
    /// The mixer's `defaultQP` and `bitRate`: this CRF, capped at `max` bit/s through the VBV
    /// (one second of buffer).
    Quality { crf: u32, max: u32 },
}

impl VideoEncoder {
    /// The recorder's encoder: a keyframe every 2 s besides the forced ones at slice cuts (quick
    /// seeking in the MP4), at an average of `bps`.
    pub fn new(width: u32, height: u32, fps: u32, bps: u32) -> Result<VideoEncoder, Error> {
        VideoEncoder::open(width, height, fps, fps * 2, Rate::Average(bps))
    }

    /// libx264 veryfast, a keyframe every `gop` frames, spending bits as `rate` says.
    pub fn open(width: u32, height: u32, fps: u32, gop: u32, rate: Rate) -> Result<VideoEncoder, Error> {
        let codec = ffmpeg::encoder::find_by_name("libx264")
            .or_else(|| ffmpeg::encoder::find(Id::H264))
            .ok_or(Error::NoH264Encoder)?;
        let mut enc = codec::context::Context::new_with_codec(codec).encoder().video()?;
        enc.set_width(width);
        enc.set_height(height);
        enc.set_format(Pixel::YUV420P);
        enc.set_time_base(MS);
        enc.set_frame_rate(Some(Rational(fps as i32, 1)));
        enc.set_gop(gop);
        enc.set_flags(codec::Flags::GLOBAL_HEADER);
        let mut opts = ffmpeg::Dictionary::new();
        match rate {
            Rate::Average(bps) => {
                enc.set_bit_rate(bps as usize);
                enc.set_max_bit_rate(bps as usize * 3 / 2);
            }
            Rate::Quality { crf, max } => {
                opts.set("crf", &crf.to_string());
                opts.set("maxrate", &max.to_string());
                opts.set("bufsize", &max.to_string());
            }
        }
        opts.set("preset", "veryfast");
        // No lookahead, no B-frames: each frame's packet comes out at once, so what was captured
        // is on disk within a frame, and a kill loses at most that.
        opts.set("tune", "zerolatency");
        opts.set("forced-idr", "1");
        let enc = enc.open_with(opts).map_err(encoder_error("opening libx264"))?;
        let params = codec::Parameters::from(&enc);
        Ok(VideoEncoder { enc, params })
    }

    /// Encodes a frame at `ms` (None: flush); a keyframe when `key`.
    pub fn encode(&mut self, frame: Option<(&mut frame::Video, i64, bool)>) -> Result<Vec<Packet>, Error> {
        match frame {
            Some((f, ms, key)) => {
                f.set_pts(Some(ms));
                f.set_kind(if key { picture::Type::I } else { picture::Type::None });
                self.enc.send_frame(f).map_err(encoder_error("encoding video"))?;
            }
            None => self.enc.send_eof()?,
        }
        let mut out = Vec::new();
        let mut p = Packet::empty();
        while self.enc.receive_packet(&mut p).is_ok() {
            out.push(std::mem::replace(&mut p, Packet::empty()));
        }
        Ok(out)
    }
}

pub struct AudioEncoder {
    enc: ffmpeg::encoder::audio::Encoder,
    pub params: codec::Parameters,
    fifo: Vec<f32>,
    frame_size: usize,
    /// Samples handed to the encoder so far: the next frame's pts.
    pub written: i64,
}

impl AudioEncoder {
    pub fn new() -> Result<AudioEncoder, Error> {
        let codec = ffmpeg::encoder::find(Id::AAC).ok_or(Error::NoAacEncoder)?;
        let mut enc = codec::context::Context::new_with_codec(codec).encoder().audio()?;
        enc.set_rate(AUDIO_RATE as i32);
        enc.set_channel_layout(ChannelLayout::STEREO);
        enc.set_format(Sample::F32(ffmpeg::format::sample::Type::Planar));
        enc.set_bit_rate(128_000);
        enc.set_time_base(Rational(1, AUDIO_RATE as i32));
        enc.set_flags(codec::Flags::GLOBAL_HEADER);
        let enc = enc.open().map_err(encoder_error("opening the AAC encoder"))?;
        let params = codec::Parameters::from(&enc);
        let frame_size = (enc.frame_size() as usize).max(1);
        Ok(AudioEncoder {
            enc,
            params,
            fifo: Vec::new(),
            frame_size,
            written: 0,
        })
    }

    /// Milliseconds of audio handed over so far (queued included).
    pub fn position_ms(&self) -> i64 {
        (self.written + (self.fifo.len() / 2) as i64) * 1000 / AUDIO_RATE as i64
    }

    /// Appends interleaved stereo samples; returns packets (pts in 1/44100).
    pub fn push(&mut self, samples: &[f32]) -> Result<Vec<Packet>, Error> {
        self.fifo.extend_from_slice(samples);
        let mut out = Vec::new();
        while self.fifo.len() >= self.frame_size * 2 {
            let chunk: Vec<f32> = self.fifo.drain(..self.frame_size * 2).collect();
            self.send(&chunk, &mut out)?;
        }
        Ok(out)
    }

    /// `n` samples of silence (to close a gap in the device's delivery).
    pub fn silence(&mut self, n: usize) -> Result<Vec<Packet>, Error> {
        self.push(&vec![0.0; n * 2])
    }

    /// Encodes what is queued (padded with silence) and drains the encoder.
    pub fn finish(&mut self) -> Result<Vec<Packet>, Error> {
        let mut out = Vec::new();
        if !self.fifo.is_empty() {
            let mut chunk = std::mem::take(&mut self.fifo);
            chunk.resize(self.frame_size * 2, 0.0);
            self.send(&chunk, &mut out)?;
        }
        self.enc.send_eof()?;
        self.drain(&mut out);
        Ok(out)
    }

    fn send(&mut self, interleaved: &[f32], out: &mut Vec<Packet>) -> Result<(), Error> {
        let n = interleaved.len() / 2;
        let mut f = frame::Audio::new(
            Sample::F32(ffmpeg::format::sample::Type::Planar),
            n,
            ChannelLayout::STEREO,
        );
        f.set_rate(AUDIO_RATE);
        for ch in 0..2 {
            let plane = f.plane_mut::<f32>(ch);
            for (i, s) in plane.iter_mut().take(n).enumerate() {
                *s = interleaved[i * 2 + ch];
            }
        }
        f.set_pts(Some(self.written));
        self.written += n as i64;
        self.enc.send_frame(&f).map_err(encoder_error("encoding audio"))?;
        self.drain(out);
        Ok(())
    }

    fn drain(&mut self, out: &mut Vec<Packet>) {
        let mut p = Packet::empty();
        while self.enc.receive_packet(&mut p).is_ok() {
            out.push(std::mem::replace(&mut p, Packet::empty()));
        }
    }
}

fn encoder_error(step: &'static str) -> impl FnOnce(ffmpeg::Error) -> Error {
    move |source| Error::Encoder { step, source }
}
