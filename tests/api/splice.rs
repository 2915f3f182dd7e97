//! Splicing real FLV slices (made by the ffmpeg CLI) and checking the MP4 with ffprobe, one test per
//! defect a real recorder produces.

use crate::media::*;
use localrecord::splice::{splice_files, SliceOutcome};
use std::path::{Path, PathBuf};

const FRAME: f64 = 1.0 / 15.0;

fn assert_clean(out: &Path) {
    assert_eq!(stream_count(out), 2, "video and audio");
    assert!(moov_first(out), "index at the front (faststart)");
    let errors = decode_errors(out);
    assert!(errors.is_empty(), "ffmpeg -v error prints: {errors}");
    for s in ["v", "a"] {
        let p = packets(out, s);
        assert!(p.windows(2).all(|w| w[1].dts > w[0].dts), "{s}: DTS strictly increase");
    }
}

/// Seconds of video frames in slices: what the output must last (gapless joins: the audio a slice
/// carries past its video, AAC priming and padding, does not lengthen the recording).
fn frames_secs(paths: &[PathBuf]) -> f64 {
    paths.iter().map(|p| packets(p, "v").len() as f64 * FRAME).sum()
}

/// The largest hole between consecutive audio packets, in seconds.
fn worst_audio_gap(out: &Path) -> f64 {
    packets(out, "a")
        .windows(2)
        .map(|w| (w[1].pts - (w[0].pts + w[0].duration)).abs())
        .fold(0.0, f64::max)
}

fn slices(dir: &Path, specs: &[SliceSpec]) -> Vec<PathBuf> {
    specs
        .iter()
        .enumerate()
        .map(|(i, s)| make_slice(dir, &format!("{i}.flv"), s))
        .collect()
}

#[test]
fn three_slices_splice_seamlessly() {
    let dir = tempfile::tempdir().unwrap();
    let ins = slices(
        dir.path(),
        &[
            SliceSpec::default(),
            SliceSpec {
                tone: 550,
                ..Default::default()
            },
            SliceSpec {
                tone: 660,
                ..Default::default()
            },
        ],
    );
    let out = dir.path().join("out.mp4");
    let summary = splice_files(&ins, &out).unwrap();
    assert_clean(&out);
    let expected = frames_secs(&ins);
    let got = format_duration(&out);
    assert!(
        (got - expected).abs() <= FRAME,
        "duration {got} vs sum of slices {expected}"
    );
    assert!((summary.duration_ms as f64 / 1000.0 - got).abs() <= FRAME);
    assert!(
        worst_audio_gap(&out) < 0.001,
        "audio gap at a join: {}",
        worst_audio_gap(&out)
    );
    assert!(summary.slices.iter().all(|s| s.outcome == SliceOutcome::Copied));
    assert_eq!(summary.size, std::fs::metadata(&out).unwrap().len());
}

#[test]
fn a_truncated_slice_is_read_up_to_the_cut_and_the_rest_follows() {
    let dir = tempfile::tempdir().unwrap();
    let ins = slices(
        dir.path(),
        &[SliceSpec::default(), SliceSpec::default(), SliceSpec::default()],
    );
    let full = content_secs(&ins[1]);
    // The recorder died 60% into slice 1.
    let bytes = std::fs::read(&ins[1]).unwrap();
    std::fs::write(&ins[1], &bytes[..bytes.len() * 6 / 10]).unwrap();
    let out = dir.path().join("out.mp4");
    let summary = splice_files(&ins, &out).unwrap();
    assert_clean(&out);
    let got = format_duration(&out);
    let expected = frames_secs(&ins);
    assert!((got - expected).abs() <= 2.0 * FRAME, "duration {got} vs {expected}");
    assert!(got > 2.0 * full + 1.0, "slice 2 is in the output, and most of slice 1");

    // The baseline loses everything after the cut.
    let base = dir.path().join("concat.mp4");
    ffmpeg_concat(&ins, &base);
    let base_secs = format_duration(&base);
    assert!(got > base_secs + 3.0, "ours {got} s, ffmpeg concat {base_secs} s");
    assert_eq!(summary.slices.len(), 3);
}

#[test]
fn a_zero_byte_slice_is_skipped() {
    let dir = tempfile::tempdir().unwrap();
    let ins = slices(
        dir.path(),
        &[SliceSpec::default(), SliceSpec::default(), SliceSpec::default()],
    );
    std::fs::write(&ins[1], b"").unwrap();
    let out = dir.path().join("out.mp4");
    let summary = splice_files(&ins, &out).unwrap();
    assert_clean(&out);
    assert_eq!(summary.slices[1].outcome, SliceOutcome::Skipped);
    let expected = frames_secs(&[ins[0].clone(), ins[2].clone()]);
    assert!((format_duration(&out) - expected).abs() <= FRAME);
    assert!(worst_audio_gap(&out) < 0.001);
}

#[test]
fn a_slice_without_audio_keeps_the_rest_in_sync() {
    let dir = tempfile::tempdir().unwrap();
    let ins = slices(
        dir.path(),
        &[
            SliceSpec::default(),
            SliceSpec {
                audio: false,
                ..Default::default()
            },
            SliceSpec::default(),
        ],
    );
    let out = dir.path().join("out.mp4");
    let summary = splice_files(&ins, &out).unwrap();
    assert_clean(&out);
    assert!(!summary.slices[1].has_audio);
    let expected = frames_secs(&ins);
    assert!((format_duration(&out) - expected).abs() <= FRAME);
    // Slice 2's audio starts with slice 2's video, not where slice 0's audio ended.
    let end0 = content_secs(&ins[0]);
    let first_audio_after = packets(&out, "a")
        .into_iter()
        .map(|p| p.pts)
        .find(|t| *t > end0 + 0.5)
        .unwrap();
    let mut video: Vec<f64> = packets(&out, "v").into_iter().map(|p| p.pts).collect();
    video.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let first_video_after = video[packets(&ins[0], "v").len() + packets(&ins[1], "v").len()];
    assert!(
        (first_audio_after - first_video_after).abs() <= FRAME,
        "audio {first_audio_after} vs video {first_video_after}"
    );
}

#[test]
fn corrupt_bytes_in_the_middle_cost_only_the_packets_they_hit() {
    let dir = tempfile::tempdir().unwrap();
    let ins = slices(
        dir.path(),
        &[SliceSpec::default(), SliceSpec::default(), SliceSpec::default()],
    );
    // Garble 2000 bytes inside the keyframe in the middle of slice 1 (the FLV structure stays intact).
    let keys = keyframes(&ins[1]);
    let (pos, size) = keys[keys.len() / 2];
    assert!(size > 2200, "keyframe of {size} bytes");
    let mut bytes = std::fs::read(&ins[1]).unwrap();
    for (i, b) in bytes[pos + 100..pos + 2100].iter_mut().enumerate() {
        *b = (i as u32).wrapping_mul(2654435761).to_be_bytes()[1];
    }
    std::fs::write(&ins[1], &bytes).unwrap();
    assert!(!decode_errors(&ins[1]).is_empty(), "the slice itself is broken");

    let out = dir.path().join("out.mp4");
    let summary = splice_files(&ins, &out).unwrap();
    assert_clean(&out);
    // One GOP (2 s at 15 fps, -g 30) is lost; everything else is there.
    assert_eq!(summary.slices[1].dropped, 30);
    let video_secs = packets(&out, "v").len() as f64 * FRAME;
    assert!((video_secs - (3.0 * 4.0 - 2.0)).abs() < 0.01, "{video_secs} s of video");
    let expected = frames_secs(&ins);
    assert!(
        (format_duration(&out) - expected).abs() <= FRAME,
        "the timeline keeps its length"
    );
    assert!(worst_audio_gap(&out) < 0.001, "audio untouched");
}

#[test]
fn a_slice_of_another_resolution_is_reencoded_to_the_output() {
    let dir = tempfile::tempdir().unwrap();
    let ins = slices(
        dir.path(),
        &[
            SliceSpec::default(),
            SliceSpec {
                size: "640x480",
                tone: 550,
                ..Default::default()
            },
            SliceSpec::default(),
        ],
    );
    let out = dir.path().join("out.mp4");
    let summary = splice_files(&ins, &out).unwrap();
    assert_eq!(summary.slices[1].outcome, SliceOutcome::Reencoded);
    assert_eq!(summary.slices[0].outcome, SliceOutcome::Copied);
    assert_eq!(summary.slices[2].outcome, SliceOutcome::Copied);
    assert_clean(&out);
    let expected = frames_secs(&ins);
    assert!(
        (format_duration(&out) - expected).abs() <= FRAME,
        "{} vs {expected}",
        format_duration(&out)
    );
    assert_eq!(packets(&out, "v").len(), 3 * 60, "every frame of every slice");
    assert!(worst_audio_gap(&out) < 0.001);
    // Every frame decodes at the output's size (320x240), the re-encoded ones too.
    let o = std::process::Command::new("ffmpeg")
        .args(["-hide_banner", "-nostats", "-v", "info", "-i"])
        .arg(&out)
        .args(["-vf", "showinfo", "-f", "null", "-"])
        .output()
        .unwrap();
    let info = String::from_utf8_lossy(&o.stderr);
    let sizes: Vec<&str> = info
        .lines()
        .filter_map(|l| l.split(" s:").nth(1)?.split_whitespace().next())
        .collect();
    assert_eq!(sizes.len(), 180, "{info}");
    assert!(sizes.iter().all(|s| *s == "320x240"), "{sizes:?}");
}

#[test]
fn the_index_goes_in_front_without_a_rewrite_and_falls_back_when_it_does_not_fit() {
    let dir = tempfile::tempdir().unwrap();
    let ins = slices(dir.path(), &[SliceSpec::default(), SliceSpec::default()]);
    let out = dir.path().join("out.mp4");
    splice_files(&ins, &out).unwrap();
    assert_clean(&out);
    // Far too little room reserved: the media is moved once behind the index, same result.
    let small = dir.path().join("small.mp4");
    let s = localrecord::splice::splice_files_reserving(&ins, &small, 64, std::time::Instant::now()).unwrap();
    assert_clean(&small);
    assert_eq!(packets(&small, "v").len(), packets(&out, "v").len());
    assert!((format_duration(&small) - format_duration(&out)).abs() < 0.001);
    assert_eq!(s.size, std::fs::metadata(&small).unwrap().len());
}

#[test]
fn the_cli_prints_a_json_summary() {
    let dir = tempfile::tempdir().unwrap();
    let ins = slices(dir.path(), &[SliceSpec::default(), SliceSpec::default()]);
    let out = dir.path().join("cli.mp4");
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_localrecord"))
        .arg("splice")
        .arg("-o")
        .arg(&out)
        .args(&ins)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["slices"].as_array().unwrap().len(), 2);
    assert_eq!(v["size"], std::fs::metadata(&out).unwrap().len());
    assert!((v["duration_ms"].as_f64().unwrap() / 1000.0 - format_duration(&out)).abs() <= FRAME);
    assert_clean(&out);
}
