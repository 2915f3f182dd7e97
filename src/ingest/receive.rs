//! Receiving one chunk of an upload: stream it into its own part object while hashing it, then
//! commit it in Postgres only if the upload is still at the offset the chunk started from.

use super::checksum::{Checksum, Hashes};
use crate::db::uploads::{self, Part, Upload};
use crate::http::error::{Error, Result};
use crate::startup::AppState;
use crate::store::keys;
use bytes::Bytes;
use futures::{Stream, StreamExt};

/// What became of a chunk.
#[derive(Debug, PartialEq, Eq)]
pub struct Received {
    pub new_offset: i64,
    /// The client went away mid-chunk; the bytes that did arrive were kept.
    pub interrupted: bool,
}

/// Streams `body` into the store as the part at `offset` of `upload`, then commits it.
///
/// - A chunk whose `checksum` does not match is discarded (460).
/// - A body that would pass `Upload-Length` is discarded (413).
/// - A body cut off by the client is kept up to the cut (tus resumes from there), unless it came with
///   a checksum, which cannot be checked on half a chunk: then it is discarded.
/// - If another request moved the offset meanwhile, the part is deleted and 409 returned.
pub async fn receive<S, E>(
    state: &AppState,
    upload: &Upload,
    offset: i64,
    mut body: S,
    checksum: Option<Checksum>,
) -> Result<Received>
where
    S: Stream<Item = std::result::Result<Bytes, E>> + Unpin,
    E: std::fmt::Display,
{
    let remaining = upload.length - offset;
    let key = keys::upload_part(upload.id, offset);
    let mut writer = state.store.writer(&key).await?;
    let mut hashes = Hashes::new(checksum.as_ref().map(|c| c.algo));
    let mut received: i64 = 0;
    let mut interrupted = false;
    let mut stalled = false;
    let body_idle = std::time::Duration::from_secs(state.settings.edge.body_idle_secs.max(1));

    let failure = loop {
        let Ok(next) = tokio::time::timeout(body_idle, body.next()).await else {
            tracing::info!(upload = %upload.id, offset, received, "chunk stalled: no byte for {} s", body_idle.as_secs());
            (interrupted, stalled) = (true, true);
            break None;
        };
        match next {
            Some(Ok(chunk)) => {
                received += chunk.len() as i64;
                if received > remaining {
                    break Some(Error::TooLarge(format!(
                        "chunk passes Upload-Length: {remaining} bytes remain from offset {offset}"
                    )));
                }
                hashes.update(&chunk);
                if let Err(e) = writer.write(chunk).await {
                    break Some(e.into());
                }
            }
            Some(Err(e)) => {
                tracing::info!(upload = %upload.id, offset, received, "chunk interrupted: {e}");
                interrupted = true;
                break None;
            }
            None => break None,
        }
    };
    let failure = failure.or_else(|| match (&checksum, interrupted) {
        (Some(_), true) => Some(Error::invalid(
            "chunk interrupted; a chunk with Upload-Checksum is kept only whole",
        )),
        (Some(c), false) => c.verify(&hashes).err(),
        _ => None,
    });
    if let Some(e) = failure {
        discard(state, writer, &key).await;
        return Err(e);
    }
    if received == 0 {
        discard(state, writer, &key).await;
        if stalled {
            return Err(Error::Timeout(format!(
                "the body sent nothing for {} s; resume at Upload-Offset {offset}",
                body_idle.as_secs()
            )));
        }
        return Ok(Received {
            new_offset: offset,
            interrupted,
        });
    }
    writer.close().await?;

    let part = Part {
        offset,
        length: received,
        object_key: key.clone(),
        md5: hashes.md5_hex(),
    };
    let mut conn = state.db.acquire().await?;
    match uploads::commit_part(&mut conn, upload.id, offset, &part, state.expiry_from_now()).await? {
        Some(new_offset) if stalled => Err(Error::Timeout(format!(
            "the body sent nothing for {} s; the {received} bytes that arrived were kept: resume at Upload-Offset {new_offset}",
            body_idle.as_secs()
        ))),
        Some(new_offset) => Ok(Received {
            new_offset,
            interrupted,
        }),
        None => {
            state.store.delete(&key).await.ok();
            Err(Error::Conflict(
                "another request moved Upload-Offset while this chunk was received".into(),
            ))
        }
    }
}

async fn discard(state: &AppState, mut writer: opendal::Writer, key: &str) {
    if let Err(e) = writer.abort().await {
        tracing::debug!("abort of part writer: {e}");
    }
    // Some backends keep what was written before abort; the key is ours alone, so delete it.
    if let Err(e) = state.store.delete(key).await {
        tracing::warn!(key, "could not delete discarded part: {e}");
    }
}
