//! `GET /localrecord/v1/tasks/{TaskId}/recording.mp4`: an app admin's download of a recording,
//! decrypted (issue 14), with single-range `Range` support so a player can seek. The plaintext
//! range maps to the encrypted chunks holding it (`localrecord_crypt::SeekableReader` over ranged
//! reads of the store, `store::ranged`); each chunk is authenticated before a byte of it is sent,
//! and nothing decrypted is written anywhere. A plain recording is served as it is stored. Every
//! request is audited (`download`, with the range). The console's recording page plays it from
//! `/admin/recordings/{TaskId}/recording.mp4` (the console session's sign-in to the task's app). A changed stored file fails: before the
//! answer when the damage is in the header, the last chunk or the range's first chunk (HTTP 500),
//! otherwise by cutting the body off at the damaged chunk (the client sees a short body).

use super::callbacks::admin_task;
use super::error::{Error, Result};
use super::openapi::errors::{AuthErrors, TaskErrors};
use super::ranged::{self, Span};
use crate::db::tasks::Task;
use crate::http::caller::Caller;
use crate::http::AppState;
use crate::store::ranged::RangedReader;
use anyhow::anyhow;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderValue};
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use std::io::{Read, Seek, SeekFrom};

/// Plaintext bytes sent per body frame.
const PIECE: usize = 64 * 1024;

pub fn router() -> Router<AppState> {
    Router::new().route("/localrecord/v1/tasks/{task_id}/recording.mp4", get(download))
}

trait Source: Read + Seek + Send {}
impl<T: Read + Seek + Send> Source for T {}

/// The recording's plaintext as a blocking reader, and its length.
type Opened = (Box<dyn Source>, u64);

/// The decrypted MP4 of a recording, for the app's admin identifiers.
#[utoipa::path(
    get,
    path = "/localrecord/v1/tasks/{task_id}/recording.mp4",
    tag = "admin",
    params(
        ("task_id" = String, Path, description = "The TaskId"),
        ("Range" = Option<String>, Header, description = "`bytes=start-end`, `bytes=start-` or `bytes=-suffix`, in plaintext bytes"),
    ),
    responses(
        (status = 200, description = "The whole MP4, decrypted", content_type = "video/mp4", body = super::openapi::envelope::Binary),
        (status = 206, description = "The requested range of the decrypted MP4", content_type = "video/mp4", body = super::openapi::envelope::Binary,
         headers(("Content-Range" = String, description = "bytes start-end/size"))),
        (status = 416, description = "The range cannot be satisfied; Content-Range says the size"),
        (status = 500, description = "The stored recording failed authentication (it was changed) or its key is gone (-10099)",
         body = super::openapi::envelope::ErrorResponse),
        AuthErrors, TaskErrors,
    )
)]
async fn download(
    State(state): State<AppState>,
    caller: Caller,
    Path(task_id): Path<String>,
    headers: HeaderMap,
) -> Result<Response> {
    admin_task(&state, &caller, &task_id).await?;
    let task = crate::db::tasks::get(&state.db, &task_id)
        .await?
        .ok_or_else(|| Error::NotFound(format!("no task {task_id}")))?;
    serve(&state, task, &headers, &caller.identifier, "api").await
}

/// The recording of `task` (checked to be the admin `actor`'s), decrypted, as `headers` ask
/// for it; audited as `actor` through `via`. Shared by the API and the console.
pub async fn serve(state: &AppState, task: Task, headers: &HeaderMap, actor: &str, via: &str) -> Result<Response> {
    let task_id = task.task_id.clone();
    let no_mp4 = || Error::NotFound(format!("task {task_id} has no recording"));
    let object = task.video_output_key.clone().ok_or_else(no_mp4)?;
    let parts = state
        .store
        .recording_parts(&object, task.parts())
        .await?
        .ok_or_else(no_mp4)?;
    let key = match &task.video_key_id {
        None => None,
        Some(id) => Some(
            crate::db::recording_keys::get(&state.db, task.sdk_app_id, Some(id))
                .await?
                .ok_or_else(|| Error::Internal(anyhow!("the key {id} of recording {task_id} is gone")))?,
        ),
    };
    let range_text = headers.get(header::RANGE).and_then(|v| v.to_str().ok()).unwrap_or("");
    let detail = serde_json::json!({ "Via": via, "Range": range_text, "KeyId": task.video_key_id });
    crate::db::audit::record(&state.db, task.sdk_app_id, actor, "download", &task_id, detail).await?;
    let reader = RangedReader::new(
        state.store.clone(),
        parts,
        Some(object),
        tokio::runtime::Handle::current(),
    );
    let (source, len) = blocking(move || open(reader, key)).await?;
    let Some(span) = Span::of(headers, len) else {
        return Ok(ranged::unsatisfiable(len));
    };
    let body = stream(source, span.start, span.count(), &task_id).await?;
    let mut r = span.respond(body, "video/mp4");
    // Decrypted bytes: no cache along the way may keep them.
    r.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(r)
}

async fn blocking<T: Send + 'static>(f: impl FnOnce() -> std::io::Result<T> + Send + 'static) -> Result<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| Error::Internal(anyhow!("the download thread: {e}")))?
        .map_err(|e| Error::Internal(anyhow!("the stored recording cannot be read: {e}")))
}

/// The plaintext of the stored object: decrypted (header and last chunk checked) or as it is.
fn open(reader: RangedReader, key: Option<localrecord_crypt::Key>) -> std::io::Result<Opened> {
    let Some(key) = key else {
        let mut r = reader;
        let len = r.seek(SeekFrom::End(0))?;
        return Ok((Box::new(r), len));
    };
    let r = localrecord_crypt::SeekableReader::new(reader, &key).map_err(|e| e.into_io_error())?;
    let len = r.len();
    Ok((Box::new(r), len))
}

/// `count` bytes from `start`, as a body: the first piece is read (and so authenticated) before
/// the answer goes out; a later failure ends the body early, which the client sees as an error.
async fn stream(mut source: Box<dyn Source>, start: u64, count: u64, task_id: &str) -> Result<Body> {
    let (source, first) = blocking(move || {
        source.seek(SeekFrom::Start(start))?;
        let first = read_piece(&mut source, count)?;
        Ok((source, first))
    })
    .await?;
    let (tx, rx) = tokio::sync::mpsc::channel::<std::io::Result<bytes::Bytes>>(4);
    let (mut source, mut left, task) = (source, count - first.len() as u64, task_id.to_owned());
    tokio::task::spawn_blocking(move || {
        while left > 0 {
            let piece = read_piece(&mut source, left);
            if let Err(e) = &piece {
                tracing::error!(task = %task, error = %e, "recording download cut off: the stored file does not decrypt");
            }
            let ok = piece.as_ref().map(|p| p.len() as u64).ok();
            if tx.blocking_send(piece).is_err() || ok.is_none() {
                return;
            }
            left -= ok.unwrap_or(left);
        }
    });
    let rest = futures::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|x| (x, rx)) });
    let head = futures::stream::once(async move { Ok::<_, std::io::Error>(first) });
    Ok(Body::from_stream(futures::StreamExt::chain(head, rest)))
}

/// Up to one piece (and at most `left` bytes), exactly that many unless the source ended early.
fn read_piece(source: &mut Box<dyn Source>, left: u64) -> std::io::Result<bytes::Bytes> {
    let want = (left.min(PIECE as u64)) as usize;
    let mut buf = vec![0u8; want];
    let mut n = 0;
    while n < want {
        match source.read(&mut buf[n..])? {
            0 => {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::UnexpectedEof,
                    "the recording ended early",
                ))
            }
            k => n += k,
        }
    }
    Ok(buf.into())
}
