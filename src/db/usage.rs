//! What an app and its users hold now, for the quotas (`crate::quota`).

use sqlx::PgPool;

/// Tasks of a user still recording or paused.
pub async fn open_tasks(db: &PgPool, sdk_app_id: i64, user: &str) -> sqlx::Result<i64> {
    sqlx::query_scalar(
        "SELECT count(*) FROM tasks WHERE sdk_app_id = $1 AND user_id = $2 AND state IN ('recording', 'paused')",
    )
    .bind(sdk_app_id)
    .bind(user)
    .fetch_one(db)
    .await
}

/// Bytes announced (`Upload-Length`) by a user's uploads still receiving.
pub async fn receiving_bytes(db: &PgPool, sdk_app_id: i64, user: &str) -> sqlx::Result<i64> {
    sqlx::query_scalar(
        "SELECT coalesce(sum(length), 0)::bigint FROM uploads WHERE sdk_app_id = $1 AND user_id = $2 AND state = 'receiving'",
    )
    .bind(sdk_app_id)
    .bind(user)
    .fetch_one(db)
    .await
}

/// Bytes an app stores: its slices and its recordings.
pub async fn stored_bytes(db: &PgPool, sdk_app_id: i64) -> sqlx::Result<i64> {
    sqlx::query_scalar(
        "SELECT ((SELECT coalesce(sum(s.size), 0) FROM slices s JOIN tasks t USING (task_id) WHERE t.sdk_app_id = $1)
               + (SELECT coalesce(sum(video_output_size), 0) FROM tasks WHERE sdk_app_id = $1))::bigint",
    )
    .bind(sdk_app_id)
    .fetch_one(db)
    .await
}

/// Jobs of a kind waiting to run (the splice queue's depth).
pub async fn queued_jobs(db: &PgPool, kind: &str) -> sqlx::Result<i64> {
    sqlx::query_scalar("SELECT count(*) FROM jobs WHERE kind = $1 AND state = 'queued'")
        .bind(kind)
        .fetch_one(db)
        .await
}
