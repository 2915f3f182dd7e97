//! The upload queue: uploads every closed slice of every task in the book, a few at a time, while
//! recording goes on; declares each recording's slice count to the server; and finishes a task
//! once the server holds all its slices. Network errors back off and retry forever; a refused
//! UserSig parks the task until Init brings new credentials; the server's "already done / not
//! possible" (409, or the task gone) ends the task's uploads with the reason; nothing is deleted.

use super::book::{Book, TaskRecord};
use crate::api::codes;
use crate::server::{Credentials, Error, ServerClient};
use crate::upload::journal::Journal;
use crate::upload::Options;
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::Notify;

mod views;
pub use views::UploadView;

#[derive(Default)]
struct Runtime {
    /// (task, slice index; -1 for the stop call) being worked on
    in_flight: HashSet<(String, i32)>,
    /// not before this instant, after a failure
    retry_at: HashMap<(String, i32), (Instant, u32)>,
    /// why a task's last attempt failed for other than network reasons (shown as "upload failed")
    failed: HashMap<String, String>,
    /// tasks whose UserSig the server refused: they wait for Init
    parked: HashSet<String>,
    /// the latest credentials per (SdkAppId, UserId), from Init
    creds: HashMap<(u64, String), Credentials>,
    /// finished during this run, newest last
    done: Vec<UploadView>,
}

pub struct Uploader {
    book: Arc<Book>,
    journal: Journal,
    template: ServerClient,
    parallel: usize,
    opts: Options,
    rt: Mutex<Runtime>,
    wake: Notify,
}

impl Uploader {
    pub fn new(book: Arc<Book>, journal: Journal, template: ServerClient, parallel: usize, opts: Options) -> Uploader {
        Uploader {
            book,
            journal,
            template,
            parallel: parallel.max(1),
            opts,
            rt: Mutex::new(Runtime::default()),
            wake: Notify::new(),
        }
    }

    pub fn wake(&self) {
        self.wake.notify_one();
    }

    /// New credentials from Init: parked tasks of that user try again at once.
    pub fn set_credentials(&self, c: Credentials) {
        let mut rt = self.rt.lock().expect("rt");
        rt.creds.insert((c.sdk_app_id, c.user_id.clone()), c);
        rt.parked.clear();
        rt.retry_at.clear();
        drop(rt);
        self.wake();
    }

    fn client_for(&self, t: &TaskRecord) -> ServerClient {
        let rt = self.rt.lock().expect("rt");
        let c = rt
            .creds
            .get(&(t.sdk_app_id, t.user_id.clone()))
            .cloned()
            .unwrap_or(Credentials {
                sdk_app_id: t.sdk_app_id,
                user_id: t.user_id.clone(),
                user_sig: t.user_sig.clone(),
            });
        self.template.with_credentials(c)
    }

    /// Runs forever: schedules work whenever woken, and every second for retries.
    pub async fn run(self: Arc<Self>) {
        loop {
            self.schedule();
            let _ = tokio::time::timeout(Duration::from_secs(1), self.wake.notified()).await;
        }
    }

    fn schedule(self: &Arc<Self>) {
        let now = Instant::now();
        for t in self.book.all().into_iter().filter(|t| t.upload && !t.abandoned) {
            let mut rt = self.rt.lock().expect("rt");
            if rt.parked.contains(&t.task_id) {
                continue;
            }
            let ready = |rt: &Runtime, key: &(String, i32)| {
                !rt.in_flight.contains(key) && rt.retry_at.get(key).is_none_or(|(at, _)| *at <= now)
            };
            if t.all_confirmed() && t.server_stopped {
                drop(rt);
                self.finish(&t);
                continue;
            }
            if let Some(count) = t.slice_count.filter(|_| !t.server_stopped) {
                let key = (t.task_id.clone(), -1);
                if ready(&rt, &key) {
                    rt.in_flight.insert(key);
                    let me = self.clone();
                    let t = t.clone();
                    tokio::spawn(async move { me.stop(t, count).await });
                }
            }
            for s in t.slices.iter().filter(|s| s.closed && !s.confirmed) {
                let uploads = rt.in_flight.iter().filter(|(_, i)| *i >= 0).count();
                let key = (t.task_id.clone(), s.index);
                if uploads >= self.parallel {
                    break;
                }
                if ready(&rt, &key) {
                    rt.in_flight.insert(key);
                    let me = self.clone();
                    let (t, index) = (t.clone(), s.index);
                    tokio::spawn(async move { me.upload(t, index).await });
                }
            }
        }
    }

    async fn upload(self: Arc<Self>, t: TaskRecord, index: i32) {
        let path = crate::engine::slice_path(&self.book.task_dir(&t.task_id), index);
        let client = self.client_for(&t);
        let sig = client.credentials().user_sig.clone();
        let r = client
            .upload_slice(&self.journal, &t.task_id, index, &path, &self.opts)
            .await;
        let r = match r {
            Ok(receipt) if receipt.complete => {
                let marked = self.book.update(&t.task_id, |t| {
                    if let Some(s) = t.slices.iter_mut().find(|s| s.index == index) {
                        s.confirmed = true;
                    }
                });
                // Only now, with the server's MD5 equal to ours and that written down, does the
                // local copy go.
                if let Err(e) = marked.and_then(|_| std::fs::remove_file(&path)) {
                    tracing::warn!("slice {index} of {}: {e}", t.task_id);
                }
                tracing::info!("slice {index} of task {} uploaded ({} bytes)", t.task_id, receipt.size);
                Ok(())
            }
            Ok(_) => Ok(()),
            Err(e) => Err(e),
        };
        self.settle(&t, &sig, index, r);
    }

    async fn stop(self: Arc<Self>, t: TaskRecord, count: i32) {
        let client = self.client_for(&t);
        let sig = client.credentials().user_sig.clone();
        let r = client.stop_task(&t.task_id, count).await.map(|_| ());
        if r.is_ok() {
            let _ = self.book.update(&t.task_id, |t| t.server_stopped = true);
            tracing::info!("task {} stopped on the server with {count} slices", t.task_id);
        }
        self.settle(&t, &sig, -1, r);
    }

    /// Books the outcome of one attempt made with UserSig `sig`.
    fn settle(&self, t: &TaskRecord, sig: &str, index: i32, r: Result<(), Error>) {
        let task_id = t.task_id.as_str();
        let key = (task_id.to_owned(), index);
        let mut rt = self.rt.lock().expect("rt");
        // Refused with credentials that an Init has replaced meanwhile: just try again.
        let stale = rt
            .creds
            .get(&(t.sdk_app_id, t.user_id.clone()))
            .is_some_and(|c| c.user_sig != sig);
        rt.in_flight.remove(&key);
        match r {
            Ok(()) => {
                rt.retry_at.remove(&key);
                rt.failed.remove(task_id);
            }
            Err(Error::Refused { code, .. }) if code == codes::AUTH_FAILED && stale => {
                rt.retry_at.remove(&key);
            }
            Err(Error::Refused { code, message, .. }) if code == codes::AUTH_FAILED => {
                tracing::warn!("task {task_id}: the server refused the UserSig ({message}); waiting for Init");
                rt.failed.insert(task_id.to_owned(), format!("auth failed: {message}"));
                rt.parked.insert(task_id.to_owned());
            }
            Err(e) if e.is_final() => {
                let what = if index < 0 {
                    "stop".to_owned()
                } else {
                    format!("slice {index}")
                };
                let why = format!("the server refused the {what} for good: {e}");
                tracing::error!(
                    "task {task_id}: {why}; not retrying (its files stay in {})",
                    self.book.task_dir(task_id).display()
                );
                rt.failed.insert(task_id.to_owned(), why.clone());
                rt.retry_at.remove(&key);
                if let Err(e) = self
                    .book
                    .update(task_id, |t| (t.refusal, t.abandoned) = (Some(why), true))
                {
                    tracing::warn!("task {task_id}: {e}");
                }
            }
            Err(e) => {
                let n = rt.retry_at.get(&key).map_or(0, |(_, n)| *n) + 1;
                // Transient trouble retries within seconds; a refusal is retried slowly, in case an
                // operator fixes the server side.
                let delay = if e.is_transient() || matches!(e, Error::Network(_)) {
                    Duration::from_millis(500 * 2u64.pow(n.min(7))).min(Duration::from_secs(30))
                } else {
                    rt.failed.insert(task_id.to_owned(), e.to_string());
                    Duration::from_secs(300)
                };
                tracing::warn!("task {task_id} slice {index}: {e}; retrying in {delay:?}");
                rt.retry_at.insert(key, (Instant::now() + delay, n));
            }
        }
        drop(rt);
        self.wake();
    }

    fn finish(&self, t: &TaskRecord) {
        if let Err(e) = self.book.remove(&t.task_id) {
            tracing::warn!("task {}: {e}", t.task_id);
        }
        let mut rt = self.rt.lock().expect("rt");
        rt.done.push(UploadView {
            task_id: t.task_id.clone(),
            state: "uploaded",
            uploaded_ms: t.uploaded_ms(),
            total_ms: t.recorded_ms(),
            reason: None,
        });
        let excess = rt.done.len().saturating_sub(100);
        rt.done.drain(..excess);
        tracing::info!("task {} fully uploaded", t.task_id);
    }
}
