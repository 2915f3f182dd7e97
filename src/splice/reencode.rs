//! Re-encoding a slice whose video differs from the output's (another resolution or codec, e.g. a
//! recorder that changed window size): decode, scale to the output's size, encode H.264 with
//! libx264. Only such slices pay for it; the rest are copied. The encoder's own SPS/PPS travel
//! in-band at each keyframe (see `remux`), so one MP4 track holds both.

use anyhow::Context as _;
use ffmpeg::codec::{self, Id};
use ffmpeg::software::scaling;
use ffmpeg::util::format::Pixel;
use ffmpeg::{frame, Packet, Rational};
use ffmpeg_next as ffmpeg;

/// Encoder time base: microseconds, the unit the timeline works in.
const US: Rational = Rational(1, 1_000_000);

pub struct Reencoder {
    decoder: ffmpeg::decoder::Video,
    encoder: ffmpeg::encoder::video::Encoder,
    scaler: Option<scaling::Context>,
    in_tb: Rational,
    width: u32,
    height: u32,
    decoded: frame::Video,
    scaled: frame::Video,
    /// The encoder's SPS/PPS, each with a 4-byte length prefix, ready to go in-band.
    pub param_sets: Vec<u8>,
}

/// Annex B (start codes, as libx264 writes) to AVCC (4-byte lengths, as the MP4 track holds).
pub fn annexb_to_avcc(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len() + 16);
    let mut nals = Vec::new();
    let mut i = 0;
    let mut start = None;
    while i + 3 <= data.len() {
        if data[i] == 0 && data[i + 1] == 0 && data[i + 2] == 1 {
            if let Some(s) = start {
                nals.push((s, i));
            }
            i += 3;
            start = Some(i);
        } else {
            i += 1;
        }
    }
    if let Some(s) = start {
        nals.push((s, data.len()));
    }
    for (s, mut e) in nals {
        // A 4-byte start code leaves a zero before the next 3-byte one.
        while e > s && data[e - 1] == 0 {
            e -= 1;
        }
        if e > s {
            out.extend_from_slice(&((e - s) as u32).to_be_bytes());
            out.extend_from_slice(&data[s..e]);
        }
    }
    out
}

impl Reencoder {
    pub fn new(
        input: &codec::Parameters,
        in_tb: Rational,
        width: u32,
        height: u32,
        fps: Rational,
    ) -> anyhow::Result<Reencoder> {
        let decoder = codec::context::Context::from_parameters(input.clone())?
            .decoder()
            .video()
            .context("no decoder for the slice's video")?;
        let codec = ffmpeg::encoder::find(Id::H264).context("FFmpeg has no H.264 encoder (libx264)")?;
        let mut enc = codec::context::Context::new_with_codec(codec).encoder().video()?;
        enc.set_width(width);
        enc.set_height(height);
        enc.set_format(Pixel::YUV420P);
        enc.set_time_base(US);
        enc.set_frame_rate(Some(fps));
        enc.set_gop((fps.numerator() / fps.denominator().max(1)).max(1) as u32 * 2);
        enc.set_bit_rate(1_500_000);
        enc.set_flags(codec::Flags::GLOBAL_HEADER);
        let mut opts = ffmpeg::Dictionary::new();
        opts.set("preset", "veryfast");
        // No lookahead and no B-frames: packets come out as frames go in, memory stays flat.
        opts.set("tune", "zerolatency");
        let encoder = enc.open_with(opts).context("opening libx264")?;
        // SAFETY: the opened encoder's context; extradata is extradata_size bytes when non-null.
        let extradata = unsafe {
            let c = &*encoder.as_ptr();
            if c.extradata.is_null() {
                Vec::new()
            } else {
                std::slice::from_raw_parts(c.extradata, c.extradata_size as usize).to_vec()
            }
        };
        Ok(Reencoder {
            decoder,
            encoder,
            scaler: None,
            in_tb,
            width,
            height,
            decoded: frame::Video::empty(),
            scaled: frame::Video::empty(),
            param_sets: annexb_to_avcc(&extradata),
        })
    }

    /// Feeds one input packet (None at the end of the slice); returns the packets encoded so far,
    /// timestamps in microseconds of the slice's own clock.
    pub fn push(&mut self, packet: Option<&Packet>) -> anyhow::Result<Vec<Packet>> {
        let mut out = Vec::new();
        match packet {
            Some(p) => {
                if self.decoder.send_packet(p).is_err() {
                    return Ok(out); // a corrupt packet: the decoder resyncs at the next keyframe
                }
            }
            None => {
                self.decoder.send_eof().ok();
            }
        }
        while self.decoder.receive_frame(&mut self.decoded).is_ok() {
            let Some(ts) = self.decoded.timestamp().or(self.decoded.pts()) else {
                continue;
            };
            let us = super::ffparams::to_us(ts, self.in_tb);
            let (w, h, f) = (self.decoded.width(), self.decoded.height(), self.decoded.format());
            let scaler = match &mut self.scaler {
                Some(s) if s.input().width == w && s.input().height == h && s.input().format == f => s,
                slot => slot.insert(scaling::Context::get(
                    f,
                    w,
                    h,
                    Pixel::YUV420P,
                    self.width,
                    self.height,
                    scaling::Flags::BILINEAR,
                )?),
            };
            scaler.run(&self.decoded, &mut self.scaled)?;
            self.scaled.set_pts(Some(us));
            self.encoder.send_frame(&self.scaled)?;
            self.drain(&mut out);
        }
        if packet.is_none() {
            self.encoder.send_eof()?;
            self.drain(&mut out);
        }
        Ok(out)
    }

    fn drain(&mut self, out: &mut Vec<Packet>) {
        let mut p = Packet::empty();
        while self.encoder.receive_packet(&mut p).is_ok() {
            let avcc = annexb_to_avcc(p.data().unwrap_or_default());
            let mut q = Packet::copy(&avcc);
            q.set_flags(p.flags());
            q.set_pts(p.pts());
            q.set_dts(p.dts());
            q.set_duration(p.duration());
            out.push(q);
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn annexb_becomes_length_prefixed() {
        let annexb = [0, 0, 0, 1, 0x67, 1, 2, 0, 0, 1, 0x68, 3, 0, 0, 0, 1, 0x65, 4, 5, 6];
        let avcc = super::annexb_to_avcc(&annexb);
        assert_eq!(
            avcc,
            [0, 0, 0, 3, 0x67, 1, 2, 0, 0, 0, 2, 0x68, 3, 0, 0, 0, 4, 0x65, 4, 5, 6]
        );
    }
}
