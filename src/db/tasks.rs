//! `tasks`: one recording of one user in one class.

pub use super::task_state::TaskState;
use crate::store::parts::Extent;
use chrono::{DateTime, Utc};
use sqlx::{FromRow, PgExecutor};

#[derive(Debug, Clone, FromRow)]
pub struct Task {
    pub task_id: String,
    pub sdk_app_id: i64,
    pub class_id: i64,
    pub user_id: String,
    pub state: TaskState,
    pub params: serde_json::Value,
    pub slice_count: Option<i32>,
    pub start_time: DateTime<Utc>,
    pub video_output_id: Option<String>,
    pub video_output_key: Option<String>,
    pub video_output_size: Option<i64>,
    pub video_output_duration_ms: Option<i64>,
    pub splic_time: Option<DateTime<Utc>>,
    pub splice_ms: Option<i64>,
    pub failure_reason: Option<String>,
    pub missing_slices: Vec<i32>,
    /// The recording key id the MP4 is encrypted with (issue 14); None for a plain MP4.
    pub video_key_id: Option<String>,
    /// Set while the recording is served from several objects (`store::parts`), until the store
    /// has made them the one object at `video_output_key` (`jobs::compose`).
    pub video_output_parts: Option<serde_json::Value>,
}

impl Task {
    /// The objects the recording is read from, while it is not yet one object.
    pub fn parts(&self) -> Option<Vec<Extent>> {
        self.video_output_parts
            .as_ref()
            .and_then(|v| serde_json::from_value(v.clone()).ok())
    }
}

pub(crate) const COLUMNS: &str = "task_id, sdk_app_id, class_id, user_id, state, params, slice_count, start_time, video_output_id, video_output_key, video_output_size, video_output_duration_ms, splic_time, splice_ms, failure_reason, missing_slices, video_key_id, video_output_parts";

pub async fn insert(
    db: impl PgExecutor<'_>,
    task_id: &str,
    sdk_app_id: i64,
    class_id: i64,
    user_id: &str,
    params: &serde_json::Value,
) -> sqlx::Result<()> {
    sqlx::query("INSERT INTO tasks (task_id, sdk_app_id, class_id, user_id, params) VALUES ($1, $2, $3, $4, $5)")
        .bind(task_id)
        .bind(sdk_app_id)
        .bind(class_id)
        .bind(user_id)
        .bind(params)
        .execute(db)
        .await
        .map(|_| ())
}

pub async fn get(db: impl PgExecutor<'_>, task_id: &str) -> sqlx::Result<Option<Task>> {
    sqlx::query_as(&format!("SELECT {COLUMNS} FROM tasks WHERE task_id = $1"))
        .bind(task_id)
        .fetch_optional(db)
        .await
}

/// Moves the task from one of `from` to `to`; None when it was in none of them.
pub async fn transition(
    db: impl PgExecutor<'_>,
    task_id: &str,
    from: &[TaskState],
    to: TaskState,
) -> sqlx::Result<Option<Task>> {
    let from: Vec<&str> = from.iter().map(|s| s.as_str()).collect();
    sqlx::query_as(&format!(
        "UPDATE tasks SET state = $3, updated_at = now(), last_activity = now() WHERE task_id = $1 AND state = ANY($2) RETURNING {COLUMNS}"
    ))
    .bind(task_id)
    .bind(&from)
    .bind(to)
    .fetch_optional(db)
    .await
}

/// Records the stop: slice count declared, state `uploading`. From recording or paused, and from
/// a result made without a stop (the task was spliced as abandoned while its recorder was away:
/// the late stop re-splices it, under the same VideoOutputId, once every slice is there).
pub async fn stop(db: impl PgExecutor<'_>, task_id: &str, slice_count: i32) -> sqlx::Result<Option<Task>> {
    sqlx::query_as(&format!(
        "UPDATE tasks SET state = 'uploading', slice_count = $2, stopped_at = now(), updated_at = now(), last_activity = now()
         WHERE task_id = $1 AND (state IN ('recording', 'paused')
               OR (slice_count IS NULL AND state IN ('splicing', 'done', 'partial', 'failed')))
         RETURNING {COLUMNS}"
    ))
    .bind(task_id)
    .bind(slice_count)
    .fetch_optional(db)
    .await
}

pub async fn set_state(db: impl PgExecutor<'_>, task_id: &str, state: TaskState) -> sqlx::Result<()> {
    sqlx::query("UPDATE tasks SET state = $2, updated_at = now() WHERE task_id = $1")
        .bind(task_id)
        .bind(state)
        .execute(db)
        .await
        .map(|_| ())
}

/// The recorder or a slice showed up: the task is not idle.
pub async fn touch(db: impl PgExecutor<'_>, task_id: &str) -> sqlx::Result<()> {
    sqlx::query("UPDATE tasks SET last_activity = now() WHERE task_id = $1")
        .bind(task_id)
        .execute(db)
        .await
        .map(|_| ())
}

/// Tasks still waiting for their recorder (recording, paused, or stopped with slices missing) and
/// silent for `idle_secs`, or for twice their own `SliceTime` when that is longer (a recorder
/// that sends no keep-alives is silent for a whole slice).
pub async fn idle(db: impl PgExecutor<'_>, idle_secs: f64) -> sqlx::Result<Vec<String>> {
    let rows: Vec<(String,)> = sqlx::query_as(
        "SELECT task_id FROM tasks WHERE state IN ('recording', 'paused', 'uploading')
         AND last_activity < now() - make_interval(secs => $1)
         AND last_activity < now() - make_interval(secs => 2 * CASE WHEN jsonb_typeof(params->'SliceTime') = 'number'
                 THEN least((params->>'SliceTime')::float8, 86400) ELSE 0 END)
         ORDER BY last_activity LIMIT 100",
    )
    .bind(idle_secs)
    .fetch_all(db)
    .await?;
    Ok(rows.into_iter().map(|r| r.0).collect())
}

/// The outcome of a splice.
#[derive(Debug, Clone)]
pub struct SpliceResult {
    pub video_output_id: String,
    pub video_output_key: String,
    pub size: i64,
    pub duration_ms: i64,
    pub splice_ms: i64,
    /// Done or Partial.
    pub state: TaskState,
    pub missing_slices: Vec<i32>,
    /// The key id the MP4 is encrypted with; None for a plain one.
    pub key_id: Option<String>,
    /// The objects the MP4 is read from until it is composed at `video_output_key`; None when it
    /// is stored there already.
    pub parts: Option<Vec<Extent>>,
}

/// Records a splice; returns the key of the MP4 it replaces, if any. Run it in the transaction
/// that checked the job's fencing token.
pub async fn record_splice(
    tx: &mut sqlx::PgConnection,
    task_id: &str,
    r: &SpliceResult,
) -> sqlx::Result<Option<String>> {
    let old: Option<(Option<String>,)> =
        sqlx::query_as("SELECT video_output_key FROM tasks WHERE task_id = $1 FOR UPDATE")
            .bind(task_id)
            .fetch_optional(&mut *tx)
            .await?;
    sqlx::query(
        "UPDATE tasks SET video_output_id = $2, video_output_key = $3, video_output_size = $4,
            video_output_duration_ms = $5, splice_ms = $6, state = $7, missing_slices = $8,
            splic_time = now(), failure_reason = NULL, updated_at = now(), video_key_id = $9,
            video_output_parts = $10
         WHERE task_id = $1",
    )
    .bind(task_id)
    .bind(&r.video_output_id)
    .bind(&r.video_output_key)
    .bind(r.size)
    .bind(r.duration_ms)
    .bind(r.splice_ms)
    .bind(r.state)
    .bind(&r.missing_slices)
    .bind(&r.key_id)
    .bind(r.parts.as_ref().map(|p| serde_json::to_value(p).expect("serialisable")))
    .execute(&mut *tx)
    .await?;
    Ok(old.and_then(|o| o.0))
}

/// The recording is now the one object at `key`: forgets its parts, if the task still records
/// exactly `parts` there (false: a later splice replaced them, or the task is gone).
pub async fn drop_parts(db: impl PgExecutor<'_>, task_id: &str, key: &str, parts: &[Extent]) -> sqlx::Result<bool> {
    let r = sqlx::query(
        "UPDATE tasks SET video_output_parts = NULL, updated_at = now()
         WHERE task_id = $1 AND video_output_key = $2 AND video_output_parts = $3",
    )
    .bind(task_id)
    .bind(key)
    .bind(serde_json::to_value(parts).expect("serialisable"))
    .execute(db)
    .await?;
    Ok(r.rows_affected() == 1)
}

pub async fn mark_failed(db: impl PgExecutor<'_>, task_id: &str, reason: &str) -> sqlx::Result<()> {
    sqlx::query("UPDATE tasks SET state = 'failed', failure_reason = $2, updated_at = now() WHERE task_id = $1")
        .bind(task_id)
        .bind(reason)
        .execute(db)
        .await
        .map(|_| ())
}

pub async fn by_video_output_id(db: impl PgExecutor<'_>, id: &str) -> sqlx::Result<Option<Task>> {
    sqlx::query_as(&format!("SELECT {COLUMNS} FROM tasks WHERE video_output_id = $1"))
        .bind(id)
        .fetch_optional(db)
        .await
}

/// Filters of the query API: one class, optionally one user and/or one task.
pub struct RecordFilter<'a> {
    pub sdk_app_id: i64,
    pub class_id: i64,
    pub user_id: Option<&'a str>,
    pub task_id: Option<&'a str>,
}

const RECORD_WHERE: &str = "sdk_app_id = $1 AND class_id = $2 AND video_output_id IS NOT NULL
     AND ($3::text IS NULL OR user_id = $3) AND ($4::text IS NULL OR task_id = $4)";

/// One page of spliced recordings in a stable order (start time, then task id), and the total.
/// One round trip: the total rides on each row (`count(*) OVER ()` sees every match before the
/// page is cut); only a page past the end needs a second query for it.
pub async fn records(db: &sqlx::PgPool, f: &RecordFilter<'_>, index: i64, size: i64) -> sqlx::Result<(Vec<Task>, i64)> {
    let page: Vec<PagedTask> = sqlx::query_as(&format!(
        "SELECT {COLUMNS}, count(*) OVER () AS total FROM tasks WHERE {RECORD_WHERE}
         ORDER BY start_time, task_id OFFSET $5 LIMIT $6"
    ))
    .bind(f.sdk_app_id)
    .bind(f.class_id)
    .bind(f.user_id)
    .bind(f.task_id)
    .bind(index)
    .bind(size)
    .fetch_all(db)
    .await?;
    if let Some(first) = page.first() {
        let total = first.total;
        return Ok((page.into_iter().map(|p| p.task).collect(), total));
    }
    let (total,): (i64,) = sqlx::query_as(&format!("SELECT count(*) FROM tasks WHERE {RECORD_WHERE}"))
        .bind(f.sdk_app_id)
        .bind(f.class_id)
        .bind(f.user_id)
        .bind(f.task_id)
        .fetch_one(db)
        .await?;
    Ok((Vec::new(), total))
}

#[derive(sqlx::FromRow)]
struct PagedTask {
    #[sqlx(flatten)]
    task: Task,
    total: i64,
}
