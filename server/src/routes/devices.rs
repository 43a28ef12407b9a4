//! Pairing codes and devices, for the lead.

use std::collections::HashMap;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use rapport_api::lead::{DeviceView, NewPairingCode, PairingCode, RefusedDoc};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::{LeadAuth, hash_secret, new_pairing_code};
use crate::db::{DeviceRecord, RefusalRow};
use crate::error::{ErrorBody, HttpError, HttpResult, JsonBody, parse_id};
use crate::programmes::load_programme;
use crate::state::AppState;

pub(crate) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_pairing_code))
        .routes(routes!(list_devices))
        .routes(routes!(revoke_device))
}

/// Makes a one-time pairing code for a rep's device (or the lead's).
#[utoipa::path(post, path = "/api/v1/programmes/{id}/pairing-codes", tag = "devices",
    security(("lead_session" = [])), params(("id" = String, Path, description = "programme id")),
    request_body = NewPairingCode,
    responses((status = 201, body = PairingCode), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn create_pairing_code(
    State(state): State<AppState>,
    auth: LeadAuth,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<NewPairingCode>,
) -> HttpResult<(StatusCode, Json<PairingCode>)> {
    let id = parse_id(&id, "programme")?;
    let programme = load_programme(&state, id).await?;
    let rep_id = body
        .rep_id
        .map(|r| r.trim().to_owned())
        .filter(|r| !r.is_empty());
    let label = match (&rep_id, body.label.trim()) {
        (_, l) if !l.is_empty() => l.to_owned(),
        (Some(rep), _) => programme
            .reps
            .get(rep)
            .map(|r| r.name.clone())
            .unwrap_or_else(|| rep.clone()),
        (None, _) => auth.lead.name.clone(),
    };
    if let Some(rep) = &rep_id {
        match programme.reps.get(rep) {
            None => {
                return Err(HttpError::invalid(
                    "unknown_rep",
                    format!("there is no rep {rep:?} in this programme; add the rep first"),
                ));
            }
            Some(r) if !r.active => {
                return Err(HttpError::invalid(
                    "inactive_rep",
                    format!("the rep {} is not active in this programme", r.name),
                ));
            }
            Some(_) => {}
        }
    }
    let minutes = body
        .expires_in_minutes
        .unwrap_or(state.config.pairing_minutes);
    if minutes == 0 || minutes > 7 * 24 * 60 {
        return Err(HttpError::invalid(
            "bad_expiry",
            "a pairing code lasts 1 minute to 7 days",
        ));
    }
    let code = new_pairing_code();
    let now = crate::clock::now_ms();
    let expires_ms = now + i64::from(minutes) * 60_000;
    state
        .db
        .insert_pairing_code(
            &hash_secret(&code),
            id,
            rep_id.as_deref(),
            &label,
            &auth.lead.id,
            now,
            expires_ms,
        )
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(PairingCode {
            code,
            expires_ms,
            rep_id,
        }),
    ))
}

/// The programme's devices, newest first, revoked ones included, each with the
/// documents the server refuses from it.
#[utoipa::path(get, path = "/api/v1/programmes/{id}/devices", tag = "devices",
    security(("lead_session" = [])), params(("id" = String, Path, description = "programme id")),
    responses((status = 200, body = Vec<DeviceView>), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
async fn list_devices(
    State(state): State<AppState>,
    _auth: LeadAuth,
    Path(id): Path<String>,
) -> HttpResult<Json<Vec<DeviceView>>> {
    let id = parse_id(&id, "programme")?;
    let devices = state.db.devices(id).await?;
    let mut refused: HashMap<String, Vec<RefusedDoc>> = HashMap::new();
    for row in state.db.refusals(id).await? {
        refused
            .entry(row.device_id.clone())
            .or_default()
            .push(refused_doc(row));
    }
    Ok(Json(
        devices
            .into_iter()
            .map(|d| {
                let refused = refused.remove(&d.id).unwrap_or_default();
                device_view(d, refused)
            })
            .collect(),
    ))
}

/// Revokes a device (a lost tablet): its token stops working at once; its data on the
/// server stays.
#[utoipa::path(post, path = "/api/v1/programmes/{id}/devices/{device_id}/revoke", tag = "devices",
    security(("lead_session" = [])),
    params(("id" = String, Path, description = "programme id"), ("device_id" = String, Path, description = "device id")),
    responses((status = 204), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn revoke_device(
    State(state): State<AppState>,
    _auth: LeadAuth,
    Path((id, device_id)): Path<(String, String)>,
) -> HttpResult<StatusCode> {
    let id = parse_id(&id, "programme")?;
    if !state
        .db
        .revoke_device(id, &device_id, crate::clock::now_ms())
        .await?
    {
        return Err(HttpError::not_found("the device"));
    }
    // Its sync states are of no use any more.
    if let Err(e) = state
        .store
        .delete_sync_states(&rapport_store::PeerId::new(device_id.clone()))
        .await
    {
        tracing::warn!(error = %e, "sync states of a revoked device not removed");
    }
    tracing::info!(device = %device_id, "device revoked");
    Ok(StatusCode::NO_CONTENT)
}

/// A device as the lead's list shows it: everything but its token's hash.
fn device_view(row: DeviceRecord, refused: Vec<RefusedDoc>) -> DeviceView {
    DeviceView {
        id: row.id,
        programme_id: row.programme_id,
        rep_id: row.rep_id,
        actor: row.actor,
        label: row.label,
        created_ms: row.created_ms,
        last_seen_ms: row.last_seen_ms,
        revoked_ms: row.revoked_ms,
        refused,
    }
}

fn refused_doc(row: RefusalRow) -> RefusedDoc {
    RefusedDoc {
        doc_id: row.doc_id.to_string(),
        kind: row.kind,
        client: row.client,
        code: row.code,
        message: row.message,
        at_ms: row.at_ms,
    }
}
