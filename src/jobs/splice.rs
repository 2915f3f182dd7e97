//! The splice job: a task's stored slices -> one MP4 in the store, and the result on the task.
//!
//! Enqueued when a stopped task has every declared slice, when a slice arrives for a task already
//! spliced (re-splice), and when a recording task has been idle for `jobs.splice_idle_secs` (its
//! recorder died: splice what arrived, mark it partial). Temp files live in
//! `<data_dir>/tmp/splice-*` and are removed on success, on failure and, after a crash, at start.

use super::{queue, JobError};
use crate::db::{slices, tasks};
use crate::splice::{splice_files, SliceOutcome};
use crate::startup::AppState;
use crate::store::keys;
use anyhow::anyhow;
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use std::path::PathBuf;
use std::time::Duration;

pub const KIND: &str = "splice";

/// Payload of a splice job.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SpliceJob {
    pub task_id: String,
}

pub async fn enqueue(db: &sqlx::PgPool, task_id: &str) -> sqlx::Result<()> {
    let payload = serde_json::to_value(SpliceJob {
        task_id: task_id.to_owned(),
    })
    .expect("serialisable");
    queue::enqueue(db, KIND, &format!("{KIND}:{task_id}"), &payload, Duration::ZERO).await
}

/// After a stop or a stored slice: splice if the task is complete, or re-splice a finished one.
pub async fn maybe_enqueue(state: &AppState, task_id: &str) -> sqlx::Result<bool> {
    let Some(task) = tasks::get(&state.db, task_id).await? else {
        return Ok(false);
    };
    let ready = match task.state.as_str() {
        "uploading" => {
            let stored: BTreeSet<i32> = slices::for_task(&state.db, task_id)
                .await?
                .iter()
                .map(|s| s.slice_index)
                .collect();
            (0..task.slice_count.unwrap_or(0)).all(|i| stored.contains(&i))
        }
        "splicing" | "done" | "partial" | "failed" => true,
        _ => false,
    };
    if ready {
        enqueue(&state.db, task_id).await?;
    }
    Ok(ready)
}

/// Tasks whose recorder has been silent too long are spliced from what arrived.
pub async fn enqueue_idle(state: &AppState) -> sqlx::Result<()> {
    for task_id in tasks::idle(&state.db, state.settings.jobs.splice_idle_secs as f64).await? {
        tracing::warn!(task = %task_id, "no activity for {} s: splicing what arrived", state.settings.jobs.splice_idle_secs);
        tasks::touch(&state.db, &task_id).await?;
        enqueue(&state.db, &task_id).await?;
    }
    Ok(())
}

pub fn tmp_root(state: &AppState) -> PathBuf {
    state.settings.data_dir.join("tmp")
}

/// Removes leftovers of splices that a crash interrupted (run at start, before any worker).
pub fn clean_tmp(state: &AppState) {
    if let Ok(entries) = std::fs::read_dir(tmp_root(state)) {
        for e in entries.flatten() {
            if e.file_name().to_string_lossy().starts_with("splice-") {
                let _ = std::fs::remove_dir_all(e.path());
            }
        }
    }
}

/// A random 19-digit id, the shape of the seed's VideoOutputId; unguessable, it is the MP4's URL.
fn new_video_output_id() -> String {
    use rand::Rng;
    rand::thread_rng()
        .gen_range(1_000_000_000_000_000_000u64..10_000_000_000_000_000_000u64)
        .to_string()
}

pub async fn run(state: &AppState, job: SpliceJob) -> Result<(), JobError> {
    let task_id = job.task_id;
    let task = tasks::get(&state.db, &task_id)
        .await?
        .ok_or_else(|| JobError::Permanent(anyhow!("task {task_id} is gone")))?;
    tasks::set_state(&state.db, &task_id, "splicing").await?;
    let stored = slices::for_task(&state.db, &task_id).await?;
    if stored.is_empty() {
        return Err(JobError::Permanent(anyhow!("no slice of task {task_id} was uploaded")));
    }
    std::fs::create_dir_all(tmp_root(state))?;
    let tmp = tempfile::Builder::new().prefix("splice-").tempdir_in(tmp_root(state))?;
    let mut inputs = Vec::with_capacity(stored.len());
    for s in &stored {
        inputs.push(match state.store.local_path(&s.object_key) {
            Some(p) => p,
            None => {
                let p = tmp.path().join(format!("{:06}.flv", s.slice_index));
                state.store.download(&s.object_key, &p).await.map_err(JobError::Retry)?;
                p
            }
        });
    }
    let out = tmp.path().join("out.mp4");
    let summary = {
        let (inputs, out) = (inputs.clone(), out.clone());
        tokio::task::spawn_blocking(move || splice_files(&inputs, &out))
            .await
            .map_err(|e| JobError::Permanent(anyhow!("splicer crashed: {e}")))?
            .map_err(|e| JobError::Permanent(e.context("splicing")))?
    };

    let video_output_id = task.video_output_id.clone().unwrap_or_else(new_video_output_id);
    let key = keys::recording(&task_id, &video_output_id);
    state.store.upload_file(&out, &key).await.map_err(JobError::Retry)?;

    // What the recording lacks: declared slices never stored, and stored ones the splicer skipped.
    let have: BTreeSet<i32> = stored.iter().map(|s| s.slice_index).collect();
    let declared = task
        .slice_count
        .unwrap_or_else(|| have.last().map(|m| m + 1).unwrap_or(0));
    let mut missing: BTreeSet<i32> = (0..declared).filter(|i| !have.contains(i)).collect();
    for (s, rep) in stored.iter().zip(&summary.slices) {
        if rep.outcome == SliceOutcome::Skipped {
            missing.insert(s.slice_index);
        }
    }
    let missing: Vec<i32> = missing.into_iter().collect();
    let result = tasks::SpliceResult {
        video_output_id,
        video_output_key: key.clone(),
        size: summary.size as i64,
        duration_ms: summary.duration_ms,
        splice_ms: summary.elapsed_ms as i64,
        state: if missing.is_empty() { "done" } else { "partial" },
        missing_slices: missing,
    };
    let old_key = tasks::record_splice(&state.db, &task_id, &result).await?;
    if let Some(old) = old_key.filter(|k| *k != key) {
        state.store.delete(&old).await.ok();
    }
    super::callback::enqueue_result(state, &task_id).await?;
    tracing::info!(task = %task_id, state = result.state, size = result.size, duration_ms = result.duration_ms, splice_ms = result.splice_ms, missing = ?result.missing_slices, "recording spliced");
    Ok(())
}
