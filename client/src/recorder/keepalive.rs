//! Keep-alive. The server splices a task as abandoned when it hears nothing of it for
//! `jobs.splice_idle_secs` (its recorder died and no stop will come). A recording that is paused
//! for long, or cut into long slices, uploads nothing for a while, so the recorder says it is
//! alive: at pause and resume, and every `Settings::keepalive` while recording or paused.
//! Best effort: network trouble is ignored (the next period tries again); a server without the
//! endpoint is fine; a task the server finished or lost is noted on the task and not pinged again.

use super::queue::Uploader;
use crate::server::ServerClient;
use std::sync::Arc;
use std::time::Duration;

/// The default period: far below the server's default idle time (1800 s).
pub const DEFAULT_EVERY: Duration = Duration::from_secs(60);

/// Sends a keepalive every `every` until aborted (the recording stopped) or refused for good.
pub fn spawn(
    client: ServerClient,
    task_id: String,
    every: Duration,
    uploader: Arc<Uploader>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(every.max(Duration::from_millis(100)));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        tick.tick().await; // the first tick is immediate; StartRecord itself was a sign of life
        loop {
            tick.tick().await;
            if !ping(&client, &task_id, &uploader).await {
                return;
            }
        }
    })
}

/// One keepalive; false once the server said the task is finished or gone.
pub async fn ping(client: &ServerClient, task_id: &str, uploader: &Uploader) -> bool {
    match client.keepalive(task_id).await {
        Ok(true) => true,
        Ok(false) => {
            tracing::debug!("task {task_id}: the server has no keepalive endpoint");
            true
        }
        Err(e) if e.is_final() => {
            uploader.note_refusal(task_id, "keepalive", &e);
            false
        }
        Err(e) => {
            tracing::debug!("task {task_id}: keepalive: {e}");
            true
        }
    }
}

/// The server-side pause or resume mark, then a keepalive: both best effort, in the background.
pub fn mark(client: ServerClient, task_id: String, pause: bool, uploader: Arc<Uploader>) {
    let what = if pause { "pause" } else { "resume" };
    tokio::spawn(async move {
        match client.mark(&task_id, what).await {
            Err(e) if e.is_final() => return uploader.note_refusal(&task_id, what, &e),
            Err(e) => tracing::debug!("server {what} mark for {task_id}: {e}"),
            Ok(()) => {}
        }
        ping(&client, &task_id, &uploader).await;
    });
}
