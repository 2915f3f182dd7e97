//! One error type for every handler. It renders the TIC seed's error envelope
//! `{"Response":{"Error":{"Code":-10000,"Message":"..."},"RequestId":"..."}}` with a matching HTTP status.
//!
//! Codes -10000 (invalid parameter) and -10001 (auth failed) are the seed's; the server adds the codes
//! below (documented in the README) for conditions the seed's recorder API never meets.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use localrecord_api::{codes, Answer, Envelope, ErrorBody, ErrorResponse};

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{0}")]
    InvalidParameter(String),
    #[error("{0}")]
    AuthFailed(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    Gone(String),
    #[error("{0}")]
    TooLarge(String),
    #[error("{0}")]
    UnsupportedMediaType(String),
    #[error("{0}")]
    PreconditionFailed(String),
    /// tus checksum extension: the chunk did not match its `Upload-Checksum` and was discarded.
    #[error("{0}")]
    ChecksumMismatch(String),
    /// The client stopped sending (a stalled body).
    #[error("{0}")]
    Timeout(String),
    /// Held back for this many seconds (too many failed authentications from one address).
    #[error("{1}")]
    TooManyRequests(u64, String),
    #[error(transparent)]
    Quota(#[from] crate::quota::Exceeded),
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

impl From<crate::quota::Error> for Error {
    fn from(e: crate::quota::Error) -> Error {
        match e {
            crate::quota::Error::Exceeded(q) => Error::Quota(q),
            crate::quota::Error::Db(e) => e.into(),
        }
    }
}

impl From<crate::ingest::Error> for Error {
    fn from(e: crate::ingest::Error) -> Error {
        use crate::ingest::Error as I;
        match e {
            I::NotFound(m) => Error::NotFound(m),
            I::Conflict(m) => Error::Conflict(m),
            I::TooLarge(m) => Error::TooLarge(m),
            I::Invalid(m) => Error::InvalidParameter(m),
            I::ChecksumMismatch(m) => Error::ChecksumMismatch(m),
            I::Timeout(m) => Error::Timeout(m),
            I::Db(e) => e.into(),
            I::Store(e) => e.into(),
            I::Internal(e) => Error::Internal(e),
        }
    }
}

impl Error {
    pub fn status_and_code(&self) -> (StatusCode, i64) {
        match self {
            Error::InvalidParameter(_) => (StatusCode::BAD_REQUEST, codes::INVALID_PARAMETER),
            Error::AuthFailed(_) => (StatusCode::UNAUTHORIZED, codes::AUTH_FAILED),
            Error::Forbidden(_) => (StatusCode::FORBIDDEN, codes::FORBIDDEN),
            Error::NotFound(_) => (StatusCode::NOT_FOUND, codes::NOT_FOUND),
            Error::Conflict(_) => (StatusCode::CONFLICT, codes::CONFLICT),
            Error::Gone(_) => (StatusCode::GONE, codes::NOT_FOUND),
            Error::TooLarge(_) => (StatusCode::PAYLOAD_TOO_LARGE, codes::TOO_LARGE),
            Error::UnsupportedMediaType(_) => (StatusCode::UNSUPPORTED_MEDIA_TYPE, codes::INVALID_PARAMETER),
            Error::PreconditionFailed(_) => (StatusCode::PRECONDITION_FAILED, codes::INVALID_PARAMETER),
            Error::ChecksumMismatch(_) => (
                StatusCode::from_u16(460).expect("460 is a valid status"),
                codes::CHECKSUM_MISMATCH,
            ),
            Error::Timeout(_) => (StatusCode::REQUEST_TIMEOUT, codes::TIMEOUT),
            Error::TooManyRequests(..) => (StatusCode::TOO_MANY_REQUESTS, codes::BUSY),
            Error::Quota(q) => {
                use crate::quota::Exceeded::*;
                let status = match q {
                    OpenTasks { .. } | SlicesPerTask { .. } => StatusCode::FORBIDDEN,
                    PartialBytes { .. } => StatusCode::TOO_MANY_REQUESTS,
                    StoredBytes { .. } => StatusCode::INSUFFICIENT_STORAGE,
                };
                (status, codes::QUOTA_EXCEEDED)
            }
            Error::Internal(_) => (StatusCode::INTERNAL_SERVER_ERROR, codes::INTERNAL),
        }
    }

    pub fn invalid(msg: impl Into<String>) -> Error {
        Error::InvalidParameter(msg.into())
    }
}

impl From<sqlx::Error> for Error {
    fn from(e: sqlx::Error) -> Error {
        if let sqlx::Error::Database(db) = &e {
            // Constraint violations are the client's doing (a duplicate, a bad reference, an
            // out-of-range value), not the server's: say so instead of answering 500.
            use sqlx::error::ErrorKind::*;
            match db.kind() {
                UniqueViolation => return Error::Conflict(format!("already exists ({})", db.message())),
                ForeignKeyViolation => {
                    return Error::NotFound(format!("refers to something missing ({})", db.message()))
                }
                CheckViolation | NotNullViolation => {
                    return Error::InvalidParameter(format!("value out of range ({})", db.message()))
                }
                _ => {}
            }
        }
        if is_bad_value(&e) {
            return Error::InvalidParameter("a value the database cannot hold (e.g. a NUL character)".into());
        }
        Error::Internal(e.into())
    }
}

/// A value Postgres refuses as data (SQLSTATE class 22: a NUL byte in text, a number out of range,
/// a bad timestamp): the client's input reached a query unchecked, which is a 400, not a 500.
pub fn is_bad_value(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(db) if db.code().is_some_and(|c| c.starts_with("22")))
}

impl From<opendal::Error> for Error {
    fn from(e: opendal::Error) -> Error {
        Error::Internal(anyhow::Error::new(e).context("object store"))
    }
}

impl IntoResponse for Error {
    fn into_response(self) -> Response {
        let (status, code) = self.status_and_code();
        let retry_after = match &self {
            Error::TooManyRequests(secs, _) => Some(*secs),
            Error::Quota(crate::quota::Exceeded::PartialBytes { .. }) => Some(60),
            Error::Quota(crate::quota::Exceeded::StoredBytes { .. }) => Some(300),
            _ => None,
        };
        let request_id = super::request_id::current();
        let message = match &self {
            Error::Internal(e) => {
                tracing::error!(request_id, error = ?e, "internal error");
                "internal error; see the server log for this RequestId".to_owned()
            }
            other => {
                tracing::info!(request_id, status = status.as_u16(), code, "{other}");
                other.to_string()
            }
        };
        let body = Envelope {
            response: ErrorResponse {
                error: ErrorBody { code, message },
                request_id,
            },
        };
        let mut resp = (status, Json(body)).into_response();
        // tus clients read these on every response, errors included.
        resp.headers_mut().insert(
            "tus-resumable",
            axum::http::HeaderValue::from_static(super::tus::VERSION),
        );
        if let Some(secs) = retry_after {
            resp.headers_mut().insert(axum::http::header::RETRY_AFTER, secs.into());
        }
        resp
    }
}

/// The seed's success envelope: `{"Response":{...fields, "RequestId":"..."}}`.
pub fn ok<T: serde::Serialize>(body: T) -> Json<serde_json::Value> {
    let request_id = super::request_id::current();
    let answer = Envelope {
        response: Answer { body, request_id },
    };
    Json(serde_json::to_value(&answer).unwrap_or_else(|_| {
        // A body that is not a JSON object (never one of ours) still answers with the envelope.
        let empty = Envelope {
            response: Answer {
                body: serde_json::Map::new(),
                request_id: answer.response.request_id.clone(),
            },
        };
        serde_json::to_value(empty).expect("an empty answer is JSON")
    }))
}
