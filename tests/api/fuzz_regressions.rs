//! Inputs the fuzz targets (fuzz/) turned up, each checked to end cleanly in the normal suite.

use crate::media::*;
use localrecord::splice::{splice_files, SliceOutcome};
use std::path::{Path, PathBuf};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/api/fixtures/fuzz")
        .join(name)
}

/// A Matroska file uploaded as a slice (FFmpeg probes it), its two frames at 2^63 µs give or take:
/// the second timestamp no longer fits an i64 in microseconds, and the timeline's subtraction
/// overflowed (a panic where overflow checks are on). Made with
/// `ffmpeg -f lavfi -i testsrc2=size=64x48:rate=5 -t 0.4 -c:v libx264 -preset ultrafast -tune zerolatency
///  -g 5 -pix_fmt yuv420p -output_ts_offset 9223372036854.7s -f matroska`.
#[test]
fn splice_skips_a_slice_whose_timestamps_overflow_microseconds() {
    let dir = tempfile::tempdir().unwrap();
    let good = make_slice(
        dir.path(),
        "good.flv",
        &SliceSpec {
            secs: 1.0,
            size: "64x48",
            ..Default::default()
        },
    );
    let bad = fixture("splice-mkv-ts-near-i64-max.flv");
    for (inputs, bad_at) in [
        (vec![good.clone(), bad.clone()], 1),
        (vec![bad.clone(), good.clone()], 0),
    ] {
        let out = dir.path().join("out.mp4");
        let summary = splice_files(&inputs, &out).expect("the good slice makes a recording");
        assert_eq!(
            summary.slices[bad_at].outcome,
            SliceOutcome::Skipped,
            "{:?}",
            summary.slices
        );
        assert_ne!(
            summary.slices[1 - bad_at].outcome,
            SliceOutcome::Skipped,
            "{:?}",
            summary.slices
        );
        assert!(summary.duration_ms >= 900, "{summary:?}");
    }
}

/// A first slice in another codec (here FLV1, as a garbled or foreign first slice may read) made
/// the reference, and then the output could take none of the H.264 slices: the whole recording
/// failed. The reference is now the first H.264 slice; the other one is re-encoded to match.
#[test]
fn a_first_slice_in_another_codec_does_not_fail_the_recording() {
    let seeds = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus/splice_flv");
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out.mp4");
    let inputs = vec![seeds.join("flv1-aac-1s.flv"), seeds.join("h264-aac-1s.flv")];
    let summary = splice_files(&inputs, &out).expect("a recording");
    assert_eq!(summary.video_codec, "h264", "{summary:?}");
    assert_eq!(
        summary.slices[0].outcome,
        SliceOutcome::Reencoded,
        "{:?}",
        summary.slices
    );
    assert_eq!(summary.slices[1].outcome, SliceOutcome::Copied, "{:?}", summary.slices);
    assert_eq!(decode_errors(&out), "");
}
