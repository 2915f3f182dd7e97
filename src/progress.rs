//! A running piece of work's progress counter, deadline and cancel flag, shared between the work
//! (which ticks and checks `cancelled`) and its watchdog (which reads ticks, and cancels).
//!
//! Liveness is not progress: a thread stuck in a decoder still answers heartbeats. The job worker
//! renews a lease only while the counter moves, and gives up on work that stops moving or runs
//! past its deadline (see `jobs::worker`).

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

#[derive(Clone, Debug, Default)]
pub struct Progress(Arc<Inner>);

#[derive(Debug, Default)]
struct Inner {
    ticks: AtomicU64,
    cancelled: AtomicBool,
    deadline: Mutex<Option<Instant>>,
}

impl Progress {
    pub fn new() -> Progress {
        Progress::default()
    }

    /// Records `n` units of work done (bytes read, packets written).
    pub fn tick(&self, n: u64) {
        self.0.ticks.fetch_add(n.max(1), Ordering::Relaxed);
    }

    pub fn ticks(&self) -> u64 {
        self.0.ticks.load(Ordering::Relaxed)
    }

    pub fn cancel(&self) {
        self.0.cancelled.store(true, Ordering::SeqCst);
    }

    pub fn cancelled(&self) -> bool {
        self.0.cancelled.load(Ordering::SeqCst)
    }

    /// Sets the time by which the work must be done (once its input is known).
    pub fn set_deadline(&self, after: Duration) {
        *self.0.deadline.lock().unwrap_or_else(|e| e.into_inner()) = Some(Instant::now() + after);
    }

    pub fn deadline(&self) -> Option<Instant> {
        *self.0.deadline.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_cancel_and_deadline_are_shared_between_clones() {
        let p = Progress::new();
        let q = p.clone();
        q.tick(10);
        q.tick(0);
        assert_eq!(p.ticks(), 11, "a zero tick still counts as a sign of progress");
        assert!(!q.cancelled());
        p.cancel();
        assert!(q.cancelled());
        assert!(p.deadline().is_none());
        q.set_deadline(Duration::from_secs(5));
        assert!(p.deadline().unwrap() > Instant::now());
    }
}
