//! The layout's sources. Each source that captures (a camera or other FFmpeg device, an X11
//! screen region, an image file, a looping media file) runs on its own thread and keeps only its
//! latest picture (YUV420P) in a [`Slot`]; the mixer thread takes whatever is there at each tick,
//! so a slow or stalled source never holds the mixer up. A media file's sound, when the mixer
//! has sound, waits likewise in a small [`Ring`] (`audio`). Text and timestamps are drawn by the
//! compositor itself and have no thread. A source that fails to open or dies later is marked
//! failed (its cell shows a placeholder) and logged; it never stops the mixer.

mod audio;
mod picture;
mod screen;
mod stream;

pub use audio::Ring;

use super::types::{content_type as ct, MixerContent};
use ffmpeg_next::frame;
use serde_json::Value;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// The largest picture a source accepts (width and height); larger ones fail to the placeholder.
pub const MAX_SIDE: u32 = 8192;

/// What a source is doing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Status {
    Starting,
    Ok,
    Failed(String),
}

/// A source's latest picture and status, shared between its thread and the mixer.
#[derive(Default)]
pub struct Slot {
    frame: Mutex<Option<Arc<frame::Video>>>,
    /// Bumped at every new picture: the compositor rescales only when it changes.
    generation: AtomicU64,
    status: Mutex<Option<Status>>,
}

impl Slot {
    /// Publishes a new picture (YUV420P, even dimensions) and marks the source ok.
    pub fn publish(&self, f: frame::Video) {
        *lock(&self.frame) = Some(Arc::new(f));
        self.generation.fetch_add(1, Ordering::SeqCst);
        self.set(Status::Ok);
    }

    pub fn latest(&self) -> (Option<Arc<frame::Video>>, u64) {
        let f = lock(&self.frame).clone();
        (f, self.generation.load(Ordering::SeqCst))
    }

    pub fn status(&self) -> Status {
        lock(&self.status).clone().unwrap_or(Status::Starting)
    }

    fn set(&self, s: Status) {
        *lock(&self.status) = Some(s);
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// One running source. Dropping it asks its thread to stop without waiting; `stop` waits.
pub struct Source {
    pub slot: Arc<Slot>,
    /// A media file's sound for the mixer (only when the mixer has sound).
    pub sound: Option<Arc<Ring>>,
    stop: Arc<AtomicBool>,
    thread: Mutex<Option<std::thread::JoinHandle<()>>>,
}

impl Source {
    /// Starts the source for `item` (already validated). `fps` is the mixer's frame rate;
    /// `sound` the instant the mixer's sound starts (None: the mixer has no sound).
    pub fn start(item: &MixerContent, fps: u32, sound: Option<Instant>) -> Source {
        let slot = Arc::new(Slot::default());
        let stop = Arc::new(AtomicBool::new(false));
        let ring = sound
            .filter(|_| item.kind == ct::MEDIA)
            .map(|epoch| Arc::new(Ring::new(epoch, audio::gain(&item.param))));
        let thread = match item.kind {
            ct::TEXT | ct::TIMESTAMP => {
                slot.set(Status::Ok);
                None
            }
            kind => {
                let (param, slot2, stop2, ring2) = (item.param.clone(), slot.clone(), stop.clone(), ring.clone());
                let spawned = std::thread::Builder::new()
                    .name(format!("mixer-source-{kind}"))
                    .spawn(move || {
                        // A bug met on a hostile input must not leave the cell "starting" forever.
                        let ran = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                            run(kind, &param, fps, &slot2, &stop2, ring2)
                        }));
                        if ran.is_err() {
                            slot2.set(Status::Failed("the source failed unexpectedly".into()));
                        }
                    });
                match spawned {
                    Ok(t) => Some(t),
                    Err(e) => {
                        slot.set(Status::Failed(format!("cannot start a thread: {e}")));
                        None
                    }
                }
            }
        };
        Source {
            slot,
            sound: ring,
            stop,
            thread: Mutex::new(thread),
        }
    }

    /// Asks the thread to stop, without waiting.
    pub fn halt(&self) {
        self.stop.store(true, Ordering::SeqCst);
    }

    /// Stops the thread and waits for it (the device is released when this returns), but not
    /// forever: a device stuck in a read is left to end by itself after a few seconds.
    pub fn stop(&self) {
        self.halt();
        let Some(t) = lock(&self.thread).take() else { return };
        let until = std::time::Instant::now() + std::time::Duration::from_secs(3);
        while !t.is_finished() && std::time::Instant::now() < until {
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        if t.is_finished() {
            let _ = t.join();
        } else {
            tracing::warn!("a mixer source did not stop within 3 s; it is left to end by itself");
        }
    }
}

impl Drop for Source {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}

/// The source thread: captures until stopped; a failure is recorded in the slot and logged.
fn run(kind: u32, param: &Value, fps: u32, slot: &Slot, stop: &AtomicBool, sound: Option<Arc<Ring>>) {
    let result = match kind {
        ct::VIDEO => camera(param).and_then(|(f, i)| {
            let ictx = crate::capture::device::open(&f, &i, &[]).map_err(|e| e.to_string())?;
            stream::run(ictx, false, slot, stop, None)
        }),
        ct::SCREEN => screen::run(param, fps, slot, stop),
        ct::PIC => picture::load(&file_param(param, &["resourceid", "filename"]), slot),
        ct::MEDIA => stream::open_file(&file_param(param, &["filename"]))
            .and_then(|ictx| stream::run(ictx, true, slot, stop, sound)),
        other => Err(format!("unknown content type {other}")),
    };
    if let Err(e) = result {
        if !stop.load(Ordering::SeqCst) {
            tracing::warn!("mixer source (type {kind}) failed: {e}; its cell shows a placeholder");
            slot.set(Status::Failed(e));
        }
    }
}

/// `param.camid` as (FFmpeg input format, input): "v4l2:/dev/video0", "lavfi:testsrc2"; a bare
/// device path ("/dev/video0") is V4L2.
pub fn camera(param: &Value) -> Result<(String, String), String> {
    let id = param.get("camid").and_then(Value::as_str).unwrap_or_default();
    if id.starts_with("/dev/") {
        return Ok(("v4l2".to_owned(), id.to_owned()));
    }
    match id.split_once(':') {
        Some((f, i)) if !f.is_empty() && !i.is_empty() => Ok((f.to_owned(), i.to_owned())),
        _ => Err(format!("camid '{id}' is not \"format:input\" (e.g. v4l2:/dev/video0)")),
    }
}

/// What is wrong with a SCREEN item's `param`, if anything.
pub fn screen_param_error(param: &Value) -> Option<String> {
    if let Some(a) = param.get("area") {
        if a.as_str().and_then(screen::area).is_none() {
            return Some(format!("param.area {a} is not \"x,y,w,h\""));
        }
    }
    if param
        .get("display")
        .is_some_and(|d| d.as_str().is_none_or(|d| d.len() > 256))
    {
        return Some("param.display must be a display name such as \":0\"".into());
    }
    for k in ["pid", "screenid"] {
        if param.get(k).is_some_and(|v| !v.is_null()) && screen::number(param.get(k)).is_none() {
            return Some(format!("param.{k} must be a number"));
        }
    }
    None
}

/// The first of `names` present in `param` as a non-empty string.
pub fn file_param(param: &Value, names: &[&str]) -> String {
    names
        .iter()
        .find_map(|n| param.get(*n).and_then(Value::as_str).filter(|s| !s.is_empty()))
        .unwrap_or_default()
        .to_owned()
}

/// Identifies what a source captures: items with the same key share one running source (a
/// camera opened twice would fail), and a layout update keeps the sources whose keys remain.
pub fn key(item: &MixerContent) -> String {
    format!("{}:{}", item.kind, item.param)
}
