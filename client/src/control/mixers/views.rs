//! What `GetState` shows of the mixers, and the watch that turns source state changes into
//! `LocMixerSourceState` events.

use super::{MixerEvent, Mixers, Slot};
use crate::mixer::handle::SourceStatus;
use crate::mixer::types::OutputInfo;
use serde::Serialize;
use std::sync::Arc;
use std::time::Duration;

/// The seed's `CRVideo_MIXER_STATE` values `GetState` reports.
pub mod mixer_state {
    pub const STARTING: u8 = 1;
    pub const RUNNING: u8 = 2;
}

/// One output of a mixer in `GetState`: `{"nameOrUrl", "state", "duration", "fileSize"}`.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct OutputView {
    pub name_or_url: String,
    #[serde(flatten)]
    pub info: OutputInfo,
}

/// One mixer in `GetState`'s `Mixers`.
#[derive(Debug, Clone, Serialize)]
pub struct MixerView {
    #[serde(rename = "mixerID")]
    pub mixer_id: String,
    pub state: u8,
    pub outputs: Vec<OutputView>,
    pub sources: Vec<SourceStatus>,
}

impl Mixers {
    /// `GetState`'s `Mixers`. A mixer busy for more than a second (starting) shows as starting.
    pub async fn views(&self) -> Vec<MixerView> {
        let slots: Vec<(String, Slot)> = {
            let s = self.slots.lock().expect("mixers");
            s.iter().map(|(k, v)| (k.clone(), v.clone())).collect()
        };
        let mut out = Vec::new();
        for (id, slot) in slots {
            let mut view = MixerView {
                mixer_id: id,
                state: mixer_state::STARTING,
                outputs: Vec::new(),
                sources: Vec::new(),
            };
            // The outputs' lock is the one the mixer thread writes under: read it off the runtime.
            if let Ok(g) = tokio::time::timeout(Duration::from_secs(1), slot.lock_owned()).await {
                let read = tokio::task::spawn_blocking(move || {
                    g.as_ref().map(|m| {
                        let outputs = m.outputs().into_iter();
                        let outputs = outputs.map(|(name_or_url, info)| OutputView { name_or_url, info });
                        (outputs.collect(), m.sources())
                    })
                });
                match read.await {
                    Ok(Some((outputs, sources))) => {
                        (view.state, view.outputs, view.sources) = (mixer_state::RUNNING, outputs, sources);
                    }
                    // Failed or destroyed meanwhile.
                    Ok(None) => continue,
                    Err(_) => {}
                }
            }
            out.push(view);
        }
        out
    }

    /// Polls the mixer's sources every second and reports each change as an event, until the
    /// mixer is gone.
    pub(super) async fn watch_sources(self: Arc<Self>, id: String, slot: Slot) {
        let mut last: Option<Vec<SourceStatus>> = None;
        loop {
            tokio::time::sleep(Duration::from_secs(1)).await;
            let now = match slot.try_lock() {
                Ok(g) => match g.as_ref() {
                    Some(m) => m.sources(),
                    None => return,
                },
                Err(_) => continue,
            };
            // The first look reports failures only: "ok" is what a new mixer is expected to say.
            let changed = |s: &&SourceStatus| match &last {
                Some(l) => !l.contains(s) && s.state != "starting",
                None => s.state == "failed",
            };
            for s in now.iter().filter(changed) {
                let _ = self.events.send(MixerEvent::Source {
                    mixer_id: id.clone(),
                    source: s.clone(),
                });
            }
            last = Some(now);
        }
    }
}
