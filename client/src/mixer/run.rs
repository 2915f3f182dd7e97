//! The mixer thread: ticks at frameRate on the wall clock, composes the current layout, encodes
//! it once and hands every packet to the outputs. Frame n is stamped n x 1000 / frameRate ms
//! (rounded as `engine::grid` does), so timestamps are strictly increasing and evenly spaced: a
//! tick that comes late is still made (the next ones follow at once), and only when the machine
//! falls more than two seconds behind are ticks skipped to catch up with the clock.

use super::compose::{sounds, Compositor, Item};
use super::sound::Sound;
use super::types::OutputSet;
use crate::engine::encode::VideoEncoder;
use crate::engine::grid::FrameGrid;
use crate::engine::Error;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// What the handle and the mixer thread share.
pub struct Shared {
    /// The layout the next tick draws; an update swaps it whole.
    pub layout: Mutex<Arc<Vec<Item>>>,
    pub outputs: Mutex<Box<dyn OutputSet>>,
    /// Set when an output was added: the next frame is a keyframe, its first.
    pub force_key: AtomicBool,
    /// Why the mixer thread ended early, if it did.
    pub failure: Mutex<Option<String>>,
}

pub fn lock<T: ?Sized>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

pub struct Ticker {
    pub compositor: Compositor,
    pub video: VideoEncoder,
    pub sound: Option<Sound>,
    pub shared: Arc<Shared>,
    pub fps: u32,
    pub start: Instant,
}

/// Runs until `stop` says so (or hangs up), then drains the encoders and closes every output.
pub fn run(mut t: Ticker, stop: Receiver<()>) {
    let fps = t.fps.max(1) as u64;
    let grid = FrameGrid::new(t.fps);
    let mut n: u64 = 0;
    loop {
        let due = t.start + Duration::from_nanos(n * 1_000_000_000 / fps);
        match stop.recv_timeout(due.saturating_duration_since(Instant::now())) {
            Err(RecvTimeoutError::Timeout) => {}
            _ => break,
        }
        let now_slot = t.start.elapsed().as_nanos() as u64 * fps / 1_000_000_000;
        if now_slot > n + 2 * fps {
            tracing::warn!("mixer: {} frames behind the clock, skipped", now_slot - n);
            n = now_slot;
        }
        if let Err(e) = t.tick(grid.ms(n as i64)) {
            tracing::error!("mixer: {e}; the recording ends here");
            *lock(&t.shared.failure) = Some(e.to_string());
            break;
        }
        n += 1;
    }
    t.finish();
}

impl Ticker {
    fn tick(&mut self, ms: i64) -> Result<(), Error> {
        let items = lock(&self.shared.layout).clone();
        if let Some(s) = &mut self.sound {
            // The current layout's media are heard from here on; removed ones no longer.
            s.media = sounds(&items);
            let mut outs = lock(&self.shared.outputs);
            s.drain(outs.as_mut())?;
            s.pad(ms, outs.as_mut())?;
        }
        self.compositor.compose(&items);
        let key = self.shared.force_key.swap(false, Ordering::SeqCst);
        let packets = self.video.encode(Some((&mut self.compositor.canvas.frame, ms, key)))?;
        let mut outs = lock(&self.shared.outputs);
        for p in packets {
            outs.video(&p, p.pts().unwrap_or(ms));
        }
        Ok(())
    }

    fn finish(&mut self) {
        let mut outs = lock(&self.shared.outputs);
        match self.video.encode(None) {
            Ok(ps) => ps.iter().for_each(|p| outs.video(p, p.pts().unwrap_or(0))),
            Err(e) => tracing::warn!("mixer: draining the video encoder: {e}"),
        }
        if let Some(s) = &mut self.sound {
            if let Err(e) = s.finish(outs.as_mut()) {
                tracing::warn!("mixer: draining the audio encoder: {e}");
            }
        }
        outs.close_all();
    }
}
