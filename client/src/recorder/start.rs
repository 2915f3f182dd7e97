//! StartRecord: the seed's parameters and defaults, their checks (each refusal with the seed's
//! code), then capture, the server task, the book entry and the engine thread.

use super::feed::task_record;
use super::params::{bad, chrono_secs, free_bytes, rand_u16, StartParams};
use super::{dst, keepalive, server_error, CtlError, Current, Recorder};
use crate::api::{codes, is_server_task_id, CreateTask};
use crate::capture::{self, CaptureSpec, Region, VideoSource};
use crate::engine::{self, EngineSpec};
use std::sync::atomic::AtomicI64;
use std::sync::Arc;
use std::time::Instant;

/// What StartRecord checked and will launch.
struct Plan {
    client: crate::server::ServerClient,
    class_id: i64,
    fps: u32,
    bps: u32,
    slice_time: u32,
    audio: bool,
    upload: bool,
    capture: CaptureSpec,
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
        let plan = self.plan(&p)?;
        let mut dst = p
            .dst_path
            .as_deref()
            .filter(|d| !d.is_empty())
            .map(|d| dst::create(d, &self.settings.dst_dirs))
            .transpose()?;
        let r = self.launch(plan, &mut dst, &mut cur).await;
        if let (Err(_), Some(d)) = (&r, dst) {
            d.discard();
        }
        r
    }

    /// The parameters' checks, each refusal with the seed's code.
    fn plan(&self, p: &StartParams) -> Result<Plan, CtlError> {
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
        let audio = p.enable_audio.unwrap_or(true);
        let capture = CaptureSpec {
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
        Ok(Plan {
            client,
            class_id,
            fps,
            bps,
            slice_time,
            audio,
            upload: p.enable_upload.unwrap_or(true),
            capture,
        })
    }

    /// Refuses to start with less than `min_free_bytes` in the data dir or the DstPath's dir.
    fn check_free_space(&self, dst: Option<&dst::DstFile>) -> Result<(), CtlError> {
        let dirs = std::iter::once(self.settings.data_dir.clone()).chain(dst.map(|d| d.dir().to_owned()));
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
        Ok(())
    }

    /// Free space, capture, the server's task, the book entry, the engine. `dst` is taken by the
    /// engine once it runs; on any refusal before that it stays with the caller.
    async fn launch(
        &self,
        plan: Plan,
        dst: &mut Option<dst::DstFile>,
        cur: &mut Option<Current>,
    ) -> Result<String, CtlError> {
        self.check_free_space(dst.as_ref())?;
        let (tx, rx) = std::sync::mpsc::sync_channel(64);
        let (tx2, spec) = (tx.clone(), plan.capture.clone());
        let capture = tokio::task::spawn_blocking(move || capture::start(&spec, tx2))
            .await
            .map_err(|e| CtlError::new(codes::INTERNAL, e.to_string()))?
            .map_err(|e| bad(e.to_string()))?;
        let task_id = if plan.upload {
            match server_task(&plan).await {
                Ok(id) => id,
                Err(e) => {
                    tokio::task::spawn_blocking(move || capture.stop()).await.ok();
                    return Err(e);
                }
            }
        } else {
            format!("local-{}-{:04x}", chrono_secs(), rand_u16())
        };
        let rec = task_record(&task_id, plan.class_id, plan.client.credentials(), plan.upload);
        if let Err(e) = self.book.insert(rec) {
            tokio::task::spawn_blocking(move || capture.stop()).await.ok();
            return Err(CtlError::new(codes::BAD_DST_PATH, format!("data directory: {e}")));
        }
        let dst = dst.take();
        let spec = EngineSpec {
            dir: self.book.task_dir(&task_id),
            dst_path: dst.as_ref().map(|d| d.open_path()),
            dst_file: dst.map(|d| Arc::new(d.into_file())),
            slice_ms: plan.slice_time as i64 * 1000,
            fps: plan.fps,
            bps: plan.bps,
            audio: plan.audio,
            key: self.settings.key.clone(),
        };
        let recorded = Arc::new(AtomicI64::new(0));
        let on_event = self.engine_events(task_id.clone());
        let (rec2, started) = (recorded.clone(), Instant::now());
        let engine = std::thread::Builder::new()
            .name(format!("engine-{task_id}"))
            .spawn(move || engine::run(spec, rx, started, rec2, on_event))
            .map_err(|e| CtlError::new(codes::INTERNAL, e.to_string()))?;
        *self.ended.lock().expect("ended") = None;
        let every = self.settings.keepalive;
        let keepalive = plan
            .upload
            .then(|| keepalive::spawn(task_id.clone(), every, self.uploader.clone()));
        *cur = Some(Current {
            task_id: task_id.clone(),
            upload: plan.upload,
            tx,
            capture: Some(capture),
            engine: Some(engine),
            paused: false,
            recorded,
            keepalive,
        });
        tracing::info!(
            "recording task {task_id} (class {}, {} s slices)",
            plan.class_id,
            plan.slice_time
        );
        Ok(task_id)
    }
}

/// The server's task for `plan`; its TaskId becomes a directory name, so only the server's own
/// pattern is taken.
async fn server_task(plan: &Plan) -> Result<String, CtlError> {
    let client = &plan.client;
    let req = CreateTask {
        class_id: plan.class_id,
        video_fps: Some(plan.fps),
        video_bps: Some(plan.bps),
        enable_audio: Some(plan.audio),
        slice_time: Some(plan.slice_time),
        width: Some(plan.capture.region.width).filter(|w| *w > 0),
        height: Some(plan.capture.region.height).filter(|h| *h > 0),
    };
    let creds = client.credentials();
    let id = client.create_task(&req).await.map_err(server_error)?;
    if is_server_task_id(&id, creds.sdk_app_id, plan.class_id) {
        Ok(id)
    } else {
        Err(CtlError::new(
            codes::BAD_PUSH_URL,
            format!("the server answered an invalid TaskId {id:?}"),
        ))
    }
}
