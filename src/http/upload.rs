//! tus 1.0.0 at `/localrecord/v1/uploads/` with creation, creation-with-upload, expiration, checksum
//! (md5, sha1), termination and concatenation. Every request is authenticated like the rest of the
//! recorder API. Upload state lives in Postgres and bytes in the store (see `ingest`), so any
//! instance can continue an upload another began. This handler never sees which store is behind it.

use super::error::{Error, Result};
use super::tasks::{owned_task, MAX_SLICES};
use super::tus::{self, Concat};
use crate::db::slices;
use crate::db::uploads::{self, Upload};
use crate::http::caller::Caller;
use crate::http::AppState;
use crate::ingest;
use crate::store::keys;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use uuid::Uuid;

const BASE: &str = "/localrecord/v1/uploads";

use super::openapi::envelope::{Binary, ErrorResponse, TusResumable};
use super::openapi::errors::{AuthErrors, TusErrors, UploadCreateErrors};

pub fn router() -> Router<AppState> {
    let collection = post(create).options(options);
    let item = axum::routing::head(head)
        .patch(patch)
        .delete(terminate)
        .options(options_upload);
    Router::new()
        .route(BASE, collection.clone())
        .route(&format!("{BASE}/"), collection)
        .route(&format!("{BASE}/{{id}}"), item)
}

fn respond(status: StatusCode, headers: Vec<(&'static str, String)>) -> Response {
    let mut r = status.into_response();
    let h = r.headers_mut();
    h.insert("tus-resumable", HeaderValue::from_static(tus::VERSION));
    for (k, v) in headers {
        if let Ok(v) = HeaderValue::from_str(&v) {
            h.insert(k, v);
        }
    }
    r
}

/// tus discovery: the version, extensions, maximum size and checksum algorithms.
#[utoipa::path(
    options,
    path = "/localrecord/v1/uploads",
    tag = "uploads",
    security(()),
    responses((status = 204, description = "What this tus server supports", headers(
        ("Tus-Resumable" = String, description = "1.0.0"),
        ("Tus-Version" = String, description = "1.0.0"),
        ("Tus-Extension" = String, description = "creation,creation-with-upload,expiration,checksum,termination,concatenation"),
        ("Tus-Max-Size" = i64, description = "upload.max_size in bytes"),
        ("Tus-Checksum-Algorithm" = String, description = "md5,sha1"),
    )))
)]
async fn options(State(state): State<AppState>) -> Response {
    respond(
        StatusCode::NO_CONTENT,
        vec![
            ("tus-version", tus::VERSION.into()),
            ("tus-extension", tus::EXTENSIONS.into()),
            ("tus-max-size", state.settings.upload.max_size.to_string()),
            ("tus-checksum-algorithm", ingest::checksum::ALGORITHMS.into()),
        ],
    )
}

/// tus discovery on an upload's URL: the same as on the collection.
#[utoipa::path(
    options,
    path = "/localrecord/v1/uploads/{id}",
    tag = "uploads",
    security(()),
    params(("id" = String, Path, description = "The upload's id")),
    responses((status = 204, description = "What this tus server supports (see OPTIONS /localrecord/v1/uploads)"))
)]
async fn options_upload(state: State<AppState>) -> Response {
    options(state).await
}

/// The slice an upload fills, from `task_id` / `slice_index` / `filename` metadata.
struct SliceTarget {
    task_id: String,
    index: i32,
    filename: Option<String>,
}

async fn slice_target(
    state: &AppState,
    caller: &Caller,
    md: &std::collections::BTreeMap<String, String>,
) -> Result<Option<SliceTarget>> {
    let filename = match md.get("filename") {
        Some(f)
            if f.is_empty()
                || f.len() > 255
                || f.contains(['/', '\\', '\0'])
                || f == ".."
                || f.chars().any(char::is_control) =>
        {
            return Err(Error::invalid(
                "filename metadata must be a plain file name (no path characters, at most 255 bytes)",
            ))
        }
        f => f.cloned(),
    };
    let (task_id, index) = match (md.get("task_id"), md.get("slice_index")) {
        (None, None) => return Ok(None),
        (Some(_), None) => return Err(Error::invalid("Upload-Metadata has task_id but no slice_index")),
        (None, Some(_)) => return Err(Error::invalid("Upload-Metadata has slice_index but no task_id")),
        (Some(t), Some(i)) => (t, i),
    };
    let index: i32 = index
        .parse()
        .ok()
        .filter(|i| (0..MAX_SLICES).contains(i))
        .ok_or_else(|| {
            Error::invalid(format!(
                "slice_index {index:?} must be an integer from 0 to {}",
                MAX_SLICES - 1
            ))
        })?;
    if task_id.is_empty()
        || task_id.len() > 128
        || !task_id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        return Err(Error::invalid("task_id metadata is not a task id"));
    }
    owned_task(state, caller, task_id).await?;
    Ok(Some(SliceTarget {
        task_id: task_id.clone(),
        index,
        filename,
    }))
}

fn location(state: &AppState, headers: &HeaderMap, id: Uuid) -> String {
    let base = match &state.settings.public_url {
        Some(u) => u.trim_end_matches('/').to_owned(),
        None => {
            let host = headers
                .get(header::HOST)
                .and_then(|h| h.to_str().ok())
                .unwrap_or("localhost");
            let own = if state.settings.tls.cert_file.is_some() {
                "https"
            } else {
                "http"
            };
            let proto = headers
                .get("x-forwarded-proto")
                .and_then(|h| h.to_str().ok())
                .unwrap_or(own);
            format!("{proto}://{host}")
        }
    };
    format!("{base}{BASE}/{id}")
}

/// tus creation (with creation-with-upload and concatenation): a new upload for one slice of a
/// task, named in `Upload-Metadata` as `task_id <base64>,slice_index <base64>[,filename <base64>]`;
/// a partial upload (`Upload-Concat: partial`) names none. A body sent with Content-Type
/// `application/offset+octet-stream` is the first chunk.
#[utoipa::path(
    post,
    path = "/localrecord/v1/uploads",
    tag = "uploads",
    params(
        ("Tus-Resumable" = TusResumable, Header, description = "1.0.0"),
        ("Upload-Length" = Option<i64>, Header, description = "The slice's size in bytes (required unless Upload-Concat: final)"),
        ("Upload-Metadata" = Option<String>, Header, description = "tus metadata: task_id and slice_index (base64), optional filename"),
        ("Upload-Concat" = Option<String>, Header, description = "`partial`, or `final;<upload URLs>` to join complete partial uploads"),
        ("Upload-Checksum" = Option<String>, Header, description = "`md5 <base64>` or `sha1 <base64>` of the first chunk"),
    ),
    request_body(content = Binary, content_type = "application/offset+octet-stream",
        description = "Optional first chunk (creation-with-upload)"),
    responses(
        (status = 201, description = "Created; Location is the upload's URL", headers(
            ("Location" = String, description = "The upload's URL"),
            ("Upload-Offset" = i64, description = "Bytes stored so far"),
            ("Upload-Expires" = String, description = "When an unfinished upload expires (RFC 9110 date)"),
        )),
        (status = 460, description = "The first chunk did not match Upload-Checksum and was discarded (-10010)", body = ErrorResponse),
        AuthErrors, TusErrors, UploadCreateErrors,
    )
)]
async fn create(State(state): State<AppState>, caller: Caller, headers: HeaderMap, body: Body) -> Result<Response> {
    tus::check_version(&headers)?;
    if headers.contains_key("upload-defer-length") {
        return Err(Error::invalid(
            "Upload-Defer-Length is not supported: send Upload-Length",
        ));
    }
    let concat = tus::concat(tus::header(&headers, "upload-concat")?)?;
    let raw_md = tus::header(&headers, "upload-metadata")?;
    let md = tus::metadata(raw_md)?;
    let target = slice_target(&state, &caller, &md).await?;
    let max = state.settings.upload.max_size as i64;

    let (length, offset, parts) = match &concat {
        Concat::Final(ids) => {
            let partials = uploads::get_many(&state.db, ids).await?;
            let mut total = 0i64;
            for id in ids {
                let p = partials
                    .iter()
                    .find(|p| p.id == *id && p.sdk_app_id == caller.sdk_app_id() && p.user_id == caller.identifier);
                match p {
                    None => {
                        return Err(Error::invalid(format!(
                            "Upload-Concat names upload {id}, which is not yours or does not exist"
                        )))
                    }
                    Some(p) if !p.is_partial() => {
                        return Err(Error::invalid(format!("upload {id} is not a partial upload")))
                    }
                    Some(p) if !p.is_complete() => {
                        return Err(Error::invalid(format!("partial upload {id} is not complete yet")))
                    }
                    Some(p) => total += p.length,
                }
            }
            (total, total, Some(ids.clone()))
        }
        _ => {
            let length = tus::number(&headers, "upload-length")?
                .ok_or_else(|| Error::invalid("Upload-Length header is required"))?;
            (length, 0, None)
        }
    };
    if length > max {
        return Err(Error::TooLarge(format!(
            "Upload-Length {length} exceeds the maximum of {max} bytes"
        )));
    }
    if concat != Concat::Partial && target.is_none() {
        return Err(Error::invalid(
            "Upload-Metadata must carry task_id and slice_index (base64), e.g. 'task_id <b64>,slice_index <b64>'",
        ));
    }
    if let Some(t) = &target {
        if let Some(stored) = slices::get(&state.db, &t.task_id, t.index).await? {
            if stored.size != length {
                return Err(Error::Conflict(format!(
                    "slice {} of task {} is already stored with {} bytes, not {length}",
                    t.index, t.task_id, stored.size
                )));
            }
        }
    }

    if let Some(t) = &target {
        crate::quota::slice_index(&state.settings.quota, t.index as i64)?;
    }
    if !matches!(concat, Concat::Final(_)) {
        let q = &state.settings.quota;
        crate::quota::new_upload(&state.db, q, caller.sdk_app_id(), &caller.identifier, length).await?;
    }

    let up = Upload {
        id: Uuid::new_v4(),
        sdk_app_id: caller.sdk_app_id(),
        user_id: caller.identifier.clone(),
        task_id: target.as_ref().map(|t| t.task_id.clone()),
        slice_index: target.as_ref().map(|t| t.index),
        filename: target.as_ref().and_then(|t| t.filename.clone()),
        metadata: raw_md.map(str::to_owned),
        concat: match concat {
            Concat::None => "none",
            Concat::Partial => "partial",
            Concat::Final(_) => "final",
        }
        .into(),
        concat_parts: parts,
        length,
        offset,
        state: "receiving".into(),
        md5: None,
        expires_at: state.settings.upload.expiry_from_now(),
    };
    uploads::insert(&state.db, &up).await?;
    let loc = location(&state, &headers, up.id);
    tracing::info!(upload = %up.id, task = ?up.task_id, index = ?up.slice_index, length, concat = %up.concat, "upload created");

    // creation-with-upload: the POST may carry the first chunk.
    let with_data = tus::header(&headers, "content-type")? == Some(tus::OFFSET_CONTENT_TYPE)
        && up.concat != "final"
        && tus::number(&headers, "content-length")?.unwrap_or(1) > 0;
    let result = if with_data {
        let checksum = tus::header(&headers, "upload-checksum")?
            .map(tus::checksum)
            .transpose()?;
        ingest_chunk(&state, up.clone(), 0, body, checksum)
            .await
            .map(|r| r.new_offset)
    } else if up.offset == up.length {
        {
            let (st, id) = (state.clone(), up.id);
            run_detached(async move { Ok(ingest::finish(&st.ingest, id).await?) })
                .await
                .map(|u| u.offset)
        }
    } else {
        Ok(0)
    };
    match result {
        Ok(new_offset) => Ok(respond(
            StatusCode::CREATED,
            vec![
                ("location", loc),
                ("upload-offset", new_offset.to_string()),
                ("upload-expires", tus::http_date(up.expires_at)),
            ],
        )),
        Err(e) => {
            // The upload exists even though its first chunk failed: say where, so it can resume.
            let mut r = e.into_response();
            if let Ok(v) = HeaderValue::from_str(&loc) {
                r.headers_mut().insert(header::LOCATION, v);
            }
            Ok(r)
        }
    }
}

/// Runs `fut` on its own task so it completes even if the client disconnects and the request is
/// dropped: a chunk is committed (or discarded) whole, never left half-recorded.
async fn run_detached<T: Send + 'static>(
    fut: impl std::future::Future<Output = Result<T>> + Send + 'static,
) -> Result<T> {
    tokio::spawn(fut)
        .await
        .map_err(|e| Error::Internal(anyhow::anyhow!("upload task failed: {e}")))?
}

async fn ingest_chunk(
    state: &AppState,
    up: Upload,
    offset: i64,
    body: Body,
    checksum: Option<ingest::checksum::Checksum>,
) -> Result<ingest::Received> {
    use crate::metrics::{self, METRICS};
    let _in_flight = metrics::InFlight::start();
    let st = state.clone();
    run_detached(async move {
        let received = ingest::receive(&st.ingest, &up, offset, body.into_data_stream(), checksum).await?;
        metrics::add(&METRICS.bytes_received, (received.new_offset - offset).max(0) as u64);
        if received.new_offset == up.length {
            ingest::finish(&st.ingest, up.id).await?;
            if up.task_id.is_some() {
                metrics::add(&METRICS.slices_stored, 1);
            }
        }
        Ok(received)
    })
    .await
}

/// The upload, if it exists and belongs to the caller.
async fn owned_upload(state: &AppState, caller: &Caller, id: &str) -> Result<Upload> {
    let not_found = || Error::NotFound(format!("no upload {id}"));
    let id: Uuid = id.parse().map_err(|_| not_found())?;
    let up = uploads::get(&state.db, id).await?.ok_or_else(not_found)?;
    if up.sdk_app_id != caller.sdk_app_id() {
        return Err(not_found());
    }
    if up.user_id != caller.identifier {
        return Err(Error::Forbidden(format!("upload {id} belongs to another user")));
    }
    if up.expires_at < chrono::Utc::now() && !up.is_complete() {
        return Err(Error::Gone(format!("upload {id} expired")));
    }
    Ok(up)
}

/// tus: an upload's offset and length (resume from `Upload-Offset`).
#[utoipa::path(
    head,
    path = "/localrecord/v1/uploads/{id}",
    tag = "uploads",
    params(("id" = String, Path, description = "The upload's id"), ("Tus-Resumable" = TusResumable, Header, description = "1.0.0")),
    responses(
        (status = 200, description = "The upload's state (no body)", headers(
            ("Upload-Offset" = i64, description = "Bytes stored so far"),
            ("Upload-Length" = i64, description = "The upload's size"),
            ("Upload-Metadata" = String, description = "As sent at creation"),
            ("Upload-Expires" = String, description = "While unfinished"),
            ("Upload-Concat" = String, description = "partial, or final;<URLs>"),
        )),
        (status = 410, description = "The unfinished upload expired (-10007)", body = ErrorResponse),
        AuthErrors, TusErrors,
    )
)]
async fn head(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Response> {
    tus::check_version(&headers)?;
    let mut up = owned_upload(&state, &caller, &id).await?;
    if !up.is_complete() && up.offset > 0 {
        // fs store: an offset whose bytes an OS crash may have lost is given back first.
        ingest::recover(&state.ingest, up.id).await?;
        up = owned_upload(&state, &caller, &id).await?;
    }
    let mut h = vec![
        ("upload-offset", up.offset.to_string()),
        ("upload-length", up.length.to_string()),
        ("cache-control", "no-store".to_owned()),
    ];
    if let Some(m) = &up.metadata {
        h.push(("upload-metadata", m.clone()));
    }
    if !up.is_complete() {
        h.push(("upload-expires", tus::http_date(up.expires_at)));
    }
    match (up.concat.as_str(), &up.concat_parts) {
        ("partial", _) => h.push(("upload-concat", "partial".into())),
        ("final", Some(parts)) => {
            let urls: Vec<String> = parts.iter().map(|p| format!("{BASE}/{p}")).collect();
            h.push(("upload-concat", format!("final;{}", urls.join(" "))));
        }
        _ => {}
    }
    Ok(respond(StatusCode::OK, h))
}

/// tus: appends a chunk at `Upload-Offset`. A chunk is stored whole or not at all.
#[utoipa::path(
    patch,
    path = "/localrecord/v1/uploads/{id}",
    tag = "uploads",
    params(
        ("id" = String, Path, description = "The upload's id"),
        ("Tus-Resumable" = TusResumable, Header, description = "1.0.0"),
        ("Upload-Offset" = i64, Header, description = "Where this chunk starts: the upload's current offset"),
        ("Upload-Checksum" = Option<String>, Header, description = "`md5 <base64>` or `sha1 <base64>` of this chunk"),
    ),
    request_body(content = Binary, content_type = "application/offset+octet-stream"),
    responses(
        (status = 204, description = "Stored", headers(
            ("Upload-Offset" = i64, description = "The new offset"),
            ("Upload-Expires" = String, description = "When the upload expires if left unfinished"),
        )),
        (status = 403, description = "A final concatenation takes no PATCH (-10006), or see AuthErrors", body = ErrorResponse),
        (status = 408, description = "The body stalled; what arrived whole was kept (-10011)", body = ErrorResponse),
        (status = 409, description = "Upload-Offset is not the upload's offset, or it is complete (-10008)", body = ErrorResponse),
        (status = 410, description = "The unfinished upload expired (-10007)", body = ErrorResponse),
        (status = 413, description = "The chunk passes Upload-Length (-10009)", body = ErrorResponse),
        (status = 415, description = "Content-Type is not application/offset+octet-stream (-10000)", body = ErrorResponse),
        (status = 460, description = "The chunk did not match Upload-Checksum and was discarded (-10010)", body = ErrorResponse),
        AuthErrors, TusErrors,
    )
)]
async fn patch(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response> {
    let _timer = crate::metrics::Timer::start(&crate::metrics::METRICS.patch_seconds);
    tus::check_version(&headers)?;
    if tus::header(&headers, "content-type")? != Some(tus::OFFSET_CONTENT_TYPE) {
        return Err(Error::UnsupportedMediaType(format!(
            "PATCH needs Content-Type: {}",
            tus::OFFSET_CONTENT_TYPE
        )));
    }
    let offset =
        tus::number(&headers, "upload-offset")?.ok_or_else(|| Error::invalid("Upload-Offset header is required"))?;
    let checksum = tus::header(&headers, "upload-checksum")?
        .map(tus::checksum)
        .transpose()?;
    let up = owned_upload(&state, &caller, &id).await?;
    if up.is_final() {
        return Err(Error::Forbidden("a final concatenation upload takes no PATCH".into()));
    }
    if up.is_complete() || offset != up.offset {
        return Err(Error::Conflict(format!(
            "Upload-Offset {offset} does not match the upload's offset {}",
            up.offset
        )));
    }
    if let Some(len) = tus::number(&headers, "content-length")? {
        if len > up.length - offset {
            return Err(Error::TooLarge(format!(
                "chunk of {len} bytes passes Upload-Length ({} bytes remain)",
                up.length - offset
            )));
        }
    }
    let received = ingest_chunk(&state, up, offset, body, checksum).await?;
    Ok(respond(
        StatusCode::NO_CONTENT,
        vec![
            ("upload-offset", received.new_offset.to_string()),
            (
                "upload-expires",
                tus::http_date(state.settings.upload.expiry_from_now()),
            ),
        ],
    ))
}

/// tus termination: frees an upload (a stored slice stays).
#[utoipa::path(
    delete,
    path = "/localrecord/v1/uploads/{id}",
    tag = "uploads",
    params(("id" = String, Path, description = "The upload's id"), ("Tus-Resumable" = TusResumable, Header, description = "1.0.0")),
    responses(
        (status = 204, description = "Terminated"),
        (status = 410, description = "The unfinished upload expired (-10007)", body = ErrorResponse),
        AuthErrors, TusErrors,
    )
)]
async fn terminate(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Response> {
    tus::check_version(&headers)?;
    let up = owned_upload(&state, &caller, &id).await?;
    // A stored slice outlives its upload: termination frees the upload, never recorded data.
    uploads::delete(&state.db, &[up.id]).await?;
    state.store.delete_prefix(&keys::upload_prefix(up.id)).await?;
    tracing::info!(upload = %up.id, "upload terminated");
    Ok(respond(StatusCode::NO_CONTENT, vec![]))
}
