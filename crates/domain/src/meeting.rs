//! Meetings a rep plans with a client: when, where, with whom; moved or cancelled.
//!
//! A meeting lives in the client's document (`meetings`, keyed by a generated id), so it
//! syncs, merges and is authorised like the rest of what the rep keeps about the client.
//! Its fields are plain values: two devices that move one meeting offline leave both
//! times in the document (an Automerge conflict), shown by [`meeting_conflicts`] until a
//! person picks one, never silently overwritten.
//!
//! Whether a meeting was held is not typed by anyone: a meeting is held once a visit of
//! its client in its programme is dated on its day or later ([`MeetingState`]).

use std::collections::BTreeMap;

use automerge::transaction::Transactable;
use automerge::{Automerge, ObjType, ROOT, ReadDoc, ScalarValue, Value};
use autosurgeon::{Hydrate, Reconcile, reconcile_prop};
use serde::{Deserialize, Serialize};

use crate::doc::{DocKind, check_date, commit, expect_kind, has, new_id, obj};
use crate::error::{DomainError, SchemaError};
use crate::ids::DocId;

/// Longest place text a meeting takes.
pub const PLACE_MAX: usize = 500;

/// A meeting planned with a client.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, Hydrate, Reconcile)]
pub struct Meeting {
    /// The programme it is part of (a client may be in several).
    pub programme_id: DocId,
    /// The rep who holds it.
    pub rep_id: String,
    /// When, local time at the client, `YYYY-MM-DDTHH:MM`.
    pub at: String,
    /// Where (an address, "офис клиента", a video link).
    pub place: String,
    /// The client's contact it is with (an id of the client's `contacts`).
    pub contact_id: Option<String>,
    /// Called off (kept for the record).
    pub cancelled: bool,
    /// When planned.
    pub created_ms: i64,
}

impl Meeting {
    /// The meeting's day, `YYYY-MM-DD`.
    pub fn day(&self) -> &str {
        self.at.get(..10).unwrap_or(&self.at)
    }

    /// The meeting's time of day, `HH:MM`.
    pub fn time(&self) -> &str {
        self.at.get(11..).unwrap_or("")
    }
}

/// What a rep gives to plan or move a meeting.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MeetingInput {
    /// When, `YYYY-MM-DDTHH:MM` (local time at the client).
    pub at: String,
    /// Where.
    #[serde(default)]
    pub place: String,
    /// The client's contact it is with.
    #[serde(default)]
    pub contact_id: Option<String>,
}

/// Where a meeting stands on a given day.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MeetingState {
    /// Ahead, or today and no visit started yet.
    Planned,
    /// A visit of the client was started on its day or later.
    Held,
    /// Its day passed and no visit was started.
    Overdue,
    /// Called off.
    Cancelled,
}

impl MeetingState {
    /// The state of `meeting` on `today` (`YYYY-MM-DD`), given the dates of the visits of
    /// its client in its programme.
    pub fn of<'a>(
        meeting: &Meeting,
        visit_dates: impl IntoIterator<Item = &'a str>,
        today: &str,
    ) -> Self {
        if meeting.cancelled {
            return Self::Cancelled;
        }
        let day = meeting.day();
        // ISO dates order as text.
        if visit_dates.into_iter().any(|d| d >= day) {
            Self::Held
        } else if day < today {
            Self::Overdue
        } else {
            Self::Planned
        }
    }
}

/// One field of a meeting that holds concurrent values.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MeetingConflict {
    /// The meeting.
    pub meeting_id: String,
    /// The field: `at`, `place`, `contact_id` or `cancelled`.
    pub field: String,
    /// Every value, each with the actor (hex) that wrote it.
    pub values: Vec<MeetingValue>,
}

/// One of the concurrent values of a meeting's field.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MeetingValue {
    /// The actor (device) that wrote it, hex.
    pub actor: String,
    /// The value as text (`""` for no contact, `true`/`false` for cancelled).
    pub value: String,
}

/// The fields a person edits: the ones whose concurrent values are conflicts.
const FIELDS: [&str; 4] = ["at", "place", "contact_id", "cancelled"];

/// Refuses a time that is not a real `YYYY-MM-DDTHH:MM`.
fn check_at(at: &str) -> Result<(), DomainError> {
    let invalid = || DomainError::InvalidDateTime {
        field: "meeting time",
        value: at.to_owned(),
    };
    let (day, time) = at.split_once('T').ok_or_else(invalid)?;
    check_date("meeting day", day).map_err(|_| invalid())?;
    let format = time::macros::format_description!("[hour]:[minute]");
    time::Time::parse(time, format).map_err(|_| invalid())?;
    Ok(())
}

fn check_input(doc: &Automerge, input: &MeetingInput) -> Result<(), DomainError> {
    check_at(&input.at)?;
    if input.place.chars().count() > PLACE_MAX {
        return Err(DomainError::TooLong {
            field: "meeting place",
            max: PLACE_MAX,
        });
    }
    if let Some(contact) = &input.contact_id {
        let contacts = obj(doc, &ROOT, "contacts", "contacts")?;
        if !has(doc, &contacts, contact) {
            return Err(DomainError::NotFound {
                what: "contact",
                id: contact.clone(),
            });
        }
    }
    Ok(())
}

/// The `meetings` map of a client document, made in `tx` when the document predates
/// meetings.
fn meetings_obj(
    tx: &mut automerge::transaction::Transaction<'_>,
) -> Result<automerge::ObjId, DomainError> {
    match tx.get(ROOT, "meetings")? {
        Some((Value::Object(ObjType::Map), id)) => Ok(id),
        Some(_) => Err(SchemaError::Malformed {
            kind: "client",
            message: "\"meetings\" is not a map".into(),
        }
        .into()),
        None => Ok(tx.put_object(ROOT, "meetings", ObjType::Map)?),
    }
}

/// Plans a meeting with the client of `doc`; returns its id.
pub fn plan_meeting(
    doc: &mut Automerge,
    programme_id: DocId,
    rep_id: &str,
    input: &MeetingInput,
    now_ms: i64,
) -> Result<String, DomainError> {
    expect_kind(doc, DocKind::Client)?;
    check_input(doc, input)?;
    let id = new_id();
    let meeting = Meeting {
        programme_id,
        rep_id: rep_id.to_owned(),
        at: input.at.clone(),
        place: input.place.trim().to_owned(),
        contact_id: input.contact_id.clone(),
        cancelled: false,
        created_ms: now_ms,
    };
    commit(doc, now_ms, "plan meeting", |tx| {
        let meetings = meetings_obj(tx)?;
        reconcile_prop(tx, &meetings, id.as_str(), &meeting)?;
        Ok(())
    })?;
    Ok(id)
}

/// Every `meetings` map of a client document: one, or several where devices that each
/// planned the first meeting of a document made before meetings existed made one each
/// concurrently. Their meetings are all read, so none is hidden by the merge.
fn meeting_maps<R: ReadDoc>(doc: &R) -> Result<Vec<automerge::ObjId>, DomainError> {
    Ok(doc
        .get_all(ROOT, "meetings")?
        .into_iter()
        .filter_map(|(value, id)| matches!(value, Value::Object(ObjType::Map)).then_some(id))
        .collect())
}

/// The `meetings` map that holds meeting `id`.
fn map_of<R: ReadDoc>(doc: &R, id: &str) -> Result<automerge::ObjId, DomainError> {
    for map in meeting_maps(doc)? {
        if matches!(doc.get(&map, id)?, Some((Value::Object(ObjType::Map), _))) {
            return Ok(map);
        }
    }
    Err(DomainError::NotFound {
        what: "meeting",
        id: id.to_owned(),
    })
}

/// The object of meeting `id`, in whichever `meetings` map holds it.
fn meeting_obj<R: ReadDoc>(doc: &R, id: &str) -> Result<automerge::ObjId, DomainError> {
    let map = map_of(doc, id)?;
    obj(doc, &map, id, "meeting")
}

fn hydrate_meeting(
    doc: &Automerge,
    map: &automerge::ObjId,
    id: &str,
) -> Result<Meeting, DomainError> {
    autosurgeon::hydrate_prop(doc, map, id).map_err(|e| {
        SchemaError::Malformed {
            kind: "client",
            message: format!("meetings.{id}: {e}"),
        }
        .into()
    })
}

/// Every meeting of the client `doc`, by id, from all of its `meetings` maps.
pub fn meetings(doc: &Automerge) -> Result<BTreeMap<String, Meeting>, DomainError> {
    let mut out = BTreeMap::new();
    for map in meeting_maps(doc)? {
        for id in doc.keys(&map) {
            let m = hydrate_meeting(doc, &map, &id)?;
            out.insert(id, m);
        }
    }
    Ok(out)
}

/// The meeting `id` of the client `doc` (the winner of any concurrent values).
pub fn meeting(doc: &Automerge, id: &str) -> Result<Meeting, DomainError> {
    expect_kind(doc, DocKind::Client)?;
    let map = map_of(doc, id)?;
    hydrate_meeting(doc, &map, id)
}

/// Moves a meeting (time, place, contact). Only the fields that differ from what this
/// device sees are written, so one device moving the time and another changing the
/// place merge without a conflict; writing a field that holds concurrent values
/// settles it. A cancelled meeting moved is planned again.
pub fn move_meeting(
    doc: &mut Automerge,
    id: &str,
    input: &MeetingInput,
    now_ms: i64,
) -> Result<(), DomainError> {
    let current = meeting(doc, id)?;
    check_input(doc, input)?;
    let conflicted: Vec<String> = meeting_conflicts(doc)?
        .into_iter()
        .filter(|c| c.meeting_id == id)
        .map(|c| c.field)
        .collect();
    let changed = |field: &str, differs: bool| differs || conflicted.iter().any(|c| c == field);
    let place = input.place.trim();
    commit(doc, now_ms, "move meeting", |tx| {
        let m = meeting_obj(tx, id)?;
        if changed("at", current.at != input.at) {
            tx.put(&m, "at", input.at.as_str())?;
        }
        if changed("place", current.place != place) {
            tx.put(&m, "place", place)?;
        }
        if changed("contact_id", current.contact_id != input.contact_id) {
            reconcile_prop(tx, &m, "contact_id", input.contact_id.clone())?;
        }
        if changed("cancelled", current.cancelled) {
            tx.put(&m, "cancelled", false)?;
        }
        Ok(())
    })
}

/// Calls a meeting off (it stays in the record, marked cancelled).
pub fn cancel_meeting(doc: &mut Automerge, id: &str, now_ms: i64) -> Result<(), DomainError> {
    meeting(doc, id)?;
    commit(doc, now_ms, "cancel meeting", |tx| {
        let m = meeting_obj(tx, id)?;
        tx.put(&m, "cancelled", true)?;
        Ok(())
    })
}

fn scalar_text(value: &Value<'_>) -> String {
    match value {
        Value::Scalar(s) => match s.as_ref() {
            ScalarValue::Str(s) => s.to_string(),
            ScalarValue::Boolean(b) => b.to_string(),
            ScalarValue::Null => String::new(),
            other => other.to_string(),
        },
        Value::Object(t) => format!("{t:?}"),
    }
}

/// Every field of every meeting of the client `doc` that holds concurrent values.
pub fn meeting_conflicts(doc: &Automerge) -> Result<Vec<MeetingConflict>, DomainError> {
    let mut out = Vec::new();
    for (meetings, meeting_id) in meeting_maps(doc)?.into_iter().flat_map(|map| {
        doc.keys(&map)
            .map(move |k| (map.clone(), k))
            .collect::<Vec<_>>()
    }) {
        let Some((Value::Object(ObjType::Map), m)) = doc.get(&meetings, &meeting_id)? else {
            continue;
        };
        for field in FIELDS {
            let all = doc.get_all(&m, field)?;
            if all.len() < 2 {
                continue;
            }
            let values = all
                .iter()
                .map(|(value, id)| MeetingValue {
                    actor: match id {
                        automerge::ObjId::Id(_, actor, _) => actor.to_hex_string(),
                        automerge::ObjId::Root => String::new(),
                    },
                    value: scalar_text(value),
                })
                .collect();
            out.push(MeetingConflict {
                meeting_id: meeting_id.clone(),
                field: field.to_owned(),
                values,
            });
        }
    }
    Ok(out)
}

/// One meeting in a calendar file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CalendarEvent {
    /// A stable unique id (the meeting's id).
    pub uid: String,
    /// When, `YYYY-MM-DDTHH:MM`, local time (written as floating time).
    pub at: String,
    /// The title, e.g. "VIP-визит: ООО «Ромашка»".
    pub summary: String,
    /// Where.
    pub location: String,
    /// More (the contact's name and role).
    pub description: String,
    /// Called off.
    pub cancelled: bool,
}

impl CalendarEvent {
    /// The event of meeting `id` with the client `company`, with `contact` (who it is
    /// with, [`crate::Client::contact_label`]), its title in `lang`.
    pub fn of(
        id: &str,
        meeting: &Meeting,
        company: &str,
        contact: Option<String>,
        lang: crate::lang::Lang,
    ) -> Self {
        let title = match lang {
            crate::lang::Lang::Ru => "VIP-визит",
            crate::lang::Lang::En => "VIP visit",
        };
        let description = contact.unwrap_or_default();
        Self {
            uid: id.to_owned(),
            at: meeting.at.clone(),
            summary: format!("{title}: {company}"),
            location: meeting.place.clone(),
            description,
            cancelled: meeting.cancelled,
        }
    }
}

/// How long a meeting is put in the calendar.
const MEETING_LENGTH: &str = "PT1H";

/// `text` escaped as an iCalendar TEXT value (RFC 5545, 3.3.11).
fn ics_text(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            ';' => out.push_str("\\;"),
            ',' => out.push_str("\\,"),
            '\n' => out.push_str("\\n"),
            '\r' => {}
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    out
}

/// Appends `line` folded at 75 octets (RFC 5545, 3.1), never inside a UTF-8
/// character, each physical line ended by CRLF.
fn push_folded(out: &mut String, line: &str) {
    let mut width = 0;
    for c in line.chars() {
        let len = c.len_utf8();
        if width + len > 75 {
            out.push_str("\r\n ");
            width = 1;
        }
        out.push(c);
        width += len;
    }
    out.push_str("\r\n");
}

/// `YYYY-MM-DDTHH:MM` as an iCalendar local date-time (`YYYYMMDDTHHMM00`).
fn ics_local(at: &str) -> String {
    let digits: String = at.chars().filter(char::is_ascii_digit).collect();
    format!(
        "{}T{}00",
        digits.get(..8).unwrap_or(""),
        digits.get(8..).unwrap_or("")
    )
}

/// An iCalendar file (`.ics`) named `name` with `events`, stamped `now_ms` (UTC).
/// Times are floating (the local time wherever the calendar is opened): the rep meets
/// the client where the client is.
pub fn calendar(name: &str, events: &[CalendarEvent], now_ms: i64) -> String {
    let stamp = time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(now_ms) * 1_000_000)
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    let stamp = format!(
        "{:04}{:02}{:02}T{:02}{:02}{:02}Z",
        stamp.year(),
        u8::from(stamp.month()),
        stamp.day(),
        stamp.hour(),
        stamp.minute(),
        stamp.second()
    );
    let mut out = String::new();
    for line in [
        "BEGIN:VCALENDAR",
        "VERSION:2.0",
        "PRODID:-//Rapport//VIP programme//RU",
        "CALSCALE:GREGORIAN",
        "METHOD:PUBLISH",
    ] {
        push_folded(&mut out, line);
    }
    push_folded(&mut out, &format!("X-WR-CALNAME:{}", ics_text(name)));
    for e in events {
        let mut lines = vec![
            "BEGIN:VEVENT".to_owned(),
            format!("UID:{}@rapport", ics_text(&e.uid)),
            format!("DTSTAMP:{stamp}"),
            format!("DTSTART:{}", ics_local(&e.at)),
            format!("DURATION:{MEETING_LENGTH}"),
            format!("SUMMARY:{}", ics_text(&e.summary)),
        ];
        if !e.location.is_empty() {
            lines.push(format!("LOCATION:{}", ics_text(&e.location)));
        }
        if !e.description.is_empty() {
            lines.push(format!("DESCRIPTION:{}", ics_text(&e.description)));
        }
        let status = if e.cancelled {
            "CANCELLED"
        } else {
            "CONFIRMED"
        };
        lines.push(format!("STATUS:{status}"));
        lines.push("END:VEVENT".to_owned());
        for line in &lines {
            push_folded(&mut out, line);
        }
    }
    push_folded(&mut out, "END:VCALENDAR");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_must_be_real_days_and_minutes() {
        assert!(check_at("2026-12-07T09:30").is_ok());
        for bad in [
            "2026-12-07",
            "2026-12-07 09:30",
            "2026-02-30T10:00",
            "2026-12-07T25:00",
            "07.12.2026T10:00",
            "",
        ] {
            let err = check_at(bad).unwrap_err();
            assert_eq!(err.code(), "invalid_date_time", "{bad}");
            assert!(err.to_string().contains("YYYY-MM-DDTHH:MM"), "{err}");
        }
    }

    #[test]
    fn long_cyrillic_lines_fold_at_75_octets_between_characters() {
        let mut out = String::new();
        let line = format!("SUMMARY:{}", "Встреча с клиентом; ".repeat(8));
        push_folded(&mut out, &line);
        for physical in out.split("\r\n").filter(|l| !l.is_empty()) {
            assert!(
                physical.len() <= 75,
                "{} octets: {physical}",
                physical.len()
            );
        }
        let unfolded = out.replace("\r\n ", "");
        assert_eq!(unfolded, format!("{line}\r\n"));
    }

    #[test]
    fn text_values_are_escaped() {
        assert_eq!(
            ics_text("Москва, ул. Ленина; 1\\2\nэтаж 3"),
            "Москва\\, ул. Ленина\\; 1\\\\2\\nэтаж 3"
        );
        assert_eq!(ics_local("2026-12-07T09:30"), "20261207T093000");
    }
}
