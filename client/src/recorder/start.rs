//! StartRecord: the seed's parameters and defaults, their checks (each refusal with the seed's
//! code), then capture, the server task, the book entry and the engine thread.

use super::book::{SliceRecord, TaskRecord};
use super::{server_error, CtlError, Current, Recorder};
use crate::api::{codes, CreateTask};
use crate::capture::{self, CaptureSpec, Region, VideoSource};
use crate::engine::{self, EngineSpec, Event};
use serde::Deserialize;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicI64;
use std::sync::Arc;
use std::time::Instant;

/// StartRecord's body, with the seed's names. Absent fields take the seed's defaults.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct StartParams {
    #[serde(rename = "AppProc", default)]
    pub app_proc: Option<String>,
    #[serde(rename = "Wnd", default)]
    pub wnd: Option<u32>,
    #[serde(rename = "DstPath", default)]
    pub dst_path: Option<String>,
    #[serde(rename = "x", default)]
    pub x: Option<u32>,
    #[serde(rename = "y", default)]
    pub y: Option<u32>,
    #[serde(rename = "Width", default)]
    pub width: Option<u32>,
    #[serde(rename = "Height", default)]
    pub height: Option<u32>,
    /// default 15
    #[serde(rename = "VideoFps", default)]
    pub video_fps: Option<u32>,
    /// bits per second; default 1 000 000
    #[serde(rename = "VideoBps", default)]
    pub video_bps: Option<u32>,
    /// default true
    #[serde(rename = "EnableAudio", default)]
    pub enable_audio: Option<bool>,
    /// default true
    #[serde(rename = "EnableUpload", default)]
    pub enable_upload: Option<bool>,
    /// seconds; default 300
    #[serde(rename = "SliceTime", default)]
    pub slice_time: Option<u32>,
    #[serde(rename = "ClassId", default)]
    pub class_id: Option<i64>,
    /// Not the seed's: lets the command line record the whole screen without naming a window.
    #[serde(skip)]
    pub whole_screen: bool,
}

fn bad(msg: impl Into<String>) -> CtlError {
    CtlError::new(codes::INVALID_PARAMETER, msg)
}

/// Bytes free to an unprivileged writer on the filesystem holding `dir`.
pub fn free_bytes(dir: &Path) -> Option<u64> {
    use std::os::unix::ffi::OsStrExt;
    let c = std::ffi::CString::new(dir.as_os_str().as_bytes()).ok()?;
    // SAFETY: statvfs fills the zeroed struct; c is a valid NUL-terminated path.
    unsafe {
        let mut s: libc::statvfs = std::mem::zeroed();
        (libc::statvfs(c.as_ptr(), &mut s) == 0).then(|| s.f_bavail as u64 * s.f_frsize as u64)
    }
}

/// DstPath must name an `.flv` file we can create in an existing directory.
fn check_dst(p: &str) -> Result<PathBuf, CtlError> {
    let path = PathBuf::from(p);
    let wrong = |why: &str| CtlError::new(codes::BAD_DST_PATH, format!("DstPath {p}: {why}"));
    if !path.extension().is_some_and(|e| e.eq_ignore_ascii_case("flv")) {
        return Err(wrong("only .flv files are written"));
    }
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_owned(),
        _ => return Err(wrong("give an absolute path")),
    };
    if !dir.is_dir() {
        return Err(wrong("its directory does not exist"));
    }
    std::fs::OpenOptions::new()
        .create(true)
        .truncate(true)
        .write(true)
        .open(&path)
        .map_err(|e| wrong(&e.to_string()))?;
    Ok(path)
}

impl Recorder {
    /// StartRecord. Returns the TaskId.
    pub async fn start(&self, p: StartParams) -> Result<String, CtlError> {
        let mut cur = self.current.lock().await;
        if let Some(c) = cur.as_ref() {
            if self.ended_early(&c.task_id).is_none() {
                return Err(bad("already recording; StopRecord first"));
            }
            let c = cur.take().expect("checked");
            super::wind_down(c).await;
        }
        let client = self
            .client()
            .ok_or_else(|| CtlError::new(codes::AUTH_FAILED, "not authenticated: call Init first"))?;
        let class_id = p
            .class_id
            .filter(|c| *c > 0)
            .ok_or_else(|| bad("ClassId is required"))?;
        let fps = p.video_fps.unwrap_or(15);
        if !(1..=60).contains(&fps) {
            return Err(bad("VideoFps must be 1..60"));
        }
        let bps = p.video_bps.unwrap_or(1_000_000);
        if !(50_000..=50_000_000).contains(&bps) {
            return Err(bad("VideoBps must be 50000..50000000"));
        }
        let slice_time = p.slice_time.unwrap_or(300);
        if !(1..=86_400).contains(&slice_time) {
            return Err(bad("SliceTime must be 1..86400 seconds"));
        }
        let wnd = p.wnd.unwrap_or(0);
        let app_proc = p.app_proc.clone().filter(|a| !a.is_empty());
        if matches!(self.settings.video, VideoSource::X11 { .. }) && wnd == 0 && app_proc.is_none() && !p.whole_screen {
            return Err(bad("give AppProc or Wnd"));
        }
        let dst = p
            .dst_path
            .as_deref()
            .filter(|d| !d.is_empty())
            .map(check_dst)
            .transpose()?;
        let dirs = std::iter::once(self.settings.data_dir.clone())
            .chain(dst.iter().filter_map(|d| d.parent().map(Path::to_owned)));
        for dir in dirs {
            if free_bytes(&dir).is_some_and(|f| f < self.settings.min_free_bytes) {
                return Err(CtlError::new(
                    codes::NO_SPACE,
                    format!(
                        "less than {} MiB free in {}",
                        self.settings.min_free_bytes >> 20,
                        dir.display()
                    ),
                ));
            }
        }
        let audio = p.enable_audio.unwrap_or(true);
        let upload = p.enable_upload.unwrap_or(true);
        let spec = CaptureSpec {
            video: self.settings.video.clone(),
            region: Region {
                window: wnd,
                app_proc,
                x: p.x.unwrap_or(0),
                y: p.y.unwrap_or(0),
                width: p.width.unwrap_or(0),
                height: p.height.unwrap_or(0),
            },
            fps,
            audio: audio.then(|| self.settings.audio.clone()),
        };
        let (tx, rx) = std::sync::mpsc::sync_channel(64);
        let tx2 = tx.clone();
        let capture = tokio::task::spawn_blocking(move || capture::start(&spec, tx2))
            .await
            .map_err(|e| CtlError::new(codes::INTERNAL, e.to_string()))?
            .map_err(bad)?;
        let task_id = if upload {
            let req = CreateTask {
                class_id,
                video_fps: Some(fps),
                video_bps: Some(bps),
                enable_audio: Some(audio),
                slice_time: Some(slice_time),
                width: p.width,
                height: p.height,
            };
            match client.create_task(&req).await {
                Ok(id) => id,
                Err(e) => {
                    tokio::task::spawn_blocking(move || capture.stop()).await.ok();
                    return Err(server_error(e));
                }
            }
        } else {
            format!("local-{}-{:04x}", chrono_secs(), rand_u16())
        };
        let creds = client.credentials().clone();
        let rec = TaskRecord {
            task_id: task_id.clone(),
            class_id,
            sdk_app_id: creds.sdk_app_id,
            user_id: creds.user_id.clone(),
            user_sig: creds.user_sig.clone(),
            upload,
            started_at: chrono_secs(),
            slices: Vec::new(),
            slice_count: None,
            server_stopped: false,
        };
        self.book
            .insert(rec)
            .map_err(|e| CtlError::new(codes::BAD_DST_PATH, format!("data directory: {e}")))?;
        let spec = EngineSpec {
            dir: self.book.task_dir(&task_id),
            dst_path: dst,
            slice_ms: slice_time as i64 * 1000,
            fps,
            bps,
            audio,
        };
        let recorded = Arc::new(AtomicI64::new(0));
        let on_event = self.engine_events(task_id.clone());
        let (rec2, started) = (recorded.clone(), Instant::now());
        let engine = std::thread::Builder::new()
            .name(format!("engine-{task_id}"))
            .spawn(move || engine::run(spec, rx, started, rec2, on_event))
            .map_err(|e| CtlError::new(codes::INTERNAL, e.to_string()))?;
        *self.ended.lock().expect("ended") = None;
        *cur = Some(Current {
            task_id: task_id.clone(),
            upload,
            tx,
            capture: Some(capture),
            engine: Some(engine),
            paused: false,
            recorded,
            client: Some(client),
        });
        tracing::info!("recording task {task_id} (class {class_id}, {slice_time} s slices)");
        Ok(task_id)
    }

    /// The engine's events, written into the book as they happen (from the engine's thread).
    fn engine_events(&self, task_id: String) -> Box<dyn FnMut(Event) + Send> {
        let (book, uploader, ended) = (self.book.clone(), self.uploader.clone(), self.ended.clone());
        Box::new(move |ev| {
            let r = match ev {
                Event::SliceOpened { index, .. } => book.update(&task_id, |t| {
                    t.slices.push(SliceRecord {
                        index,
                        duration_ms: 0,
                        size: 0,
                        closed: false,
                        confirmed: false,
                    })
                }),
                Event::SliceClosed {
                    index,
                    duration_ms,
                    size,
                    ..
                } => book.update(&task_id, |t| {
                    if let Some(s) = t.slices.iter_mut().find(|s| s.index == index) {
                        (s.duration_ms, s.size, s.closed) = (duration_ms, size, true);
                    }
                }),
                Event::Finished {
                    slices,
                    recorded_ms,
                    error,
                } => {
                    if let Some(e) = &error {
                        tracing::error!("recording {task_id} ended: {e}");
                    }
                    tracing::info!("recording {task_id}: {slices} slices, {recorded_ms} ms");
                    *ended.lock().expect("ended") = Some((task_id.clone(), error));
                    book.update(&task_id, |t| {
                        t.slices.retain(|s| s.closed && s.index < slices);
                        t.slice_count = Some(t.slices.len() as i32);
                    })
                }
            };
            if let Err(e) = r {
                tracing::error!("task book for {task_id}: {e}");
            }
            uploader.wake();
        })
    }
}

fn chrono_secs() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

fn rand_u16() -> u16 {
    (std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0)
        ^ std::process::id()) as u16
}
