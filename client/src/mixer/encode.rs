//! The mixer's one video encode: libx264 with the mixerCfg's settings. `defaultQP` is the CRF,
//! capped by `bitRate` through the VBV (maxrate, one second of buffer), a keyframe every `gop`
//! frames, veryfast, and zerolatency so each frame's packet comes out at once.

use super::types::MixerCfg;
use crate::engine::encode::MS;
use crate::engine::Error;
use ffmpeg::codec::{self, Id};
use ffmpeg::format::Pixel;
use ffmpeg::{frame, picture, Packet, Rational};
use ffmpeg_next as ffmpeg;

pub struct MixEncoder {
    enc: ffmpeg::encoder::video::Encoder,
    pub params: codec::Parameters,
}

impl MixEncoder {
    pub fn new(cfg: &MixerCfg) -> Result<MixEncoder, Error> {
        let codec = ffmpeg::encoder::find_by_name("libx264")
            .or_else(|| ffmpeg::encoder::find(Id::H264))
            .ok_or(Error::NoH264Encoder)?;
        let mut enc = codec::context::Context::new_with_codec(codec).encoder().video()?;
        enc.set_width(cfg.width);
        enc.set_height(cfg.height);
        enc.set_format(Pixel::YUV420P);
        enc.set_time_base(MS);
        enc.set_frame_rate(Some(Rational(cfg.frame_rate as i32, 1)));
        enc.set_gop(cfg.gop());
        enc.set_flags(codec::Flags::GLOBAL_HEADER);
        let mut opts = ffmpeg::Dictionary::new();
        opts.set("preset", "veryfast");
        opts.set("tune", "zerolatency");
        opts.set("forced-idr", "1");
        opts.set("crf", &cfg.default_qp.to_string());
        opts.set("maxrate", &cfg.bit_rate.to_string());
        opts.set("bufsize", &cfg.bit_rate.to_string());
        let enc = enc.open_with(opts).map_err(|source| Error::Encoder {
            step: "opening libx264",
            source,
        })?;
        let params = codec::Parameters::from(&enc);
        Ok(MixEncoder { enc, params })
    }

    /// Encodes the picture at `ms` (None: flush); a keyframe when `key`.
    pub fn encode(&mut self, f: Option<(&mut frame::Video, i64, bool)>) -> Result<Vec<Packet>, Error> {
        match f {
            Some((f, ms, key)) => {
                f.set_pts(Some(ms));
                f.set_kind(if key { picture::Type::I } else { picture::Type::None });
                self.enc.send_frame(f).map_err(|source| Error::Encoder {
                    step: "encoding video",
                    source,
                })?;
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
