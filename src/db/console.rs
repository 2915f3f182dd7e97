//! `console_login_tokens` and `console_sessions`: the admin console's one-time sign-in links and
//! sessions. Callers pass hashes, never the tokens themselves.

use sqlx::PgExecutor;

/// Who a link or a session signs in: an admin identifier of one app.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Principal {
    pub sdk_app_id: i64,
    pub identifier: String,
}

/// A live session.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Session {
    pub sdk_app_id: i64,
    pub identifier: String,
    pub csrf: String,
}

pub async fn insert_login_token(
    db: impl PgExecutor<'_>,
    token_hash: &str,
    p: &Principal,
    ttl_secs: i64,
) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO console_login_tokens (token_hash, sdk_app_id, identifier, expires_at)
         VALUES ($1, $2, $3, now() + make_interval(secs => $4))",
    )
    .bind(token_hash)
    .bind(p.sdk_app_id)
    .bind(&p.identifier)
    .bind(ttl_secs as f64)
    .execute(db)
    .await
    .map(drop)
}

/// The link's principal if it is unused and unexpired, without using it (the confirmation page).
pub async fn peek_login_token(db: impl PgExecutor<'_>, token_hash: &str) -> sqlx::Result<Option<Principal>> {
    sqlx::query_as(
        "SELECT sdk_app_id, identifier FROM console_login_tokens
         WHERE token_hash = $1 AND used_at IS NULL AND expires_at > now()",
    )
    .bind(token_hash)
    .fetch_optional(db)
    .await
}

/// Uses the link: one statement, so of two racing sign-ins only one gets the principal.
pub async fn consume_login_token(db: impl PgExecutor<'_>, token_hash: &str) -> sqlx::Result<Option<Principal>> {
    sqlx::query_as(
        "UPDATE console_login_tokens SET used_at = now()
         WHERE token_hash = $1 AND used_at IS NULL AND expires_at > now()
         RETURNING sdk_app_id, identifier",
    )
    .bind(token_hash)
    .fetch_optional(db)
    .await
}

pub async fn insert_session(
    db: impl PgExecutor<'_>,
    id_hash: &str,
    p: &Principal,
    csrf: &str,
    ttl_secs: i64,
) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO console_sessions (id_hash, sdk_app_id, identifier, csrf, expires_at)
         VALUES ($1, $2, $3, $4, now() + make_interval(secs => $5))",
    )
    .bind(id_hash)
    .bind(p.sdk_app_id)
    .bind(&p.identifier)
    .bind(csrf)
    .bind(ttl_secs as f64)
    .execute(db)
    .await
    .map(drop)
}

pub async fn session(db: impl PgExecutor<'_>, id_hash: &str) -> sqlx::Result<Option<Session>> {
    sqlx::query_as(
        "SELECT sdk_app_id, identifier, csrf FROM console_sessions WHERE id_hash = $1 AND expires_at > now()",
    )
    .bind(id_hash)
    .fetch_optional(db)
    .await
}

pub async fn delete_session(db: impl PgExecutor<'_>, id_hash: &str) -> sqlx::Result<bool> {
    let r = sqlx::query("DELETE FROM console_sessions WHERE id_hash = $1")
        .bind(id_hash)
        .execute(db)
        .await?;
    Ok(r.rows_affected() > 0)
}

/// Drops expired sessions and links (run at each sign-in; both tables are indexed by expiry).
pub async fn delete_expired(db: &sqlx::PgPool) -> sqlx::Result<()> {
    sqlx::query("DELETE FROM console_sessions WHERE expires_at < now()")
        .execute(db)
        .await?;
    sqlx::query("DELETE FROM console_login_tokens WHERE expires_at < now() - interval '1 day'")
        .execute(db)
        .await?;
    Ok(())
}
