//! Clients of a programme: list, add one, edit, import a list, relationship.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use rapport_api::lead::{
    ClientEdit, ClientView, ImportColumns, ImportOutcome, ImportQuery, NewClient, NewClientId,
    Relationship,
};
use rapport_domain::client::{read_client, set_company, set_notes, set_segment};
use rapport_domain::programme::{read_programme, set_relationship};
use rapport_domain::{ContactInput, DocId, Strength};
use rapport_sheets::ImportedClient;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::LeadAuth;
use crate::edit::edit_doc;
use crate::error::{ErrorBody, HttpError, HttpResult, JsonBody, QueryParams, parse_id};
use crate::state::AppState;

pub(crate) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_clients, add_client))
        .routes(routes!(edit_client))
        .routes(routes!(import_clients))
        .routes(routes!(import_columns))
        .routes(routes!(relationship))
}

/// The programme's clients with their current rep and latest visit.
#[utoipa::path(get, path = "/api/v1/programmes/{id}/clients", tag = "programmes",
    security(("lead_session" = [])), params(("id" = String, Path, description = "programme id")),
    responses((status = 200, body = Vec<ClientView>), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn list_clients(
    State(state): State<AppState>,
    _auth: LeadAuth,
    Path(id): Path<String>,
) -> HttpResult<Json<Vec<ClientView>>> {
    let id = parse_id(&id, "programme")?;
    let data = crate::programmes::programme_data(&state, id).await?;
    Ok(Json(crate::results::clients(&data)))
}

/// Adds one client: creates its document and adds it to the programme.
#[utoipa::path(post, path = "/api/v1/programmes/{id}/clients", tag = "programmes",
    security(("lead_session" = [])), params(("id" = String, Path, description = "programme id")),
    request_body = NewClient,
    responses((status = 201, body = NewClientId), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn add_client(
    State(state): State<AppState>,
    auth: LeadAuth,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<NewClient>,
) -> HttpResult<(StatusCode, Json<NewClientId>)> {
    let id = parse_id(&id, "programme")?;
    let row = ImportedClient {
        line: 0,
        company: body.company.trim().to_owned(),
        segment: body.segment,
        original_rep: body
            .original_rep
            .map(|r| r.trim().to_owned())
            .filter(|r| !r.is_empty()),
        relationship: body.relationship.unwrap_or(Strength::Unknown),
        monopolised: body.monopolised,
        contact: body.contact.map(|c| ContactInput {
            updates_contact_id: None,
            name: c.name.trim().to_owned(),
            role: c.role.trim().to_owned(),
            phone: c.phone.trim().to_owned(),
            email: c.email.trim().to_owned(),
        }),
        notes: body.notes.trim().to_owned(),
    };
    let client = crate::import::add_one_client(&state, &auth.lead.actor, id, row).await?;
    Ok((
        StatusCode::CREATED,
        Json(NewClientId {
            id: client.to_string(),
        }),
    ))
}

/// The client id from the path, checked to be in the programme.
async fn programme_client(state: &AppState, id: &str, client: &str) -> HttpResult<(DocId, DocId)> {
    let id = parse_id(id, "programme")?;
    let client_id = parse_id(client, "client")?;
    // From the document: the projection may trail a client added a moment ago.
    let doc = state
        .store
        .load(id)
        .await?
        .ok_or_else(|| HttpError::not_found("the programme"))?;
    if !read_programme(&doc)?
        .clients
        .contains_key(&client_id.to_string())
    {
        return Err(HttpError::not_found("the client in this programme"));
    }
    Ok((id, client_id))
}

/// Edits a client's company name, segment and/or notes.
#[utoipa::path(put, path = "/api/v1/programmes/{id}/clients/{client_id}", tag = "programmes",
    security(("lead_session" = [])),
    params(("id" = String, Path, description = "programme id"), ("client_id" = String, Path, description = "client id")),
    request_body = ClientEdit,
    responses((status = 200, description = "the client document read into JSON", body = serde_json::Value),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn edit_client(
    State(state): State<AppState>,
    auth: LeadAuth,
    Path((id, client)): Path<(String, String)>,
    JsonBody(body): JsonBody<ClientEdit>,
) -> HttpResult<Json<rapport_domain::Client>> {
    let (_, client_id) = programme_client(&state, &id, &client).await?;
    let now = crate::clock::now_ms();
    let client = edit_doc(&state, &auth.lead.actor, client_id, "the client", |doc| {
        if let Some(company) = &body.company {
            set_company(doc, company.trim(), now)?;
        }
        if let Some(segment) = body.segment {
            set_segment(doc, segment, now)?;
        }
        if let Some(notes) = &body.notes {
            set_notes(doc, notes, now)?;
        }
        read_client(doc)
    })
    .await?;
    Ok(Json(client))
}

/// What tells an upload's format: the file name given, else the content type.
fn upload_hint(headers: &HeaderMap, query: &ImportQuery) -> Option<String> {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok());
    crate::import::filename_hint(query.filename.as_deref(), content_type)
}

/// Imports a client list (CSV or XLSX as the raw body). Good rows are imported,
/// every bad row is reported with its line and reason.
#[utoipa::path(post, path = "/api/v1/programmes/{id}/clients/import", tag = "programmes",
    security(("lead_session" = [])),
    params(("id" = String, Path, description = "programme id"), ImportQuery),
    request_body(content = Vec<u8>, content_type = "text/csv", description = "the file (text/csv or the XLSX type)"),
    responses((status = 200, body = ImportOutcome), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 413, body = ErrorBody),
        (status = 422, description = "the whole file is refused (code from rapport-sheets)", body = ErrorBody)))]
async fn import_clients(
    State(state): State<AppState>,
    auth: LeadAuth,
    Path(id): Path<String>,
    QueryParams(query): QueryParams<ImportQuery>,
    headers: HeaderMap,
    body: Bytes,
) -> HttpResult<Json<ImportOutcome>> {
    let id = parse_id(&id, "programme")?;
    let hint = upload_hint(&headers, &query);
    let columns = crate::import::parse_columns(query.columns.as_deref())?;
    let outcome = crate::import::import_clients(
        &state,
        &auth.lead.actor,
        id,
        &body,
        hint.as_deref(),
        &columns,
        query.dry_run,
    )
    .await?;
    Ok(Json(outcome))
}

/// A file's columns and the field guessed for each, for the lead to confirm or change
/// before the import (which takes the choice as its `columns`). Stores nothing.
#[utoipa::path(post, path = "/api/v1/programmes/{id}/clients/import/columns", tag = "programmes",
    security(("lead_session" = [])),
    params(("id" = String, Path, description = "programme id"),
        ("filename" = Option<String>, Query, description = "the file's name (its extension helps)")),
    request_body(content = Vec<u8>, content_type = "text/csv", description = "the file (text/csv or the XLSX type)"),
    responses((status = 200, body = ImportColumns), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 413, body = ErrorBody),
        (status = 422, description = "the file cannot be read (code from rapport-sheets)", body = ErrorBody)))]
async fn import_columns(
    State(state): State<AppState>,
    _auth: LeadAuth,
    Path(id): Path<String>,
    QueryParams(query): QueryParams<ImportQuery>,
    headers: HeaderMap,
    body: Bytes,
) -> HttpResult<Json<ImportColumns>> {
    let id = parse_id(&id, "programme")?;
    crate::programmes::load_programme(&state, id).await?;
    let hint = upload_hint(&headers, &query);
    Ok(Json(crate::import::import_columns(
        &state,
        &body,
        hint.as_deref(),
    )?))
}

/// Records what is known about a client's original rep and relationship.
#[utoipa::path(put, path = "/api/v1/programmes/{id}/clients/{client_id}/relationship", tag = "programmes",
    security(("lead_session" = [])),
    params(("id" = String, Path, description = "programme id"), ("client_id" = String, Path, description = "client id")),
    request_body = Relationship,
    responses((status = 200, description = "the client's assignment", body = serde_json::Value),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn relationship(
    State(state): State<AppState>,
    auth: LeadAuth,
    Path((id, client)): Path<(String, String)>,
    JsonBody(body): JsonBody<Relationship>,
) -> HttpResult<Json<Option<rapport_domain::Assignment>>> {
    let (id, client_id) = programme_client(&state, &id, &client).await?;
    let original = body
        .original_rep
        .as_deref()
        .map(str::trim)
        .filter(|r| !r.is_empty());
    let assignment = edit_doc(&state, &auth.lead.actor, id, "the programme", |doc| {
        set_relationship(
            doc,
            client_id,
            original,
            body.strength,
            body.monopolised,
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
