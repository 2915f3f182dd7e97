//! Queries, one file per table. Each function takes an executor (a pool, a connection or a
//! transaction), so callers decide what runs atomically.

pub mod apps;
pub mod audit;
pub mod callback_log;
pub mod checks;
pub mod console;
pub mod console_views;
pub mod deletion;
pub mod pieces;
pub mod query_nonces;
pub mod queue;
pub mod recording_keys;
pub mod slices;
pub mod splice_log;
pub mod task_state;
pub mod tasks;
mod text_enum;
pub mod upload_multipart;
pub mod uploads;
pub mod usage;

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::PgPool;
use std::str::FromStr;
use std::time::Duration;

/// Answers when the database does (the health check).
pub async fn ping(db: &PgPool) -> sqlx::Result<()> {
    sqlx::query("SELECT 1").execute(db).await.map(drop)
}

/// Creates database `name` if the server has none by that name (the embedded Postgres's first start).
pub async fn create_database_if_missing(admin: &PgPool, name: &str) -> sqlx::Result<()> {
    let exists: Option<(i32,)> = sqlx::query_as("SELECT 1 FROM pg_database WHERE datname = $1")
        .bind(name)
        .fetch_optional(admin)
        .await?;
    if exists.is_none() {
        sqlx::query(&format!("CREATE DATABASE {name}")).execute(admin).await?;
    }
    Ok(())
}

/// The embedded migrations (`migrations/`), run by `serve` and `migrate`.
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

pub async fn connect(url: &str, max_connections: u32) -> anyhow::Result<PgPool> {
    let opts = PgConnectOptions::from_str(url)?;
    Ok(PgPoolOptions::new()
        .max_connections(max_connections)
        .acquire_timeout(Duration::from_secs(10))
        .connect_with(opts)
        .await?)
}
