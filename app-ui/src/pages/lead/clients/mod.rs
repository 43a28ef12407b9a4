//! Clients: import a list (CSV or XLSX, with a dry run), add one, edit one, record the
//! original rep's relationship, and the client table with search. The import is
//! [`import`], the edit panel [`edit`].

mod edit;
mod import;

use leptos::prelude::*;
use leptos::task::spawn_local;
use rapport_api::ApiError;
use rapport_api::lead::{
    Assignment, ClientView, NewClient, Programme, RepView, ReviewState, Segment, Strength,
    VisitState,
};
use rapport_api::routes;

use super::visit::{review_class, review_text};
use super::{ExportLinks, I18n, Loaded, Success, enc, from_wire, use_pid, wire};
use crate::col;
use crate::components::{
    Actions, CardHead, Col, ErrorBox, Field, Select, keyed_table, loaded_live,
};
use crate::format::day;
use crate::state::use_ctx;
use crate::translations::i18n::*;

/// What the page keeps loaded: the client list, the programme (relationships) and reps.
#[derive(Clone, Copy)]
struct Data {
    clients: Loaded<Vec<ClientView>>,
    programme: Loaded<Programme>,
    reps: Loaded<Vec<RepView>>,
}

impl Data {
    fn reload(self) {
        self.clients.reload();
        self.programme.reload();
    }
}

/// Clients: import and editing.
#[component]
pub fn Clients() -> impl IntoView {
    let pid = use_pid();
    let data = Data {
        clients: Loaded::new(routes::clients(&pid)),
        programme: Loaded::new(routes::programme(&pid)),
        reps: Loaded::new(routes::reps(&pid)),
    };
    view! {
        <import::ImportForm data=data />
        <AddClient data=data />
        // Above the table, never below it: a table that loads (or grows) after the page
        // shows would move the buttons under a finger about to tap them.
        <ExportLinks files=&["clients.csv", "clients.xlsx", "visits.csv", "visits.xlsx"] />
        <ClientTable data=data />
    }
}

pub(crate) fn segment_text(i18n: I18n, s: Segment) -> String {
    match s {
        Segment::Corporate => t_string!(i18n, lead.clients.corporate).to_string(),
        Segment::KeyPrivate => t_string!(i18n, lead.clients.key_private).to_string(),
    }
}

fn strength_text(i18n: I18n, s: Strength) -> String {
    match s {
        Strength::Excellent => t_string!(i18n, lead.clients.excellent).to_string(),
        Strength::Good => t_string!(i18n, lead.clients.good).to_string(),
        Strength::Weak => t_string!(i18n, lead.clients.weak).to_string(),
        Strength::Unknown => t_string!(i18n, lead.clients.unknown).to_string(),
    }
}

fn visit_text(i18n: I18n, s: Option<VisitState>) -> String {
    match s {
        Some(VisitState::Completed) => t_string!(i18n, lead.clients.visit_completed).to_string(),
        Some(VisitState::Draft) => t_string!(i18n, lead.clients.visit_draft).to_string(),
        None => t_string!(i18n, lead.clients.visit_none).to_string(),
    }
}

/// The segment select's options.
fn segment_options(i18n: I18n) -> impl IntoView {
    [Segment::Corporate, Segment::KeyPrivate]
        .into_iter()
        .map(|s| view! { <option value=wire(&s)>{move || segment_text(i18n, s)}</option> })
        .collect_view()
}

// --- Add ----------------------------------------------------------------------

#[component]
fn AddClient(data: Data) -> impl IntoView {
    let ctx = use_ctx();
    let i18n = use_i18n();
    let pid = StoredValue::new(use_pid());
    let open = RwSignal::new(false);
    let company = RwSignal::new(String::new());
    let segment = RwSignal::new(wire(&Segment::Corporate));
    let notes = RwSignal::new(String::new());
    let contact = RwSignal::new(String::new());
    let error = RwSignal::new(None::<ApiError>);
    let done = RwSignal::new(None::<String>);
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let name = company.get_untracked().trim().to_owned();
        let contact_name = contact.get_untracked().trim().to_owned();
        let body = NewClient {
            company: name.clone(),
            segment: from_wire(&segment.get_untracked()).unwrap_or(Segment::Corporate),
            original_rep: None,
            relationship: None,
            monopolised: false,
            contact: (!contact_name.is_empty()).then(|| rapport_api::lead::ContactBody {
                name: contact_name,
                ..Default::default()
            }),
            notes: notes.get_untracked(),
        };
        error.set(None);
        let route = routes::create_client(&pid.get_value());
        spawn_local(async move {
            match ctx.send(route, &body).await {
                Ok(_) => {
                    done.set(Some(
                        t_string!(i18n, lead.clients.added, company = name).to_string(),
                    ));
                    company.set(String::new());
                    notes.set(String::new());
                    contact.set(String::new());
                    open.set(false);
                    data.reload();
                }
                Err(err) => error.set(Some(err)),
            }
        });
    };
    view! {
        <section class="card">
            <CardHead title=move || t_string!(i18n, lead.clients.title).to_string() testid="client-add"
                label=move || t_string!(i18n, lead.clients.add).to_string() open=open on_toggle=move |()| done.set(None) />
            <Success text=done />
            <Show when=move || open.get()>
                <form on:submit=submit class="form-grid">
                    <Field id="client-company" value=company required=true>{t!(i18n, lead.clients.company)}</Field>
                    <Select id="client-segment" value=segment options=move || segment_options(i18n)>
                        {t!(i18n, lead.clients.segment)}
                    </Select>
                    <Field id="client-contact" value=contact>{t!(i18n, lead.clients.contact)}</Field>
                    <Field id="client-notes" value=notes kind="textarea" class="wide">{t!(i18n, lead.clients.notes)}</Field>
                    <ErrorBox error=error />
                    <Actions testid="client-save" cancel=move |()| open.set(false) />
                </form>
            </Show>
        </section>
    }
}

// --- Table and editing ----------------------------------------------------------

#[component]
fn ClientTable(data: Data) -> impl IntoView {
    let i18n = use_i18n();
    let search = RwSignal::new(String::new());
    // Keyed by client id: a reload, a search or a change of relationships keeps an open
    // edit panel (and what is typed in it) on the rows still shown.
    let rows = move |list: Signal<Vec<ClientView>>| {
        let shown = Memo::new(move |_| {
            let needle = search.get().trim().to_lowercase();
            let assignments = data.programme.data.with(|p| {
                p.as_ref()
                    .map(|p| p.assignments.clone())
                    .unwrap_or_default()
            });
            list.with(|list| {
                list.iter()
                    .filter(|c| {
                        needle.is_empty()
                            || c.company.to_lowercase().contains(&needle)
                            || c.current_rep_name
                                .as_deref()
                                .is_some_and(|n| n.to_lowercase().contains(&needle))
                    })
                    .map(|c| (c.clone(), assignments.get(&c.id).cloned()))
                    .collect::<Vec<_>>()
            })
        });
        let cols = vec![
            col!(i18n, lead.clients.company),
            col!(i18n, lead.clients.segment),
            col!(i18n, lead.clients.current_rep),
            col!(i18n, lead.clients.relationship),
            col!(i18n, lead.clients.visit),
            col!(i18n, lead.clients.next_meeting),
            Col::blank(),
        ];
        keyed_table(
            cols,
            shown.into(),
            |(c, _): &Shown| c.id.clone(),
            move |row| view! { <ClientRow row data /> },
            t!(i18n, lead.clients.none),
            Some("clients-empty"),
        )
    };
    view! {
        <section class="card">
            <label for="client-search">{t!(i18n, lead.clients.search)}</label>
            <input id="client-search" type="search" data-testid="client-search"
                placeholder=move || t_string!(i18n, lead.clients.search_placeholder).to_string()
                prop:value=move || search.get() on:input=move |ev| search.set(event_target_value(&ev)) />
            {loaded_live(data.clients, rows)}
        </section>
    }
}

/// A client as its row shows it: the client and the original rep's relationship.
type Shown = (ClientView, Option<Assignment>);

#[component]
fn ClientRow(row: Signal<Shown>, data: Data) -> impl IntoView {
    let i18n = use_i18n();
    let pid = StoredValue::new(use_pid());
    let editing = RwSignal::new(false);
    let id = row.with_untracked(|(c, _)| c.id.clone());
    let relationship = move || {
        row.with(|(_, a)| {
            a.as_ref().map_or_else(
                || "—".to_owned(),
                |a| {
                    let mut text = strength_text(i18n, a.strength);
                    if a.monopolised {
                        text.push_str(" · ");
                        text.push_str(t_string!(i18n, lead.clients.monopolised_short));
                    }
                    text
                },
            )
        })
    };
    let visit = move || {
        row.with(|(c, _)| match &c.last_visit_date {
            Some(d) => format!("{} · {}", visit_text(i18n, c.last_visit_state), day(d)),
            None => visit_text(i18n, c.last_visit_state),
        })
    };
    view! {
        <tr data-testid="client-row" data-client-id=id>
            <td><strong>{move || row.with(|(c, _)| c.company.clone())}</strong></td>
            <td>{move || segment_text(i18n, row.with(|(c, _)| c.segment))}</td>
            <td>{move || row.with(|(c, _)| c.current_rep_name.clone().unwrap_or_else(|| "—".into()))}</td>
            <td>{relationship}</td>
            <td data-testid="client-visit"
                data-state=move || row.with(|(c, _)| c.last_visit_state.map(|s| wire(&s)).unwrap_or_default())>
                {visit}
                {move || row.with(|(c, _)| {
                    let review = c.last_visit_review?;
                    let visit_id = c.last_visit_id.clone()?;
                    let href = format!("/lead/{}/visits/{}", enc(&pid.get_value()), enc(&visit_id));
                    let words = if review == ReviewState::AwaitingReview {
                        t_string!(i18n, lead.clients.review_check).to_string()
                    } else {
                        t_string!(i18n, lead.clients.review_open).to_string()
                    };
                    Some(view! {
                        " " <span class=review_class(review) data-testid="client-review" data-state=review.as_str()>
                            {move || review_text(i18n, review)}
                        </span>
                        " " <a class="button ghost small" data-testid="client-open-visit" href=href>{words}</a>
                    })
                })}
            </td>
            <td data-testid="client-next-meeting">
                {move || row.with(|(c, _)| c.next_meeting.as_deref().map(crate::format::when))}
            </td>
            <td>
                <button class="button ghost" data-testid="client-edit" aria-expanded=move || editing.get().to_string()
                    on:click=move |_| editing.update(|e| *e = !*e)>
                    {t!(i18n, lead.clients.edit)}
                </button>
            </td>
        </tr>
        // Built each time it opens, from the row as it is then; not rebuilt while open.
        <Show when=move || editing.get()>
            {
                let (client, assignment) = row.get_untracked();
                view! {
                    <tr class="edit-row">
                        <td colspan="6">
                            <edit::EditClient client assignment data editing />
                        </td>
                    </tr>
                }
            }
        </Show>
    }
}
