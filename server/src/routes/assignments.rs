//! Assignments: the suggested split of clients among reps, applying it, and the
//! lead's overrides.

use axum::Json;
use axum::extract::{Path, State};
use rapport_api::lead::{Override, SuggestionRow, SuggestionView};
use rapport_domain::programme::{apply_suggestion, override_assignment, read_programme};
use rapport_domain::{AssignError, Lang, Programme, Reason, Suggestion, suggest_assignments};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::LeadAuth;
use crate::edit::edit_doc;
use crate::error::{ErrorBody, HttpError, HttpResult, JsonBody, parse_id};
use crate::programmes::load_programme;
use crate::state::AppState;

pub(crate) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(suggestion))
        .routes(routes!(apply))
        .routes(routes!(override_one))
}

fn assign_error(e: &AssignError) -> HttpError {
    HttpError::invalid(e.code(), e.to_string())
}

/// The suggestion for a programme as it stands.
pub fn suggest(programme: &Programme) -> HttpResult<Suggestion> {
    suggest_assignments(
        &programme.rep_capacities(),
        &programme.clients_for_assignment(),
    )
    .map_err(|e| assign_error(&e))
}

/// The suggestion with names and both languages, for the lead to review.
pub fn suggestion_view(
    programme: &Programme,
    companies: &[(String, String)],
) -> HttpResult<SuggestionView> {
    let s = suggest(programme)?;
    let rep_name = |id: &str| programme.reps.get(id).map(|r| r.name.clone());
    let assignments = s
        .assignments
        .into_iter()
        .map(|a| {
            let current_rep = programme
                .assignments
                .get(&a.client_id)
                .and_then(|x| x.current_rep.clone());
            SuggestionRow {
                company: companies
                    .iter()
                    .find(|(id, _)| *id == a.client_id)
                    .map(|(_, c)| c.clone())
                    .unwrap_or_default(),
                rep_name: programme
                    .reps
                    .get(&a.rep_id)
                    .map(|r| r.name.clone())
                    .unwrap_or_default(),
                changes: current_rep.as_deref() != Some(a.rep_id.as_str()),
                current_rep,
                reason_ru: a.reason.text(Lang::Ru, rep_name),
                reason_en: a.reason.text(Lang::En, rep_name),
                client_id: a.client_id,
                rep_id: a.rep_id,
                reason: a.reason,
            }
        })
        .collect();
    Ok(SuggestionView {
        assignments,
        loads: s.loads,
    })
}

/// The suggested split of the clients among the reps, with reasons.
#[utoipa::path(get, path = "/api/v1/programmes/{id}/assignments/suggestion", tag = "programmes",
    security(("lead_session" = [])), params(("id" = String, Path, description = "programme id")),
    responses((status = 200, body = SuggestionView), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 422, description = "no reps or no active reps", body = ErrorBody)))]
async fn suggestion(
    State(state): State<AppState>,
    _auth: LeadAuth,
    Path(id): Path<String>,
) -> HttpResult<Json<SuggestionView>> {
    let id = parse_id(&id, "programme")?;
    let data = crate::programmes::programme_data(&state, id).await?;
    let companies: Vec<(String, String)> = data
        .clients
        .iter()
        .map(|c| (c.id.to_string(), c.company.clone()))
        .collect();
    Ok(Json(suggestion_view(&data.programme, &companies)?))
}

/// Applies the current suggestion (computed on the programme as stored now).
#[utoipa::path(post, path = "/api/v1/programmes/{id}/assignments/apply", tag = "programmes",
    security(("lead_session" = [])), params(("id" = String, Path, description = "programme id")),
    responses((status = 200, description = "the programme document read into JSON", body = serde_json::Value),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn apply(
    State(state): State<AppState>,
    auth: LeadAuth,
    Path(id): Path<String>,
) -> HttpResult<Json<Programme>> {
    let id = parse_id(&id, "programme")?;
    // Suggest from the document being edited, not the projection, so a rep added a
    // moment ago by another edit is seen.
    let mut refused = None;
    let programme = edit_doc(&state, &auth.lead.actor, id, "the programme", |doc| {
        let current = read_programme(doc)?;
        match suggest_assignments(&current.rep_capacities(), &current.clients_for_assignment()) {
            Ok(s) => apply_suggestion(doc, &s, "lead", crate::clock::now_ms())?,
            Err(e) => refused = Some(e),
        }
        read_programme(doc)
    })
    .await?;
    if let Some(e) = refused {
        return Err(assign_error(&e));
    }
    Ok(Json(programme))
}

/// Assigns one client to a rep by hand, with the lead's reason.
#[utoipa::path(put, path = "/api/v1/programmes/{id}/assignments/{client_id}", tag = "programmes",
    security(("lead_session" = [])),
    params(("id" = String, Path, description = "programme id"), ("client_id" = String, Path, description = "client id")),
    request_body = Override,
    responses((status = 200, description = "the client's assignment", body = serde_json::Value),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn override_one(
    State(state): State<AppState>,
    auth: LeadAuth,
    Path((id, client)): Path<(String, String)>,
    JsonBody(body): JsonBody<Override>,
) -> HttpResult<Json<Option<rapport_domain::Assignment>>> {
    let id = parse_id(&id, "programme")?;
    let client_id = parse_id(&client, "client")?;
    load_programme(&state, id).await?;
    let reason = Reason::LeadDecision {
        note: body.reason.trim().to_owned(),
    };
    let assignment = edit_doc(&state, &auth.lead.actor, id, "the programme", |doc| {
        override_assignment(
            doc,
            client_id,
            body.rep_id.trim(),
            reason,
            "lead",
            crate::clock::now_ms(),
        )?;
        Ok(read_programme(doc)?
            .assignments
            .get(&client_id.to_string())
            .cloned())
    })
    .await?;
    Ok(Json(assignment))
}
