//! `audit_log`: admin actions, newest first.

use serde::Serialize;
use sqlx::PgExecutor;

/// One action. Field names follow the API's PascalCase.
#[derive(Debug, Serialize, sqlx::FromRow, utoipa::ToSchema)]
#[schema(as = AuditEntry)]
pub struct Entry {
    #[serde(rename = "Id")]
    pub id: i64,
    #[serde(rename = "Time")]
    pub time: i64,
    #[serde(rename = "Actor")]
    pub actor: String,
    #[serde(rename = "Action")]
    pub action: String,
    #[serde(rename = "Target")]
    pub target: String,
    #[serde(rename = "Detail")]
    pub detail: serde_json::Value,
}

pub async fn record(
    db: impl PgExecutor<'_>,
    sdk_app_id: i64,
    actor: &str,
    action: &str,
    target: &str,
    detail: serde_json::Value,
) -> sqlx::Result<()> {
    sqlx::query("INSERT INTO audit_log (sdk_app_id, actor, action, target, detail) VALUES ($1, $2, $3, $4, $5)")
        .bind(sdk_app_id)
        .bind(actor)
        .bind(action)
        .bind(target)
        .bind(detail)
        .execute(db)
        .await
        .map(drop)
}

/// A page of an app's entries, newest first, and the total.
pub async fn page(db: &sqlx::PgPool, sdk_app_id: i64, index: i64, size: i64) -> sqlx::Result<(Vec<Entry>, i64)> {
    let total: i64 = sqlx::query_scalar("SELECT count(*) FROM audit_log WHERE sdk_app_id = $1")
        .bind(sdk_app_id)
        .fetch_one(db)
        .await?;
    let rows = sqlx::query_as(
        "SELECT id, extract(epoch from at)::bigint AS time, actor, action, target, detail FROM audit_log
         WHERE sdk_app_id = $1 ORDER BY at DESC, id DESC OFFSET $2 LIMIT $3",
    )
    .bind(sdk_app_id)
    .bind(index)
    .bind(size)
    .fetch_all(db)
    .await?;
    Ok((rows, total))
}
