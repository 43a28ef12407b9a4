//! The questionnaire (VIP-анкета) editor: reword, reorder, retire; adding a question
//! is [`add`]. The blank form for print is [`super::blank`].

mod add;

use leptos::prelude::*;
use leptos::task::spawn_local;
use rapport_api::lead::{QuestionChange, QuestionKind, Section, Template};
use rapport_api::routes;
use rapport_api::{ApiError, Lang};

use super::{I18n, Loaded, Success, enc, use_pid, wire};
use crate::components::{Actions, Confirm, ErrorBox, Field, Loading, follow};
use crate::state::{use_ctx, use_lang};
use crate::translations::i18n::*;

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
        QuestionKind::QualityCheck { at_most: true, .. } => {
            t_string!(i18n, lead.template.kind_quality_at_most).to_string()
        }
        QuestionKind::QualityCheck { .. } => {
            t_string!(i18n, lead.template.kind_quality).to_string()
        }
    }
}

// --- Editor ---------------------------------------------------------------------

/// The template editor.
#[component]
pub fn TemplateEditor() -> impl IntoView {
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
    // Built once: each section follows the template itself, so a change (a reword, a
    // move) leaves the other questions' open editors alone.
    let body = move || {
        Section::ALL
            .into_iter()
            .map(|section| view! { <SectionBlock section template done /> })
            .collect_view()
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
            <add::AddQuestion template=template done=done />
        </Show>
    }
}

/// A question in its place: the ids its up and down buttons put it after (`None`: no
/// button; empty: first).
#[derive(Clone, Debug, PartialEq)]
struct Placed {
    q: Q,
    up: Option<String>,
    down: Option<String>,
}

/// The questions of `section` in `template`, each with its moves.
fn placed(template: &Template, section: Section) -> Vec<Placed> {
    let qs = sections(template)
        .into_iter()
        .find(|(s, _)| *s == section)
        .map(|(_, qs)| qs)
        .unwrap_or_default();
    let ids: Vec<String> = qs.iter().map(|q| q.id.clone()).collect();
    qs.into_iter()
        .enumerate()
        .map(|(i, q)| Placed {
            q,
            // Moving up puts it after the question two above (first: after nothing);
            // moving down puts it after the one below.
            up: (i > 0).then(|| {
                if i >= 2 {
                    ids[i - 2].clone()
                } else {
                    String::new()
                }
            }),
            down: ids.get(i + 1).cloned(),
        })
        .collect()
}

#[component]
fn SectionBlock(
    section: Section,
    template: RwSignal<Option<Template>>,
    done: RwSignal<Option<String>>,
) -> impl IntoView {
    let i18n = use_i18n();
    let lang = use_lang();
    let rows: Signal<Vec<Placed>> = Memo::new(move |_| {
        template.with(|t| t.as_ref().map(|t| placed(t, section)).unwrap_or_default())
    })
    .into();
    // Keyed by question id: rows move with their question, and keep an open editor.
    let key = |p: &Placed| p.q.id.clone();
    view! {
        <section class="card template-section" data-testid="template-section" data-section=wire(&section)>
            <h3>{move || section.title(lang.get())}</h3>
            {move || rows.with(Vec::is_empty).then(|| view! { <p class="muted">{t!(i18n, lead.template.section_empty)}</p> })}
            <ol class="questions">
                <For each=move || rows.get() key=key
                    children=move |p| view! { <QuestionRow row=follow(rows, key, p) template done /> } />
            </ol>
        </section>
    }
}

/// Sends a template change (`call`) and shows the template the server answers with.
pub(super) fn change_template(
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
    row: Signal<Placed>,
    template: RwSignal<Option<Template>>,
    done: RwSignal<Option<String>>,
) -> impl IntoView {
    let ctx = use_ctx();
    let i18n = use_i18n();
    let lang = use_lang();
    let pid = StoredValue::new(use_pid());
    let id = StoredValue::new(row.with_untracked(|p| p.q.id.clone()));
    let error = RwSignal::new(None::<ApiError>);
    let editing = RwSignal::new(false);
    let confirming = RwSignal::new(false);
    let ru = RwSignal::new(row.with_untracked(|p| p.q.ru.clone()));
    let en = RwSignal::new(row.with_untracked(|p| p.q.en.clone()));
    let toggle = move |_| {
        // Opening starts from the wording as it is now.
        if !editing.get_untracked() {
            row.with_untracked(|p| {
                ru.set(p.q.ru.clone());
                en.set(p.q.en.clone());
            });
        }
        editing.update(|e| *e = !*e);
    };
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
    let up_btn = move || {
        row.with(|p| p.up.clone()).map(|after| view! {
            <button class="button ghost" data-testid="question-up" on:click=move |_| move_after(after.clone())
                aria-label=move || t_string!(i18n, lead.template.up).to_string()>"↑"</button>
        })
    };
    let down_btn = move || {
        row.with(|p| p.down.clone()).map(|after| view! {
            <button class="button ghost" data-testid="question-down" on:click=move |_| move_after(after.clone())
                aria-label=move || t_string!(i18n, lead.template.down).to_string()>"↓"</button>
        })
    };
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
    let retire = move |()| {
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
    let wording = move || {
        let lang = lang.get();
        row.with(|p| match lang {
            Lang::Ru => p.q.ru.clone(),
            Lang::En => p.q.en.clone(),
        })
    };
    let kind = move || row.with(|p| kind_text(i18n, &p.q.kind));
    let required = move || row.with(|p| p.q.required);
    view! {
        <li class="question" data-testid="question-row" data-question-id=id.get_value()>
            <div class="row">
                <div class="question-text">
                    <span>{wording}</span>
                    <span class="muted small">
                        " · " {kind}
                        {move || required().then(|| format!(" · {}", t_string!(i18n, lead.template.required_mark)))}
                    </span>
                </div>
                <span class="spacer"></span>
                {up_btn}
                {down_btn}
                <button class="button ghost" data-testid="question-edit" on:click=toggle>
                    {t!(i18n, lead.template.reword)}
                </button>
                <button class="button ghost" data-testid="question-retire" on:click=move |_| confirming.set(true)>
                    {t!(i18n, lead.template.retire)}
                </button>
            </div>
            <Confirm open=confirming yes_testid="question-retire-confirm" cancel_testid="question-retire-cancel"
                yes_label=move || t_string!(i18n, lead.template.retire_yes).to_string() on_yes=retire>
                {t!(i18n, lead.template.retire_confirm)}
            </Confirm>
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
