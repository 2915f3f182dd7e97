//! Removing a task's rows for good (an admin's delete, retention), and finding what retention is
//! due to remove.

use sqlx::PgConnection;
use uuid::Uuid;

/// What a removed task left in the store: objects to delete, upload prefixes to empty.
#[derive(Debug, Default)]
pub struct Removed {
    pub sdk_app_id: i64,
    pub object_keys: Vec<String>,
    pub uploads: Vec<Uuid>,
}

/// Deletes the task with its slices, uploads, jobs and delivery log, inside the caller's
/// transaction; None when there is no such task. The task row is locked first, so a splice
/// publishing at the same moment either commits before (and its MP4 is in `object_keys`) or finds
/// the task gone.
pub async fn remove_task(tx: &mut PgConnection, task_id: &str) -> sqlx::Result<Option<Removed>> {
    let Some((sdk_app_id, mp4)): Option<(i64, Option<String>)> =
        sqlx::query_as("SELECT sdk_app_id, video_output_key FROM tasks WHERE task_id = $1 FOR UPDATE")
            .bind(task_id)
            .fetch_optional(&mut *tx)
            .await?
    else {
        return Ok(None);
    };
    let mut object_keys: Vec<String> = sqlx::query_scalar("SELECT object_key FROM slices WHERE task_id = $1")
        .bind(task_id)
        .fetch_all(&mut *tx)
        .await?;
    object_keys.extend(mp4);
    let uploads: Vec<Uuid> = sqlx::query_scalar("SELECT id FROM uploads WHERE task_id = $1")
        .bind(task_id)
        .fetch_all(&mut *tx)
        .await?;
    // Its jobs: the splice (a run in progress loses its claim and publishes nothing), the
    // composition of its parts (a run in progress finds the task gone and deletes what it made)
    // and callbacks not yet delivered (their URL would point at nothing).
    sqlx::query(
        "DELETE FROM jobs WHERE unique_key IN ('splice:' || $1, 'compose:' || $1)
            OR (kind = 'callback' AND payload->>'task_id' = $1)",
    )
    .bind(task_id)
    .execute(&mut *tx)
    .await?;
    // Slices, uploads and their parts, and callback attempts go with it (ON DELETE CASCADE).
    sqlx::query("DELETE FROM tasks WHERE task_id = $1")
        .bind(task_id)
        .execute(&mut *tx)
        .await?;
    Ok(Some(Removed {
        sdk_app_id,
        object_keys,
        uploads,
    }))
}

/// Finished recordings past their app's retention, oldest first.
pub async fn expired(db: &sqlx::PgPool, limit: i64) -> sqlx::Result<Vec<(String, i64, i32)>> {
    sqlx::query_as(
        "SELECT t.task_id, t.sdk_app_id, a.retention_days FROM tasks t JOIN apps a USING (sdk_app_id)
         WHERE a.retention_days IS NOT NULL
           AND t.start_time < now() - make_interval(days => a.retention_days)
           AND t.state IN ('done', 'partial', 'failed')
         ORDER BY t.start_time LIMIT $1",
    )
    .bind(limit)
    .fetch_all(db)
    .await
}

/// Sets (or with None clears) an app's retention; false when there is no such app.
pub async fn set_retention(db: &sqlx::PgPool, sdk_app_id: i64, days: Option<i32>) -> sqlx::Result<bool> {
    let r = sqlx::query("UPDATE apps SET retention_days = $2 WHERE sdk_app_id = $1")
        .bind(sdk_app_id)
        .bind(days)
        .execute(db)
        .await?;
    Ok(r.rows_affected() == 1)
}
