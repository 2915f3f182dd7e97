//! `upload_multipart`: an upload into S3 as one S3 multipart upload (see the migration and
//! `ingest::multipart`). Callers hold [`lock`] for the upload around every read-modify-write.

use crate::store::multipart::Part;
use sqlx::{FromRow, PgConnection};
use uuid::Uuid;

#[derive(Debug, Clone, FromRow)]
pub struct Row {
    pub upload_id: Uuid,
    pub object_key: String,
    pub mp_id: String,
    pub parts: sqlx::types::Json<Vec<Part>>,
    pub sent: i64,
}

/// Serialises part sending and completion of one upload, on any instance, until the transaction ends.
pub async fn lock(tx: &mut PgConnection, upload: Uuid) -> sqlx::Result<()> {
    sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended('upload-mp:' || $1::text, 0))")
        .bind(upload)
        .execute(&mut *tx)
        .await?;
    Ok(())
}

pub async fn get(tx: &mut PgConnection, upload: Uuid) -> sqlx::Result<Option<Row>> {
    sqlx::query_as("SELECT upload_id, object_key, mp_id, parts, sent FROM upload_multipart WHERE upload_id = $1")
        .bind(upload)
        .fetch_optional(&mut *tx)
        .await
}

pub async fn insert(tx: &mut PgConnection, upload: Uuid, object_key: &str, mp_id: &str) -> sqlx::Result<()> {
    sqlx::query("INSERT INTO upload_multipart (upload_id, object_key, mp_id) VALUES ($1, $2, $3)")
        .bind(upload)
        .bind(object_key)
        .bind(mp_id)
        .execute(&mut *tx)
        .await?;
    Ok(())
}

/// Records a sent part covering the upload's bytes up to `sent`. The part objects it was made of
/// stay (rows and objects) until the upload is finished: until the multipart upload is completed
/// they are the durable copy of those bytes, and what finishing falls back to.
pub async fn add_part(tx: &mut PgConnection, upload: Uuid, part: &Part, sent: i64) -> sqlx::Result<()> {
    sqlx::query("UPDATE upload_multipart SET parts = parts || $2, sent = $3 WHERE upload_id = $1")
        .bind(upload)
        .bind(sqlx::types::Json(vec![part]))
        .bind(sent)
        .execute(&mut *tx)
        .await?;
    Ok(())
}

pub async fn delete(tx: &mut PgConnection, upload: Uuid) -> sqlx::Result<()> {
    sqlx::query("DELETE FROM upload_multipart WHERE upload_id = $1")
        .bind(upload)
        .execute(&mut *tx)
        .await?;
    Ok(())
}

/// Multipart uploads whose tus upload is gone (terminated, expired, or dropped), to abort.
pub async fn orphans(db: &sqlx::PgPool, limit: i64) -> sqlx::Result<Vec<Row>> {
    sqlx::query_as(
        "SELECT upload_id, object_key, mp_id, parts, sent FROM upload_multipart m
         WHERE NOT EXISTS (SELECT 1 FROM uploads u WHERE u.id = m.upload_id) LIMIT $1",
    )
    .bind(limit)
    .fetch_all(db)
    .await
}

/// The running MD5 state of an upload's committed bytes, and its offset (read together).
pub async fn md5_state(db: impl sqlx::PgExecutor<'_>, upload: Uuid) -> sqlx::Result<Option<(i64, Option<Vec<u8>>)>> {
    sqlx::query_as("SELECT \"offset\", md5_state FROM uploads WHERE id = $1")
        .bind(upload)
        .fetch_optional(db)
        .await
}
