//! Reps of a programme: list, add, edit.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use rapport_api::lead::{NewRep, RepInput, RepView};
use rapport_domain::programme::put_rep;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::LeadAuth;
use crate::edit::edit_doc;
use crate::error::{ErrorBody, HttpError, HttpResult, JsonBody, parse_id};
use crate::programmes::load_programme;
use crate::state::AppState;

pub(crate) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_reps, add_rep))
        .routes(routes!(edit_rep))
}

/// The programme's reps with their load.
#[utoipa::path(get, path = "/api/v1/programmes/{id}/reps", tag = "programmes",
    security(("lead_session" = [])), params(("id" = String, Path, description = "programme id")),
    responses((status = 200, body = Vec<RepView>), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn list_reps(
    State(state): State<AppState>,
    _auth: LeadAuth,
    Path(id): Path<String>,
) -> HttpResult<Json<Vec<RepView>>> {
    let id = parse_id(&id, "programme")?;
    Ok(Json(crate::results::reps(
        &load_programme(&state, id).await?,
    )))
}

/// Adds a rep.
#[utoipa::path(post, path = "/api/v1/programmes/{id}/reps", tag = "programmes",
    security(("lead_session" = [])), params(("id" = String, Path, description = "programme id")),
    request_body = RepInput,
    responses((status = 201, body = NewRep), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn add_rep(
    State(state): State<AppState>,
    auth: LeadAuth,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<RepInput>,
) -> HttpResult<(StatusCode, Json<NewRep>)> {
    let id = parse_id(&id, "programme")?;
    let rep_id = new_rep_id();
    edit_doc(&state, &auth.lead.actor, id, "the programme", |doc| {
        put_rep(
            doc,
            &rep_id,
            body.name.trim(),
            body.email.trim(),
            body.capacity,
            body.active,
            crate::clock::now_ms(),
        )
    })
    .await?;
    Ok((StatusCode::CREATED, Json(NewRep { id: rep_id })))
}

/// A fresh rep id: short enough to read in a URL, random enough not to collide
/// within one programme.
pub fn new_rep_id() -> String {
    let simple = uuid::Uuid::new_v4().simple().to_string();
    format!("rep-{}", simple.get(..8).unwrap_or(&simple))
}

/// Changes a rep's name, e-mail, capacity and whether they take part.
#[utoipa::path(put, path = "/api/v1/programmes/{id}/reps/{rep_id}", tag = "programmes",
    security(("lead_session" = [])),
    params(("id" = String, Path, description = "programme id"), ("rep_id" = String, Path, description = "rep id")),
    request_body = RepInput,
    responses((status = 200, body = RepView), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn edit_rep(
    State(state): State<AppState>,
    auth: LeadAuth,
    Path((id, rep_id)): Path<(String, String)>,
    JsonBody(body): JsonBody<RepInput>,
) -> HttpResult<Json<RepView>> {
    let id = parse_id(&id, "programme")?;
    let programme = edit_doc(&state, &auth.lead.actor, id, "the programme", |doc| {
        // put_rep adds as well as edits: refuse unknown ids so a typo does not add a
        // rep. Checked on the document: the projection may trail a rep just added.
        if !rapport_domain::programme::read_programme(doc)?
            .reps
            .contains_key(&rep_id)
        {
            return Err(rapport_domain::DomainError::NotFound {
                what: "rep",
                id: rep_id.clone(),
            });
        }
        put_rep(
            doc,
            &rep_id,
            body.name.trim(),
            body.email.trim(),
            body.capacity,
            body.active,
            crate::clock::now_ms(),
        )?;
        rapport_domain::programme::read_programme(doc)
    })
    .await?;
    crate::results::reps(&programme)
        .into_iter()
        .find(|r| r.id == rep_id)
        .map(Json)
        .ok_or_else(|| HttpError::not_found("the rep"))
}
