//! A mixer output uploaded to our own server (`serverPathFileName: "localrecord:CLASSID"`): the
//! mixed FLV is cut into slices that take StartRecord's road (a task with the last Init's
//! credentials, the task book, the journaled tus queue, the stop with the slice count), so the
//! server splices them into the class's MP4 like any recording; a recorder killed in the middle
//! loses nothing once it is started again.

use crate::helpers::*;
use crate::media;
use crate::recorder_mixer_support::*;
use crate::recorder_support::*;
use serde_json::{json, Value};
use std::path::Path;
use std::time::Duration;

const CLASS: i64 = 4242;

fn upload_output(file: &str, target: &str) -> Value {
    json!({"type": 0, "filename": file, "isUploadOnRecording": 1, "serverPathFileName": target})
}

fn add(id: &str, out: Value) -> Value {
    json!({"mixerID": id, "mixerOutput": [out]})
}

/// The TaskId GetState lists for the class's upload.
async fn listed_task(s: &Served) -> String {
    let st = cmd(s, "GetState", json!({})).await;
    let prefix = format!("{SDKAPPID}-{CLASS}-");
    st["Response"]["Upload"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|u| u["Id"].as_str())
        .find(|id| id.starts_with(&prefix))
        .unwrap_or_else(|| panic!("no upload of class {CLASS}: {st}"))
        .to_owned()
}

async fn stored_slices(app: &TestApp, task: &str) -> usize {
    let mut n = 0;
    while app.stored_slice(task, n as i32).await.is_some() {
        n += 1;
    }
    n
}

async fn init(s: &Served, app: &TestApp) {
    let init = json!({"SdkAppId": SDKAPPID, "UserId": "alice", "UserSig": app.usersig("alice")});
    assert_eq!(cmd(s, "Init", init).await, json!({"Response": {}}));
}

fn create(id: &str) -> Value {
    json!({"mixerID": id, "mixerCfg": cfg(), "mixerContent": [camera(0, 0, 640, 360)]})
}

#[tokio::test]
async fn a_localrecord_output_is_spliced_by_our_server_as_a_class() {
    let app = spawn_app().await;
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_str().unwrap();
    let args = ["--dst-dir", d, "--mixer-slice-secs", "2"];
    let s = serve(&app.base, &dir.path().join("rec"), &args).await;
    let mut events = Events::open(&s).await;
    assert_eq!(err_code(&cmd(&s, "CreateLocMixer", create("up")).await), 0);
    let flv = dir.path().join("class.flv");
    let flvs = flv.to_str().unwrap();
    let target = format!("localrecord:{CLASS}");

    // Before Init there are no credentials: NOT_LOGIN, and no file is left behind.
    let r = cmd(&s, "AddLocMixerOutput", add("up", upload_output(flvs, &target))).await;
    assert_eq!(err_code(&r), 12, "{r}");
    assert!(!flv.exists());
    init(&s, &app).await;
    // The server splices FLV slices; a ClassId is a positive number.
    let mp4 = dir.path().join("class.mp4");
    for (file, t) in [
        (mp4.to_str().unwrap(), target.as_str()),
        (flvs, "localrecord:abc"),
        (flvs, "localrecord:0"),
    ] {
        let r = cmd(&s, "AddLocMixerOutput", add("up", upload_output(file, t))).await;
        assert_eq!(err_code(&r), 5, "{file} to {t}: {r}");
    }
    assert!(!mp4.exists() && !flv.exists());

    assert_eq!(
        err_code(&cmd(&s, "AddLocMixerOutput", add("up", upload_output(flvs, &target))).await),
        0
    );
    let task = listed_task(&s).await;
    let mut seen = events.until(flvs, 1).await;
    while seen.last().unwrap()["outputInfo"]["duration"].as_i64().unwrap() < 7000 {
        seen.extend(events.until(flvs, 1).await);
    }
    assert_eq!(err_code(&cmd(&s, "DestroyLocMixer", json!({"mixerID": "up"})).await), 0);
    seen.extend(events.until(flvs, 2).await);

    let done = wait_done(&app, &task).await;
    let out = download_mp4(&app, &done, dir.path()).await;
    let (local, spliced) = (media::format_duration(&flv), media::format_duration(&out));
    assert!(local > 7.0, "{local} s recorded");
    assert!((spliced - local).abs() < 0.5, "local {local} s, spliced {spliced} s");
    assert_eq!(media::stream_count(&out), 2);
    assert_eq!(media::decode_errors(&out), "");
    let slices = stored_slices(&app, &task).await;
    assert!(slices >= 3, "2 s slices of {local} s: {slices}");
    // The task's slices left the recorder once the server had them all.
    let task_dir = dir.path().join("rec/tasks").join(&task);
    for _ in 0..100 {
        if !task_dir.exists() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(!task_dir.exists(), "{} is still there", task_dir.display());
}

/// Waits until `task` has `n` slices on the server.
async fn wait_slices(app: &TestApp, task: &str, n: usize) {
    for _ in 0..300 {
        if stored_slices(app, task).await >= n {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{task} never had {n} slices");
}

#[tokio::test]
async fn a_recorder_killed_mid_output_finishes_the_class_when_started_again() {
    let app = spawn_app().await;
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_str().unwrap();
    let data = dir.path().join("rec");
    let args = ["--dst-dir", d, "--mixer-slice-secs", "2"];
    let s = serve(&app.base, &data, &args).await;
    init(&s, &app).await;
    assert_eq!(err_code(&cmd(&s, "CreateLocMixer", create("k")).await), 0);
    let flv = dir.path().join("killed.flv");
    let out = upload_output(flv.to_str().unwrap(), &format!("localrecord:{CLASS}"));
    assert_eq!(err_code(&cmd(&s, "AddLocMixerOutput", add("k", out)).await), 0);
    let task = listed_task(&s).await;
    wait_slices(&app, &task, 2).await;
    tokio::time::sleep(Duration::from_millis(1500)).await; // into the next slice
    let mut child = s.child;
    child.kill().await.unwrap();
    child.wait().await.unwrap();
    let recorded = media::format_duration(&flv);

    // Started again: the slice being written is recovered, the rest uploaded, the task stopped.
    let s = serve(&app.base, &data, &args).await;
    init(&s, &app).await;
    let done = wait_done(&app, &task).await;
    let mp4 = download_mp4(&app, &done, dir.path()).await;
    let spliced = media::format_duration(&mp4);
    assert!(recorded > 4.0, "{recorded} s");
    assert!(
        (spliced - recorded).abs() < 1.0,
        "what was recorded up to the kill is in the MP4: {spliced} s of {recorded} s"
    );
    assert_eq!(media::decode_errors(&mp4), "");
    drop(s);
}

#[tokio::test]
async fn an_encrypted_localrecord_output_splices_into_an_encrypted_class() {
    use std::io::Read;
    let app = spawn_app().await;
    let dir = tempfile::tempdir().unwrap();
    let (key, kf) = crate::encrypted_splice::app_key(&app, dir.path());
    let d = dir.path().to_str().unwrap();
    let args = [
        "--dst-dir",
        d,
        "--mixer-slice-secs",
        "2",
        "--key-file",
        kf.to_str().unwrap(),
    ];
    let s = serve(&app.base, &dir.path().join("rec"), &args).await;
    let mut events = Events::open(&s).await;
    init(&s, &app).await;
    assert_eq!(err_code(&cmd(&s, "CreateLocMixer", create("e")).await), 0);
    let flv = dir.path().join("sealed.flv");
    let flvs = flv.to_str().unwrap();
    let mut out = upload_output(flvs, &format!("localrecord:{CLASS}"));
    out["encryptType"] = json!(1);
    assert_eq!(err_code(&cmd(&s, "AddLocMixerOutput", add("e", out)).await), 0);
    let task = listed_task(&s).await;
    let mut seen = events.until(flvs, 1).await;
    while seen.last().unwrap()["outputInfo"]["duration"].as_i64().unwrap() < 5000 {
        seen.extend(events.until(flvs, 1).await);
    }
    assert_eq!(err_code(&cmd(&s, "DestroyLocMixer", json!({"mixerID": "e"})).await), 0);
    events.until(flvs, 2).await;

    let done = wait_done(&app, &task).await;
    assert_eq!(done["Encrypted"], true, "{done}");
    assert_eq!(done["KeyId"], key.id().to_string());
    let mut plain = Vec::new();
    let sealed = std::fs::read(&flv).unwrap();
    localrecord_crypt::DecryptReader::new(&sealed[..], &key)
        .unwrap()
        .read_to_end(&mut plain)
        .unwrap();
    let local = dir.path().join("local.flv");
    std::fs::write(&local, plain).unwrap();
    let admin = app.auth("administrator");
    let r = crate::encrypted_splice::admin_get(&app, &task, &admin, None).await;
    assert_eq!(r.status(), 200);
    let mp4 = dir.path().join("admin.mp4");
    std::fs::write(&mp4, r.bytes().await.unwrap()).unwrap();
    let (local, spliced) = (media::format_duration(&local), media::format_duration(&mp4));
    assert!(local >= 4.5, "{local} s");
    assert!((spliced - local).abs() < 0.5, "local {local} s, spliced {spliced} s");
    assert_eq!(media::decode_errors(&mp4), "");
}

/// `record --layout` with the layout's own `mixerOutput` naming our server.
async fn record_cli(app: &TestApp, dir: &Path, layout: &Value, creds: bool) -> std::process::Output {
    let lpath = dir.join("layout.json");
    std::fs::write(&lpath, layout.to_string()).unwrap();
    let mut c = tokio::process::Command::new(recorder_bin());
    c.args(["--server", &app.base, "--audio", "tone", "--mixer-slice-secs", "2"])
        .arg("--data-dir")
        .arg(dir.join("rec"))
        .arg("record")
        .arg("--layout")
        .arg(&lpath)
        .args(["--duration", "5", "--wait-secs", "120"])
        .env_remove("LOCALRECORD_USERSIG");
    if creds {
        c.args(["--sdkappid", &SDKAPPID.to_string(), "--user-id", "alice"])
            .env("LOCALRECORD_USERSIG", app.usersig("alice"));
    }
    // tokio's Command: the server answers on this test's runtime meanwhile.
    c.output().await.unwrap()
}

#[tokio::test]
async fn record_with_a_layout_uploads_its_localrecord_output_as_a_class() {
    let app = spawn_app().await;
    let dir = tempfile::tempdir().unwrap();
    let flv = dir.path().join("cli.flv");
    let out = upload_output(flv.to_str().unwrap(), &format!("localrecord:{CLASS}"));
    let layout = json!({"mixerCfg": cfg(), "mixerContent": [camera(0, 0, 640, 360)], "mixerOutput": [out]});

    let o = record_cli(&app, dir.path(), &layout, false).await;
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success() && stderr.contains("--sdkappid"), "{stderr}");
    assert!(!flv.exists(), "nothing recorded without credentials");

    let o = record_cli(&app, dir.path(), &layout, true).await;
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{stderr}");
    let lines: Vec<Value> = String::from_utf8_lossy(&o.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2, "the output's info, then the task's summary: {lines:?}");
    assert_eq!((&lines[0]["nameOrUrl"], &lines[0]["state"]), (&json!(flv), &json!(2)));
    let task = lines[1]["TaskId"].as_str().unwrap().to_owned();
    assert_eq!(lines[1]["Upload"], "uploaded", "{}", lines[1]);
    assert_eq!(lines[1]["Server"]["State"], "done", "{}", lines[1]);
    let done = wait_done(&app, &task).await;
    assert_eq!(done["ClassId"], CLASS);
    let mp4 = download_mp4(&app, &done, dir.path()).await;
    let (local, spliced) = (media::format_duration(&flv), media::format_duration(&mp4));
    assert!(local >= 4.5, "{local} s");
    assert!((spliced - local).abs() < 0.5, "local {local} s, spliced {spliced} s");
    assert_eq!(media::decode_errors(&mp4), "");
}
