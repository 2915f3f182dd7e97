//! An MP4 index (`moov`) written by hand from sample tables, for outputs whose media bytes are
//! placed by us rather than by libavformat's muxer: H.264 (`avc1`/`avcC`) and AAC (`mp4a`/`esds`)
//! tracks, samples grouped into chunks wherever they lie back to back in the file.
//!
//! What players and ffprobe read from it, and so what the tests check: per-track sample sizes,
//! decode times (`stts`), composition offsets (`ctts`, only when some frame is shown after it is
//! decoded), sync samples (`stss`, video), chunk offsets (`stco`, or `co64` past 4 GiB), and an
//! edit list that starts presentation at the first frame's presentation time, as libavformat's
//! muxer does when decode times start below it (B-frames).

/// One sample (packet) of a track, in the track's timescale.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sample {
    /// Where its bytes start in the output file.
    pub offset: u64,
    pub size: u32,
    pub dts: i64,
    /// Presentation minus decode time; never negative (the placer clamps pts to dts).
    pub cts: u32,
    pub duration: u32,
    pub sync: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Codec {
    /// `avcc`: the AVCDecoderConfigurationRecord, as FLV and MP4 both carry it.
    Avc { avcc: Vec<u8>, width: u16, height: u16 },
    /// `asc`: the AudioSpecificConfig.
    Aac {
        asc: Vec<u8>,
        channels: u16,
        sample_rate: u32,
    },
}

#[derive(Debug, Clone)]
pub struct Track {
    pub timescale: u32,
    pub codec: Codec,
    pub samples: Vec<Sample>,
}

impl Track {
    /// Each sample lasts until the next one's decode time, as MP4's `stts` has it; the last keeps
    /// its own duration.
    pub fn settle_durations(&mut self) {
        for i in 1..self.samples.len() {
            let d = self.samples[i].dts - self.samples[i - 1].dts;
            self.samples[i - 1].duration = d.clamp(0, u32::MAX as i64) as u32;
        }
    }

    fn is_video(&self) -> bool {
        matches!(self.codec, Codec::Avc { .. })
    }
    /// Media duration: the last decode time plus its duration, from the first decode time.
    fn duration(&self) -> u64 {
        match (self.samples.first(), self.samples.last()) {
            (Some(f), Some(l)) => (l.dts + l.duration as i64 - f.dts).max(0) as u64,
            _ => 0,
        }
    }

    /// The edit list, in (movie-timescale duration, media time) entries: presentation starts at
    /// time 0 of the output's clock, so a track whose first picture or sound comes later opens
    /// with an empty edit, and one that starts before 0 (decode times of B-frames, audio
    /// priming) has its head skipped, as libavformat's muxer does.
    fn edits(&self) -> Vec<(u64, i64)> {
        let Some(first) = self.samples.first() else {
            return Vec::new();
        };
        let start = self
            .samples
            .iter()
            .map(|s| s.dts + s.cts as i64)
            .min()
            .unwrap_or(first.dts);
        let end = self.end();
        let movie = |d: i64| (d.max(0) as u128 * MOVIE_TIMESCALE as u128 / self.timescale.max(1) as u128) as u64;
        if start >= 0 {
            let mut e = Vec::new();
            if start > 0 {
                e.push((movie(start), -1));
            }
            e.push((movie(end - start), start - first.dts));
            e
        } else {
            vec![(movie(end), -first.dts)]
        }
    }

    /// Where presentation ends on the output's clock, in the track's timescale.
    fn end(&self) -> i64 {
        self.samples
            .iter()
            .map(|s| s.dts + s.cts as i64 + s.duration as i64)
            .max()
            .unwrap_or(0)
    }

    fn movie_end(&self) -> u64 {
        (self.end().max(0) as u128 * MOVIE_TIMESCALE as u128 / self.timescale.max(1) as u128) as u64
    }
}

mod boxes;
mod sealed;
mod stbl;
mod writer;

use boxes::W;
pub use writer::Mp4Writer;
pub(crate) use writer::{copy_range, shift_in_place};

const MOVIE_TIMESCALE: u32 = 1000;

/// `ftyp` as libavformat writes it for `-f mp4`.
pub fn ftyp() -> Vec<u8> {
    let mut w = W(Vec::new());
    let at = w.open(b"ftyp");
    w.bytes(b"isom");
    w.u32(0x200);
    w.bytes(b"isomiso2avc1mp41");
    w.close(at);
    w.0
}

/// The header of an `mdat` of `len` payload bytes (always the 16-byte large form, so its size
/// is known before the payload is).
pub fn mdat_header(len: u64) -> [u8; 16] {
    let mut h = [0u8; 16];
    h[..4].copy_from_slice(&1u32.to_be_bytes());
    h[4..8].copy_from_slice(b"mdat");
    h[8..].copy_from_slice(&(len + 16).to_be_bytes());
    h
}

/// A `free` box of exactly `len` bytes (at least 8).
pub fn free(len: usize) -> Vec<u8> {
    let mut v = vec![0u8; len];
    v[..4].copy_from_slice(&(len as u32).to_be_bytes());
    v[4..8].copy_from_slice(b"free");
    v
}

/// The whole `moov` for `tracks` (track ids are their positions, from 1).
pub fn moov(tracks: &[Track]) -> Vec<u8> {
    let mut w = W(Vec::with_capacity(64 * 1024));
    let moov = w.open(b"moov");
    let longest = tracks.iter().map(Track::movie_end).max().unwrap_or(0);
    let mvhd = w.full(b"mvhd", 1, 0);
    w.zeros(16);
    w.u32(MOVIE_TIMESCALE);
    w.u64(longest);
    w.u32(0x0001_0000);
    w.u16(0x0100);
    w.zeros(10);
    w.matrix();
    w.zeros(24);
    w.u32(tracks.len() as u32 + 1);
    w.close(mvhd);
    for (i, t) in tracks.iter().enumerate() {
        trak(&mut w, t, i as u32 + 1);
    }
    w.close(moov);
    w.0
}

fn trak(w: &mut W, t: &Track, id: u32) {
    let edits = t.edits();
    let movie_duration: u64 = edits.iter().map(|e| e.0).sum();
    let trak = w.open(b"trak");
    let tkhd = w.full(b"tkhd", 1, 3);
    w.zeros(16);
    w.u32(id);
    w.u32(0);
    w.u64(movie_duration);
    w.zeros(8);
    w.u16(0);
    w.u16(0);
    w.u16(if t.is_video() { 0 } else { 0x0100 });
    w.u16(0);
    w.matrix();
    let (width, height) = match t.codec {
        Codec::Avc { width, height, .. } => (width, height),
        Codec::Aac { .. } => (0, 0),
    };
    w.u32((width as u32) << 16);
    w.u32((height as u32) << 16);
    w.close(tkhd);
    let edts = w.open(b"edts");
    let elst = w.full(b"elst", 1, 0);
    w.u32(edits.len() as u32);
    for (duration, media_time) in edits {
        w.u64(duration);
        w.u64(media_time as u64);
        w.u32(0x0001_0000);
    }
    w.close(elst);
    w.close(edts);
    let mdia = w.open(b"mdia");
    let mdhd = w.full(b"mdhd", 1, 0);
    w.zeros(16);
    w.u32(t.timescale);
    w.u64(t.duration());
    w.u16(0x55c4); // "und"
    w.u16(0);
    w.close(mdhd);
    let hdlr = w.full(b"hdlr", 0, 0);
    w.u32(0);
    w.bytes(if t.is_video() { b"vide" } else { b"soun" });
    w.zeros(12);
    w.bytes(if t.is_video() {
        b"VideoHandler\0"
    } else {
        b"SoundHandler\0"
    });
    w.close(hdlr);
    let minf = w.open(b"minf");
    if t.is_video() {
        let vmhd = w.full(b"vmhd", 0, 1);
        w.zeros(8);
        w.close(vmhd);
    } else {
        let smhd = w.full(b"smhd", 0, 0);
        w.zeros(4);
        w.close(smhd);
    }
    let dinf = w.open(b"dinf");
    let dref = w.full(b"dref", 0, 0);
    w.u32(1);
    let url = w.full(b"url ", 0, 1);
    w.close(url);
    w.close(dref);
    w.close(dinf);
    stbl::stbl(w, t);
    w.close(minf);
    w.close(mdia);
    w.close(trak);
}
