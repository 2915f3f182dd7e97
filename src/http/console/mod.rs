//! The admin console at `/admin`: server-rendered pages (minijinja templates under `templates/`,
//! compiled into the binary, HTML-escaped by default) for an app's admin identifiers.
//!
//! - `session`: sign-in links, sessions (Postgres), the cookie, and the checks every page and every
//!   state-changing form passes (session, CSRF token, same origin).
//! - `login`: the sign-in form (pasted UserSig), the one-time link, sign-out.
//! - `apps`: the apps the session holds (one session may be signed in to several apps, each by its
//!   own UserSig or link), adding one, switching the current one, signing out of one.
//! - `recordings`: search and the recording page with its actions; `overview`: live, audit.
//!
//! Every page answers `Cache-Control: no-store` and a strict Content-Security-Policy (scripts and
//! styles from `/admin/static/` only, no framing).

mod apps;
mod login;
mod overview;
mod recording;
mod recordings;
pub mod session;
mod view;

use super::error::Error;
use crate::http::AppState;
use axum::extract::DefaultBodyLimit;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use std::sync::LazyLock;

/// Forms are a few short fields.
const MAX_FORM: usize = 16 * 1024;

pub fn router() -> Router<AppState> {
    Router::new()
        .merge(login::router())
        .merge(apps::router())
        .merge(overview::router())
        .merge(recordings::router())
        .merge(recording::router())
        .route("/admin/static/console.css", get(css))
        .route("/admin/static/console.js", get(js))
        .layer(DefaultBodyLimit::max(MAX_FORM))
        .layer(axum::middleware::map_response(secure_headers))
}

async fn secure_headers(mut r: Response) -> Response {
    let h = r.headers_mut();
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; style-src 'self'; script-src 'self'; img-src 'self'; media-src 'self'; \
             form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        ),
    );
    h.insert("x-content-type-options", HeaderValue::from_static("nosniff"));
    h.insert("referrer-policy", HeaderValue::from_static("same-origin"));
    r
}

async fn css() -> Response {
    let ty = [(header::CONTENT_TYPE, "text/css; charset=utf-8")];
    (ty, include_str!("static/console.css")).into_response()
}

async fn js() -> Response {
    let ty = [(header::CONTENT_TYPE, "text/javascript; charset=utf-8")];
    (ty, include_str!("static/console.js")).into_response()
}

static TEMPLATES: LazyLock<minijinja::Environment<'static>> = LazyLock::new(|| {
    let mut env = minijinja::Environment::new();
    // Names end in .html, so minijinja escapes every value for HTML unless a template says otherwise
    // (none does): identifiers, class names and callback URLs are the callers' own text.
    for (name, src) in [
        ("base.html", include_str!("templates/base.html")),
        ("login.html", include_str!("templates/login.html")),
        ("link.html", include_str!("templates/link.html")),
        ("apps.html", include_str!("templates/apps.html")),
        ("recordings.html", include_str!("templates/recordings.html")),
        ("recording.html", include_str!("templates/recording.html")),
        ("live.html", include_str!("templates/live.html")),
        ("audit.html", include_str!("templates/audit.html")),
        ("error.html", include_str!("templates/error.html")),
    ] {
        env.add_template(name, src).expect("console templates parse");
    }
    env
});

/// Renders a template into an HTML response.
fn render(name: &str, ctx: minijinja::Value) -> Result<Response, PageError> {
    render_status(StatusCode::OK, name, ctx)
}

fn render_status(status: StatusCode, name: &str, ctx: minijinja::Value) -> Result<Response, PageError> {
    let html = TEMPLATES
        .get_template(name)
        .and_then(|t| t.render(ctx))
        .map_err(|e| PageError(Error::Internal(anyhow::anyhow!("rendering {name}: {e:#}"))))?;
    let ty = [(header::CONTENT_TYPE, "text/html; charset=utf-8")];
    Ok((status, ty, html).into_response())
}

/// The API's [`Error`], answered as an HTML page (same status, same message) for the browser.
#[derive(Debug)]
pub struct PageError(pub Error);

impl<E: Into<Error>> From<E> for PageError {
    fn from(e: E) -> PageError {
        PageError(e.into())
    }
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        let (status, _) = self.0.status_and_code();
        let request_id = super::request_id::current();
        let message = match &self.0 {
            Error::Internal(e) => {
                tracing::error!(request_id, error = ?e, "internal error");
                "internal error; see the server log for this request id".to_owned()
            }
            other => {
                tracing::info!(request_id, status = status.as_u16(), "console: {other}");
                other.to_string()
            }
        };
        let ctx = minijinja::context! { status => status.as_u16(), message, request_id };
        match render_status(status, "error.html", ctx) {
            Ok(r) => r,
            Err(_) => (status, message).into_response(),
        }
    }
}

type Page = Result<Response, PageError>;
