//! `GET /admin`: the apps this session is signed in to (for each: the identifier signed in as, its
//! admins, callback URL and retention), and the forms that manage them:
//!
//! - `POST /admin/apps/add`: another app's SdkAppId, admin identifier and UserSig; checked exactly
//!   like the sign-in form (a UserSig proves only the app whose key signed it), the app joins the
//!   session and becomes current, and the session gets a new id. A one-time link opened in the same
//!   browser does the same.
//! - `POST /admin/apps/switch`: makes one of the session's apps current (the recordings, live and
//!   audit pages show the current app); `next` names the page to go back to.
//! - `POST /admin/apps/signout`: signs out of one app; the last one ends the session.
//!
//! Each is an [`Action`]: signed in, same origin, the session's CSRF token.

use super::overview::session_ctx;
use super::session::{self, Action, Session, MAX_APPS};
use super::{login, render_status, Page, PageError};
use crate::db::console::Removed;
use crate::db::console_views;
use crate::http::error::Error;
use crate::http::AppState;
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect};
use axum::routing::{get, post};
use axum::Router;
use minijinja::context;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/admin", get(apps))
        .route("/admin/", get(apps))
        .route("/admin/apps/add", post(add))
        .route("/admin/apps/switch", post(switch))
        .route("/admin/apps/signout", post(sign_out))
}

async fn apps(State(state): State<AppState>, s: Session) -> Page {
    apps_page(&state, &s, StatusCode::OK, None, context! {}).await
}

/// The apps page; `error` and `form` refill the add form after a refusal.
async fn apps_page(
    state: &AppState,
    s: &Session,
    status: StatusCode,
    error: Option<String>,
    form: minijinja::Value,
) -> Page {
    let mut apps = Vec::new();
    for g in &s.grants {
        let retention = console_views::retention_days(&state.db, g.sdk_app_id()).await?;
        apps.push(context! {
            sdk_app_id => g.sdk_app_id(),
            identifier => g.identifier.clone(),
            current => g.sdk_app_id() == s.sdk_app_id(),
            admins => g.app.admin_identifiers.clone(),
            enabled => g.app.local_record_enabled,
            callback_url => g.app.callback_url.clone(),
            retention_days => retention,
        });
    }
    let ctx = context! { s => session_ctx(s), apps, error, form, max_apps => MAX_APPS, nav => "apps" };
    render_status(status, "apps.html", ctx)
}

async fn add(State(state): State<AppState>, headers: HeaderMap, a: Action) -> Page {
    match login::prove(&state, a.ip, &a.fields).await? {
        Ok(p) => session::sign_in(&state, &headers, &p, "usersig").await,
        Err(error) => {
            let get = |k: &str| a.fields.get(k).map(|v| v.trim()).unwrap_or("").to_owned();
            let form = context! { sdkappid => get("sdkappid"), identifier => get("identifier") };
            apps_page(&state, &a.session, StatusCode::UNAUTHORIZED, Some(error), form).await
        }
    }
}

/// The app a form names, if the session holds it.
fn named_grant(a: &Action) -> Result<session::Grant, PageError> {
    let id = a.fields.get("sdkappid").and_then(|v| v.trim().parse::<i64>().ok());
    id.and_then(|id| a.session.grant(id)).cloned().ok_or_else(|| {
        PageError(Error::Forbidden(
            "this console session is not signed in to that app; add it on the apps page with its own UserSig".into(),
        ))
    })
}

async fn switch(State(state): State<AppState>, a: Action) -> Page {
    let g = named_grant(&a)?;
    if !a.session.switch(&state.db, g.sdk_app_id()).await? {
        return Err(PageError(Error::AuthFailed("the console session has ended".into())));
    }
    // Back to the same kind of page, now showing the app switched to (fixed paths only).
    let next = match a.fields.get("next").map(String::as_str) {
        Some("recordings") => "/admin/recordings",
        Some("live") => "/admin/live",
        Some("audit") => "/admin/audit",
        _ => "/admin",
    };
    Ok(Redirect::to(next).into_response())
}

async fn sign_out(State(state): State<AppState>, a: Action) -> Page {
    let g = named_grant(&a)?;
    let removed = a.session.sign_out_of(&state.db, g.sdk_app_id()).await?;
    if removed != Removed::NotThere {
        let detail = serde_json::json!({ "Via": "console" });
        crate::db::audit::record(&state.db, g.sdk_app_id(), &g.identifier, "console-logout", "", detail).await?;
    }
    Ok(match removed {
        Removed::Ended => {
            let cookie = session::clearing_cookie(&state.settings);
            ([(header::SET_COOKIE, cookie)], Redirect::to("/admin/login")).into_response()
        }
        Removed::Kept | Removed::NotThere => Redirect::to("/admin").into_response(),
    })
}
