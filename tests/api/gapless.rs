//! Gapless joins, through the server (tus upload, stop, splice job, download): the MP4 lasts the sum
//! of the slices' frames, its video and audio run on without a hole or an overlap at any join, and
//! audio sits where it sat against the video in its slice. Checked with ffprobe packet timestamps
//! (`ffprobe -show_packets -show_data_hash md5 -of json`) of the output against the inputs'.

use crate::faults::wait_task;
use crate::helpers::*;
use crate::media::*;
use std::path::{Path, PathBuf};

const FRAME: f64 = 1.0 / 15.0;

/// Uploads `n` slices made with `enc` (each `secs` long, its own tone), stops, waits for the
/// splice, and downloads the MP4. Returns (slices, MP4, the dir holding them).
async fn splice_through_server(
    n: usize,
    secs: f64,
    enc: Encoder,
    class: i64,
) -> (Vec<PathBuf>, PathBuf, tempfile::TempDir) {
    let app = spawn_app().await;
    let dir = tempfile::tempdir().unwrap();
    let inputs: Vec<PathBuf> = (0..n)
        .map(|i| {
            let spec = SliceSpec {
                secs,
                tone: 440 + 110 * i as u32,
                ..Default::default()
            };
            make_slice_with(dir.path(), &format!("{i}.flv"), &spec, enc)
        })
        .collect();
    let task = app.create_task("alice", class).await;
    for (i, f) in inputs.iter().enumerate() {
        app.upload_slice("alice", &task, i as i64, &std::fs::read(f).unwrap(), 256 * 1024)
            .await;
    }
    app.stop_task("alice", &task, n as i32).await;
    let st = wait_task(&app, &task, 120, |st| {
        st["State"] == "done" && st["VideoOutputUrl"].is_string()
    })
    .await;
    let mp4 = app
        .client
        .get(st["VideoOutputUrl"].as_str().unwrap())
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    let out = dir.path().join("out.mp4");
    std::fs::write(&out, &mp4).unwrap();
    (inputs, out, dir)
}

/// The assertions of issue 12's "gapless joins", with the figures printed.
fn assert_gapless(inputs: &[PathBuf], out: &Path) {
    let ins: Vec<Vec<ProbedPacket>> = inputs.iter().map(|p| probe_packets(p)).collect();
    let all = probe_packets(out);
    for v in [true, false] {
        let dts: Vec<f64> = all.iter().filter(|p| p.video == v).map(|p| p.dts).collect();
        assert!(
            dts.windows(2).all(|w| w[1] > w[0]),
            "DTS strictly increase (video: {v})"
        );
    }
    let mut video: Vec<&ProbedPacket> = all.iter().filter(|p| p.video).collect();
    video.sort_by(|a, b| a.pts.partial_cmp(&b.pts).unwrap());
    let audio: Vec<&ProbedPacket> = all.iter().filter(|p| !p.video).collect();
    let counts: Vec<usize> = ins.iter().map(|i| i.iter().filter(|p| p.video).count()).collect();
    let frames: usize = counts.iter().sum();
    assert_eq!(video.len(), frames, "every video frame of every slice");
    let frames_secs = frames as f64 * FRAME;

    // Duration: the sum of the slices' frame durations.
    let v_start = video[0].pts;
    let last = video.last().unwrap();
    let v_span = last.pts + last.duration - v_start;
    let fmt = format_duration(out);
    println!("video span {v_span:.3} s, format duration {fmt:.3} s, frames {frames_secs:.3} s");
    assert!(v_start.abs() < 0.001, "the video starts at 0, not {v_start}");
    assert!(
        (v_span - frames_secs).abs() <= FRAME,
        "video spans {v_span} s for {frames_secs} s of frames"
    );
    assert!(
        (fmt - frames_secs).abs() <= FRAME,
        "MP4 lasts {fmt} s for {frames_secs} s of frames"
    );

    // No frozen video: consecutive pictures one frame apart, at the joins too.
    let worst_step = video.windows(2).map(|w| w[1].pts - w[0].pts).fold(0.0, f64::max);
    println!("largest step between pictures {:.1} ms", worst_step * 1000.0);
    assert!(worst_step < 1.5 * FRAME, "a picture held {worst_step} s");

    // Audio: no gap or overlap of a whole AAC frame between consecutive packets.
    let aac_frame = audio[0].duration;
    assert!(aac_frame > 0.015 && aac_frame < 0.03, "AAC frame {aac_frame}");
    let worst_audio = audio
        .windows(2)
        .map(|w| w[1].pts - (w[0].pts + w[0].duration))
        .fold(0.0_f64, |a, g| if g.abs() > a.abs() { g } else { a });
    println!("worst audio gap(+)/overlap(-) {:.2} ms", worst_audio * 1000.0);
    assert!(worst_audio.abs() < aac_frame, "audio gap/overlap of {worst_audio} s");

    // A/V offset at every join: a packet of slice k's audio (the 4th, past any priming) sits as
    // far from the slice's first picture in the output as it did in the slice.
    let mut first = 0;
    let mut worst_av = 0.0_f64;
    for (k, slice) in ins.iter().enumerate() {
        let join = video[first].pts;
        assert!(
            (join - (v_start + first as f64 * FRAME)).abs() < 0.005,
            "slice {k} starts at {join} s, after {first} frames"
        );
        let origin = slice
            .iter()
            .filter(|p| p.video)
            .map(|p| p.pts)
            .fold(f64::INFINITY, f64::min);
        let a = slice.iter().filter(|p| !p.video).nth(3).expect("slice has audio");
        let want = join + (a.pts - origin);
        let got = audio
            .iter()
            .find(|p| p.hash == a.hash)
            .unwrap_or_else(|| panic!("slice {k}'s 4th audio packet is in the output"))
            .pts;
        let off = got - want;
        if off.abs() > worst_av.abs() {
            worst_av = off;
        }
        assert!(off.abs() <= FRAME, "slice {k}: audio off by {off} s against its video");
        first += counts[k];
    }
    println!("worst A/V offset at a join {:.2} ms", worst_av * 1000.0);
    assert_eq!(decode_errors(out), "", "the MP4 decodes cleanly");
}

#[tokio::test]
async fn recorder_slices_join_without_gaps() {
    let (inputs, out, _dir) = splice_through_server(4, 6.0, Encoder::Recorder, 121).await;
    assert_gapless(&inputs, &out);
}

/// B-frames and AAC priming: each slice's video PTS starts 0.13 s after its DTS and its audio 21 ms
/// before its picture. Before: ~0.11-0.13 s of frozen video and silence at every join.
#[tokio::test]
async fn foreign_encoder_slices_with_b_frames_and_priming_join_without_gaps() {
    let (inputs, out, _dir) = splice_through_server(4, 6.0, Encoder::Foreign, 122).await;
    assert_gapless(&inputs, &out);
}
