//! Where an uploading output's slices go once closed. `http(s)://` and `s3://` targets: a spool
//! directory of the output's own, emptied by its upload thread ([`Uploader`]). `localrecord:CLASSID`:
//! the recorder's TIC flow ([`TaskFeed`]): a task on our server, the slices written straight into
//! its directory in the task book and uploaded by the recorder's journaled queue, which outlives
//! the output, the mixer and the process (a crash, an outage or a reboot loses nothing).

use super::super::feed::{class_of, FeedTask, TaskFeed};
use super::super::types::{err, CrError, OutputEnv, Streams};
use super::spec::{Format, Plan};
use super::upload::{UploadCfg, Uploader};
use std::path::{Path, PathBuf};
use std::sync::Arc;

pub enum Dest {
    Put {
        uploader: Uploader,
        dir: PathBuf,
        stem: String,
        format: Format,
    },
    Task {
        end: TaskEnd,
        dir: PathBuf,
    },
}

/// A `localrecord:` output's task, ended with the slices it closed however the output ends
/// (finished, failed or dropped), so the recorder's queue can always stop it.
pub struct TaskEnd {
    feed: Arc<dyn TaskFeed>,
    task_id: String,
    closed: u32,
}

impl Drop for TaskEnd {
    fn drop(&mut self) {
        self.feed.finished(&self.task_id, self.closed as i32);
    }
}

impl Dest {
    /// Checks `target`, then makes the spool directory or the server's task.
    pub fn create(
        plan: &Plan,
        target: &str,
        env: &OutputEnv,
        streams: &Streams,
        cfg: &UploadCfg,
    ) -> Result<Dest, CrError> {
        if let Some(class) = class_of(target) {
            let class_id = class.map_err(|m| CrError::new(err::PARAM_ERR, m))?;
            let feed = env.tasks.clone().ok_or_else(|| {
                CrError::new(err::PARAM_ERR, "localrecord: outputs need the recorder's local service")
            })?;
            let task = FeedTask {
                class_id,
                slice_secs: cfg.slice_secs.max(1),
                fps: streams.frame_rate,
                audio: streams.audio.is_some(),
                width: streams.width,
                height: streams.height,
            };
            let (task_id, dir) = feed.begin(&task)?;
            let end = TaskEnd {
                feed,
                task_id,
                closed: 0,
            };
            return Ok(Dest::Task { end, dir });
        }
        let uploader = Uploader::start(target, cfg.clone())?;
        let stem = plan
            .path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        // A directory per output: two outputs (or mixers) with the same name never share slices.
        let stamp = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        let spool = if env.spool_dir.as_os_str().is_empty() {
            std::env::temp_dir().join("localrecord-spool")
        } else {
            env.spool_dir.clone()
        };
        let dir = spool.join(format!("{stem}-{}-{stamp}", std::process::id()));
        std::fs::create_dir_all(&dir)
            .map_err(|e| super::sink::io_error(&e, &format!("creating the spool {}", dir.display())))?;
        Ok(Dest::Put {
            uploader,
            dir,
            stem,
            format: plan.format,
        })
    }

    /// The file slice `index` is written to.
    pub fn slice_path(&self, index: u32) -> PathBuf {
        match self {
            Dest::Put { dir, stem, format, .. } => dir.join(format!("{stem}.{index:05}.{}", format.extension())),
            Dest::Task { dir, .. } => crate::engine::slice_path(dir, index as i32),
        }
    }

    /// Slice `index` is about to be written.
    pub fn opened(&self, index: u32) {
        if let Dest::Task { end, .. } = self {
            end.feed.slice_opened(&end.task_id, index as i32);
        }
    }

    /// Slice `index` at `path` is complete.
    pub fn closed(&mut self, index: u32, path: &Path, (duration_ms, size): (i64, u64)) {
        match self {
            Dest::Put { uploader, .. } => uploader.send(path.to_owned()),
            Dest::Task { end, .. } => {
                end.feed.slice_closed(&end.task_id, index as i32, duration_ms, size);
                end.closed = index + 1;
            }
        }
    }

    /// The output ended: waits for the output's own uploads; a task is handed to the recorder's
    /// queue, which stops it once its slices are on the server.
    pub fn finish(self) -> Result<(), CrError> {
        match self {
            Dest::Put { uploader, dir, .. } => {
                let r = uploader.finish();
                let _ = std::fs::remove_dir(&dir); // only when every slice is gone
                r
            }
            Dest::Task { end, .. } => {
                drop(end);
                Ok(())
            }
        }
    }
}
