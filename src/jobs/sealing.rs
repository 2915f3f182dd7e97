//! Encrypted tasks (issue 14): a task whose slices were uploaded encrypted is spliced into an
//! encrypted MP4 (`splice::splice_files_sealed`), never through the prepared-slice fast path (its
//! pieces and bodies are plaintext). Each slice is read with the key its upload named; the MP4 is
//! sealed with the app's current key. A task mixing plain and encrypted slices, or a slice whose
//! key the app no longer has, fails the splice for good, saying so (uploads refuse the mix
//! already; this is the guard behind them).

use super::JobError;
use crate::db::recording_keys;
use crate::db::slices::Slice;
use crate::db::tasks::Task;
use crate::splice::Sealing;
use anyhow::anyhow;
use localrecord_crypt::Key;
use std::collections::BTreeMap;

/// The keys to splice `stored` with; None for a plain task.
pub async fn for_task(db: &sqlx::PgPool, task: &Task, stored: &[Slice]) -> Result<Option<Sealing>, JobError> {
    let sealed = stored.iter().filter(|s| s.key_id.is_some()).count();
    if sealed == 0 {
        return Ok(None);
    }
    if sealed != stored.len() {
        let plain: Vec<i32> = stored
            .iter()
            .filter(|s| s.key_id.is_none())
            .map(|s| s.slice_index)
            .collect();
        return Err(JobError::Permanent(anyhow!(
            "task {} mixes encrypted and plain slices (plain: {plain:?}); an encrypted recording is \
             made of encrypted slices only",
            task.task_id
        )));
    }
    let app = task.sdk_app_id;
    let mut keys: BTreeMap<&str, Key> = BTreeMap::new();
    let mut inputs = Vec::with_capacity(stored.len());
    for s in stored {
        let id = s.key_id.as_deref().expect("counted above");
        if !keys.contains_key(id) {
            let Some(k) = recording_keys::get(db, app, Some(id)).await.map_err(JobError::Retry)? else {
                return Err(JobError::Permanent(anyhow!(
                    "slice {} is encrypted with key {id}, which app {app} does not have",
                    s.slice_index
                )));
            };
            keys.insert(id, k);
        }
        inputs.push(keys[id].clone());
    }
    let Some(output) = recording_keys::get(db, app, None).await.map_err(JobError::Retry)? else {
        return Err(JobError::Permanent(anyhow!(
            "app {app} has no current recording key to encrypt the recording with"
        )));
    };
    Ok(Some(Sealing { inputs, output }))
}
