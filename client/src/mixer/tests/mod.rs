//! The mixer with real sources (lavfi standing in for cameras, image and media files made with
//! the ffmpeg CLI) and a test output set that decodes the H.264 in memory, so tests look at the
//! pixels a player would show.

mod bench;
mod failing;
mod layout;
mod media_sound;
mod refuse;
mod screen;
mod text;
mod update;

use super::handle::Mixer;
use super::types::{err, CrError, MixerCfg, MixerContent, MixerOutput, OutputInfo, OutputSet, Streams};
use ffmpeg::{frame, Packet};
use ffmpeg_next as ffmpeg;
use serde_json::{json, Value};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Everything the mixer handed to the test output set.
#[derive(Default)]
pub struct Seen {
    decoder: Option<ffmpeg::decoder::Video>,
    /// Decoded pictures with their time (ms), from the first keyframe on.
    pub frames: Vec<(i64, frame::Video)>,
    /// Times of every video packet received.
    pub packet_ms: Vec<i64>,
    pub open: Vec<String>,
    pub adds: usize,
    /// For each add: whether the first video packet after it was a keyframe.
    pub key_after_add: Vec<bool>,
    awaiting_first: bool,
    pub audio_ms: Vec<i64>,
    audio_decoder: Option<ffmpeg::decoder::Audio>,
    /// The AAC decoded again (left channel, 44.1 kHz), from `sound_from_ms` on.
    pub sound: Vec<f32>,
    pub sound_from_ms: i64,
    pub pcm_samples: usize,
    pub closed_all: bool,
}

/// A test-only OutputSet; clones share what was seen.
#[derive(Clone, Default)]
pub struct Probe(pub Arc<Mutex<Seen>>);

impl Probe {
    pub fn seen(&self) -> std::sync::MutexGuard<'_, Seen> {
        self.0.lock().unwrap()
    }
}

impl OutputSet for Probe {
    fn add(&mut self, out: &MixerOutput, streams: &Streams) -> Result<(), CrError> {
        let mut s = self.seen();
        if s.open.contains(&out.filename) {
            return Err(CrError::new(err::FILE_ALREADY_EXIST, "already open"));
        }
        let ctx = ffmpeg::codec::context::Context::from_parameters(streams.video.clone()).unwrap();
        s.decoder = Some(ctx.decoder().video().unwrap());
        if let Some(a) = &streams.audio {
            let ctx = ffmpeg::codec::context::Context::from_parameters(a.clone()).unwrap();
            s.audio_decoder.get_or_insert(ctx.decoder().audio().unwrap());
        }
        s.open.push(out.filename.clone());
        s.adds += 1;
        s.awaiting_first = true;
        Ok(())
    }
    fn remove(&mut self, filename: &str) -> Result<(), CrError> {
        let mut s = self.seen();
        let before = s.open.len();
        s.open.retain(|f| f != filename);
        if s.open.len() == before {
            return Err(CrError::new(err::FILE_NOT_EXIST, "no such output"));
        }
        Ok(())
    }
    fn video(&mut self, packet: &Packet, ms: i64) {
        let mut s = self.seen();
        if s.open.is_empty() {
            return;
        }
        s.packet_ms.push(ms);
        if std::mem::take(&mut s.awaiting_first) {
            s.key_after_add.push(packet.is_key());
        }
        let Seen { decoder, frames, .. } = &mut *s;
        let Some(dec) = decoder.as_mut() else { return };
        if frames.is_empty() && !packet.is_key() {
            return;
        }
        let _ = dec.send_packet(packet);
        let mut f = frame::Video::empty();
        while dec.receive_frame(&mut f).is_ok() {
            let pts = f.pts().unwrap_or(ms);
            frames.push((pts, std::mem::replace(&mut f, frame::Video::empty())));
        }
    }
    fn audio(&mut self, packet: &Packet, ms: i64) {
        let mut s = self.seen();
        s.audio_ms.push(ms);
        let Seen {
            audio_decoder,
            sound,
            sound_from_ms,
            ..
        } = &mut *s;
        let Some(dec) = audio_decoder.as_mut() else { return };
        if sound.is_empty() {
            *sound_from_ms = ms;
        }
        let _ = dec.send_packet(packet);
        let mut f = frame::Audio::empty();
        while dec.receive_frame(&mut f).is_ok() {
            // AAC decodes to planar f32: plane 0 is the left channel.
            let left = &f.data(0)[..f.samples() * 4];
            sound.extend(
                left.chunks_exact(4)
                    .map(|b| f32::from_ne_bytes([b[0], b[1], b[2], b[3]])),
            );
        }
    }
    fn pcm(&mut self, interleaved: &[f32], _start_ms: i64) {
        self.seen().pcm_samples += interleaved.len() / 2;
    }
    fn list(&self) -> Vec<(String, OutputInfo)> {
        let s = self.seen();
        let info = OutputInfo {
            state: 1,
            duration: s.packet_ms.last().copied().unwrap_or(0),
            file_size: 0,
            err_code: None,
        };
        s.open.iter().map(|f| (f.clone(), info.clone())).collect()
    }
    fn close_all(&mut self) {
        let mut s = self.seen();
        s.open.clear();
        s.closed_all = true;
    }
}

pub fn cfg(width: u32, height: u32, fps: u32) -> MixerCfg {
    MixerCfg {
        width,
        height,
        frame_rate: fps,
        bit_rate: 4_000_000,
        default_qp: 18,
        gop: Some(fps * 2),
    }
}

pub fn item(kind: u32, rect: (i32, i32, u32, u32), keep: u8, param: Value) -> MixerContent {
    MixerContent {
        kind,
        left: rect.0,
        top: rect.1,
        width: rect.2,
        height: rect.3,
        keep_aspect_ratio: keep,
        param,
    }
}

/// A "camera" of one colour (lavfi).
pub fn colour_cam(colour: &str) -> Value {
    json!({ "camid": format!("lavfi:color=c={colour}:size=320x240:rate=10") })
}

pub fn out(name: &str) -> MixerOutput {
    serde_json::from_value(json!({ "type": 0, "filename": name })).unwrap()
}

pub fn dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("lr-mixer-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// Makes a file with the ffmpeg CLI from a lavfi graph (`frames` pictures).
pub fn make(path: &std::path::Path, graph: &str, extra: &[&str]) {
    let st = std::process::Command::new("ffmpeg")
        .args(["-y", "-loglevel", "error", "-f", "lavfi", "-i", graph])
        .args(extra)
        .arg(path)
        .status()
        .expect("ffmpeg CLI");
    assert!(st.success(), "ffmpeg made no {}", path.display());
}

/// Starts a mixer recording into a fresh Probe.
pub fn start(c: MixerCfg, content: Vec<MixerContent>) -> (Mixer, Probe) {
    let probe = Probe::default();
    let m = Mixer::create("t".into(), c, content, None, Box::new(probe.clone())).unwrap();
    m.add_outputs(vec![out("mem")]).unwrap();
    (m, probe)
}

/// Waits (at most 60 s, the machine may be busy) until `cond` holds for what was seen.
pub fn wait_until(probe: &Probe, what: &str, cond: impl Fn(&Seen) -> bool) {
    let until = Instant::now() + Duration::from_secs(60);
    while !cond(&probe.seen()) {
        assert!(Instant::now() < until, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Waits until every source reports `want` ("ok", "failed") in order.
pub fn wait_sources(m: &Mixer, want: &[&str]) {
    let until = Instant::now() + Duration::from_secs(60);
    loop {
        let s = m.sources();
        if s.iter().map(|s| s.state.as_str()).eq(want.iter().copied()) {
            return;
        }
        assert!(Instant::now() < until, "sources are {s:?}, not {want:?}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// (Y, U, V) of a decoded picture at (x, y).
pub fn yuv(f: &frame::Video, x: usize, y: usize) -> (u8, u8, u8) {
    (
        f.data(0)[y * f.stride(0) + x],
        f.data(1)[y / 2 * f.stride(1) + x / 2],
        f.data(2)[y / 2 * f.stride(2) + x / 2],
    )
}

pub const RED: (u8, u8, u8) = (81, 90, 240);
pub const BLUE: (u8, u8, u8) = (41, 240, 110);
pub const BLACK: (u8, u8, u8) = (16, 128, 128);
pub const GREY: (u8, u8, u8) = (48, 128, 128);
pub const YELLOW: (u8, u8, u8) = (210, 16, 146);

/// Whether the picture shows `want` at (x, y), within a tolerance for the encode.
pub fn shows(f: &frame::Video, x: usize, y: usize, want: (u8, u8, u8)) -> bool {
    let got = yuv(f, x, y);
    let close = |a: u8, b: u8| (a as i32 - b as i32).abs() <= 20;
    close(got.0, want.0) && close(got.1, want.1) && close(got.2, want.2)
}

#[track_caller]
pub fn assert_shows(f: &frame::Video, x: usize, y: usize, want: (u8, u8, u8), what: &str) {
    assert!(
        shows(f, x, y, want),
        "{what} at ({x},{y}): {:?}, want {want:?}",
        yuv(f, x, y)
    );
}

/// The latest decoded picture, once `n` more have come since this call.
pub fn fresh_frame(probe: &Probe, n: usize) -> frame::Video {
    let have = probe.seen().frames.len();
    wait_until(probe, "fresh frames", |s| s.frames.len() >= have + n);
    probe.seen().frames.last().unwrap().1.clone()
}
