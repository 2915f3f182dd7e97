//! A fast walk over FLV tag headers (no payloads read) to count the samples a splice will write.
//! The count sizes the room reserved for the MP4 index at the front of the file, which saves the
//! faststart pass (reading and rewriting the whole output) that `ffmpeg -movflags +faststart` pays.

use std::os::fd::AsRawFd;
use std::path::Path;

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Counts {
    pub video: u64,
    pub audio: u64,
    /// At least as many bytes as the counted packets carry once their FLV codec headers are
    /// stripped (what an MP4 stores of them): where a slice's media may go in a file written in
    /// parallel (`parallel`).
    pub bytes: u64,
}

impl std::ops::Add for Counts {
    type Output = Counts;
    fn add(self, o: Counts) -> Counts {
        Counts {
            video: self.video + o.video,
            audio: self.audio + o.audio,
            bytes: self.bytes + o.bytes,
        }
    }
}

/// Bytes of a slice mapped at once: file pages a mapping touched count in the peak RSS.
const WINDOW: usize = 1 << 20;

/// Counts audio and video tags (sequence headers excluded). Stops quietly at a cut or at garbage:
/// the result is an estimate that the caller pads, never a promise.
///
/// The file is mapped, a window at a time, not read: only the pages holding tag headers are
/// touched (a read through a buffer copied the whole slice out of the page cache once more, ~6% of
/// a splice's CPU). The slices are the splice's own copies, never truncated while it runs.
pub fn count(path: &Path) -> Counts {
    let mut c = Counts::default();
    let Ok(f) = std::fs::File::open(path) else { return c };
    let len = f.metadata().map(|m| m.len()).unwrap_or(0) as usize;
    let mut head = [0u8; 9];
    if len < 13 || std::io::Read::read_exact(&mut &f, &mut head).is_err() || &head[..3] != b"FLV" {
        return c;
    }
    let offset = u32::from_be_bytes([head[5], head[6], head[7], head[8]]) as usize;
    // The first tag, past PreviousTagSize0.
    let mut pos = offset.saturating_add(4);
    while pos + 13 <= len {
        let start = pos & !4095;
        let wlen = WINDOW.min(len - start);
        // SAFETY: a read-only private mapping of `wlen` bytes of an open file at a page-aligned
        // offset, unmapped below; the slice made from it does not outlive the mapping.
        let done = unsafe {
            let map = libc::mmap(
                std::ptr::null_mut(),
                wlen,
                libc::PROT_READ,
                libc::MAP_PRIVATE,
                f.as_raw_fd(),
                start as libc::off_t,
            );
            if map == libc::MAP_FAILED {
                return c;
            }
            let data = std::slice::from_raw_parts(map as *const u8, wlen);
            let mut rel = pos - start;
            let done = walk(data, &mut rel, &mut c);
            libc::munmap(map, wlen);
            pos = start + rel;
            done
        };
        if done {
            break;
        }
    }
    c
}

/// Counts the tags of `data` from `*pos` (left at the first tag not wholly inside); true: stop
/// (garbage).
fn walk(data: &[u8], pos: &mut usize, c: &mut Counts) -> bool {
    while let Some(tag) = data.get(*pos..*pos + 13) {
        let kind = tag[0] & 0x1f;
        let size = u32::from_be_bytes([0, tag[1], tag[2], tag[3]]) as usize;
        // tag[11..13]: the first two payload bytes (codec byte, packet type).
        // Bytes: the payload less the FLV codec header (AVC 5, AAC 2, others 1: counted whole).
        let n = size as u64;
        match kind {
            9 if size >= 2 && tag[12] == 1 => (c.video, c.bytes) = (c.video + 1, c.bytes + n.saturating_sub(5)),
            9 if size >= 2 && (tag[11] & 0x0f) != 7 => (c.video, c.bytes) = (c.video + 1, c.bytes + n),
            8 if size >= 2 && (tag[11] >> 4) == 10 && tag[12] == 1 => {
                (c.audio, c.bytes) = (c.audio + 1, c.bytes + n - 2)
            }
            8 if size >= 1 && (tag[11] >> 4) != 10 => (c.audio, c.bytes) = (c.audio + 1, c.bytes + n),
            8 | 9 | 18 => {}
            _ => return true,
        }
        // The header, the payload, then PreviousTagSize.
        *pos += 11 + size + 4;
    }
    false
}

/// Room for the MP4 index of this many samples: generous per-sample costs (sizes, times,
/// composition offsets, 64-bit chunk offsets, sync samples) plus a fixed part.
pub fn moov_room(c: Counts) -> u64 {
    64 * 1024 + c.video * 40 + c.audio * 24
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Counting across window boundaries gives what one pass over the bytes gives.
    #[test]
    fn windows_count_every_tag_once() {
        let mut flv = b"FLV\x01\x05\0\0\0\x09\0\0\0\0".to_vec();
        let mut want = Counts::default();
        let mut last = 0;
        for i in 0..40_000u32 {
            let (kind, body): (u8, Vec<u8>) = if i % 3 == 0 {
                want.audio += 1;
                want.bytes += 2;
                (8, vec![0xaf, 1, 0x21, 0x10])
            } else {
                want.video += 1;
                want.bytes += (i % 700) as u64;
                (
                    9,
                    vec![0x27, 1, 0, 0, 0]
                        .into_iter()
                        .chain(std::iter::repeat_n(7, (i % 700) as usize))
                        .collect(),
                )
            };
            let size = body.len() as u32;
            flv.push(kind);
            flv.extend(&size.to_be_bytes()[1..]);
            flv.extend([0u8; 7]);
            flv.extend(&body);
            flv.extend((size + 11).to_be_bytes());
            last = 11 + size as usize + 4;
        }
        assert!(flv.len() > 2 * WINDOW);
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("x.flv");
        std::fs::write(&p, &flv).unwrap();
        assert_eq!(count(&p), want);
        // A cut in the middle of the last tag's header: the tags before it.
        std::fs::write(&p, &flv[..flv.len() - last + 5]).unwrap();
        let cut = count(&p);
        assert_eq!(cut.audio + cut.video, want.audio + want.video - 1);
    }
}
