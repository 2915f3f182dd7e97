//! What the recorder takes from a server (or finds on disk) is checked before it touches the
//! disk or carries the UserSig: a fake server (a tiny axum app) answers a TaskId that climbs out
//! of the data directory, a task book entry names a directory outside it, and a tus `Location`
//! points at another host.

use crate::helpers::*;
use crate::recorder_support::*;
use axum::routing::post;
use axum::Router;
use localrecord_client::recorder::Recorder;
use localrecord_client::server::{Credentials, ServerClient};
use serde_json::json;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// Serves `app` on a loopback port; returns its base URL.
async fn fake(app: Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    base
}

/// Every path under `root`, sorted.
fn tree(root: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_owned()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            out.push(e.path().strip_prefix(root).unwrap().display().to_string());
            if e.file_type().unwrap().is_dir() {
                stack.push(e.path());
            }
        }
    }
    out.sort();
    out
}

fn fake_creds() -> Credentials {
    Credentials {
        sdk_app_id: SDKAPPID as u64,
        user_id: "alice".into(),
        user_sig: "sig".into(),
    }
}

#[tokio::test]
async fn a_task_id_that_leaves_the_data_dir_is_refused_and_nothing_outside_is_touched() {
    let server = fake(
        Router::new()
            .route(
                "/localrecord/v1/auth",
                post(|| async {
                    axum::Json(
                        json!({"Response": {"SdkAppId": SDKAPPID, "UserId": "alice", "ExpireTime": 4102444800u64}}),
                    )
                }),
            )
            .route(
                "/localrecord/v1/tasks",
                post(|| async { axum::Json(json!({"Response": {"TaskId": "../../x"}})) }),
            ),
    )
    .await;
    let root = tempfile::tempdir().unwrap();
    let data = root.path().join("a/rec");
    let rec = Recorder::open(settings(&server, &data)).unwrap();
    rec.init(fake_creds()).await.unwrap();
    let before = tree(root.path());
    let e = rec.start(params(4101, 2)).await.unwrap_err();
    assert_eq!(e.code, -10003, "{e}");
    assert!(e.message.contains("invalid TaskId"), "{e}");
    assert_eq!(tree(root.path()), before, "nothing created anywhere");
    assert!(!root.path().join("x").exists() && !root.path().join("a/x").exists());
    assert_eq!(rec.state().await.record, "Idle");
}

#[tokio::test]
async fn a_task_book_entry_naming_a_directory_outside_is_never_removed() {
    let app = spawn_app().await;
    let root = tempfile::tempdir().unwrap();
    let data = root.path().join("a/rec");
    // Someone planted a finished task whose TaskId climbs to a victim directory.
    let victim = root.path().join("a/victim");
    std::fs::create_dir_all(&victim).unwrap();
    std::fs::write(victim.join("keep.txt"), "mine").unwrap();
    let planted = data.join("tasks/planted");
    std::fs::create_dir_all(&planted).unwrap();
    let book = json!({"task_id": "../../victim", "class_id": 1, "sdk_app_id": SDKAPPID, "user_id": "alice",
        "user_sig": "", "upload": true, "started_at": 0, "slices": [], "slice_count": 0, "server_stopped": true});
    std::fs::write(planted.join("task.json"), book.to_string()).unwrap();

    let rec = recorder(&app, &app.base, &data).await;
    assert!(rec.book().all().is_empty(), "the entry is skipped");
    // The queue would have finished (and removed) a completed task at once; give it time.
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(std::fs::read_to_string(victim.join("keep.txt")).unwrap(), "mine");
    assert!(planted.join("task.json").exists());
}

#[tokio::test]
async fn an_upload_location_on_another_origin_gets_neither_the_slice_nor_the_usersig() {
    // The other origin: counts every connection it gets.
    let hits = Arc::new(AtomicUsize::new(0));
    let thief = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let thief_url = format!("http://{}/steal/1", thief.local_addr().unwrap());
    let h = hits.clone();
    tokio::spawn(async move {
        while let Ok((c, _)) = thief.accept().await {
            h.fetch_add(1, Ordering::SeqCst);
            drop(c);
        }
    });
    let loc = thief_url.clone();
    let server = fake(Router::new().route(
        "/localrecord/v1/uploads/",
        post(move || {
            let loc = loc.clone();
            async move {
                (
                    axum::http::StatusCode::CREATED,
                    [("location", loc), ("tus-resumable", "1.0.0".into())],
                )
            }
        }),
    ))
    .await;
    let dir = tempfile::tempdir().unwrap();
    let slice = dir.path().join("00000.flv");
    std::fs::write(&slice, bytes(1000, 7)).unwrap();
    let journal = localrecord_client::upload::journal::Journal::open(&dir.path().join("uploads")).unwrap();
    let client = ServerClient::new(&server, fake_creds());
    let task = format!("{SDKAPPID}-1-{}", "0".repeat(32));
    let e = client
        .upload_slice(&journal, &task, 0, &slice, &Default::default())
        .await
        .unwrap_err();
    let msg = e.to_string();
    assert!(
        msg.contains(&thief_url) && msg.contains("refusing to send the UserSig"),
        "{msg}"
    );
    assert_eq!(hits.load(Ordering::SeqCst), 0, "nothing went to the other origin");
}
