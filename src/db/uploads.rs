//! `uploads` and `upload_parts`: tus upload state, shared by every server instance.
//!
//! The committed offset only moves in [`commit_part`], atomically with the part row, and only if the
//! offset is still the one the PATCH started from. Two racing PATCHes (on one instance or two) can
//! therefore never both land: the loser's part object is deleted by its caller. Uploads into the fs
//! store append to one file instead and move the offset in [`commit_append`], with the running MD5.

use chrono::{DateTime, Utc};
use sqlx::{FromRow, PgExecutor};
use uuid::Uuid;

/// `uploads.state`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UploadState {
    /// Bytes may still arrive.
    Receiving,
    /// Every byte arrived and the slice (or the partial upload) is stored.
    Complete,
}

impl UploadState {
    pub fn as_str(self) -> &'static str {
        match self {
            UploadState::Receiving => "receiving",
            UploadState::Complete => "complete",
        }
    }

    pub fn parse(s: &str) -> Option<UploadState> {
        [UploadState::Receiving, UploadState::Complete]
            .into_iter()
            .find(|u| u.as_str() == s)
    }
}

super::text_enum::stored_as_text!(UploadState, "upload state");

/// `uploads.concat`: how the upload takes part in tus concatenation (a final one lists its partial
/// uploads in `concat_parts`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConcatKind {
    /// A plain upload.
    None,
    /// A piece of a later final upload.
    Partial,
    /// The join of `concat_parts`; takes no PATCH.
    Final,
}

impl ConcatKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ConcatKind::None => "none",
            ConcatKind::Partial => "partial",
            ConcatKind::Final => "final",
        }
    }

    pub fn parse(s: &str) -> Option<ConcatKind> {
        [ConcatKind::None, ConcatKind::Partial, ConcatKind::Final]
            .into_iter()
            .find(|c| c.as_str() == s)
    }
}

super::text_enum::stored_as_text!(ConcatKind, "upload concatenation");

#[derive(Debug, Clone, FromRow)]
pub struct Upload {
    pub id: Uuid,
    pub sdk_app_id: i64,
    pub user_id: String,
    pub task_id: Option<String>,
    pub slice_index: Option<i32>,
    pub filename: Option<String>,
    pub metadata: Option<String>,
    pub concat: ConcatKind,
    pub concat_parts: Option<Vec<Uuid>>,
    pub length: i64,
    pub offset: i64,
    pub state: UploadState,
    pub md5: Option<String>,
    pub expires_at: DateTime<Utc>,
    /// The recording key id an encrypted slice's bytes are sealed with (tus metadata `key_id`,
    /// checked at creation); None for a plain slice.
    pub key_id: Option<String>,
}

impl Upload {
    pub fn is_partial(&self) -> bool {
        self.concat == ConcatKind::Partial
    }
    pub fn is_final(&self) -> bool {
        self.concat == ConcatKind::Final
    }
    pub fn is_complete(&self) -> bool {
        self.state == UploadState::Complete
    }
}

#[derive(Debug, Clone, FromRow)]
pub struct Part {
    pub offset: i64,
    pub length: i64,
    pub object_key: String,
    pub md5: String,
}

const COLUMNS: &str = "id, sdk_app_id, user_id, task_id, slice_index, filename, metadata, concat, concat_parts, length, \"offset\", state, md5, expires_at, key_id";

pub async fn insert(db: impl PgExecutor<'_>, u: &Upload) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO uploads (id, sdk_app_id, user_id, task_id, slice_index, filename, metadata, concat, concat_parts, length, \"offset\", state, expires_at, key_id)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)",
    )
    .bind(u.id)
    .bind(u.sdk_app_id)
    .bind(&u.user_id)
    .bind(&u.task_id)
    .bind(u.slice_index)
    .bind(&u.filename)
    .bind(&u.metadata)
    .bind(u.concat)
    .bind(&u.concat_parts)
    .bind(u.length)
    .bind(u.offset)
    .bind(u.state)
    .bind(u.expires_at)
    .bind(&u.key_id)
    .execute(db)
    .await
    .map(|_| ())
}

pub async fn get(db: impl PgExecutor<'_>, id: Uuid) -> sqlx::Result<Option<Upload>> {
    sqlx::query_as(&format!("SELECT {COLUMNS} FROM uploads WHERE id = $1"))
        .bind(id)
        .fetch_optional(db)
        .await
}

pub async fn get_many(db: impl PgExecutor<'_>, ids: &[Uuid]) -> sqlx::Result<Vec<Upload>> {
    sqlx::query_as(&format!("SELECT {COLUMNS} FROM uploads WHERE id = ANY($1)"))
        .bind(ids)
        .fetch_all(db)
        .await
}

/// Adds a received part at `offset` if the upload is still at `offset`, with the running MD5 state
/// of the bytes up to the part's end when the upload keeps one. Returns the new offset, or None
/// when another request moved it first (or the upload is gone or complete).
pub async fn commit_part(
    db: &mut sqlx::PgConnection,
    id: Uuid,
    offset: i64,
    part: &Part,
    md5_state: Option<&[u8]>,
    expires_at: DateTime<Utc>,
) -> sqlx::Result<Option<i64>> {
    let mut tx = sqlx::Connection::begin(db).await?;
    let new: Option<(i64,)> = sqlx::query_as(
        "UPDATE uploads SET \"offset\" = \"offset\" + $3, expires_at = $4, md5_state = coalesce($5, md5_state)
         WHERE id = $1 AND \"offset\" = $2 AND state = 'receiving' RETURNING \"offset\"",
    )
    .bind(id)
    .bind(offset)
    .bind(part.length)
    .bind(expires_at)
    .bind(md5_state)
    .fetch_optional(&mut *tx)
    .await?;
    let Some((new_offset,)) = new else {
        return Ok(None);
    };
    sqlx::query(
        "INSERT INTO upload_parts (upload_id, \"offset\", length, object_key, md5) VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(id)
    .bind(offset)
    .bind(part.length)
    .bind(&part.object_key)
    .bind(&part.md5)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(Some(new_offset))
}

/// What a PATCH into an append file (fs store) rereads under the file's lock, and what the finisher
/// needs to know whether an upload appended.
#[derive(Debug, Clone, FromRow)]
pub struct AppendState {
    pub offset: i64,
    pub length: i64,
    pub state: UploadState,
    /// true once a chunk was appended (the upload then has no `upload_parts` rows)
    pub append: bool,
    /// serialized running MD5 of bytes [0, offset)
    pub md5_state: Option<Vec<u8>>,
    /// bytes of the file known durable, and the MD5 state there
    pub synced_offset: i64,
    pub synced_md5_state: Option<Vec<u8>>,
    /// boot id of the host that committed bytes past `synced_offset`
    pub write_boot: Option<String>,
}

impl AppendState {
    /// Bytes past the last sync committed in another boot (of this host, or by another host): an
    /// OS crash may have lost them.
    pub fn unsafe_tail(&self, boot: &str) -> bool {
        self.append && self.synced_offset < self.offset && self.write_boot.as_deref() != Some(boot)
    }

    pub fn is_receiving(&self) -> bool {
        self.state == UploadState::Receiving
    }
}

pub async fn append_state(db: impl PgExecutor<'_>, id: Uuid) -> sqlx::Result<Option<AppendState>> {
    sqlx::query_as(
        "SELECT \"offset\", length, state, append, md5_state, synced_offset, synced_md5_state, write_boot
         FROM uploads WHERE id = $1",
    )
    .bind(id)
    .fetch_optional(db)
    .await
}

/// Bytes appended to an upload's file, as [`commit_append`] records them.
#[derive(Debug, Clone, Copy)]
pub struct Appended<'a> {
    /// Where they were appended: the upload's offset they expect.
    pub offset: i64,
    pub length: i64,
    /// The running MD5 state of bytes [0, offset + length).
    pub md5_state: &'a [u8],
    /// The file was fdatasync'd up to the new offset; otherwise `boot` is recorded as the boot
    /// those unsynced bytes belong to.
    pub synced: bool,
    pub boot: &'a str,
    pub expires_at: DateTime<Utc>,
}

/// Commits the bytes `a` appended, if the upload is still receiving at `a.offset`. Returns the
/// new offset, or None.
pub async fn commit_append(db: impl PgExecutor<'_>, id: Uuid, a: &Appended<'_>) -> sqlx::Result<Option<i64>> {
    let new: Option<(i64,)> = sqlx::query_as(
        "UPDATE uploads SET \"offset\" = \"offset\" + $3, append = true, md5_state = $4, expires_at = $5,
             synced_offset = CASE WHEN $6 THEN \"offset\" + $3 ELSE synced_offset END,
             synced_md5_state = CASE WHEN $6 THEN $4 ELSE synced_md5_state END,
             write_boot = CASE WHEN $6 THEN NULL ELSE $7 END
         WHERE id = $1 AND \"offset\" = $2 AND state = 'receiving' RETURNING \"offset\"",
    )
    .bind(id)
    .bind(a.offset)
    .bind(a.length)
    .bind(a.md5_state)
    .bind(a.expires_at)
    .bind(a.synced)
    .bind(a.boot)
    .fetch_optional(db)
    .await?;
    Ok(new.map(|n| n.0))
}

/// Gives back the bytes past the last sync (see [`AppendState::unsafe_tail`]): the offset and MD5
/// return to the synced ones, if the upload is still at `offset`.
pub async fn roll_back_to_synced(db: impl PgExecutor<'_>, id: Uuid, offset: i64) -> sqlx::Result<bool> {
    let r = sqlx::query(
        "UPDATE uploads SET \"offset\" = synced_offset, md5_state = synced_md5_state, write_boot = NULL
         WHERE id = $1 AND \"offset\" = $2 AND state = 'receiving'",
    )
    .bind(id)
    .bind(offset)
    .execute(db)
    .await?;
    Ok(r.rows_affected() == 1)
}

pub async fn parts(db: impl PgExecutor<'_>, id: Uuid) -> sqlx::Result<Vec<Part>> {
    sqlx::query_as(
        "SELECT \"offset\", length, object_key, md5 FROM upload_parts WHERE upload_id = $1 ORDER BY \"offset\"",
    )
    .bind(id)
    .fetch_all(db)
    .await
}

/// Marks a receiving upload complete; false if it already was (another finisher won).
pub async fn mark_complete(db: impl PgExecutor<'_>, id: Uuid, md5: Option<&str>) -> sqlx::Result<bool> {
    let r = sqlx::query("UPDATE uploads SET state = 'complete', md5 = $2 WHERE id = $1 AND state = 'receiving'")
        .bind(id)
        .bind(md5)
        .execute(db)
        .await?;
    Ok(r.rows_affected() == 1)
}

pub async fn touch(db: impl PgExecutor<'_>, id: Uuid, expires_at: DateTime<Utc>) -> sqlx::Result<()> {
    sqlx::query("UPDATE uploads SET expires_at = $2 WHERE id = $1")
        .bind(id)
        .bind(expires_at)
        .execute(db)
        .await
        .map(|_| ())
}

pub async fn delete(db: impl PgExecutor<'_>, ids: &[Uuid]) -> sqlx::Result<u64> {
    Ok(sqlx::query("DELETE FROM uploads WHERE id = ANY($1)")
        .bind(ids)
        .execute(db)
        .await?
        .rows_affected())
}

/// Forgets an upload's part rows (its parts were assembled into a slice).
pub async fn delete_parts(db: impl PgExecutor<'_>, id: Uuid) -> sqlx::Result<()> {
    sqlx::query("DELETE FROM upload_parts WHERE upload_id = $1")
        .bind(id)
        .execute(db)
        .await?;
    Ok(())
}

/// Uploads past their expiry, oldest first.
pub async fn expired(db: impl PgExecutor<'_>, limit: i64) -> sqlx::Result<Vec<Uuid>> {
    let rows: Vec<(Uuid,)> =
        sqlx::query_as("SELECT id FROM uploads WHERE expires_at < now() ORDER BY expires_at LIMIT $1")
            .bind(limit)
            .fetch_all(db)
            .await?;
    Ok(rows.into_iter().map(|r| r.0).collect())
}

/// Uploads that received every byte but whose slice was never stored (the finisher crashed or
/// failed) and that nobody touched for `idle_secs`.
pub async fn stuck_complete(db: impl PgExecutor<'_>, idle_secs: i64, expiry_secs: i64) -> sqlx::Result<Vec<Uuid>> {
    let rows: Vec<(Uuid,)> = sqlx::query_as(
        "SELECT id FROM uploads WHERE state = 'receiving' AND concat <> 'partial' AND \"offset\" = length
         AND expires_at < now() + make_interval(secs => $2 - $1) LIMIT 100",
    )
    .bind(idle_secs as f64)
    .bind(expiry_secs as f64)
    .fetch_all(db)
    .await?;
    Ok(rows.into_iter().map(|r| r.0).collect())
}

/// Which of these ids have an upload row (for the orphan sweep of the store).
pub async fn existing(db: impl PgExecutor<'_>, ids: &[Uuid]) -> sqlx::Result<Vec<Uuid>> {
    let rows: Vec<(Uuid,)> = sqlx::query_as("SELECT id FROM uploads WHERE id = ANY($1)")
        .bind(ids)
        .fetch_all(db)
        .await?;
    Ok(rows.into_iter().map(|r| r.0).collect())
}

/// Open (receiving) uploads of a task, for its status.
pub async fn open_for_task(db: impl PgExecutor<'_>, task_id: &str) -> sqlx::Result<Vec<Upload>> {
    sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM uploads WHERE task_id = $1 AND state = 'receiving' ORDER BY slice_index, \"offset\" DESC"
    ))
    .bind(task_id)
    .fetch_all(db)
    .await
}
