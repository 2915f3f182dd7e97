//! The job worker: claims jobs, runs each on its own task under a watchdog, and records the outcome.
//!
//! The watchdog renews the job's lease only while the job's [`Progress`] moves. A job that stops
//! moving for `jobs.stall_secs`, or runs past its deadline, is cancelled and failed (retried, then
//! failed for good with the reason); the thread doing its work is abandoned, never waited on, so
//! neither the worker's slots nor shutdown depend on it. A job that panics fails alone.
//! On shutdown the worker stops claiming, gives running jobs the grace period, then hands the rest
//! back to the queue (`queue::release`) for the next instance. Every `lease / 2` it also reaps
//! expired leases and starts splices for recordings whose recorder went quiet.

use super::{callback, compose, prepare, queue, retention, splice, Context, JobError};
use crate::progress::Progress;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{watch, Semaphore};
use tokio::task::JoinSet;

pub fn worker_id() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
    format!(
        "{}-{}-{}",
        host.trim(),
        std::process::id(),
        &uuid::Uuid::new_v4().simple().to_string()[..8]
    )
}

/// Runs until `stop` turns true, then returns once running jobs finished or were handed back
/// (at the latest when `stop_by` says).
pub async fn run(ctx: Context, mut stop: watch::Receiver<Option<Instant>>) {
    let cfg = ctx.settings.jobs.clone();
    let lease = Duration::from_secs(cfg.lease_secs.max(2));
    let poll = Duration::from_millis(cfg.poll_interval_ms.max(10));
    let worker = worker_id();
    let slots = Arc::new(Semaphore::new(cfg.concurrency.max(1)));
    let mut running = JoinSet::new();
    let mut last_maintenance: Option<Instant> = None;
    tracing::info!(worker, concurrency = cfg.concurrency, "job worker started");
    while stop.borrow().is_none() {
        while running.try_join_next().is_some() {}
        if last_maintenance.is_none_or(|t| t.elapsed() >= lease / 2) {
            last_maintenance = Some(Instant::now());
            if let Err(e) = maintenance(&ctx).await {
                tracing::warn!("job maintenance: {e:#}");
            }
        }
        let permit = tokio::select! {
            p = slots.clone().acquire_owned() => p.expect("semaphore never closed"),
            _ = stop.changed() => break,
        };
        let pause = match queue::claim(&ctx.db, &worker, lease).await {
            Ok(Some(job)) => {
                let (ctx, stop) = (ctx.clone(), stop.clone());
                running.spawn(async move {
                    execute(&ctx, job, lease, stop).await;
                    drop(permit);
                });
                continue;
            }
            Ok(None) => poll,
            Err(e) => {
                tracing::warn!("claiming a job: {e}");
                poll * 4
            }
        };
        drop(permit);
        tokio::select! {
            _ = tokio::time::sleep(pause) => {}
            _ = stop.changed() => break,
        }
    }
    // Each running job watches `stop` itself and hands itself back when the grace runs out.
    while running.join_next().await.is_some() {}
    tracing::info!(worker, "job worker stopped");
}

async fn maintenance(ctx: &Context) -> anyhow::Result<()> {
    let reaped = queue::reap(&ctx.db).await?;
    crate::metrics::add(&crate::metrics::METRICS.jobs_reaped, reaped);
    if reaped > 0 {
        tracing::warn!(reaped, "re-queued jobs whose worker stopped or stalled");
    }
    splice::enqueue_idle(ctx).await?;
    Ok(())
}

/// Why the watchdog ended a run early.
enum Verdict {
    Stalled(Duration),
    Deadline,
    LeaseLost,
    Shutdown,
}

/// Watches a running job: renews its lease while it progresses; returns when it must be given up.
async fn watchdog(
    ctx: &Context,
    job: &queue::Job,
    progress: &Progress,
    lease: Duration,
    mut stop: watch::Receiver<Option<Instant>>,
) -> Verdict {
    let stall = Duration::from_secs(ctx.settings.jobs.stall_secs.max(1));
    let (mut seen, mut moved_at) = (progress.ticks(), Instant::now());
    let tick = (lease / 3).min(stall / 2).max(Duration::from_millis(100));
    loop {
        let stop_by = *stop.borrow();
        let wake = stop_by.map_or(tick, |by| by.saturating_duration_since(Instant::now()).min(tick));
        tokio::select! {
            _ = tokio::time::sleep(wake) => {}
            _ = stop.changed() => continue,
        }
        if stop_by.is_some_and(|by| Instant::now() >= by) {
            return Verdict::Shutdown;
        }
        if progress.deadline().is_some_and(|d| Instant::now() >= d) {
            return Verdict::Deadline;
        }
        let now = progress.ticks();
        if now != seen {
            (seen, moved_at) = (now, Instant::now());
        } else if moved_at.elapsed() >= stall {
            return Verdict::Stalled(moved_at.elapsed());
        }
        match queue::heartbeat(&ctx.db, job.id, job.claim, lease).await {
            Ok(true) => {}
            Ok(false) => return Verdict::LeaseLost,
            Err(e) => tracing::warn!(job = job.id, "heartbeat: {e}"),
        }
    }
}

async fn execute(ctx: &Context, job: queue::Job, lease: Duration, stop: watch::Receiver<Option<Instant>>) {
    let (started, started_at) = (Instant::now(), chrono::Utc::now());
    tracing::info!(job = job.id, kind = %job.kind, key = %job.unique_key, attempt = job.attempts, "job started");
    let progress = Progress::new();
    progress.set_deadline(Duration::from_secs(ctx.settings.jobs.deadline_min_secs.max(1)));
    let mut run = tokio::spawn(dispatch(ctx.clone(), job.clone(), progress.clone()));
    let outcome = tokio::select! {
        r = &mut run => match r {
            Ok(r) => r,
            Err(e) if e.is_panic() => Err(JobError::Permanent(anyhow::anyhow!("the job panicked: {e}"))),
            Err(e) => Err(JobError::Retry(anyhow::anyhow!("the job was cancelled: {e}"))),
        },
        v = watchdog(ctx, &job, &progress, lease, stop) => {
            // Abandon the run: its thread notices `cancelled` at its next step, or never; either
            // way nothing waits on it, and its claim no longer lets it publish.
            progress.cancel();
            run.abort();
            match v {
                Verdict::Stalled(d) => Err(JobError::Retry(anyhow::anyhow!("made no progress for {} s", d.as_secs()))),
                Verdict::Deadline => Err(JobError::Retry(anyhow::anyhow!(
                    "ran past its deadline ({} s)", started.elapsed().as_secs()
                ))),
                Verdict::LeaseLost => {
                    tracing::warn!(job = job.id, "lease lost (reaped while stalled): this run's result is discarded");
                    return;
                }
                Verdict::Shutdown => {
                    match queue::release(&ctx.db, job.id, job.claim).await {
                        Ok(_) => tracing::info!(job = job.id, "shutting down: job handed back to the queue"),
                        Err(e) => tracing::warn!(job = job.id, "handing the job back: {e} (its lease will expire)"),
                    }
                    return;
                }
            }
        }
    };
    let ms = started.elapsed().as_millis() as u64;
    let recorded = match &outcome {
        Ok(()) => {
            tracing::info!(job = job.id, kind = %job.kind, ms, "job done");
            queue::complete(&ctx.db, job.id, job.claim).await.map(|_| false)
        }
        Err(e) => {
            let retry = e.retry();
            tracing::warn!(job = job.id, kind = %job.kind, ms, ?retry, "job failed: {e}");
            queue::fail(&ctx.db, &job, &e.to_string(), retry).await
        }
    };
    if job.kind == splice::KIND {
        let gave_up = matches!(recorded, Ok(true));
        let a = splice::attempt(ctx, &job, &outcome, gave_up, started_at, ms).await;
        if let Err(e) = a {
            tracing::warn!(job = job.id, "logging the splice attempt: {e}");
        }
    }
    match recorded {
        Ok(true) => {
            if let Err(e) = gave_up(ctx, &job, outcome.err().map(|e| e.to_string()).unwrap_or_default()).await {
                tracing::warn!(job = job.id, "recording the failure: {e:#}");
            }
        }
        Ok(false) => {}
        Err(e) => tracing::warn!(job = job.id, "recording the job outcome: {e}"),
    }
}

async fn dispatch(ctx: Context, job: queue::Job, progress: Progress) -> Result<(), JobError> {
    crate::metrics::add(&crate::metrics::METRICS.job_attempts, 1);
    match job.kind.as_str() {
        splice::KIND => {
            let payload = serde_json::from_value(job.payload.clone()).map_err(|e| JobError::Permanent(e.into()))?;
            splice::run(&ctx, payload, &job, &progress).await
        }
        callback::KIND => {
            let payload = serde_json::from_value(job.payload).map_err(|e| JobError::Permanent(e.into()))?;
            callback::run(&ctx, payload, job.attempts).await
        }
        retention::KIND => retention::run(&ctx, &progress).await,
        compose::KIND => {
            let payload = serde_json::from_value(job.payload.clone()).map_err(|e| JobError::Permanent(e.into()))?;
            compose::run(&ctx, payload, &progress).await
        }
        prepare::KIND => {
            let payload = serde_json::from_value(job.payload.clone()).map_err(|e| JobError::Permanent(e.into()))?;
            prepare::run(&ctx, payload, &progress).await
        }
        other => Err(JobError::Permanent(anyhow::anyhow!("unknown job kind {other:?}"))),
    }
}

/// A job out of attempts: tell whoever waits on it.
async fn gave_up(ctx: &Context, job: &queue::Job, error: String) -> anyhow::Result<()> {
    if job.kind == splice::KIND {
        crate::metrics::add(&crate::metrics::METRICS.splices_failed, 1);
        let payload: splice::SpliceJob = serde_json::from_value(job.payload.clone())?;
        let mut tx = ctx.db.begin().await?;
        crate::db::tasks::mark_failed(&mut *tx, &payload.task_id, &error).await?;
        callback::enqueue_result(ctx, &mut tx, &payload.task_id).await?;
        tx.commit().await?;
    }
    Ok(())
}
