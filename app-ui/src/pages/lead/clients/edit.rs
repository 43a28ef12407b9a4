//! A client's edit panel: company, segment and notes; and the original rep's
//! relationship with the client (who knew them, how well, whether they keep them).

use leptos::prelude::*;
use leptos::task::spawn_local;
use rapport_api::ApiError;
use rapport_api::lead::{Assignment, ClientEdit, ClientView, Relationship, Strength};
use rapport_api::routes;

use super::super::{Success, from_wire, use_pid, wire};
use super::{Data, segment_options, strength_text};
use crate::components::{Actions, Check, ErrorBox, Field, Select};
use crate::state::use_ctx;
use crate::translations::i18n::*;

#[component]
pub(super) fn EditClient(
    client: ClientView,
    assignment: Option<Assignment>,
    data: Data,
    editing: RwSignal<bool>,
) -> impl IntoView {
    let ctx = use_ctx();
    let i18n = use_i18n();
    let pid = StoredValue::new(use_pid());
    let id = StoredValue::new(client.id.clone());
    let company = RwSignal::new(client.company.clone());
    let segment = RwSignal::new(wire(&client.segment));
    let notes = RwSignal::new(String::new());
    let original = RwSignal::new(
        assignment
            .as_ref()
            .and_then(|a| a.original_rep.clone())
            .or(client.original_rep.clone())
            .unwrap_or_default(),
    );
    let strength = RwSignal::new(wire(
        &assignment
            .as_ref()
            .map_or(Strength::Unknown, |a| a.strength),
    ));
    let monopolised = RwSignal::new(assignment.as_ref().is_some_and(|a| a.monopolised));
    let error = RwSignal::new(None::<ApiError>);
    let done = RwSignal::new(None::<String>);

    let save = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let typed_notes = notes.get_untracked();
        let body = ClientEdit {
            company: Some(company.get_untracked().trim().to_owned()),
            segment: from_wire(&segment.get_untracked()),
            // Empty means "leave the notes as they are": the list does not show them.
            notes: (!typed_notes.trim().is_empty()).then_some(typed_notes),
        };
        error.set(None);
        let route = routes::edit_client(&pid.get_value(), &id.get_value());
        spawn_local(async move {
            match ctx.send(route, &body).await {
                Ok(_) => {
                    editing.set(false);
                    data.reload();
                }
                Err(err) => error.set(Some(err)),
            }
        });
    };
    let save_relationship = move |_| {
        let rep = original.get_untracked();
        let body = Relationship {
            original_rep: (!rep.is_empty()).then_some(rep),
            strength: from_wire(&strength.get_untracked()).unwrap_or(Strength::Unknown),
            monopolised: monopolised.get_untracked(),
        };
        error.set(None);
        let route = routes::set_relationship(&pid.get_value(), &id.get_value());
        spawn_local(async move {
            match ctx.send(route, &body).await {
                Ok(_) => {
                    done.set(Some(
                        t_string!(i18n, lead.clients.relationship_saved).to_string(),
                    ));
                    data.reload();
                }
                Err(err) => error.set(Some(err)),
            }
        });
    };
    let rep_options = move || {
        let current = original.get_untracked();
        let reps = data
            .reps
            .data
            .get()
            .unwrap_or_default()
            .into_iter()
            .map(|r| {
                let selected = r.id == current;
                view! { <option value=r.id.clone() selected=selected>{r.name}</option> }
            });
        view! {
            <option value="">{t!(i18n, lead.clients.no_original)}</option>
            {reps.collect_view()}
        }
    };
    let strength_options = move || {
        [
            Strength::Excellent,
            Strength::Good,
            Strength::Weak,
            Strength::Unknown,
        ]
        .into_iter()
        .map(|s| view! { <option value=wire(&s)>{move || strength_text(i18n, s)}</option> })
        .collect_view()
    };
    view! {
        <div class="edit-panel">
            <form on:submit=save class="form-grid">
                <Field id="edit-company" testid="client-edit-company" value=company required=true>
                    {t!(i18n, lead.clients.company)}
                </Field>
                <Select id="edit-segment" testid="client-edit-segment" value=segment options=move || segment_options(i18n)>
                    {t!(i18n, lead.clients.segment)}
                </Select>
                <Field id="edit-notes" testid="client-edit-notes" value=notes kind="textarea" class="wide">
                    {t!(i18n, lead.clients.notes)}
                    <span class="hint">{t!(i18n, lead.clients.notes_hint)}</span>
                </Field>
                <Actions testid="client-edit-save" cancel=move |()| editing.set(false) />
            </form>
            <h3>{t!(i18n, lead.clients.relationship_title)}</h3>
            <div class="form-grid">
                <Select id="edit-original" testid="relationship-rep" value=original options=rep_options>
                    {t!(i18n, lead.clients.original_rep)}
                </Select>
                <Select id="edit-strength" testid="relationship-strength" value=strength options=strength_options>
                    {t!(i18n, lead.clients.relationship)}
                </Select>
                <div>
                    <Check testid="relationship-monopolised" value=monopolised>{t!(i18n, lead.clients.monopolised)}</Check>
                </div>
            </div>
            <div class="row form-actions">
                <button class="button" type="button" data-testid="relationship-save" on:click=save_relationship>
                    {t!(i18n, lead.clients.relationship_save)}
                </button>
            </div>
            <ErrorBox error=error />
            <Success text=done />
        </div>
    }
}
