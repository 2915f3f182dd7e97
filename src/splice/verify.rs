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

use ffmpeg::{codec, frame, Discard, Packet};
use ffmpeg_next as ffmpeg;
use std::collections::HashMap;
use std::sync::mpsc;
use std::sync::{Arc, Mutex};

/// `AV_EF_CRCCHECK | AV_EF_BITSTREAM | AV_EF_BUFFER | AV_EF_EXPLODE` (libavcodec/defs.h macros
/// that bindgen does not export).
const EXPLODE_ON_ERRORS: i32 = 1 | 2 | 4 | 8;

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
        }
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
    pub fn submit(&mut self, packet: &Packet) -> u64 {
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
            self.known.insert(id, true);
        }
        id
    }

    /// The verdict on `id` if it is in (never blocks).
    pub fn poll(&mut self, id: u64) -> Option<bool> {
        while let Ok((i, ok)) = self.verdicts.try_recv() {
            self.known.insert(i, ok);
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
                Ok((i, ok)) => {
                    self.known.insert(i, ok);
                }
                // Every worker is gone (a panic in the decoder): nothing can be checked.
                Err(_) => return true,
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
