//! A running mixer, as the control API and the CLI drive it. (Signatures agreed between the
//! mixer and its callers; the bodies are the mixer's to write.)

use super::compose::{items, Compositor};
use super::run::{self, lock, Shared, Ticker};
use super::sound::Sound;
use super::source::Status;
use super::types::{err, CrError, MixerCfg, MixerContent, MixerOutput, OutputInfo, OutputSet, Streams};
use super::validate::check_content;
use crate::capture::AudioSource;
use crate::engine::encode::{Rate, VideoEncoder};
use serde::Serialize;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Instant;

/// How a source of the layout is doing (`GetState`, events): a source that fails or vanishes
/// shows a placeholder in its cell and is reported here; it never stops the recording.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SourceStatus {
    /// Index in the current mixerContent list.
    pub index: usize,
    #[serde(rename = "type")]
    pub kind: u32,
    /// "ok", "starting" or "failed".
    pub state: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

pub struct Mixer {
    id: String,
    fps: u32,
    /// When the mixer's sound starts (None: it has none); media sources place their sound by it.
    sound_start: Option<Instant>,
    /// Behind a Mutex only so that a Mixer is Sync (FFmpeg's parameters are Send, not Sync).
    streams: Mutex<Streams>,
    shared: Arc<Shared>,
    /// Serialises layout updates (sources are started and stopped under it).
    updating: Mutex<()>,
    stop: Option<mpsc::Sender<()>>,
    thread: Option<JoinHandle<()>>,
    audio: Option<(Arc<AtomicBool>, JoinHandle<()>)>,
}

fn inner(e: impl std::fmt::Display) -> CrError {
    CrError::new(err::INNER_ERR, e.to_string())
}

impl Mixer {
    /// Checks `cfg` and `content` (bad ones are refused with the seed's codes, nothing started),
    /// then starts the sources and the mixer thread. `audio`: the sound source (None: no track).
    pub fn create(
        id: String,
        cfg: MixerCfg,
        content: Vec<MixerContent>,
        audio: Option<AudioSource>,
        outputs: Box<dyn OutputSet>,
    ) -> Result<Mixer, CrError> {
        cfg.check()?;
        check_content(&content)?;
        ffmpeg_next::init().map_err(inner)?;
        ffmpeg_next::device::register_all();
        ffmpeg_next::util::log::set_level(ffmpeg_next::util::log::Level::Error);
        // One encode for every output: `defaultQP` is the CRF, capped by `bitRate`.
        let rate = Rate::Quality {
            crf: cfg.default_qp,
            max: cfg.bit_rate,
        };
        let video = VideoEncoder::open(cfg.width, cfg.height, cfg.frame_rate, cfg.gop(), rate).map_err(inner)?;
        let start = Instant::now();
        let (sound, audio) = match audio {
            None => (None, None),
            Some(src) => {
                let (tx, rx) = mpsc::sync_channel(512);
                let flag = Arc::new(AtomicBool::new(false));
                let t = crate::capture::open_audio(&src, tx, flag.clone());
                (Some(Sound::new(rx, start).map_err(inner)?), Some((flag, t)))
            }
        };
        let sound_start = sound.as_ref().map(|_| start);
        let streams = Streams {
            video: video.params.clone(),
            audio: sound.as_ref().map(|s| s.enc.params.clone()),
            width: cfg.width,
            height: cfg.height,
            frame_rate: cfg.frame_rate,
        };
        let shared = Arc::new(Shared {
            layout: Mutex::new(Arc::new(items(&content, &[], cfg.frame_rate, sound_start))),
            outputs: Mutex::new(outputs),
            force_key: AtomicBool::new(false),
            failure: Mutex::new(None),
        });
        let (stop_tx, stop_rx) = mpsc::channel();
        let mut m = Mixer {
            id: id.clone(),
            fps: cfg.frame_rate,
            sound_start,
            streams: Mutex::new(streams),
            shared: shared.clone(),
            updating: Mutex::new(()),
            stop: Some(stop_tx),
            thread: None,
            audio,
        };
        let (w, h, fps) = (cfg.width, cfg.height, cfg.frame_rate);
        let spawned = std::thread::Builder::new().name(format!("mixer-{id}")).spawn(move || {
            let compositor = Compositor::new(w, h);
            let t = Ticker {
                compositor,
                video,
                sound,
                shared,
                fps,
                start,
            };
            run::run(t, stop_rx)
        });
        m.thread = Some(spawned.map_err(inner)?);
        Ok(m)
    }

    pub fn id(&self) -> &str {
        &self.id
    }

    /// What the outputs are given: the encode's streams.
    pub fn streams(&self) -> Streams {
        lock(&self.streams).clone()
    }

    /// A new layout, applied from the next frame on, in the same files.
    pub fn update_content(&self, content: Vec<MixerContent>) -> Result<(), CrError> {
        check_content(&content)?;
        let _serial = lock(&self.updating);
        let old = lock(&self.shared.layout).clone();
        let new = Arc::new(items(&content, &old, self.fps, self.sound_start));
        *lock(&self.shared.layout) = new.clone();
        for item in old.iter() {
            if !new.iter().any(|n| Arc::ptr_eq(&n.source, &item.source)) {
                item.source.halt();
            }
        }
        Ok(())
    }

    /// Opens each output (in order) and makes the next frame a keyframe for them. When one is
    /// refused, those this call opened are closed again and its error returned.
    pub fn add_outputs(&self, outputs: Vec<MixerOutput>) -> Result<(), CrError> {
        self.check_running()?;
        let streams = self.streams();
        let mut set = lock(&self.shared.outputs);
        for (i, o) in outputs.iter().enumerate() {
            if let Err(e) = set.add(o, &streams) {
                for done in &outputs[..i] {
                    let _ = set.remove(&done.filename);
                }
                return Err(e);
            }
        }
        self.shared.force_key.store(true, Ordering::SeqCst);
        Ok(())
    }

    /// Closes each named output; every name is tried, the first error is returned.
    pub fn remove_outputs(&self, filenames: Vec<String>) -> Result<(), CrError> {
        let mut set = lock(&self.shared.outputs);
        let mut first = None;
        for f in &filenames {
            if let Err(e) = set.remove(f) {
                first.get_or_insert(e);
            }
        }
        first.map_or(Ok(()), Err)
    }

    pub fn outputs(&self) -> Vec<(String, OutputInfo)> {
        lock(&self.shared.outputs).list()
    }

    pub fn sources(&self) -> Vec<SourceStatus> {
        let layout = lock(&self.shared.layout).clone();
        layout
            .iter()
            .enumerate()
            .map(|(index, item)| {
                let (state, error) = match item.source.slot.status() {
                    Status::Starting => ("starting", None),
                    Status::Ok => ("ok", None),
                    Status::Failed(e) => ("failed", Some(e)),
                };
                SourceStatus {
                    index,
                    kind: item.content.kind,
                    state: state.to_owned(),
                    error,
                }
            })
            .collect()
    }

    /// Ends every output (each reports state 2) and stops the sources; returns when all is closed.
    pub fn destroy(mut self) -> Result<(), CrError> {
        self.shutdown()
    }

    fn check_running(&self) -> Result<(), CrError> {
        match lock(&self.shared.failure).as_ref() {
            Some(f) => Err(CrError::new(err::INNER_ERR, format!("the mixer has stopped: {f}"))),
            None => Ok(()),
        }
    }

    fn shutdown(&mut self) -> Result<(), CrError> {
        let Some(stop) = self.stop.take() else { return Ok(()) };
        let _ = stop.send(());
        let joined = self.thread.take().map(JoinHandle::join);
        if let Some((flag, t)) = self.audio.take() {
            flag.store(true, Ordering::SeqCst);
            let _ = t.join();
        }
        let layout = lock(&self.shared.layout).clone();
        for item in layout.iter() {
            item.source.stop();
        }
        match joined {
            Some(Err(_)) => Err(CrError::new(err::INNER_ERR, "the mixer thread panicked")),
            _ => Ok(()),
        }
    }
}

impl Drop for Mixer {
    fn drop(&mut self) {
        let _ = self.shutdown();
    }
}
