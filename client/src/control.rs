//! The seed's local control API: `POST /localrecord/v1/{CMD}` on 127.0.0.1:37604 with a JSON body,
//! answered `{"Response":{...}}` or `{"Response":{"Error":{"Code":-1000x,"Message":"..."}}}`.
//! Answers are HTTP 200 even for refusals, because the seed's JavaScript only reads the body of a
//! 200. Who may call it at all is `guard`'s business: loopback `Host`, JSON bodies only, and web
//! pages only from allowed origins (CORS, including Chrome's Private Network Access preflight).
//! The CloudRoom mixer commands (`mixer_cmd`) sit beside the TIC ones; their notifications are
//! Server-Sent Events on `GET /localrecord/v1/Events` (`events`), the only GET.

mod events;
mod guard;
mod mixer_cmd;
pub mod mixers;

pub use guard::{parse_origin, Access, BadOrigin};
pub use mixer_cmd::{answer as mixer_answer, Layout, MixerCmd};
pub use mixers::{MixerEnv, MixerEvent, Mixers};

use crate::api::{codes, Envelope};
use crate::recorder::{CtlError, Recorder, StartParams};
use crate::server::Credentials;
use axum::extract::{Request, State};
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Router;
use serde_json::{json, Value};
use std::sync::atomic::AtomicUsize;
use std::sync::Arc;
use tokio::sync::Notify;

/// The seed's commands; every other path is unknown (404).
const COMMANDS: [&str; 7] = [
    "Init",
    "StartRecord",
    "StopRecord",
    "PauseRecord",
    "ResumeRecord",
    "GetState",
    "Exit",
];

/// Bodies are a few hundred bytes; anything much larger is not the seed's protocol.
const MAX_BODY: usize = 64 * 1024;

#[derive(Clone)]
struct Ctl {
    rec: Arc<Recorder>,
    mixers: Arc<Mixers>,
    exit: Arc<Notify>,
    access: Arc<Access>,
    event_clients: Arc<AtomicUsize>,
}

/// The API. `exit` is notified after an `Exit` command has been answered (every mixer destroyed
/// by then). `access`: the port it listens on and the web origins allowed to call it.
pub fn router(rec: Arc<Recorder>, mixers: Arc<Mixers>, exit: Arc<Notify>, access: Access) -> Router {
    // One handler sees every request, so no path, method or header escapes the checks.
    Router::new().fallback(handle).with_state(Ctl {
        rec,
        mixers,
        exit,
        access: Arc::new(access),
        event_clients: Arc::default(),
    })
}

async fn handle(State(ctl): State<Ctl>, req: Request) -> Response {
    let origin = match guard::admit(&ctl.access, req.headers()) {
        Ok(o) => o,
        Err(refused) => return refused.into_response(),
    };
    let mut r = answer(&ctl, origin.as_ref(), req).await;
    guard::decorate(&mut r, origin);
    r
}

async fn answer(ctl: &Ctl, origin: Option<&axum::http::HeaderValue>, req: Request) -> Response {
    let cmd = req
        .uri()
        .path()
        .strip_prefix("/localrecord/v1/")
        .filter(|c| COMMANDS.contains(c) || mixer_cmd::COMMANDS.contains(c) || *c == "Events")
        .map(str::to_owned);
    let Some(cmd) = cmd else {
        let mut r = refuse(bad(format!("unknown command {}", req.uri().path())));
        *r.status_mut() = StatusCode::NOT_FOUND;
        return r;
    };
    match *req.method() {
        Method::GET if cmd == "Events" => return events::stream(&ctl.mixers, &ctl.event_clients),
        _ if cmd == "Events" => return guard::refusal(StatusCode::METHOD_NOT_ALLOWED, "use GET"),
        Method::OPTIONS => return guard::preflight(origin),
        Method::POST => {}
        _ => return guard::refusal(StatusCode::METHOD_NOT_ALLOWED, "use POST"),
    }
    if !guard::is_json(req.headers()) {
        return guard::refusal(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "send Content-Type: application/json",
        );
    }
    match axum::body::to_bytes(req.into_body(), MAX_BODY).await {
        Ok(body) => command(ctl, &cmd, &body).await,
        Err(_) => guard::refusal(StatusCode::PAYLOAD_TOO_LARGE, "the body is too large"),
    }
}

fn ok(body: Value) -> Response {
    axum::Json(Envelope { response: body }).into_response()
}

fn refuse(e: CtlError) -> Response {
    axum::Json(guard::error_envelope(e.code, e.message)).into_response()
}

fn bad(msg: impl Into<String>) -> CtlError {
    CtlError::new(codes::INVALID_PARAMETER, msg)
}

async fn command(ctl: &Ctl, cmd: &str, body: &[u8]) -> Response {
    if mixer_cmd::COMMANDS.contains(&cmd) {
        let r = match MixerCmd::parse(cmd, body) {
            Ok(c) => c.run(&ctl.mixers).await,
            Err(e) => Err(e),
        };
        if let Err(e) = &r {
            tracing::info!("{cmd} refused: {e}");
        }
        return axum::Json(mixer_cmd::answer(&r)).into_response();
    }
    let args: Value = if body.iter().all(u8::is_ascii_whitespace) {
        json!({})
    } else {
        match serde_json::from_slice(body) {
            Ok(v @ Value::Object(_)) => v,
            Ok(_) => return refuse(bad("the body must be a JSON object")),
            Err(e) => return refuse(bad(format!("the body is not JSON: {e}"))),
        }
    };
    let r = match cmd {
        "Init" => init(&ctl.rec, &args).await.map(|_| json!({})),
        "StartRecord" => match serde_json::from_value::<StartParams>(args) {
            Ok(p) => ctl.rec.start(p).await.map(|id| json!({ "TaskId": id })),
            Err(e) => Err(bad(format!("StartRecord: {e}"))),
        },
        "StopRecord" => ctl.rec.stop().await.map(|id| json!({ "TaskId": id })),
        "PauseRecord" => ctl.rec.pause().await.map(|_| json!({})),
        "ResumeRecord" => ctl.rec.resume().await.map(|_| json!({})),
        "GetState" => {
            let mut v = state(&ctl.rec).await;
            v["Mixers"] = json!(ctl.mixers.views().await);
            Ok(v)
        }
        "Exit" => {
            ctl.mixers.destroy_all().await;
            if ctl.rec.recorded_ms().await.is_some() {
                let _ = ctl.rec.stop().await;
            }
            ctl.exit.notify_one();
            Ok(json!({}))
        }
        other => Err(bad(format!("unknown command {other}"))),
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
            let mut v = json!({
                "Id": u.task_id,
                "State": u.state,
                "Duration": u.uploaded_ms / 1000,
                "Total": u.total_ms / 1000,
                "IsCurrentRecoding": s.current_task.as_deref() == Some(u.task_id.as_str()),
            });
            // Ours, not the seed's: why the server refused the task, or the last attempt failed.
            if let Some(r) = &u.reason {
                v["Reason"] = json!(r);
            }
            v
        })
        .collect();
    json!({
        "Auth": { "UserId": s.user_id, "State": s.auth.as_str() },
        "Record": { "State": s.record, "Duration": s.recorded_secs },
        "Upload": uploads,
    })
}
