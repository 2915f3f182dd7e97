//! The retention job: deletes finished recordings older than their app's `retention_days`
//! (`localrecord app retention`). One job for all apps (`retention`), queued by every instance each
//! `jobs.retention_interval_secs` and claimed by one; a run that dies is retried like any job, and
//! deleting what is already gone is a no-op, so a retried run finishes the work.

use super::Context;
use super::{queue, JobError};
use crate::progress::Progress;
use crate::retention::{delete_task, Actor};
use std::time::Duration;

pub const KIND: &str = "retention";

/// Recordings one run deletes at most; the next run takes the rest.
const PER_RUN: i64 = 1000;

pub async fn run(ctx: &Context, progress: &Progress) -> Result<(), JobError> {
    let mut deleted = 0;
    while deleted < PER_RUN {
        let due = crate::db::deletion::expired(&ctx.db, 100).await?;
        if due.is_empty() {
            break;
        }
        for (task_id, _, days) in due {
            let actor = Actor {
                name: "retention",
                action: "retention",
                detail: serde_json::json!({ "RetentionDays": days }),
            };
            delete_task(&ctx.db, &ctx.store, &task_id, &actor)
                .await
                .map_err(JobError::Retry)?;
            deleted += 1;
            progress.tick(1);
        }
    }
    if deleted > 0 {
        tracing::info!(deleted, "retention: recordings past their app's retention deleted");
    }
    Ok(())
}

/// Queues the retention job now and every `jobs.retention_interval_secs`.
pub async fn schedule(ctx: Context) {
    let every = Duration::from_secs(ctx.settings.jobs.retention_interval_secs.max(1));
    loop {
        if let Err(e) = queue::enqueue(&ctx.db, KIND, KIND, &serde_json::json!({}), Duration::ZERO).await {
            tracing::warn!("queueing the retention job: {e}");
        }
        tokio::time::sleep(every).await;
    }
}
