//! On S3 the stop publishes the recording as parts (its index stored as an object, then the
//! pieces prepared while the class went on) and the callback goes out; the store copies them into
//! one object afterwards (`jobs::compose`). Users must see one MP4 throughout: the same bytes,
//! whole and by range, before and after, and nothing left behind once it is one object.

use crate::encrypted_splice::admin_get;
use crate::faults::wait_task;
use crate::helpers::*;
use crate::pieces::{s3_slices, served_as_spliced, upload_all_in, wait_composed, wait_for_pieces};
use reqwest::StatusCode;

/// The task's recorded parts (None: it is one object) and its recording key.
async fn recorded(app: &TestApp, task: &str) -> (Option<serde_json::Value>, Option<String>) {
    sqlx::query_as("SELECT video_output_parts, video_output_key FROM tasks WHERE task_id = $1")
        .bind(task)
        .fetch_one(&app.state.db)
        .await
        .unwrap()
}

async fn get(app: &TestApp, url: &str, range: Option<&str>) -> (StatusCode, bytes::Bytes) {
    let mut req = app.client.get(url);
    if let Some(r) = range {
        req = req.header("range", r);
    }
    let r = req.send().await.unwrap();
    (r.status(), r.bytes().await.unwrap())
}

/// The stop writes only the index: the recording is served from it and the pieces (whose
/// composition is held up here by a failpoint), whole, by ranges across every part boundary and
/// through the admin download; once another instance has composed it, the one object holds
/// exactly those bytes, and the pieces, their rows and the index object are gone.
#[tokio::test]
async fn on_s3_the_recording_is_served_from_its_parts_until_the_store_has_made_it_one_object() {
    let first = spawn_app_with(StoreKind::S3, |s| {
        s.failpoints = Some("compose-before-copy=sleep(600000)".into());
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let ins = s3_slices(dir.path());
    let (task, st) = record_and_stop(&first, &ins, 4244).await;
    let (parts, key) = recorded(&first, &task).await;
    let parts: Vec<localrecord::store::parts::Extent> =
        serde_json::from_value(parts.expect("published as parts")).unwrap();
    assert_eq!(parts.len(), 4, "the index and three pieces: {parts:?}");
    let key = key.unwrap();
    assert_eq!(first.state.store.size(&key).await.unwrap(), None, "not one object yet");
    let url = st["VideoOutputUrl"].as_str().unwrap();
    served_as_spliced(&first, &st, &ins, dir.path()).await;
    let (_, whole) = get(&first, url, None).await;
    assert_eq!(whole.len() as i64, st["VideoOutputSize"].as_i64().unwrap());
    // Ranges that start in one part and end in the next.
    let mut at = 0;
    for p in &parts[..3] {
        at += p.len as usize;
        let (a, b) = (at - 1000, at + 1000);
        let (code, got) = get(&first, url, Some(&format!("bytes={a}-{}", b - 1))).await;
        assert_eq!(code, StatusCode::PARTIAL_CONTENT);
        assert!(got == whole[a..b], "bytes {a}..{b} across a part boundary");
    }
    let admin = first.auth("administrator");
    let r = admin_get(&first, &task, &admin, Some(&format!("bytes={}-", whole.len() - 5000))).await;
    assert_eq!(r.status(), StatusCode::PARTIAL_CONTENT);
    assert!(r.bytes().await.unwrap() == whole[whole.len() - 5000..]);

    // Another instance takes the composition over when the first shuts down. A download from it
    // begun before then (read 64 KiB, then held) outlives the parts it started on.
    let second = spawn_instance(&first).await;
    let url = url.replacen(&first.base, &second.base, 1);
    let mut held = second.client.get(&url).send().await.unwrap();
    let mut begun = Vec::new();
    while begun.len() < 65536 {
        begun.extend_from_slice(&held.chunk().await.unwrap().expect("more body"));
    }
    drop(first);
    // No parts, no piece rows, no objects under the assembly prefix (the index object and the
    // pieces) left.
    wait_composed(&second, &task).await;
    while let Some(c) = held.chunk().await.expect("the download goes on from the one object") {
        begun.extend_from_slice(&c);
    }
    assert!(begun == whole, "a download across the composition gets the same bytes");
    assert_eq!(recorded(&second, &task).await.1.as_deref(), Some(key.as_str()));
    let size = second.state.store.size(&key).await.unwrap();
    assert_eq!(size, Some(whole.len() as u64), "one object of the same length");
    let (_, after) = get(&second, &url, None).await;
    assert!(after == whole, "the one object holds the bytes the parts served");
}

/// Uploads `ins` as a task's slices, waits until each is prepared, deletes the slices' own objects
/// (so only the pieces can make the recording: the stop cannot have spliced), stops and waits for
/// the recording; returns the task and its status.
async fn record_and_stop(app: &TestApp, ins: &[std::path::PathBuf], class: i64) -> (String, serde_json::Value) {
    let task = app.create_task("alice", class).await;
    upload_all_in(app, &task, ins, 4 << 20).await;
    let n = ins.len() as i64;
    assert_eq!(wait_for_pieces(app, &task, n).await, n, "prepared before the stop");
    for key in app.state.store.list(&format!("slices/{task}/")).await.unwrap() {
        app.state.store.delete(&key).await.unwrap();
    }
    assert_eq!(app.stop_task("alice", &task, n as i32).await.status(), 200);
    let st = wait_task(app, &task, 120, |st| {
        st["State"] == "done" && st["VideoOutputUrl"].is_string()
    })
    .await;
    (task, st)
}

/// A store without server-side copy (here S3 with `store.s3_multipart = false`, used as OSS and
/// COS are: a part object per tus chunk, no UploadPartCopy) takes the same path: slices prepared
/// as they land, the stop publishes the index and pieces, and the recording is then streamed into
/// one object holding the same bytes.
#[tokio::test]
async fn without_server_side_copy_the_stop_is_as_quick_and_the_recording_is_streamed_into_one_object() {
    let app = spawn_app_with(StoreKind::S3, |s| s.store.s3_multipart = false).await;
    assert!(app.state.store.multipart().is_none());
    let dir = tempfile::tempdir().unwrap();
    let ins = s3_slices(dir.path());
    let (task, st) = record_and_stop(&app, &ins, 4247).await;
    served_as_spliced(&app, &st, &ins, dir.path()).await;
    let (_, whole) = get(&app, st["VideoOutputUrl"].as_str().unwrap(), None).await;
    wait_composed(&app, &task).await;
    let key = recorded(&app, &task).await.1.unwrap();
    assert_eq!(app.state.store.size(&key).await.unwrap(), Some(whole.len() as u64));
    let (_, after) = get(&app, st["VideoOutputUrl"].as_str().unwrap(), None).await;
    assert!(after == whole, "the one object holds the bytes the parts served");
}
