//! Assignments: the suggested split of clients between reps with its reasons and the
//! reps' loads; apply it whole, or give one client to another rep by hand.

use std::collections::BTreeMap;

use leptos::prelude::*;
use leptos::task::spawn_local;
use rapport_api::lead::{Override, RepView, SuggestionRow, SuggestionView};
use rapport_api::routes;
use rapport_api::{ApiError, Lang};

use super::{Loaded, Success, use_pid};
use crate::col;
use crate::components::{ErrorBox, keyed_table, loaded, table};
use crate::state::{use_ctx, use_lang};
use crate::translations::i18n::*;

/// The assignment suggestion.
#[component]
pub fn Assignments() -> impl IntoView {
    let ctx = use_ctx();
    let i18n = use_i18n();
    let pid = StoredValue::new(use_pid());
    let suggestion = Loaded::new(routes::suggestion(&pid.get_value()));
    let reps = Loaded::new(routes::reps(&pid.get_value()));
    let done = RwSignal::new(None::<String>);
    let error = RwSignal::new(None::<ApiError>);
    let busy = RwSignal::new(false);
    let apply = move |_| {
        busy.set(true);
        error.set(None);
        done.set(None);
        let route = routes::apply_suggestion(&pid.get_value());
        spawn_local(async move {
            match ctx.fetch(route).await {
                Ok(_) => {
                    done.set(Some(t_string!(i18n, lead.assignments.applied).to_string()));
                    suggestion.reload();
                    reps.reload();
                }
                Err(err) => error.set(Some(err)),
            }
            busy.set(false);
        });
    };
    let names = Memo::new(move |_| {
        reps.data
            .get()
            .unwrap_or_default()
            .into_iter()
            .map(|r| (r.id, r.name))
            .collect::<BTreeMap<String, String>>()
    });
    let changes = move || {
        suggestion.data.with(|s| {
            s.as_ref()
                .map_or(0, |s| s.assignments.iter().filter(|r| r.changes).count())
        })
    };
    view! {
        <section class="card">
            <h2>{t!(i18n, lead.assignments.title)}</h2>
            <p class="muted">{t!(i18n, lead.assignments.intro)}</p>
            <div class="row">
                <button class="button" data-testid="apply-suggestion" disabled=move || busy.get() on:click=apply>
                    {t!(i18n, lead.assignments.apply)}
                </button>
                <span class="muted" data-testid="suggestion-changes" data-value=move || changes().to_string()>
                    {move || t_string!(i18n, lead.assignments.changes, count = changes()).to_string()}
                </span>
            </div>
            <ErrorBox error=error />
            <Success text=done />
        </section>
        {loaded(suggestion, move |s: SuggestionView| view! { <Loads loads=s.loads names=names /> })}
        <Show when=move || suggestion.data.with(Option::is_some)>
            <SuggestionTable reps names suggestion done />
        </Show>
    }
}

#[component]
fn Loads(
    loads: BTreeMap<String, rapport_api::lead::RepLoad>,
    names: Memo<BTreeMap<String, String>>,
) -> impl IntoView {
    let i18n = use_i18n();
    let rows = loads
        .into_iter()
        .map(|(id, load)| {
            let name = move || names.with(|n| n.get(&id).cloned().unwrap_or_else(|| id.clone()));
            view! {
                <tr data-testid="rep-load">
                    <td>{name}</td>
                    <td class="num">{load.clients}</td>
                    <td class="num">{load.capacity_percent} " %"</td>
                </tr>
            }
        })
        .collect();
    let cols = vec![
        col!(i18n, lead.assignments.rep),
        col!(i18n, num lead.assignments.clients),
        col!(i18n, num lead.assignments.capacity),
    ];
    view! {
        <section class="card">
            <h2>{t!(i18n, lead.assignments.loads)}</h2>
            {table(cols, rows, "", None)}
        </section>
    }
}

/// The suggested assignments, keyed by client: saving one override reloads the
/// suggestion, and every other row follows it without losing a reason typed there or a
/// rep chosen.
#[component]
fn SuggestionTable(
    reps: Loaded<Vec<RepView>>,
    names: Memo<BTreeMap<String, String>>,
    suggestion: Loaded<SuggestionView>,
    done: RwSignal<Option<String>>,
) -> impl IntoView {
    let i18n = use_i18n();
    let rows: Signal<Vec<SuggestionRow>> = Memo::new(move |_| {
        suggestion.data.with(|s| {
            s.as_ref()
                .map(|s| s.assignments.clone())
                .unwrap_or_default()
        })
    })
    .into();
    let table = move || {
        let cols = vec![
            col!(i18n, lead.assignments.client),
            col!(i18n, lead.assignments.current),
            col!(i18n, lead.assignments.suggested),
            col!(i18n, lead.assignments.reason),
            col!(i18n, lead.assignments.override_title),
        ];
        keyed_table(
            cols,
            rows,
            |r: &SuggestionRow| r.client_id.clone(),
            move |row| view! { <SuggestionLine row reps names suggestion done /> },
            "",
            None,
        )
    };
    view! {
        <Show
            when=move || rows.with(|r| !r.is_empty())
            fallback=move || view! { <p class="card muted">{t!(i18n, lead.assignments.empty)}</p> }
        >
            <section class="card">{table()}</section>
        </Show>
    }
}

#[component]
fn SuggestionLine(
    row: Signal<SuggestionRow>,
    reps: Loaded<Vec<RepView>>,
    names: Memo<BTreeMap<String, String>>,
    suggestion: Loaded<SuggestionView>,
    done: RwSignal<Option<String>>,
) -> impl IntoView {
    let ctx = use_ctx();
    let i18n = use_i18n();
    let lang = use_lang();
    let pid = StoredValue::new(use_pid());
    let (client_id, suggested) = row.with_untracked(|r| (r.client_id.clone(), r.rep_id.clone()));
    let client = StoredValue::new(client_id.clone());
    let rep = RwSignal::new(suggested);
    // A new suggestion moves the choice with it, unless the lead chose another rep.
    Effect::watch(
        move || row.with(|r| r.rep_id.clone()),
        move |now, before, _| {
            if before.is_some_and(|before| rep.with_untracked(|r| r == before)) {
                rep.set(now.clone());
            }
        },
        false,
    );
    let reason = RwSignal::new(String::new());
    let error = RwSignal::new(None::<ApiError>);
    let missing = RwSignal::new(false);
    let save = move |_| {
        let note = reason.get_untracked().trim().to_owned();
        if note.is_empty() {
            missing.set(true);
            return;
        }
        missing.set(false);
        error.set(None);
        let body = Override {
            rep_id: rep.get_untracked(),
            reason: note,
        };
        let route = routes::override_assignment(&pid.get_value(), &client.get_value());
        spawn_local(async move {
            match ctx.send(route, &body).await {
                Ok(_) => {
                    let rep_name = names
                        .with_untracked(|n| n.get(&body.rep_id).cloned())
                        .unwrap_or(body.rep_id);
                    done.set(Some(
                        t_string!(
                            i18n,
                            lead.assignments.overridden,
                            company = row.with_untracked(|r| r.company.clone()),
                            rep = rep_name
                        )
                        .to_string(),
                    ));
                    reason.set(String::new());
                    suggestion.reload();
                    reps.reload();
                }
                Err(err) => error.set(Some(err)),
            }
        });
    };
    let current = move || {
        row.with(|r| r.current_rep.clone())
            .map(|id| names.with(|n| n.get(&id).cloned()).unwrap_or(id))
            .unwrap_or_else(|| "—".into())
    };
    let reason_text = move || {
        row.with(|r| match lang.get() {
            Lang::Ru => r.reason_ru.clone(),
            Lang::En => r.reason_en.clone(),
        })
    };
    let options = move || {
        reps.data
            .get()
            .unwrap_or_default()
            .into_iter()
            .filter(|r| r.active)
            .map(|r| {
                let id = r.id.clone();
                let selected = move || rep.with(|chosen| *chosen == id);
                view! { <option value=r.id.clone() prop:selected=selected>{r.name}</option> }
            })
            .collect_view()
    };
    let reason_id = format!("override-reason-{client_id}");
    let rep_id = format!("override-rep-{client_id}");
    let changes = move || row.with(|r| r.changes);
    view! {
        <tr data-testid="suggestion-row" data-client-id=client_id data-rep-id=move || row.with(|r| r.rep_id.clone())
            data-changes=move || changes().to_string() class:changes=changes>
            <td><strong>{move || row.with(|r| r.company.clone())}</strong></td>
            <td>{current}</td>
            <td data-testid="suggested-rep">{move || row.with(|r| r.rep_name.clone())}</td>
            <td class="reason">{reason_text}</td>
            <td class="override">
                <label class="sr-only" for=rep_id.clone()>{t!(i18n, lead.assignments.rep)}</label>
                <select id=rep_id data-testid="override-rep" prop:value=move || rep.get()
                    on:change=move |ev| rep.set(event_target_value(&ev))>
                    {options}
                </select>
                <label class="sr-only" for=reason_id.clone()>{t!(i18n, lead.assignments.override_reason)}</label>
                <input id=reason_id type="text" data-testid="override-reason" required
                    class:invalid=move || missing.get()
                    placeholder=move || t_string!(i18n, lead.assignments.override_reason).to_string()
                    prop:value=move || reason.get()
                    on:input=move |ev| reason.set(event_target_value(&ev)) />
                {move || missing.get().then(|| view! {
                    <p class="field-error" role="alert">{t!(i18n, lead.assignments.reason_required)}</p>
                })}
                <button class="button small" data-testid="override-save" on:click=save>
                    {t!(i18n, lead.assignments.override_save)}
                </button>
                <ErrorBox error=error />
            </td>
        </tr>
    }
}
