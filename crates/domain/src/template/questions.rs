//! The parts of the questionnaire: its sections, its questions and the kinds
//! of answer they take, and the template holding them.

use std::collections::BTreeMap;

use autosurgeon::{Hydrate, Reconcile};
use serde::{Deserialize, Serialize};

use crate::lang::{Lang, Localized};

/// The sections of the paper form, in its order.
#[derive(
    Clone,
    Copy,
    Debug,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    Hydrate,
    Reconcile,
)]
#[serde(rename_all = "snake_case")]
pub enum Section {
    /// Client company, meeting date, the rep who held the meeting.
    #[autosurgeon(rename = "company")]
    Company,
    /// Contact details of the client's key people.
    #[autosurgeon(rename = "key_contacts")]
    KeyContacts,
    /// Open "Carnegie" questions (вопросы по Карнеги).
    #[autosurgeon(rename = "carnegie")]
    Carnegie,
    /// The specifics of the current cooperation.
    #[autosurgeon(rename = "cooperation")]
    Cooperation,
    /// Objective quality of the service.
    #[autosurgeon(rename = "quality")]
    Quality,
    /// Expanding the volume of cooperation.
    #[autosurgeon(rename = "expansion")]
    Expansion,
    /// New products, services and directions.
    #[autosurgeon(rename = "new_offers")]
    NewOffers,
    /// Referrals (рекомендации).
    #[autosurgeon(rename = "referrals")]
    Referrals,
}

impl Section {
    /// All sections in the paper form's order.
    pub const ALL: [Section; 8] = [
        Section::Company,
        Section::KeyContacts,
        Section::Carnegie,
        Section::Cooperation,
        Section::Quality,
        Section::Expansion,
        Section::NewOffers,
        Section::Referrals,
    ];

    /// The section's heading.
    pub fn title(self, lang: Lang) -> &'static str {
        let (ru, en) = match self {
            Section::Company => (
                "Компания, дата встречи, менеджер",
                "Company, meeting date, rep",
            ),
            Section::KeyContacts => ("Ключевые контакты", "Key contacts"),
            Section::Carnegie => ("Вопросы по Карнеги", "Carnegie questions"),
            Section::Cooperation => ("Текущее сотрудничество", "Current cooperation"),
            Section::Quality => ("Объективное качество", "Objective quality"),
            Section::Expansion => ("Расширение сотрудничества", "Expanding cooperation"),
            Section::NewOffers => (
                "Новые продукты и направления",
                "New products and directions",
            ),
            Section::Referrals => ("Рекомендации", "Referrals"),
        };
        match lang {
            Lang::Ru => ru,
            Lang::En => en,
        }
    }
}

/// One option of a choice question.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, Hydrate, Reconcile)]
pub struct ChoiceOption {
    /// Stable id stored as the answer.
    pub id: String,
    /// What the option says.
    pub label: Localized,
}

/// What kind of answer a question takes.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, Hydrate, Reconcile)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum QuestionKind {
    /// Free text (an Automerge Text: concurrent typing merges by character).
    #[autosurgeon(rename = "text")]
    Text,
    /// Yes or no.
    #[autosurgeon(rename = "yes_no")]
    YesNo,
    /// A number.
    #[autosurgeon(rename = "number")]
    Number,
    /// A date, YYYY-MM-DD.
    #[autosurgeon(rename = "date")]
    Date,
    /// One of a fixed set of options.
    #[autosurgeon(rename = "choice")]
    Choice {
        /// The options, in display order.
        options: Vec<ChoiceOption>,
    },
    /// Answered by the visit's contact updates (not by an answer value).
    #[autosurgeon(rename = "contacts")]
    Contacts,
    /// Answered by the visit's referrals (not by an answer value).
    #[autosurgeon(rename = "referrals")]
    Referrals,
    /// An objective quality check: contracted target vs measured actual, and
    /// whether the client remembers an outage in the last month.
    #[autosurgeon(rename = "quality_check")]
    QualityCheck {
        /// The service checked.
        service: Localized,
        /// What is measured.
        metric: Localized,
        /// The unit of target and actual (e.g. "Мбит/с").
        unit: String,
        /// The measured value must stay at most the target (delivery in 2 days or
        /// less, support answering within 4 hours) instead of reaching at least it (a
        /// connection's speed). Templates from before it was asked: at least.
        #[serde(default)]
        #[autosurgeon(missing = "Default::default")]
        at_most: bool,
    },
}

impl QuestionKind {
    /// A short name of the kind, for error messages.
    pub fn name(&self) -> &'static str {
        match self {
            QuestionKind::Text => "text",
            QuestionKind::YesNo => "yes_no",
            QuestionKind::Number => "number",
            QuestionKind::Date => "date",
            QuestionKind::Choice { .. } => "choice",
            QuestionKind::Contacts => "contacts",
            QuestionKind::Referrals => "referrals",
            QuestionKind::QualityCheck { .. } => "quality_check",
        }
    }
}

/// One question of the template.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, Hydrate, Reconcile)]
pub struct Question {
    /// Stable id, e.g. "carnegie.proud_of"; answers are keyed by it.
    pub id: String,
    /// The section it belongs to.
    pub section: Section,
    /// The kind of answer.
    pub kind: QuestionKind,
    /// Whether completing a visit needs an answer.
    pub required: bool,
    /// The question as asked.
    pub wording: Localized,
    /// Order within the section: reordering changes this one number.
    pub position: f64,
    /// Retired questions are not asked any more; their answers stay readable.
    pub retired: bool,
}

/// The questionnaire: questions keyed by id (a map, so concurrent additions
/// by the lead on two devices both survive).
#[derive(Clone, Debug, PartialEq, Default, Serialize, Deserialize, Hydrate, Reconcile)]
pub struct Template {
    /// All questions ever added, retired ones included.
    pub questions: BTreeMap<String, Question>,
}

impl Template {
    /// The question with this id (retired or not).
    pub fn question(&self, id: &str) -> Option<&Question> {
        self.questions.get(id)
    }

    /// All questions in form order: by section, then position, then id.
    pub fn ordered(&self) -> Vec<&Question> {
        let mut all: Vec<&Question> = self.questions.values().collect();
        all.sort_by(|a, b| {
            a.section
                .cmp(&b.section)
                .then(a.position.total_cmp(&b.position))
                .then(a.id.cmp(&b.id))
        });
        all
    }

    /// The questions still asked, in form order.
    pub fn active(&self) -> Vec<&Question> {
        self.ordered().into_iter().filter(|q| !q.retired).collect()
    }

    /// The ids of the questions still asked whose kind passes `kind`, in form order.
    pub fn active_ids(&self, kind: impl Fn(&QuestionKind) -> bool) -> Vec<String> {
        self.active()
            .into_iter()
            .filter(|q| kind(&q.kind))
            .map(|q| q.id.clone())
            .collect()
    }

    /// The position that puts a question of `section` right after `after`
    /// (or first when `None`): the midpoint between its neighbours.
    pub(super) fn position_after(
        &self,
        section: Section,
        after: Option<&str>,
        moving: &str,
    ) -> f64 {
        let in_section: Vec<&Question> = self
            .ordered()
            .into_iter()
            .filter(|q| q.section == section && q.id != moving)
            .collect();
        let idx = match after {
            None => 0,
            Some(a) => in_section
                .iter()
                .position(|q| q.id == a)
                .map_or(in_section.len(), |i| i + 1),
        };
        let prev = idx.checked_sub(1).and_then(|i| in_section.get(i));
        let next = in_section.get(idx);
        match (prev, next) {
            (None, None) => 1.0,
            (Some(p), None) => p.position + 1.0,
            (None, Some(n)) => n.position - 1.0,
            (Some(p), Some(n)) => (p.position + n.position) / 2.0,
        }
    }
}
