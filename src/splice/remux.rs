//! The packet loop: read every slice in order, drop what is corrupt, place each packet with the
//! `Timeline` (through `clock`), and mux into one MP4 with `movflags=+faststart`.
//!
//! Defects that never fail the whole recording: a slice cut by a crash is read up to the cut; a
//! packet FFmpeg flags corrupt, or an H.264 packet whose NAL length structure does not add up, is
//! dropped; an empty or unreadable slice is skipped; a slice without audio keeps its place (its
//! video sits at the shared offset and the next slice's audio starts in sync). A slice whose H.264
//! parameter sets differ from the first slice's carries its own SPS/PPS in-band at each keyframe.

use super::budget;
use super::clock::{Clock, Place};
use super::ffparams::{audio_format, extradata, to_us, video_dims, video_out_of_bounds};
use super::h264::{avcc_length_size, avcc_parameter_sets, check_avcc, Verdict};
use super::input::open_flv;
use super::mp4::Mp4Writer;
use super::reencode::Reencoder;
use super::reference::{reference, Reference};
use super::sink::{libav_sink, own_tracks, Sink, OWN_VIDEO_TIMESCALE};
use super::timeline::{Micros, MAX_INPUT_US};
use super::verify::{Checkers, Mode};
use super::{SliceOutcome, SliceReport, Summary};
use crate::progress::Progress;
use anyhow::{bail, Context};
use ffmpeg::codec::Id;
use ffmpeg::{media, Packet, Rational};
use ffmpeg_next as ffmpeg;
use std::collections::VecDeque;
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
/// How many bytes of packets the reader holds back while their keyframe's check runs.
const HOLD_BYTES: usize = 1 << 20;
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
        .fold(super::flvscan::Counts::default(), |a, c| super::flvscan::Counts {
            video: a.video + c.video,
            audio: a.audio + c.audio,
        });
    reserving(inputs, output, super::flvscan::moov_room(counts), started, progress)
}

/// [`splice_files`] through libavformat's MP4 muxer (with a faststart pass) whatever the codecs:
/// the reference our own writer's output is compared with.
pub fn splice_files_libav(inputs: &[PathBuf], output: &Path) -> anyhow::Result<Summary> {
    init();
    splice_with(inputs, output, None, Instant::now(), &Progress::new(), false)
}

/// [`splice_files`] with an explicit index room (for tests and tuning).
pub fn splice_files_reserving(
    inputs: &[PathBuf],
    output: &Path,
    room: u64,
    started: Instant,
) -> anyhow::Result<Summary> {
    init();
    reserving(inputs, output, room, started, &Progress::new())
}

fn reserving(
    inputs: &[PathBuf],
    output: &Path,
    room: u64,
    started: Instant,
    progress: &Progress,
) -> anyhow::Result<Summary> {
    match splice_with(inputs, output, Some(room), started, progress, true) {
        Err(e) if e.to_string().contains(RESERVED_TOO_SMALL) => {
            tracing::info!("index did not fit in {room} bytes; splicing again with a faststart pass");
            splice_with(inputs, output, None, started, progress, false)
        }
        r => r,
    }
}

pub(super) const RESERVED_TOO_SMALL: &str = "reserved index room too small";

fn splice_with(
    inputs: &[PathBuf],
    output: &Path,
    moov_room: Option<u64>,
    started: Instant,
    progress: &Progress,
    own: bool,
) -> anyhow::Result<Summary> {
    let r = reference(inputs, progress)?;
    let (sink, v_tb, a_tb) = match own_tracks(&r).filter(|_| own && moov_room.is_some()) {
        Some(tracks) => {
            let a_tb = r.audio.as_ref().map(|a| Rational::new(1, a.2 as i32));
            let room = moov_room.unwrap_or_default();
            let w =
                Mp4Writer::create(output, tracks, room).with_context(|| format!("creating {}", output.display()))?;
            (Sink::Own(w), Rational::new(1, OWN_VIDEO_TIMESCALE as i32), a_tb)
        }
        None => libav_sink(&r, output, moov_room)?,
    };
    let (rate, frame) = r.audio.as_ref().map(|a| (a.2, a.3)).unwrap_or((48_000, 1024));
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

    let ref_extra = extradata(&r.video);
    let mode = Mode::from_env();
    let mut checkers = Checkers::per_core();
    let mut reports = Vec::with_capacity(inputs.len());
    for path in inputs {
        if progress.cancelled() {
            bail!("cancelled");
        }
        let mut rep = SliceReport::copied(path.clone());
        if let Err(why) = splice_one(&mut mux, &mut checkers, mode, &r, &ref_extra, path, &mut rep, progress) {
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
        audio_codec: r.audio.as_ref().map(|a| format!("{:?}", a.1).to_lowercase()),
        slices: reports,
        elapsed_ms: started.elapsed().as_millis() as u64,
    })
}

/// A packet read and checked, waiting for its GOP's keyframe verdict before it is written.
struct Held {
    packet: Packet,
    /// Video: (dts, pts, duration) in microseconds and the check its GOP waits on; audio: time.
    video: Option<(Micros, Micros, Micros, Option<u64>)>,
    audio_ts: Micros,
}

/// The packets of one slice held back in read order while their keyframe checks run.
#[derive(Default)]
struct Holding {
    q: VecDeque<Held>,
    bytes: usize,
    /// Whether the slice's first video packet (its origin) has been read.
    seen_video: bool,
}

impl Holding {
    fn push(&mut self, h: Held) {
        self.bytes += h.packet.size();
        self.q.push_back(h);
    }

    /// Writes what is decided at the front of the queue; `all`: everything, waiting for verdicts
    /// (the slice ended). Waits anyway once more than HOLD_BYTES are held.
    fn drain(
        &mut self,
        mux: &mut impl Place,
        checkers: &mut Checkers,
        rep: &mut SliceReport,
        sets: Option<&[u8]>,
        all: bool,
    ) -> anyhow::Result<()> {
        while let Some(front) = self.q.front() {
            let full = all || self.bytes > HOLD_BYTES;
            // Audio that precedes the first picture waits for the slice's origin (its PTS).
            if !self.seen_video && !full && self.q.len() < 1024 {
                break;
            }
            if let Some((_, _, _, Some(id))) = front.video {
                let verdict = if full {
                    Some(checkers.wait(id))
                } else {
                    checkers.poll(id)
                };
                match verdict {
                    None => break,
                    Some(false) => {
                        let h = self.q.pop_front().expect("front");
                        self.bytes -= h.packet.size();
                        rep.dropped += 1;
                        continue;
                    }
                    Some(true) => {}
                }
            }
            let h = self.q.pop_front().expect("front");
            self.bytes -= h.packet.size();
            let written = match h.video {
                Some((dts, pts, dur, _)) => {
                    mux.video(h.packet, dts, pts, dur, sets)?;
                    true
                }
                None => mux.audio(h.packet, h.audio_ts)?,
            };
            if written {
                rep.packets += 1;
            }
        }
        Ok(())
    }
}

/// One slice into the muxer. Err(reason) skips the slice (nothing of it was written).
#[allow(clippy::too_many_arguments)]
pub(super) fn splice_one(
    mux: &mut impl Place,
    checkers: &mut Checkers,
    mode: Mode,
    r: &Reference,
    ref_extra: &[u8],
    path: &Path,
    rep: &mut SliceReport,
    progress: &Progress,
) -> Result<(), String> {
    let mut ictx = open_flv(path, progress).map_err(|e| format!("unreadable as FLV: {e}"))?;
    let vs = ictx.streams().best(media::Type::Video).ok_or("no video stream")?;
    let (vi, vtb, vp) = (vs.index(), vs.time_base(), vs.parameters());
    if let Some(why) = video_out_of_bounds(&vp, vs.avg_frame_rate()) {
        return Err(why);
    }
    let mut reencoder = None;
    if vp.id() != r.video_id || video_dims(&vp) != (r.width, r.height) {
        if r.video_id != Id::H264 {
            let (w, h) = video_dims(&vp);
            return Err(format!(
                "video is {:?} {w}x{h}; only H.264 output can take re-encoded slices",
                vp.id()
            ));
        }
        let re = Reencoder::new(&vp, vtb, r.width, r.height, r.fps).map_err(|e| format!("cannot re-encode: {e:#}"))?;
        rep.outcome = SliceOutcome::Reencoded;
        reencoder = Some(re);
    }
    let sets = match &reencoder {
        Some(re) => {
            mux.in_band();
            Some(re.param_sets.clone())
        }
        None => {
            let own = extradata(&vp);
            if own != ref_extra {
                mux.in_band();
            }
            avcc_parameter_sets(&own)
        }
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
    checkers.set_params(&vp);
    let mut hold = Holding::default();
    // The check the current GOP's packets wait on, and whether the rest of the GOP is lost.
    let mut gop_check: Option<u64> = None;
    let mut gop_dead = false;
    mux.begin_slice();
    let start = mux.end();
    let fail = |e: anyhow::Error| format!("writing failed: {e:#}");
    loop {
        // A fresh packet per read: av_read_frame does not release what a reused packet holds.
        let mut packet = Packet::empty();
        if progress.cancelled() {
            return Err("cancelled".into());
        }
        match packet.read(&mut ictx) {
            Ok(()) => progress.tick(packet.size() as u64),
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
        // A time FLV cannot hold (a garbled packet, or a file that is not FLV at all) would throw
        // the timeline's arithmetic off, up to overflow: such a packet is corrupt.
        let tb = ictx.stream(si).map_or(vtb, |s| s.time_base());
        let implausible = |t: i64| to_us(t, tb).unsigned_abs() > MAX_INPUT_US as u64;
        if implausible(dts) || packet.pts().is_some_and(implausible) || implausible(packet.duration()) {
            rep.dropped += 1;
            continue;
        }
        if si == vi {
            let pts = packet.pts().unwrap_or(dts);
            if !hold.seen_video {
                // The slice's origin: the presentation time of its first picture.
                hold.seen_video = true;
                mux.set_origin(to_us(pts, vtb));
            }
            if let Some(re) = &mut reencoder {
                hold.drain(mux, checkers, rep, sets.as_deref(), true).map_err(fail)?;
                rep.packets += reencode_into(mux, re, Some(&packet), r.frame_us, sets.as_deref()).map_err(fail)?;
                continue;
            }
            let verdict = if r.video_id == Id::H264 {
                check_avcc(packet.data().unwrap_or_default(), nal_len)
            } else {
                Verdict::Sound
            };
            match verdict {
                Verdict::Malformed(_) => {
                    rep.dropped += 1;
                    continue;
                }
                Verdict::Suspect(_) if !packet.is_key() => {
                    // A non-conformant inter frame: what refers to it is lost up to the next keyframe.
                    gop_dead = true;
                }
                _ => {}
            }
            if packet.is_key() {
                gop_dead = false;
                let decode = mode == Mode::Keyframes || matches!(verdict, Verdict::Suspect(_));
                gop_check = decode.then(|| checkers.submit(&packet));
            }
            if gop_dead {
                rep.dropped += 1;
                continue;
            }
            let dur = if packet.duration() > 0 {
                to_us(packet.duration(), vtb)
            } else {
                r.frame_us
            };
            hold.push(Held {
                packet,
                video: Some((to_us(dts, vtb), to_us(pts, vtb), dur, gop_check)),
                audio_ts: 0,
            });
        } else if let Some((ai, atb)) = audio {
            if si != ai {
                continue;
            }
            hold.push(Held {
                packet,
                video: None,
                audio_ts: to_us(dts, atb),
            });
        } else {
            continue;
        }
        hold.drain(mux, checkers, rep, sets.as_deref(), false).map_err(fail)?;
    }
    hold.drain(mux, checkers, rep, sets.as_deref(), true).map_err(fail)?;
    if let Some(re) = &mut reencoder {
        rep.packets += reencode_into(mux, re, None, r.frame_us, sets.as_deref()).map_err(fail)?;
    }
    if rep.packets == 0 {
        return Err(rep.note.clone().unwrap_or_else(|| "no packets".into()));
    }
    rep.duration_ms = (mux.end() - start) / 1000;
    Ok(())
}

/// Re-encodes `packet` (None: the slice ended) and writes what the encoder gives back; returns how
/// many packets that was.
fn reencode_into(
    mux: &mut impl Place,
    re: &mut Reencoder,
    packet: Option<&Packet>,
    frame_us: Micros,
    sets: Option<&[u8]>,
) -> anyhow::Result<u64> {
    let mut n = 0;
    for p in re.push(packet)? {
        let (dts, pts) = (p.dts().unwrap_or(0), p.pts().unwrap_or(0));
        mux.video(p, dts, pts, frame_us, sets)?;
        n += 1;
    }
    Ok(n)
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
