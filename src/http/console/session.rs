//! Console sessions and the checks around them.
//!
//! - A session is a random 256-bit id in the cookie `lr_admin` (HttpOnly, SameSite=Strict,
//!   Path=/admin, Secure when the server is reached over HTTPS, Max-Age of the session); Postgres
//!   keeps only its SHA-256, so every instance serves it and a database copy signs nobody in.
//! - A session holds one or more apps, each signed in to by its own proof (a UserSig made with
//!   that app's key, or a link printed for that app) and each expiring 12 h after it; one of them
//!   is current (the lists show it). Signing in while holding a session adds the app to it and
//!   gives the session a new id. Acting on a recording needs the session's sign-in to the
//!   recording's own app ([`Session::grant`]).
//! - Each page re-checks that each identifier is still an admin identifier of its app.
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

/// Most apps one session may hold at once.
pub const MAX_APPS: i64 = 32;

/// Signs `p` in: into the browser's live session when the request carries one (the app joins it
/// and becomes its current app; the session gets a new id), otherwise into a new session. Answers
/// a redirect to the console with the session's cookie.
pub async fn sign_in(state: &AppState, headers: &HeaderMap, p: &Principal, via: &str) -> Result<Response, PageError> {
    console::delete_expired(&state.db).await?;
    let id = random_token();
    let hash = token_hash(&id).expect("own token");
    let old = cookie_value(headers, COOKIE).and_then(token_hash);
    let added = match &old {
        Some(old) => console::add_app(&state.db, old, &hash, p, SESSION_TTL_SECS, MAX_APPS).await?,
        None => console::Added::NoSession,
    };
    match added {
        console::Added::Yes => {}
        console::Added::NoSession => {
            console::insert_session(&state.db, &hash, p, &random_token(), SESSION_TTL_SECS).await?;
        }
        console::Added::Full => {
            return Err(PageError(Error::Conflict(format!(
                "this console session already holds {MAX_APPS} apps; sign out of one first"
            ))));
        }
    }
    let joined = added == console::Added::Yes;
    let detail = serde_json::json!({ "Via": via });
    crate::db::audit::record(&state.db, p.sdk_app_id, &p.identifier, "console-login", "", detail).await?;
    tracing::info!(sdk_app_id = p.sdk_app_id, identifier = %p.identifier, via, joined, "console sign-in");
    let secure = if https(&state.settings) { "; Secure" } else { "" };
    let cookie = format!("{COOKIE}={id}; Path=/admin; HttpOnly; SameSite=Strict; Max-Age={SESSION_TTL_SECS}{secure}");
    Ok(([(header::SET_COOKIE, cookie)], Redirect::to("/admin")).into_response())
}

/// The cookie that ends a session in the browser.
pub fn clearing_cookie(settings: &Settings) -> String {
    let secure = if https(settings) { "; Secure" } else { "" };
    format!("{COOKIE}=; Path=/admin; HttpOnly; SameSite=Strict; Max-Age=0{secure}")
}

/// One app a session is signed in to: the app as it is now, and the admin identifier proven for it.
#[derive(Debug, Clone)]
pub struct Grant {
    pub app: App,
    pub identifier: String,
}

impl Grant {
    pub fn sdk_app_id(&self) -> i64 {
        self.app.sdk_app_id
    }
}

/// A signed-in browser: the apps it holds (each proven by its own sign-in and still an admin
/// identifier of its app) and the current one, which the lists show.
#[derive(Debug, Clone)]
pub struct Session {
    /// The current app, and the identifier signed in to it.
    pub app: App,
    pub identifier: String,
    /// Every app of the session, the current one included, in sign-in order.
    pub grants: Vec<Grant>,
    pub csrf: String,
    id_hash: String,
}

impl Session {
    pub fn sdk_app_id(&self) -> i64 {
        self.app.sdk_app_id
    }

    /// The session's sign-in to `sdk_app_id`, if it holds one: the only way to act on that app.
    pub fn grant(&self, sdk_app_id: i64) -> Option<&Grant> {
        self.grants.iter().find(|g| g.sdk_app_id() == sdk_app_id)
    }

    /// Makes one of the session's apps the current one; false when it holds no such app.
    pub async fn switch(&self, db: &sqlx::PgPool, sdk_app_id: i64) -> sqlx::Result<bool> {
        if self.grant(sdk_app_id).is_none() {
            return Ok(false);
        }
        console::switch_app(db, &self.id_hash, sdk_app_id).await
    }

    /// Signs out of one app (the session goes on with its others, if any).
    pub async fn sign_out_of(&self, db: &sqlx::PgPool, sdk_app_id: i64) -> sqlx::Result<console::Removed> {
        console::remove_app(db, &self.id_hash, sdk_app_id).await
    }

    /// Ends the session in Postgres (every app of it).
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

/// The request's live session, if it carries one (pages that also serve visitors without one).
pub async fn load(parts: &Parts, state: &AppState) -> Result<Option<Session>, Error> {
    let Some(id_hash) = cookie_value(&parts.headers, COOKIE).and_then(token_hash) else {
        return Ok(None);
    };
    let Some(s) = console::session(&state.db, &id_hash).await? else {
        return Ok(None);
    };
    let mut grants = Vec::new();
    for p in console::session_apps(&state.db, &id_hash).await? {
        // An identifier removed from an app's admins loses that app at once (and only that app).
        let app = state.apps.get(&state.db, p.sdk_app_id).await?;
        if let Some(app) = app.filter(|a| a.admin_identifiers.contains(&p.identifier)) {
            grants.push(Grant {
                app,
                identifier: p.identifier,
            });
        }
    }
    // The current app, or (when it was lost) the latest app signed in to.
    let Some(current) = grants
        .iter()
        .find(|g| g.sdk_app_id() == s.sdk_app_id)
        .or(grants.last())
        .cloned()
    else {
        return Ok(None);
    };
    Ok(Some(Session {
        app: current.app,
        identifier: current.identifier,
        grants,
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
    /// The client's address (sign-in forms count failures per address).
    pub ip: Option<std::net::IpAddr>,
}

impl FromRequest<AppState> for Action {
    type Rejection = Response;

    async fn from_request(req: Request, state: &AppState) -> Result<Action, Response> {
        let (mut parts, body) = req.into_parts();
        let session = Session::from_request_parts(&mut parts, state).await?;
        let refuse = |e: Error| PageError(e).into_response();
        same_origin(&parts.headers, &state.settings).map_err(refuse)?;
        let ip = parts
            .extensions
            .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
            .map(|c| c.0.ip());
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
        Ok(Action { session, fields, ip })
    }
}
