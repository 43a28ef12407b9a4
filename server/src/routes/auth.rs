//! Sign-in for leads and pairing for devices.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use rapport_api::lead::{DevicePairRequest, LeadInfo, Paired, ServerDeviceInfo, Session, SignIn};
use rapport_domain::programme::register_device;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::{
    DEVICE_PREFIX, DeviceAuth, LeadAuth, SESSION_PREFIX, hash_secret, new_token,
    normalise_pairing_code, verify_password,
};
use crate::db::DeviceRecord;
use crate::edit::edit_doc;
use crate::error::{ErrorBody, HttpError, HttpResult, JsonBody};
use crate::state::AppState;

pub(crate) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(sign_in))
        .routes(routes!(sign_out))
        .routes(routes!(whoami))
        .routes(routes!(pair))
        .routes(routes!(device_me))
}

/// Failed sign-ins allowed per e-mail within [`FAILURE_WINDOW_MS`].
pub const MAX_FAILURES: i64 = 10;
/// The window over which failed sign-ins are counted (15 minutes).
pub const FAILURE_WINDOW_MS: i64 = 15 * 60_000;

/// Signs a lead in. An unknown e-mail and a wrong password give the same answer; after
/// 10 failures for one e-mail within 15 minutes it is refused (429) until the window ends.
#[utoipa::path(post, path = "/api/v1/auth/sign-in", tag = "auth", request_body = SignIn,
    responses((status = 200, body = Session), (status = 401, body = ErrorBody),
        (status = 429, description = "too many failed attempts for this e-mail", body = ErrorBody)))]
async fn sign_in(
    State(state): State<AppState>,
    JsonBody(body): JsonBody<SignIn>,
) -> HttpResult<Json<Session>> {
    let email = body.email.trim().to_lowercase();
    let now = crate::clock::now_ms();
    let since = now - FAILURE_WINDOW_MS;
    if state.db.sign_in_failures(&email, since).await? >= MAX_FAILURES {
        return Err(HttpError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "too_many_attempts",
            "too many failed sign-ins for this e-mail; wait 15 minutes, or have the administrator set a new password (rapport-server set-password)",
        ));
    }
    let lead = state.db.lead_by_email(&email).await?;
    let stored = lead.as_ref().map(|l| l.password_hash.clone());
    let password = body.password;
    let ok = tokio::task::spawn_blocking(move || verify_password(stored.as_deref(), &password))
        .await
        .map_err(|e| HttpError::internal("password check", e))?;
    let Some(lead) = lead.filter(|_| ok) else {
        state.db.record_sign_in_failure(&email, now, since).await?;
        return Err(HttpError::unauthorized(
            "invalid_credentials",
            "the e-mail or the password is wrong",
        ));
    };
    state.db.clear_sign_in_failures(&email).await?;
    let token = new_token(SESSION_PREFIX);
    let expires_ms = now + i64::from(state.config.session_hours) * 3_600_000;
    state
        .db
        .insert_session(&hash_secret(&token), &lead.id, now, expires_ms)
        .await?;
    tracing::info!(lead = %lead.id, "signed in");
    Ok(Json(Session {
        token,
        expires_ms,
        lead: LeadInfo {
            id: lead.id,
            email: lead.email,
            name: lead.name,
        },
    }))
}

/// Ends the session.
#[utoipa::path(post, path = "/api/v1/auth/sign-out", tag = "auth",
    security(("lead_session" = [])),
    responses((status = 204), (status = 401, body = ErrorBody)))]
async fn sign_out(State(state): State<AppState>, auth: LeadAuth) -> HttpResult<StatusCode> {
    state
        .db
        .delete_session(&auth.token_hash, crate::clock::now_ms())
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The signed-in lead.
#[utoipa::path(get, path = "/api/v1/auth/me", tag = "auth",
    security(("lead_session" = [])),
    responses((status = 200, body = LeadInfo), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
async fn whoami(auth: LeadAuth) -> Json<LeadInfo> {
    Json(LeadInfo {
        id: auth.lead.id,
        email: auth.lead.email,
        name: auth.lead.name,
    })
}

/// Exchanges a one-time pairing code for a device token bound to the device's actor.
#[utoipa::path(post, path = "/api/v1/devices/pair", tag = "auth", request_body = DevicePairRequest,
    responses((status = 200, body = Paired), (status = 400, body = ErrorBody),
        (status = 401, description = "unknown, used or expired code", body = ErrorBody)))]
async fn pair(
    State(state): State<AppState>,
    JsonBody(body): JsonBody<DevicePairRequest>,
) -> HttpResult<Json<Paired>> {
    let actor = body.actor.trim().to_lowercase();
    if actor.len() < 32
        || actor.len() > 128
        || actor.len() % 2 != 0
        || !actor.bytes().all(|b| b.is_ascii_hexdigit())
    {
        return Err(HttpError::bad_request(
            "bad_actor",
            "the actor must be 16 to 64 random bytes written as hex",
        ));
    }
    if body.label.chars().count() > 100 {
        return Err(HttpError::bad_request(
            "bad_label",
            "the label must be at most 100 characters",
        ));
    }
    let code = normalise_pairing_code(&body.code);
    let token = new_token(DEVICE_PREFIX);
    let now = crate::clock::now_ms();
    let candidate = DeviceRecord::candidate(&actor, &body.label, hash_secret(&token), now);
    let Some((device, lead_id)) = state
        .db
        .redeem_pairing_code(&hash_secret(&code), &candidate, now)
        .await?
    else {
        return Err(HttpError::unauthorized(
            "invalid_pairing_code",
            "the pairing code is unknown, used already or expired; ask the programme lead for a new one",
        ));
    };
    // Record the device in the programme, so history and conflicts name its rep.
    let lead = state
        .db
        .lead_by_id(&lead_id)
        .await?
        .ok_or_else(|| HttpError::internal("pairing", "the code's lead is gone"))?;
    let programme = device
        .programme_id
        .parse()
        .map_err(|e| HttpError::internal("device programme id", e))?;
    let actor_id = crate::auth::registered_actor(&actor);
    let who = device.rep_id.clone().unwrap_or_else(|| "lead".to_owned());
    let label = device.label.clone();
    edit_doc(&state, &lead.actor, programme, "the programme", |doc| {
        register_device(doc, &actor_id, &who, &label, now)
    })
    .await?;
    tracing::info!(device = %device.id, rep = ?device.rep_id, "device paired");
    Ok(Json(Paired {
        device_id: device.id,
        token,
        programme_id: device.programme_id,
        rep_id: device.rep_id,
        label: device.label,
    }))
}

/// The calling device (a cheap check that its token still works).
#[utoipa::path(get, path = "/api/v1/devices/me", tag = "auth",
    security(("device_token" = [])),
    responses((status = 200, body = ServerDeviceInfo), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
async fn device_me(auth: DeviceAuth) -> Json<ServerDeviceInfo> {
    Json(ServerDeviceInfo {
        device_id: auth.device.id,
        programme_id: auth.device.programme_id,
        rep_id: auth.device.rep_id,
        label: auth.device.label,
        server_time_ms: crate::clock::now_ms(),
    })
}
