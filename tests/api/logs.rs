//! Request ids in answers and logs, and the server's JSON log lines.

use crate::helpers::*;
use serde_json::Value;
use std::time::{Duration, Instant};

#[tokio::test]
async fn every_answer_carries_its_request_id_in_the_header_and_the_envelope() {
    let app = spawn_app().await;
    // An error (no credentials) and a success.
    let r = app.client.post(app.url("/localrecord/v1/tasks")).send().await.unwrap();
    let id = r.headers()["x-request-id"].to_str().unwrap().to_owned();
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["Response"]["RequestId"], id.as_str());
    let r = app
        .post_json("alice", "/localrecord/v1/tasks", &serde_json::json!({"ClassId": 5}))
        .await;
    let id = r.headers()["x-request-id"].to_str().unwrap().to_owned();
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["Response"]["RequestId"], id.as_str());
    // A caller's own id is kept when it is a plain token, replaced otherwise.
    for (sent, kept) in [("trace-42_a", true), ("<script>", false)] {
        let r = app
            .client
            .get(app.url("/health"))
            .header("x-request-id", sent)
            .send()
            .await
            .unwrap();
        assert_eq!(r.headers()["x-request-id"] == sent, kept, "{sent}");
    }
}

#[tokio::test]
async fn serve_writes_json_lines_with_the_request_id() {
    let backing = Backing::new(StoreKind::Fs).await;
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("serve.log");
    let port = free_port();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_localrecord"))
        .arg("serve")
        .env("LOCALRECORD_DATABASE_URL", &backing.db_url)
        .env("LOCALRECORD_DATA_DIR", backing.data_dir.path())
        .env("LOCALRECORD_LISTEN", format!("127.0.0.1:{port}"))
        .env_remove("LOCALRECORD_LOG_FORMAT")
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let client = reqwest::Client::new();
    let url = format!("http://127.0.0.1:{port}/health");
    let until = Instant::now() + Duration::from_secs(30);
    while client
        .get(&url)
        .header("x-request-id", "trace-me-1")
        .send()
        .await
        .is_err()
    {
        assert!(Instant::now() < until, "serve did not come up");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let mut found = None;
    while found.is_none() && Instant::now() < until {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let text = std::fs::read_to_string(&log).unwrap();
        let lines: Vec<Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not a JSON line ({e}): {l}")))
            .collect();
        found = lines
            .into_iter()
            .find(|l| l["fields"]["message"] == "request" && l["span"]["request_id"] == "trace-me-1");
    }
    let _ = child.kill();
    let _ = child.wait();
    let line = found.expect("a request line with the request id");
    assert_eq!(line["fields"]["status"], 200, "{line}");
    assert!(line["fields"]["ms"].is_u64(), "{line}");
    assert_eq!(line["span"]["path"], "/health", "{line}");
}
