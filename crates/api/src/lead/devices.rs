//! Devices (`/api/v1/programmes/{id}/pairing-codes`, `.../devices...`).

use serde::{Deserialize, Serialize};

/// Who the code is for.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct NewPairingCode {
    /// The rep whose device will use it; none: a device of the lead (sees everything).
    pub rep_id: Option<String>,
    /// A label for the device, e.g. "Планшет Иванова".
    #[serde(default)]
    pub label: String,
    /// Minutes until it expires (default from the configuration, at most 7 days).
    pub expires_in_minutes: Option<u32>,
}

/// A one-time pairing code. Shown once: the server keeps only its hash.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PairingCode {
    /// The code to type on the device, e.g. `7K2M-Q9XD-4HTB`.
    pub code: String,
    /// When it expires (unix ms).
    pub expires_ms: i64,
    /// The rep (none: the lead's device).
    pub rep_id: Option<String>,
}

/// A paired device.
//
// The server's stored device without its token hash.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DeviceView {
    /// Device id.
    pub id: String,
    /// The programme it syncs.
    pub programme_id: String,
    /// The rep it belongs to (none: a device of the lead).
    pub rep_id: Option<String>,
    /// Its Automerge actor (hex).
    pub actor: String,
    /// A label, e.g. "Планшет Иванова".
    pub label: String,
    /// When paired (unix ms).
    pub created_ms: i64,
    /// Last sync (unix ms).
    pub last_seen_ms: Option<i64>,
    /// When revoked (unix ms); a revoked device is refused at once.
    pub revoked_ms: Option<i64>,
    /// Documents the server refuses from this device for good, latest first: the
    /// device keeps them (stopped, retried at each start) until the server accepts
    /// them, e.g. once their client is assigned to the device's rep again.
    #[serde(default)]
    pub refused: Vec<RefusedDoc>,
}

/// A document the server refused a device for good (the device keeps it, stopped).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RefusedDoc {
    /// The document id.
    pub doc_id: String,
    /// `visit`, `client`, `programme` or `programme_view` when the server knows the
    /// document (one refused on its first upload is unknown to it).
    pub kind: Option<String>,
    /// The company of the document's client, when known.
    pub client: Option<String>,
    /// The sync protocol's code: `forbidden`, `rejected`, `invalid`, `too_large` or
    /// `not_found`.
    pub code: String,
    /// Why, as the server told the device (English).
    pub message: String,
    /// The last refusal (unix ms).
    pub at_ms: i64,
}
