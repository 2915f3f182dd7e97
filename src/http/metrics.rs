//! `GET /metrics`: the Prometheus exposition (`crate::metrics`). On the API listener it needs
//! `Authorization: Bearer <metrics.token>` (off without a token); `metrics.listen` serves it on a
//! listener of its own without auth, for a scraper on a private network.

use super::error::{Error, Result};
use crate::http::AppState;
use crate::metrics::{render, Sampled};
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use secrecy::ExposeSecret;
use subtle::ConstantTimeEq;

pub fn router() -> Router<AppState> {
    Router::new().route("/metrics", get(scrape))
}

/// The router of the `metrics.listen` listener.
pub fn open_router(state: AppState) -> Router {
    Router::new().route("/metrics", get(exposition)).with_state(state)
}

/// The Prometheus exposition.
#[utoipa::path(
    get,
    path = "/metrics",
    tag = "meta",
    security(("MetricsToken" = [])),
    responses(
        (status = 200, description = "Prometheus text exposition format 0.0.4",
         content_type = "text/plain; version=0.0.4; charset=utf-8", body = String),
        (status = 401, description = "Missing or wrong bearer token (-10001)", body = super::openapi::envelope::ErrorResponse),
        (status = 404, description = "No metrics.token is set: metrics are off on this listener (-10007)",
         body = super::openapi::envelope::ErrorResponse),
    )
)]
async fn scrape(State(state): State<AppState>, headers: HeaderMap) -> Result<Response> {
    let Some(token) = &state.settings.metrics.token else {
        return Err(Error::NotFound(
            "metrics are off here: set metrics.token or metrics.listen".into(),
        ));
    };
    let given = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or("");
    if !bool::from(given.as_bytes().ct_eq(token.expose_secret().as_bytes())) {
        return Err(Error::AuthFailed(
            "GET /metrics needs Authorization: Bearer <metrics.token>".into(),
        ));
    }
    Ok(exposition(State(state)).await)
}

async fn exposition(State(state): State<AppState>) -> Response {
    let splice_queue = crate::db::usage::queued_jobs(&state.db, crate::jobs::splice::KIND)
        .await
        .unwrap_or(-1);
    let sampled = Sampled {
        pool_size: state.db.size(),
        pool_idle: state.db.num_idle(),
        pool_max: state.settings.db.max_connections,
        splice_queue,
    };
    let mut r = render(&sampled).into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
    );
    r
}
