//! The business-server APIs of the TIC seed: the signed query and RegisteredCallback.

use crate::helpers::*;
use localrecord::auth::query_sign::sign;
use localrecord_client::api::codes;
use reqwest::StatusCode;
use serde_json::{json, Value};

/// 300 spliced recordings: classes 1..=3 (150, 100, 50), users u0..u3, plus unspliced tasks that
/// must never show.
async fn seed_recordings(app: &TestApp) {
    sqlx::query(
        "INSERT INTO tasks (task_id, sdk_app_id, class_id, user_id, state, start_time, video_output_id, video_output_key,
                            video_output_size, video_output_duration_ms, splic_time)
         SELECT format('t-%s', lpad(i::text, 4, '0')), $1,
                CASE WHEN i < 150 THEN 1 WHEN i < 250 THEN 2 ELSE 3 END,
                format('u%s', i % 4), 'done',
                timestamptz '2026-01-01' + make_interval(secs => (i / 3) * 60),
                (1000000000000000000 + i)::text, 'k', 1000 + i, 60000 + i, timestamptz '2026-01-02'
         FROM generate_series(0, 299) AS i",
    )
    .bind(SDKAPPID)
    .execute(&app.state.db)
    .await
    .unwrap();
    sqlx::query("INSERT INTO tasks (task_id, sdk_app_id, class_id, user_id) VALUES ('live-1', $1, 1, 'u0')")
        .bind(SDKAPPID)
        .execute(&app.state.db)
        .await
        .unwrap();
}

async fn query(app: &TestApp, body: Value) -> (StatusCode, Value) {
    let exp = localrecord::auth::now() + 120;
    query_signed(app, SDKAPPID, &sign(&app.keys.tic_key, exp), exp, body).await
}

async fn query_signed(app: &TestApp, appid: i64, sig: &str, exp: i64, mut body: Value) -> (StatusCode, Value) {
    if body.is_object() && body.get("expire_time").is_none() {
        body["expire_time"] = json!(exp);
    }
    let url = app.url(&format!(
        "/paas/v1/localrecord/query?sdkappid={appid}&sign={sig}&expire_time={exp}&random=42"
    ));
    let r = app.client.post(url).json(&body).send().await.unwrap();
    let status = r.status();
    (status, r.json().await.unwrap())
}

fn ids(v: &Value) -> Vec<String> {
    v["record_info_list"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["TaskId"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn pages_cover_every_record_once_in_a_stable_order() {
    let app = spawn_app().await;
    seed_recordings(&app).await;
    for (class, total) in [(1, 150), (2, 100), (3, 50)] {
        for size in [1, 7, 50, 100] {
            let mut seen = Vec::new();
            let mut index = 0;
            loop {
                let (st, v) = query(
                    &app,
                    json!({ "class_id": class, "user_id": "", "task_id": "", "Index": index, "size": size }),
                )
                .await;
                assert_eq!(st, StatusCode::OK);
                assert_eq!((v["error_code"].as_i64(), v["error_msg"].as_str()), (Some(0), Some("")));
                assert_eq!(v["total"], total);
                let page = ids(&v);
                assert_eq!(page.len() as i64, size.min(total - index));
                seen.extend(page);
                index += size;
                assert_eq!(v["finish"], index >= total, "class {class} size {size} index {index}");
                if index >= total {
                    break;
                }
            }
            let mut sorted = seen.clone();
            sorted.sort();
            sorted.dedup();
            assert_eq!(sorted.len() as i64, total, "no record twice, none missing");
            assert_eq!(seen, sorted, "stable order: start time, then task id");
        }
    }
    // Past the end: an empty, finished page.
    let (_, v) = query(&app, json!({ "class_id": 3, "Index": 50, "size": 10 })).await;
    assert_eq!(
        (v["finish"].as_bool(), ids(&v).len(), v["total"].as_i64()),
        (Some(true), 0, Some(50))
    );
    let (_, v) = query(&app, json!({ "class_id": 3, "Index": 5000, "size": 10 })).await;
    assert_eq!((v["finish"].as_bool(), ids(&v).len()), (Some(true), 0));
    // A class with nothing.
    let (_, v) = query(&app, json!({ "class_id": 99, "Index": 0, "size": 10 })).await;
    assert_eq!((v["total"].as_i64(), v["finish"].as_bool()), (Some(0), Some(true)));
}

#[tokio::test]
async fn filters_and_the_record_fields() {
    let app = spawn_app().await;
    seed_recordings(&app).await;
    let (_, v) = query(&app, json!({ "class_id": 2, "user_id": "u1", "Index": 0, "size": 100 })).await;
    assert_eq!(v["total"], 25);
    assert!(v["record_info_list"]
        .as_array()
        .unwrap()
        .iter()
        .all(|r| r["UserId"] == "u1" && r["RoomId"] == 2));
    let (_, v) = query(
        &app,
        json!({ "class_id": 1, "task_id": "t-0007", "Index": 0, "size": 10 }),
    )
    .await;
    assert_eq!(v["total"], 1);
    let r = &v["record_info_list"][0];
    let keys: Vec<&str> = r.as_object().unwrap().keys().map(String::as_str).collect();
    let mut want = vec![
        "RoomId",
        "UserId",
        "TaskId",
        "StartTime",
        "SplicTime",
        "VideoOutputType",
        "VideoOutputId",
        "VideoOutputUrl",
        "VideoOutputSize",
        "VideoOutputDuration",
    ];
    want.sort();
    let mut got = keys.clone();
    got.sort();
    assert_eq!(got, want, "exactly the seed's fields");
    assert_eq!(r["TaskId"], "t-0007");
    assert_eq!(r["UserId"], "u3");
    assert_eq!(r["VideoOutputType"], "mp4");
    assert_eq!(r["VideoOutputSize"], 1007);
    assert_eq!(r["VideoOutputDuration"], 60007);
    assert_eq!(r["StartTime"], 1767225600 + 120);
    assert_eq!(
        r["VideoOutputUrl"],
        app.url("/localrecord/v1/recordings/1000000000000000007.mp4")
    );
    // Both filters at once, and a task of another class: nothing.
    let (_, v) = query(
        &app,
        json!({ "class_id": 1, "user_id": "u3", "task_id": "t-0007", "Index": 0, "size": 10 }),
    )
    .await;
    assert_eq!(v["total"], 1);
    let (_, v) = query(
        &app,
        json!({ "class_id": 2, "task_id": "t-0007", "Index": 0, "size": 10 }),
    )
    .await;
    assert_eq!(v["total"], 0);
}

#[tokio::test]
async fn the_seeds_signature_is_accepted_and_bad_input_is_refused_clearly() {
    let app = spawn_app().await;
    seed_recordings(&app).await;
    // The seed's example: TicKey DzXp..., expire 1548247837, sign 28374bd8.... The signature is
    // accepted (the answer is "expired", not "bad sign"): that moment has passed.
    sqlx::query("UPDATE apps SET tic_key = 'DzXpbluRsmo1JkoFxzKMNg5ifrA4GRlU'")
        .execute(&app.state.db)
        .await
        .unwrap();
    let (st, v) = query_signed(
        &app,
        SDKAPPID,
        "28374bd8cff400ac4906414780fbe387",
        1548247837,
        json!({ "class_id": 1, "Index": 0, "size": 2 }),
    )
    .await;
    assert_eq!(
        (st, v["error_code"].as_i64()),
        (StatusCode::UNAUTHORIZED, Some(1004)),
        "{v}"
    );
    let tic = "DzXpbluRsmo1JkoFxzKMNg5ifrA4GRlU";
    let now = localrecord::auth::now();
    let good = |exp: i64| sign(tic, exp);
    let ok_body = json!({ "class_id": 1, "Index": 0, "size": 2 });
    let cases: Vec<(&str, i64, String, i64, Value, u16, i64)> = vec![
        (
            "wrong sign",
            SDKAPPID,
            flip_first(&good(now + 60)),
            now + 60,
            ok_body.clone(),
            401,
            1003,
        ),
        (
            "sign of another expire",
            SDKAPPID,
            good(now + 61),
            now + 60,
            ok_body.clone(),
            401,
            1003,
        ),
        ("expired", SDKAPPID, good(now - 1), now - 1, ok_body.clone(), 401, 1004),
        (
            "too far ahead",
            SDKAPPID,
            good(now + 90_000),
            now + 90_000,
            ok_body.clone(),
            401,
            1004,
        ),
        (
            "unknown app",
            1499999999,
            good(now + 60),
            now + 60,
            ok_body.clone(),
            401,
            1002,
        ),
        (
            "negative Index",
            SDKAPPID,
            good(now + 60),
            now + 60,
            json!({ "class_id": 1, "Index": -1, "size": 2 }),
            400,
            1001,
        ),
        (
            "size 0",
            SDKAPPID,
            good(now + 60),
            now + 60,
            json!({ "class_id": 1, "Index": 0, "size": 0 }),
            400,
            1001,
        ),
        (
            "huge size",
            SDKAPPID,
            good(now + 60),
            now + 60,
            json!({ "class_id": 1, "Index": 0, "size": 1_000_000 }),
            400,
            1001,
        ),
        (
            "huge Index",
            SDKAPPID,
            good(now + 60),
            now + 60,
            json!({ "class_id": 1, "Index": 1e30, "size": 2 }),
            400,
            1001,
        ),
        (
            "class_id a string",
            SDKAPPID,
            good(now + 60),
            now + 60,
            json!({ "class_id": "one", "Index": 0, "size": 2 }),
            400,
            1001,
        ),
        (
            "class_id missing",
            SDKAPPID,
            good(now + 60),
            now + 60,
            json!({ "Index": 0, "size": 2 }),
            400,
            1001,
        ),
        (
            "user_id a number",
            SDKAPPID,
            good(now + 60),
            now + 60,
            json!({ "class_id": 1, "user_id": 5, "Index": 0, "size": 2 }),
            400,
            1001,
        ),
        (
            "body expire differs",
            SDKAPPID,
            good(now + 60),
            now + 60,
            json!({ "class_id": 1, "Index": 0, "size": 2, "expire_time": now + 61 }),
            400,
            1001,
        ),
        (
            "body not an object",
            SDKAPPID,
            good(now + 60),
            now + 60,
            json!([1, 2]),
            400,
            1001,
        ),
    ];
    for (name, appid, sig, exp, body, status, code) in cases {
        let (st, v) = query_signed(&app, appid, &sig, exp, body).await;
        assert_eq!(
            (st.as_u16(), v["error_code"].as_i64()),
            (status, Some(code)),
            "{name}: {v}"
        );
        assert!(!v["error_msg"].as_str().unwrap().is_empty(), "{name}");
        assert_eq!(v["record_info_list"], json!([]), "{name}");
    }
    // Not JSON at all, an oversized body, missing URL parameters.
    let exp = now + 60;
    let url = app.url(&format!(
        "/paas/v1/localrecord/query?sdkappid={SDKAPPID}&sign={}&expire_time={exp}",
        good(exp)
    ));
    let r = app.client.post(&url).body("{class_id:").send().await.unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert_eq!(r.json::<Value>().await.unwrap()["error_code"], 1001);
    let r = app
        .client
        .post(&url)
        .body(format!("{{\"pad\":\"{}\"}}", "x".repeat(100_000)))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(r.json::<Value>().await.unwrap()["error_code"], 1001);
    let r = app
        .client
        .post(app.url("/paas/v1/localrecord/query?sdkappid=1"))
        .json(&ok_body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert!(r.json::<Value>().await.unwrap()["error_msg"]
        .as_str()
        .unwrap()
        .contains("expire_time"));
}

fn flip_first(hex: &str) -> String {
    let first = if hex.starts_with('0') { '1' } else { '0' };
    format!("{first}{}", &hex[1..])
}

async fn register(app: &TestApp, user: &str, body: Value) -> reqwest::Response {
    let q = format!(
        "sdkappid={SDKAPPID}&identifier={user}&usersig={}&random=123&contenttype=json",
        app.usersig(user)
    );
    app.client
        .post(app.url(&format!("/v4/ilvb_edu/local_record?{q}")))
        .json(&body)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn registered_callback_as_the_seed_has_it() {
    let app = spawn_app().await;
    // A public address (a literal IP: this machine has no DNS for the internet).
    let r = register(
        &app,
        "administrator",
        json!({ "Action": "RegisteredCallback", "CallbackUrl": "http://93.184.216.34/hook?x=1" }),
    )
    .await;
    assert_eq!(r.status(), StatusCode::OK);
    let v: Value = r.json().await.unwrap();
    assert!(v["Response"]["RequestId"].is_string());
    assert_eq!(v["Response"]["WebhookSecret"], app.keys.webhook_secret.as_str());
    let app_row = localrecord::db::apps::get(&app.state.db, SDKAPPID)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(app_row.callback_url.as_deref(), Some("http://93.184.216.34/hook?x=1"));

    let refused = [
        (
            "a recorder, not an admin",
            "alice",
            json!({ "Action": "RegisteredCallback", "CallbackUrl": "http://93.184.216.34/" }),
            403,
            codes::FORBIDDEN,
        ),
        (
            "unknown Action",
            "administrator",
            json!({ "Action": "DeleteEverything", "CallbackUrl": "http://93.184.216.34/" }),
            400,
            codes::INVALID_PARAMETER,
        ),
        (
            "no URL",
            "administrator",
            json!({ "Action": "RegisteredCallback" }),
            400,
            codes::INVALID_PARAMETER,
        ),
        (
            "not a URL",
            "administrator",
            json!({ "Action": "RegisteredCallback", "CallbackUrl": "www.example.com" }),
            400,
            codes::INVALID_PARAMETER,
        ),
        (
            "ftp",
            "administrator",
            json!({ "Action": "RegisteredCallback", "CallbackUrl": "ftp://93.184.216.34/" }),
            400,
            codes::INVALID_PARAMETER,
        ),
        (
            "loopback",
            "administrator",
            json!({ "Action": "RegisteredCallback", "CallbackUrl": "http://127.0.0.1:8080/" }),
            400,
            codes::INVALID_PARAMETER,
        ),
        (
            "localhost",
            "administrator",
            json!({ "Action": "RegisteredCallback", "CallbackUrl": "http://localhost/" }),
            400,
            codes::INVALID_PARAMETER,
        ),
        (
            "private",
            "administrator",
            json!({ "Action": "RegisteredCallback", "CallbackUrl": "https://10.1.2.3/" }),
            400,
            codes::INVALID_PARAMETER,
        ),
        (
            "cloud metadata",
            "administrator",
            json!({ "Action": "RegisteredCallback", "CallbackUrl": "http://169.254.169.254/latest" }),
            400,
            codes::INVALID_PARAMETER,
        ),
        (
            "IPv6 loopback",
            "administrator",
            json!({ "Action": "RegisteredCallback", "CallbackUrl": "http://[::1]/" }),
            400,
            codes::INVALID_PARAMETER,
        ),
        (
            "wrong type",
            "administrator",
            json!({ "Action": "RegisteredCallback", "CallbackUrl": 5 }),
            400,
            codes::INVALID_PARAMETER,
        ),
    ];
    for (name, user, body, status, code) in refused {
        let r = register(&app, user, body).await;
        assert_eq!(r.status().as_u16(), status, "{name}");
        assert_eq!(error_of(r).await.0, code, "{name}");
    }
    let app_row = localrecord::db::apps::get(&app.state.db, SDKAPPID)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        app_row.callback_url.as_deref(),
        Some("http://93.184.216.34/hook?x=1"),
        "refusals changed nothing"
    );

    // Development setups may allow private addresses explicitly.
    let dev = spawn_app_with(StoreKind::Fs, |s| s.callback.allow_private = true).await;
    let r = register(
        &dev,
        "administrator",
        json!({ "Action": "RegisteredCallback", "CallbackUrl": "http://127.0.0.1:9/hook" }),
    )
    .await;
    assert_eq!(r.status(), StatusCode::OK);
}
