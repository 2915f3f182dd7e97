//! The job worker: claims jobs, runs each on its own task with a heartbeat renewing its lease, and
//! records the outcome. A job that panics fails alone; the worker goes on. Every `lease / 2` it also
//! reaps expired leases and starts splices for recordings whose recorder went quiet.

use super::{callback, queue, splice, JobError};
use crate::startup::AppState;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::Semaphore;

pub fn worker_id() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
    format!(
        "{}-{}-{}",
        host.trim(),
        std::process::id(),
        &uuid::Uuid::new_v4().simple().to_string()[..8]
    )
}

pub async fn run(state: AppState) {
    let cfg = state.settings.jobs.clone();
    let lease = Duration::from_secs(cfg.lease_secs.max(2));
    let poll = Duration::from_millis(cfg.poll_interval_ms.max(10));
    let worker = worker_id();
    let slots = Arc::new(Semaphore::new(cfg.concurrency.max(1)));
    let mut last_maintenance: Option<Instant> = None;
    tracing::info!(worker, concurrency = cfg.concurrency, "job worker started");
    loop {
        if last_maintenance.is_none_or(|t| t.elapsed() >= lease / 2) {
            last_maintenance = Some(Instant::now());
            if let Err(e) = maintenance(&state).await {
                tracing::warn!("job maintenance: {e:#}");
            }
        }
        let permit = slots.clone().acquire_owned().await.expect("semaphore never closed");
        match queue::claim(&state.db, &worker, lease).await {
            Ok(Some(job)) => {
                let (state, worker) = (state.clone(), worker.clone());
                tokio::spawn(async move {
                    execute(&state, job, &worker, lease).await;
                    drop(permit);
                });
            }
            Ok(None) => {
                drop(permit);
                tokio::time::sleep(poll).await;
            }
            Err(e) => {
                drop(permit);
                tracing::warn!("claiming a job: {e}");
                tokio::time::sleep(poll * 4).await;
            }
        }
    }
}

async fn maintenance(state: &AppState) -> anyhow::Result<()> {
    let reaped = queue::reap(&state.db).await?;
    if reaped > 0 {
        tracing::warn!(reaped, "re-queued jobs whose worker stopped");
    }
    splice::enqueue_idle(state).await?;
    Ok(())
}

async fn execute(state: &AppState, job: queue::Job, worker: &str, lease: Duration) {
    let started = Instant::now();
    tracing::info!(job = job.id, kind = %job.kind, key = %job.unique_key, attempt = job.attempts, "job started");
    let beat = {
        let (db, worker, id) = (state.db.clone(), worker.to_owned(), job.id);
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(lease / 3).await;
                match queue::heartbeat(&db, id, &worker, lease).await {
                    Ok(true) => {}
                    Ok(false) => tracing::warn!(job = id, "lease lost: the job was reaped"),
                    Err(e) => tracing::warn!(job = id, "heartbeat: {e}"),
                }
            }
        })
    };
    let run = tokio::spawn(dispatch(state.clone(), job.clone()));
    let outcome = match run.await {
        Ok(r) => r,
        Err(e) if e.is_panic() => Err(JobError::Permanent(anyhow::anyhow!("the job panicked: {e}"))),
        Err(e) => Err(JobError::Retry(anyhow::anyhow!("the job was cancelled: {e}"))),
    };
    beat.abort();
    let ms = started.elapsed().as_millis() as u64;
    let recorded = match &outcome {
        Ok(()) => {
            tracing::info!(job = job.id, kind = %job.kind, ms, "job done");
            queue::complete(&state.db, job.id, worker).await.map(|_| false)
        }
        Err(e) => {
            let retry = e.retry();
            tracing::warn!(job = job.id, kind = %job.kind, ms, ?retry, "job failed: {e}");
            queue::fail(&state.db, &job, worker, &e.to_string(), retry).await
        }
    };
    match recorded {
        Ok(true) => {
            if let Err(e) = gave_up(state, &job, outcome.err().map(|e| e.to_string()).unwrap_or_default()).await {
                tracing::warn!(job = job.id, "recording the failure: {e:#}");
            }
        }
        Ok(false) => {}
        Err(e) => tracing::warn!(job = job.id, "recording the job outcome: {e}"),
    }
}

async fn dispatch(state: AppState, job: queue::Job) -> Result<(), JobError> {
    match job.kind.as_str() {
        splice::KIND => {
            let payload = serde_json::from_value(job.payload).map_err(|e| JobError::Permanent(e.into()))?;
            splice::run(&state, payload).await
        }
        callback::KIND => {
            let payload = serde_json::from_value(job.payload).map_err(|e| JobError::Permanent(e.into()))?;
            callback::run(&state, payload, job.attempts).await
        }
        other => Err(JobError::Permanent(anyhow::anyhow!("unknown job kind {other:?}"))),
    }
}

/// A job out of attempts: tell whoever waits on it.
async fn gave_up(state: &AppState, job: &queue::Job, error: String) -> anyhow::Result<()> {
    if job.kind == splice::KIND {
        let payload: splice::SpliceJob = serde_json::from_value(job.payload.clone())?;
        crate::db::tasks::mark_failed(&state.db, &payload.task_id, &error).await?;
        callback::enqueue_result(state, &payload.task_id).await?;
    }
    Ok(())
}
