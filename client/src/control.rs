//! The seed's local control API: `POST /localrecord/v1/{CMD}` on 127.0.0.1:37604 with a JSON body,
//! answered `{"Response":{...}}` or `{"Response":{"Error":{"Code":-1000x,"Message":"..."}}}`.
//! Answers are HTTP 200 even for refusals, because the seed's JavaScript only reads the body of a
//! 200. Web pages may call it (CORS, including Chrome's Private Network Access preflight).

use crate::api::codes;
use crate::recorder::{CtlError, Recorder, StartParams};
use crate::server::Credentials;
use axum::extract::{Path, State};
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use serde_json::{json, Value};
use std::sync::Arc;
use tokio::sync::Notify;
use tower_http::cors::{AllowOrigin, CorsLayer};

#[derive(Clone)]
struct Ctl {
    rec: Arc<Recorder>,
    exit: Arc<Notify>,
}

/// The API. `exit` is notified after an `Exit` command has been answered. `origins`: the web
/// origins allowed to call it (empty: any, as the seed's desktop service does).
pub fn router(rec: Arc<Recorder>, exit: Arc<Notify>, origins: &[String]) -> Router {
    let allow = if origins.is_empty() {
        AllowOrigin::any()
    } else {
        AllowOrigin::list(origins.iter().filter_map(|o| HeaderValue::from_str(o).ok()))
    };
    let cors = CorsLayer::new()
        .allow_origin(allow)
        .allow_methods([Method::POST, Method::OPTIONS])
        .allow_headers([header::CONTENT_TYPE])
        .allow_private_network(true);
    Router::new()
        .route("/localrecord/v1/{cmd}", post(command))
        .layer(cors)
        .with_state(Ctl { rec, exit })
}

fn ok(body: Value) -> Response {
    axum::Json(json!({ "Response": body })).into_response()
}

fn refuse(e: CtlError) -> Response {
    ok(json!({ "Error": { "Code": e.code, "Message": e.message } }))
}

fn bad(msg: impl Into<String>) -> CtlError {
    CtlError::new(codes::INVALID_PARAMETER, msg)
}

async fn command(State(ctl): State<Ctl>, Path(cmd): Path<String>, body: axum::body::Bytes) -> Response {
    let args: Value = if body.iter().all(u8::is_ascii_whitespace) {
        json!({})
    } else {
        match serde_json::from_slice(&body) {
            Ok(v @ Value::Object(_)) => v,
            Ok(_) => return refuse(bad("the body must be a JSON object")),
            Err(e) => return refuse(bad(format!("the body is not JSON: {e}"))),
        }
    };
    let r = match cmd.as_str() {
        "Init" => init(&ctl.rec, &args).await.map(|_| json!({})),
        "StartRecord" => match serde_json::from_value::<StartParams>(args) {
            Ok(p) => ctl.rec.start(p).await.map(|id| json!({ "TaskId": id })),
            Err(e) => Err(bad(format!("StartRecord: {e}"))),
        },
        "StopRecord" => ctl.rec.stop().await.map(|id| json!({ "TaskId": id })),
        "PauseRecord" => ctl.rec.pause().await.map(|_| json!({})),
        "ResumeRecord" => ctl.rec.resume().await.map(|_| json!({})),
        "GetState" => Ok(state(&ctl.rec).await),
        "Exit" => {
            if ctl.rec.recorded_ms().await.is_some() {
                let _ = ctl.rec.stop().await;
            }
            ctl.exit.notify_one();
            Ok(json!({}))
        }
        other => {
            let mut r = refuse(bad(format!("unknown command {other}")));
            *r.status_mut() = StatusCode::NOT_FOUND;
            return r;
        }
    };
    match r {
        Ok(v) => ok(v),
        Err(e) => refuse(e),
    }
}

/// Init: `SdkAppId` (number), `UserId` (string; a number is taken as its digits), `UserSig`.
async fn init(rec: &Recorder, a: &Value) -> Result<(), CtlError> {
    let sdk_app_id = match &a["SdkAppId"] {
        Value::Number(n) => n.as_u64(),
        Value::String(s) => s.parse().ok(),
        _ => None,
    }
    .filter(|n| *n > 0)
    .ok_or_else(|| bad("SdkAppId is required (a positive integer)"))?;
    let user_id = match &a["UserId"] {
        Value::String(s) if !s.is_empty() => s.clone(),
        Value::Number(n) => n.to_string(),
        _ => return Err(bad("UserId is required")),
    };
    let user_sig = a["UserSig"]
        .as_str()
        .filter(|s| !s.is_empty())
        .ok_or_else(|| bad("UserSig is required"))?
        .to_owned();
    rec.init(Credentials {
        sdk_app_id,
        user_id,
        user_sig,
    })
    .await
}

async fn state(rec: &Recorder) -> Value {
    let s = rec.state().await;
    let uploads: Vec<Value> = s
        .uploads
        .iter()
        .map(|u| {
            json!({
                "Id": u.task_id,
                "State": u.state,
                "Duration": u.uploaded_ms / 1000,
                "Total": u.total_ms / 1000,
                "IsCurrentRecoding": s.current_task.as_deref() == Some(u.task_id.as_str()),
            })
        })
        .collect();
    json!({
        "Auth": { "UserId": s.user_id, "State": s.auth.as_str() },
        "Record": { "State": s.record, "Duration": s.recorded_secs },
        "Upload": uploads,
    })
}
