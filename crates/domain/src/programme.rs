//! The programme document: name, period, lead, reps, template, assignments,
//! client list and devices.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use automerge::legacy::{
    Key as LegacyKey, ObjectId as LegacyObjectId, OpId as LegacyOpId, OpType as LegacyOpType,
};
use automerge::{Automerge, ChangeHash, ExpandedChange, ObjType, Prop, ROOT, ReadDoc as _, Value};
use autosurgeon::{Hydrate, MaybeMissing, Reconcile, hydrate_prop, reconcile_prop};
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
    crate::one_pass::hydrate_whole(doc).map_err(|e| {
        SchemaError::Malformed {
            kind: "programme",
            message: e.to_string(),
        }
        .into()
    })
}

/// Above this many ops in the changes since the earlier read, [`read_programme_since`]
/// reads the whole programme instead: each op costs a decode and may cost a path
/// lookup, and each entry it touches a hydration of its own (several lookups of about
/// 5–10 µs each in Automerge 0.12's columnar storage), so past a few thousand ops (an
/// import, applying a suggestion for thousands of clients) the one full read, whose
/// cost is bounded by the document's size, is the cheaper and simpler path.
const SINCE_MAX_OPS: usize = 2_000;

/// The programme read at the document's current heads, starting from `prev`, the
/// programme as read at `prev_heads` (an earlier state of the same document): only the
/// parts touched by the changes since then are read again.
///
/// The result is always what [`read_programme`] gives for `doc`, errors included:
/// whenever the changes cannot be placed for certain (heads the document does not
/// have, so it went back in time or is another document; no heads at all; more than a
/// couple of thousand ops; an op on an object whose place in the document is not
/// found; anything in the touched parts that does not read), it reads the whole
/// document with [`read_programme`]. A programme of 10,000 clients takes about 0.9 s
/// to read whole; after adding one client this takes a few milliseconds. `prev` is
/// taken by value: the read changes it in place (a copy of a large programme would
/// cost more than the read).
pub fn read_programme_since(
    doc: &Automerge,
    prev: Programme,
    prev_heads: &[ChangeHash],
) -> Result<Programme, DomainError> {
    match read_touched(doc, prev, prev_heads) {
        Some(programme) => Ok(programme),
        None => read_programme(doc),
    }
}

/// The fast path of [`read_programme_since`]: `None` whenever it cannot be sure of
/// giving what a full read gives (the caller then reads the whole document).
fn read_touched(doc: &Automerge, prev: Programme, prev_heads: &[ChangeHash]) -> Option<Programme> {
    // No heads: every change is new, and `prev` cannot be the read of an empty
    // document (that read fails), so there is nothing to start from.
    if prev_heads.is_empty() {
        return None;
    }
    // A head the document does not have: it went back in time (loaded from older
    // bytes) or is another document; the changes since cannot be told. Asked of the
    // change's metadata: `get_change_by_hash` rebuilds the whole change from the op
    // set, about 0.1 s when the head is a suggestion applied to 10,000 clients.
    if prev_heads
        .iter()
        .any(|h| doc.get_change_meta_by_hash(h).is_none())
    {
        return None;
    }
    // The header is checked as a full read checks it (a change may have retyped it).
    expect_kind(doc, DocKind::Programme).ok()?;
    let changes = doc.get_changes(prev_heads);
    let ops: usize = changes.iter().map(automerge::Change::len).sum();
    if ops > SINCE_MAX_OPS {
        return None;
    }
    let changes: Vec<ExpandedChange> = changes.iter().map(automerge::Change::decode).collect();
    let touched = Touched::of(doc, &changes)?;
    let mut next = prev;
    for field in &touched.fields {
        read_field(doc, &mut next, field)?;
    }
    for (map, keys) in &touched.entries {
        // A map read whole above has its entries already.
        if touched.fields.contains(map.field()) {
            continue;
        }
        let map_obj = match doc.get(ROOT, map.field()) {
            Ok(Some((Value::Object(ObjType::Map | ObjType::Table), id))) => id,
            // Not a map (or gone): a full read says what is wrong with it.
            _ => return None,
        };
        match map {
            KeyedMap::Reps => reread_entries(doc, &map_obj, keys, &mut next.reps)?,
            KeyedMap::Assignments => {
                reread_entries(doc, &map_obj, keys, &mut next.assignments)?;
            }
            KeyedMap::Clients => reread_entries(doc, &map_obj, keys, &mut next.clients)?,
            KeyedMap::Devices => reread_entries(doc, &map_obj, keys, &mut next.devices)?,
        }
    }
    Some(next)
}

/// Reads one top-level field of the programme whole, as the derived hydration of
/// [`Programme`] reads it (`hydrate_prop` of the root; the missing default of
/// `meeting_warning_days`). A root key that is no field of [`Programme`] (the header's
/// `type` and `schema`, checked by `expect_kind`) is not read.
fn read_field(doc: &Automerge, programme: &mut Programme, field: &str) -> Option<()> {
    // Every field named without `..`: a field added to `Programme` does not compile
    // here until it is read here too (else it would keep its earlier value).
    let Programme {
        id,
        name,
        period,
        lead,
        reps,
        template,
        assignments,
        clients,
        devices,
        created_ms,
        meeting_warning_days,
    } = programme;
    match field {
        "id" => *id = hydrate_prop(doc, ROOT, "id").ok()?,
        "name" => *name = hydrate_prop(doc, ROOT, "name").ok()?,
        "period" => *period = hydrate_prop(doc, ROOT, "period").ok()?,
        "lead" => *lead = hydrate_prop(doc, ROOT, "lead").ok()?,
        "reps" => *reps = hydrate_prop(doc, ROOT, "reps").ok()?,
        "template" => *template = hydrate_prop(doc, ROOT, "template").ok()?,
        "assignments" => *assignments = hydrate_prop(doc, ROOT, "assignments").ok()?,
        "clients" => *clients = hydrate_prop(doc, ROOT, "clients").ok()?,
        "devices" => *devices = hydrate_prop(doc, ROOT, "devices").ok()?,
        "created_ms" => *created_ms = hydrate_prop(doc, ROOT, "created_ms").ok()?,
        "meeting_warning_days" => {
            *meeting_warning_days =
                hydrate_prop::<_, MaybeMissing<u32>, _, _>(doc, ROOT, "meeting_warning_days")
                    .ok()?
                    .unwrap_or_else(default_meeting_warning_days);
        }
        _ => {}
    }
    Some(())
}

/// Reads the entries `keys` of a keyed map again, as the map's hydration reads each
/// visible key (`T::hydrate` of it); a key with nothing under it now is removed.
fn reread_entries<T: Hydrate>(
    doc: &Automerge,
    map_obj: &automerge::ObjId,
    keys: &BTreeSet<String>,
    entries: &mut BTreeMap<String, T>,
) -> Option<()> {
    for key in keys {
        // Not `Option<T>`: it reads a null as `None`, where the map's hydration fails
        // on it; the key's presence is asked first instead.
        if doc.get(map_obj, key.as_str()).ok()?.is_some() {
            entries.insert(key.clone(), hydrate_prop(doc, map_obj, key.as_str()).ok()?);
        } else {
            entries.remove(key);
        }
    }
    Some(())
}

/// The maps of the programme keyed by an id, whose entries are read one by one.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum KeyedMap {
    Reps,
    Assignments,
    Clients,
    Devices,
}

impl KeyedMap {
    fn of_field(field: &str) -> Option<Self> {
        match field {
            "reps" => Some(Self::Reps),
            "assignments" => Some(Self::Assignments),
            "clients" => Some(Self::Clients),
            "devices" => Some(Self::Devices),
            _ => None,
        }
    }

    fn field(self) -> &'static str {
        match self {
            Self::Reps => "reps",
            Self::Assignments => "assignments",
            Self::Clients => "clients",
            Self::Devices => "devices",
        }
    }
}

/// One step of a path from the root: a map key, or a place in a list or text (which
/// place does not matter here: only the first two steps are used, and the programme's
/// lists are all deeper than that).
#[derive(Clone, Debug, PartialEq)]
enum Step {
    Key(String),
    Seq,
}

/// The first two steps of the path from the root to an op's target: the top-level
/// field, and the entry of a keyed map.
type Prefix = Vec<Step>;

/// What the changes since an earlier read touch: top-level fields to read whole, and
/// entries of the keyed maps to read again.
#[derive(Debug, Default)]
struct Touched {
    fields: BTreeSet<String>,
    entries: BTreeMap<KeyedMap, BTreeSet<String>>,
}

impl Touched {
    /// Places every op of `changes`; `None` when one cannot be placed.
    ///
    /// An op names its object and a key in it. An object never moves: its place is
    /// fixed by the op that made it (object id = that op's id). Objects made by these
    /// changes are placed from their making ops here; older ones by asking the
    /// document for their path (`import_obj` of `counter@actor`, then `parents`).
    /// Every visible difference since the earlier read is at the object and key of one
    /// of these ops (an overwrite or a delete is an op on the key it hides), so
    /// reading again what they name reads everything that changed. An op on an object
    /// that lost a conflict, or was deleted since, makes the entry of the same key be
    /// read again: more than needed, never less.
    fn of(doc: &Automerge, changes: &[ExpandedChange]) -> Option<Self> {
        let mut places = Places {
            doc,
            made: HashMap::new(),
            prefixes: HashMap::new(),
        };
        for change in changes {
            for (i, op) in change.operations.iter().enumerate() {
                if let LegacyOpType::Make(_) = op.action {
                    let counter = change.start_op.get().checked_add(u64::try_from(i).ok()?)?;
                    let id = LegacyOpId(counter, change.actor_id.clone());
                    places.made.insert(id, (op.obj.clone(), op.key.clone()));
                }
            }
        }
        let mut touched = Self::default();
        for op in changes.iter().flat_map(|c| c.operations.iter()) {
            let mut path = places.prefix(&op.obj, 0)?;
            if path.len() < 2 {
                path.push(Step::of(&op.key));
            }
            let Some(Step::Key(field)) = path.first() else {
                // The root is a map: an op on it by list place is not ours.
                return None;
            };
            match (KeyedMap::of_field(field), path.get(1)) {
                (Some(map), Some(Step::Key(key))) => {
                    touched.entries.entry(map).or_default().insert(key.clone());
                }
                // The keyed map itself set at the root, or not a map: read it whole.
                _ => {
                    touched.fields.insert(field.clone());
                }
            }
        }
        Some(touched)
    }
}

impl Step {
    fn of(key: &LegacyKey) -> Self {
        match key {
            LegacyKey::Map(k) => Self::Key(k.to_string()),
            LegacyKey::Seq(_) => Self::Seq,
        }
    }
}

/// Finds where objects are, from the changes' making ops or from the document.
struct Places<'a> {
    doc: &'a Automerge,
    /// Objects made by the changes: the object and key they were made at.
    made: HashMap<LegacyOpId, (LegacyObjectId, LegacyKey)>,
    /// Objects placed so far (several ops are usually on one object).
    prefixes: HashMap<LegacyOpId, Prefix>,
}

/// Deeper than this, an object made by the changes is not placed (the programme is a
/// few levels deep; a chain this long is a malformed change, not a programme).
const MAX_MADE_DEPTH: usize = 64;

impl Places<'_> {
    /// The first two steps of the path from the root to `obj`.
    fn prefix(&mut self, obj: &LegacyObjectId, depth: usize) -> Option<Prefix> {
        let LegacyObjectId::Id(id) = obj else {
            return Some(Vec::new());
        };
        if let Some(prefix) = self.prefixes.get(id) {
            return Some(prefix.clone());
        }
        let prefix = match self.made.get(id).cloned() {
            Some((parent, key)) => {
                if depth > MAX_MADE_DEPTH {
                    return None;
                }
                let mut prefix = self.prefix(&parent, depth + 1)?;
                if prefix.len() < 2 {
                    prefix.push(Step::of(&key));
                }
                prefix
            }
            None => self.lookup(id)?,
        };
        self.prefixes.insert(id.clone(), prefix.clone());
        Some(prefix)
    }

    /// The path of an object the document had before the changes. `import_obj` turns
    /// the op id (`counter@actor`) into the document's object id (it is hidden from
    /// Automerge's docs but public; its checks are `parents`' own: an object the
    /// document does not have is an error, and `None` here).
    ///
    /// In a programme of 10,000 clients this takes 1–2 µs for the `clients` map or an
    /// assignment, but about 0.5 ms for an assignment's history list: Automerge finds
    /// each object's making op by its counter, and the history lists' making ops lie
    /// among the later ops of the applied suggestion, so no part of the column is
    /// skipped. Hence the memo, and the bound on ops.
    fn lookup(&self, id: &LegacyOpId) -> Option<Prefix> {
        let obj = self.doc.import_obj(&id.to_string()).ok()?;
        let mut steps: Vec<Step> = self
            .doc
            .parents(&obj)
            .ok()?
            .map(|parent| match parent.prop {
                Prop::Map(k) => Step::Key(k),
                Prop::Seq(_) => Step::Seq,
            })
            .collect();
        // `parents` walks from the object up to the root.
        steps.reverse();
        steps.truncate(2);
        Some(steps)
    }
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

#[cfg(test)]
mod tests {
    //! That [`read_programme_since`] takes its fast path for everyday edits and reads
    //! no more than they touch (the integration tests check it equals a full read).

    use super::*;
    use crate::template::{default_template, retire_question};

    const T0: i64 = 1_772_442_000_000;

    fn client(n: u8) -> DocId {
        DocId::from_bytes([n; 16])
    }

    fn programme() -> Automerge {
        let mut doc = new_programme(
            automerge::ActorId::from([1u8; 16]),
            &ProgrammeInit {
                id: DocId::from_bytes([0xA0; 16]),
                name: "VIP-программа 2026".to_owned(),
                period: Period {
                    start: "2026-03-01".to_owned(),
                    end: "2026-06-30".to_owned(),
                },
                lead: Lead {
                    name: "Ольга Смирнова".to_owned(),
                    email: "olga@example.ru".to_owned(),
                },
            },
            &default_template(),
            T0,
        )
        .unwrap();
        for rep in ["иванов", "петрова"] {
            put_rep(
                &mut doc,
                rep,
                "Иван Иванов",
                "ivanov@example.ru",
                Capacity::Dedicated,
                true,
                T0,
            )
            .unwrap();
        }
        let members: Vec<Membership> = (1..=3)
            .map(|n| Membership {
                client_id: client(n),
                original_rep: Some("иванов".to_owned()),
                strength: Strength::Good,
                monopolised: false,
            })
            .collect();
        add_clients(&mut doc, &members, T0).unwrap();
        doc
    }

    /// What the changes since `heads` touch, and the fast path's read (which must be
    /// taken, and equal the full read).
    fn since(doc: &Automerge, prev: &Programme, heads: &[ChangeHash]) -> Touched {
        let changes: Vec<ExpandedChange> = doc
            .get_changes(heads)
            .iter()
            .map(automerge::Change::decode)
            .collect();
        let touched = Touched::of(doc, &changes).expect("every op placed");
        let fast = read_touched(doc, prev.clone(), heads).expect("the fast path is taken");
        assert_eq!(fast, read_programme(doc).unwrap());
        touched
    }

    fn entries(touched: &Touched, map: KeyedMap) -> Vec<String> {
        touched
            .entries
            .get(&map)
            .map(|keys| keys.iter().cloned().collect())
            .unwrap_or_default()
    }

    #[test]
    fn a_client_added_touches_its_two_entries_only() {
        let mut doc = programme();
        let prev = read_programme(&doc).unwrap();
        let heads = doc.get_heads();
        let member = Membership {
            client_id: client(9),
            original_rep: Some("петрова".to_owned()),
            strength: Strength::Excellent,
            monopolised: true,
        };
        add_clients(&mut doc, &[member], T0 + 1).unwrap();
        let touched = since(&doc, &prev, &heads);
        assert!(touched.fields.is_empty(), "{touched:?}");
        let id = client(9).to_string();
        assert_eq!(entries(&touched, KeyedMap::Clients), vec![id.clone()]);
        assert_eq!(entries(&touched, KeyedMap::Assignments), vec![id]);
    }

    #[test]
    fn an_override_on_objects_made_earlier_touches_its_assignment_only() {
        let mut doc = programme();
        let prev = read_programme(&doc).unwrap();
        let heads = doc.get_heads();
        override_assignment(
            &mut doc,
            client(2),
            "петрова",
            Reason::LeadDecision {
                note: "Клиент просил".to_owned(),
            },
            "lead",
            T0 + 1,
        )
        .unwrap();
        let touched = since(&doc, &prev, &heads);
        assert!(touched.fields.is_empty(), "{touched:?}");
        assert_eq!(
            entries(&touched, KeyedMap::Assignments),
            vec![client(2).to_string()]
        );
        assert!(entries(&touched, KeyedMap::Clients).is_empty());
    }

    #[test]
    fn settings_and_template_edits_touch_their_fields() {
        let mut doc = programme();
        let prev = read_programme(&doc).unwrap();
        let heads = doc.get_heads();
        set_meeting_warning_days(&mut doc, 30, T0 + 1).unwrap();
        let question = prev.template.questions.keys().next().unwrap().clone();
        retire_question(&mut doc, &question, T0 + 2).unwrap();
        let touched = since(&doc, &prev, &heads);
        let fields: Vec<&str> = touched.fields.iter().map(String::as_str).collect();
        assert_eq!(fields, vec!["meeting_warning_days", "template"]);
        assert!(touched.entries.is_empty(), "{touched:?}");
    }

    #[test]
    fn too_many_ops_read_the_whole_programme() {
        let mut doc = programme();
        let prev = read_programme(&doc).unwrap();
        let heads = doc.get_heads();
        let members: Vec<Membership> = (0..=u8::MAX)
            .map(|n| Membership {
                client_id: DocId::from_bytes([n, 0xEE, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, n]),
                original_rep: Some("иванов".to_owned()),
                strength: Strength::Weak,
                monopolised: false,
            })
            .collect();
        add_clients(&mut doc, &members, T0 + 1).unwrap();
        let ops: usize = doc
            .get_changes(&heads)
            .iter()
            .map(automerge::Change::len)
            .sum();
        assert!(ops > SINCE_MAX_OPS, "{ops} ops");
        assert!(read_touched(&doc, prev.clone(), &heads).is_none());
        assert_eq!(
            read_programme_since(&doc, prev.clone(), &heads).unwrap(),
            read_programme(&doc).unwrap()
        );
    }
}
