//! The programme's questionnaire template: add, reword or move, retire questions.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use rapport_api::lead::{NewQuestion, QuestionChange};
use rapport_domain::template::{
    add_question, move_question, read_template, retire_question, reword_question,
};
use rapport_domain::{Localized, Question, Template};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::LeadAuth;
use crate::edit::edit_doc;
use crate::error::{ErrorBody, HttpResult, JsonBody, parse_id};
use crate::state::AppState;

pub(crate) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(add))
        .routes(routes!(change, retire))
}

/// Adds a question to the template.
#[utoipa::path(post, path = "/api/v1/programmes/{id}/template/questions", tag = "programmes",
    security(("lead_session" = [])), params(("id" = String, Path, description = "programme id")),
    request_body = NewQuestion,
    responses((status = 201, description = "the template", body = serde_json::Value),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn add(
    State(state): State<AppState>,
    auth: LeadAuth,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<NewQuestion>,
) -> HttpResult<(StatusCode, Json<Template>)> {
    let id = parse_id(&id, "programme")?;
    let question = Question {
        id: body.id.trim().to_owned(),
        section: body.section,
        kind: body.kind,
        required: body.required,
        wording: Localized::new(body.wording_ru.trim(), body.wording_en.trim()),
        position: 0.0,
        retired: false,
    };
    let template = edit_doc(&state, &auth.lead.actor, id, "the programme", |doc| {
        add_question(doc, question, body.after.as_deref(), crate::clock::now_ms())?;
        read_template(doc)
    })
    .await?;
    Ok((StatusCode::CREATED, Json(template)))
}

/// Rewords and/or moves a question.
#[utoipa::path(put, path = "/api/v1/programmes/{id}/template/questions/{qid}", tag = "programmes",
    security(("lead_session" = [])),
    params(("id" = String, Path, description = "programme id"), ("qid" = String, Path, description = "question id")),
    request_body = QuestionChange,
    responses((status = 200, description = "the template", body = serde_json::Value),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn change(
    State(state): State<AppState>,
    auth: LeadAuth,
    Path((id, qid)): Path<(String, String)>,
    JsonBody(body): JsonBody<QuestionChange>,
) -> HttpResult<Json<Template>> {
    let id = parse_id(&id, "programme")?;
    let template = edit_doc(&state, &auth.lead.actor, id, "the programme", |doc| {
        let now = crate::clock::now_ms();
        if body.wording_ru.is_some() || body.wording_en.is_some() {
            let current = read_template(doc)?
                .question(&qid)
                .map(|q| q.wording.clone())
                .ok_or_else(|| rapport_domain::DomainError::UnknownQuestion {
                    question_id: qid.clone(),
                })?;
            let wording = Localized::new(
                body.wording_ru
                    .as_deref()
                    .map_or(current.ru, |s| s.trim().to_owned()),
                body.wording_en
                    .as_deref()
                    .map_or(current.en, |s| s.trim().to_owned()),
            );
            reword_question(doc, &qid, wording, now)?;
        }
        if let Some(after) = &body.after {
            let after = Some(after.trim()).filter(|a| !a.is_empty());
            move_question(doc, &qid, after, now)?;
        }
        read_template(doc)
    })
    .await?;
    Ok(Json(template))
}

/// Retires a question: no longer asked; its answers stay readable.
#[utoipa::path(delete, path = "/api/v1/programmes/{id}/template/questions/{qid}", tag = "programmes",
    security(("lead_session" = [])),
    params(("id" = String, Path, description = "programme id"), ("qid" = String, Path, description = "question id")),
    responses((status = 200, description = "the template", body = serde_json::Value),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn retire(
    State(state): State<AppState>,
    auth: LeadAuth,
    Path((id, qid)): Path<(String, String)>,
) -> HttpResult<Json<Template>> {
    let id = parse_id(&id, "programme")?;
    let template = edit_doc(&state, &auth.lead.actor, id, "the programme", |doc| {
        retire_question(doc, &qid, crate::clock::now_ms())?;
        read_template(doc)
    })
    .await?;
    Ok(Json(template))
}
