//! `splice_attempts`: every run of a task's splice job and how it ended (the console's timeline).

use chrono::{DateTime, Utc};
use sqlx::{FromRow, PgExecutor};

/// One run of a splice job.
#[derive(Debug, Clone, FromRow)]
pub struct SpliceAttempt {
    pub attempt: i32,
    pub started_at: DateTime<Utc>,
    pub duration_ms: i64,
    /// done, partial, retry or failed
    pub outcome: String,
    pub reason: Option<String>,
}

/// Records a run. A task deleted meanwhile has no log to add to: nothing is recorded.
pub async fn insert(db: impl PgExecutor<'_>, task_id: &str, a: &SpliceAttempt) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO splice_attempts (task_id, attempt, started_at, duration_ms, outcome, reason)
         SELECT $1, $2, $3, $4, $5, $6 WHERE EXISTS (SELECT 1 FROM tasks WHERE task_id = $1)",
    )
    .bind(task_id)
    .bind(a.attempt)
    .bind(a.started_at)
    .bind(a.duration_ms)
    .bind(&a.outcome)
    .bind(&a.reason)
    .execute(db)
    .await
    .map(drop)
}

/// The task's runs, oldest first (at most the latest 100).
pub async fn for_task(db: impl PgExecutor<'_>, task_id: &str) -> sqlx::Result<Vec<SpliceAttempt>> {
    let mut rows: Vec<SpliceAttempt> = sqlx::query_as(
        "SELECT attempt, started_at, duration_ms, outcome, reason FROM splice_attempts
         WHERE task_id = $1 ORDER BY id DESC LIMIT 100",
    )
    .bind(task_id)
    .fetch_all(db)
    .await?;
    rows.reverse();
    Ok(rows)
}
