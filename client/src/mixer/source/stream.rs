//! Sources read from an FFmpeg input: a capture device (camera, x11grab, lavfi) or a media file
//! played in a loop. Frames are paced by their own timestamps, since lavfi and files deliver as
//! fast as they are read, and converted to YUV420P at even dimensions.

use super::audio::{Ring, Track};
use super::{Slot, MAX_SIDE};
use ffmpeg::format::{context::Input, Pixel};
use ffmpeg::software::scaling;
use ffmpeg::{frame, media, Packet};
use ffmpeg_next as ffmpeg;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Opens a media file (local files only: a hostile file must not make FFmpeg fetch URLs).
pub fn open_file(path: &str) -> Result<Input, String> {
    if path.is_empty() {
        return Err("no filename".into());
    }
    if !std::path::Path::new(path).is_file() {
        return Err(format!("{path}: no such file"));
    }
    let mut opts = ffmpeg::Dictionary::new();
    opts.set("protocol_whitelist", "file");
    ffmpeg::format::input_with_dictionary(&path, opts).map_err(|e| format!("{path}: {e}"))
}

/// Checks a stream's declared size before decoding anything.
pub fn check_size(w: u32, h: u32) -> Result<(), String> {
    if w > MAX_SIDE || h > MAX_SIDE {
        return Err(format!("the picture is {w}x{h}, more than {MAX_SIDE}x{MAX_SIDE}"));
    }
    Ok(())
}

/// Decodes the best video stream of `ictx` into `slot` until `stop`; `looping` starts a file
/// over at its end, else the end is a failure (a device that vanished). With `sound`, the best
/// audio stream (if any) goes there, paced with the pictures.
pub fn run(
    mut ictx: Input,
    looping: bool,
    slot: &Slot,
    stop: &AtomicBool,
    sound: Option<Arc<Ring>>,
) -> Result<(), String> {
    let stream = ictx.streams().best(media::Type::Video).ok_or("no video stream")?;
    let (index, tb) = (stream.index(), stream.time_base());
    let ctx = ffmpeg::codec::context::Context::from_parameters(stream.parameters()).map_err(|e| e.to_string())?;
    let mut decoder = ctx.decoder().video().map_err(|e| format!("video decoder: {e}"))?;
    check_size(decoder.width(), decoder.height())?;
    let mut conv = Converter::default();
    let mut pace = Pacer::default();
    let mut decoded = frame::Video::empty();
    let mut frames_in_pass = 0u64;
    let mut track = sound.and_then(|ring| Track::open(&ictx, ring));
    while !stop.load(Ordering::SeqCst) {
        // A fresh packet each time: av_read_frame does not release what a packet still holds.
        let mut packet = Packet::empty();
        match packet.read(&mut ictx) {
            Ok(()) if packet.stream() == index => {
                if decoder.send_packet(&packet).is_err() {
                    continue; // a damaged packet; the next keyframe recovers
                }
            }
            Ok(()) => {
                if let Some(t) = track.as_mut().filter(|t| t.takes(&packet)) {
                    t.packet(&packet, &mut pace);
                }
                continue;
            }
            Err(ffmpeg::Error::Other { errno: libc::EAGAIN }) => {
                std::thread::sleep(Duration::from_millis(5));
                continue;
            }
            Err(e) if !looping => return Err(format!("the input ended: {e}")),
            Err(_) => {
                let _ = decoder.send_eof();
                frames_in_pass += drain(&mut decoder, &mut decoded, &mut conv, &mut pace, tb, slot, stop)?;
                if frames_in_pass == 0 {
                    return Err("the file holds no picture".into());
                }
                frames_in_pass = 0;
                if let Some(t) = &mut track {
                    t.end_pass(&mut pace);
                }
                ictx.seek(0, ..).map_err(|e| format!("cannot loop the file: {e}"))?;
                decoder.flush();
                pace.new_pass();
                continue;
            }
        }
        frames_in_pass += drain(&mut decoder, &mut decoded, &mut conv, &mut pace, tb, slot, stop)?;
    }
    Ok(())
}

fn drain(
    decoder: &mut ffmpeg::decoder::Video,
    decoded: &mut frame::Video,
    conv: &mut Converter,
    pace: &mut Pacer,
    tb: ffmpeg::Rational,
    slot: &Slot,
    stop: &AtomicBool,
) -> Result<u64, String> {
    let mut n = 0;
    while decoder.receive_frame(decoded).is_ok() {
        let us = decoded.timestamp().or(decoded.pts()).map(|t| micros(t, tb));
        pace.wait(us, stop);
        let f = std::mem::replace(decoded, frame::Video::empty());
        slot.publish(conv.convert(f)?);
        n += 1;
    }
    Ok(n)
}

/// A timestamp in `tb` as microseconds. Device timestamps may be wall-clock microseconds: i128
/// keeps the product in range.
pub fn micros(ts: i64, tb: ffmpeg::Rational) -> i64 {
    (ts as i128 * 1_000_000 * tb.numerator() as i128 / tb.denominator().max(1) as i128) as i64
}

/// Converts any decoded picture to YUV420P at even dimensions (the size cap checked per frame:
/// a stream may change size midway).
#[derive(Default)]
pub struct Converter {
    scaler: Option<scaling::Context>,
}

impl Converter {
    pub fn convert(&mut self, f: frame::Video) -> Result<frame::Video, String> {
        let (w, h, fmt) = (f.width(), f.height(), f.format());
        check_size(w, h)?;
        let (ow, oh) = ((w & !1).max(2), (h & !1).max(2));
        if fmt == Pixel::YUV420P && w == ow && h == oh {
            return Ok(f);
        }
        let sc = match &mut self.scaler {
            Some(s) if s.input().width == w && s.input().height == h && s.input().format == fmt => s,
            slot => {
                let s = scaling::Context::get(fmt, w, h, Pixel::YUV420P, ow, oh, scaling::Flags::BILINEAR)
                    .map_err(|e| format!("cannot convert {fmt:?} {w}x{h}: {e}"))?;
                slot.insert(s)
            }
        };
        let mut out = frame::Video::empty();
        sc.run(&f, &mut out).map_err(|e| format!("scaler: {e}"))?;
        Ok(out)
    }
}

/// Holds frames back until their timestamp is due on the wall clock. A timestamp that jumps
/// (missing, backwards, or more than a second ahead) restarts the reference instead of sleeping.
#[derive(Default)]
pub struct Pacer {
    base: Option<(Instant, i64)>,
    last_us: Option<i64>,
}

impl Pacer {
    fn new_pass(&mut self) {
        self.base = None;
        self.last_us = None;
    }

    /// When the moment `us` of this pass is due (sound is placed by it; the first timestamp
    /// seen, sound's or picture's, starts the pass's reference).
    pub fn at(&mut self, us: i64) -> Instant {
        let (t0, us0) = *self.base.get_or_insert((Instant::now(), us));
        if us >= us0 {
            t0 + Duration::from_micros((us - us0) as u64)
        } else {
            t0.checked_sub(Duration::from_micros((us0 - us) as u64)).unwrap_or(t0)
        }
    }

    fn wait(&mut self, ts_us: Option<i64>, stop: &AtomicBool) {
        // Without a timestamp a frame is taken as 40 ms after the last one.
        let Some(us) = ts_us.or(self.last_us.map(|l| l + 40_000)) else {
            return;
        };
        self.last_us = Some(us);
        let (t0, us0) = *self.base.get_or_insert((Instant::now(), us));
        let ahead = us - us0;
        let due = t0 + Duration::from_micros(ahead.max(0) as u64);
        let now = Instant::now();
        if ahead < 0 || due > now + Duration::from_secs(1) {
            self.base = Some((now, us));
            return;
        }
        while let Some(left) = due.checked_duration_since(Instant::now()) {
            if stop.load(Ordering::SeqCst) || left.is_zero() {
                return;
            }
            std::thread::sleep(left.min(Duration::from_millis(100)));
        }
    }
}
