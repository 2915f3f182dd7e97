//! The whole splice: every slice in order through the packet loop (`slice`), each kept packet
//! placed with the `Timeline` (through `clock`), and muxed into one MP4 with its index at the
//! front (room kept for it, or `movflags=+faststart`).
//!
//! This file holds the entry points and what one splice is ([`Splice`]); `run` is one pass of the
//! packet loop into a writer, `muxer` the [`Place`](super::clock::Place) that pass fills.

mod muxer;
mod run;

use super::sink::RoomTooSmall;
use super::Summary;
use crate::progress::Progress;
use anyhow::bail;
use ffmpeg_next as ffmpeg;
use localrecord_crypt::Key;
use std::path::{Path, PathBuf};
use std::time::Instant;

pub(crate) fn init() {
    static INIT: std::sync::Once = std::sync::Once::new();
    INIT.call_once(|| {
        // Not `ffmpeg::init()`: with the recorder's `device` feature unified into a workspace
        // build it registers capture devices, which links libavdevice and its ~200 libraries
        // (X11, SDL, sound servers) into the server. On FFmpeg >= 5 nothing else needs registering.
        ffmpeg::util::error::register_all();
        ffmpeg::util::log::set_level(ffmpeg::util::log::Level::Fatal);
    });
}

/// An encrypted splice (issue 14): each input's key, in input order, and the output's.
pub struct Sealing {
    pub inputs: Vec<Key>,
    pub output: Key,
}

/// One splice: its slices, what is known of them, where it goes. Every pass over the slices
/// (the first, and the faststart retry) reads them alike.
struct Splice<'a> {
    inputs: &'a [PathBuf],
    /// `known[i]`: the keyframe verdicts an earlier read found for `inputs[i]` (see `verify`).
    known: &'a [Option<Vec<u32>>],
    output: &'a Path,
    progress: &'a Progress,
    /// When the splice began, for the summary's `elapsed_ms`.
    started: Instant,
    /// Encrypted in and out: always our own writer, sealed.
    sealing: Option<&'a Sealing>,
}

impl<'a> Splice<'a> {
    /// Every entry point's preamble: FFmpeg initialised, and at least one slice.
    fn new(
        inputs: &'a [PathBuf],
        known: &'a [Option<Vec<u32>>],
        output: &'a Path,
        progress: &'a Progress,
    ) -> anyhow::Result<Splice<'a>> {
        init();
        if inputs.is_empty() {
            bail!("no slices to splice");
        }
        Ok(Splice {
            inputs,
            known,
            output,
            progress,
            started: Instant::now(),
            sealing: None,
        })
    }

    /// The index written into `room` kept at the front; should it not fit (a slice was
    /// re-encoded into more packets, say), spliced again the classic way.
    fn reserving(&self, room: u64) -> anyhow::Result<Summary> {
        match self.run(Some(room)) {
            Err(e) if e.is::<RoomTooSmall>() => {
                tracing::info!("index did not fit in {room} bytes; splicing again with a faststart pass");
                self.run(None)
            }
            r => r,
        }
    }
}

/// Splices `inputs`, in order, into the MP4 at `output`, index at the front.
pub fn splice_files(inputs: &[PathBuf], output: &Path) -> anyhow::Result<Summary> {
    splice_files_watched(inputs, output, &Progress::new())
}

/// [`splice_files`] reporting bytes read to `progress`, and ending early (an error) once it is
/// cancelled.
pub fn splice_files_watched(inputs: &[PathBuf], output: &Path, progress: &Progress) -> anyhow::Result<Summary> {
    splice_files_known(inputs, &[], output, progress)
}

/// [`splice_files_watched`] with the verdicts on slices' keyframes an earlier read found
/// (`known[i]` for `inputs[i]`, see `verify`; missing or None: decode them): those slices' keyframes
/// are not decoded again. Each slice's report says what this read found.
pub fn splice_files_known(
    inputs: &[PathBuf],
    known: &[Option<Vec<u32>>],
    output: &Path,
    progress: &Progress,
) -> anyhow::Result<Summary> {
    Splice::new(inputs, known, output, progress)?; // the preamble; the passes make their own
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    if let Some(summary) = super::parallel::splice(inputs, known, output, threads, progress)? {
        return Ok(summary);
    }
    splice_files_sequential(inputs, known, output, progress)
}

/// The splice one slice after the other through one packet loop (what [`splice_files_known`]
/// falls back to when the parallel splice does not apply; the reference the parallel one is held
/// to in tests).
pub fn splice_files_sequential(
    inputs: &[PathBuf],
    known: &[Option<Vec<u32>>],
    output: &Path,
    progress: &Progress,
) -> anyhow::Result<Summary> {
    let splice = Splice::new(inputs, known, output, progress)?;
    // Room for the index, from a walk over the slices' tag headers.
    let counts = inputs
        .iter()
        .map(|p| super::flvscan::count(p))
        .fold(super::flvscan::Counts::default(), |a, c| a + c);
    splice.reserving(super::flvscan::moov_room(counts))
}

/// [`splice_files`] through libavformat's MP4 muxer (with a faststart pass) whatever the codecs:
/// the reference our own writer's output is compared with.
pub fn splice_files_libav(inputs: &[PathBuf], output: &Path) -> anyhow::Result<Summary> {
    Splice::new(inputs, &[], output, &Progress::new())?.run(None)
}

/// [`splice_files`] with an explicit index room (for tests and tuning).
pub fn splice_files_reserving(
    inputs: &[PathBuf],
    output: &Path,
    room: u64,
    started: Instant,
) -> anyhow::Result<Summary> {
    let progress = Progress::new();
    let splice = Splice {
        started,
        ..Splice::new(inputs, &[], output, &progress)?
    };
    splice.reserving(room)
}

/// Splices encrypted slices into an encrypted MP4 with its index at the front (see
/// `mp4::sealed`), one slice after the other: nothing decrypted ever reaches the disk. Takes what
/// our own MP4 writer takes (H.264 with AAC or no audio: what recorders send).
pub fn splice_files_sealed(
    inputs: &[PathBuf],
    known: &[Option<Vec<u32>>],
    sealing: &Sealing,
    output: &Path,
    progress: &Progress,
) -> anyhow::Result<Summary> {
    let splice = Splice::new(inputs, known, output, progress).ok();
    let Some(splice) = splice.filter(|_| sealing.inputs.len() == inputs.len()) else {
        bail!("no slices to splice, or not one key per slice");
    };
    Splice {
        sealing: Some(sealing),
        ..splice
    }
    .run(None)
}
