//! Where the splice's placed packets go: our own MP4 writer for what recorders send (H.264, with
//! AAC or no audio), which writes the media once and the index into room kept at the front; or
//! libavformat's muxer for anything else FLV may carry (other codecs, MP3 audio).

use super::budget;
use super::ffparams::{clear_codec_tag, extradata};
use super::mp4::{Codec, Mp4Writer};
use super::reference::Reference;
use anyhow::Context;
use ffmpeg::codec::Id;
use ffmpeg::{format, Packet, Rational};
use ffmpeg_next as ffmpeg;
use std::path::Path;

/// Where placed packets go: our own MP4 writer (H.264 with AAC or no audio: what recorders send),
/// or libavformat's muxer for anything else FLV may carry.
pub(super) enum Sink {
    Own(Mp4Writer),
    Libav(format::context::Output),
}

/// libavformat's index outgrew the room kept for it at the front of the output. The splice then
/// runs again with a faststart pass: the one failure a splice recovers from, so it has a type.
#[derive(Debug, thiserror::Error)]
#[error("reserved index room too small ({room} bytes): {cause}")]
pub(super) struct RoomTooSmall {
    room: u64,
    cause: ffmpeg::Error,
}

/// The video timescale of our own writer: 90 kHz, as libavformat's muxer picks for FLV input.
pub(super) const OWN_VIDEO_TIMESCALE: u32 = 90_000;

impl Sink {
    pub(super) fn run(self, rx: budget::Receiver<Vec<Packet>>, moov_room: Option<u64>) -> anyhow::Result<()> {
        match self {
            Sink::Own(mut w) => {
                while let Some(batch) = rx.recv() {
                    for p in batch {
                        let (Some(dts), Some(data)) = (p.dts(), p.data()) else {
                            continue;
                        };
                        w.write(p.stream(), data, dts, p.pts().unwrap_or(dts), p.duration(), p.is_key())
                            .context("writing the MP4")?;
                    }
                }
                w.finish().context("finishing the MP4")?;
                Ok(())
            }
            Sink::Libav(mut octx) => {
                while let Some(batch) = rx.recv() {
                    for p in batch {
                        p.write_interleaved(&mut octx).context("writing the MP4")?;
                    }
                }
                octx.write_trailer().map_err(|e| match moov_room {
                    Some(room) => RoomTooSmall { room, cause: e }.into(),
                    None => anyhow::anyhow!("finishing the MP4: {e}"),
                })
            }
        }
    }
}

/// The tracks our own writer makes for this reference, if it can.
pub(super) fn own_tracks(r: &Reference) -> Option<Vec<(Codec, u32)>> {
    let avcc = extradata(&r.video);
    if r.video_id != Id::H264 || avcc.first() != Some(&1) || r.width > u16::MAX as u32 || r.height > u16::MAX as u32 {
        return None;
    }
    let mut tracks = vec![(
        Codec::Avc {
            avcc,
            width: r.width as u16,
            height: r.height as u16,
        },
        OWN_VIDEO_TIMESCALE,
    )];
    if let Some(a) = &r.audio {
        let asc = extradata(&a.params);
        let channels = super::ffparams::audio_channels(&a.params);
        if a.id != Id::AAC || asc.is_empty() || !(1..=8).contains(&channels) || !(1..=96_000).contains(&a.sample_rate) {
            return None;
        }
        tracks.push((
            Codec::Aac {
                asc,
                channels: channels as u16,
                sample_rate: a.sample_rate as u32,
            },
            a.sample_rate as u32,
        ));
    }
    Some(tracks)
}

/// libavformat's MP4 muxer, header written; with the video and audio time bases it settled on.
pub(super) fn libav_sink(
    r: &Reference,
    output: &Path,
    moov_room: Option<u64>,
) -> anyhow::Result<(Sink, Rational, Option<Rational>)> {
    let mut octx = format::output_as(output, "mp4").with_context(|| format!("creating {}", output.display()))?;
    {
        let mut v = octx.add_stream(ffmpeg::encoder::find(Id::None))?;
        v.set_parameters(r.video.clone());
        v.set_time_base(Rational::new(1, 90_000));
        clear_codec_tag(&mut v.parameters());
    }
    if let Some(audio) = &r.audio {
        let mut a = octx.add_stream(ffmpeg::encoder::find(Id::None))?;
        a.set_parameters(audio.params.clone());
        a.set_time_base(Rational::new(1, audio.sample_rate as i32));
        clear_codec_tag(&mut a.parameters());
    }
    let mut opts = ffmpeg::Dictionary::new();
    match moov_room {
        Some(n) => opts.set("moov_size", &n.to_string()),
        None => opts.set("movflags", "+faststart"),
    }
    octx.write_header_with(opts).context("writing the MP4 header")?;
    let v_tb = octx.stream(0).expect("video stream").time_base();
    let a_tb = octx.stream(1).map(|s| s.time_base());
    Ok((Sink::Libav(octx), v_tb, a_tb))
}
