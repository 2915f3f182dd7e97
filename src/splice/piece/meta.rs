//! What a piece knows of its slice besides the packet table: [`PieceMeta`], stored beside the
//! table as JSON. Its streams are kept as the assembly needs them to rebuild the output's tracks
//! (codec names, sizes, and the codec configuration records in hex).

use super::VERSION;
use crate::splice::ffparams::{audio_channels, codec_name, extradata};
use crate::splice::reference::{AudioRef, Reference};
use crate::splice::timeline::Micros;
use crate::splice::SliceOutcome;
use serde::{Deserialize, Serialize};

/// The slice's video, as the output's reference would take it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VideoMeta {
    /// FFmpeg's codec name (`h264` for what the fast path takes).
    pub codec: String,
    pub width: u32,
    pub height: u32,
    pub frame_us: Micros,
    /// The avcC record (hex).
    pub config: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AudioMeta {
    pub codec: String,
    pub rate: i64,
    /// Samples per packet.
    pub frame: i64,
    pub channels: i32,
    /// The AudioSpecificConfig (hex).
    pub config: String,
}

impl VideoMeta {
    pub(super) fn of(r: &Reference) -> VideoMeta {
        VideoMeta {
            codec: codec_name(r.video_id),
            width: r.width,
            height: r.height,
            frame_us: r.frame_us,
            config: hex(&extradata(&r.video)),
        }
    }
}

impl AudioMeta {
    pub(super) fn of(a: &AudioRef) -> AudioMeta {
        AudioMeta {
            codec: codec_name(a.id),
            rate: a.sample_rate,
            frame: a.frame_size,
            channels: audio_channels(&a.params),
            config: hex(&extradata(&a.params)),
        }
    }
}

/// What a piece knows of its slice besides the packet table.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PieceMeta {
    pub version: u32,
    /// None: no readable video stream within bounds (never a reference).
    pub video: Option<VideoMeta>,
    pub audio: Option<AudioMeta>,
    /// How many table entries preceded the slice's origin (the PTS of its first picture).
    pub origin_at: Option<usize>,
    pub origin: Option<Micros>,
    pub outcome: SliceOutcome,
    pub dropped: u64,
    pub note: Option<String>,
    /// The packet loop asked for in-band parameter sets (never for a slice alone; kept so the
    /// assembly refuses rather than guesses).
    pub in_band: bool,
    /// More packets than the cap ([`MAX_ENTRIES`](super::MAX_ENTRIES) by default): no table was
    /// kept.
    #[serde(default)]
    pub oversized: bool,
    /// The keyframe verdicts this preparation found (see `verify`), when every keyframe had one.
    #[serde(default)]
    pub bad_keyframes: Option<Vec<u32>>,
}

impl PieceMeta {
    /// A slice that could not be read at all, for `note`.
    pub(super) fn skipped(note: String) -> PieceMeta {
        PieceMeta {
            version: VERSION,
            video: None,
            audio: None,
            origin_at: None,
            origin: None,
            outcome: SliceOutcome::Skipped,
            dropped: 0,
            note: Some(note),
            in_band: false,
            oversized: false,
            bad_keyframes: None,
        }
    }
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

pub fn unhex(s: &str) -> Option<Vec<u8>> {
    s.len()
        .is_multiple_of(2)
        .then(|| {
            (0..s.len())
                .step_by(2)
                .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
                .collect()
        })
        .flatten()
}
