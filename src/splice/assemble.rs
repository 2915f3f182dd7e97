//! The stop's share of a splice when every slice was prepared as it landed (`piece`): replay the
//! pieces' tables through the splice's own `Clock` (so every packet lands exactly where a splice
//! would put it), write the index, and make the task's body file the MP4 by putting the header in
//! front of it. On a filesystem with `FALLOC_FL_INSERT_RANGE` (ext4, XFS) that is an extent shift,
//! whatever the class's length; elsewhere the body is copied once in the kernel.
//!
//! The fast path covers what recorders send: every usable slice has the first one's H.264
//! parameters (size, avcC) and AAC (or no) audio. Anything else (a slice to re-encode, other
//! parameter sets, other codecs) is [`Plan`]'s `Err`, and the caller splices the classic way.

use super::clock::Clock;
use super::mp4::{free, ftyp, mdat_header, moov, shift_in_place, Codec, Sample, Track};
use super::piece::{unhex, AudioMeta, Entry, PieceMeta, VideoMeta};
use super::sink::OWN_VIDEO_TIMESCALE;
use super::{SliceOutcome, SliceReport, Summary};
use ffmpeg_next::Rational;
use std::fs::File;
use std::io::{Seek, SeekFrom, Write};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

/// One prepared slice as the assembly takes it.
pub struct Prepared<'a> {
    pub path: PathBuf,
    pub meta: &'a PieceMeta,
    /// Owned where the caller has no further use for the table: [`plan`] frees each as soon as it
    /// is replayed (a long class's tables are megabytes).
    pub entries: std::borrow::Cow<'a, [Entry]>,
    /// Where its media starts in the body file.
    pub body_offset: u64,
}

/// What the stop writes: the header (ftyp, moov, padding, the mdat header) to put in front of the
/// body, `align`-sized, and the recording's summary.
pub struct Plan {
    pub header: Vec<u8>,
    /// With [`Room::Exact`]: `header` ends with the head of a `free` box whose zeros (the rest of
    /// the room, which the file already holds as zeros) are not built in memory, and the mdat
    /// header goes here, the last 16 bytes of the room. None: `header` is the whole room.
    pub mdat_header_at: Option<(u64, [u8; 16])>,
    pub summary: Summary,
}

fn tracks_for(v: &VideoMeta, a: Option<&AudioMeta>) -> Result<Vec<Track>, String> {
    let avcc = unhex(&v.config).unwrap_or_default();
    if v.codec != "h264" || avcc.first() != Some(&1) || v.width > u16::MAX as u32 || v.height > u16::MAX as u32 {
        return Err(format!("the reference video is {} {}x{}", v.codec, v.width, v.height));
    }
    let mut t = vec![Track {
        timescale: OWN_VIDEO_TIMESCALE,
        codec: Codec::Avc {
            avcc,
            width: v.width as u16,
            height: v.height as u16,
        },
        samples: Vec::new(),
    }];
    if let Some(a) = a {
        let asc = unhex(&a.config).unwrap_or_default();
        if a.codec != "aac" || asc.is_empty() || !(1..=8).contains(&a.channels) || !(1..=96_000).contains(&a.rate) {
            return Err(format!("the reference audio is {} at {} Hz", a.codec, a.rate));
        }
        t.push(Track {
            timescale: a.rate as u32,
            codec: Codec::Aac {
                asc,
                channels: a.channels as u16,
                sample_rate: a.rate as u32,
            },
            samples: Vec::new(),
        });
    }
    Ok(t)
}

/// How long the header must be.
#[derive(Debug, Clone, Copy)]
pub enum Room {
    /// A multiple of this (the filesystem's block, for [`put_in_front`]).
    Aligned(u64),
    /// Exactly this many bytes: the room kept in front of media already in place.
    Exact(u64),
}

/// The index for `pieces` (in slice order) over a body of `body_len` bytes, the header sized as
/// `room` says. Err(why): the fast path does not apply.
pub fn plan(pieces: Vec<Prepared>, body_len: u64, room: Room) -> Result<Plan, String> {
    let started = std::time::Instant::now();
    let mut replay = Replay::new(&pieces)?;
    let slices = pieces
        .into_iter()
        .enumerate()
        .map(|(i, p)| replay.slice(i, &p))
        .collect::<Result<Vec<_>, _>>()?;
    let mut tracks = std::mem::take(&mut replay.tracks);
    tracks.retain(|t| !t.samples.is_empty());
    if tracks.is_empty() {
        return Err("no packets in any slice".into());
    }
    for t in &mut tracks {
        t.settle_durations();
    }
    let (header, mdat_header_at) = match room {
        Room::Aligned(align) => (header(&mut tracks, body_len, align), None),
        Room::Exact(len) => {
            let h = header_of(&mut tracks, len)
                .ok_or_else(|| format!("the index does not fit in the {len} bytes kept for it"))?;
            (h, Some((len - 16, mdat_header(body_len))))
        }
    };
    let v = &replay.video;
    Ok(Plan {
        summary: Summary {
            output: PathBuf::new(),
            size: header.len() as u64 + body_len,
            duration_ms: replay.clock.tl.end() / 1000,
            width: v.width,
            height: v.height,
            video_codec: v.codec.clone(),
            audio_codec: replay.audio.map(|a| a.codec),
            slices,
            elapsed_ms: started.elapsed().as_millis() as u64,
            parallel: false,
        },
        header,
        mdat_header_at,
    })
}

/// The pieces' tables replayed through the splice's [`Clock`] into the output's tracks.
struct Replay {
    video: VideoMeta,
    audio: Option<AudioMeta>,
    clock: Clock,
    tracks: Vec<Track>,
}

impl Replay {
    fn new(pieces: &[Prepared]) -> Result<Replay, String> {
        // The reference, as a splice picks it: the first slice with H.264 video, and the first
        // audio from there on.
        let at = pieces
            .iter()
            .position(|p| p.meta.video.as_ref().is_some_and(|v| v.codec == "h264"))
            .ok_or("no slice has H.264 video")?;
        let video = pieces[at].meta.video.clone().expect("found above");
        let audio = pieces[at..].iter().find_map(|p| p.meta.audio.clone());
        let tracks = tracks_for(&video, audio.as_ref())?;
        let (rate, frame) = audio.as_ref().map(|a| (a.rate, a.frame)).unwrap_or((48_000, 1024));
        let clock = Clock::new(
            video.frame_us,
            Rational::new(1, OWN_VIDEO_TIMESCALE as i32),
            audio.as_ref().map(|a| Rational::new(1, a.rate as i32)),
            rate,
            frame,
        );
        Ok(Replay {
            video,
            audio,
            clock,
            tracks,
        })
    }

    /// Slice `i`'s report, its packets placed; Err(why): the fast path cannot take it.
    fn slice(&mut self, i: usize, p: &Prepared) -> Result<SliceReport, String> {
        let m = p.meta;
        let mut rep = SliceReport {
            outcome: m.outcome.clone(),
            dropped: m.dropped,
            note: m.note.clone(),
            ..SliceReport::copied(p.path.clone())
        };
        if m.outcome == SliceOutcome::Skipped {
            return Ok(rep);
        }
        if m.oversized {
            return Err(format!("slice {i} has too many packets for a table"));
        }
        if m.video.as_ref() != Some(&self.video) || m.in_band {
            return Err(format!("slice {i}'s video differs from the first slice's"));
        }
        rep.has_audio = match (&m.audio, &self.audio) {
            (Some(a), Some(r)) => a.codec == r.codec && a.rate == r.rate,
            _ => false,
        };
        self.clock.tl.begin_slice();
        let start = self.clock.tl.end();
        rep.packets = self.place(p, rep.has_audio);
        if rep.packets == 0 {
            rep.outcome = SliceOutcome::Skipped;
            rep.note.get_or_insert_with(|| "no packets".into());
        }
        rep.duration_ms = (self.clock.tl.end() - start) / 1000;
        Ok(rep)
    }

    /// Places the piece's packets where the packet loop's muxer would; returns how many it kept.
    fn place(&mut self, p: &Prepared, audio_ok: bool) -> u64 {
        let m = p.meta;
        let mut kept = 0;
        for (k, e) in p.entries.iter().enumerate() {
            if m.origin_at == Some(k) {
                self.clock.tl.set_origin(m.origin.unwrap_or_default());
            }
            let offset = p.body_offset + e.offset;
            if !e.audio {
                let (dts, pts, dur) = self.clock.video(e.dts, e.pts, e.dur);
                self.tracks[0].samples.push(sample(offset, e, dts, pts, dur));
                kept += 1;
            } else if audio_ok {
                if let Some((t, dur)) = self.clock.audio(e.dts) {
                    self.tracks[1].samples.push(sample(offset, e, t, t, dur));
                    kept += 1;
                }
            }
        }
        if m.origin_at == Some(p.entries.len()) {
            self.clock.tl.set_origin(m.origin.unwrap_or_default());
        }
        kept
    }
}

fn sample(offset: u64, e: &Entry, dts: i64, pts: i64, dur: i64) -> Sample {
    Sample {
        offset,
        size: e.size,
        dts,
        cts: (pts - dts).clamp(0, u32::MAX as i64) as u32,
        duration: dur.clamp(0, u32::MAX as i64) as u32,
        sync: e.key,
    }
}

/// ftyp + moov + free + the mdat header, `align`-sized, with sample offsets (body-relative in
/// `tracks`) moved past it. The moov's size depends on the offsets (32- or 64-bit), so it settles.
fn header(tracks: &mut [Track], body_len: u64, align: u64) -> Vec<u8> {
    let align = align.max(1);
    let (mut len, mut shifted) = (align, 0);
    loop {
        shift_in_place(tracks, len as i64 - shifted);
        shifted = len as i64;
        let mut h = ftyp();
        h.extend(moov(tracks));
        let need = (h.len() as u64 + 8 + 16).div_ceil(align) * align;
        if need == len {
            return padded(h, len, body_len);
        }
        len = need;
    }
}

/// ftyp, moov and the head of a `free` box reaching to the mdat header, for a header of exactly
/// `len` bytes (see [`Plan::mdat_header_at`]); None: it does not fit.
fn header_of(tracks: &mut [Track], len: u64) -> Option<Vec<u8>> {
    shift_in_place(tracks, len as i64);
    let mut h = ftyp();
    h.extend(moov(tracks));
    let gap = len
        .checked_sub(h.len() as u64 + 16)
        .filter(|g| (8..=u32::MAX as u64).contains(g))?;
    h.extend_from_slice(&(gap as u32).to_be_bytes());
    h.extend_from_slice(b"free");
    Some(h)
}

/// ftyp + moov `h`, then a free box up to `len` less the mdat header, then the mdat header.
fn padded(mut h: Vec<u8>, len: u64, body_len: u64) -> Vec<u8> {
    h.extend(free((len - h.len() as u64 - 16) as usize));
    h.extend(mdat_header(body_len));
    h
}

/// Makes the body file at `body` (its first `body_len` bytes) the MP4: the header goes in front.
/// With `FALLOC_FL_INSERT_RANGE` the file's extents move (no data is copied); otherwise the body is
/// copied once behind the header into a new file that replaces it. Synced either way.
pub fn put_in_front(body: &Path, header: &[u8], body_len: u64) -> std::io::Result<()> {
    let f = File::options().read(true).write(true).open(body)?;
    f.set_len(body_len)?;
    // SAFETY: a descriptor open for writing; offset 0 and a length the caller aligned to the
    // filesystem's block size (the kernel refuses anything else with EINVAL).
    let r = unsafe { libc::fallocate(f.as_raw_fd(), libc::FALLOC_FL_INSERT_RANGE, 0, header.len() as i64) };
    if r == 0 {
        let mut f = f;
        f.seek(SeekFrom::Start(0))?;
        f.write_all(header)?;
        return f.sync_all();
    }
    let why = std::io::Error::last_os_error();
    tracing::info!("inserting the header in place failed ({why}); copying the body once");
    let tmp = body.with_extension("assembling");
    let mut out = File::create(&tmp)?;
    out.write_all(header)?;
    super::mp4::copy_range(&f, 0, &out, header.len() as u64, body_len)?;
    out.sync_all()?;
    std::fs::rename(&tmp, body)
}

/// The block size `put_in_front` must align the header to.
pub fn block_size(dir: &Path) -> u64 {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(dir).map(|m| m.blksize()).unwrap_or(4096).max(512)
}

/// Prepares `inputs` one after the other into a body at `output` and makes it the MP4, as the
/// server does across a class (for tests and benchmarks). Err also when the fast path does not
/// apply to these slices. The summary's `elapsed_ms` is the stop's share (index and header).
pub fn prepare_and_assemble(inputs: &[PathBuf], output: &Path) -> anyhow::Result<Summary> {
    Ok(prepare_and_assemble_timed(inputs, output)?.0)
}

/// [`prepare_and_assemble`], with how long each slice's preparation took (ms).
pub fn prepare_and_assemble_timed(inputs: &[PathBuf], output: &Path) -> anyhow::Result<(Summary, Vec<u64>)> {
    let progress = crate::progress::Progress::new();
    let mut body = File::create(output)?;
    let mut pieces = Vec::with_capacity(inputs.len());
    let mut times = Vec::with_capacity(inputs.len());
    let mut at = 0;
    for p in inputs {
        let t = std::time::Instant::now();
        let opts = super::piece::Options::landing(super::piece::MAX_ENTRIES);
        let piece = super::piece::prepare(p, &mut body, opts, &progress)?;
        times.push(t.elapsed().as_millis() as u64);
        let len = piece.media_len;
        pieces.push((piece, at));
        at += len;
    }
    drop(body);
    let stop = std::time::Instant::now();
    let prepared: Vec<Prepared> = pieces
        .iter()
        .zip(inputs)
        .map(|((p, off), path)| Prepared {
            path: path.clone(),
            meta: &p.meta,
            entries: std::borrow::Cow::Borrowed(&p.entries),
            body_offset: *off,
        })
        .collect();
    let dir = output.parent().unwrap_or(Path::new("."));
    let plan = plan(prepared, at, Room::Aligned(block_size(dir)))
        .map_err(|why| anyhow::anyhow!("fast path refused: {why}"))?;
    put_in_front(output, &plan.header, at)?;
    let mut summary = plan.summary;
    summary.output = output.to_owned();
    summary.elapsed_ms = stop.elapsed().as_millis() as u64;
    Ok((summary, times))
}
