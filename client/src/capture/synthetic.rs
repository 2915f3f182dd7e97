//! The synthetic source: a moving test pattern and a tone (or silence), paced by the wall clock so
//! that a synthetic recording lasts exactly as long as a real one.

use super::{stopped, Input, Region, AUDIO_RATE};
use ffmpeg::format::Pixel;
use ffmpeg_next as ffmpeg;
use std::sync::atomic::AtomicBool;
use std::sync::mpsc::SyncSender;
use std::sync::Arc;
use std::time::{Duration, Instant};

pub fn video(
    width: u32,
    height: u32,
    fps: u32,
    region: &Region,
    tx: SyncSender<Input>,
    stop: Arc<AtomicBool>,
) -> std::thread::JoinHandle<()> {
    // A region's size stands for the window's when given.
    let w = if region.width > 0 { region.width } else { width }.max(16) & !1;
    let h = if region.height > 0 { region.height } else { height }.max(16) & !1;
    let fps = fps.max(1);
    std::thread::spawn(move || {
        let start = Instant::now();
        for n in 0u64.. {
            let due = start + Duration::from_secs_f64(n as f64 / fps as f64);
            if let Some(wait) = due.checked_duration_since(Instant::now()) {
                std::thread::sleep(wait);
            }
            if stopped(&stop) {
                return;
            }
            if tx.send(Input::Video(pattern(w, h, n, fps), Instant::now())).is_err() {
                return;
            }
        }
    })
}

/// Diagonal luma bands that scroll, a bright box crossing the frame once a second, and a tint
/// that changes every second: easy to tell frames and seconds apart.
pub(crate) fn pattern(w: u32, h: u32, n: u64, fps: u32) -> ffmpeg::frame::Video {
    let mut f = ffmpeg::frame::Video::new(Pixel::YUV420P, w, h);
    let (w, h) = (w as usize, h as usize);
    let stride = f.stride(0);
    let box_x = ((n % fps as u64) as usize * w) / fps as usize;
    let y = f.data_mut(0);
    for row in 0..h {
        for col in 0..w {
            let in_box = col >= box_x && col < box_x + w / 8 && row >= h / 3 && row < h / 3 + h / 4;
            y[row * stride + col] = if in_box {
                235
            } else {
                (16 + ((row + col + n as usize * 4) % 200)) as u8
            };
        }
    }
    let second = (n / fps as u64) as u8;
    for (plane, base) in [(1usize, 64u8), (2, 192)] {
        let stride = f.stride(plane);
        let data = f.data_mut(plane);
        for row in 0..h / 2 {
            data[row * stride..row * stride + w / 2].fill(base.wrapping_add(second.wrapping_mul(23)));
        }
    }
    f
}

/// 20 ms chunks of a 440 Hz tone at `amplitude` (0 for silence).
pub fn audio(amplitude: f32, tx: SyncSender<Input>, stop: Arc<AtomicBool>) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        let start = Instant::now();
        let mut sent = 0u64;
        let step = 2.0 * std::f32::consts::PI * 440.0 / AUDIO_RATE as f32;
        loop {
            std::thread::sleep(Duration::from_millis(20));
            if stopped(&stop) {
                return;
            }
            let now = Instant::now();
            let due = (now - start).as_secs_f64() * AUDIO_RATE as f64;
            let n = (due as u64).saturating_sub(sent);
            let mut buf = Vec::with_capacity(n as usize * 2);
            for i in sent..sent + n {
                let s = amplitude * ((i % AUDIO_RATE as u64) as f32 * step).sin();
                buf.extend_from_slice(&[s, s]);
            }
            sent += n;
            if tx.send(Input::Audio(buf, now)).is_err() {
                return;
            }
        }
    })
}
