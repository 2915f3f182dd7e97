//! Pieces: the splice's per-slice work done while the class goes on, so that the stop only has to
//! write an index.
//!
//! Preparing a slice runs the same packet loop as a splice (`slice::splice_one`: the FLV read, the
//! bitstream checks, the keyframe decodes that drop corrupt GOPs), but instead of placing packets
//! on the output's timeline it appends their bytes to the task's body file, grouped per track in
//! runs of about half a second as our MP4 writer groups them (`write`), and keeps a table of every
//! packet kept: track, where its bytes are, its size, keyframe flag and its *input* times
//! (`table`). The output timestamps depend on the slices before it (where the previous slice
//! ended, its audio's tail), so they are worked out at assembly by replaying the tables through
//! the same `Clock` the splice uses (`assemble`), which makes the result identical to a splice of
//! the same slices.
//!
//! Contracts of what is stored: the table's byte layout is in `table` ([`encode_entries`]);
//! [`PieceMeta`] is stored beside it as JSON (`meta`). Bump [`VERSION`] when either changes.

mod meta;
mod table;
mod write;

pub use meta::{unhex, AudioMeta, PieceMeta, VideoMeta};
pub use table::{decode_entries, encode_entries, Entry, MAX_ENTRIES};

use super::input::open_flv;
use super::reference::reference_of;
use super::slice::{splice_one, SliceCtx, SliceIn};
use super::SliceReport;
use crate::progress::Progress;
use std::fs::File;
use std::path::Path;
use write::Builder;

/// Bump when the table or meta layout changes: older pieces are then prepared again.
pub const VERSION: u32 = 1;

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
            meta: PieceMeta::skipped(note),
            entries: Vec::new(),
            media_len: 0,
        }
    }
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
    // Opened once: its streams make the reference, and the packet loop reads it.
    let input = match open_flv(path, progress) {
        Ok(input) => input,
        Err(e) => return Ok(Piece::skipped(format!("unreadable as FLV: {e}"))),
    };
    let Some(r) = reference_of(&input) else {
        return Ok(Piece::skipped("no slice has a readable video stream".into()));
    };
    let mut b = Builder::new(out, opts.max_entries, opts.room);
    let mut rep = SliceReport::copied(path.to_owned());
    let slice = SliceIn {
        path,
        known: opts.known,
        opened: Some(input),
        key: None,
    };
    let read = splice_one(&mut b, &mut SliceCtx::new(&r, progress), slice, &mut rep);
    if progress.cancelled() {
        anyhow::bail!("cancelled");
    }
    b.finish(opts.sync)?;
    Ok(b.into_piece(&r, rep, read))
}
