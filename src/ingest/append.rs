//! The fs path of [`super::receive`]: the chunk is appended to the upload's one file (see
//! [`crate::store::append`]) under its lock while the upload's running MD5 is carried on; the offset
//! and the MD5 state move in one statement.
//!
//! Memory per request is a few of hyper's 64 KiB frames (each hashed as it arrives and written on a
//! blocking thread while the next are read; at most [`WRITE_QUEUE`] queue behind a slow write),
//! whatever the chunk size.

use super::checksum::{Algo, Checksum, RunningMd5};
use super::error::{Error, Result};
use super::receive::{check, kept, moved, nothing, pump, Received, Target};
use super::Ingest;
use crate::db::uploads::{self, Upload};
use crate::store::append::{boot_id, AppendFile, Opened};
use bytes::Bytes;
use futures::Stream;
use sha1::{Digest, Sha1};

/// How long a PATCH waits for another request (a client's earlier, not yet noticed as dead,
/// connection) to finish writing the same upload before it answers 409.
const LOCK_WAIT: std::time::Duration = std::time::Duration::from_secs(5);

/// An upload's file is fdatasync'd once this many bytes were committed since the last sync (and at
/// its last byte): the most an OS crash can make a client send again.
const SYNC_EVERY: i64 = 64 * 1024 * 1024;

/// Frames queued while a write runs are written together once it ends, up to this many bytes.
const WRITE_QUEUE: usize = 256 * 1024;

/// Cuts the file back to the last sync and returns the upload's offset there (caller holds the lock).
async fn give_back_unsynced(ing: &Ingest, id: uuid::Uuid, file: &AppendFile, row: &uploads::AppendState) -> Result<()> {
    file.truncate(row.synced_offset as u64)?;
    if uploads::roll_back_to_synced(&ing.db, id, row.offset).await? {
        tracing::warn!(upload = %id, offset = row.offset, synced = row.synced_offset, "bytes committed before a restart of the host were not synced: given back");
    }
    Ok(())
}

/// HEAD on the fs store: if the host restarted since bytes past the upload's last sync were committed,
/// give them back first, so the offset HEAD reports is one whose bytes are on disk.
pub async fn recover(ing: &Ingest, id: uuid::Uuid) -> Result<()> {
    let Some(path) = ing.store.append_path(id) else {
        return Ok(());
    };
    let Some(row) = uploads::append_state(&ing.db, id).await? else {
        return Ok(());
    };
    if !row.is_receiving() || !row.unsafe_tail(boot_id()) {
        return Ok(());
    }
    let Opened::Locked(file) = AppendFile::open_locked(&path, false, LOCK_WAIT).await? else {
        return Ok(()); // a writer holds it (and will do this itself), or there is nothing to cut
    };
    match uploads::append_state(&ing.db, id).await? {
        Some(row) if row.is_receiving() && row.unsafe_tail(boot_id()) => give_back_unsynced(ing, id, &file, &row).await,
        _ => Ok(()),
    }
}

/// Takes the upload's file lock and checks, under it, that the upload is still at `offset`; drops
/// what a crashed or refused PATCH left past the committed bytes.
async fn lock_at(ing: &Ingest, upload: &Upload, offset: i64) -> Result<(AppendFile, uploads::AppendState)> {
    let path = ing.store.append_path(upload.id).expect("fs store");
    let file = match AppendFile::open_locked(&path, offset == 0, LOCK_WAIT).await? {
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
    let row = uploads::append_state(&ing.db, upload.id)
        .await?
        .ok_or_else(|| Error::NotFound(format!("no upload {}", upload.id)))?;
    if row.is_receiving() && row.unsafe_tail(boot_id()) {
        give_back_unsynced(ing, upload.id, &file, &row).await?;
        return Err(Error::Conflict(format!(
            "the server's host restarted after bytes past {} were received; they were given back: HEAD for the offset and resume",
            row.synced_offset
        )));
    }
    if !row.is_receiving() || row.offset != offset || (offset > 0 && !row.append) {
        return Err(Error::Conflict(format!(
            "Upload-Offset {offset} does not match the upload's offset {}",
            row.offset
        )));
    }
    file.truncate(offset as u64)?;
    Ok((file, row))
}

type Write = tokio::task::JoinHandle<std::io::Result<()>>;

/// The file and the hashes of what goes into it, frame by frame (hyper's frames are at most its
/// 64 KiB read buffer): hashed here, written on a blocking thread (a page-cache write can stall on
/// writeback) while the next frame is read and hashed. While the previous write runs, frames queue
/// (up to [`WRITE_QUEUE`] bytes) and go in one write: fewer hand-offs when the disk is slow, no
/// queue when it is not.
struct AppendTarget {
    file: AppendFile,
    pos: u64,
    running: RunningMd5,
    /// The chunk's own MD5, only when it has an md5 `Upload-Checksum` and does not start at 0
    /// (from 0 the running MD5 is the chunk's); advanced in the same pass as the running one.
    chunk_md5: Option<super::md5::Md5>,
    chunk_sha1: Option<Sha1>,
    inflight: Option<Write>,
    queue: Vec<Bytes>,
    queued: usize,
    queue_at: u64,
}

impl Target for AppendTarget {
    async fn put(&mut self, data: Bytes) -> Result<()> {
        match &mut self.chunk_md5 {
            Some(h) => super::md5::Md5::update_both(&mut self.running.0, h, &data),
            None => self.running.update(&data),
        }
        if let Some(h) = &mut self.chunk_sha1 {
            h.update(&data);
        }
        if self.queue.is_empty() {
            self.queue_at = self.pos;
        }
        self.pos += data.len() as u64;
        self.queued += data.len();
        self.queue.push(data);
        let busy = self.inflight.as_ref().is_some_and(|w| !w.is_finished());
        if busy && self.queued < WRITE_QUEUE {
            return Ok(());
        }
        written(self.inflight.take()).await?;
        self.submit();
        Ok(())
    }
}

impl AppendTarget {
    /// Writes the queue at its position on a blocking thread.
    fn submit(&mut self) {
        let (f, frames, at) = (self.file.clone(), std::mem::take(&mut self.queue), self.queue_at);
        self.queued = 0;
        self.inflight = Some(tokio::task::spawn_blocking(move || {
            let mut pos = at;
            for b in &frames {
                f.write_at(b, pos)?;
                pos += b.len() as u64;
            }
            Ok(())
        }));
    }

    /// Waits for the running write; if the chunk is to be kept, writes what is still queued first.
    async fn settle(&mut self, keep: bool) -> Result<()> {
        if keep && !self.queue.is_empty() {
            written(self.inflight.take()).await?;
            self.submit();
        }
        written(self.inflight.take()).await
    }

    /// The chunk's digest in `algo`.
    fn digest(&self, algo: Algo) -> Vec<u8> {
        match (algo, &self.chunk_md5, &self.chunk_sha1) {
            (Algo::Md5, Some(h), _) => h.digest().to_vec(),
            (Algo::Md5, None, _) => self.running.digest().to_vec(),
            (Algo::Sha1, _, Some(h)) => h.clone().finalize().to_vec(),
            (Algo::Sha1, _, None) => Vec::new(),
        }
    }

    /// Cuts the file back to where the chunk began (nothing of it is kept).
    fn cut_back(&self, upload: &Upload, offset: i64) {
        if let Err(e) = self.file.truncate(offset as u64) {
            tracing::warn!(upload = %upload.id, "could not cut the append file back to {offset}: {e}");
        }
    }
}

async fn written(w: Option<Write>) -> Result<()> {
    match w {
        Some(w) => Ok(w.await??),
        None => Ok(()),
    }
}

pub(super) async fn receive<S, E>(
    ing: &Ingest,
    upload: &Upload,
    offset: i64,
    mut body: S,
    checksum: Option<Checksum>,
) -> Result<Received>
where
    S: Stream<Item = std::result::Result<Bytes, E>> + Unpin,
    E: std::fmt::Display,
{
    let (file, row) = lock_at(ing, upload, offset).await?;
    let algo = checksum.as_ref().map(|c| c.algo);
    let mut t = AppendTarget {
        file,
        pos: offset as u64,
        running: RunningMd5::resume(row.md5_state.as_deref())?,
        chunk_md5: (algo == Some(Algo::Md5) && offset > 0).then(super::md5::Md5::default),
        chunk_sha1: (algo == Some(Algo::Sha1)).then(Sha1::new),
        inflight: None,
        queue: Vec::new(),
        queued: 0,
        queue_at: 0,
    };
    let idle = ing.body_idle;
    let mut p = pump(&mut body, &mut t, upload.length - offset, idle, upload, offset).await;
    drop(body);
    let settled = t.settle(p.failure.is_none()).await;
    let failure = match (p.failure.take(), settled) {
        (Some(e), _) | (None, Err(e)) => Some(e),
        (None, Ok(())) => check(checksum.as_ref(), p.interrupted, |c| t.digest(c.algo)),
    };
    if let Some(e) = failure {
        t.cut_back(upload, offset);
        return Err(e);
    }
    if p.received == 0 {
        return nothing(&p, idle, offset);
    }
    let new_offset = commit(ing, upload, offset, &row, &t, p.received).await?;
    drop(t); // releases the lock
    kept(&p, idle, new_offset)
}

/// Syncs every [`SYNC_EVERY`] bytes and at the last byte (the slice is recorded only once durable),
/// then moves the offset and the MD5 state, if the upload is still at `offset`.
async fn commit(
    ing: &Ingest,
    upload: &Upload,
    offset: i64,
    row: &uploads::AppendState,
    t: &AppendTarget,
    received: i64,
) -> Result<i64> {
    let end = offset + received;
    let sync = end == upload.length || end - row.synced_offset >= SYNC_EVERY;
    if sync {
        let f = t.file.clone();
        if let Err(e) = tokio::task::spawn_blocking(move || f.sync())
            .await
            .map_err(Error::from)
            .and_then(|r| Ok(r?))
        {
            t.cut_back(upload, offset);
            return Err(e);
        }
    }
    let state = t.running.state();
    let expires = ing.upload.expiry_from_now();
    let appended = uploads::Appended {
        offset,
        length: received,
        md5_state: &state,
        synced: sync,
        boot: boot_id(),
        expires_at: expires,
    };
    match uploads::commit_append(&ing.db, upload.id, &appended).await {
        Ok(Some(n)) => Ok(n),
        Ok(None) => {
            t.cut_back(upload, offset);
            Err(moved())
        }
        // Unknown whether it landed: leave the file; the next PATCH cuts it to the committed offset.
        Err(e) => Err(e.into()),
    }
}
