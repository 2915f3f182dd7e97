//! `GET /openapi.json`: an OpenAPI 3.1 document that covers every route the server mounts, whose
//! operations are all routed, and whose schemas real answers match field for field.

use crate::callbacks::{record, Receiver};
use crate::faults::wait_task;
use crate::helpers::*;
use crate::openapi_support::*;
use localrecord::auth::query_sign::sign;
use reqwest::Method;
use serde_json::{json, Value};

const TOKEN: &str = "metrics-token-for-openapi-tests";

async fn openapi_app() -> TestApp {
    let app = spawn_app_with(StoreKind::Fs, |s| {
        s.metrics.token = Some(TOKEN.into());
        s.callback.allow_private = true;
        s.callback.retry_schedule_secs = vec![1];
        s.jobs.poll_interval_ms = 50;
    })
    .await;
    register_secret(TOKEN);
    app
}

async fn document(app: &TestApp) -> Value {
    let r = app.client.get(app.url("/openapi.json")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "application/json");
    r.json().await.expect("the document is JSON")
}

#[tokio::test]
async fn the_document_is_openapi_3_1_and_covers_every_mounted_route() {
    let app = openapi_app().await;
    let doc = document(&app).await;
    assert!(
        doc["openapi"].as_str().unwrap().starts_with("3.1."),
        "{}",
        doc["openapi"]
    );
    assert_eq!(doc["info"]["title"], "localrecord");
    let mounted = mounted_routes();
    assert!(mounted.len() >= 20, "the source scan found too little: {mounted:?}");
    let documented = documented_routes(&doc);
    let undocumented: Vec<_> = mounted.difference(&documented).collect();
    assert!(
        undocumented.is_empty(),
        "mounted but not in /openapi.json: {undocumented:?}"
    );
    let unmounted: Vec<_> = documented.difference(&mounted).collect();
    assert!(unmounted.is_empty(), "in /openapi.json but not mounted: {unmounted:?}");
    let mut dangling = Vec::new();
    dangling_refs(&doc, &doc, &mut dangling);
    assert!(dangling.is_empty(), "references to nothing: {dangling:?}");
    // The result callback is described as a webhook, and every scheme an operation names exists.
    assert!(doc["webhooks"]["recording-result"]["post"]["requestBody"].is_object());
    let schemes = doc["components"]["securitySchemes"].as_object().unwrap();
    for (p, m) in &documented {
        for req in doc["paths"][p][m]["security"].as_array().into_iter().flatten() {
            for name in req.as_object().unwrap().keys() {
                assert!(schemes.contains_key(name), "{m} {p} names unknown scheme {name}");
            }
        }
    }
}

#[tokio::test]
async fn every_documented_operation_is_routed() {
    let app = openapi_app().await;
    let doc = document(&app).await;
    let task = app.create_task("administrator", 7).await;
    let upload = location(&app.tus_create("administrator", &task, 0, 10).await);
    let upload_id = upload.rsplit('/').next().unwrap().to_owned();
    let mut ops: Vec<_> = documented_routes(&doc).into_iter().collect();
    // Deletions last, so the task and upload exist for everything else.
    ops.sort_by_key(|(p, m)| (m == "delete", p.clone()));
    for (p, m) in ops {
        let url = p
            .replace("{task_id}", &task)
            .replace("{id}", &upload_id)
            .replace("{file}", "1.mp4");
        let auth = match p.as_str() {
            "/metrics" => format!("Bearer {TOKEN}"),
            _ => app.auth("administrator"),
        };
        let r = app
            .client
            .request(Method::from_bytes(m.to_uppercase().as_bytes()).unwrap(), app.url(&url))
            .header("authorization", auth)
            .header("tus-resumable", "1.0.0")
            .json(&json!({}))
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        assert_ne!(status, 405, "{m} {p} is documented but not routed");
        if status == 404 && m != "head" {
            let body = r.text().await.unwrap();
            assert!(
                !body.contains("no such endpoint"),
                "{m} {p} is documented but not routed: {body}"
            );
        }
    }
}

/// Sends `req`; checks that the answer has the documented status and matches its schema exactly.
async fn conforms(doc: &Value, req: reqwest::RequestBuilder, path: &str, method: &str, status: u16) -> Value {
    let r = req.send().await.unwrap();
    assert_eq!(r.status().as_u16(), status, "{method} {path}");
    let body: Value = r.json().await.unwrap();
    assert_conforms(
        doc,
        response_schema(doc, path, method, status),
        &body,
        &format!("{method} {path} {status}"),
    );
    body
}

#[tokio::test]
async fn real_answers_and_the_callback_match_their_documented_schemas() {
    let app = openapi_app().await;
    let doc = document(&app).await;
    let admin = app.auth("administrator");
    let c = &app.client;
    let receiver = Receiver::start(free_port(), &app.keys.webhook_secret, vec![]).await;
    let register = c
        .post(app.url("/v4/ilvb_edu/local_record"))
        .header("authorization", &admin)
        .json(&json!({ "Action": "RegisteredCallback", "CallbackUrl": receiver.url }));
    conforms(&doc, register, "/v4/ilvb_edu/local_record", "post", 200).await;

    // A real recording: upload, stop, splice, callback.
    let task = record(&app).await;
    wait_task(&app, &task, 120, |s| s["State"] == "done").await;
    let status_path = "/localrecord/v1/tasks/{task_id}";
    let status = c
        .get(app.url(&format!("/localrecord/v1/tasks/{task}")))
        .header("authorization", app.auth("alice"));
    let st = conforms(&doc, status, status_path, "get", 200).await;
    // The check is strict: a renamed, extra or missing field fails it.
    let schema = response_schema(&doc, status_path, "get", 200);
    let mut renamed = st.clone();
    renamed["Response"]["Slices"][0]["MD5"] = renamed["Response"]["Slices"][0]["Md5"].take();
    let mut missing = st.clone();
    missing["Response"].as_object_mut().unwrap().remove("MissingSlices");
    for doctored in [renamed, missing] {
        assert!(
            !violations(&doc, schema, &doctored, "doctored").is_empty(),
            "{doctored}"
        );
    }
    let delivered = receiver.wait_for(1, 60).await;
    let webhook = &doc["webhooks"]["recording-result"]["post"]["requestBody"]["content"]["application/json"]["schema"];
    assert_conforms(&doc, webhook, &delivered[0].body, "the recording-result callback");

    let auth = c
        .post(app.url("/localrecord/v1/auth"))
        .header("authorization", app.auth("alice"));
    let v = conforms(&doc, auth, "/localrecord/v1/auth", "post", 200).await;
    assert_eq!(v["Response"]["UserId"], "alice");
    let created = c
        .post(app.url("/localrecord/v1/tasks"))
        .header("authorization", app.auth("alice"))
        .json(&json!({ "ClassId": 8, "VideoFps": 10 }));
    conforms(&doc, created, "/localrecord/v1/tasks", "post", 200).await;
    let unauthenticated = c.post(app.url("/localrecord/v1/tasks")).json(&json!({ "ClassId": 8 }));
    conforms(&doc, unauthenticated, "/localrecord/v1/tasks", "post", 401).await;

    let exp = localrecord::auth::now() + 60;
    let q = |sig: &str| {
        c.post(app.url(&format!(
            "/paas/v1/localrecord/query?sdkappid={SDKAPPID}&sign={sig}&expire_time={exp}&random=1"
        )))
        .json(&json!({ "class_id": 1212, "size": 10, "expire_time": exp }))
    };
    let page = conforms(
        &doc,
        q(&sign(&app.keys.tic_key, exp)),
        "/paas/v1/localrecord/query",
        "post",
        200,
    )
    .await;
    assert_eq!(page["record_info_list"][0]["TaskId"], task.as_str());
    conforms(&doc, q("0123"), "/paas/v1/localrecord/query", "post", 401).await;

    let log_path = "/localrecord/v1/tasks/{task_id}/callbacks";
    let log = c
        .get(app.url(&format!("/localrecord/v1/tasks/{task}/callbacks")))
        .header("authorization", &admin);
    let v = conforms(&doc, log, log_path, "get", 200).await;
    assert_eq!(v["Response"]["Messages"].as_array().unwrap().len(), 1);
    let redeliver = c
        .post(app.url(&format!("/localrecord/v1/tasks/{task}/callbacks/redeliver")))
        .header("authorization", &admin);
    conforms(&doc, redeliver, &format!("{log_path}/redeliver"), "post", 200).await;
    let audit = c
        .get(app.url("/localrecord/v1/audit?Size=5"))
        .header("authorization", &admin);
    let v = conforms(&doc, audit, "/localrecord/v1/audit", "get", 200).await;
    assert!(v["Response"]["Total"].as_i64().unwrap() >= 2, "{v}");
    let not_admin = c
        .get(app.url("/localrecord/v1/audit"))
        .header("authorization", app.auth("alice"));
    conforms(&doc, not_admin, "/localrecord/v1/audit", "get", 403).await;

    // The MP4, by range, as documented (not JSON).
    let url = st["Response"]["VideoOutputUrl"].as_str().unwrap();
    let r = c.get(url).header("range", "bytes=0-99").send().await.unwrap();
    assert_eq!(r.status(), 206);
    let documented = &doc["paths"]["/localrecord/v1/recordings/{file}"]["get"]["responses"]["206"]["content"];
    assert!(documented.get(r.headers()["content-type"].to_str().unwrap()).is_some());

    let delete = c
        .delete(app.url(&format!("/localrecord/v1/tasks/{task}")))
        .header("authorization", &admin);
    conforms(&doc, delete, status_path, "delete", 200).await;
    let gone = c
        .get(app.url(&format!("/localrecord/v1/tasks/{task}")))
        .header("authorization", &admin);
    conforms(&doc, gone, status_path, "get", 404).await;
    conforms(&doc, c.get(app.url("/health")), "/health", "get", 200).await;
}
