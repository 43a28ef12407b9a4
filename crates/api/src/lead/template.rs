//! Template (`/api/v1/programmes/{id}/template/questions...`).

use rapport_domain::{QuestionKind, Section};
use serde::{Deserialize, Serialize};

/// A new question.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct NewQuestion {
    /// Stable id, e.g. `carnegie.hobby`; answers are keyed by it.
    pub id: String,
    /// Section, e.g. `carnegie`.
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub section: Section,
    /// Kind, e.g. `{"kind":"text"}`.
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub kind: QuestionKind,
    /// Russian wording.
    pub wording_ru: String,
    /// English wording.
    pub wording_en: String,
    /// Completing a visit needs an answer.
    #[serde(default)]
    pub required: bool,
    /// Put it after this question of the section (first when absent).
    pub after: Option<String>,
}

/// Changes to a question: new wording (both languages) and/or a new place.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct QuestionChange {
    /// New Russian wording (give both or neither).
    pub wording_ru: Option<String>,
    /// New English wording.
    pub wording_en: Option<String>,
    /// Move after this question; `""` moves it first in its section.
    pub after: Option<String>,
}
