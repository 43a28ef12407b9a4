//! The client's key people on a visit: the client's contacts with this visit's updates
//! over them, people first met on this visit, and those who left.

use leptos::prelude::*;
use leptos::task::spawn_local;
use rapport_api::{ApiError, ContactInput, VisitEdit};

use super::entries::save_entry;
use super::{VisitCtx, use_visit};
use crate::components::{EntryForm, EntryList, ErrorBox, Field, entry_list};
use crate::pages::rep::localized;
use crate::translations::i18n::*;

/// A key person as shown: the client's contact with this visit's update over it, or a
/// person first recorded on this visit.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
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
    // The form: None closed; Some(row) editing that person (a blank row adds one).
    let editing = RwSignal::new(None::<PersonRow>);
    let error = RwSignal::new(None::<ApiError>);
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
    let list = EntryList {
        rows: Memo::new(move |_| people(v)),
        empty: (move || t_string!(i18n, rep.contacts.none).to_string()).into(),
        form: editing,
        blank: PersonRow {
            client_contact_id: None,
            update_id: None,
            name: String::new(),
            role: String::new(),
            phone: String::new(),
            email: String::new(),
            has_left: false,
            updated: false,
        },
        add_testid: "contact-add",
        add_label: (move || t_string!(i18n, rep.contacts.add).to_string()).into(),
    };
    let row = move |row: PersonRow| {
        let edit_row = row.clone();
        let left_row = row.clone();
        let reach = [row.phone.clone(), row.email.clone()]
            .into_iter()
            .filter(|s| !s.is_empty())
            .collect::<Vec<_>>()
            .join(" · ");
        view! {
            <li class="rep-entry" data-testid="contact-row" data-left=row.has_left.to_string()>
                <div>
                    <strong>{row.name.clone()}</strong>
                    {(!row.role.is_empty()).then(|| format!(" · {}", row.role))}
                    <div class="muted">{reach}</div>
                    {row.has_left.then(|| view! { <span class="pill bad">{t!(i18n, rep.contacts.has_left)}</span> })}
                    {(row.updated && !row.has_left)
                        .then(|| view! { <span class="pill ok">{t!(i18n, rep.contacts.updated)}</span> })}
                </div>
                <div class="row">
                    <button class="button ghost small" data-testid="contact-edit"
                        on:click=move |_| editing.set(Some(edit_row.clone()))>
                        {t!(i18n, rep.contacts.edit)}
                    </button>
                    {(!row.has_left).then(|| view! {
                        <button class="button ghost small" data-testid="contact-left"
                            on:click=move |_| mark_left(left_row.clone())>
                            {t!(i18n, rep.contacts.left)}
                        </button>
                    })}
                </div>
            </li>
        }
    };
    view! {
        <div class="rep-entries">
            {entry_list(list, row, move |row| view! { <ContactForm row editing /> })}
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
    let save = move |()| {
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
        <EntryForm testid="contact-form" save_testid="contact-save" error=localized(error)
            save_label=move || t_string!(i18n, rep.contacts.save).to_string()
            on_save=save on_cancel=move |()| editing.set(None)>
            <Field inline=true testid="contact-name" value=name>{t!(i18n, rep.contacts.name)}</Field>
            <Field inline=true testid="contact-role" value=role>{t!(i18n, rep.contacts.role)}</Field>
            <Field inline=true testid="contact-phone" value=phone kind="tel">{t!(i18n, rep.contacts.phone)}</Field>
            <Field inline=true testid="contact-email" value=email kind="email">{t!(i18n, rep.contacts.email)}</Field>
        </EntryForm>
    }
}
