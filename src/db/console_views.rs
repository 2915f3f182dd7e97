//! What the admin console reads: recordings by search (keyset paging), recordings in progress with
//! their open uploads, and a task's timeline (slices, open uploads, the splice job).

use chrono::{DateTime, Utc};
use sqlx::{FromRow, PgExecutor};

use super::tasks::Task;

use super::tasks::COLUMNS as TASK_COLUMNS;

/// The console's recording search: every task of one app (any state), each filter optional.
#[derive(Debug, Default)]
pub struct Search<'a> {
    pub sdk_app_id: i64,
    pub class_id: Option<i64>,
    pub user_id: Option<&'a str>,
    pub task_id: Option<&'a str>,
    /// start_time >= from
    pub from: Option<DateTime<Utc>>,
    /// start_time < until
    pub until: Option<DateTime<Utc>>,
}

/// One page, newest first, after the keyset `(start_time, task_id)` of the previous page's last
/// row. Only the filters given reach the SQL (no `$n IS NULL OR ...`, which a generic plan cannot
/// use an index for), so each combination walks an existing index backwards (`tasks_by_class`,
/// `tasks_by_user`, `tasks_by_start`, the primary key for a task id) and stops after `limit` rows:
/// page 1 and page 10,000 cost the same, whatever the table's size.
pub async fn search(
    db: impl PgExecutor<'_>,
    s: &Search<'_>,
    after: Option<(DateTime<Utc>, &str)>,
    limit: i64,
) -> sqlx::Result<Vec<Task>> {
    let mut q = sqlx::QueryBuilder::new(format!("SELECT {TASK_COLUMNS} FROM tasks WHERE sdk_app_id = "));
    q.push_bind(s.sdk_app_id);
    if let Some(c) = s.class_id {
        q.push(" AND class_id = ").push_bind(c);
    }
    if let Some(u) = s.user_id {
        q.push(" AND user_id = ").push_bind(u);
    }
    if let Some(t) = s.task_id {
        q.push(" AND task_id = ").push_bind(t);
    }
    if let Some(f) = s.from {
        q.push(" AND start_time >= ").push_bind(f);
    }
    if let Some(u) = s.until {
        q.push(" AND start_time < ").push_bind(u);
    }
    if let Some((t, id)) = after {
        // The row comparison for the order, plus the plain bound an index on start_time alone
        // (tasks_by_user, tasks_by_start) can start its backward scan from.
        q.push(" AND start_time <= ").push_bind(t);
        q.push(" AND (start_time, task_id) < (").push_bind(t);
        q.push(", ").push_bind(id).push(")");
    }
    q.push(" ORDER BY start_time DESC, task_id DESC LIMIT ")
        .push_bind(limit);
    q.build_query_as().fetch_all(db).await
}

/// A recording in progress, with its open uploads summed.
#[derive(Debug, Clone, FromRow)]
pub struct Live {
    pub task_id: String,
    pub class_id: i64,
    pub user_id: String,
    pub state: String,
    pub start_time: DateTime<Utc>,
    pub last_activity: DateTime<Utc>,
    pub slice_count: Option<i32>,
    pub slices_stored: i64,
    pub open_uploads: i64,
    /// Bytes received by the open uploads.
    pub received: i64,
    /// Declared length of the open uploads.
    pub length: i64,
}

/// Tasks recording, paused or waiting for slices (through the `tasks_idle` partial index, which
/// holds exactly these), at most `limit`, newest first.
pub async fn live(db: impl PgExecutor<'_>, sdk_app_id: i64, limit: i64) -> sqlx::Result<Vec<Live>> {
    sqlx::query_as(
        "SELECT t.task_id, t.class_id, t.user_id, t.state, t.start_time, t.last_activity, t.slice_count,
                (SELECT count(*) FROM slices s WHERE s.task_id = t.task_id) AS slices_stored,
                count(u.id) AS open_uploads,
                coalesce(sum(u.\"offset\"), 0)::bigint AS received,
                coalesce(sum(u.length), 0)::bigint AS length
         FROM tasks t LEFT JOIN uploads u ON u.task_id = t.task_id AND u.state = 'receiving'
         WHERE t.state IN ('recording', 'paused', 'uploading') AND t.sdk_app_id = $1
         GROUP BY t.task_id ORDER BY t.start_time DESC, t.task_id DESC LIMIT $2",
    )
    .bind(sdk_app_id)
    .bind(limit)
    .fetch_all(db)
    .await
}

/// A stored slice, for the timeline.
#[derive(Debug, Clone, FromRow)]
pub struct StoredSlice {
    pub slice_index: i32,
    pub size: i64,
    pub md5: String,
    pub stored_at: DateTime<Utc>,
}

pub async fn stored_slices(db: impl PgExecutor<'_>, task_id: &str) -> sqlx::Result<Vec<StoredSlice>> {
    sqlx::query_as("SELECT slice_index, size, md5, stored_at FROM slices WHERE task_id = $1 ORDER BY slice_index")
        .bind(task_id)
        .fetch_all(db)
        .await
}

/// An upload still receiving (finished ones become slices and their rows go).
#[derive(Debug, Clone, FromRow)]
pub struct OpenUpload {
    pub slice_index: Option<i32>,
    pub offset: i64,
    pub length: i64,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

pub async fn open_uploads(db: impl PgExecutor<'_>, task_id: &str) -> sqlx::Result<Vec<OpenUpload>> {
    sqlx::query_as(
        "SELECT slice_index, \"offset\", length, created_at, expires_at FROM uploads
         WHERE task_id = $1 AND state = 'receiving' ORDER BY slice_index, created_at",
    )
    .bind(task_id)
    .fetch_all(db)
    .await
}

/// The task's splice job: the queue keeps one row per task (`splice:{task_id}`), re-armed by each
/// re-splice, with its attempts and the last error.
#[derive(Debug, Clone, FromRow)]
pub struct SpliceJob {
    pub state: String,
    pub attempts: i32,
    pub max_attempts: i32,
    pub last_error: Option<String>,
    pub run_at: DateTime<Utc>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

pub async fn splice_job(db: impl PgExecutor<'_>, task_id: &str) -> sqlx::Result<Option<SpliceJob>> {
    sqlx::query_as(
        "SELECT state, attempts, max_attempts, last_error, run_at, created_at, updated_at FROM jobs WHERE unique_key = $1",
    )
    .bind(format!("splice:{task_id}"))
    .fetch_optional(db)
    .await
}

/// When the task was stopped and last heard from.
pub async fn task_times(
    db: impl PgExecutor<'_>,
    task_id: &str,
) -> sqlx::Result<Option<(Option<DateTime<Utc>>, DateTime<Utc>)>> {
    sqlx::query_as("SELECT stopped_at, last_activity FROM tasks WHERE task_id = $1")
        .bind(task_id)
        .fetch_optional(db)
        .await
}

/// An app's retention in days (None: kept forever), for the apps page.
pub async fn retention_days(db: impl PgExecutor<'_>, sdk_app_id: i64) -> sqlx::Result<Option<i32>> {
    let row: Option<(Option<i32>,)> = sqlx::query_as("SELECT retention_days FROM apps WHERE sdk_app_id = $1")
        .bind(sdk_app_id)
        .fetch_optional(db)
        .await?;
    Ok(row.and_then(|r| r.0))
}
