//! An uploading output: its local file, and beside it the same recording cut into slices at
//! keyframes (each a complete file of the same format, encrypted when the output is), each handed
//! to its [`Dest`] once closed.

use super::super::types::{CrError, OutputEnv, Streams};
use super::av::AvOut;
use super::dest::Dest;
use super::spec::{Format, Plan};
use super::upload::UploadCfg;
use ffmpeg_next::Packet;
use localrecord_crypt::Key;
use std::sync::Arc;

pub struct Sliced {
    pub main: AvOut,
    slice: Option<(u32, AvOut)>,
    next_index: u32,
    format: Format,
    key: Option<Arc<Key>>,
    streams: Streams,
    slice_ms: i64,
    /// Mixer time of the current slice's first keyframe.
    slice_start: i64,
    dest: Dest,
}

impl Sliced {
    pub fn create(
        plan: &Plan,
        target: &str,
        key: Option<Arc<Key>>,
        env: &OutputEnv,
        streams: &Streams,
        cfg: &UploadCfg,
    ) -> Result<Sliced, CrError> {
        let main = AvOut::create(&plan.path, plan.format, streams, key.as_deref())?;
        let dest = match Dest::create(plan, target, env, streams, cfg) {
            Ok(d) => d,
            Err(e) => {
                main.discard();
                return Err(e);
            }
        };
        Ok(Sliced {
            main,
            slice: None,
            next_index: 0,
            format: plan.format,
            key,
            streams: streams.clone(),
            slice_ms: cfg.slice_secs.max(1) as i64 * 1000,
            slice_start: 0,
            dest,
        })
    }

    pub fn video(&mut self, p: &Packet, ms: i64) -> Result<(), CrError> {
        self.main.video(p, ms)?;
        let due = self.slice.is_none() || ms - self.slice_start >= self.slice_ms;
        if p.is_key() && self.main.started() && due {
            self.cut()?;
            self.slice_start = ms;
            self.open_slice()?;
        }
        match &mut self.slice {
            Some((_, s)) => s.video(p, ms),
            None => Ok(()),
        }
    }

    pub fn audio(&mut self, p: &Packet, ms: i64) -> Result<(), CrError> {
        self.main.audio(p, ms)?;
        match &mut self.slice {
            Some((_, s)) => s.audio(p, ms),
            None => Ok(()),
        }
    }

    fn open_slice(&mut self) -> Result<(), CrError> {
        let index = self.next_index;
        let path = self.dest.slice_path(index);
        self.dest.opened(index);
        self.next_index += 1;
        let out = AvOut::create(&path, self.format, &self.streams, self.key.as_deref())?;
        self.slice = Some((index, out));
        Ok(())
    }

    /// Closes the current slice and hands it over.
    fn cut(&mut self) -> Result<(), CrError> {
        if let Some((index, s)) = self.slice.take() {
            let path = s.path.clone();
            let done = s.finish()?;
            self.dest.closed(index, &path, done);
        }
        Ok(())
    }

    /// Finalises the file and the last slice, then waits for the uploads.
    pub fn finish(mut self) -> Result<(i64, u64), CrError> {
        let cut = self.cut();
        let done = self.main.finish();
        let uploaded = self.dest.finish();
        cut?;
        let done = done?;
        uploaded?;
        Ok(done)
    }
}
