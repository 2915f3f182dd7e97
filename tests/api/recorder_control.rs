//! The seed's local control API of `localrecord-recorder serve`, driven over HTTP the way the
//! seed's JavaScript sample does it: POST, `Content-type: application/json`, a JSON body, and the
//! answer read from a 200 response.

use crate::helpers::*;
use crate::recorder_support::*;
use serde_json::{json, Value};
use std::time::Duration;

fn code(v: &Value) -> i64 {
    v["Response"]["Error"]["Code"].as_i64().unwrap_or(0)
}

#[tokio::test]
async fn every_command_and_error_code_over_http() {
    let app = spawn_app().await;
    let dir = tempfile::tempdir().unwrap();
    let web = "https://class.example.com";
    let dst_dir = dir.path().to_str().unwrap();
    let s = serve(
        &app.base,
        &dir.path().join("rec"),
        &["--allow-origin", web, "--dst-dir", dst_dir],
    )
    .await;
    let sig = app.usersig("alice");

    let st = cmd(&s, "GetState", json!({})).await;
    assert_eq!(st["Response"]["Auth"]["State"], "Not Authentication", "{st}");
    assert_eq!(st["Response"]["Record"], json!({"State": "Idle", "Duration": 0}));
    assert_eq!(st["Response"]["Upload"], json!([]));

    // -10001: StartRecord before Init; Init with a bad UserSig.
    assert_eq!(code(&cmd(&s, "StartRecord", json!({"ClassId": 1})).await), -10001);
    let bad = cmd(
        &s,
        "Init",
        json!({"SdkAppId": SDKAPPID, "UserId": "alice", "UserSig": "forged"}),
    )
    .await;
    assert_eq!(code(&bad), -10001, "{bad}");
    assert_eq!(
        cmd(&s, "GetState", json!({})).await["Response"]["Auth"]["State"],
        "Auth Failed"
    );
    // -10000: missing or malformed parameters.
    assert_eq!(
        code(&cmd(&s, "Init", json!({"UserId": "alice", "UserSig": sig})).await),
        -10000
    );
    let init = cmd(
        &s,
        "Init",
        json!({"SdkAppId": SDKAPPID, "UserId": "alice", "UserSig": sig}),
    )
    .await;
    assert_eq!(init, json!({"Response": {}}));
    let st = cmd(&s, "GetState", json!({})).await;
    assert_eq!(
        st["Response"]["Auth"],
        json!({"UserId": "alice", "State": "Auth Success"})
    );
    assert_eq!(
        code(&cmd(&s, "StartRecord", json!({"AppProc": "chrome.exe"})).await),
        -10000,
        "ClassId"
    );
    assert_eq!(
        code(&cmd(&s, "StartRecord", json!({"ClassId": 1, "VideoFps": "fast"})).await),
        -10000
    );
    assert_eq!(
        code(&cmd(&s, "StartRecord", json!({"ClassId": 1, "SliceTime": 0})).await),
        -10000
    );
    assert_eq!(
        code(&cmd(&s, "PauseRecord", json!({})).await),
        -10000,
        "nothing to pause"
    );
    assert_eq!(code(&cmd(&s, "StopRecord", json!({})).await), -10000, "nothing to stop");
    // -10002: DstPath in a directory that does not exist, or not an .flv.
    let nowhere = dir.path().join("no/such/dir/x.flv");
    assert_eq!(
        code(&cmd(&s, "StartRecord", json!({"ClassId": 1, "DstPath": nowhere})).await),
        -10002
    );
    let mp4 = dir.path().join("x.mp4");
    assert_eq!(
        code(&cmd(&s, "StartRecord", json!({"ClassId": 1, "DstPath": mp4})).await),
        -10002
    );

    // A recording with every parameter, a local copy, pause and resume.
    let dst = dir.path().join("lesson.flv");
    let start = json!({"AppProc": "chrome.exe", "Wnd": 0, "DstPath": dst, "x": 0, "y": 0, "Width": 320,
        "Height": 240, "VideoFps": 10, "EnableAudio": true, "EnableUpload": true, "SliceTime": 2, "ClassId": 3005});
    let started = cmd(&s, "StartRecord", start.clone()).await;
    let task = started["Response"]["TaskId"]
        .as_str()
        .expect("StartRecord answers the TaskId")
        .to_owned();
    assert_eq!(
        code(&cmd(&s, "StartRecord", start).await),
        -10000,
        "one recording at a time"
    );
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let st = cmd(&s, "GetState", json!({})).await["Response"].clone();
    assert_eq!(st["Record"]["State"], "Recording");
    assert!(st["Record"]["Duration"].as_i64().unwrap() >= 2, "{st}");
    let up = &st["Upload"][0];
    assert_eq!(up["Id"], task.as_str());
    assert_eq!(up["IsCurrentRecoding"], true);
    assert!(
        ["wait", "uploading", "uploaded"].contains(&up["State"].as_str().unwrap()),
        "{st}"
    );
    assert_eq!(cmd(&s, "PauseRecord", json!({})).await, json!({"Response": {}}));
    assert_eq!(
        cmd(&s, "GetState", json!({})).await["Response"]["Record"]["State"],
        "Paused"
    );
    assert_eq!(code(&cmd(&s, "PauseRecord", json!({})).await), -10000);
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(cmd(&s, "ResumeRecord", json!({})).await, json!({"Response": {}}));
    assert_eq!(code(&cmd(&s, "ResumeRecord", json!({})).await), -10000);
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let stopped = cmd(&s, "StopRecord", json!({})).await;
    assert_eq!(stopped["Response"]["TaskId"], task.as_str());
    let mut up = Value::Null;
    for _ in 0..300 {
        up = cmd(&s, "GetState", json!({})).await["Response"]["Upload"][0].clone();
        if up["State"] == "uploaded" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(up["State"], "uploaded", "{up}");
    assert_eq!(up["IsCurrentRecoding"], false);
    assert!((4..=6).contains(&up["Total"].as_i64().unwrap()), "{up}");
    assert_eq!(up["Duration"], up["Total"], "all of it uploaded");
    let local = crate::media::format_duration(&dst);
    assert!(
        (4.0..=6.0).contains(&local),
        "DstPath holds the whole recording, without the pause: {local} s"
    );
    let done = wait_done(&app, &task).await;
    assert!(done["SliceCount"].as_i64().unwrap() >= 2, "{done}");

    // Unknown commands; an allowed web page's CORS preflight (with Private Network Access).
    let r = reqwest::Client::new()
        .post(format!("{}Nope", s.base))
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    let r = reqwest::Client::new()
        .request(reqwest::Method::OPTIONS, format!("{}StartRecord", s.base))
        .header("Origin", web)
        .header("Access-Control-Request-Method", "POST")
        .header("Access-Control-Request-Headers", "content-type")
        .header("Access-Control-Request-Private-Network", "true")
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success());
    assert_eq!(r.headers()["access-control-allow-origin"], web);
    assert_eq!(r.headers()["access-control-allow-private-network"], "true");

    // Exit: answered, then the service ends.
    assert_eq!(cmd(&s, "Exit", json!({})).await, json!({"Response": {}}));
    let mut child = s.child;
    let st = tokio::time::timeout(Duration::from_secs(10), child.wait())
        .await
        .expect("exits")
        .unwrap();
    assert!(st.success());
}

#[tokio::test]
async fn unreachable_server_and_full_disk_have_their_codes() {
    let app = spawn_app().await;
    let dir = tempfile::tempdir().unwrap();
    let sig = app.usersig("alice");
    let init = json!({"SdkAppId": SDKAPPID, "UserId": "alice", "UserSig": sig});
    // -10003: the server the recorder pushes to does not answer.
    let dead = format!("http://127.0.0.1:{}", free_port());
    let s = serve(&dead, &dir.path().join("a"), &[]).await;
    assert_eq!(code(&cmd(&s, "Init", init.clone()).await), -10003);
    // -10005: less free space than the recorder needs.
    let s = serve(&app.base, &dir.path().join("b"), &["--min-free-mb", "1000000000"]).await;
    assert_eq!(cmd(&s, "Init", init).await, json!({"Response": {}}));
    let full = cmd(&s, "StartRecord", json!({"ClassId": 7})).await;
    assert_eq!(code(&full), -10005, "{full}");
    assert_eq!(
        cmd(&s, "GetState", json!({})).await["Response"]["Record"]["State"],
        "Idle"
    );
}

#[tokio::test]
async fn record_from_the_command_line_shows_progress_and_ends_with_the_servers_result() {
    let app = spawn_app().await;
    let dir = tempfile::tempdir().unwrap();
    let sig = app.usersig("alice");
    let out = tokio::process::Command::new(recorder_bin())
        .args(["--source", "test", "--audio", "tone", "--server", &app.base])
        .arg("--data-dir")
        .arg(dir.path())
        .args(["record", "--sdkappid", &SDKAPPID.to_string(), "--user-id", "alice"])
        .args(["--class-id", "3009", "--duration", "4s", "--slice-time", "2"])
        .env("LOCALRECORD_USERSIG", &sig)
        .output()
        .await
        .unwrap();
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert!(out.status.success(), "{stderr}");
    let lines: Vec<Value> = stdout.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let task = lines[0]["TaskId"].as_str().expect("the TaskId comes first");
    let summary = &lines[1];
    assert_eq!(summary["TaskId"], task);
    assert_eq!(summary["Upload"], "uploaded");
    assert_eq!(summary["Server"]["State"], "done", "{summary}");
    assert!(summary["Server"]["VideoOutputUrl"].is_string());
    let ms = summary["Server"]["VideoOutputDuration"].as_i64().unwrap();
    assert!((3500..=4600).contains(&ms), "{ms} ms");
    assert!(stderr.contains("REC 00:0"), "a progress line while recording: {stderr}");
    assert!(
        !stderr.contains(&sig) && !stdout.contains(&sig),
        "the UserSig is never printed"
    );
}

/// With no sound device (here: PulseAudio pointed at nothing; this machine has no sound card),
/// `record` says so once in plain words instead of printing the audio libraries' raw errors.
#[tokio::test]
async fn record_without_a_sound_device_says_so_once_in_plain_words() {
    let app = spawn_app().await;
    let dir = tempfile::tempdir().unwrap();
    let out = tokio::process::Command::new(recorder_bin())
        .args(["--source", "test", "--audio", "auto", "--server", &app.base])
        .arg("--data-dir")
        .arg(dir.path())
        .args(["record", "--sdkappid", &SDKAPPID.to_string(), "--user-id", "alice"])
        .args(["--class-id", "3010", "--duration", "2s", "--slice-time", "2"])
        .env("LOCALRECORD_USERSIG", app.usersig("alice"))
        .env("PULSE_SERVER", "unix:/nonexistent/localrecord-test-pulse")
        .env("ALSA_CONFIG_PATH", dir.path().join("no-alsa.conf"))
        .output()
        .await
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    for raw in [
        "ALSA lib",
        "[alsa @",
        "[pulse @",
        "Cannot open",
        "cannot open audio device",
    ] {
        assert!(
            !stderr.contains(raw),
            "a raw library error ({raw}) reached the terminal: {stderr}"
        );
    }
    let said = stderr
        .matches("no sound device found (tried PulseAudio and ALSA): recording a silent audio track")
        .count();
    assert_eq!(said, 1, "{stderr}");
}
