//! The callback delivery log (`callback_attempts`) and the callback messages queued in `jobs`.

use serde::Serialize;
use sqlx::PgExecutor;

/// An attempt to record.
pub struct NewAttempt<'a> {
    pub webhook_id: &'a str,
    pub task_id: &'a str,
    pub attempt: i32,
    pub url: &'a str,
    pub status: Option<i32>,
    pub error: Option<&'a str>,
    pub duration_ms: i64,
}

pub async fn insert(db: impl PgExecutor<'_>, a: &NewAttempt<'_>) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO callback_attempts (webhook_id, task_id, attempt, url, status, error, duration_ms) VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(a.webhook_id)
    .bind(a.task_id)
    .bind(a.attempt)
    .bind(a.url)
    .bind(a.status)
    .bind(a.error)
    .bind(a.duration_ms)
    .execute(db)
    .await
    .map(drop)
}

/// One attempt, for the delivery log.
#[derive(Debug, Serialize, sqlx::FromRow, utoipa::ToSchema)]
#[schema(as = DeliveryAttempt)]
pub struct Attempt {
    #[serde(rename = "WebhookId")]
    pub webhook_id: String,
    #[serde(rename = "Attempt")]
    pub attempt: i32,
    #[serde(rename = "Url")]
    pub url: String,
    /// The receiver's HTTP status, if it answered.
    #[serde(rename = "Status")]
    pub status: Option<i32>,
    /// Why there was no answer (a class of failure), if none.
    #[serde(rename = "Error")]
    pub error: Option<String>,
    #[serde(rename = "DurationMs")]
    pub duration_ms: i64,
    /// Unix seconds
    #[serde(rename = "Time")]
    pub time: i64,
}

pub async fn attempts(db: impl PgExecutor<'_>, task_id: &str) -> sqlx::Result<Vec<Attempt>> {
    sqlx::query_as(
        "SELECT webhook_id, attempt, url, status, error, duration_ms, extract(epoch from at)::bigint AS time
         FROM callback_attempts WHERE task_id = $1 ORDER BY at, id",
    )
    .bind(task_id)
    .fetch_all(db)
    .await
}

/// The task's callback jobs' payloads with their queue state and attempts, oldest first.
pub async fn messages(db: impl PgExecutor<'_>, task_id: &str) -> sqlx::Result<Vec<(serde_json::Value, String, i32)>> {
    sqlx::query_as(
        "SELECT payload, state, attempts FROM jobs WHERE kind = 'callback' AND payload->>'task_id' = $1 ORDER BY created_at, id",
    )
    .bind(task_id)
    .fetch_all(db)
    .await
}
