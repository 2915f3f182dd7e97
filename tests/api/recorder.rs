//! The recorder (crate localrecord-client) against the real server: synthetic recordings cut into
//! slices, uploaded while recording, spliced; pause/resume; a network outage.

use crate::helpers::*;
use crate::media::*;
use crate::recorder_support::*;
use localrecord_client::recorder::Recorder;
use localrecord_client::server::Credentials;
use std::time::Duration;

/// 25 s, not 30: a stop right at a slice boundary may or may not leave a last one-frame slice
/// (frames sit on the 1/fps grid, up to a frame from their capture instant), which is not what
/// this test is about.
#[tokio::test]
async fn a_25_second_recording_in_10_second_slices_arrives_as_3_verified_slices_and_one_mp4() {
    let app = spawn_app().await;
    let dir = tempfile::tempdir().unwrap();
    let rec = recorder(&app, &app.base, &dir.path().join("rec")).await;
    let task = rec.start(params(3001, 10)).await.unwrap();
    tokio::time::sleep(Duration::from_secs(25)).await;
    assert_eq!(rec.stop().await.unwrap(), task);
    wait_uploaded(&rec, &task, 60).await;

    let st = app.task_status("alice", &task).await;
    assert_eq!(st["SliceCount"], 3, "{st}");
    let mut total = 0.0;
    for i in 0..3 {
        let s = &st["Slices"][i];
        assert_eq!(s["State"], "uploaded", "{st}");
        let file = stored_slice_file(&app, &task, i as i32, dir.path()).await;
        assert_eq!(s["Md5"], md5_hex(&std::fs::read(&file).unwrap()));
        // Each slice plays on its own: starts on a keyframe at 0, decodes cleanly, about 10 s
        // (the last about 5).
        let v = packets(&file, "v");
        assert!(v[0].pts < 0.05, "slice {i} starts at {}", v[0].pts);
        assert_eq!(key_flags(&file).first(), Some(&true), "slice {i} starts on a keyframe");
        assert_eq!(decode_errors(&file), "", "slice {i}");
        assert!(!packets(&file, "a").is_empty(), "slice {i} has sound");
        let secs = content_secs(&file);
        let want = if i < 2 { 9.5..=10.6 } else { 4.5..=5.8 };
        assert!(want.contains(&secs), "slice {i} lasts {secs} s");
        total += secs;
    }
    assert!((24.5..=25.8).contains(&total), "{total} s recorded");
    // Confirmed slices are deleted locally; the finished task leaves the book.
    assert!(rec.book().all().is_empty());
    assert_eq!(
        std::fs::read_dir(dir.path().join("rec/tasks")).unwrap().count(),
        0,
        "no slice left behind"
    );

    let done = wait_done(&app, &task).await;
    let mp4 = download_mp4(&app, &done, dir.path()).await;
    let secs = format_duration(&mp4);
    assert!((24.4..=26.0).contains(&secs), "the MP4 lasts {secs} s");
    assert_eq!(stream_count(&mp4), 2);
    assert_eq!(decode_errors(&mp4), "");
}

#[tokio::test]
async fn pause_and_resume_leave_no_paused_time_in_the_output() {
    let app = spawn_app().await;
    let dir = tempfile::tempdir().unwrap();
    let rec = recorder(&app, &app.base, &dir.path().join("rec")).await;
    let task = rec.start(params(3002, 300)).await.unwrap();
    tokio::time::sleep(Duration::from_secs(3)).await;
    rec.pause().await.unwrap();
    assert_eq!(rec.state().await.record, "Paused");
    assert!(rec.pause().await.is_err(), "pausing twice is refused");
    tokio::time::sleep(Duration::from_secs(5)).await;
    rec.resume().await.unwrap();
    tokio::time::sleep(Duration::from_secs(3)).await;
    rec.stop().await.unwrap();
    wait_uploaded(&rec, &task, 60).await;

    let done = wait_done(&app, &task).await;
    let mp4 = download_mp4(&app, &done, dir.path()).await;
    let secs = format_duration(&mp4);
    assert!(
        (5.5..=6.8).contains(&secs),
        "6 s recorded around a 5 s pause, got {secs} s"
    );
    let v = packets(&mp4, "v");
    let gap = v.windows(2).map(|w| w[1].dts - w[0].dts).fold(0.0, f64::max);
    assert!(gap < 0.3, "no hole where the pause was: largest gap {gap} s");
    let a = packets(&mp4, "a");
    let audio_secs = a.last().map(|p| p.pts + p.duration).unwrap_or(0.0);
    assert!(
        (secs - audio_secs).abs() < 0.3,
        "audio ({audio_secs} s) stays with video ({secs} s)"
    );
}

#[tokio::test]
async fn a_network_outage_during_recording_loses_nothing() {
    let app = spawn_app().await;
    let proxy = Proxy::start(app.addr).await;
    let dir = tempfile::tempdir().unwrap();
    let rec = recorder(&app, &proxy.base, &dir.path().join("rec")).await;
    let task = rec.start(params(3003, 3)).await.unwrap();
    tokio::time::sleep(Duration::from_secs(2)).await;
    proxy.set_down(true);
    tokio::time::sleep(Duration::from_secs(10)).await;
    // Slices were cut meanwhile but could not leave.
    let pending = rec.book().get(&task).unwrap();
    let waiting = pending.slices.iter().filter(|s| s.closed && !s.confirmed).count();
    assert!(waiting >= 2, "slices queue up during the outage: {pending:?}");
    proxy.set_down(false);
    tokio::time::sleep(Duration::from_secs(6)).await;
    rec.stop().await.unwrap();
    wait_uploaded(&rec, &task, 120).await;

    let st = app.task_status("alice", &task).await;
    let n = st["SliceCount"].as_i64().unwrap();
    assert!(n >= 6, "{st}");
    assert_eq!(st["MissingSlices"], serde_json::json!([]));
    let done = wait_done(&app, &task).await;
    let mp4 = download_mp4(&app, &done, dir.path()).await;
    let secs = format_duration(&mp4);
    assert!((17.3..=18.8).contains(&secs), "18 s recorded, {secs} s in the MP4");
}

#[tokio::test]
async fn uploads_refused_for_an_expired_usersig_go_on_after_a_fresh_init() {
    let app = spawn_app().await;
    let proxy = Proxy::start(app.addr).await;
    let dir = tempfile::tempdir().unwrap();
    let rec = Recorder::open(settings(&proxy.base, &dir.path().join("rec"))).unwrap();
    let now = localrecord::auth::now();
    let short = localrecord::auth::usersig::generate(SDKAPPID as u64, &app.keys.secret_key, "alice", 3, now, None);
    rec.init(Credentials {
        sdk_app_id: SDKAPPID as u64,
        user_id: "alice".into(),
        user_sig: short,
    })
    .await
    .unwrap();
    let task = rec.start(params(3007, 2)).await.unwrap();
    // Nothing leaves before the UserSig expires.
    proxy.set_down(true);
    tokio::time::sleep(Duration::from_secs(5)).await;
    rec.stop().await.unwrap();
    proxy.set_down(false);
    let mut state = String::new();
    for _ in 0..400 {
        let v = rec.uploader().views(None);
        state = v
            .iter()
            .find(|v| v.task_id == task)
            .map(|v| v.state.to_owned())
            .unwrap_or_default();
        if state == "upload failed" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(state, "upload failed");
    assert!(
        rec.uploader().failure(&task).unwrap().contains("auth"),
        "{:?}",
        rec.uploader().failure(&task)
    );
    assert!(!rec.book().get(&task).unwrap().slices.iter().any(|s| s.confirmed));

    // Init with a fresh UserSig: the parked uploads go on and the task completes.
    rec.init(creds(&app, "alice")).await.unwrap();
    wait_uploaded(&rec, &task, 60).await;
    let done = wait_done(&app, &task).await;
    let mp4 = download_mp4(&app, &done, dir.path()).await;
    let secs = format_duration(&mp4);
    assert!((4.5..=5.8).contains(&secs), "{secs} s");
}
