//! UpdateLocMixerContent while recording: the new layout from the next frame on, the same
//! outputs, timestamps going on without a gap, sound throughout.

use super::*;
use crate::capture::AudioSource;
use crate::mixer::types::content_type as ct;

#[test]
fn a_layout_change_shows_from_the_next_frame_without_a_gap_in_the_same_outputs() {
    let left = (0, 0, 320, 360);
    let right = (320, 0, 320, 360);
    let layout = |red_at, blue_at| {
        vec![
            item(ct::VIDEO, red_at, 0, colour_cam("red")),
            item(ct::VIDEO, blue_at, 0, colour_cam("blue")),
        ]
    };
    let probe = Probe::default();
    let m = Mixer::create(
        "u".into(),
        cfg(640, 360, 10),
        layout(left, right),
        Some(AudioSource::Tone),
        Box::new(probe.clone()),
    )
    .unwrap();
    m.add_outputs(vec![out("mem")]).unwrap();
    wait_sources(&m, &["ok", "ok"]);
    // Frames before the sources delivered are black; the old layout is checked from here on.
    let ok_at = probe.seen().packet_ms.last().copied().unwrap_or(0) + 100;
    wait_until(&probe, "2 s of frames", |s| {
        s.packet_ms.last().is_some_and(|l| *l >= ok_at + 2000)
    });
    let before = *probe.seen().packet_ms.last().unwrap();
    m.update_content(layout(right, left)).unwrap();
    let after = *probe.seen().packet_ms.last().unwrap();
    wait_until(&probe, "1 s more", |s| {
        s.packet_ms.last().is_some_and(|l| *l >= after + 1000)
    });
    // An output added while recording starts at once, on a keyframe (the gop is 2 s).
    m.add_outputs(vec![out("second")]).unwrap();
    wait_until(&probe, "1 s more", |s| {
        s.packet_ms.last().is_some_and(|l| *l >= after + 2000)
    });
    m.destroy().unwrap();

    let s = probe.seen();
    assert_eq!(s.adds, 2, "the first output all along, and the one added");
    assert_eq!(
        s.key_after_add,
        vec![true, true],
        "each added output's first packet is a keyframe"
    );
    let (mut old, mut new) = (0, 0);
    for (ms, f) in &s.frames {
        if *ms > ok_at && *ms <= before {
            assert_shows(f, 160, 180, RED, &format!("old layout at {ms} ms"));
            old += 1;
        } else if *ms > after + 100 {
            // one frame may have been drawn before the update and sent after it
            assert_shows(f, 160, 180, BLUE, &format!("new layout at {ms} ms"));
            assert_shows(f, 480, 180, RED, &format!("new layout at {ms} ms"));
            new += 1;
        }
    }
    assert!(old >= 10 && new >= 10, "{old} frames before, {new} after");
    let gaps: Vec<_> = s.packet_ms.windows(2).filter(|w| w[1] - w[0] != 100).collect();
    assert!(gaps.is_empty(), "frame times must go on every 100 ms: {gaps:?}");
    // Sound all along: AAC packets in order, as much raw sound as video.
    assert!(s.audio_ms.windows(2).all(|w| w[1] > w[0]), "audio times increase");
    let video_ms = s.packet_ms.last().unwrap() - s.packet_ms[0];
    assert!(
        s.pcm_samples as i64 * 1000 / 44_100 >= video_ms - 1000,
        "pcm covers the recording"
    );
}
