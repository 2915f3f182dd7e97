//! An uploading output: its local file, and beside it the same recording cut into slices at
//! keyframes (each a complete file of the same format, encrypted when the output is) in a spool
//! directory of its own, each handed to the [`Uploader`] once closed.

use super::super::types::{CrError, Streams};
use super::av::AvOut;
use super::spec::{Format, Plan};
use super::upload::{UploadCfg, Uploader};
use ffmpeg_next::Packet;
use localrecord_crypt::Key;
use std::path::{Path, PathBuf};
use std::sync::Arc;

pub struct Sliced {
    pub main: AvOut,
    slice: Option<AvOut>,
    next_index: u32,
    dir: PathBuf,
    stem: String,
    format: Format,
    key: Option<Arc<Key>>,
    streams: Streams,
    slice_ms: i64,
    /// Mixer time of the current slice's first keyframe.
    slice_start: i64,
    uploader: Uploader,
}

impl Sliced {
    pub fn create(
        plan: &Plan,
        target: &str,
        key: Option<Arc<Key>>,
        streams: &Streams,
        spool: &Path,
        cfg: &UploadCfg,
    ) -> Result<Sliced, CrError> {
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
        let dir = spool.join(format!("{stem}-{}-{stamp}", std::process::id()));
        std::fs::create_dir_all(&dir)
            .map_err(|e| super::sink::io_error(&e, &format!("creating the spool {}", dir.display())))?;
        let main = AvOut::create(&plan.path, plan.format, streams, key.as_deref()).inspect_err(|_| {
            let _ = std::fs::remove_dir(&dir);
        })?;
        Ok(Sliced {
            main,
            slice: None,
            next_index: 0,
            dir,
            stem,
            format: plan.format,
            key,
            streams: streams.clone(),
            slice_ms: cfg.slice_secs.max(1) as i64 * 1000,
            slice_start: 0,
            uploader,
        })
    }

    pub fn video(&mut self, p: &Packet, ms: i64) -> Result<(), CrError> {
        self.main.video(p, ms)?;
        let due = self.slice.is_none() || ms - self.slice_start >= self.slice_ms;
        if p.is_key() && self.main.started() && due {
            self.cut()?;
            self.slice_start = ms;
            let name = format!("{}.{:05}.{}", self.stem, self.next_index, self.format.extension());
            self.next_index += 1;
            let path = self.dir.join(name);
            self.slice = Some(AvOut::create(&path, self.format, &self.streams, self.key.as_deref())?);
        }
        match &mut self.slice {
            Some(s) => s.video(p, ms),
            None => Ok(()),
        }
    }

    pub fn audio(&mut self, p: &Packet, ms: i64) -> Result<(), CrError> {
        self.main.audio(p, ms)?;
        match &mut self.slice {
            Some(s) => s.audio(p, ms),
            None => Ok(()),
        }
    }

    /// Closes the current slice and queues it for upload.
    fn cut(&mut self) -> Result<(), CrError> {
        if let Some(s) = self.slice.take() {
            let path = s.path.clone();
            s.finish()?;
            self.uploader.send(path);
        }
        Ok(())
    }

    /// Finalises the file and the last slice, then waits for the uploads.
    pub fn finish(mut self) -> Result<(i64, u64), CrError> {
        let cut = self.cut();
        let done = self.main.finish();
        let uploaded = self.uploader.finish();
        let _ = std::fs::remove_dir(&self.dir); // only when every slice is gone
        cut?;
        let done = done?;
        uploaded?;
        Ok(done)
    }
}
