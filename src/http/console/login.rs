//! Signing in and out: `GET /admin/login` (the form, or a one-time link's confirmation),
//! `POST /admin/login` (SdkAppId, identifier and a pasted UserSig), `POST /admin/login/link` (uses
//! the link), `POST /admin/logout` (every app of the session).
//!
//! Signing in from a browser that already holds a session adds the app to it (see
//! [`session::sign_in`]); the apps page's own form does the same with the session's CSRF token.
//!
//! A link only shows a button on GET and is used by the POST it makes: previews and scanners that
//! fetch links do not burn it, and the session cookie is set by a same-site request.

use super::session::{self, Action};
use super::{render, render_status, Page, PageError};
use crate::db::console::{self, Principal};
use crate::http::error::Error;
use crate::http::AppState;
use axum::body::Bytes;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect};
use axum::routing::{get, post};
use axum::Router;
use minijinja::context;
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/admin/login", get(form).post(usersig))
        .route("/admin/login/link", post(link))
        .route("/admin/logout", post(logout))
}

const LINK_UNUSABLE: &str =
    "This sign-in link was already used or has expired. Ask for a new one with `localrecord admin login`.";

async fn form(State(state): State<AppState>, req: Request) -> Page {
    let (parts, _) = req.into_parts();
    let token = form_urlencoded::parse(parts.uri.query().unwrap_or("").as_bytes())
        .find(|(k, _)| k == "token")
        .map(|(_, v)| v.into_owned());
    let Some(token) = token else {
        return render("login.html", context! {});
    };
    let found = match session::token_hash(&token) {
        Some(h) => console::peek_login_token(&state.db, &h).await?,
        None => None,
    };
    let Some(p) = found else {
        return render_status(StatusCode::GONE, "login.html", context! { error => LINK_UNUSABLE });
    };
    // Opened in a browser already signed in: the link adds its app to that session.
    let held: Vec<i64> = session::load(&parts, &state)
        .await?
        .map(|s| s.grants.iter().map(|g| g.sdk_app_id()).collect())
        .unwrap_or_default();
    render(
        "link.html",
        context! { token, sdk_app_id => p.sdk_app_id, identifier => p.identifier, held },
    )
}

/// What a UserSig sign-in form proves: an admin identifier of the app whose key signed the UserSig
/// (`Ok(Err(message))` when it proves nothing; a bad UserSig counts toward the address's limit).
pub(super) async fn prove(
    state: &AppState,
    ip: Option<IpAddr>,
    f: &HashMap<String, String>,
) -> Result<Result<Principal, String>, PageError> {
    if let Some(wait) = ip.and_then(|ip| state.auth_failures.check(ip)) {
        return Err(PageError(Error::TooManyRequests(
            wait.as_secs(),
            format!(
                "too many failed sign-ins from this address; retry in {} s",
                wait.as_secs()
            ),
        )));
    }
    let get = |k: &str| f.get(k).map(|v| v.trim()).unwrap_or("");
    let (appid, identifier, sig) = (get("sdkappid"), get("identifier"), get("usersig"));
    if appid.is_empty() || identifier.is_empty() || sig.is_empty() {
        return Ok(Err("Give the SdkAppId, the identifier and its UserSig.".into()));
    }
    let caller = match crate::http::caller::verify(state, appid, identifier, sig).await {
        Ok(c) => c,
        Err(Error::AuthFailed(msg)) => {
            if let Some(ip) = ip {
                state.auth_failures.failed(ip);
            }
            return Ok(Err(format!("The UserSig was not accepted: {msg}")));
        }
        Err(Error::Forbidden(msg)) => return Ok(Err(msg)),
        Err(e) => return Err(e.into()),
    };
    if let Err(Error::Forbidden(msg)) = caller.require_admin() {
        return Ok(Err(msg));
    }
    Ok(Ok(Principal {
        sdk_app_id: caller.sdk_app_id(),
        identifier: caller.identifier,
    }))
}

async fn usersig(State(state): State<AppState>, req: Request) -> Page {
    let (parts, body) = req.into_parts();
    session::same_origin(&parts.headers, &state.settings)?;
    let ip = parts.extensions.get::<ConnectInfo<SocketAddr>>().map(|c| c.0.ip());
    let body = axum::body::to_bytes(body, super::MAX_FORM)
        .await
        .map_err(|_| Error::TooLarge("form too large".into()))?;
    let f = session::fields(&body);
    match prove(&state, ip, &f).await? {
        Ok(p) => session::sign_in(&state, &parts.headers, &p, "usersig").await,
        Err(error) => {
            let get = |k: &str| f.get(k).map(|v| v.trim()).unwrap_or("");
            let ctx = context! { error, sdkappid => get("sdkappid"), identifier => get("identifier") };
            render_status(StatusCode::UNAUTHORIZED, "login.html", ctx)
        }
    }
}

async fn link(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Page {
    session::same_origin(&headers, &state.settings)?;
    let f = session::fields(&body);
    let hash = f.get("token").and_then(|t| session::token_hash(t));
    let p = match hash {
        Some(h) => console::consume_login_token(&state.db, &h).await?,
        None => None,
    };
    let Some(p) = p else {
        return render_status(StatusCode::GONE, "login.html", context! { error => LINK_UNUSABLE });
    };
    // The admin list may have changed since the link was printed.
    let still_admin = state
        .apps
        .get(&state.db, p.sdk_app_id)
        .await?
        .is_some_and(|a| a.admin_identifiers.contains(&p.identifier));
    if !still_admin {
        let msg = format!(
            "{} is no longer an admin identifier of SdkAppId {}",
            p.identifier, p.sdk_app_id
        );
        return render_status(StatusCode::FORBIDDEN, "login.html", context! { error => msg });
    }
    session::sign_in(&state, &headers, &p, "link").await
}

/// Signs out of every app of the session (each app's audit log says so) and ends it.
async fn logout(State(state): State<AppState>, action: Action) -> Page {
    let s = &action.session;
    s.end(&state.db).await?;
    for g in &s.grants {
        crate::db::audit::record(
            &state.db,
            g.sdk_app_id(),
            &g.identifier,
            "console-logout",
            "",
            serde_json::json!({ "Via": "console" }),
        )
        .await?;
    }
    let cookie = session::clearing_cookie(&state.settings);
    Ok(([(header::SET_COOKIE, cookie)], Redirect::to("/admin/login")).into_response())
}
