//! The objective quality check of a visit: what the contract promises against what
//! was measured, and an outage remembered; failing it opens a follow-up.

use leptos::prelude::*;
use leptos::task::spawn_local;
use rapport_api::{AnswerValue, ApiError, QualityAnswer, VisitEdit};

use super::use_visit;
use crate::components::{Check, ErrorBox, Field};
use crate::format::parse_number;
use crate::pages::rep::localized;
use crate::translations::i18n::*;

/// The objective quality check: contracted vs measured, and an outage remembered.
/// Failing it opens a technical follow-up on the spot (the node does it). `at_most`:
/// the contract gives a most (a delivery time), not a least (a speed).
#[component]
pub(super) fn QualityCheck(qid: String, unit: String, at_most: bool) -> impl IntoView {
    let v = use_visit();
    let i18n = use_i18n();
    let answer = v.answer(qid.clone());
    let saved = answer.get_untracked().and_then(|a| match a {
        AnswerValue::Quality(q) => Some(q),
        _ => None,
    });
    let target = RwSignal::new(
        saved
            .as_ref()
            .map(|q| q.target.to_string())
            .unwrap_or_default(),
    );
    let actual = RwSignal::new(
        saved
            .as_ref()
            .map(|q| q.actual.to_string())
            .unwrap_or_default(),
    );
    let outage = RwSignal::new(saved.as_ref().is_some_and(|q| q.outage_last_month));
    let note = RwSignal::new(saved.map(|q| q.note).unwrap_or_default());
    let error = RwSignal::new(None::<ApiError>);
    let opened = RwSignal::new(false);
    let busy = RwSignal::new(false);

    let save = move |_| {
        let (Some(t), Some(a)) = (
            parse_number(&target.get_untracked()),
            parse_number(&actual.get_untracked()),
        ) else {
            error.set(Some(ApiError::new(
                "ui_not_a_number",
                t_string!(i18n, rep.quality.need_numbers).to_string(),
            )));
            return;
        };
        let edit = VisitEdit::Quality {
            question_id: qid.clone(),
            answer: QualityAnswer {
                target: t,
                actual: a,
                outage_last_month: outage.get_untracked(),
                note: note.get_untracked().trim().to_owned(),
                at_most,
            },
        };
        busy.set(true);
        spawn_local(async move {
            match v.edit(edit).await {
                Ok(saved) => {
                    error.set(None);
                    opened.set(saved.follow_up_opened);
                    v.reload();
                }
                Err(err) => error.set(Some(err)),
            }
            busy.set(false);
        });
    };
    let verdict = move || match answer.get() {
        Some(AnswerValue::Quality(q)) if q.fails() => Some((
            "fails",
            "error",
            t_string!(i18n, rep.quality.fails).to_string(),
        )),
        Some(AnswerValue::Quality(_)) => Some((
            "passes",
            "success",
            t_string!(i18n, rep.quality.passes).to_string(),
        )),
        _ => None,
    };
    let unit_target = unit.clone();
    view! {
        <div class="rep-quality">
            <div class="rep-quality-numbers">
                <Field inline=true testid="quality-target" value=target inputmode="decimal">
                    {move || {
                        if at_most {
                            t_string!(i18n, rep.quality.target_at_most, unit = unit_target.clone()).to_string()
                        } else {
                            t_string!(i18n, rep.quality.target, unit = unit_target.clone()).to_string()
                        }
                    }}
                </Field>
                <Field inline=true testid="quality-actual" value=actual inputmode="decimal">
                    {move || t_string!(i18n, rep.quality.actual, unit = unit.clone()).to_string()}
                </Field>
            </div>
            <Check testid="quality-outage" value=outage>{t!(i18n, rep.quality.outage)}</Check>
            <Field inline=true testid="quality-note" value=note>{t!(i18n, rep.quality.note)}</Field>
            <button class="button" data-testid="quality-save" disabled=move || busy.get() on:click=save>
                {t!(i18n, rep.quality.save)}
            </button>
            <ErrorBox error=localized(error) />
            {move || {
                verdict()
                    .map(|(state, class, text)| {
                        view! {
                            <p class=class data-testid="quality-verdict" data-state=state>{text}</p>
                        }
                    })
            }}
            {move || {
                opened
                    .get()
                    .then(|| {
                        view! {
                            <p class="notice" data-testid="quality-follow-up">
                                {t!(i18n, rep.quality.follow_up_opened)}
                            </p>
                        }
                    })
            }}
        </div>
    }
}
