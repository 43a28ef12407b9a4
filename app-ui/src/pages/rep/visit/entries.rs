//! The lists a visit collects: key contacts, referrals, sales opportunities and
//! follow-ups, each with a form to add (or change) an entry.

use leptos::prelude::*;
use leptos::task::spawn_local;
use rapport_api::{
    ApiError, ContactInput, FollowUpState, OpportunityInput, ReferralInput, VisitEdit,
};
use rapport_domain::OpportunityKind;

use super::{VisitCtx, use_visit};
use crate::components::ErrorBox;
use crate::format::{amount, day};
use crate::i18n::*;
use crate::pages::rep::localized;

/// Sends an entry edit; on success closes the form and shows the visit again.
fn save_entry(
    v: VisitCtx,
    edit: VisitEdit,
    error: RwSignal<Option<ApiError>>,
    on_saved: impl FnOnce() + 'static,
) {
    spawn_local(async move {
        match v.edit(edit).await {
            Ok(_) => {
                error.set(None);
                on_saved();
                v.reload();
            }
            Err(err) => error.set(Some(err)),
        }
    });
}

/// A labelled text input bound to a signal.
#[component]
fn Field(
    label: Signal<String>,
    value: RwSignal<String>,
    testid: &'static str,
    #[prop(default = "text")] kind: &'static str,
) -> impl IntoView {
    view! {
        <label>
            {label}
            <input type=kind data-testid=testid bind:value=value />
        </label>
    }
}

// --- Contacts ---------------------------------------------------------------------

/// A key person as shown: the client's contact with this visit's update over it, or a
/// person first recorded on this visit.
#[derive(Clone, Debug, PartialEq)]
pub(in crate::pages::rep) struct PersonRow {
    client_contact_id: Option<String>,
    update_id: Option<String>,
    pub(in crate::pages::rep) name: String,
    pub(in crate::pages::rep) role: String,
    pub(in crate::pages::rep) phone: String,
    pub(in crate::pages::rep) email: String,
    pub(in crate::pages::rep) has_left: bool,
    updated: bool,
}

fn people(v: VisitCtx) -> Vec<PersonRow> {
    v.detail
        .with(|d| d.as_ref().map(people_of).unwrap_or_default())
}

/// The client's key people with this visit's updates over them, then new people.
pub(in crate::pages::rep) fn people_of(d: &rapport_api::VisitDetail) -> Vec<PersonRow> {
    {
        let updates = &d.visit.contact_updates;
        let mut rows = Vec::new();
        if let Some(client) = &d.client {
            let mut contacts: Vec<_> = client.contacts.iter().collect();
            contacts.sort_by_key(|(id, c)| (c.created_ms, (*id).clone()));
            for (cid, c) in contacts {
                let update = updates
                    .iter()
                    .filter(|(_, u)| u.updates_contact_id.as_deref() == Some(cid.as_str()))
                    .max_by_key(|(id, u)| (u.created_ms, (*id).clone()));
                rows.push(match update {
                    Some((uid, u)) => PersonRow {
                        client_contact_id: Some(cid.clone()),
                        update_id: Some(uid.clone()),
                        name: u.name.clone(),
                        role: u.role.clone(),
                        phone: u.phone.clone(),
                        email: u.email.clone(),
                        has_left: u.has_left || c.has_left,
                        updated: true,
                    },
                    None => PersonRow {
                        client_contact_id: Some(cid.clone()),
                        update_id: None,
                        name: c.name.clone(),
                        role: c.role.clone(),
                        phone: c.phone.clone(),
                        email: c.email.clone(),
                        has_left: c.has_left,
                        updated: false,
                    },
                });
            }
        }
        let known = |id: &str| {
            d.client
                .as_ref()
                .is_some_and(|c| c.contacts.contains_key(id))
        };
        let mut new_people: Vec<_> = updates
            .iter()
            .filter(|(_, u)| !u.updates_contact_id.as_deref().is_some_and(known))
            .collect();
        new_people.sort_by_key(|(id, u)| (u.created_ms, (*id).clone()));
        rows.extend(new_people.into_iter().map(|(uid, u)| PersonRow {
            client_contact_id: None,
            update_id: Some(uid.clone()),
            name: u.name.clone(),
            role: u.role.clone(),
            phone: u.phone.clone(),
            email: u.email.clone(),
            has_left: u.has_left,
            updated: true,
        }));
        rows
    }
}

fn contact_input(row: &PersonRow) -> ContactInput {
    ContactInput {
        updates_contact_id: row.client_contact_id.clone(),
        name: row.name.clone(),
        role: row.role.clone(),
        phone: row.phone.clone(),
        email: row.email.clone(),
    }
}

/// The client's key people: their details, refreshed on this visit, new ones added,
/// those who left marked.
#[component]
pub(super) fn Contacts() -> impl IntoView {
    let v = use_visit();
    let i18n = use_i18n();
    let rows = Memo::new(move |_| people(v));
    // The form: None closed; Some(row) editing that person (a blank row adds one).
    let editing = RwSignal::new(None::<PersonRow>);
    let error = RwSignal::new(None::<ApiError>);
    let blank = PersonRow {
        client_contact_id: None,
        update_id: None,
        name: String::new(),
        role: String::new(),
        phone: String::new(),
        email: String::new(),
        has_left: false,
        updated: false,
    };
    let mark_left = move |row: PersonRow| {
        spawn_local(async move {
            // Marking needs an update entry of this visit: make one from the details.
            let id = match row.update_id.clone() {
                Some(id) => id,
                None => {
                    let edit = VisitEdit::Contact {
                        id: None,
                        contact: contact_input(&row),
                    };
                    match v.edit(edit).await {
                        Ok(saved) => match saved.entry_id {
                            Some(id) => id,
                            None => return,
                        },
                        Err(err) => {
                            error.set(Some(err));
                            return;
                        }
                    }
                }
            };
            match v.edit(VisitEdit::ContactLeft { id }).await {
                Ok(_) => error.set(None),
                Err(err) => error.set(Some(err)),
            }
            v.reload();
        });
    };
    view! {
        <div class="rep-entries">
            {move || {
                let list = rows.get();
                if list.is_empty() {
                    return view! { <p class="muted">{t!(i18n, rep.contacts.none)}</p> }.into_any();
                }
                view! {
                    <ul class="rep-entry-list">
                        {list
                            .into_iter()
                            .map(|row| {
                                let edit_row = row.clone();
                                let left_row = row.clone();
                                view! {
                                    <li class="rep-entry" data-testid="contact-row" data-left=row.has_left.to_string()>
                                        <div>
                                            <strong>{row.name.clone()}</strong>
                                            {(!row.role.is_empty()).then(|| format!(" · {}", row.role))}
                                            <div class="muted">
                                                {[row.phone.clone(), row.email.clone()]
                                                    .into_iter()
                                                    .filter(|s| !s.is_empty())
                                                    .collect::<Vec<_>>()
                                                    .join(" · ")}
                                            </div>
                                            {row.has_left.then(|| view! { <span class="pill bad">{t!(i18n, rep.contacts.has_left)}</span> })}
                                            {(row.updated && !row.has_left)
                                                .then(|| view! { <span class="pill ok">{t!(i18n, rep.contacts.updated)}</span> })}
                                        </div>
                                        <div class="row">
                                            <button
                                                class="button ghost small"
                                                data-testid="contact-edit"
                                                on:click=move |_| editing.set(Some(edit_row.clone()))
                                            >
                                                {t!(i18n, rep.contacts.edit)}
                                            </button>
                                            {(!row.has_left)
                                                .then(|| {
                                                    view! {
                                                        <button
                                                            class="button ghost small"
                                                            data-testid="contact-left"
                                                            on:click=move |_| mark_left(left_row.clone())
                                                        >
                                                            {t!(i18n, rep.contacts.left)}
                                                        </button>
                                                    }
                                                })}
                                        </div>
                                    </li>
                                }
                            })
                            .collect_view()}
                    </ul>
                }
                    .into_any()
            }}
            {move || match editing.get() {
                Some(row) => view! { <ContactForm row editing /> }.into_any(),
                None => {
                    let blank = blank.clone();
                    view! {
                        <button class="button ghost" data-testid="contact-add" on:click=move |_| editing.set(Some(blank.clone()))>
                            {t!(i18n, rep.contacts.add)}
                        </button>
                    }
                        .into_any()
                }
            }}
            <ErrorBox error=localized(error) />
        </div>
    }
}

#[component]
fn ContactForm(row: PersonRow, editing: RwSignal<Option<PersonRow>>) -> impl IntoView {
    let v = use_visit();
    let i18n = use_i18n();
    let name = RwSignal::new(row.name.clone());
    let role = RwSignal::new(row.role.clone());
    let phone = RwSignal::new(row.phone.clone());
    let email = RwSignal::new(row.email.clone());
    let error = RwSignal::new(None::<ApiError>);
    let save = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let edit = VisitEdit::Contact {
            id: row.update_id.clone(),
            contact: ContactInput {
                updates_contact_id: row.client_contact_id.clone(),
                name: name.get_untracked().trim().to_owned(),
                role: role.get_untracked().trim().to_owned(),
                phone: phone.get_untracked().trim().to_owned(),
                email: email.get_untracked().trim().to_owned(),
            },
        };
        save_entry(v, edit, error, move || editing.set(None));
    };
    view! {
        <form class="rep-form" data-testid="contact-form" on:submit=save>
            <Field label=Signal::derive(move || t_string!(i18n, rep.contacts.name).to_string()) value=name testid="contact-name" />
            <Field label=Signal::derive(move || t_string!(i18n, rep.contacts.role).to_string()) value=role testid="contact-role" />
            <Field label=Signal::derive(move || t_string!(i18n, rep.contacts.phone).to_string()) value=phone testid="contact-phone" kind="tel" />
            <Field label=Signal::derive(move || t_string!(i18n, rep.contacts.email).to_string()) value=email testid="contact-email" kind="email" />
            <ErrorBox error=localized(error) />
            <div class="row rep-actions">
                <button class="button" type="submit" data-testid="contact-save">{t!(i18n, rep.contacts.save)}</button>
                <button class="button ghost" type="button" on:click=move |_| editing.set(None)>
                    {t!(i18n, rep.contacts.cancel)}
                </button>
            </div>
        </form>
    }
}

// --- Referrals --------------------------------------------------------------------

/// Acquaintances of the client who could become clients.
#[component]
pub(super) fn Referrals() -> impl IntoView {
    let v = use_visit();
    let i18n = use_i18n();
    let rows = Memo::new(move |_| {
        v.detail.with(|d| {
            let mut list: Vec<_> = d
                .as_ref()
                .map(|d| d.visit.referrals.values().cloned().collect())
                .unwrap_or_default();
            list.sort_by_key(|r: &rapport_domain::visit::Referral| r.created_ms);
            list
        })
    });
    let adding = RwSignal::new(false);
    view! {
        <div class="rep-entries">
            {move || {
                let list = rows.get();
                if list.is_empty() {
                    return view! { <p class="muted">{t!(i18n, rep.referrals.none)}</p> }.into_any();
                }
                view! {
                    <ul class="rep-entry-list">
                        {list
                            .into_iter()
                            .map(|r| {
                                let reach = [r.company.clone(), r.contact.clone(), r.note.clone()]
                                    .into_iter()
                                    .filter(|s| !s.is_empty())
                                    .collect::<Vec<_>>()
                                    .join(" · ");
                                view! {
                                    <li class="rep-entry" data-testid="referral-row">
                                        <div>
                                            <strong>{r.name}</strong>
                                            <div class="muted">{reach}</div>
                                        </div>
                                    </li>
                                }
                            })
                            .collect_view()}
                    </ul>
                }
                    .into_any()
            }}
            {move || {
                if adding.get() {
                    view! { <ReferralForm adding /> }.into_any()
                } else {
                    view! {
                        <button class="button ghost" data-testid="referral-add" on:click=move |_| adding.set(true)>
                            {t!(i18n, rep.referrals.add)}
                        </button>
                    }
                        .into_any()
                }
            }}
        </div>
    }
}

#[component]
fn ReferralForm(adding: RwSignal<bool>) -> impl IntoView {
    let v = use_visit();
    let i18n = use_i18n();
    let name = RwSignal::new(String::new());
    let company = RwSignal::new(String::new());
    let contact = RwSignal::new(String::new());
    let note = RwSignal::new(String::new());
    let error = RwSignal::new(None::<ApiError>);
    let save = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let edit = VisitEdit::Referral {
            id: None,
            referral: ReferralInput {
                name: name.get_untracked().trim().to_owned(),
                company: company.get_untracked().trim().to_owned(),
                contact: contact.get_untracked().trim().to_owned(),
                note: note.get_untracked().trim().to_owned(),
            },
        };
        save_entry(v, edit, error, move || adding.set(false));
    };
    view! {
        <form class="rep-form" data-testid="referral-form" on:submit=save>
            <Field label=Signal::derive(move || t_string!(i18n, rep.referrals.name).to_string()) value=name testid="referral-name" />
            <Field label=Signal::derive(move || t_string!(i18n, rep.referrals.company).to_string()) value=company testid="referral-company" />
            <Field label=Signal::derive(move || t_string!(i18n, rep.referrals.contact).to_string()) value=contact testid="referral-contact" />
            <Field label=Signal::derive(move || t_string!(i18n, rep.referrals.note).to_string()) value=note testid="referral-note" />
            <ErrorBox error=localized(error) />
            <div class="row rep-actions">
                <button class="button" type="submit" data-testid="referral-save">{t!(i18n, rep.referrals.save)}</button>
                <button class="button ghost" type="button" on:click=move |_| adding.set(false)>
                    {t!(i18n, rep.contacts.cancel)}
                </button>
            </div>
        </form>
    }
}

// --- Opportunities ------------------------------------------------------------------

fn kind_text(i18n: leptos_i18n::I18nContext<Locale>, kind: OpportunityKind) -> String {
    match kind {
        OpportunityKind::Growth => t_string!(i18n, rep.opportunities.growth).to_string(),
        OpportunityKind::CrossSell => t_string!(i18n, rep.opportunities.cross_sell).to_string(),
    }
}

/// Growth of what the client buys and new products: the sales the visit found.
#[component]
pub(super) fn Opportunities() -> impl IntoView {
    let v = use_visit();
    let i18n = use_i18n();
    let rows = Memo::new(move |_| {
        v.detail.with(|d| {
            let mut list: Vec<_> = d
                .as_ref()
                .map(|d| d.visit.opportunities.values().cloned().collect())
                .unwrap_or_default();
            list.sort_by_key(|o: &rapport_domain::Opportunity| o.created_ms);
            list
        })
    });
    let adding = RwSignal::new(false);
    view! {
        <div class="rep-entries rep-opportunities">
            <h3>{t!(i18n, rep.opportunities.title)}</h3>
            {move || {
                let list = rows.get();
                if list.is_empty() {
                    return view! { <p class="muted">{t!(i18n, rep.opportunities.none)}</p> }.into_any();
                }
                view! {
                    <ul class="rep-entry-list">
                        {list
                            .into_iter()
                            .map(|o| {
                                let kind = o.kind;
                                let value = format!("{} {}", amount(o.estimated_value), o.currency);
                                let product = o.product.clone();
                                view! {
                                    <li class="rep-entry" data-testid="opportunity-row">
                                        <div>
                                            <span class="pill">{move || kind_text(i18n, kind)}</span>
                                            " "
                                            <strong>{o.description}</strong>
                                            <div class="muted">
                                                {(!product.is_empty()).then(|| format!("{product} · "))}
                                                {value}
                                            </div>
                                        </div>
                                    </li>
                                }
                            })
                            .collect_view()}
                    </ul>
                }
                    .into_any()
            }}
            {move || {
                if adding.get() {
                    view! { <OpportunityForm adding /> }.into_any()
                } else {
                    view! {
                        <button class="button ghost" data-testid="opportunity-add" on:click=move |_| adding.set(true)>
                            {t!(i18n, rep.opportunities.add)}
                        </button>
                    }
                        .into_any()
                }
            }}
        </div>
    }
}

#[component]
fn OpportunityForm(adding: RwSignal<bool>) -> impl IntoView {
    let v = use_visit();
    let i18n = use_i18n();
    let kind = RwSignal::new("growth".to_owned());
    let description = RwSignal::new(String::new());
    let product = RwSignal::new(String::new());
    let value = RwSignal::new(String::new());
    let currency = RwSignal::new("RUB".to_owned());
    let error = RwSignal::new(None::<ApiError>);
    let save = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let text = value.get_untracked();
        let estimated_value = if text.trim().is_empty() {
            0.0
        } else {
            match text
                .trim()
                .replace([' ', '\u{a0}', '\u{202f}'], "")
                .replace(',', ".")
                .parse::<f64>()
            {
                Ok(n) if n.is_finite() => n,
                _ => {
                    error.set(Some(ApiError::new(
                        "negative_value",
                        t_string!(i18n, rep.errors.bad_number).to_string(),
                    )));
                    return;
                }
            }
        };
        let edit = VisitEdit::Opportunity {
            id: None,
            opportunity: OpportunityInput {
                kind: if kind.get_untracked() == "cross_sell" {
                    OpportunityKind::CrossSell
                } else {
                    OpportunityKind::Growth
                },
                description: description.get_untracked().trim().to_owned(),
                product: product.get_untracked().trim().to_owned(),
                estimated_value,
                currency: currency.get_untracked().trim().to_uppercase(),
            },
        };
        save_entry(v, edit, error, move || adding.set(false));
    };
    view! {
        <form class="rep-form" data-testid="opportunity-form" on:submit=save>
            <label>
                {t!(i18n, rep.opportunities.kind)}
                <select data-testid="opportunity-kind" on:change=move |ev| kind.set(event_target_value(&ev))>
                    <option value="growth" selected=true>{t!(i18n, rep.opportunities.growth)}</option>
                    <option value="cross_sell">{t!(i18n, rep.opportunities.cross_sell)}</option>
                </select>
            </label>
            <Field label=Signal::derive(move || t_string!(i18n, rep.opportunities.description).to_string()) value=description testid="opportunity-description" />
            <Field label=Signal::derive(move || t_string!(i18n, rep.opportunities.product).to_string()) value=product testid="opportunity-product" />
            <div class="rep-quality-numbers">
                <label>
                    {t!(i18n, rep.opportunities.value)}
                    <input type="text" inputmode="decimal" data-testid="opportunity-value" bind:value=value />
                </label>
                <Field label=Signal::derive(move || t_string!(i18n, rep.opportunities.currency).to_string()) value=currency testid="opportunity-currency" />
            </div>
            <ErrorBox error=localized(error) />
            <div class="row rep-actions">
                <button class="button" type="submit" data-testid="opportunity-save">{t!(i18n, rep.opportunities.save)}</button>
                <button class="button ghost" type="button" on:click=move |_| adding.set(false)>
                    {t!(i18n, rep.contacts.cancel)}
                </button>
            </div>
        </form>
    }
}

// --- Follow-ups -------------------------------------------------------------------

fn state_key(state: FollowUpState) -> &'static str {
    match state {
        FollowUpState::Open => "open",
        FollowUpState::InProgress => "in_progress",
        FollowUpState::Done => "done",
    }
}

/// Work to do after the visit (technical work after a failed quality check among it).
#[component]
pub(super) fn FollowUps() -> impl IntoView {
    let v = use_visit();
    let i18n = use_i18n();
    let rows = Memo::new(move |_| {
        v.detail.with(|d| {
            let mut list: Vec<(String, rapport_domain::FollowUp)> = d
                .as_ref()
                .map(|d| {
                    d.visit
                        .follow_ups
                        .iter()
                        .map(|(id, f)| (id.clone(), f.clone()))
                        .collect()
                })
                .unwrap_or_default();
            list.sort_by(|a, b| a.1.created_ms.cmp(&b.1.created_ms).then(a.0.cmp(&b.0)));
            list
        })
    });
    let adding = RwSignal::new(false);
    let error = RwSignal::new(None::<ApiError>);
    view! {
        <section class="card rep-section" data-testid="follow-ups">
            <h2>{t!(i18n, rep.follow_ups.title)}</h2>
            {move || {
                let list = rows.get();
                if list.is_empty() {
                    return view! { <p class="muted">{t!(i18n, rep.follow_ups.none)}</p> }.into_any();
                }
                view! {
                    <ul class="rep-entry-list">
                        {list
                            .into_iter()
                            .map(|(id, f)| view! { <FollowUpRow id follow_up=f error /> })
                            .collect_view()}
                    </ul>
                }
                    .into_any()
            }}
            <ErrorBox error=localized(error) />
            {move || {
                if adding.get() {
                    view! { <FollowUpForm adding /> }.into_any()
                } else {
                    view! {
                        <button class="button ghost" data-testid="follow-up-add" on:click=move |_| adding.set(true)>
                            {t!(i18n, rep.follow_ups.add)}
                        </button>
                    }
                        .into_any()
                }
            }}
        </section>
    }
}

#[component]
fn FollowUpRow(
    id: String,
    follow_up: rapport_domain::FollowUp,
    error: RwSignal<Option<ApiError>>,
) -> impl IntoView {
    let v = use_visit();
    let i18n = use_i18n();
    let current = follow_up.state;
    let change = move |ev: leptos::ev::Event| {
        let state = match event_target_value(&ev).as_str() {
            "in_progress" => FollowUpState::InProgress,
            "done" => FollowUpState::Done,
            _ => FollowUpState::Open,
        };
        v.edit_and_reload(
            VisitEdit::UpdateFollowUp {
                id: id.clone(),
                state: Some(state),
                owner: None,
                due: None,
            },
            error,
        );
    };
    let option = move |state: FollowUpState| {
        let text = move || match state {
            FollowUpState::Open => t_string!(i18n, rep.follow_ups.open).to_string(),
            FollowUpState::InProgress => t_string!(i18n, rep.follow_ups.in_progress).to_string(),
            FollowUpState::Done => t_string!(i18n, rep.follow_ups.done).to_string(),
        };
        view! { <option value=state_key(state) selected=state == current>{text}</option> }
    };
    let owner = follow_up.owner.clone();
    let due = follow_up.due.clone();
    view! {
        <li class="rep-entry" data-testid="follow-up-row" data-state=state_key(current)>
            <div>
                <strong>{follow_up.description.clone()}</strong>
                <div class="muted">
                    {(!owner.is_empty())
                        .then_some(move || t_string!(i18n, rep.follow_ups.owner, owner = owner.clone()).to_string())}
                    {due.map(|d| move || format!(" {}", t_string!(i18n, rep.follow_ups.due, date = day(&d))))}
                </div>
            </div>
            <label class="rep-inline">
                <span class="sr-only">{t!(i18n, rep.follow_ups.state)}</span>
                <select data-testid="follow-up-state" on:change=change>
                    {option(FollowUpState::Open)}
                    {option(FollowUpState::InProgress)}
                    {option(FollowUpState::Done)}
                </select>
            </label>
        </li>
    }
}

#[component]
fn FollowUpForm(adding: RwSignal<bool>) -> impl IntoView {
    let v = use_visit();
    let i18n = use_i18n();
    let description = RwSignal::new(String::new());
    let error = RwSignal::new(None::<ApiError>);
    let save = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let edit = VisitEdit::AddFollowUp {
            description: description.get_untracked().trim().to_owned(),
            owner: String::new(),
            due: None,
        };
        save_entry(v, edit, error, move || adding.set(false));
    };
    view! {
        <form class="rep-form" data-testid="follow-up-form" on:submit=save>
            <Field label=Signal::derive(move || t_string!(i18n, rep.follow_ups.description).to_string()) value=description testid="follow-up-description" />
            <ErrorBox error=localized(error) />
            <div class="row rep-actions">
                <button class="button" type="submit" data-testid="follow-up-save">{t!(i18n, rep.follow_ups.save)}</button>
                <button class="button ghost" type="button" on:click=move |_| adding.set(false)>
                    {t!(i18n, rep.contacts.cancel)}
                </button>
            </div>
        </form>
    }
}
