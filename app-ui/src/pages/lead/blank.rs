//! The blank questionnaire for print: every question still asked, section by section,
//! with lines or boxes to answer by hand.

use leptos::prelude::*;
use rapport_api::Lang;
use rapport_api::lead::{Programme, QuestionKind};
use rapport_api::routes;

use super::template::sections;
use super::{I18n, Loaded, RequireSession, enc, use_pid};
use crate::components::{ErrorBox, Loading};
use crate::state::use_lang;
use crate::translations::i18n::*;

/// The blank questionnaire for print.
#[component]
pub fn BlankForm() -> impl IntoView {
    view! {
        <RequireSession>
            <BlankBody />
        </RequireSession>
    }
}

#[component]
fn BlankBody() -> impl IntoView {
    let i18n = use_i18n();
    let pid = use_pid();
    let programme = Loaded::new(routes::programme(&pid));
    let back = format!("/lead/{}/template", enc(&pid));
    let print = move |_| {
        let _ = window().print();
    };
    view! {
        <div class="print-view" data-testid="print-view">
            <div class="row no-print">
                <a class="button ghost" href=back>{t!(i18n, lead.template.back)}</a>
                <button class="button" data-testid="print-now" on:click=print>{t!(i18n, lead.template.print_now)}</button>
            </div>
            <ErrorBox error=programme.error />
            {move || {
                let _ = i18n.get_locale();
                match programme.data.get() {
                None => view! { <Loading /> }.into_any(),
                Some(p) => view! { <BlankSheet programme=p /> }.into_any(),
                }
            }}
        </div>
    }
}

#[component]
fn BlankSheet(programme: Programme) -> impl IntoView {
    let i18n = use_i18n();
    let lang = use_lang();
    let blocks = sections(&programme.template)
        .into_iter()
        .filter(|(_, qs)| !qs.is_empty())
        .map(|(section, qs)| {
            let items = qs
                .into_iter()
                .map(|q| {
                    let wording = {
                        let (r, e) = (q.ru.clone(), q.en.clone());
                        move || match lang.get() {
                            Lang::Ru => r.clone(),
                            Lang::En => e.clone(),
                        }
                    };
                    let mark = q.required.then_some(" *");
                    view! {
                        <li class="print-q" data-question-id=q.id.clone()>
                            <p class="print-wording">{wording}{mark}</p>
                            {blank_answer(i18n, lang, q.kind)}
                        </li>
                    }
                })
                .collect_view();
            view! {
                <section class="print-section">
                    <h2>{move || section.title(lang.get())}</h2>
                    <ol>{items}</ol>
                </section>
            }
        })
        .collect_view();
    view! {
        <article class="print-sheet">
            <header class="print-header">
                <h1>{t!(i18n, lead.template.sheet_title)}</h1>
                <p class="muted">{programme.name.clone()}</p>
            </header>
            {blocks}
            <p class="muted small">{t!(i18n, lead.template.required_note)}</p>
        </article>
    }
}

/// Empty lines (or boxes) where the answer is written by hand.
fn blank_answer(i18n: I18n, lang: Signal<Lang>, kind: QuestionKind) -> AnyView {
    let lines = |n: usize| {
        (0..n)
            .map(|_| view! { <div class="write-line"></div> })
            .collect_view()
    };
    match kind {
        QuestionKind::Text => lines(3).into_any(),
        QuestionKind::Number | QuestionKind::Date => lines(1).into_any(),
        QuestionKind::YesNo => view! {
            <p class="boxes">"☐ " {t!(i18n, lead.template.yes)} "    ☐ " {t!(i18n, lead.template.no)}</p>
        }
        .into_any(),
        QuestionKind::Choice { options } => {
            let items = options
                .into_iter()
                .map(|o| {
                    let label = o.label.clone();
                    view! { <span class="box-option">"☐ " {move || label.get(lang.get()).to_owned()}</span> }
                })
                .collect_view();
            view! { <p class="boxes">{items}</p> }.into_any()
        }
        QuestionKind::Contacts => grid(
            [
                t_string!(i18n, lead.template.col_name).to_string(),
                t_string!(i18n, lead.template.col_role).to_string(),
                t_string!(i18n, lead.template.col_phone).to_string(),
                t_string!(i18n, lead.template.col_email).to_string(),
            ],
            3,
        ),
        QuestionKind::Referrals => grid(
            [
                t_string!(i18n, lead.template.col_name).to_string(),
                t_string!(i18n, lead.template.col_company).to_string(),
                t_string!(i18n, lead.template.col_contact).to_string(),
                t_string!(i18n, lead.template.col_note).to_string(),
            ],
            3,
        ),
        QuestionKind::QualityCheck { service, metric, unit, at_most } => view! {
            <p class="quality-blank">
                {move || format!("{} — {}", service.get(lang.get()), metric.get(lang.get()))}
                <br />
                {move || if at_most {
                    t_string!(i18n, lead.template.target_at_most).to_string()
                } else {
                    t_string!(i18n, lead.template.target).to_string()
                }} " ________ " {unit.clone()}
                "    " {t!(i18n, lead.template.actual)} " ________ " {unit.clone()}
                <br />
                {t!(i18n, lead.template.outage)} "  ☐ " {t!(i18n, lead.template.yes)} "  ☐ " {t!(i18n, lead.template.no)}
            </p>
        }
        .into_any(),
    }
}

fn grid(headers: [String; 4], rows: usize) -> AnyView {
    let head = headers
        .into_iter()
        .map(|h| view! { <th>{h}</th> })
        .collect_view();
    let body = (0..rows)
        .map(|_| view! { <tr><td></td><td></td><td></td><td></td></tr> })
        .collect_view();
    view! {
        <table class="blank-grid">
            <thead><tr>{head}</tr></thead>
            <tbody>{body}</tbody>
        </table>
    }
    .into_any()
}
