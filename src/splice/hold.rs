//! The packets of one slice held back in read order until the keyframe check of their GOP has
//! decided whether they are written.

use super::clock::Place;
use super::timeline::Micros;
use super::verify::Checkers;
use super::SliceReport;
use ffmpeg_next::Packet;
use std::collections::VecDeque;

/// How many bytes of packets the reader holds back while their keyframe's check runs.
const HOLD_BYTES: usize = 1 << 20;

/// A packet read and checked, waiting for its GOP's keyframe verdict before it is written.
pub(super) struct Held {
    pub(super) packet: Packet,
    /// None: an audio packet.
    pub(super) video: Option<HeldVideo>,
    /// An audio packet's time.
    pub(super) audio_ts: Micros,
}

/// A held video packet's input times (microseconds) and the check its GOP waits on.
pub(super) struct HeldVideo {
    pub(super) dts: Micros,
    pub(super) pts: Micros,
    pub(super) dur: Micros,
    pub(super) check: Option<u64>,
}

/// The packets of one slice held back in read order while their keyframe checks run.
#[derive(Default)]
pub(super) struct Holding {
    q: VecDeque<Held>,
    bytes: usize,
    /// Whether the slice's first video packet (its origin) has been read.
    pub(super) seen_video: bool,
}

impl Holding {
    pub(super) fn push(&mut self, h: Held) {
        self.bytes += h.packet.size();
        self.q.push_back(h);
    }

    /// Writes what is decided at the front of the queue; `all`: everything, waiting for verdicts
    /// (the slice ended). Waits anyway once more than HOLD_BYTES are held.
    pub(super) fn drain(
        &mut self,
        mux: &mut impl Place,
        checkers: &mut Checkers,
        rep: &mut SliceReport,
        sets: Option<&[u8]>,
        all: bool,
    ) -> anyhow::Result<()> {
        while let Some(front) = self.q.front() {
            let full = all || self.bytes > HOLD_BYTES;
            // Audio that precedes the first picture waits for the slice's origin (its PTS).
            if !self.seen_video && !full && self.q.len() < 1024 {
                break;
            }
            if let Some(HeldVideo { check: Some(id), .. }) = front.video {
                let verdict = if full {
                    Some(checkers.wait(id))
                } else {
                    checkers.poll(id)
                };
                match verdict {
                    None => break,
                    Some(false) => {
                        let h = self.q.pop_front().expect("front");
                        self.bytes -= h.packet.size();
                        rep.dropped += 1;
                        continue;
                    }
                    Some(true) => {}
                }
            }
            let h = self.q.pop_front().expect("front");
            self.bytes -= h.packet.size();
            let written = match h.video {
                Some(v) => {
                    mux.video(h.packet, v.dts, v.pts, v.dur, sets)?;
                    true
                }
                None => mux.audio(h.packet, h.audio_ts)?,
            };
            if written {
                rep.packets += 1;
            }
        }
        Ok(())
    }
}
