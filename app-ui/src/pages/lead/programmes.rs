//! The lead's programmes: the list, and a form for a new one.

use leptos::prelude::*;
use leptos::task::spawn_local;
use leptos_router::hooks::use_navigate;
use rapport_api::ApiError;
use rapport_api::lead::{NewProgramme, ProgrammeSummary};
use rapport_api::routes;

use super::{Loaded, RequireSession, SessionBar, enc};
use crate::col;
use crate::components::{ErrorBox, Field, loaded, table};
use crate::format::{day, today_iso};
use crate::state::use_ctx;
use crate::translations::i18n::*;

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
    let list = Loaded::new(routes::programmes());
    let rows = move |items: Vec<ProgrammeSummary>| {
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
            .collect();
        let cols = vec![
            col!(i18n, lead.programmes.name),
            col!(i18n, lead.programmes.period),
            col!(i18n, num lead.programmes.clients),
            col!(i18n, num lead.programmes.reps),
        ];
        table(
            cols,
            rows,
            t!(i18n, lead.programmes.empty),
            Some("programmes-empty"),
        )
    };
    view! {
        <div class="row lead-head">
            <h1>{t!(i18n, lead.programmes.title)}</h1>
            <span class="spacer"></span>
            <SessionBar />
        </div>
        <section class="card" data-testid="programmes">
            {loaded(list, rows)}
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
            let reply = ctx.send(routes::create_programme(), &body).await;
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
                <Field id="programme-name" testid="programme-name-input" value=name required=true
                    placeholder=move || t_string!(i18n, lead.programmes.name_placeholder).to_string()>
                    {t!(i18n, lead.programmes.name)}
                </Field>
                <Field id="programme-start" value=start required=true kind="date">{t!(i18n, lead.programmes.start)}</Field>
                <Field id="programme-end" value=end required=true kind="date">{t!(i18n, lead.programmes.end)}</Field>
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
