//! The handlers' shared state. Only the HTTP layer sees it: ingest and jobs get their own narrower
//! contexts ([`Ingest`], [`jobs::Context`]), built once here.

use crate::config::Settings;
use crate::ingest::Ingest;
use crate::jobs;
use crate::store::Store;
use sqlx::PgPool;
use std::sync::Arc;

/// Everything a handler needs; cheap to clone.
#[derive(Clone, Debug)]
pub struct AppState {
    pub db: PgPool,
    pub store: Store,
    pub settings: Arc<Settings>,
    /// Apps for the query API's hot path.
    pub apps: crate::db::apps::AppCache,
    /// Failed authentications per address.
    pub auth_failures: Arc<super::limits::FailureLimiter>,
    /// What the tus handler hands to ingest.
    pub ingest: Ingest,
    /// What handlers that queue or run jobs hand to them (and what the worker runs with).
    pub jobs: jobs::Context,
}

impl AppState {
    pub fn new(jobs: jobs::Context) -> AppState {
        let settings = jobs.settings.clone();
        AppState {
            db: jobs.db.clone(),
            store: jobs.store.clone(),
            ingest: Ingest::new(jobs.db.clone(), jobs.store.clone(), &settings),
            auth_failures: Arc::new(super::limits::FailureLimiter::new(
                settings.edge.auth_failures_per_minute,
            )),
            apps: Default::default(),
            settings,
            jobs,
        }
    }
}
