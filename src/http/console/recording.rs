//! `GET /admin/recordings/{TaskId}`: one recording: the MP4 in a `<video>` (through the recording
//! route, with Range), the task's timeline (slices with size, MD5 and times, open uploads, the
//! splice job's attempts and errors, the outcome) and the callback delivery log; and its actions,
//! `POST .../redeliver`, `.../resplice`, `.../delete` (each an [`Action`]: session, CSRF token,
//! same origin; each audited as the admin's identifier via the console).
//!
//! A recording of any app the session is signed in to opens here (not only the current app's), and
//! acts as the identifier signed in to the recording's own app.

use super::overview::session_ctx;
use super::session::{Action, Grant, Session};
use super::{render, view, Page, PageError};
use crate::db::{console_views, splice_log, tasks};
use crate::http::error::Error;
use crate::http::AppState;
use crate::jobs::callback;
use crate::retention::{delete_task, Actor};
use axum::extract::{Path, RawQuery, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Redirect};
use axum::routing::{get, post};
use axum::Router;
use minijinja::context;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/admin/recordings/{task_id}", get(page))
        .route("/admin/recordings/{task_id}/redeliver", post(redeliver))
        .route("/admin/recordings/{task_id}/resplice", post(resplice))
        .route("/admin/recordings/{task_id}/delete", post(remove))
        .route("/admin/recordings/{task_id}/recording.mp4", get(download))
}

/// The recording, decrypted if it is encrypted (the page's player plays it from here).
async fn download(State(state): State<AppState>, s: Session, Path(task_id): Path<String>, headers: HeaderMap) -> Page {
    let (t, g) = own_task(&state, &s, &task_id).await?;
    Ok(crate::http::download::serve(&state, t, &headers, &g.identifier, "console").await?)
}

/// The task, if it belongs to one of the session's apps, and the session's sign-in to that app
/// (whose identifier acts). Another app's task, or none, answer the same 404.
async fn own_task(state: &AppState, s: &Session, task_id: &str) -> Result<(tasks::Task, Grant), PageError> {
    let task = match localrecord_api::TaskId::parse(task_id) {
        Ok(id) => tasks::get(&state.db, &id).await?,
        Err(_) => None,
    };
    match task.and_then(|t| Some((s.grant(t.sdk_app_id)?.clone(), t))) {
        Some((g, t)) => Ok((t, g)),
        None => Err(PageError(Error::NotFound(format!(
            "no recording {task_id} in the apps this console session is signed in to"
        )))),
    }
}

/// Messages shown after an action (`?done=`): fixed texts, nothing from the request is echoed.
fn notice(q: Option<&str>) -> Option<&'static str> {
    let done = form_urlencoded::parse(q.unwrap_or("").as_bytes())
        .find(|(k, _)| k == "done")?
        .1;
    Some(match &*done {
        "redeliver" => "The callback was queued for redelivery.",
        "resplice" => "A new splice was queued.",
        _ => return None,
    })
}

async fn page(State(state): State<AppState>, s: Session, Path(task_id): Path<String>, RawQuery(q): RawQuery) -> Page {
    let (t, g) = own_task(&state, &s, &task_id).await?;
    let encrypted = t.video_key_id.is_some();
    let video = t
        .video_output_id
        .as_deref()
        .map(|id| match encrypted {
            // Only the console's own route decrypts.
            true => format!("{}/recording.mp4", view::task_href(&task_id)),
            false => crate::http::recordings::url(&state.settings, &g.app, id),
        })
        .map(|u| match u.strip_prefix(&state.settings.public_base()) {
            // Same origin as the page, whatever the public base says (the CSP allows 'self').
            Some(path) => path.to_owned(),
            None => u,
        });
    let slices: Vec<minijinja::Value> = console_views::stored_slices(&state.db, &task_id)
        .await?
        .into_iter()
        .map(|x| {
            context! {
                index => x.slice_index, size => x.size, size_h => view::bytes(x.size), md5 => x.md5,
                stored_at => view::time(x.stored_at),
            }
        })
        .collect();
    let uploads: Vec<minijinja::Value> = console_views::open_uploads(&state.db, &task_id)
        .await?
        .into_iter()
        .map(|u| {
            context! {
                index => u.slice_index, received => u.offset, length => u.length,
                started => view::time(u.created_at), expires => view::time(u.expires_at),
            }
        })
        .collect();
    let (job, runs) = splice_ctx(&state, &task_id).await?;
    let (stopped_at, last_activity) = console_views::task_times(&state.db, &task_id)
        .await?
        .map(|(s, l)| (view::opt_time(s), view::time(l)))
        .unwrap_or_default();
    let (messages, attempts) = delivery_ctx(&state, &task_id).await?;
    let task = context! {
        task_id => t.task_id, sdk_app_id => t.sdk_app_id, class_id => t.class_id, user_id => t.user_id, state => t.state,
        slice_count => t.slice_count, start_time => view::time(t.start_time), stopped_at, last_activity,
        video_output_id => t.video_output_id, encrypted, key_id => t.video_key_id,
        size => t.video_output_size.map(view::bytes),
        duration => t.video_output_duration_ms.map(view::duration_ms),
        splic_time => view::opt_time(t.splic_time),
        splice_ms => t.splice_ms, failure_reason => t.failure_reason,
        missing => t.missing_slices.iter().map(|m| m.to_string()).collect::<Vec<_>>().join(", "),
        finished => t.state.is_finished(),
        href => view::task_href(&task_id),
    };
    render(
        "recording.html",
        context! {
            s => session_ctx(&s), task, video, slices, uploads, job, runs, messages, attempts,
            callback_url => g.app.callback_url.clone(), notice => notice(q.as_deref()), nav => "recordings",
        },
    )
}

/// The splice job as it stands, and every run of it (the timeline).
async fn splice_ctx(
    state: &AppState,
    task_id: &str,
) -> Result<(Option<minijinja::Value>, Vec<minijinja::Value>), PageError> {
    let job = console_views::splice_job(&state.db, task_id).await?.map(|j| {
        context! {
            state => j.state, attempts => j.attempts, max_attempts => j.max_attempts,
            last_error => j.last_error, run_at => view::time(j.run_at),
            created_at => view::time(j.created_at), updated_at => view::time(j.updated_at),
        }
    });
    let runs: Vec<minijinja::Value> = splice_log::for_task(&state.db, task_id)
        .await?
        .into_iter()
        .map(|a| {
            context! {
                attempt => a.attempt, started => view::time(a.started_at),
                took => if a.duration_ms < 10_000 { format!("{} ms", a.duration_ms) } else { view::duration_ms(a.duration_ms) }, outcome => a.outcome, reason => a.reason,
            }
        })
        .collect();
    Ok((job, runs))
}

/// The callback messages and every delivery attempt.
async fn delivery_ctx(
    state: &AppState,
    task_id: &str,
) -> Result<(Vec<minijinja::Value>, Vec<minijinja::Value>), PageError> {
    let messages: Vec<minijinja::Value> = callback::messages(&state.db, task_id)
        .await?
        .into_iter()
        .map(|(m, st, n)| context! { webhook_id => m.webhook_id, state => st, attempts => n })
        .collect();
    let attempts: Vec<minijinja::Value> = callback::attempts(&state.db, task_id)
        .await?
        .into_iter()
        .map(|a| {
            context! {
                webhook_id => a.webhook_id, attempt => a.attempt, url => a.url, status => a.status,
                error => a.error, duration_ms => a.duration_ms, time => view::unix(a.time),
            }
        })
        .collect();
    Ok((messages, attempts))
}

async fn redeliver(State(state): State<AppState>, Path(task_id): Path<String>, a: Action) -> Page {
    let (_, g) = own_task(&state, &a.session, &task_id).await?;
    crate::http::callbacks::redeliver_task(&state, g.sdk_app_id(), &g.identifier, &task_id, "console").await?;
    Ok(Redirect::to(&format!("{}?done=redeliver", view::task_href(&task_id))).into_response())
}

async fn resplice(State(state): State<AppState>, Path(task_id): Path<String>, a: Action) -> Page {
    let (_, g) = own_task(&state, &a.session, &task_id).await?;
    crate::http::admin::resplice_task(&state, g.sdk_app_id(), &g.identifier, &task_id, "console").await?;
    Ok(Redirect::to(&format!("{}?done=resplice", view::task_href(&task_id))).into_response())
}

async fn remove(State(state): State<AppState>, Path(task_id): Path<String>, a: Action) -> Page {
    let (_, g) = own_task(&state, &a.session, &task_id).await?;
    let actor = Actor {
        name: &g.identifier,
        action: "delete",
        detail: serde_json::json!({ "Via": "console" }),
    };
    delete_task(&state.db, &state.store, &task_id, &actor)
        .await?
        .ok_or_else(|| Error::NotFound(format!("no recording {task_id}")))?;
    Ok(Redirect::to("/admin/recordings?deleted=1").into_response())
}
