//! The whole path: slices uploaded over tus -> stop -> durable splice job -> MP4 in the store ->
//! played back over HTTP with Range, on fs and S3; idle recordings, late slices, a dead worker.

use crate::helpers::*;
use crate::media::*;
use localrecord::jobs::queue;
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::path::PathBuf;
use std::time::Duration;

async fn upload_files(app: &TestApp, task: &str, files: &[(i64, PathBuf)]) {
    for (index, f) in files {
        let data = std::fs::read(f).unwrap();
        app.upload_slice("alice", task, *index, &data, 64 * 1024).await;
    }
}

/// Polls the task until it leaves the waiting states.
async fn wait_spliced(app: &TestApp, task: &str, want: &str) -> Value {
    let mut last = Value::Null;
    for _ in 0..200 {
        last = app.task_status("alice", task).await;
        if last["State"] == want && last["VideoOutputUrl"].is_string() {
            return last;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("task never became {want}: {last}");
}

async fn fetch(app: &TestApp, url: &str, range: Option<&str>) -> reqwest::Response {
    let mut r = app.client.get(url);
    if let Some(range) = range {
        r = r.header("range", range);
    }
    r.send().await.unwrap()
}

async fn scenario_upload_stop_splice_play(kind: StoreKind) {
    let app = spawn_app_on(kind).await;
    let dir = tempfile::tempdir().unwrap();
    let files: Vec<(i64, PathBuf)> = (0..3)
        .map(|i| {
            (
                i,
                make_slice(
                    dir.path(),
                    &format!("{i}.flv"),
                    &SliceSpec {
                        tone: 440 + 110 * i as u32,
                        ..Default::default()
                    },
                ),
            )
        })
        .collect();
    let task = app.create_task("alice", 1212).await;
    upload_files(&app, &task, &files).await;
    let r = app.stop_task("alice", &task, 3).await;
    assert_eq!(r.status(), StatusCode::OK);

    let st = wait_spliced(&app, &task, "done").await;
    let expected: f64 = files.iter().map(|(_, f)| video_secs(f)).sum();
    let url = st["VideoOutputUrl"].as_str().unwrap();
    assert!(url.ends_with(&format!(
        "/localrecord/v1/recordings/{}.mp4",
        st["VideoOutputId"].as_str().unwrap()
    )));
    assert!(st["VideoOutputId"].as_str().unwrap().len() >= 19);
    assert!(st["SplicTime"].as_i64().unwrap() >= st["StartTime"].as_i64().unwrap());
    assert_eq!(st["MissingSlices"], json!([]));

    let r = fetch(&app, url, None).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()["content-type"], "video/mp4");
    assert_eq!(r.headers()["accept-ranges"], "bytes");
    let mp4 = r.bytes().await.unwrap();
    assert_eq!(mp4.len() as i64, st["VideoOutputSize"].as_i64().unwrap());
    let out = dir.path().join("played.mp4");
    std::fs::write(&out, &mp4).unwrap();
    assert_eq!(stream_count(&out), 2);
    assert!(moov_first(&out));
    assert_eq!(decode_errors(&out), "");
    let secs = format_duration(&out);
    assert!((secs - expected).abs() <= 1.0 / 15.0, "{secs} vs {expected}");
    assert!((st["VideoOutputDuration"].as_f64().unwrap() / 1000.0 - secs).abs() <= 1.0 / 15.0);

    // Range requests, as players seek.
    let r = fetch(&app, url, Some("bytes=100-199")).await;
    assert_eq!(r.status(), StatusCode::PARTIAL_CONTENT);
    assert_eq!(
        r.headers()["content-range"],
        format!("bytes 100-199/{}", mp4.len()).as_str()
    );
    assert_eq!(r.bytes().await.unwrap(), mp4[100..200]);
    let r = fetch(&app, url, Some("bytes=-10")).await;
    assert_eq!(r.bytes().await.unwrap(), mp4[mp4.len() - 10..]);
    let r = fetch(&app, url, Some(&format!("bytes={}-", mp4.len() + 5))).await;
    assert_eq!(r.status(), StatusCode::RANGE_NOT_SATISFIABLE);
    let r = fetch(
        &app,
        &app.url("/localrecord/v1/recordings/1234567890123456789.mp4"),
        None,
    )
    .await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);

    // Temp files are gone once the job is done (the instance's scratch dir keeps only its lock).
    let left: Vec<_> = std::fs::read_dir(app.state.jobs.scratch.dir())
        .map(|d| {
            d.flatten()
                .map(|e| e.path())
                .filter(|p| !p.ends_with(".lock"))
                .collect()
        })
        .unwrap_or_default();
    assert!(left.is_empty(), "temp files left: {left:?}");
}

#[tokio::test]
async fn upload_stop_splice_play_fs() {
    scenario_upload_stop_splice_play(StoreKind::Fs).await;
}

#[tokio::test]
async fn upload_stop_splice_play_s3() {
    scenario_upload_stop_splice_play(StoreKind::S3).await;
}

#[tokio::test]
async fn an_idle_recording_is_spliced_partial_and_a_late_slice_resplices_it() {
    let app = spawn_app_with(StoreKind::Fs, |s| {
        s.jobs.splice_idle_secs = 1;
        s.jobs.lease_secs = 2;
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let f: Vec<PathBuf> = (0..3)
        .map(|i| make_slice(dir.path(), &format!("{i}.flv"), &SliceSpec::default()))
        .collect();
    let task = app.create_task("alice", 7).await;
    // The recorder uploads slices 0 and 2, then dies: no stop ever comes.
    upload_files(&app, &task, &[(0, f[0].clone()), (2, f[2].clone())]).await;
    let st = wait_spliced(&app, &task, "partial").await;
    assert_eq!(st["MissingSlices"], json!([1]));
    let first_id = st["VideoOutputId"].clone();
    let two = video_secs(&f[0]) + video_secs(&f[2]);
    assert!((st["VideoOutputDuration"].as_f64().unwrap() / 1000.0 - two).abs() <= 1.0 / 15.0);

    // Slice 1 arrives late (the recorder's recovery queue): the recording is spliced again, whole.
    upload_files(&app, &task, &[(1, f[1].clone())]).await;
    let st = wait_spliced(&app, &task, "done").await;
    assert_eq!(st["VideoOutputId"], first_id, "the recording keeps its id and URL");
    let three: f64 = f.iter().map(|p| video_secs(p)).sum();
    assert!((st["VideoOutputDuration"].as_f64().unwrap() / 1000.0 - three).abs() <= 1.0 / 15.0);
    let mp4 = fetch(&app, st["VideoOutputUrl"].as_str().unwrap(), None)
        .await
        .bytes()
        .await
        .unwrap();
    let out = dir.path().join("out.mp4");
    std::fs::write(&out, &mp4).unwrap();
    assert!((format_duration(&out) - three).abs() <= 1.0 / 15.0);
    // Only the newest MP4 is kept.
    assert_eq!(
        app.state
            .store
            .list(&format!("recordings/{task}/"))
            .await
            .unwrap()
            .len(),
        1
    );
}

#[tokio::test]
async fn a_job_whose_worker_died_is_finished_by_another_instance() {
    // Instance A takes the upload but runs no workers; a worker that "dies" claims the job.
    let a = spawn_app_with(StoreKind::Fs, |s| s.jobs.enabled = false).await;
    let dir = tempfile::tempdir().unwrap();
    let f = make_slice(dir.path(), "0.flv", &SliceSpec::default());
    let task = a.create_task("alice", 9).await;
    upload_files(&a, &task, &[(0, f.clone())]).await;
    let r = a.stop_task("alice", &task, 1).await;
    assert_eq!(r.status(), StatusCode::OK);
    // The dead worker claims every job queued (the slice's preparation too) and finishes none.
    let job = loop {
        let job = queue::claim(&a.state.db, "dead-worker", Duration::from_secs(1))
            .await
            .unwrap()
            .expect("the splice job");
        if job.kind == "splice" {
            break job;
        }
    };
    assert_eq!(job.unique_key, format!("splice:{task}"));
    // What the crash left: a half-written temp dir in the scratch of an instance that is gone.
    let tmp = a.backing.data_dir.path().join("tmp/0123456789abcdef");
    std::fs::create_dir_all(tmp.join("splice-crashed")).unwrap();
    std::fs::write(tmp.join(".lock"), b"").unwrap();
    std::fs::write(tmp.join("splice-crashed/out.mp4"), b"half").unwrap();

    // Instance B starts: it cleans the leftovers, reaps the expired lease and finishes the job.
    let b = spawn_instance_with(&a, |s| {
        s.jobs.enabled = true;
        s.jobs.lease_secs = 2;
    })
    .await;
    let st = wait_spliced(&b, &task, "done").await;
    assert!((st["VideoOutputDuration"].as_f64().unwrap() / 1000.0 - content_secs(&f)).abs() <= 1.0 / 15.0);
    assert!(!tmp.join("splice-crashed").exists(), "crash leftovers removed at start");
    // The job is marked done right after the publish the task shows, in its own statement.
    let until = std::time::Instant::now() + Duration::from_secs(60);
    let js = loop {
        let js = queue::state_of(&b.state.db, &job.unique_key).await.unwrap().unwrap();
        if js.state != "running" || std::time::Instant::now() > until {
            break js;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(
        (js.state.as_str(), js.attempts),
        ("done", 2),
        "the dead worker's attempt counted"
    );
}

#[tokio::test]
async fn a_recording_with_no_usable_slice_fails_with_a_reason() {
    let app = spawn_app().await;
    let task = app.create_task("alice", 3).await;
    app.upload_slice("alice", &task, 0, b"this is not an FLV file", 1024)
        .await;
    let r = app.stop_task("alice", &task, 1).await;
    assert_eq!(r.status(), StatusCode::OK);
    for _ in 0..100 {
        let st = app.task_status("alice", &task).await;
        if st["State"] == "failed" {
            assert!(
                st["FailureReason"]
                    .as_str()
                    .unwrap()
                    .contains("no slice has a readable video stream"),
                "{st}"
            );
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("task never failed");
}
