//! Our own MP4 writer (`splice::mp4`) against libavformat's muxer on the same slices: every packet
//! the same (times, duration, bytes), every decoded frame the same, the index in front. Recorder
//! slices, foreign-encoder slices (B-frames: negative decode times, an edit list; AAC priming), and
//! a slice without audio in the middle.

use crate::media::*;
use localrecord::splice::{splice_files, splice_files_libav};
use std::path::{Path, PathBuf};

fn same_as_libav(inputs: &[PathBuf], dir: &Path) {
    let (ours, theirs) = (dir.join("ours.mp4"), dir.join("libav.mp4"));
    let a = splice_files(inputs, &ours).unwrap();
    let b = splice_files_libav(inputs, &theirs).unwrap();
    assert_eq!(a.duration_ms, b.duration_ms);
    assert!(moov_first(&ours), "the index is in front");
    assert_eq!(decode_errors(&ours), "");
    let (pa, pb) = (probe_packets(&ours), probe_packets(&theirs));
    assert_eq!(pa.len(), pb.len(), "packet count");
    assert!(pa.len() > 100);
    // Packets are compared per stream: the two writers interleave audio and video differently.
    for video in [true, false] {
        let sa: Vec<_> = pa.iter().filter(|p| p.video == video).collect();
        let sb: Vec<_> = pb.iter().filter(|p| p.video == video).collect();
        assert_eq!(sa.len(), sb.len());
        for (i, (x, y)) in sa.iter().zip(&sb).enumerate() {
            let same = (x.pts - y.pts).abs() < 1e-6 && (x.dts - y.dts).abs() < 1e-6 && x.hash == y.hash;
            assert!(same, "video={video} packet {i}: ours {x:?}, libavformat {y:?}");
            assert!((x.duration - y.duration).abs() < 1e-6 || x.duration.is_nan() == y.duration.is_nan());
        }
    }
    assert_eq!(frame_hashes(&ours), frame_hashes(&theirs), "decoded frames");
    assert!((format_duration(&ours) - format_duration(&theirs)).abs() < 0.01);
}

/// Three slices made with `enc`, each its own tone; `audio(i)`: whether slice i has sound.
fn three(dir: &Path, enc: Encoder, secs: f64, audio: impl Fn(u32) -> bool) -> Vec<PathBuf> {
    (0..3)
        .map(|i| {
            let spec = SliceSpec {
                secs,
                audio: audio(i),
                tone: 440 + 110 * i,
                ..Default::default()
            };
            make_slice_with(dir, &format!("{i}.flv"), &spec, enc)
        })
        .collect()
}

#[test]
fn recorder_slices_write_the_same_mp4_as_libavformat() {
    let dir = tempfile::tempdir().unwrap();
    same_as_libav(&three(dir.path(), Encoder::Recorder, 4.0, |_| true), dir.path());
}

#[test]
fn foreign_slices_with_b_frames_and_priming_write_the_same_mp4_as_libavformat() {
    let dir = tempfile::tempdir().unwrap();
    same_as_libav(&three(dir.path(), Encoder::Foreign, 4.0, |_| true), dir.path());
}

#[test]
fn a_slice_without_audio_in_the_middle_writes_the_same_mp4_as_libavformat() {
    let dir = tempfile::tempdir().unwrap();
    same_as_libav(&three(dir.path(), Encoder::Recorder, 3.0, |i| i != 1), dir.path());
}
