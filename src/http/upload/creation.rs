//! The steps of tus creation (`POST /localrecord/v1/uploads`), in the order the handler takes them:
//! which slice the upload fills, its length, whether the server takes it, the row, the first chunk.

use super::chunk::{ingest_chunk, run_detached, upload_checksum};
use super::{respond, BASE};
use crate::config::Settings;
use crate::db::slices;
use crate::db::uploads::{self, Upload, UploadState};
use crate::http::caller::Caller;
use crate::http::error::{Error, Result};
use crate::http::tasks::{owned_task, MAX_SLICES};
use crate::http::tus::{self, metadata, Concat, CreateRequest};
use crate::http::AppState;
use crate::ingest::{self, checksum::Checksum};
use axum::body::Body;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use localrecord_api::TaskId;
use std::collections::BTreeMap;
use uuid::Uuid;

/// The slice an upload fills, from `task_id` / `slice_index` / `filename` metadata.
pub(super) struct SliceTarget {
    task_id: TaskId,
    index: i32,
    filename: Option<String>,
}

impl SliceTarget {
    pub(super) fn task_id(&self) -> &TaskId {
        &self.task_id
    }
}

pub(super) async fn slice_target(
    state: &AppState,
    caller: &Caller,
    md: &BTreeMap<String, String>,
) -> Result<Option<SliceTarget>> {
    let filename = match md.get(metadata::FILENAME) {
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
    let (task_id, index) = match (md.get(metadata::TASK_ID), md.get(metadata::SLICE_INDEX)) {
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
    let task_id = TaskId::parse(task_id).map_err(|_| Error::invalid("task_id metadata is not a task id"))?;
    owned_task(state, caller, &task_id).await?;
    Ok(Some(SliceTarget {
        task_id,
        index,
        filename,
    }))
}

/// The new upload's length and offset. A final concatenation starts whole: its parts' bytes.
pub(super) async fn extent(state: &AppState, caller: &Caller, req: &CreateRequest) -> Result<(i64, i64)> {
    match (&req.concat, &req.length) {
        (Concat::Final(parts), _) => {
            let total = joined_length(state, caller, parts).await?;
            Ok((total, total))
        }
        (_, Ok(Some(length))) => Ok((*length, 0)),
        (_, Ok(None)) => Err(Error::invalid("Upload-Length header is required")),
        (_, Err(why)) => Err(Error::invalid(why.clone())),
    }
}

/// The bytes of the partial uploads a final concatenation joins, each the caller's and complete.
async fn joined_length(state: &AppState, caller: &Caller, ids: &[Uuid]) -> Result<i64> {
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
            Some(p) if !p.is_partial() => return Err(Error::invalid(format!("upload {id} is not a partial upload"))),
            Some(p) if !p.is_complete() => {
                return Err(Error::invalid(format!("partial upload {id} is not complete yet")))
            }
            Some(p) => total += p.length,
        }
    }
    Ok(total)
}

pub(super) fn check_size(settings: &Settings, length: i64) -> Result<()> {
    let max = settings.upload.max_size as i64;
    if length > max {
        return Err(Error::TooLarge(format!(
            "Upload-Length {length} exceeds the maximum of {max} bytes"
        )));
    }
    Ok(())
}

/// Only a partial upload (joined later) may name no slice.
pub(super) fn require_target(concat: &Concat, target: Option<&SliceTarget>) -> Result<()> {
    if *concat != Concat::Partial && target.is_none() {
        return Err(Error::invalid(
            "Upload-Metadata must carry task_id and slice_index (base64), e.g. 'task_id <b64>,slice_index <b64>'",
        ));
    }
    Ok(())
}

/// A slice already stored may be uploaded again (a recorder retrying), but only with its size.
pub(super) async fn check_stored_slice(state: &AppState, target: Option<&SliceTarget>, length: i64) -> Result<()> {
    let Some(t) = target else { return Ok(()) };
    if let Some(stored) = slices::get(&state.db, &t.task_id, t.index).await? {
        if stored.size != length {
            return Err(Error::Conflict(format!(
                "slice {} of task {} is already stored with {} bytes, not {length}",
                t.index, t.task_id, stored.size
            )));
        }
    }
    Ok(())
}

/// A final concatenation's bytes were counted when its parts were created.
pub(super) async fn check_quota(
    state: &AppState,
    caller: &Caller,
    concat: &Concat,
    target: Option<&SliceTarget>,
    length: i64,
) -> Result<()> {
    let q = &state.settings.quota;
    if let Some(t) = target {
        crate::quota::slice_index(q, t.index as i64)?;
    }
    if !matches!(concat, Concat::Final(_)) {
        crate::quota::new_upload(&state.db, q, caller.sdk_app_id(), &caller.identifier, length).await?;
    }
    Ok(())
}

/// The upload's row, as created.
pub(super) fn new_upload(
    state: &AppState,
    caller: &Caller,
    req: CreateRequest,
    target: Option<SliceTarget>,
    (length, offset): (i64, i64),
    key_id: Option<String>,
) -> Upload {
    let concat = req.concat.kind();
    let concat_parts = match req.concat {
        Concat::Final(parts) => Some(parts),
        _ => None,
    };
    Upload {
        id: Uuid::new_v4(),
        sdk_app_id: caller.sdk_app_id(),
        user_id: caller.identifier.clone(),
        task_id: target.as_ref().map(|t| t.task_id.to_string()),
        slice_index: target.as_ref().map(|t| t.index),
        filename: target.and_then(|t| t.filename),
        metadata: req.raw_metadata,
        concat,
        concat_parts,
        length,
        offset,
        state: UploadState::Receiving,
        md5: None,
        expires_at: state.settings.upload.expiry_from_now(),
        key_id,
    }
}

/// The upload's URL, as the client reached this server.
pub(super) fn location(settings: &Settings, headers: &HeaderMap, id: Uuid) -> String {
    let text = |name: &str| headers.get(name).and_then(|h| h.to_str().ok());
    let host = text(header::HOST.as_str()).unwrap_or("localhost");
    let base = settings.public_base_seen(Some(host), text("x-forwarded-proto"));
    format!("{base}{BASE}/{id}")
}

/// creation-with-upload: a POST whose body is the upload's first chunk.
pub(super) struct FirstChunk {
    checksum: Option<Checksum>,
}

/// The first chunk the POST carries, if any (a final concatenation takes none).
pub(super) fn first_chunk(headers: &HeaderMap, up: &Upload) -> Result<Option<FirstChunk>> {
    let with_data = tus::header(headers, "content-type")? == Some(tus::OFFSET_CONTENT_TYPE)
        && !up.is_final()
        && tus::number(headers, "content-length")?.unwrap_or(1) > 0;
    if !with_data {
        return Ok(None);
    }
    Ok(Some(FirstChunk {
        checksum: upload_checksum(headers)?,
    }))
}

/// Stores the first chunk, or finishes an upload that is whole already (a final concatenation, or
/// zero bytes); the upload's offset after.
pub(super) async fn store_first(state: &AppState, up: &Upload, chunk: Option<FirstChunk>, body: Body) -> Result<i64> {
    match chunk {
        Some(chunk) => ingest_chunk(state, up.clone(), 0, body, chunk.checksum)
            .await
            .map(|r| r.new_offset),
        None if up.offset == up.length => {
            let (st, id) = (state.clone(), up.id);
            run_detached(async move { Ok(ingest::finish(&st.ingest, id).await?) })
                .await
                .map(|u| u.offset)
        }
        None => Ok(0),
    }
}

/// The answer to a creation whose row exists, whatever became of its first chunk.
pub(super) fn created(stored: Result<i64>, location: String, up: &Upload) -> Response {
    match stored {
        Ok(new_offset) => respond(
            StatusCode::CREATED,
            vec![
                ("location", location),
                ("upload-offset", new_offset.to_string()),
                ("upload-expires", tus::http_date(up.expires_at)),
            ],
        ),
        Err(e) => {
            // The upload exists even though its first chunk failed: say where, so it can resume.
            let mut r = e.into_response();
            if let Ok(v) = HeaderValue::from_str(&location) {
                r.headers_mut().insert(header::LOCATION, v);
            }
            r
        }
    }
}
