//! Reliability under real faults (issue: hostile slices, stuck jobs, long pauses, leaks). Each test
//! reproduces a failure seen on wave 1 and asserts what a user would check.

use crate::helpers::*;
use crate::media::{content_secs, make_slice, SliceSpec};
use localrecord::jobs::queue;
use reqwest::StatusCode;
use serde_json::Value;
use std::time::{Duration, Instant};

/// The 70-byte slice that hung every splice on wave 1: an HLS playlist FFmpeg would follow.
pub const PLAYLIST: &[u8] = b"#EXTM3U\n#EXT-X-TARGETDURATION:100000000\n#EXTINF:100000000,\nmissing.ts\n";

/// Polls the task until `done(status)` holds (at most `secs`).
pub async fn wait_task(app: &TestApp, task: &str, secs: u64, done: impl Fn(&Value) -> bool) -> Value {
    let until = Instant::now() + Duration::from_secs(secs);
    loop {
        let st = app.task_status("alice", task).await;
        if done(&st) {
            return st;
        }
        assert!(Instant::now() < until, "task never got there: {st}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn upload_file(app: &TestApp, task: &str, index: i64, f: &std::path::Path) {
    app.upload_slice("alice", task, index, &std::fs::read(f).unwrap(), 256 * 1024)
        .await;
}

#[tokio::test]
async fn a_playlist_or_other_non_flv_slice_is_skipped_and_splicing_goes_on() {
    let app = spawn_app_with(StoreKind::Fs, |s| s.jobs.concurrency = 1).await;
    let dir = tempfile::tempdir().unwrap();
    let good = make_slice(dir.path(), "1.flv", &SliceSpec::default());
    let mut tasks = Vec::new();
    // Two hostile tasks at once used to take every splice slot of the instance.
    for hostile in [PLAYLIST, b"ffconcat version 1.0\nfile /etc/passwd\n".as_slice()] {
        let task = app.create_task("alice", 5).await;
        app.upload_slice("alice", &task, 0, hostile, 1024).await;
        upload_file(&app, &task, 1, &good).await;
        assert_eq!(app.stop_task("alice", &task, 2).await.status(), StatusCode::OK);
        tasks.push(task);
    }
    for task in &tasks {
        let st = wait_task(&app, task, 60, |st| st["State"] == "partial").await;
        assert_eq!(st["MissingSlices"], serde_json::json!([0]), "{st}");
        let secs = st["VideoOutputDuration"].as_f64().unwrap() / 1000.0;
        assert!(
            (secs - content_secs(&good)).abs() < 0.2,
            "only the good slice: {secs} s"
        );
    }
}

#[tokio::test]
async fn a_slice_larger_than_any_recording_is_refused_before_anything_decodes_it() {
    let app = spawn_app().await;
    let dir = tempfile::tempdir().unwrap();
    let spec = SliceSpec {
        secs: 0.2,
        size: "4800x2400",
        audio: false,
        tone: 440,
    };
    let huge = make_slice(dir.path(), "huge.flv", &spec);
    let good = make_slice(dir.path(), "1.flv", &SliceSpec::default());
    let task = app.create_task("alice", 6).await;
    upload_file(&app, &task, 0, &good).await;
    upload_file(&app, &task, 1, &huge).await;
    app.stop_task("alice", &task, 2).await;
    let st = wait_task(&app, &task, 60, |st| st["State"] == "partial").await;
    assert_eq!(st["MissingSlices"], serde_json::json!([1]), "{st}");
}

#[tokio::test]
async fn a_job_that_stops_making_progress_is_retried_then_failed_with_a_reason() {
    let app = spawn_app_with(StoreKind::Fs, |s| {
        s.jobs.concurrency = 1;
        s.jobs.stall_secs = 1;
        s.jobs.lease_secs = 2;
        // The splice is done, then the run hangs where no progress is possible.
        s.failpoints = Some("splice-before-publish=sleep(600000)".into());
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let f = make_slice(dir.path(), "0.flv", &SliceSpec::default());
    let task = app.create_task("alice", 7).await;
    upload_file(&app, &task, 0, &f).await;
    app.stop_task("alice", &task, 1).await;
    let key = format!("splice:{task}");
    let db = &app.state.db;
    let until = Instant::now() + Duration::from_secs(60);
    loop {
        let js = queue::state_of(db, &key).await.unwrap().unwrap();
        if js.attempts >= 1 && js.state == "queued" {
            let err = js.last_error.unwrap_or_default();
            assert!(err.contains("made no progress"), "{err}");
            break;
        }
        assert!(Instant::now() < until, "the stalled run was never given up: {js:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // The slot is free again: the retry runs (and stalls) too; out of attempts, the task fails.
    sqlx::query("UPDATE jobs SET max_attempts = 2 WHERE unique_key = $1")
        .bind(&key)
        .execute(db)
        .await
        .unwrap();
    let st = wait_task(&app, &task, 60, |st| st["State"] == "failed").await;
    assert!(
        st["FailureReason"].as_str().unwrap().contains("made no progress"),
        "{st}"
    );
    let js = queue::state_of(db, &key).await.unwrap().unwrap();
    assert_eq!((js.state.as_str(), js.attempts), ("failed", 2));
    // Each run is on the task's timeline, with why it ended.
    let runs = localrecord::db::splice_log::for_task(db, &task).await.unwrap();
    let seen: Vec<(i32, &str)> = runs.iter().map(|r| (r.attempt, r.outcome.as_str())).collect();
    assert_eq!(seen, vec![(1, "retry"), (2, "failed")], "{runs:?}");
    assert!(
        runs.iter()
            .all(|r| r.reason.as_deref().unwrap_or("").contains("made no progress")),
        "{runs:?}"
    );
}

#[tokio::test]
async fn keep_alives_hold_a_long_pause_and_silence_splices_what_arrived() {
    let app = spawn_app_with(StoreKind::Fs, |s| {
        s.jobs.splice_idle_secs = 2;
        s.jobs.lease_secs = 2;
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let f = make_slice(dir.path(), "0.flv", &SliceSpec::default());
    let task = app.create_task("alice", 8).await;
    upload_file(&app, &task, 0, &f).await;
    let path = |what: &str| format!("/localrecord/v1/tasks/{task}/{what}");
    let r = app.post_json("alice", &path("pause"), &serde_json::json!({})).await;
    assert_eq!(r.status(), StatusCode::OK);
    // Paused for 3x the idle time, with a keep-alive every second: still the teacher's.
    for _ in 0..6 {
        let r = app.post_json("alice", &path("keepalive"), &serde_json::json!({})).await;
        assert_eq!(r.status(), StatusCode::OK);
        let v: Value = r.json().await.unwrap();
        assert_eq!(v["Response"]["State"], "paused");
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    assert_eq!(app.task_status("alice", &task).await["State"], "paused");

    // The recorder vanishes: what arrived is spliced (slice 0 of an unknown count).
    let st = wait_task(&app, &task, 30, |st| st["VideoOutputId"].is_string()).await;
    assert_eq!(st["SliceCount"], Value::Null);
    let first_id = st["VideoOutputId"].as_str().unwrap().to_owned();

    // It comes back: a late slice and its stop re-splice the task under the same VideoOutputId.
    upload_file(&app, &task, 1, &f).await;
    let r = app.stop_task("alice", &task, 2).await;
    assert_eq!(r.status(), StatusCode::OK, "a late stop is accepted");
    let st = wait_task(&app, &task, 30, |st| st["State"] == "done" && st["SliceCount"] == 2).await;
    assert_eq!(st["VideoOutputId"], first_id.as_str());
    let secs = st["VideoOutputDuration"].as_f64().unwrap() / 1000.0;
    assert!((secs - 2.0 * content_secs(&f)).abs() < 0.3, "{secs} s");
}

#[tokio::test]
async fn a_slice_time_longer_than_the_idle_time_is_not_taken_for_a_vanished_recorder() {
    let app = spawn_app_with(StoreKind::Fs, |s| {
        s.jobs.splice_idle_secs = 1;
        s.jobs.lease_secs = 2;
    })
    .await;
    let r = app
        .post_json(
            "alice",
            "/localrecord/v1/tasks",
            &serde_json::json!({ "ClassId": 9, "SliceTime": 4 }),
        )
        .await;
    let task = r.json::<Value>().await.unwrap()["Response"]["TaskId"]
        .as_str()
        .unwrap()
        .to_owned();
    // Three idle times pass without a word: one slice (4 s) has not even had time to arrive.
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(app.task_status("alice", &task).await["State"], "recording");
    // Twice its slice time without a word: the recorder is gone.
    wait_task(&app, &task, 30, |st| st["State"] == "failed").await;
}

#[tokio::test]
async fn orphaned_objects_and_half_written_files_are_swept_and_live_ones_stay() {
    let app = spawn_app_with(StoreKind::Fs, |s| s.upload.orphan_grace_secs = 1).await;
    let dir = tempfile::tempdir().unwrap();
    let f = make_slice(dir.path(), "0.flv", &SliceSpec::default());
    let task = app.create_task("alice", 10).await;
    upload_file(&app, &task, 0, &f).await;
    app.stop_task("alice", &task, 1).await;
    wait_task(&app, &task, 60, |st| st["State"] == "done").await;
    let store = &app.state.store;
    let live = store.list("").await.unwrap();

    // What crashes leave: objects written whose rows never committed...
    for key in [
        format!("slices/{task}/000007-dead.flv"),
        format!("recordings/{task}/1234-dead.mp4"),
    ] {
        let mut w = store.writer(&key).await.unwrap();
        w.write(vec![7u8; 100]).await.unwrap();
        w.close().await.unwrap();
    }
    // ...and a write that never finished: it is not visible at its key.
    let mut half = store.writer("recordings/x/half.mp4").await.unwrap();
    half.write(vec![1u8; 100]).await.unwrap();
    assert_eq!(
        store.size("recordings/x/half.mp4").await.unwrap(),
        None,
        "no half object"
    );
    drop(half);

    let partial_dir = app.state.store.local_path(".partial").unwrap();
    assert!(
        std::fs::read_dir(&partial_dir).unwrap().count() >= 1,
        "the half write is in .partial"
    );
    tokio::time::sleep(Duration::from_millis(1500)).await;
    // The instance's own periodic sweep may get there first; either way they go.
    localrecord::ingest::sweep::sweep_objects(&app.state.ingest)
        .await
        .unwrap();
    assert_eq!(
        std::fs::read_dir(&partial_dir).unwrap().count(),
        0,
        "half writes removed"
    );
    let mut after = store.list("").await.unwrap();
    after.sort();
    let mut want = live.clone();
    want.sort();
    assert_eq!(after, want, "exactly the live objects remain");
    let st = app.task_status("alice", &task).await;
    let r = app
        .client
        .get(st["VideoOutputUrl"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
}
