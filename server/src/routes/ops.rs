//! Health, metrics and the OpenAPI document.

use axum::Json;
use axum::extract::State;
use axum::http::header::CONTENT_TYPE;
use axum::response::IntoResponse;
use rapport_api::lead::Health;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::error::HttpResult;
use crate::state::AppState;

pub(crate) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(healthz))
        .routes(routes!(metrics))
        .routes(routes!(openapi_json))
}

/// Health: 200 when the server and its database answer, 503 otherwise.
#[utoipa::path(get, path = "/healthz", tag = "operations",
    responses((status = 200, body = Health), (status = 503, body = crate::error::ErrorBody)))]
async fn healthz(State(state): State<AppState>) -> HttpResult<Json<Health>> {
    state.db.ping().await?;
    Ok(Json(Health {
        status: "ok".into(),
        database: match state.db.backend() {
            crate::db::Backend::Sqlite => "sqlite".into(),
            crate::db::Backend::Postgres => "postgres".into(),
        },
        version: env!("CARGO_PKG_VERSION").into(),
    }))
}

/// Metrics in the Prometheus text format (no authentication: bind it to a private
/// network or filter it at the proxy).
#[utoipa::path(get, path = "/metrics", tag = "operations",
    responses((status = 200, description = "Prometheus text format", content_type = "text/plain")))]
async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    // The store's own figures, as of now: batches per transaction shows how much group
    // commit saves; hits and misses what the resident documents save.
    let commits = state.grouped.stats();
    metrics::counter!("rapport_store_commit_batches_total").absolute(commits.batches);
    metrics::counter!("rapport_store_commit_transactions_total").absolute(commits.commits);
    let (read, kept) = state.db.rights_counts();
    metrics::counter!("rapport_rights_read_total").absolute(read);
    metrics::counter!("rapport_rights_kept_total").absolute(kept);
    metrics::counter!("rapport_projected_from_check_total")
        .absolute(state.projector.checked_visits().taken());
    if let Some(resident) = &state.resident {
        let r = resident.stats();
        metrics::counter!("rapport_resident_hits_total").absolute(r.hits);
        metrics::counter!("rapport_resident_misses_total").absolute(r.misses);
        metrics::counter!("rapport_resident_followed_total").absolute(r.followed);
        metrics::counter!("rapport_resident_adopted_total").absolute(r.adopted);
        metrics::gauge!("rapport_resident_docs").set(r.docs as f64);
        metrics::gauge!("rapport_resident_bytes").set(r.bytes as f64);
    }
    (
        [(CONTENT_TYPE, "text/plain; version=0.0.4")],
        state.metrics.render(),
    )
}

/// This API's OpenAPI document.
#[utoipa::path(get, path = "/api/v1/openapi.json", tag = "operations",
    responses((status = 200, description = "OpenAPI 3.1 JSON", body = serde_json::Value)))]
async fn openapi_json() -> Json<utoipa::openapi::OpenApi> {
    Json(super::openapi())
}
