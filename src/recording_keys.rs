//! Operator actions behind `localrecord app key ...`: each app's key for encrypted recordings
//! (issue 14). The server prints key ids, never keys; a key leaves the database only into a new
//! key file (mode 0600, never overwriting) for a recorder or an authorised player, and each
//! creation, rotation and export is written to the audit log.

use crate::db::{audit, recording_keys};
use localrecord_crypt::Key;
use serde_json::{json, Value};
use sqlx::PgPool;
use std::path::Path;

/// `app key create`: the app's first recording key.
pub async fn create(db: &PgPool, sdk_app_id: i64, out: Option<&Path>) -> anyhow::Result<Value> {
    refuse_existing(out)?;
    let key = Key::generate();
    let mut tx = db.begin().await?;
    if let Some(k) = recording_keys::list(&mut *tx, sdk_app_id).await?.first() {
        if k.retired_at.is_none() {
            anyhow::bail!(
                "app {sdk_app_id} already has recording key {}: `app key rotate` replaces it, \
                 `app key export` writes it to a file",
                k.key_id
            );
        }
    }
    insert(&mut tx, sdk_app_id, &key, "recording_key_create").await?;
    tx.commit().await?;
    let file = write(&key, sdk_app_id, out)?;
    Ok(json!({ "SdkAppId": sdk_app_id, "KeyId": key.id().to_string(), "KeyFile": file }))
}

/// `app key rotate`: a new current key; the old one is retired but kept, so recordings made with
/// it still decrypt.
pub async fn rotate(db: &PgPool, sdk_app_id: i64, out: Option<&Path>) -> anyhow::Result<Value> {
    refuse_existing(out)?;
    let key = Key::generate();
    let mut tx = db.begin().await?;
    let retired = recording_keys::retire_current(&mut *tx, sdk_app_id).await?;
    insert(&mut tx, sdk_app_id, &key, "recording_key_rotate").await?;
    tx.commit().await?;
    let file = write(&key, sdk_app_id, out)?;
    Ok(json!({
        "SdkAppId": sdk_app_id,
        "KeyId": key.id().to_string(),
        "RetiredKeyId": retired,
        "KeyFile": file,
    }))
}

/// `app key show`: the current key's id and every key's dates; no key material.
pub async fn show(db: &PgPool, sdk_app_id: i64) -> anyhow::Result<Value> {
    anyhow::ensure!(
        crate::db::apps::get(db, sdk_app_id).await?.is_some(),
        "no app {sdk_app_id}"
    );
    let keys = recording_keys::list(db, sdk_app_id).await?;
    let current = keys.iter().find(|k| k.retired_at.is_none()).map(|k| k.key_id.clone());
    Ok(json!({ "SdkAppId": sdk_app_id, "KeyId": current, "Keys": keys }))
}

/// `app key export`: writes the current key (or the one named) to a new key file.
pub async fn export(db: &PgPool, sdk_app_id: i64, key_id: Option<&str>, out: &Path) -> anyhow::Result<Value> {
    refuse_existing(Some(out))?;
    if let Some(id) = key_id {
        id.parse::<localrecord_crypt::KeyId>().map_err(anyhow::Error::msg)?;
    }
    let Some(key) = recording_keys::get(db, sdk_app_id, key_id).await? else {
        anyhow::bail!(
            "app {sdk_app_id} has no recording key {}",
            key_id.unwrap_or("yet (`app key create` makes one)")
        );
    };
    let detail = json!({ "KeyId": key.id().to_string() });
    audit::record(db, sdk_app_id, "cli", "recording_key_export", "", detail).await?;
    let file = write(&key, sdk_app_id, Some(out))?;
    Ok(json!({ "SdkAppId": sdk_app_id, "KeyId": key.id().to_string(), "KeyFile": file }))
}

async fn insert(
    tx: &mut sqlx::Transaction<'_, sqlx::Postgres>,
    sdk_app_id: i64,
    key: &Key,
    action: &str,
) -> anyhow::Result<()> {
    match recording_keys::insert_current(&mut **tx, sdk_app_id, key).await {
        Err(sqlx::Error::Database(e)) if e.is_foreign_key_violation() => anyhow::bail!("no app {sdk_app_id}"),
        r => r?,
    }
    let detail = json!({ "KeyId": key.id().to_string() });
    audit::record(&mut **tx, sdk_app_id, "cli", action, "", detail).await?;
    Ok(())
}

fn refuse_existing(out: Option<&Path>) -> anyhow::Result<()> {
    if let Some(p) = out.filter(|p| p.exists()) {
        anyhow::bail!("{} exists: a key file is never overwritten", p.display());
    }
    Ok(())
}

fn write(key: &Key, sdk_app_id: i64, out: Option<&Path>) -> anyhow::Result<Option<String>> {
    let Some(out) = out else { return Ok(None) };
    let comment = format!("localrecord recording key {} of app {sdk_app_id}", key.id());
    key.write_file(out, &comment).map_err(|e| {
        anyhow::anyhow!(
            "key {} is stored, but writing {} failed ({e}): `app key export` writes it",
            key.id(),
            out.display()
        )
    })?;
    Ok(Some(out.display().to_string()))
}
