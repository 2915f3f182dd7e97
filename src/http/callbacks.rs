//! The delivery log of a task's result callbacks, and redelivery, for the app's admin identifiers:
//! `GET /localrecord/v1/tasks/{TaskId}/callbacks` and
//! `POST /localrecord/v1/tasks/{TaskId}/callbacks/redeliver`. A redelivery re-sends the task's latest
//! message under the same `webhook-id`, so receivers that already have it can drop it.

use super::error::{ok, Error, Result};
use crate::http::caller::Caller;
use crate::http::AppState;
use crate::jobs::callback;
use axum::extract::{Path, State};
use axum::routing::{get, post};
use axum::{Json, Router};

use super::openapi::envelope::envelope;
use super::openapi::errors::{AuthErrors, ConflictErrors, TaskErrors};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/localrecord/v1/tasks/{task_id}/callbacks", get(log))
        .route("/localrecord/v1/tasks/{task_id}/callbacks/redeliver", post(redeliver))
}

/// One result message and its queue state.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct Message {
    /// The `webhook-id` of every attempt of this message.
    #[serde(rename = "WebhookId")]
    webhook_id: String,
    /// The job's state in the queue (queued, running, done, failed).
    #[serde(rename = "State")]
    state: String,
    #[serde(rename = "Attempts")]
    attempts: i32,
    /// The body POSTed (see the `recording-result` webhook).
    #[serde(rename = "Body")]
    body: serde_json::Value,
}

/// A task's result messages and every delivery attempt, oldest first.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct DeliveryLog {
    #[serde(rename = "Messages")]
    messages: Vec<Message>,
    #[serde(rename = "Attempts")]
    attempts: Vec<callback::Attempt>,
}

/// `{"WebhookId": "..."}`: the message sent again (or sent first).
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct Redelivered {
    #[serde(rename = "WebhookId")]
    webhook_id: String,
}

envelope!(DeliveryLogResponse, DeliveryLog);
envelope!(RedeliveredResponse, Redelivered);

pub(super) async fn admin_task(state: &AppState, caller: &Caller, task_id: &str) -> Result<()> {
    caller.require_admin()?;
    super::tasks::owned_task(state, caller, task_id).await.map(|_| ())
}

/// The task's callback delivery log.
#[utoipa::path(
    get,
    path = "/localrecord/v1/tasks/{task_id}/callbacks",
    tag = "admin",
    params(("task_id" = String, Path, description = "The TaskId")),
    responses(
        (status = 200, description = "The delivery log", body = DeliveryLogResponse),
        AuthErrors, TaskErrors,
    )
)]
async fn log(
    State(state): State<AppState>,
    caller: Caller,
    Path(task_id): Path<String>,
) -> Result<Json<serde_json::Value>> {
    admin_task(&state, &caller, &task_id).await?;
    let messages = callback::messages(&state.db, &task_id)
        .await?
        .into_iter()
        .map(|(m, state, attempts)| Message {
            webhook_id: m.webhook_id,
            state,
            attempts,
            body: serde_json::to_value(&m.body).unwrap_or_default(),
        })
        .collect();
    let attempts = callback::attempts(&state.db, &task_id).await?;
    Ok(ok(DeliveryLog { messages, attempts }))
}

/// Sends the task's latest result message again, under the same `webhook-id` (or its first one,
/// if none was queued).
#[utoipa::path(
    post,
    path = "/localrecord/v1/tasks/{task_id}/callbacks/redeliver",
    tag = "admin",
    params(("task_id" = String, Path, description = "The TaskId")),
    responses(
        (status = 200, description = "Queued for delivery now", body = RedeliveredResponse),
        AuthErrors, TaskErrors, ConflictErrors,
    )
)]
async fn redeliver(
    State(state): State<AppState>,
    caller: Caller,
    Path(task_id): Path<String>,
) -> Result<Json<serde_json::Value>> {
    admin_task(&state, &caller, &task_id).await?;
    let webhook_id = redeliver_task(&state, caller.sdk_app_id(), &caller.identifier, &task_id, "api").await?;
    Ok(ok(Redelivered { webhook_id }))
}

/// Re-sends a task's latest result message (or queues its first one), for an admin already checked
/// to own the task; audited as `actor` through `via` (`api`, `console`). Returns the webhook id.
pub async fn redeliver_task(
    state: &AppState,
    sdk_app_id: i64,
    actor: &str,
    task_id: &str,
    via: &str,
) -> Result<String> {
    // Read now, not from the caller's (briefly cached) app: the URL may have just changed.
    let registered = crate::db::apps::get(&state.db, sdk_app_id).await?;
    if registered.and_then(|a| a.callback_url).is_none() {
        return Err(Error::Conflict("no callback URL is registered for this app".into()));
    }
    let latest = callback::messages(&state.db, task_id).await?.pop();
    let mut conn = state.db.acquire().await?;
    let webhook_id = match latest {
        Some((job, _, _)) => {
            callback::send(&state.jobs, &mut conn, &job).await?;
            job.webhook_id
        }
        None => {
            let task = crate::db::tasks::get(&state.db, task_id).await?;
            if !task.is_some_and(|t| t.state.is_finished()) {
                return Err(Error::Conflict(format!("task {task_id} has no result to report yet")));
            }
            callback::enqueue_result(&state.jobs, &mut conn, task_id)
                .await?
                .ok_or_else(|| Error::Conflict("no callback URL is registered".into()))?
        }
    };
    let detail = serde_json::json!({ "WebhookId": webhook_id, "Via": via });
    crate::db::audit::record(&state.db, sdk_app_id, actor, "redeliver", task_id, detail).await?;
    Ok(webhook_id)
}
