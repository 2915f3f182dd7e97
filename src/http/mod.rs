//! The HTTP API. Each area owns its `router()`; [`router`] mounts them all with shared layers.

pub mod admin;
pub mod auth;
pub mod callback_registration;
pub mod callbacks;
pub mod caller;
pub mod console;
pub mod download;
pub mod error;
pub mod health;
pub mod json;
pub mod limits;
pub mod metrics;
pub mod openapi;
pub mod query;
pub mod ranged;
pub mod recordings;
pub mod request_id;
pub mod serve;
pub mod state;
pub mod tasks;
pub mod tus;
pub mod upload;

pub use state::AppState;

use axum::Router;

pub fn router(state: AppState) -> Router {
    Router::new()
        .merge(health::router())
        .merge(auth::router())
        .merge(tasks::router())
        .merge(recordings::router())
        .merge(query::router())
        .merge(callback_registration::router())
        .merge(callbacks::router())
        .merge(admin::router())
        .merge(download::router())
        .merge(console::router())
        .merge(metrics::router())
        .merge(upload::router())
        .merge(openapi::router())
        .fallback(|| async { error::Error::NotFound("no such endpoint".into()) })
        .layer(axum::middleware::from_fn(request_id::layer))
        .with_state(state)
}
