//! `POST /localrecord/v1/auth`: the recorder's Init. Proves SdkAppId + UserId + UserSig and that the
//! app has local recording enabled.

use super::error::ok;
use crate::http::caller::Caller;
use crate::http::AppState;
use axum::routing::post;
use axum::{Json, Router};
use localrecord_api::AuthInfo;

pub fn router() -> Router<AppState> {
    Router::new().route("/localrecord/v1/auth", post(auth))
}

super::openapi::envelope::envelope!(AuthResponse, AuthInfo);

/// Init: checks the caller's UserSig and that the app may record.
#[utoipa::path(
    post,
    path = "/localrecord/v1/auth",
    tag = "recorder",
    responses(
        (status = 200, description = "Who the UserSig proves, and until when", body = AuthResponse),
        super::openapi::errors::AuthErrors,
    )
)]
async fn auth(caller: Caller) -> Json<serde_json::Value> {
    ok(AuthInfo {
        sdk_app_id: caller.sdk_app_id() as u64,
        user_id: caller.identifier.clone(),
        expire_time: caller.claims.expires_at(),
    })
}
