//! `console_login_tokens`, `console_sessions` and `console_session_apps`: the admin console's
//! one-time sign-in links, its sessions and the apps each session is signed in to. Callers pass
//! hashes, never the tokens themselves.

use sqlx::PgExecutor;

/// Who a link or a session signs in: an admin identifier of one app.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Principal {
    pub sdk_app_id: i64,
    pub identifier: String,
}

/// A live session: its current app (see [`session_apps`] for all of them) and CSRF token.
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

/// Starts a session holding one app (its current app).
pub async fn insert_session(
    db: &sqlx::PgPool,
    id_hash: &str,
    p: &Principal,
    csrf: &str,
    ttl_secs: i64,
) -> sqlx::Result<()> {
    let mut tx = db.begin().await?;
    sqlx::query(
        "INSERT INTO console_sessions (id_hash, sdk_app_id, identifier, csrf, expires_at)
         VALUES ($1, $2, $3, $4, now() + make_interval(secs => $5))",
    )
    .bind(id_hash)
    .bind(p.sdk_app_id)
    .bind(&p.identifier)
    .bind(csrf)
    .bind(ttl_secs as f64)
    .execute(&mut *tx)
    .await?;
    upsert_app(&mut tx, id_hash, p, ttl_secs).await?;
    tx.commit().await
}

async fn upsert_app(
    tx: &mut sqlx::Transaction<'_, sqlx::Postgres>,
    id_hash: &str,
    p: &Principal,
    ttl_secs: i64,
) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO console_session_apps (id_hash, sdk_app_id, identifier, expires_at)
         VALUES ($1, $2, $3, now() + make_interval(secs => $4))
         ON CONFLICT (id_hash, sdk_app_id) DO UPDATE
         SET identifier = EXCLUDED.identifier, signed_in_at = now(), expires_at = EXCLUDED.expires_at",
    )
    .bind(id_hash)
    .bind(p.sdk_app_id)
    .bind(&p.identifier)
    .bind(ttl_secs as f64)
    .execute(&mut **tx)
    .await
    .map(drop)
}

/// What became of [`add_app`].
#[derive(Debug, PartialEq, Eq)]
pub enum Added {
    /// The app joined the session (or its sign-in was renewed), which now goes by the new id and
    /// has the app as its current one.
    Yes,
    /// No live session has the old id.
    NoSession,
    /// The session already holds `max_apps` other apps.
    Full,
}

/// Adds an app sign-in to a live session, makes it the current app and gives the session a new id
/// (a session that gains an app is a new credential: the old cookie stops working).
pub async fn add_app(
    db: &sqlx::PgPool,
    old_hash: &str,
    new_hash: &str,
    p: &Principal,
    ttl_secs: i64,
    max_apps: i64,
) -> sqlx::Result<Added> {
    let mut tx = db.begin().await?;
    let others: Option<i64> = sqlx::query_scalar(
        "SELECT (SELECT count(*) FROM console_session_apps a
                 WHERE a.id_hash = s.id_hash AND a.sdk_app_id <> $2 AND a.expires_at > now())
         FROM console_sessions s WHERE s.id_hash = $1 AND s.expires_at > now() FOR UPDATE",
    )
    .bind(old_hash)
    .bind(p.sdk_app_id)
    .fetch_optional(&mut *tx)
    .await?;
    match others {
        None => return Ok(Added::NoSession),
        Some(n) if n >= max_apps => return Ok(Added::Full),
        Some(_) => {}
    }
    sqlx::query(
        "UPDATE console_sessions
         SET id_hash = $2, sdk_app_id = $3, identifier = $4,
             expires_at = GREATEST(expires_at, now() + make_interval(secs => $5))
         WHERE id_hash = $1",
    )
    .bind(old_hash)
    .bind(new_hash)
    .bind(p.sdk_app_id)
    .bind(&p.identifier)
    .bind(ttl_secs as f64)
    .execute(&mut *tx)
    .await?;
    upsert_app(&mut tx, new_hash, p, ttl_secs).await?;
    tx.commit().await?;
    Ok(Added::Yes)
}

/// The session's current app and CSRF token, if it is live.
pub async fn session(db: impl PgExecutor<'_>, id_hash: &str) -> sqlx::Result<Option<Session>> {
    sqlx::query_as(
        "SELECT sdk_app_id, identifier, csrf FROM console_sessions WHERE id_hash = $1 AND expires_at > now()",
    )
    .bind(id_hash)
    .fetch_optional(db)
    .await
}

/// The apps a session is signed in to (unexpired sign-ins), in the order they were signed in to.
pub async fn session_apps(db: impl PgExecutor<'_>, id_hash: &str) -> sqlx::Result<Vec<Principal>> {
    sqlx::query_as(
        "SELECT sdk_app_id, identifier FROM console_session_apps
         WHERE id_hash = $1 AND expires_at > now() ORDER BY signed_in_at, sdk_app_id",
    )
    .bind(id_hash)
    .fetch_all(db)
    .await
}

/// Makes one of the session's apps its current one; false when the session holds no live sign-in
/// to that app.
pub async fn switch_app(db: impl PgExecutor<'_>, id_hash: &str, sdk_app_id: i64) -> sqlx::Result<bool> {
    let r = sqlx::query(
        "UPDATE console_sessions s SET sdk_app_id = a.sdk_app_id, identifier = a.identifier
         FROM console_session_apps a
         WHERE s.id_hash = $1 AND s.expires_at > now()
           AND a.id_hash = s.id_hash AND a.sdk_app_id = $2 AND a.expires_at > now()",
    )
    .bind(id_hash)
    .bind(sdk_app_id)
    .execute(db)
    .await?;
    Ok(r.rows_affected() > 0)
}

/// What became of [`remove_app`].
#[derive(Debug, PartialEq, Eq)]
pub enum Removed {
    /// The session holds no such app.
    NotThere,
    /// Signed out of the app; the session goes on with its other apps.
    Kept,
    /// It was the session's last app: the session is gone.
    Ended,
}

/// Signs a session out of one app. When that was its current app, the most recently signed-in
/// other app becomes current; when it was the last, the session ends.
pub async fn remove_app(db: &sqlx::PgPool, id_hash: &str, sdk_app_id: i64) -> sqlx::Result<Removed> {
    let mut tx = db.begin().await?;
    let gone = sqlx::query("DELETE FROM console_session_apps WHERE id_hash = $1 AND sdk_app_id = $2")
        .bind(id_hash)
        .bind(sdk_app_id)
        .execute(&mut *tx)
        .await?;
    if gone.rows_affected() == 0 {
        return Ok(Removed::NotThere);
    }
    let next: Option<Principal> = sqlx::query_as(
        "SELECT sdk_app_id, identifier FROM console_session_apps
         WHERE id_hash = $1 AND expires_at > now() ORDER BY signed_in_at DESC, sdk_app_id LIMIT 1",
    )
    .bind(id_hash)
    .fetch_optional(&mut *tx)
    .await?;
    let outcome = match next {
        None => {
            delete_session(&mut *tx, id_hash).await?;
            Removed::Ended
        }
        Some(n) => {
            sqlx::query(
                "UPDATE console_sessions SET sdk_app_id = $2, identifier = $3
                 WHERE id_hash = $1 AND sdk_app_id = $4",
            )
            .bind(id_hash)
            .bind(n.sdk_app_id)
            .bind(&n.identifier)
            .bind(sdk_app_id)
            .execute(&mut *tx)
            .await?;
            Removed::Kept
        }
    };
    tx.commit().await?;
    Ok(outcome)
}

pub async fn delete_session(db: impl PgExecutor<'_>, id_hash: &str) -> sqlx::Result<bool> {
    let r = sqlx::query("DELETE FROM console_sessions WHERE id_hash = $1")
        .bind(id_hash)
        .execute(db)
        .await?;
    Ok(r.rows_affected() > 0)
}

/// Drops expired sessions, app sign-ins and links (run at each sign-in; the tables are indexed by
/// expiry).
pub async fn delete_expired(db: &sqlx::PgPool) -> sqlx::Result<()> {
    sqlx::query("DELETE FROM console_sessions WHERE expires_at < now()")
        .execute(db)
        .await?;
    sqlx::query("DELETE FROM console_session_apps WHERE expires_at < now()")
        .execute(db)
        .await?;
    sqlx::query("DELETE FROM console_login_tokens WHERE expires_at < now() - interval '1 day'")
        .execute(db)
        .await?;
    Ok(())
}
