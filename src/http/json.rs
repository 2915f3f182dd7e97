//! A JSON body extractor whose rejections use the API's error envelope instead of axum's plain text.

use super::error::Error;
use axum::extract::{FromRequest, Request};
use axum::http::StatusCode;
use serde::de::DeserializeOwned;

/// Largest JSON body any API endpoint accepts.
pub const MAX_JSON_BODY: usize = 64 * 1024;

pub struct ApiJson<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for ApiJson<T> {
    type Rejection = Error;

    async fn from_request(req: Request, state: &S) -> Result<Self, Error> {
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(v)) => Ok(ApiJson(v)),
            Err(rej) => Err(match rej.status() {
                StatusCode::PAYLOAD_TOO_LARGE => {
                    Error::TooLarge(format!("JSON body larger than {MAX_JSON_BODY} bytes"))
                }
                StatusCode::UNSUPPORTED_MEDIA_TYPE => {
                    Error::UnsupportedMediaType("send the body with Content-Type: application/json".into())
                }
                _ => Error::invalid(rej.body_text()),
            }),
        }
    }
}
