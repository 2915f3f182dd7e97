//! S3 ingest without the final copy: a (non-partial) upload into S3 is one S3 multipart upload
//! that completes at the slice's key (`db::upload_multipart`, any instance can go on with it).
//!
//! Chunks are received as part objects, as before ([`super::parts`]), with the upload's running
//! MD5 carried in `uploads.md5_state` and moved with the offset; as soon as the committed part
//! objects not yet sent hold S3's minimum part (5 MiB: the recorder's 4 MiB chunks are smaller)
//! they are read back and sent as one part, in the background of the chunk's request. When the
//! last byte is in, what is left goes as the last part and the multipart upload is completed: the
//! slice is stored without being copied again, its MD5 already known.
//!
//! The part objects stay until the upload is finished: they are the durable copy of its bytes.
//! A multipart upload is only an optimisation, and anything that goes wrong with it (it vanished,
//! an instance died between completing it and recording the slice and the completion cannot be
//! recognised, the backend refused a part) abandons it: finishing then assembles the part objects
//! as for every other store, so no failure of this path can lose or strand a slice. Tus
//! concatenation (partial uploads) keeps the one streaming assembly.

use super::checksum::RunningMd5;
use super::error::{Error, Result};
use super::Ingest;
use crate::db::upload_multipart::{self as db, Row};
use crate::db::uploads::{self, Part, Upload};
use crate::store::keys;
use crate::store::multipart::{self, Multipart, MIN_PART};
use futures::{StreamExt, TryStreamExt};
use localrecord_api::TaskId;

/// Whether `upload`'s chunks carry a running MD5 and go into a multipart upload: S3, an upload of
/// a slice (not a partial one), and begun this way (from offset 0, or with a running MD5 already).
pub(super) async fn running(ing: &Ingest, upload: &Upload, offset: i64) -> Result<Option<RunningMd5>> {
    if ing.store.multipart().is_none() || upload.is_partial() || upload.is_final() {
        return Ok(None);
    }
    let Some((_, state)) = db::md5_state(&ing.db, upload.id).await? else {
        return Ok(None);
    };
    match state {
        Some(s) => Ok(Some(RunningMd5::resume(Some(s.as_slice()))?)),
        None if offset == 0 => Ok(Some(RunningMd5::default())),
        None => Ok(None),
    }
}

/// After a chunk was committed: sends the committed part objects as one part once they hold
/// [`MIN_PART`] bytes, in the background, so the chunk's answer does not wait for S3. A failure
/// only delays that (the next chunk, or the finish, sends them): the chunk is committed either way.
pub(super) fn after_commit(ing: &Ingest, upload: &Upload) {
    if ing.store.multipart().is_none() {
        return;
    }
    let (ing, upload) = (ing.clone(), upload.clone());
    tokio::spawn(async move {
        let Some(mp) = ing.store.multipart() else { return };
        if let Err(e) = flush(&ing, mp, &upload, false).await {
            tracing::warn!(upload = %upload.id, "sending a part failed; the next chunk or the finish sends it: {e}");
        }
    });
}

/// Sends the committed part objects not yet sent as the next part (only if they hold at least
/// [`MIN_PART`] bytes, unless `last`); returns the upload's multipart row as it stands after.
async fn flush(ing: &Ingest, mp: &Multipart, up: &Upload, last: bool) -> Result<Option<Row>> {
    let mut tx = ing.db.begin().await?;
    db::lock(&mut tx, up.id).await?;
    let row = db::get(&mut tx, up.id).await?;
    let sent = row.as_ref().map_or(0, |r| r.sent);
    let staged: Vec<Part> = uploads::parts(&mut *tx, up.id)
        .await?
        .into_iter()
        .filter(|p| p.offset >= sent)
        .collect();
    let len: i64 = staged.iter().map(|p| p.length).sum();
    if len == 0 || (!last && (len as u64) < MIN_PART) {
        return Ok(row);
    }
    let mut row = match row {
        Some(r) => r,
        None => begin(mp, &mut tx, up).await?,
    };
    let target = multipart::Upload {
        key: row.object_key.clone(),
        id: row.mp_id.clone(),
    };
    let number = row.parts.len() as u32 + 1;
    let body = read_back(ing, &staged);
    let part = mp.put_part_stream(&target, number, body, len as u64, None).await?;
    db::add_part(&mut tx, up.id, &part, sent + len).await?;
    tx.commit().await?;
    row.parts.0.push(part);
    row.sent = sent + len;
    Ok(Some(row))
}

/// Opens the upload's multipart upload at a new slice key (under the caller's lock).
async fn begin(mp: &Multipart, tx: &mut sqlx::PgConnection, up: &Upload) -> Result<Row> {
    let task = match up.task_id.as_deref().map(TaskId::parse) {
        Some(Ok(t)) => t,
        _ => return Err(Error::Internal(anyhow::anyhow!("upload {} has no task", up.id))),
    };
    let key = keys::slice(&task, up.slice_index.unwrap_or(0));
    let opened = mp.create(&key).await?;
    db::insert(tx, up.id, &key, &opened.id).await?;
    Ok(Row {
        upload_id: up.id,
        object_key: key,
        mp_id: opened.id,
        parts: sqlx::types::Json(Vec::new()),
        sent: 0,
    })
}

/// The part objects' bytes, one after the other, as a request body.
fn read_back(ing: &Ingest, staged: &[Part]) -> reqwest::Body {
    let store = ing.store.clone();
    let objects: Vec<(String, u64)> = staged.iter().map(|p| (p.object_key.clone(), p.length as u64)).collect();
    let s = futures::stream::iter(objects)
        .then(move |(key, len)| {
            let store = store.clone();
            async move { store.read_stream(&key, 0..len).await.map_err(std::io::Error::other) }
        })
        .try_flatten();
    reqwest::Body::wrap_stream(s)
}

/// Finishes an upload that went into a multipart upload: the rest sent as the last part, the
/// upload completed (the slice is stored). Returns the slice's key and MD5; None: the upload did
/// not go this way, or its multipart upload was abandoned (the caller assembles its part objects).
pub(super) async fn finish(ing: &Ingest, up: &Upload) -> Result<Option<(String, String)>> {
    let Some(mp) = ing.store.multipart() else {
        return Ok(None);
    };
    if up.is_partial() || up.is_final() {
        return Ok(None);
    }
    let Some((offset, Some(state))) = db::md5_state(&ing.db, up.id).await? else {
        return Ok(None);
    };
    if offset != up.length {
        return Err(Error::Internal(anyhow::anyhow!("upload {} is not whole", up.id)));
    }
    let md5 = RunningMd5::resume(Some(state.as_slice()))?.hex();
    match complete(ing, mp, up).await {
        Ok(Some(key)) => Ok(Some((key, md5))),
        Ok(None) => Ok(None),
        Err(e) => {
            tracing::warn!(upload = %up.id, "multipart upload abandoned, assembling the parts instead: {e}");
            abandon(ing, mp, up.id).await?;
            Ok(None)
        }
    }
}

/// Sends the last part and completes the multipart upload; the slice's key.
async fn complete(ing: &Ingest, mp: &Multipart, up: &Upload) -> Result<Option<String>> {
    let Some(row) = flush(ing, mp, up, true).await? else {
        return Ok(None);
    };
    if row.sent != up.length {
        return Err(Error::Internal(anyhow::anyhow!(
            "its parts hold {} of {} bytes",
            row.sent,
            up.length
        )));
    }
    let target = multipart::Upload {
        key: row.object_key.clone(),
        id: row.mp_id.clone(),
    };
    if let Err(e) = mp.complete(&target, &row.parts).await {
        // A finisher that completed it and then crashed (or lost a race) left the slice there.
        if ing.store.size(&row.object_key).await? != Some(up.length as u64) {
            return Err(e.into());
        }
    }
    Ok(Some(row.object_key))
}

/// Forgets the upload's multipart upload (under its lock, so no part is being sent meanwhile) and
/// aborts it; its part objects are still all there.
async fn abandon(ing: &Ingest, mp: &Multipart, upload: uuid::Uuid) -> Result<()> {
    let mut tx = ing.db.begin().await?;
    db::lock(&mut tx, upload).await?;
    let row = db::get(&mut tx, upload).await?;
    db::delete(&mut tx, upload).await?;
    tx.commit().await?;
    if let Some(r) = row {
        let target = multipart::Upload {
            key: r.object_key,
            id: r.mp_id,
        };
        if let Err(e) = mp.abort(&target).await {
            tracing::warn!(%upload, "aborting an abandoned multipart upload failed (a lifecycle rule removes it): {e}");
        }
    }
    Ok(())
}

/// Aborts the multipart uploads whose tus upload is gone (terminated, expired or dropped).
pub async fn sweep(ing: &Ingest) -> Result<usize> {
    let Some(mp) = ing.store.multipart() else {
        return Ok(0);
    };
    let rows = db::orphans(&ing.db, 100).await?;
    for r in &rows {
        let target = multipart::Upload {
            key: r.object_key.clone(),
            id: r.mp_id.clone(),
        };
        mp.abort(&target).await?;
        let mut tx = ing.db.begin().await?;
        db::delete(&mut tx, r.upload_id).await?;
        tx.commit().await?;
    }
    Ok(rows.len())
}
