//! "Мои встречи" on the device: the rep's meetings with their states and conflicts,
//! planning, moving and cancelling one (a durable edit of the client's document), and
//! the calendar file of them all.

use std::collections::HashMap;

use rapport_api::meetings::{
    ContactOption, MeetingCard, MeetingChoice, MeetingClient, MeetingFieldConflict,
};
use rapport_api::{FileOut, MeetingEdit, MeetingSaved, MeetingsView};
use rapport_domain::client::{Client, read_client};
use rapport_domain::meeting::{
    CalendarEvent, calendar as ics, cancel_meeting, meeting_conflicts, move_meeting, plan_meeting,
};
use rapport_domain::visit::read_visit;
use rapport_domain::{DocId, Lang, MeetingConflict, MeetingState};

use crate::device::DeviceCore;
use crate::error::{NodeError, check_date};
use crate::shown::{author, doc_syncs};
use crate::store::{DeviceStore, Pairing};

/// A client document on the device, read with its meetings' conflicts.
struct HeldClient {
    id: DocId,
    client: Client,
    conflicts: Vec<MeetingConflict>,
}

/// The rep's (or, on a lead's device, everyone's) meeting ids of `client` in the
/// paired programme.
fn mine<'a>(me: &'a Pairing, client: &'a Client) -> impl Iterator<Item = &'a String> + 'a {
    client.meetings.iter().filter_map(move |(id, m)| {
        let rep_ok = me.rep_id.as_ref().is_none_or(|rep| *rep == m.rep_id);
        (m.programme_id == me.programme_id && rep_ok).then_some(id)
    })
}

/// The device's documents of `kind` (`client`, `visit`).
async fn indexed<S: DeviceStore>(
    inner: &DeviceCore<S>,
    kind: &str,
) -> Result<Vec<DocId>, NodeError> {
    Ok(inner
        .store
        .indexed()
        .await?
        .into_iter()
        .filter(|e| e.kind == kind)
        .map(|e| e.doc)
        .collect())
}

/// Every client document on the device, read (unreadable ones are left out: the
/// client list says why they do not show).
async fn held_clients<S: DeviceStore>(inner: &DeviceCore<S>) -> Result<Vec<HeldClient>, NodeError> {
    let ids = indexed(inner, "client").await?;
    let mut out = Vec::new();
    for (id, loaded) in inner.store.load_many(&ids).await? {
        let Ok(Some(doc)) = loaded else { continue };
        let Ok(client) = read_client(&doc) else {
            continue;
        };
        out.push(HeldClient {
            id,
            conflicts: meeting_conflicts(&doc).unwrap_or_default(),
            client,
        });
    }
    Ok(out)
}

/// Dates of the paired programme's visits on the device, by client.
async fn visit_dates<S: DeviceStore>(
    inner: &DeviceCore<S>,
    me: &Pairing,
) -> Result<HashMap<DocId, Vec<String>>, NodeError> {
    let ids = indexed(inner, "visit").await?;
    let mut dates: HashMap<DocId, Vec<String>> = HashMap::new();
    for (_, loaded) in inner.store.load_many(&ids).await? {
        let Ok(Some(doc)) = loaded else { continue };
        let Ok(visit) = read_visit(&doc) else {
            continue;
        };
        if visit.programme_id == me.programme_id {
            dates.entry(visit.client_id).or_default().push(visit.date);
        }
    }
    Ok(dates)
}

/// "Мои встречи" as of `today`.
pub(crate) async fn list<S: DeviceStore>(
    inner: &DeviceCore<S>,
    today: &str,
) -> Result<MeetingsView, NodeError> {
    check_date(today)?;
    let me = inner.paired().await?;
    let view = inner.view().await?;
    let held = held_clients(inner).await?;
    let dates = visit_dates(inner, &me).await?;
    let sync_of = doc_syncs(inner).await?;
    let mut meetings = Vec::new();
    let mut clients = Vec::new();
    for h in &held {
        let visits = dates.get(&h.id).map_or(&[][..], Vec::as_slice);
        let mut planned = false;
        for id in mine(&me, &h.client) {
            let m = &h.client.meetings[id];
            let state = MeetingState::of(m, visits.iter().map(String::as_str), today);
            planned |= state == MeetingState::Planned;
            let conflicts = h
                .conflicts
                .iter()
                .filter(|c| c.meeting_id == *id)
                .map(|c| MeetingFieldConflict {
                    field: c.field.clone(),
                    values: c
                        .values
                        .iter()
                        .map(|v| MeetingChoice {
                            value: v.value.clone(),
                            author: author(view.as_deref(), &me, &v.actor),
                        })
                        .collect(),
                })
                .collect();
            meetings.push(MeetingCard {
                meeting_id: id.clone(),
                client_id: h.id,
                company: h.client.company.clone(),
                at: m.at.clone(),
                place: m.place.clone(),
                contact_id: m.contact_id.clone(),
                contact: h.client.contact_label(m.contact_id.as_ref()),
                state,
                conflicts,
                sync: sync_of(&h.id),
            });
        }
        clients.push(MeetingClient {
            client_id: h.id,
            company: h.client.company.clone(),
            contacts: h
                .client
                .contacts
                .iter()
                .filter(|(_, c)| !c.has_left)
                .map(|(id, c)| ContactOption {
                    id: id.clone(),
                    name: c.name.clone(),
                    role: c.role.clone(),
                })
                .collect(),
            planned,
        });
    }
    meetings.sort_by(|a, b| (&a.at, &a.company).cmp(&(&b.at, &b.company)));
    clients.sort_by_cached_key(|c| c.company.to_lowercase());
    Ok(MeetingsView {
        today: today.to_owned(),
        meetings,
        clients,
    })
}

/// Plans, moves or cancels a meeting; durable before it returns.
pub(crate) async fn edit<S: DeviceStore>(
    inner: &DeviceCore<S>,
    client_id: DocId,
    edit: MeetingEdit,
) -> Result<MeetingSaved, NodeError> {
    let me = inner.paired().await?;
    inner.require_client(client_id).await?;
    let rep = me.rep_id.clone().unwrap_or_else(|| "lead".to_owned());
    let now = inner.shared.now_ms();
    let meeting_id = inner
        .edit(client_id, |doc| {
            Ok(match edit {
                MeetingEdit::Plan { meeting } => {
                    plan_meeting(doc, me.programme_id, &rep, &meeting, now)?
                }
                MeetingEdit::Move {
                    meeting_id,
                    meeting,
                } => {
                    move_meeting(doc, &meeting_id, &meeting, now)?;
                    meeting_id
                }
                MeetingEdit::Cancel { meeting_id } => {
                    cancel_meeting(doc, &meeting_id, now)?;
                    meeting_id
                }
            })
        })
        .await?;
    Ok(MeetingSaved {
        client_id,
        meeting_id,
        saved_ms: inner.shared.now_ms(),
    })
}

/// The rep's meetings in the programme as an iCalendar file.
pub(crate) async fn calendar<S: DeviceStore>(
    inner: &DeviceCore<S>,
    lang: Lang,
) -> Result<FileOut, NodeError> {
    let me = inner.paired().await?;
    let view = inner.view().await?;
    let who = me
        .rep_id
        .as_ref()
        .and_then(|rep| view.as_ref()?.reps.get(rep).map(|r| r.name.clone()))
        .unwrap_or_else(|| me.label.clone());
    let held = held_clients(inner).await?;
    let mut events: Vec<CalendarEvent> = held
        .iter()
        .flat_map(|h| {
            mine(&me, &h.client).map(move |id| {
                let m = &h.client.meetings[id];
                let contact = h.client.contact_label(m.contact_id.as_ref());
                CalendarEvent::of(id, m, &h.client.company, contact, lang)
            })
        })
        .collect();
    events.sort_by(|a, b| (&a.at, &a.uid).cmp(&(&b.at, &b.uid)));
    let name = match lang {
        Lang::Ru => format!("Встречи: {who}"),
        Lang::En => format!("Meetings: {who}"),
    };
    Ok(FileOut {
        name: "rapport-meetings.ics".to_owned(),
        content_type: "text/calendar; charset=utf-8".to_owned(),
        text: ics(&name, &events, inner.shared.now_ms()),
    })
}
