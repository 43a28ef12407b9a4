//! The questionnaire template (VIP-анкета), kept inside the programme document.
//!
//! Questions have stable string ids; answers are keyed by them, so adding,
//! rewording, reordering and retiring questions never detaches an answer.
//! Questions are never deleted, only retired.
//!
//! Here: reading the template out of a programme document and editing it. Its
//! parts, whose names are re-exported here: `questions` (sections, questions,
//! the template) and `default` (the VIP-анкета a new programme starts with).

mod default;
mod questions;

use automerge::{Automerge, ROOT};
use autosurgeon::{hydrate_prop, reconcile_prop};

pub use self::default::default_template;
pub use self::questions::{ChoiceOption, Question, QuestionKind, Section, Template};
use crate::doc::{DocKind, check_finite, commit, expect_kind, has, non_empty, obj};
use crate::error::{DomainError, SchemaError};
use crate::lang::Localized;

/// Path of the questions map inside the programme document.
fn questions_obj<R: automerge::ReadDoc>(doc: &R) -> Result<automerge::ObjId, DomainError> {
    let template = obj(doc, &ROOT, "template", "template")?;
    obj(doc, &template, "questions", "template questions")
}

/// Reads the template out of a programme document.
pub fn read_template(doc: &Automerge) -> Result<Template, DomainError> {
    expect_kind(doc, DocKind::Programme)?;
    hydrate_prop(doc, ROOT, "template").map_err(|e| {
        SchemaError::Malformed {
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
    check_finite("question position", q.position)?;
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
