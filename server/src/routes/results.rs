//! Results of a programme's visits: follow-ups (and their updates), referrals,
//! opportunities, and exports.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::header;
use axum::response::IntoResponse;
use rapport_api::lead::{
    FollowUpFilter, FollowUpPatch, FollowUpView, LeadVisit, MeetingFilter, MeetingsReport,
    OpportunityView, ReferralView, ReviewInput,
};
use rapport_domain::DocId;
use rapport_domain::visit::{read_visit, review_visit, update_follow_up};
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
        .routes(routes!(lead_visit))
        .routes(routes!(review))
        .routes(routes!(referrals))
        .routes(routes!(opportunities))
        .routes(routes!(export))
        .routes(routes!(meetings))
        .routes(routes!(meetings_calendar))
}

/// The reps' meetings: per rep planned, held, overdue and cancelled; the meetings (of
/// a week, of a rep); clients not yet visited with no meeting planned, and whether the
/// programme's end is near enough to flag them.
#[utoipa::path(get, path = "/api/v1/programmes/{id}/meetings", tag = "results",
    security(("lead_session" = [])),
    params(("id" = String, Path, description = "programme id"), MeetingFilter),
    responses((status = 200, body = MeetingsReport), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn meetings(
    State(state): State<AppState>,
    _auth: LeadAuth,
    Path(id): Path<String>,
    QueryParams(filter): QueryParams<MeetingFilter>,
) -> HttpResult<Json<MeetingsReport>> {
    let id = parse_id(&id, "programme")?;
    let data = crate::programmes::programme_data(&state, id).await?;
    Ok(Json(crate::meetings::report(
        &data,
        &filter,
        &crate::clock::today(),
    )?))
}

/// The query of the calendar file: one rep, or everyone.
#[derive(Debug, Default, serde::Deserialize, utoipa::IntoParams)]
struct CalendarQuery {
    /// Only this rep's meetings (id).
    rep: Option<String>,
}

/// The meetings (of one rep, or of all) as an iCalendar file, for a calendar app.
#[utoipa::path(get, path = "/api/v1/programmes/{id}/meetings.ics", tag = "results",
    security(("lead_session" = [])),
    params(("id" = String, Path, description = "programme id"), CalendarQuery),
    responses((status = 200, description = "the calendar, as an attachment", content_type = "text/calendar", body = String),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn meetings_calendar(
    State(state): State<AppState>,
    _auth: LeadAuth,
    Path(id): Path<String>,
    QueryParams(query): QueryParams<CalendarQuery>,
) -> HttpResult<impl IntoResponse> {
    let id = parse_id(&id, "programme")?;
    let data = crate::programmes::programme_data(&state, id).await?;
    let rep = query.rep.as_deref().filter(|r| !r.is_empty());
    let text = crate::meetings::calendar(&data, rep, crate::clock::now_ms())?;
    let filename = match rep {
        Some(_) => "rapport-meetings-rep.ics",
        None => "rapport-meetings.ics",
    };
    Ok((
        [
            (
                header::CONTENT_TYPE,
                "text/calendar; charset=utf-8".to_owned(),
            ),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{filename}\""),
            ),
        ],
        text,
    ))
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
    let (_, visit_id) = visit_of_programme(&state, &id, &visit).await?;
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

/// The programme and visit the lead's URL names, when the visit belongs to it.
async fn visit_of_programme(
    state: &AppState,
    programme: &str,
    visit: &str,
) -> HttpResult<(DocId, DocId)> {
    let id = parse_id(programme, "programme")?;
    let visit_id = parse_id(visit, "visit")?;
    let in_programme = state
        .db
        .meta(visit_id)
        .await?
        .is_some_and(|m| m.kind == "visit" && m.programme_id == Some(id));
    if !in_programme {
        return Err(HttpError::not_found("the visit in this programme"));
    }
    Ok((id, visit_id))
}

/// The visit as the lead reviews it: `visit`, with `programme`'s template and names.
async fn lead_visit_view(
    state: &AppState,
    programme: rapport_domain::Programme,
    visit: rapport_domain::Visit,
) -> HttpResult<LeadVisit> {
    let company = match state.db.meta(visit.client_id).await? {
        Some(meta) => serde_json::from_str::<rapport_domain::Client>(&meta.body)
            .map(|c| c.company)
            .unwrap_or_default(),
        None => String::new(),
    };
    Ok(LeadVisit {
        rep_name: programme
            .reps
            .get(&visit.rep_id)
            .map_or_else(|| visit.rep_id.clone(), |r| r.name.clone()),
        review: visit.review_state(),
        template: programme.template,
        company,
        visit,
    })
}

/// A visit with its answers and its rounds of review.
#[utoipa::path(get, path = "/api/v1/programmes/{id}/visits/{visit_id}", tag = "results",
    security(("lead_session" = [])),
    params(("id" = String, Path, description = "programme id"), ("visit_id" = String, Path, description = "visit id")),
    responses((status = 200, description = "rapport_api::lead::LeadVisit as JSON", body = serde_json::Value),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn lead_visit(
    State(state): State<AppState>,
    _auth: LeadAuth,
    Path((id, visit)): Path<(String, String)>,
) -> HttpResult<Json<LeadVisit>> {
    let (id, visit_id) = visit_of_programme(&state, &id, &visit).await?;
    // The stored document, the newest (the projection may trail a sync by a moment).
    let doc = state
        .store
        .load(visit_id)
        .await?
        .ok_or_else(|| HttpError::not_found("the visit"))?;
    let programme = crate::programmes::load_programme(&state, id).await?;
    Ok(Json(
        lead_visit_view(&state, programme, read_visit(&doc)?).await?,
    ))
}

/// Accepts a completed visit or returns it to the rep for rework, with a comment on the
/// whole visit and comments on single answers (a return needs at least one). Refused
/// when the visit is not completed or this completion was reviewed already.
#[utoipa::path(post, path = "/api/v1/programmes/{id}/visits/{visit_id}/review", tag = "results",
    security(("lead_session" = [])),
    params(("id" = String, Path, description = "programme id"), ("visit_id" = String, Path, description = "visit id")),
    request_body(content = serde_json::Value, description = "rapport_api::lead::ReviewInput: {verdict: accepted|returned, comment, answer_comments: {question id: text}}"),
    responses((status = 200, description = "rapport_api::lead::LeadVisit as JSON", body = serde_json::Value),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn review(
    State(state): State<AppState>,
    auth: LeadAuth,
    Path((id, visit)): Path<(String, String)>,
    JsonBody(body): JsonBody<ReviewInput>,
) -> HttpResult<Json<LeadVisit>> {
    let (id, visit_id) = visit_of_programme(&state, &id, &visit).await?;
    let programme = crate::programmes::load_programme(&state, id).await?;
    let round_id = hex::encode(crate::auth::random_bytes::<8>());
    let reviewed = edit_doc(&state, &auth.lead.actor, visit_id, "the visit", |doc| {
        review_visit(
            doc,
            &programme.template,
            &round_id,
            &body,
            &auth.lead.name,
            crate::clock::now_ms(),
        )?;
        read_visit(doc)
    })
    .await?;
    Ok(Json(lead_visit_view(&state, programme, reviewed).await?))
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
