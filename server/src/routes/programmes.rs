//! Programmes: create, list, read, settings, status.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use rapport_api::lead::{NewProgramme, ProgrammeSummary, Settings};
use rapport_domain::programme::{
    new_programme, read_programme, register_device, set_meeting_warning_days, set_settings,
};
use rapport_domain::{DocId, Lead, Period, Programme, ProgrammeInit, default_template};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::LeadAuth;
use crate::edit::{create_docs, edit_doc};
use crate::error::{ErrorBody, HttpError, HttpResult, JsonBody, parse_id};
use crate::programmes::load_programme;
use crate::state::AppState;

pub(crate) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_programmes, create_programme))
        .routes(routes!(get_programme, update_settings))
        .routes(routes!(status))
        .routes(routes!(status_events))
}

/// Every programme on this server.
#[utoipa::path(get, path = "/api/v1/programmes", tag = "programmes",
    security(("lead_session" = [])),
    responses((status = 200, body = Vec<ProgrammeSummary>), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
async fn list_programmes(
    State(state): State<AppState>,
    _auth: LeadAuth,
) -> HttpResult<Json<Vec<ProgrammeSummary>>> {
    let mut out = Vec::new();
    // The programmes' rows hold no clients (`db/programme_rows.rs`): counted apart.
    let counts = state.db.programme_client_counts().await?;
    for meta in state.db.programmes().await? {
        let p: Programme = serde_json::from_str(&meta.body)
            .map_err(|e| HttpError::internal("programme projection", e))?;
        out.push(ProgrammeSummary {
            id: p.id.to_string(),
            name: p.name,
            start: p.period.start,
            end: p.period.end,
            clients: counts.get(&p.id).copied().unwrap_or(0),
            reps: p.reps.len(),
        });
    }
    Ok(Json(out))
}

/// Creates a programme led by the signed-in lead.
#[utoipa::path(post, path = "/api/v1/programmes", tag = "programmes",
    security(("lead_session" = [])), request_body = NewProgramme,
    responses((status = 201, description = "the programme document read into JSON", body = serde_json::Value),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn create_programme(
    State(state): State<AppState>,
    auth: LeadAuth,
    JsonBody(body): JsonBody<NewProgramme>,
) -> HttpResult<(StatusCode, Json<Programme>)> {
    let id = DocId::random();
    let now = crate::clock::now_ms();
    let init = ProgrammeInit {
        id,
        name: body.name.trim().to_owned(),
        period: Period {
            start: body.start.trim().to_owned(),
            end: body.end.trim().to_owned(),
        },
        lead: Lead {
            name: auth.lead.name.clone(),
            email: auth.lead.email.clone(),
        },
    };
    let mut doc = new_programme(auth.edit_actor(), &init, &default_template(), now)?;
    let lead_actor = crate::auth::registered_actor(&auth.lead.actor);
    register_device(&mut doc, &lead_actor, "lead", &auth.lead.name, now)?;
    let programme = read_programme(&doc)?;
    create_docs(&state, vec![(id, doc)]).await?;
    Ok((StatusCode::CREATED, Json(programme)))
}

/// One programme: settings, template, reps, assignments, clients, devices.
#[utoipa::path(get, path = "/api/v1/programmes/{id}", tag = "programmes",
    security(("lead_session" = [])), params(("id" = String, Path, description = "programme id")),
    responses((status = 200, description = "the programme document read into JSON", body = serde_json::Value),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn get_programme(
    State(state): State<AppState>,
    _auth: LeadAuth,
    Path(id): Path<String>,
) -> HttpResult<Json<Programme>> {
    let id = parse_id(&id, "programme")?;
    Ok(Json(load_programme(&state, id).await?))
}

/// Changes name, period and lead.
#[utoipa::path(put, path = "/api/v1/programmes/{id}", tag = "programmes",
    security(("lead_session" = [])), params(("id" = String, Path, description = "programme id")),
    request_body = Settings,
    responses((status = 200, description = "the programme document read into JSON", body = serde_json::Value),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn update_settings(
    State(state): State<AppState>,
    auth: LeadAuth,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<Settings>,
) -> HttpResult<Json<Programme>> {
    let id = parse_id(&id, "programme")?;
    let period = Period {
        start: body.start.trim().to_owned(),
        end: body.end.trim().to_owned(),
    };
    let lead = Lead {
        name: body.lead_name.trim().to_owned(),
        email: body.lead_email.trim().to_owned(),
    };
    let programme = edit_doc(&state, &auth.lead.actor, id, "the programme", |doc| {
        let now = crate::clock::now_ms();
        set_settings(doc, body.name.trim(), &period, &lead, now)?;
        if let Some(days) = body.meeting_warning_days {
            set_meeting_warning_days(doc, days, now)?;
        }
        read_programme(doc)
    })
    .await?;
    Ok(Json(programme))
}

/// The merged status of a programme (from the projections, so it reflects every
/// synced device within moments of the sync).
#[utoipa::path(get, path = "/api/v1/programmes/{id}/status", tag = "results",
    security(("lead_session" = [])), params(("id" = String, Path, description = "programme id")),
    responses((status = 200, description = "rapport_domain::ProgrammeStatus as JSON", body = serde_json::Value),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn status(
    State(state): State<AppState>,
    _auth: LeadAuth,
    Path(id): Path<String>,
) -> HttpResult<impl axum::response::IntoResponse> {
    let id = parse_id(&id, "programme")?;
    let json = crate::results::status_json(&state, id).await?;
    Ok((
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        json,
    ))
}

/// The programme's live status: server-sent events named `status`, each saying the
/// status moved (`{"version": n}`, a number that only tells one status from another:
/// compare it for equality, not order), the first at once; a comment line every 15 s while
/// nothing moves. The lead's dashboard reloads on each and polls only while it has no
/// stream. Ends when the server stops.
#[utoipa::path(get, path = "/api/v1/programmes/{id}/events", tag = "results",
    security(("lead_session" = [])), params(("id" = String, Path, description = "programme id")),
    responses((status = 200, description = "an endless text/event-stream", content_type = "text/event-stream", body = String),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn status_events(
    State(state): State<AppState>,
    _auth: LeadAuth,
    Path(id): Path<String>,
) -> HttpResult<impl axum::response::IntoResponse> {
    let id = parse_id(&id, "programme")?;
    load_programme(&state, id).await?;
    Ok(crate::live::status_events(state, id))
}
