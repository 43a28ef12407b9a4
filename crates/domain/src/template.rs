//! The questionnaire template (VIP-анкета), kept inside the programme document.
//!
//! Questions have stable string ids; answers are keyed by them, so adding,
//! rewording, reordering and retiring questions never detaches an answer.
//! Questions are never deleted, only retired.

use std::collections::BTreeMap;

use automerge::{Automerge, ROOT};
use autosurgeon::{Hydrate, Reconcile, hydrate_prop, reconcile_prop};
use serde::{Deserialize, Serialize};

use crate::check::{DocKind, expect_kind};
use crate::doc::{commit, has, non_empty, obj};
use crate::error::DomainError;
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
    fn position_after(&self, section: Section, after: Option<&str>, moving: &str) -> f64 {
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

/// Path of the questions map inside the programme document.
fn questions_obj<R: automerge::ReadDoc>(doc: &R) -> Result<automerge::ObjId, DomainError> {
    let template = obj(doc, &ROOT, "template", "template")?;
    obj(doc, &template, "questions", "template questions")
}

/// Reads the template out of a programme document.
pub fn read_template(doc: &Automerge) -> Result<Template, DomainError> {
    expect_kind(doc, DocKind::Programme)?;
    hydrate_prop(doc, ROOT, "template").map_err(|e| {
        crate::error::SchemaError::Malformed {
            kind: "programme",
            message: format!("template: {e}"),
        }
        .into()
    })
}

fn check_question(q: &Question) -> Result<(), DomainError> {
    non_empty("question id", &q.id)?;
    non_empty("question wording (ru)", &q.wording.ru)?;
    non_empty("question wording (en)", &q.wording.en)?;
    crate::doc::check_finite("question position", q.position)?;
    if let QuestionKind::Choice { options } = &q.kind {
        if options.is_empty() {
            return Err(DomainError::Empty {
                field: "choice options",
            });
        }
        for o in options {
            non_empty("choice option id", &o.id)?;
        }
    }
    Ok(())
}

/// Adds a question to the programme's template, after question `after` of
/// the same section (first in the section when `None`). Its `position` is
/// computed; the one given is ignored.
pub fn add_question(
    doc: &mut Automerge,
    mut question: Question,
    after: Option<&str>,
    now_ms: i64,
) -> Result<(), DomainError> {
    let template = read_template(doc)?;
    if template.questions.contains_key(&question.id) {
        return Err(DomainError::Duplicate {
            what: "question",
            id: question.id,
        });
    }
    question.position = template.position_after(question.section, after, &question.id);
    check_question(&question)?;
    commit(doc, now_ms, "add question", |tx| {
        let questions = questions_obj(tx)?;
        reconcile_prop(tx, &questions, question.id.as_str(), &question)?;
        Ok(())
    })
}

/// Changes a question's wording (its id, and so its answers, stay).
pub fn reword_question(
    doc: &mut Automerge,
    question_id: &str,
    wording: Localized,
    now_ms: i64,
) -> Result<(), DomainError> {
    non_empty("question wording (ru)", &wording.ru)?;
    non_empty("question wording (en)", &wording.en)?;
    expect_kind(doc, DocKind::Programme)?;
    commit(doc, now_ms, "reword question", |tx| {
        let questions = questions_obj(tx)?;
        let q = question_obj(tx, &questions, question_id)?;
        reconcile_prop(tx, &q, "wording", &wording)?;
        Ok(())
    })
}

/// Moves a question right after `after` in its section (first when `None`).
/// Only the question's `position` scalar changes.
pub fn move_question(
    doc: &mut Automerge,
    question_id: &str,
    after: Option<&str>,
    now_ms: i64,
) -> Result<(), DomainError> {
    let template = read_template(doc)?;
    let q = template
        .question(question_id)
        .ok_or_else(|| DomainError::UnknownQuestion {
            question_id: question_id.to_owned(),
        })?;
    if let Some(a) = after
        && !template.questions.contains_key(a)
    {
        return Err(DomainError::UnknownQuestion {
            question_id: a.to_owned(),
        });
    }
    let position = template.position_after(q.section, after, question_id);
    commit(doc, now_ms, "move question", |tx| {
        let questions = questions_obj(tx)?;
        let q = question_obj(tx, &questions, question_id)?;
        automerge::transaction::Transactable::put(tx, &q, "position", position)?;
        Ok(())
    })
}

/// Retires a question: no longer asked or required; its answers stay.
pub fn retire_question(
    doc: &mut Automerge,
    question_id: &str,
    now_ms: i64,
) -> Result<(), DomainError> {
    expect_kind(doc, DocKind::Programme)?;
    commit(doc, now_ms, "retire question", |tx| {
        let questions = questions_obj(tx)?;
        let q = question_obj(tx, &questions, question_id)?;
        automerge::transaction::Transactable::put(tx, &q, "retired", true)?;
        Ok(())
    })
}

fn question_obj<R: automerge::ReadDoc>(
    doc: &R,
    questions: &automerge::ObjId,
    question_id: &str,
) -> Result<automerge::ObjId, DomainError> {
    if !has(doc, questions, question_id) {
        return Err(DomainError::UnknownQuestion {
            question_id: question_id.to_owned(),
        });
    }
    obj(doc, questions, question_id, "question")
}

/// Builds a question (position is set by the template order).
fn q(
    id: &str,
    section: Section,
    kind: QuestionKind,
    required: bool,
    ru: &str,
    en: &str,
) -> Question {
    Question {
        id: id.to_owned(),
        section,
        kind,
        required,
        wording: Localized::new(ru, en),
        position: 0.0,
        retired: false,
    }
}

fn opt(id: &str, ru: &str, en: &str) -> ChoiceOption {
    ChoiceOption {
        id: id.to_owned(),
        label: Localized::new(ru, en),
    }
}

/// The default VIP-анкета: the paper form's sections with real questions in
/// Russian and English, as the seed of a new programme.
pub fn default_template() -> Template {
    use QuestionKind as K;
    use Section as S;
    let speed = K::QualityCheck {
        service: Localized::new("Доступ в интернет", "Internet access"),
        metric: Localized::new(
            "Скорость передачи данных (договорная / измеренная)",
            "Data rate (contracted / measured)",
        ),
        unit: "Мбит/с".to_owned(),
    };
    let questions = vec![
        q(
            "company.meeting_place",
            S::Company,
            K::Text,
            false,
            "Место встречи",
            "Meeting place",
        ),
        q(
            "contacts.key_people",
            S::KeyContacts,
            K::Contacts,
            true,
            "Кто из ключевых лиц отвечает за сотрудничество с нами? Проверьте и обновите контакты.",
            "Which key people are responsible for working with us? Check and update their contacts.",
        ),
        q(
            "contacts.new_people",
            S::KeyContacts,
            K::YesNo,
            false,
            "Появились ли у клиента новые ответственные лица?",
            "Has the client got new people in charge?",
        ),
        q(
            "carnegie.proud_of",
            S::Carnegie,
            K::Text,
            true,
            "Чем ваша компания гордится больше всего?",
            "What is your company most proud of?",
        ),
        q(
            "carnegie.success_story",
            S::Carnegie,
            K::Text,
            false,
            "Расскажите о самом большом успехе компании за последний год.",
            "Tell us about the company's biggest success in the last year.",
        ),
        q(
            "carnegie.market_position",
            S::Carnegie,
            K::Text,
            false,
            "Как вы оцениваете положение компании на рынке?",
            "How do you see the company's position in its market?",
        ),
        q(
            "carnegie.plans",
            S::Carnegie,
            K::Text,
            true,
            "Каковы планы развития компании на ближайшие год-два?",
            "What are the company's plans for the next year or two?",
        ),
        q(
            "carnegie.challenges",
            S::Carnegie,
            K::Text,
            false,
            "Какие задачи сейчас самые важные для вашего бизнеса?",
            "Which challenges matter most to your business right now?",
        ),
        q(
            "cooperation.services_used",
            S::Cooperation,
            K::Text,
            true,
            "Какими нашими услугами вы пользуетесь и для чего?",
            "Which of our services do you use, and for what?",
        ),
        q(
            "cooperation.satisfaction",
            S::Cooperation,
            K::Choice {
                options: vec![
                    opt("very_satisfied", "Полностью довольны", "Very satisfied"),
                    opt("satisfied", "Скорее довольны", "Satisfied"),
                    opt("neutral", "Нейтрально", "Neutral"),
                    opt("dissatisfied", "Недовольны", "Dissatisfied"),
                ],
            },
            true,
            "Насколько вы довольны нашим сотрудничеством?",
            "How satisfied are you with our cooperation?",
        ),
        q(
            "cooperation.support_contact",
            S::Cooperation,
            K::YesNo,
            false,
            "Знаете ли вы, к кому обращаться в службу поддержки?",
            "Do you know whom to contact in our support team?",
        ),
        q(
            "cooperation.improve",
            S::Cooperation,
            K::Text,
            false,
            "Что нам стоит улучшить в работе с вами?",
            "What should we improve in working with you?",
        ),
        q(
            "quality.speed",
            S::Quality,
            speed,
            true,
            "Получаете ли вы данные на скорости не ниже договорной? Запишите договорную и измеренную скорость.",
            "Do you receive data at no less than the contracted speed? Record contracted and measured speed.",
        ),
        q(
            "quality.outage_details",
            S::Quality,
            K::Text,
            false,
            "Если были перебои в последний месяц — когда и как долго?",
            "If there were outages in the last month: when, and for how long?",
        ),
        q(
            "quality.last_incident",
            S::Quality,
            K::Date,
            false,
            "Дата последнего заметного сбоя",
            "Date of the last noticeable outage",
        ),
        q(
            "expansion.more_volume",
            S::Expansion,
            K::YesNo,
            false,
            "Планируете ли вы увеличить объём услуг (скорость, число офисов, каналы)?",
            "Do you plan to increase the volume of services (speed, offices, links)?",
        ),
        q(
            "expansion.new_offices",
            S::Expansion,
            K::Number,
            false,
            "Сколько новых офисов или точек планируется открыть в этом году?",
            "How many new offices or sites do you plan to open this year?",
        ),
        q(
            "expansion.budget_month",
            S::Expansion,
            K::Date,
            false,
            "Когда у вас планируется бюджет на следующий год?",
            "When do you plan next year's budget?",
        ),
        q(
            "new_offers.interest",
            S::NewOffers,
            K::Choice {
                options: vec![
                    opt("cloud", "Облачные сервисы", "Cloud services"),
                    opt("telephony", "IP-телефония", "IP telephony"),
                    opt(
                        "security",
                        "Информационная безопасность",
                        "Information security",
                    ),
                    opt("none", "Пока ничего", "Nothing for now"),
                ],
            },
            false,
            "Какие новые направления вам интересны?",
            "Which new directions interest you?",
        ),
        q(
            "new_offers.needs",
            S::NewOffers,
            K::Text,
            false,
            "Какие задачи вы хотели бы решить с нашей помощью?",
            "Which problems would you like us to help you solve?",
        ),
        q(
            "new_offers.presentation_agreed",
            S::NewOffers,
            K::YesNo,
            false,
            "Договорились ли о презентации новых продуктов?",
            "Was a presentation of new products agreed?",
        ),
        q(
            "referrals.who",
            S::Referrals,
            K::Referrals,
            false,
            "Кто из ваших партнёров или знакомых мог бы заинтересоваться нашими услугами?",
            "Which of your partners or acquaintances might be interested in our services?",
        ),
        q(
            "referrals.may_mention",
            S::Referrals,
            K::YesNo,
            false,
            "Можно ли сослаться на вас при обращении?",
            "May we mention you when we contact them?",
        ),
        q(
            "referrals.comment",
            S::Referrals,
            K::Text,
            false,
            "Комментарий менеджера по итогам встречи",
            "Rep's comment on the meeting",
        ),
    ];
    let mut template = Template::default();
    let mut per_section: BTreeMap<Section, f64> = BTreeMap::new();
    for mut question in questions {
        let pos = per_section.entry(question.section).or_insert(0.0);
        *pos += 1.0;
        question.position = *pos;
        template.questions.insert(question.id.clone(), question);
    }
    template
}
