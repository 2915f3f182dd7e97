//! The upload sweeper, run periodically by every instance (all steps are idempotent):
//! expired uploads lose their row and their bytes; uploads whose bytes all arrived but whose slice
//! was never stored (a crash between the last PATCH and the slice commit) are finished; part objects
//! with no upload row (a crash after a part was written but before it was committed) are deleted.
//! [`sweep_objects`] does the same for slices and recordings: an object under `slices/` or
//! `recordings/` that no row names, older than `upload.orphan_grace_secs` (so a write whose row is
//! about to commit is never touched), is deleted, as are fs writes a crash left half-done.

use super::finish::finish;
use super::Ingest;
use crate::db::uploads;
use crate::store::keys;
use uuid::Uuid;

#[derive(Debug, Default, PartialEq, Eq)]
pub struct SweepReport {
    pub expired: usize,
    pub finished: usize,
    pub orphans: usize,
}

/// What [`sweep_objects`] removed.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct ObjectSweep {
    /// slice and recording objects no row refers to
    pub orphans: usize,
    /// fs files a crashed write left in the partial dir
    pub partials: usize,
}

/// Deletes orphaned slice and recording objects older than the grace period.
pub async fn sweep_objects(ing: &Ingest) -> anyhow::Result<ObjectSweep> {
    let grace = std::time::Duration::from_secs(ing.upload.orphan_grace_secs);
    let cutoff = chrono::Utc::now() - chrono::Duration::from_std(grace)?;
    let mut report = ObjectSweep::default();
    for prefix in [keys::SLICES, keys::RECORDINGS] {
        let old: Vec<String> = ing
            .store
            .list_aged(prefix)
            .await?
            .into_iter()
            .filter(|(_, t)| t.is_some_and(|t| t < cutoff))
            .map(|(k, _)| k)
            .collect();
        for batch in old.chunks(500) {
            let live = crate::db::slices::referenced(&ing.db, batch).await?;
            for key in batch.iter().filter(|k| !live.contains(k)) {
                ing.store.delete(key).await?;
                report.orphans += 1;
            }
        }
    }
    for path in ing.store.stale_partials(grace) {
        if std::fs::remove_file(&path).is_ok() {
            report.partials += 1;
        }
    }
    if report != ObjectSweep::default() {
        tracing::info!(?report, "object sweep");
    }
    Ok(report)
}

/// An upload whose last byte arrived this long ago without being finished is presumed abandoned by
/// its finisher.
const STUCK_AFTER_SECS: i64 = 60;

pub async fn sweep(ing: &Ingest) -> anyhow::Result<SweepReport> {
    let mut report = SweepReport::default();
    loop {
        let ids = uploads::expired(&ing.db, 100).await?;
        if ids.is_empty() {
            break;
        }
        uploads::delete(&ing.db, &ids).await?;
        for id in &ids {
            ing.store.delete_prefix(&keys::upload_prefix(*id)).await?;
        }
        report.expired += ids.len();
    }
    // Multipart uploads whose upload is gone (expired above, terminated, dropped) are aborted.
    loop {
        match super::multipart::sweep(ing).await {
            Ok(100) => continue,
            Ok(_) => break,
            Err(e) => {
                tracing::warn!("aborting multipart uploads of gone uploads failed: {e}");
                break;
            }
        }
    }
    let expiry = ing.upload.expiry_secs as i64;
    for id in uploads::stuck_complete(&ing.db, STUCK_AFTER_SECS.min(expiry), expiry).await? {
        match finish(ing, id).await {
            Ok(_) => report.finished += 1,
            Err(e) => tracing::warn!(upload = %id, "sweeper could not finish upload: {e}"),
        }
    }
    let dirs = ing.store.list_dirs("uploads/").await?;
    let ids: Vec<Uuid> = dirs
        .iter()
        .filter_map(|d| d.trim_end_matches('/').rsplit('/').next()?.parse().ok())
        .collect();
    let live = uploads::existing(&ing.db, &ids).await?;
    for id in ids.iter().filter(|id| !live.contains(id)) {
        ing.store.delete_prefix(&keys::upload_prefix(*id)).await?;
        report.orphans += 1;
    }
    if report != SweepReport::default() {
        tracing::info!(?report, "upload sweep");
    }
    Ok(report)
}

/// Runs [`sweep`] every `upload.sweep_interval_secs`, and [`sweep_objects`] (which lists every
/// slice and recording) every quarter of the orphan grace period, until the process ends.
pub async fn run(ing: Ingest) {
    let every = std::time::Duration::from_secs(ing.upload.sweep_interval_secs.max(1));
    let objects_every = std::time::Duration::from_secs((ing.upload.orphan_grace_secs / 4).max(1));
    let mut objects_at: Option<std::time::Instant> = None;
    loop {
        if let Err(e) = sweep(&ing).await {
            tracing::warn!("upload sweep failed: {e:#}");
        }
        if objects_at.is_none_or(|t| t.elapsed() >= objects_every) {
            objects_at = Some(std::time::Instant::now());
            if let Err(e) = sweep_objects(&ing).await {
                tracing::warn!("object sweep failed: {e:#}");
            }
        }
        tokio::time::sleep(every.min(objects_every)).await;
    }
}
