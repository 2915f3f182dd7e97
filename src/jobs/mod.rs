//! Durable background work on the Postgres queue (`queue`), run by `worker` in every `serve`
//! instance. Job kinds and their typed payloads live in their own modules.

pub mod callback;
pub mod prepare;
pub mod queue;
pub mod retention;
pub mod splice;
pub mod worker;

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
