//! The sample table (`stbl`) of one track: the boxes that grow with the recording's length, each
//! run-length coded where the format allows.

use super::boxes::W;
use super::{Codec, Sample, Track};

pub(super) fn stbl(w: &mut W, t: &Track) {
    let stbl = w.open(b"stbl");
    stsd(w, &t.codec);
    let s = &t.samples;
    runs(w, b"stts", rle(s.iter().map(|x| x.duration)));
    if s.iter().any(|x| x.cts != 0) {
        runs(w, b"ctts", rle(s.iter().map(|x| x.cts)));
    }
    if !s.iter().all(|x| x.sync) {
        let stss = w.full(b"stss", 0, 0);
        w.u32(s.iter().filter(|x| x.sync).count() as u32);
        for (i, _) in s.iter().enumerate().filter(|(_, x)| x.sync) {
            w.u32(i as u32 + 1);
        }
        w.close(stss);
    }
    let chunks = chunks(s);
    // stsc: runs of chunks holding the same number of samples.
    let stsc = w.full(b"stsc", 0, 0);
    let per_chunk = rle(chunks.iter().map(|c| c.1));
    w.u32(per_chunk.len() as u32);
    let mut first = 1u32;
    for (n, per) in per_chunk {
        w.u32(first);
        w.u32(per);
        w.u32(1);
        first += n;
    }
    w.close(stsc);
    let stsz = w.full(b"stsz", 0, 0);
    w.u32(0);
    w.u32(s.len() as u32);
    for x in s {
        w.u32(x.size);
    }
    w.close(stsz);
    let wide = chunks.last().is_some_and(|c| c.0 > u32::MAX as u64);
    let co = w.full(if wide { b"co64" } else { b"stco" }, 0, 0);
    w.u32(chunks.len() as u32);
    for (offset, _) in chunks {
        if wide {
            w.u64(offset);
        } else {
            w.u32(offset as u32);
        }
    }
    w.close(co);
    w.close(stbl);
}

/// (offset, samples) of each chunk: a run of samples lying back to back in the file.
fn chunks(s: &[Sample]) -> Vec<(u64, u32)> {
    let mut out: Vec<(u64, u32)> = Vec::new();
    let mut next = u64::MAX;
    for x in s {
        match out.last_mut() {
            Some(c) if x.offset == next => c.1 += 1,
            _ => out.push((x.offset, 1)),
        }
        next = x.offset + x.size as u64;
    }
    out
}

/// A box of (count, value) runs: `stts` (durations), `ctts` (composition offsets).
fn runs(w: &mut W, kind: &[u8; 4], runs: Vec<(u32, u32)>) {
    let b = w.full(kind, 0, 0);
    w.u32(runs.len() as u32);
    for (n, v) in runs {
        w.u32(n);
        w.u32(v);
    }
    w.close(b);
}

fn rle(values: impl Iterator<Item = u32>) -> Vec<(u32, u32)> {
    let mut out: Vec<(u32, u32)> = Vec::new();
    for v in values {
        match out.last_mut() {
            Some((n, last)) if *last == v => *n += 1,
            _ => out.push((1, v)),
        }
    }
    out
}

fn stsd(w: &mut W, codec: &Codec) {
    let stsd = w.full(b"stsd", 0, 0);
    w.u32(1);
    match codec {
        Codec::Avc { avcc, width, height } => {
            let e = w.open(b"avc1");
            w.zeros(6);
            w.u16(1);
            w.zeros(16);
            w.u16(*width);
            w.u16(*height);
            w.u32(0x0048_0000);
            w.u32(0x0048_0000);
            w.u32(0);
            w.u16(1);
            w.zeros(32);
            w.u16(0x18);
            w.u16(0xffff);
            let c = w.open(b"avcC");
            w.bytes(avcc);
            w.close(c);
            w.close(e);
        }
        Codec::Aac {
            asc,
            channels,
            sample_rate,
        } => {
            let e = w.open(b"mp4a");
            w.zeros(6);
            w.u16(1);
            w.zeros(8);
            w.u16(*channels);
            w.u16(16);
            w.u32(0);
            // 16.16 fixed point: rates above 65535 Hz do not fit (AAC in FLV tops out at 44.1 kHz).
            w.u32((*sample_rate).min(65_535) << 16);
            esds(w, asc);
            w.close(e);
        }
    }
    w.close(stsd);
}

/// The MPEG-4 elementary stream descriptor for AAC, with 4-byte descriptor lengths as libavformat
/// writes them.
fn esds(w: &mut W, asc: &[u8]) {
    let desc = |w: &mut W, tag: u8, len: usize| {
        w.u8(tag);
        let len = len as u32;
        w.u8(0x80 | (len >> 21) as u8 & 0x7f);
        w.u8(0x80 | (len >> 14) as u8 & 0x7f);
        w.u8(0x80 | (len >> 7) as u8 & 0x7f);
        w.u8(len as u8 & 0x7f);
    };
    let e = w.full(b"esds", 0, 0);
    let dsi = 5 + asc.len();
    let dcd = 13 + dsi;
    desc(w, 0x03, 3 + 5 + dcd + 5 + 1);
    w.u16(1);
    w.u8(0);
    desc(w, 0x04, dcd);
    w.u8(0x40); // MPEG-4 audio
    w.u8(0x15); // audio stream
    w.zeros(3);
    w.u32(0);
    w.u32(0);
    desc(w, 0x05, asc.len());
    w.bytes(asc);
    desc(w, 0x06, 1);
    w.u8(0x02);
    w.close(e);
}
