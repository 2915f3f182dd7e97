//! The mixer from `localrecord-recorder record --layout ... --output ...`, and mixers ended by
//! `Exit` and by SIGTERM of `serve`: each output is final (state 2) and plays.

use crate::media;
use crate::recorder_mixer_support::{camera, cfg, codec_types, image, red_png};
use crate::recorder_support::*;
use serde_json::{json, Value};
use std::path::Path;
use std::process::Command;

fn run_record(dir: &Path, layout: &Value, extra: &[&str]) -> std::process::Output {
    let lpath = dir.join("layout.json");
    std::fs::write(&lpath, layout.to_string()).unwrap();
    Command::new(recorder_bin())
        .arg("--data-dir")
        .arg(dir.join("rec"))
        .args(["--audio", "tone", "record", "--layout"])
        .arg(&lpath)
        .args(extra)
        .output()
        .unwrap()
}

#[test]
fn record_with_a_layout_writes_every_output_and_prints_their_info() {
    let dir = tempfile::tempdir().unwrap();
    let png = red_png(dir.path());
    let layout = json!({"mixerCfg": cfg(), "mixerContent": [camera(0, 0, 640, 360), image(&png, 470, 250, 160, 100)]});
    let (mp4, ts) = (dir.path().join("a.mp4"), dir.path().join("a.ts"));
    let (kf, enc) = (dir.path().join("app.key"), dir.path().join("a.flv"));
    localrecord_crypt::Key::generate().write_file(&kf, "test").unwrap();
    let out = run_record(
        dir.path(),
        &layout,
        &[
            "--duration",
            "3",
            "--output",
            mp4.to_str().unwrap(),
            "--output",
            ts.to_str().unwrap(),
        ],
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let lines: Vec<Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2, "{lines:?}");
    for (line, path) in lines.iter().zip([&mp4, &ts]) {
        assert_eq!(line["nameOrUrl"], path.to_str().unwrap());
        assert_eq!(line["state"], 2, "{line}");
        assert_eq!(line["fileSize"].as_u64(), Some(std::fs::metadata(path).unwrap().len()));
        assert!(line["duration"].as_i64().unwrap() >= 2500, "{line}");
        assert!(media::format_duration(path) > 2.5, "{}", path.display());
        assert_eq!(
            codec_types(path),
            ["audio", "video"].map(String::from).into(),
            "video and sound"
        );
        assert_eq!(media::decode_errors(path), "");
    }

    // An encrypted output (the prefix form): unreadable without the key, and the key is needed.
    let out = run_record(
        dir.path(),
        &layout,
        &["--duration", "2", "--output", &format!("encrypt:{}", enc.display())],
    );
    assert!(!out.status.success(), "no --key-file");
    assert!(String::from_utf8_lossy(&out.stderr).contains("--key-file"));
    assert!(!enc.exists());
    let mut with_key = vec!["--duration", "2", "--key-file", kf.to_str().unwrap()];
    with_key.extend(["--output-encrypted", enc.to_str().unwrap()]);
    let out = run_record(dir.path(), &layout, &with_key);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(!media::reveals_media(&enc), "ffprobe cannot read an encrypted file");

    // An existing file is refused: nothing is overwritten.
    let before = std::fs::read(&mp4).unwrap();
    let out = run_record(
        dir.path(),
        &layout,
        &["--duration", "2", "--output", mp4.to_str().unwrap()],
    );
    assert!(!out.status.success());
    assert_eq!(std::fs::read(&mp4).unwrap(), before);
    // A layout that is not one is refused with the reason.
    let out = run_record(dir.path(), &json!({"mixerCfg": cfg()}), &["--output", "/tmp/never.mp4"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("mixerContent"), "{out:?}");
    // Without --layout, `record` is the TIC recording and needs its flags, as before.
    let tic = Command::new(recorder_bin())
        .args(["record", "--duration", "1", "--class-id", "1"])
        .env_remove("LOCALRECORD_SDKAPPID")
        .output()
        .unwrap();
    assert!(!tic.status.success());
    assert!(String::from_utf8_lossy(&tic.stderr).contains("--sdkappid"));
    let stray = Command::new(recorder_bin())
        .args(["record", "--output", "/tmp/x.mp4"])
        .output()
        .unwrap();
    assert!(!stray.status.success(), "--output needs --layout");
    assert!(String::from_utf8_lossy(&stray.stderr).contains("--layout"));
}

/// Starts one mixer with an mp4 output on a served recorder.
async fn mixer_with_output(s: &Served, dir: &Path, id: &str) -> std::path::PathBuf {
    let png = red_png(dir);
    let c = json!({"mixerID": id, "mixerCfg": cfg(), "mixerContent": [camera(0, 0, 320, 360), image(&png, 320, 0, 320, 360)]});
    assert_eq!(cmd(s, "CreateLocMixer", c).await["Response"]["errCode"], 0);
    let mp4 = dir.join(format!("{id}.mp4"));
    let add = json!({"mixerID": id, "mixerOutput": [{"type": 0, "filename": mp4}]});
    assert_eq!(cmd(s, "AddLocMixerOutput", add).await["Response"]["errCode"], 0);
    mp4
}

#[tokio::test]
async fn exit_and_sigterm_end_every_mixer_with_final_files() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = serve(
        "http://127.0.0.1:9",
        &dir.path().join("rec"),
        &["--dst-dir", dir.path().to_str().unwrap()],
    )
    .await;
    let a = mixer_with_output(&s, dir.path(), "a").await;
    let b = mixer_with_output(&s, dir.path(), "b").await;
    for id in ["c", "d"] {
        let c = json!({"mixerID": id, "mixerCfg": cfg(), "mixerContent": [camera(0, 0, 64, 64)]});
        assert_eq!(cmd(&s, "CreateLocMixer", c).await["Response"]["errCode"], 0);
    }
    let fifth = json!({"mixerID": "e", "mixerCfg": cfg(), "mixerContent": [camera(0, 0, 64, 64)]});
    assert_eq!(cmd(&s, "CreateLocMixer", fifth).await["Response"]["errCode"], 904);
    let st = cmd(&s, "GetState", json!({})).await;
    assert_eq!(st["Response"]["Mixers"].as_array().unwrap().len(), 4, "{st}");
    tokio::time::sleep(std::time::Duration::from_secs(2)).await;
    assert_eq!(cmd(&s, "Exit", json!({})).await, json!({"Response": {}}));
    let st = tokio::time::timeout(std::time::Duration::from_secs(60), s.child.wait()).await;
    assert!(st.expect("the recorder exits").unwrap().success());
    for p in [&a, &b] {
        assert!(media::format_duration(p) > 1.5, "{}", p.display());
        assert_eq!(media::decode_errors(p), "");
    }

    let s = serve(
        "http://127.0.0.1:9",
        &dir.path().join("rec2"),
        &["--dst-dir", dir.path().to_str().unwrap()],
    )
    .await;
    let c = mixer_with_output(&s, dir.path(), "t").await;
    tokio::time::sleep(std::time::Duration::from_secs(2)).await;
    let pid = s.child.id().unwrap().to_string();
    assert!(Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
    let mut child = s.child;
    let st = tokio::time::timeout(std::time::Duration::from_secs(60), child.wait()).await;
    assert!(st.expect("the recorder exits on SIGTERM").unwrap().success());
    assert!(media::format_duration(&c) > 1.5);
    assert_eq!(media::decode_errors(&c), "");
}
