//! What the lead said of the visit, as the rep sees it: a banner when the lead returned
//! it for rework (the comment on the visit, and each answer's comment, which also shows
//! under its answer), the review state in the header, and every round so far.

use leptos::prelude::*;
use rapport_api::{ReviewRound, ReviewState};

use super::use_visit;
use crate::components::ReviewRounds;
use crate::format::date_time;
use crate::state::use_lang;
use crate::translations::i18n::*;

/// The return the rep has to act on, if any.
fn open_return() -> Memo<Option<ReviewRound>> {
    let v = use_visit();
    Memo::new(move |_| {
        v.detail
            .with(|d| d.as_ref().and_then(|d| d.visit.open_return().cloned()))
    })
}

/// The review state as a pill for the header (nothing while the visit is a draft).
#[component]
pub(super) fn ReviewPill() -> impl IntoView {
    let v = use_visit();
    let i18n = use_i18n();
    let state = Memo::new(move |_| {
        v.detail.with(|d| {
            d.as_ref()
                .map_or(ReviewState::Draft, |d| d.visit.review_state())
        })
    });
    move || {
        let state = state.get();
        let (class, text) = match state {
            ReviewState::Draft => return None,
            ReviewState::AwaitingReview => ("pill", t_string!(i18n, rep.visit.state_awaiting)),
            ReviewState::Returned => ("pill bad", t_string!(i18n, rep.visit.state_returned)),
            ReviewState::Accepted => ("pill ok", t_string!(i18n, rep.visit.state_accepted)),
        };
        Some(view! {
            <span class=class data-testid="visit-review" data-state=state.as_str()>{text.to_string()}</span>
        })
    }
}

/// The banner of a visit returned for rework: who, when, what to rework.
#[component]
pub(super) fn ReturnBanner() -> impl IntoView {
    let v = use_visit();
    let i18n = use_i18n();
    let lang = use_lang();
    let open = open_return();
    move || {
        let round = open.get()?;
        let when = date_time(round.at_ms);
        let who = round.by.clone();
        let notes: Vec<(String, String, String)> = round
            .answer_comments
            .iter()
            .map(|(qid, text)| {
                let wording = v.detail.with_untracked(|d| {
                    d.as_ref()
                        .and_then(|d| d.template.question(qid))
                        .map_or_else(
                            || qid.clone(),
                            |q| q.wording.get(lang.get_untracked()).to_owned(),
                        )
                });
                (qid.clone(), wording, text.clone())
            })
            .collect();
        let go_to = |question_id: &str| {
            if let Some(el) = document().get_element_by_id(&format!("q-{question_id}")) {
                el.scroll_into_view();
            }
        };
        Some(view! {
            <section class="card notice" role="alert" data-testid="return-banner">
                <h2>{t!(i18n, rep.visit.returned_title)}</h2>
                <p class="muted">{move || t_string!(i18n, rep.visit.returned_by, who = who.clone(), when = when.clone()).to_string()}</p>
                {(!round.comment.is_empty()).then(|| view! {
                    <p data-testid="return-comment">{round.comment.clone()}</p>
                })}
                <ul>
                    {notes
                        .into_iter()
                        .map(|(qid, wording, text)| {
                            let target = qid.clone();
                            view! {
                                <li data-testid="return-note" data-question-id=qid>
                                    <button class="button ghost small" on:click=move |_| go_to(&target)>{wording}</button>
                                    ": " {text}
                                </li>
                            }
                        })
                        .collect_view()}
                </ul>
                <p><strong>{t!(i18n, rep.visit.returned_do)}</strong></p>
            </section>
        })
    }
}

/// The lead's comment on one answer of a returned visit, shown under the answer.
#[component]
pub(super) fn AnswerNote(question_id: String) -> impl IntoView {
    let i18n = use_i18n();
    let open = open_return();
    move || {
        let text = open.with(|r| {
            r.as_ref()
                .and_then(|r| r.answer_comments.get(&question_id).cloned())
        })?;
        Some(view! {
            <p class="notice review-note" data-testid="review-note">
                {move || t_string!(i18n, rep.visit.review_note, text = text.clone()).to_string()}
            </p>
        })
    }
}

/// Every round of review so far, oldest first (nothing before the first).
#[component]
pub(super) fn Rounds() -> impl IntoView {
    let v = use_visit();
    let i18n = use_i18n();
    let shown = Memo::new(move |_| {
        v.detail.with(|d| {
            d.as_ref().and_then(|d| {
                let rounds: Vec<ReviewRound> = d
                    .visit
                    .review_rounds()
                    .into_iter()
                    .map(|(_, r)| r.clone())
                    .collect();
                (!rounds.is_empty()).then(|| (rounds, d.template.clone()))
            })
        })
    });
    move || {
        shown.get().map(|(rounds, template)| {
            view! {
                <section class="card" data-testid="review-history">
                    <h2>{t!(i18n, rep.visit.reviews)}</h2>
                    <ReviewRounds rounds template />
                </section>
            }
        })
    }
}
