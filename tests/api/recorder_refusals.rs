//! The server's "already done / not possible" answers end the recorder's retries with a reason
//! the user sees, and keepalives keep a long-paused task from being spliced as abandoned.

use crate::helpers::*;
use crate::media::*;
use crate::recorder_support::*;
use localrecord_client::recorder::Recorder;
use serde_json::Value;
use std::process::Stdio;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, BufReader};

/// Waits (by content, up to `secs`) until the task's upload state is `state`; returns its view.
async fn wait_state(
    rec: &Recorder,
    task: &str,
    state: &str,
    secs: u64,
) -> localrecord_client::recorder::queue::UploadView {
    for _ in 0..secs * 10 {
        let v = rec.uploader().views(None);
        if let Some(v) = v.iter().find(|v| v.task_id == task && v.state == state) {
            return v.clone();
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{task} never {state}: {:?}", rec.uploader().views(None));
}

#[tokio::test]
async fn a_stop_refused_for_another_slice_count_is_not_retried_and_says_why() {
    let app = spawn_app().await;
    let dir = tempfile::tempdir().unwrap();
    let rec = recorder(&app, &app.base, &dir.path().join("rec")).await;
    let task = rec.start(params(4201, 1)).await.unwrap();
    // Someone else (an admin, another recorder) already stopped the task with 99 slices.
    assert_eq!(app.stop_task("alice", &task, 99).await.status(), 200);
    tokio::time::sleep(Duration::from_millis(2500)).await;
    rec.stop().await.unwrap();
    let v = wait_state(&rec, &task, "upload failed", 60).await;
    let why = v.reason.unwrap();
    assert!(
        why.contains("stop") && why.contains("409") && why.contains("-10008"),
        "{why}"
    );
    assert!(why.contains("SliceCount"), "the server's own words: {why}");
    assert_eq!(rec.uploader().abandoned(&task).as_deref(), Some(why.as_str()));
    // Written down: a restarted recorder does not try again either.
    assert!(rec.book().get(&task).unwrap().abandoned);
    assert_eq!(app.task_status("alice", &task).await["SliceCount"], 99);
}

#[tokio::test]
async fn record_ends_with_a_clear_message_when_the_server_refuses_its_stop() {
    let app = spawn_app().await;
    let dir = tempfile::tempdir().unwrap();
    let mut child = tokio::process::Command::new(recorder_bin())
        .args(["--source", "test", "--audio", "tone", "--server", &app.base])
        .arg("--data-dir")
        .arg(dir.path())
        .args(["record", "--sdkappid", &SDKAPPID.to_string(), "--user-id", "alice"])
        .args(["--class-id", "4202", "--duration", "3s", "--slice-time", "1"])
        .env("LOCALRECORD_USERSIG", app.usersig("alice"))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap()).lines();
    let first = out.next_line().await.unwrap().expect("the TaskId first");
    let task = serde_json::from_str::<Value>(&first).unwrap()["TaskId"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(app.stop_task("alice", &task, 99).await.status(), 200);
    let mut err = String::new();
    let mut stderr = child.stderr.take().unwrap();
    let done = tokio::time::timeout(Duration::from_secs(120), async {
        tokio::io::AsyncReadExt::read_to_string(&mut stderr, &mut err)
            .await
            .unwrap();
        child.wait().await.unwrap()
    })
    .await
    .expect("record ends instead of retrying the stop forever");
    assert!(!done.success(), "{err}");
    let last = err.lines().last().unwrap_or_default();
    assert!(
        last.starts_with("error: task") && last.contains("refused the stop") && last.contains("SliceCount"),
        "{err}"
    );
    assert!(last.contains("Not retrying"), "{last}");
    let summary: Value = serde_json::from_str(&out.next_line().await.unwrap().unwrap()).unwrap();
    assert_eq!(summary["Upload"], "upload failed", "{summary}");
    assert!(summary["Reason"].as_str().unwrap().contains("409"), "{summary}");
}

#[tokio::test]
async fn keepalive_tolerates_a_server_without_it_and_reports_a_task_that_is_gone() {
    let app = spawn_app().await;
    let client = localrecord_client::server::ServerClient::new(&app.base, creds(&app, "alice"));
    let task = app.create_task("alice", 4203).await;
    // With the endpoint: acknowledged; without (an older server): Ok(false), silently.
    assert!(client.keepalive(&task).await.is_ok());
    let gone = format!("{SDKAPPID}-4203-{}", "0".repeat(32));
    let e = client.keepalive(&gone).await.unwrap_err();
    assert!(e.is_final(), "{e}");
}

#[tokio::test]
async fn a_pause_three_times_longer_than_the_idle_time_is_kept_alive_and_completes() {
    // 5 s of idle time: a dozen keepalives apart, so a busy machine delaying a few of them by a
    // second or two does not look like a dead recorder.
    let app = spawn_app_with(StoreKind::Fs, |s| {
        s.jobs.splice_idle_secs = 5;
        s.jobs.lease_secs = 2;
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let mut s = settings(&app.base, &dir.path().join("rec"));
    s.keepalive = Duration::from_millis(400);
    let rec = Recorder::open(s).unwrap();
    rec.init(creds(&app, "alice")).await.unwrap();
    // 1 s slices: the server's idle time is the larger of splice_idle_secs and 2 x SliceTime.
    let task = rec.start(params(4204, 1)).await.unwrap();
    tokio::time::sleep(Duration::from_secs(3)).await;
    rec.pause().await.unwrap();
    tokio::time::sleep(Duration::from_secs(16)).await;
    let st = app.task_status("alice", &task).await;
    assert_eq!(st["State"], "paused", "kept alive through the pause: {st}");
    rec.resume().await.unwrap();
    tokio::time::sleep(Duration::from_secs(2)).await;
    rec.stop().await.unwrap();
    wait_uploaded(&rec, &task, 60).await;
    let done = wait_done(&app, &task).await;
    assert_eq!(done["MissingSlices"], serde_json::json!([]), "{done}");
    let mp4 = download_mp4(&app, &done, dir.path()).await;
    let secs = format_duration(&mp4);
    assert!(
        (4.4..=5.8).contains(&secs),
        "5 s recorded around the pause, {secs} s in the MP4"
    );
    assert_eq!(decode_errors(&mp4), "");
}

#[tokio::test]
async fn keepalives_carry_the_usersig_of_the_latest_init() {
    let app = spawn_app_with(StoreKind::Fs, |s| {
        s.jobs.splice_idle_secs = 2;
        s.jobs.lease_secs = 2;
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let mut s = settings(&app.base, &dir.path().join("rec"));
    s.keepalive = Duration::from_millis(400);
    let rec = Recorder::open(s).unwrap();
    // A UserSig that expires 4 s from now, replaced by a fresh one while paused.
    let now = localrecord::auth::now();
    let short = localrecord::auth::usersig::generate(SDKAPPID as u64, &app.keys.secret_key, "alice", 4, now, None);
    rec.init(localrecord_client::server::Credentials {
        sdk_app_id: SDKAPPID as u64,
        user_id: "alice".into(),
        user_sig: short,
    })
    .await
    .unwrap();
    let task = rec.start(params(4205, 1)).await.unwrap();
    rec.pause().await.unwrap();
    rec.init(creds(&app, "alice")).await.unwrap();
    tokio::time::sleep(Duration::from_secs(9)).await;
    let st = app.task_status("alice", &task).await;
    assert_eq!(st["State"], "paused", "kept alive past the first UserSig: {st}");
    rec.stop().await.unwrap();
}
