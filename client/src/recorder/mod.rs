//! The recorder: one recording at a time (capture -> engine -> slices), the task book, and the
//! upload queue that outlives recordings. The control API and the command line both drive it.

pub mod book;
pub mod dst;
mod events;
mod feed;
pub mod keepalive;
mod params;
pub mod queue;
mod settings;
mod start;

use crate::api::codes;
use crate::capture::{self, Input};
use crate::server::{Credentials, ServerClient};
use crate::upload::journal::Journal;
use book::Book;
use queue::{UploadView, Uploader};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::mpsc::SyncSender;
use std::sync::{Arc, Mutex};
use std::time::Instant;

pub use params::StartParams;
pub use settings::{AuthState, CtlError, Settings};

/// A snapshot for GetState.
#[derive(Debug, Clone)]
pub struct State {
    pub user_id: String,
    pub auth: AuthState,
    /// Idle, Recording, Paused
    pub record: &'static str,
    pub recorded_secs: i64,
    pub current_task: Option<String>,
    pub uploads: Vec<UploadView>,
}

struct Current {
    task_id: String,
    upload: bool,
    tx: SyncSender<Input>,
    capture: Option<capture::Capture>,
    engine: Option<std::thread::JoinHandle<()>>,
    paused: bool,
    recorded: Arc<AtomicI64>,
    /// The periodic keepalive of an uploaded recording, stopped with it.
    keepalive: Option<tokio::task::JoinHandle<()>>,
}

/// The task whose recording ended on its own, and the error that ended it (None: a normal end).
type Ended = (String, Option<String>);

struct Auth {
    user_id: String,
    state: AuthState,
    client: Option<ServerClient>,
}

pub struct Recorder {
    settings: Settings,
    book: Arc<Book>,
    uploader: Arc<Uploader>,
    template: ServerClient,
    auth: Mutex<Auth>,
    current: tokio::sync::Mutex<Option<Current>>,
    /// Updated by the engine thread when a recording ends on its own.
    ended: Arc<Mutex<Option<Ended>>>,
}

impl Recorder {
    /// Opens the data directory, recovers what earlier runs left, starts uploading it.
    pub fn open(settings: Settings) -> std::io::Result<Arc<Recorder>> {
        std::fs::create_dir_all(&settings.data_dir)?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&settings.data_dir, std::fs::Permissions::from_mode(0o700))?;
        }
        let book = Arc::new(Book::open(&settings.data_dir, settings.key.as_deref())?);
        let journal = Journal::open(&settings.data_dir.join("uploads"))?;
        let template = ServerClient::new(
            &settings.server,
            Credentials {
                sdk_app_id: 0,
                user_id: String::new(),
                user_sig: String::new(),
            },
        );
        let uploader = Arc::new(Uploader::new(
            book.clone(),
            journal,
            template.clone(),
            settings.parallel_uploads,
            settings.upload.clone(),
        ));
        tokio::spawn(uploader.clone().run());
        Ok(Arc::new(Recorder {
            settings,
            book,
            uploader,
            template,
            auth: Mutex::new(Auth {
                user_id: String::new(),
                state: AuthState::NotAuthenticated,
                client: None,
            }),
            current: tokio::sync::Mutex::new(None),
            ended: Arc::new(Mutex::new(None)),
        }))
    }

    pub fn uploader(&self) -> &Arc<Uploader> {
        &self.uploader
    }

    pub fn book(&self) -> &Arc<Book> {
        &self.book
    }

    /// The seed's Init: proves the credentials to the server.
    pub async fn init(&self, creds: Credentials) -> Result<(), CtlError> {
        let client = self.template.with_credentials(creds.clone());
        {
            let mut a = self.auth.lock().expect("auth");
            a.user_id = creds.user_id.clone();
            a.state = AuthState::Authoring;
            a.client = None;
        }
        let r = client.auth().await;
        let mut a = self.auth.lock().expect("auth");
        match r {
            Ok(_) => {
                a.state = AuthState::Success;
                a.client = Some(client);
                drop(a);
                self.uploader.set_credentials(creds);
                Ok(())
            }
            Err(e) => {
                a.state = AuthState::Failed;
                Err(server_error(e))
            }
        }
    }

    /// The server client of the last successful Init.
    pub fn client(&self) -> Option<ServerClient> {
        let a = self.auth.lock().expect("auth");
        a.client.clone().filter(|_| a.state == AuthState::Success)
    }

    pub async fn pause(&self) -> Result<(), CtlError> {
        self.set_paused(true).await
    }

    pub async fn resume(&self) -> Result<(), CtlError> {
        self.set_paused(false).await
    }

    async fn set_paused(&self, pause: bool) -> Result<(), CtlError> {
        let mut cur = self.current.lock().await;
        let c = cur
            .as_mut()
            .ok_or_else(|| CtlError::new(codes::INVALID_PARAMETER, "not recording"))?;
        if c.paused == pause {
            let what = if pause { "already paused" } else { "not paused" };
            return Err(CtlError::new(codes::INVALID_PARAMETER, what));
        }
        let input = if pause {
            Input::Pause(Instant::now())
        } else {
            Input::Resume(Instant::now())
        };
        let tx = c.tx.clone();
        tokio::task::spawn_blocking(move || tx.send(input))
            .await
            .ok()
            .and_then(|r| r.ok())
            .ok_or_else(|| CtlError::new(codes::INVALID_PARAMETER, "the recording has ended"))?;
        c.paused = pause;
        if c.upload {
            keepalive::mark(c.task_id.clone(), pause, self.uploader.clone());
        }
        Ok(())
    }

    /// Ends the recording: the files are complete when this returns; uploads go on.
    pub async fn stop(&self) -> Result<String, CtlError> {
        let mut cur = self.current.lock().await;
        let c = cur
            .take()
            .ok_or_else(|| CtlError::new(codes::INVALID_PARAMETER, "not recording"))?;
        let task_id = c.task_id.clone();
        wind_down(c).await;
        self.uploader.wake();
        Ok(task_id)
    }

    pub async fn state(&self) -> State {
        let cur = self.current.lock().await;
        let (record, secs, task, live) = match cur.as_ref() {
            None => ("Idle", 0, None, None),
            Some(c) if self.ended_early(&c.task_id).is_some() => ("Idle", 0, None, None),
            Some(c) => {
                let ms = c.recorded.load(Ordering::SeqCst);
                let st = if c.paused { "Paused" } else { "Recording" };
                (st, ms / 1000, Some(c.task_id.clone()), Some((c.task_id.clone(), ms)))
            }
        };
        let a = self.auth.lock().expect("auth");
        let uploads = self.uploader.views(live.as_ref().map(|(id, ms)| (id.as_str(), *ms)));
        State {
            user_id: a.user_id.clone(),
            auth: a.state,
            record,
            recorded_secs: secs,
            current_task: task,
            uploads,
        }
    }

    /// Recording time so far of the current recording, ms.
    pub async fn recorded_ms(&self) -> Option<i64> {
        self.current
            .lock()
            .await
            .as_ref()
            .map(|c| c.recorded.load(Ordering::SeqCst))
    }

    /// Whether the engine ended the current recording by itself (source or disk failure).
    pub fn ended_early(&self, task_id: &str) -> Option<Option<String>> {
        let e = self.ended.lock().expect("ended");
        e.as_ref().filter(|(id, _)| id == task_id).map(|(_, err)| err.clone())
    }
}

/// Stops the engine (which finishes its files) and the capture threads.
async fn wind_down(mut c: Current) {
    if let Some(k) = c.keepalive.take() {
        k.abort();
    }
    let tx = c.tx.clone();
    let capture = c.capture.take();
    let engine = c.engine.take();
    let _ = tokio::task::spawn_blocking(move || {
        let _ = tx.send(Input::Stop);
        if let Some(e) = engine {
            let _ = e.join();
        }
        if let Some(cap) = capture {
            cap.stop();
        }
    })
    .await;
}

/// A server client error in the seed's codes: unreachable is -10003 (the recorder's "push
/// address"), the server's own codes pass through.
pub(crate) fn server_error(e: crate::server::Error) -> CtlError {
    match e {
        crate::server::Error::Network(e) => CtlError::new(codes::BAD_PUSH_URL, format!("server unreachable: {e}")),
        crate::server::Error::Refused { code, message, .. } => CtlError::new(code, message),
        other => CtlError::new(codes::INTERNAL, other.to_string()),
    }
}
