//! The questionnaire (VIP-анкета) editor: add, reword, reorder, retire. The blank
//! form for print is [`super::blank`].

use leptos::prelude::*;
use leptos::task::spawn_local;
use rapport_api::lead::{NewQuestion, QuestionChange, QuestionKind, Section, Template};
use rapport_api::routes;
use rapport_api::{ApiError, Lang};

use super::{I18n, LeadPage, Loaded, Success, Tab, enc, from_wire, use_pid, wire};
use crate::components::{Actions, Check, ErrorBox, Field, Loading, Select};
use crate::i18n::*;
use crate::state::{use_ctx, use_lang};

/// One question as the editor (and the blank form) shows it (the domain's `Question`, not re-exported by the API).
#[derive(Clone, Debug, PartialEq)]
pub(super) struct Q {
    pub(super) id: String,
    section: Section,
    pub(super) kind: QuestionKind,
    pub(super) required: bool,
    pub(super) ru: String,
    pub(super) en: String,
}

/// The questions still asked, section by section in the paper form's order.
pub(super) fn sections(template: &Template) -> Vec<(Section, Vec<Q>)> {
    let active = template.active();
    Section::ALL
        .into_iter()
        .map(|section| {
            let qs = active
                .iter()
                .filter(|q| q.section == section)
                .map(|q| Q {
                    id: q.id.clone(),
                    section: q.section,
                    kind: q.kind.clone(),
                    required: q.required,
                    ru: q.wording.ru.clone(),
                    en: q.wording.en.clone(),
                })
                .collect();
            (section, qs)
        })
        .collect()
}

pub(super) fn kind_text(i18n: I18n, kind: &QuestionKind) -> String {
    match kind {
        QuestionKind::Text => t_string!(i18n, lead.template.kind_text).to_string(),
        QuestionKind::YesNo => t_string!(i18n, lead.template.kind_yes_no).to_string(),
        QuestionKind::Number => t_string!(i18n, lead.template.kind_number).to_string(),
        QuestionKind::Date => t_string!(i18n, lead.template.kind_date).to_string(),
        QuestionKind::Choice { .. } => t_string!(i18n, lead.template.kind_choice).to_string(),
        QuestionKind::Contacts => t_string!(i18n, lead.template.kind_contacts).to_string(),
        QuestionKind::Referrals => t_string!(i18n, lead.template.kind_referrals).to_string(),
        QuestionKind::QualityCheck { .. } => {
            t_string!(i18n, lead.template.kind_quality).to_string()
        }
    }
}

// --- Editor ---------------------------------------------------------------------

/// The template editor.
#[component]
pub fn TemplateEditor() -> impl IntoView {
    view! {
        <LeadPage tab=Tab::Template>
            <EditorBody />
        </LeadPage>
    }
}

#[component]
fn EditorBody() -> impl IntoView {
    let i18n = use_i18n();
    let pid = use_pid();
    let programme = Loaded::new(routes::programme(&pid));
    // Every change answers with the whole template: show it at once.
    let template = RwSignal::new(None::<Template>);
    Effect::new(move |_| {
        if let Some(p) = programme.data.get() {
            template.set(Some(p.template));
        }
    });
    let done = RwSignal::new(None::<String>);
    let print_href = format!("/lead/{}/print", enc(&pid));
    let body = move || {
        template.get().map(|t| {
            sections(&t)
                .into_iter()
                .map(|(section, qs)| view! { <SectionBlock section=section questions=qs template=template done=done /> })
                .collect_view()
        })
    };
    view! {
        <section class="card">
            <div class="row">
                <h2>{t!(i18n, lead.template.title)}</h2>
                <span class="spacer"></span>
                <a class="button ghost" href=print_href data-testid="open-print">{t!(i18n, lead.template.print)}</a>
            </div>
            <p class="muted">{t!(i18n, lead.template.intro)}</p>
            <Success text=done />
            <ErrorBox error=programme.error />
        </section>
        <Show when=move || template.with(Option::is_some) fallback=|| view! { <Loading /> }>
            {body}
            <AddQuestion template=template done=done />
        </Show>
    }
}

#[component]
fn SectionBlock(
    section: Section,
    questions: Vec<Q>,
    template: RwSignal<Option<Template>>,
    done: RwSignal<Option<String>>,
) -> impl IntoView {
    let i18n = use_i18n();
    let lang = use_lang();
    let ids: Vec<String> = questions.iter().map(|q| q.id.clone()).collect();
    let count = questions.len();
    let rows = questions
        .into_iter()
        .enumerate()
        .map(|(i, q)| {
            // Moving up puts it after the question two above (first: after nothing);
            // moving down puts it after the one below.
            let up = (i > 0).then(|| {
                if i >= 2 {
                    ids[i - 2].clone()
                } else {
                    String::new()
                }
            });
            let down = ids.get(i + 1).cloned();
            view! { <QuestionRow q=q up=up down=down template=template done=done /> }
        })
        .collect_view();
    view! {
        <section class="card template-section" data-testid="template-section" data-section=wire(&section)>
            <h3>{move || section.title(lang.get())}</h3>
            {(count == 0).then(|| view! { <p class="muted">{t!(i18n, lead.template.section_empty)}</p> })}
            <ol class="questions">{rows}</ol>
        </section>
    }
}

/// Sends a template change (`call`) and shows the template the server answers with.
fn change_template(
    call: impl Future<Output = Result<Template, ApiError>> + 'static,
    template: RwSignal<Option<Template>>,
    error: RwSignal<Option<ApiError>>,
    then: impl FnOnce() + 'static,
) {
    error.set(None);
    spawn_local(async move {
        match call.await {
            Ok(t) => {
                template.set(Some(t));
                then();
            }
            Err(err) => error.set(Some(err)),
        }
    });
}

#[component]
fn QuestionRow(
    q: Q,
    up: Option<String>,
    down: Option<String>,
    template: RwSignal<Option<Template>>,
    done: RwSignal<Option<String>>,
) -> impl IntoView {
    let ctx = use_ctx();
    let i18n = use_i18n();
    let lang = use_lang();
    let pid = StoredValue::new(use_pid());
    let id = StoredValue::new(q.id.clone());
    let error = RwSignal::new(None::<ApiError>);
    let editing = RwSignal::new(false);
    let confirming = RwSignal::new(false);
    let ru = RwSignal::new(q.ru.clone());
    let en = RwSignal::new(q.en.clone());
    let change = move |body: QuestionChange, then: Box<dyn FnOnce()>| {
        let route = routes::change_question(&pid.get_value(), &id.get_value());
        change_template(
            async move { ctx.send(route, &body).await },
            template,
            error,
            then,
        );
    };
    let move_after = move |after: String| {
        change(
            QuestionChange {
                wording_ru: None,
                wording_en: None,
                after: Some(after),
            },
            Box::new(|| {}),
        );
    };
    let up_btn = up.clone().map(|after| {
        view! {
            <button class="button ghost" data-testid="question-up" on:click=move |_| move_after(after.clone())
                aria-label=move || t_string!(i18n, lead.template.up).to_string()>"↑"</button>
        }
    });
    let down_btn = down.clone().map(|after| {
        view! {
            <button class="button ghost" data-testid="question-down" on:click=move |_| move_after(after.clone())
                aria-label=move || t_string!(i18n, lead.template.down).to_string()>"↓"</button>
        }
    });
    let reword = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        change(
            QuestionChange {
                wording_ru: Some(ru.get_untracked().trim().to_owned()),
                wording_en: Some(en.get_untracked().trim().to_owned()),
                after: None,
            },
            Box::new(move || {
                editing.set(false);
                done.set(Some(t_string!(i18n, lead.template.reworded).to_string()));
            }),
        );
    };
    let retire = move |_| {
        let route = routes::delete_question(&pid.get_value(), &id.get_value());
        change_template(
            async move { ctx.fetch(route).await },
            template,
            error,
            move || {
                done.set(Some(t_string!(i18n, lead.template.retired).to_string()));
            },
        );
    };
    let wording = {
        let (r, e) = (q.ru.clone(), q.en.clone());
        move || match lang.get() {
            Lang::Ru => r.clone(),
            Lang::En => e.clone(),
        }
    };
    let kind = q.kind.clone();
    let required = q.required;
    view! {
        <li class="question" data-testid="question-row" data-question-id=q.id.clone()>
            <div class="row">
                <div class="question-text">
                    <span>{wording}</span>
                    <span class="muted small">
                        " · " {move || kind_text(i18n, &kind)}
                        {move || required.then(|| format!(" · {}", t_string!(i18n, lead.template.required_mark)))}
                    </span>
                </div>
                <span class="spacer"></span>
                {up_btn}
                {down_btn}
                <button class="button ghost" data-testid="question-edit" on:click=move |_| editing.update(|e| *e = !*e)>
                    {t!(i18n, lead.template.reword)}
                </button>
                <button class="button ghost" data-testid="question-retire" on:click=move |_| confirming.set(true)>
                    {t!(i18n, lead.template.retire)}
                </button>
            </div>
            <Show when=move || confirming.get()>
                <div class="confirm" role="alertdialog">
                    <p>{t!(i18n, lead.template.retire_confirm)}</p>
                    <div class="row">
                        <button class="button danger" data-testid="question-retire-confirm" on:click=retire>
                            {t!(i18n, lead.template.retire_yes)}
                        </button>
                        <button class="button ghost" data-testid="question-retire-cancel" on:click=move |_| confirming.set(false)>
                            {t!(i18n, common.cancel)}
                        </button>
                    </div>
                </div>
            </Show>
            <Show when=move || editing.get()>
                <form class="form-grid" on:submit=reword>
                    <div>
                        <Field inline=true testid="question-reword-ru" value=ru kind="textarea" required=true>
                            {t!(i18n, lead.template.wording_ru)}
                        </Field>
                    </div>
                    <div>
                        <Field inline=true testid="question-reword-en" value=en kind="textarea" required=true>
                            {t!(i18n, lead.template.wording_en)}
                        </Field>
                    </div>
                    <Actions testid="question-reword-save" cancel=move |()| editing.set(false) />
                </form>
            </Show>
            <ErrorBox error=error />
        </li>
    }
}

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
fn build_kind(name: &str, options: &str, quality: [&str; 5]) -> Result<QuestionKind, &'static str> {
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
            })
        }
        other => serde_json::json!({ "kind": other }),
    };
    serde_json::from_value(value).map_err(|_| "kind")
}

#[component]
fn AddQuestion(
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
            <div class="row">
                <h2>{t!(i18n, lead.template.add_title)}</h2>
                <span class="spacer"></span>
                <button class="button" data-testid="question-add" aria-expanded=move || open.get().to_string()
                    on:click=move |_| open.update(|o| *o = !*o)>
                    {t!(i18n, lead.template.add)}
                </button>
            </div>
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
                    </div>
                    <ErrorBox error=error />
                    <Actions testid="question-save" />
                </form>
            </div>
        </section>
    }
}
