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

/// `serve`'s own JSON lines after one recording (two slices through the real recorder's uploader,
/// the stop, the splice, the callback): one `slice stored` line per slice (size and MD5 of the
/// file, how long storing it took), one `recording spliced` line with its duration (`splice_ms`), one `callback attempt`
/// line with the receiver's status and its duration (`ms`), each naming the task.
#[tokio::test]
async fn serve_logs_a_line_per_slice_stored_splice_and_callback_attempt() {
    use localrecord_client::server::{Credentials, ServerClient};
    use localrecord_client::upload::{journal::Journal, Options};
    let bin = env!("CARGO_BIN_EXE_localrecord");
    let backing = Backing::new(StoreKind::Fs).await;
    let dir = tempfile::tempdir().unwrap();
    let env = vec![
        ("LOCALRECORD_DATABASE_URL".to_owned(), backing.db_url.clone()),
        (
            "LOCALRECORD_DATA_DIR".to_owned(),
            backing.data_dir.path().display().to_string(),
        ),
    ];
    let keys = app_create_cli(bin, SDKAPPID, &env);
    let key = |k: &str| keys[k].as_str().unwrap().to_owned();
    for k in ["SecretKey", "TicKey", "WebhookSecret"] {
        register_secret(&key(k));
    }
    let log = dir.path().join("serve.log");
    let port = free_port();
    let mut child = std::process::Command::new(bin)
        .arg("serve")
        .envs(env.iter().map(|(k, v)| (k, v)))
        .env("LOCALRECORD_LISTEN", format!("127.0.0.1:{port}"))
        .env("LOCALRECORD_LOG_FORMAT", "json")
        .env("LOCALRECORD_CALLBACK_ALLOW_PRIVATE", "true")
        .env("LOCALRECORD_JOBS_POLL_INTERVAL_MS", "50")
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let base = format!("http://127.0.0.1:{port}");
    let http = reqwest::Client::new();
    let until = Instant::now() + Duration::from_secs(30);
    while http.get(format!("{base}/health")).send().await.is_err() {
        assert!(Instant::now() < until, "serve did not come up");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let receiver = crate::callbacks::Receiver::start(free_port(), &key("WebhookSecret"), vec![]).await;
    let q = format!(
        "sdkappid={SDKAPPID}&identifier=administrator&usersig={}&random=1&contenttype=json",
        usersig_for(&key("SecretKey"), "administrator")
    );
    let r = http
        .post(format!("{base}/v4/ilvb_edu/local_record?{q}"))
        .json(&serde_json::json!({ "Action": "RegisteredCallback", "CallbackUrl": receiver.url }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);

    let creds = Credentials {
        sdk_app_id: SDKAPPID as u64,
        user_id: "alice".into(),
        user_sig: usersig_for(&key("SecretKey"), "alice"),
    };
    let client = ServerClient::new(&base, creds);
    let req = localrecord_client::api::CreateTask {
        class_id: 8080,
        ..Default::default()
    };
    let task = client.create_task(&req).await.unwrap();
    let journal = Journal::open(&dir.path().join("journal")).unwrap();
    let mut files = Vec::new();
    for i in 0..2 {
        let spec = crate::media::SliceSpec {
            secs: 2.0,
            ..Default::default()
        };
        let f = crate::media::make_slice(dir.path(), &format!("{i}.flv"), &spec);
        client
            .upload_slice(&journal, &task, i, &f, &Options::default())
            .await
            .unwrap();
        files.push(std::fs::read(f).unwrap());
    }
    client.stop_task(&task, 2).await.unwrap();
    receiver.wait_for(1, 60).await;

    // The attempt's line is written once the receiver has answered.
    let of_task = |message: &str| -> Vec<Value> {
        std::fs::read_to_string(&log)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str::<Value>(l).unwrap_or_else(|e| panic!("not a JSON line ({e}): {l}")))
            .filter(|l| l["fields"]["message"] == message && l["fields"]["task"] == task.as_str())
            .collect()
    };
    let until = Instant::now() + Duration::from_secs(30);
    while of_task("callback attempt").is_empty() {
        assert!(Instant::now() < until, "no callback attempt logged");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let _ = child.kill();
    let _ = child.wait();

    let mut stored = of_task("slice stored");
    stored.sort_by_key(|l| l["fields"]["index"].as_i64());
    assert_eq!(stored.len(), 2, "{stored:?}");
    for (i, (line, data)) in stored.iter().zip(&files).enumerate() {
        let f = &line["fields"];
        assert_eq!(f["index"], i as i64, "{line}");
        assert_eq!(f["size"], data.len() as i64, "{line}");
        assert_eq!(f["md5"], md5_hex(data), "{line}");
        assert!(f["ms"].is_u64(), "how long storing it took: {line}");
    }
    let spliced = of_task("recording spliced");
    assert_eq!(spliced.len(), 1, "{spliced:?}");
    assert!(spliced[0]["fields"]["splice_ms"].is_u64(), "{}", spliced[0]);
    assert_eq!(spliced[0]["fields"]["state"], "done", "{}", spliced[0]);
    let attempts = of_task("callback attempt");
    assert_eq!(attempts.len(), 1, "{attempts:?}");
    assert_eq!(attempts[0]["fields"]["status"], 200, "{}", attempts[0]);
    assert!(attempts[0]["fields"]["ms"].is_u64(), "{}", attempts[0]);
}
