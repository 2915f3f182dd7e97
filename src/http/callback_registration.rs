//! `POST /v4/ilvb_edu/local_record?sdkappid=&identifier=&usersig=&random=&contenttype=json` with
//! `{"Action":"RegisteredCallback","CallbackUrl":"..."}` (TIC seed): an admin identifier of the app
//! registers where results are POSTed. Answers `{"Response":{"RequestId":...}}` plus, as an extra
//! field, the app's `WebhookSecret` (`whsec_...`) for verifying the signed callbacks.
//!
//! URLs must be http(s) and must not resolve to loopback, private, link-local or other internal
//! addresses (the server would otherwise POST into its own network), unless
//! `callback.allow_private` is set; `outbound` holds the rules and enforces them again at every
//! connection.

use super::error::{ok, Error, Result};
use super::json::{ApiJson, MAX_JSON_BODY};
use crate::http::caller::Caller;
use crate::http::AppState;
use axum::extract::{DefaultBodyLimit, State};
use axum::routing::post;
use axum::{Json, Router};
use serde::Deserialize;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v4/ilvb_edu/local_record", post(register))
        .layer(DefaultBodyLimit::max(MAX_JSON_BODY))
}

/// `{"Action":"RegisteredCallback","CallbackUrl":"https://..."}`
#[derive(Deserialize, utoipa::ToSchema)]
struct RegisterCallback {
    /// Always `RegisteredCallback`.
    #[serde(rename = "Action")]
    #[schema(example = "RegisteredCallback", pattern = "^RegisteredCallback$")]
    action: String,
    /// http(s) URL that results are POSTed to; it must not resolve to an internal address.
    #[serde(rename = "CallbackUrl", default)]
    callback_url: Option<String>,
}

/// Parses and vets a callback URL (see `outbound`): the error is the client's.
pub async fn check_url(raw: &str, allow_private: bool) -> Result<reqwest::Url> {
    crate::outbound::vet(raw, allow_private)
        .await
        .map_err(|e| Error::invalid(e.to_string()))
}

/// The app's webhook secret, for verifying the signed callbacks.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct Registered {
    /// `whsec_<base64>` (Standard Webhooks)
    #[serde(rename = "WebhookSecret")]
    webhook_secret: String,
}

super::openapi::envelope::envelope!(RegisteredResponse, Registered);

/// RegisteredCallback (TIC seed): where the app's recording results are POSTed (the
/// `recording-result` webhook). Admin identifiers only.
#[utoipa::path(
    post,
    path = "/v4/ilvb_edu/local_record",
    tag = "business",
    params(
        ("random" = Option<String>, Query, description = "Ignored (the seed's client sends it)"),
        ("contenttype" = Option<String>, Query, description = "Ignored; the body is JSON"),
    ),
    request_body = RegisterCallback,
    responses(
        (status = 200, description = "Registered", body = RegisteredResponse),
        super::openapi::errors::AuthErrors,
        super::openapi::errors::JsonBodyErrors,
    )
)]
async fn register(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(req): ApiJson<RegisterCallback>,
) -> Result<Json<serde_json::Value>> {
    caller.require_admin()?;
    if req.action != "RegisteredCallback" {
        return Err(Error::invalid(format!(
            "unknown Action {:?}; this endpoint takes RegisteredCallback",
            req.action
        )));
    }
    let raw = req
        .callback_url
        .ok_or_else(|| Error::invalid("CallbackUrl is required"))?;
    let url = check_url(&raw, state.settings.callback.allow_private).await?;
    let mut tx = state.db.begin().await?;
    crate::db::apps::set_callback_url(&mut *tx, caller.sdk_app_id(), url.as_str()).await?;
    let detail = serde_json::json!({ "CallbackUrl": url.as_str() });
    crate::db::audit::record(
        &mut *tx,
        caller.sdk_app_id(),
        &caller.identifier,
        "register-callback",
        "",
        detail,
    )
    .await?;
    tx.commit().await?;
    tracing::info!(sdkappid = caller.sdk_app_id(), "callback URL registered");
    Ok(ok(Registered {
        webhook_secret: caller.app.webhook_secret,
    }))
}
