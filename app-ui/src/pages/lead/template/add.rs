//! The form that adds a question: section, kind, wording in both languages, and for a
//! choice its options, for a quality check its service, metric and unit.

use leptos::prelude::*;
use rapport_api::ApiError;
use rapport_api::lead::{NewQuestion, QuestionKind, Section, Template};
use rapport_api::routes;

use super::super::{I18n, from_wire, use_pid, wire};
use super::{change_template, kind_text};
use crate::components::{Actions, CardHead, Check, ErrorBox, Field, Select};
use crate::state::{use_ctx, use_lang};
use crate::translations::i18n::*;

/// A text looked up in the page's language.
type Words = fn(I18n) -> String;

/// The kinds the add form offers, by wire name.
const KINDS: [&str; 8] = [
    "text",
    "yes_no",
    "number",
    "date",
    "choice",
    "contacts",
    "referrals",
    "quality_check",
];

fn kind_name_text(i18n: I18n, name: &str) -> String {
    let kind = match name {
        "yes_no" => QuestionKind::YesNo,
        "number" => QuestionKind::Number,
        "date" => QuestionKind::Date,
        "choice" => QuestionKind::Choice {
            options: Vec::new(),
        },
        "contacts" => QuestionKind::Contacts,
        "referrals" => QuestionKind::Referrals,
        "quality_check" => return t_string!(i18n, lead.template.kind_quality).to_string(),
        _ => QuestionKind::Text,
    };
    kind_text(i18n, &kind)
}

/// The kind from the add form's fields; `None` with the reason when they are incomplete.
fn build_kind(
    name: &str,
    options: &str,
    quality: [&str; 5],
    at_most: bool,
) -> Result<QuestionKind, &'static str> {
    let value = match name {
        "choice" => {
            // One option a line: "русский / English" (English may be left out).
            let options: Vec<serde_json::Value> = options
                .lines()
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .enumerate()
                .map(|(i, line)| {
                    let (ru, en) = line
                        .split_once('/')
                        .map_or((line, line), |(r, e)| (r.trim(), e.trim()));
                    serde_json::json!({"id": format!("o{}", i + 1), "label": {"ru": ru, "en": en}})
                })
                .collect();
            if options.len() < 2 {
                return Err("options");
            }
            serde_json::json!({"kind": "choice", "options": options})
        }
        "quality_check" => {
            let [service_ru, service_en, metric_ru, metric_en, unit] = quality.map(str::trim);
            if service_ru.is_empty() || metric_ru.is_empty() || unit.is_empty() {
                return Err("quality");
            }
            let or = |en: &str, ru: &str| {
                if en.is_empty() {
                    ru.to_owned()
                } else {
                    en.to_owned()
                }
            };
            serde_json::json!({
                "kind": "quality_check",
                "service": {"ru": service_ru, "en": or(service_en, service_ru)},
                "metric": {"ru": metric_ru, "en": or(metric_en, metric_ru)},
                "unit": unit,
                "at_most": at_most,
            })
        }
        other => serde_json::json!({ "kind": other }),
    };
    serde_json::from_value(value).map_err(|_| "kind")
}

#[component]
pub(super) fn AddQuestion(
    template: RwSignal<Option<Template>>,
    done: RwSignal<Option<String>>,
) -> impl IntoView {
    let ctx = use_ctx();
    let i18n = use_i18n();
    let lang = use_lang();
    let pid = StoredValue::new(use_pid());
    let open = RwSignal::new(false);
    let section = RwSignal::new(wire(&Section::Carnegie));
    let kind = RwSignal::new("text".to_owned());
    let required = RwSignal::new(false);
    let ru = RwSignal::new(String::new());
    let en = RwSignal::new(String::new());
    let options = RwSignal::new(String::new());
    let quality: [RwSignal<String>; 5] = std::array::from_fn(|_| RwSignal::new(String::new()));
    let at_most = RwSignal::new(false);
    let error = RwSignal::new(None::<ApiError>);
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let Some(sec) = from_wire::<Section>(&section.get_untracked()) else {
            return;
        };
        let q = quality.map(|s| s.get_untracked());
        let built = build_kind(
            &kind.get_untracked(),
            &options.get_untracked(),
            [&q[0], &q[1], &q[2], &q[3], &q[4]],
            at_most.get_untracked(),
        );
        let kind_value = match built {
            Ok(k) => k,
            Err(why) => {
                let text = match why {
                    "options" => t_string!(i18n, lead.template.options_missing).to_string(),
                    _ => t_string!(i18n, lead.template.quality_missing).to_string(),
                };
                error.set(Some(ApiError::new("ui_incomplete", text)));
                return;
            }
        };
        // Put it last in its section; ids stay unique by the time they were made.
        let after = template.with_untracked(|t| {
            t.as_ref().and_then(|t| {
                t.active()
                    .into_iter()
                    .rfind(|q| q.section == sec)
                    .map(|q| q.id.clone())
            })
        });
        let stamp = js_sys::Date::now() as u64;
        let body = NewQuestion {
            id: format!("{}.q{stamp:x}", wire(&sec)),
            section: sec,
            kind: kind_value,
            wording_ru: ru.get_untracked().trim().to_owned(),
            wording_en: en.get_untracked().trim().to_owned(),
            required: required.get_untracked(),
            after,
        };
        let route = routes::add_question(&pid.get_value());
        change_template(
            async move { ctx.send(route, &body).await },
            template,
            error,
            move || {
                ru.set(String::new());
                en.set(String::new());
                options.set(String::new());
                open.set(false);
                done.set(Some(t_string!(i18n, lead.template.added).to_string()));
            },
        );
    };
    let section_options = move || {
        Section::ALL
            .into_iter()
            .map(|s| view! { <option value=wire(&s)>{move || s.title(lang.get())}</option> })
            .collect_view()
    };
    let kind_options = move || {
        KINDS
            .into_iter()
            .map(|k| view! { <option value=k>{move || kind_name_text(i18n, k)}</option> })
            .collect_view()
    };
    let quality_labels: [(&str, Words); 5] = [
        ("q-service-ru", |i| {
            t_string!(i, lead.template.service_ru).to_string()
        }),
        ("q-service-en", |i| {
            t_string!(i, lead.template.service_en).to_string()
        }),
        ("q-metric-ru", |i| {
            t_string!(i, lead.template.metric_ru).to_string()
        }),
        ("q-metric-en", |i| {
            t_string!(i, lead.template.metric_en).to_string()
        }),
        ("q-unit", |i| t_string!(i, lead.template.unit).to_string()),
    ];
    let quality_fields = quality_labels
        .into_iter()
        .zip(quality)
        .map(|((id, label), value)| {
            view! { <Field id=id value=value>{move || label(i18n)}</Field> }
        })
        .collect_view();
    view! {
        <section class="card">
            <CardHead title=move || t_string!(i18n, lead.template.add_title).to_string() testid="question-add"
                label=move || t_string!(i18n, lead.template.add).to_string() open=open />
            <div class:hidden=move || !open.get()>
                <form class="form-grid" on:submit=submit>
                    <Select id="question-section" value=section options=section_options>
                        {t!(i18n, lead.template.section)}
                    </Select>
                    <Select id="question-kind" value=kind options=kind_options>{t!(i18n, lead.template.kind)}</Select>
                    <div>
                        <Check testid="question-required" value=required>{t!(i18n, lead.template.required)}</Check>
                    </div>
                    <Field id="question-ru" value=ru kind="textarea" required=true class="wide">
                        {t!(i18n, lead.template.wording_ru)}
                    </Field>
                    <Field id="question-en" value=en kind="textarea" required=true class="wide">
                        {t!(i18n, lead.template.wording_en)}
                    </Field>
                    <div class="wide" class:hidden=move || kind.get() != "choice">
                        <label for="question-options">
                            {t!(i18n, lead.template.options)}
                            <span class="hint">{t!(i18n, lead.template.options_hint)}</span>
                        </label>
                        <textarea id="question-options" data-testid="question-options"
                            prop:value=move || options.get() on:input=move |ev| options.set(event_target_value(&ev))></textarea>
                    </div>
                    <div class="wide form-grid" class:hidden=move || kind.get() != "quality_check">
                        {quality_fields}
                        <div class="wide">
                            <Check testid="question-at-most" value=at_most>{t!(i18n, lead.template.at_most)}</Check>
                        </div>
                    </div>
                    <ErrorBox error=error />
                    <Actions testid="question-save" />
                </form>
            </div>
        </section>
    }
}
