//! Keyframe verification. FLV has no checksums, so bytes garbled inside a packet (the container
//! structure intact) can only be found by decoding. Decoding every frame would cost many times the
//! remux, so only keyframes are decoded, with FFmpeg's error detection set to fail loudly: they are
//! the largest packets (the likeliest to be hit) and a bad one spoils its whole GOP. A slice's GOP
//! whose keyframe fails is dropped up to the next keyframe. Corruption inside an inter frame is not
//! caught (it heals at the next keyframe); the MD5-checked upload rules out corruption in transit.

use ffmpeg::{codec, frame, Packet};
use ffmpeg_next as ffmpeg;

/// `AV_EF_CRCCHECK | AV_EF_BITSTREAM | AV_EF_BUFFER | AV_EF_EXPLODE` (libavcodec/defs.h macros
/// that bindgen does not export).
const EXPLODE_ON_ERRORS: i32 = 1 | 2 | 4 | 8;

pub struct KeyframeCheck {
    decoder: ffmpeg::decoder::Video,
    frame: frame::Video,
}

impl KeyframeCheck {
    pub fn new(params: &codec::Parameters) -> Option<KeyframeCheck> {
        let mut ctx = codec::context::Context::from_parameters(params.clone()).ok()?;
        // SAFETY: a fresh, unopened context owned here.
        unsafe {
            (*ctx.as_mut_ptr()).err_recognition = EXPLODE_ON_ERRORS;
            (*ctx.as_mut_ptr()).thread_count = 1;
        }
        let decoder = ctx.decoder().video().ok()?;
        Some(KeyframeCheck {
            decoder,
            frame: frame::Video::empty(),
        })
    }

    /// Whether the keyframe decodes without a single error.
    pub fn keyframe_ok(&mut self, packet: &Packet) -> bool {
        self.decoder.flush();
        let mut ok = self.decoder.send_packet(packet).is_ok() && self.decoder.send_eof().is_ok();
        let mut frames = 0;
        loop {
            match self.decoder.receive_frame(&mut self.frame) {
                Ok(()) => {
                    frames += 1;
                    // SAFETY: a frame the decoder just filled.
                    let flags = unsafe { (*self.frame.as_ptr()).decode_error_flags };
                    ok &= flags == 0 && !self.frame.is_corrupt();
                }
                Err(ffmpeg::Error::Eof) => break,
                Err(ffmpeg::Error::Other { errno }) if errno == ffmpeg::util::error::EAGAIN => break,
                Err(_) => {
                    ok = false;
                    break;
                }
            }
        }
        self.decoder.flush();
        ok && frames > 0
    }
}
