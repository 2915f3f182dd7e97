//! Deleting recordings for good: by an app admin (`DELETE /localrecord/v1/tasks/{TaskId}`) and by
//! the app's retention (`jobs::retention`). The rows go first, in one transaction with the audit
//! entry; then the objects. A crash in between leaves objects no row names, which the orphan sweep
//! deletes after `upload.orphan_grace_secs`, so a deleted recording never comes back.

use crate::db::{audit, deletion};
use crate::store::{keys, Store};
use sqlx::PgPool;

/// Who deletes, for the audit log.
#[derive(Debug, Clone)]
pub struct Actor<'a> {
    /// An admin identifier, `cli` or `retention`.
    pub name: &'a str,
    /// `delete` or `retention`.
    pub action: &'a str,
    pub detail: serde_json::Value,
}

/// What one deletion removed.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct Deleted {
    #[serde(rename = "TaskId")]
    pub task_id: String,
    #[serde(rename = "SdkAppId")]
    pub sdk_app_id: i64,
    /// Objects deleted now (slices, the MP4); leftovers are the orphan sweep's.
    #[serde(rename = "DeletedObjects")]
    pub objects: usize,
}

/// Deletes a task's rows, then its objects; None when there is no such task.
pub async fn delete_task(
    db: &PgPool,
    store: &Store,
    task_id: &str,
    actor: &Actor<'_>,
) -> anyhow::Result<Option<Deleted>> {
    let mut tx = db.begin().await?;
    let Some(removed) = deletion::remove_task(&mut tx, task_id).await? else {
        return Ok(None);
    };
    let detail = serde_json::json!({ "Objects": removed.object_keys.len(), "Extra": actor.detail });
    audit::record(&mut *tx, removed.sdk_app_id, actor.name, actor.action, task_id, detail).await?;
    tx.commit().await?;
    let mut objects = 0;
    for key in &removed.object_keys {
        match store.delete(key).await {
            Ok(()) => objects += 1,
            Err(e) => tracing::warn!(task = task_id, "deleting an object (the orphan sweep will): {e}"),
        }
    }
    // (A task id that is no TaskId was never given a prefix.)
    if let Ok(id) = localrecord_api::TaskId::parse(task_id) {
        if let Err(e) = store.delete_prefix(&keys::assembly_prefix(&id)).await {
            tracing::warn!(task = task_id, "deleting the prepared pieces: {e}");
        }
    }
    for id in &removed.uploads {
        if let Err(e) = store.delete_prefix(&keys::upload_prefix(*id)).await {
            tracing::warn!(task = task_id, "deleting an upload's parts (the sweep will): {e}");
        }
    }
    tracing::info!(
        task = task_id,
        actor = actor.name,
        action = actor.action,
        objects,
        "recording deleted"
    );
    Ok(Some(Deleted {
        task_id: task_id.to_owned(),
        sdk_app_id: removed.sdk_app_id,
        objects,
    }))
}
