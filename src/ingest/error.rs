//! What can go wrong receiving or finishing an upload, in ingest's own terms. `http::error` maps
//! each kind to the tus/TIC status and code; ingest never decides how an answer looks.

/// An ingest failure. The message is for the client (except `Db`/`Store`/`Internal`, which are
/// logged and answered as an internal error).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The upload is gone.
    #[error("{0}")]
    NotFound(String),
    /// Another request moved the upload or holds it, or the slice is stored with other content:
    /// nothing of this request was kept.
    #[error("{0}")]
    Conflict(String),
    /// The chunk passes the upload's declared length; it was discarded.
    #[error("{0}")]
    TooLarge(String),
    /// A chunk that cannot be kept as sent (cut off although it came with a checksum).
    #[error("{0}")]
    Invalid(String),
    /// The chunk did not match its checksum and was discarded.
    #[error("{0}")]
    ChecksumMismatch(String),
    /// The client stopped sending (a stalled body); what arrived before is said in the message.
    #[error("{0}")]
    Timeout(String),
    #[error(transparent)]
    Db(#[from] sqlx::Error),
    #[error(transparent)]
    Store(#[from] opendal::Error),
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

impl From<std::io::Error> for Error {
    fn from(e: std::io::Error) -> Error {
        Error::Internal(e.into())
    }
}

impl From<tokio::task::JoinError> for Error {
    fn from(e: tokio::task::JoinError) -> Error {
        Error::Internal(e.into())
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
