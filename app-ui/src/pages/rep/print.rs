//! The questionnaire as on paper: two sides of A4, filled in or blank (`?blank=1`),
//! for a visit where a tablet is not welcome, or for the client's file.

use leptos::prelude::*;
use leptos_router::hooks::{use_params_map, use_query_map};
use rapport_api::{AnswerValue, ApiError, DocId, Request, Response, VisitDetail};
use rapport_domain::{OpportunityKind, Question, QuestionKind, Section};

use super::localized;
use super::visit::contacts::people_of;
use super::visit::section_key;
use crate::components::{ErrorBox, Loading};
use crate::format::{amount, day};
use crate::state::{use_ctx, use_lang};
use crate::translations::i18n::*;

/// The first side ends with the current cooperation; the second starts with quality.
const SECOND_SIDE: Section = Section::Quality;

/// Empty rows in a blank table, enough to write by hand.
const BLANK_ROWS: usize = 4;

/// The print view of a visit (two sides of A4), blank or filled.
#[component]
pub fn Print() -> impl IntoView {
    let ctx = use_ctx();
    let params = use_params_map();
    let query = use_query_map();
    let blank = Memo::new(move |_| query.with(|q| q.get("blank").is_some_and(|b| b == "1")));
    let i18n = use_i18n();

    // The visit and the rep's name, asked of the device node once per visit id.
    let sheet = LocalResource::new(move || {
        let id = params
            .with(|p| p.get("id"))
            .and_then(|s| s.parse::<DocId>().ok());
        async move {
            let not_found = || {
                ApiError::new(
                    "not_found",
                    t_string!(i18n, rep.errors.not_found).to_string(),
                )
            };
            let visit_id = id.ok_or_else(not_found)?;
            let Response::Visit(detail) = ctx.node(Request::OpenVisit { visit_id }).await? else {
                return Err(not_found());
            };
            let rep = match ctx.node(Request::Device).await {
                Ok(Response::Device(info)) => info.rep_name,
                _ => None,
            };
            Ok::<_, ApiError>((*detail, rep))
        }
    });
    let error = Signal::derive(move || sheet.with(|r| r.as_ref().and_then(|r| r.clone().err())));
    let visit_id = move || {
        sheet.with(|r| {
            r.as_ref()
                .and_then(|r| r.as_ref().ok())
                .map(|(d, _)| d.visit.id)
        })
    };

    let print_now = move |_| {
        if let Some(window) = web_sys::window() {
            let _ = window.print();
        }
    };

    view! {
        <article class="rep-print" data-testid="print-view" data-blank=move || blank.get().to_string()>
            <div class="row no-print rep-print-tools">
                {move || {
                    visit_id()
                        .map(|id| {
                            view! {
                                <a class="button ghost" href=format!("/rep/visit/{id}")>{t!(i18n, rep.print.back)}</a>
                            }
                        })
                }}
                <span class="spacer"></span>
                <button class="button" data-testid="print-now" on:click=print_now>
                    {t!(i18n, rep.print.print_now)}
                </button>
            </div>
            <ErrorBox error=localized(error) />
            <Suspense fallback=|| view! { <Loading /> }>
                {move || {
                    let blank = blank.get();
                    Suspend::new(async move {
                        sheet.await.ok().map(|(detail, rep)| view! { <Sheet detail blank rep /> })
                    })
                }}
            </Suspense>
        </article>
    }
}

/// The two sides: header, every section with its questions, tables, signatures.
#[component]
fn Sheet(detail: VisitDetail, blank: bool, rep: Option<String>) -> impl IntoView {
    let i18n = use_i18n();
    let detail = StoredValue::new(detail);
    let (company, date) = detail.with_value(|d| {
        if blank {
            (String::new(), String::new())
        } else {
            (
                d.client
                    .as_ref()
                    .map(|c| c.company.clone())
                    .unwrap_or_default(),
                day(&d.visit.date),
            )
        }
    });
    let rep = if blank {
        String::new()
    } else {
        rep.unwrap_or_default()
    };
    let side = move |first: bool| {
        Section::ALL
            .into_iter()
            .filter(|s| (*s < SECOND_SIDE) == first)
            .map(|section| view! { <PrintSection detail section blank /> })
            .collect_view()
    };
    view! {
        <header class="rep-print-head">
            <h1>{t!(i18n, rep.print.title)}</h1>
            <dl class="rep-print-meta">
                <dt>{t!(i18n, rep.print.company)}</dt>
                <dd class="rep-line">{company}</dd>
                <dt>{t!(i18n, rep.print.date)}</dt>
                <dd class="rep-line">{date}</dd>
                <dt>{t!(i18n, rep.print.rep)}</dt>
                <dd class="rep-line">{rep}</dd>
            </dl>
        </header>
        <div class="rep-print-side" data-side="1">{side(true)}</div>
        <div class="rep-print-side rep-print-second" data-side="2">
            {side(false)}
            <footer class="rep-print-signatures">
                <p>
                    <span class="rep-line rep-sign"></span>
                    <span class="rep-caption">{t!(i18n, rep.print.signature)}</span>
                </p>
                <p>
                    <span class="rep-line rep-sign"></span>
                    <span class="rep-caption">{t!(i18n, rep.print.client_signature)}</span>
                </p>
            </footer>
        </div>
    }
}

#[component]
fn PrintSection(detail: StoredValue<VisitDetail>, section: Section, blank: bool) -> impl IntoView {
    let lang = use_lang();
    let questions: Vec<Question> = detail.with_value(|d| {
        d.template
            .active()
            .into_iter()
            .filter(|q| q.section == section)
            .cloned()
            .collect()
    });
    view! {
        <section class="rep-print-section" data-section=section_key(section)>
            <h2>{move || section.title(lang.get())}</h2>
            {questions
                .into_iter()
                .map(|question| view! { <PrintQuestion detail question blank /> })
                .collect_view()}
            {(section == Section::NewOffers).then(|| view! { <OpportunityTable detail blank /> })}
        </section>
    }
}

#[component]
fn PrintQuestion(
    detail: StoredValue<VisitDetail>,
    question: Question,
    blank: bool,
) -> impl IntoView {
    let lang = use_lang();
    let answer = if blank {
        None
    } else {
        detail.with_value(|d| d.visit.answers.get(&question.id).cloned())
    };
    let wording = question.wording.clone();
    let required = question.required;
    view! {
        <div class="rep-print-question" data-question-id=question.id.clone()>
            <p class="rep-print-wording">
                {move || wording.get(lang.get()).to_owned()}
                {required.then_some(" *")}
            </p>
            {print_answer(detail, &question.kind, answer, blank)}
        </div>
    }
}

fn boxed(checked: bool) -> &'static str {
    if checked { "☒" } else { "☐" }
}

fn print_answer(
    detail: StoredValue<VisitDetail>,
    kind: &QuestionKind,
    answer: Option<AnswerValue>,
    blank: bool,
) -> AnyView {
    let i18n = use_i18n();
    let lang = use_lang();
    match (kind, answer) {
        (QuestionKind::Text, Some(AnswerValue::Text(text))) if !text.trim().is_empty() => {
            view! { <p class="rep-print-answer">{text}</p> }.into_any()
        }
        (QuestionKind::Text, _) => view! {
            <div class="rep-lines">
                <span class="rep-line"></span>
                <span class="rep-line"></span>
                <span class="rep-line"></span>
            </div>
        }
        .into_any(),
        (QuestionKind::YesNo, answer) => {
            let value = match answer {
                Some(AnswerValue::Bool(b)) => Some(b),
                _ => None,
            };
            view! {
                <p class="rep-print-answer">
                    {boxed(value == Some(true))} " " {t!(i18n, rep.visit.yes)} "    "
                    {boxed(value == Some(false))} " " {t!(i18n, rep.visit.no)}
                </p>
            }
            .into_any()
        }
        (QuestionKind::Number, Some(AnswerValue::Number(n))) => {
            view! { <p class="rep-print-answer">{n.to_string()}</p> }.into_any()
        }
        (QuestionKind::Date, Some(AnswerValue::Str(d))) => {
            view! { <p class="rep-print-answer">{day(&d)}</p> }.into_any()
        }
        (QuestionKind::Number | QuestionKind::Date, _) => {
            view! { <span class="rep-line rep-short"></span> }.into_any()
        }
        (QuestionKind::Choice { options }, answer) => {
            let chosen = match answer {
                Some(AnswerValue::Str(s)) => Some(s),
                _ => None,
            };
            let options = options.clone();
            view! {
                <p class="rep-print-answer rep-print-options">
                    {options
                        .into_iter()
                        .map(|o| {
                            let mark = boxed(chosen.as_deref() == Some(o.id.as_str()));
                            let label = o.label.clone();
                            view! { <span class="rep-print-option">{mark} " " {move || label.get(lang.get()).to_owned()}</span> }
                        })
                        .collect_view()}
                </p>
            }
            .into_any()
        }
        (QuestionKind::QualityCheck { unit, at_most, .. }, answer) => {
            let at_most = *at_most;
            let q = match answer {
                Some(AnswerValue::Quality(q)) => Some(q),
                _ => None,
            };
            let unit = unit.clone();
            let cell = |v: Option<f64>| match v {
                Some(v) => {
                    view! { <span class="rep-print-answer">{v.to_string()}</span> }.into_any()
                }
                None => view! { <span class="rep-line rep-short"></span> }.into_any(),
            };
            let outage = q.as_ref().map(|q| q.outage_last_month);
            let note = q.as_ref().map(|q| q.note.clone()).filter(|n| !n.is_empty());
            view! {
                <div class="rep-print-quality">
                    <p>
                        {move || if at_most {
                            t_string!(i18n, rep.print.target_at_most).to_string()
                        } else {
                            t_string!(i18n, rep.print.target).to_string()
                        }}
                        ", " {unit.clone()} ": " {cell(q.as_ref().map(|q| q.target))}
                    </p>
                    <p>{t!(i18n, rep.print.actual)} ", " {unit} ": " {cell(q.as_ref().map(|q| q.actual))}</p>
                    <p>
                        {t!(i18n, rep.quality.outage)} ": "
                        {boxed(outage == Some(true))} " " {t!(i18n, rep.print.yes)} "  "
                        {boxed(outage == Some(false))} " " {t!(i18n, rep.print.no)}
                    </p>
                    {note.map(|n| view! { <p class="rep-print-answer">{n}</p> })}
                </div>
            }
            .into_any()
        }
        (QuestionKind::Contacts, _) => view! { <ContactTable detail blank /> }.into_any(),
        (QuestionKind::Referrals, _) => view! { <ReferralTable detail blank /> }.into_any(),
    }
}

/// A table with the given rows, padded with empty rows to write in by hand.
fn padded(rows: Vec<Vec<String>>, columns: usize, blank: bool) -> AnyView {
    let filled = if blank { Vec::new() } else { rows };
    let empty = BLANK_ROWS
        .saturating_sub(filled.len())
        .max(if blank { BLANK_ROWS } else { 1 });
    let empty_rows = (0..empty).map(|_| vec![String::new(); columns]);
    filled
        .into_iter()
        .chain(empty_rows)
        .map(|cells| {
            view! {
                <tr>{cells.into_iter().map(|c| view! { <td>{c}</td> }).collect_view()}</tr>
            }
        })
        .collect_view()
        .into_any()
}

#[component]
fn ContactTable(detail: StoredValue<VisitDetail>, blank: bool) -> impl IntoView {
    let i18n = use_i18n();
    let rows: Vec<Vec<String>> = detail.with_value(|d| {
        people_of(d)
            .into_iter()
            .filter(|p| !p.has_left)
            .map(|p| vec![p.name, p.role, p.phone, p.email])
            .collect()
    });
    view! {
        <table class="rep-print-table" data-testid="print-contacts">
            <thead>
                <tr>
                    <th>{t!(i18n, rep.print.name)}</th>
                    <th>{t!(i18n, rep.print.role)}</th>
                    <th>{t!(i18n, rep.print.phone)}</th>
                    <th>{t!(i18n, rep.print.email)}</th>
                </tr>
            </thead>
            <tbody>{padded(rows, 4, blank)}</tbody>
        </table>
    }
}

#[component]
fn ReferralTable(detail: StoredValue<VisitDetail>, blank: bool) -> impl IntoView {
    let i18n = use_i18n();
    let rows: Vec<Vec<String>> = detail.with_value(|d| {
        let mut list: Vec<_> = d.visit.referrals.values().collect();
        list.sort_by_key(|r| r.created_ms);
        list.into_iter()
            .map(|r| {
                vec![
                    r.name.clone(),
                    r.company.clone(),
                    r.contact.clone(),
                    r.note.clone(),
                ]
            })
            .collect()
    });
    view! {
        <table class="rep-print-table" data-testid="print-referrals">
            <thead>
                <tr>
                    <th>{t!(i18n, rep.print.referral_name)}</th>
                    <th>{t!(i18n, rep.print.referral_company)}</th>
                    <th>{t!(i18n, rep.print.referral_contact)}</th>
                    <th>{t!(i18n, rep.print.referral_note)}</th>
                </tr>
            </thead>
            <tbody>{padded(rows, 4, blank)}</tbody>
        </table>
    }
}

#[component]
fn OpportunityTable(detail: StoredValue<VisitDetail>, blank: bool) -> impl IntoView {
    let i18n = use_i18n();
    let growth = t_string!(i18n, rep.opportunities.growth).to_string();
    let cross = t_string!(i18n, rep.opportunities.cross_sell).to_string();
    let rows: Vec<Vec<String>> = detail.with_value(|d| {
        let mut list: Vec<_> = d.visit.opportunities.values().collect();
        list.sort_by_key(|o| o.created_ms);
        list.into_iter()
            .map(|o| {
                let kind = match o.kind {
                    OpportunityKind::Growth => growth.clone(),
                    OpportunityKind::CrossSell => cross.clone(),
                };
                vec![
                    kind,
                    o.description.clone(),
                    o.product.clone(),
                    format!("{} {}", amount(o.estimated_value), o.currency),
                ]
            })
            .collect()
    });
    view! {
        <h3>{t!(i18n, rep.opportunities.title)}</h3>
        <table class="rep-print-table" data-testid="print-opportunities">
            <thead>
                <tr>
                    <th>{t!(i18n, rep.print.opportunity_kind)}</th>
                    <th>{t!(i18n, rep.print.opportunity_description)}</th>
                    <th>{t!(i18n, rep.print.opportunity_product)}</th>
                    <th>{t!(i18n, rep.print.opportunity_value)}</th>
                </tr>
            </thead>
            <tbody>{padded(rows, 4, blank)}</tbody>
        </table>
    }
}
