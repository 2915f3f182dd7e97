//! Deletion for good: an admin's DELETE and the per-app retention job. Objects and rows of the
//! deleted recording are gone, every other recording is untouched, and the audit log says who did
//! what.

use crate::callbacks::record;
use crate::faults::wait_task;
use crate::helpers::*;
use reqwest::StatusCode;
use serde_json::Value;
use std::time::{Duration, Instant};

async fn done_recording(app: &TestApp) -> (String, String) {
    let task = record(app).await;
    let st = wait_task(app, &task, 120, |st| st["State"] == "done").await;
    (task, st["VideoOutputUrl"].as_str().unwrap().to_owned())
}

/// Objects under the task's slice and recording prefixes, and its rows in every table.
async fn leftovers(app: &TestApp, task: &str) -> (usize, i64) {
    let mut objects = 0;
    for prefix in [format!("slices/{task}/"), format!("recordings/{task}/")] {
        objects += app.state.store.list(&prefix).await.unwrap().len();
    }
    let rows: i64 = sqlx::query_scalar(
        "SELECT (SELECT count(*) FROM tasks WHERE task_id = $1) + (SELECT count(*) FROM slices WHERE task_id = $1)
              + (SELECT count(*) FROM uploads WHERE task_id = $1) + (SELECT count(*) FROM callback_attempts WHERE task_id = $1)
              + (SELECT count(*) FROM jobs WHERE unique_key = 'splice:' || $1)",
    )
    .bind(task)
    .fetch_one(&app.state.db)
    .await
    .unwrap();
    (objects, rows)
}

async fn audit(app: &TestApp) -> Vec<Value> {
    let r = app
        .client
        .get(app.url("/localrecord/v1/audit?Index=0&Size=50"))
        .header("authorization", app.auth("administrator"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    r.json::<Value>().await.unwrap()["Response"]["Entries"]
        .as_array()
        .unwrap()
        .clone()
}

async fn status_of(app: &TestApp, url: &str) -> StatusCode {
    app.client.get(url).send().await.unwrap().status()
}

#[tokio::test]
async fn an_admin_deletes_one_recording_and_nothing_else() {
    let app = spawn_app_with(StoreKind::Fs, |s| s.jobs.poll_interval_ms = 50).await;
    let (a, a_url) = done_recording(&app).await;
    let (b, b_url) = done_recording(&app).await;
    assert_eq!(status_of(&app, &a_url).await, StatusCode::OK);
    assert!(leftovers(&app, &a).await.0 >= 2, "slice and MP4 stored");

    let delete = |user: &'static str, task: String| {
        let app = &app;
        async move {
            app.client
                .delete(app.url(&format!("/localrecord/v1/tasks/{task}")))
                .header("authorization", app.auth(user))
                .send()
                .await
                .unwrap()
        }
    };
    let r = delete("alice", a.clone()).await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN, "only admins delete");
    let r = delete("administrator", a.clone()).await;
    assert_eq!(r.status(), StatusCode::OK);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["Response"]["TaskId"], a.as_str());
    assert!(v["Response"]["DeletedObjects"].as_u64().unwrap() >= 2, "{v}");

    assert_eq!(
        leftovers(&app, &a).await,
        (0, 0),
        "objects and rows of the deleted recording"
    );
    assert_eq!(status_of(&app, &a_url).await, StatusCode::NOT_FOUND);
    assert_eq!(delete("administrator", a.clone()).await.status(), StatusCode::NOT_FOUND);
    // The other recording is untouched.
    assert_eq!(status_of(&app, &b_url).await, StatusCode::OK);
    assert_eq!(app.task_status("alice", &b).await["State"], "done");
    assert!(leftovers(&app, &b).await.0 >= 2);

    let entries = audit(&app).await;
    let e = &entries[0];
    assert_eq!(
        (e["Actor"].as_str(), e["Action"].as_str()),
        (Some("administrator"), Some("delete")),
        "{entries:?}"
    );
    assert_eq!(e["Target"], a.as_str());
    // Non-admins do not read the audit log.
    let r = app
        .client
        .get(app.url("/localrecord/v1/audit"))
        .header("authorization", app.auth("alice"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn retention_deletes_recordings_older_than_the_apps_days() {
    let app = spawn_app_with(StoreKind::Fs, |s| {
        s.jobs.poll_interval_ms = 50;
        s.jobs.retention_interval_secs = 1;
    })
    .await;
    let (old, old_url) = done_recording(&app).await;
    let (new, new_url) = done_recording(&app).await;
    // Retention is per app: another app's recording as old, in an app with no retention, stays.
    let other = crate::console_support::OtherApp::create(&app);
    let others = other.create_task(&app, "bob", 1212).await;
    sqlx::query("UPDATE tasks SET start_time = now() - interval '3 days' WHERE task_id = ANY($1)")
        .bind([old.clone(), others.clone()])
        .execute(&app.state.db)
        .await
        .unwrap();
    // Without a retention set, nothing goes.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let (objects, rows) = leftovers(&app, &old).await;
    assert!(
        objects >= 2 && rows >= 3,
        "kept without a retention: {objects} objects, {rows} rows"
    );

    let out = app.app_cli(&["retention", "--sdkappid", &SDKAPPID.to_string(), "--days", "2"]);
    assert_eq!(out["RetentionDays"], 2);

    let until = Instant::now() + Duration::from_secs(60);
    while leftovers(&app, &old).await != (0, 0) {
        assert!(
            Instant::now() < until,
            "retention never deleted {old}: {:?}",
            leftovers(&app, &old).await
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(status_of(&app, &old_url).await, StatusCode::NOT_FOUND);
    assert_eq!(status_of(&app, &new_url).await, StatusCode::OK);
    assert_eq!(app.task_status("alice", &new).await["State"], "done");
    let kept = localrecord::db::tasks::get(&app.state.db, &others).await.unwrap();
    assert!(
        kept.is_some(),
        "another app's recording was deleted by this app's retention"
    );

    let entries = audit(&app).await;
    let did = |actor: &str, action: &str, target: &str| {
        entries
            .iter()
            .any(|e| e["Actor"] == actor && e["Action"] == action && e["Target"] == target)
    };
    assert!(did("retention", "retention", &old), "{entries:?}");
    assert!(did("cli", "retention", ""), "{entries:?}");
}
