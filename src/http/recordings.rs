//! `GET /localrecord/v1/recordings/{VideoOutputId}.mp4`: the spliced MP4, streamed from the store
//! with HTTP Range support (players seek with it). By default the id, a random 64-bit number, makes
//! the URL the capability, as with the VOD URLs the seed's callback hands out. With
//! `query.recording_url_ttl_secs` the URL also carries `expires` and `sig`, an HMAC-SHA256 with the
//! app's TicKey: it stops working when it expires, or at once when the TicKey is rotated.
//! An encrypted recording (issue 14) is served as stored, encrypted, as `application/octet-stream`;
//! admins get it decrypted from `download`.

use super::error::{Error, Result};
use super::ranged::{self, Span};
use crate::config::Settings;
use crate::db::apps::App;
use crate::db::tasks;
use crate::http::AppState;
use axum::body::Body;
use axum::extract::{Path, RawQuery, State};
use axum::http::HeaderMap;
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use subtle::ConstantTimeEq;

pub fn router() -> Router<AppState> {
    Router::new().route("/localrecord/v1/recordings/{file}", get(recording))
}

/// The URL of a recording (the seed's VideoOutputUrl), signed when URLs expire.
pub fn url(settings: &Settings, app: &App, video_output_id: &str) -> String {
    crate::links::Links::new(settings).recording(app, video_output_id)
}

/// `expires` and `sig` from a recording URL's query string.
#[derive(Default)]
struct Signed {
    expires: Option<i64>,
    sig: Option<String>,
}

impl Signed {
    fn parse(q: Option<&str>) -> Signed {
        let mut s = Signed::default();
        for (k, v) in form_urlencoded::parse(q.unwrap_or("").as_bytes()) {
            match &*k {
                "expires" => s.expires = v.trim().parse().ok(),
                "sig" => s.sig = Some(v.into_owned()),
                _ => {}
            }
        }
        s
    }
}

/// With expiring URLs on: a signature by one of the app's TicKeys, not yet expired.
fn check_signed(settings: &Settings, app: &App, id: &str, q: &Signed) -> Result<()> {
    if settings.query.recording_url_ttl_secs == 0 {
        return Ok(());
    }
    let (Some(expires), Some(sig)) = (q.expires, q.sig.as_deref()) else {
        return Err(Error::Forbidden(
            "this recording's URL must carry expires and sig".into(),
        ));
    };
    let valid = app
        .tic_keys()
        .into_iter()
        .any(|k| bool::from(crate::links::sig(k, id, expires).as_bytes().ct_eq(sig.as_bytes())));
    if !valid {
        return Err(Error::Forbidden("the recording URL's signature is not valid".into()));
    }
    if expires < crate::auth::now() {
        return Err(Error::Forbidden("the recording URL has expired; query it again".into()));
    }
    Ok(())
}

/// The spliced MP4 (a task's `VideoOutputUrl`), with single-range `Range` support.
#[utoipa::path(
    get,
    path = "/localrecord/v1/recordings/{file}",
    tag = "business",
    security(()),
    params(
        ("file" = String, Path, description = "`{VideoOutputId}.mp4`", example = "1234567890123.mp4"),
        ("expires" = Option<i64>, Query, description = "With query.recording_url_ttl_secs: the URL's expiry (Unix time)"),
        ("sig" = Option<String>, Query, description = "With query.recording_url_ttl_secs: HMAC-SHA256 of the URL with the app's TicKey"),
        ("Range" = Option<String>, Header, description = "`bytes=start-end`, `bytes=start-` or `bytes=-suffix`; several ranges get the whole file"),
    ),
    responses(
        (status = 200, description = "The whole MP4", content_type = "video/mp4", body = super::openapi::envelope::Binary,
         headers(("Accept-Ranges" = String, description = "bytes"))),
        (status = 206, description = "The requested range", content_type = "video/mp4", body = super::openapi::envelope::Binary,
         headers(("Content-Range" = String, description = "bytes start-end/size"))),
        (status = 403, description = "Expiring URLs are on and the signature is missing, wrong or expired (-10006)",
         body = super::openapi::envelope::ErrorResponse),
        (status = 404, description = "No such recording (-10007)", body = super::openapi::envelope::ErrorResponse),
        (status = 416, description = "The range cannot be satisfied; Content-Range says the size",
         headers(("Content-Range" = String, description = "bytes */size"))),
        (status = 500, description = "Internal error (-10099)", body = super::openapi::envelope::ErrorResponse),
    )
)]
async fn recording(
    State(state): State<AppState>,
    Path(file): Path<String>,
    RawQuery(q): RawQuery,
    headers: HeaderMap,
) -> Result<Response> {
    let not_found = || Error::NotFound(format!("no recording {file}"));
    let id = file
        .strip_suffix(".mp4")
        .filter(|id| !id.is_empty() && id.bytes().all(|b| b.is_ascii_digit()))
        .ok_or_else(not_found)?;
    let task = tasks::by_video_output_id(&state.db, id).await?.ok_or_else(not_found)?;
    if state.settings.query.recording_url_ttl_secs > 0 {
        let app = state
            .apps
            .get(&state.db, task.sdk_app_id)
            .await?
            .ok_or_else(not_found)?;
        check_signed(&state.settings, &app, id, &Signed::parse(q.as_deref()))?;
    }
    // An encrypted recording is served as stored (ciphertext): only its key makes it an MP4.
    let media = match task.video_key_id {
        Some(_) => "application/octet-stream",
        None => "video/mp4",
    };
    let parts = task.parts();
    let key = task.video_output_key.ok_or_else(not_found)?;
    let parts = state.store.recording_parts(&key, parts).await?.ok_or_else(not_found)?;
    let size = crate::store::parts::total(&parts);
    let Some(span) = Span::of(&headers, size) else {
        return Ok(ranged::unsatisfiable(size));
    };
    let stream = state
        .store
        .read_parts(&parts, Some(&key), span.start..span.start + span.count());
    Ok(span.respond(Body::from_stream(stream), media))
}
