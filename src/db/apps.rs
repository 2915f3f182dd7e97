//! `apps`: customer applications and their keys.

use chrono::{DateTime, Utc};
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
    /// What the last rotation of each key replaced, and until when it still counts.
    #[sqlx(flatten)]
    pub previous: PreviousKeys,
}

/// Keys replaced by `localrecord app rotate`, each valid until its overlap ends.
#[derive(Clone, Default, sqlx::FromRow)]
pub struct PreviousKeys {
    pub previous_secret_key: Option<String>,
    pub previous_secret_key_until: Option<DateTime<Utc>>,
    pub previous_tic_key: Option<String>,
    pub previous_tic_key_until: Option<DateTime<Utc>>,
    pub previous_webhook_secret: Option<String>,
    pub previous_webhook_secret_until: Option<DateTime<Utc>>,
}

/// Which of an app's keys a rotation replaces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyKind {
    SecretKey,
    TicKey,
    WebhookSecret,
}

impl KeyKind {
    fn column(self) -> &'static str {
        match self {
            KeyKind::SecretKey => "secret_key",
            KeyKind::TicKey => "tic_key",
            KeyKind::WebhookSecret => "webhook_secret",
        }
    }
}

fn current<'a>(key: &'a str, previous: &'a Option<String>, until: &Option<DateTime<Utc>>) -> Vec<&'a str> {
    let mut keys = vec![key];
    if let (Some(p), Some(u)) = (previous, until) {
        if *u > Utc::now() {
            keys.push(p);
        }
    }
    keys
}

impl App {
    /// Keys a UserSig may be signed with now: the current one first, then the one it replaced while
    /// the rotation's overlap lasts.
    pub fn secret_keys(&self) -> Vec<&str> {
        let p = &self.previous;
        current(&self.secret_key, &p.previous_secret_key, &p.previous_secret_key_until)
    }

    /// Keys a query sign may be made with now (see [`App::secret_keys`]).
    pub fn tic_keys(&self) -> Vec<&str> {
        let p = &self.previous;
        current(&self.tic_key, &p.previous_tic_key, &p.previous_tic_key_until)
    }

    /// Secrets callbacks are signed with now: during an overlap both, so receivers holding either
    /// verify (Standard Webhooks carries several signatures).
    pub fn webhook_secrets(&self) -> Vec<&str> {
        let p = &self.previous;
        current(
            &self.webhook_secret,
            &p.previous_webhook_secret,
            &p.previous_webhook_secret_until,
        )
    }
}

const COLUMNS: &str = "sdk_app_id, secret_key, tic_key, admin_identifiers, local_record_enabled, callback_url, \
    webhook_secret, previous_secret_key, previous_secret_key_until, previous_tic_key, previous_tic_key_until, \
    previous_webhook_secret, previous_webhook_secret_until";

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
    sqlx::query_as(&format!("SELECT {COLUMNS} FROM apps WHERE sdk_app_id = $1"))
        .bind(sdk_app_id)
        .fetch_optional(db)
        .await
}

pub async fn list(db: impl PgExecutor<'_>) -> sqlx::Result<Vec<App>> {
    sqlx::query_as(&format!("SELECT {COLUMNS} FROM apps ORDER BY sdk_app_id"))
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

/// Replaces one key with `new`; the old one stays valid for `overlap`. False if there is no such app.
pub async fn rotate(
    db: impl PgExecutor<'_>,
    sdk_app_id: i64,
    kind: KeyKind,
    new: &str,
    overlap: std::time::Duration,
) -> sqlx::Result<bool> {
    let c = kind.column();
    let r = sqlx::query(&format!(
        "UPDATE apps SET previous_{c} = {c}, previous_{c}_until = now() + make_interval(secs => $3), {c} = $2 \
         WHERE sdk_app_id = $1"
    ))
    .bind(sdk_app_id)
    .bind(new)
    .bind(overlap.as_secs_f64())
    .execute(db)
    .await?;
    Ok(r.rows_affected() == 1)
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
