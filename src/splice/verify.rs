//! Keyframe verification. FLV has no checksums, so bytes garbled inside a packet (the container
//! structure intact) can only be found by decoding. Decoding every frame would cost many times the
//! remux, so only keyframes are decoded, with FFmpeg's error detection set to fail loudly: they are
//! the largest packets (the likeliest to be hit) and a bad one spoils its whole GOP. A slice's GOP
//! whose keyframe fails is dropped up to the next keyframe. Corruption inside an inter frame is not
//! caught (it heals at the next keyframe); the MD5-checked upload rules out corruption in transit.
//!
//! Cost, measured on the recorder's own slices (720p veryfast, a keyframe every 2 s): ~2 ms of CPU
//! per keyframe, 0.3 s per 300 s slice, ~3.7 s for a 1 h class, where the remux itself takes well
//! under a second. So the decoding runs on a pool of checker threads (one per core), in parallel
//! with the demuxing and the muxing; the packet loop holds a GOP back only until its keyframe's
//! verdict arrives (see `remux`). Deblocking is skipped: it cannot fail, only cost.
//!
//! [`Mode::Anomalies`] (`LOCALRECORD_SPLICE_VERIFY=anomalies`) decodes only the keyframes the
//! structural checks in `h264` find suspect, at the price of missing garbage inside intact-looking
//! entropy-coded data; see the README for the figures.
//!
//! Verdicts are kept: a slice whose every keyframe was decoded reports which failed
//! ([`Checkers::end_slice`]), the server stores that when the slice is first read (its
//! preparation as it lands, or a splice), and any later read of the slice passes it back
//! ([`Checkers::begin_slice`]) instead of decoding again. That keeps a splice after the class
//! (a re-splice, a store without the prepared fast path) as fast as the remux itself.

use ffmpeg::{codec, frame, Discard, Packet};
use ffmpeg_next as ffmpeg;
use std::collections::HashMap;
use std::sync::mpsc;
use std::sync::{Arc, Mutex};

/// `AV_EF_CRCCHECK | AV_EF_BITSTREAM | AV_EF_BUFFER | AV_EF_EXPLODE` (libavcodec/defs.h macros
/// that bindgen does not export).
const EXPLODE_ON_ERRORS: i32 = 1 | 2 | 4 | 8;

/// Version of the keyframe check (decoder flags, what counts as a failure): stored with kept
/// verdicts, so that verdicts of another version are not trusted.
pub const VERDICT_VERSION: i32 = 1;

/// Which keyframes are decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Every keyframe (the default).
    Keyframes,
    /// Only keyframes the structural checks find suspect.
    Anomalies,
}

impl Mode {
    /// From `LOCALRECORD_SPLICE_VERIFY` (`keyframes`, the default, or `anomalies`).
    pub fn from_env() -> Mode {
        match std::env::var("LOCALRECORD_SPLICE_VERIFY").as_deref() {
            Ok("anomalies") => Mode::Anomalies,
            _ => Mode::Keyframes,
        }
    }
}

pub struct KeyframeCheck {
    decoder: ffmpeg::decoder::Video,
    frame: frame::Video,
}

impl KeyframeCheck {
    pub fn new(params: &codec::Parameters) -> Option<KeyframeCheck> {
        let mut ctx = codec::context::Context::from_parameters(params.clone()).ok()?;
        // SAFETY: a fresh, unopened context owned here.
        unsafe {
            (*ctx.as_mut_ptr()).err_recognition = EXPLODE_ON_ERRORS;
            (*ctx.as_mut_ptr()).thread_count = 1;
        }
        let mut decoder = ctx.decoder().video().ok()?;
        decoder.skip_loop_filter(Discard::All);
        Some(KeyframeCheck {
            decoder,
            frame: frame::Video::empty(),
        })
    }

    /// Whether the keyframe decodes without a single error.
    pub fn keyframe_ok(&mut self, packet: &Packet) -> bool {
        self.decoder.flush();
        let mut ok = self.decoder.send_packet(packet).is_ok() && self.decoder.send_eof().is_ok();
        let mut frames = 0;
        loop {
            match self.decoder.receive_frame(&mut self.frame) {
                Ok(()) => {
                    frames += 1;
                    // SAFETY: a frame the decoder just filled.
                    let flags = unsafe { (*self.frame.as_ptr()).decode_error_flags };
                    ok &= flags == 0 && !self.frame.is_corrupt();
                }
                Err(ffmpeg::Error::Eof) => break,
                Err(ffmpeg::Error::Other { errno }) if errno == ffmpeg::util::error::EAGAIN => break,
                Err(_) => {
                    ok = false;
                    break;
                }
            }
        }
        self.decoder.flush();
        ok && frames > 0
    }
}

struct Job {
    id: u64,
    /// Which slice's parameters `params` are (a worker rebuilds its decoder when this changes).
    generation: u64,
    params: codec::Parameters,
    packet: Packet,
}

/// Keyframe checks on worker threads. Submit keyframes in order; ask for verdicts by id.
pub struct Checkers {
    jobs: Option<mpsc::Sender<Job>>,
    verdicts: mpsc::Receiver<(u64, bool)>,
    workers: Vec<std::thread::JoinHandle<()>>,
    known: HashMap<u64, bool>,
    next: u64,
    generation: u64,
    params: Option<codec::Parameters>,
    slice: SliceVerdicts,
}

/// The current slice's keyframes: counted, with the verdicts given for them or found.
#[derive(Default)]
struct SliceVerdicts {
    /// Keyframes read so far in the slice (the next one's ordinal).
    ordinal: u32,
    /// Ordinals known bad before the slice was read (sorted), when verdicts were given.
    given: Option<Vec<u32>>,
    /// Checks submitted for this slice: id -> ordinal.
    pending: HashMap<u64, u32>,
    /// Ordinals found bad.
    bad: Vec<u32>,
    /// Whether every keyframe so far has a verdict (given, or decoded).
    complete: bool,
}

impl Checkers {
    /// `threads` workers (at least one).
    pub fn new(threads: usize) -> Checkers {
        let (jobs, rx) = mpsc::channel::<Job>();
        let (tx, verdicts) = mpsc::channel();
        let rx = Arc::new(Mutex::new(rx));
        let workers = (0..threads.max(1))
            .map(|_| {
                let rx = rx.clone();
                let tx = tx.clone();
                std::thread::spawn(move || {
                    let mut check: Option<(u64, Option<KeyframeCheck>)> = None;
                    loop {
                        let job = match rx.lock() {
                            Ok(rx) => rx.recv(),
                            Err(_) => return,
                        };
                        let Ok(job) = job else { return };
                        if check.as_ref().is_none_or(|(g, _)| *g != job.generation) {
                            check = Some((job.generation, KeyframeCheck::new(&job.params)));
                        }
                        // No decoder for these parameters: nothing to check against, keep the GOP.
                        let ok = match check.as_mut().and_then(|(_, c)| c.as_mut()) {
                            Some(c) => c.keyframe_ok(&job.packet),
                            None => true,
                        };
                        if tx.send((job.id, ok)).is_err() {
                            return;
                        }
                    }
                })
            })
            .collect();
        Checkers {
            jobs: Some(jobs),
            verdicts,
            workers,
            known: HashMap::new(),
            next: 0,
            generation: 0,
            params: None,
            slice: SliceVerdicts::default(),
        }
    }

    /// A slice begins; `given`: the ordinals of its keyframes known to fail (from an earlier read
    /// that decoded them all), so that none is decoded again.
    pub fn begin_slice(&mut self, given: Option<&[u32]>) {
        let mut given = given.map(<[u32]>::to_vec);
        if let Some(g) = given.as_mut() {
            g.sort_unstable();
        }
        self.slice = SliceVerdicts {
            given,
            complete: true,
            ..SliceVerdicts::default()
        };
    }

    /// A keyframe was read; `decode`: check it (when its verdict is not given). Returns the check
    /// its GOP waits on (None: keep the GOP).
    pub fn keyframe(&mut self, packet: &Packet, decode: bool) -> Option<u64> {
        let ordinal = self.slice.ordinal;
        self.slice.ordinal += 1;
        if let Some(given) = &self.slice.given {
            if given.binary_search(&ordinal).is_err() {
                return None;
            }
            self.slice.bad.push(ordinal);
            let id = self.next;
            self.next += 1;
            self.known.insert(id, false);
            return Some(id);
        }
        if !decode {
            self.slice.complete = false;
            return None;
        }
        let id = self.submit(packet);
        self.slice.pending.insert(id, ordinal);
        Some(id)
    }

    /// The slice ended (every verdict waited for): the ordinals of its keyframes that failed, if
    /// every keyframe had a verdict; None when some were not decoded.
    pub fn end_slice(&mut self) -> Option<Vec<u32>> {
        let mut s = std::mem::take(&mut self.slice);
        s.bad.sort_unstable();
        s.bad.dedup();
        (s.complete && s.pending.is_empty()).then_some(s.bad)
    }

    /// Notes a verdict that arrived.
    fn arrived(&mut self, id: u64, ok: bool) {
        if let Some(ordinal) = self.slice.pending.remove(&id) {
            if !ok {
                self.slice.bad.push(ordinal);
            }
        }
        self.known.insert(id, ok);
    }

    /// One worker per core.
    pub fn per_core() -> Checkers {
        Checkers::new(std::thread::available_parallelism().map_or(1, |n| n.get()))
    }

    /// The video parameters of the keyframes submitted from now on.
    pub fn set_params(&mut self, params: &codec::Parameters) {
        self.generation += 1;
        self.params = Some(params.clone());
    }

    /// Queues a keyframe for checking; returns its id.
    fn submit(&mut self, packet: &Packet) -> u64 {
        let id = self.next;
        self.next += 1;
        let sent = match (&self.jobs, &self.params) {
            (Some(jobs), Some(params)) => jobs
                .send(Job {
                    id,
                    generation: self.generation,
                    params: params.clone(),
                    packet: packet.clone(),
                })
                .is_ok(),
            _ => false,
        };
        if !sent {
            // Nothing can check it: keep the GOP (and say the slice was not wholly checked).
            self.slice.complete = false;
            self.known.insert(id, true);
        }
        id
    }

    /// The verdict on `id` if it is in (never blocks).
    pub fn poll(&mut self, id: u64) -> Option<bool> {
        while let Ok((i, ok)) = self.verdicts.try_recv() {
            self.arrived(i, ok);
        }
        self.known.get(&id).copied()
    }

    /// The verdict on `id`, waiting for it.
    pub fn wait(&mut self, id: u64) -> bool {
        loop {
            if let Some(ok) = self.known.get(&id) {
                return *ok;
            }
            match self.verdicts.recv() {
                Ok((i, ok)) => self.arrived(i, ok),
                // Every worker is gone (a panic in the decoder): nothing can be checked.
                Err(_) => {
                    self.slice.complete = false;
                    return true;
                }
            }
        }
    }

    /// Forgets a verdict that was used.
    pub fn forget(&mut self, id: u64) {
        self.known.remove(&id);
    }
}

impl Drop for Checkers {
    fn drop(&mut self) {
        self.jobs = None;
        for w in self.workers.drain(..) {
            let _ = w.join();
        }
    }
}
