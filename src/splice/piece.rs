//! Pieces: the splice's per-slice work done while the class goes on, so that the stop only has to
//! write an index.
//!
//! Preparing a slice runs the same packet loop as a splice (`slice::splice_one`: the FLV read, the
//! bitstream checks, the keyframe decodes that drop corrupt GOPs), but instead of placing packets
//! on the output's timeline it appends their bytes to the task's body file, grouped per track in
//! runs of about half a second as our MP4 writer groups them, and keeps a table of every packet
//! kept: track, where its bytes are, its size, keyframe flag and its *input* times. The output
//! timestamps depend on the slices before it (where the previous slice ended, its audio's tail),
//! so they are worked out at assembly by replaying the tables through the same `Clock` the splice
//! uses (`assemble`), which makes the result identical to a splice of the same slices.
//!
//! Contract of the stored table ([`encode_entries`]): little-endian records of 38 bytes, in the
//! order the packet loop kept them: track u8 (0 video, 1 audio), keyframe u8, offset u64 (from the
//! piece's first byte), size u32, dts i64, pts i64, duration i64 (microseconds of the slice's own
//! clock; audio has dts = pts and duration 0). [`PieceMeta`] is stored beside it as JSON.

use super::clock::Place;
use super::ffparams::extradata;
use super::input::open_flv;
use super::reference::{reference_of, AudioRef, Reference};
use super::slice::{splice_one, SliceCtx, SliceIn};
use super::timeline::Micros;
use super::{SliceOutcome, SliceReport};
use crate::progress::Progress;
use ffmpeg::Packet;
use ffmpeg_next as ffmpeg;
use serde::{Deserialize, Serialize};
use std::fs::File;
use std::io::Write;
use std::path::Path;

/// Bump when the table or meta layout changes: older pieces are then prepared again.
pub const VERSION: u32 = 1;
const ENTRY_BYTES: usize = 38;
const CHUNK_BYTES: usize = 1 << 20;
const CHUNK_US: Micros = 500_000;
/// Most packets one piece's table takes by default (64 MiB of table; a 3-hour slice of recorder
/// video and AAC has ~630,000; `jobs.piece_max_packets`). A slice of more (a hostile mass of tiny
/// packets) is marked `oversized` and left to the whole splice, which holds no table.
pub const MAX_ENTRIES: usize = (64 << 20) / ENTRY_BYTES;

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
    fn of(r: &Reference) -> VideoMeta {
        VideoMeta {
            codec: format!("{:?}", r.video_id).to_lowercase(),
            width: r.width,
            height: r.height,
            frame_us: r.frame_us,
            config: hex(&extradata(&r.video)),
        }
    }
}

impl AudioMeta {
    fn of(a: &AudioRef) -> AudioMeta {
        AudioMeta {
            codec: format!("{:?}", a.id).to_lowercase(),
            rate: a.sample_rate,
            frame: a.frame_size,
            channels: super::ffparams::audio_channels(&a.params),
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
    /// More packets than the cap ([`MAX_ENTRIES`] by default): no table was kept.
    #[serde(default)]
    pub oversized: bool,
    /// The keyframe verdicts this preparation found (see `verify`), when every keyframe had one.
    #[serde(default)]
    pub bad_keyframes: Option<Vec<u32>>,
}

/// One packet kept, as the table stores it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Entry {
    pub audio: bool,
    pub key: bool,
    pub offset: u64,
    pub size: u32,
    pub dts: Micros,
    pub pts: Micros,
    pub dur: Micros,
}

pub fn encode_entries(entries: &[Entry]) -> Vec<u8> {
    let mut out = Vec::with_capacity(entries.len() * ENTRY_BYTES);
    for e in entries {
        out.push(e.audio as u8);
        out.push(e.key as u8);
        out.extend_from_slice(&e.offset.to_le_bytes());
        out.extend_from_slice(&e.size.to_le_bytes());
        out.extend_from_slice(&e.dts.to_le_bytes());
        out.extend_from_slice(&e.pts.to_le_bytes());
        out.extend_from_slice(&e.dur.to_le_bytes());
    }
    out
}

/// None: not a table (wrong length or flags); the piece is then prepared again.
pub fn decode_entries(b: &[u8]) -> Option<Vec<Entry>> {
    if !b.len().is_multiple_of(ENTRY_BYTES) {
        return None;
    }
    let u64_at = |r: &[u8], i: usize| u64::from_le_bytes(r[i..i + 8].try_into().expect("8 bytes"));
    b.chunks_exact(ENTRY_BYTES)
        .map(|r| {
            (r[0] <= 1 && r[1] <= 1).then(|| Entry {
                audio: r[0] == 1,
                key: r[1] == 1,
                offset: u64_at(r, 2),
                size: u32::from_le_bytes(r[10..14].try_into().expect("4 bytes")),
                dts: u64_at(r, 14) as i64,
                pts: u64_at(r, 22) as i64,
                dur: u64_at(r, 30) as i64,
            })
        })
        .collect()
}

/// A prepared slice: its meta, its table, and how many bytes of media it appended.
#[derive(Debug, Clone)]
pub struct Piece {
    pub meta: PieceMeta,
    pub entries: Vec<Entry>,
    pub media_len: u64,
}

impl Piece {
    fn skipped(note: String) -> Piece {
        Piece {
            meta: PieceMeta {
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
            },
            entries: Vec::new(),
            media_len: 0,
        }
    }
}

#[derive(Default)]
struct Pending {
    buf: Vec<u8>,
    /// (entry index, offset in buf)
    entries: Vec<(usize, u64)>,
    first: Micros,
}

/// The packet loop's [`Place`] while preparing: bytes to the body file, input times to the table.
struct Builder<'a> {
    out: &'a mut File,
    written: u64,
    pending: [Pending; 2],
    entries: Vec<Entry>,
    origin: Option<(usize, Micros)>,
    in_band: bool,
    oversized: bool,
    max_entries: usize,
    room: Option<u64>,
}

impl Builder<'_> {
    fn new(out: &mut File, max_entries: usize) -> Builder<'_> {
        Builder {
            max_entries,
            out,
            written: 0,
            pending: Default::default(),
            entries: Vec::new(),
            origin: None,
            in_band: false,
            oversized: false,
            room: None,
        }
    }

    fn add(&mut self, audio: bool, p: &Packet, dts: Micros, pts: Micros, dur: Micros) -> anyhow::Result<()> {
        if self.entries.len() >= self.max_entries {
            self.oversized = true;
            return Ok(());
        }
        let data = p.data().unwrap_or_default();
        let t = audio as usize;
        let at = self.entries.len();
        let pending = &mut self.pending[t];
        if pending.entries.is_empty() {
            pending.first = dts;
        }
        pending.entries.push((at, pending.buf.len() as u64));
        pending.buf.extend_from_slice(data);
        self.entries.push(Entry {
            audio,
            key: p.is_key(),
            offset: 0,
            size: u32::try_from(data.len())?,
            dts,
            pts,
            dur,
        });
        if self.pending[t].buf.len() >= CHUNK_BYTES || dts - self.pending[t].first >= CHUNK_US {
            self.flush(t)?;
        }
        Ok(())
    }

    fn flush(&mut self, t: usize) -> anyhow::Result<()> {
        let p = &mut self.pending[t];
        if self.room.is_some_and(|room| self.written + p.buf.len() as u64 > room) {
            return Err(Outgrew.into());
        }
        self.out.write_all(&p.buf)?;
        for (i, off) in p.entries.drain(..) {
            self.entries[i].offset = self.written + off;
        }
        self.written += p.buf.len() as u64;
        p.buf.clear();
        Ok(())
    }

    /// Writes both tracks' pending runs and (`sync`) syncs the body file.
    fn finish(&mut self, sync: bool) -> anyhow::Result<()> {
        self.flush(0)?;
        self.flush(1)?;
        if sync {
            self.out.sync_data()?;
        }
        Ok(())
    }
}

impl Place for Builder<'_> {
    fn begin_slice(&mut self) {}

    fn set_origin(&mut self, ts: Micros) {
        self.origin.get_or_insert((self.entries.len(), ts));
    }

    fn end(&self) -> Micros {
        0
    }

    fn in_band(&mut self) {
        self.in_band = true;
    }

    fn video(&mut self, p: Packet, dts: Micros, pts: Micros, dur: Micros, _sets: Option<&[u8]>) -> anyhow::Result<()> {
        self.add(false, &p, dts, pts, dur)
    }

    fn audio(&mut self, p: Packet, ts: Micros) -> anyhow::Result<bool> {
        self.add(true, &p, ts, ts, 0)?;
        Ok(true)
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

/// A piece wrote more than the room it was given ([`Options::room`]); nothing past it was written.
#[derive(Debug, thiserror::Error)]
#[error("the piece outgrew the room it was given")]
pub struct Outgrew;

/// How a slice is prepared.
#[derive(Debug, Clone, Copy)]
pub struct Options<'a> {
    /// At most this many packets are tabled ([`MAX_ENTRIES`] by default); a slice of more is an
    /// `oversized` piece with no table.
    pub max_entries: usize,
    /// Verdicts on its keyframes from an earlier read (see `verify`).
    pub known: Option<&'a [u32]>,
    /// Most bytes the piece may write (the room it was given in a file shared with other pieces):
    /// more is an error, never a write past it.
    pub room: Option<u64>,
    /// Sync the file once the piece is written.
    pub sync: bool,
}

impl Options<'_> {
    /// As the server prepares a slice as it lands.
    pub fn landing(max_entries: usize) -> Options<'static> {
        Options {
            max_entries,
            known: None,
            room: None,
            sync: true,
        }
    }
}

/// Prepares the slice at `path`: its kept packets' bytes are written to `out` at its current
/// position (and synced); the table and meta are returned. Blocking. Never fails on a bad slice
/// (that is a skipped piece, as a splice would skip it); fails only when `out` cannot be written
/// (or the piece outgrew its room).
pub fn prepare(path: &Path, out: &mut File, opts: Options, progress: &Progress) -> anyhow::Result<Piece> {
    super::remux::init();
    let Options {
        max_entries,
        known,
        room,
        sync,
    } = opts;
    // Opened once: its streams make the reference, and the packet loop reads it.
    let input = match open_flv(path, progress) {
        Ok(input) => input,
        Err(e) => return Ok(Piece::skipped(format!("unreadable as FLV: {e}"))),
    };
    let Some(r) = reference_of(&input) else {
        return Ok(Piece::skipped("no slice has a readable video stream".into()));
    };
    let mut b = Builder::new(out, max_entries);
    b.room = room;
    let mut rep = SliceReport::copied(path.to_owned());
    let slice = SliceIn {
        path,
        known,
        opened: Some(input),
        key: None,
    };
    let result = splice_one(&mut b, &mut SliceCtx::new(&r, progress), slice, &mut rep);
    if progress.cancelled() {
        anyhow::bail!("cancelled");
    }
    b.finish(sync)?;
    let keep_table = result.is_ok() && !b.oversized;
    let (outcome, note) = match result {
        Ok(()) => (rep.outcome, rep.note),
        Err(why) => (SliceOutcome::Skipped, Some(why)),
    };
    Ok(Piece {
        meta: PieceMeta {
            version: VERSION,
            video: Some(VideoMeta::of(&r)),
            audio: r.audio.as_ref().map(AudioMeta::of),
            origin_at: b.origin.map(|o| o.0),
            origin: b.origin.map(|o| o.1),
            outcome,
            dropped: rep.dropped,
            note,
            in_band: b.in_band,
            oversized: b.oversized,
            bad_keyframes: rep.bad_keyframes,
        },
        entries: if keep_table { b.entries } else { Vec::new() },
        media_len: b.written,
    })
}
