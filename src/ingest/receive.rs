//! Receiving one chunk of an upload, then committing it in Postgres only if the upload is still at
//! the offset the chunk started from.
//!
//! - fs store: the chunk is appended to the upload's one file (see [`crate::store::append`]) while the
//!   upload's running MD5 is carried on; the offset and the MD5 state move in one statement. Memory
//!   per request is two 128 KiB buffers (one being filled from the socket, one being written and
//!   hashed on a blocking thread), whatever the chunk size; finishing is a rename.
//! - object stores: the chunk is streamed into its own part object (the assembly at the end copies).

use super::checksum::{Algo, Checksum, Hashes, RunningMd5};
use crate::db::uploads::{self, Part, Upload};
use crate::http::error::{Error, Result};
use crate::startup::AppState;
use crate::store::append::{AppendFile, Opened};
use crate::store::keys;
use bytes::Bytes;
use futures::{Stream, StreamExt};
use md5::{Digest, Md5};
use sha1::Sha1;

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

/// Bytes gathered from the socket before they are handed to a blocking thread to write and hash.
const BATCH: usize = 128 * 1024;

/// What the blocking side owns: the file, its position, and the hashes.
struct Sink {
    file: AppendFile,
    pos: u64,
    running: RunningMd5,
    /// The chunk's own MD5, only when it has an md5 `Upload-Checksum` and does not start at 0
    /// (from 0 the running MD5 is the chunk's).
    chunk_md5: Option<Md5>,
    chunk_sha1: Option<Sha1>,
}

impl Sink {
    fn write(&mut self, data: &[u8]) -> std::io::Result<()> {
        self.file.write_at(data, self.pos)?;
        self.pos += data.len() as u64;
        self.running.update(data);
        if let Some(h) = &mut self.chunk_md5 {
            h.update(data);
        }
        if let Some(h) = &mut self.chunk_sha1 {
            h.update(data);
        }
        Ok(())
    }
}

/// One batch written and hashed on a blocking thread while the next one is read from the socket.
struct Pipeline {
    sink: Option<Sink>,
    job: Option<tokio::task::JoinHandle<(Sink, Vec<u8>, std::io::Result<()>)>>,
    spare: Vec<u8>,
}

impl Pipeline {
    async fn wait(&mut self) -> std::io::Result<()> {
        if let Some(job) = self.job.take() {
            let (sink, mut buf, r) = job.await.map_err(std::io::Error::other)?;
            self.sink = Some(sink);
            buf.clear();
            self.spare = buf;
            r?;
        }
        Ok(())
    }

    /// Hands `batch` over and returns an empty buffer to fill next.
    async fn submit(&mut self, batch: Vec<u8>) -> std::io::Result<Vec<u8>> {
        self.wait().await?;
        let mut sink = self
            .sink
            .take()
            .ok_or_else(|| std::io::Error::other("a write task failed"))?;
        self.job = Some(tokio::task::spawn_blocking(move || {
            let r = sink.write(&batch);
            (sink, batch, r)
        }));
        let mut next = std::mem::take(&mut self.spare);
        if next.capacity() == 0 {
            next.reserve_exact(BATCH);
        }
        Ok(next)
    }

    async fn finish(mut self) -> std::io::Result<Sink> {
        self.wait().await?;
        self.sink
            .take()
            .ok_or_else(|| std::io::Error::other("a write task failed"))
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
    let mut pipe = Pipeline {
        sink: Some(Sink {
            file: file.clone(),
            pos: offset as u64,
            running,
            chunk_md5: (algo == Some(Algo::Md5) && offset > 0).then(Md5::new),
            chunk_sha1: (algo == Some(Algo::Sha1)).then(Sha1::new),
        }),
        job: None,
        spare: Vec::new(),
    };
    let remaining = upload.length - offset;
    let mut buf: Vec<u8> = Vec::with_capacity(BATCH);
    let mut received: i64 = 0;
    let mut interrupted = false;
    let mut stalled = false;
    let body_idle = std::time::Duration::from_secs(state.settings.edge.body_idle_secs.max(1));

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
                let mut data = &chunk[..];
                let mut err = None;
                while !data.is_empty() {
                    let n = (BATCH - buf.len()).min(data.len());
                    buf.extend_from_slice(&data[..n]);
                    data = &data[n..];
                    if buf.len() == BATCH {
                        match pipe.submit(std::mem::take(&mut buf)).await {
                            Ok(next) => buf = next,
                            Err(e) => {
                                err = Some(Error::Internal(e.into()));
                                break;
                            }
                        }
                    }
                }
                if err.is_some() {
                    break err;
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
    drop(body);
    if failure.is_none() && !buf.is_empty() {
        if let Err(e) = pipe.submit(buf).await {
            failure = Some(Error::Internal(e.into()));
        }
    }
    let sink = match pipe.finish().await {
        Ok(s) => Some(s),
        Err(e) => {
            failure.get_or_insert(Error::Internal(e.into()));
            None
        }
    };
    let failure = failure.or_else(|| match (&checksum, interrupted, &sink) {
        (Some(_), true, _) => Some(Error::invalid(
            "chunk interrupted; a chunk with Upload-Checksum is kept only whole",
        )),
        (Some(c), false, Some(s)) => {
            let got = match (c.algo, &s.chunk_md5, &s.chunk_sha1) {
                (Algo::Md5, Some(h), _) => h.clone().finalize().to_vec(),
                (Algo::Md5, None, _) => s.running.digest().to_vec(),
                (Algo::Sha1, _, Some(h)) => h.clone().finalize().to_vec(),
                (Algo::Sha1, _, None) => Vec::new(),
            };
            c.verify_digest(&got).err()
        }
        _ => None,
    });
    let sink = match (failure, sink) {
        (None, Some(s)) => s,
        (f, _) => {
            cut_back(&file);
            return Err(f.unwrap_or_else(|| Error::Internal(anyhow::anyhow!("append writer lost"))));
        }
    };
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
    let synced = {
        let f = file.clone();
        tokio::task::spawn_blocking(move || f.sync())
            .await
            .map_err(|e| Error::Internal(e.into()))
            .and_then(|r| r.map_err(|e| Error::Internal(e.into())))
    };
    if let Err(e) = synced {
        cut_back(&file);
        return Err(e);
    }
    let committed = uploads::commit_append(
        &state.db,
        upload.id,
        offset,
        received,
        &sink.running.state(),
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
    drop(sink);
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
