//! The outputs fed from a real encode (no wall clock): every format at once checked with
//! ffprobe, an output added mid-stream, the events, refusals, encryption, a full disk.

use super::super::types::{err, state, MixerOutput, OutputEnv, OutputEvent, OutputSet};
use super::tests_util::*;
use super::Outputs;
use std::path::Path;

pub fn file(path: &Path) -> MixerOutput {
    MixerOutput {
        kind: 0,
        filename: path.to_string_lossy().into_owned(),
        encrypt_type: 0,
        is_upload_on_recording: 0,
        server_path_file_name: None,
    }
}

fn of<'a>(events: &'a [OutputEvent], path: &Path) -> Vec<&'a OutputEvent> {
    events
        .iter()
        .filter(|e| e.name_or_url == path.to_string_lossy())
        .collect()
}

/// 0, then 1s with growing duration and size, then 2 with the file's final size.
fn check_events(events: &[OutputEvent], path: &Path, probed_s: f64) {
    let ev = of(events, path);
    let states: Vec<u8> = ev.iter().map(|e| e.output_info.state).collect();
    assert_eq!(states.first(), Some(&state::CREATED), "{}: {states:?}", path.display());
    assert_eq!(states.last(), Some(&state::CLOSED), "{}: {states:?}", path.display());
    let writing: Vec<_> = ev
        .iter()
        .filter(|e| e.output_info.state == state::WRITING)
        .map(|e| &e.output_info)
        .collect();
    assert!(writing.len() >= 2, "{}: {states:?}", path.display());
    assert!(
        states[1..states.len() - 1].iter().all(|s| *s == state::WRITING),
        "{states:?}"
    );
    for w in writing.windows(2) {
        assert!(
            w[1].duration >= w[0].duration + 1000 && w[1].file_size > w[0].file_size,
            "{w:?}"
        );
    }
    let last = &ev.last().unwrap().output_info;
    assert_eq!(
        last.file_size,
        std::fs::metadata(path).unwrap().len(),
        "{}",
        path.display()
    );
    assert!(
        (last.duration as f64 / 1000.0 - probed_s).abs() < 0.25,
        "{}: event says {} ms, ffprobe {probed_s} s",
        path.display(),
        last.duration
    );
}

#[test]
fn five_formats_at_once_from_one_encode_each_checked_by_ffprobe() {
    let d = dir("five");
    let (sink, events) = recorder();
    let mut enc = Encode::new(20);
    let mut set = Outputs::new("m1".into(), OutputEnv::default(), sink);
    let names = ["a.mp4", "a.ts", "a.flv", "a.avi", "a.mp3"].map(|n| d.join(n));
    for p in &names {
        set.add(&file(p), &enc.streams()).unwrap();
    }
    assert_eq!(set.list().len(), 5);
    enc.feed(&mut set, 40);
    set.close_all();
    let events = events.lock().unwrap().clone();
    for p in &names {
        let v = probe(p).unwrap_or_else(|| panic!("ffprobe cannot read {}", p.display()));
        let want = if p.extension().unwrap() == "mp3" {
            vec!["mp3"]
        } else {
            vec!["h264", "aac"]
        };
        assert_eq!(codecs(&v), want, "{}", p.display());
        let secs = duration_s(&v);
        assert!((secs - 4.0).abs() <= 0.2, "{}: {secs} s", p.display());
        assert_eq!(decode_errors(p), "", "{}", p.display());
        check_events(&events, p, secs);
    }
    // The mp4 is a normal one with its index first, not the fragments it was while recording.
    assert!(!super::finalize::is_fragmented(&names[0]).unwrap());
    let head = std::fs::read(&names[0]).unwrap();
    assert_eq!(&head[4..8], b"ftyp");
    let moov = head.windows(4).position(|w| w == b"moov").unwrap();
    let mdat = head.windows(4).position(|w| w == b"mdat").unwrap();
    assert!(moov < mdat, "faststart: moov at {moov}, mdat at {mdat}");
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn an_output_added_mid_stream_starts_at_a_keyframe_at_time_zero_and_remove_closes_it() {
    let d = dir("mid");
    let (sink, events) = recorder();
    let mut enc = Encode::new(10);
    let mut set = Outputs::new("m2".into(), OutputEnv::default(), sink);
    let (flv, mp4) = (d.join("late.flv"), d.join("late.mp4"));
    enc.feed(&mut set, 25);
    // At 2.5 s, between keyframes (every second): both begin with the keyframe at 3 s.
    for p in [&flv, &mp4] {
        set.add(&file(p), &enc.streams()).unwrap();
    }
    enc.feed(&mut set, 25);
    set.remove(&flv.to_string_lossy()).unwrap();
    assert_eq!(set.list().len(), 1);
    set.wait_closed();
    let ev = events.lock().unwrap().clone();
    let last = of(&ev, &flv).last().unwrap().output_info.clone();
    assert_eq!(last.state, state::CLOSED);
    assert!(
        (last.duration - 2000).abs() <= 50,
        "from the keyframe at 3 s to 5 s: {last:?}"
    );
    enc.feed(&mut set, 10);
    set.close_all();
    for (p, secs) in [(&flv, 2.0), (&mp4, 3.0)] {
        let (t, key) = first_video_packet(p);
        assert!(
            key && t.abs() < 0.05,
            "{}: first packet at {t} s, key {key}",
            p.display()
        );
        let got = duration_s(&probe(p).unwrap());
        assert!((got - secs).abs() <= 0.2, "{}: {got} s", p.display());
        assert_eq!(decode_errors(p), "");
    }
    let e = set.remove(&flv.to_string_lossy()).unwrap_err();
    assert_eq!(e.code, err::FILE_NOT_EXIST);
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn refusals_have_the_seeds_codes_and_never_touch_an_existing_file() {
    let d = dir("refuse");
    let (sink, events) = recorder();
    let enc = Encode::new(10);
    let s = enc.streams();
    let mut set = Outputs::new("m3".into(), OutputEnv::default(), sink);
    let code = |set: &mut Outputs, o: MixerOutput| set.add(&o, &s).unwrap_err().code;
    let mut typ = file(&d.join("x.mp4"));
    typ.kind = 1;
    assert_eq!(code(&mut set, typ), err::PARAM_ERR);
    assert_eq!(code(&mut set, file(&d.join("x.mkv"))), err::PARAM_ERR);
    assert_eq!(code(&mut set, file(&d.join("noext"))), err::PARAM_ERR);
    let existing = d.join("old.flv");
    std::fs::write(&existing, b"keep me").unwrap();
    assert_eq!(code(&mut set, file(&existing)), err::FILE_ALREADY_EXIST);
    assert_eq!(std::fs::read(&existing).unwrap(), b"keep me");
    assert_eq!(
        code(&mut set, file(&existing.join("under-a-file.ts"))),
        err::FILE_WRITE_ERR
    );
    assert_eq!(code(&mut set, file(&d.join("missing-dir/x.ts"))), err::FILE_WRITE_ERR);
    let mut sealed = file(&d.join("s.flv"));
    sealed.encrypt_type = 1;
    assert_eq!(code(&mut set, sealed), err::PARAM_ERR, "no key");
    let mut up = file(&d.join("u.flv"));
    up.is_upload_on_recording = 1;
    assert_eq!(code(&mut set, up), err::PARAM_ERR, "no serverPathFileName");
    for i in 0..8 {
        set.add(&file(&d.join(format!("{i}.ts"))), &s).unwrap();
    }
    assert_eq!(code(&mut set, file(&d.join("0.ts"))), err::CFG_RESTRICTED);
    set.remove(&d.join("7.ts").to_string_lossy()).unwrap();
    assert_eq!(
        code(&mut set, file(&d.join("0.ts"))),
        err::FILE_ALREADY_EXIST,
        "duplicate"
    );
    assert_eq!(set.remove("nope.ts").unwrap_err().code, err::FILE_NOT_EXIST);
    // A muxer that refuses the mixer's streams leaves no file behind.
    let mut bogus = enc.streams();
    bogus.video = ffmpeg_next::codec::Parameters::new();
    set.remove(&d.join("6.ts").to_string_lossy()).unwrap();
    assert_eq!(
        set.add(&file(&d.join("bogus.flv")), &bogus).unwrap_err().code,
        err::INNER_ERR
    );
    assert!(!d.join("bogus.flv").exists());
    set.close_all();
    // Nothing refused was created, and nothing refused sent an event.
    assert!(!d.join("x.mp4").exists() && !d.join("s.flv").exists() && !d.join("u.flv").exists());
    assert_eq!(
        events
            .lock()
            .unwrap()
            .iter()
            .filter(|e| e.output_info.state == state::CREATED)
            .count(),
        8
    );
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn a_mixer_without_sound_writes_video_only_files_and_refuses_mp3() {
    let d = dir("silent");
    let (sink, _events) = recorder();
    let mut enc = Encode::new(10);
    let mut streams = enc.streams();
    streams.audio = None;
    let mut set = Outputs::new("m4".into(), OutputEnv::default(), sink);
    let e = set.add(&file(&d.join("a.mp3")), &streams).unwrap_err();
    assert_eq!(e.code, err::PARAM_ERR);
    let names = [d.join("v.mp4"), d.join("v.avi")];
    for p in &names {
        set.add(&file(p), &streams).unwrap();
    }
    enc.feed(&mut set, 20); // its AAC packets reach outputs that have no audio track: ignored
    set.close_all();
    for p in &names {
        let v = probe(p).unwrap();
        assert_eq!(codecs(&v), ["h264"], "{}", p.display());
        assert!((duration_s(&v) - 2.0).abs() <= 0.15, "{}", p.display());
        assert_eq!(decode_errors(p), "");
    }
    let _ = std::fs::remove_dir_all(&d);
}
