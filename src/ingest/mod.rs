//! Slice ingest, independent of the upload protocol and of the storage backend: the tus handler in
//! `http::upload` calls these with an [`Ingest`], and these only see the database, the
//! [`Store`] and their own settings. Failures are [`Error`]s, which `http::error` turns into answers.

mod append;
pub mod checksum;
pub mod error;
pub mod finish;
pub mod md5;
pub mod multipart;
mod parts;
pub mod receive;
pub mod sweep;

pub use append::recover;
pub use error::{Error, Result};
pub use finish::finish;
pub use receive::{receive, Received};

use crate::config::Settings;
use crate::store::Store;
use sqlx::PgPool;
use std::time::Duration;

/// What ingest works with; cheap to clone.
#[derive(Clone, Debug)]
pub struct Ingest {
    pub db: PgPool,
    pub store: Store,
    pub upload: crate::config::UploadSettings,
    /// A body that sends nothing for this long is cut off (`edge.body_idle_secs`).
    pub body_idle: Duration,
    /// Stored slices are remuxed into pieces as they land (`jobs.prepare_slices`; fs and S3 stores).
    pub prepare_slices: bool,
    /// A finished recording is spliced again this long after a late slice (`jobs.resplice_delay_secs`).
    pub resplice_delay: Duration,
}

impl Ingest {
    pub fn new(db: PgPool, store: Store, settings: &Settings) -> Ingest {
        Ingest {
            prepare_slices: crate::jobs::prepare::enabled(&settings.jobs),
            db,
            store,
            upload: settings.upload.clone(),
            body_idle: Duration::from_secs(settings.edge.body_idle_secs.max(1)),
            resplice_delay: Duration::from_secs(settings.jobs.resplice_delay_secs),
        }
    }
}
