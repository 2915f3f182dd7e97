//! Finishing an upload whose every byte arrived: an upload that appended to one file (fs store) has
//! its file renamed into place, with the MD5 carried along while it was received; an upload into an
//! S3 multipart upload (`super::multipart`) sends its last part and completes it; an upload of
//! several part objects (object stores) or a tus `final` concatenation is assembled into one slice
//! object with one streaming write. Then the slice is recorded with its MD5 and the parts are freed.
//!
//! Safe to run twice at once, on one instance or two, and after a crash at any point: slice keys are
//! unique per assembly, the slice row is inserted at most once per (task, index), and whoever loses a
//! race deletes only the object it made itself.

use super::checksum::{Hashes, RunningMd5};
use super::error::{Error, Result};
use super::Ingest;
use crate::db::slices::{self, Slice};
use crate::db::uploads::{self, Part, Upload};
use crate::store::keys;
use futures::TryStreamExt;
use localrecord_api::TaskId;
use uuid::Uuid;

/// Completes upload `id` if all of its bytes are in. Returns the upload as it stands afterwards.
pub async fn finish(ing: &Ingest, id: Uuid) -> Result<Upload> {
    let started = std::time::Instant::now();
    let up = uploads::get(&ing.db, id)
        .await?
        .ok_or_else(|| Error::NotFound(format!("no upload {id}")))?;
    if up.is_complete() || up.offset != up.length {
        return Ok(up);
    }
    if up.is_partial() {
        uploads::mark_complete(&ing.db, id, None).await?;
        return reload(ing, id).await;
    }
    let (task_id, index) = match (up.task_id.as_deref().map(TaskId::parse), up.slice_index) {
        (Some(Ok(t)), Some(i)) => (t, i),
        _ => return Err(Error::Internal(anyhow::anyhow!("upload {id} has no slice identity"))),
    };
    let sources: Vec<Uuid> = match &up.concat_parts {
        Some(p) if up.is_final() => p.clone(),
        _ => vec![id],
    };
    let (object_key, md5) = match super::multipart::finish(ing, &up).await? {
        Some(done) => done,
        None => {
            let parts = all_parts(ing, &up, &sources).await?;
            match parts.as_slice() {
                [only] => adopt(ing, &task_id, index, only).await?,
                _ => assemble(ing, &task_id, index, &parts).await?,
            }
        }
    };

    let mut tx = ing.db.begin().await?;
    let candidate = Slice {
        task_id: task_id.to_string(),
        slice_index: index,
        size: up.length,
        md5: md5.clone(),
        object_key: object_key.clone(),
        filename: up.filename.clone(),
        upload_id: id,
        key_id: up.key_id.clone(),
    };
    let stored = slices::insert_or_get(&mut tx, &candidate).await?;
    let conflict = stored.md5 != md5 || stored.size != up.length;
    // A multipart upload it went into is completed now.
    crate::db::upload_multipart::delete(&mut tx, id).await?;
    if conflict {
        // The slice is stored already with other content: keep it, and drop this upload whole.
        uploads::delete(&mut *tx, &[id]).await?;
    } else {
        uploads::mark_complete(&mut *tx, id, Some(&md5)).await?;
        uploads::delete_parts(&mut *tx, id).await?;
    }
    if up.is_final() {
        uploads::delete(&mut *tx, &sources).await?;
    }
    tx.commit().await?;

    if stored.object_key != object_key {
        ing.store.delete(&object_key).await.ok();
    }
    for s in &sources {
        if let Err(e) = ing.store.delete_prefix(&keys::upload_prefix(*s)).await {
            tracing::warn!(upload = %s, "parts left for the sweeper: {e}");
        }
    }
    if conflict {
        return Err(Error::Conflict(format!(
            "slice {index} of task {task_id} is already stored with other content (md5 {}, {} bytes); this upload was dropped",
            stored.md5, stored.size
        )));
    }
    let ms = started.elapsed().as_millis() as u64;
    tracing::info!(upload = %id, task = %task_id, index, size = up.length, md5 = %md5, ms, "slice stored");
    stored_slice(ing, &task_id, index).await?;
    reload(ing, id).await
}

/// The parts of `sources` (the upload itself, or a final concatenation's partial uploads), which
/// must hold exactly the upload's length.
async fn all_parts(ing: &Ingest, up: &Upload, sources: &[Uuid]) -> Result<Vec<Part>> {
    let mut parts = Vec::new();
    for s in sources {
        parts.extend(stored_parts(ing, *s).await?);
    }
    let total: i64 = parts.iter().map(|p| p.length).sum();
    if total != up.length {
        return Err(Error::Internal(anyhow::anyhow!(
            "upload {}: parts hold {total} bytes, expected {}",
            up.id,
            up.length
        )));
    }
    Ok(parts)
}

/// A slice landed: the task is alive, the slice is prepared, and the task spliced if complete.
async fn stored_slice(ing: &Ingest, task_id: &str, index: i32) -> Result<()> {
    crate::db::tasks::touch(&ing.db, task_id).await?;
    if ing.prepare_slices {
        crate::jobs::prepare::enqueue(&ing.db, task_id, index).await?;
    }
    crate::jobs::splice::maybe_enqueue(&ing.db, task_id, ing.resplice_delay).await?;
    Ok(())
}

/// What upload `id` stored: its append file as one part (with the running MD5 of all its bytes), or
/// its part objects.
async fn stored_parts(ing: &Ingest, id: Uuid) -> Result<Vec<Part>> {
    match uploads::append_state(&ing.db, id).await? {
        Some(a) if a.append => Ok(vec![Part {
            offset: 0,
            length: a.offset,
            object_key: keys::upload_append(id),
            md5: RunningMd5::resume(a.md5_state.as_deref())?.hex(),
        }]),
        _ => Ok(uploads::parts(&ing.db, id).await?),
    }
}

async fn reload(ing: &Ingest, id: Uuid) -> Result<Upload> {
    uploads::get(&ing.db, id)
        .await?
        .ok_or_else(|| Error::NotFound(format!("upload {id} was removed")))
}

/// A one-part slice: move the part into place instead of copying it. The destination is derived from
/// the part key, so a finisher that crashed after the move (or lost a race) finds it there.
async fn adopt(ing: &Ingest, task_id: &TaskId, index: i32, part: &Part) -> Result<(String, String)> {
    let dest = keys::slice_from_part(task_id, index, &part.object_key);
    if let Err(e) = ing.store.rename(&part.object_key, &dest).await {
        if ing.store.size(&dest).await? != Some(part.length as u64) {
            return Err(e.into());
        }
    }
    Ok((dest, part.md5.clone()))
}

/// Several parts (or none): one streaming write, hashing as it goes.
async fn assemble(ing: &Ingest, task_id: &TaskId, index: i32, parts: &[Part]) -> Result<(String, String)> {
    let key = keys::slice(task_id, index);
    let mut writer = ing.store.writer(&key).await?;
    let mut hashes = Hashes::new(None);
    let copy = async {
        for p in parts {
            let mut s = ing.store.read_stream(&p.object_key, 0..p.length as u64).await?;
            while let Some(chunk) = s.try_next().await? {
                hashes.update(&chunk);
                writer.write(chunk).await?;
            }
        }
        writer.close().await?;
        Ok::<_, Error>(())
    };
    if let Err(e) = copy.await {
        ing.store.delete(&key).await.ok();
        return Err(e);
    }
    Ok((key, hashes.md5_hex()))
}
