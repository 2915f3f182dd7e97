//! Console sessions and the checks around them.
//!
//! - A session is a random 256-bit id in the cookie `lr_admin` (HttpOnly, SameSite=Strict,
//!   Path=/admin, Secure when the server is reached over HTTPS, Max-Age of the session); Postgres
//!   keeps only its SHA-256, so every instance serves it and a database copy signs nobody in.
//! - Each page re-checks that the identifier is still an admin identifier of its app.
//! - A state-changing request is a POST that carries the session's CSRF token (compared in
//!   constant time) and does not come from another site (`Sec-Fetch-Site`, `Origin`): [`Action`].
//! - One-time sign-in links (`localrecord admin login`) carry a random 256-bit token, stored
//!   hashed, valid for [`LINK_TTL_SECS`], used once.

use super::PageError;
use crate::config::Settings;
use crate::db::apps::App;
use crate::db::console::{self, Principal};
use crate::http::error::Error;
use crate::http::AppState;
use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, Method};
use axum::response::{IntoResponse, Redirect, Response};
use rand::RngCore;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use subtle::ConstantTimeEq;

pub const COOKIE: &str = "lr_admin";
/// How long a session lasts from sign-in.
pub const SESSION_TTL_SECS: i64 = 12 * 3600;
/// How long a printed sign-in link stays valid.
pub const LINK_TTL_SECS: i64 = 300;

/// 32 random bytes in hex.
pub fn random_token() -> String {
    let mut b = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut b);
    hex::encode(b)
}

/// What the database keeps of a token; None when it is not a token's shape (so hostile input
/// never reaches a query).
pub fn token_hash(token: &str) -> Option<String> {
    (token.len() == 64 && token.bytes().all(|b| b.is_ascii_hexdigit()))
        .then(|| hex::encode(Sha256::digest(token.to_ascii_lowercase().as_bytes())))
}

/// Creates a one-time sign-in link for `identifier` (default: the app's first admin identifier),
/// which must be an admin identifier of the app. Returns the URL under the public base.
pub async fn create_link(
    db: &sqlx::PgPool,
    settings: &Settings,
    sdk_app_id: i64,
    identifier: Option<String>,
) -> anyhow::Result<String> {
    let app = crate::db::apps::get(db, sdk_app_id)
        .await?
        .ok_or_else(|| anyhow::anyhow!("no app {sdk_app_id}"))?;
    let identifier = match identifier {
        Some(i) => i,
        None => app
            .admin_identifiers
            .first()
            .cloned()
            .ok_or_else(|| anyhow::anyhow!("app {sdk_app_id} has no admin identifier"))?,
    };
    anyhow::ensure!(
        app.admin_identifiers.contains(&identifier),
        "{identifier:?} is not an admin identifier of SdkAppId {sdk_app_id} (admins: {:?})",
        app.admin_identifiers
    );
    let token = random_token();
    let principal = Principal {
        sdk_app_id,
        identifier: identifier.clone(),
    };
    let hash = token_hash(&token).expect("own token");
    console::insert_login_token(db, &hash, &principal, LINK_TTL_SECS).await?;
    let detail = serde_json::json!({ "Identifier": identifier, "ValidSecs": LINK_TTL_SECS });
    crate::db::audit::record(db, sdk_app_id, "cli", "console-link", "", detail).await?;
    Ok(format!("{}/admin/login?token={token}", settings.public_base()))
}

/// Whether the browser reaches this server over HTTPS (the cookie is then `Secure`).
fn https(settings: &Settings) -> bool {
    settings.tls.cert_file.is_some() || settings.public_base().starts_with("https://")
}

/// Starts a session: stores it and answers a redirect to the console with its cookie.
pub async fn start(state: &AppState, p: &Principal, via: &str) -> Result<Response, PageError> {
    console::delete_expired(&state.db).await?;
    let (id, csrf) = (random_token(), random_token());
    let hash = token_hash(&id).expect("own token");
    console::insert_session(&state.db, &hash, p, &csrf, SESSION_TTL_SECS).await?;
    let detail = serde_json::json!({ "Via": via });
    crate::db::audit::record(&state.db, p.sdk_app_id, &p.identifier, "console-login", "", detail).await?;
    tracing::info!(sdk_app_id = p.sdk_app_id, identifier = %p.identifier, via, "console sign-in");
    let secure = if https(&state.settings) { "; Secure" } else { "" };
    let cookie = format!("{COOKIE}={id}; Path=/admin; HttpOnly; SameSite=Strict; Max-Age={SESSION_TTL_SECS}{secure}");
    Ok(([(header::SET_COOKIE, cookie)], Redirect::to("/admin")).into_response())
}

/// The cookie that ends a session in the browser.
pub fn clearing_cookie(settings: &Settings) -> String {
    let secure = if https(settings) { "; Secure" } else { "" };
    format!("{COOKIE}=; Path=/admin; HttpOnly; SameSite=Strict; Max-Age=0{secure}")
}

/// A signed-in admin of one app.
#[derive(Debug, Clone)]
pub struct Session {
    pub app: App,
    pub identifier: String,
    pub csrf: String,
    id_hash: String,
}

impl Session {
    pub fn sdk_app_id(&self) -> i64 {
        self.app.sdk_app_id
    }

    /// Ends the session in Postgres.
    pub async fn end(&self, db: &sqlx::PgPool) -> sqlx::Result<()> {
        console::delete_session(db, &self.id_hash).await.map(drop)
    }
}

fn cookie_value<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

async fn load(parts: &Parts, state: &AppState) -> Result<Option<Session>, Error> {
    let Some(id_hash) = cookie_value(&parts.headers, COOKIE).and_then(token_hash) else {
        return Ok(None);
    };
    let Some(s) = console::session(&state.db, &id_hash).await? else {
        return Ok(None);
    };
    let app = state.apps.get(&state.db, s.sdk_app_id).await?;
    // An identifier removed from the app's admins loses its sessions at once.
    let Some(app) = app.filter(|a| a.admin_identifiers.contains(&s.identifier)) else {
        return Ok(None);
    };
    Ok(Some(Session {
        app,
        identifier: s.identifier,
        csrf: s.csrf,
        id_hash,
    }))
}

/// Pages: without a session, a GET goes to the sign-in page and anything else is refused.
impl FromRequestParts<AppState> for Session {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Session, Response> {
        match load(parts, state).await {
            Ok(Some(s)) => Ok(s),
            Ok(None) if parts.method == Method::GET || parts.method == Method::HEAD => {
                Err(Redirect::to("/admin/login").into_response())
            }
            Ok(None) => Err(PageError(Error::AuthFailed("sign in to the console first".into())).into_response()),
            Err(e) => Err(PageError(e).into_response()),
        }
    }
}

/// Refuses requests another site made the browser send: `Sec-Fetch-Site` must be same-origin
/// (or none: typed by the user) and `Origin`, when sent, must be this server's.
pub fn same_origin(headers: &HeaderMap, settings: &Settings) -> Result<(), Error> {
    let refuse = || Error::Forbidden("cross-site request refused".into());
    if let Some(site) = headers.get("sec-fetch-site") {
        if !matches!(site.to_str(), Ok("same-origin" | "none")) {
            return Err(refuse());
        }
    }
    if let Some(origin) = headers.get(header::ORIGIN) {
        let origin = origin.to_str().map_err(|_| refuse())?;
        let host = headers.get(header::HOST).and_then(|h| h.to_str().ok());
        let own = origin == settings.public_base()
            || host.is_some_and(|h| {
                origin
                    .strip_prefix("https://")
                    .or_else(|| origin.strip_prefix("http://"))
                    == Some(h)
            });
        if !own {
            return Err(refuse());
        }
    }
    Ok(())
}

/// A form's fields (`application/x-www-form-urlencoded`; the last of repeated names wins).
pub fn fields(body: &[u8]) -> HashMap<String, String> {
    form_urlencoded::parse(body).into_owned().collect()
}

/// A state-changing request: signed in, same origin, and carrying the session's CSRF token in the
/// form field `csrf`.
pub struct Action {
    pub session: Session,
    pub fields: HashMap<String, String>,
}

impl FromRequest<AppState> for Action {
    type Rejection = Response;

    async fn from_request(req: Request, state: &AppState) -> Result<Action, Response> {
        let (mut parts, body) = req.into_parts();
        let session = Session::from_request_parts(&mut parts, state).await?;
        let refuse = |e: Error| PageError(e).into_response();
        same_origin(&parts.headers, &state.settings).map_err(refuse)?;
        let req = Request::from_parts(parts, body);
        let body = Bytes::from_request(req, state)
            .await
            .map_err(|_| refuse(Error::TooLarge("form too large".into())))?;
        let fields = fields(&body);
        let sent = fields.get("csrf").map(String::as_str).unwrap_or("");
        if !bool::from(sent.as_bytes().ct_eq(session.csrf.as_bytes())) {
            return Err(refuse(Error::Forbidden(
                "the form's CSRF token is missing or wrong; reload the page and try again".into(),
            )));
        }
        Ok(Action { session, fields })
    }
}
