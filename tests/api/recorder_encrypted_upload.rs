//! An encrypted recording uploaded by the real recorder: the server takes each slice (its tus
//! metadata names the app's key) and stores it exactly as the recorder wrote it, still encrypted,
//! decryptable with the app's key into a playable FLV.

use crate::helpers::*;
use crate::media::*;
use crate::recorder_support::*;
use std::process::Command;

#[tokio::test]
async fn the_server_stores_the_recorders_encrypted_slices_as_they_are() {
    let app = spawn_app().await;
    let dir = tempfile::tempdir().unwrap();
    let (key, kf) = crate::encrypted_splice::app_key(&app, dir.path());
    // tokio's Command: the server answers on this test's runtime meanwhile.
    let o = tokio::process::Command::new(recorder_bin())
        .args(["--source", "test", "--audio", "tone", "--server", &app.base])
        .arg("--data-dir")
        .arg(dir.path().join("rec"))
        .arg("--key-file")
        .arg(&kf)
        .args(["record", "--sdkappid", &SDKAPPID.to_string(), "--user-id", "alice"])
        .args([
            "--class-id",
            "3102",
            "--duration",
            "4s",
            "--slice-time",
            "2",
            "--no-wait",
        ])
        .env("LOCALRECORD_USERSIG", app.usersig("alice"))
        .output()
        .await
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let first = String::from_utf8_lossy(&o.stdout).lines().next().unwrap().to_owned();
    let task = serde_json::from_str::<serde_json::Value>(&first).unwrap()["TaskId"]
        .as_str()
        .unwrap()
        .to_owned();
    let o = tokio::process::Command::new(recorder_bin())
        .args(["--server", &app.base])
        .arg("--data-dir")
        .arg(dir.path().join("rec"))
        .args(["recover", "--wait-secs", "60"])
        .env("LOCALRECORD_USERSIG", app.usersig("alice"))
        .output()
        .await
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));

    let stored = app.stored_slice(&task, 0).await.expect("slice 0 stored");
    let header = localrecord_crypt::Header::read_from(&mut &stored[..], None).unwrap();
    assert_eq!(header.key_id, key.id());
    let enc = dir.path().join("stored.flv");
    std::fs::write(&enc, &stored).unwrap();
    let plain = dir.path().join("plain.flv");
    let o = Command::new(recorder_bin())
        .arg("--key-file")
        .arg(&kf)
        .arg("decrypt")
        .args([&enc, &plain])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(decode_errors(&plain), "");
    assert!(video_secs(&plain) > 1.0, "{} s", video_secs(&plain));
}
