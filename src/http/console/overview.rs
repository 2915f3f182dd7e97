//! `GET /admin/live` (the current app's recordings in progress with upload progress, refreshing
//! itself) and `GET /admin/audit` (the current app's audit log). The apps page is `apps`.

use super::session::Session;
use super::{render, view, Page};
use crate::db::{audit, console_views};
use crate::http::AppState;
use axum::extract::{RawQuery, State};
use axum::routing::get;
use axum::Router;
use minijinja::context;

/// Rows on the live page and per audit page.
const LIVE_ROWS: i64 = 200;
const AUDIT_PAGE: i64 = 50;
/// Seconds between the live page's refreshes.
const LIVE_REFRESH_SECS: u32 = 2;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/admin/live", get(live))
        .route("/admin/audit", get(audit_log))
}

async fn live(State(state): State<AppState>, s: Session) -> Page {
    let rows: Vec<minijinja::Value> = console_views::live(&state.db, s.sdk_app_id(), LIVE_ROWS)
        .await?
        .into_iter()
        .map(|l| {
            let pct = if l.length > 0 { l.received * 100 / l.length } else { 0 };
            context! {
                href => view::task_href(&l.task_id),
                task_id => l.task_id, class_id => l.class_id, user_id => l.user_id, state => l.state,
                start_time => view::time(l.start_time), last_activity => view::time(l.last_activity),
                slice_count => l.slice_count, slices_stored => l.slices_stored,
                open_uploads => l.open_uploads, received => l.received, length => l.length,
                received_h => view::bytes(l.received), length_h => view::bytes(l.length), pct,
            }
        })
        .collect();
    let now = view::time(chrono::Utc::now());
    render(
        "live.html",
        context! { s => session_ctx(&s), rows, now, refresh => LIVE_REFRESH_SECS, nav => "live" },
    )
}

async fn audit_log(State(state): State<AppState>, s: Session, RawQuery(q): RawQuery) -> Page {
    let page: i64 = form_urlencoded::parse(q.as_deref().unwrap_or("").as_bytes())
        .find(|(k, _)| k == "page")
        .and_then(|(_, v)| v.parse().ok())
        .filter(|p| (0..1_000_000).contains(p))
        .unwrap_or(0);
    let (entries, total) = audit::page(&state.db, s.sdk_app_id(), page * AUDIT_PAGE, AUDIT_PAGE).await?;
    let rows: Vec<minijinja::Value> = entries
        .into_iter()
        .map(|e| {
            context! {
                time => view::unix(e.time), actor => e.actor, action => e.action,
                target => e.target, detail => e.detail.to_string(),
            }
        })
        .collect();
    let next = ((page + 1) * AUDIT_PAGE < total).then_some(page + 1);
    let prev = (page > 0).then(|| page - 1);
    render(
        "audit.html",
        context! { s => session_ctx(&s), rows, total, page, next, prev, nav => "audit" },
    )
}

/// What every page's layout shows: who is signed in to the current app, the session's apps (the
/// app switcher), and the CSRF token its forms carry.
pub(super) fn session_ctx(s: &Session) -> minijinja::Value {
    let apps: Vec<minijinja::Value> = s
        .grants
        .iter()
        .map(|g| {
            context! {
                sdk_app_id => g.sdk_app_id(), identifier => g.identifier.clone(),
                current => g.sdk_app_id() == s.sdk_app_id(),
            }
        })
        .collect();
    context! {
        identifier => s.identifier.clone(), sdk_app_id => s.sdk_app_id(), csrf => s.csrf.clone(), apps,
    }
}
