//! The packet loop's [`Place`] while preparing a piece: kept packets' bytes appended to the body
//! file, grouped per track in runs of about half a second (as our MP4 writer groups them), and
//! their input times into the table.

use super::meta::{AudioMeta, PieceMeta, VideoMeta};
use super::table::Entry;
use super::{Outgrew, Piece, VERSION};
use crate::splice::clock::Place;
use crate::splice::reference::Reference;
use crate::splice::timeline::Micros;
use crate::splice::{SliceOutcome, SliceReport};
use ffmpeg::Packet;
use ffmpeg_next as ffmpeg;
use std::fs::File;
use std::io::Write;

const CHUNK_BYTES: usize = 1 << 20;
const CHUNK_US: Micros = 500_000;

/// One track's run not yet written.
#[derive(Default)]
struct Pending {
    buf: Vec<u8>,
    /// (entry index, offset in buf)
    entries: Vec<(usize, u64)>,
    first: Micros,
}

/// The packet loop's [`Place`] while preparing: bytes to the body file, input times to the table.
pub(super) struct Builder<'a> {
    out: &'a mut File,
    written: u64,
    pending: [Pending; 2],
    entries: Vec<Entry>,
    origin: Option<(usize, Micros)>,
    in_band: bool,
    oversized: bool,
    max_entries: usize,
    /// Most bytes it may write: more is [`Outgrew`], and nothing past it is written.
    room: Option<u64>,
}

impl Builder<'_> {
    pub(super) fn new(out: &mut File, max_entries: usize, room: Option<u64>) -> Builder<'_> {
        Builder {
            max_entries,
            out,
            written: 0,
            pending: Default::default(),
            entries: Vec::new(),
            origin: None,
            in_band: false,
            oversized: false,
            room,
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
    pub(super) fn finish(&mut self, sync: bool) -> anyhow::Result<()> {
        self.flush(0)?;
        self.flush(1)?;
        if sync {
            self.out.sync_data()?;
        }
        Ok(())
    }

    /// The piece for slice `r` once the packet loop read it (`read`: what it ended with; its
    /// reasons in `rep`). A skipped or oversized slice keeps no table.
    pub(super) fn into_piece(self, r: &Reference, rep: SliceReport, read: Result<(), String>) -> Piece {
        let keep_table = read.is_ok() && !self.oversized;
        let (outcome, note) = match read {
            Ok(()) => (rep.outcome, rep.note),
            Err(why) => (SliceOutcome::Skipped, Some(why)),
        };
        Piece {
            meta: PieceMeta {
                version: VERSION,
                video: Some(VideoMeta::of(r)),
                audio: r.audio.as_ref().map(AudioMeta::of),
                origin_at: self.origin.map(|o| o.0),
                origin: self.origin.map(|o| o.1),
                outcome,
                dropped: rep.dropped,
                note,
                in_band: self.in_band,
                oversized: self.oversized,
                bad_keyframes: rep.bad_keyframes,
            },
            entries: if keep_table { self.entries } else { Vec::new() },
            media_len: self.written,
        }
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
