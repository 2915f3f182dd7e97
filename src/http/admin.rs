//! App admins' housekeeping: `DELETE /localrecord/v1/tasks/{TaskId}` deletes a recording for good
//! (its MP4, slices, uploads, delivery log and rows), and `GET /localrecord/v1/audit?Index=&Size=`
//! pages through the app's audit log of admin actions, newest first. Admin identifiers only.

use super::callbacks::admin_task;
use super::error::{ok, Error, Result};
use crate::auth::Caller;
use crate::retention::{delete_task, Actor};
use crate::startup::AppState;
use axum::extract::{Path, RawQuery, State};
use axum::routing::{delete, get};
use axum::{Json, Router};

use super::openapi::envelope::envelope;
use super::openapi::errors::{AuthErrors, ParameterErrors, TaskErrors};

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

envelope!(DeletedResponse, crate::retention::Deleted);
envelope!(AuditResponse, AuditPage);

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/localrecord/v1/tasks/{task_id}", delete(remove))
        .route("/localrecord/v1/audit", get(audit))
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
