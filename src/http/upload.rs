//! tus 1.0.0 at `/localrecord/v1/uploads/` with creation, creation-with-upload, expiration, checksum
//! (md5, sha1), termination and concatenation. Every request is authenticated like the rest of the
//! recorder API. Upload state lives in Postgres and bytes in the store (see `ingest`), so any
//! instance can continue an upload another began. This handler never sees which store is behind it.

use super::error::{Error, Result};
use super::tus;
use crate::db::uploads::{self, ConcatKind, Upload};
use crate::http::caller::Caller;
use crate::http::AppState;
use crate::ingest;
use crate::store::keys;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use uuid::Uuid;

mod chunk;
mod creation;
mod encryption;

use chunk::{ingest_chunk, upload_checksum};

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
        ("Upload-Metadata" = Option<String>, Header, description = "tus metadata: task_id and slice_index (base64), optional filename; encryption (lrcrypt-v1) and key_id for an encrypted slice"),
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
    let req = tus::CreateRequest::parse(&headers)?;
    let target = creation::slice_target(&state, &caller, &req.metadata).await?;
    let key_id = encryption::check(&state, &caller, &req.metadata).await?;
    let (length, offset) = creation::extent(&state, &caller, &req).await?;
    creation::check_size(&state.settings, length)?;
    creation::require_target(&req.concat, target.as_ref())?;
    creation::check_stored_slice(&state, target.as_ref(), length).await?;
    encryption::check_task_kind(&state, target.as_ref().map(|t| t.task_id()), key_id.as_deref()).await?;
    creation::check_quota(&state, &caller, &req.concat, target.as_ref(), length).await?;

    let up = creation::new_upload(&state, &caller, req, target, (length, offset), key_id.clone());
    uploads::insert(&state.db, &up).await?;
    let loc = creation::location(&state.settings, &headers, up.id);
    tracing::info!(upload = %up.id, task = ?up.task_id, index = ?up.slice_index, length, concat = %up.concat, key_id = ?key_id, "upload created");

    let chunk = creation::first_chunk(&headers, &up)?;
    let stored = creation::store_first(&state, &up, chunk, body).await;
    Ok(creation::created(stored, loc, &up))
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
    match (up.concat, &up.concat_parts) {
        (ConcatKind::Partial, _) => h.push(("upload-concat", "partial".into())),
        (ConcatKind::Final, Some(parts)) => {
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
    let checksum = upload_checksum(&headers)?;
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
