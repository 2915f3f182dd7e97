//! `GET /health`: 200 when the database answers.

use super::error::Result;
use crate::http::AppState;
use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};

pub fn router() -> Router<AppState> {
    Router::new().route("/health", get(health))
}

/// Health: the database answers.
#[utoipa::path(
    get,
    path = "/health",
    tag = "meta",
    security(()),
    responses(
        (status = 200, description = "The database answers", body = Health),
        (status = 500, description = "The database does not answer (-10099)", body = super::openapi::envelope::ErrorResponse),
    )
)]
async fn health(State(state): State<AppState>) -> Result<Json<Health>> {
    crate::db::ping(&state.db).await?;
    Ok(Json(Health { status: "ok" }))
}

/// `{"status": "ok"}`
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct Health {
    #[schema(value_type = String, example = "ok")]
    status: &'static str,
}
