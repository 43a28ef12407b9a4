//! Results (`/api/v1/programmes/{id}/follow-ups`, `referrals`, `opportunities`).

use rapport_domain::{FollowUpState, OpportunityKind, ReviewState, Template, Visit};
use serde::{Deserialize, Serialize};

/// Filters of the follow-up list.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::IntoParams))]
pub struct FollowUpFilter {
    /// Only this state: `open`, `in_progress` or `done`.
    #[cfg_attr(feature = "openapi", param(value_type = Option<String>))]
    pub state: Option<FollowUpState>,
    /// Only this owner (exact).
    pub owner: Option<String>,
}

/// Changes to a follow-up; absent fields stay.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct FollowUpPatch {
    /// New state.
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub state: Option<FollowUpState>,
    /// New owner.
    pub owner: Option<String>,
    /// New due date, YYYY-MM-DD.
    pub due: Option<String>,
}

/// A follow-up of a visit, with where it came from.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct FollowUpView {
    /// The follow-up's id within its visit.
    pub id: String,
    /// The visit document.
    pub visit_id: String,
    /// The client document.
    pub client_id: String,
    /// The client's company.
    pub client_company: String,
    /// What is to be done.
    pub description: String,
    /// Who does it; empty when nobody yet.
    pub owner: String,
    /// Due date, YYYY-MM-DD.
    pub due: Option<String>,
    /// `open`, `in_progress` or `done`.
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub state: FollowUpState,
    /// Due before today and not done.
    pub overdue: bool,
    /// The question that caused it, if any.
    pub source_question_id: Option<String>,
}

/// A referral collected on a visit.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ReferralView {
    /// The referral's id within its visit.
    pub id: String,
    /// The visit document.
    pub visit_id: String,
    /// The client who gave it.
    pub client_id: String,
    /// That client's company.
    pub client_company: String,
    /// The rep who held the visit.
    pub rep_id: String,
    /// The visit date.
    pub visit_date: String,
    /// The person's name.
    pub name: String,
    /// Their company.
    pub company: String,
    /// How to reach them.
    pub contact: String,
    /// Free note.
    pub note: String,
}

/// A sales opportunity found on a visit.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct OpportunityView {
    /// The opportunity's id within its visit.
    pub id: String,
    /// The visit document.
    pub visit_id: String,
    /// The client.
    pub client_id: String,
    /// The client's company.
    pub client_company: String,
    /// The rep who held the visit.
    pub rep_id: String,
    /// The visit date.
    pub visit_date: String,
    /// `growth` or `cross_sell`.
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub kind: OpportunityKind,
    /// What was found.
    pub description: String,
    /// The product concerned.
    pub product: String,
    /// Estimated value.
    pub value: f64,
    /// Currency of the value.
    pub currency: String,
}

/// A visit as the lead reviews it (`GET /api/v1/programmes/{id}/visits/{visit_id}`):
/// the whole document read, the template its answers are read by, who and where, and
/// where it stands in the review.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LeadVisit {
    /// The visit, rounds of review included.
    pub visit: Visit,
    /// The programme's questionnaire.
    pub template: Template,
    /// The client's company.
    pub company: String,
    /// The rep's name (the id when the rep is no longer in the programme).
    pub rep_name: String,
    /// Where it stands in the review.
    pub review: ReviewState,
}
