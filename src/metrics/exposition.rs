//! The text exposition of everything counted, one metric family after another.

use super::{Histogram, Sampled, METRICS};
use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

/// The exposition text.
pub fn render(s: &Sampled) -> String {
    let mut o = String::with_capacity(4096);
    uploads(&mut o);
    splices(&mut o, s);
    jobs(&mut o);
    callbacks(&mut o);
    queries(&mut o);
    db_pool(&mut o, s);
    o
}

fn v(c: &AtomicU64) -> u64 {
    c.load(Relaxed)
}

fn uploads(o: &mut String) {
    let m = &METRICS;
    gauge(
        o,
        "localrecord_uploads_in_flight",
        "tus requests being received now",
        m.uploads_in_flight.load(Relaxed),
    );
    counter(
        o,
        "localrecord_received_bytes_total",
        "upload bytes received and stored",
        v(&m.bytes_received),
    );
    histogram(
        o,
        "localrecord_patch_seconds",
        "tus PATCH handling time",
        &m.patch_seconds,
    );
    counter(
        o,
        "localrecord_slices_stored_total",
        "slices stored whole and verified",
        v(&m.slices_stored),
    );
}

fn splices(o: &mut String, s: &Sampled) {
    let m = &METRICS;
    gauge(
        o,
        "localrecord_splice_queue_depth",
        "splice jobs queued and not yet running",
        s.splice_queue,
    );
    histogram(
        o,
        "localrecord_splice_seconds",
        "time of each splice run",
        &m.splice_seconds,
    );
    labelled(
        o,
        "localrecord_splices_total",
        "counter",
        "splices published, by outcome",
        "outcome",
        &[
            ("done", v(&m.splices_done)),
            ("partial", v(&m.splices_partial)),
            ("failed", v(&m.splices_failed)),
        ],
    );
}

fn jobs(o: &mut String) {
    let m = &METRICS;
    counter(
        o,
        "localrecord_job_attempts_total",
        "job runs started (any kind)",
        v(&m.job_attempts),
    );
    counter(
        o,
        "localrecord_jobs_reaped_total",
        "running jobs whose lease expired and were re-queued",
        v(&m.jobs_reaped),
    );
}

fn callbacks(o: &mut String) {
    let m = &METRICS;
    labelled(
        o,
        "localrecord_callback_deliveries_total",
        "counter",
        "callback attempts, by outcome",
        "outcome",
        &[
            ("delivered", v(&m.callbacks_delivered)),
            ("failed", v(&m.callbacks_failed)),
            ("refused", v(&m.callbacks_refused)),
        ],
    );
}

fn queries(o: &mut String) {
    histogram(
        o,
        "localrecord_query_seconds",
        "query API handling time",
        &METRICS.query_seconds,
    );
}

fn db_pool(o: &mut String, s: &Sampled) {
    let busy = (s.pool_size as i64 - s.pool_idle as i64).max(0) as u64;
    labelled(
        o,
        "localrecord_db_pool_connections",
        "gauge",
        "database pool connections, by state",
        "state",
        &[("busy", busy), ("idle", s.pool_idle as u64)],
    );
    gauge(
        o,
        "localrecord_db_pool_max_connections",
        "the pool's size limit (db.max_connections)",
        s.pool_max,
    );
}

fn family(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
}

fn gauge(out: &mut String, name: &str, help: &str, value: impl std::fmt::Display) {
    family(out, name, "gauge", help);
    let _ = writeln!(out, "{name} {value}");
}

fn counter(out: &mut String, name: &str, help: &str, value: u64) {
    family(out, name, "counter", help);
    let _ = writeln!(out, "{name} {value}");
}

/// One sample per value of a single label.
fn labelled(out: &mut String, name: &str, kind: &str, help: &str, label: &str, values: &[(&str, u64)]) {
    family(out, name, kind, help);
    for (value, n) in values {
        let _ = writeln!(out, "{name}{{{label}=\"{value}\"}} {n}");
    }
}

fn histogram(out: &mut String, name: &str, help: &str, h: &Histogram) {
    family(out, name, "histogram", help);
    h.render(out, name, "");
}
