//! What people did to an answer: the values two people gave at once (to choose
//! one), and the answer's history.

use leptos::prelude::*;
use leptos::task::spawn_local;
use rapport_api::{ApiError, ConflictView, HistoryView, Lang, Request, Response, VisitEdit};
use rapport_domain::{Question, QuestionKind};

use super::use_visit;
use crate::components::ErrorBox;
use crate::format::date_time;
use crate::pages::rep::localized;
use crate::state::use_lang;
use crate::translations::i18n::*;

/// A value as the node renders it (for logs and the command line), in the rep's words:
/// yes/no and choices in the page's language.
fn value_words(
    i18n: leptos_i18n::I18nContext<Locale>,
    lang: Lang,
    question: Option<&Question>,
    rendered: &str,
) -> String {
    match question.map(|q| &q.kind) {
        Some(QuestionKind::YesNo) if rendered == "true" => {
            t_string!(i18n, rep.visit.yes).to_string()
        }
        Some(QuestionKind::YesNo) if rendered == "false" => {
            t_string!(i18n, rep.visit.no).to_string()
        }
        Some(QuestionKind::Choice { options }) => options
            .iter()
            .find(|o| o.id == rendered)
            .map_or_else(|| rendered.to_owned(), |o| o.label.get(lang).to_owned()),
        _ => rendered.to_owned(),
    }
}

/// An author as the node names it, with its "this device" in the page's language.
fn author_words(i18n: leptos_i18n::I18nContext<Locale>, author: &str) -> String {
    author.replace(
        ", this device)",
        &format!(", {})", t_string!(i18n, rep.conflict.this_device)),
    )
}

/// The question `id` of the open visit's template.
fn question_of(v: super::VisitCtx, id: &str) -> Option<Question> {
    v.detail
        .with_untracked(|d| d.as_ref().and_then(|d| d.template.question(id).cloned()))
}

/// When `author` last wrote `rendered` to the answer, from its history.
fn written_at(history: &[HistoryView], author: &str, rendered: &str) -> Option<i64> {
    history
        .iter()
        .filter(|h| h.author == author && h.value == rendered)
        .map(|h| h.time_ms)
        .max()
}

/// The card above a question whose answer holds concurrent values: each value with
/// who gave it (and when), and a button to choose it.
#[component]
pub(super) fn ConflictCard(question_id: String) -> impl IntoView {
    let v = use_visit();
    let i18n = use_i18n();
    let values = RwSignal::new(Vec::<(ConflictView, Option<i64>)>::new());
    let error = RwSignal::new(None::<ApiError>);
    {
        let question_id = question_id.clone();
        spawn_local(async move {
            let conflicts = v
                .ctx
                .node(Request::AnswerConflicts {
                    visit_id: v.id,
                    question_id: question_id.clone(),
                })
                .await;
            // The history only adds the time; without it the card still works.
            let history = match v
                .ctx
                .node(Request::AnswerHistory {
                    visit_id: v.id,
                    question_id,
                })
                .await
            {
                Ok(Response::History(h)) => h,
                _ => Vec::new(),
            };
            match conflicts {
                Ok(Response::Conflicts(list)) => values.set(
                    list.into_iter()
                        .map(|c| {
                            let at = written_at(&history, &c.author, &c.rendered);
                            (c, at)
                        })
                        .collect(),
                ),
                Ok(_) => {}
                Err(err) => error.set(Some(err)),
            }
        });
    }
    let card_qid = question_id.clone();
    let lang = use_lang();
    let question = question_of(v, &question_id);
    let choose = move |chosen: rapport_api::AnswerValue| {
        v.edit_and_reload(
            VisitEdit::Resolve {
                question_id: question_id.clone(),
                chosen,
            },
            error,
        );
    };
    view! {
        <div class="rep-conflict" data-testid="conflict-card" data-question-id=card_qid>
            <p class="rep-conflict-title">{t!(i18n, rep.conflict.title)}</p>
            <p class="muted">{t!(i18n, rep.conflict.text)}</p>
            <ul class="rep-conflict-values">
                {move || {
                    values
                        .get()
                        .into_iter()
                        .map(|(c, at)| {
                            let choose = choose.clone();
                            let value = c.value.clone();
                            let author = author_words(i18n, &c.author);
                            let rendered = c.rendered.clone();
                            let question = question.clone();
                            view! {
                                <li class="rep-conflict-value" data-testid="conflict-value">
                                    <strong>
                                        {move || value_words(i18n, lang.get(), question.as_ref(), &rendered)}
                                    </strong>
                                    <span class="muted">
                                        {move || t_string!(i18n, rep.conflict.by, author = author.clone()).to_string()}
                                        {at.map(|ms| format!(" · {}", date_time(ms)))}
                                    </span>
                                    <button
                                        class="button small"
                                        data-testid="conflict-choose"
                                        on:click=move |_| choose(value.clone())
                                    >
                                        {t!(i18n, rep.conflict.choose)}
                                    </button>
                                </li>
                            }
                        })
                        .collect_view()
                }}
            </ul>
            <ErrorBox error=localized(error) />
        </div>
    }
}

/// A question's history, opened by a button: when, who, what.
#[component]
pub(super) fn History(question_id: String) -> impl IntoView {
    let v = use_visit();
    let i18n = use_i18n();
    let qid = question_id.clone();
    let open = RwSignal::new(false);
    let entries = RwSignal::new(None::<Vec<HistoryView>>);
    let error = RwSignal::new(None::<ApiError>);
    let toggle = move |_| {
        let now_open = !open.get_untracked();
        open.set(now_open);
        if !now_open {
            return;
        }
        let question_id = question_id.clone();
        spawn_local(async move {
            match v
                .ctx
                .node(Request::AnswerHistory {
                    visit_id: v.id,
                    question_id,
                })
                .await
            {
                Ok(Response::History(list)) => entries.set(Some(list)),
                Ok(_) => {}
                Err(err) => error.set(Some(err)),
            }
        });
    };
    view! {
        <div class="rep-history">
            <button
                class="button ghost small"
                data-testid="history-open"
                aria-expanded=move || open.get().to_string()
                on:click=toggle
            >
                {move || {
                    if open.get() {
                        t_string!(i18n, rep.history.close).to_string()
                    } else {
                        t_string!(i18n, rep.history.open).to_string()
                    }
                }}
            </button>
            {move || {
                let qid = qid.clone();
                open.get()
                    .then(|| {
                        view! {
                            <ErrorBox error=localized(error) />
                            {move || {
                                entries
                                    .get()
                                    .map(|list| {
                                        view! { <HistoryList list question=question_of(v, &qid) /> }
                                    })
                            }}
                        }
                    })
            }}
        </div>
    }
}

#[component]
fn HistoryList(list: Vec<HistoryView>, question: Option<Question>) -> impl IntoView {
    let i18n = use_i18n();
    let lang = use_lang();
    if list.is_empty() {
        return view! { <p class="muted">{t!(i18n, rep.history.empty)}</p> }.into_any();
    }
    view! {
        <ol class="rep-history-list">
            {list
                .into_iter()
                .rev()
                .map(|h| {
                    let question = question.clone();
                    view! {
                        <li data-testid="history-entry">
                            <span class="rep-history-time">{date_time(h.time_ms)}</span>
                            " · "
                            <span class="rep-history-author">{author_words(i18n, &h.author)}</span>
                            " · "
                            <span class="rep-history-value">
                                {move || value_words(i18n, lang.get(), question.as_ref(), &h.value)}
                            </span>
                        </li>
                    }
                })
                .collect_view()}
        </ol>
    }
    .into_any()
}
