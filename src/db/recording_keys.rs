//! `app_recording_keys`: each app's keys for encrypted recordings (the current one and the ones
//! rotations retired, kept so older recordings still decrypt). Keys leave this module only as
//! `localrecord_crypt::Key`, whose Debug shows the key id alone.

use chrono::{DateTime, Utc};
use localrecord_crypt::Key;
use secrecy::{ExposeSecret, SecretString};
use sqlx::PgExecutor;

/// A key's public facts (what `app key show` prints).
#[derive(Debug, Clone, sqlx::FromRow, serde::Serialize)]
pub struct KeyInfo {
    #[serde(rename = "KeyId")]
    pub key_id: String,
    #[serde(rename = "CreatedAt")]
    pub created_at: DateTime<Utc>,
    #[serde(rename = "RetiredAt")]
    pub retired_at: Option<DateTime<Utc>>,
}

/// Adds `key` as the app's current key. Fails (unique violation) if the app has one already.
pub async fn insert_current(db: impl PgExecutor<'_>, sdk_app_id: i64, key: &Key) -> sqlx::Result<()> {
    sqlx::query("INSERT INTO app_recording_keys (sdk_app_id, key_id, key_hex) VALUES ($1, $2, $3)")
        .bind(sdk_app_id)
        .bind(key.id().to_string())
        .bind(key.to_hex().expose_secret())
        .execute(db)
        .await
        .map(drop)
}

/// Retires the app's current key; its id, if it had one.
pub async fn retire_current(db: impl PgExecutor<'_>, sdk_app_id: i64) -> sqlx::Result<Option<String>> {
    sqlx::query_scalar(
        "UPDATE app_recording_keys SET retired_at = now() WHERE sdk_app_id = $1 AND retired_at IS NULL \
         RETURNING key_id",
    )
    .bind(sdk_app_id)
    .fetch_optional(db)
    .await
}

/// Every key of the app, the current first, then newest first.
pub async fn list(db: impl PgExecutor<'_>, sdk_app_id: i64) -> sqlx::Result<Vec<KeyInfo>> {
    sqlx::query_as(
        "SELECT key_id, created_at, retired_at FROM app_recording_keys WHERE sdk_app_id = $1 \
         ORDER BY retired_at IS NOT NULL, created_at DESC",
    )
    .bind(sdk_app_id)
    .fetch_all(db)
    .await
}

/// The app's key with this id (current or retired), or its current key when `key_id` is None.
pub async fn get(db: impl PgExecutor<'_>, sdk_app_id: i64, key_id: Option<&str>) -> anyhow::Result<Option<Key>> {
    let hex: Option<String> = sqlx::query_scalar(
        "SELECT key_hex FROM app_recording_keys WHERE sdk_app_id = $1 \
         AND (key_id = $2 OR ($2 IS NULL AND retired_at IS NULL))",
    )
    .bind(sdk_app_id)
    .bind(key_id)
    .fetch_optional(db)
    .await?;
    let Some(hex) = hex.map(SecretString::from) else {
        return Ok(None);
    };
    Ok(Some(Key::from_hex(hex.expose_secret()).map_err(anyhow::Error::msg)?))
}
