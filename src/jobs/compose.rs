//! The compose job: a recording published as parts (the index object and the prepared pieces,
//! `store::parts`; object stores, the splice at landing) is made one object by the store, after
//! the callback has gone out (by UploadPartCopy on S3; streamed through this instance on stores
//! without server-side copy). The stop only writes the index, so the callback does not wait for
//! the copy of the whole class, which a store may do byte by byte (s3s-fs does, in both
//! UploadPartCopy and CompleteMultipartUpload); the parts serve the same bytes meanwhile.
//!
//! The object is made at the task's `video_output_key` (unique per splice, named by no reader
//! while parts are recorded), then the parts are dropped in one transaction under the task's
//! pieces lock, only if the task still records exactly those parts. Otherwise a later splice
//! replaced them (or the task was deleted) and the object made here is deleted instead. Pieces
//! are only deleted by that same transaction's winner, and a splice publishes parts only while
//! their rows exist under the same lock, so no published recording ever names a deleted piece.

use super::{Context, JobError};
use crate::db::{pieces, tasks};
use crate::progress::Progress;
use crate::store::parts::{self, Extent};
use crate::store::{compose, keys};
use anyhow::anyhow;
use futures::TryStreamExt;
use serde::{Deserialize, Serialize};
use std::time::Duration;

pub const KIND: &str = "compose";

/// Payload of a compose job: the task whose recorded parts to make one object.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ComposeJob {
    pub task_id: String,
}

/// Queues the composition of `task_id`'s recording, in the caller's transaction (the publish).
pub async fn enqueue(db: &mut sqlx::PgConnection, task_id: &str) -> sqlx::Result<()> {
    let payload = serde_json::to_value(ComposeJob {
        task_id: task_id.to_owned(),
    })
    .expect("serialisable");
    super::queue::enqueue(&mut *db, KIND, &format!("{KIND}:{task_id}"), &payload, Duration::ZERO).await
}

pub async fn run(ctx: &Context, job: ComposeJob, progress: &Progress) -> Result<(), JobError> {
    let task_id = super::task_id(&job.task_id)?;
    let Some(task) = tasks::get(&ctx.db, &task_id).await? else {
        return Ok(());
    };
    let (Some(key), Some(recorded)) = (task.video_output_key.clone(), task.parts()) else {
        return Ok(());
    };
    if recorded.is_empty() {
        return Err(JobError::Permanent(anyhow!("task {task_id} records no parts")));
    }
    let jobs = &ctx.settings.jobs;
    progress.set_deadline(Duration::from_secs(
        jobs.deadline_min_secs + parts::total(&recorded) / jobs.deadline_bytes_per_sec.max(1),
    ));
    crate::failpoint::hit(ctx.settings.failpoints.as_deref(), "compose-before-copy").await;
    let tick = |n: u64| progress.tick(n);
    match ctx.store.multipart() {
        Some(mp) => {
            let (head, pieces) = recorded.split_first().expect("not empty");
            let head_bytes = read_all(ctx, head).await?;
            let sources: Vec<(String, u64)> = pieces.iter().map(|p| (p.key.clone(), p.len)).collect();
            compose::compose(&ctx.store, mp, &key, head_bytes, &sources, &tick)
                .await
                .map(|_| ())
        }
        None => copy(ctx, &key, &recorded, &tick).await,
    }
    .map_err(JobError::Retry)?;
    let mut tx = ctx.db.begin().await?;
    pieces::lock(&mut tx, &task_id).await?;
    if !tasks::drop_parts(&mut *tx, &task_id, &key, &recorded).await? {
        drop(tx);
        if tasks::get(&ctx.db, &task_id).await?.and_then(|t| t.video_output_key) != Some(key.clone()) {
            ctx.store.delete(&key).await.ok();
        }
        tracing::info!(task = %task_id, "the recording's parts were replaced while they were composed");
        return Ok(());
    }
    // What the parts were made of is of no further use; a slice prepared since is prepared again.
    pieces::clear(&mut tx, &task_id).await?;
    tx.commit().await?;
    ctx.store.delete_prefix(&keys::assembly_prefix(&task_id)).await.ok();
    tracing::info!(task = %task_id, key, bytes = parts::total(&recorded), "recording composed into one object");
    Ok(())
}

/// Stores without server-side copy (OSS, COS, S3-compatible ones without UploadPartCopy): the
/// parts streamed through this instance into one streaming write (memory: the writer's parts).
async fn copy(ctx: &Context, key: &str, recorded: &[Extent], tick: &(dyn Fn(u64) + Sync)) -> anyhow::Result<()> {
    let mut w = ctx.store.writer(key).await?;
    let mut s = std::pin::pin!(ctx.store.read_parts(recorded, None, 0..parts::total(recorded)));
    let copied: anyhow::Result<()> = async {
        while let Some(b) = s.try_next().await? {
            tick(b.len() as u64);
            w.write(b).await?;
        }
        Ok(())
    }
    .await;
    if let Err(e) = copied {
        w.abort().await.ok();
        return Err(e);
    }
    w.close().await?;
    Ok(())
}

/// The whole of a (small) part.
async fn read_all(ctx: &Context, part: &Extent) -> Result<bytes::Bytes, JobError> {
    let mut buf = bytes::BytesMut::with_capacity(part.len as usize);
    ctx.store
        .read_into(&part.key, 0..part.len, &mut buf)
        .await
        .map_err(JobError::Retry)?;
    Ok(buf.freeze())
}
