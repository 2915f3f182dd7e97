//! Encrypted recordings (issue 14) through the real `localrecord-recorder` binary and real FFmpeg:
//! ffprobe cannot read an encrypted file; `decrypt` gives back byte for byte what was encrypted,
//! and it plays; a changed byte, a cut and swapped chunks each fail loudly without output; a
//! recorder killed mid-slice leaves a file whose whole chunks decrypt and that says it is
//! truncated, which the next start makes complete; the key shows nowhere in the output.

use crate::helpers::*;
use crate::media::*;
use crate::recorder_support::*;
use localrecord_crypt::{EncryptWriter, Key, HEADER_LEN};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const CHUNK: usize = 16 * 1024 + 16;

fn key_file(dir: &Path) -> (Key, PathBuf) {
    let key = Key::generate();
    let path = dir.join("app.key");
    key.write_file(&path, "test").unwrap();
    (key, path)
}

fn decrypt(key: &Path, input: &Path, output: &Path, extra: &[&str]) -> Output {
    Command::new(recorder_bin())
        .arg("--key-file")
        .arg(key)
        .arg("decrypt")
        .args([input, output])
        .args(extra)
        .env("RUST_LOG", "trace")
        .output()
        .unwrap()
}

fn probes(path: &Path) -> bool {
    Command::new("ffprobe")
        .args(["-v", "error"])
        .arg(path)
        .output()
        .unwrap()
        .status
        .success()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// An FFmpeg-made FLV, encrypted: ffprobe fails on it, `decrypt` restores it byte for byte.
#[test]
fn an_encrypted_file_is_unreadable_and_decrypts_byte_identical() {
    let dir = tempfile::tempdir().unwrap();
    let (key, kf) = key_file(dir.path());
    let plain = make_slice_with(dir.path(), "plain.flv", &SliceSpec::default(), Encoder::Recorder);
    let enc = dir.path().join("enc.flv");
    let mut w = EncryptWriter::new(std::fs::File::create(&enc).unwrap(), &key, 16 * 1024).unwrap();
    w.write_all(&std::fs::read(&plain).unwrap()).unwrap();
    w.finish().unwrap();
    assert!(
        probes(&plain) && !crate::media::reveals_media(&enc),
        "ffprobe reads the encrypted file"
    );

    let out = dir.path().join("out.flv");
    let o = decrypt(&kf, &enc, &out, &[]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(std::fs::read(&out).unwrap(), std::fs::read(&plain).unwrap());
    assert_eq!(decode_errors(&out), "");
    let summary: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(summary["Complete"], true);
    assert_eq!(summary["KeyId"], key.id().to_string());
    let hex = secrecy::ExposeSecret::expose_secret(&key.to_hex()).to_owned();
    assert!(!format!("{}{}", String::from_utf8_lossy(&o.stdout), stderr(&o)).contains(&hex));

    let wrong = dir.path().join("wrong.key");
    Key::generate().write_file(&wrong, "another").unwrap();
    let o = decrypt(&wrong, &enc, &dir.path().join("w.flv"), &[]);
    assert!(
        !o.status.success() && stderr(&o).contains("was encrypted with key"),
        "{}",
        stderr(&o)
    );
}

/// Records `secs` of the test pattern with sound, encrypted, slices of `slice` s, no upload.
fn record(app: &TestApp, dir: &Path, kf: &Path, secs: u32, slice: u32) -> tokio::process::Command {
    let mut c = tokio::process::Command::new(recorder_bin());
    c.args(["--source", "test", "--audio", "tone", "--server", &app.base])
        .arg("--data-dir")
        .arg(dir.join("rec"))
        .arg("--key-file")
        .arg(kf)
        .args(["record", "--sdkappid", &SDKAPPID.to_string(), "--user-id", "alice"])
        .args(["--class-id", "3101", "--no-upload"])
        .args(["--duration", &format!("{secs}s"), "--slice-time", &slice.to_string()])
        .env("LOCALRECORD_USERSIG", app.usersig("alice"))
        .env("RUST_LOG", "debug")
        .kill_on_drop(true);
    c
}

fn slices(dir: &Path) -> Vec<PathBuf> {
    let tasks = dir.join("rec").join("tasks");
    let task = std::fs::read_dir(&tasks).unwrap().next().unwrap().unwrap().path();
    let mut v: Vec<PathBuf> = std::fs::read_dir(task)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "flv"))
        .collect();
    v.sort();
    v
}

#[tokio::test]
async fn the_recorder_writes_encrypted_slices_that_decrypt_play_and_refuse_tampering() {
    let app = spawn_app().await;
    let dir = tempfile::tempdir().unwrap();
    let (key, kf) = key_file(dir.path());
    let whole = dir.path().join("whole.flv");
    let o = record(&app, dir.path(), &kf, 5, 2)
        .arg("--dst-path")
        .arg(&whole)
        .output()
        .await
        .unwrap();
    let text = format!("{}{}", String::from_utf8_lossy(&o.stdout), stderr(&o));
    assert!(o.status.success(), "{text}");
    let hex = secrecy::ExposeSecret::expose_secret(&key.to_hex()).to_owned();
    assert!(!text.contains(&hex) && text.contains(&key.id().to_string()), "{text}");

    let files = slices(dir.path());
    assert!(files.len() >= 3, "{files:?}");
    let mut secs = 0.0;
    for (i, f) in files.iter().chain([&whole]).enumerate() {
        assert!(!crate::media::reveals_media(f), "ffprobe reads {}", f.display());
        let out = dir.path().join(format!("plain-{i}.flv"));
        let o = decrypt(&kf, f, &out, &[]);
        assert!(o.status.success(), "{}", stderr(&o));
        assert_eq!(decode_errors(&out), "", "{}", f.display());
        assert_eq!(stream_count(&out), 2);
        if f != &whole {
            secs += video_secs(&out);
        }
    }
    assert!((4.0..=6.0).contains(&secs), "slices hold {secs} s");
    assert!((4.0..=6.0).contains(&video_secs(&dir.path().join(format!("plain-{}.flv", files.len())))));

    let slice = std::fs::read(&files[0]).unwrap();
    assert!(slice.len() > HEADER_LEN + 3 * CHUNK, "a slice of {} bytes", slice.len());
    let refused = |name: &str, bytes: Vec<u8>, says: &str| {
        let bad = dir.path().join(format!("{name}.flv"));
        std::fs::write(&bad, bytes).unwrap();
        let out = dir.path().join(format!("{name}-out.flv"));
        let o = decrypt(&kf, &bad, &out, &[]);
        assert!(
            !o.status.success() && stderr(&o).contains(says),
            "{name}: {}",
            stderr(&o)
        );
        assert!(!out.exists(), "{name}: output left behind");
        stderr(&o)
    };
    let mut changed = slice.clone();
    changed[HEADER_LEN + CHUNK + 100] ^= 0x01;
    refused("changed", changed, "chunk 1 (at byte 16443) failed authentication");
    let mut swapped = slice.clone();
    let (a, b) = (HEADER_LEN + CHUNK, HEADER_LEN + 2 * CHUNK);
    swapped[a..b + CHUNK].copy_from_slice(&[&slice[b..b + CHUNK], &slice[a..b]].concat());
    refused("swapped", swapped, "reordered");
    let cut = slice[..HEADER_LEN + 2 * CHUNK + 500].to_vec();
    let said = refused("cut", cut.clone(), "truncated");
    assert!(said.contains("--allow-truncated"), "{said}");
}

#[tokio::test]
async fn a_killed_recorder_leaves_a_truncated_slice_whose_whole_chunks_decrypt() {
    let app = spawn_app().await;
    let dir = tempfile::tempdir().unwrap();
    let (_key, kf) = key_file(dir.path());
    let mut child = record(&app, dir.path(), &kf, 60, 30).spawn().unwrap();
    tokio::time::sleep(std::time::Duration::from_secs(6)).await;
    child.start_kill().unwrap();
    child.wait().await.unwrap();
    let files = slices(dir.path());
    assert_eq!(files.len(), 1, "{files:?}");
    let cut = &files[0];
    let len = std::fs::metadata(cut).unwrap().len() as usize;
    assert_eq!((len - HEADER_LEN) % CHUNK, 0, "whole chunks only: {len}");

    let o = decrypt(&kf, cut, &dir.path().join("strict.flv"), &[]);
    assert!(
        !o.status.success() && stderr(&o).contains("truncated"),
        "{}",
        stderr(&o)
    );
    let prefix = dir.path().join("prefix.flv");
    let o = decrypt(&kf, cut, &prefix, &["--allow-truncated"]);
    assert!(o.status.success() && stderr(&o).contains("warning") && stderr(&o).contains("truncated"));
    let summary: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(summary["Complete"], false);
    let plain = std::fs::read(&prefix).unwrap();
    assert_eq!(plain.len(), (len - HEADER_LEN) / CHUNK * 16 * 1024);
    assert!(video_secs(&prefix) > 2.0, "{} s readable", video_secs(&prefix));

    // The next start (here `recover`) makes the slice complete: its whole chunks, resealed.
    let o = Command::new(recorder_bin())
        .arg("--data-dir")
        .arg(dir.path().join("rec"))
        .arg("--key-file")
        .arg(&kf)
        .args(["--server", &app.base, "recover", "--wait-secs", "5"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let again = dir.path().join("again.flv");
    let o = decrypt(&kf, cut, &again, &[]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(std::fs::read(&again).unwrap(), plain);
}

#[test]
fn play_says_so_without_ffplay_and_plays_with_it() {
    let dir = tempfile::tempdir().unwrap();
    let (key, kf) = key_file(dir.path());
    let plain = make_slice(
        dir.path(),
        "p.flv",
        &SliceSpec {
            secs: 1.0,
            ..Default::default()
        },
    );
    let enc = dir.path().join("e.flv");
    let mut w = EncryptWriter::new(std::fs::File::create(&enc).unwrap(), &key, 16 * 1024).unwrap();
    w.write_all(&std::fs::read(&plain).unwrap()).unwrap();
    w.finish().unwrap();
    let play = |path: &str| {
        Command::new(recorder_bin())
            .arg("--key-file")
            .arg(&kf)
            .arg("play")
            .arg(&enc)
            .args(["--", "-nodisp"])
            .env("PATH", path)
            .env("SDL_AUDIODRIVER", "dummy")
            .output()
            .unwrap()
    };
    let o = play(dir.path().to_str().unwrap());
    assert!(
        !o.status.success() && stderr(&o).contains("ffplay not found on PATH"),
        "{}",
        stderr(&o)
    );
    if Path::new("/usr/bin/ffplay").exists() {
        let o = play("/usr/bin:/bin");
        assert!(o.status.success(), "{}", stderr(&o));
    }
}
