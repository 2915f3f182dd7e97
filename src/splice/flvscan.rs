//! A fast walk over FLV tag headers (no payloads read) to count the samples a splice will write.
//! The count sizes the room reserved for the MP4 index at the front of the file, which saves the
//! faststart pass (reading and rewriting the whole output) that `ffmpeg -movflags +faststart` pays.

use std::io::{BufReader, Read};
use std::path::Path;

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Counts {
    pub video: u64,
    pub audio: u64,
}

/// Counts audio and video tags (sequence headers excluded). Stops quietly at a cut or at garbage:
/// the result is an estimate that the caller pads, never a promise.
pub fn count(path: &Path) -> Counts {
    let mut c = Counts::default();
    let Ok(f) = std::fs::File::open(path) else { return c };
    let mut r = BufReader::with_capacity(64 * 1024, f);
    let mut head = [0u8; 9];
    if r.read_exact(&mut head).is_err() || &head[..3] != b"FLV" {
        return c;
    }
    let offset = u32::from_be_bytes([head[5], head[6], head[7], head[8]]) as i64;
    // Skip to the first tag, past PreviousTagSize0.
    if r.seek_relative(offset - 9 + 4).is_err() {
        return c;
    }
    let mut tag = [0u8; 13];
    loop {
        if r.read_exact(&mut tag).is_err() {
            return c;
        }
        let kind = tag[0] & 0x1f;
        let size = u32::from_be_bytes([0, tag[1], tag[2], tag[3]]) as i64;
        // tag[11..13]: the first two payload bytes (codec byte, packet type).
        match kind {
            9 if size >= 2 && tag[12] == 1 => c.video += 1,
            9 if size >= 2 && (tag[11] & 0x0f) != 7 => c.video += 1,
            8 if size >= 2 && (tag[11] >> 4) == 10 && tag[12] == 1 => c.audio += 1,
            8 if size >= 1 && (tag[11] >> 4) != 10 => c.audio += 1,
            8 | 9 | 18 => {}
            _ => return c,
        }
        // The rest of the payload, then PreviousTagSize.
        if r.seek_relative(size - 2 + 4).is_err() {
            return c;
        }
    }
}

/// Room for the MP4 index of this many samples: generous per-sample costs (sizes, times,
/// composition offsets, 64-bit chunk offsets, sync samples) plus a fixed part.
pub fn moov_room(c: Counts) -> u64 {
    64 * 1024 + c.video * 40 + c.audio * 24
}
