//! The reference: the streams the output is made to look like, from the first usable slice.

use super::ffparams::{audio_format, video_dims, video_out_of_bounds};
use super::input::open_slice;
use super::timeline::Micros;
use crate::progress::Progress;
use anyhow::Context;
use ffmpeg::codec::{self, Id};
use ffmpeg::format::context::Input;
use ffmpeg::{media, Rational};
use ffmpeg_next as ffmpeg;
use localrecord_crypt::Key;
use std::path::PathBuf;

/// What the output is made to look like: the first usable slice's streams.
pub(super) struct Reference {
    pub(super) video: codec::Parameters,
    pub(super) video_id: Id,
    pub(super) width: u32,
    pub(super) height: u32,
    pub(super) frame_us: Micros,
    pub(super) fps: Rational,
    pub(super) audio: Option<AudioRef>,
}

/// The reference's audio: the first audio stream in the slices from the reference's video on.
pub(super) struct AudioRef {
    pub(super) params: codec::Parameters,
    pub(super) id: Id,
    /// Samples per second: the output's audio time base.
    pub(super) sample_rate: i64,
    /// Samples per packet (1024 where the stream does not say): the step of the audio timeline.
    pub(super) frame_size: i64,
}

/// Scans slices until the first with usable video (and the first with audio) is found.
/// An H.264 slice is preferred: a first slice in another codec (garbled, or from another encoder)
/// would otherwise make an output that no H.264 slice can join.
/// `keys`: each input's key, when they are encrypted.
pub(super) fn reference(inputs: &[PathBuf], keys: Option<&[Key]>, progress: &Progress) -> anyhow::Result<Reference> {
    match reference_where(inputs, keys, progress, true)? {
        Some(r) => Ok(r),
        None => reference_where(inputs, keys, progress, false)?.context("no slice has a readable video stream"),
    }
}

fn reference_where(
    inputs: &[PathBuf],
    keys: Option<&[Key]>,
    progress: &Progress,
    h264_only: bool,
) -> anyhow::Result<Option<Reference>> {
    let mut video: Option<Reference> = None;
    for (i, path) in inputs.iter().enumerate() {
        let key = keys.and_then(|k| k.get(i));
        let Ok(ictx) = open_slice(path, key, progress) else {
            continue;
        };
        progress.tick(0);
        if video.is_none() {
            video = video_of(&ictx, h264_only);
        }
        if let Some(r) = &mut video {
            if r.audio.is_none() {
                r.audio = audio_of(&ictx);
            }
            if r.audio.is_some() {
                break;
            }
        }
    }
    Ok(video)
}

/// The reference one opened slice makes on its own (a slice prepared alone is its own reference).
pub(super) fn reference_of(ictx: &Input) -> Option<Reference> {
    let mut r = video_of(ictx, false)?;
    r.audio = audio_of(ictx);
    Some(r)
}

/// The slice's video as a reference (without audio); None: no usable video stream.
fn video_of(ictx: &Input, h264_only: bool) -> Option<Reference> {
    let s = ictx
        .streams()
        .best(media::Type::Video)
        .filter(|s| video_out_of_bounds(&s.parameters(), s.avg_frame_rate()).is_none())
        .filter(|s| !h264_only || s.parameters().id() == Id::H264)?;
    let p = s.parameters();
    let (width, height) = video_dims(&p);
    let rate = s.avg_frame_rate();
    let frame_us = if rate.numerator() > 0 {
        1_000_000 * rate.denominator() as i64 / rate.numerator() as i64
    } else {
        66_667
    };
    Some(Reference {
        video_id: p.id(),
        video: p,
        width,
        height,
        frame_us,
        fps: if rate.numerator() > 0 {
            rate
        } else {
            Rational::new(15, 1)
        },
        audio: None,
    })
}

fn audio_of(ictx: &Input) -> Option<AudioRef> {
    let p = ictx.streams().best(media::Type::Audio)?.parameters();
    let (sample_rate, frame_size) = audio_format(&p);
    Some(AudioRef {
        params: p.clone(),
        id: p.id(),
        sample_rate,
        frame_size,
    })
}
