//! `GET /localrecord/v1/recordings/{VideoOutputId}.mp4`: the spliced MP4, streamed from the store
//! with HTTP Range support (players seek with it). The id is a random 64-bit number: the URL is the
//! capability, as with the VOD URLs the seed's callback hands out.

use super::error::{Error, Result};
use crate::db::tasks;
use crate::startup::AppState;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;

pub fn router() -> Router<AppState> {
    Router::new().route("/localrecord/v1/recordings/{file}", get(recording))
}

/// The public URL of a recording (the seed's VideoOutputUrl).
pub fn url(state: &AppState, video_output_id: &str) -> String {
    format!(
        "{}/localrecord/v1/recordings/{video_output_id}.mp4",
        state.settings.public_base()
    )
}

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

async fn recording(State(state): State<AppState>, Path(file): Path<String>, headers: HeaderMap) -> Result<Response> {
    let not_found = || Error::NotFound(format!("no recording {file}"));
    let id = file
        .strip_suffix(".mp4")
        .filter(|id| !id.is_empty() && id.bytes().all(|b| b.is_ascii_digit()))
        .ok_or_else(not_found)?;
    let task = tasks::by_video_output_id(&state.db, id).await?.ok_or_else(not_found)?;
    let key = task.video_output_key.ok_or_else(not_found)?;
    let size = state.store.size(&key).await?.ok_or_else(not_found)?;
    let (status, start, end) = match range(&headers, size) {
        Ok(None) => (StatusCode::OK, 0, size.saturating_sub(1)),
        Ok(Some((s, e))) => (StatusCode::PARTIAL_CONTENT, s, e),
        Err(()) => {
            let mut r = StatusCode::RANGE_NOT_SATISFIABLE.into_response();
            r.headers_mut().insert(
                header::CONTENT_RANGE,
                HeaderValue::from_str(&format!("bytes */{size}")).expect("ascii"),
            );
            return Ok(r);
        }
    };
    let len = if size == 0 { 0 } else { end - start + 1 };
    let stream = state.store.read_stream(&key, start..start + len).await?;
    let mut r = Response::new(Body::from_stream(stream));
    *r.status_mut() = status;
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("video/mp4"));
    h.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    h.insert(header::CONTENT_LENGTH, HeaderValue::from(len));
    if status == StatusCode::PARTIAL_CONTENT {
        h.insert(
            header::CONTENT_RANGE,
            HeaderValue::from_str(&format!("bytes {start}-{end}/{size}")).expect("ascii"),
        );
    }
    Ok(r)
}
