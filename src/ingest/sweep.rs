//! The upload sweeper, run periodically by every instance (all steps are idempotent):
//! expired uploads lose their row and their bytes; uploads whose bytes all arrived but whose slice
//! was never stored (a crash between the last PATCH and the slice commit) are finished; part objects
//! with no upload row (a crash after a part was written but before it was committed) are deleted.

use super::finish::finish;
use crate::db::uploads;
use crate::startup::AppState;
use crate::store::keys;
use uuid::Uuid;

#[derive(Debug, Default, PartialEq, Eq)]
pub struct SweepReport {
    pub expired: usize,
    pub finished: usize,
    pub orphans: usize,
}

/// An upload whose last byte arrived this long ago without being finished is presumed abandoned by
/// its finisher.
const STUCK_AFTER_SECS: i64 = 60;

pub async fn sweep(state: &AppState) -> anyhow::Result<SweepReport> {
    let mut report = SweepReport::default();
    loop {
        let ids = uploads::expired(&state.db, 100).await?;
        if ids.is_empty() {
            break;
        }
        uploads::delete(&state.db, &ids).await?;
        for id in &ids {
            state.store.delete_prefix(&keys::upload_prefix(*id)).await?;
        }
        report.expired += ids.len();
    }
    let expiry = state.settings.upload.expiry_secs as i64;
    for id in uploads::stuck_complete(&state.db, STUCK_AFTER_SECS.min(expiry), expiry).await? {
        match finish(state, id).await {
            Ok(_) => report.finished += 1,
            Err(e) => tracing::warn!(upload = %id, "sweeper could not finish upload: {e}"),
        }
    }
    let dirs = state.store.list_dirs("uploads/").await?;
    let ids: Vec<Uuid> = dirs
        .iter()
        .filter_map(|d| d.trim_end_matches('/').rsplit('/').next()?.parse().ok())
        .collect();
    let live = uploads::existing(&state.db, &ids).await?;
    for id in ids.iter().filter(|id| !live.contains(id)) {
        state.store.delete_prefix(&keys::upload_prefix(*id)).await?;
        report.orphans += 1;
    }
    if report != SweepReport::default() {
        tracing::info!(?report, "upload sweep");
    }
    Ok(report)
}

/// Runs [`sweep`] every `upload.sweep_interval_secs` until the process ends.
pub async fn run(state: AppState) {
    let every = std::time::Duration::from_secs(state.settings.upload.sweep_interval_secs.max(1));
    loop {
        if let Err(e) = sweep(&state).await {
            tracing::warn!("upload sweep failed: {e:#}");
        }
        tokio::time::sleep(every).await;
    }
}
