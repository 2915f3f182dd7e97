//! App admins' housekeeping: `DELETE /localrecord/v1/tasks/{TaskId}` deletes a recording for good
//! (its MP4, slices, uploads, delivery log and rows), and `GET /localrecord/v1/audit?Index=&Size=`
//! pages through the app's audit log of admin actions, newest first, and
//! `POST /localrecord/v1/tasks/{TaskId}/resplice` splices a finished recording again from its
//! stored slices (the same durable job a stop enqueues). Admin identifiers only.

use super::callbacks::admin_task;
use super::error::{ok, Error, Result};
use crate::http::caller::Caller;
use crate::http::AppState;
use crate::retention::{delete_task, Actor};
use axum::extract::{Path, RawQuery, State};
use axum::routing::{delete, get, post};
use axum::{Json, Router};

use super::openapi::envelope::envelope;
use super::openapi::errors::{AuthErrors, ConflictErrors, ParameterErrors, TaskErrors};

/// A page of the audit log.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct AuditPage {
    /// Entries in the app's audit log.
    #[serde(rename = "Total")]
    total: i64,
    /// Newest first.
    #[serde(rename = "Entries")]
    entries: Vec<crate::db::audit::Entry>,
}

/// A re-splice queued.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct Resplice {
    #[serde(rename = "TaskId")]
    task_id: String,
}

envelope!(DeletedResponse, crate::retention::Deleted);
envelope!(RespliceResponse, Resplice);
envelope!(AuditResponse, AuditPage);

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/localrecord/v1/tasks/{task_id}", delete(remove))
        .route("/localrecord/v1/audit", get(audit))
        .route("/localrecord/v1/tasks/{task_id}/resplice", post(resplice))
}

/// Splices a finished recording (done, partial or failed) again from its stored slices; the new
/// MP4 keeps the VideoOutputId and its callback follows (audited).
#[utoipa::path(
    post,
    path = "/localrecord/v1/tasks/{task_id}/resplice",
    tag = "admin",
    params(("task_id" = String, Path, description = "The TaskId")),
    responses(
        (status = 200, description = "Queued", body = RespliceResponse),
        AuthErrors, TaskErrors, ConflictErrors,
    )
)]
async fn resplice(
    State(state): State<AppState>,
    caller: Caller,
    Path(task_id): Path<String>,
) -> Result<Json<serde_json::Value>> {
    admin_task(&state, &caller, &task_id).await?;
    resplice_task(&state, caller.sdk_app_id(), &caller.identifier, &task_id, "api").await?;
    Ok(ok(Resplice { task_id }))
}

/// Queues a new splice of a finished task (done, partial or failed) with at least one stored
/// slice, for an admin already checked to own it; audited as `actor` through `via`. The new MP4
/// keeps the VideoOutputId and replaces the old one when it is ready; its callback follows.
pub async fn resplice_task(state: &AppState, sdk_app_id: i64, actor: &str, task_id: &str, via: &str) -> Result<()> {
    let task = crate::db::tasks::get(&state.db, task_id)
        .await?
        .ok_or_else(|| Error::NotFound(format!("no task {task_id}")))?;
    if !task.state.is_finished() {
        return Err(Error::Conflict(format!(
            "task {task_id} is {}; only a finished recording (done, partial, failed) can be spliced again",
            task.state
        )));
    }
    if crate::db::slices::for_task(&state.db, task_id).await?.is_empty() {
        return Err(Error::Conflict(format!("task {task_id} has no stored slice to splice")));
    }
    crate::jobs::splice::enqueue(&state.db, task_id, std::time::Duration::ZERO).await?;
    let detail = serde_json::json!({ "Via": via });
    crate::db::audit::record(&state.db, sdk_app_id, actor, "resplice", task_id, detail).await?;
    tracing::info!(task = task_id, actor, via, "re-splice queued");
    Ok(())
}

/// Deletes a recording for good: its MP4, slices, uploads, delivery log and rows (audited).
#[utoipa::path(
    delete,
    path = "/localrecord/v1/tasks/{task_id}",
    tag = "admin",
    params(("task_id" = String, Path, description = "The TaskId")),
    responses(
        (status = 200, description = "Deleted", body = DeletedResponse),
        AuthErrors, TaskErrors,
    )
)]
async fn remove(
    State(state): State<AppState>,
    caller: Caller,
    Path(task_id): Path<String>,
) -> Result<Json<serde_json::Value>> {
    admin_task(&state, &caller, &task_id).await?;
    let actor = Actor {
        name: &caller.identifier,
        action: "delete",
        detail: serde_json::json!({}),
    };
    let deleted = delete_task(&state.db, &state.store, &task_id, &actor)
        .await?
        .ok_or_else(|| Error::NotFound(format!("no task {task_id}")))?;
    Ok(ok(deleted))
}

/// The app's audit log of admin actions, newest first.
#[utoipa::path(
    get,
    path = "/localrecord/v1/audit",
    tag = "admin",
    params(
        ("Index" = Option<i64>, Query, minimum = 0, description = "Entries to skip (default 0)"),
        ("Size" = Option<i64>, Query, minimum = 1, maximum = 500, description = "Entries per page (default 50)"),
    ),
    responses(
        (status = 200, description = "A page of the audit log", body = AuditResponse),
        AuthErrors, ParameterErrors,
    )
)]
async fn audit(
    State(state): State<AppState>,
    caller: Caller,
    RawQuery(q): RawQuery,
) -> Result<Json<serde_json::Value>> {
    caller.require_admin()?;
    let (mut index, mut size) = (0i64, 50i64);
    for (k, v) in form_urlencoded::parse(q.as_deref().unwrap_or("").as_bytes()) {
        let n = || {
            v.parse::<i64>()
                .map_err(|_| Error::invalid(format!("{k} must be an integer")))
        };
        match &*k {
            "Index" => index = n()?,
            "Size" => size = n()?,
            _ => {}
        }
    }
    if index < 0 || !(1..=500).contains(&size) {
        return Err(Error::invalid("Index must be 0 or more and Size between 1 and 500"));
    }
    let (entries, total) = crate::db::audit::page(&state.db, caller.sdk_app_id(), index, size).await?;
    Ok(ok(AuditPage { total, entries }))
}
