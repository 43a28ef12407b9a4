//! The lead's programmes: the list, and a form for a new one.

use leptos::prelude::*;
use leptos::task::spawn_local;
use leptos_router::hooks::use_navigate;
use rapport_api::ApiError;
use rapport_api::lead::{NewProgramme, Programme, ProgrammeSummary};

use super::{Loaded, RequireSession, SessionBar, enc};
use crate::components::{ErrorBox, Loading};
use crate::format::{day, today_iso};
use crate::i18n::*;
use crate::state::use_ctx;

/// The lead's programmes.
#[component]
pub fn Programmes() -> impl IntoView {
    view! {
        <RequireSession>
            <ProgrammesBody />
        </RequireSession>
    }
}

#[component]
fn ProgrammesBody() -> impl IntoView {
    let i18n = use_i18n();
    let list = Loaded::<Vec<ProgrammeSummary>>::new("/api/v1/programmes".into());
    let rows = move || {
        list.data.get().map(|items| {
            if items.is_empty() {
                return view! { <p class="muted" data-testid="programmes-empty">{t!(i18n, lead.programmes.empty)}</p> }
                    .into_any();
            }
            let rows = items
                .into_iter()
                .map(|p| {
                    let href = format!("/lead/{}", enc(&p.id));
                    view! {
                        <tr data-testid="programme-row" data-programme-id=p.id.clone()>
                            <td>
                                <a class="button ghost" href=href data-testid="programme-open">{p.name}</a>
                            </td>
                            <td>{day(&p.start)} " – " {day(&p.end)}</td>
                            <td class="num">{p.clients}</td>
                            <td class="num">{p.reps}</td>
                        </tr>
                    }
                })
                .collect_view();
            view! {
                <div class="table-wrap">
                    <table>
                        <thead>
                            <tr>
                                <th>{t!(i18n, lead.programmes.name)}</th>
                                <th>{t!(i18n, lead.programmes.period)}</th>
                                <th class="num">{t!(i18n, lead.programmes.clients)}</th>
                                <th class="num">{t!(i18n, lead.programmes.reps)}</th>
                            </tr>
                        </thead>
                        <tbody>{rows}</tbody>
                    </table>
                </div>
            }
            .into_any()
        })
    };
    view! {
        <div class="row lead-head">
            <h1>{t!(i18n, lead.programmes.title)}</h1>
            <span class="spacer"></span>
            <SessionBar />
        </div>
        <section class="card" data-testid="programmes">
            <ErrorBox error=list.error />
            <Show when=move || list.data.with(Option::is_some) fallback=|| view! { <Loading /> }>
                {rows}
            </Show>
        </section>
        <NewProgrammeForm />
    }
}

#[component]
fn NewProgrammeForm() -> impl IntoView {
    let ctx = use_ctx();
    let i18n = use_i18n();
    let navigate = use_navigate();
    let name = RwSignal::new(String::new());
    // Most programmes start when they are set up.
    let start = RwSignal::new(today_iso());
    let end = RwSignal::new(String::new());
    let error = RwSignal::new(None::<ApiError>);
    let busy = RwSignal::new(false);
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let body = NewProgramme {
            name: name.get_untracked().trim().to_owned(),
            start: start.get_untracked(),
            end: end.get_untracked(),
        };
        busy.set(true);
        error.set(None);
        let navigate = navigate.clone();
        spawn_local(async move {
            let reply = ctx
                .lead::<Programme>("POST", "/api/v1/programmes", Some(&body))
                .await;
            busy.set(false);
            match reply {
                Ok(p) => navigate(
                    &format!("/lead/{}", enc(&p.id.to_string())),
                    Default::default(),
                ),
                Err(err) => error.set(Some(err)),
            }
        });
    };
    view! {
        <section class="card">
            <h2>{t!(i18n, lead.programmes.new_title)}</h2>
            <form on:submit=submit class="form-grid">
                <div>
                    <label for="programme-name">{t!(i18n, lead.programmes.name)}</label>
                    <input
                        id="programme-name"
                        type="text"
                        data-testid="programme-name-input"
                        required
                        placeholder=move || t_string!(i18n, lead.programmes.name_placeholder).to_string()
                        prop:value=move || name.get()
                        on:input=move |ev| name.set(event_target_value(&ev))
                    />
                </div>
                <div>
                    <label for="programme-start">{t!(i18n, lead.programmes.start)}</label>
                    <input
                        id="programme-start"
                        type="date"
                        data-testid="programme-start"
                        required
                        prop:value=move || start.get()
                        on:input=move |ev| start.set(event_target_value(&ev))
                    />
                </div>
                <div>
                    <label for="programme-end">{t!(i18n, lead.programmes.end)}</label>
                    <input
                        id="programme-end"
                        type="date"
                        data-testid="programme-end"
                        required
                        prop:value=move || end.get()
                        on:input=move |ev| end.set(event_target_value(&ev))
                    />
                </div>
                <ErrorBox error=error />
                <div class="row form-actions">
                    <button class="button" type="submit" data-testid="programme-create" disabled=move || busy.get()>
                        {t!(i18n, lead.programmes.create)}
                    </button>
                </div>
            </form>
        </section>
    }
}
