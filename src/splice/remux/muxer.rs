//! The [`Place`] a splice's packet loop fills: each kept packet timed by the [`Clock`] and handed,
//! in batches, to the writer thread that owns the MP4.

use crate::splice::budget;
use crate::splice::clock::{Clock, Place};
use crate::splice::reference::Reference;
use crate::splice::timeline::Micros;
use ffmpeg::{Packet, Rational};
use ffmpeg_next as ffmpeg;

/// How far the reader may run ahead of the MP4 writer, in bytes of packets.
pub(super) const IN_FLIGHT_BYTES: usize = 1 << 20;
/// Bytes of packets handed to the MP4 writer at once.
const BATCH_BYTES: usize = 128 << 10;

/// Where the output's streams stand. Packets go to the writer thread, which owns the MP4: demuxing,
/// keyframe checks and timestamping here overlap with muxing and the faststart pass there.
pub(super) struct Muxer {
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
    /// Packets timed for `r`'s output in the writer's time bases, sent down `tx`.
    pub(super) fn new(tx: budget::Sender<Vec<Packet>>, r: &Reference, v_tb: Rational, a_tb: Option<Rational>) -> Muxer {
        let (rate, frame) = r
            .audio
            .as_ref()
            .map(|a| (a.sample_rate, a.frame_size))
            .unwrap_or((48_000, 1024));
        Muxer {
            tx,
            batch: Vec::with_capacity(256),
            batch_bytes: 0,
            clock: Clock::new(r.frame_us, v_tb, a_tb, rate, frame),
            in_band: false,
        }
    }

    fn push(&mut self, p: Packet) -> anyhow::Result<()> {
        self.batch_bytes += p.size();
        self.batch.push(p);
        if self.batch_bytes >= BATCH_BYTES || self.batch.len() >= 256 {
            self.flush()?;
        }
        Ok(())
    }

    /// Hands what is batched to the writer (the splice's end calls it for the last batch).
    pub(super) fn flush(&mut self) -> anyhow::Result<()> {
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

/// A copy of `p` with `prefix` (in-band parameter sets) in front of its data.
fn with_prefix(p: &Packet, prefix: &[u8]) -> Packet {
    let data = p.data().unwrap_or_default();
    let mut out = Packet::new(prefix.len() + data.len());
    let buf = out.data_mut().expect("allocated packet");
    buf[..prefix.len()].copy_from_slice(prefix);
    buf[prefix.len()..].copy_from_slice(data);
    out.set_flags(p.flags());
    out
}
