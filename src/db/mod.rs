//! Queries, one file per table. Each function takes an executor (a pool, a connection or a
//! transaction), so callers decide what runs atomically.

pub mod apps;
pub mod audit;
pub mod console;
pub mod console_views;
pub mod deletion;
pub mod pieces;
pub mod query_nonces;
pub mod slices;
pub mod task_state;
pub mod tasks;
pub mod uploads;
pub mod usage;

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::PgPool;
use std::str::FromStr;
use std::time::Duration;

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
