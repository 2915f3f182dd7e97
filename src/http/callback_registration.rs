//! `POST /v4/ilvb_edu/local_record?sdkappid=&identifier=&usersig=&random=&contenttype=json` with
//! `{"Action":"RegisteredCallback","CallbackUrl":"..."}` (TIC seed): an admin identifier of the app
//! registers where results are POSTed. Answers `{"Response":{"RequestId":...}}` plus, as an extra
//! field, the app's `WebhookSecret` (`whsec_...`) for verifying the signed callbacks.
//!
//! URLs must be http(s) and must not resolve to loopback, private, link-local or other internal
//! addresses (the server would otherwise POST into its own network), unless
//! `callback.allow_private` is set.

use super::error::{ok, Error, Result};
use super::json::{ApiJson, MAX_JSON_BODY};
use crate::auth::Caller;
use crate::startup::AppState;
use axum::extract::{DefaultBodyLimit, State};
use axum::routing::post;
use axum::{Json, Router};
use serde::Deserialize;
use std::net::IpAddr;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v4/ilvb_edu/local_record", post(register))
        .layer(DefaultBodyLimit::max(MAX_JSON_BODY))
}

#[derive(Deserialize)]
struct Request {
    #[serde(rename = "Action")]
    action: String,
    #[serde(rename = "CallbackUrl", default)]
    callback_url: Option<String>,
}

/// Addresses a callback must never be sent to.
pub fn is_internal(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let o = v4.octets();
            v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.is_multicast()
                || o[0] == 0
                || (o[0] == 100 && (64..128).contains(&o[1])) // carrier-grade NAT
                || (o[0] == 198 && (18..20).contains(&o[1])) // benchmarking
        }
        IpAddr::V6(v6) => {
            let s = v6.segments();
            v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (s[0] & 0xfe00) == 0xfc00 // unique local
                || (s[0] & 0xffc0) == 0xfe80 // link local
                || v6.to_ipv4_mapped().is_some_and(|v4| is_internal(IpAddr::V4(v4)))
        }
    }
}

/// Parses and vets a callback URL; resolves its host and refuses internal addresses.
pub async fn check_url(raw: &str, allow_private: bool) -> Result<reqwest::Url> {
    let raw = raw.trim();
    if raw.is_empty() || raw.len() > 2048 {
        return Err(Error::invalid("CallbackUrl must be a URL of at most 2048 characters"));
    }
    let url = reqwest::Url::parse(raw).map_err(|e| Error::invalid(format!("CallbackUrl is not a URL: {e}")))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(Error::invalid("CallbackUrl must be http:// or https://"));
    }
    let host = url
        .host_str()
        .filter(|h| !h.is_empty())
        .ok_or_else(|| Error::invalid("CallbackUrl has no host"))?;
    let port = url.port_or_known_default().unwrap_or(80);
    let addrs: Vec<IpAddr> = match host.trim_start_matches('[').trim_end_matches(']').parse::<IpAddr>() {
        Ok(ip) => vec![ip],
        Err(_) => tokio::net::lookup_host((host, port))
            .await
            .map_err(|e| Error::invalid(format!("CallbackUrl host {host} does not resolve: {e}")))?
            .map(|a| a.ip())
            .collect(),
    };
    if addrs.is_empty() {
        return Err(Error::invalid(format!("CallbackUrl host {host} does not resolve")));
    }
    if !allow_private {
        if let Some(ip) = addrs.iter().find(|ip| is_internal(**ip)) {
            return Err(Error::invalid(format!(
                "CallbackUrl resolves to {ip}, an internal address; callbacks go to public addresses only"
            )));
        }
    }
    Ok(url)
}

async fn register(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(req): ApiJson<Request>,
) -> Result<Json<serde_json::Value>> {
    if !caller.is_admin() {
        return Err(Error::Forbidden(format!(
            "{} is not an admin identifier of SdkAppId {}",
            caller.identifier,
            caller.sdk_app_id()
        )));
    }
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
    crate::db::apps::set_callback_url(&state.db, caller.sdk_app_id(), url.as_str()).await?;
    tracing::info!(sdkappid = caller.sdk_app_id(), "callback URL registered");
    Ok(ok(serde_json::json!({ "WebhookSecret": caller.app.webhook_secret })))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn internal_addresses() {
        for ip in [
            "127.0.0.1",
            "10.0.0.1",
            "172.16.5.4",
            "192.168.1.1",
            "169.254.169.254",
            "0.0.0.0",
            "100.64.0.1",
            "::1",
            "fd00::1",
            "fe80::1",
            "::ffff:127.0.0.1",
        ] {
            assert!(is_internal(ip.parse().unwrap()), "{ip}");
        }
        for ip in ["93.184.216.34", "8.8.8.8", "2606:2800:220:1:248:1893:25c8:1946"] {
            assert!(!is_internal(ip.parse().unwrap()), "{ip}");
        }
    }
}
