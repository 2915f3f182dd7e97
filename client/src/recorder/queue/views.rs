//! What the queue shows: GetState's upload list, and the answers the command line waits on.

use super::Uploader;
use crate::server::Error;

/// A task's upload state for GetState.
#[derive(Debug, Clone, PartialEq)]
pub struct UploadView {
    pub task_id: String,
    /// wait, uploading, uploaded, upload failed
    pub state: &'static str,
    pub uploaded_ms: i64,
    pub total_ms: i64,
    /// Why the server refused the task, or why its last attempt failed.
    pub reason: Option<String>,
}

impl Uploader {
    /// GetState's list: unfinished tasks with uploads, then those finished in this run.
    pub fn views(&self, live_ms: Option<(&str, i64)>) -> Vec<UploadView> {
        let rt = self.rt.lock().expect("rt");
        let mut out: Vec<UploadView> = self
            .book
            .all()
            .into_iter()
            .filter(|t| t.upload)
            .map(|t| {
                let busy = rt.in_flight.iter().any(|(id, i)| id == &t.task_id && *i >= 0);
                let state = if t.abandoned || rt.failed.contains_key(&t.task_id) {
                    "upload failed"
                } else if busy {
                    "uploading"
                } else if t.all_confirmed() && t.server_stopped {
                    "uploaded"
                } else {
                    "wait"
                };
                let mut total_ms = t.recorded_ms();
                if let Some((id, ms)) = live_ms {
                    if id == t.task_id {
                        total_ms = total_ms.max(ms);
                    }
                }
                UploadView {
                    task_id: t.task_id.clone(),
                    state,
                    uploaded_ms: t.uploaded_ms(),
                    total_ms,
                    reason: rt.failed.get(&t.task_id).or(t.refusal.as_ref()).cloned(),
                }
            })
            .collect();
        out.extend(rt.done.iter().cloned());
        out
    }

    /// Why the task is stuck, if it is.
    pub fn failure(&self, task_id: &str) -> Option<String> {
        self.rt.lock().expect("rt").failed.get(task_id).cloned()
    }

    /// True once the task went through: every slice confirmed and the stop accepted.
    pub fn is_done(&self, task_id: &str) -> bool {
        self.rt.lock().expect("rt").done.iter().any(|v| v.task_id == task_id)
    }

    /// Why the server will not take the task further, once it said so (see `TaskRecord::abandoned`).
    pub fn abandoned(&self, task_id: &str) -> Option<String> {
        let t = self.book.get(task_id)?;
        t.abandoned.then(|| t.refusal.unwrap_or_default())
    }

    /// A pause, resume or keepalive the server refused for good (the task is finished or gone on
    /// the server): written on the task for GetState, and told to the user. The uploads go on;
    /// the stop will tell whether the server still takes them.
    pub fn note_refusal(&self, task_id: &str, what: &str, e: &Error) {
        let why = format!("the server refused the {what}: {e}");
        tracing::warn!("task {task_id}: {why}");
        if let Err(e) = self.book.update(task_id, |t| t.refusal = Some(why)) {
            tracing::warn!("task {task_id}: {e}");
        }
    }
}
