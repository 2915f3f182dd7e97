//! Result callbacks against a real HTTP receiver on loopback, which checks every Standard Webhooks
//! signature itself (its own HMAC, not the server's code).

use crate::helpers::*;
use crate::media::{make_slice, SliceSpec};
use axum::http::{HeaderMap, StatusCode};
use serde_json::{json, Value};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

#[derive(Debug, Clone)]
pub struct Delivery {
    pub id: String,
    pub timestamp: i64,
    pub body: Value,
    pub signature_ok: bool,
    pub at: Instant,
}

/// A webhook receiver: answers each request with the next scripted (status, Retry-After), then 200.
pub struct Receiver {
    pub url: String,
    pub got: Arc<Mutex<Vec<Delivery>>>,
    _stop: tokio::sync::oneshot::Sender<()>,
}

impl Receiver {
    pub async fn start(port: u16, secret: &str, script: Vec<(u16, Option<&'static str>)>) -> Receiver {
        let secret = secret.to_owned();
        let got = Arc::new(Mutex::new(Vec::new()));
        let script = Arc::new(Mutex::new(script));
        let (g, s) = (got.clone(), script.clone());
        let app = axum::Router::new().route(
            "/hook",
            axum::routing::post(move |headers: HeaderMap, body: axum::body::Bytes| {
                let (g, s, secret) = (g.clone(), s.clone(), secret.clone());
                async move {
                    let h = |n: &str| {
                        headers
                            .get(n)
                            .map(|v| v.to_str().unwrap().to_owned())
                            .unwrap_or_default()
                    };
                    let (id, ts) = (h("webhook-id"), h("webhook-timestamp"));
                    let signature_ok = verify_webhook(&secret, &headers, &body);
                    g.lock().unwrap().push(Delivery {
                        id,
                        timestamp: ts.parse().unwrap_or(0),
                        body: serde_json::from_slice(&body).unwrap_or(Value::Null),
                        signature_ok,
                        at: Instant::now(),
                    });
                    let mut s = s.lock().unwrap();
                    let (status, retry_after) = if s.is_empty() { (200, None) } else { s.remove(0) };
                    let mut resp = axum::response::Response::new(axum::body::Body::empty());
                    *resp.status_mut() = StatusCode::from_u16(status).unwrap();
                    if let Some(ra) = retry_after {
                        resp.headers_mut().insert("retry-after", ra.parse().unwrap());
                    }
                    resp
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await.unwrap();
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(async move {
            axum::serve(listener, app)
                .with_graceful_shutdown(async move {
                    rx.await.ok();
                })
                .await
                .ok();
        });
        Receiver {
            url: format!("http://127.0.0.1:{port}/hook"),
            got,
            _stop: tx,
        }
    }

    pub fn deliveries(&self) -> Vec<Delivery> {
        self.got.lock().unwrap().clone()
    }

    pub async fn wait_for(&self, n: usize, secs: u64) -> Vec<Delivery> {
        let deadline = Instant::now() + Duration::from_secs(secs);
        while Instant::now() < deadline {
            if self.deliveries().len() >= n {
                return self.deliveries();
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("{} deliveries, wanted {n}", self.deliveries().len());
    }
}

/// An app whose callbacks may go to loopback, retrying every second (`schedule`).
pub async fn callback_app(schedule: Vec<u64>) -> TestApp {
    spawn_app_with(StoreKind::Fs, move |s| {
        s.callback.allow_private = true;
        s.callback.retry_schedule_secs = schedule;
        s.jobs.poll_interval_ms = 50;
    })
    .await
}

pub async fn register(app: &TestApp, url: &str) {
    let q = format!(
        "sdkappid={SDKAPPID}&identifier=administrator&usersig={}&random=1&contenttype=json",
        app.usersig("administrator")
    );
    let r = app
        .client
        .post(app.url(&format!("/v4/ilvb_edu/local_record?{q}")))
        .json(&json!({ "Action": "RegisteredCallback", "CallbackUrl": url }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{:?}", r.text().await);
}

/// Records a 2 s class: one slice, stop; returns the task id.
pub async fn record(app: &TestApp) -> String {
    let dir = tempfile::tempdir().unwrap();
    let f = make_slice(
        dir.path(),
        "0.flv",
        &SliceSpec {
            secs: 2.0,
            ..Default::default()
        },
    );
    let task = app.create_task("alice", 1212).await;
    app.upload_slice("alice", &task, 0, &std::fs::read(f).unwrap(), 1 << 20)
        .await;
    let r = app.stop_task("alice", &task, 1).await;
    assert_eq!(r.status(), 200);
    task
}

async fn delivery_log(app: &TestApp, task: &str) -> Value {
    let r = app
        .client
        .get(app.url(&format!("/localrecord/v1/tasks/{task}/callbacks")))
        .header("authorization", app.auth("administrator"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    r.json::<Value>().await.unwrap()["Response"].clone()
}

/// The delivery log once `done(log)` holds: the server writes an attempt's row after the receiver
/// has answered, so on a busy machine the log can trail the receiver for a moment.
pub async fn delivery_log_when(app: &TestApp, task: &str, done: impl Fn(&Value) -> bool) -> Value {
    let until = Instant::now() + Duration::from_secs(30);
    loop {
        let log = delivery_log(app, task).await;
        if done(&log) || Instant::now() > until {
            return log;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

pub fn attempts(log: &Value) -> usize {
    log["Attempts"].as_array().map_or(0, |a| a.len())
}

#[tokio::test]
async fn a_result_is_delivered_once_signed_with_real_values() {
    let app = callback_app(vec![0, 1, 1, 1]).await;
    let rx = Receiver::start(free_port(), &app.keys.webhook_secret, vec![]).await;
    register(&app, &rx.url).await;
    let task = record(&app).await;
    let got = rx.wait_for(1, 30).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(rx.deliveries().len(), 1, "exactly once");
    let d = &got[0];
    assert!(d.signature_ok, "Standard Webhooks signature verifies");
    assert!(d.id.starts_with("msg_"));
    assert!((d.timestamp - localrecord::auth::now()).abs() < 30);
    let st = app.task_status("alice", &task).await;
    let b = &d.body;
    for k in [
        "TaskId",
        "VideoOutputId",
        "VideoOutputUrl",
        "VideoOutputSize",
        "VideoOutputDuration",
        "SplicTime",
        "StartTime",
        "UserId",
    ] {
        assert_eq!(b[k], st[k], "{k}");
    }
    assert_eq!(
        (
            b["SdkAppId"].as_i64(),
            b["RoomId"].as_i64(),
            b["VideoOutputType"].as_str()
        ),
        (Some(SDKAPPID), Some(1212), Some("mp4"))
    );
    assert_eq!(b["State"], "done");
    assert!(b["VideoOutputSize"].as_i64().unwrap() > 10_000 && b["VideoOutputDuration"].as_i64().unwrap() > 1900);
    let log = delivery_log_when(&app, &task, |l| attempts(l) >= 1).await;
    assert_eq!(log["Attempts"].as_array().unwrap().len(), 1);
    assert_eq!(log["Attempts"][0]["Status"], 200);
    assert_eq!(log["Messages"][0]["State"], "done");
}

#[tokio::test]
async fn failures_are_retried_with_the_same_webhook_id_and_retry_after_is_honoured() {
    let app = callback_app(vec![0, 1, 1, 1, 1]).await;
    let rx = Receiver::start(
        free_port(),
        &app.keys.webhook_secret,
        vec![(500, None), (503, Some("3")), (502, None)],
    )
    .await;
    register(&app, &rx.url).await;
    let task = record(&app).await;
    let got = rx.wait_for(4, 40).await;
    assert!(
        got.iter().all(|d| d.signature_ok && d.id == got[0].id),
        "one message, signed every time"
    );
    assert!(
        got.windows(2).all(|w| w[1].timestamp >= w[0].timestamp),
        "fresh timestamp per attempt"
    );
    let gap_after_503 = got[2].at - got[1].at;
    assert!(
        gap_after_503 >= Duration::from_millis(2700),
        "Retry-After: 3 honoured ({gap_after_503:?})"
    );
    let log = delivery_log_when(&app, &task, |l| attempts(l) >= 4).await;
    let statuses: Vec<i64> = log["Attempts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["Status"].as_i64().unwrap())
        .collect();
    assert_eq!(statuses, vec![500, 503, 502, 200]);
}

#[tokio::test]
async fn a_receiver_down_at_first_still_gets_it() {
    let app = callback_app(vec![0, 1, 1, 1, 1, 1]).await;
    let port = free_port();
    register(&app, &format!("http://127.0.0.1:{port}/hook")).await;
    let task = record(&app).await;
    // Nothing listens yet: the first attempts are refused.
    for _ in 0..200 {
        if delivery_log(&app, &task).await["Attempts"].as_array().unwrap().len() >= 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let log = delivery_log(&app, &task).await;
    assert!(log["Attempts"][0]["Status"].is_null() && log["Attempts"][0]["Error"].is_string());
    let rx = Receiver::start(port, &app.keys.webhook_secret, vec![]).await;
    let got = rx.wait_for(1, 30).await;
    assert!(got[0].signature_ok);
    assert_eq!(got[0].body["TaskId"], task.as_str());
}

#[tokio::test]
async fn no_delivery_is_lost_when_the_server_restarts_between_attempts() {
    let a = callback_app(vec![0, 4, 1, 1]).await;
    let rx = Receiver::start(free_port(), &a.keys.webhook_secret, vec![(500, None)]).await;
    register(&a, &rx.url).await;
    let task = record(&a).await;
    let first = rx.wait_for(1, 30).await;
    // The server goes down before the retry (due in 4 s) and another instance comes up.
    let b = spawn_instance_with(&a, |s| {
        s.callback.allow_private = true;
        s.callback.retry_schedule_secs = vec![0, 4, 1, 1];
        s.jobs.poll_interval_ms = 50;
    })
    .await;
    drop(a);
    let got = rx.wait_for(2, 30).await;
    assert_eq!(got[1].id, first[0].id, "the same message, by the new instance");
    assert!(got[1].signature_ok);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(rx.deliveries().len(), 2, "and only once more");
    let log = delivery_log_when(&b, &task, |l| l["Messages"][0]["State"] == "done").await;
    assert_eq!(log["Messages"][0]["State"], "done");
}

#[tokio::test]
async fn gone_unregisters_the_url_and_an_admin_can_redeliver() {
    let app = callback_app(vec![0, 1, 1]).await;
    let rx = Receiver::start(free_port(), &app.keys.webhook_secret, vec![(410, None)]).await;
    register(&app, &rx.url).await;
    let task = record(&app).await;
    rx.wait_for(1, 30).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(rx.deliveries().len(), 1, "no retry after 410");
    let row = localrecord::db::apps::get(&app.state.db, SDKAPPID)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(row.callback_url, None, "410 unregistered the URL");
    let redeliver = |user: &'static str| {
        app.client
            .post(app.url(&format!("/localrecord/v1/tasks/{task}/callbacks/redeliver")))
            .header("authorization", app.auth(user))
            .send()
    };
    assert_eq!(
        redeliver("administrator").await.unwrap().status(),
        409,
        "nowhere to deliver"
    );

    // Registered again, the admin redelivers: the same message id arrives.
    register(&app, &rx.url).await;
    assert_eq!(redeliver("alice").await.unwrap().status(), 403, "recorders cannot");
    let r = redeliver("administrator").await.unwrap();
    assert_eq!(r.status(), 200);
    let id = r.json::<Value>().await.unwrap()["Response"]["WebhookId"]
        .as_str()
        .unwrap()
        .to_owned();
    let got = rx.wait_for(2, 30).await;
    assert_eq!(got[1].id, id);
    assert_eq!(got[1].id, got[0].id);
    assert!(got[1].signature_ok);
}

#[tokio::test]
async fn a_failed_recording_is_reported_too() {
    let app = callback_app(vec![0, 1]).await;
    let rx = Receiver::start(free_port(), &app.keys.webhook_secret, vec![]).await;
    register(&app, &rx.url).await;
    let task = app.create_task("alice", 5).await;
    app.upload_slice("alice", &task, 0, b"not a video", 1024).await;
    app.stop_task("alice", &task, 1).await;
    let got = rx.wait_for(1, 30).await;
    let b = &got[0].body;
    assert_eq!(
        (b["State"].as_str(), b["TaskId"].as_str()),
        (Some("failed"), Some(task.as_str()))
    );
    assert!(b["FailureReason"]
        .as_str()
        .unwrap()
        .contains("no slice has a readable video stream"));
    // The seed's fields are all there, with nothing to report.
    assert_eq!(
        (b["VideoOutputSize"].as_i64(), b["VideoOutputUrl"].as_str()),
        (Some(0), Some(""))
    );
}
