//! Result callbacks: the seed's callback body, POSTed to the app's registered CallbackUrl with
//! Standard Webhooks headers, from the durable job queue (the outbox): at least once, with the
//! `webhook-id` fixed at enqueue time so receivers can drop duplicates.
//!
//! Schedule (`callback.retry_schedule_secs`, default immediately, 5 s, 5 min, 30 min, 2 h, 5 h, 10 h,
//! 10 h) with +-10% jitter; a `Retry-After` from the receiver wins; 2xx ends it; 410 Gone unregisters
//! the URL. Each attempt is logged (`callback_attempts`) for the task's delivery log.

use super::Context;
use super::{queue, JobError};
use crate::auth::webhook;
use crate::db::{apps, callback_log, tasks};
use crate::links::{record_info, Links};
use anyhow::anyhow;
use localrecord_api::CallbackBody;
use serde::{Deserialize, Serialize};
use std::time::{Duration, Instant};

pub const KIND: &str = "callback";

/// Payload of a callback job: the message, fixed when the result was known.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CallbackJob {
    pub webhook_id: String,
    pub task_id: String,
    pub sdk_app_id: i64,
    pub body: CallbackBody,
}

pub fn key(webhook_id: &str) -> String {
    format!("{KIND}:{webhook_id}")
}

/// The seed's callback body with real values, plus `State` (done, partial, failed) and, when they
/// apply, `MissingSlices` and `FailureReason`.
pub fn body(links: &Links, app: &apps::App, task: tasks::Task) -> CallbackBody {
    let (sdk_app_id, state, missing_slices, failure_reason) = (
        task.sdk_app_id,
        task.state,
        task.missing_slices.clone(),
        task.failure_reason.clone(),
    );
    let has_output = task.video_output_id.is_some();
    let mut record = record_info(links, app, task);
    if !has_output {
        record.video_output_url = String::new();
    }
    CallbackBody {
        record,
        sdk_app_id,
        state: state.as_str().to_owned(),
        missing_slices,
        failure_reason,
    }
}

/// Queues the callback for a task's current result, if its app registered a URL. Takes a
/// connection so a job can queue it in the transaction that publishes the result: a crash can
/// then lose neither, nor keep one without the other.
pub async fn enqueue_result(ctx: &Context, db: &mut sqlx::PgConnection, task_id: &str) -> sqlx::Result<Option<String>> {
    let Some(task) = tasks::get(&mut *db, task_id).await? else {
        return Ok(None);
    };
    let Some(app) = apps::get(&mut *db, task.sdk_app_id).await? else {
        return Ok(None);
    };
    if app.callback_url.is_none() {
        return Ok(None);
    }
    let job = CallbackJob {
        webhook_id: format!("msg_{}", uuid::Uuid::new_v4().simple()),
        task_id: task.task_id.clone(),
        sdk_app_id: task.sdk_app_id,
        body: body(&Links::new(&ctx.settings), &app, task),
    };
    send(ctx, db, &job).await?;
    Ok(Some(job.webhook_id))
}

/// Queues (or re-arms, for a redelivery) one message.
pub async fn send(ctx: &Context, db: &mut sqlx::PgConnection, job: &CallbackJob) -> sqlx::Result<()> {
    let attempts = ctx.settings.callback.retry_schedule_secs.len().max(1) as i32;
    let payload = serde_json::to_value(job).expect("serialisable");
    queue::enqueue_with(db, KIND, &key(&job.webhook_id), &payload, Duration::ZERO, attempts).await
}

/// The delay before attempt `attempts + 1`, with +-10% jitter so retries of many messages spread.
fn next_delay(schedule: &[u64], attempts: i32) -> Duration {
    use rand::Rng;
    let base = schedule
        .get(attempts.max(0) as usize)
        .or(schedule.last())
        .copied()
        .unwrap_or(60) as f64;
    Duration::from_secs_f64(base * rand::thread_rng().gen_range(0.9..=1.1))
}

/// `Retry-After` as seconds or an HTTP date, capped at a day.
fn retry_after(h: &reqwest::header::HeaderMap) -> Option<Duration> {
    let v = h.get(reqwest::header::RETRY_AFTER)?.to_str().ok()?.trim();
    let secs = match v.parse::<u64>() {
        Ok(s) => s,
        Err(_) => {
            let t = chrono::DateTime::parse_from_rfc2822(v).ok()?;
            (t.timestamp() - chrono::Utc::now().timestamp()).max(0) as u64
        }
    };
    Some(Duration::from_secs(secs.min(86_400)))
}

pub async fn run(ctx: &Context, job: CallbackJob, attempt: i32) -> Result<(), JobError> {
    let app = apps::get(&ctx.db, job.sdk_app_id)
        .await?
        .ok_or_else(|| JobError::Permanent(anyhow!("app is gone")))?;
    let url = app
        .callback_url
        .clone()
        .ok_or_else(|| JobError::Permanent(anyhow!("no callback URL is registered")))?;
    let schedule = &ctx.settings.callback.retry_schedule_secs;
    let retry = |e: anyhow::Error, after: Option<Duration>| {
        JobError::RetryAfter(after.unwrap_or_else(|| next_delay(schedule, attempt)), e)
    };
    // Checked again at every attempt (an IP literal never meets the client's guarded resolver).
    let target = match crate::outbound::vet(&url, ctx.settings.callback.allow_private).await {
        Ok(t) => t,
        Err(e) => {
            log_attempt(ctx, &job, attempt, &url, None, Some(e.class()), 0).await?;
            crate::metrics::add(&crate::metrics::METRICS.callbacks_refused, 1);
            return Err(retry(anyhow!("callback URL refused: {e}"), None));
        }
    };
    let mut message = job.body.clone();
    if ctx.settings.query.recording_url_ttl_secs > 0 {
        // An expiring URL is made anew for each attempt: a retry hours later still carries a
        // working link (the webhook-id, which receivers deduplicate on, stays the same).
        let record = &mut message.record;
        if !record.video_output_id.is_empty() {
            record.video_output_url = Links::new(&ctx.settings).recording(&app, &record.video_output_id);
        }
    }
    let started = Instant::now();
    let result = post(ctx, &app, &job.webhook_id, target, &message).await?;
    let ms = started.elapsed().as_millis() as i64;
    // The answer's body is never read: only its status and Retry-After matter.
    let (status, error, after) = match &result {
        Ok(r) => (Some(r.status().as_u16() as i32), None, retry_after(r.headers())),
        Err(e) => (None, Some(crate::outbound::error_class(e)), None),
    };
    log_attempt(ctx, &job, attempt, &url, status, error, ms).await?;
    tracing::info!(task = %job.task_id, webhook_id = %job.webhook_id, attempt, status, error, ms, "callback attempt");
    let m = &crate::metrics::METRICS;
    let delivered = status.is_some_and(|s| (200..300).contains(&s));
    crate::metrics::add(
        if delivered {
            &m.callbacks_delivered
        } else {
            &m.callbacks_failed
        },
        1,
    );
    match status {
        Some(s) if (200..300).contains(&s) => Ok(()),
        Some(410) => {
            apps::clear_callback_url(&ctx.db, job.sdk_app_id, &url).await?;
            tracing::warn!(
                sdkappid = job.sdk_app_id,
                "receiver answered 410 Gone: callback URL unregistered"
            );
            Err(JobError::Permanent(anyhow!(
                "receiver answered 410 Gone; the callback URL was unregistered"
            )))
        }
        Some(s) => Err(retry(anyhow!("receiver answered {s}"), after)),
        None => Err(retry(anyhow!("no answer: {}", error.unwrap_or_default()), None)),
    }
}

/// POSTs `message`, signed the Standard Webhooks way with the app's secrets.
async fn post(
    ctx: &Context,
    app: &apps::App,
    webhook_id: &str,
    target: reqwest::Url,
    message: &CallbackBody,
) -> Result<reqwest::Result<reqwest::Response>, JobError> {
    let body = serde_json::to_vec(message).expect("serialisable");
    let ts = crate::auth::now();
    // During a secret's rotation overlap, one signature per secret, space-separated (Standard
    // Webhooks): receivers still holding the old secret verify too.
    let sig = app
        .webhook_secrets()
        .into_iter()
        .map(|s| webhook::sign(s, webhook_id, ts, &body))
        .collect::<anyhow::Result<Vec<_>>>()
        .map_err(JobError::Permanent)?
        .join(" ");
    Ok(ctx
        .http
        .post(target)
        .header("content-type", "application/json")
        .header("webhook-id", webhook_id)
        .header("webhook-timestamp", ts.to_string())
        .header("webhook-signature", sig)
        .body(body)
        .send()
        .await)
}

/// One line of the delivery log: the status, or a class of failure (see `outbound::error_class`).
async fn log_attempt(
    ctx: &Context,
    job: &CallbackJob,
    attempt: i32,
    url: &str,
    status: Option<i32>,
    error: Option<&str>,
    ms: i64,
) -> sqlx::Result<()> {
    let line = callback_log::NewAttempt {
        webhook_id: &job.webhook_id,
        task_id: &job.task_id,
        attempt,
        url,
        status,
        error,
        duration_ms: ms,
    };
    callback_log::insert(&ctx.db, &line).await
}

pub use callback_log::{attempts, Attempt};

/// The task's messages with their queue state, newest last.
pub async fn messages(db: &sqlx::PgPool, task_id: &str) -> sqlx::Result<Vec<(CallbackJob, String, i32)>> {
    Ok(callback_log::messages(db, task_id)
        .await?
        .into_iter()
        .filter_map(|(p, s, a)| Some((serde_json::from_value(p).ok()?, s, a)))
        .collect())
}
