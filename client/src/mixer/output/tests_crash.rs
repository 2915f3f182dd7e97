//! What a killed recorder and a full disk leave: flv, ts and the fragmented mp4 readable up to
//! the kill; a full disk ends only the output on it.

use super::super::types::{err, state, OutputEnv, OutputSet};
use super::tests::file;
use super::tests_util::*;
use super::Outputs;
use std::path::PathBuf;
use std::time::{Duration, Instant};

const CHILD: &str = "LR_OUTPUTS_CRASH_DIR";

/// The child of the crash test (does nothing in a normal run): writes flv, ts and mp4 until it
/// is killed, paced loosely so the files stay small; says "ready" after 4 s of media.
#[test]
fn crash_child() {
    let Some(d) = std::env::var_os(CHILD).map(PathBuf::from) else {
        return;
    };
    let (sink, _) = recorder();
    let mut enc = Encode::new(10);
    let mut set = Outputs::new("crash".into(), OutputEnv::default(), sink);
    for n in ["k.flv", "k.ts", "k.mp4", "k.avi"] {
        set.add(&file(&d.join(n)), &enc.streams()).unwrap();
    }
    for i in 0..6000 {
        enc.feed(&mut set, 1);
        if i == 40 {
            std::fs::write(d.join("ready"), b"").unwrap();
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn sigkill_mid_recording_leaves_flv_ts_and_mp4_readable_up_to_the_kill() {
    let d = dir("crash");
    let mut child = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "mixer::output::tests_crash::crash_child",
            "--nocapture",
            "--test-threads",
            "1",
        ])
        .env(CHILD, &d)
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(300);
    while !d.join("ready").exists() {
        assert!(Instant::now() < deadline, "the child never got ready");
        assert!(child.try_wait().unwrap().is_none(), "the child ended early");
        std::thread::sleep(Duration::from_millis(50));
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    for n in ["k.flv", "k.ts", "k.mp4"] {
        let p = d.join(n);
        assert_eq!(decode_errors(&p), "", "{n}");
        let v = probe(&p).unwrap_or_else(|| panic!("ffprobe cannot read {n}"));
        assert_eq!(codecs(&v), ["h264", "aac"], "{n}");
        assert!(duration_s(&v) >= 3.5, "{n}: {} s", duration_s(&v));
    }
    // The mp4 is still fragmented; repair makes it a normal one holding the same.
    let mp4 = d.join("k.mp4");
    let before = duration_s(&probe(&mp4).unwrap());
    assert!(super::finalize::is_fragmented(&mp4).unwrap());
    assert!(super::repair(&mp4).unwrap());
    assert!(!super::finalize::is_fragmented(&mp4).unwrap());
    let after = duration_s(&probe(&mp4).unwrap());
    assert!(
        (after - before).abs() < 0.2,
        "{before} s before repair, {after} s after"
    );
    assert_eq!(decode_errors(&mp4), "");
    assert!(!super::repair(&d.join("k.flv")).unwrap());
    // AVI writes its index and sizes at the end: a killed one shows no duration, yet FFmpeg,
    // which scans the chunks, decodes every frame written.
    let avi = d.join("k.avi");
    assert_eq!(decode_errors(&avi), "");
    assert!(video_packets(&avi) >= 35, "{} frames", video_packets(&avi));
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn a_full_disk_ends_that_output_with_record_no_disk_and_the_others_go_on() {
    let d = dir("full");
    let small = d.join("small");
    if !small_disk(&small, "128k") {
        return;
    }
    let (sink, events) = recorder();
    let mut enc = Encode::new(10);
    let mut set = Outputs::new("full".into(), OutputEnv::default(), sink);
    let (full, fine) = (small.join("a.flv"), d.join("b.ts"));
    set.add(&file(&full), &enc.streams()).unwrap();
    set.add(&file(&fine), &enc.streams()).unwrap();
    enc.feed(&mut set, 80);
    let names: Vec<String> = set.list().into_iter().map(|(n, _)| n).collect();
    set.close_all();
    let ev = events.lock().unwrap().clone();
    let _ = std::process::Command::new("umount").arg("-l").arg(&small).status();
    assert_eq!(names, [fine.to_string_lossy()]);
    let last = |p: &PathBuf| {
        ev.iter()
            .rev()
            .find(|e| e.name_or_url == p.to_string_lossy())
            .unwrap()
            .output_info
            .clone()
    };
    let f = last(&full);
    assert_eq!(
        (f.state, f.err_code),
        (state::ERROR, Some(err::RECORD_NO_DISK)),
        "{f:?}"
    );
    assert_eq!(last(&fine).state, state::CLOSED);
    assert!((duration_s(&probe(&fine).unwrap()) - 8.0).abs() <= 0.2);
    let _ = std::fs::remove_dir_all(&d);
}

/// Mounts a tmpfs of `size` at `dir` (false, with a note, where that is not allowed).
fn small_disk(dir: &std::path::Path, size: &str) -> bool {
    std::fs::create_dir_all(dir).unwrap();
    let mounted = std::process::Command::new("mount")
        .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
        .arg(dir)
        .status()
        .is_ok_and(|s| s.success());
    if !mounted {
        eprintln!("SKIPPED: cannot mount a small tmpfs here (needs root)");
    }
    mounted
}

#[test]
fn no_room_for_the_final_mp4_keeps_the_fragmented_one_and_says_record_no_disk() {
    let d = dir("full-mp4");
    let small = d.join("small");
    // The 4 s recording takes about 80 KB: it fits, a second copy of it does not.
    if !small_disk(&small, "120k") {
        return;
    }
    let (sink, events) = recorder();
    let mut enc = Encode::new(10);
    let mut set = Outputs::new("fm".into(), OutputEnv::default(), sink);
    let mp4 = small.join("a.mp4");
    set.add(&file(&mp4), &enc.streams()).unwrap();
    enc.feed(&mut set, 40);
    let size = std::fs::metadata(&mp4).unwrap().len();
    assert_eq!(set.list().len(), 1, "the recording itself fit ({size} bytes)");
    set.close_all();
    let last = events.lock().unwrap().last().unwrap().output_info.clone();
    let left: Vec<_> = std::fs::read_dir(&small)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    let fragmented = super::finalize::is_fragmented(&mp4).unwrap();
    let (errors, secs) = (decode_errors(&mp4), duration_s(&probe(&mp4).unwrap()));
    let _ = std::process::Command::new("umount").arg("-l").arg(&small).status();
    assert_eq!(
        (last.state, last.err_code),
        (state::ERROR, Some(err::RECORD_NO_DISK)),
        "{last:?} ({size} bytes)"
    );
    assert!(fragmented && errors.is_empty() && secs >= 3.5, "{errors} {secs} s");
    assert_eq!(left, ["a.mp4"], "the half-written final copy is removed");
    let _ = std::fs::remove_dir_all(&d);
}
