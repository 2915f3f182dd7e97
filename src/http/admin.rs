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

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/localrecord/v1/tasks/{task_id}", delete(remove))
        .route("/localrecord/v1/audit", get(audit))
}

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
    Ok(ok(serde_json::json!({ "Total": total, "Entries": entries })))
}
