//! Storing a chunk's bytes, shared by PATCH and creation-with-upload.

use crate::db::uploads::Upload;
use crate::http::error::{Error, Result};
use crate::http::tus;
use crate::http::AppState;
use crate::ingest::{self, checksum::Checksum};
use axum::body::Body;
use axum::http::HeaderMap;

/// `Upload-Checksum`, if sent.
pub(super) fn upload_checksum(headers: &HeaderMap) -> Result<Option<Checksum>> {
    tus::header(headers, "upload-checksum")?.map(tus::checksum).transpose()
}

/// Runs `fut` on its own task so it completes even if the client disconnects and the request is
/// dropped: a chunk is committed (or discarded) whole, never left half-recorded.
pub(super) async fn run_detached<T: Send + 'static>(
    fut: impl std::future::Future<Output = Result<T>> + Send + 'static,
) -> Result<T> {
    tokio::spawn(fut)
        .await
        .map_err(|e| Error::Internal(anyhow::anyhow!("upload task failed: {e}")))?
}

pub(super) async fn ingest_chunk(
    state: &AppState,
    up: Upload,
    offset: i64,
    body: Body,
    checksum: Option<Checksum>,
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
