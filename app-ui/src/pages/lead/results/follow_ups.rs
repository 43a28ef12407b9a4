//! The follow-ups of all visits: filtered by state and owner (overdue ones on
//! request), each with its owner, due date and state to change in place.

use leptos::prelude::*;
use leptos::task::spawn_local;
use rapport_api::ApiError;
use rapport_api::lead::{FollowUpFilter, FollowUpPatch, FollowUpState, FollowUpView};
use rapport_api::routes;

use super::super::{ExportLinks, I18n, Loaded, from_wire, use_pid, wire};
use crate::col;
use crate::components::{Check, DateInput, ErrorBox, Field, keyed_table, loaded_live};
use crate::state::use_ctx;
use crate::translations::i18n::*;

fn state_text(i18n: I18n, s: FollowUpState) -> String {
    match s {
        FollowUpState::Open => t_string!(i18n, lead.follow_ups.open).to_string(),
        FollowUpState::InProgress => t_string!(i18n, lead.follow_ups.in_progress).to_string(),
        FollowUpState::Done => t_string!(i18n, lead.follow_ups.done).to_string(),
    }
}

const STATES: [FollowUpState; 3] = [
    FollowUpState::Open,
    FollowUpState::InProgress,
    FollowUpState::Done,
];

/// Follow-ups.
#[component]
pub fn FollowUps() -> impl IntoView {
    let i18n = use_i18n();
    let pid = StoredValue::new(use_pid());
    let list = Loaded::new(routes::follow_ups(
        &pid.get_value(),
        &FollowUpFilter::default(),
    ));
    let state = RwSignal::new(String::new());
    let owner = RwSignal::new(String::new());
    let overdue_only = RwSignal::new(false);
    let apply = move || {
        let o = owner.get_untracked().trim().to_owned();
        let filter = FollowUpFilter {
            state: from_wire(&state.get_untracked()),
            owner: (!o.is_empty()).then_some(o),
        };
        list.load(routes::follow_ups(&pid.get_value(), &filter));
    };
    // Keyed by follow-up: changing one row's state reloads the list without losing
    // an owner or due date typed but not yet saved in another row.
    let rows = move |items: Signal<Vec<FollowUpView>>| {
        let shown = Memo::new(move |_| {
            let only_overdue = overdue_only.get();
            items.with(|items| {
                items
                    .iter()
                    .filter(|f| !only_overdue || f.overdue)
                    .cloned()
                    .collect::<Vec<_>>()
            })
        });
        let cols = vec![
            col!(i18n, lead.follow_ups.client),
            col!(i18n, lead.follow_ups.what),
            col!(i18n, lead.follow_ups.owner),
            col!(i18n, lead.follow_ups.due),
            col!(i18n, lead.follow_ups.state),
        ];
        keyed_table(
            cols,
            shown.into(),
            |f: &FollowUpView| (f.visit_id.clone(), f.id.clone()),
            move |item| view! { <FollowUpRow item list /> },
            t!(i18n, lead.follow_ups.none),
            None,
        )
    };
    // The export buttons above the list, which loads after them (see `Clients`).
    view! {
        <ExportLinks files=&["follow-ups.csv", "follow-ups.xlsx"] />
        <section class="card">
            <h2>{t!(i18n, lead.follow_ups.title)}</h2>
            <form class="form-grid filters" on:submit=move |ev: leptos::ev::SubmitEvent| { ev.prevent_default(); apply(); }>
                <div>
                    <label for="filter-state">{t!(i18n, lead.follow_ups.state)}</label>
                    <select id="filter-state" data-testid="filter-state" prop:value=move || state.get()
                        on:change=move |ev| { state.set(event_target_value(&ev)); apply(); }>
                        <option value="">{t!(i18n, lead.follow_ups.all)}</option>
                        {STATES.into_iter().map(|s| view! { <option value=wire(&s)>{move || state_text(i18n, s)}</option> }).collect_view()}
                    </select>
                </div>
                <Field id="filter-owner" value=owner kind="search">{t!(i18n, lead.follow_ups.owner)}</Field>
                <div>
                    <Check testid="filter-overdue" value=overdue_only>{t!(i18n, lead.follow_ups.overdue_only)}</Check>
                </div>
                <div class="row form-actions">
                    <button class="button ghost" type="submit" data-testid="filter-apply">{t!(i18n, lead.follow_ups.apply)}</button>
                </div>
            </form>
            {loaded_live(list, rows)}
        </section>
    }
}

#[component]
fn FollowUpRow(item: Signal<FollowUpView>, list: Loaded<Vec<FollowUpView>>) -> impl IntoView {
    let ctx = use_ctx();
    let i18n = use_i18n();
    let pid = StoredValue::new(use_pid());
    let first = item.get_untracked();
    let ids = StoredValue::new((first.visit_id.clone(), first.id.clone()));
    let owner = RwSignal::new(first.owner.clone());
    let due = RwSignal::new(first.due.clone().unwrap_or_default());
    // What is typed stays until the saved value itself changes.
    let saved_owner = Memo::new(move |_| item.with(|f| f.owner.clone()));
    let saved_due = Memo::new(move |_| item.with(|f| f.due.clone().unwrap_or_default()));
    Effect::watch(
        move || saved_owner.get(),
        move |o, _, _| owner.set(o.clone()),
        false,
    );
    Effect::watch(
        move || saved_due.get(),
        move |d, _, _| due.set(d.clone()),
        false,
    );
    let error = RwSignal::new(None::<ApiError>);
    let patch = move |body: FollowUpPatch| {
        error.set(None);
        let route =
            ids.with_value(|(visit, id)| routes::patch_follow_up(&pid.get_value(), visit, id));
        spawn_local(async move {
            match ctx.send(route, &body).await {
                Ok(_) => list.reload(),
                Err(err) => error.set(Some(err)),
            }
        });
    };
    let save = move |_| {
        let d = due.get_untracked();
        patch(FollowUpPatch {
            state: None,
            owner: Some(owner.get_untracked().trim().to_owned()),
            due: (!d.is_empty()).then_some(d),
        });
    };
    let current = move || item.with(|f| wire(&f.state));
    let overdue = move || item.with(|f| f.overdue);
    let options = STATES
        .into_iter()
        .map(|s| {
            let selected = move || wire(&s) == current();
            view! { <option value=wire(&s) prop:selected=selected>{move || state_text(i18n, s)}</option> }
        })
        .collect_view();
    let uid = format!("{}-{}", first.visit_id, first.id);
    view! {
        <tr data-testid="follow-up-row" data-follow-up-id=first.id.clone() data-state=current
            data-overdue=move || overdue().to_string()>
            <td><strong>{move || item.with(|f| f.client_company.clone())}</strong></td>
            <td>
                {move || item.with(|f| f.description.clone())}
                {move || overdue().then(|| view! { " " <span class="pill bad">{t!(i18n, lead.follow_ups.overdue)}</span> })}
            </td>
            <td>
                <label class="sr-only" for=format!("owner-{uid}")>{t!(i18n, lead.follow_ups.owner)}</label>
                <input id=format!("owner-{uid}") type="text" data-testid="follow-up-owner"
                    prop:value=move || owner.get() on:input=move |ev| owner.set(event_target_value(&ev)) />
            </td>
            <td>
                <label class="sr-only" for=format!("due-{uid}")>{t!(i18n, lead.follow_ups.due)}</label>
                <DateInput id=Some(format!("due-{uid}")) testid=Some("follow-up-due".to_string()) value=due />
                <button class="button small" data-testid="follow-up-save" on:click=save>{t!(i18n, common.save)}</button>
            </td>
            <td>
                <label class="sr-only" for=format!("state-{uid}")>{t!(i18n, lead.follow_ups.state)}</label>
                <select id=format!("state-{uid}") data-testid="follow-up-state"
                    on:change=move |ev| patch(FollowUpPatch {
                        state: from_wire(&event_target_value(&ev)),
                        ..Default::default()
                    })>
                    {options}
                </select>
                <ErrorBox error=error />
            </td>
        </tr>
    }
}
