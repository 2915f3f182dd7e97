//! The splice job: a task's stored slices -> one MP4 in the store, and the result on the task.
//!
//! Enqueued when a stopped task has every declared slice, when a slice arrives for a task already
//! spliced (re-splice, after `jobs.resplice_delay_secs` so a burst of late slices costs one), and
//! when a recording task showed no sign of life for its idle time (its recorder died: splice what
//! arrived, mark it partial). Temp files live in the instance's scratch dir (`crate::scratch`).
//!
//! On the fs and S3 stores the stop usually takes the fast path (`prepare::assemble`): the slices
//! were prepared as they landed and only the index is written now (on S3 the store then makes the
//! MP4 from it and the prepared pieces by server-side copy). Otherwise the whole splice runs here.

use super::prepare::{Assembled, Body};
use super::Context;
use super::{queue, JobError};
use crate::db::checks;
use crate::db::slices::{self, Slice};
use crate::db::splice_log;
use crate::db::tasks::{self, TaskState};
use crate::progress::Progress;
use crate::splice::{splice_files_known, splice_files_sealed, Sealing, SliceOutcome, Summary};
use crate::store::keys;
use anyhow::anyhow;
use localrecord_api::TaskId;
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

pub const KIND: &str = "splice";

/// Payload of a splice job.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SpliceJob {
    pub task_id: String,
}

pub async fn enqueue(db: &sqlx::PgPool, task_id: &str, delay: Duration) -> sqlx::Result<()> {
    let payload = serde_json::to_value(SpliceJob {
        task_id: task_id.to_owned(),
    })
    .expect("serialisable");
    queue::enqueue(db, KIND, &format!("{KIND}:{task_id}"), &payload, delay).await
}

/// After a stop or a stored slice: splice if the task is complete, or re-splice a finished one
/// (after `resplice_delay`, so that a burst of late slices makes one splice).
pub async fn maybe_enqueue(db: &sqlx::PgPool, task_id: &str, resplice_delay: Duration) -> sqlx::Result<bool> {
    let Some(task) = tasks::get(db, task_id).await? else {
        return Ok(false);
    };
    let delay = match task.state {
        TaskState::Uploading => {
            let stored: BTreeSet<i32> = slices::for_task(db, task_id)
                .await?
                .iter()
                .map(|s| s.slice_index)
                .collect();
            (0..task.slice_count.unwrap_or(0))
                .all(|i| stored.contains(&i))
                .then_some(Duration::ZERO)
        }
        TaskState::Splicing | TaskState::Done | TaskState::Partial | TaskState::Failed => Some(resplice_delay),
        _ => None,
    };
    if let Some(delay) = delay {
        enqueue(db, task_id, delay).await?;
    }
    Ok(delay.is_some())
}

/// Tasks whose recorder has been silent too long are spliced from what arrived.
pub async fn enqueue_idle(ctx: &Context) -> sqlx::Result<()> {
    for task_id in tasks::idle(&ctx.db, ctx.settings.jobs.splice_idle_secs as f64).await? {
        tracing::warn!(task = %task_id, "no sign of life from the recorder: splicing what arrived");
        tasks::touch(&ctx.db, &task_id).await?;
        enqueue(&ctx.db, &task_id, Duration::ZERO).await?;
    }
    Ok(())
}

/// A random 19-digit id, the shape of the seed's VideoOutputId; unguessable, it is the MP4's URL.
fn new_video_output_id() -> String {
    use rand::Rng;
    rand::thread_rng()
        .gen_range(1_000_000_000_000_000_000u64..10_000_000_000_000_000_000u64)
        .to_string()
}

pub async fn run(ctx: &Context, job: SpliceJob, claim: &queue::Job, progress: &Progress) -> Result<(), JobError> {
    let task_id = super::task_id(&job.task_id)?;
    let task = tasks::get(&ctx.db, &task_id)
        .await?
        .ok_or_else(|| JobError::Permanent(anyhow!("task {task_id} is gone")))?;
    tasks::set_state(&ctx.db, &task_id, TaskState::Splicing).await?;
    let stored = slices::for_task(&ctx.db, &task_id).await?;
    if stored.is_empty() {
        return Err(JobError::Permanent(anyhow!("no slice of task {task_id} was uploaded")));
    }
    let jobs = &ctx.settings.jobs;
    let bytes: u64 = stored.iter().map(|s| s.size.max(0) as u64).sum();
    progress.set_deadline(Duration::from_secs(
        jobs.deadline_min_secs + bytes / jobs.deadline_bytes_per_sec.max(1),
    ));
    let video_output_id = task.video_output_id.clone().unwrap_or_else(new_video_output_id);
    let key = keys::recording(&task_id, &video_output_id);
    let sealing = super::sealing::for_task(&ctx.db, &task, &stored).await?;
    let key_id = sealing.as_ref().map(|s| s.output.id().to_string());
    // Held until the MP4 is stored: the classic splice writes it there.
    let mut tmp = None;
    // An encrypted task never takes the fast path: prepared pieces are plaintext.
    let fast = match sealing {
        None => super::prepare::assemble(ctx, &task_id, &stored, progress).await?,
        Some(_) => None,
    };
    let (summary, mp4, assembled, parts) = match fast {
        Some(Assembled::File(summary, mp4)) => (summary, Some(mp4), true, None),
        // Served from its parts once published; `compose` makes it one object at `key`.
        Some(Assembled::Parts(summary, parts)) => (summary, None, true, Some(parts)),
        None => {
            let dir = tmp.insert(
                tempfile::Builder::new()
                    .prefix("splice-")
                    .tempdir_in(ctx.scratch.dir())?,
            );
            let (summary, mp4) = splice_whole(ctx, &stored, sealing, dir.path(), progress).await?;
            (summary, Some(mp4), false, None)
        }
    };
    crate::failpoint::hit(ctx.settings.failpoints.as_deref(), "splice-before-publish").await;
    let tick = |n: u64| progress.tick(n);
    if let Some(mp4) = mp4 {
        if let Err(e) = ctx.store.put_file(&mp4, &key, &tick).await {
            std::fs::remove_file(&mp4).ok();
            return Err(JobError::Retry(e));
        }
    }
    drop(tmp);
    let mut result = outcome(&task, &stored, &summary, video_output_id, key);
    result.key_id = key_id;
    result.parts = parts;
    publish(ctx, claim, &task_id, &result, assembled).await?;
    let m = &crate::metrics::METRICS;
    m.splice_seconds.observe(Duration::from_millis(summary.elapsed_ms));
    let finished = match result.state {
        TaskState::Done => &m.splices_done,
        _ => &m.splices_partial,
    };
    crate::metrics::add(finished, 1);
    tracing::info!(task = %task_id, state = %result.state, assembled, size = result.size, duration_ms = result.duration_ms, splice_ms = result.splice_ms, missing = ?result.missing_slices, "recording spliced");
    Ok(())
}

/// The task's result: done, or partial with what the recording lacks (declared slices never
/// stored, and stored ones the splicer skipped).
fn outcome(
    task: &tasks::Task,
    stored: &[Slice],
    summary: &Summary,
    video_output_id: String,
    key: String,
) -> tasks::SpliceResult {
    let have: BTreeSet<i32> = stored.iter().map(|s| s.slice_index).collect();
    let declared = task
        .slice_count
        .unwrap_or_else(|| have.last().map(|m| m + 1).unwrap_or(0));
    let mut missing: BTreeSet<i32> = (0..declared).filter(|i| !have.contains(i)).collect();
    for (s, rep) in stored.iter().zip(&summary.slices) {
        if rep.outcome == SliceOutcome::Skipped {
            missing.insert(s.slice_index);
        }
    }
    tasks::SpliceResult {
        video_output_id,
        video_output_key: key,
        size: summary.size as i64,
        duration_ms: summary.duration_ms,
        splice_ms: summary.elapsed_ms as i64,
        state: if missing.is_empty() {
            TaskState::Done
        } else {
            TaskState::Partial
        },
        missing_slices: missing.into_iter().collect(),
        key_id: None,
        parts: None,
    }
}

/// Publishes under the fence: only while this run's claim holds, in one transaction with the
/// callback it owes. A stale run (reaped while it stalled) discards its output instead. Then frees
/// what the result replaced.
async fn publish(
    ctx: &Context,
    claim: &queue::Job,
    task_id: &TaskId,
    result: &tasks::SpliceResult,
    assembled: bool,
) -> Result<(), JobError> {
    let key = &result.video_output_key;
    let mut tx = ctx.db.begin().await?;
    if !queue::holds(&mut tx, claim.id, claim.claim).await? {
        drop(tx);
        discard(ctx, result).await;
        return Err(JobError::Retry(anyhow!(
            "superseded: this run lost its claim while it stalled; its output was discarded"
        )));
    }
    let prepared = super::prepare::body(ctx, task_id);
    if let Some(parts) = &result.parts {
        // Parts name pieces: published only while their rows stand (the compose of an earlier
        // recording, which deletes them, takes the same lock).
        crate::db::pieces::lock(&mut tx, task_id).await?;
        let rows = crate::db::pieces::objects(&mut tx, task_id).await?;
        let standing = |k: &str| rows.iter().any(|r| r.1.as_deref() == Some(k));
        if !parts[1..].iter().all(|p| standing(&p.key)) {
            drop(tx);
            discard(ctx, result).await;
            return Err(JobError::Retry(anyhow!(
                "the prepared pieces went while the recording was made of them; preparing again"
            )));
        }
    } else if matches!(prepared, Some(Body::Objects)) || (prepared.is_some() && !assembled) {
        // Spliced the classic way: what was prepared for this task is of no further use.
        crate::db::pieces::lock(&mut tx, task_id).await?;
        crate::db::pieces::clear(&mut tx, task_id).await?;
    }
    let old_key = tasks::record_splice(&mut tx, task_id, result).await?;
    super::callback::enqueue_result(ctx, &mut tx, task_id).await?;
    if result.parts.is_some() {
        super::compose::enqueue(&mut tx, task_id).await?;
    }
    tx.commit().await?;
    if prepared.is_some() && result.parts.is_none() {
        // What crashed or superseded runs left there, too.
        ctx.store.delete_prefix(&keys::assembly_prefix(task_id)).await.ok();
    }
    if let Some(old) = old_key.filter(|k| k != key) {
        ctx.store.delete(&old).await.ok();
    }
    Ok(())
}

/// Deletes what an unpublished result stored: its MP4, or the index object of its parts (the
/// pieces stay for the next run).
async fn discard(ctx: &Context, result: &tasks::SpliceResult) {
    match &result.parts {
        Some(parts) => ctx.store.delete(&parts[0].key).await.ok(),
        None => ctx.store.delete(&result.video_output_key).await.ok(),
    };
}

/// Logs a run of the splice job for the task's timeline: published (with the task's new state),
/// to be retried, or given up on, with the reason.
pub async fn attempt(
    ctx: &Context,
    job: &queue::Job,
    outcome: &Result<(), JobError>,
    gave_up: bool,
    started_at: chrono::DateTime<chrono::Utc>,
    ms: u64,
) -> sqlx::Result<()> {
    let Ok(SpliceJob { task_id }) = serde_json::from_value(job.payload.clone()) else {
        return Ok(());
    };
    let (outcome, reason) = match outcome {
        Ok(()) => match tasks::get(&ctx.db, &task_id).await?.map(|t| t.state) {
            Some(TaskState::Partial) => ("partial", None),
            _ => ("done", None),
        },
        Err(e) if gave_up => ("failed", Some(e.to_string())),
        Err(e) => ("retry", Some(e.to_string())),
    };
    let a = splice_log::SpliceAttempt {
        attempt: job.attempts,
        started_at,
        duration_ms: ms as i64,
        outcome: outcome.into(),
        reason,
    };
    splice_log::insert(&ctx.db, &task_id, &a).await
}

/// The whole splice at the stop (the S3 family of stores, or slices the fast path does not take):
/// the slices are read (downloaded into `tmp` first when the store is remote); the MP4 is made in
/// `tmp`.
async fn splice_whole(
    ctx: &Context,
    stored: &[Slice],
    sealing: Option<Sealing>,
    tmp: &Path,
    progress: &Progress,
) -> Result<(Summary, PathBuf), JobError> {
    let mut inputs = Vec::with_capacity(stored.len());
    for s in stored {
        inputs.push(match ctx.store.local_path(&s.object_key) {
            Some(p) => p,
            None => {
                let p = tmp.join(format!("{:06}.flv", s.slice_index));
                let tick = |n: u64| progress.tick(n);
                ctx.store
                    .download(&s.object_key, &p, &tick)
                    .await
                    .map_err(JobError::Retry)?;
                p
            }
        });
    }
    let verdicts = match stored.first() {
        Some(s) => checks::for_task(&ctx.db, &s.task_id).await?,
        None => Default::default(),
    };
    let known: Vec<_> = stored.iter().map(|s| verdicts.get(&s.slice_index).cloned()).collect();
    let out = tmp.join("out.mp4");
    let summary = splice_on_thread(inputs, known, sealing, out.clone(), progress.clone()).await?;
    for (s, rep) in stored.iter().zip(&summary.slices) {
        if let (None, Some(bad)) = (verdicts.get(&s.slice_index), &rep.bad_keyframes) {
            checks::save(&ctx.db, &s.task_id, s.slice_index, bad).await?;
        }
    }
    Ok((summary, out))
}

/// Splices on a thread of its own, which nothing ever waits on: if the watchdog gives up on the
/// job, the thread ends at its next cancellation check (or never, inside a stuck decoder) without
/// holding up the worker or shutdown.
async fn splice_on_thread(
    inputs: Vec<PathBuf>,
    known: Vec<Option<Vec<u32>>>,
    sealing: Option<Sealing>,
    out: PathBuf,
    progress: Progress,
) -> Result<Summary, JobError> {
    let (tx, rx) = tokio::sync::oneshot::channel();
    std::thread::Builder::new()
        .name("splice".into())
        .spawn(move || {
            let r = std::panic::catch_unwind(|| match &sealing {
                Some(s) => splice_files_sealed(&inputs, &known, s, &out, &progress),
                None => splice_files_known(&inputs, &known, &out, &progress),
            });
            let _ = tx.send(r);
        })
        .map_err(|e| JobError::Retry(anyhow!("starting the splice thread: {e}")))?;
    match rx.await {
        Ok(Ok(Ok(summary))) => Ok(summary),
        Ok(Ok(Err(e))) => Err(JobError::Permanent(e.context("splicing"))),
        Ok(Err(_)) => Err(JobError::Permanent(anyhow!("the splicer panicked"))),
        Err(_) => Err(JobError::Retry(anyhow!("the splice thread vanished"))),
    }
}
