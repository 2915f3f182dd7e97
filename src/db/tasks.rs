//! `tasks`: one recording of one user in one class.

use chrono::{DateTime, Utc};
use sqlx::{FromRow, PgExecutor};

#[derive(Debug, Clone, FromRow)]
pub struct Task {
    pub task_id: String,
    pub sdk_app_id: i64,
    pub class_id: i64,
    pub user_id: String,
    pub state: String,
    pub params: serde_json::Value,
    pub slice_count: Option<i32>,
    pub start_time: DateTime<Utc>,
}

const COLUMNS: &str = "task_id, sdk_app_id, class_id, user_id, state, params, slice_count, start_time";

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
pub async fn transition(db: impl PgExecutor<'_>, task_id: &str, from: &[&str], to: &str) -> sqlx::Result<Option<Task>> {
    let from: Vec<String> = from.iter().map(|s| s.to_string()).collect();
    sqlx::query_as(&format!(
        "UPDATE tasks SET state = $3, updated_at = now() WHERE task_id = $1 AND state = ANY($2) RETURNING {COLUMNS}"
    ))
    .bind(task_id)
    .bind(&from)
    .bind(to)
    .fetch_optional(db)
    .await
}

/// Records the stop: slice count declared, state `uploading`. Only from recording or paused.
pub async fn stop(db: impl PgExecutor<'_>, task_id: &str, slice_count: i32) -> sqlx::Result<Option<Task>> {
    sqlx::query_as(&format!(
        "UPDATE tasks SET state = 'uploading', slice_count = $2, stopped_at = now(), updated_at = now()
         WHERE task_id = $1 AND state IN ('recording', 'paused') RETURNING {COLUMNS}"
    ))
    .bind(task_id)
    .bind(slice_count)
    .fetch_optional(db)
    .await
}
