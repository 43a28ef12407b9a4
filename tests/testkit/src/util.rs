//! Small helpers: filling a visit, polling, comparing heads, decoding frames.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use automerge::{Automerge, ChangeHash};
use rapport_domain::visit::{
    complete_visit, put_contact_update, put_referral, record_quality_check, set_scalar_answer,
    set_text_answer,
};
use rapport_domain::{ContactInput, DocId, DomainError, QuestionKind, ScalarAnswer, Template};
use rapport_protocol::{Limits, SyncRequest, SyncResponse};

/// Upper bound of any polling loop.
pub const POLL: Duration = Duration::from_secs(10);

/// Answers every missing required question (Cyrillic texts) and completes the visit.
pub fn fill_and_complete(doc: &mut Automerge, template: &Template) -> Result<(), DomainError> {
    let now = rapport_server::now_ms();
    for q in template.active().into_iter().filter(|q| q.required) {
        match &q.kind {
            QuestionKind::Text => {
                set_text_answer(doc, template, &q.id, "Ответ клиента: всё хорошо ✅", now)?
            }
            QuestionKind::YesNo => {
                set_scalar_answer(doc, template, &q.id, &ScalarAnswer::YesNo(true), now)?
            }
            QuestionKind::Number => {
                set_scalar_answer(doc, template, &q.id, &ScalarAnswer::Number(7.0), now)?;
            }
            QuestionKind::Date => set_scalar_answer(
                doc,
                template,
                &q.id,
                &ScalarAnswer::Date("2026-03-10".into()),
                now,
            )?,
            QuestionKind::Choice { options } => {
                let first = options.first().map(|o| o.id.clone()).unwrap_or_default();
                set_scalar_answer(doc, template, &q.id, &ScalarAnswer::Choice(first), now)?;
            }
            QuestionKind::Contacts => {
                put_contact_update(
                    doc,
                    None,
                    &ContactInput {
                        updates_contact_id: None,
                        name: "Пётр Петров".into(),
                        role: "Директор".into(),
                        phone: "+7 900 000-00-00".into(),
                        email: "petr@example.ru".into(),
                    },
                    now,
                )?;
            }
            QuestionKind::Referrals => {
                put_referral(
                    doc,
                    None,
                    &rapport_domain::visit::ReferralInput {
                        name: "Мария".into(),
                        company: "ООО «Лютик»".into(),
                        contact: "maria@example.ru".into(),
                        note: String::new(),
                    },
                    now,
                )?;
            }
            QuestionKind::QualityCheck { .. } => {
                record_quality_check(
                    doc,
                    template,
                    &q.id,
                    &rapport_domain::QualityAnswer {
                        target: 100.0,
                        actual: 100.0,
                        outage_last_month: false,
                        note: "норма".into(),
                        at_most: false,
                    },
                    now,
                )?;
            }
        }
    }
    complete_visit(doc, template, now)
}

/// Polls `check` every 50 ms until it returns `Some` or [`POLL`] passes.
pub async fn eventually<T, F, Fut>(what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let started = Instant::now();
    for _ in 0..1000 {
        if let Some(v) = check().await {
            return v;
        }
        assert!(started.elapsed() < POLL, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("gave up waiting for {what}");
}

/// Heads of each document, for comparing copies.
pub fn heads_of(docs: &BTreeMap<DocId, Automerge>) -> BTreeMap<DocId, Vec<ChangeHash>> {
    docs.iter()
        .map(|(id, d)| {
            let mut h = d.get_heads();
            h.sort();
            (*id, h)
        })
        .collect()
}

/// Sorted heads of one document.
pub fn sorted_heads(doc: &Automerge) -> Vec<ChangeHash> {
    let mut h = doc.get_heads();
    h.sort();
    h
}

/// Decodes a response body (for raw tests).
pub fn decode_response(body: &[u8]) -> SyncResponse {
    SyncResponse::decode(body, &Limits::DEFAULT).expect("a valid response frame")
}

/// Decodes a request body (for raw tests).
pub fn decode_request(body: &[u8]) -> SyncRequest {
    SyncRequest::decode(body, &Limits::DEFAULT).expect("a valid request frame")
}
