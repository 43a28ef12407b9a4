//! The programme document: name, period, lead, reps, template, assignments,
//! client list and devices.

use std::collections::BTreeMap;

use automerge::{Automerge, ROOT};
use autosurgeon::{Hydrate, Reconcile, hydrate_prop, reconcile_prop};
use serde::{Deserialize, Serialize};

use crate::assign::Suggestion;
pub use crate::assign::{Capacity, Reason, Strength};
use crate::doc::{DocKind, check_date, commit, expect_kind, has, non_empty, obj, write_header};
use crate::error::{DomainError, SchemaError};
use crate::ids::DocId;
use crate::template::Template;

/// The programme's period.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, Hydrate, Reconcile)]
pub struct Period {
    /// First day, YYYY-MM-DD.
    pub start: String,
    /// Last day, YYYY-MM-DD.
    pub end: String,
}

/// The programme lead (руководитель VIP-программы).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, Hydrate, Reconcile)]
pub struct Lead {
    /// Name.
    pub name: String,
    /// E-mail.
    pub email: String,
}

/// A rep on the programme's staff.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, Hydrate, Reconcile)]
pub struct Rep {
    /// Name.
    pub name: String,
    /// E-mail.
    pub email: String,
    /// Time given to the programme.
    pub capacity: Capacity,
    /// Takes part now.
    pub active: bool,
    /// When added.
    pub created_ms: i64,
}

/// One change of a client's rep.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, Hydrate, Reconcile)]
pub struct AssignmentChange {
    /// The new rep.
    pub rep: String,
    /// Why.
    pub reason: Reason,
    /// When.
    pub at_ms: i64,
    /// Who decided (rep id or "lead").
    pub by: String,
}

/// Who looks after a client, and why.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, Hydrate, Reconcile)]
pub struct Assignment {
    /// The rep now responsible (None until assigned).
    pub current_rep: Option<String>,
    /// The rep who originally won the client.
    pub original_rep: Option<String>,
    /// The original rep's relationship.
    pub strength: Strength,
    /// The original rep shields the client from colleagues.
    pub monopolised: bool,
    /// Why the current rep has it.
    pub reason: Option<Reason>,
    /// Every change, oldest first.
    pub history: Vec<AssignmentChange>,
}

/// A client in the programme's list.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, Hydrate, Reconcile)]
pub struct ProgrammeClient {
    /// When added to the programme.
    pub created_ms: i64,
}

/// A device that writes to the programme's documents, so history and
/// conflict views can say who wrote a value, offline too.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, Hydrate, Reconcile)]
pub struct Device {
    /// The rep id, or "lead".
    pub who: String,
    /// A label, e.g. "Планшет Иванова".
    pub label: String,
    /// When registered.
    pub created_ms: i64,
}

/// A programme document read into typed form.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, Hydrate, Reconcile)]
pub struct Programme {
    /// This programme's document id.
    pub id: DocId,
    /// Name.
    pub name: String,
    /// Period.
    pub period: Period,
    /// The lead.
    pub lead: Lead,
    /// Reps keyed by rep id.
    pub reps: BTreeMap<String, Rep>,
    /// The questionnaire.
    pub template: Template,
    /// Assignments keyed by client document id.
    pub assignments: BTreeMap<String, Assignment>,
    /// The clients in the programme, keyed by client document id.
    pub clients: BTreeMap<String, ProgrammeClient>,
    /// Devices keyed by actor id (hex).
    pub devices: BTreeMap<String, Device>,
    /// When created.
    pub created_ms: i64,
    /// How many days before the programme's end the lead is warned of clients with no
    /// meeting planned (a programme made before the setting reads the default).
    #[autosurgeon(missing = "default_meeting_warning_days")]
    #[serde(default = "default_meeting_warning_days")]
    pub meeting_warning_days: u32,
}

/// Days before the programme's end from which clients with no meeting planned are
/// flagged, unless the lead says otherwise.
pub const DEFAULT_MEETING_WARNING_DAYS: u32 = 14;

/// Most days [`Programme::meeting_warning_days`] takes (a year).
pub const MAX_MEETING_WARNING_DAYS: u32 = 366;

fn default_meeting_warning_days() -> u32 {
    DEFAULT_MEETING_WARNING_DAYS
}

impl Programme {
    /// The reps as the assignment suggestion sees them.
    pub fn rep_capacities(&self) -> Vec<crate::assign::RepCapacity> {
        self.reps
            .iter()
            .map(|(id, r)| crate::assign::RepCapacity {
                rep_id: id.clone(),
                capacity: r.capacity,
                active: r.active,
            })
            .collect()
    }

    /// The clients as the assignment suggestion sees them (unknown
    /// relationship when none was recorded).
    pub fn clients_for_assignment(&self) -> Vec<crate::assign::ClientForAssignment> {
        self.clients
            .keys()
            .map(|id| {
                let a = self.assignments.get(id);
                crate::assign::ClientForAssignment {
                    client_id: id.clone(),
                    original_rep: a.and_then(|a| a.original_rep.clone()),
                    strength: a.map_or(Strength::Unknown, |a| a.strength),
                    monopolised: a.is_some_and(|a| a.monopolised),
                }
            })
            .collect()
    }

    /// Who a device (actor id hex) belongs to, for history and conflict views.
    ///
    /// A writer that cannot keep one actor for all its edits (the server editing for
    /// a lead from several processes at once, where two edits with one actor would
    /// collide) registers a 16-byte actor and writes with that actor plus a per-edit
    /// suffix; such actors are found by their first 16 bytes.
    pub fn who_wrote(&self, actor_hex: &str) -> Option<&Device> {
        find_device(&self.devices, actor_hex)
    }
}

/// A device by its actor, or by the registered 16-byte prefix of a per-edit actor.
pub(crate) fn find_device<'a>(
    devices: &'a BTreeMap<String, Device>,
    actor_hex: &str,
) -> Option<&'a Device> {
    devices.get(actor_hex).or_else(|| {
        actor_hex
            .get(..ACTOR_PREFIX_HEX)
            .filter(|_| actor_hex.len() > ACTOR_PREFIX_HEX)
            .and_then(|prefix| devices.get(prefix))
    })
}

/// Hex length of the registered part of a per-edit actor (16 bytes).
pub const ACTOR_PREFIX_HEX: usize = 32;

/// What is needed to create a programme.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ProgrammeInit {
    /// The new programme's document id.
    pub id: DocId,
    /// Name (required).
    pub name: String,
    /// Period.
    pub period: Period,
    /// The lead.
    pub lead: Lead,
}

/// Creates a programme document with `template` (e.g. [`crate::default_template`]).
pub fn new_programme(
    actor: automerge::ActorId,
    init: &ProgrammeInit,
    template: &Template,
    now_ms: i64,
) -> Result<Automerge, DomainError> {
    non_empty("programme name", &init.name)?;
    non_empty("lead name", &init.lead.name)?;
    check_date("period start", &init.period.start)?;
    check_date("period end", &init.period.end)?;
    if init.period.end < init.period.start {
        return Err(DomainError::PeriodReversed {
            start: init.period.start.clone(),
            end: init.period.end.clone(),
        });
    }
    let programme = Programme {
        id: init.id,
        name: init.name.clone(),
        period: init.period.clone(),
        lead: init.lead.clone(),
        reps: BTreeMap::new(),
        template: template.clone(),
        assignments: BTreeMap::new(),
        clients: BTreeMap::new(),
        devices: BTreeMap::new(),
        created_ms: now_ms,
        meeting_warning_days: DEFAULT_MEETING_WARNING_DAYS,
    };
    let mut doc = Automerge::new().with_actor(actor);
    commit(&mut doc, now_ms, "create programme", |tx| {
        autosurgeon::reconcile(tx, &programme)?;
        write_header(tx, DocKind::Programme)?;
        Ok(())
    })?;
    Ok(doc)
}

/// Reads a programme document into typed form (type and schema checked).
pub fn read_programme(doc: &Automerge) -> Result<Programme, DomainError> {
    expect_kind(doc, DocKind::Programme)?;
    autosurgeon::hydrate(doc).map_err(|e| {
        SchemaError::Malformed {
            kind: "programme",
            message: e.to_string(),
        }
        .into()
    })
}

/// Changes the programme's name, period and lead (the settings page).
pub fn set_settings(
    doc: &mut Automerge,
    name: &str,
    period: &Period,
    lead: &Lead,
    now_ms: i64,
) -> Result<(), DomainError> {
    non_empty("programme name", name)?;
    non_empty("lead name", &lead.name)?;
    check_date("period start", &period.start)?;
    check_date("period end", &period.end)?;
    if period.end < period.start {
        return Err(DomainError::PeriodReversed {
            start: period.start.clone(),
            end: period.end.clone(),
        });
    }
    expect_kind(doc, DocKind::Programme)?;
    commit(doc, now_ms, "programme settings", |tx| {
        reconcile_prop(tx, ROOT, "name", name)?;
        reconcile_prop(tx, ROOT, "period", period)?;
        reconcile_prop(tx, ROOT, "lead", lead)?;
        Ok(())
    })
}

/// Sets how many days before the programme's end clients with no meeting planned are
/// flagged (1 to [`MAX_MEETING_WARNING_DAYS`]).
pub fn set_meeting_warning_days(
    doc: &mut Automerge,
    days: u32,
    now_ms: i64,
) -> Result<(), DomainError> {
    if !(1..=MAX_MEETING_WARNING_DAYS).contains(&days) {
        return Err(DomainError::OutOfRange {
            field: "days before the end to warn of clients with no meeting",
            value: i64::from(days),
            min: 1,
            max: i64::from(MAX_MEETING_WARNING_DAYS),
        });
    }
    expect_kind(doc, DocKind::Programme)?;
    commit(doc, now_ms, "meeting warning days", |tx| {
        reconcile_prop(tx, ROOT, "meeting_warning_days", days)?;
        Ok(())
    })
}

/// The reps and the client ids of a programme, read without hydrating the rest (the
/// assignments of a large programme take most of a full read: about 0.9 s for 10,000).
#[derive(Clone, Debug, PartialEq)]
pub struct Members {
    /// Reps keyed by rep id.
    pub reps: BTreeMap<String, Rep>,
    /// The clients' document ids.
    pub clients: Vec<DocId>,
}

/// Reads a programme's [`Members`] (type and schema checked for what it reads).
pub fn read_members(doc: &Automerge) -> Result<Members, DomainError> {
    expect_kind(doc, DocKind::Programme)?;
    let malformed = |what: &str, e: String| SchemaError::Malformed {
        kind: "programme",
        message: format!("{what}: {e}"),
    };
    let reps = hydrate_prop(doc, ROOT, "reps").map_err(|e| malformed("reps", e.to_string()))?;
    let clients_obj = obj(doc, &ROOT, "clients", "clients")?;
    let clients = automerge::ReadDoc::keys(doc, &clients_obj)
        .map(|k| {
            k.parse::<DocId>()
                .map_err(|e| malformed("clients", format!("{k:?}: {e}")))
        })
        .collect::<Result<_, _>>()?;
    Ok(Members { reps, clients })
}

fn check_capacity(c: Capacity) -> Result<(), DomainError> {
    match c {
        Capacity::Share { percent } if !(1..=100).contains(&percent) => {
            Err(DomainError::InvalidShare { percent })
        }
        _ => Ok(()),
    }
}

/// Adds a rep (or replaces the rep's details) under `rep_id`.
pub fn put_rep(
    doc: &mut Automerge,
    rep_id: &str,
    name: &str,
    email: &str,
    capacity: Capacity,
    active: bool,
    now_ms: i64,
) -> Result<(), DomainError> {
    non_empty("rep id", rep_id)?;
    non_empty("rep name", name)?;
    check_capacity(capacity)?;
    expect_kind(doc, DocKind::Programme)?;
    let created_ms =
        hydrate_prop::<_, Option<Rep>, _, _>(doc, &obj(doc, &ROOT, "reps", "reps")?, rep_id)
            .ok()
            .flatten()
            .map_or(now_ms, |r| r.created_ms);
    let rep = Rep {
        name: name.to_owned(),
        email: email.to_owned(),
        capacity,
        active,
        created_ms,
    };
    commit(doc, now_ms, "put rep", |tx| {
        let reps = obj(tx, &ROOT, "reps", "reps")?;
        reconcile_prop(tx, &reps, rep_id, &rep)?;
        Ok(())
    })
}

/// Adds a client document to the programme's list (idempotent).
pub fn add_client(doc: &mut Automerge, client_id: DocId, now_ms: i64) -> Result<(), DomainError> {
    let member = Membership {
        client_id,
        original_rep: None,
        strength: Strength::Unknown,
        monopolised: false,
    };
    add_clients(doc, &[member], now_ms)
}

/// Registers a device's actor id as belonging to `who` (a rep id or "lead").
pub fn register_device(
    doc: &mut Automerge,
    actor: &automerge::ActorId,
    who: &str,
    label: &str,
    now_ms: i64,
) -> Result<(), DomainError> {
    non_empty("device owner", who)?;
    expect_kind(doc, DocKind::Programme)?;
    let device = Device {
        who: who.to_owned(),
        label: label.to_owned(),
        created_ms: now_ms,
    };
    let key = actor.to_hex_string();
    commit(doc, now_ms, "register device", |tx| {
        let devices = obj(tx, &ROOT, "devices", "devices")?;
        reconcile_prop(tx, &devices, key.as_str(), &device)?;
        Ok(())
    })
}

fn read_assignment(doc: &Automerge, client_id: &str) -> Result<Assignment, DomainError> {
    let programme = read_programme(doc)?;
    if !programme.clients.contains_key(client_id) {
        return Err(DomainError::NotFound {
            what: "client in the programme",
            id: client_id.to_owned(),
        });
    }
    Ok(programme
        .assignments
        .get(client_id)
        .cloned()
        .unwrap_or_else(Assignment::none))
}

impl Assignment {
    /// No rep and nothing known: a client just added.
    pub fn none() -> Self {
        Self {
            current_rep: None,
            original_rep: None,
            strength: Strength::Unknown,
            monopolised: false,
            reason: None,
            history: Vec::new(),
        }
    }
}

/// A client joining a programme, with what is known of its relationship.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Membership {
    /// The client document.
    pub client_id: DocId,
    /// The rep who originally won the client.
    pub original_rep: Option<String>,
    /// The original rep's relationship.
    pub strength: Strength,
    /// The original rep shields the client from colleagues.
    pub monopolised: bool,
}

/// Adds many clients with their relationships in ONE commit (an import of thousands
/// of rows is one change, and reads each client's assignment only, not the whole
/// programme per row). A client already in the programme keeps its entry and gets
/// the relationship given.
pub fn add_clients(
    doc: &mut Automerge,
    members: &[Membership],
    now_ms: i64,
) -> Result<(), DomainError> {
    expect_kind(doc, DocKind::Programme)?;
    commit(doc, now_ms, "add clients", |tx| {
        let clients = obj(tx, &ROOT, "clients", "clients")?;
        let assignments = obj(tx, &ROOT, "assignments", "assignments")?;
        for m in members {
            let key = m.client_id.to_string();
            if !has(tx, &clients, &key) {
                reconcile_prop(
                    tx,
                    &clients,
                    key.as_str(),
                    &ProgrammeClient { created_ms: now_ms },
                )?;
            }
            if m.original_rep.is_none() && m.strength == Strength::Unknown && !m.monopolised {
                continue;
            }
            let mut a = if has(tx, &assignments, &key) {
                hydrate_prop::<_, Assignment, _, _>(&*tx, &assignments, key.as_str()).map_err(
                    |e| SchemaError::Malformed {
                        kind: "programme",
                        message: format!("assignments.{key}: {e}"),
                    },
                )?
            } else {
                Assignment::none()
            };
            a.original_rep = m.original_rep.clone();
            a.strength = m.strength;
            a.monopolised = m.monopolised;
            reconcile_prop(tx, &assignments, key.as_str(), &a)?;
        }
        Ok(())
    })
}

fn write_assignment(
    doc: &mut Automerge,
    client_id: &str,
    a: &Assignment,
    now_ms: i64,
    msg: &str,
) -> Result<(), DomainError> {
    commit(doc, now_ms, msg, |tx| {
        let assignments = obj(tx, &ROOT, "assignments", "assignments")?;
        reconcile_prop(tx, &assignments, client_id, a)?;
        Ok(())
    })
}

/// Records what is known about a client's original rep and relationship.
pub fn set_relationship(
    doc: &mut Automerge,
    client_id: DocId,
    original_rep: Option<&str>,
    strength: Strength,
    monopolised: bool,
    now_ms: i64,
) -> Result<(), DomainError> {
    let key = client_id.to_string();
    let mut a = read_assignment(doc, &key)?;
    a.original_rep = original_rep.map(str::to_owned);
    a.strength = strength;
    a.monopolised = monopolised;
    write_assignment(doc, &key, &a, now_ms, "set relationship")
}

/// Assigns a client to `rep_id` by hand with a reason; appends to the history.
pub fn override_assignment(
    doc: &mut Automerge,
    client_id: DocId,
    rep_id: &str,
    reason: Reason,
    by: &str,
    now_ms: i64,
) -> Result<(), DomainError> {
    if let Reason::LeadDecision { note } = &reason {
        non_empty("reason", note)?;
    }
    let programme = read_programme(doc)?;
    if !programme.reps.contains_key(rep_id) {
        return Err(DomainError::NotFound {
            what: "rep",
            id: rep_id.to_owned(),
        });
    }
    let key = client_id.to_string();
    let mut a = read_assignment(doc, &key)?;
    assign(&mut a, rep_id, reason, by, now_ms);
    write_assignment(doc, &key, &a, now_ms, "override assignment")
}

fn assign(a: &mut Assignment, rep: &str, reason: Reason, by: &str, now_ms: i64) {
    a.current_rep = Some(rep.to_owned());
    a.reason = Some(reason.clone());
    a.history.push(AssignmentChange {
        rep: rep.to_owned(),
        reason,
        at_ms: now_ms,
        by: by.to_owned(),
    });
}

/// Applies a suggestion in one commit: clients whose rep changes get the new
/// rep, reason and a history entry; unchanged ones are left alone.
pub fn apply_suggestion(
    doc: &mut Automerge,
    suggestion: &Suggestion,
    by: &str,
    now_ms: i64,
) -> Result<(), DomainError> {
    let programme = read_programme(doc)?;
    let mut changed = Vec::new();
    for s in &suggestion.assignments {
        if !programme.clients.contains_key(&s.client_id) {
            return Err(DomainError::NotFound {
                what: "client in the programme",
                id: s.client_id.clone(),
            });
        }
        if !programme.reps.contains_key(&s.rep_id) {
            return Err(DomainError::NotFound {
                what: "rep",
                id: s.rep_id.clone(),
            });
        }
        // From the programme read once above: reading it per client made applying a
        // suggestion for thousands of clients quadratic.
        let mut a = programme
            .assignments
            .get(&s.client_id)
            .cloned()
            .unwrap_or_else(Assignment::none);
        if a.current_rep.as_deref() != Some(s.rep_id.as_str()) {
            assign(&mut a, &s.rep_id, s.reason.clone(), by, now_ms);
            changed.push((s.client_id.clone(), a));
        }
    }
    commit(doc, now_ms, "apply assignment suggestion", |tx| {
        let assignments = obj(tx, &ROOT, "assignments", "assignments")?;
        for (id, a) in &changed {
            reconcile_prop(tx, &assignments, id.as_str(), a)?;
        }
        Ok(())
    })
}
