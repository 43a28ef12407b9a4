//! What a visit collects besides answers: contact updates, sales
//! opportunities, referrals and follow-ups (maps keyed by generated ids, so
//! several people add to them at once), and the quality checks that open
//! follow-ups when the service fails them.

use automerge::{Automerge, ROOT};
use autosurgeon::{Hydrate, Reconcile, reconcile_prop};
use serde::{Deserialize, Serialize};

use super::answers::{QualityAnswer, question, wrong_kind};
use super::edit::edit;
use crate::doc::{DocKind, check_date, check_finite, expect_kind, has, new_id, non_empty, obj};
use crate::error::{DomainError, SchemaError};
use crate::template::{QuestionKind, Template};

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
        at_most,
    } = &q.kind
    else {
        return Err(wrong_kind(q, "quality_check"));
    };
    check_finite("quality target", answer.target)?;
    check_finite("quality actual", answer.actual)?;
    // The question says how the target binds, whatever the caller sent.
    let answer = &QualityAnswer {
        at_most: *at_most,
        ..answer.clone()
    };
    let fails = answer.fails();
    let (bound_ru, bound_en) = if *at_most {
        ("не более ", "at most ")
    } else {
        ("", "")
    };
    let description = format!(
        "Восстановить качество: {} — {}: {} {unit} при договорных {bound_ru}{} {unit}{} / \
         Restore quality: {} — {}: {} {unit} against contracted {bound_en}{} {unit}{}",
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
