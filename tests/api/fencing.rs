//! Stale runs and shutdown with real processes: `localrecord serve` stopped (SIGSTOP) past its lease
//! while it holds a splice, and `serve` told to end (SIGTERM) while a job hangs.

use crate::faults::wait_task;
use crate::helpers::*;
use crate::media::{content_secs, make_slice, SliceSpec};
use localrecord::jobs::queue;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// `localrecord serve` over `other`'s database and store, its log in `log`. The caller owns the
/// process (and kills and waits for it).
#[allow(clippy::zombie_processes)]
async fn serve_process(other: &TestApp, env: &[(&str, &str)], log: &Path) -> Child {
    let port = free_port();
    let b = &other.backing;
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_localrecord"));
    cmd.arg("serve")
        .env("LOCALRECORD_DATABASE_URL", &b.db_url)
        .env("LOCALRECORD_DATA_DIR", b.data_dir.path())
        .env("LOCALRECORD_LISTEN", format!("127.0.0.1:{port}"))
        .env("RUST_LOG", "info,sqlx=warn")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(log).unwrap());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().unwrap();
    for _ in 0..400 {
        if reqwest::get(format!("http://127.0.0.1:{port}/health")).await.is_ok() {
            return child;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let _ = child.kill();
    let _ = child.wait();
    panic!(
        "serve did not come up: {}",
        std::fs::read_to_string(log).unwrap_or_default()
    );
}

async fn wait_log(log: &Path, needle: &str, secs: u64) {
    let until = Instant::now() + Duration::from_secs(secs);
    while !std::fs::read_to_string(log).unwrap_or_default().contains(needle) {
        assert!(Instant::now() < until, "{needle:?} never logged");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn signal(child: &Child, sig: &str) {
    let ok = Command::new("kill")
        .args([&format!("-{sig}"), &child.id().to_string()])
        .status()
        .unwrap()
        .success();
    assert!(ok, "kill -{sig}");
}

async fn upload(app: &TestApp, task: &str, index: i64, f: &PathBuf) {
    app.upload_slice("alice", task, index, &std::fs::read(f).unwrap(), 256 * 1024)
        .await;
}

#[tokio::test]
async fn a_stale_run_cannot_publish_over_a_newer_splice() {
    // A: the API only. B: a worker that abandons idle tasks fast and stalls before publishing.
    let a = spawn_app_with(StoreKind::Fs, |s| s.jobs.enabled = false).await;
    let dir = tempfile::tempdir().unwrap();
    let f = make_slice(dir.path(), "s.flv", &SliceSpec::default());
    let log = dir.path().join("b.log");
    let mut b = serve_process(
        &a,
        &[
            ("LOCALRECORD_JOBS_SPLICE_IDLE_SECS", "1"),
            ("LOCALRECORD_JOBS_LEASE_SECS", "2"),
            ("LOCALRECORD_FAILPOINTS", "splice-before-publish=sleep(3000)"),
        ],
        &log,
    )
    .await;
    let task = a.create_task("alice", 21).await;
    upload(&a, &task, 0, &f).await;
    upload(&a, &task, 1, &f).await;
    // Run 1 (slices 0-1, the recorder silent) reaches the failpoint; then B freezes past its lease.
    wait_log(&log, "failpoint reached", 60).await;
    signal(&b, "STOP");
    // Slice 2 and the stop arrive; another instance reaps run 1 and splices all three.
    upload(&a, &task, 2, &f).await;
    assert_eq!(a.stop_task("alice", &task, 3).await.status(), reqwest::StatusCode::OK);
    let c = spawn_instance_with(&a, |s| {
        s.jobs.lease_secs = 2;
        s.jobs.poll_interval_ms = 50;
    })
    .await;
    let st = wait_task(&c, &task, 60, |st| st["State"] == "done" && st["SliceCount"] == 3).await;
    let newer_key = localrecord::db::tasks::get(&a.state.db, &task)
        .await
        .unwrap()
        .unwrap()
        .video_output_key
        .unwrap();
    // Run 1 wakes up and finishes its stalled work: it must change nothing.
    signal(&b, "CONT");
    let until = Instant::now() + Duration::from_secs(30);
    loop {
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        if text.contains("output was discarded") || text.contains("lease lost") {
            break;
        }
        assert!(Instant::now() < until, "run 1 never noticed: {text}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    let now = c.task_status("alice", &task).await;
    assert_eq!(
        (now["State"].clone(), now["SliceCount"].clone()),
        ("done".into(), 3.into())
    );
    assert_eq!(now["VideoOutputId"], st["VideoOutputId"]);
    let t = localrecord::db::tasks::get(&a.state.db, &task).await.unwrap().unwrap();
    assert_eq!(
        t.video_output_key.as_deref(),
        Some(newer_key.as_str()),
        "run 2's MP4 stays published"
    );
    let recordings = a.state.store.list(&format!("recordings/{task}/")).await.unwrap();
    assert_eq!(recordings, vec![newer_key.clone()], "run 1's output is not kept either");
    let mp4 = a
        .client
        .get(now["VideoOutputUrl"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(mp4.status(), reqwest::StatusCode::OK);
    let body = mp4.bytes().await.unwrap();
    let out = dir.path().join("out.mp4");
    std::fs::write(&out, &body).unwrap();
    assert!((content_secs(&out) - 3.0 * content_secs(&f)).abs() < 0.3);
    let _ = b.kill();
    let _ = b.wait();
}

#[tokio::test]
async fn sigterm_ends_serve_within_its_grace_period_and_the_job_runs_elsewhere() {
    let a = spawn_app_with(StoreKind::Fs, |s| s.jobs.enabled = false).await;
    let dir = tempfile::tempdir().unwrap();
    let f = make_slice(dir.path(), "s.flv", &SliceSpec::default());
    let log = dir.path().join("b.log");
    let mut b = serve_process(
        &a,
        &[
            ("LOCALRECORD_SHUTDOWN_GRACE_SECS", "2"),
            ("LOCALRECORD_FAILPOINTS", "splice-before-publish=sleep(600000)"),
        ],
        &log,
    )
    .await;
    let task = a.create_task("alice", 22).await;
    upload(&a, &task, 0, &f).await;
    a.stop_task("alice", &task, 1).await;
    wait_log(&log, "failpoint reached", 60).await;
    let asked = Instant::now();
    signal(&b, "TERM");
    let status = loop {
        if let Some(s) = b.try_wait().unwrap() {
            break s;
        }
        assert!(
            asked.elapsed() < Duration::from_secs(10),
            "serve still running 10 s after SIGTERM with a 2 s grace period"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(status.success(), "{status:?}");
    let js = queue::state_of(&a.state.db, &format!("splice:{task}"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (js.state.as_str(), js.attempts),
        ("queued", 0),
        "handed back, the attempt not counted"
    );
    let c = spawn_instance(&a).await;
    wait_task(&c, &task, 60, |st| st["State"] == "done").await;
}
