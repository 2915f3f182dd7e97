//! The Postgres job queue.
//!
//! - `enqueue` is idempotent per `unique_key`: a queued job is updated (and keeps the earlier of its
//!   two start times, so repeated delayed enqueues batch instead of postponing), a finished one
//!   re-armed, and a running one marked to run once more when it ends (so a late slice is never
//!   missed).
//! - `claim` is one short statement (`FOR UPDATE SKIP LOCKED`), so any number of workers on any
//!   number of instances share the queue without blocking each other.
//! - A claimed job holds a lease that its worker renews by `heartbeat`; `reap` re-queues jobs whose
//!   lease ran out (their instance died), counting that as an attempt.
//! - `fail` retries with exponential backoff until `max_attempts`, or fails at once when the error
//!   is permanent.
//! - Every claim carries a fresh fencing token ([`Job::claim`]). `heartbeat`, `complete`, `fail` and
//!   [`holds`] (which a job calls inside the transaction that publishes its result) take effect
//!   only while the row still carries that token: a stale run, reaped and re-claimed while it
//!   stalled, can neither renew, finish nor publish.
//! - `release` hands a running job back without counting the attempt (graceful shutdown).

use sqlx::{FromRow, PgExecutor};
use std::time::Duration;

#[derive(Debug, Clone, FromRow)]
pub struct Job {
    pub id: i64,
    pub kind: String,
    pub unique_key: String,
    pub payload: serde_json::Value,
    pub attempts: i32,
    pub max_attempts: i32,
    /// The fencing token of this claim.
    pub claim: uuid::Uuid,
}

pub async fn enqueue(
    db: impl PgExecutor<'_>,
    kind: &str,
    unique_key: &str,
    payload: &serde_json::Value,
    delay: Duration,
) -> sqlx::Result<()> {
    enqueue_with(db, kind, unique_key, payload, delay, 5).await
}

/// [`enqueue`] with the number of attempts the job gets.
pub async fn enqueue_with(
    db: impl PgExecutor<'_>,
    kind: &str,
    unique_key: &str,
    payload: &serde_json::Value,
    delay: Duration,
    max_attempts: i32,
) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO jobs (kind, unique_key, payload, run_at, max_attempts) VALUES ($1, $2, $3, now() + make_interval(secs => $4), $5)
         ON CONFLICT (unique_key) DO UPDATE SET
            payload = EXCLUDED.payload,
            rerun = jobs.state = 'running',
            state = CASE WHEN jobs.state = 'running' THEN 'running' ELSE 'queued' END,
            attempts = CASE WHEN jobs.state = 'running' THEN jobs.attempts ELSE 0 END,
            run_at = CASE WHEN jobs.state = 'running' THEN jobs.run_at
                          WHEN jobs.state = 'queued' THEN least(jobs.run_at, EXCLUDED.run_at)
                          ELSE EXCLUDED.run_at END,
            max_attempts = EXCLUDED.max_attempts,
            last_error = NULL,
            updated_at = now()",
    )
    .bind(kind)
    .bind(unique_key)
    .bind(payload)
    .bind(delay.as_secs_f64())
    .bind(max_attempts)
    .execute(db)
    .await
    .map(|_| ())
}

pub async fn claim(db: impl PgExecutor<'_>, worker: &str, lease: Duration) -> sqlx::Result<Option<Job>> {
    sqlx::query_as(
        "UPDATE jobs SET state = 'running', attempts = attempts + 1, worker = $1, claim_id = gen_random_uuid(), rerun = false,
                lease_until = now() + make_interval(secs => $2), updated_at = now()
         WHERE id = (SELECT id FROM jobs WHERE state = 'queued' AND run_at <= now()
                     ORDER BY run_at, id FOR UPDATE SKIP LOCKED LIMIT 1)
         RETURNING id, kind, unique_key, payload, attempts, max_attempts, claim_id AS claim",
    )
    .bind(worker)
    .bind(lease.as_secs_f64())
    .fetch_optional(db)
    .await
}

/// The fence: a statement acts on job `$1` only while claim `$2` holds it.
const HELD: &str = "id = $1 AND claim_id = $2 AND state = 'running'";
/// What ending a claim resets.
const UNCLAIM: &str = "worker = NULL, claim_id = NULL, lease_until = NULL, updated_at = now()";

/// Renews the lease; false when the claim no longer holds (reaped, perhaps re-claimed).
pub async fn heartbeat(db: impl PgExecutor<'_>, id: i64, claim: uuid::Uuid, lease: Duration) -> sqlx::Result<bool> {
    let r = sqlx::query(&format!(
        "UPDATE jobs SET lease_until = now() + make_interval(secs => $3) WHERE {HELD}"
    ))
    .bind(id)
    .bind(claim)
    .bind(lease.as_secs_f64())
    .execute(db)
    .await?;
    Ok(r.rows_affected() == 1)
}

/// Marks the run done (or queued again when it was re-armed meanwhile); false when the claim no
/// longer held, so nothing changed.
pub async fn complete(db: impl PgExecutor<'_>, id: i64, claim: uuid::Uuid) -> sqlx::Result<bool> {
    let r = sqlx::query(&format!(
        "UPDATE jobs SET state = CASE WHEN rerun THEN 'queued' ELSE 'done' END,
                attempts = CASE WHEN rerun THEN 0 ELSE attempts END,
                run_at = now(), rerun = false, {UNCLAIM}
         WHERE {HELD}"
    ))
    .bind(id)
    .bind(claim)
    .execute(db)
    .await?;
    Ok(r.rows_affected() == 1)
}

/// Locks the job row and tells whether `claim` still holds it. Call it inside the transaction that
/// publishes a job's result: the row lock keeps the reaper (and any re-claim) out until the
/// transaction ends, so the result is published only by the current claim.
pub async fn holds(tx: &mut sqlx::PgConnection, id: i64, claim: uuid::Uuid) -> sqlx::Result<bool> {
    let row: Option<(i64,)> = sqlx::query_as(&format!("SELECT id FROM jobs WHERE {HELD} FOR UPDATE"))
        .bind(id)
        .bind(claim)
        .fetch_optional(tx)
        .await?;
    Ok(row.is_some())
}

/// Hands a running job back to the queue at once, without counting the attempt (shutdown: the
/// job did not fail, its instance is leaving).
pub async fn release(db: impl PgExecutor<'_>, id: i64, claim: uuid::Uuid) -> sqlx::Result<bool> {
    let r = sqlx::query(&format!(
        "UPDATE jobs SET state = 'queued', attempts = greatest(attempts - 1, 0), run_at = now(), {UNCLAIM}
         WHERE {HELD}"
    ))
    .bind(id)
    .bind(claim)
    .execute(db)
    .await?;
    Ok(r.rows_affected() == 1)
}

/// Backoff before attempt `n + 1`: 2 s, 4 s, 8 s ... capped at 5 minutes.
pub fn backoff(attempts: i32) -> Duration {
    Duration::from_secs(2u64.saturating_pow(attempts.clamp(1, 20) as u32).min(300))
}

/// Whether and when a failed job runs again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Retry {
    /// never: the failure is permanent
    No,
    /// after the queue's exponential backoff
    Backoff,
    /// after this delay (the job's own schedule, a receiver's Retry-After)
    After(Duration),
}

/// Records a failure: retried as `retry` says while attempts remain, failed otherwise.
/// Returns whether the job failed for good (false also when the claim no longer held).
pub async fn fail(db: impl PgExecutor<'_>, job: &Job, error: &str, retry: Retry) -> sqlx::Result<bool> {
    let give_up = retry == Retry::No || job.attempts >= job.max_attempts;
    let delay = match retry {
        Retry::After(d) => d,
        _ => backoff(job.attempts),
    };
    let r = sqlx::query(&format!(
        "UPDATE jobs SET state = CASE WHEN $3 THEN 'failed' ELSE 'queued' END,
                run_at = now() + make_interval(secs => $4), last_error = $5, rerun = false, {UNCLAIM}
         WHERE {HELD}"
    ))
    .bind(job.id)
    .bind(job.claim)
    .bind(give_up)
    .bind(delay.as_secs_f64())
    .bind(error)
    .execute(db)
    .await?;
    Ok(give_up && r.rows_affected() == 1)
}

/// Re-queues jobs whose lease expired; those out of attempts fail. Returns how many were reaped.
pub async fn reap(db: impl PgExecutor<'_>) -> sqlx::Result<u64> {
    let r = sqlx::query(&format!(
        "UPDATE jobs SET state = CASE WHEN attempts >= max_attempts THEN 'failed' ELSE 'queued' END,
                last_error = 'lease expired: the worker stopped or made no progress',
                rerun = false, run_at = now(), {UNCLAIM}
         WHERE state = 'running' AND lease_until < now()"
    ))
    .execute(db)
    .await?;
    Ok(r.rows_affected())
}

#[derive(Debug, Clone, FromRow, PartialEq)]
pub struct JobState {
    pub state: String,
    pub attempts: i32,
    pub last_error: Option<String>,
}

pub async fn state_of(db: impl PgExecutor<'_>, unique_key: &str) -> sqlx::Result<Option<JobState>> {
    sqlx::query_as("SELECT state, attempts, last_error FROM jobs WHERE unique_key = $1")
        .bind(unique_key)
        .fetch_optional(db)
        .await
}
