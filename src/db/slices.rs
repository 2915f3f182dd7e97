//! `slices`: slices stored whole and verified, one per (task, index).

use sqlx::{FromRow, PgExecutor};
use uuid::Uuid;

#[derive(Debug, Clone, FromRow, PartialEq)]
pub struct Slice {
    pub task_id: String,
    pub slice_index: i32,
    pub size: i64,
    pub md5: String,
    pub object_key: String,
    pub filename: Option<String>,
    pub upload_id: Uuid,
    /// The recording key id the slice's bytes are encrypted with; None for a plain slice.
    pub key_id: Option<String>,
}

const COLUMNS: &str = "task_id, slice_index, size, md5, object_key, filename, upload_id, key_id";

/// Inserts the slice unless one is already stored at (task, index); returns the stored one either way.
pub async fn insert_or_get(db: &mut sqlx::PgConnection, s: &Slice) -> sqlx::Result<Slice> {
    let inserted: Option<Slice> = sqlx::query_as(&format!(
        "INSERT INTO slices (task_id, slice_index, size, md5, object_key, filename, upload_id, key_id)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (task_id, slice_index) DO NOTHING
         RETURNING {COLUMNS}"
    ))
    .bind(&s.task_id)
    .bind(s.slice_index)
    .bind(s.size)
    .bind(&s.md5)
    .bind(&s.object_key)
    .bind(&s.filename)
    .bind(s.upload_id)
    .bind(&s.key_id)
    .fetch_optional(&mut *db)
    .await?;
    match inserted {
        Some(s) => Ok(s),
        None => Ok(get(&mut *db, &s.task_id, s.slice_index)
            .await?
            .expect("conflicting row exists")),
    }
}

pub async fn get(db: impl PgExecutor<'_>, task_id: &str, index: i32) -> sqlx::Result<Option<Slice>> {
    sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM slices WHERE task_id = $1 AND slice_index = $2"
    ))
    .bind(task_id)
    .bind(index)
    .fetch_optional(db)
    .await
}

pub async fn for_task(db: impl PgExecutor<'_>, task_id: &str) -> sqlx::Result<Vec<Slice>> {
    sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM slices WHERE task_id = $1 ORDER BY slice_index"
    ))
    .bind(task_id)
    .fetch_all(db)
    .await
}

/// Whether the task has a stored slice or an open upload of the other kind than `encrypted`.
pub async fn other_kind_exists(db: impl PgExecutor<'_>, task_id: &str, encrypted: bool) -> sqlx::Result<bool> {
    sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM slices WHERE task_id = $1 AND (key_id IS NOT NULL) <> $2)
             OR EXISTS (SELECT 1 FROM uploads WHERE task_id = $1 AND state = 'receiving'
                        AND (key_id IS NOT NULL) <> $2)",
    )
    .bind(task_id)
    .bind(encrypted)
    .fetch_one(db)
    .await
}

/// Which of `keys` a slice or a recording row refers to (the rest are orphans).
pub async fn referenced(db: impl PgExecutor<'_>, keys: &[String]) -> sqlx::Result<Vec<String>> {
    let rows: Vec<(String,)> = sqlx::query_as(
        "SELECT object_key FROM slices WHERE object_key = ANY($1)
         UNION SELECT video_output_key FROM tasks WHERE video_output_key = ANY($1)",
    )
    .bind(keys)
    .fetch_all(db)
    .await?;
    Ok(rows.into_iter().map(|r| r.0).collect())
}
