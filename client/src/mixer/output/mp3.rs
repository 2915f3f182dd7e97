//! An mp3 output: the mixer's sound (the PCM its AAC is made from) encoded again with LAME
//! (FFmpeg's `libmp3lame`; `libshine` where LAME is missing: FFmpeg has no MP3 encoder of its
//! own), one encoder per output. Starts with the first sound after it was added, at time 0.
//! MP3 is a plain sequence of frames, each flushed to the kernel and fsynced every second: a
//! crash leaves it playable.

use super::super::types::{err, CrError};
use super::sink::{self, Handle};
use crate::capture::AUDIO_RATE;
use ffmpeg::format::{sample, Sample};
use ffmpeg::util::channel_layout::ChannelLayout;
use ffmpeg::{codec, frame, Packet, Rational};
use ffmpeg_next as ffmpeg;
use std::path::{Path, PathBuf};

const TB: Rational = Rational(1, AUDIO_RATE as i32);

pub struct Mp3Out {
    enc: ffmpeg::encoder::audio::Encoder,
    octx: ffmpeg::format::context::Output,
    handle: Handle,
    pub path: PathBuf,
    /// Planar f32 (LAME) or planar s16 (shine).
    planar_s16: bool,
    fifo: Vec<f32>,
    frame_size: usize,
    /// Samples handed to the encoder: the next frame's pts.
    sent: i64,
    out_tb: Rational,
    /// Whole seconds of sound fsynced so far.
    synced_s: i64,
}

impl Mp3Out {
    pub fn create(path: &Path, key: Option<&localrecord_crypt::Key>) -> Result<Mp3Out, CrError> {
        let codec = ffmpeg::encoder::find_by_name("libmp3lame")
            .or_else(|| ffmpeg::encoder::find_by_name("libshine"))
            .ok_or_else(|| CrError::new(err::INNER_ERR, "this FFmpeg has no MP3 encoder (libmp3lame)"))?;
        let planar_s16 = codec.name() == "libshine";
        let inner = |e: ffmpeg::Error| CrError::new(err::INNER_ERR, format!("opening the MP3 encoder: {e}"));
        let mut enc = codec::context::Context::new_with_codec(codec)
            .encoder()
            .audio()
            .map_err(inner)?;
        enc.set_rate(AUDIO_RATE as i32);
        enc.set_channel_layout(ChannelLayout::STEREO);
        enc.set_format(if planar_s16 {
            Sample::I16(sample::Type::Planar)
        } else {
            Sample::F32(sample::Type::Planar)
        });
        enc.set_bit_rate(128_000);
        enc.set_time_base(TB);
        let enc = enc.open().map_err(inner)?;
        let frame_size = (enc.frame_size() as usize).max(1);
        let (io, handle) = sink::create(path, key)?;
        let header = (|| {
            let mut octx = ffmpeg::format::output_to_stream(io, None, Some("mp3"))?;
            let mut st = octx.add_stream(ffmpeg::encoder::find(codec::Id::None))?;
            st.set_parameters(codec::Parameters::from(&enc));
            st.set_time_base(TB);
            let mut o = ffmpeg::Dictionary::new();
            o.set("flush_packets", "1");
            octx.write_header_with(o)?;
            Ok::<_, ffmpeg::Error>(octx)
        })();
        let octx = match header {
            Ok(o) => o,
            Err(e) => {
                let e = handle.header_error(&e, &format!("writing {}", path.display()));
                handle.discard(path);
                return Err(e);
            }
        };
        let out_tb = octx.stream(0).map_or(TB, |s| s.time_base());
        Ok(Mp3Out {
            enc,
            octx,
            handle,
            path: path.to_owned(),
            planar_s16,
            fifo: Vec::new(),
            frame_size,
            sent: 0,
            out_tb,
            synced_s: 0,
        })
    }

    /// Appends interleaved stereo f32 samples at 44.1 kHz; whole frames are encoded and written.
    pub fn pcm(&mut self, interleaved: &[f32]) -> Result<(), CrError> {
        self.fifo.extend_from_slice(&interleaved[..interleaved.len() & !1]);
        while self.fifo.len() >= self.frame_size * 2 {
            let chunk: Vec<f32> = self.fifo.drain(..self.frame_size * 2).collect();
            self.send(Some(&chunk))?;
        }
        // Once a second of sound, as the video outputs do at keyframes: a power cut loses little.
        if self.sent / AUDIO_RATE as i64 > self.synced_s {
            self.synced_s = self.sent / AUDIO_RATE as i64;
            let what = format!("fsync {}", self.path.display());
            self.handle.sync().map_err(|e| sink::io_error(&e, &what))?;
        }
        Ok(())
    }

    fn send(&mut self, interleaved: Option<&[f32]>) -> Result<(), CrError> {
        let what = format!("encoding {}", self.path.display());
        let r = match interleaved {
            Some(chunk) => {
                let f = self.frame(chunk);
                self.sent += (chunk.len() / 2) as i64;
                self.enc.send_frame(&f)
            }
            None => self.enc.send_eof(),
        };
        r.map_err(|e| CrError::new(err::INNER_ERR, format!("{what}: {e}")))?;
        let mut p = Packet::empty();
        while self.enc.receive_packet(&mut p).is_ok() {
            p.set_stream(0);
            p.rescale_ts(TB, self.out_tb);
            p.write(&mut self.octx)
                .map_err(|e| self.handle.write_error(&e, &format!("writing {}", self.path.display())))?;
        }
        Ok(())
    }

    fn frame(&self, interleaved: &[f32]) -> frame::Audio {
        let n = interleaved.len() / 2;
        let format = self.enc.format();
        let mut f = frame::Audio::new(format, n, ChannelLayout::STEREO);
        f.set_rate(AUDIO_RATE);
        for ch in 0..2 {
            let samples = interleaved.iter().skip(ch).step_by(2);
            if self.planar_s16 {
                for (d, s) in f.plane_mut::<i16>(ch).iter_mut().zip(samples) {
                    *d = (s.clamp(-1.0, 1.0) * i16::MAX as f32) as i16;
                }
            } else {
                for (d, s) in f.plane_mut::<f32>(ch).iter_mut().zip(samples) {
                    *d = *s;
                }
            }
        }
        f.set_pts(Some(self.sent));
        f
    }

    /// Milliseconds of sound encoded so far.
    pub fn duration_ms(&self) -> i64 {
        self.sent * 1000 / AUDIO_RATE as i64
    }

    pub fn size(&self) -> u64 {
        self.handle.size()
    }

    /// Encodes what is queued (padded with silence), drains the encoder, writes the trailer.
    pub fn finish(mut self) -> Result<(i64, u64), CrError> {
        if !self.fifo.is_empty() {
            let mut chunk = std::mem::take(&mut self.fifo);
            chunk.resize(self.frame_size * 2, 0.0);
            self.send(Some(&chunk))?;
        }
        if self.sent > 0 {
            self.send(None)?;
        }
        let what = format!("finishing {}", self.path.display());
        let trailer = self.octx.write_trailer();
        drop(self.octx);
        if let Err(e) = trailer {
            return Err(self.handle.write_error(&e, &what));
        }
        let ms = self.sent * 1000 / AUDIO_RATE as i64;
        let size = self.handle.finish().map_err(|e| sink::io_error(&e, &what))?;
        Ok((ms, size))
    }
}
