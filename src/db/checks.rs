//! `slice_checks`: keyframe verdicts kept per stored slice, so that a slice's keyframes are
//! decoded once (see the migration and `splice::verify`).

use crate::splice::verify::VERDICT_VERSION;
use sqlx::PgExecutor;
use std::collections::HashMap;

/// The task's verdicts of this version: slice index -> ordinals of its keyframes that failed.
pub async fn for_task(db: impl PgExecutor<'_>, task_id: &str) -> sqlx::Result<HashMap<i32, Vec<u32>>> {
    let rows: Vec<(i32, Vec<i32>)> =
        sqlx::query_as("SELECT slice_index, bad_keyframes FROM slice_checks WHERE task_id = $1 AND version = $2")
            .bind(task_id)
            .bind(VERDICT_VERSION)
            .fetch_all(db)
            .await?;
    Ok(rows
        .into_iter()
        .map(|(i, bad)| (i, bad.into_iter().filter_map(|o| u32::try_from(o).ok()).collect()))
        .collect())
}

/// Keeps a slice's verdicts (the first found stay: the slice cannot have changed). A slice deleted
/// meanwhile is not an error: there is nothing to keep them for.
pub async fn save(db: impl PgExecutor<'_>, task_id: &str, slice_index: i32, bad: &[u32]) -> sqlx::Result<()> {
    let bad: Vec<i32> = bad.iter().map(|o| i32::try_from(*o).unwrap_or(i32::MAX)).collect();
    sqlx::query(
        "INSERT INTO slice_checks (task_id, slice_index, version, bad_keyframes)
         SELECT $1, $2, $3, $4 WHERE EXISTS (SELECT 1 FROM slices WHERE task_id = $1 AND slice_index = $2)
         ON CONFLICT (task_id, slice_index) DO UPDATE
           SET version = EXCLUDED.version, bad_keyframes = EXCLUDED.bad_keyframes, checked_at = now()
           WHERE slice_checks.version <> EXCLUDED.version",
    )
    .bind(task_id)
    .bind(slice_index)
    .bind(VERDICT_VERSION)
    .bind(bad)
    .execute(db)
    .await?;
    Ok(())
}
