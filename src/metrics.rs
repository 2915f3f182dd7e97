//! Prometheus metrics in the text exposition format (version 0.0.4), kept in atomics: counting
//! costs one relaxed add on the hot paths, and nothing is allocated until a scrape. Served at
//! `/metrics` on the API listener behind `metrics.token`, or on its own `metrics.listen` listener.
//! Values are per process (each instance is scraped on its own).

use std::fmt::Write;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering::Relaxed};
use std::time::Duration;

mod exposition;
pub use exposition::render;

/// A histogram of seconds with fixed buckets.
pub struct Histogram {
    bounds: &'static [f64],
    counts: [AtomicU64; 16],
    sum_micros: AtomicU64,
    count: AtomicU64,
}

impl Histogram {
    const fn new(bounds: &'static [f64]) -> Histogram {
        Histogram {
            bounds,
            counts: [const { AtomicU64::new(0) }; 16],
            sum_micros: AtomicU64::new(0),
            count: AtomicU64::new(0),
        }
    }

    pub fn observe(&self, d: Duration) {
        let secs = d.as_secs_f64();
        if let Some(i) = self.bounds.iter().position(|b| secs <= *b) {
            self.counts[i].fetch_add(1, Relaxed);
        }
        self.sum_micros.fetch_add(d.as_micros() as u64, Relaxed);
        self.count.fetch_add(1, Relaxed);
    }

    fn render(&self, out: &mut String, name: &str, labels: &str) {
        let mut cumulative = 0;
        let sep = if labels.is_empty() { "" } else { "," };
        for (b, c) in self.bounds.iter().zip(&self.counts) {
            cumulative += c.load(Relaxed);
            let _ = writeln!(out, "{name}_bucket{{{labels}{sep}le=\"{b}\"}} {cumulative}");
        }
        let count = self.count.load(Relaxed);
        let _ = writeln!(out, "{name}_bucket{{{labels}{sep}le=\"+Inf\"}} {count}");
        let braces = if labels.is_empty() {
            String::new()
        } else {
            format!("{{{labels}}}")
        };
        let sum = self.sum_micros.load(Relaxed) as f64 / 1e6;
        let _ = writeln!(out, "{name}_sum{braces} {sum}");
        let _ = writeln!(out, "{name}_count{braces} {count}");
    }
}

const FAST: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];
const SLOW: &[f64] = &[0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0];

/// Everything counted. Labels are fixed sets, so each is its own field.
pub struct Metrics {
    pub uploads_in_flight: AtomicI64,
    pub bytes_received: AtomicU64,
    pub patch_seconds: Histogram,
    pub slices_stored: AtomicU64,
    pub splice_seconds: Histogram,
    pub splices_done: AtomicU64,
    pub splices_partial: AtomicU64,
    pub splices_failed: AtomicU64,
    pub job_attempts: AtomicU64,
    pub jobs_reaped: AtomicU64,
    pub callbacks_delivered: AtomicU64,
    pub callbacks_failed: AtomicU64,
    pub callbacks_refused: AtomicU64,
    pub query_seconds: Histogram,
}

pub static METRICS: Metrics = Metrics {
    uploads_in_flight: AtomicI64::new(0),
    bytes_received: AtomicU64::new(0),
    patch_seconds: Histogram::new(FAST),
    slices_stored: AtomicU64::new(0),
    splice_seconds: Histogram::new(SLOW),
    splices_done: AtomicU64::new(0),
    splices_partial: AtomicU64::new(0),
    splices_failed: AtomicU64::new(0),
    job_attempts: AtomicU64::new(0),
    jobs_reaped: AtomicU64::new(0),
    callbacks_delivered: AtomicU64::new(0),
    callbacks_failed: AtomicU64::new(0),
    callbacks_refused: AtomicU64::new(0),
    query_seconds: Histogram::new(FAST),
};

pub fn add(c: &AtomicU64, n: u64) {
    c.fetch_add(n, Relaxed);
}

/// Counts an upload request in flight for as long as it lives.
pub struct InFlight;

impl InFlight {
    pub fn start() -> InFlight {
        METRICS.uploads_in_flight.fetch_add(1, Relaxed);
        InFlight
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        METRICS.uploads_in_flight.fetch_sub(1, Relaxed);
    }
}

/// Observes the time from its creation to its drop.
pub struct Timer(&'static Histogram, std::time::Instant);

impl Timer {
    pub fn start(h: &'static Histogram) -> Timer {
        Timer(h, std::time::Instant::now())
    }
}

impl Drop for Timer {
    fn drop(&mut self) {
        self.0.observe(self.1.elapsed());
    }
}

/// Read at scrape time from elsewhere: the database pool and the job queue.
pub struct Sampled {
    pub pool_size: u32,
    pub pool_idle: usize,
    pub pool_max: u32,
    pub splice_queue: i64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histograms_are_cumulative() {
        let h = Histogram::new(&[0.1, 1.0]);
        h.observe(Duration::from_millis(50));
        h.observe(Duration::from_millis(500));
        h.observe(Duration::from_secs(5));
        let mut o = String::new();
        h.render(&mut o, "x", "");
        assert!(o.contains("x_bucket{le=\"0.1\"} 1\n"), "{o}");
        assert!(o.contains("x_bucket{le=\"1\"} 2\n"), "{o}");
        assert!(o.contains("x_bucket{le=\"+Inf\"} 3\n"), "{o}");
        assert!(o.contains("x_count 3\n") && o.contains("x_sum 5.55\n"), "{o}");
    }
}
