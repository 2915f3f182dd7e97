//! One output of any format, as the set drives it.

use super::super::types::{CrError, OutputEnv, Streams};
use super::av::AvOut;
use super::mp3::Mp3Out;
use super::slices::Sliced;
use super::spec::{Format, Plan};
use super::upload::UploadCfg;
use ffmpeg_next::Packet;
use std::path::Path;

pub enum Writer {
    Av(AvOut),
    Mp3(Mp3Out),
    Sliced(Box<Sliced>),
}

impl Writer {
    pub fn create(plan: &Plan, env: &OutputEnv, streams: &Streams, cfg: &UploadCfg) -> Result<Writer, CrError> {
        let key = if plan.encrypted { env.key.clone() } else { None };
        if let Some(target) = &plan.upload {
            return Ok(Writer::Sliced(Box::new(Sliced::create(
                plan, target, key, env, streams, cfg,
            )?)));
        }
        Ok(match plan.format {
            Format::Mp3 => Writer::Mp3(Mp3Out::create(&plan.path, key.as_deref())?),
            f => Writer::Av(AvOut::create(&plan.path, f, streams, key.as_deref())?),
        })
    }

    pub fn video(&mut self, p: &Packet, ms: i64) -> Result<(), CrError> {
        match self {
            Writer::Av(w) => w.video(p, ms),
            Writer::Sliced(w) => w.video(p, ms),
            Writer::Mp3(_) => Ok(()),
        }
    }

    pub fn audio(&mut self, p: &Packet, ms: i64) -> Result<(), CrError> {
        match self {
            Writer::Av(w) => w.audio(p, ms),
            Writer::Sliced(w) => w.audio(p, ms),
            Writer::Mp3(_) => Ok(()),
        }
    }

    pub fn pcm(&mut self, samples: &[f32]) -> Result<(), CrError> {
        match self {
            Writer::Mp3(w) => w.pcm(samples),
            _ => Ok(()),
        }
    }

    pub fn duration_ms(&self) -> i64 {
        match self {
            Writer::Av(w) => w.duration_ms(),
            Writer::Sliced(w) => w.main.duration_ms(),
            Writer::Mp3(w) => w.duration_ms(),
        }
    }

    pub fn path(&self) -> &Path {
        match self {
            Writer::Av(w) => &w.path,
            Writer::Sliced(w) => &w.main.path,
            Writer::Mp3(w) => &w.path,
        }
    }

    pub fn size(&self) -> u64 {
        match self {
            Writer::Av(w) => w.size(),
            Writer::Sliced(w) => w.main.size(),
            Writer::Mp3(w) => w.size(),
        }
    }

    /// Finalises the file (and its uploads): (duration ms, bytes).
    pub fn finish(self) -> Result<(i64, u64), CrError> {
        match self {
            Writer::Av(w) => w.finish(),
            Writer::Sliced(w) => w.finish(),
            Writer::Mp3(w) => w.finish(),
        }
    }
}
