//! A mixer's outputs (issue 14): files in mp4, ts, flv, avi or mp3, several at once from the
//! mixer's one encode, each with its own `LocMixerOutputInfo` events. [`Outputs`] is the
//! [`OutputSet`] the mixer drives. An output that fails (disk full, write error) reports state 3
//! with its errCode and is dropped; the others go on. Closing (remove, close_all) finalises each
//! file on a thread of its own, so a long mp4's final rewrite never holds up the mixer.

mod av;
mod dest;
pub mod finalize;
mod mp3;
mod sink;
mod slices;
pub mod spec;
mod target;
mod tus_target;
pub mod upload;
mod writer;

use super::types::{
    err, state, CrError, EventSink, MixerOutput, OutputEnv, OutputEvent, OutputInfo, OutputSet, Streams,
};
use ffmpeg_next::Packet;
use writer::Writer;

pub use finalize::repair;

/// The most outputs one mixer writes at once.
pub const MAX_OUTPUTS: usize = 8;

// The mixer owns its outputs on its own thread (`Box<dyn OutputSet>`).
const _: fn() = || {
    fn is_send<T: Send>() {}
    is_send::<Outputs>();
};

/// Media time (ms) between two state-1 events of an output.
const PROGRESS_EVERY_MS: i64 = 1000;

/// Sends an output's events under its mixer's ID.
#[derive(Clone)]
struct Emit {
    mixer_id: String,
    sink: EventSink,
}

impl Emit {
    fn send(&self, name: &str, output_info: OutputInfo) {
        (self.sink)(OutputEvent {
            mixer_id: self.mixer_id.clone(),
            name_or_url: name.to_owned(),
            output_info,
        });
    }
}

struct Open {
    /// The filename as the caller gave it (the events' nameOrUrl).
    name: String,
    writer: Writer,
    /// Duration at the last state-1 event.
    reported_ms: i64,
}

impl Open {
    fn info(&self, state: u8, err_code: Option<i64>) -> OutputInfo {
        OutputInfo {
            state,
            duration: self.writer.duration_ms(),
            file_size: self.writer.size(),
            err_code,
        }
    }
}

/// Every output of one mixer.
pub struct Outputs {
    emit: Emit,
    env: OutputEnv,
    open: Vec<Open>,
    finishing: Vec<std::thread::JoinHandle<()>>,
    upload: upload::UploadCfg,
}

impl Outputs {
    pub fn new(mixer_id: String, env: OutputEnv, events: EventSink) -> Outputs {
        Outputs {
            emit: Emit { mixer_id, sink: events },
            upload: upload::UploadCfg {
                slice_secs: if env.slice_secs > 0 { env.slice_secs } else { 60 },
                ..Default::default()
            },
            env,
            open: Vec::new(),
            finishing: Vec::new(),
        }
    }

    /// How outputs added from now on cut and send their slices (`isUploadOnRecording: 1`).
    pub fn set_upload_cfg(&mut self, cfg: upload::UploadCfg) {
        self.upload = cfg;
    }

    /// Waits until every output being closed is final and has sent its state 2 (or 3).
    pub fn wait_closed(&mut self) {
        for h in self.finishing.drain(..) {
            let _ = h.join();
        }
    }

    /// Hands `f` every open output; one that fails is dropped with state 3, the others get a
    /// state-1 event when another second has been written.
    fn each(&mut self, mut f: impl FnMut(&mut Writer) -> Result<(), CrError>) {
        let mut i = 0;
        while i < self.open.len() {
            let o = &mut self.open[i];
            if let Err(e) = f(&mut o.writer) {
                let o = self.open.remove(i);
                tracing::warn!("output {}: {e}", o.name);
                self.emit.send(&o.name, o.info(state::ERROR, Some(e.code)));
                continue;
            }
            let d = o.writer.duration_ms();
            if d >= o.reported_ms + PROGRESS_EVERY_MS {
                o.reported_ms = d;
                self.emit.send(&o.name, o.info(state::WRITING, None));
            }
            i += 1;
        }
    }

    fn close(&mut self, o: Open) {
        let emit = self.emit.clone();
        self.finishing.retain(|h| !h.is_finished());
        self.finishing.push(std::thread::spawn(move || {
            let (dur, path) = (o.writer.duration_ms(), o.writer.path().to_owned());
            let info = match o.writer.finish() {
                Ok((duration, file_size)) => OutputInfo {
                    state: state::CLOSED,
                    duration,
                    file_size,
                    err_code: None,
                },
                Err(e) => {
                    tracing::warn!("output {}: {e}", o.name);
                    OutputInfo {
                        state: state::ERROR,
                        duration: dur,
                        file_size: std::fs::metadata(&path).map_or(0, |m| m.len()),
                        err_code: Some(e.code),
                    }
                }
            };
            emit.send(&o.name, info);
        }));
    }
}

impl OutputSet for Outputs {
    fn add(&mut self, out: &MixerOutput, streams: &Streams) -> Result<(), CrError> {
        if self.open.len() >= MAX_OUTPUTS {
            return Err(CrError::new(
                err::CFG_RESTRICTED,
                format!("a mixer has at most {MAX_OUTPUTS} outputs"),
            ));
        }
        let plan = spec::check(out, &self.env, streams)?;
        if self.open.iter().any(|o| o.name == out.filename) {
            return Err(CrError::new(
                err::FILE_ALREADY_EXIST,
                format!("{} is an output already", out.filename),
            ));
        }
        let writer = Writer::create(&plan, &self.env, streams, &self.upload)?;
        let o = Open {
            name: out.filename.clone(),
            writer,
            reported_ms: 0,
        };
        self.emit.send(&o.name, o.info(state::CREATED, None));
        self.open.push(o);
        Ok(())
    }

    fn remove(&mut self, filename: &str) -> Result<(), CrError> {
        let i = self.open.iter().position(|o| o.name == filename);
        let i = i.ok_or_else(|| CrError::new(err::FILE_NOT_EXIST, format!("no output {filename}")))?;
        let o = self.open.remove(i);
        self.close(o);
        Ok(())
    }

    fn video(&mut self, packet: &Packet, ms: i64) {
        self.each(|w| w.video(packet, ms));
    }

    fn audio(&mut self, packet: &Packet, ms: i64) {
        self.each(|w| w.audio(packet, ms));
    }

    fn pcm(&mut self, interleaved: &[f32], _start_ms: i64) {
        self.each(|w| w.pcm(interleaved));
    }

    fn list(&self) -> Vec<(String, OutputInfo)> {
        let state = |o: &Open| {
            if o.writer.duration_ms() > 0 {
                state::WRITING
            } else {
                state::CREATED
            }
        };
        self.open
            .iter()
            .map(|o| (o.name.clone(), o.info(state(o), None)))
            .collect()
    }

    fn close_all(&mut self) {
        for o in std::mem::take(&mut self.open) {
            self.close(o);
        }
        self.wait_closed();
    }
}

impl Drop for Outputs {
    fn drop(&mut self) {
        self.close_all();
    }
}

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_crash;
#[cfg(test)]
mod tests_sealed;
#[cfg(test)]
mod tests_tus;
#[cfg(test)]
mod tests_tus_util;
#[cfg(test)]
mod tests_upload;
#[cfg(test)]
mod tests_util;
