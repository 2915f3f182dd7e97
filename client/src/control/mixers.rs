//! The recorder's mixers, by mixerID: at most [`MAX_MIXERS`] at once, each driven from blocking
//! threads (a mixer's calls open files and devices), their output events broadcast to the
//! local API's event clients and to the command line.

use crate::capture::AudioSource;
use crate::mixer::handle::{Mixer, SourceStatus};
use crate::mixer::output::Outputs;
use crate::mixer::types::{err, CrError, EventSink, MixerCfg, MixerContent, OutputEnv, OutputEvent};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use tokio::sync::{broadcast, watch};

/// Mixers running at once; one more is refused with `CFG_RESTRICTED`.
pub const MAX_MIXERS: usize = 4;
/// Events kept for a slow event client before it is dropped (see `events`).
const EVENT_BACKLOG: usize = 256;

mod confine;
mod views;
pub use views::{mixer_state, MixerView, OutputView};

/// What mixers tell local clients.
#[derive(Debug, Clone)]
pub enum MixerEvent {
    /// `LocMixerOutputInfo`.
    Output(OutputEvent),
    /// `LocMixerSourceState`: a source of the layout changed state (failed, came back).
    Source { mixer_id: String, source: SourceStatus },
}

/// Settings every mixer of a recorder shares.
#[derive(Clone, Default)]
pub struct MixerEnv {
    /// The sound every mixer records (None: no audio track).
    pub audio: Option<AudioSource>,
    pub outputs: OutputEnv,
    /// Directories outputs added through the local API may be written in (the recorder's
    /// `--dst-dir`, see `confine`); None: anywhere (the CLI's own `--output` files).
    pub output_dirs: Option<Vec<std::path::PathBuf>>,
}

impl MixerEnv {
    /// The recorder's sound source, key (`encryptType: 1`) and a spool under its data directory.
    pub fn from_settings(s: &crate::recorder::Settings) -> MixerEnv {
        MixerEnv {
            audio: Some(s.audio.clone()),
            outputs: OutputEnv {
                key: s.key.clone(),
                spool_dir: s.data_dir.join("mixer-spool"),
                tasks: None,
                slice_secs: s.mixer_slice_secs,
            },
            output_dirs: Some(s.dst_dirs.clone()),
        }
    }
}

/// A mixer's place: None while it is being created, or after it failed or was destroyed.
type Slot = Arc<tokio::sync::Mutex<Option<Mixer>>>;

pub struct Mixers {
    env: MixerEnv,
    slots: Mutex<BTreeMap<String, Slot>>,
    events: broadcast::Sender<MixerEvent>,
    closed: watch::Sender<bool>,
}

fn not_found(id: &str) -> CrError {
    CrError::new(err::FILE_NOT_EXIST, format!("no mixer '{id}'"))
}

/// Runs a mixer call on a blocking thread; a panic there is an inner error, not a crash.
async fn blocking<T: Send + 'static>(f: impl FnOnce() -> Result<T, CrError> + Send + 'static) -> Result<T, CrError> {
    tokio::task::spawn_blocking(f)
        .await
        .unwrap_or_else(|e| Err(CrError::new(err::INNER_ERR, format!("the mixer thread failed: {e}"))))
}

impl Mixers {
    pub fn new(env: MixerEnv) -> Arc<Mixers> {
        Arc::new(Mixers {
            env,
            slots: Mutex::default(),
            events: broadcast::channel(EVENT_BACKLOG).0,
            closed: watch::channel(false).0,
        })
    }

    /// Every event from now on; a receiver that falls [`EVENT_BACKLOG`] behind sees `Lagged`.
    pub fn subscribe(&self) -> broadcast::Receiver<MixerEvent> {
        self.events.subscribe()
    }

    /// Becomes true when the recorder shuts down: event streams end then.
    pub fn closed(&self) -> watch::Receiver<bool> {
        self.closed.subscribe()
    }

    /// Ends the event streams (after [`Mixers::destroy_all`] has sent the last events).
    pub fn close_events(&self) {
        self.closed.send_replace(true);
    }

    /// `AddLocMixerOutput`: outputs outside the allowed directories are refused (PARAM_ERR)
    /// before any file is made; an unknown mixer is refused first.
    pub async fn add_outputs(&self, id: &str, outputs: Vec<crate::mixer::types::MixerOutput>) -> Result<(), CrError> {
        let dirs = self.env.output_dirs.clone();
        self.with(id, move |m| {
            if let Some(dirs) = &dirs {
                confine::check(&outputs, dirs)?;
            }
            m.add_outputs(outputs)
        })
        .await
    }

    fn sink(&self) -> EventSink {
        let tx = self.events.clone();
        Arc::new(move |e| {
            // No receiver is not an error: nobody listens.
            let _ = tx.send(MixerEvent::Output(e));
        })
    }

    fn slot(&self, id: &str) -> Result<Slot, CrError> {
        let slots = self.slots.lock().expect("mixers");
        slots.get(id).cloned().ok_or_else(|| not_found(id))
    }

    /// `CreateLocMixer`: refuses an existing id (`RECORDSTARTED`) or a fifth mixer
    /// (`CFG_RESTRICTED`) before anything starts.
    pub async fn create(
        self: &Arc<Self>,
        id: String,
        cfg: MixerCfg,
        content: Vec<MixerContent>,
    ) -> Result<(), CrError> {
        cfg.check()?;
        let slot: Slot = Arc::default();
        let guard = slot.clone().try_lock_owned().expect("a new slot is free");
        {
            let mut slots = self.slots.lock().expect("mixers");
            if slots.contains_key(&id) {
                return Err(CrError::new(err::RECORDSTARTED, format!("mixer '{id}' exists already")));
            }
            if slots.len() >= MAX_MIXERS {
                return Err(CrError::new(
                    err::CFG_RESTRICTED,
                    format!("at most {MAX_MIXERS} mixers at once"),
                ));
            }
            slots.insert(id.clone(), slot.clone());
        }
        let outputs = Box::new(Outputs::new(id.clone(), self.env.outputs.clone(), self.sink()));
        let (audio, mid) = (self.env.audio.clone(), id.clone());
        let r = blocking(move || {
            let mut guard = guard;
            *guard = Some(Mixer::create(mid, cfg, content, audio, outputs)?);
            Ok(())
        })
        .await;
        if r.is_err() {
            // Only this attempt's slot: the id may have been destroyed and created again since.
            let mut slots = self.slots.lock().expect("mixers");
            if slots.get(&id).is_some_and(|s| Arc::ptr_eq(s, &slot)) {
                slots.remove(&id);
            }
        } else {
            tokio::spawn(self.clone().watch_sources(id, slot));
        }
        r
    }

    /// Runs `f` on the mixer `id` (one call at a time per mixer) on a blocking thread.
    pub async fn with<T: Send + 'static>(
        &self,
        id: &str,
        f: impl FnOnce(&Mixer) -> Result<T, CrError> + Send + 'static,
    ) -> Result<T, CrError> {
        let guard = self.slot(id)?.lock_owned().await;
        let id = id.to_owned();
        blocking(move || guard.as_ref().map_or_else(|| Err(not_found(&id)), f)).await
    }

    /// `DestroyLocMixer`: every output is closed (state 2) when this returns.
    pub async fn destroy(&self, id: &str) -> Result<(), CrError> {
        let slot = self
            .slots
            .lock()
            .expect("mixers")
            .remove(id)
            .ok_or_else(|| not_found(id))?;
        let mixer = slot.lock_owned().await.take().ok_or_else(|| not_found(id))?;
        blocking(move || mixer.destroy()).await
    }

    /// Destroys every mixer (on `Exit` and on shutdown); failures are logged.
    pub async fn destroy_all(&self) {
        let ids: Vec<String> = self.slots.lock().expect("mixers").keys().cloned().collect();
        for id in ids {
            match self.destroy(&id).await {
                Ok(()) => tracing::info!("mixer {id} destroyed"),
                Err(e) => tracing::warn!("mixer {id}: {e}"),
            }
        }
    }
}
