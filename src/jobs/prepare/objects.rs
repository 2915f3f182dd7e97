//! The prepare job and the stop's fast path on object stores (S3, OSS, COS): each slice is downloaded to the instance's scratch dir, prepared into a local piece file
//! (`splice::piece`, exactly as on fs) and stored as an object of its own
//! (`keys::assembly_piece`), its row naming it. At the stop the index is written as on fs and
//! stored as an object; the recording is published as parts, that object and the piece objects in
//! slice order (`store::parts`), and made one object afterwards (`jobs::compose`: on S3 one
//! multipart upload whose parts are mostly UploadPartCopy of the pieces).
//!
//! Crash safety: piece objects are written before their row is committed and never rewritten
//! (each preparation has a key of its own), so a row names a whole object or a missing one; a row
//! whose object is missing or of another size is void (deleted, its slice prepared again). The
//! stop consumes nothing: a stop that dies, or loses its claim, leaves the rows and pieces for the
//! next run. They go once the recording they make is one object (`jobs::compose`), or when a
//! classic splice publishes (`jobs::splice`).

use super::{tables, Body};
use crate::db::pieces;
use crate::db::slices::Slice;
use crate::jobs::{Context, JobError};
use crate::progress::Progress;
use crate::splice::assemble::{self, Plan, Prepared};
use crate::splice::piece::Piece;
use crate::splice::Summary;
use crate::store::keys;
use crate::store::parts::Extent;
use anyhow::anyhow;
use localrecord_api::TaskId;
use sqlx::PgConnection;
use std::path::PathBuf;
use std::time::Instant;

/// Which slices have a valid piece, and where the next piece's offset (the order pieces were made
/// in) starts; voids the rows whose object is missing or of another length.
pub(super) async fn valid(ctx: &Context, tx: &mut PgConnection, task_id: &TaskId) -> Result<(Vec<i32>, i64), JobError> {
    let rows = pieces::objects(tx, task_id).await?;
    let checks = futures::future::join_all(rows.iter().map(|(_, key, len)| present(ctx, key.as_deref(), *len))).await;
    let mut have = Vec::with_capacity(rows.len());
    for ((index, _, _), ok) in rows.iter().zip(checks) {
        if ok? {
            have.push(*index);
        } else {
            tracing::info!(task = %task_id, index, "a prepared piece's object is gone; preparing the slice again");
            pieces::remove(tx, task_id, *index).await?;
        }
    }
    let (_, end) = pieces::extent(tx, task_id).await?;
    Ok((have, end))
}

async fn present(ctx: &Context, key: Option<&str>, len: i64) -> Result<bool, JobError> {
    match key {
        None => Ok(len == 0),
        Some(k) => Ok(ctx.store.size(k).await? == Some(len as u64)),
    }
}

/// Prepares slice `s` in the scratch dir and stores its media as a piece object (none when it
/// kept no media); returns the piece and the object's key.
pub(super) async fn prepare(
    ctx: &Context,
    task_id: &TaskId,
    s: &Slice,
    known: Option<Vec<u32>>,
    progress: &Progress,
) -> Result<(Piece, Option<String>), JobError> {
    let dir = tempfile::Builder::new()
        .prefix("prepare-")
        .tempdir_in(ctx.scratch.dir())?;
    let flv = dir.path().join("slice.flv");
    let tick = |n: u64| progress.tick(n);
    ctx.store
        .download(&s.object_key, &flv, &tick)
        .await
        .map_err(JobError::Retry)?;
    let out = dir.path().join("piece");
    let made = super::prepare_into(ctx, flv, (out.clone(), 0), known, progress).await?;
    if made.media_len == 0 {
        return Ok((made, None));
    }
    let key = keys::assembly_piece(task_id, s.slice_index);
    ctx.store
        .upload_file(&out, &key, &tick)
        .await
        .map_err(JobError::Retry)?;
    Ok((made, Some(key)))
}

/// The stop's fast path on object stores: the index stored as an object of its own, and the
/// recording's parts (that object, then the piece objects in slice order); None: splice the
/// classic way. The task's lock is held while the tables are read (and missing slices prepared).
/// Nothing is copied here: the callback need not wait for the store to copy the whole class, the
/// parts serve the recording until `jobs::compose` has made it one object.
pub(super) async fn assemble(
    ctx: &Context,
    task_id: &TaskId,
    stored: &[Slice],
    progress: &Progress,
) -> Result<Option<(Summary, Vec<Extent>)>, JobError> {
    let started = Instant::now();
    let mut tx = ctx.db.begin().await?;
    pieces::lock(&mut tx, task_id).await?;
    let Some(rows) = tables(ctx, &mut tx, &Body::Objects, task_id, stored, progress).await? else {
        return Ok(None);
    };
    // Pieces made now are kept for a later run, whatever happens below.
    tx.commit().await?;
    let Some((
        Plan {
            header, mut summary, ..
        },
        sources,
    )) = plan(task_id, &rows, stored)?
    else {
        return Ok(None);
    };
    let head = keys::assembly_head(task_id);
    let len = header.len() as u64;
    ctx.store
        .put(&head, header.into())
        .await
        .map_err(|e| JobError::Retry(e.into()))?;
    progress.tick(len);
    let mut parts = vec![Extent { key: head, len }];
    parts.extend(sources.into_iter().map(|(key, len)| Extent { key, len }));
    summary.elapsed_ms = started.elapsed().as_millis() as u64;
    Ok(Some((summary, parts)))
}

/// Piece objects with their lengths, in the recording's order.
type Sources = Vec<(String, u64)>;

/// The index over the pieces laid back to back in slice order, and the pieces' objects in that
/// order; None: the fast path does not take these slices.
fn plan(task_id: &TaskId, rows: &super::Tables, stored: &[Slice]) -> Result<Option<(Plan, Sources)>, JobError> {
    let mut at = 0u64;
    let mut sources = Vec::with_capacity(rows.len());
    let mut prepared = Vec::with_capacity(rows.len());
    for ((r, (meta, entries)), s) in rows.iter().zip(stored) {
        prepared.push(Prepared {
            path: PathBuf::from(&s.object_key),
            meta,
            entries: std::borrow::Cow::Borrowed(entries),
            body_offset: at,
        });
        if r.media_len > 0 {
            let key = r
                .piece_key
                .clone()
                .ok_or_else(|| JobError::Retry(anyhow!("piece {} has media but no object", r.slice_index)))?;
            sources.push((key, r.media_len as u64));
        }
        at += r.media_len as u64;
    }
    // No alignment: the header is sent, not inserted into a file's extents.
    match assemble::plan(prepared, at, assemble::Room::Aligned(1)) {
        Ok(p) => Ok(Some((p, sources))),
        Err(why) => {
            tracing::info!(task = %task_id, "splicing the classic way: {why}");
            Ok(None)
        }
    }
}
