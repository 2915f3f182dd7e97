//! The engine: one thread that owns the recording clock, encodes what the capture threads grab and
//! cuts FLV slices. The clock runs only while recording, so paused time never reaches a file.
//! Slice k holds recording time from about k x SliceTime: at each cut the encoder is told to make
//! a keyframe, the new slice starts with it, and audio still due before the cut goes to the old
//! slice until the first audio packet past the cut closes it. Video frames are placed on the
//! frame-rate grid of the clock (`grid`), so timestamps never bunch up under load.

pub mod encode;
mod error;
pub mod flv;
pub mod grid;
pub mod sealed;
#[cfg(test)]
mod tests;

use crate::capture::{Input, AUDIO_RATE};
use encode::{AudioEncoder, VideoEncoder};
pub use error::Error;
use flv::{FlvOut, Timed};
use grid::FrameGrid;
use std::path::PathBuf;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::mpsc::Receiver;
use std::sync::Arc;
use std::time::Instant;

#[derive(Debug, Clone)]
pub struct EngineSpec {
    /// Where slices go: `{dir}/{index:05}.flv`.
    pub dir: PathBuf,
    /// A continuous copy of the whole recording (the seed's DstPath).
    pub dst_path: Option<PathBuf>,
    /// The file `dst_path` names when it is a descriptor's /proc entry, kept open meanwhile.
    pub dst_file: Option<Arc<std::fs::File>>,
    pub slice_ms: i64,
    pub fps: u32,
    pub bps: u32,
    pub audio: bool,
    /// Encrypt every file written (slices and DstPath) with this key (see `sealed`).
    pub key: Option<Arc<localrecord_crypt::Key>>,
}

/// What the engine reports, synchronously and in order, from its thread.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// Before the first byte of a slice is written.
    SliceOpened { index: i32, path: PathBuf },
    SliceClosed {
        index: i32,
        path: PathBuf,
        duration_ms: i64,
        size: u64,
    },
    /// The recording ended (stop, or a failure given in `error`); `slices` were written.
    Finished {
        slices: i32,
        recorded_ms: i64,
        error: Option<String>,
    },
}

pub fn slice_path(dir: &std::path::Path, index: i32) -> PathBuf {
    dir.join(format!("{index:05}.flv"))
}

/// Recording time: wall time since start minus paused time.
struct Clock {
    accumulated_ms: i64,
    resumed_at: Option<Instant>,
}

impl Clock {
    fn at(&self, t: Instant) -> Option<i64> {
        let r = self.resumed_at?;
        Some(self.accumulated_ms + t.checked_duration_since(r)?.as_millis() as i64)
    }
}

struct Engine {
    spec: EngineSpec,
    clock: Clock,
    video: Option<VideoEncoder>,
    audio: Option<AudioEncoder>,
    current: Option<(i32, FlvOut)>,
    closing: Option<(i32, FlvOut)>,
    dst: Option<FlvOut>,
    next_index: i32,
    next_cut_ms: i64,
    grid: FrameGrid,
    last_video_ms: i64,
    frame_ms: i64,
    recorded: Arc<AtomicI64>,
    on_event: Box<dyn FnMut(Event) + Send>,
}

/// Runs the engine until `Input::Stop` (or a fatal error); `recorded` follows the recording time.
pub fn run(
    spec: EngineSpec,
    rx: Receiver<Input>,
    started: Instant,
    recorded: Arc<AtomicI64>,
    on_event: Box<dyn FnMut(Event) + Send>,
) {
    let frame_ms = 1000 / spec.fps.max(1) as i64;
    let mut e = Engine {
        grid: FrameGrid::new(spec.fps),
        spec,
        clock: Clock {
            accumulated_ms: 0,
            resumed_at: Some(started),
        },
        video: None,
        audio: None,
        current: None,
        closing: None,
        dst: None,
        next_index: 0,
        next_cut_ms: 0,
        last_video_ms: -1,
        frame_ms,
        recorded,
        on_event,
    };
    let error = e.run(rx).err();
    // Events are cloned and compared (the book, tests): the error travels as its message.
    let error = match e.finish() {
        Err(f) => error.or(Some(f)),
        Ok(()) => error,
    }
    .map(|e| e.to_string());
    let recorded_ms = e.recorded.load(Ordering::SeqCst);
    (e.on_event)(Event::Finished {
        slices: e.next_index,
        recorded_ms,
        error,
    });
}

impl Engine {
    fn run(&mut self, rx: Receiver<Input>) -> Result<(), Error> {
        if self.spec.audio {
            self.audio = Some(AudioEncoder::new()?);
        }
        while let Ok(input) = rx.recv() {
            match input {
                Input::Video(mut f, at) => {
                    let Some(clock_ms) = self.clock.at(at) else { continue };
                    let Some(slot) = self.grid.place(clock_ms) else {
                        continue;
                    };
                    let ms = self.grid.ms(slot);
                    self.last_video_ms = ms;
                    self.recorded.store(ms, Ordering::SeqCst);
                    if self.video.is_none() {
                        self.video = Some(VideoEncoder::new(f.width(), f.height(), self.spec.fps, self.spec.bps)?);
                    }
                    self.pad_stalled_audio(ms)?;
                    let key = self.current.is_none() || ms >= self.next_cut_ms;
                    let packets = self.video.as_mut().expect("opened").encode(Some((&mut f, ms, key)))?;
                    for p in packets {
                        self.route_video(p)?;
                    }
                }
                Input::Audio(samples, at) => {
                    let Some(end_ms) = self.clock.at(at) else { continue };
                    self.route_audio_samples(&samples, end_ms)?;
                }
                Input::Pause(at) => {
                    if let Some(ms) = self.clock.at(at) {
                        self.clock.accumulated_ms = ms;
                        self.clock.resumed_at = None;
                    }
                }
                Input::Resume(at) => {
                    if self.clock.resumed_at.is_none() {
                        self.clock.resumed_at = Some(at);
                    }
                }
                Input::VideoFailed(why) => return Err(why.into()),
                Input::AudioFailed(why) => {
                    tracing::warn!("audio: {why}; the rest of the recording is silent");
                }
                Input::Stop => return Ok(()),
            }
        }
        Ok(())
    }

    fn route_audio_samples(&mut self, samples: &[f32], end_ms: i64) -> Result<(), Error> {
        let Some(enc) = self.audio.as_mut() else { return Ok(()) };
        let n = samples.len() / 2;
        let start_ms = end_ms - (n as i64 * 1000 / AUDIO_RATE as i64);
        // Keep audio on the recording clock: fill a device's gap with silence, skip what it
        // delivers late (e.g. from before a pause).
        let drift = start_ms - enc.position_ms();
        let mut packets = Vec::new();
        let mut from = 0;
        if drift > 100 {
            packets = enc.silence((drift * AUDIO_RATE as i64 / 1000) as usize)?;
        } else if drift < -100 {
            from = ((-drift) * AUDIO_RATE as i64 / 1000).min(n as i64) as usize;
        }
        packets.extend(enc.push(&samples[from * 2..])?);
        for p in packets {
            self.route_audio(p)?;
        }
        Ok(())
    }

    /// A sound device that stops delivering (or never started) must not leave the track short:
    /// once audio lags video by more than a second, silence fills it to half a second behind.
    fn pad_stalled_audio(&mut self, video_ms: i64) -> Result<(), Error> {
        let Some(enc) = self.audio.as_mut() else { return Ok(()) };
        let behind = video_ms - enc.position_ms();
        if behind <= 1000 {
            return Ok(());
        }
        let packets = enc.silence(((behind - 500) * AUDIO_RATE as i64 / 1000) as usize)?;
        for p in packets {
            self.route_audio(p)?;
        }
        Ok(())
    }

    fn route_video(&mut self, p: ffmpeg_next::Packet) -> Result<(), Error> {
        let ms = p.pts().unwrap_or(self.last_video_ms);
        if p.is_key() && (self.current.is_none() || ms >= self.next_cut_ms) {
            self.cut(ms)?;
        }
        let t = Timed {
            packet: &p,
            stream: 0,
            ms,
            duration_ms: self.frame_ms,
        };
        if let Some((_, cur)) = &mut self.current {
            cur.write(&t)?;
        }
        if let Some(d) = &mut self.dst {
            d.write(&t)?;
        }
        // An old slice still waiting for audio is closed once video is well past the cut.
        if self.closing.as_ref().is_some_and(|(_, c)| ms > c.end_ms + 1000) {
            self.close_closing()?;
        }
        Ok(())
    }

    fn route_audio(&mut self, p: ffmpeg_next::Packet) -> Result<(), Error> {
        let Some(pts) = p.pts() else { return Ok(()) };
        if pts < 0 {
            return Ok(()); // the encoder's priming frame
        }
        let ms = pts * 1000 / AUDIO_RATE as i64;
        let t = Timed {
            packet: &p,
            stream: 1,
            ms,
            duration_ms: (p.duration().max(1024) * 1000 / AUDIO_RATE as i64).max(1),
        };
        let Some((_, cur)) = &mut self.current else {
            return Ok(());
        };
        if ms < cur.base_ms {
            match &mut self.closing {
                Some((_, old)) => old.write(&t)?,
                None => return Ok(()), // before the first slice
            }
        } else {
            cur.write(&t)?;
            self.close_closing()?;
        }
        if let Some(d) = &mut self.dst {
            d.write(&t)?;
        }
        Ok(())
    }

    /// Starts a new slice at `ms` (a keyframe).
    fn cut(&mut self, ms: i64) -> Result<(), Error> {
        self.close_closing()?;
        let video = self.video.as_ref().expect("video before any cut");
        let audio = self.audio.as_ref().map(|a| &a.params);
        if self.dst.is_none() {
            if let Some(p) = &self.spec.dst_path {
                self.dst = Some(FlvOut::create(p, 0, &video.params, audio, self.spec.key.as_deref())?);
            }
        }
        let index = self.next_index;
        let path = slice_path(&self.spec.dir, index);
        (self.on_event)(Event::SliceOpened {
            index,
            path: path.clone(),
        });
        let out = FlvOut::create(&path, ms, &video.params, audio, self.spec.key.as_deref())?;
        self.next_index += 1;
        self.next_cut_ms = (ms / self.spec.slice_ms + 1) * self.spec.slice_ms;
        if let Some(old) = self.current.replace((index, out)) {
            if self.audio.is_some() {
                self.closing = Some(old);
            } else {
                self.close(old)?;
            }
        }
        Ok(())
    }

    fn close_closing(&mut self) -> Result<(), Error> {
        match self.closing.take() {
            Some(c) => self.close(c),
            None => Ok(()),
        }
    }

    fn close(&mut self, (index, out): (i32, FlvOut)) -> Result<(), Error> {
        let path = out.path.clone();
        let (duration_ms, size) = out.finish()?;
        (self.on_event)(Event::SliceClosed {
            index,
            path,
            duration_ms,
            size,
        });
        Ok(())
    }

    /// Drains the encoders into the files and closes them all.
    fn finish(&mut self) -> Result<(), Error> {
        let mut first_err = None;
        if let Some(v) = self.video.as_mut() {
            match v.encode(None) {
                Ok(ps) => {
                    for p in ps {
                        if let Err(e) = self.route_video(p) {
                            first_err.get_or_insert(e);
                        }
                    }
                }
                Err(e) => {
                    first_err.get_or_insert(e);
                }
            }
        }
        if let Some(a) = self.audio.as_mut() {
            if let Ok(ps) = a.finish() {
                for p in ps {
                    if let Err(e) = self.route_audio(p) {
                        first_err.get_or_insert(e);
                    }
                }
            }
        }
        for slot in [self.closing.take(), self.current.take()].into_iter().flatten() {
            if let Err(e) = self.close(slot) {
                first_err.get_or_insert(e);
            }
        }
        if let Some(d) = self.dst.take() {
            if let Err(e) = d.finish() {
                first_err.get_or_insert(e);
            }
        }
        first_err.map_or(Ok(()), Err)
    }
}
