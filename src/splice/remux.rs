//! The packet loop: read every slice in order, drop what is corrupt, place each packet with the
//! [`Timeline`], and mux into one MP4 with `movflags=+faststart`.
//!
//! Defects that never fail the whole recording: a slice cut by a crash is read up to the cut; a
//! packet FFmpeg flags corrupt, or an H.264 packet whose NAL length structure does not add up, is
//! dropped; an empty or unreadable slice is skipped; a slice without audio keeps its place (its
//! video sits at the shared offset and the next slice's audio starts in sync). A slice whose H.264
//! parameter sets differ from the first slice's carries its own SPS/PPS in-band at each keyframe.

use super::timeline::{Micros, Timeline};
use super::verify::KeyframeCheck;
use super::{SliceOutcome, SliceReport, Summary};
use anyhow::{bail, Context};
use ffmpeg::codec::{self, Id};
use ffmpeg::format::{self, context::Input};
use ffmpeg::{media, Packet, Rational};
use ffmpeg_next as ffmpeg;
use std::path::{Path, PathBuf};
use std::time::Instant;

fn init() {
    static INIT: std::sync::Once = std::sync::Once::new();
    INIT.call_once(|| {
        ffmpeg::init().expect("FFmpeg initialises");
        ffmpeg::util::log::set_level(ffmpeg::util::log::Level::Fatal);
    });
}

fn to_us(ts: i64, tb: Rational) -> Micros {
    (ts as i128 * tb.numerator() as i128 * 1_000_000 / tb.denominator().max(1) as i128) as i64
}

fn from_us(us: Micros, tb: Rational) -> i64 {
    let den = tb.numerator().max(1) as i128 * 1_000_000;
    ((us as i128 * tb.denominator() as i128 + den / 2).div_euclid(den)) as i64
}

/// What the output is made to look like: the first usable slice's streams.
struct Reference {
    video: codec::Parameters,
    video_id: Id,
    width: u32,
    height: u32,
    frame_us: Micros,
    audio: Option<(codec::Parameters, Id, i64, i64)>,
}

fn video_dims(p: &codec::Parameters) -> (u32, u32) {
    // SAFETY: p wraps a valid AVCodecParameters for as long as it lives.
    unsafe { ((*p.as_ptr()).width as u32, (*p.as_ptr()).height as u32) }
}

fn audio_format(p: &codec::Parameters) -> (i64, i64) {
    // SAFETY: as above.
    unsafe {
        let p = &*p.as_ptr();
        (
            p.sample_rate as i64,
            if p.frame_size > 0 { p.frame_size as i64 } else { 1024 },
        )
    }
}

fn extradata(p: &codec::Parameters) -> Vec<u8> {
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

/// Scans slices until the first with video (and the first with audio) is found.
fn reference(inputs: &[PathBuf]) -> anyhow::Result<Reference> {
    let mut video: Option<Reference> = None;
    for path in inputs {
        let Ok(ictx) = format::input(path) else { continue };
        if video.is_none() {
            if let Some(s) = ictx.streams().best(media::Type::Video) {
                let p = s.parameters();
                let (width, height) = video_dims(&p);
                let rate = s.avg_frame_rate();
                let frame_us = if rate.numerator() > 0 {
                    1_000_000 * rate.denominator() as i64 / rate.numerator() as i64
                } else {
                    66_667
                };
                video = Some(Reference {
                    video_id: p.id(),
                    video: p,
                    width,
                    height,
                    frame_us,
                    audio: None,
                });
            }
        }
        if let Some(r) = &mut video {
            if r.audio.is_none() {
                if let Some(s) = ictx.streams().best(media::Type::Audio) {
                    let p = s.parameters();
                    let (rate, frame) = audio_format(&p);
                    r.audio = Some((p.clone(), p.id(), rate, frame));
                }
            }
            if r.audio.is_some() {
                break;
            }
        }
    }
    video.context("no slice has a readable video stream")
}

/// Splices `inputs`, in order, into the MP4 at `output`.
pub fn splice_files(inputs: &[PathBuf], output: &Path) -> anyhow::Result<Summary> {
    init();
    let started = Instant::now();
    if inputs.is_empty() {
        bail!("no slices to splice");
    }
    let r = reference(inputs)?;
    let mut octx = format::output_as(output, "mp4").with_context(|| format!("creating {}", output.display()))?;
    {
        let mut v = octx.add_stream(ffmpeg::encoder::find(Id::None))?;
        v.set_parameters(r.video.clone());
        v.set_time_base(Rational::new(1, 90_000));
        // SAFETY: the stream's own codecpar; FLV's codec tag means nothing to MP4.
        unsafe { (*v.parameters().as_mut_ptr()).codec_tag = 0 };
    }
    if let Some((p, _, rate, _)) = &r.audio {
        let mut a = octx.add_stream(ffmpeg::encoder::find(Id::None))?;
        a.set_parameters(p.clone());
        a.set_time_base(Rational::new(1, *rate as i32));
        // SAFETY: as above.
        unsafe { (*a.parameters().as_mut_ptr()).codec_tag = 0 };
    }
    let mut opts = ffmpeg::Dictionary::new();
    opts.set("movflags", "+faststart");
    octx.write_header_with(opts).context("writing the MP4 header")?;
    let v_tb = octx.stream(0).expect("video stream").time_base();
    let a_tb = octx.stream(1).map(|s| s.time_base());
    let (rate, frame) = r.audio.as_ref().map(|a| (a.2, a.3)).unwrap_or((48_000, 1024));

    let mut tl = Timeline::new(rate, frame);
    let mut last_v: Option<i64> = None;
    let mut last_a: Option<i64> = None;
    let ref_extra = extradata(&r.video);
    let mut reports = Vec::with_capacity(inputs.len());
    for path in inputs {
        let mut rep = SliceReport {
            path: path.clone(),
            outcome: SliceOutcome::Copied,
            packets: 0,
            dropped: 0,
            duration_ms: 0,
            has_audio: false,
            note: None,
        };
        let skip = |rep: &mut SliceReport, why: String| {
            rep.outcome = SliceOutcome::Skipped;
            rep.note = Some(why);
        };
        let mut ictx = match open(path) {
            Ok(c) => c,
            Err(e) => {
                skip(&mut rep, format!("unreadable: {e}"));
                reports.push(rep);
                continue;
            }
        };
        let Some(vs) = ictx.streams().best(media::Type::Video) else {
            skip(&mut rep, "no video stream".into());
            reports.push(rep);
            continue;
        };
        let (vi, vtb, vp) = (vs.index(), vs.time_base(), vs.parameters());
        if vp.id() != r.video_id || video_dims(&vp) != (r.width, r.height) {
            let (w, h) = video_dims(&vp);
            skip(
                &mut rep,
                format!(
                    "video is {:?} {w}x{h}, not {:?} {}x{}; re-encoding is not implemented yet",
                    vp.id(),
                    r.video_id,
                    r.width,
                    r.height
                ),
            );
            reports.push(rep);
            continue;
        }
        let in_band = {
            let e = extradata(&vp);
            (e != ref_extra).then(|| avcc_parameter_sets(&e)).flatten()
        };
        let nal_len = avcc_length_size(&extradata(&vp)).unwrap_or(4);
        let audio = ictx.streams().best(media::Type::Audio).and_then(|s| {
            let (sr, _) = audio_format(&s.parameters());
            let same = r
                .audio
                .as_ref()
                .is_some_and(|a| a.1 == s.parameters().id() && a.2 == sr);
            same.then(|| (s.index(), s.time_base()))
        });
        rep.has_audio = audio.is_some();
        let mut check = KeyframeCheck::new(&vp);
        let mut skip_gop = false;
        tl.begin_slice();
        let start = tl.end();
        let mut packet = Packet::empty();
        loop {
            match packet.read(&mut ictx) {
                Ok(()) => {}
                Err(ffmpeg::Error::Eof) => break,
                Err(ffmpeg::Error::InvalidData) => {
                    rep.dropped += 1;
                    continue;
                }
                Err(e) => {
                    rep.outcome = SliceOutcome::Truncated;
                    rep.note = Some(format!("read stopped: {e}"));
                    break;
                }
            }
            let si = packet.stream();
            let Some(dts) = packet.dts().or(packet.pts()) else {
                rep.dropped += 1;
                continue;
            };
            if packet.is_corrupt() {
                rep.dropped += 1;
                continue;
            }
            if si == vi {
                let data = packet.data().unwrap_or_default();
                if r.video_id == Id::H264 && !valid_avcc(data, nal_len) {
                    rep.dropped += 1;
                    continue;
                }
                if packet.is_key() {
                    skip_gop = check.as_mut().is_some_and(|c| !c.keyframe_ok(&packet));
                }
                if skip_gop {
                    rep.dropped += 1;
                    continue;
                }
                let pts = packet.pts().unwrap_or(dts);
                let dur = if packet.duration() > 0 {
                    to_us(packet.duration(), vtb)
                } else {
                    r.frame_us
                };
                let (od, op) = tl.video(to_us(dts, vtb), to_us(pts, vtb), dur);
                let mut d = from_us(od, v_tb);
                if let Some(l) = last_v {
                    d = d.max(l + 1);
                }
                last_v = Some(d);
                let mut out = match (&in_band, packet.is_key()) {
                    (Some(ps), true) => with_prefix(&packet, ps),
                    _ => packet.clone(),
                };
                out.set_dts(Some(d));
                out.set_pts(Some(from_us(op, v_tb).max(d)));
                out.set_duration(from_us(dur, v_tb));
                out.set_stream(0);
                out.set_position(-1);
                out.write_interleaved(&mut octx).context("writing video")?;
            } else if let (Some((ai, atb)), Some(out_tb)) = (audio, a_tb) {
                if si != ai {
                    continue;
                }
                let s = tl.audio(to_us(dts, atb));
                let mut t = s * out_tb.denominator() as i64 / (rate * out_tb.numerator() as i64).max(1);
                if let Some(l) = last_a {
                    t = t.max(l + 1);
                }
                last_a = Some(t);
                packet.set_dts(Some(t));
                packet.set_pts(Some(t));
                packet.set_duration(frame * out_tb.denominator() as i64 / (rate * out_tb.numerator() as i64).max(1));
                packet.set_stream(1);
                packet.set_position(-1);
                packet.write_interleaved(&mut octx).context("writing audio")?;
            } else {
                continue;
            }
            rep.packets += 1;
        }
        if rep.packets == 0 && rep.outcome != SliceOutcome::Skipped {
            let why = rep.note.clone().unwrap_or_else(|| "no packets".into());
            skip(&mut rep, why);
        }
        rep.duration_ms = (tl.end() - start) / 1000;
        reports.push(rep);
    }
    octx.write_trailer().context("finishing the MP4")?;
    let size = std::fs::metadata(output)?.len();
    Ok(Summary {
        output: output.to_owned(),
        size,
        duration_ms: tl.end() / 1000,
        width: r.width,
        height: r.height,
        video_codec: format!("{:?}", r.video_id).to_lowercase(),
        audio_codec: r.audio.as_ref().map(|a| format!("{:?}", a.1).to_lowercase()),
        slices: reports,
        elapsed_ms: started.elapsed().as_millis() as u64,
    })
}

fn open(path: &Path) -> Result<Input, ffmpeg::Error> {
    if std::fs::metadata(path).map(|m| m.len()).unwrap_or(0) == 0 {
        return Err(ffmpeg::Error::Eof);
    }
    format::input(path)
}

/// Bytes per NAL length prefix in an avcC record.
fn avcc_length_size(extra: &[u8]) -> Option<usize> {
    (extra.len() > 5 && extra[0] == 1).then(|| (extra[4] & 3) as usize + 1)
}

/// The SPS and PPS of an avcC record, each length-prefixed (4 bytes), ready to prepend to a packet.
fn avcc_parameter_sets(extra: &[u8]) -> Option<Vec<u8>> {
    if avcc_length_size(extra)? != 4 {
        return None;
    }
    let mut out = Vec::new();
    let mut pos = 5;
    for count_mask in [0x1f_u8, 0xff] {
        let n = (*extra.get(pos)? & count_mask) as usize;
        pos += 1;
        for _ in 0..n {
            let len = u16::from_be_bytes([*extra.get(pos)?, *extra.get(pos + 1)?]) as usize;
            let nal = extra.get(pos + 2..pos + 2 + len)?;
            out.extend_from_slice(&(len as u32).to_be_bytes());
            out.extend_from_slice(nal);
            pos += 2 + len;
        }
    }
    Some(out)
}

fn with_prefix(p: &Packet, prefix: &[u8]) -> Packet {
    let data = p.data().unwrap_or_default();
    let mut out = Packet::new(prefix.len() + data.len());
    let buf = out.data_mut().expect("allocated packet");
    buf[..prefix.len()].copy_from_slice(prefix);
    buf[prefix.len()..].copy_from_slice(data);
    out.set_flags(p.flags());
    out
}

/// Whether an AVCC (length-prefixed) H.264 packet is structurally sound: the NAL lengths add up to
/// the packet, and each NAL header is legal. Garbage bytes almost never pass.
fn valid_avcc(data: &[u8], len_size: usize) -> bool {
    let mut pos = 0;
    if data.is_empty() {
        return false;
    }
    while pos < data.len() {
        let Some(l) = data.get(pos..pos + len_size) else {
            return false;
        };
        let len = l.iter().fold(0usize, |a, b| (a << 8) | *b as usize);
        pos += len_size;
        if len == 0 || pos + len > data.len() {
            return false;
        }
        let header = data[pos];
        // forbidden_zero_bit clear, and a NAL type that exists (1..=23).
        if header & 0x80 != 0 || !(1..=23).contains(&(header & 0x1f)) {
            return false;
        }
        pos += len;
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn avcc_structure_check() {
        let good = [0, 0, 0, 3, 0x65, 1, 2, 0, 0, 0, 2, 0x41, 9];
        assert!(valid_avcc(&good, 4));
        assert!(!valid_avcc(&good[..12], 4), "short");
        assert!(!valid_avcc(&[0, 0, 0, 3, 0xe5, 1, 2], 4), "forbidden bit");
        assert!(!valid_avcc(&[0, 0, 0, 2, 0x00, 1], 4), "type 0");
        assert!(!valid_avcc(&[0xde, 0xad, 0xbe, 0xef, 1, 2, 3], 4), "garbage");
    }

    #[test]
    fn timestamp_conversions_round_trip() {
        let ms = Rational::new(1, 1000);
        assert_eq!(to_us(1234, ms), 1_234_000);
        assert_eq!(from_us(1_234_000, Rational::new(1, 90_000)), 111_060);
        assert_eq!(
            from_us(to_us(441, Rational::new(1, 44100)), Rational::new(1, 44100)),
            441
        );
    }
}
