//! The engine on a made-up timeline (frames stamped with chosen instants, no waiting): slice cuts,
//! paused time, a silent device, and frames that arrive in bursts or out of order.

use super::*;
use crate::capture::synthetic::pattern;
use ffmpeg_next as ffmpeg;
use std::time::Duration;

/// Runs the engine over `inputs` (built from the start instant) and returns its events.
fn run_engine(dir: &std::path::Path, slice_ms: i64, inputs: impl FnOnce(Instant) -> Vec<Input>) -> Vec<Event> {
    let spec = EngineSpec {
        dir: dir.to_owned(),
        dst_path: None,
        dst_file: None,
        slice_ms,
        fps: 10,
        bps: 300_000,
        audio: true,
        key: None,
    };
    run_spec(spec, inputs)
}

fn run_spec(spec: EngineSpec, inputs: impl FnOnce(Instant) -> Vec<Input>) -> Vec<Event> {
    ffmpeg::init().unwrap();
    let (tx, rx) = std::sync::mpsc::sync_channel(10_000);
    let start = Instant::now();
    for i in inputs(start) {
        tx.send(i).unwrap();
    }
    tx.send(Input::Stop).unwrap();
    let events = Arc::new(std::sync::Mutex::new(Vec::new()));
    let ev = events.clone();
    run(
        spec,
        rx,
        start,
        Arc::new(AtomicI64::new(0)),
        Box::new(move |e| ev.lock().unwrap().push(e)),
    );
    let out = events.lock().unwrap().clone();
    out
}

fn video(start: Instant, from_ms: u64, to_ms: u64) -> Vec<Input> {
    (from_ms..to_ms)
        .step_by(100)
        .map(|ms| Input::Video(pattern(160, 96, ms / 100, 10), start + Duration::from_millis(ms)))
        .collect()
}

/// (video end, audio end) in ms of a slice file.
fn ends(path: &std::path::Path) -> (i64, i64) {
    let mut ictx = ffmpeg::format::input(path).unwrap();
    let mut end = [0i64; 2];
    for (s, p) in ictx.packets() {
        let tb = s.time_base();
        let ms = (p.pts().unwrap() + p.duration()) * 1000 * tb.numerator() as i64 / tb.denominator() as i64;
        let i = (s.parameters().medium() == ffmpeg::media::Type::Audio) as usize;
        end[i] = end[i].max(ms);
    }
    (end[0], end[1])
}

#[test]
fn slices_are_cut_at_slice_time_and_a_silent_device_still_gives_a_full_audio_track() {
    let dir = tempfile_dir("cuts");
    let events = run_engine(&dir, 1000, |s| video(s, 0, 3000));
    let closed: Vec<_> = events
        .iter()
        .filter_map(|e| match e {
            Event::SliceClosed { index, duration_ms, .. } => Some((*index, *duration_ms)),
            _ => None,
        })
        .collect();
    assert_eq!(
        closed.iter().map(|c| c.0).collect::<Vec<_>>(),
        vec![0, 1, 2],
        "{events:?}"
    );
    for (i, ms) in &closed {
        assert!((900..=1100).contains(ms), "slice {i}: {ms} ms");
    }
    assert!(matches!(
        events.last(),
        Some(Event::Finished {
            slices: 3,
            error: None,
            ..
        })
    ));
    // No audio input at all: the track is silence, within a second of the video.
    let (mut v, mut a) = (0, 0);
    for i in 0..3 {
        let (ve, ae) = ends(&slice_path(&dir, i));
        v += ve;
        a += ae;
    }
    assert!(v >= 2900, "{v} ms of video");
    assert!(a >= v - 1100, "{a} ms of audio for {v} ms of video");
}

#[test]
fn paused_time_is_not_recorded() {
    let dir = tempfile_dir("pause");
    let events = run_engine(&dir, 60_000, |s| {
        let mut i = video(s, 0, 1000);
        i.push(Input::Pause(s + Duration::from_millis(1000)));
        i.extend(video(s, 1000, 5000)); // dropped: paused
        i.push(Input::Resume(s + Duration::from_millis(5000)));
        i.extend(video(s, 5000, 6000));
        i
    });
    let Some(Event::Finished {
        recorded_ms, slices: 1, ..
    }) = events.last()
    else {
        panic!("{events:?}")
    };
    assert!(
        (1800..=2000).contains(recorded_ms),
        "2 s recorded, not 6: {recorded_ms}"
    );
    let (v, _) = ends(&slice_path(&dir, 0));
    assert!((1800..=2100).contains(&v), "{v} ms in the file");
}

fn tempfile_dir(name: &str) -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("lr-engine-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// Merges two input sequences by their stamps, each keeping its own order (so a video frame
/// stamped out of order stays out of order).
fn interleave(v: Vec<Input>, a: Vec<Input>) -> Vec<Input> {
    let stamp = |x: &Input| match x {
        Input::Audio(_, t) | Input::Video(_, t) => Some(*t),
        _ => None,
    };
    let (mut v, mut a) = (v.into_iter().peekable(), a.into_iter().peekable());
    let mut out = Vec::new();
    loop {
        let take_video = match (v.peek(), a.peek()) {
            (Some(x), Some(y)) => stamp(x) <= stamp(y),
            (Some(_), None) => true,
            (None, Some(_)) => false,
            (None, None) => return out,
        };
        out.extend(if take_video { v.next() } else { a.next() });
    }
}

/// Decode timestamps (ms) of one stream of a file (0 video, 1 audio), in file order.
fn dts_ms(path: &std::path::Path, stream: usize) -> Vec<i64> {
    let mut ictx = ffmpeg::format::input(path).unwrap();
    ictx.packets()
        .filter(|(s, _)| s.index() == stream)
        .map(|(s, p)| {
            let tb = s.time_base();
            p.dts().unwrap() * 1000 * tb.numerator() as i64 / tb.denominator() as i64
        })
        .collect()
}

#[test]
fn bursts_shared_milliseconds_and_a_clock_step_back_still_give_one_frame_per_tick() {
    let dir = tempfile_dir("bursts");
    let dst = dir.join("whole.flv");
    let spec = EngineSpec {
        dir: dir.clone(),
        dst_path: Some(dst.clone()),
        dst_file: None,
        slice_ms: 1000,
        fps: 15,
        bps: 300_000,
        audio: true,
        key: None,
    };
    let at = |s: Instant, us: u64| s + Duration::from_micros(us);
    let events = run_spec(spec, |s| {
        let mut v = Vec::new();
        let mut n = 0u64;
        let mut frame = |us: u64| {
            n += 1;
            Input::Video(pattern(160, 96, n, 15), at(s, us))
        };
        // Regular frames, then a starved capture thread's burst, 1 ms apart.
        v.extend((0..12).map(|k| frame(k * 66_667)));
        v.extend((0..6).map(|k| frame(800_000 + k * 1000)));
        // Three frames on one millisecond.
        v.extend((0..3).map(|_| frame(1_200_000)));
        // A step back: frames stamped before the one already placed.
        v.push(frame(1_500_000));
        v.push(frame(1_400_000));
        v.push(frame(1_450_000));
        v.extend((0..22).map(|k| frame(1_550_000 + k * 66_667)));
        // Sound in 20 ms chunks, one delivered twice with the same stamp.
        let chunk = vec![0.1f32; 882 * 2];
        let mut a = Vec::new();
        for k in 1..150u64 {
            a.push(Input::Audio(chunk.clone(), at(s, k * 20_000)));
            if k == 70 {
                a.push(Input::Audio(chunk.clone(), at(s, k * 20_000)));
            }
        }
        interleave(v, a)
    });
    let Some(Event::Finished {
        error: None, slices, ..
    }) = events.last()
    else {
        panic!("{events:?}")
    };
    assert!(*slices >= 3, "{events:?}");
    let files: Vec<_> = (0..*slices).map(|i| slice_path(&dir, i)).chain([dst]).collect();
    for f in &files {
        let v = dts_ms(f, 0);
        assert!(!v.is_empty(), "{}: {v:?}", f.display());
        // At 1/15 s, the rate ffmpeg reads the file at, every frame has a tick of its own.
        let ticks: Vec<i64> = v.iter().map(|ms| (*ms as f64 * 15.0 / 1000.0).round() as i64).collect();
        assert!(ticks.windows(2).all(|w| w[1] > w[0]), "{}: {v:?}", f.display());
        let a = dts_ms(f, 1);
        assert!(a.windows(2).all(|w| w[1] > w[0]), "{}: audio {a:?}", f.display());
        let out = std::process::Command::new("ffmpeg")
            .args(["-v", "error", "-i"])
            .arg(f)
            .args(["-f", "null", "-"])
            .output()
            .unwrap();
        assert_eq!(String::from_utf8_lossy(&out.stderr), "", "{}", f.display());
    }
}
