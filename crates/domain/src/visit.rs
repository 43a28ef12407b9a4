//! The visit document: one filled VIP questionnaire.
//!
//! Answers live in the `answers` map keyed by question id. Text answers are
//! Automerge Text objects created when the visit is created, so two people
//! typing into one answer edit one object and merge by character. Entries
//! that several people add to (contact updates, opportunities, referrals,
//! follow-ups) are maps keyed by generated ids, each with `created_ms`.

use std::collections::BTreeMap;

use automerge::transaction::{Transactable, Transaction};
use automerge::{Automerge, ObjType, ROOT, ReadDoc, ScalarValue, Value};
use autosurgeon::{Hydrate, HydrateError, Reconcile, reconcile_prop};
use serde::{Deserialize, Serialize};

use crate::check::{DocKind, expect_kind};
use crate::doc::{
    check_date, check_finite, commit, has, new_id, non_empty, obj, put_text, write_header,
};
use crate::error::{DomainError, SchemaError};
use crate::ids::DocId;
use crate::lang::Localized;
use crate::template::{Question, QuestionKind, Template};

/// Whether a visit is still being filled in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Hydrate, Reconcile)]
#[serde(rename_all = "snake_case")]
pub enum VisitState {
    /// Being filled in.
    #[autosurgeon(rename = "draft")]
    Draft,
    /// Completed (still editable; later edits are recorded).
    #[autosurgeon(rename = "completed")]
    Completed,
}

/// The answer to a quality-check question.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, Hydrate, Reconcile)]
pub struct QualityAnswer {
    /// The contracted value (e.g. 100 Mbit/s).
    pub target: f64,
    /// The measured value.
    pub actual: f64,
    /// Whether the client remembers a noticeable outage in the last month.
    pub outage_last_month: bool,
    /// Free note.
    pub note: String,
}

impl QualityAnswer {
    /// The service is not of quality: below target, or an outage remembered.
    pub fn fails(&self) -> bool {
        self.actual < self.target || self.outage_last_month
    }
}

/// A stored answer as read back from the document.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "value", rename_all = "snake_case")]
pub enum AnswerValue {
    /// A text answer (from an Automerge Text object).
    Text(String),
    /// A yes/no answer.
    Bool(bool),
    /// A number answer.
    Number(f64),
    /// A date (YYYY-MM-DD) or a choice option id: the question's kind says which.
    Str(String),
    /// A quality check.
    Quality(QualityAnswer),
}

impl AnswerValue {
    /// The value as a person reads it (history and conflict views).
    pub fn render(&self) -> String {
        match self {
            AnswerValue::Text(s) | AnswerValue::Str(s) => s.clone(),
            AnswerValue::Bool(b) => b.to_string(),
            AnswerValue::Number(n) => n.to_string(),
            AnswerValue::Quality(q) => format!(
                "target {} / actual {} / outage last month: {}{}",
                q.target,
                q.actual,
                q.outage_last_month,
                if q.note.is_empty() {
                    String::new()
                } else {
                    format!(" / {}", q.note)
                }
            ),
        }
    }

    /// Whether the answer counts as given (an empty text does not).
    pub fn is_given(&self) -> bool {
        match self {
            AnswerValue::Text(s) | AnswerValue::Str(s) => !s.trim().is_empty(),
            _ => true,
        }
    }

    /// Reads one value of the answers map (what `get`/`get_all` returned).
    pub(crate) fn from_am<R: ReadDoc>(
        doc: &R,
        value: &Value<'_>,
        id: &automerge::ObjId,
        heads: Option<&[automerge::ChangeHash]>,
    ) -> Result<Self, DomainError> {
        Ok(match value {
            Value::Object(ObjType::Text) => AnswerValue::Text(match heads {
                Some(h) => doc.text_at(id, h)?,
                None => doc.text(id)?,
            }),
            Value::Object(ObjType::Map) => {
                let field = |k: &str| -> Result<Option<ScalarValue>, DomainError> {
                    let v = match heads {
                        Some(h) => doc.get_at(id, k, h)?,
                        None => doc.get(id, k)?,
                    };
                    Ok(match v {
                        Some((Value::Scalar(s), _)) => Some(s.into_owned()),
                        _ => None,
                    })
                };
                let number = |k: &str| -> Result<f64, DomainError> {
                    field(k)?
                        .as_ref()
                        .and_then(scalar_f64)
                        .ok_or_else(|| malformed(k))
                };
                let outage_last_month = match field("outage_last_month")? {
                    Some(ScalarValue::Boolean(b)) => b,
                    _ => return Err(malformed("outage_last_month")),
                };
                let note = match field("note")? {
                    Some(ScalarValue::Str(s)) => s.to_string(),
                    _ => String::new(),
                };
                AnswerValue::Quality(QualityAnswer {
                    target: number("target")?,
                    actual: number("actual")?,
                    outage_last_month,
                    note,
                })
            }
            Value::Object(other) => {
                return Err(SchemaError::Malformed {
                    kind: "visit",
                    message: format!("an answer is a {other:?} object"),
                }
                .into());
            }
            Value::Scalar(s) => match s.as_ref() {
                ScalarValue::Boolean(b) => AnswerValue::Bool(*b),
                ScalarValue::Str(s) => AnswerValue::Str(s.to_string()),
                other => match scalar_f64(other) {
                    Some(f) => AnswerValue::Number(f),
                    None => {
                        return Err(SchemaError::Malformed {
                            kind: "visit",
                            message: format!("an answer holds {other:?}"),
                        }
                        .into());
                    }
                },
            },
        })
    }
}

fn malformed(field: &str) -> DomainError {
    SchemaError::Malformed {
        kind: "visit",
        message: format!("quality answer field {field:?} is missing or of the wrong type"),
    }
    .into()
}

fn scalar_f64(s: &ScalarValue) -> Option<f64> {
    match s {
        ScalarValue::F64(f) => Some(*f),
        // Other writers (or older builds) may store whole numbers as integers.
        ScalarValue::Int(i) => Some(*i as f64),
        ScalarValue::Uint(u) => Some(*u as f64),
        _ => None,
    }
}

impl Hydrate for AnswerValue {
    fn hydrate_bool(b: bool) -> Result<Self, HydrateError> {
        Ok(AnswerValue::Bool(b))
    }
    fn hydrate_f64(f: f64) -> Result<Self, HydrateError> {
        Ok(AnswerValue::Number(f))
    }
    fn hydrate_int(i: i64) -> Result<Self, HydrateError> {
        Ok(AnswerValue::Number(i as f64))
    }
    fn hydrate_uint(u: u64) -> Result<Self, HydrateError> {
        Ok(AnswerValue::Number(u as f64))
    }
    fn hydrate_string(s: &str) -> Result<Self, HydrateError> {
        Ok(AnswerValue::Str(s.to_owned()))
    }
    fn hydrate_text<D: autosurgeon::ReadDoc>(
        doc: &D,
        obj: &automerge::ObjId,
    ) -> Result<Self, HydrateError> {
        Ok(AnswerValue::Text(doc.text(obj)?))
    }
    fn hydrate_map<D: autosurgeon::ReadDoc>(
        doc: &D,
        obj: &automerge::ObjId,
    ) -> Result<Self, HydrateError> {
        QualityAnswer::hydrate_map(doc, obj).map(AnswerValue::Quality)
    }
}

/// A scalar answer as given by the UI; checked against the question's kind.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "value", rename_all = "snake_case")]
pub enum ScalarAnswer {
    /// For a yes/no question.
    YesNo(bool),
    /// For a number question.
    Number(f64),
    /// For a date question: YYYY-MM-DD.
    Date(String),
    /// For a choice question: the option id.
    Choice(String),
}

impl ScalarAnswer {
    fn name(&self) -> &'static str {
        match self {
            ScalarAnswer::YesNo(_) => "yes_no",
            ScalarAnswer::Number(_) => "number",
            ScalarAnswer::Date(_) => "date",
            ScalarAnswer::Choice(_) => "choice",
        }
    }
}

/// A contact update recorded during the visit (a new key person, or changed
/// details of one the client document knows).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, Hydrate, Reconcile)]
pub struct ContactUpdate {
    /// The client document's contact this updates; `None` for a new person.
    pub updates_contact_id: Option<String>,
    /// Full name.
    pub name: String,
    /// Role in the client company.
    pub role: String,
    /// Phone.
    pub phone: String,
    /// E-mail.
    pub email: String,
    /// The person has left the client company.
    pub has_left: bool,
    /// When the update was first recorded.
    pub created_ms: i64,
}

/// Growth of what the client buys, or a new product.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, Hydrate, Reconcile)]
#[serde(rename_all = "snake_case")]
pub enum OpportunityKind {
    /// More volume of what the client already buys.
    #[autosurgeon(rename = "growth")]
    Growth,
    /// A new product or direction.
    #[autosurgeon(rename = "cross_sell")]
    CrossSell,
}

/// A sales opportunity found during the visit.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, Hydrate, Reconcile)]
pub struct Opportunity {
    /// Growth or cross-sell.
    pub kind: OpportunityKind,
    /// What was found.
    pub description: String,
    /// The product concerned.
    pub product: String,
    /// Estimated value, zero or more.
    pub estimated_value: f64,
    /// Currency of the value (e.g. "RUB").
    pub currency: String,
    /// When it was first recorded.
    pub created_ms: i64,
}

/// A referral: an acquaintance of the client who could become a client.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, Hydrate, Reconcile)]
pub struct Referral {
    /// The person's name.
    pub name: String,
    /// Their company.
    pub company: String,
    /// How to reach them.
    pub contact: String,
    /// Free note.
    pub note: String,
    /// When it was first recorded.
    pub created_ms: i64,
}

/// State of a follow-up.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, Hydrate, Reconcile)]
#[serde(rename_all = "snake_case")]
pub enum FollowUpState {
    /// Nobody started yet.
    #[autosurgeon(rename = "open")]
    Open,
    /// Being worked on.
    #[autosurgeon(rename = "in_progress")]
    InProgress,
    /// Done.
    #[autosurgeon(rename = "done")]
    Done,
}

/// Work to be done after the visit (e.g. technical work after a failed
/// quality check).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, Hydrate, Reconcile)]
pub struct FollowUp {
    /// The question that caused it, if any.
    pub source_question_id: Option<String>,
    /// What is to be done.
    pub description: String,
    /// Who does it (rep id, "lead", or a name); empty when not yet assigned.
    pub owner: String,
    /// Due date, YYYY-MM-DD.
    pub due: Option<String>,
    /// Where it stands.
    pub state: FollowUpState,
    /// When it was created.
    pub created_ms: i64,
}

/// A visit document read into typed form.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, Hydrate)]
pub struct Visit {
    /// This visit's document id.
    pub id: DocId,
    /// The programme document.
    pub programme_id: DocId,
    /// The client document.
    pub client_id: DocId,
    /// Meeting date, YYYY-MM-DD.
    pub date: String,
    /// The rep who held the meeting.
    pub rep_id: String,
    /// Draft or completed.
    pub state: VisitState,
    /// When it was (last) completed.
    pub completed_ms: Option<i64>,
    /// When it was last edited after completion.
    pub edited_after_completion_ms: Option<i64>,
    /// When the visit document was created.
    pub created_ms: i64,
    /// Answers keyed by question id.
    pub answers: BTreeMap<String, AnswerValue>,
    /// Contact updates keyed by generated id.
    pub contact_updates: BTreeMap<String, ContactUpdate>,
    /// Opportunities keyed by generated id.
    pub opportunities: BTreeMap<String, Opportunity>,
    /// Referrals keyed by generated id.
    pub referrals: BTreeMap<String, Referral>,
    /// Follow-ups keyed by id (quality follow-ups: "quality:<question id>").
    pub follow_ups: BTreeMap<String, FollowUp>,
}

/// What is needed to create a visit.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct VisitInit {
    /// The new visit's document id.
    pub id: DocId,
    /// The programme document.
    pub programme_id: DocId,
    /// The client document.
    pub client_id: DocId,
    /// Meeting date, YYYY-MM-DD.
    pub date: String,
    /// The rep holding the meeting.
    pub rep_id: String,
}

/// A required question without an answer.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MissingAnswer {
    /// The question id.
    pub question_id: String,
    /// The question's wording, in both languages.
    pub wording: Localized,
}

/// Creates a visit document: header, empty collections, and one Text object
/// per text question of the current template (so concurrent typing into an
/// answer edits one object). `actor` is the device's actor id.
pub fn new_visit(
    actor: automerge::ActorId,
    init: &VisitInit,
    template: &Template,
    now_ms: i64,
) -> Result<Automerge, DomainError> {
    check_date("visit date", &init.date)?;
    non_empty("rep id", &init.rep_id)?;
    let mut doc = Automerge::new().with_actor(actor);
    commit(&mut doc, now_ms, "create visit", |tx| {
        write_header(tx, DocKind::Visit)?;
        reconcile_prop(tx, ROOT, "id", init.id)?;
        reconcile_prop(tx, ROOT, "programme_id", init.programme_id)?;
        reconcile_prop(tx, ROOT, "client_id", init.client_id)?;
        tx.put(ROOT, "date", init.date.as_str())?;
        tx.put(ROOT, "rep_id", init.rep_id.as_str())?;
        reconcile_prop(tx, ROOT, "state", VisitState::Draft)?;
        tx.put(ROOT, "completed_ms", ScalarValue::Null)?;
        tx.put(ROOT, "edited_after_completion_ms", ScalarValue::Null)?;
        tx.put(ROOT, "created_ms", now_ms)?;
        let answers = tx.put_object(ROOT, "answers", ObjType::Map)?;
        for q in template.active() {
            if q.kind == QuestionKind::Text {
                tx.put_object(&answers, q.id.as_str(), ObjType::Text)?;
            }
        }
        for key in [
            "contact_updates",
            "opportunities",
            "referrals",
            "follow_ups",
        ] {
            tx.put_object(ROOT, key, ObjType::Map)?;
        }
        Ok(())
    })?;
    Ok(doc)
}

/// Reads a visit document into typed form (type and schema checked).
pub fn read_visit(doc: &Automerge) -> Result<Visit, DomainError> {
    expect_kind(doc, DocKind::Visit)?;
    autosurgeon::hydrate(doc).map_err(|e| {
        SchemaError::Malformed {
            kind: "visit",
            message: e.to_string(),
        }
        .into()
    })
}

/// The required answers missing for completing `visit` under `template`.
/// Contacts and referrals questions are answered by at least one contact
/// update or referral. Retired questions are never required.
pub fn validate_visit_completion(visit: &Visit, template: &Template) -> Vec<MissingAnswer> {
    template
        .active()
        .into_iter()
        .filter(|q| q.required)
        .filter(|q| match q.kind {
            QuestionKind::Contacts => visit.contact_updates.is_empty(),
            QuestionKind::Referrals => visit.referrals.is_empty(),
            _ => !visit.answers.get(&q.id).is_some_and(AnswerValue::is_given),
        })
        .map(|q| MissingAnswer {
            question_id: q.id.clone(),
            wording: q.wording.clone(),
        })
        .collect()
}

fn question<'t>(template: &'t Template, question_id: &str) -> Result<&'t Question, DomainError> {
    template
        .question(question_id)
        .ok_or_else(|| DomainError::UnknownQuestion {
            question_id: question_id.to_owned(),
        })
}

fn wrong_kind(q: &Question, given: &'static str) -> DomainError {
    DomainError::WrongAnswerKind {
        question_id: q.id.clone(),
        expected: q.kind.name(),
        given,
    }
}

/// Records that a completed visit was edited (it stays completed).
fn touch(tx: &mut Transaction<'_>, now_ms: i64) -> Result<(), DomainError> {
    if let Some((Value::Scalar(s), _)) = tx.get(ROOT, "state")?
        && s.as_str() == Some("completed")
    {
        tx.put(ROOT, "edited_after_completion_ms", now_ms)?;
    }
    Ok(())
}

/// One edit of a visit: a commit that also records edits after completion.
fn edit<O>(
    doc: &mut Automerge,
    now_ms: i64,
    msg: &str,
    f: impl FnOnce(&mut Transaction<'_>) -> Result<O, DomainError>,
) -> Result<O, DomainError> {
    expect_kind(doc, DocKind::Visit)?;
    commit(doc, now_ms, msg, |tx| {
        let out = f(tx)?;
        touch(tx, now_ms)?;
        Ok(out)
    })
}

/// Sets a text answer to `value`. Automerge diffs old against new and applies
/// character splices (Unicode code points), so a concurrent edit elsewhere
/// in the same answer survives. Creates the Text object if the question was
/// added after the visit was created.
pub fn set_text_answer(
    doc: &mut Automerge,
    template: &Template,
    question_id: &str,
    value: &str,
    now_ms: i64,
) -> Result<(), DomainError> {
    let q = question(template, question_id)?;
    if q.kind != QuestionKind::Text {
        return Err(wrong_kind(q, "text"));
    }
    edit(doc, now_ms, "set text answer", |tx| {
        let answers = obj(tx, &ROOT, "answers", "answers")?;
        match tx.get(&answers, question_id)? {
            Some((Value::Object(ObjType::Text), text)) => tx.update_text(&text, value)?,
            // Missing, or a scalar from before: a fresh Text object.
            _ => {
                put_text(tx, &answers, question_id, value)?;
            }
        }
        Ok(())
    })
}

/// Sets a yes/no, number, date or choice answer after checking it against the
/// question's kind.
pub fn set_scalar_answer(
    doc: &mut Automerge,
    template: &Template,
    question_id: &str,
    value: &ScalarAnswer,
    now_ms: i64,
) -> Result<(), DomainError> {
    let q = question(template, question_id)?;
    let scalar: ScalarValue = match (&q.kind, value) {
        (QuestionKind::YesNo, ScalarAnswer::YesNo(b)) => (*b).into(),
        (QuestionKind::Number, ScalarAnswer::Number(n)) => {
            check_finite("number answer", *n)?;
            (*n).into()
        }
        (QuestionKind::Date, ScalarAnswer::Date(d)) => {
            check_date("date answer", d)?;
            d.as_str().into()
        }
        (QuestionKind::Choice { options }, ScalarAnswer::Choice(id)) => {
            if !options.iter().any(|o| &o.id == id) {
                return Err(DomainError::UnknownOption {
                    question_id: q.id.clone(),
                    option_id: id.clone(),
                });
            }
            id.as_str().into()
        }
        (_, v) => return Err(wrong_kind(q, v.name())),
    };
    edit(doc, now_ms, "set answer", |tx| {
        let answers = obj(tx, &ROOT, "answers", "answers")?;
        tx.put(&answers, question_id, scalar)?;
        Ok(())
    })
}

/// The follow-up id a failed quality check creates: deterministic, so one
/// device never creates it twice (and two devices write the same key).
pub fn quality_follow_up_id(question_id: &str) -> String {
    format!("quality:{question_id}")
}

/// Records a quality check; returns whether the service fails it. A failure
/// opens a follow-up (technical work) keyed by the question id, unless one
/// exists already.
pub fn record_quality_check(
    doc: &mut Automerge,
    template: &Template,
    question_id: &str,
    answer: &QualityAnswer,
    now_ms: i64,
) -> Result<bool, DomainError> {
    let q = question(template, question_id)?;
    let QuestionKind::QualityCheck {
        service,
        metric,
        unit,
    } = &q.kind
    else {
        return Err(wrong_kind(q, "quality_check"));
    };
    check_finite("quality target", answer.target)?;
    check_finite("quality actual", answer.actual)?;
    let fails = answer.fails();
    let description = format!(
        "Восстановить качество: {} — {}: {} {unit} при договорных {} {unit}{} / \
         Restore quality: {} — {}: {} {unit} against contracted {} {unit}{}",
        service.ru,
        metric.ru,
        answer.actual,
        answer.target,
        if answer.outage_last_month {
            ", были перебои"
        } else {
            ""
        },
        service.en,
        metric.en,
        answer.actual,
        answer.target,
        if answer.outage_last_month {
            ", outages reported"
        } else {
            ""
        },
    );
    edit(doc, now_ms, "record quality check", |tx| {
        let answers = obj(tx, &ROOT, "answers", "answers")?;
        reconcile_prop(tx, &answers, question_id, answer)?;
        if fails {
            let follow_ups = obj(tx, &ROOT, "follow_ups", "follow-ups")?;
            let id = quality_follow_up_id(question_id);
            if !has(tx, &follow_ups, &id) {
                let f = FollowUp {
                    source_question_id: Some(question_id.to_owned()),
                    description,
                    owner: String::new(),
                    due: None,
                    state: FollowUpState::Open,
                    created_ms: now_ms,
                };
                reconcile_prop(tx, &follow_ups, id.as_str(), &f)?;
            }
        }
        Ok(fails)
    })
}

/// Contact details as entered (for a visit's contact update or a client's contact).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, Default)]
pub struct ContactInput {
    /// The client document's contact this updates (visit updates only).
    pub updates_contact_id: Option<String>,
    /// Full name (required).
    pub name: String,
    /// Role.
    pub role: String,
    /// Phone.
    pub phone: String,
    /// E-mail.
    pub email: String,
}

/// Adds (`id = None`, returns the new id) or updates a contact update.
pub fn put_contact_update(
    doc: &mut Automerge,
    id: Option<&str>,
    input: &ContactInput,
    now_ms: i64,
) -> Result<String, DomainError> {
    non_empty("contact name", &input.name)?;
    let current = entry::<ContactUpdate>(doc, "contact_updates", "contact update", id)?;
    let id = id.map_or_else(new_id, str::to_owned);
    let value = ContactUpdate {
        updates_contact_id: input.updates_contact_id.clone(),
        name: input.name.clone(),
        role: input.role.clone(),
        phone: input.phone.clone(),
        email: input.email.clone(),
        has_left: current.as_ref().is_some_and(|c| c.has_left),
        created_ms: current.map_or(now_ms, |c| c.created_ms),
    };
    put_entry(doc, now_ms, "contact_updates", &id, &value)?;
    Ok(id)
}

/// Marks the person of a contact update as gone from the client company.
pub fn mark_contact_update_left(
    doc: &mut Automerge,
    id: &str,
    now_ms: i64,
) -> Result<(), DomainError> {
    let Some(mut c) = entry::<ContactUpdate>(doc, "contact_updates", "contact update", Some(id))?
    else {
        return Err(not_found("contact update", id));
    };
    c.has_left = true;
    put_entry(doc, now_ms, "contact_updates", id, &c)
}

/// An opportunity as entered.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct OpportunityInput {
    /// Growth or cross-sell.
    pub kind: OpportunityKind,
    /// What was found (required).
    pub description: String,
    /// The product concerned.
    pub product: String,
    /// Estimated value, zero or more.
    pub estimated_value: f64,
    /// Currency (required), e.g. "RUB".
    pub currency: String,
}

/// Adds (`id = None`, returns the new id) or updates an opportunity.
pub fn put_opportunity(
    doc: &mut Automerge,
    id: Option<&str>,
    input: &OpportunityInput,
    now_ms: i64,
) -> Result<String, DomainError> {
    non_empty("opportunity description", &input.description)?;
    non_empty("currency", &input.currency)?;
    check_finite("estimated value", input.estimated_value)?;
    if input.estimated_value < 0.0 {
        return Err(DomainError::Negative {
            field: "estimated value",
            value: input.estimated_value,
        });
    }
    let current = entry::<Opportunity>(doc, "opportunities", "opportunity", id)?;
    let id = id.map_or_else(new_id, str::to_owned);
    let value = Opportunity {
        kind: input.kind,
        description: input.description.clone(),
        product: input.product.clone(),
        estimated_value: input.estimated_value,
        currency: input.currency.clone(),
        created_ms: current.map_or(now_ms, |c| c.created_ms),
    };
    put_entry(doc, now_ms, "opportunities", &id, &value)?;
    Ok(id)
}

/// A referral as entered.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, Default)]
pub struct ReferralInput {
    /// The person's name (required).
    pub name: String,
    /// Their company.
    pub company: String,
    /// How to reach them.
    pub contact: String,
    /// Free note.
    pub note: String,
}

/// Adds (`id = None`, returns the new id) or updates a referral.
pub fn put_referral(
    doc: &mut Automerge,
    id: Option<&str>,
    input: &ReferralInput,
    now_ms: i64,
) -> Result<String, DomainError> {
    non_empty("referral name", &input.name)?;
    let current = entry::<Referral>(doc, "referrals", "referral", id)?;
    let id = id.map_or_else(new_id, str::to_owned);
    let value = Referral {
        name: input.name.clone(),
        company: input.company.clone(),
        contact: input.contact.clone(),
        note: input.note.clone(),
        created_ms: current.map_or(now_ms, |c| c.created_ms),
    };
    put_entry(doc, now_ms, "referrals", &id, &value)?;
    Ok(id)
}

/// Adds a follow-up by hand; returns its id.
pub fn add_follow_up(
    doc: &mut Automerge,
    source_question_id: Option<&str>,
    description: &str,
    owner: &str,
    due: Option<&str>,
    now_ms: i64,
) -> Result<String, DomainError> {
    non_empty("follow-up description", description)?;
    if let Some(d) = due {
        check_date("follow-up due date", d)?;
    }
    let id = new_id();
    let value = FollowUp {
        source_question_id: source_question_id.map(str::to_owned),
        description: description.to_owned(),
        owner: owner.to_owned(),
        due: due.map(str::to_owned),
        state: FollowUpState::Open,
        created_ms: now_ms,
    };
    put_entry(doc, now_ms, "follow_ups", &id, &value)?;
    Ok(id)
}

/// Changes a follow-up's state, owner and/or due date (each `None` keeps it).
pub fn update_follow_up(
    doc: &mut Automerge,
    id: &str,
    state: Option<FollowUpState>,
    owner: Option<&str>,
    due: Option<&str>,
    now_ms: i64,
) -> Result<(), DomainError> {
    if let Some(d) = due {
        check_date("follow-up due date", d)?;
    }
    let Some(mut f) = entry::<FollowUp>(doc, "follow_ups", "follow-up", Some(id))? else {
        return Err(not_found("follow-up", id));
    };
    if let Some(s) = state {
        f.state = s;
    }
    if let Some(o) = owner {
        f.owner = o.to_owned();
    }
    if let Some(d) = due {
        f.due = Some(d.to_owned());
    }
    put_entry(doc, now_ms, "follow_ups", id, &f)
}

/// Completes the visit, refusing when required answers are missing.
/// Completing again refreshes `completed_ms`.
pub fn complete_visit(
    doc: &mut Automerge,
    template: &Template,
    now_ms: i64,
) -> Result<(), DomainError> {
    let visit = read_visit(doc)?;
    let missing = validate_visit_completion(&visit, template);
    if !missing.is_empty() {
        return Err(DomainError::Incomplete { missing });
    }
    commit(doc, now_ms, "complete visit", |tx| {
        reconcile_prop(tx, ROOT, "state", VisitState::Completed)?;
        tx.put(ROOT, "completed_ms", now_ms)?;
        Ok(())
    })
}

fn not_found(what: &'static str, id: &str) -> DomainError {
    DomainError::NotFound {
        what,
        id: id.to_owned(),
    }
}

/// The entry `id` of the root map `collection`: `Ok(None)` when `id` is
/// `None` (an add), `NotFound` when it names nothing.
fn entry<T: Hydrate>(
    doc: &Automerge,
    collection: &str,
    what: &'static str,
    id: Option<&str>,
) -> Result<Option<T>, DomainError> {
    expect_kind(doc, DocKind::Visit)?;
    let Some(id) = id else { return Ok(None) };
    let map = obj(doc, &ROOT, collection, what)?;
    if !has(doc, &map, id) {
        return Err(not_found(what, id));
    }
    autosurgeon::hydrate_prop(doc, &map, id)
        .map(Some)
        .map_err(|e| {
            SchemaError::Malformed {
                kind: "visit",
                message: format!("{collection}.{id}: {e}"),
            }
            .into()
        })
}

fn put_entry<T: Reconcile>(
    doc: &mut Automerge,
    now_ms: i64,
    collection: &str,
    id: &str,
    value: &T,
) -> Result<(), DomainError> {
    let msg = format!("update {collection}");
    edit(doc, now_ms, &msg, |tx| {
        let map = obj(tx, &ROOT, collection, "collection")?;
        reconcile_prop(tx, &map, id, value)?;
        Ok(())
    })
}
