//! `/metrics`: the Prometheus exposition parses, and its values move with the work done.

use crate::callbacks::record;
use crate::faults::wait_task;
use crate::helpers::*;
use std::collections::HashMap;

const TOKEN: &str = "metrics-token-for-tests";

/// `name{labels}` -> value, from the text exposition format; panics on a malformed line.
fn parse(text: &str) -> HashMap<String, f64> {
    let mut out = HashMap::new();
    for line in text.lines().filter(|l| !l.is_empty()) {
        if let Some(rest) = line.strip_prefix('#') {
            let words: Vec<&str> = rest.split_whitespace().collect();
            assert!(
                matches!(words.first(), Some(&"HELP") | Some(&"TYPE")),
                "bad comment: {line}"
            );
            if words[0] == "TYPE" {
                assert!(
                    ["counter", "gauge", "histogram"].contains(&words[2]),
                    "bad type: {line}"
                );
            }
            continue;
        }
        let (series, value) = line.rsplit_once(' ').unwrap_or_else(|| panic!("no value: {line}"));
        assert!(series.starts_with("localrecord_"), "unprefixed: {line}");
        if let Some((_, labels)) = series.split_once('{') {
            assert!(labels.ends_with('}'), "bad labels: {line}");
        }
        let v: f64 = value.parse().unwrap_or_else(|_| panic!("bad value: {line}"));
        assert!(out.insert(series.to_owned(), v).is_none(), "repeated series: {line}");
    }
    out
}

async fn scrape(app: &TestApp, url: &str, token: Option<&str>) -> (reqwest::StatusCode, String) {
    let mut req = app.client.get(url);
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    let r = req.send().await.unwrap();
    (r.status(), r.text().await.unwrap())
}

#[tokio::test]
async fn metrics_parse_and_move_with_uploads_splices_and_queries() {
    let app = spawn_app_with(StoreKind::Fs, |s| {
        s.metrics.token = Some(TOKEN.into());
        s.jobs.poll_interval_ms = 50;
    })
    .await;
    register_secret(TOKEN);
    let url = app.url("/metrics");
    assert_eq!(scrape(&app, &url, None).await.0, 401);
    assert_eq!(scrape(&app, &url, Some("wrong")).await.0, 401);
    let (status, text) = scrape(&app, &url, Some(TOKEN)).await;
    assert_eq!(status, 200);
    let before = parse(&text);
    assert_eq!(before["localrecord_db_pool_max_connections"], 10.0);

    let task = record(&app).await;
    let st = wait_task(&app, &task, 120, |st| st["State"] == "done").await;
    let size = st["Slices"][0]["Size"].as_f64().unwrap();
    let exp = localrecord::auth::now() + 60;
    let sign = localrecord::auth::query_sign::sign(&app.keys.tic_key, exp);
    let q = app.url(&format!(
        "/paas/v1/localrecord/query?sdkappid={SDKAPPID}&sign={sign}&expire_time={exp}&random=1"
    ));
    let r = app
        .client
        .post(q)
        .json(&serde_json::json!({"class_id": 1212, "size": 10}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);

    let after = parse(&scrape(&app, &url, Some(TOKEN)).await.1);
    let moved = |k: &str| after[k] - before[k];
    assert_eq!(moved("localrecord_received_bytes_total"), size);
    assert_eq!(moved("localrecord_slices_stored_total"), 1.0);
    assert!(moved("localrecord_patch_seconds_count") >= 1.0);
    assert_eq!(moved("localrecord_splices_total{outcome=\"done\"}"), 1.0);
    assert_eq!(moved("localrecord_splice_seconds_count"), 1.0);
    assert!(moved("localrecord_job_attempts_total") >= 1.0);
    assert_eq!(moved("localrecord_query_seconds_count"), 1.0);
    assert_eq!(after["localrecord_uploads_in_flight"], 0.0);
    assert_eq!(after["localrecord_splice_queue_depth"], 0.0);
    // Buckets are cumulative and end with the count.
    assert_eq!(
        after["localrecord_query_seconds_bucket{le=\"+Inf\"}"],
        after["localrecord_query_seconds_count"]
    );
}

#[tokio::test]
async fn a_listener_of_its_own_serves_metrics_without_a_token() {
    let port = free_port();
    let app = spawn_app_with(StoreKind::Fs, |s| {
        s.metrics.listen = Some(format!("127.0.0.1:{port}").parse().unwrap())
    })
    .await;
    let (status, text) = scrape(&app, &format!("http://127.0.0.1:{port}/metrics"), None).await;
    assert_eq!(status, 200);
    assert!(parse(&text).contains_key("localrecord_jobs_reaped_total"));
    // The API listener does not serve it without a token configured.
    assert_eq!(scrape(&app, &app.url("/metrics"), None).await.0, 404);
}

/// Holds a PATCH open on `url` after sending `sent` of `len` bytes (a recorder mid-chunk).
async fn hanging_patch(app: &TestApp, url: &str, len: usize, sent: usize) -> tokio::net::TcpStream {
    use tokio::io::AsyncWriteExt;
    let path = reqwest::Url::parse(url).unwrap().path().to_owned();
    let mut s = tokio::net::TcpStream::connect(app.addr).await.unwrap();
    let head = format!(
        "PATCH {path} HTTP/1.1\r\nHost: {}\r\nTus-Resumable: 1.0.0\r\nAuthorization: {}\r\nContent-Type: application/offset+octet-stream\r\nUpload-Offset: 0\r\nContent-Length: {len}\r\n\r\n",
        app.addr,
        app.auth("alice"),
    );
    s.write_all(head.as_bytes()).await.unwrap();
    s.write_all(&bytes(sent, 3)).await.unwrap();
    s.flush().await.unwrap();
    s
}

/// Scrapes until `check` holds on the parsed values (gauges move when the work does, not at once).
async fn scrape_until(
    app: &TestApp,
    what: &str,
    check: impl Fn(&HashMap<String, f64>) -> bool,
) -> HashMap<String, f64> {
    let until = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let m = parse(&scrape(app, &app.url("/metrics"), Some(TOKEN)).await.1);
        if check(&m) {
            return m;
        }
        assert!(std::time::Instant::now() < until, "{what} never showed: {m:?}");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

/// The gauges and counters the first test leaves still: an upload in flight, a splice waiting in
/// the queue, a job whose worker died (reaped by another instance, which then splices it), the
/// callback delivered, and the database pool's connections.
#[tokio::test]
async fn metrics_show_uploads_in_flight_the_queue_reaps_and_callbacks() {
    let tweak = |jobs: bool| {
        move |s: &mut localrecord::config::Settings| {
            s.metrics.token = Some(TOKEN.into());
            s.jobs.enabled = jobs;
            s.jobs.poll_interval_ms = 50;
            s.callback.allow_private = true;
        }
    };
    // An instance without job workers: what it queues stays queued.
    let app = spawn_app_with(StoreKind::Fs, tweak(false)).await;
    register_secret(TOKEN);
    let receiver = crate::callbacks::Receiver::start(free_port(), &app.keys.webhook_secret, vec![]).await;
    crate::callbacks::register(&app, &receiver.url).await;
    let before = parse(&scrape(&app, &app.url("/metrics"), Some(TOKEN)).await.1);
    assert_eq!(before["localrecord_uploads_in_flight"], 0.0);

    let open = app.create_task("alice", 77).await;
    let r = app.tus_create("alice", &open, 0, 3000).await;
    assert_eq!(r.status(), 201);
    let stream = hanging_patch(&app, &location(&r), 3000, 1000).await;
    scrape_until(&app, "an upload in flight", |m| {
        m["localrecord_uploads_in_flight"] == 1.0
    })
    .await;
    drop(stream);
    scrape_until(&app, "the upload's end", |m| m["localrecord_uploads_in_flight"] == 0.0).await;

    let task = record(&app).await;
    scrape_until(&app, "a queued splice", |m| m["localrecord_splice_queue_depth"] == 1.0).await;
    // A worker took the job and died: its lease ran out.
    let claimed = sqlx::query(
        "UPDATE jobs SET state = 'running', worker = 'a-dead-instance', attempts = attempts + 1,
                claim_id = gen_random_uuid(), lease_until = now() - interval '1 second'
         WHERE unique_key = 'splice:' || $1",
    )
    .bind(&task)
    .execute(&app.state.db)
    .await
    .unwrap();
    assert_eq!(claimed.rows_affected(), 1);
    // An instance with workers reaps it, splices, and calls back.
    let _worker = spawn_instance_with(&app, tweak(true)).await;
    wait_task(&app, &task, 120, |st| st["State"] == "done").await;
    receiver.wait_for(1, 30).await;
    let after = scrape_until(&app, "the delivery counted", |m| {
        m["localrecord_callback_deliveries_total{outcome=\"delivered\"}"]
            > before["localrecord_callback_deliveries_total{outcome=\"delivered\"}"]
    })
    .await;
    let moved = |k: &str| after[k] - before[k];
    assert_eq!(moved("localrecord_jobs_reaped_total"), 1.0);
    assert_eq!(moved("localrecord_splices_total{outcome=\"done\"}"), 1.0);
    assert_eq!(
        moved("localrecord_callback_deliveries_total{outcome=\"delivered\"}"),
        1.0
    );
    assert_eq!(moved("localrecord_callback_deliveries_total{outcome=\"failed\"}"), 0.0);
    assert_eq!(after["localrecord_splice_queue_depth"], 0.0);
    let pool = after["localrecord_db_pool_connections{state=\"busy\"}"]
        + after["localrecord_db_pool_connections{state=\"idle\"}"];
    assert!(
        pool >= 1.0 && pool <= after["localrecord_db_pool_max_connections"],
        "{after:?}"
    );
}
