//! Small formatting helpers shared by the pages (values reach templates as plain strings).

use chrono::{DateTime, Utc};

pub fn time(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M:%S UTC").to_string()
}

pub fn opt_time(t: Option<DateTime<Utc>>) -> String {
    t.map(time).unwrap_or_default()
}

/// Unix seconds, as the audit log and the delivery log keep them.
pub fn unix(secs: i64) -> String {
    DateTime::<Utc>::from_timestamp(secs, 0).map(time).unwrap_or_default()
}

/// 1234567 -> "1.2 MB"; small numbers as bytes.
pub fn bytes(n: i64) -> String {
    let n = n.max(0) as f64;
    match n {
        n if n >= 1e9 => format!("{:.1} GB", n / 1e9),
        n if n >= 1e6 => format!("{:.1} MB", n / 1e6),
        n if n >= 1e3 => format!("{:.1} kB", n / 1e3),
        n => format!("{n} B"),
    }
}

/// Milliseconds as "1 h 02 min 03 s" / "2 min 03 s" / "3.4 s".
pub fn duration_ms(ms: i64) -> String {
    let s = ms.max(0) / 1000;
    match s {
        s if s >= 3600 => format!("{} h {:02} min {:02} s", s / 3600, s % 3600 / 60, s % 60),
        s if s >= 60 => format!("{} min {:02} s", s / 60, s % 60),
        _ => format!("{:.1} s", ms.max(0) as f64 / 1000.0),
    }
}

/// The console's URL of a task's page (task ids are the server's own `[0-9a-z-]`, but the path is
/// still percent-encoded).
pub fn task_href(task_id: &str) -> String {
    const SEGMENT: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC.remove(b'-').remove(b'_');
    format!(
        "/admin/recordings/{}",
        percent_encoding::utf8_percent_encode(task_id, SEGMENT)
    )
}
