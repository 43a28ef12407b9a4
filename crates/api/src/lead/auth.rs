//! Sign-in and pairing (`/api/v1/auth/...`, `/api/v1/devices/...`).

use serde::{Deserialize, Serialize};

/// E-mail and password.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SignIn {
    /// The lead's e-mail.
    pub email: String,
    /// The password.
    pub password: String,
}

/// A lead's session.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Session {
    /// Send as `Authorization: Bearer <token>`.
    pub token: String,
    /// When it ends (unix ms).
    pub expires_ms: i64,
    /// Who signed in.
    pub lead: LeadInfo,
}

/// A lead account.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct LeadInfo {
    /// Id.
    pub id: String,
    /// E-mail.
    pub email: String,
    /// Name.
    pub name: String,
}

/// A device asking to be paired.
//
// Named apart from the node's `crate::PairRequest` (what the UI sends its own device
// node); the OpenAPI name stays `PairRequest`. Doc comments here are the OpenAPI
// descriptions, hence these plain comments.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(as = PairRequest))]
pub struct DevicePairRequest {
    /// The one-time code the lead gave (case, spaces and dashes do not matter).
    pub code: String,
    /// The device's Automerge actor id (hex, 16 bytes or more), made fresh on the device.
    pub actor: String,
    /// A label, e.g. "Планшет Иванова" (empty: the label the lead gave the code).
    #[serde(default)]
    pub label: String,
}

/// A paired device's credentials and what it syncs.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Paired {
    /// The device id.
    pub device_id: String,
    /// The device token: send as `Authorization: Bearer <token>`. Shown once.
    pub token: String,
    /// The programme the device syncs.
    pub programme_id: String,
    /// The rep (none: a device of the lead).
    pub rep_id: Option<String>,
    /// The label.
    pub label: String,
}

/// What the server knows of the calling device.
//
// Named apart from the node's `crate::DeviceInfo` (the device as its node sees it);
// the OpenAPI name stays `DeviceInfo`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(as = DeviceInfo))]
pub struct ServerDeviceInfo {
    /// The device id.
    pub device_id: String,
    /// The programme it syncs.
    pub programme_id: String,
    /// The rep (none: the lead's device).
    pub rep_id: Option<String>,
    /// The label.
    pub label: String,
    /// The server's clock (unix ms).
    pub server_time_ms: i64,
}
