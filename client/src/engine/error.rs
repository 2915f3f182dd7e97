//! What can end a recording from inside the engine: the encoders, the FLV files, or the video
//! source it was fed from.

use ffmpeg_next as ffmpeg;
use std::path::PathBuf;

/// Why the engine stopped (or an encoder or FLV file failed). The messages are the ones the task
/// book and the API report, so they name the file or the step.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("this FFmpeg has no H.264 encoder (libx264)")]
    NoH264Encoder,
    #[error("this FFmpeg has no AAC encoder")]
    NoAacEncoder,
    /// Opening an encoder or handing it a frame: `step` says which ("opening libx264", ...).
    #[error("{step}: {source}")]
    Encoder { step: &'static str, source: ffmpeg::Error },
    /// FFmpeg's own error where no step is worth naming (setting up or draining an encoder).
    #[error(transparent)]
    Codec(#[from] ffmpeg::Error),
    /// The FLV muxer, while `step` ("writing", "finishing") `path`.
    #[error("{step} {}: {source}", path.display())]
    Muxer {
        step: &'static str,
        path: PathBuf,
        source: ffmpeg::Error,
    },
    /// Opening or syncing the file under `path`.
    #[error("{}: {source}", path.display())]
    File { path: PathBuf, source: std::io::Error },
    /// The last fsync of a finished file. No `From`: every other I/O error names its file.
    #[error(transparent)]
    Io(std::io::Error),
    /// The video source failed for good.
    #[error(transparent)]
    Capture(#[from] crate::capture::Error),
}
