//! Results of a programme's visits: follow-ups (and their updates), referrals,
//! opportunities, and exports.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::header;
use axum::response::IntoResponse;
use rapport_api::lead::{
    FollowUpFilter, FollowUpPatch, FollowUpView, OpportunityView, ReferralView,
};
use rapport_domain::visit::{read_visit, update_follow_up};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::LeadAuth;
use crate::edit::edit_doc;
use crate::error::{ErrorBody, HttpError, HttpResult, JsonBody, QueryParams, parse_id};
use crate::state::AppState;

pub(crate) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(follow_ups))
        .routes(routes!(patch_follow_up))
        .routes(routes!(referrals))
        .routes(routes!(opportunities))
        .routes(routes!(export))
}

/// Every follow-up of every visit, with an overdue flag.
#[utoipa::path(get, path = "/api/v1/programmes/{id}/follow-ups", tag = "results",
    security(("lead_session" = [])),
    params(("id" = String, Path, description = "programme id"), FollowUpFilter),
    responses((status = 200, body = Vec<FollowUpView>), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn follow_ups(
    State(state): State<AppState>,
    _auth: LeadAuth,
    Path(id): Path<String>,
    QueryParams(filter): QueryParams<FollowUpFilter>,
) -> HttpResult<Json<Vec<FollowUpView>>> {
    let id = parse_id(&id, "programme")?;
    let data = crate::programmes::programme_data(&state, id).await?;
    Ok(Json(crate::results::follow_ups(
        &data,
        filter.state,
        filter.owner.as_deref(),
        &crate::clock::today(),
    )))
}

/// Changes a follow-up's state, owner and/or due date (an edit of the visit document).
#[utoipa::path(patch, path = "/api/v1/programmes/{id}/visits/{visit_id}/follow-ups/{follow_up_id}", tag = "results",
    security(("lead_session" = [])),
    params(("id" = String, Path, description = "programme id"), ("visit_id" = String, Path, description = "visit id"),
        ("follow_up_id" = String, Path, description = "follow-up id")),
    request_body = FollowUpPatch,
    responses((status = 200, description = "the follow-up", body = serde_json::Value),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn patch_follow_up(
    State(state): State<AppState>,
    auth: LeadAuth,
    Path((id, visit, follow_up)): Path<(String, String, String)>,
    JsonBody(body): JsonBody<FollowUpPatch>,
) -> HttpResult<Json<rapport_domain::FollowUp>> {
    let id = parse_id(&id, "programme")?;
    let visit_id = parse_id(&visit, "visit")?;
    // The visit must belong to this programme: the lead's URL names both.
    let in_programme = state
        .db
        .meta(visit_id)
        .await?
        .is_some_and(|m| m.kind == "visit" && m.programme_id == Some(id));
    if !in_programme {
        return Err(HttpError::not_found("the visit in this programme"));
    }
    let updated = edit_doc(&state, &auth.lead.actor, visit_id, "the visit", |doc| {
        update_follow_up(
            doc,
            &follow_up,
            body.state,
            body.owner.as_deref().map(str::trim),
            body.due.as_deref().map(str::trim),
            crate::clock::now_ms(),
        )?;
        Ok(read_visit(doc)?.follow_ups.get(&follow_up).cloned())
    })
    .await?;
    updated
        .map(Json)
        .ok_or_else(|| HttpError::not_found("the follow-up"))
}

/// Every referral collected on the programme's visits.
#[utoipa::path(get, path = "/api/v1/programmes/{id}/referrals", tag = "results",
    security(("lead_session" = [])), params(("id" = String, Path, description = "programme id")),
    responses((status = 200, body = Vec<ReferralView>), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn referrals(
    State(state): State<AppState>,
    _auth: LeadAuth,
    Path(id): Path<String>,
) -> HttpResult<Json<Vec<ReferralView>>> {
    let id = parse_id(&id, "programme")?;
    let data = crate::programmes::programme_data(&state, id).await?;
    Ok(Json(crate::results::referrals(&data)))
}

/// Every sales opportunity found on the programme's visits.
#[utoipa::path(get, path = "/api/v1/programmes/{id}/opportunities", tag = "results",
    security(("lead_session" = [])), params(("id" = String, Path, description = "programme id")),
    responses((status = 200, body = Vec<OpportunityView>), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn opportunities(
    State(state): State<AppState>,
    _auth: LeadAuth,
    Path(id): Path<String>,
) -> HttpResult<Json<Vec<OpportunityView>>> {
    let id = parse_id(&id, "programme")?;
    let data = crate::programmes::programme_data(&state, id).await?;
    Ok(Json(crate::results::opportunities(&data)))
}

/// A download: `clients`, `visits`, `follow-ups`, `referrals` or `opportunities`, as
/// `.csv` or `.xlsx`.
#[utoipa::path(get, path = "/api/v1/programmes/{id}/exports/{file}", tag = "results",
    security(("lead_session" = [])),
    params(("id" = String, Path, description = "programme id"),
        ("file" = String, Path, description = "clients, visits, follow-ups, referrals or opportunities, with .csv or .xlsx (e.g. clients.xlsx)")),
    responses((status = 200, description = "the file, as an attachment", content_type = "application/octet-stream", body = Vec<u8>),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn export(
    State(state): State<AppState>,
    _auth: LeadAuth,
    Path((id, file)): Path<(String, String)>,
) -> HttpResult<impl IntoResponse> {
    let id = parse_id(&id, "programme")?;
    let (kind, format) = crate::exports::parse_file(&file).ok_or_else(|| {
        HttpError::not_found(&format!(
            "the export {file:?} (use clients, visits, follow-ups, referrals or opportunities with .csv or .xlsx)"
        ))
    })?;
    let data = crate::programmes::programme_data(&state, id).await?;
    let out = crate::exports::export(&data, kind, format, &crate::clock::today())
        .map_err(|e| crate::import::sheet_error(&e))?;
    Ok((
        [
            (header::CONTENT_TYPE, out.content_type.to_owned()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{}\"", out.filename),
            ),
        ],
        out.bytes,
    ))
}
