//! What the output tests share: a real encode (libx264 + AAC of the synthetic pattern and a
//! tone), an event recorder, and ffprobe.

use super::super::types::{EventSink, OutputEvent, OutputSet, Streams};
use crate::capture::synthetic::pattern;
use crate::engine::encode::{AudioEncoder, VideoEncoder};
use ffmpeg_next::Packet;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

pub const FPS: u32 = 10;
const FRAME_MS: i64 = 1000 / FPS as i64;
const SAMPLES_PER_FRAME: usize = 44_100 / FPS as usize;

/// One thing the mixer hands its outputs.
pub enum Item {
    Video(Packet, i64),
    Audio(Packet, i64),
    Pcm(Vec<f32>, i64),
}

/// A mixer's encode of the synthetic pattern (320x240) and a 440 Hz tone, frame by frame.
pub struct Encode {
    venc: VideoEncoder,
    aenc: AudioEncoder,
    frame: u64,
    aac_packets: i64,
    /// A keyframe every this many frames.
    pub key_every: u64,
}

impl Encode {
    pub fn new(key_every: u64) -> Encode {
        ffmpeg_next::init().unwrap();
        Encode {
            venc: VideoEncoder::new(320, 240, FPS, 300_000).unwrap(),
            aenc: AudioEncoder::new().unwrap(),
            frame: 0,
            aac_packets: 0,
            key_every,
        }
    }

    pub fn streams(&self) -> Streams {
        Streams {
            video: self.venc.params.clone(),
            audio: Some(self.aenc.params.clone()),
            width: 320,
            height: 240,
            frame_rate: FPS,
        }
    }

    /// Mixer time (ms) of the next frame.
    pub fn now_ms(&self) -> i64 {
        self.frame as i64 * FRAME_MS
    }

    /// The packets of the next frame of video and sound, in time order.
    pub fn next(&mut self) -> Vec<Item> {
        let n = self.frame;
        let ms = self.now_ms();
        self.frame += 1;
        let mut f = pattern(320, 240, n, FPS);
        let key = n.is_multiple_of(self.key_every);
        let mut out: Vec<Item> = self
            .venc
            .encode(Some((&mut f, ms, key)))
            .unwrap()
            .into_iter()
            .map(|p| Item::Video(p, ms))
            .collect();
        let start = n as usize * SAMPLES_PER_FRAME;
        let pcm: Vec<f32> = (start..start + SAMPLES_PER_FRAME)
            .flat_map(|i| {
                let s = (i as f32 * 440.0 * std::f32::consts::TAU / 44_100.0).sin() * 0.3;
                [s, s]
            })
            .collect();
        for p in self.aenc.push(&pcm).unwrap() {
            out.push(Item::Audio(p, self.aac_packets * 1024 * 1000 / 44_100));
            self.aac_packets += 1;
        }
        out.push(Item::Pcm(pcm, ms));
        out
    }

    /// Encodes `frames` frames into `set`.
    pub fn feed(&mut self, set: &mut dyn OutputSet, frames: u64) {
        for _ in 0..frames {
            for item in self.next() {
                match item {
                    Item::Video(p, ms) => set.video(&p, ms),
                    Item::Audio(p, ms) => set.audio(&p, ms),
                    Item::Pcm(s, ms) => set.pcm(&s, ms),
                }
            }
        }
    }
}

/// A fresh directory for one test.
pub fn dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("lr-outputs-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// An event sink that keeps every event.
pub fn recorder() -> (EventSink, Arc<Mutex<Vec<OutputEvent>>>) {
    let events = Arc::new(Mutex::new(Vec::new()));
    let e = events.clone();
    (Arc::new(move |ev| e.lock().unwrap().push(ev)), events)
}

/// ffprobe's view of a file (None when it cannot read it).
pub fn probe(path: &Path) -> Option<serde_json::Value> {
    let out = std::process::Command::new("ffprobe")
        .args(["-v", "error", "-show_format", "-show_streams", "-of", "json"])
        .arg(path)
        .output()
        .unwrap();
    out.status
        .success()
        .then(|| serde_json::from_slice(&out.stdout).unwrap())
}

pub fn duration_s(v: &serde_json::Value) -> f64 {
    v["format"]["duration"]
        .as_str()
        .and_then(|d| d.parse().ok())
        .unwrap_or(0.0)
}

/// The codec names of a probed file's streams, in order.
pub fn codecs(v: &serde_json::Value) -> Vec<String> {
    v["streams"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["codec_name"].as_str().unwrap().to_owned())
        .collect()
}

/// Whether ffprobe finds a recording in `path`: an H.264, AAC or MP3 stream. An encrypted file
/// is random bytes to it, which now and then pass for something else (an LRC subtitle, H.263):
/// that reveals nothing, so only the codecs a recording has count.
pub fn reveals_media(path: &Path) -> bool {
    probe(path).is_some_and(|v| codecs(&v).iter().any(|c| ["h264", "aac", "mp3"].contains(&c.as_str())))
}

/// Decodes the whole file with the ffmpeg CLI; returns what it reported at level error.
pub fn decode_errors(path: &Path) -> String {
    let out = std::process::Command::new("ffmpeg")
        .args(["-v", "error", "-nostdin", "-i"])
        .arg(path)
        .args(["-f", "null", "-"])
        .output()
        .unwrap();
    let mut s = String::from_utf8_lossy(&out.stderr).into_owned();
    if !out.status.success() {
        s.push_str(&format!(" (exit {:?})", out.status.code()));
    }
    s
}

/// The time (s) of the first video packet and whether it is a keyframe.
pub fn first_video_packet(path: &Path) -> (f64, bool) {
    let out = std::process::Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-select_streams",
            "v:0",
            "-show_entries",
            "packet=pts_time,flags",
            "-read_intervals",
            "%+#1",
            "-of",
            "csv=p=0",
        ])
        .arg(path)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text.lines().next().unwrap_or_default();
    let mut parts = line.split(',');
    let t = parts.next().and_then(|t| t.parse().ok()).unwrap_or(f64::NAN);
    (t, parts.next().is_some_and(|f| f.starts_with('K')))
}

/// How many video packets ffprobe finds by reading the whole file.
pub fn video_packets(path: &Path) -> u64 {
    let out = std::process::Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-select_streams",
            "v:0",
            "-count_packets",
            "-show_entries",
            "stream=nb_read_packets",
            "-of",
            "csv=p=0",
        ])
        .arg(path)
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).trim().parse().unwrap_or(0)
}
