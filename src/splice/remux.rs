//! The whole splice: every slice in order through the packet loop (`slice`), each kept packet
//! placed with the `Timeline` (through `clock`), and muxed into one MP4 with its index at the
//! front (room kept for it, or `movflags=+faststart`).

use super::budget;
use super::clock::{Clock, Place};
use super::mp4::Mp4Writer;
use super::reference::{reference, Reference};
use super::sink::{libav_sink, own_tracks, RoomTooSmall, Sink, OWN_VIDEO_TIMESCALE};
use super::slice::{splice_one, SliceCtx, SliceIn};
use super::timeline::Micros;
use super::{SliceOutcome, SliceReport, Summary};
use crate::progress::Progress;
use anyhow::{bail, Context};
use ffmpeg::{Packet, Rational};
use ffmpeg_next as ffmpeg;
use localrecord_crypt::Key;
use std::path::{Path, PathBuf};
use std::time::Instant;

pub(crate) fn init() {
    static INIT: std::sync::Once = std::sync::Once::new();
    INIT.call_once(|| {
        ffmpeg::init().expect("FFmpeg initialises");
        ffmpeg::util::log::set_level(ffmpeg::util::log::Level::Fatal);
    });
}

/// How far the reader may run ahead of the MP4 writer, in bytes of packets.
const IN_FLIGHT_BYTES: usize = 1 << 20;
/// Bytes of packets handed to the MP4 writer at once.
const BATCH_BYTES: usize = 128 << 10;

/// Where the output's streams stand. Packets go to the writer thread, which owns the MP4: demuxing,
/// keyframe checks and timestamping here overlap with muxing and the faststart pass there.
struct Muxer {
    tx: budget::Sender<Vec<Packet>>,
    /// Packets go to the writer in batches: one hand-over per packet cost more (futex wake-ups,
    /// context switches) than the muxing it moved off this thread.
    batch: Vec<Packet>,
    batch_bytes: usize,
    clock: Clock,
    /// Set once a slice brought other parameter sets: from then on every keyframe carries its own.
    in_band: bool,
}

impl Place for Muxer {
    fn begin_slice(&mut self) {
        self.clock.tl.begin_slice();
    }

    fn set_origin(&mut self, ts: Micros) {
        self.clock.tl.set_origin(ts);
    }

    fn end(&self) -> Micros {
        self.clock.tl.end()
    }

    fn in_band(&mut self) {
        self.in_band = true;
    }

    fn video(&mut self, p: Packet, dts: Micros, pts: Micros, dur: Micros, sets: Option<&[u8]>) -> anyhow::Result<()> {
        let (d, pt, du) = self.clock.video(dts, pts, dur);
        let mut out = match (sets, p.is_key() && self.in_band) {
            (Some(ps), true) => with_prefix(&p, ps),
            _ => p,
        };
        out.set_dts(Some(d));
        out.set_pts(Some(pt));
        out.set_duration(du);
        out.set_stream(0);
        out.set_position(-1);
        self.push(out)
    }

    fn audio(&mut self, mut p: Packet, ts: Micros) -> anyhow::Result<bool> {
        let Some((t, dur)) = self.clock.audio(ts) else {
            return Ok(false);
        };
        p.set_dts(Some(t));
        p.set_pts(Some(t));
        p.set_duration(dur);
        p.set_stream(1);
        p.set_position(-1);
        self.push(p)?;
        Ok(true)
    }
}

impl Muxer {
    fn push(&mut self, p: Packet) -> anyhow::Result<()> {
        self.batch_bytes += p.size();
        self.batch.push(p);
        if self.batch_bytes >= BATCH_BYTES || self.batch.len() >= 256 {
            self.flush()?;
        }
        Ok(())
    }

    fn flush(&mut self) -> anyhow::Result<()> {
        if self.batch.is_empty() {
            return Ok(());
        }
        let n = std::mem::take(&mut self.batch_bytes);
        let batch = std::mem::replace(&mut self.batch, Vec::with_capacity(256));
        self.tx
            .send(batch, n)
            .map_err(|_| anyhow::anyhow!("the MP4 writer stopped"))
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
    init();
    if inputs.is_empty() {
        bail!("no slices to splice");
    }
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
    init();
    let started = Instant::now();
    if inputs.is_empty() {
        bail!("no slices to splice");
    }
    // Room for the index, from a walk over the slices' tag headers; should the index not fit
    // (a slice was re-encoded into more packets, say), splice again the classic way.
    let counts = inputs
        .iter()
        .map(|p| super::flvscan::count(p))
        .fold(super::flvscan::Counts::default(), |a, c| a + c);
    let room = super::flvscan::moov_room(counts);
    match splice_with(inputs, known, output, Some(room), started, progress, true, None) {
        Err(e) if e.is::<RoomTooSmall>() => {
            tracing::info!("index did not fit in {room} bytes; splicing again with a faststart pass");
            splice_with(inputs, known, output, None, started, progress, false, None)
        }
        r => r,
    }
}

/// [`splice_files`] through libavformat's MP4 muxer (with a faststart pass) whatever the codecs:
/// the reference our own writer's output is compared with.
pub fn splice_files_libav(inputs: &[PathBuf], output: &Path) -> anyhow::Result<Summary> {
    init();
    splice_with(inputs, &[], output, None, Instant::now(), &Progress::new(), false, None)
}

/// [`splice_files`] with an explicit index room (for tests and tuning).
pub fn splice_files_reserving(
    inputs: &[PathBuf],
    output: &Path,
    room: u64,
    started: Instant,
) -> anyhow::Result<Summary> {
    init();
    match splice_with(inputs, &[], output, Some(room), started, &Progress::new(), true, None) {
        Err(e) if e.is::<RoomTooSmall>() => {
            splice_with(inputs, &[], output, None, started, &Progress::new(), false, None)
        }
        r => r,
    }
}

/// An encrypted splice (issue 14): each input's key, in input order, and the output's.
pub struct Sealing {
    pub inputs: Vec<Key>,
    pub output: Key,
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
    init();
    if inputs.is_empty() || sealing.inputs.len() != inputs.len() {
        bail!("no slices to splice, or not one key per slice");
    }
    splice_with(
        inputs,
        known,
        output,
        None,
        Instant::now(),
        progress,
        true,
        Some(sealing),
    )
}

/// The writer placed packets go to, with the video and audio time bases it takes them in.
fn make_sink(
    r: &Reference,
    output: &Path,
    moov_room: Option<u64>,
    own: bool,
    sealing: Option<&Sealing>,
) -> anyhow::Result<(Sink, Rational, Option<Rational>)> {
    let created = || format!("creating {}", output.display());
    let a_tb = r.audio.as_ref().map(|a| Rational::new(1, a.sample_rate as i32));
    let v_tb = Rational::new(1, OWN_VIDEO_TIMESCALE as i32);
    if let Some(s) = sealing {
        let Some(tracks) = own_tracks(r) else {
            bail!("an encrypted recording takes H.264 video with AAC or no audio; these slices hold other codecs");
        };
        let w = Mp4Writer::create_sealed(output, tracks, &s.output).with_context(created)?;
        return Ok((Sink::Own(w), v_tb, a_tb));
    }
    match own_tracks(r).filter(|_| own && moov_room.is_some()) {
        Some(tracks) => {
            let room = moov_room.unwrap_or_default();
            let w = Mp4Writer::create(output, tracks, room).with_context(created)?;
            Ok((Sink::Own(w), v_tb, a_tb))
        }
        None => libav_sink(r, output, moov_room),
    }
}

#[allow(clippy::too_many_arguments)]
fn splice_with(
    inputs: &[PathBuf],
    known: &[Option<Vec<u32>>],
    output: &Path,
    moov_room: Option<u64>,
    started: Instant,
    progress: &Progress,
    own: bool,
    sealing: Option<&Sealing>,
) -> anyhow::Result<Summary> {
    let keys = sealing.map(|s| &s.inputs[..]);
    let r = reference(inputs, keys, progress)?;
    let (sink, v_tb, a_tb) = make_sink(&r, output, moov_room, own, sealing)?;
    let (rate, frame) = r
        .audio
        .as_ref()
        .map(|a| (a.sample_rate, a.frame_size))
        .unwrap_or((48_000, 1024));
    // Memory stays bounded: at most IN_FLIGHT_BYTES of packets between the threads.
    let (tx, rx) = budget::channel::<Vec<Packet>>(IN_FLIGHT_BYTES);
    let writer = std::thread::spawn(move || sink.run(rx, moov_room));
    let mut mux = Muxer {
        tx,
        batch: Vec::with_capacity(256),
        batch_bytes: 0,
        clock: Clock::new(r.frame_us, v_tb, a_tb, rate, frame),
        in_band: false,
    };

    let mut ctx = SliceCtx::new(&r, progress);
    let mut reports = Vec::with_capacity(inputs.len());
    for (i, path) in inputs.iter().enumerate() {
        if progress.cancelled() {
            bail!("cancelled");
        }
        let mut rep = SliceReport::copied(path.clone());
        let mut slice = SliceIn::at(path, known.get(i).and_then(|k| k.as_deref()));
        slice.key = keys.and_then(|k| k.get(i));
        if let Err(why) = splice_one(&mut mux, &mut ctx, slice, &mut rep) {
            rep.outcome = SliceOutcome::Skipped;
            rep.note = Some(why);
        }
        reports.push(rep);
    }
    let end = mux.end();
    let flushed = mux.flush();
    drop(mux);
    writer
        .join()
        .map_err(|_| anyhow::anyhow!("the MP4 writer panicked"))??;
    flushed?;
    if progress.cancelled() {
        bail!("cancelled");
    }
    let size = std::fs::metadata(output)?.len();
    Ok(Summary {
        output: output.to_owned(),
        size,
        duration_ms: end / 1000,
        width: r.width,
        height: r.height,
        video_codec: format!("{:?}", r.video_id).to_lowercase(),
        audio_codec: r.audio.as_ref().map(|a| format!("{:?}", a.id).to_lowercase()),
        slices: reports,
        elapsed_ms: started.elapsed().as_millis() as u64,
        parallel: false,
    })
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
