//! `POST /paas/v1/localrecord/query?sdkappid=&sign=&expire_time=&random=` (TIC seed): business
//! servers page through an app's spliced recordings of one class. Signed with
//! `md5(TicKey + expire_time)`; answers in the seed's own shape,
//! `{error_code, error_msg, finish, total, record_info_list}`, errors included.

use crate::auth::query_sign::{self, SignError};
use crate::db::apps::App;
use crate::db::tasks;
use crate::http::AppState;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use serde::Serialize;

mod request;
pub use request::{page_request, params, parse_body, PageRequest, Params};

/// Error codes in `error_code` (0 is success).
pub mod codes {
    pub const INVALID_PARAMETER: i64 = 1001;
    pub const UNKNOWN_APP: i64 = 1002;
    pub const BAD_SIGN: i64 = 1003;
    pub const SIGN_EXPIRED: i64 = 1004;
    pub const INTERNAL: i64 = 1005;
    /// `query.replay_cache`: this `(sign, random)` was already used.
    pub const REPLAYED: i64 = 1006;
}

const MAX_BODY: usize = 16 * 1024;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/paas/v1/localrecord/query", post(query))
        .layer(DefaultBodyLimit::max(MAX_BODY))
}

pub use crate::links::RecordInfo;

/// An error answer: HTTP status, `error_code`, `error_msg`.
#[derive(Debug)]
pub struct QueryError(pub StatusCode, pub i64, pub String);

impl IntoResponse for QueryError {
    fn into_response(self) -> Response {
        let body = QueryAnswer {
            error_code: self.1,
            error_msg: self.2,
            finish: true,
            total: 0,
            record_info_list: vec![],
        };
        (self.0, Json(body)).into_response()
    }
}

fn bad(msg: impl Into<String>) -> QueryError {
    QueryError(StatusCode::BAD_REQUEST, codes::INVALID_PARAMETER, msg.into())
}

/// The answer, success and failure alike (the seed's shape).
#[derive(Serialize, utoipa::ToSchema)]
pub struct QueryAnswer {
    /// 0 on success; otherwise one of `codes`: 1001 invalid parameter, 1002 unknown sdkappid,
    /// 1003 bad sign, 1004 expire_time passed or too far ahead, 1005 internal, 1006 replayed.
    pub error_code: i64,
    pub error_msg: String,
    /// No more pages after this one.
    pub finish: bool,
    /// Records matching the filter, over all pages.
    pub total: i64,
    pub record_info_list: Vec<RecordInfo>,
}

/// The request body: one class's recordings, a page at a time.
#[derive(serde::Deserialize, utoipa::ToSchema)]
#[allow(dead_code)] // documents the body, which `page_request` reads field by field
pub struct QueryBody {
    /// The class (RoomId).
    class_id: i64,
    /// Records per page, from 1 to query.max_page_size (default 100).
    #[schema(minimum = 1, maximum = 100)]
    size: i64,
    /// Records to skip (default 0).
    #[serde(rename = "Index")]
    #[schema(minimum = 0)]
    index: Option<i64>,
    /// If present, must equal the URL's expire_time.
    expire_time: Option<i64>,
    /// Only this user's recordings ("" or "0": all).
    user_id: Option<String>,
    /// Only this task ("" or "0": any).
    task_id: Option<String>,
}

/// Pages through an app's spliced recordings of one class (TIC seed). Signed with
/// `sign = md5(TicKey + expire_time)`.
#[utoipa::path(
    post,
    path = "/paas/v1/localrecord/query",
    tag = "business",
    security(("QuerySign" = [])),
    params(
        ("sdkappid" = i64, Query, description = "The app's SdkAppId"),
        ("expire_time" = i64, Query, description = "Unix time the sign is valid until: ahead of now, at most query.max_expire_window_secs"),
        ("random" = Option<i64>, Query, description = "A number used once (required with query.replay_cache)"),
    ),
    request_body = QueryBody,
    responses(
        (status = 200, description = "A page (error_code 0)", body = QueryAnswer),
        (status = 400, description = "Invalid parameter (1001)", body = QueryAnswer),
        (status = 401, description = "Unknown sdkappid (1002), bad sign (1003), expired or too-far expire_time (1004), replayed (1006)", body = QueryAnswer),
        (status = 413, description = "Body larger than 16 KiB (1001)", body = QueryAnswer),
        (status = 500, description = "Internal error (1005)", body = QueryAnswer),
    )
)]
async fn query(
    State(state): State<AppState>,
    RawQuery(q): RawQuery,
    body: Result<Bytes, axum::extract::rejection::BytesRejection>,
) -> Response {
    let _timer = crate::metrics::Timer::start(&crate::metrics::METRICS.query_seconds);
    match run(&state, q.as_deref().unwrap_or(""), body).await {
        Ok(r) => r,
        Err(e) => e.into_response(),
    }
}

async fn run(
    state: &AppState,
    q: &str,
    body: Result<Bytes, axum::extract::rejection::BytesRejection>,
) -> Result<Response, QueryError> {
    let Params {
        sdkappid,
        expire_time,
        sign,
        random,
    } = params(q)?;
    let body = parse_body(&read_body(body)?)?;
    let app = known_app(state, sdkappid).await?;
    verify_sign(&app, expire_time, &sign, state.settings.query.max_expire_window_secs)?;
    if state.settings.query.replay_cache {
        refuse_replay(state, sdkappid, &sign, random, expire_time).await?;
    }
    let page = page_request(&body, expire_time, state.settings.query.max_page_size)?;
    answer(state, &app, sdkappid, page).await
}

fn read_body(body: Result<Bytes, axum::extract::rejection::BytesRejection>) -> Result<Bytes, QueryError> {
    body.map_err(|e| {
        if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            QueryError(
                StatusCode::PAYLOAD_TOO_LARGE,
                codes::INVALID_PARAMETER,
                format!("body larger than {MAX_BODY} bytes"),
            )
        } else {
            bad(e.body_text())
        }
    })
}

fn internal(e: sqlx::Error) -> QueryError {
    if super::error::is_bad_value(&e) {
        return bad("a value the database cannot hold (e.g. a NUL character)");
    }
    let id = super::request_id::current();
    tracing::error!(request_id = %id, "query: {e}");
    QueryError(
        StatusCode::INTERNAL_SERVER_ERROR,
        codes::INTERNAL,
        format!("internal error {id}"),
    )
}

async fn known_app(state: &AppState, sdkappid: i64) -> Result<App, QueryError> {
    state
        .apps
        .get(&state.db, sdkappid)
        .await
        .map_err(internal)?
        .ok_or_else(|| {
            QueryError(
                StatusCode::UNAUTHORIZED,
                codes::UNKNOWN_APP,
                format!("unknown sdkappid {sdkappid}"),
            )
        })
}

fn verify_sign(app: &App, expire_time: i64, sign: &str, window: i64) -> Result<(), QueryError> {
    let now = crate::auth::now();
    // The current TicKey, then (during a rotation's overlap) the one it replaced.
    let mut verified = Err(SignError::Mismatch);
    for k in app.tic_keys() {
        match query_sign::verify(k, expire_time, sign, now, window) {
            Err(SignError::Mismatch) => {}
            other => {
                verified = other;
                break;
            }
        }
    }
    verified.map_err(|e| match e {
        SignError::Mismatch => QueryError(StatusCode::UNAUTHORIZED, codes::BAD_SIGN, e.to_string()),
        _ => QueryError(StatusCode::UNAUTHORIZED, codes::SIGN_EXPIRED, e.to_string()),
    })
}

/// `query.replay_cache`: each `(sign, random)` is accepted once.
async fn refuse_replay(
    state: &AppState,
    sdkappid: i64,
    sign: &str,
    random: Option<i64>,
    expire_time: i64,
) -> Result<(), QueryError> {
    let random = random.ok_or_else(|| bad("query parameter random is required (replay protection is on)"))?;
    if !crate::db::query_nonces::remember(&state.db, sdkappid, sign, random, expire_time)
        .await
        .map_err(internal)?
    {
        return Err(QueryError(
            StatusCode::UNAUTHORIZED,
            codes::REPLAYED,
            "this sign and random were already used; send a new random".into(),
        ));
    }
    Ok(())
}

/// The page of the app's recordings the request asks for.
async fn answer(state: &AppState, app: &App, sdkappid: i64, page: PageRequest<'_>) -> Result<Response, QueryError> {
    let (index, size) = (page.index, page.size);
    let filter = tasks::RecordFilter {
        sdk_app_id: sdkappid,
        class_id: page.class_id,
        user_id: page.user_id,
        task_id: page.task_id,
    };
    let (page, total) = tasks::records(&state.db, &filter, index, size)
        .await
        .map_err(internal)?;
    let finish = index + page.len() as i64 >= total;
    let links = crate::links::Links::new(&state.settings);
    let list: Vec<RecordInfo> = page
        .into_iter()
        .map(|t| crate::links::record_info(&links, app, t))
        .collect();
    Ok(Json(QueryAnswer {
        error_code: 0,
        error_msg: String::new(),
        finish,
        total,
        record_info_list: list,
    })
    .into_response())
}
