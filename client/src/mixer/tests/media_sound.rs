//! A media file's sound is mixed into the mixer's (here over a silent device): heard for as long
//! as the file loops, at its `volume`, from when the layout adds it until the layout drops it.
//! The sound is checked in the AAC the outputs receive, decoded again.

use super::*;
use crate::capture::AudioSource;
use crate::mixer::types::content_type as ct;
use std::path::Path;

const RATE: i64 = 44_100;
/// The RMS, in each channel, of lavfi's sine at its default amplitude (1/8) once the mixer has
/// spread the mono file over two channels (at -3 dB each, as FFmpeg's resampler does).
const TONE_RMS: f32 = 0.125 / 2.0;

const TESTSRC: &str = "testsrc2=size=320x240:rate=15";
const TONE: &str = "sine=frequency=1000:sample_rate=48000";

/// A 3 s clip from lavfi graphs: `video`, and `audio` as 48 kHz mono AAC (the mixer resamples it).
fn clip(name: &str, video: &str, audio: Option<&str>) -> PathBuf {
    let p = dir(name).join("clip.mp4");
    let mut extra = vec!["-t", "3", "-pix_fmt", "yuv420p"];
    if let Some(a) = audio {
        extra.splice(0..0, ["-f", "lavfi", "-i", a]);
        extra.extend(["-c:a", "aac"]);
    }
    make(&p, video, &extra);
    p
}

fn media(p: &Path, param: Value) -> MixerContent {
    let mut param = param;
    param["filename"] = json!(p.to_str().unwrap());
    item(ct::MEDIA, (0, 0, 320, 240), 1, param)
}

/// A mixer over a silent sound device, recording into a Probe.
fn start_heard(content: Vec<MixerContent>) -> (Mixer, Probe) {
    let probe = Probe::default();
    let m = Mixer::create(
        "s".into(),
        cfg(320, 240, 10),
        content,
        Some(AudioSource::Silence),
        Box::new(probe.clone()),
    )
    .unwrap();
    m.add_outputs(vec![out("mem")]).unwrap();
    (m, probe)
}

/// Plays the file alone for 7 s (more than twice its length) from when its source is ok; returns
/// what was seen and when that span began.
fn play(p: &Path) -> (Probe, i64) {
    let (m, probe) = start_heard(vec![media(p, json!({}))]);
    wait_sources(&m, &["ok"]);
    let ok_at = heard_ms(&probe.seen()) + 500;
    wait_heard(&probe, ok_at + 7000);
    m.destroy().unwrap();
    (probe, ok_at)
}

/// Where the decoded sound ends, in ms of the mixer's clock.
fn heard_ms(s: &Seen) -> i64 {
    s.sound_from_ms + s.sound.len() as i64 * 1000 / RATE
}

/// Waits until the decoded sound reaches `ms`.
fn wait_heard(probe: &Probe, ms: i64) {
    wait_until(probe, &format!("{ms} ms of sound"), |s| heard_ms(s) >= ms);
}

/// The decoded sound between two times of the mixer's clock.
fn span(s: &Seen, from_ms: i64, to_ms: i64) -> &[f32] {
    let at = |ms: i64| (((ms - s.sound_from_ms) * RATE / 1000).max(0) as usize).min(s.sound.len());
    &s.sound[at(from_ms)..at(to_ms)]
}

fn rms(x: &[f32]) -> f32 {
    (x.iter().map(|v| v * v).sum::<f32>() / x.len().max(1) as f32).sqrt()
}

/// The dominant frequency, by counting zero crossings.
fn hz(x: &[f32]) -> f32 {
    let crossings = x.windows(2).filter(|w| (w[0] < 0.0) != (w[1] < 0.0)).count();
    crossings as f32 / 2.0 / (x.len() as f32 / RATE as f32)
}

/// Share of the 100 ms windows of `x` whose RMS is over half of `want`.
fn loud_share(x: &[f32], want: f32) -> f32 {
    let windows: Vec<_> = x.chunks_exact(RATE as usize / 10).collect();
    let loud = windows.iter().filter(|w| rms(w) > want / 2.0).count();
    loud as f32 / windows.len().max(1) as f32
}

#[test]
fn a_looping_media_files_tone_is_heard_for_longer_than_the_file() {
    let (probe, ok_at) = play(&clip("sound-loop", TESTSRC, Some(TONE)));
    let s = probe.seen();
    let x = span(&s, ok_at, ok_at + 7000);
    let (level, pitch, loud) = (rms(x), hz(x), loud_share(x, TONE_RMS));
    assert!(
        level > TONE_RMS * 0.8 && level < TONE_RMS * 1.2,
        "RMS {level}, want about {TONE_RMS}"
    );
    assert!((950.0..1050.0).contains(&pitch), "{pitch} Hz, want 1 kHz");
    assert!(loud > 0.9, "only {loud} of the 100 ms windows hold the tone");
}

#[test]
fn media_sound_follows_the_layout_at_its_volume_and_a_file_without_sound_stays_silent() {
    let quiet = clip("sound-none", TESTSRC, None);
    let tone = clip("sound-vol", TESTSRC, Some(TONE));
    let silent_file = media(&quiet, json!({}));
    let (m, probe) = start_heard(vec![silent_file.clone()]);
    wait_sources(&m, &["ok"]);
    let t0 = heard_ms(&probe.seen());
    wait_heard(&probe, t0 + 1500);
    let silent = rms(span(&probe.seen(), 0, t0 + 1500));
    assert!(silent < 1e-4, "a file without sound over a silent device: RMS {silent}");

    m.update_content(vec![silent_file.clone(), media(&tone, json!({ "volume": 50 }))])
        .unwrap();
    wait_sources(&m, &["ok", "ok"]);
    let t1 = heard_ms(&probe.seen()) + 500;
    wait_heard(&probe, t1 + 2000);
    let half = span(&probe.seen(), t1, t1 + 2000).to_vec();
    let want = TONE_RMS / 2.0;
    assert!(
        rms(&half) > want * 0.8 && rms(&half) < want * 1.2,
        "volume 50: RMS {}, want about {want}",
        rms(&half)
    );
    assert!(loud_share(&half, want) > 0.9, "the added file is heard throughout");

    m.update_content(vec![silent_file]).unwrap();
    // Sound already encoded when the layout changed may still hold the tone; a tick later not.
    let t2 = heard_ms(&probe.seen()) + 400;
    wait_heard(&probe, t2 + 1500);
    m.destroy().unwrap();
    let after = rms(span(&probe.seen(), t2, t2 + 1500));
    assert!(after < 1e-4, "the dropped file is no longer heard: RMS {after}");
}

/// Times (ms) at which a sequence of (ms, on) readings turns on.
fn rises(readings: impl Iterator<Item = (i64, bool)>) -> Vec<i64> {
    let mut was = true;
    let mut at = Vec::new();
    for (ms, on) in readings {
        if on && !was {
            at.push(ms);
        }
        was = on;
    }
    at
}

#[test]
fn a_media_files_sound_stays_with_its_pictures_through_each_loop() {
    // 3 s: dark and silent for 1.5 s, then white with the tone.
    let white = "drawbox=w=iw:h=ih:color=white:t=fill:enable='gte(t,1.5)'";
    let late_tone = format!("{TONE},volume=0:enable='lt(t,1.5)'");
    let p = clip(
        "sound-sync",
        &format!("color=c=black:size=320x240:rate=15,{white}"),
        Some(&late_tone),
    );
    let (probe, ok_at) = play(&p);
    let s = probe.seen();
    let lit = rises(
        s.frames
            .iter()
            .filter(|(ms, _)| *ms >= ok_at)
            .map(|(ms, f)| (*ms, yuv(f, 160, 120).0 > 128)),
    );
    let step = RATE as usize / 50;
    let from = span(&s, 0, ok_at).len();
    let heard = rises(
        s.sound[from..]
            .chunks_exact(step)
            .enumerate()
            .map(|(i, w)| (ok_at + i as i64 * 20, rms(w) > TONE_RMS / 2.0)),
    );
    assert!(lit.len() >= 2, "the picture turned white at {lit:?}: the file looped");
    assert_eq!(
        lit.len(),
        heard.len(),
        "pictures lit at {lit:?}, tone began at {heard:?}"
    );
    for (v, a) in lit.iter().zip(&heard) {
        // A picture shows at the next frame (100 ms) after it is due; a busy machine adds a little.
        assert!((v - a).abs() <= 250, "pictures lit at {lit:?}, tone began at {heard:?}");
    }
}
