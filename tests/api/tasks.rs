//! Recording tasks: the StartRecord -> pause/resume -> stop lifecycle, ownership and bad input.

use crate::helpers::*;
use localrecord_client::api::codes;
use reqwest::StatusCode;
use serde_json::{json, Value};

#[tokio::test]
async fn task_lifecycle_with_per_slice_state() {
    let app = spawn_app().await;
    let task = app.create_task("alice", 1212).await;
    assert!(task.starts_with(&format!("{SDKAPPID}-1212-")), "{task}");

    let st = app.task_status("alice", &task).await;
    assert_eq!(
        (st["State"].as_str(), st["ClassId"].as_i64(), st["UserId"].as_str()),
        (Some("recording"), Some(1212), Some("alice"))
    );

    for (cmd, state) in [("pause", "paused"), ("pause", "paused"), ("resume", "recording")] {
        let r = app
            .post_json("alice", &format!("/localrecord/v1/tasks/{task}/{cmd}"), &json!({}))
            .await;
        assert_eq!(r.status(), StatusCode::OK);
        assert_eq!(r.json::<Value>().await.unwrap()["Response"]["State"], state);
    }

    // Slice 0 stored, slice 1 half uploaded, slice 2 not begun.
    let s0 = bytes(1000, 1);
    app.upload_slice("alice", &task, 0, &s0, 300).await;
    let r = app.tus_create("alice", &task, 1, 500).await;
    let url1 = location(&r);
    assert_eq!(
        app.tus_patch("alice", &url1, 0, bytes(200, 2), true).await.status(),
        StatusCode::NO_CONTENT
    );

    let r = app.stop_task("alice", &task, 3).await;
    assert_eq!(r.status(), StatusCode::OK);
    let st = r.json::<Value>().await.unwrap()["Response"].clone();
    assert_eq!(st["State"], "uploading");
    assert_eq!(st["SliceCount"], 3);
    assert_eq!(st["MissingSlices"], json!([1, 2]));
    assert_eq!(
        st["Slices"][0],
        json!({ "Index": 0, "State": "uploaded", "Size": 1000, "Md5": md5_hex(&s0) })
    );
    assert_eq!(
        st["Slices"][1],
        json!({ "Index": 1, "State": "uploading", "Size": 200, "Length": 500 })
    );
    assert_eq!(st["Slices"][2], json!({ "Index": 2, "State": "wait", "Size": 0 }));

    // The same stop again is fine (a retrying recorder); a different count is a conflict.
    let r = app.stop_task("alice", &task, 3).await;
    assert_eq!(r.status(), StatusCode::OK);
    let r = app.stop_task("alice", &task, 4).await;
    assert_eq!(r.status(), StatusCode::CONFLICT);
    assert_eq!(error_of(r).await.0, codes::CONFLICT);
    // No pausing a stopped task.
    let r = app
        .post_json("alice", &format!("/localrecord/v1/tasks/{task}/pause"), &json!({}))
        .await;
    assert_eq!(r.status(), StatusCode::CONFLICT);

    // Slices arriving after stop still count.
    let url1_rest = app.tus_patch("alice", &url1, 200, bytes(300, 3), true).await;
    assert_eq!(url1_rest.status(), StatusCode::NO_CONTENT);
    app.upload_slice("alice", &task, 2, &bytes(10, 4), 10).await;
    let st = app.task_status("alice", &task).await;
    assert_eq!(st["MissingSlices"], json!([]));
    assert!(st["Slices"]
        .as_array()
        .unwrap()
        .iter()
        .all(|s| s["State"] == "uploaded"));
}

#[tokio::test]
async fn tasks_are_private_to_their_user_and_app() {
    let app = spawn_app().await;
    let task = app.create_task("alice", 7).await;
    let r = app
        .client
        .get(app.url(&format!("/localrecord/v1/tasks/{task}")))
        .header("authorization", app.auth("bob"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let (code, msg) = error_of(r).await;
    assert_eq!(code, codes::FORBIDDEN);
    assert!(msg.contains("another user"), "{msg}");
    let r = app.stop_task("bob", &task, 1).await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    // The app's admin may look.
    assert_eq!(app.task_status("administrator", &task).await["UserId"], "alice");
    // Unknown task.
    let r = app
        .client
        .get(app.url("/localrecord/v1/tasks/nope"))
        .header("authorization", app.auth("alice"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    assert_eq!(error_of(r).await.0, codes::NOT_FOUND);
}

#[tokio::test]
async fn bad_task_input_gets_invalid_parameter() {
    let app = spawn_app().await;
    let cases: Vec<(&str, reqwest::RequestBuilder, StatusCode)> = vec![
        (
            "malformed JSON",
            app.client
                .post(app.url("/localrecord/v1/tasks"))
                .header("content-type", "application/json")
                .body("{\"ClassId\":"),
            StatusCode::BAD_REQUEST,
        ),
        (
            "ClassId missing",
            app.client
                .post(app.url("/localrecord/v1/tasks"))
                .json(&json!({ "VideoFps": 15 })),
            StatusCode::BAD_REQUEST,
        ),
        (
            "ClassId a string",
            app.client
                .post(app.url("/localrecord/v1/tasks"))
                .json(&json!({ "ClassId": "abc" })),
            StatusCode::BAD_REQUEST,
        ),
        (
            "ClassId negative",
            app.client
                .post(app.url("/localrecord/v1/tasks"))
                .json(&json!({ "ClassId": -4 })),
            StatusCode::BAD_REQUEST,
        ),
        (
            "VideoFps wrong type",
            app.client
                .post(app.url("/localrecord/v1/tasks"))
                .json(&json!({ "ClassId": 1, "VideoFps": "fast" })),
            StatusCode::BAD_REQUEST,
        ),
        (
            "not JSON content type",
            app.client.post(app.url("/localrecord/v1/tasks")).body("ClassId=1"),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
        ),
        (
            "oversized body",
            app.client
                .post(app.url("/localrecord/v1/tasks"))
                .json(&json!({ "ClassId": 1, "Pad": "x".repeat(100_000) })),
            StatusCode::PAYLOAD_TOO_LARGE,
        ),
    ];
    for (name, req, status) in cases {
        let r = req.header("authorization", app.auth("alice")).send().await.unwrap();
        assert_eq!(r.status(), status, "{name}");
        let (code, msg) = error_of(r).await;
        assert!(
            code == codes::INVALID_PARAMETER || code == codes::TOO_LARGE,
            "{name}: {code}"
        );
        assert!(!msg.is_empty());
    }
    let task = app.create_task("alice", 1).await;
    for body in [json!({ "SliceCount": -1 }), json!({}), json!({ "SliceCount": 1e9 })] {
        let r = app
            .post_json("alice", &format!("/localrecord/v1/tasks/{task}/stop"), &body)
            .await;
        assert_eq!(r.status(), StatusCode::BAD_REQUEST, "{body}");
        assert_eq!(error_of(r).await.0, codes::INVALID_PARAMETER);
    }
    // The task is untouched by all that.
    assert_eq!(app.task_status("alice", &task).await["State"], "recording");
}

/// `localrecord app create | head -c 0`: a reader that leaves before the command writes ends the
/// command quietly (SIGPIPE, as any Unix tool), not with a panic on stderr.
#[tokio::test]
async fn a_cli_command_piped_into_a_reader_that_left_ends_quietly() {
    use std::os::unix::process::ExitStatusExt;
    let db = fresh_database("lr_pipe").await;
    let data = tempfile::tempdir().unwrap();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_localrecord"))
        .args(["app", "create", "--sdkappid", "1400000077"])
        .env("LOCALRECORD_DATABASE_URL", &db)
        .env("LOCALRECORD_DATA_DIR", data.path())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!err.contains("panicked"), "{err}");
    assert_eq!(out.status.signal(), Some(libc::SIGPIPE), "{err}");
}
