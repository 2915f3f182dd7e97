//! `GET /openapi.json`: the OpenAPI 3.1 document of every HTTP API (recorder-facing, business-facing,
//! admin), generated from the `#[utoipa::path]` annotations on the handlers and the `ToSchema`
//! derives on the wire types, so it changes with the code. No authentication: it holds no secrets.
//! The test `api::openapi` fails when a mounted route is missing from it.

pub mod envelope;
pub mod errors;
mod security;
mod webhook;

use crate::http::AppState;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;
use security::Schemes;
use std::sync::LazyLock;
use utoipa::OpenApi;
use webhook::RecordingResult;

pub fn router() -> Router<AppState> {
    Router::new().route("/openapi.json", get(openapi_json))
}

/// The document, rendered once.
static DOCUMENT: LazyLock<String> =
    LazyLock::new(|| document().to_pretty_json().expect("the OpenAPI document serialises"));

/// This OpenAPI document (OpenAPI 3.1).
#[utoipa::path(
    get,
    path = "/openapi.json",
    tag = "meta",
    security(()),
    responses((status = 200, description = "This document", content_type = "application/json", body = Object))
)]
async fn openapi_json() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "application/json")], DOCUMENT.as_str())
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "localrecord",
        description = "Classroom local recordings: the recorder's API (auth, tasks, tus slice uploads), \
the business servers' API (the TIC seed's signed query and callback registration, result callbacks \
as the `recording-result` webhook), the app admins' API (delivery log, redelivery, deletion, audit) \
and operations (health, metrics). Success bodies are `{\"Response\":{...,\"RequestId\":\"...\"}}`, \
failures the `ErrorResponse` envelope; the query API keeps the seed's own shape.",
        license(name = "Apache-2.0", identifier = "Apache-2.0")
    ),
    paths(
        crate::http::health::health,
        openapi_json,
        crate::http::metrics::scrape,
        crate::http::auth::auth,
        crate::http::tasks::create,
        crate::http::tasks::status,
        crate::http::tasks::pause,
        crate::http::tasks::resume,
        crate::http::tasks::stop,
        crate::http::tasks::keepalive,
        crate::http::upload::options,
        crate::http::upload::create,
        crate::http::upload::head,
        crate::http::upload::patch,
        crate::http::upload::terminate,
        crate::http::upload::options_upload,
        crate::http::recordings::recording,
        crate::http::query::query,
        crate::http::callback_registration::register,
        crate::http::callbacks::log,
        crate::http::callbacks::redeliver,
        crate::http::admin::remove,
        crate::http::admin::audit,
        crate::http::admin::resplice,
        crate::http::download::download,
    ),
    components(schemas(envelope::ErrorResponse, envelope::TusResumable)),
    modifiers(&Schemes, &RecordingResult),
    security(
        ("SdkAppId" = [], "Identifier" = [], "UserSig" = []),
        ("UserSigHeader" = []),
    ),
    tags(
        (name = "recorder", description = "The recorder's API: authentication, recording tasks"),
        (name = "uploads", description = "tus 1.0.0 slice uploads (creation, creation-with-upload, \
expiration, checksum, termination, concatenation); `/localrecord/v1/uploads/` (trailing slash) \
takes the same requests as `/localrecord/v1/uploads`"),
        (name = "business", description = "The business server's API (TIC seed)"),
        (name = "admin", description = "For an app's admin identifiers"),
        (name = "meta", description = "Health, metrics and this document"),
    )
)]
struct ApiDoc;

/// The OpenAPI document.
pub fn document() -> utoipa::openapi::OpenApi {
    ApiDoc::openapi()
}
