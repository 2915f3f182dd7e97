//! Recording tasks: create (StartRecord), pause, resume, stop with the slice count, keep-alive, and
//! status with the upload state of every slice.
//!
//! Every call of the task's recorder is a sign of life: a task is spliced as abandoned only after
//! its recorder was silent for the idle time, however long a pause or a slice lasts.

use super::error::{ok, Error, Result};
use super::json::{ApiJson, MAX_JSON_BODY};
use crate::db::apps::App;
use crate::db::tasks::{self, Task, TaskState};
use crate::db::{slices, uploads};
use crate::http::caller::Caller;
use crate::http::AppState;
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::routing::{get, post};
use axum::{Json, Router};
use localrecord_api::{CreateTask, SliceState, SliceStatus, StopTask, TaskCreated, TaskId, TaskStatus};
use std::collections::BTreeMap;

/// More slices than this in one task is a bug in the recorder (5-minute slices: over a year).
pub const MAX_SLICES: i32 = 100_000;

use super::openapi::envelope::envelope;
use super::openapi::errors::{AuthErrors, ConflictErrors, JsonBodyErrors, TaskErrors};

envelope!(TaskCreatedResponse, TaskCreated);
envelope!(TaskStatusResponse, TaskStatus);

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/localrecord/v1/tasks", post(create))
        .route("/localrecord/v1/tasks/{task_id}", get(status))
        .route("/localrecord/v1/tasks/{task_id}/pause", post(pause))
        .route("/localrecord/v1/tasks/{task_id}/resume", post(resume))
        .route("/localrecord/v1/tasks/{task_id}/stop", post(stop))
        .route("/localrecord/v1/tasks/{task_id}/keepalive", post(keepalive))
        .layer(DefaultBodyLimit::max(MAX_JSON_BODY))
}

/// StartRecord: a new recording task for the caller in class `ClassId`.
#[utoipa::path(
    post,
    path = "/localrecord/v1/tasks",
    tag = "recorder",
    request_body = CreateTask,
    responses(
        (status = 200, description = "The task's id", body = TaskCreatedResponse),
        AuthErrors,
        JsonBodyErrors,
    )
)]
async fn create(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(body): ApiJson<serde_json::Value>,
) -> Result<Json<serde_json::Value>> {
    let req: CreateTask =
        serde_json::from_value(body.clone()).map_err(|e| Error::invalid(format!("bad StartRecord parameters: {e}")))?;
    if req.class_id <= 0 {
        return Err(Error::invalid("ClassId must be a positive integer"));
    }
    crate::quota::new_task(
        &state.db,
        &state.settings.quota,
        caller.sdk_app_id(),
        &caller.identifier,
    )
    .await?;
    let task_id = format!(
        "{}-{}-{}",
        caller.sdk_app_id(),
        req.class_id,
        uuid::Uuid::new_v4().simple()
    );
    tasks::insert(
        &state.db,
        &task_id,
        caller.sdk_app_id(),
        req.class_id,
        &caller.identifier,
        &body,
    )
    .await?;
    tracing::info!(task = %task_id, user = %caller.identifier, "task created");
    Ok(ok(TaskCreated { task_id }))
}

/// Loads a task the caller may act on: its own, or any of its app's when the caller is an admin.
/// Every task id a request names passes here first: one that is not a [`TaskId`] names no task.
pub async fn owned_task(state: &AppState, caller: &Caller, task_id: &str) -> Result<Task> {
    let task = match TaskId::parse(task_id) {
        Ok(id) => tasks::get(&state.db, &id).await?,
        Err(_) => None,
    };
    match task {
        Some(t) if t.sdk_app_id == caller.sdk_app_id() => {
            if t.user_id == caller.identifier || caller.is_admin() {
                Ok(t)
            } else {
                Err(Error::Forbidden(format!("task {task_id} belongs to another user")))
            }
        }
        _ => Err(Error::NotFound(format!(
            "no task {task_id} in SdkAppId {}",
            caller.sdk_app_id()
        ))),
    }
}

/// Pauses a recording task (idempotent).
#[utoipa::path(
    post,
    path = "/localrecord/v1/tasks/{task_id}/pause",
    tag = "recorder",
    params(("task_id" = String, Path, description = "The TaskId")),
    responses(
        (status = 200, description = "The task's status", body = TaskStatusResponse),
        AuthErrors, TaskErrors, ConflictErrors,
    )
)]
async fn pause(
    State(state): State<AppState>,
    caller: Caller,
    Path(task_id): Path<String>,
) -> Result<Json<serde_json::Value>> {
    move_state(&state, &caller, &task_id, TaskState::Paused).await
}

/// Resumes a paused task (idempotent).
#[utoipa::path(
    post,
    path = "/localrecord/v1/tasks/{task_id}/resume",
    tag = "recorder",
    params(("task_id" = String, Path, description = "The TaskId")),
    responses(
        (status = 200, description = "The task's status", body = TaskStatusResponse),
        AuthErrors, TaskErrors, ConflictErrors,
    )
)]
async fn resume(
    State(state): State<AppState>,
    caller: Caller,
    Path(task_id): Path<String>,
) -> Result<Json<serde_json::Value>> {
    move_state(&state, &caller, &task_id, TaskState::Recording).await
}

/// Pause and resume: between recording and paused only, idempotent.
async fn move_state(
    state: &AppState,
    caller: &Caller,
    task_id: &str,
    to: TaskState,
) -> Result<Json<serde_json::Value>> {
    let task = owned_task(state, caller, task_id).await?;
    let from = [TaskState::Recording, TaskState::Paused];
    match tasks::transition(&state.db, task_id, &from, to).await? {
        Some(_) => Ok(ok(task_status(state, &caller.app, task_id).await?)),
        None => Err(Error::Conflict(format!(
            "task {task_id} is {}; only a recording or paused task can change to {to}",
            task.state
        ))),
    }
}

/// Stops a task with its slice count; splicing starts once every slice is stored. The same stop
/// again is accepted (the recorder retries).
#[utoipa::path(
    post,
    path = "/localrecord/v1/tasks/{task_id}/stop",
    tag = "recorder",
    params(("task_id" = String, Path, description = "The TaskId")),
    request_body = StopTask,
    responses(
        (status = 200, description = "The task's status", body = TaskStatusResponse),
        AuthErrors, JsonBodyErrors, TaskErrors, ConflictErrors,
    )
)]
async fn stop(
    State(state): State<AppState>,
    caller: Caller,
    Path(task_id): Path<String>,
    ApiJson(req): ApiJson<StopTask>,
) -> Result<Json<serde_json::Value>> {
    if !(0..=MAX_SLICES).contains(&req.slice_count) {
        return Err(Error::invalid(format!("SliceCount must be between 0 and {MAX_SLICES}")));
    }
    if req.slice_count > 0 {
        crate::quota::slice_index(&state.settings.quota, req.slice_count as i64 - 1)?;
    }
    let task = owned_task(&state, &caller, &task_id).await?;
    if tasks::stop(&state.db, &task_id, req.slice_count).await?.is_none() {
        // Already stopped: the same stop again is fine (the recorder retries), a different count is not.
        if task.slice_count != Some(req.slice_count) {
            return Err(Error::Conflict(format!(
                "task {task_id} was already stopped with SliceCount {:?}",
                task.slice_count
            )));
        }
    } else {
        tracing::info!(task = %task_id, slices = req.slice_count, "task stopped");
        crate::jobs::splice::maybe_enqueue(&state.db, &task_id, state.ingest.resplice_delay).await?;
    }
    Ok(ok(task_status(&state, &caller.app, &task_id).await?))
}

/// The recorder is alive (sent while recording or paused, so a long pause or a long slice is never
/// taken for a vanished recorder). Answers the task's status.
/// The recorder is alive; answers the task's status.
#[utoipa::path(
    post,
    path = "/localrecord/v1/tasks/{task_id}/keepalive",
    tag = "recorder",
    params(("task_id" = String, Path, description = "The TaskId")),
    responses(
        (status = 200, description = "The task's status", body = TaskStatusResponse),
        AuthErrors, TaskErrors,
    )
)]
async fn keepalive(
    State(state): State<AppState>,
    caller: Caller,
    Path(task_id): Path<String>,
) -> Result<Json<serde_json::Value>> {
    owned_task(&state, &caller, &task_id).await?;
    tasks::touch(&state.db, &task_id).await?;
    Ok(ok(task_status(&state, &caller.app, &task_id).await?))
}

/// The task with the upload state of every slice.
#[utoipa::path(
    get,
    path = "/localrecord/v1/tasks/{task_id}",
    tag = "recorder",
    params(("task_id" = String, Path, description = "The TaskId")),
    responses(
        (status = 200, description = "The task's status", body = TaskStatusResponse),
        AuthErrors, TaskErrors,
    )
)]
async fn status(
    State(state): State<AppState>,
    caller: Caller,
    Path(task_id): Path<String>,
) -> Result<Json<serde_json::Value>> {
    owned_task(&state, &caller, &task_id).await?;
    Ok(ok(task_status(&state, &caller.app, &task_id).await?))
}

/// The task with every slice's state: stored ones, ones with an open upload, and the ones not begun.
pub async fn task_status(state: &AppState, app: &App, task_id: &str) -> Result<TaskStatus> {
    let task = tasks::get(&state.db, task_id)
        .await?
        .ok_or_else(|| Error::NotFound(format!("no task {task_id}")))?;
    let mut by_index: BTreeMap<i32, SliceStatus> = BTreeMap::new();
    for u in uploads::open_for_task(&state.db, task_id).await? {
        let Some(index) = u.slice_index else { continue };
        let e = by_index.entry(index).or_insert(SliceStatus {
            index,
            state: SliceState::Uploading,
            size: 0,
            length: Some(u.length),
            md5: None,
        });
        if u.offset >= e.size {
            e.size = u.offset;
            e.length = Some(u.length);
        }
    }
    for s in slices::for_task(&state.db, task_id).await? {
        by_index.insert(
            s.slice_index,
            SliceStatus {
                index: s.slice_index,
                state: SliceState::Uploaded,
                size: s.size,
                length: None,
                md5: Some(s.md5),
            },
        );
    }
    let declared = task.slice_count.unwrap_or(0);
    for index in 0..declared {
        by_index.entry(index).or_insert(SliceStatus {
            index,
            state: SliceState::Wait,
            size: 0,
            length: None,
            md5: None,
        });
    }
    let missing_slices = (0..declared)
        .filter(|i| by_index.get(i).map(|s| s.state != SliceState::Uploaded).unwrap_or(true))
        .collect();
    let partial = task.state == TaskState::Partial;
    Ok(TaskStatus {
        task_id: task.task_id,
        sdk_app_id: task.sdk_app_id as u64,
        class_id: task.class_id,
        user_id: task.user_id,
        state: task.state.to_string(),
        slice_count: task.slice_count,
        start_time: task.start_time.timestamp(),
        slices: by_index.into_values().collect(),
        missing_slices: if partial {
            task.missing_slices.clone()
        } else {
            missing_slices
        },
        video_output_url: task
            .video_output_id
            .as_ref()
            .map(|id| crate::http::recordings::url(&state.settings, app, id)),
        video_output_id: task.video_output_id,
        video_output_size: task.video_output_size,
        video_output_duration: task.video_output_duration_ms,
        splic_time: task.splic_time.map(|t| t.timestamp()),
        splice_ms: task.splice_ms,
        failure_reason: task.failure_reason,
        encrypted: task.video_key_id.is_some(),
        key_id: task.video_key_id,
    })
}
