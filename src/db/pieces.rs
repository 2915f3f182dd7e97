//! `slice_pieces`: slices prepared as they landed, for the stop's assembly (see the migration and
//! `splice::piece`). Callers hold [`lock`] for the task around every read-modify-write.

use sqlx::{FromRow, PgConnection};

#[derive(Debug, Clone, FromRow)]
pub struct PieceRow {
    pub slice_index: i32,
    pub body_offset: i64,
    pub media_len: i64,
    pub meta: serde_json::Value,
    pub samples: Vec<u8>,
    /// Object stores: the object holding the piece's media (None on fs: it is in the body file).
    pub piece_key: Option<String>,
}

/// Serialises everything that touches the task's body file (preparations and the stop), on any
/// instance, until the caller's transaction ends.
/// Waits at most a minute (then the caller's job retries): a holder that froze must not hold up
/// the task's other jobs for longer.
pub async fn lock(tx: &mut PgConnection, task_id: &str) -> sqlx::Result<()> {
    sqlx::query("SET LOCAL lock_timeout = '60s'").execute(&mut *tx).await?;
    sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended('assembly:' || $1, 0))")
        .bind(task_id)
        .execute(&mut *tx)
        .await?;
    Ok(())
}

pub async fn for_task(tx: &mut PgConnection, task_id: &str) -> sqlx::Result<Vec<PieceRow>> {
    sqlx::query_as(
        "SELECT slice_index, body_offset, media_len, meta, samples, piece_key FROM slice_pieces WHERE task_id = $1 ORDER BY slice_index",
    )
    .bind(task_id)
    .fetch_all(&mut *tx)
    .await
}

/// Which slices have a piece, and where the body's valid bytes end.
pub async fn extent(tx: &mut PgConnection, task_id: &str) -> sqlx::Result<(Vec<i32>, i64)> {
    let rows: Vec<(i32, i64)> =
        sqlx::query_as("SELECT slice_index, body_offset + media_len FROM slice_pieces WHERE task_id = $1")
            .bind(task_id)
            .fetch_all(&mut *tx)
            .await?;
    let end = rows.iter().map(|r| r.1).max().unwrap_or(0);
    Ok((rows.into_iter().map(|r| r.0).collect(), end))
}

/// Bytes of packet tables the task's pieces hold.
pub async fn table_bytes(tx: &mut PgConnection, task_id: &str) -> sqlx::Result<i64> {
    sqlx::query_scalar("SELECT coalesce(sum(octet_length(samples)), 0)::bigint FROM slice_pieces WHERE task_id = $1")
        .bind(task_id)
        .fetch_one(&mut *tx)
        .await
}

pub async fn insert(tx: &mut PgConnection, task_id: &str, row: &PieceRow) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO slice_pieces (task_id, slice_index, body_offset, media_len, meta, samples, piece_key)
         VALUES ($1, $2, $3, $4, $5, $6, $7)
         ON CONFLICT (task_id, slice_index) DO UPDATE SET body_offset = EXCLUDED.body_offset,
            media_len = EXCLUDED.media_len, meta = EXCLUDED.meta, samples = EXCLUDED.samples,
            piece_key = EXCLUDED.piece_key, prepared_at = now()",
    )
    .bind(task_id)
    .bind(row.slice_index)
    .bind(row.body_offset)
    .bind(row.media_len)
    .bind(&row.meta)
    .bind(&row.samples)
    .bind(&row.piece_key)
    .execute(&mut *tx)
    .await?;
    Ok(())
}

pub async fn clear(tx: &mut PgConnection, task_id: &str) -> sqlx::Result<()> {
    sqlx::query("DELETE FROM slice_pieces WHERE task_id = $1")
        .bind(task_id)
        .execute(&mut *tx)
        .await?;
    Ok(())
}

/// Object stores: every piece's object and media length, for checking they are still there.
pub async fn objects(tx: &mut PgConnection, task_id: &str) -> sqlx::Result<Vec<(i32, Option<String>, i64)>> {
    sqlx::query_as("SELECT slice_index, piece_key, media_len FROM slice_pieces WHERE task_id = $1")
        .bind(task_id)
        .fetch_all(&mut *tx)
        .await
}

/// Voids one piece (its slice is prepared again).
pub async fn remove(tx: &mut PgConnection, task_id: &str, slice_index: i32) -> sqlx::Result<()> {
    sqlx::query("DELETE FROM slice_pieces WHERE task_id = $1 AND slice_index = $2")
        .bind(task_id)
        .bind(slice_index)
        .execute(&mut *tx)
        .await?;
    Ok(())
}
