//! Reading FFmpeg's codec parameters and converting timestamps: the raw-pointer reads the
//! ffmpeg-next wrapper does not offer, each behind one safe function, and the bounds a slice's
//! video must keep before anything decodes it.

use super::timeline::Micros;
use ffmpeg::{codec, Rational};
use ffmpeg_next as ffmpeg;

/// Saturates rather than wraps: a timestamp past the i64 range stays out of range.
pub(super) fn to_us(ts: i64, tb: Rational) -> Micros {
    let us = ts as i128 * tb.numerator() as i128 * 1_000_000 / tb.denominator().max(1) as i128;
    us.clamp(i64::MIN as i128, i64::MAX as i128) as i64
}

pub(super) fn from_us(us: Micros, tb: Rational) -> i64 {
    let den = tb.numerator().max(1) as i128 * 1_000_000;
    ((us as i128 * tb.denominator() as i128 + den / 2).div_euclid(den)) as i64
}

/// Largest picture a slice may have (4K DCI): decoding or re-encoding more is an attack on memory.
pub(super) const MAX_PIXELS: u64 = 4096 * 2304;
/// Highest frame rate a slice may declare.
pub(super) const MAX_FPS: i32 = 120;

/// Why a slice's video is refused before anything decodes it, if it is.
pub(super) fn video_out_of_bounds(p: &codec::Parameters, rate: Rational) -> Option<String> {
    let (w, h) = video_dims(p);
    if w == 0 || h == 0 || w as u64 * h as u64 > MAX_PIXELS {
        return Some(format!("video is {w}x{h}; at most {MAX_PIXELS} pixels are accepted"));
    }
    if rate.denominator() > 0 && rate.numerator() > MAX_FPS * rate.denominator() {
        return Some(format!(
            "video declares {rate} frames per second; at most {MAX_FPS} are accepted"
        ));
    }
    None
}

pub(super) fn video_dims(p: &codec::Parameters) -> (u32, u32) {
    // SAFETY: p wraps a valid AVCodecParameters for as long as it lives.
    unsafe { ((*p.as_ptr()).width as u32, (*p.as_ptr()).height as u32) }
}

pub(super) fn audio_format(p: &codec::Parameters) -> (i64, i64) {
    // SAFETY: as above.
    unsafe {
        let p = &*p.as_ptr();
        (
            p.sample_rate as i64,
            if p.frame_size > 0 { p.frame_size as i64 } else { 1024 },
        )
    }
}

pub(super) fn audio_channels(p: &codec::Parameters) -> i32 {
    // SAFETY: as above.
    unsafe { (*p.as_ptr()).ch_layout.nb_channels }
}

pub(super) fn extradata(p: &codec::Parameters) -> Vec<u8> {
    // SAFETY: as above; extradata is extradata_size bytes when non-null.
    unsafe {
        let p = &*p.as_ptr();
        if p.extradata.is_null() || p.extradata_size <= 0 {
            Vec::new()
        } else {
            std::slice::from_raw_parts(p.extradata, p.extradata_size as usize).to_vec()
        }
    }
}

/// The codec's name as summaries and piece metas store it (`h264`, `aac`): its FFmpeg id, lower
/// case. The assembly compares pieces by it, so every writer of one spells it alike.
pub(super) fn codec_name(id: codec::Id) -> String {
    format!("{id:?}").to_lowercase()
}

/// Clears a stream's codec tag: FLV's tags mean nothing to MP4, whose muxer picks its own.
pub(super) fn clear_codec_tag(p: &mut codec::Parameters) {
    // SAFETY: p wraps a valid AVCodecParameters for as long as it lives.
    unsafe { (*p.as_mut_ptr()).codec_tag = 0 };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamp_conversions_round_trip() {
        let ms = Rational::new(1, 1000);
        assert_eq!(to_us(1234, ms), 1_234_000);
        assert_eq!(from_us(1_234_000, Rational::new(1, 90_000)), 111_060);
        assert_eq!(
            from_us(to_us(441, Rational::new(1, 44100)), Rational::new(1, 44100)),
            441
        );
        // Past the i64 range in microseconds: saturated, never wrapped to a small (plausible) time.
        assert_eq!(to_us(i64::MAX / 1000 + 1, ms), i64::MAX);
        assert_eq!(to_us(i64::MIN / 1000 - 1, ms), i64::MIN);
    }
}
