//! `localrecord:CLASSID` mixer outputs (issue 14): their slices take StartRecord's road to our
//! server. A task is created with the last Init's credentials, written into the task book, kept
//! alive while recording, and its slices are uploaded by the journaled queue, which stops the
//! task once they are all on the server; after a crash `Book::open` recovers the slice being
//! written as it does an engine's.

use super::book::TaskRecord;
use super::params::chrono_secs;
use super::{keepalive, Recorder};
use crate::api::{is_server_task_id, CreateTask};
use crate::mixer::types::{err, CrError, FeedTask, TaskFeed};
use crate::server::Credentials;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// How long creating an output's task may take: the mixer's other outputs wait meanwhile.
const CREATE_TIMEOUT: Duration = Duration::from_secs(5);

struct MixerFeed {
    rec: Arc<Recorder>,
    rt: tokio::runtime::Handle,
    keepalives: Mutex<HashMap<String, tokio::task::JoinHandle<()>>>,
}

impl Recorder {
    /// What the mixers' `localrecord:` outputs upload through. Call from within the runtime.
    pub fn mixer_feed(self: &Arc<Self>) -> Arc<dyn TaskFeed> {
        Arc::new(MixerFeed {
            rec: self.clone(),
            rt: tokio::runtime::Handle::current(),
            keepalives: Mutex::default(),
        })
    }
}

/// The task book's entry for a recording that starts now.
pub(super) fn task_record(task_id: &str, class_id: i64, creds: &Credentials, upload: bool) -> TaskRecord {
    TaskRecord {
        task_id: task_id.to_owned(),
        class_id,
        sdk_app_id: creds.sdk_app_id,
        user_id: creds.user_id.clone(),
        user_sig: creds.user_sig.clone(),
        upload,
        started_at: chrono_secs(),
        slices: Vec::new(),
        slice_count: None,
        server_stopped: false,
        refusal: None,
        abandoned: false,
    }
}

fn server_error(e: crate::server::Error) -> CrError {
    match e {
        crate::server::Error::Network(e) => CrError::new(err::NOSERVER_RSP, format!("server unreachable: {e}")),
        other => CrError::new(err::SERVER_EXCEPTION, format!("the server refused the task: {other}")),
    }
}

impl MixerFeed {
    async fn create(&self, t: &FeedTask) -> Result<(String, Credentials), CrError> {
        let client = self
            .rec
            .client()
            .ok_or_else(|| CrError::new(err::NOT_LOGIN, "a localrecord: output needs a successful Init first"))?;
        let req = CreateTask {
            class_id: t.class_id,
            video_fps: Some(t.fps),
            video_bps: None,
            enable_audio: Some(t.audio),
            slice_time: Some(t.slice_secs),
            width: Some(t.width),
            height: Some(t.height),
        };
        let id = tokio::time::timeout(CREATE_TIMEOUT, client.create_task(&req))
            .await
            .map_err(|_| CrError::new(err::NOSERVER_RSP, "the server did not answer in 5 s"))?
            .map_err(server_error)?;
        let creds = client.credentials().clone();
        // The TaskId becomes a directory name: only the server's own pattern is taken.
        if !is_server_task_id(&id, creds.sdk_app_id, t.class_id) {
            return Err(CrError::new(
                err::SERVER_EXCEPTION,
                format!("the server answered an invalid TaskId {id:?}"),
            ));
        }
        Ok((id, creds))
    }

    fn note(&self, task_id: &str, r: std::io::Result<Option<()>>) {
        if let Err(e) = r {
            tracing::error!("task book for {task_id}: {e}");
        }
        self.rec.uploader.wake();
    }
}

impl TaskFeed for MixerFeed {
    fn begin(&self, t: &FeedTask) -> Result<(String, PathBuf), CrError> {
        let (id, creds) = self.rt.block_on(self.create(t))?;
        self.rec
            .book
            .insert(task_record(&id, t.class_id, &creds, true))
            .map_err(|e| CrError::new(err::FILE_WRITE_ERR, format!("task book: {e}")))?;
        let _rt = self.rt.enter();
        let every = self.rec.settings.keepalive;
        let k = keepalive::spawn(id.clone(), every, self.rec.uploader.clone());
        self.keepalives.lock().expect("keepalives").insert(id.clone(), k);
        tracing::info!("mixer output task {id} (class {})", t.class_id);
        let dir = self.rec.book.task_dir(&id);
        Ok((id, dir))
    }

    fn slice_opened(&self, task_id: &str, index: i32) {
        self.note(task_id, self.rec.book.slice_opened(task_id, index));
    }

    fn slice_closed(&self, task_id: &str, index: i32, duration_ms: i64, size: u64) {
        self.note(task_id, self.rec.book.slice_closed(task_id, index, duration_ms, size));
    }

    fn finished(&self, task_id: &str, count: i32) {
        if let Some(k) = self.keepalives.lock().expect("keepalives").remove(task_id) {
            k.abort();
        }
        tracing::info!("mixer output task {task_id}: {count} slices");
        self.note(task_id, self.rec.book.recording_ended(task_id, count));
    }
}
