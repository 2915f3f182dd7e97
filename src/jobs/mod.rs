//! Durable background work on the Postgres queue (`queue`), run by `worker` in every `serve`
//! instance. Job kinds and their typed payloads live in their own modules.

pub mod callback;
pub mod compose;
pub mod prepare;
pub mod retention;
pub mod sealing;
pub mod splice;
pub mod worker;

/// The queue's table lives with the other queries; jobs are its users.
pub use crate::db::queue;

use crate::config::Settings;
use crate::store::Store;
use localrecord_api::TaskId;
use sqlx::PgPool;
use std::sync::Arc;

/// What jobs work with: the database, the store, the settings, the outbound HTTP client for
/// callbacks and this instance's scratch dir. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Context {
    pub db: PgPool,
    pub store: Store,
    pub settings: Arc<Settings>,
    /// For callbacks: see `outbound` (internal addresses refused where it connects).
    pub http: reqwest::Client,
    /// Splice temp files.
    pub scratch: Arc<crate::scratch::Scratch>,
}

/// How a job run ended, when not well.
#[derive(Debug, thiserror::Error)]
pub enum JobError {
    /// Worth another attempt (a store or database hiccup).
    #[error("{0:#}")]
    Retry(anyhow::Error),
    /// Will fail the same way every time (no slice readable, task gone).
    #[error("{0:#}")]
    Permanent(anyhow::Error),
    /// Worth another attempt after this delay (the job's own schedule).
    #[error("{1:#}")]
    RetryAfter(std::time::Duration, anyhow::Error),
}

/// A job payload's task id, checked as it enters the job (payloads are rows anyone with database
/// access could have written): one that is not a [`TaskId`] fails the job for good.
pub fn task_id(s: &str) -> Result<TaskId, JobError> {
    TaskId::parse(s).map_err(|e| JobError::Permanent(anyhow::anyhow!("task id {s:?}: {e}")))
}

impl JobError {
    pub fn retry(&self) -> queue::Retry {
        match self {
            JobError::Retry(_) => queue::Retry::Backoff,
            JobError::Permanent(_) => queue::Retry::No,
            JobError::RetryAfter(d, _) => queue::Retry::After(*d),
        }
    }
}

impl From<sqlx::Error> for JobError {
    fn from(e: sqlx::Error) -> Self {
        JobError::Retry(e.into())
    }
}

impl From<opendal::Error> for JobError {
    fn from(e: opendal::Error) -> Self {
        JobError::Retry(e.into())
    }
}

impl From<std::io::Error> for JobError {
    fn from(e: std::io::Error) -> Self {
        JobError::Retry(e.into())
    }
}
