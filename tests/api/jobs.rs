//! The Postgres job queue's own contract, against a real database.

use crate::helpers::*;
use localrecord::jobs::queue;
use serde_json::json;
use std::time::Duration;

const LEASE: Duration = Duration::from_secs(30);

#[tokio::test]
async fn each_job_is_claimed_once_under_contention() {
    let app = spawn_app_with(StoreKind::Fs, |s| s.jobs.enabled = false).await;
    for i in 0..40 {
        queue::enqueue(
            &app.state.db,
            "test",
            &format!("k{i}"),
            &json!({ "i": i }),
            Duration::ZERO,
        )
        .await
        .unwrap();
    }
    let claimers = (0..6).map(|w| {
        let db = app.state.db.clone();
        tokio::spawn(async move {
            let mut got = Vec::new();
            while let Some(j) = queue::claim(&db, &format!("w{w}"), LEASE).await.unwrap() {
                got.push(j.unique_key);
            }
            got
        })
    });
    let mut all: Vec<String> = Vec::new();
    for c in claimers {
        all.extend(c.await.unwrap());
    }
    all.sort();
    all.dedup();
    assert_eq!(all.len(), 40, "every job claimed exactly once");
}

#[tokio::test]
async fn retries_back_off_failures_stick_and_rearming_a_running_job_runs_it_again() {
    let app = spawn_app_with(StoreKind::Fs, |s| s.jobs.enabled = false).await;
    let db = &app.state.db;
    queue::enqueue(db, "test", "k", &json!({ "v": 1 }), Duration::ZERO)
        .await
        .unwrap();
    let j = queue::claim(db, "w1", LEASE).await.unwrap().unwrap();
    assert_eq!(j.attempts, 1);
    // Re-armed while running (a late slice): it runs once more, with the new payload.
    queue::enqueue(db, "test", "k", &json!({ "v": 2 }), Duration::ZERO)
        .await
        .unwrap();
    assert!(
        queue::claim(db, "w2", LEASE).await.unwrap().is_none(),
        "not twice at once"
    );
    queue::complete(db, j.id, j.claim).await.unwrap();
    let j = queue::claim(db, "w2", LEASE)
        .await
        .unwrap()
        .expect("re-armed job runs again");
    assert_eq!(j.payload, json!({ "v": 2 }));

    // A retryable failure waits out its backoff; a permanent one sticks.
    assert!(!queue::fail(db, &j, "store hiccup", queue::Retry::Backoff)
        .await
        .unwrap());
    let st = queue::state_of(db, "k").await.unwrap().unwrap();
    assert_eq!(
        (st.state.as_str(), st.last_error.as_deref()),
        ("queued", Some("store hiccup"))
    );
    assert!(queue::claim(db, "w3", LEASE).await.unwrap().is_none(), "backing off");
    sqlx::query("UPDATE jobs SET run_at = now()").execute(db).await.unwrap();
    let j = queue::claim(db, "w3", LEASE).await.unwrap().unwrap();
    assert!(queue::fail(db, &j, "no readable slice", queue::Retry::No)
        .await
        .unwrap());
    assert_eq!(queue::state_of(db, "k").await.unwrap().unwrap().state, "failed");
    assert!(queue::backoff(1) < queue::backoff(3) && queue::backoff(30) == Duration::from_secs(300));
}

#[tokio::test]
async fn an_expired_lease_is_reaped_and_the_old_worker_loses_the_job() {
    let app = spawn_app_with(StoreKind::Fs, |s| s.jobs.enabled = false).await;
    let db = &app.state.db;
    queue::enqueue(db, "test", "k", &json!({}), Duration::ZERO)
        .await
        .unwrap();
    let j = queue::claim(db, "dying", Duration::from_secs(1))
        .await
        .unwrap()
        .unwrap();
    assert!(queue::heartbeat(db, j.id, j.claim, Duration::from_secs(1))
        .await
        .unwrap());
    assert_eq!(queue::reap(db).await.unwrap(), 0, "a live lease is not reaped");
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(queue::reap(db).await.unwrap(), 1);
    let again = queue::claim(db, "healthy", LEASE).await.unwrap().unwrap();
    assert_eq!((again.id, again.attempts), (j.id, 2));
    assert!(
        !queue::heartbeat(db, j.id, j.claim, LEASE).await.unwrap(),
        "the old worker is told"
    );
    assert!(
        !queue::complete(db, j.id, j.claim).await.unwrap(),
        "ignored: not its claim any more"
    );
    assert_eq!(queue::state_of(db, "k").await.unwrap().unwrap().state, "running");
    assert!(queue::complete(db, again.id, again.claim).await.unwrap());
    assert_eq!(queue::state_of(db, "k").await.unwrap().unwrap().state, "done");
}

#[tokio::test]
async fn a_bad_job_fails_alone_and_the_worker_goes_on() {
    let app = spawn_app().await;
    queue::enqueue(&app.state.db, "no-such-kind", "bad", &json!({}), Duration::ZERO)
        .await
        .unwrap();
    queue::enqueue(
        &app.state.db,
        "splice",
        "splice:missing-task",
        &json!({ "task_id": "missing-task" }),
        Duration::ZERO,
    )
    .await
    .unwrap();
    let mut states = (None, None);
    for _ in 0..100 {
        states = (
            queue::state_of(&app.state.db, "bad").await.unwrap().map(|s| s.state),
            queue::state_of(&app.state.db, "splice:missing-task")
                .await
                .unwrap()
                .map(|s| (s.state, s.last_error)),
        );
        if states.0.as_deref() == Some("failed") && states.1.as_ref().is_some_and(|s| s.0 == "failed") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(states.0.as_deref(), Some("failed"));
    let (st, err) = states.1.unwrap();
    assert_eq!(st, "failed");
    assert!(err.unwrap().contains("is gone"));
}
