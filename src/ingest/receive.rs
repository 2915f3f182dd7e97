//! Receiving one chunk of an upload, then committing it in Postgres only if the upload is still at
//! the offset the chunk started from.
//!
//! - fs store: the chunk is appended to the upload's one file (see [`crate::store::append`]) while the
//!   upload's running MD5 is carried on; the offset and the MD5 state move in one statement. Memory
//!   per request is a few of hyper's 64 KiB frames (each hashed as it arrives and written on a
//!   blocking thread while the next are read; at most 256 KiB queue behind a slow write), whatever
//!   the chunk size; finishing is a rename.
//! - object stores: the chunk is streamed into its own part object (the assembly at the end copies).

use super::checksum::{Algo, Checksum, Hashes, RunningMd5};
use crate::db::uploads::{self, Part, Upload};
use crate::http::error::{Error, Result};
use crate::startup::AppState;
use crate::store::append::{boot_id, AppendFile, Opened};
use crate::store::keys;
use bytes::Bytes;
use futures::{Stream, StreamExt};
use sha1::{Digest, Sha1};

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
/// - If another request moved the offset meanwhile (or, on fs, holds the upload's file for longer than
///   [`LOCK_WAIT`]), nothing is kept and 409 returned.
pub async fn receive<S, E>(
    state: &AppState,
    upload: &Upload,
    offset: i64,
    body: S,
    checksum: Option<Checksum>,
) -> Result<Received>
where
    S: Stream<Item = std::result::Result<Bytes, E>> + Unpin,
    E: std::fmt::Display,
{
    // (At the end of an upload nothing can be appended: that PATCH takes the parts path, which
    // answers an empty body with the offset and anything else with 413, and leaves nothing.)
    if offset < upload.length && state.store.append_path(upload.id).is_some() {
        // An upload that began as parts (before appending existed) goes on as parts.
        let appending = offset == 0
            || uploads::append_state(&state.db, upload.id)
                .await?
                .is_some_and(|a| a.append);
        if appending {
            return receive_append(state, upload, offset, body, checksum).await;
        }
    }
    receive_parts(state, upload, offset, body, checksum).await
}

/// How long a PATCH waits for another request (a client's earlier, not yet noticed as dead,
/// connection) to finish writing the same upload before it answers 409.
const LOCK_WAIT: std::time::Duration = std::time::Duration::from_secs(5);

/// An upload's file is fdatasync'd once this many bytes were committed since the last sync (and at
/// its last byte): the most an OS crash can make a client send again.
const SYNC_EVERY: i64 = 64 * 1024 * 1024;

/// Cuts the file back to the last sync and returns the upload's offset there (caller holds the lock).
async fn give_back_unsynced(
    state: &AppState,
    id: uuid::Uuid,
    file: &AppendFile,
    row: &uploads::AppendState,
) -> Result<()> {
    file.truncate(row.synced_offset as u64)
        .map_err(|e| Error::Internal(e.into()))?;
    if uploads::roll_back_to_synced(&state.db, id, row.offset).await? {
        tracing::warn!(upload = %id, offset = row.offset, synced = row.synced_offset, "bytes committed before a restart of the host were not synced: given back");
    }
    Ok(())
}

/// HEAD on the fs store: if the host restarted since bytes past the upload's last sync were committed,
/// give them back first, so the offset HEAD reports is one whose bytes are on disk.
pub async fn recover(state: &AppState, id: uuid::Uuid) -> Result<()> {
    let Some(path) = state.store.append_path(id) else {
        return Ok(());
    };
    let Some(row) = uploads::append_state(&state.db, id).await? else {
        return Ok(());
    };
    if row.state != "receiving" || !row.unsafe_tail(boot_id()) {
        return Ok(());
    }
    let opened = AppendFile::open_locked(&path, false, LOCK_WAIT)
        .await
        .map_err(|e| Error::Internal(e.into()))?;
    let Opened::Locked(file) = opened else {
        return Ok(()); // a writer holds it (and will do this itself), or there is nothing to cut
    };
    match uploads::append_state(&state.db, id).await? {
        Some(row) if row.state == "receiving" && row.unsafe_tail(boot_id()) => {
            give_back_unsynced(state, id, &file, &row).await
        }
        _ => Ok(()),
    }
}

/// The position in the file, and the hashes of what goes there.
struct Sink {
    pos: u64,
    running: RunningMd5,
    /// The chunk's own MD5, only when it has an md5 `Upload-Checksum` and does not start at 0
    /// (from 0 the running MD5 is the chunk's); advanced in the same pass as the running one.
    chunk_md5: Option<super::md5::Md5>,
    chunk_sha1: Option<Sha1>,
}

impl Sink {
    /// Hashes `data` and returns the position it goes to in the file.
    fn take(&mut self, data: &[u8]) -> u64 {
        match &mut self.chunk_md5 {
            Some(h) => super::md5::Md5::update_both(&mut self.running.0, h, data),
            None => self.running.update(data),
        }
        if let Some(h) = &mut self.chunk_sha1 {
            h.update(data);
        }
        let at = self.pos;
        self.pos += data.len() as u64;
        at
    }
}

type Write = tokio::task::JoinHandle<std::io::Result<()>>;

/// Frames queued while a write runs are written together once it ends, up to this many bytes.
const WRITE_QUEUE: usize = 256 * 1024;

/// Writes `frames` (consecutive) at `at` on a blocking thread.
fn submit(file: &AppendFile, frames: Vec<Bytes>, at: u64) -> Write {
    let f = file.clone();
    tokio::task::spawn_blocking(move || {
        let mut pos = at;
        for b in &frames {
            f.write_at(b, pos)?;
            pos += b.len() as u64;
        }
        Ok(())
    })
}

async fn written(w: Option<Write>) -> std::result::Result<(), Error> {
    match w {
        Some(w) => match w.await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(Error::Internal(e.into())),
            Err(e) => Err(Error::Internal(e.into())),
        },
        None => Ok(()),
    }
}

/// The fs path: append to the upload's file under its lock, carrying the running MD5.
async fn receive_append<S, E>(
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
    let path = state.store.append_path(upload.id).expect("fs store");
    let file = match AppendFile::open_locked(&path, offset == 0, LOCK_WAIT)
        .await
        .map_err(|e| Error::Internal(e.into()))?
    {
        Opened::Locked(f) => f,
        Opened::Busy => {
            return Err(Error::Conflict(format!(
                "another request is still writing upload {}; HEAD for its offset and resume from there",
                upload.id
            )))
        }
        Opened::Missing => {
            return Err(Error::Internal(anyhow::anyhow!(
                "upload {} at offset {offset} has no append file",
                upload.id
            )))
        }
    };
    // Under the lock, the row is the truth: another request may have moved the offset meanwhile.
    let row = uploads::append_state(&state.db, upload.id)
        .await?
        .ok_or_else(|| Error::NotFound(format!("no upload {}", upload.id)))?;
    if row.state == "receiving" && row.unsafe_tail(boot_id()) {
        give_back_unsynced(state, upload.id, &file, &row).await?;
        return Err(Error::Conflict(format!(
            "the server's host restarted after bytes past {} were received; they were given back: HEAD for the offset and resume",
            row.synced_offset
        )));
    }
    if row.state != "receiving" || row.offset != offset || (offset > 0 && !row.append) {
        return Err(Error::Conflict(format!(
            "Upload-Offset {offset} does not match the upload's offset {}",
            row.offset
        )));
    }
    // Drop what a crashed or refused PATCH left past the committed bytes.
    file.truncate(offset as u64).map_err(|e| Error::Internal(e.into()))?;
    let cut_back = |f: &AppendFile| {
        if let Err(e) = f.truncate(offset as u64) {
            tracing::warn!(upload = %upload.id, "could not cut the append file back to {offset}: {e}");
        }
    };

    let running = RunningMd5::resume(row.md5_state.as_deref())?;
    let algo = checksum.as_ref().map(|c| c.algo);
    let mut sink = Sink {
        pos: offset as u64,
        running,
        chunk_md5: (algo == Some(Algo::Md5) && offset > 0).then(super::md5::Md5::default),
        chunk_sha1: (algo == Some(Algo::Sha1)).then(Sha1::new),
    };
    let remaining = upload.length - offset;
    let mut received: i64 = 0;
    let mut interrupted = false;
    let mut stalled = false;
    let body_idle = std::time::Duration::from_secs(state.settings.edge.body_idle_secs.max(1));

    let mut inflight: Option<Write> = None;
    let (mut queue, mut queued, mut queue_at) = (Vec::<Bytes>::new(), 0usize, 0u64);
    let mut failure = loop {
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
                // Frame by frame (hyper's frames are at most its 64 KiB read buffer): hashed here,
                // written on a blocking thread (a page-cache write can stall on writeback) while
                // the next frame is read and hashed. At most two frames are held per request.
                // While the previous write runs, frames queue (up to WRITE_QUEUE bytes) and go
                // in one write: fewer hand-offs when the disk is slow, no queue when it is not.
                let at = sink.take(&chunk);
                if queue.is_empty() {
                    queue_at = at;
                }
                queued += chunk.len();
                queue.push(chunk);
                let busy = inflight.as_ref().is_some_and(|w| !w.is_finished());
                if busy && queued < WRITE_QUEUE {
                    continue;
                }
                if let Err(e) = written(inflight.take()).await {
                    break Some(e);
                }
                inflight = Some(submit(&file, std::mem::take(&mut queue), queue_at));
                queued = 0;
            }
            Some(Err(e)) => {
                tracing::info!(upload = %upload.id, offset, received, "chunk interrupted: {e}");
                interrupted = true;
                break None;
            }
            None => break None,
        }
    };
    drop(body);
    if failure.is_none() && !queue.is_empty() {
        if let Err(e) = written(inflight.take()).await {
            failure = Some(e);
        } else {
            inflight = Some(submit(&file, std::mem::take(&mut queue), queue_at));
        }
    }
    let failure = match (failure, written(inflight.take()).await) {
        (Some(e), _) | (None, Err(e)) => Some(e),
        (None, Ok(())) => None,
    };
    let failure = failure.or_else(|| match (&checksum, interrupted) {
        (Some(_), true) => Some(Error::invalid(
            "chunk interrupted; a chunk with Upload-Checksum is kept only whole",
        )),
        (Some(c), false) => {
            let got = match (c.algo, &sink.chunk_md5, &sink.chunk_sha1) {
                (Algo::Md5, Some(h), _) => h.digest().to_vec(),
                (Algo::Md5, None, _) => sink.running.digest().to_vec(),
                (Algo::Sha1, _, Some(h)) => h.clone().finalize().to_vec(),
                (Algo::Sha1, _, None) => Vec::new(),
            };
            c.verify_digest(&got).err()
        }
        _ => None,
    });
    if let Some(e) = failure {
        cut_back(&file);
        return Err(e);
    }
    if received == 0 {
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
    // Sync every SYNC_EVERY bytes and at the last byte (the slice is recorded only once durable).
    let end = offset + received;
    let sync = end == upload.length || end - row.synced_offset >= SYNC_EVERY;
    if sync {
        let f = file.clone();
        let synced = tokio::task::spawn_blocking(move || f.sync())
            .await
            .map_err(|e| Error::Internal(e.into()))
            .and_then(|r| r.map_err(|e| Error::Internal(e.into())));
        if let Err(e) = synced {
            cut_back(&file);
            return Err(e);
        }
    }
    let committed = uploads::commit_append(
        &state.db,
        upload.id,
        offset,
        received,
        &sink.running.state(),
        sync,
        boot_id(),
        state.expiry_from_now(),
    )
    .await;
    let new_offset = match committed {
        Ok(Some(n)) => n,
        Ok(None) => {
            cut_back(&file);
            return Err(Error::Conflict(
                "another request moved Upload-Offset while this chunk was received".into(),
            ));
        }
        Err(e) => {
            // Unknown whether it landed: leave the file; the next PATCH cuts it to the committed offset.
            return Err(e.into());
        }
    };
    drop(file); // releases the lock
    if stalled {
        return Err(Error::Timeout(format!(
            "the body sent nothing for {} s; the {received} bytes that arrived were kept: resume at Upload-Offset {new_offset}",
            body_idle.as_secs()
        )));
    }
    Ok(Received {
        new_offset,
        interrupted,
    })
}

/// The object-store path: the chunk becomes its own part object.
async fn receive_parts<S, E>(
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
