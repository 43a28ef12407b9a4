//! Assignments (`/api/v1/programmes/{id}/assignments...`).

use std::collections::BTreeMap;

use rapport_domain::Reason;
use rapport_domain::assign::RepLoad;
use serde::{Deserialize, Serialize};

/// One suggested assignment, ready to show.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SuggestionRow {
    /// Client document id.
    pub client_id: String,
    /// The client's company.
    pub company: String,
    /// The suggested rep.
    pub rep_id: String,
    /// That rep's name.
    pub rep_name: String,
    /// The rep now responsible, if any.
    pub current_rep: Option<String>,
    /// Whether applying would change the client's rep.
    pub changes: bool,
    /// The reason as stored (`{"kind": …}`).
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub reason: Reason,
    /// The reason in Russian.
    pub reason_ru: String,
    /// The reason in English.
    pub reason_en: String,
}

/// The suggestion for the whole programme.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SuggestionView {
    /// One row per client, by client id.
    pub assignments: Vec<SuggestionRow>,
    /// Load per eligible rep: `{rep_id: {clients, capacity_percent}}`.
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub loads: BTreeMap<String, RepLoad>,
}

/// A hand-made assignment.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Override {
    /// The rep to take the client.
    pub rep_id: String,
    /// Why, in the lead's words (e.g. "монополизация", "capacity"); stored as the
    /// lead's decision.
    pub reason: String,
}
