//! One visit as the lead reviews it: the answers in the questionnaire's order, the
//! rounds of review so far, and, while the visit awaits review, the verdict: accept it,
//! or return it to the rep with a comment on the whole visit and comments on single
//! answers.

use std::collections::BTreeMap;

use leptos::prelude::*;
use leptos::task::spawn_local;
use leptos_router::hooks::use_params_map;
use rapport_api::ApiError;
use rapport_api::lead::{LeadVisit, ReviewInput, ReviewRound, ReviewState, Verdict};
use rapport_api::routes;
use rapport_domain::{Question, QuestionKind};

use super::{I18n, Loaded, enc, use_pid};
use crate::components::{ErrorBox, Loading, ReviewRounds};
use crate::format::{date_time, day};
use crate::state::{use_ctx, use_lang};
use crate::translations::i18n::*;

/// The review state in words.
pub(crate) fn review_text(i18n: I18n, state: ReviewState) -> String {
    match state {
        ReviewState::Draft => t_string!(i18n, lead.review.state_draft),
        ReviewState::AwaitingReview => t_string!(i18n, lead.review.state_awaiting_review),
        ReviewState::Returned => t_string!(i18n, lead.review.state_returned),
        ReviewState::Accepted => t_string!(i18n, lead.review.state_accepted),
    }
    .to_string()
}

/// The pill class of a review state.
pub(crate) fn review_class(state: ReviewState) -> &'static str {
    match state {
        ReviewState::Draft => "pill",
        ReviewState::AwaitingReview => "pill warn",
        ReviewState::Returned => "pill bad",
        ReviewState::Accepted => "pill ok",
    }
}

/// The visit page (`/lead/:pid/visits/:vid`).
#[component]
pub fn VisitReview() -> impl IntoView {
    let pid = use_pid();
    let vid = use_params_map()
        .get_untracked()
        .get("vid")
        .unwrap_or_default();
    let visit = Loaded::new(routes::lead_visit(&pid, &vid));
    view! {
        <div data-testid="lead-visit">
            <ErrorBox error=visit.error />
            {move || match visit.data.get() {
                None => view! { <Loading /> }.into_any(),
                Some(v) => view! { <VisitView v loaded=visit /> }.into_any(),
            }}
        </div>
    }
}

#[component]
fn VisitView(v: LeadVisit, loaded: Loaded<LeadVisit>) -> impl IntoView {
    let i18n = use_i18n();
    let pid = use_pid();
    let reviewing = v.review == ReviewState::AwaitingReview;
    // The comments typed on single answers, by question id.
    let comments: RwSignal<BTreeMap<String, String>> = RwSignal::new(BTreeMap::new());
    let company = v.company.clone();
    let rep = v.rep_name.clone();
    let date = day(&v.visit.date);
    let state = v.review;
    let edited = v.visit.edited_after_completion_ms;
    let rounds: Vec<ReviewRound> = v
        .visit
        .review_rounds()
        .into_iter()
        .map(|(_, r)| r.clone())
        .collect();
    let template = v.template.clone();
    let questions: Vec<Question> = template
        .ordered()
        .into_iter()
        .filter(|q| !q.retired || v.visit.answers.contains_key(&q.id))
        .cloned()
        .collect();
    let mut answers = v.visit.answers.clone();
    // Contacts and referrals are entries, not answers: shown as the list they make.
    let contacts: Vec<String> = v
        .visit
        .contact_updates
        .values()
        .map(|c| {
            [c.name.as_str(), c.role.as_str()]
                .into_iter()
                .filter(|s| !s.is_empty())
                .collect::<Vec<_>>()
                .join(", ")
        })
        .collect();
    let referrals: Vec<String> = v
        .visit
        .referrals
        .values()
        .map(|r| {
            [r.name.as_str(), r.company.as_str()]
                .into_iter()
                .filter(|s| !s.is_empty())
                .collect::<Vec<_>>()
                .join(", ")
        })
        .collect();
    for q in &questions {
        let list = match q.kind {
            QuestionKind::Contacts => &contacts,
            QuestionKind::Referrals => &referrals,
            _ => continue,
        };
        if !list.is_empty() {
            answers.insert(
                q.id.clone(),
                rapport_domain::AnswerValue::Text(list.join("; ")),
            );
        }
    }
    view! {
        <section class="card">
            <p class="no-print">
                <a class="button ghost" href=format!("/lead/{}/clients", enc(&pid))>{t!(i18n, lead.review.back)}</a>
            </p>
            <h2 data-testid="lead-visit-company">
                {move || t_string!(i18n, lead.review.title, company = company.clone()).to_string()}
            </h2>
            <p class="muted">
                {move || t_string!(i18n, lead.review.meta, rep = rep.clone(), date = date.clone()).to_string()}
            </p>
            <p>
                <span class=review_class(state) data-testid="lead-visit-review" data-state=state.as_str()>
                    {move || review_text(i18n, state)}
                </span>
                {edited.map(|ms| view! {
                    " " <span class="pill warn">{move || t_string!(i18n, lead.review.edited_after, when = date_time(ms)).to_string()}</span>
                })}
            </p>
        </section>
        <Rounds rounds template=template.clone() />
        <section class="card">
            <h2>{t!(i18n, lead.review.answers)}</h2>
            <dl class="lead-answers">
                {questions
                    .into_iter()
                    .map(|q| {
                        let answer = answers.get(&q.id).cloned();
                        view! { <AnswerRow question=q answer reviewing comments /> }
                    })
                    .collect_view()}
            </dl>
        </section>
        {reviewing.then(|| view! { <Verdicts comments loaded /> })}
        {(!reviewing).then(|| {
            let text = move || match state {
                ReviewState::Draft => t_string!(i18n, lead.review.not_completed).to_string(),
                _ => t_string!(i18n, lead.review.reviewed).to_string(),
            };
            view! { <p class="card muted" data-testid="review-closed">{text}</p> }
        })}
    }
}

/// One question with its answer, and (while reviewing) the box for a comment on it.
#[component]
fn AnswerRow(
    question: Question,
    answer: Option<rapport_domain::AnswerValue>,
    reviewing: bool,
    comments: RwSignal<BTreeMap<String, String>>,
) -> impl IntoView {
    let i18n = use_i18n();
    let lang = use_lang();
    let open = RwSignal::new(false);
    let qid = question.id.clone();
    let wording = question.wording.clone();
    let kind = question.kind.clone();
    let shown = move || {
        answer
            .as_ref()
            .filter(|a| a.is_given())
            .map(|a| a.render_for(&kind, lang.get()))
            .unwrap_or_else(|| t_string!(i18n, lead.review.no_answer).to_string())
    };
    let id = format!("review-comment-{}", qid.replace('.', "-"));
    let key = qid.clone();
    let text = move || comments.with(|c| c.get(&key).cloned().unwrap_or_default());
    let key = StoredValue::new(qid.clone());
    let set = move |value: String| {
        comments.update(|c| {
            c.insert(key.get_value(), value);
        })
    };
    view! {
        <div class="lead-answer" data-testid="lead-answer" data-question-id=qid.clone()>
            <dt>{move || wording.get(lang.get()).to_owned()}</dt>
            <dd>{shown}</dd>
            {reviewing.then(|| view! {
                <dd class="no-print">
                    <button class="button ghost small" data-testid="review-comment-toggle"
                        aria-expanded=move || open.get().to_string() on:click=move |_| open.update(|o| *o = !*o)>
                        {t!(i18n, lead.review.comment_on)}
                    </button>
                    <Show when=move || open.get()>
                        <label class="sr-only" for=id.clone()>{t!(i18n, lead.review.comment_on)}</label>
                        <textarea id=id.clone() data-testid="review-answer-comment" rows="2"
                            placeholder=move || t_string!(i18n, lead.review.comment_placeholder).to_string()
                            prop:value=text.clone() on:input=move |ev| set(event_target_value(&ev))>
                        </textarea>
                    </Show>
                </dd>
            })}
        </div>
    }
}

/// Accept, or return with comments.
#[component]
fn Verdicts(
    comments: RwSignal<BTreeMap<String, String>>,
    loaded: Loaded<LeadVisit>,
) -> impl IntoView {
    let ctx = use_ctx();
    let i18n = use_i18n();
    let pid = StoredValue::new(use_pid());
    let vid = StoredValue::new(
        use_params_map()
            .get_untracked()
            .get("vid")
            .unwrap_or_default(),
    );
    let comment = RwSignal::new(String::new());
    let busy = RwSignal::new(false);
    let error = RwSignal::new(None::<ApiError>);
    let send = move |verdict: Verdict| {
        if busy.get_untracked() {
            return;
        }
        let body = ReviewInput {
            verdict: Some(verdict),
            comment: comment.get_untracked(),
            answer_comments: comments.get_untracked(),
        };
        // A return says what to rework: caught here, in the page's language (the server
        // refuses it too).
        let silent = body.comment.trim().is_empty()
            && body.answer_comments.values().all(|c| c.trim().is_empty());
        if verdict == Verdict::Returned && silent {
            error.set(Some(ApiError::new(
                "review_comment_needed",
                t_string!(i18n, lead.review.comment_hint).to_string(),
            )));
            return;
        }
        busy.set(true);
        error.set(None);
        let route = routes::review_visit(&pid.get_value(), &vid.get_value());
        spawn_local(async move {
            match ctx.send(route, &body).await {
                Ok(visit) => loaded.data.set(Some(visit)),
                Err(err) => error.set(Some(err)),
            }
            busy.set(false);
        });
    };
    view! {
        <section class="card no-print" data-testid="review-form">
            <label for="review-comment">{t!(i18n, lead.review.comment)}</label>
            <textarea id="review-comment" data-testid="review-comment" rows="3"
                prop:value=move || comment.get() on:input=move |ev| comment.set(event_target_value(&ev))>
            </textarea>
            <p class="muted">{t!(i18n, lead.review.comment_hint)}</p>
            <ErrorBox error=error />
            <div class="row">
                <button class="button" data-testid="review-accept" disabled=move || busy.get()
                    on:click=move |_| send(Verdict::Accepted)>
                    {t!(i18n, lead.review.accept)}
                </button>
                <button class="button danger" data-testid="review-return" disabled=move || busy.get()
                    on:click=move |_| send(Verdict::Returned)>
                    {t!(i18n, lead.review.return_for_rework)}
                </button>
            </div>
        </section>
    }
}

/// The rounds so far, oldest first, each with what was said.
#[component]
fn Rounds(rounds: Vec<ReviewRound>, template: rapport_domain::Template) -> impl IntoView {
    let i18n = use_i18n();
    let empty = rounds.is_empty();
    view! {
        <section class="card" data-testid="review-history">
            <h2>{t!(i18n, lead.review.history)}</h2>
            {empty.then(|| view! { <p class="muted">{t!(i18n, lead.review.history_none)}</p> })}
            <ReviewRounds rounds template />
        </section>
    }
}
