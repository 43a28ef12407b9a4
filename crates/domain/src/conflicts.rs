//! Concurrent values of an answer (conflicts), their resolution, and the
//! history of an answer: who wrote what, when.
//!
//! Hydrating a document silently picks one winner of concurrent writes; the
//! functions here use `get_all` so the lead sees every value.

use automerge::transaction::Transactable;
use automerge::{Automerge, ChangeHash, ObjType, ROOT, ReadDoc, Value};
use autosurgeon::reconcile_prop;
use serde::{Deserialize, Serialize};

use crate::doc::{DocKind, check_date, check_finite, commit, expect_kind, put_text};
use crate::error::DomainError;
use crate::template::{QuestionKind, Template};
use crate::visit::AnswerValue;

/// One of the concurrent values of an answer.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ConflictValue {
    /// The actor (device) that wrote it, hex; map it to a person with the
    /// programme's devices.
    pub actor: String,
    /// The operation id ("counter@actor"), unique per value.
    pub op_id: String,
    /// The value (for a text answer: that text object's content).
    pub value: AnswerValue,
}

/// One change after which an answer read differently.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct HistoryEntry {
    /// The actor (device) that made the change, hex.
    pub actor: String,
    /// The change's time (the `now_ms` of the edit).
    pub time_ms: i64,
    /// The answer as it read right after the change (concurrent values
    /// joined with " | "; empty when absent).
    pub value: String,
    /// The change hash, hex.
    pub change_hash: String,
    /// The change's message, e.g. "set text answer".
    pub message: Option<String>,
}

fn answers_obj(
    doc: &Automerge,
    heads: Option<&[ChangeHash]>,
) -> Result<Option<automerge::ObjId>, DomainError> {
    let got = match heads {
        Some(h) => doc.get_at(ROOT, "answers", h)?,
        None => doc.get(ROOT, "answers")?,
    };
    Ok(match got {
        Some((Value::Object(ObjType::Map), id)) => Some(id),
        _ => None,
    })
}

fn values_at(
    doc: &Automerge,
    question_id: &str,
    heads: Option<&[ChangeHash]>,
) -> Result<Vec<ConflictValue>, DomainError> {
    let Some(answers) = answers_obj(doc, heads)? else {
        return Ok(Vec::new());
    };
    let all = match heads {
        Some(h) => doc.get_all_at(&answers, question_id, h)?,
        None => doc.get_all(&answers, question_id)?,
    };
    all.into_iter()
        .map(|(value, id)| {
            let (actor, op_id) = match &id {
                automerge::ObjId::Id(counter, actor, _) => (
                    actor.to_hex_string(),
                    format!("{counter}@{}", actor.to_hex_string()),
                ),
                automerge::ObjId::Root => (String::new(), String::new()),
            };
            Ok(ConflictValue {
                actor,
                op_id,
                value: AnswerValue::from_am(doc, &value, &id, heads)?,
            })
        })
        .collect()
}

/// Every current value of the answer to `question_id` with its author: one
/// value normally, several after concurrent writes (two text objects
/// created concurrently show both texts). Empty when unanswered.
pub fn answer_conflicts(
    doc: &Automerge,
    question_id: &str,
) -> Result<Vec<ConflictValue>, DomainError> {
    expect_kind(doc, DocKind::Visit)?;
    values_at(doc, question_id, None)
}

/// The question ids whose answers hold concurrent values.
pub fn conflicted_answers(doc: &Automerge) -> Result<Vec<String>, DomainError> {
    expect_kind(doc, DocKind::Visit)?;
    let Some(answers) = answers_obj(doc, None)? else {
        return Ok(Vec::new());
    };
    // One pass over the answers says which hold concurrent values; only those are read
    // value by value. Reading every one of them also proves each is a valid answer
    // (check_document; a single value is proved by reading the visit).
    let conflicted: Vec<String> = doc
        .map_range(&answers, ..)
        .filter(|item| item.conflict)
        .map(|item| item.key.into_owned())
        .collect();
    let mut out = Vec::with_capacity(conflicted.len());
    for key in conflicted {
        if values_at(doc, &key, None)?.len() > 1 {
            out.push(key);
        }
    }
    Ok(out)
}

/// Writes `chosen` as the answer to `question_id`, replacing every concurrent
/// value, so the conflict disappears. `chosen` may be one of the conflicting
/// values or a new one; it is checked against the question's kind.
pub fn resolve_answer(
    doc: &mut Automerge,
    template: &Template,
    question_id: &str,
    chosen: &AnswerValue,
    now_ms: i64,
) -> Result<(), DomainError> {
    expect_kind(doc, DocKind::Visit)?;
    let q = template
        .question(question_id)
        .ok_or_else(|| DomainError::UnknownQuestion {
            question_id: question_id.to_owned(),
        })?;
    let fits = match (&q.kind, chosen) {
        (QuestionKind::Text, AnswerValue::Text(_))
        | (QuestionKind::YesNo, AnswerValue::Bool(_)) => true,
        (QuestionKind::Number, AnswerValue::Number(n)) => {
            check_finite("number answer", *n)?;
            true
        }
        (QuestionKind::Date, AnswerValue::Str(d)) => {
            check_date("date answer", d)?;
            true
        }
        (QuestionKind::Choice { options }, AnswerValue::Str(id)) => {
            options.iter().any(|o| &o.id == id)
        }
        (QuestionKind::QualityCheck { .. }, AnswerValue::Quality(a)) => {
            check_finite("quality target", a.target)?;
            check_finite("quality actual", a.actual)?;
            true
        }
        _ => false,
    };
    if !fits {
        return Err(DomainError::WrongAnswerKind {
            question_id: q.id.clone(),
            expected: q.kind.name(),
            given: match chosen {
                AnswerValue::Text(_) => "text",
                AnswerValue::Bool(_) => "yes_no",
                AnswerValue::Number(_) => "number",
                AnswerValue::Str(_) => "date or choice",
                AnswerValue::Quality(_) => "quality_check",
            },
        });
    }
    commit(doc, now_ms, "resolve answer conflict", |tx| {
        let answers = crate::doc::obj(tx, &ROOT, "answers", "answers")?;
        // A put on the key supersedes every value this transaction sees:
        // that is what clears the conflict. Objects are created afresh.
        match chosen {
            AnswerValue::Text(s) => {
                put_text(tx, &answers, question_id, s)?;
            }
            AnswerValue::Bool(b) => tx.put(&answers, question_id, *b)?,
            AnswerValue::Number(n) => tx.put(&answers, question_id, *n)?,
            AnswerValue::Str(s) => tx.put(&answers, question_id, s.as_str())?,
            AnswerValue::Quality(a) => {
                tx.put_object(&answers, question_id, ObjType::Map)?;
                reconcile_prop(tx, &answers, question_id, a)?;
            }
        }
        Ok(())
    })
}

fn render(values: &[ConflictValue]) -> Option<String> {
    // An empty text object (created with the visit) is no answer yet.
    let rendered = values
        .iter()
        .map(|v| v.value.render())
        .collect::<Vec<_>>()
        .join(" | ");
    (!values.is_empty() && !rendered.is_empty()).then_some(rendered)
}

/// The history of the answer to `question_id`: every change after which the
/// answer reads differently than before it, in causal order, with author
/// and time. O(changes × answer size): meant for one document at a time.
pub fn answer_history(
    doc: &Automerge,
    question_id: &str,
) -> Result<Vec<HistoryEntry>, DomainError> {
    expect_kind(doc, DocKind::Visit)?;
    let mut out = Vec::new();
    for change in doc.get_changes(&[]) {
        let after = [change.hash()];
        let now = render(&values_at(doc, question_id, Some(&after))?);
        let before = if change.deps().is_empty() {
            None
        } else {
            render(&values_at(doc, question_id, Some(change.deps()))?)
        };
        if now != before {
            out.push(HistoryEntry {
                actor: change.actor_id().to_hex_string(),
                time_ms: change.timestamp(),
                value: now.unwrap_or_default(),
                change_hash: change.hash().to_string(),
                message: change.message().map(str::to_owned),
            });
        }
    }
    Ok(out)
}
