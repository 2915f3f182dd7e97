//! Splicing FLV slices into one MP4 (index at the front) by stream copy with FFmpeg's libraries.
//! See `timeline` for where packets land, `slice` for the packet loop and its defect handling, and
//! `remux` for the whole splice.
//! Blocking: run it on a blocking thread.

pub mod assemble;
pub mod budget;
mod clock;
mod ffparams;
pub mod flvscan;
pub mod h264;
mod hold;
pub mod input;
pub mod mp4;
mod parallel;
pub mod piece;
pub mod reencode;
mod reference;
pub mod remux;
mod sink;
mod slice;
pub mod timeline;
pub mod verify;

use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// What became of one input slice.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum SliceOutcome {
    /// copied whole
    Copied,
    /// read up to a cut (a crash mid-write); everything before it is in the output
    Truncated,
    /// its video differed from the first slice's (size or codec) and was re-encoded to match
    Reencoded,
    /// not usable at all (empty, not FLV, no video); skipped, the rest is unaffected
    Skipped,
}

#[derive(Debug, Clone, Serialize)]
pub struct SliceReport {
    pub path: PathBuf,
    pub outcome: SliceOutcome,
    /// packets written
    pub packets: u64,
    /// corrupt packets dropped
    pub dropped: u64,
    /// content length placed on the output timeline, ms
    pub duration_ms: i64,
    pub has_audio: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// Which of its keyframes (ordinals from 0 in read order) failed to decode, when every one
    /// was decoded or its verdict given: what a later read may pass back instead of decoding.
    #[serde(skip)]
    pub bad_keyframes: Option<Vec<u32>>,
}

impl SliceReport {
    /// A slice about to be read: copied whole until something says otherwise.
    pub fn copied(path: PathBuf) -> SliceReport {
        SliceReport {
            path,
            outcome: SliceOutcome::Copied,
            packets: 0,
            dropped: 0,
            duration_ms: 0,
            has_audio: false,
            note: None,
            bad_keyframes: None,
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    pub output: PathBuf,
    pub size: u64,
    pub duration_ms: i64,
    pub width: u32,
    pub height: u32,
    pub video_codec: String,
    pub audio_codec: Option<String>,
    pub slices: Vec<SliceReport>,
    pub elapsed_ms: u64,
    /// Spliced on every core (`parallel`), rather than one slice after the other.
    pub parallel: bool,
}

impl Summary {
    pub fn skipped(&self) -> usize {
        self.slices
            .iter()
            .filter(|s| s.outcome == SliceOutcome::Skipped)
            .count()
    }
}

pub use remux::{
    splice_files, splice_files_known, splice_files_libav, splice_files_reserving, splice_files_sealed,
    splice_files_sequential, splice_files_watched, Sealing,
};
