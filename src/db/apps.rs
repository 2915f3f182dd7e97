//! `apps`: customer applications and their keys.

use sqlx::{FromRow, PgExecutor};

#[derive(Clone, FromRow)]
pub struct App {
    pub sdk_app_id: i64,
    pub secret_key: String,
    pub tic_key: String,
    pub admin_identifiers: Vec<String>,
    pub local_record_enabled: bool,
    pub callback_url: Option<String>,
    pub webhook_secret: String,
}

impl std::fmt::Debug for App {
    // Keys stay out of logs.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("App")
            .field("sdk_app_id", &self.sdk_app_id)
            .field("admin_identifiers", &self.admin_identifiers)
            .field("local_record_enabled", &self.local_record_enabled)
            .field("callback_url", &self.callback_url)
            .finish_non_exhaustive()
    }
}

pub async fn get(db: impl PgExecutor<'_>, sdk_app_id: i64) -> sqlx::Result<Option<App>> {
    sqlx::query_as("SELECT sdk_app_id, secret_key, tic_key, admin_identifiers, local_record_enabled, callback_url, webhook_secret FROM apps WHERE sdk_app_id = $1")
        .bind(sdk_app_id)
        .fetch_optional(db)
        .await
}

pub async fn list(db: impl PgExecutor<'_>) -> sqlx::Result<Vec<App>> {
    sqlx::query_as("SELECT sdk_app_id, secret_key, tic_key, admin_identifiers, local_record_enabled, callback_url, webhook_secret FROM apps ORDER BY sdk_app_id")
        .fetch_all(db)
        .await
}

pub async fn insert(db: impl PgExecutor<'_>, app: &App) -> sqlx::Result<()> {
    sqlx::query("INSERT INTO apps (sdk_app_id, secret_key, tic_key, admin_identifiers, local_record_enabled, callback_url, webhook_secret) VALUES ($1, $2, $3, $4, $5, $6, $7)")
        .bind(app.sdk_app_id)
        .bind(&app.secret_key)
        .bind(&app.tic_key)
        .bind(&app.admin_identifiers)
        .bind(app.local_record_enabled)
        .bind(&app.callback_url)
        .bind(&app.webhook_secret)
        .execute(db)
        .await
        .map(|_| ())
}

pub async fn set_local_record_enabled(db: impl PgExecutor<'_>, sdk_app_id: i64, on: bool) -> sqlx::Result<bool> {
    let r = sqlx::query("UPDATE apps SET local_record_enabled = $2 WHERE sdk_app_id = $1")
        .bind(sdk_app_id)
        .bind(on)
        .execute(db)
        .await?;
    Ok(r.rows_affected() == 1)
}

pub async fn set_callback_url(db: impl PgExecutor<'_>, sdk_app_id: i64, url: &str) -> sqlx::Result<()> {
    sqlx::query("UPDATE apps SET callback_url = $2 WHERE sdk_app_id = $1")
        .bind(sdk_app_id)
        .bind(url)
        .execute(db)
        .await
        .map(|_| ())
}

/// Unregisters `url` (a receiver answered 410 Gone), unless the app registered another meanwhile.
pub async fn clear_callback_url(db: impl PgExecutor<'_>, sdk_app_id: i64, url: &str) -> sqlx::Result<()> {
    sqlx::query("UPDATE apps SET callback_url = NULL WHERE sdk_app_id = $1 AND callback_url = $2")
        .bind(sdk_app_id)
        .bind(url)
        .execute(db)
        .await
        .map(|_| ())
}

/// A short-lived cache of apps for hot read paths (recorder auth, the query API): a key rotation, a
/// disabled app or a new app is seen within `ttl`. Unknown ids are cached too, and at most
/// [`AppCache::LOOKUPS`] misses reach Postgres at once, so a flood of made-up ids cannot take the
/// pool's connections from commits and job heartbeats.
#[derive(Clone)]
pub struct AppCache {
    #[allow(clippy::type_complexity)]
    entries: std::sync::Arc<std::sync::Mutex<std::collections::HashMap<i64, (std::time::Instant, Option<App>)>>>,
    lookups: std::sync::Arc<tokio::sync::Semaphore>,
}

impl Default for AppCache {
    fn default() -> Self {
        AppCache {
            entries: Default::default(),
            lookups: std::sync::Arc::new(tokio::sync::Semaphore::new(Self::LOOKUPS)),
        }
    }
}

impl AppCache {
    pub const TTL: std::time::Duration = std::time::Duration::from_secs(2);
    pub const LOOKUPS: usize = 4;

    fn cached(&self, sdk_app_id: i64) -> Option<Option<App>> {
        let entries = self.entries.lock().expect("cache lock");
        let (at, app) = entries.get(&sdk_app_id)?;
        (at.elapsed() < Self::TTL).then(|| app.clone())
    }

    pub async fn get(&self, db: &sqlx::PgPool, sdk_app_id: i64) -> sqlx::Result<Option<App>> {
        if let Some(app) = self.cached(sdk_app_id) {
            return Ok(app);
        }
        let _permit = self.lookups.acquire().await.expect("semaphore never closed");
        // Another request may have looked it up while this one waited.
        if let Some(app) = self.cached(sdk_app_id) {
            return Ok(app);
        }
        let app = get(db, sdk_app_id).await?;
        let mut entries = self.entries.lock().expect("cache lock");
        if entries.len() > 10_000 {
            entries.retain(|_, (at, _)| at.elapsed() < Self::TTL);
        }
        entries.insert(sdk_app_id, (std::time::Instant::now(), app.clone()));
        Ok(app)
    }
}

impl std::fmt::Debug for AppCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AppCache")
    }
}
