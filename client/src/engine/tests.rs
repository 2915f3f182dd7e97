//! The engine on a made-up timeline (frames stamped with chosen instants, no waiting): slice cuts,
//! paused time, and a silent device.

use super::*;
use crate::capture::synthetic::pattern;
use ffmpeg_next as ffmpeg;
use std::time::Duration;

/// Runs the engine over `inputs` (built from the start instant) and returns its events.
fn run_engine(dir: &std::path::Path, slice_ms: i64, inputs: impl FnOnce(Instant) -> Vec<Input>) -> Vec<Event> {
    ffmpeg::init().unwrap();
    let spec = EngineSpec {
        dir: dir.to_owned(),
        dst_path: None,
        slice_ms,
        fps: 10,
        bps: 300_000,
        audio: true,
    };
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
