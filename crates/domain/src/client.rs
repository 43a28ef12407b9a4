//! The client document: company, segment, key contacts, relationship notes.

use std::collections::BTreeMap;

use automerge::transaction::Transactable;
use automerge::{Automerge, ObjType, ROOT, ReadDoc, Value};
use autosurgeon::{Hydrate, Reconcile, hydrate_prop, reconcile_prop};
use serde::{Deserialize, Serialize};

use crate::doc::{
    DocKind, check_date, commit, expect_kind, has, hydrate_text_string, new_id, non_empty, obj,
    put_text, write_header,
};
use crate::error::{DomainError, SchemaError};
use crate::ids::DocId;
use crate::meeting::Meeting;
pub use crate::visit::ContactInput;

/// The client's segment.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, Hydrate, Reconcile)]
#[serde(rename_all = "snake_case")]
pub enum Segment {
    /// A corporate client.
    #[autosurgeon(rename = "corporate")]
    Corporate,
    /// One of the most important private clients.
    #[autosurgeon(rename = "key_private")]
    KeyPrivate,
}

/// A key person at the client.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, Hydrate, Reconcile)]
pub struct Contact {
    /// Full name.
    pub name: String,
    /// Role.
    pub role: String,
    /// Phone.
    pub phone: String,
    /// E-mail.
    pub email: String,
    /// When the details were last confirmed, YYYY-MM-DD.
    pub last_confirmed: Option<String>,
    /// Has left the client company.
    pub has_left: bool,
    /// When added.
    pub created_ms: i64,
}

/// A client document read into typed form.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, Hydrate)]
pub struct Client {
    /// This client's document id.
    pub id: DocId,
    /// Company name.
    pub company: String,
    /// Segment.
    pub segment: Segment,
    /// Key contacts keyed by generated id.
    pub contacts: BTreeMap<String, Contact>,
    /// The rep who originally won the client.
    pub original_rep: Option<String>,
    /// Relationship notes (an Automerge Text: concurrent edits merge).
    #[autosurgeon(hydrate = "hydrate_text_string")]
    pub notes: String,
    /// When created.
    pub created_ms: i64,
    /// Meetings planned with the client, keyed by generated id (none in a document made
    /// before meetings existed).
    #[autosurgeon(missing = "BTreeMap::new")]
    #[serde(default)]
    pub meetings: BTreeMap<String, Meeting>,
}

impl Client {
    /// "Name, role" of the contact `id`, if the client has it.
    pub fn contact_label(&self, id: Option<&String>) -> Option<String> {
        let c = self.contacts.get(id?)?;
        Some(if c.role.is_empty() {
            c.name.clone()
        } else {
            format!("{}, {}", c.name, c.role)
        })
    }
}

/// Creates a client document.
pub fn new_client(
    actor: automerge::ActorId,
    id: DocId,
    company: &str,
    segment: Segment,
    original_rep: Option<&str>,
    now_ms: i64,
) -> Result<Automerge, DomainError> {
    non_empty("company name", company)?;
    let mut doc = Automerge::new().with_actor(actor);
    commit(&mut doc, now_ms, "create client", |tx| {
        write_header(tx, DocKind::Client)?;
        reconcile_prop(tx, ROOT, "id", id)?;
        tx.put(ROOT, "company", company)?;
        reconcile_prop(tx, ROOT, "segment", segment)?;
        tx.put_object(ROOT, "contacts", ObjType::Map)?;
        reconcile_prop(tx, ROOT, "original_rep", original_rep.map(str::to_owned))?;
        put_text(tx, &ROOT, "notes", "")?;
        tx.put(ROOT, "created_ms", now_ms)?;
        tx.put_object(ROOT, "meetings", ObjType::Map)?;
        Ok(())
    })?;
    Ok(doc)
}

/// Reads a client document into typed form (type and schema checked).
pub fn read_client(doc: &Automerge) -> Result<Client, DomainError> {
    expect_kind(doc, DocKind::Client)?;
    let mut client: Client = crate::one_pass::hydrate_whole(doc).map_err(|e| {
        DomainError::from(SchemaError::Malformed {
            kind: "client",
            message: e.to_string(),
        })
    })?;
    // Every meeting, also those of a `meetings` map that lost a concurrent creation.
    client.meetings = crate::meeting::meetings(doc)?;
    Ok(client)
}

fn contact(doc: &Automerge, id: &str) -> Result<Contact, DomainError> {
    expect_kind(doc, DocKind::Client)?;
    let contacts = obj(doc, &ROOT, "contacts", "contacts")?;
    if !has(doc, &contacts, id) {
        return Err(DomainError::NotFound {
            what: "contact",
            id: id.to_owned(),
        });
    }
    hydrate_prop(doc, &contacts, id).map_err(|e| {
        SchemaError::Malformed {
            kind: "client",
            message: format!("contacts.{id}: {e}"),
        }
        .into()
    })
}

fn write_contact(
    doc: &mut Automerge,
    id: &str,
    c: &Contact,
    now_ms: i64,
) -> Result<(), DomainError> {
    commit(doc, now_ms, "update contact", |tx| {
        let contacts = obj(tx, &ROOT, "contacts", "contacts")?;
        reconcile_prop(tx, &contacts, id, c)?;
        Ok(())
    })
}

/// Adds a key contact; returns its id.
pub fn add_contact(
    doc: &mut Automerge,
    input: &ContactInput,
    now_ms: i64,
) -> Result<String, DomainError> {
    non_empty("contact name", &input.name)?;
    expect_kind(doc, DocKind::Client)?;
    let id = new_id();
    let c = Contact {
        name: input.name.clone(),
        role: input.role.clone(),
        phone: input.phone.clone(),
        email: input.email.clone(),
        last_confirmed: None,
        has_left: false,
        created_ms: now_ms,
    };
    write_contact(doc, &id, &c, now_ms)?;
    Ok(id)
}

/// Replaces a contact's details (name, role, phone, e-mail).
pub fn update_contact(
    doc: &mut Automerge,
    id: &str,
    input: &ContactInput,
    now_ms: i64,
) -> Result<(), DomainError> {
    non_empty("contact name", &input.name)?;
    let mut c = contact(doc, id)?;
    c.name = input.name.clone();
    c.role = input.role.clone();
    c.phone = input.phone.clone();
    c.email = input.email.clone();
    write_contact(doc, id, &c, now_ms)
}

/// Records that a contact's details were confirmed on `date` (YYYY-MM-DD).
pub fn confirm_contact(
    doc: &mut Automerge,
    id: &str,
    date: &str,
    now_ms: i64,
) -> Result<(), DomainError> {
    check_date("confirmation date", date)?;
    let mut c = contact(doc, id)?;
    c.last_confirmed = Some(date.to_owned());
    write_contact(doc, id, &c, now_ms)
}

/// Marks a contact as gone from the client company (kept for the record).
pub fn mark_contact_left(doc: &mut Automerge, id: &str, now_ms: i64) -> Result<(), DomainError> {
    let mut c = contact(doc, id)?;
    c.has_left = true;
    write_contact(doc, id, &c, now_ms)
}

/// Sets the relationship notes to `value` as character splices (concurrent
/// edits elsewhere in the notes survive).
pub fn set_notes(doc: &mut Automerge, value: &str, now_ms: i64) -> Result<(), DomainError> {
    expect_kind(doc, DocKind::Client)?;
    commit(doc, now_ms, "set notes", |tx| {
        match tx.get(ROOT, "notes")? {
            Some((Value::Object(ObjType::Text), text)) => tx.update_text(&text, value)?,
            _ => {
                put_text(tx, &ROOT, "notes", value)?;
            }
        }
        Ok(())
    })
}

/// What two company names are compared by: one programme holds a company once, and
/// «ООО Ромашка» and « ооо ромашка » are the same company (case folded by Unicode's
/// rules, so Cyrillic too; spaces around the name ignored).
pub fn company_key(company: &str) -> String {
    company.trim().to_lowercase()
}

/// Renames the client company (e.g. after a rebranding or a typo in the import).
pub fn set_company(doc: &mut Automerge, company: &str, now_ms: i64) -> Result<(), DomainError> {
    non_empty("company name", company)?;
    expect_kind(doc, DocKind::Client)?;
    commit(doc, now_ms, "set company", |tx| {
        tx.put(ROOT, "company", company)?;
        Ok(())
    })
}

/// Moves the client to another segment.
pub fn set_segment(doc: &mut Automerge, segment: Segment, now_ms: i64) -> Result<(), DomainError> {
    expect_kind(doc, DocKind::Client)?;
    commit(doc, now_ms, "set segment", |tx| {
        reconcile_prop(tx, ROOT, "segment", segment)?;
        Ok(())
    })
}
