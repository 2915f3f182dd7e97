//! Encrypted slices (issue 14): a slice whose `Upload-Metadata` says `encryption lrcrypt-v1` and
//! names a `key_id` is taken only if that key is one of the caller's app's recording keys (current
//! or retired), and its bytes are stored exactly as they arrive, still encrypted; the key id goes
//! with the upload to its slice, and the splice decrypts with it (`splice::input`). A task's slices
//! are all plain or all encrypted: an upload of the other kind is refused (409), so an encrypted
//! recording never takes a plaintext slice, nor a plain one a slice it cannot read.

use crate::db::recording_keys;
use crate::http::caller::Caller;
use crate::http::error::{Error, Result};
use crate::http::tus::metadata;
use crate::http::AppState;
use localrecord_api::TaskId;
use std::collections::BTreeMap;

/// The key id an encrypted upload names (checked), or None for a plain one.
pub(super) async fn check(state: &AppState, caller: &Caller, md: &BTreeMap<String, String>) -> Result<Option<String>> {
    let (format, key_id) = (md.get(metadata::ENCRYPTION), md.get(metadata::KEY_ID));
    let key_id = match (format, key_id) {
        (None, None) => return Ok(None),
        (Some(f), Some(k)) if f == metadata::ENCRYPTION_V1 => k,
        (Some(f), _) if f != metadata::ENCRYPTION_V1 => {
            return Err(Error::invalid(format!(
                "encryption metadata {f:?} is not a format this server knows ({})",
                metadata::ENCRYPTION_V1
            )))
        }
        _ => return Err(Error::invalid("encryption and key_id metadata go together")),
    };
    key_id
        .parse::<localrecord_crypt::KeyId>()
        .map_err(|_| Error::invalid("key_id metadata must be 16 hex digits"))?;
    let known = recording_keys::list(&state.db, caller.sdk_app_id()).await?;
    if !known.iter().any(|k| &k.key_id == key_id) {
        return Err(Error::invalid(format!(
            "key_id {key_id} is not one of this app's recording keys (`localrecord app key show`)"
        )));
    }
    Ok(Some(key_id.clone()))
}

/// Refuses (409) an upload into `task` whose kind (plain, or encrypted: `key_id`) differs from a
/// slice the task already stored or an upload it has open. Keys may differ (a rotation mid-class).
pub(super) async fn check_task_kind(state: &AppState, task: Option<&TaskId>, key_id: Option<&str>) -> Result<()> {
    let Some(task) = task else { return Ok(()) };
    if crate::db::slices::other_kind_exists(&state.db, task, key_id.is_some()).await? {
        let (this, other) = match key_id {
            Some(_) => ("an encrypted", "plain"),
            None => ("a plain", "encrypted"),
        };
        return Err(Error::Conflict(format!(
            "task {task} has {other} slices; {this} slice cannot join it (a task's slices are all plain or \
             all encrypted)"
        )));
    }
    Ok(())
}
