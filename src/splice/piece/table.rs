//! A piece's packet table: one entry per packet the packet loop kept, in the order it kept them.
//!
//! Contract of the stored table ([`encode_entries`]): little-endian records of 38 bytes, in the
//! order the packet loop kept them: track u8 (0 video, 1 audio), keyframe u8, offset u64 (from the
//! piece's first byte), size u32, dts i64, pts i64, duration i64 (microseconds of the slice's own
//! clock; audio has dts = pts and duration 0).

use crate::splice::timeline::Micros;

const ENTRY_BYTES: usize = 38;
/// Most packets one piece's table takes by default (64 MiB of table; a 3-hour slice of recorder
/// video and AAC has ~630,000; `jobs.piece_max_packets`). A slice of more (a hostile mass of tiny
/// packets) is marked `oversized` and left to the whole splice, which holds no table.
pub const MAX_ENTRIES: usize = (64 << 20) / ENTRY_BYTES;

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
