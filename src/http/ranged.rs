//! Single-range `Range` answers (RFC 9110), shared by the recording routes: the stored MP4
//! (`recordings`) and the admin's decrypted one (`download`). The parser decides which bytes;
//! [`Span`] turns that into the status and headers, so both routes answer a range alike.

use axum::body::Body;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

/// Parses a single `bytes=` range against `size`: Ok(None) for no header, Err for unsatisfiable.
/// Public for the fuzz target (fuzz/).
#[allow(clippy::result_unit_err)]
pub fn range(headers: &HeaderMap, size: u64) -> std::result::Result<Option<(u64, u64)>, ()> {
    let Some(v) = headers.get(header::RANGE).and_then(|v| v.to_str().ok()) else {
        return Ok(None);
    };
    let spec = v.trim().strip_prefix("bytes=").ok_or(())?;
    if spec.contains(',') {
        return Ok(None); // multiple ranges: answer with the whole file, as RFC 9110 allows
    }
    let (a, b) = spec.split_once('-').ok_or(())?;
    let (start, end) = match (a.trim(), b.trim()) {
        ("", n) => {
            let n: u64 = n.parse().map_err(|_| ())?;
            (size.saturating_sub(n), size.checked_sub(1).ok_or(())?)
        }
        (s, "") => (s.parse().map_err(|_| ())?, size.checked_sub(1).ok_or(())?),
        (s, e) => (
            s.parse().map_err(|_| ())?,
            e.parse::<u64>().map_err(|_| ())?.min(size.saturating_sub(1)),
        ),
    };
    if start > end || start >= size {
        return Err(());
    }
    Ok(Some((start, end)))
}

/// The bytes `start..=end` of a resource of `size` bytes that one request gets: all of it (200)
/// or the range it asked for (206).
#[derive(Debug, Clone, Copy)]
pub struct Span {
    pub start: u64,
    pub end: u64,
    pub size: u64,
    partial: bool,
}

impl Span {
    /// The span `headers` ask for; None when the range cannot be satisfied (answer that with
    /// [`unsatisfiable`]).
    pub fn of(headers: &HeaderMap, size: u64) -> Option<Span> {
        let (start, end, partial) = match range(headers, size) {
            Ok(None) => (0, size.saturating_sub(1), false),
            Ok(Some((s, e))) => (s, e, true),
            Err(()) => return None,
        };
        Some(Span {
            start,
            end,
            size,
            partial,
        })
    }

    /// How many bytes the body holds (none of an empty resource).
    pub fn count(&self) -> u64 {
        if self.size == 0 {
            0
        } else {
            self.end - self.start + 1
        }
    }

    /// The answer carrying `body` (exactly [`Span::count`] bytes) as `content_type`: 200 or 206,
    /// with Accept-Ranges, Content-Length and, on a 206, Content-Range.
    pub fn respond(&self, body: Body, content_type: &'static str) -> Response {
        let mut r = Response::new(body);
        let h = r.headers_mut();
        h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
        h.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
        h.insert(header::CONTENT_LENGTH, HeaderValue::from(self.count()));
        if self.partial {
            let v = format!("bytes {}-{}/{}", self.start, self.end, self.size);
            h.insert(header::CONTENT_RANGE, HeaderValue::from_str(&v).expect("ascii"));
            *r.status_mut() = StatusCode::PARTIAL_CONTENT;
        }
        r
    }
}

/// The 416 answer to a range a resource of `size` bytes cannot satisfy: `Content-Range: bytes */size`.
pub fn unsatisfiable(size: u64) -> Response {
    let mut r = StatusCode::RANGE_NOT_SATISFIABLE.into_response();
    let v = HeaderValue::from_str(&format!("bytes */{size}")).expect("ascii");
    r.headers_mut().insert(header::CONTENT_RANGE, v);
    r
}
