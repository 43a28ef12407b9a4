//! One question of the questionnaire and the input for its kind of answer (the
//! quality check's is [`super::quality`]).

use leptos::prelude::*;
use leptos::task::spawn_local;
use rapport_api::{AnswerValue, ApiError, ScalarAnswer, VisitEdit};
use rapport_domain::{ChoiceOption, Question, QuestionKind};

use super::quality::QualityCheck;
use super::{contacts, entries, is_entry_kind, review, use_visit, verdict};
use crate::components::{DateInput, ErrorBox};
use crate::format::parse_number;
use crate::pages::rep::localized;
use crate::state::use_lang;
use crate::translations::i18n::*;

/// How long typing in a text answer pauses before the visit is read again.
const RELOAD_AFTER_PAUSE: std::time::Duration = std::time::Duration::from_millis(300);

/// A question: wording, a conflict card when people disagree, the input, what is
/// missing, and its history.
#[component]
pub(super) fn QuestionBlock(question: Question) -> impl IntoView {
    let v = use_visit();
    let i18n = use_i18n();
    let lang = use_lang();
    let qid = question.id.clone();
    let missing = {
        let qid = qid.clone();
        Memo::new(move |_| {
            v.show_missing.get()
                && v.detail.with(|d| {
                    d.as_ref()
                        .is_some_and(|d| d.missing.iter().any(|m| m.question_id == qid))
                })
        })
    };
    let conflicted = {
        let qid = qid.clone();
        Memo::new(move |_| {
            v.detail
                .with(|d| d.as_ref().is_some_and(|d| d.conflicts.contains(&qid)))
        })
    };
    let wording = question.wording.clone();
    let required = question.required;
    let has_history = !is_entry_kind(&question.kind);
    let input = answer_input(&question);
    let conflict_qid = qid.clone();
    view! {
        <div
            class="question"
            class:invalid=move || missing.get()
            id=format!("q-{qid}")
            data-testid="question"
            data-question-id=qid.clone()
        >
            {move || {
                conflicted
                    .get()
                    .then(|| view! { <review::ConflictCard question_id=conflict_qid.clone() /> })
            }}
            <p class="rep-wording" id=format!("w-{qid}")>
                {move || wording.get(lang.get()).to_owned()}
                {required
                    .then(|| {
                        view! {
                            <span class="rep-required" data-testid="required">
                                {move || format!(" · {}", t_string!(i18n, rep.visit.required))}
                            </span>
                        }
                    })}
            </p>
            {input}
            <verdict::AnswerNote question_id=qid.clone() />
            {move || {
                missing
                    .get()
                    .then(|| {
                        view! {
                            <p class="field-error" data-testid="question-missing">
                                {t!(i18n, rep.visit.fill_this)}
                            </p>
                        }
                    })
            }}
            {has_history.then(|| view! { <review::History question_id=qid.clone() /> })}
        </div>
    }
}

fn answer_input(question: &Question) -> AnyView {
    let qid = question.id.clone();
    match &question.kind {
        QuestionKind::Text => view! { <TextAnswer qid /> }.into_any(),
        QuestionKind::YesNo => view! { <YesNoAnswer qid /> }.into_any(),
        QuestionKind::Number => view! { <NumberAnswer qid /> }.into_any(),
        QuestionKind::Date => view! { <DateAnswer qid /> }.into_any(),
        QuestionKind::Choice { options } => {
            view! { <ChoiceAnswer qid options=options.clone() /> }.into_any()
        }
        QuestionKind::QualityCheck { unit, at_most, .. } => {
            view! { <QualityCheck qid unit=unit.clone() at_most=*at_most /> }.into_any()
        }
        QuestionKind::Contacts => view! { <contacts::Contacts /> }.into_any(),
        QuestionKind::Referrals => view! { <entries::Referrals /> }.into_any(),
    }
}

fn text_of(answer: Option<AnswerValue>) -> String {
    match answer {
        Some(AnswerValue::Text(s)) | Some(AnswerValue::Str(s)) => s,
        Some(other) => other.render(),
        None => String::new(),
    }
}

/// Free text, saved on every keystroke. The textarea owns its value once shown: the
/// node's value is written into it only when the rep is not in it and nothing of
/// theirs is on its way, so the cursor never jumps and no keystroke is overwritten.
#[component]
fn TextAnswer(qid: String) -> impl IntoView {
    let label_id = format!("w-{qid}");
    let v = use_visit();
    let i18n = use_i18n();
    let answer = v.answer(qid.clone());
    let field = NodeRef::<leptos::html::Textarea>::new();
    // One edit in flight per question; while it flies only the newest value waits.
    let in_flight = StoredValue::new(false);
    let queued = StoredValue::new(None::<String>);
    let failed = StoredValue::new(false);
    let initial = text_of(answer.get_untracked());

    Effect::new(move |_| {
        let value = text_of(answer.get());
        let Some(el) = field.get() else { return };
        if in_flight.get_value() {
            return;
        }
        let element: &web_sys::Element = el.as_ref();
        let focused = document()
            .active_element()
            .is_some_and(|active| &active == element);
        if !focused && el.value() != value {
            el.set_value(&value);
        }
    });

    // Keystrokes so far: the visit is read again once they pause.
    let typed = StoredValue::new(0u64);
    let send = move |value: String| {
        typed.update_value(|n| *n += 1);
        if in_flight.get_value() {
            queued.set_value(Some(value));
            return;
        }
        in_flight.set_value(true);
        let qid = qid.clone();
        spawn_local(async move {
            let mut next = Some(value);
            while let Some(value) = next.take() {
                let edit = VisitEdit::Text {
                    question_id: qid.clone(),
                    value,
                };
                let ok = v.edit(edit).await.is_ok();
                failed.set_value(!ok);
                // The newest value typed meanwhile (or none): keystrokes stay in order.
                next = queued.try_update_value(Option::take).flatten();
            }
            in_flight.set_value(false);
            // What is missing and the counts follow the text once the rep pauses: read
            // on every keystroke, the whole visit would compete with the next one.
            let seen = typed.get_value();
            set_timeout(
                move || {
                    // Nothing when the rep left the visit meanwhile (the values are gone).
                    if typed.try_get_value() == Some(seen)
                        && in_flight.try_get_value() == Some(false)
                    {
                        v.reload();
                    }
                },
                RELOAD_AFTER_PAUSE,
            );
        });
    };
    let send_input = send.clone();
    view! {
        <textarea
            node_ref=field
            data-testid="answer-text"
            rows="3"
            aria-labelledby=label_id
            title=move || t_string!(i18n, rep.visit.text_hint).to_string()
            prop:value=initial
            on:input=move |ev| send_input(event_target_value(&ev))
            on:blur=move |ev| {
                // A refused save is retried with the whole text when the rep leaves.
                if failed.get_value() {
                    send(event_target_value(&ev));
                }
            }
        ></textarea>
    }
}

/// Saves a scalar answer to `qid` and shows the visit again; a refusal goes to `error`.
fn scalar_saver(
    qid: String,
    error: RwSignal<Option<ApiError>>,
) -> impl Fn(ScalarAnswer) + Clone + 'static {
    let v = use_visit();
    move |value| {
        v.edit_and_reload(
            VisitEdit::Scalar {
                question_id: qid.clone(),
                value,
            },
            error,
        )
    }
}

/// Yes / No, two big buttons.
#[component]
fn YesNoAnswer(qid: String) -> impl IntoView {
    let v = use_visit();
    let i18n = use_i18n();
    let answer = v.answer(qid.clone());
    let error = RwSignal::new(None::<ApiError>);
    let save = scalar_saver(qid, error);
    let set = move |value: bool| save(ScalarAnswer::YesNo(value));
    let set_no = set.clone();
    let is = move |b: bool| answer.with(|a| matches!(a, Some(AnswerValue::Bool(x)) if *x == b));
    view! {
        <div class="row rep-yes-no" role="group">
            <button
                class="button ghost rep-toggle"
                data-testid="answer-yes"
                aria-pressed=move || is(true).to_string()
                on:click=move |_| set(true)
            >
                {t!(i18n, rep.visit.yes)}
            </button>
            <button
                class="button ghost rep-toggle"
                data-testid="answer-no"
                aria-pressed=move || is(false).to_string()
                on:click=move |_| set_no(false)
            >
                {t!(i18n, rep.visit.no)}
            </button>
        </div>
        <ErrorBox error=localized(error) />
    }
}

/// A number, saved when the rep leaves the field.
#[component]
fn NumberAnswer(qid: String) -> impl IntoView {
    let label_id = format!("w-{qid}");
    let v = use_visit();
    let i18n = use_i18n();
    let answer = v.answer(qid.clone());
    let error = RwSignal::new(None::<ApiError>);
    let shown = move || match answer.get() {
        Some(AnswerValue::Number(n)) => n.to_string(),
        _ => String::new(),
    };
    let save = scalar_saver(qid, error);
    let change = move |ev: leptos::ev::Event| {
        let text = event_target_value(&ev);
        if text.trim().is_empty() {
            return;
        }
        match parse_number(&text) {
            Some(n) => save(ScalarAnswer::Number(n)),
            None => error.set(Some(ApiError::new(
                "ui_not_a_number",
                t_string!(i18n, rep.visit.not_a_number).to_string(),
            ))),
        }
    };
    view! {
        <input type="number" step="any" inputmode="decimal" data-testid="answer-number" aria-labelledby=label_id prop:value=shown on:change=change />
        <ErrorBox error=localized(error) />
    }
}

/// A date, typed in the page's language (see [`DateInput`]).
#[component]
fn DateAnswer(qid: String) -> impl IntoView {
    let label_id = format!("w-{qid}");
    let v = use_visit();
    let answer = v.answer(qid.clone());
    let error = RwSignal::new(None::<ApiError>);
    let date = RwSignal::new(String::new());
    Effect::new(move |_| {
        let shown = match answer.get() {
            Some(AnswerValue::Str(s)) => s,
            _ => String::new(),
        };
        if date.with_untracked(|d| *d != shown) {
            date.set(shown);
        }
    });
    let save = scalar_saver(qid, error);
    let commit = move |value: String| {
        if !value.is_empty() {
            save(ScalarAnswer::Date(value));
        }
    };
    view! {
        <DateInput testid=Some("answer-date".to_string()) labelledby=Some(label_id) value=date on_commit=commit />
        <ErrorBox error=localized(error) />
    }
}

/// One of the options, as big radio buttons.
#[component]
fn ChoiceAnswer(qid: String, options: Vec<ChoiceOption>) -> impl IntoView {
    let v = use_visit();
    let lang = use_lang();
    let answer = v.answer(qid.clone());
    let error = RwSignal::new(None::<ApiError>);
    let name = format!("choice-{qid}");
    let save = scalar_saver(qid.clone(), error);
    let choices = options
        .into_iter()
        .map(|option| {
            let id = option.id.clone();
            let label = option.label.clone();
            let checked = {
                let id = id.clone();
                move || answer.with(|a| matches!(a, Some(AnswerValue::Str(s)) if *s == id))
            };
            let save = save.clone();
            let chosen = id.clone();
            view! {
                <label class="choice">
                    <input
                        type="radio"
                        name=name.clone()
                        value=id.clone()
                        data-testid="answer-choice"
                        data-value=id.clone()
                        prop:checked=checked
                        on:change=move |_| save(ScalarAnswer::Choice(chosen.clone()))
                    />
                    {move || label.get(lang.get()).to_owned()}
                </label>
            }
        })
        .collect_view();
    view! {
        <div class="rep-choices" role="radiogroup">{choices}</div>
        <ErrorBox error=localized(error) />
    }
}
