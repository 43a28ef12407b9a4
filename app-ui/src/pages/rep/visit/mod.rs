//! The visit questionnaire (VIP-анкета) as on paper: its sections in order, every
//! answer saved on the device as it is given, conflicts and history per question.

mod answers;
pub(super) mod contacts;
mod entries;
mod quality;
mod review;
mod verdict;

use leptos::prelude::*;
use leptos::task::spawn_local;
use leptos_router::hooks::use_params_map;
use rapport_api::{
    AnswerValue, ApiError, DocId, Request, Response, Saved, VisitDetail, VisitEdit, VisitState,
};
use rapport_domain::{Question, QuestionKind, Section, Template};

use super::{DocSyncPill, localized};
use crate::components::{ErrorBox, Loading};
use crate::format::{date_time, day};
use crate::order::Answers;
use crate::state::{Ctx, SaveState, use_ctx, use_lang};
use crate::translations::i18n::*;

/// What every part of the open visit shares: the visit, its latest state from the node,
/// and how to change it.
#[derive(Clone, Copy)]
struct VisitCtx {
    ctx: Ctx,
    i18n: leptos_i18n::I18nContext<Locale>,
    id: DocId,
    detail: RwSignal<Option<VisitDetail>>,
    error: RwSignal<Option<ApiError>>,
    /// Show what is missing at each question (after the rep tried to complete).
    show_missing: RwSignal<bool>,
    /// The loads of the visit: a slow reply never puts older answers on screen after a
    /// newer one.
    loads: StoredValue<Answers>,
}

fn use_visit() -> VisitCtx {
    expect_context::<VisitCtx>()
}

fn unexpected(i18n: leptos_i18n::I18nContext<Locale>) -> ApiError {
    ApiError::new(
        "ui_unexpected",
        t_string!(i18n, rep.errors.unexpected).to_string(),
    )
}

impl VisitCtx {
    /// Reads the visit again from the node (after an edit, or when sync brought news).
    fn reload(self) {
        spawn_local(async move {
            let Some(load) = self.loads.try_update_value(Answers::start) else {
                return;
            };
            let reply = self
                .ctx
                .node(Request::OpenVisit { visit_id: self.id })
                .await;
            if self.loads.try_update_value(|a| a.take(load)) != Some(true) {
                return;
            }
            match reply {
                Ok(Response::Visit(detail)) => {
                    // Not `show`: a load started after this one is newer still.
                    self.detail.set(Some(*detail));
                    self.error.set(None);
                }
                Ok(_) => {}
                Err(err) => self.error.set(Some(err)),
            }
        });
    }

    /// Shows `detail`, the node's newest answer: a load started before it is dropped
    /// when it answers later. A reload after a pause in typing may be answered after
    /// the completion the rep tapped meanwhile, with the visit as it was before; shown,
    /// it would say "draft" until the next reload.
    fn show(self, detail: VisitDetail) {
        self.loads.update_value(Answers::overtake);
        self.detail.set(Some(detail));
    }

    /// Sends one edit; the save state in the top bar follows it.
    async fn edit(self, edit: VisitEdit) -> Result<Saved, ApiError> {
        self.ctx.save.set(SaveState::Saving);
        let reply = self
            .ctx
            .node(Request::EditVisit {
                visit_id: self.id,
                edit,
            })
            .await;
        match reply {
            Ok(Response::Saved(saved)) => {
                self.ctx.save.set(SaveState::Saved(saved.saved_ms));
                Ok(saved)
            }
            Ok(_) => {
                let err = unexpected(self.i18n);
                self.ctx.save.set(SaveState::Failed(err.clone()));
                Err(err)
            }
            Err(err) => {
                self.ctx.save.set(SaveState::Failed(err.clone()));
                Err(err)
            }
        }
    }

    /// Sends one edit and shows the visit again; a refusal goes to `error`.
    fn edit_and_reload(self, edit: VisitEdit, error: RwSignal<Option<ApiError>>) {
        spawn_local(async move {
            match self.edit(edit).await {
                Ok(_) => {
                    error.set(None);
                    self.reload();
                }
                Err(err) => error.set(Some(err)),
            }
        });
    }

    /// The stored answer of one question, changing only when that answer changes.
    fn answer(self, question_id: String) -> Memo<Option<AnswerValue>> {
        Memo::new(move |_| {
            self.detail.with(|d| {
                d.as_ref()
                    .and_then(|d| d.visit.answers.get(&question_id).cloned())
            })
        })
    }
}

/// The visit questionnaire.
#[component]
pub fn Questionnaire() -> impl IntoView {
    let params = use_params_map();
    let id = Memo::new(move |_| {
        params
            .with(|p| p.get("id"))
            .and_then(|s| s.parse::<DocId>().ok())
    });
    let i18n = use_i18n();
    move || match id.get() {
        Some(id) => view! { <VisitPage id /> }.into_any(),
        None => {
            let error = RwSignal::new(Some(ApiError::new(
                "not_found",
                t_string!(i18n, rep.errors.not_found).to_string(),
            )));
            view! { <ErrorBox error=localized(error) /> }.into_any()
        }
    }
}

#[component]
fn VisitPage(id: DocId) -> impl IntoView {
    let ctx = use_ctx();
    let visit = VisitCtx {
        ctx,
        i18n: use_i18n(),
        id,
        detail: RwSignal::new(None),
        error: RwSignal::new(None),
        show_missing: RwSignal::new(false),
        loads: StoredValue::new(Answers::default()),
    };
    provide_context(visit);
    // Load now, and again whenever sync brought news (fields being typed in keep
    // what is typed; see answers::TextAnswer).
    Effect::new(move |_| {
        ctx.docs_changed.track();
        visit.reload();
    });
    let template = Memo::new(move |_| {
        visit
            .detail
            .with(|d| d.as_ref().map(|d| d.template.clone()))
    });
    // A memo, not a closure over `detail`: the page below must not be rebuilt by every
    // reload (that would replace the textarea the rep is typing in). The questionnaire
    // too reaches the sections as a memo, for the same reason.
    let loaded = Memo::new(move |_| visit.detail.with(|d| d.is_some()));
    let failed = Memo::new(move |_| visit.error.with(|e| e.is_some()));

    view! {
        <section class="rep-visit">
            <ErrorBox error=localized(visit.error) />
            {move || {
                if loaded.get() {
                    view! {
                        <VisitHeader />
                        <verdict::ReturnBanner />
                        <Sections template />
                        <entries::FollowUps />
                        <Completion />
                        <verdict::Rounds />
                    }
                        .into_any()
                } else if !failed.get() {
                    view! { <Loading /> }.into_any()
                } else {
                    ().into_any()
                }
            }}
        </section>
    }
}

/// Company, date, state, sync, and the ways out (client list, print).
#[component]
fn VisitHeader() -> impl IntoView {
    let v = use_visit();
    let i18n = use_i18n();
    let company = move || {
        v.detail.with(|d| {
            d.as_ref()
                .and_then(|d| d.client.as_ref().map(|c| c.company.clone()))
                .unwrap_or_else(|| t_string!(i18n, rep.visit.client_unknown).to_string())
        })
    };
    let date = move || {
        v.detail
            .with(|d| d.as_ref().map(|d| day(&d.visit.date)).unwrap_or_default())
    };
    let state = move || {
        v.detail.with(|d| {
            d.as_ref()
                .map(|d| (d.visit.state, d.visit.completed_ms))
                .unwrap_or((VisitState::Draft, None))
        })
    };
    let sync = move || v.detail.with(|d| d.as_ref().map(|d| d.sync.clone()));
    view! {
        <header class="card rep-visit-head">
            <nav class="row no-print">
                <a class="button ghost" href="/rep" data-testid="back-to-clients">{t!(i18n, rep.visit.back)}</a>
                <span class="spacer"></span>
                <a class="button ghost" href=format!("/rep/visit/{}/print", v.id) data-testid="print-link">
                    {t!(i18n, rep.visit.print)}
                </a>
            </nav>
            <h1 data-testid="visit-company">{company}</h1>
            <p class="muted">{move || t_string!(i18n, rep.visit.meeting_date, date = date()).to_string()}</p>
            <div class="row">
                {move || {
                    let (state, completed) = state();
                    match state {
                        VisitState::Draft => view! {
                            <span class="pill warn" data-testid="visit-state" data-state="draft">
                                {t!(i18n, rep.visit.draft)}
                            </span>
                        }
                            .into_any(),
                        VisitState::Completed => {
                            let when = completed.map(date_time).unwrap_or_default();
                            view! {
                                <span class="pill ok" data-testid="visit-state" data-state="completed">
                                    {move || t_string!(i18n, rep.visit.completed, date = when.clone()).to_string()}
                                </span>
                            }
                                .into_any()
                        }
                    }
                }}
                <verdict::ReviewPill />
                {move || sync().map(|sync| view! { <DocSyncPill sync /> })}
            </div>
        </header>
    }
}

/// The sections of the paper form, in its order, each with its questions.
#[component]
fn Sections(template: Memo<Option<Template>>) -> impl IntoView {
    Section::ALL
        .into_iter()
        .map(|section| {
            let questions = Memo::new(move |_| {
                template.with(|t| {
                    t.as_ref()
                        .map(|t| {
                            t.active()
                                .into_iter()
                                .filter(|q| q.section == section)
                                .cloned()
                                .collect::<Vec<Question>>()
                        })
                        .unwrap_or_default()
                })
            });
            view! { <SectionCard section questions /> }
        })
        .collect_view()
}

pub(super) fn section_key(section: Section) -> &'static str {
    match section {
        Section::Company => "company",
        Section::KeyContacts => "key_contacts",
        Section::Carnegie => "carnegie",
        Section::Cooperation => "cooperation",
        Section::Quality => "quality",
        Section::Expansion => "expansion",
        Section::NewOffers => "new_offers",
        Section::Referrals => "referrals",
    }
}

#[component]
fn SectionCard(section: Section, questions: Memo<Vec<Question>>) -> impl IntoView {
    let lang = use_lang();
    let key = section_key(section);
    // Keyed by the question as worded: a questionnaire edited by the lead (a sync brings
    // it) rebuilds only the questions it changed, never the field the rep is typing in
    // or an entry form open in another question.
    let question_key = |q: &Question| (q.id.clone(), serde_json::to_string(q).unwrap_or_default());
    view! {
        <section class="card rep-section" data-testid="section" data-section=key>
            <h2>{move || section.title(lang.get())}</h2>
            <For each=move || questions.get() key=question_key
                children=|question| view! { <answers::QuestionBlock question /> } />
            {(section == Section::NewOffers).then(|| view! { <entries::Opportunities /> })}
        </section>
    }
}

/// Completing the visit; what is missing when it cannot be completed yet.
#[component]
fn Completion() -> impl IntoView {
    let v = use_visit();
    let i18n = use_i18n();
    let lang = use_lang();
    let busy = RwSignal::new(false);
    let error = RwSignal::new(None::<ApiError>);
    let done = RwSignal::new(false);
    let complete = move |_| {
        if busy.get_untracked() {
            return;
        }
        busy.set(true);
        done.set(false);
        spawn_local(async move {
            match v.ctx.node(Request::CompleteVisit { visit_id: v.id }).await {
                Ok(Response::Visit(detail)) => {
                    v.show(*detail);
                    v.show_missing.set(false);
                    error.set(None);
                    done.set(true);
                }
                Ok(_) => error.set(Some(unexpected(i18n))),
                Err(err) => {
                    if let Some(missing) = err.missing.clone() {
                        v.detail.update(|d| {
                            if let Some(d) = d {
                                d.missing = missing;
                            }
                        });
                        v.show_missing.set(true);
                    }
                    error.set(Some(err));
                }
            }
            busy.set(false);
        });
    };
    let missing = move || {
        if !v.show_missing.get() {
            return Vec::new();
        }
        v.detail
            .with(|d| d.as_ref().map(|d| d.missing.clone()).unwrap_or_default())
    };
    let go_to = |question_id: &str| {
        if let Some(el) = document().get_element_by_id(&format!("q-{question_id}")) {
            el.scroll_into_view();
        }
    };
    view! {
        <section class="card rep-complete">
            <ErrorBox error=localized(error) />
            {move || {
                let list = missing();
                (!list.is_empty())
                    .then(|| {
                        view! {
                            <div class="notice" data-testid="missing-list">
                                <p>{t!(i18n, rep.visit.missing_title)}</p>
                                <ul>
                                    {list
                                        .into_iter()
                                        .map(|m| {
                                            let id = m.question_id.clone();
                                            let wording = m.wording.clone();
                                            view! {
                                                <li>
                                                    <button
                                                        class="button ghost rep-missing"
                                                        data-testid="missing-item"
                                                        data-question-id=m.question_id.clone()
                                                        on:click=move |_| go_to(&id)
                                                    >
                                                        {move || wording.get(lang.get()).to_owned()}
                                                    </button>
                                                </li>
                                            }
                                        })
                                        .collect_view()}
                                </ul>
                            </div>
                        }
                    })
            }}
            {move || done.get().then(|| view! { <p class="success">{t!(i18n, rep.visit.completed_now)}</p> })}
            <button class="button" data-testid="visit-complete" disabled=move || busy.get() on:click=complete>
                {move || {
                    if busy.get() {
                        t_string!(i18n, rep.visit.completing).to_string()
                    } else {
                        t_string!(i18n, rep.visit.complete).to_string()
                    }
                }}
            </button>
        </section>
    }
}

/// Whether a question is answered by entries rather than by an answer value.
fn is_entry_kind(kind: &QuestionKind) -> bool {
    matches!(kind, QuestionKind::Contacts | QuestionKind::Referrals)
}
