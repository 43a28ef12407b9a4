//! A visit's answers: the values as stored and read back (also each of the
//! concurrent values [`crate::conflicts`] shows), and setting a text or scalar
//! answer after checking it against the question's kind.

use automerge::transaction::Transactable;
use automerge::{Automerge, ObjType, ROOT, ReadDoc, ScalarValue, Value};
use autosurgeon::{Hydrate, HydrateError, Reconcile};
use serde::{Deserialize, Serialize};

use super::edit::edit;
use crate::doc::{check_date, check_finite, obj, put_text};
use crate::error::{DomainError, SchemaError};
use crate::lang::Lang;
use crate::template::{Question, QuestionKind, Template};

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
    /// The target is a most, not a least: copied from the question when the check is
    /// recorded, so the answer judges itself wherever it is read.
    #[serde(default)]
    #[autosurgeon(missing = "Default::default")]
    pub at_most: bool,
}

impl QualityAnswer {
    /// The service is not of quality: short of the target (below it, or above it for
    /// an "at most" target), or an outage remembered.
    pub fn fails(&self) -> bool {
        let short = if self.at_most {
            self.actual > self.target
        } else {
            self.actual < self.target
        };
        short || self.outage_last_month
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

    /// The value as a person reads it in `lang`, knowing its question's kind: yes/no
    /// as «да»/«нет», a choice by its option's label, a date as 31.12.2026 in Russian,
    /// a quality check in words. An answer of a kind the question does not expect
    /// (written under another template) reads as [`AnswerValue::render`].
    pub fn render_for(&self, kind: &QuestionKind, lang: Lang) -> String {
        let yes_no = |b: bool| match (b, lang) {
            (true, Lang::Ru) => "да",
            (false, Lang::Ru) => "нет",
            (true, Lang::En) => "yes",
            (false, Lang::En) => "no",
        };
        match (self, kind) {
            (AnswerValue::Bool(b), _) => yes_no(*b).to_owned(),
            (AnswerValue::Str(id), QuestionKind::Choice { options }) => options
                .iter()
                .find(|o| &o.id == id)
                .map_or_else(|| id.clone(), |o| o.label.get(lang).to_owned()),
            (AnswerValue::Str(d), QuestionKind::Date) if lang == Lang::Ru => {
                match d.splitn(3, '-').collect::<Vec<_>>().as_slice() {
                    [y, m, day] => format!("{day}.{m}.{y}"),
                    _ => d.clone(),
                }
            }
            (AnswerValue::Quality(q), _) => {
                let (target, actual, outage) = match (lang, q.at_most) {
                    (Lang::Ru, false) => ("цель", "измерено", "перебой за последний месяц"),
                    (Lang::Ru, true) => ("цель не более", "измерено", "перебой за последний месяц"),
                    (Lang::En, false) => ("target", "measured", "outage last month"),
                    (Lang::En, true) => ("target at most", "measured", "outage last month"),
                };
                let mut out = format!(
                    "{target} {} · {actual} {} · {outage}: {}",
                    q.target,
                    q.actual,
                    yes_no(q.outage_last_month)
                );
                if !q.note.is_empty() {
                    out = format!("{out} · {}", q.note);
                }
                out
            }
            _ => self.render(),
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
                // Absent in checks recorded before targets could be a most.
                let at_most = matches!(field("at_most")?, Some(ScalarValue::Boolean(true)));
                AnswerValue::Quality(QualityAnswer {
                    target: number("target")?,
                    actual: number("actual")?,
                    outage_last_month,
                    note,
                    at_most,
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

pub(super) fn question<'t>(
    template: &'t Template,
    question_id: &str,
) -> Result<&'t Question, DomainError> {
    template
        .question(question_id)
        .ok_or_else(|| DomainError::UnknownQuestion {
            question_id: question_id.to_owned(),
        })
}

pub(super) fn wrong_kind(q: &Question, given: &'static str) -> DomainError {
    DomainError::WrongAnswerKind {
        question_id: q.id.clone(),
        expected: q.kind.name(),
        given,
    }
}
