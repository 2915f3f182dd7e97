//! Issue 11's server findings 4, 6 and 7 and the secrets rules: where callbacks may go and what
//! the delivery log tells, quotas, the query sign's lifetime and replays, expiring recording URLs,
//! key rotation, and secrets kept out of logs and error bodies.

use crate::callbacks::{attempts, callback_app, delivery_log_when, record, register, Receiver};
use crate::faults::wait_task;
use crate::helpers::*;
use localrecord::auth::query_sign::sign;
use localrecord_client::api::codes;
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::time::{Duration, Instant};

async fn query(app: &TestApp, tic_key: &str, expire: i64, random: Option<i64>) -> (StatusCode, Value) {
    let random = random.map(|r| format!("&random={r}")).unwrap_or_default();
    let url = app.url(&format!(
        "/paas/v1/localrecord/query?sdkappid={SDKAPPID}&sign={}&expire_time={expire}{random}",
        sign(tic_key, expire)
    ));
    let r = app
        .client
        .post(url)
        .json(&json!({ "class_id": 1212, "size": 10, "expire_time": expire }))
        .send()
        .await
        .unwrap();
    let status = r.status();
    (status, r.json().await.unwrap())
}

/// Polls `probe` until it gives `want` (the server caches apps for a moment after a change).
async fn eventually<F, Fut>(what: &str, want: StatusCode, probe: F)
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = StatusCode>,
{
    let until = Instant::now() + Duration::from_secs(20);
    loop {
        let got = probe().await;
        if got == want {
            return;
        }
        assert!(Instant::now() < until, "{what}: {got}, wanted {want}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test]
async fn the_delivery_log_shows_a_class_of_failure_not_what_answered() {
    let app = callback_app(vec![0, 60]).await;
    // Nothing listens there: the transport's own words would say "Connection refused (os error
    // 111)" for a closed port and something else for a filtered one, which is a port scanner.
    register(&app, &format!("http://127.0.0.1:{}/hook", free_port())).await;
    let task = record(&app).await;
    let log = delivery_log_when(&app, &task, |l| attempts(l) >= 1).await;
    let a = &log["Attempts"][0];
    assert_eq!(a["Status"], Value::Null, "{log}");
    assert_eq!(a["Error"], "connection failed", "{log}");
}

#[tokio::test]
async fn a_callback_url_that_now_leads_inside_is_refused_at_delivery() {
    // Public addresses only (the default); the URL was vetted at registration, then its name came
    // to resolve to loopback (here: set directly, as a DNS change would).
    let app = spawn_app_with(StoreKind::Fs, |s| {
        s.callback.retry_schedule_secs = vec![0, 60];
        s.jobs.poll_interval_ms = 50;
    })
    .await;
    let rx = Receiver::start(free_port(), &app.keys.webhook_secret, vec![]).await;
    let inside = rx.url.replace("127.0.0.1", "localhost");
    localrecord::db::apps::set_callback_url(&app.state.db, SDKAPPID, &inside)
        .await
        .unwrap();
    let task = record(&app).await;
    let log = delivery_log_when(&app, &task, |l| attempts(l) >= 1).await;
    assert_eq!(log["Attempts"][0]["Error"], "refused: internal address", "{log}");
    assert!(rx.deliveries().is_empty(), "a callback reached loopback");

    // The same for an IPv6 form of an internal IPv4 address (NAT64).
    let r = app
        .client
        .post(app.url(&format!(
            "/v4/ilvb_edu/local_record?sdkappid={SDKAPPID}&identifier=administrator&usersig={}&random=1",
            app.usersig("administrator")
        )))
        .json(&json!({ "Action": "RegisteredCallback", "CallbackUrl": "http://[64:ff9b::a9fe:a9fe]/latest" }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let (code, msg) = error_of(r).await;
    assert_eq!(code, codes::INVALID_PARAMETER);
    assert!(msg.contains("internal address"), "{msg}");
}

#[tokio::test]
async fn quotas_refuse_with_the_documented_error_and_store_nothing() {
    let app = spawn_app_with(StoreKind::Fs, |s| {
        s.quota.open_tasks_per_user = 2;
        s.quota.partial_bytes_per_user = 1000;
        s.quota.slices_per_task = 3;
        s.quota.stored_bytes_per_app = 1500;
    })
    .await;
    let count = |table: &'static str| {
        let db = app.state.db.clone();
        async move {
            sqlx::query_scalar::<_, i64>(&format!("SELECT count(*) FROM {table}"))
                .fetch_one(&db)
                .await
                .unwrap()
        }
    };

    // Open tasks per user.
    let t1 = app.create_task("alice", 1).await;
    let _t2 = app.create_task("alice", 2).await;
    let r = app
        .post_json("alice", "/localrecord/v1/tasks", &json!({ "ClassId": 3 }))
        .await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let (code, msg) = error_of(r).await;
    assert_eq!(code, codes::QUOTA_EXCEEDED);
    assert!(msg.contains("open_tasks_per_user"), "{msg}");
    assert_eq!(count("tasks").await, 2);
    app.create_task("bob", 3).await; // another user's quota is their own

    // Bytes announced by unfinished uploads, per user: 429 with Retry-After, nothing created.
    let r = app.tus_create("alice", &t1, 0, 600).await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let first = location(&r);
    let r = app.tus_create("alice", &t1, 1, 600).await;
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(r.headers().contains_key("retry-after"));
    assert_eq!(error_of(r).await.0, codes::QUOTA_EXCEEDED);
    assert_eq!(count("uploads").await, 1);

    // Slices per task: index 3 of at most 3.
    let r = app.tus_create("alice", &t1, 3, 10).await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert_eq!(error_of(r).await.0, codes::QUOTA_EXCEEDED);
    let r = app.stop_task("alice", &t1, 4).await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert_eq!(error_of(r).await.0, codes::QUOTA_EXCEEDED);

    // Finishing the first upload frees its announcement and stores 600 bytes; 1000 more would
    // put the app over its 1500 stored bytes: 507, which the recorder retries.
    let r = app.tus_patch("alice", &first, 0, bytes(600, 1), true).await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    let r = app.tus_create("alice", &t1, 1, 1000).await;
    assert_eq!(r.status(), StatusCode::INSUFFICIENT_STORAGE);
    assert!(r.headers().contains_key("retry-after"));
    assert_eq!(error_of(r).await.0, codes::QUOTA_EXCEEDED);
    let r = app.tus_create("alice", &t1, 1, 900).await;
    assert_eq!(r.status(), StatusCode::CREATED, "900 fits");
    assert_eq!(count("slices").await, 1);

    // A stopped task is no longer open.
    assert_eq!(app.stop_task("alice", &t1, 2).await.status(), StatusCode::OK);
    app.create_task("alice", 4).await;
}

#[tokio::test]
async fn a_query_sign_lives_300_s_and_with_the_replay_cache_serves_once() {
    let app = spawn_app().await;
    let now = localrecord::auth::now();
    let (status, v) = query(&app, &app.keys.tic_key, now + 3600, Some(1)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{v}");
    assert_eq!(v["error_code"], 1004, "an hour ahead is beyond the default 300 s: {v}");
    let (status, v) = query(&app, &app.keys.tic_key, now + 200, Some(1)).await;
    assert_eq!((status, v["error_code"].clone()), (StatusCode::OK, json!(0)), "{v}");
    // Without the replay cache the same URL works twice (the seed's behaviour).
    assert_eq!(
        query(&app, &app.keys.tic_key, now + 200, Some(1)).await.0,
        StatusCode::OK
    );

    let app = spawn_app_with(StoreKind::Fs, |s| s.query.replay_cache = true).await;
    let tic = app.keys.tic_key.clone();
    assert_eq!(query(&app, &tic, now + 200, Some(7)).await.0, StatusCode::OK);
    let (status, v) = query(&app, &tic, now + 200, Some(7)).await;
    assert_eq!(
        (status, v["error_code"].clone()),
        (StatusCode::UNAUTHORIZED, json!(1006)),
        "{v}"
    );
    assert_eq!(
        query(&app, &tic, now + 200, Some(8)).await.0,
        StatusCode::OK,
        "a new random"
    );
    let (status, v) = query(&app, &tic, now + 200, None).await;
    assert_eq!(
        (status, v["error_code"].clone()),
        (StatusCode::BAD_REQUEST, json!(1001)),
        "{v}"
    );
}

#[tokio::test]
async fn recording_urls_can_be_made_to_expire() {
    let app = spawn_app_with(StoreKind::Fs, |s| {
        s.query.recording_url_ttl_secs = 600;
        s.jobs.poll_interval_ms = 50;
    })
    .await;
    let task = record(&app).await;
    let st = wait_task(&app, &task, 120, |st| st["State"] == "done").await;
    let url = st["VideoOutputUrl"].as_str().unwrap().to_owned();
    assert!(url.contains("?expires=") && url.contains("&sig="), "{url}");
    // The query API hands out the same kind of URL.
    let exp = localrecord::auth::now() + 100;
    let (_, v) = query(&app, &app.keys.tic_key, exp, Some(3)).await;
    let listed = v["record_info_list"][0]["VideoOutputUrl"].as_str().unwrap().to_owned();
    assert!(listed.contains("&sig="), "{v}");

    // Range still works on a signed URL.
    let r = app.client.get(&url).header("range", "bytes=0-99").send().await.unwrap();
    assert_eq!(r.status(), StatusCode::PARTIAL_CONTENT);
    assert_eq!(r.bytes().await.unwrap().len(), 100);

    let bare = url.split('?').next().unwrap().to_owned();
    // The signature's last hex digit changed (to one it is not).
    let last = if url.ends_with('0') { '1' } else { '0' };
    let tampered = format!("{}{last}", &url[..url.len() - 1]);
    let id = st["VideoOutputId"].as_str().unwrap();
    let past = localrecord::auth::now() - 1;
    let expired = {
        use hmac::{Hmac, Mac};
        let mut mac = Hmac::<sha2::Sha256>::new_from_slice(app.keys.tic_key.as_bytes()).unwrap();
        mac.update(format!("recording:{id}:{past}").as_bytes());
        format!("{bare}?expires={past}&sig={}", hex::encode(mac.finalize().into_bytes()))
    };
    for (what, u) in [("unsigned", &bare), ("tampered", &tampered), ("expired", &expired)] {
        let r = app.client.get(u).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::FORBIDDEN, "{what}");
        assert_eq!(error_of(r).await.0, codes::FORBIDDEN, "{what}");
    }
}

fn rotate(app: &TestApp, args: &[&str]) -> Value {
    let sdkappid = SDKAPPID.to_string();
    let v = app.app_cli(&[&["rotate", "--sdkappid", &sdkappid], args].concat());
    for k in ["SecretKey", "TicKey", "WebhookSecret"] {
        register_secret(v[k].as_str().unwrap());
    }
    v
}

/// The recorder's Init check (`POST /localrecord/v1/auth`) with a UserSig made with `secret_key`;
/// it creates nothing, so polling it cannot run into a quota.
async fn init_with(app: &TestApp, secret_key: &str) -> StatusCode {
    let sig = localrecord::auth::usersig::generate(
        SDKAPPID as u64,
        secret_key,
        "alice",
        600,
        localrecord::auth::now(),
        None,
    );
    register_secret(&sig);
    app.client
        .post(app.url("/localrecord/v1/auth"))
        .header(
            "authorization",
            format!("UserSig sdkappid={SDKAPPID},identifier=alice,usersig={sig}"),
        )
        .send()
        .await
        .unwrap()
        .status()
}

#[tokio::test]
async fn rotated_keys_keep_working_for_the_overlap_and_not_after() {
    let app = callback_app(vec![0, 1, 1]).await;
    let old = app.keys.clone();
    let out = rotate(
        &app,
        &[
            "--secret-key",
            "--tic-key",
            "--webhook-secret",
            "--overlap-secs",
            "3600",
        ],
    );
    let (new_secret, new_tic) = (out["SecretKey"].as_str().unwrap(), out["TicKey"].as_str().unwrap());
    assert_ne!(new_secret, old.secret_key);
    assert_ne!(new_tic, old.tic_key);
    assert_ne!(out["WebhookSecret"], old.webhook_secret.as_str());

    // Both keys sign UserSigs and query signs during the overlap.
    eventually("new SecretKey", StatusCode::OK, || init_with(&app, new_secret)).await;
    assert_eq!(init_with(&app, &old.secret_key).await, StatusCode::OK);
    let exp = localrecord::auth::now() + 100;
    assert_eq!(query(&app, new_tic, exp, Some(1)).await.0, StatusCode::OK);
    assert_eq!(query(&app, &old.tic_key, exp, Some(2)).await.0, StatusCode::OK);

    // Callbacks carry a signature per secret: receivers holding either verify.
    let rx_old = Receiver::start(free_port(), &old.webhook_secret, vec![]).await;
    register(&app, &rx_old.url).await;
    record(&app).await;
    let got = rx_old.wait_for(1, 120).await;
    assert!(got[0].signature_ok, "the old secret no longer verifies");
    let rx_new = Receiver::start(free_port(), out["WebhookSecret"].as_str().unwrap(), vec![]).await;
    register(&app, &rx_new.url).await;
    record(&app).await;
    assert!(
        rx_new.wait_for(1, 120).await[0].signature_ok,
        "the new secret does not verify"
    );

    // Rotating with no overlap revokes the replaced key at once; the first key is long gone.
    let again = rotate(&app, &["--secret-key", "--overlap-secs", "0"]);
    let newest = again["SecretKey"].as_str().unwrap();
    eventually("revoked SecretKey", StatusCode::UNAUTHORIZED, || {
        init_with(&app, new_secret)
    })
    .await;
    assert_eq!(init_with(&app, &old.secret_key).await, StatusCode::UNAUTHORIZED);
    assert_eq!(init_with(&app, newest).await, StatusCode::OK);
}

#[tokio::test]
async fn secrets_never_reach_logs_or_error_bodies() {
    let app = callback_app(vec![0, 1]).await;
    let secrets = [
        app.keys.secret_key.clone(),
        app.keys.tic_key.clone(),
        app.keys.webhook_secret.clone(),
    ];
    let mut bodies = Vec::new();

    // A UserSig made with the wrong key, one for another app, an expired one.
    let now = localrecord::auth::now();
    for (appid, key, expire) in [
        (SDKAPPID, "0123456789abcdef0123456789abcdef", 600),
        (SDKAPPID + 1, app.keys.secret_key.as_str(), 600),
        (SDKAPPID, app.keys.secret_key.as_str(), 1),
    ] {
        let sig = localrecord::auth::usersig::generate(appid as u64, key, "alice", expire, now - 10, None);
        register_secret(&sig);
        let r = app
            .client
            .post(app.url(&format!(
                "/localrecord/v1/tasks?sdkappid={appid}&identifier=alice&usersig={sig}"
            )))
            .json(&json!({ "ClassId": 1 }))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
        bodies.push(r.text().await.unwrap());
    }
    // A query with a wrong sign, one signed with the TicKey but expired.
    let (_, v) = query(&app, "not-the-tic-key-at-all", now + 100, Some(1)).await;
    bodies.push(v.to_string());
    let (_, v) = query(&app, &app.keys.tic_key, now - 5, Some(1)).await;
    bodies.push(v.to_string());
    // A callback that fails, then one delivered; a RegisteredCallback answer is allowed to carry
    // the webhook secret (it is how an admin learns it) and so is not checked.
    register(&app, &format!("http://127.0.0.1:{}/hook", free_port())).await;
    let task = record(&app).await;
    delivery_log_when(&app, &task, |l| attempts(l) >= 1).await;
    let log = app
        .client
        .get(app.url(&format!("/localrecord/v1/tasks/{task}/callbacks")))
        .header("authorization", app.auth("administrator"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    bodies.push(log);

    for body in &bodies {
        for s in &secrets {
            assert!(!body.contains(s.as_str()), "a secret in an answer: {body}");
        }
    }
    // The check is live: the server logged through it, and it knows these secrets.
    assert!(log_lines() > 10, "only {} log lines seen", log_lines());
    assert!(holds_secret(&format!("key={}", app.keys.tic_key)));
    assert_no_secret_in_logs();
}
