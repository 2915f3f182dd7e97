//! The [`Caller`] extractor: every recorder-facing endpoint takes the seed-style query parameters
//! `sdkappid`, `identifier`, `usersig`, or the header
//! `Authorization: UserSig sdkappid=1400000001,identifier=alice,usersig=<token>`
//! (values may be percent-encoded, for identifiers outside ASCII).

use super::error::Error;
use crate::auth::usersig;
use crate::db::apps::App;
use crate::http::AppState;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use std::collections::HashMap;

/// An authenticated recorder or admin of one app.
#[derive(Debug, Clone)]
pub struct Caller {
    pub app: App,
    pub identifier: String,
    pub claims: usersig::Claims,
}

impl Caller {
    pub fn sdk_app_id(&self) -> i64 {
        self.app.sdk_app_id
    }
    pub fn is_admin(&self) -> bool {
        self.app.admin_identifiers.iter().any(|a| a == &self.identifier)
    }

    /// Forbidden unless the caller is one of its app's admin identifiers.
    pub fn require_admin(&self) -> Result<(), Error> {
        if self.is_admin() {
            return Ok(());
        }
        Err(Error::Forbidden(format!(
            "{} is not an admin identifier of SdkAppId {}",
            self.identifier,
            self.sdk_app_id()
        )))
    }
}

fn credentials(parts: &Parts) -> Result<HashMap<String, String>, Error> {
    if let Some(h) = parts.headers.get(axum::http::header::AUTHORIZATION) {
        let h = std::str::from_utf8(h.as_bytes())
            .map_err(|_| Error::AuthFailed("Authorization header is not UTF-8".into()))?;
        let rest = h.strip_prefix("UserSig ").ok_or_else(|| {
            Error::AuthFailed("Authorization must be 'UserSig sdkappid=..,identifier=..,usersig=..'".into())
        })?;
        return Ok(rest
            .split(',')
            .filter_map(|kv| kv.trim().split_once('='))
            .map(|(k, v)| {
                (
                    k.trim().to_ascii_lowercase(),
                    percent_encoding::percent_decode_str(v.trim())
                        .decode_utf8_lossy()
                        .into_owned(),
                )
            })
            .collect());
    }
    let q = parts.uri.query().unwrap_or("");
    Ok(form_urlencoded::parse(q.as_bytes())
        .map(|(k, v)| (k.to_ascii_lowercase(), v.into_owned()))
        .collect())
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Caller, Error> {
        let peer = parts
            .extensions
            .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
            .map(|c| c.0.ip());
        if let Some(wait) = peer.and_then(|ip| state.auth_failures.check(ip)) {
            return Err(Error::TooManyRequests(
                wait.as_secs(),
                format!(
                    "too many failed authentications from this address; retry in {} s",
                    wait.as_secs()
                ),
            ));
        }
        let r = authenticate(parts, state).await;
        if let (Err(Error::AuthFailed(_)), Some(ip)) = (&r, peer) {
            state.auth_failures.failed(ip);
        }
        r
    }
}

/// Checks the caller's credentials. Apps come from the short-lived cache, which also remembers
/// unknown ids and lets only a few lookups reach Postgres at once, so a flood of made-up SdkAppIds
/// cannot take the connections that commits and job heartbeats need.
async fn authenticate(parts: &Parts, state: &AppState) -> Result<Caller, Error> {
    let creds = credentials(parts)?;
    let get = |k: &str| creds.get(k).filter(|v| !v.is_empty());
    let (Some(appid), Some(identifier), Some(token)) = (get("sdkappid"), get("identifier"), get("usersig")) else {
        return Err(Error::AuthFailed(
                "missing credentials: give sdkappid, identifier and usersig as query parameters or in 'Authorization: UserSig ...'".into(),
            ));
    };
    verify(state, appid, identifier, token).await
}

/// Checks a UserSig for `identifier` of app `appid` (as text: it comes from a request) and builds
/// the caller. Also what the admin console's sign-in form uses.
pub async fn verify(state: &AppState, appid: &str, identifier: &str, token: &str) -> Result<Caller, Error> {
    let sdkappid: i64 = appid
        .parse()
        .ok()
        .filter(|n| *n > 0)
        .ok_or_else(|| Error::AuthFailed(format!("sdkappid {appid:?} is not a positive integer")))?;
    let app = state
        .apps
        .get(&state.db, sdkappid)
        .await?
        .ok_or_else(|| Error::AuthFailed(format!("unknown SdkAppId {sdkappid}")))?;
    // The current key, then (during a rotation's overlap) the one it replaced; the error reported
    // is the current key's.
    let now = crate::auth::now();
    let mut verified = Err(Error::AuthFailed("no key".into()));
    for (i, key) in app.secret_keys().into_iter().enumerate() {
        match usersig::verify(token, sdkappid as u64, identifier, key, now) {
            Ok(c) => {
                verified = Ok(c);
                break;
            }
            Err(e) if i == 0 => verified = Err(Error::AuthFailed(e.to_string())),
            Err(_) => {}
        }
    }
    let claims = verified?;
    if !app.local_record_enabled {
        return Err(Error::Forbidden(format!(
            "local recording is not enabled for SdkAppId {sdkappid}"
        )));
    }
    Ok(Caller {
        app,
        identifier: identifier.to_owned(),
        claims,
    })
}
